//! `domains`, `domains:add`, `domains:remove`, `domains:clear`, `maintenance:on|off`, `proxy:compression
//! [on|off]` and `healthcheck[:set]`: how an app is reached through the proxy.

use std::io::Write;

use clap::Subcommand;

use super::{CliError, Session};
use crate::model::Compression;
use crate::wire::{CompressionBody, DomainRequest, Domains, HealthCheckBody, Maintenance};

#[derive(Debug, Subcommand)]
pub enum RoutingVerb {
    /// List the app's host names: APP.<base_domain> and its custom domains.
    #[command(name = "domains")]
    Domains,
    /// Route a custom domain (www.example.com) to the app.
    #[command(name = "domains:add")]
    DomainsAdd { domain: String },
    /// Stop routing a custom domain to the app.
    #[command(name = "domains:remove")]
    DomainsRemove { domain: String },
    /// Stop routing every custom domain to the app (APP.<base_domain> stays).
    #[command(name = "domains:clear")]
    DomainsClear,
    /// Answer every request with a 503 maintenance page (dynos keep running).
    #[command(name = "maintenance:on")]
    MaintenanceOn,
    /// Route requests to the app's web dynos again.
    #[command(name = "maintenance:off")]
    MaintenanceOff,
    /// Show whether the proxy compresses the app's responses (zstd or gzip), or turn it on or off.
    #[command(name = "proxy:compression")]
    ProxyCompression {
        /// on or off; none: show the current setting.
        #[arg(value_parser = Compression::parse)]
        setting: Option<Compression>,
    },
    /// Show the check new web dynos must pass before they get traffic.
    #[command(name = "healthcheck")]
    HealthCheck,
    /// Set that check: --path /health [--status 200] [--timeout 30s]; no --path: a TCP connection.
    #[command(name = "healthcheck:set")]
    HealthCheckSet {
        /// GET this path with the app's host name.
        #[arg(long)]
        path: Option<String>,
        /// The status the GET must answer (default: any 2xx or 3xx).
        #[arg(long)]
        status: Option<u32>,
        /// How long a new web dyno may take to pass (default 60s).
        #[arg(long)]
        timeout: Option<String>,
    },
}

pub(super) async fn run(verb: RoutingVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    match verb {
        RoutingVerb::Domains => {
            let domains: Domains = s.client.get(&format!("{base}/domains")).await?;
            s.output
                .show(&domains, |out, _| write_domains(out, &app, &domains))?;
        }
        RoutingVerb::DomainsAdd { domain } => {
            let domains: Domains = s
                .client
                .post(&format!("{base}/domains"), &DomainRequest { domain })
                .await?;
            s.output.show(&domains, |out, _| {
                writeln!(out, "Added a domain to {app}; point its DNS at this server")?;
                write_domains(out, &app, &domains)
            })?;
        }
        RoutingVerb::DomainsRemove { domain } => {
            let path = format!("{base}/domains/{}", crate::wire::percent_encode(&domain));
            let domains: Domains = s.client.delete_json(&path).await?;
            s.output.show(&domains, |out, _| {
                writeln!(out, "Removed {domain} from {app}")
            })?;
        }
        RoutingVerb::DomainsClear => {
            let listed: Domains = s.client.get(&format!("{base}/domains")).await?;
            let mut domains = listed;
            for domain in domains.custom.clone() {
                let path = format!("{base}/domains/{}", crate::wire::percent_encode(&domain));
                domains = s.client.delete_json(&path).await?;
            }
            s.output.show(&domains, |out, _| {
                writeln!(out, "Removed every custom domain from {app}")?;
                write_domains(out, &app, &domains)
            })?;
        }
        RoutingVerb::MaintenanceOn => set_maintenance(s, &app, &base, true).await?,
        RoutingVerb::MaintenanceOff => set_maintenance(s, &app, &base, false).await?,
        RoutingVerb::ProxyCompression { setting } => {
            let path = format!("{base}/compression");
            let state: CompressionBody = match setting {
                Some(c) => {
                    let body = CompressionBody {
                        enabled: c.enabled(),
                    };
                    s.client.put(&path, &body).await?
                }
                None => s.client.get(&path).await?,
            };
            s.output
                .show(&state, |out, _| write_compression(out, &app, &state))?;
        }
        RoutingVerb::HealthCheck => {
            let check: HealthCheckBody = s.client.get(&format!("{base}/healthcheck")).await?;
            s.output
                .show(&check, |out, _| write_check(out, &app, &check))?;
        }
        RoutingVerb::HealthCheckSet {
            path,
            status,
            timeout,
        } => {
            let body = HealthCheckBody {
                path,
                status,
                timeout,
                description: None,
            };
            let check: HealthCheckBody =
                s.client.put(&format!("{base}/healthcheck"), &body).await?;
            s.output
                .show(&check, |out, _| write_check(out, &app, &check))?;
        }
    }
    Ok(())
}

async fn set_maintenance(
    s: &mut Session<'_>,
    app: &str,
    base: &str,
    enabled: bool,
) -> Result<(), CliError> {
    let state: Maintenance = s
        .client
        .put(&format!("{base}/maintenance"), &Maintenance { enabled })
        .await?;
    s.output.show(&state, |out, _| {
        if state.enabled {
            writeln!(
                out,
                "Maintenance mode is on for {app}: every request gets a 503 page"
            )
        } else {
            writeln!(out, "Maintenance mode is off for {app}")
        }
    })?;
    Ok(())
}

fn write_compression(
    out: &mut dyn Write,
    app: &str,
    state: &CompressionBody,
) -> std::io::Result<()> {
    if state.enabled {
        writeln!(
            out,
            "Compression is on for {app}: text responses go out zstd- or gzip-encoded to clients that accept it"
        )
    } else {
        writeln!(out, "Compression is off for {app}")
    }
}

fn write_domains(out: &mut dyn Write, app: &str, domains: &Domains) -> std::io::Result<()> {
    writeln!(out, "=== {app} domains")?;
    writeln!(out, "{} (default)", domains.default)?;
    for d in &domains.custom {
        writeln!(out, "{d}")?;
    }
    Ok(())
}

fn write_check(out: &mut dyn Write, app: &str, check: &HealthCheckBody) -> std::io::Result<()> {
    writeln!(
        out,
        "New web dynos of {app} get traffic once they pass: {}",
        check.description.as_deref().unwrap_or("-")
    )
}
