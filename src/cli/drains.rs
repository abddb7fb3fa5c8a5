//! `drains`, `drains:add URL` and `drains:remove URL`: where the app's lines are forwarded
//! (syslog, syslog over TLS, HTTPS), and how the last delivery went.

use std::io::Write;

use clap::Subcommand;

use super::{output, CliError, Session};
use crate::wire::{AddDrain, Drain};

#[derive(Debug, Subcommand)]
pub enum DrainsVerb {
    /// List the app's log drains, with lines delivered and the last failure.
    #[command(name = "drains")]
    List,
    /// Forward the app's lines (its dynos', the router's, skiff's about it) from now on to
    /// syslog://HOST:PORT, syslog+tls://HOST:PORT (RFC 5424, octet-counted) or
    /// https://HOST[:PORT]/PATH (JSON arrays of lines, POSTed in batches).
    #[command(name = "drains:add")]
    Add { url: String },
    /// Stop forwarding to a drain, named by its URL or its id.
    #[command(name = "drains:remove")]
    Remove { drain: String },
}

pub(super) async fn run(verb: DrainsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    match verb {
        DrainsVerb::List => {
            let drains: Vec<Drain> = s.client.get(&format!("{base}/drains")).await?;
            s.output
                .show(&drains, |out, _| write_drains(out, &app, &drains))?;
        }
        DrainsVerb::Add { url } => {
            let drain: Drain = s
                .client
                .post(&format!("{base}/drains"), &AddDrain { url })
                .await?;
            s.output.show(&drain, |out, _| {
                writeln!(out, "Successfully added drain {}", drain.url)
            })?;
        }
        DrainsVerb::Remove { drain } => {
            let drains: Vec<Drain> = s.client.get(&format!("{base}/drains")).await?;
            let found = drains
                .into_iter()
                .find(|d| d.url == drain || d.id.to_string() == drain)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "{app} has no drain {drain}; skiff drains -a {app} lists them"
                    ))
                })?;
            s.client
                .delete(&format!("{base}/drains/{}", found.id))
                .await?;
            s.output.show(&found, |out, _| {
                writeln!(out, "Successfully removed drain {}", found.url)
            })?;
        }
    }
    Ok(())
}

fn write_drains(out: &mut dyn Write, app: &str, drains: &[Drain]) -> std::io::Result<()> {
    if drains.is_empty() {
        return writeln!(
            out,
            "{app} has no drains. Add one with: skiff drains:add URL -a {app}"
        );
    }
    output::table(
        out,
        &["ID", "URL", "DELIVERED", "LAST DELIVERY", "LAST ERROR"],
        drains.iter().map(|d| {
            let error = match (&d.last_error, &d.last_error_at) {
                (Some(e), Some(at)) => format!("{at}: {e}"),
                (Some(e), None) => e.clone(),
                _ => "-".to_owned(),
            };
            vec![
                d.id.to_string(),
                d.url.clone(),
                d.delivered.to_string(),
                d.last_delivered_at.clone().unwrap_or_else(|| "-".into()),
                error,
            ]
        }),
    )
}
