//! `releases`, `releases:info`, `releases:output` and `rollback`: the app's release history.

use std::io::Write;

use clap::Subcommand;

use super::{output, path_segment, CliError, Session};
use crate::wire::{Release, ReleaseInfo, RollbackRequest};

#[derive(Debug, Subcommand)]
pub enum ReleasesVerb {
    /// List the app's releases, newest first.
    #[command(name = "releases")]
    List,
    /// Show one release (v3).
    #[command(name = "releases:info")]
    Info { version: String },
    /// Show the output of the build that made a release (v3), its release phase's and postdeploy's.
    #[command(name = "releases:output")]
    Output { version: String },
    /// Make a new release from an earlier one's slug and config (default: the one before the live one).
    #[command(name = "rollback")]
    Rollback { version: Option<String> },
}

pub(super) async fn run(verb: ReleasesVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    match verb {
        ReleasesVerb::List => {
            let list: Vec<Release> = s.client.get(&format!("{base}/releases")).await?;
            s.output
                .show(&list, |out, _| write_releases(out, &app, &list))?;
        }
        ReleasesVerb::Info { version } => {
            let path = format!("{base}/releases/{}", path_segment(&version)?);
            let info: ReleaseInfo = s.client.get(&path).await?;
            s.output
                .show(&info, |out, _| write_release_info(out, &info))?;
        }
        ReleasesVerb::Output { version } => {
            let path = format!("{base}/releases/{}/output", path_segment(&version)?);
            s.client.stream_to(&path, s.output.out()).await?;
        }
        ReleasesVerb::Rollback { version } => {
            let version = version.as_deref().map(parse_version).transpose()?;
            let release: Release = s
                .client
                .post(&format!("{base}/rollback"), &RollbackRequest { version })
                .await?;
            s.output.show(&release, |out, _| {
                writeln!(
                    out,
                    "{} of {app}: v{} is live; its dynos restart now",
                    release.description, release.version
                )
            })?;
        }
    }
    Ok(())
}

/// "v3" or "3", checked before anything is sent.
fn parse_version(raw: &str) -> Result<u32, CliError> {
    crate::model::parse_release_version(raw).map_err(|e| CliError::Usage(e.to_string()))
}

fn write_releases(out: &mut dyn Write, app: &str, list: &[Release]) -> std::io::Result<()> {
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

fn write_release_info(out: &mut dyn Write, info: &ReleaseInfo) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked_before_sending() {
        assert_eq!(parse_version("v3").unwrap(), 3);
        assert_eq!(parse_version("12").unwrap(), 12);
        assert!(parse_version("v0").is_err());
        assert!(parse_version("latest").is_err());
    }
}
