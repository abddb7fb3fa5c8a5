//! `config`, `config:get`, `config:set` and `config:unset`: the app's config vars.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Subcommand;

use super::{CliError, Session};
use crate::wire::{ConfigChanged, ConfigMap};

#[derive(Debug, Subcommand)]
pub enum ConfigVerb {
    /// Show the app's config vars.
    #[command(name = "config")]
    Show,
    /// Print one config var's value.
    #[command(name = "config:get")]
    Get { key: String },
    /// Set config vars (KEY=VALUE…); makes a release and restarts the dynos with them.
    #[command(name = "config:set")]
    Set {
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// Remove config vars; makes a release and restarts the dynos without them.
    #[command(name = "config:unset")]
    Unset {
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

pub(super) async fn run(verb: ConfigVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    let path = format!("{base}/config");
    match verb {
        ConfigVerb::Show => {
            let config: ConfigMap = s.client.get(&path).await?;
            s.output
                .show(&config, |out, _| write_config(out, &app, &config))?;
        }
        ConfigVerb::Get { key } => {
            let config: ConfigMap = s.client.get(&path).await?;
            let Some(value) = config.get(&key) else {
                return Err(CliError::Usage(format!("{app} has no config var {key}")));
            };
            s.output
                .show(&serde_json::json!({ &key: value }), |out, _| {
                    writeln!(out, "{value}")
                })?;
        }
        ConfigVerb::Set { assignments } => {
            let body = parse_assignments(&assignments)?;
            change_config(s, &app, &path, &body).await?;
        }
        ConfigVerb::Unset { keys } => {
            let body = keys.iter().map(|k| (k.clone(), None)).collect();
            change_config(s, &app, &path, &body).await?;
        }
    }
    Ok(())
}

/// `config:set` arguments as the API's change map; refuses a malformed one before sending.
fn parse_assignments(args: &[String]) -> Result<BTreeMap<String, Option<String>>, CliError> {
    args.iter()
        .map(|a| {
            crate::model::ConfigChange::parse_assignment(a)
                .map(|c| (c.key.to_string(), c.value))
                .map_err(|e| CliError::Usage(e.to_string()))
        })
        .collect()
}

fn write_config(out: &mut dyn Write, app: &str, config: &ConfigMap) -> std::io::Result<()> {
    if config.is_empty() {
        return writeln!(out, "{app} has no config vars");
    }
    writeln!(out, "=== {app} config vars")?;
    let width = config.keys().map(String::len).max().unwrap_or(0) + 1;
    for (k, v) in config {
        writeln!(out, "{:<width$} {v}", format!("{k}:"))?;
    }
    Ok(())
}

/// Sends config changes (`None` removes a var) and reports them as Heroku does.
async fn change_config(
    s: &mut Session<'_>,
    app: &str,
    path: &str,
    body: &BTreeMap<String, Option<String>>,
) -> Result<(), CliError> {
    let changed: ConfigChanged = s.client.patch(path, body).await?;
    let version = changed.release.as_ref().map(|r| r.version);
    s.output.show(&changed, |out, _| {
        for line in change_report(app, body, version) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    })?;
    Ok(())
}

/// `Setting A, B and restarting APP... done, v5` with the set vars under it, or `Unsetting A…`;
/// before the first deploy there is nothing to restart.
fn change_report(
    app: &str,
    body: &BTreeMap<String, Option<String>>,
    version: Option<u32>,
) -> Vec<String> {
    let set: BTreeMap<&str, &str> = body
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
        .collect();
    let unset: Vec<&str> = body
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    let mut doing = Vec::new();
    if !set.is_empty() {
        doing.push(format!("Setting {}", names(set.keys().copied())));
    }
    if !unset.is_empty() {
        let verb = if set.is_empty() {
            "Unsetting"
        } else {
            "unsetting"
        };
        doing.push(format!("{verb} {}", names(unset.iter().copied())));
    }
    let head = match version {
        Some(v) => format!("{} and restarting {app}... done, v{v}", doing.join(", ")),
        None => format!(
            "{} on {app}... done; the first deploy will use it",
            doing.join(", ")
        ),
    };
    let width = set.keys().map(|k| k.len()).max().unwrap_or(0) + 1;
    std::iter::once(head)
        .chain(
            set.iter()
                .map(|(k, v)| format!("{:<width$} {v}", format!("{k}:"))),
        )
        .collect()
}

/// `A`, `A and B`, `A, B and C`.
fn names<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    let keys: Vec<&str> = keys.collect();
    match keys.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_checked_before_sending() {
        let m = parse_assignments(&["A=1".into(), "B=x=y".into()]).unwrap();
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"].as_deref(), Some("x=y"));
        assert!(parse_assignments(&["1A=1".into()]).is_err());
        assert!(parse_assignments(&["NOVALUE".into()]).is_err());
    }

    #[test]
    fn changes_are_reported_as_heroku_does() {
        let change = |pairs: &[(&str, Option<&str>)]| -> BTreeMap<String, Option<String>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
                .collect()
        };
        /// The changes sent, the release they made, the lines printed.
        type Case<'a> = (&'a [(&'a str, Option<&'a str>)], Option<u32>, &'a [&'a str]);
        let cases: [Case; 5] = [
            (
                &[("FOO", Some("bar"))],
                Some(5),
                &["Setting FOO and restarting app... done, v5", "FOO: bar"],
            ),
            (
                &[("B", Some("2")), ("LONG", Some("x y")), ("A", Some("1"))],
                Some(6),
                &[
                    "Setting A, B and LONG and restarting app... done, v6",
                    "A:    1",
                    "B:    2",
                    "LONG: x y",
                ],
            ),
            (
                &[("FOO", None), ("BAR", None)],
                Some(7),
                &["Unsetting BAR and FOO and restarting app... done, v7"],
            ),
            (
                &[("NEW", Some("1")), ("OLD", None)],
                Some(8),
                &[
                    "Setting NEW, unsetting OLD and restarting app... done, v8",
                    "NEW: 1",
                ],
            ),
            (
                &[("FOO", Some("bar"))],
                None,
                &[
                    "Setting FOO on app... done; the first deploy will use it",
                    "FOO: bar",
                ],
            ),
        ];
        for (pairs, version, want) in cases {
            assert_eq!(
                change_report("app", &change(pairs), version),
                want,
                "{pairs:?}"
            );
        }
    }
}
