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

/// Sends config changes (`None` removes a var) and reports the release they made.
async fn change_config(
    s: &mut Session<'_>,
    app: &str,
    path: &str,
    body: &BTreeMap<String, Option<String>>,
) -> Result<(), CliError> {
    let changed: ConfigChanged = s.client.patch(path, body).await?;
    s.output.show(&changed, |out, _| match &changed.release {
        Some(r) => writeln!(
            out,
            "{} on {app}: v{} is live; its dynos restart now",
            r.description, r.version
        ),
        None => {
            let keys: Vec<&str> = body.keys().map(String::as_str).collect();
            writeln!(
                out,
                "Changed {} on {app}; the first deploy will use it",
                keys.join(", ")
            )
        }
    })?;
    Ok(())
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
}
