//! `dashboard`: a one-time login link for the web dashboard, or ending every session.

use clap::Subcommand;

use super::{CliError, Session};
use crate::wire::{DashboardLink, SessionsEnded};

#[derive(Debug, Subcommand)]
pub enum DashboardVerb {
    /// Print a login link for the web dashboard (it works once, for ten minutes).
    #[command(name = "dashboard")]
    Link {
        /// Instead, end every dashboard session and unused link.
        #[arg(long)]
        end_sessions: bool,
    },
}

pub(super) async fn run(verb: DashboardVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let DashboardVerb::Link { end_sessions } = verb;
    if end_sessions {
        let ended: SessionsEnded = s.client.delete_json("/v1/dashboard/sessions").await?;
        return Ok(s.output.show(&ended, |out, _| {
            writeln!(out, "Ended {} dashboard sessions.", ended.ended)
        })?);
    }
    let link: DashboardLink = s
        .client
        .post("/v1/dashboard/links", &serde_json::json!({}))
        .await?;
    s.output.show(&link, |out, err| {
        writeln!(
            err,
            "Open this link to log in to the dashboard; it works once, until {}.",
            link.expires_at
        )?;
        if let Some(hint) = &link.hint {
            writeln!(err, "Note: {hint}")?;
        }
        writeln!(out, "{}", link.url)
    })?;
    Ok(())
}
