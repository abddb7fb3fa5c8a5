//! Human output of `ps` and friends, in Heroku's shape.

use std::io::Write;

use crate::wire::{AppInfo, CronJobInfo, Dyno, FormationItem};

fn size_label(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => format!("{b}B"),
    }
}

/// One block per process type: a header with count and command, then one line per dyno.
pub fn write_ps(
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
pub fn formation_summary(formation: &[FormationItem]) -> String {
    formation
        .iter()
        .map(|f| format!("{} at {}", f.process_type, f.quantity))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `skiff cron`: one row per scheduled job.
pub fn write_cron(out: &mut dyn Write, app: &str, jobs: &[CronJobInfo]) -> std::io::Result<()> {
    if jobs.is_empty() {
        return writeln!(
            out,
            "{app} has no scheduled jobs; add them to app.json as \"cron\": [{{\"command\": \"…\", \"schedule\": \"*/10 * * * *\"}}] and deploy."
        );
    }
    let dash = || "-".to_owned();
    super::output::table(
        out,
        &[
            "JOB",
            "SCHEDULE",
            "COMMAND",
            "NEXT RUN",
            "LAST RUN",
            "LAST RESULT",
        ],
        jobs.iter().map(|j| {
            vec![
                j.dyno.clone(),
                j.schedule.clone(),
                j.command.clone(),
                j.next_run.clone().unwrap_or_else(dash),
                j.last_run.clone().unwrap_or_else(dash),
                j.last_result.clone().unwrap_or_else(dash),
            ]
        }),
    )
}

/// `1.5 MiB`
fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `skiff apps:info`: Heroku's `=== APP` block of fields, then the dynos and jobs.
pub fn write_app_info(out: &mut dyn Write, info: &AppInfo) -> std::io::Result<()> {
    writeln!(out, "=== {}", info.app.name)?;
    let release = match &info.release {
        Some(r) => format!("v{} ({}, {})", r.version, r.description, r.created_at),
        None => "none (not deployed yet)".to_owned(),
    };
    let pending = info
        .pending_release
        .map(|v| format!("v{v} (starting)"))
        .unwrap_or_else(|| "-".to_owned());
    let domains = if info.domains.is_empty() {
        "-".to_owned()
    } else {
        info.domains.join(", ")
    };
    let formation = if info.formation.is_empty() {
        "-".to_owned()
    } else {
        formation_summary(&info.formation)
    };
    let up = info.dynos.iter().filter(|d| d.state == "up").count();
    let dynos = format!("{up} up of {}", info.dynos.len());
    let d = &info.disk;
    let disk = format!(
        "{} (slugs {}, build cache {}, repository {}, builds {})",
        human_bytes(d.total),
        human_bytes(d.slugs),
        human_bytes(d.cache),
        human_bytes(d.repo),
        human_bytes(d.builds)
    );
    let maintenance = if info.maintenance { "on" } else { "off" };
    let jobs = info.cron.len().to_string();
    super::output::fields(
        out,
        &[
            ("Web URL", &info.app.web_url),
            ("Domains", &domains),
            ("Created", &info.app.created_at),
            ("Release", &release),
            ("Pending release", &pending),
            ("Formation", &formation),
            ("Dynos", &dynos),
            ("Health check", &info.health_check),
            ("Maintenance", maintenance),
            ("Scheduled jobs", &jobs),
            ("Disk use", &disk),
        ],
    )?;
    if !info.dynos.is_empty() {
        writeln!(out)?;
        writeln!(out, "=== Dynos")?;
        for dyno in &info.dynos {
            let since = dyno.since.as_deref().unwrap_or("-");
            writeln!(out, "{}: {} {since}", dyno.name, dyno.state)?;
        }
    }
    if !info.cron.is_empty() {
        writeln!(out)?;
        writeln!(out, "=== Scheduled jobs")?;
        write_cron(out, &info.app.name, &info.cron)?;
    }
    Ok(())
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
