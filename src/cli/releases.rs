//! Output and argument helpers for `config*`, `releases*`, `rollback` and `keys*`.

use std::collections::BTreeMap;
use std::io::Write;

use super::client::ApiClient;
use super::{output, path_segment, CliError};
use crate::wire::{ConfigChanged, ConfigMap, Key, Release, ReleaseInfo};

/// `config:set` arguments as the API's change map; refuses a malformed one before sending.
pub fn parse_assignments(args: &[String]) -> Result<BTreeMap<String, Option<String>>, CliError> {
    args.iter()
        .map(|a| {
            crate::model::ConfigChange::parse_assignment(a)
                .map(|c| (c.key.to_string(), c.value))
                .map_err(|e| CliError::Usage(e.to_string()))
        })
        .collect()
}

/// "v3" or "3", checked before anything is sent.
pub fn parse_version(raw: &str) -> Result<u32, CliError> {
    crate::model::parse_release_version(raw).map_err(|e| CliError::Usage(e.to_string()))
}

pub fn write_config(out: &mut dyn Write, app: &str, config: &ConfigMap) -> std::io::Result<()> {
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
pub async fn change_config(
    client: &ApiClient,
    app: &str,
    body: &BTreeMap<String, Option<String>>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let changed: ConfigChanged = client
        .patch(&format!("/v1/apps/{}/config", path_segment(app)?), body)
        .await?;
    if json {
        return Ok(output::json(out, &changed)?);
    }
    match &changed.release {
        Some(r) => writeln!(
            out,
            "{} on {app}: v{} is live; its dynos restart now",
            r.description, r.version
        )?,
        None => {
            let keys: Vec<&str> = body.keys().map(String::as_str).collect();
            writeln!(
                out,
                "Changed {} on {app}; the first deploy will use it",
                keys.join(", ")
            )?
        }
    }
    Ok(())
}

pub fn write_releases(out: &mut dyn Write, app: &str, list: &[Release]) -> std::io::Result<()> {
    if list.is_empty() {
        return writeln!(out, "{app} has no releases yet");
    }
    writeln!(out, "=== {app} releases")?;
    output::table(
        out,
        &["VERSION", "STATUS", "DESCRIPTION", "CREATED"],
        list.iter().map(|r| {
            vec![
                format!("v{}", r.version),
                r.status.clone(),
                r.description.clone(),
                r.created_at.clone(),
            ]
        }),
    )
}

pub fn write_release_info(out: &mut dyn Write, info: &ReleaseInfo) -> std::io::Result<()> {
    let r = &info.release;
    let version = format!(
        "v{}{}",
        r.version,
        if info.current { " (live)" } else { "" }
    );
    let slug = format!(
        "v{}{}",
        r.slug_version,
        if info.slug_on_disk {
            ""
        } else {
            " (removed by retention)"
        }
    );
    let config = if r.config_keys.is_empty() {
        "-".to_owned()
    } else {
        r.config_keys.join(", ")
    };
    let status = match &r.failure {
        Some(why) => format!("{}: {why}", r.status),
        None => r.status.clone(),
    };
    output::fields(
        out,
        &[
            ("Version", &version),
            ("Status", &status),
            ("Description", &r.description),
            ("Created", &r.created_at),
            ("Slug", &slug),
            ("Config vars", &config),
        ],
    )?;
    for (t, command) in &info.processes {
        writeln!(out, "  {t}: {command}")?;
    }
    Ok(())
}

pub fn write_keys(out: &mut dyn Write, keys: &[Key]) -> std::io::Result<()> {
    if keys.is_empty() {
        return writeln!(
            out,
            "No SSH keys; add one with: skiff keys:add ~/.ssh/id_ed25519.pub"
        );
    }
    output::table(
        out,
        &["FINGERPRINT", "TYPE", "COMMENT", "ADDED"],
        keys.iter().map(|k| {
            vec![
                k.fingerprint.clone(),
                k.key_type.clone(),
                k.comment.clone(),
                k.created_at.clone(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_and_versions() {
        let m = parse_assignments(&["A=1".into(), "B=x=y".into()]).unwrap();
        assert_eq!(m["B"].as_deref(), Some("x=y"));
        assert!(parse_assignments(&["1A=1".into()]).is_err());
        assert!(parse_assignments(&["NOVALUE".into()]).is_err());
        assert_eq!(parse_version("v3").unwrap(), 3);
        assert_eq!(parse_version("12").unwrap(), 12);
        assert!(parse_version("v0").is_err());
        assert!(parse_version("latest").is_err());
    }
}
