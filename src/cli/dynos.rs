//! Human output of `ps` and friends, in Heroku's shape.

use std::io::Write;

use crate::api::{Dyno, FormationItem};

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
