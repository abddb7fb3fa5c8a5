//! `ps`, `ps:scale`, `ps:restart`, `ps:stop`, `ps:resize` and `ps:autosleep`: the app's dynos
//! and formation, shown in Heroku's shape, and whether it sleeps when idle.

use std::io::Write;

use clap::Subcommand;

use super::{path_segment, CliError, Session};
use crate::wire::{
    Autosleep, AutosleepRequest, Dyno, FormationItem, ResizeRequest, RestartRequest, Restarted,
    ScaleRequest,
};

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
    #[command(name = "ps:resize", visible_alias = "ps:type")]
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
    /// Show or set how long the app goes without a request before its dynos sleep: a period
    /// (30m, 2h, 90s), off, or default (the server's). The next request wakes it.
    #[command(name = "ps:autosleep")]
    Autosleep { after: Option<String> },
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
        DynosVerb::Autosleep { after } => {
            let path = format!("{base}/autosleep");
            let sleep: Autosleep = match after {
                Some(after) => s.client.put(&path, &AutosleepRequest { after }).await?,
                None => s.client.get(&path).await?,
            };
            s.output.show(&sleep, |out, _| {
                writeln!(out, "{}", describe_autosleep(&app, &sleep))
            })?;
        }
    }
    Ok(())
}

/// "my-app sleeps after 30m without a request (its own setting); sleeping since …"
pub(super) fn describe_autosleep(app: &str, sleep: &Autosleep) -> String {
    let source = if sleep.setting == "default" {
        "the server's default"
    } else {
        "its own setting"
    };
    let mut line = match &sleep.effective {
        Some(after) => format!("{app} sleeps after {after} without a request ({source})"),
        None => format!("{app} never sleeps ({source})"),
    };
    match (sleep.state.as_str(), &sleep.since) {
        ("sleeping", Some(since)) => line.push_str(&format!(
            "; sleeping since {since}: the next request wakes it"
        )),
        ("waking", _) => line.push_str("; waking now"),
        _ => {}
    }
    if let Some(why) = &sleep.wake_failure {
        line.push_str(&format!("; its last wake failed: {why}"));
    }
    line
}

fn size_label(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => format!("{b}B"),
    }
}

/// Bytes in MiB with one decimal (`23.4M`), as `ps` shows a dyno's memory.
fn size_label_round(bytes: u64) -> String {
    format!("{:.1}M", bytes as f64 / f64::from(1 << 20))
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
            if let Some(used) = d.memory_bytes {
                let limit = d
                    .memory_limit
                    .map(|l| format!(" of {}", size_label_round(l)))
                    .unwrap_or_default();
                details.push(format!("{} memory{limit}", size_label_round(used)));
            }
            if let Some(cpu) = d.cpu_percent {
                details.push(format!("{cpu:.1}% CPU"));
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
                memory_bytes: Some(24 << 20),
                memory_limit: Some(512 << 20),
                cpu_percent: Some(3.06),
                tasks: Some(3),
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
                memory_bytes: None,
                memory_limit: None,
                cpu_percent: None,
                tasks: None,
            },
        ];
        let mut out = Vec::new();
        write_ps(&mut out, &formation, &dynos).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "=== web (2 dynos, 512M memory, 100% CPU, 256 tasks): python3 app.py\n\
             web.1: up since 2026-11-21T10:00:00Z (v3, pid 1234, port 20000, 24.0M memory of 512.0M, 3.1% CPU)\n\
             web.2: starting\n"
        );
        assert_eq!(formation_summary(&formation), "web at 2");
    }

    #[test]
    fn autosleep_in_words() {
        let sleep = |setting: &str, effective: Option<&str>, state: &str, failure: Option<&str>| {
            Autosleep {
                setting: setting.into(),
                effective: effective.map(Into::into),
                state: state.into(),
                since: (state != "awake").then(|| "2026-12-03T06:00:00Z".into()),
                wake_failure: failure.map(Into::into),
            }
        };
        for (s, want) in [
            (
                sleep("default", None, "awake", None),
                "shop never sleeps (the server's default)",
            ),
            (
                sleep("30m", Some("30m"), "awake", None),
                "shop sleeps after 30m without a request (its own setting)",
            ),
            (
                sleep("5s", Some("5s"), "sleeping", Some("web.1 timed out")),
                "shop sleeps after 5s without a request (its own setting); sleeping since \
                 2026-12-03T06:00:00Z: the next request wakes it; its last wake failed: web.1 timed out",
            ),
            (
                sleep("default", Some("1h"), "waking", None),
                "shop sleeps after 1h without a request (the server's default); waking now",
            ),
        ] {
            assert_eq!(describe_autosleep("shop", &s), want);
        }
    }
}
