//! `domains`, `domains:add`, `domains:remove`, `maintenance:on|off` and `healthcheck[:set]`: how
//! an app is reached through the proxy.

use std::io::Write;

use super::{output, path_segment, ApiClient, CliError, Command};
use crate::wire::{DomainRequest, Domains, HealthCheckBody, Maintenance};

/// A routing verb with its arguments.
pub enum RoutingVerb {
    Domains,
    DomainsAdd(String),
    DomainsRemove(String),
    Maintenance(bool),
    HealthCheck,
    HealthCheckSet(HealthCheckBody),
}

impl RoutingVerb {
    /// The routing verb a command is, or the command back when it is another one.
    pub fn from_command(command: Command) -> Result<Self, Command> {
        Ok(match command {
            Command::Domains => Self::Domains,
            Command::DomainsAdd { domain } => Self::DomainsAdd(domain),
            Command::DomainsRemove { domain } => Self::DomainsRemove(domain),
            Command::MaintenanceOn => Self::Maintenance(true),
            Command::MaintenanceOff => Self::Maintenance(false),
            Command::HealthCheck => Self::HealthCheck,
            Command::HealthCheckSet {
                path,
                status,
                timeout,
            } => Self::HealthCheckSet(HealthCheckBody {
                path,
                status,
                timeout,
                description: None,
            }),
            other => return Err(other),
        })
    }
}

pub async fn run(
    client: &ApiClient,
    app: &str,
    verb: RoutingVerb,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let base = format!("/v1/apps/{}", path_segment(app)?);
    match verb {
        RoutingVerb::Domains => {
            let domains: Domains = client.get(&format!("{base}/domains")).await?;
            if json {
                return Ok(output::json(out, &domains)?);
            }
            write_domains(out, app, &domains)?;
        }
        RoutingVerb::DomainsAdd(domain) => {
            let domains: Domains = client
                .post(&format!("{base}/domains"), &DomainRequest { domain })
                .await?;
            if json {
                return Ok(output::json(out, &domains)?);
            }
            writeln!(out, "Added a domain to {app}; point its DNS at this server")?;
            write_domains(out, app, &domains)?;
        }
        RoutingVerb::DomainsRemove(domain) => {
            let domains: Domains = client
                .delete_json(&format!(
                    "{base}/domains/{}",
                    super::deploy::query_escape(&domain)
                ))
                .await?;
            if json {
                return Ok(output::json(out, &domains)?);
            }
            writeln!(out, "Removed {domain} from {app}")?;
        }
        RoutingVerb::Maintenance(enabled) => {
            let state: Maintenance = client
                .put(&format!("{base}/maintenance"), &Maintenance { enabled })
                .await?;
            if json {
                return Ok(output::json(out, &state)?);
            }
            if state.enabled {
                writeln!(
                    out,
                    "Maintenance mode is on for {app}: every request gets a 503 page"
                )?;
            } else {
                writeln!(out, "Maintenance mode is off for {app}")?;
            }
        }
        RoutingVerb::HealthCheck => {
            let check: HealthCheckBody = client.get(&format!("{base}/healthcheck")).await?;
            write_check(out, app, &check, json)?;
        }
        RoutingVerb::HealthCheckSet(body) => {
            let check: HealthCheckBody = client.put(&format!("{base}/healthcheck"), &body).await?;
            write_check(out, app, &check, json)?;
        }
    }
    Ok(())
}

fn write_domains(out: &mut dyn Write, app: &str, domains: &Domains) -> std::io::Result<()> {
    writeln!(out, "=== {app} domains")?;
    writeln!(out, "{} (default)", domains.default)?;
    for d in &domains.custom {
        writeln!(out, "{d}")?;
    }
    Ok(())
}

fn write_check(
    out: &mut dyn Write,
    app: &str,
    check: &HealthCheckBody,
    json: bool,
) -> std::io::Result<()> {
    if json {
        return output::json(out, check);
    }
    writeln!(
        out,
        "New web dynos of {app} get traffic once they pass: {}",
        check.description.as_deref().unwrap_or("-")
    )
}
