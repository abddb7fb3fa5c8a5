//! `metrics`: an app's throughput, error rate and service-time percentiles per step from its
//! router lines, with a sparkline of its requests, and its dynos' memory and CPU per process
//! type.

use std::io::Write;

use clap::Subcommand;

use super::{output, CliError, Session};
use crate::wire::{AppMetrics, RouterPoint};

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
        };
        let mut out = Vec::new();
        write_metrics(&mut out, &m).unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "=== shop: 200 requests since 2026-12-03T06:00:00Z (60 s steps)",
            "Errors (5xx) 10.0%, p50 3 ms, p95 12 ms, p99 40 ms, max 90 ms",
            "Requests █",
            "2026-12-03T07:00:00Z",
            "=== web: 1 dyno(s), 24.0 MiB memory (each of 512.0 MiB), 2.5% CPU",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }
    }
}
