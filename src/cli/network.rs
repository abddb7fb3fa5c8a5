//! `network` and `network:egress on|off|default`: where an app's dynos live and whether they
//! reach the internet.

use std::io::Write;

use clap::{Subcommand, ValueEnum};

use super::{CliError, Session};
use crate::wire::{EgressRequest, NetworkInfo};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EgressChoice {
    On,
    Off,
    /// Follow the server's `dyno_egress`.
    Default,
}

#[derive(Debug, Subcommand)]
pub enum NetworkVerb {
    /// Show the app's private network: its namespace, its dynos' address, its egress.
    #[command(name = "network")]
    Network,
    /// Let the app's dynos reach the internet, or not (`default`: the server's setting).
    #[command(name = "network:egress")]
    Egress { choice: EgressChoice },
}

pub(super) async fn run(verb: NetworkVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    let info: NetworkInfo = match verb {
        NetworkVerb::Network => s.client.get(&format!("{base}/network")).await?,
        NetworkVerb::Egress { choice } => {
            let egress = match choice {
                EgressChoice::On => Some(true),
                EgressChoice::Off => Some(false),
                EgressChoice::Default => None,
            };
            s.client
                .put(&format!("{base}/network/egress"), &EgressRequest { egress })
                .await?
        }
    };
    s.output
        .show(&info, |out, _| write_network(out, &app, &info))?;
    Ok(())
}

fn write_network(out: &mut dyn Write, app: &str, info: &NetworkInfo) -> std::io::Result<()> {
    writeln!(out, "=== {app} network")?;
    if info.mode == "host" {
        writeln!(out, "Mode:      host (dynos run on the host's network)")?;
    } else {
        writeln!(out, "Mode:      private")?;
        let or_pending =
            |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set up yet)".into());
        writeln!(out, "Namespace: {}", or_pending(&info.namespace))?;
        writeln!(out, "Address:   {}", or_pending(&info.address))?;
        writeln!(out, "Service:   {}", or_pending(&info.service_address))?;
    }
    let source = if info.egress_source == "app" {
        "set for this app"
    } else {
        "the server's default"
    };
    let egress = if info.egress { "on" } else { "off" };
    writeln!(out, "Egress:    {egress} ({source})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(mode: &str, egress: bool, source: &str) -> NetworkInfo {
        NetworkInfo {
            mode: mode.into(),
            namespace: Some("skiff-shop".into()),
            address: Some("10.213.0.2".into()),
            service_address: Some("10.213.0.3".into()),
            egress,
            egress_source: source.into(),
        }
    }

    #[test]
    fn the_network_is_shown_as_a_user_reads_it() {
        let mut out = Vec::new();
        write_network(&mut out, "shop", &info("private", false, "app")).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "=== shop network\nMode:      private\nNamespace: skiff-shop\nAddress:   10.213.0.2\n\
             Service:   10.213.0.3\nEgress:    off (set for this app)\n"
        );
        let mut out = Vec::new();
        write_network(&mut out, "shop", &info("host", true, "default")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Mode:      host"), "{text}");
        assert!(
            text.contains("Egress:    on (the server's default)"),
            "{text}"
        );
    }
}
