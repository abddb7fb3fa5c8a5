//! `metrics`: an app's throughput, error rate and service-time percentiles per step from its
//! router lines, with a sparkline of its requests, and its dynos' memory and CPU per process
//! type, now and over the period.

use std::io::Write;

use clap::Subcommand;

use super::{output, CliError, Session};
use crate::wire::{AppMetrics, DynoUsage, RouterPoint};

#[derive(Debug, Subcommand)]
pub enum MetricsVerb {
    /// Show the app's requests by status class, p50/p95/p99/max service time, and its dynos'
    /// memory and CPU.
    #[command(name = "metrics")]
    Show {
        /// How far back: 1h, 30m, 24h, 7d (up to 8 days).
        #[arg(long, default_value = "1h")]
        since: String,
        /// The points' step: 1m, 10m, 1h (by default from the period).
        #[arg(long)]
        step: Option<String>,
        /// Show it again every 10 seconds until interrupted (the dynos' CPU then covers the
        /// last 10 seconds).
        #[arg(long)]
        watch: bool,
    },
}

/// How often `--watch` looks again.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Clears a terminal and puts the cursor at its top left.
const CLEAR: &str = "\x1b[2J\x1b[H";

pub(super) async fn run(verb: MetricsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let MetricsVerb::Show { since, step, watch } = verb;
    let (_, base) = s.app_path()?;
    let mut path = format!("{base}/metrics?since={}", super::path_segment(&since)?);
    if let Some(step) = step {
        path.push_str(&format!("&step={}", super::path_segment(&step)?));
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let metrics: AppMetrics = s.client.get(&path).await?;
        s.output.show(&metrics, |out, _| {
            if watch && terminal {
                write!(out, "{CLEAR}")?;
            }
            write_metrics(out, &metrics)
        })?;
        if !watch {
            return Ok(());
        }
        s.output.out().flush()?;
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// `▁▂▅█`: each value's height against the largest.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|v| BARS[((*v * 7) as f64 / max as f64).round() as usize])
        .collect()
}

fn ms(v: Option<u64>) -> String {
    v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into())
}

fn error_rate(p: &RouterPoint) -> String {
    if p.requests == 0 {
        return "-".into();
    }
    format!("{:.1}%", p.status_5xx as f64 * 100.0 / p.requests as f64)
}

pub fn write_metrics(out: &mut dyn Write, m: &AppMetrics) -> std::io::Result<()> {
    let t = &m.total;
    writeln!(
        out,
        "=== {}: {} requests since {} ({} s steps)",
        m.app, t.requests, m.since, m.step_secs
    )?;
    if t.requests == 0 {
        writeln!(out, "No requests in this period.")?;
    } else {
        let counts: Vec<u64> = m.points.iter().map(|p| p.requests).collect();
        writeln!(
            out,
            "Errors (5xx) {}, p50 {}, p95 {}, p99 {}, max {}",
            error_rate(t),
            ms(t.p50_ms),
            ms(t.p95_ms),
            ms(t.p99_ms),
            ms(t.max_ms)
        )?;
        writeln!(out, "Requests {}", sparkline(&counts))?;
        writeln!(out)?;
        output::table(
            out,
            &[
                "TIME", "REQUESTS", "2XX", "3XX", "4XX", "5XX", "ERRORS", "P50", "P95", "P99",
                "MAX",
            ],
            m.points.iter().map(|p| {
                vec![
                    p.time.clone(),
                    p.requests.to_string(),
                    p.status_2xx.to_string(),
                    p.status_3xx.to_string(),
                    p.status_4xx.to_string(),
                    p.status_5xx.to_string(),
                    error_rate(p),
                    ms(p.p50_ms),
                    ms(p.p95_ms),
                    ms(p.p99_ms),
                    ms(p.max_ms),
                ]
            }),
        )?;
    }
    for p in &m.processes {
        let limit = p
            .memory_limit
            .map(|l| format!(" (each of {})", output::human_bytes(l)))
            .unwrap_or_default();
        writeln!(
            out,
            "=== {}: {} dyno(s), {} memory{limit}, {:.1}% CPU",
            p.process_type,
            p.dynos,
            output::human_bytes(p.memory_bytes),
            p.cpu_percent
        )?;
        if let Some(u) = m.usage.iter().find(|u| u.process_type == p.process_type) {
            write_usage(out, u)?;
        }
    }
    for u in &m.usage {
        if !m.processes.iter().any(|p| p.process_type == u.process_type) {
            writeln!(out, "=== {}: no dynos run now", u.process_type)?;
            write_usage(out, u)?;
        }
    }
    Ok(())
}

/// A process type's memory and CPU per dyno over the period, as sparklines.
fn write_usage(out: &mut dyn Write, u: &DynoUsage) -> std::io::Result<()> {
    let memory: Vec<u64> = u
        .points
        .iter()
        .map(|p| p.memory_bytes.unwrap_or(0))
        .collect();
    let highest = u.points.iter().filter_map(|p| p.memory_max_bytes).max();
    let cpu: Vec<f64> = u.points.iter().filter_map(|p| p.cpu_percent).collect();
    // Tenths of a percent, so the sparkline shows small loads too.
    let cpu_line: Vec<u64> = u
        .points
        .iter()
        .map(|p| (p.cpu_percent.unwrap_or(0.0) * 10.0).round() as u64)
        .collect();
    if let Some(highest) = highest {
        writeln!(
            out,
            "Memory per dyno {} highest {}",
            sparkline(&memory),
            output::human_bytes(highest)
        )?;
    }
    if !cpu.is_empty() {
        writeln!(
            out,
            "CPU per dyno    {} mean {:.1}%",
            sparkline(&cpu_line),
            cpu.iter().sum::<f64>() / cpu.len() as f64
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_largest_value() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8]), "▁▂▃▅█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn a_minute_with_errors_in_words() {
        let point = RouterPoint {
            time: "2026-12-03T07:00:00Z".into(),
            step_secs: 60,
            requests: 200,
            status_2xx: 180,
            status_3xx: 0,
            status_4xx: 0,
            status_5xx: 20,
            p50_ms: Some(3),
            p95_ms: Some(12),
            p99_ms: Some(40),
            max_ms: Some(90),
        };
        let m = AppMetrics {
            app: "shop".into(),
            since: "2026-12-03T06:00:00Z".into(),
            step_secs: 60,
            points: vec![point.clone()],
            total: point,
            processes: vec![crate::wire::ProcessUsage {
                process_type: "web".into(),
                dynos: 1,
                memory_bytes: 24 << 20,
                memory_limit: Some(512 << 20),
                cpu_percent: 2.5,
            }],
            usage: ["web", "worker"]
                .into_iter()
                .map(|process| crate::wire::DynoUsage {
                    process_type: process.into(),
                    points: [(20u64, 1.0), (28, 3.0)]
                        .into_iter()
                        .map(|(mib, cpu)| crate::wire::DynoUsagePoint {
                            time: "2026-12-03T07:00:00Z".into(),
                            step_secs: 60,
                            memory_bytes: Some(mib << 20),
                            memory_max_bytes: Some((mib + 2) << 20),
                            cpu_percent: Some(cpu),
                        })
                        .collect(),
                })
                .collect(),
        };
        let mut out = Vec::new();
        write_metrics(&mut out, &m).unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "=== shop: 200 requests since 2026-12-03T06:00:00Z (60 s steps)",
            "Errors (5xx) 10.0%, p50 3 ms, p95 12 ms, p99 40 ms, max 90 ms",
            "Requests █",
            "2026-12-03T07:00:00Z",
            "=== web: 1 dyno(s), 24.0 MiB memory (each of 512.0 MiB), 2.5% CPU\nMemory per dyno ▆█ highest 30.0 MiB\nCPU per dyno    ▃█ mean 2.0%",
            "=== worker: no dynos run now\nMemory per dyno",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }
    }
}
