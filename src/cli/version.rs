//! `version`: the client's and the server's versions.

use clap::Subcommand;

use super::{CliError, Session};
use crate::wire::Health;

#[derive(Debug, Subcommand)]
pub enum VersionVerb {
    /// Show the client's and the server's versions.
    #[command(name = "version")]
    Show,
}

pub(super) async fn run(verb: VersionVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        VersionVerb::Show => {
            let health: Health = s.client.get("/v1/health").await?;
            let endpoint = &s.ctx.endpoint;
            let client = env!("CARGO_PKG_VERSION");
            let data = serde_json::json!({ "client": client, "server": &health });
            s.output.show(&data, |out, _| {
                writeln!(out, "skiff {client} (client)")?;
                writeln!(
                    out,
                    "skiffd {} (server at {endpoint}), systemd {}",
                    health.version,
                    health.systemd_version.as_deref().unwrap_or("unreachable")
                )
            })?;
        }
    }
    Ok(())
}
