//! `ps`, `ps:scale`, `ps:restart`, `ps:stop` and `ps:resize`: the app's dynos and formation,
//! shown in Heroku's shape.

use std::io::Write;

use clap::Subcommand;

use super::{path_segment, CliError, Session};
use crate::wire::{Dyno, FormationItem, ResizeRequest, RestartRequest, Restarted, ScaleRequest};

#[derive(Debug, Subcommand)]
pub enum DynosVerb {
    /// List the app's dynos.
    #[command(name = "ps")]
    List,
    /// Change how many dynos run: web=2 worker+1 worker-1.
    #[command(name = "ps:scale")]
    Scale {
        #[arg(required = true)]
        changes: Vec<String>,
    },
    /// Restart all dynos, one process type (web) or one dyno (web.1).
    #[command(name = "ps:restart")]
    Restart { target: Option<String> },
    /// Stop one dyno (web.1) until the next deploy, restart or scale.
    #[command(name = "ps:stop")]
    Stop { dyno: String },
    /// Set the limits of a process type's dynos; running ones get them at once.
    #[command(name = "ps:resize")]
    Resize {
        process_type: String,
        /// Memory limit, like 512M or 1G.
        #[arg(long)]
        memory: Option<String>,
        /// CPU limit in percent of one core, like 50% or 200%.
        #[arg(long)]
        cpu: Option<String>,
        /// Maximum number of processes and threads.
        #[arg(long)]
        tasks: Option<u64>,
    },
}

pub(super) async fn run(verb: DynosVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (app, base) = s.app_path()?;
    match verb {
        DynosVerb::List => {
            let dynos: Vec<Dyno> = s.client.get(&format!("{base}/dynos")).await?;
            let formation: Vec<FormationItem> = s.client.get(&format!("{base}/formation")).await?;
            s.output
                .show(&dynos, |out, _| write_ps(out, &formation, &dynos))?;
        }
        DynosVerb::Scale { changes } => {
            let formation: Vec<FormationItem> = s
                .client
                .patch(&format!("{base}/formation"), &ScaleRequest { changes })
                .await?;
            s.output.show(&formation, |out, _| {
                writeln!(
                    out,
                    "Scaled {app}: now running {}",
                    formation_summary(&formation)
                )
            })?;
        }
        DynosVerb::Restart { target } => {
            let restarted: Restarted = s
                .client
                .post(&format!("{base}/dynos/restart"), &RestartRequest { target })
                .await?;
            s.output.show(&restarted, |out, _| {
                writeln!(out, "Restarted {} dynos of {app}", restarted.restarted)
            })?;
        }
        DynosVerb::Stop { dyno } => {
            s.client
                .post_empty(&format!("{base}/dynos/{}/stop", path_segment(&dyno)?))
                .await?;
            s.output
                .show(&serde_json::json!({ "stopped": dyno }), |out, _| {
                    writeln!(out, "Stopped {dyno} of {app}; it stays stopped until the next deploy, restart or scale")
                })?;
        }
        DynosVerb::Resize {
            process_type,
            memory,
            cpu,
            tasks,
        } => {
            let path = format!("{base}/formation/{}", path_segment(&process_type)?);
            let body = ResizeRequest { memory, cpu, tasks };
            let formation: Vec<FormationItem> = s.client.patch(&path, &body).await?;
            s.output
                .show(&formation, |out, _| write_ps(out, &formation, &[]))?;
        }
    }
    Ok(())
}

fn size_label(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => format!("{b}B"),
    }
}

/// One block per process type: a header with count and command, then one line per dyno.
fn write_ps(
    out: &mut dyn Write,
    formation: &[FormationItem],
    dynos: &[Dyno],
) -> std::io::Result<()> {
    if formation.is_empty() {
        return writeln!(
            out,
            "No dynos: the app has not been deployed yet (skiff deploy)."
        );
    }
    for (i, item) in formation.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let plural = if item.quantity == 1 { "" } else { "s" };
        writeln!(
            out,
            "=== {} ({} dyno{plural}, {} memory, {}% CPU, {} tasks): {}",
            item.process_type,
            item.quantity,
            size_label(item.memory_bytes),
            item.cpu_percent,
            item.tasks,
            item.command
        )?;
        for d in dynos.iter().filter(|d| d.process_type == item.process_type) {
            let mut details = Vec::new();
            if let Some(r) = d.release {
                details.push(format!("v{r}"));
            }
            if let Some(pid) = d.pid {
                details.push(format!("pid {pid}"));
            }
            if let Some(port) = d.port {
                details.push(format!("port {port}"));
            }
            if d.restarts > 0 {
                details.push(format!("{} restarts", d.restarts));
            }
            let since = d
                .since
                .as_deref()
                .map(|s| format!(" since {s}"))
                .unwrap_or_default();
            let details = if details.is_empty() {
                String::new()
            } else {
                format!(" ({})", details.join(", "))
            };
            writeln!(out, "{}: {}{since}{details}", d.name, d.state)?;
        }
    }
    Ok(())
}

/// "web at 2, worker at 1"
pub(super) fn formation_summary(formation: &[FormationItem]) -> String {
    formation
        .iter()
        .map(|f| format!("{} at {}", f.process_type, f.quantity))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_shape() {
        let formation = vec![FormationItem {
            process_type: "web".into(),
            quantity: 2,
            command: "python3 app.py".into(),
            memory_bytes: 512 << 20,
            cpu_percent: 100,
            tasks: 256,
        }];
        let dynos = vec![
            Dyno {
                name: "web.1".into(),
                process_type: "web".into(),
                state: "up".into(),
                since: Some("2026-11-21T10:00:00Z".into()),
                release: Some(3),
                pid: Some(1234),
                port: Some(20000),
                restarts: 0,
                command: "python3 app.py".into(),
                unit: Some("skiff-hello.web.1.v3.service".into()),
            },
            Dyno {
                name: "web.2".into(),
                process_type: "web".into(),
                state: "starting".into(),
                since: None,
                release: None,
                pid: None,
                port: None,
                restarts: 0,
                command: "python3 app.py".into(),
                unit: None,
            },
        ];
        let mut out = Vec::new();
        write_ps(&mut out, &formation, &dynos).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "=== web (2 dynos, 512M memory, 100% CPU, 256 tasks): python3 app.py\n\
             web.1: up since 2026-11-21T10:00:00Z (v3, pid 1234, port 20000)\n\
             web.2: starting\n"
        );
        assert_eq!(formation_summary(&formation), "web at 2");
    }
}
