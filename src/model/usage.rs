//! Dyno usage points: per app, process type and bucket, its dynos' memory (mean and highest of
//! the samples) and CPU (mean), from the monitor's samples; sums, so buckets merge and roll up
//! like router minutes do.

use std::collections::BTreeMap;

use super::metrics::bucket_start;
use super::ProcessType;

/// The samples of one process type's dynos in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageStats {
    /// Dyno samples that had a memory figure, their sum and the highest.
    pub memory_samples: u64,
    pub memory_sum: u64,
    pub memory_max: u64,
    /// Dyno samples that had a CPU figure and their sum (percent of one core).
    pub cpu_samples: u64,
    pub cpu_sum: f64,
}

impl UsageStats {
    /// Counts one dyno's sample.
    pub fn record(&mut self, memory_bytes: Option<u64>, cpu_percent: Option<f64>) {
        if let Some(m) = memory_bytes {
            self.memory_samples += 1;
            self.memory_sum += m;
            self.memory_max = self.memory_max.max(m);
        }
        if let Some(c) = cpu_percent {
            self.cpu_samples += 1;
            self.cpu_sum += c;
        }
    }

    pub fn merge(&mut self, other: &UsageStats) {
        self.memory_samples += other.memory_samples;
        self.memory_sum += other.memory_sum;
        self.memory_max = self.memory_max.max(other.memory_max);
        self.cpu_samples += other.cpu_samples;
        self.cpu_sum += other.cpu_sum;
    }

    /// A dyno's mean memory over the samples.
    pub fn memory_mean(&self) -> Option<u64> {
        (self.memory_samples > 0).then(|| self.memory_sum / self.memory_samples)
    }

    /// A dyno's mean CPU over the samples, in percent of one core.
    pub fn cpu_mean(&self) -> Option<f64> {
        (self.cpu_samples > 0).then(|| self.cpu_sum / self.cpu_samples as f64)
    }
}

/// Pure: one sample of an app's dynos, as (process type, memory, CPU %) per dyno, counted into
/// one row per process type.
pub fn usage_of_sample(
    dynos: impl IntoIterator<Item = (ProcessType, Option<u64>, Option<f64>)>,
) -> BTreeMap<ProcessType, UsageStats> {
    let mut out: BTreeMap<ProcessType, UsageStats> = BTreeMap::new();
    for (process, memory, cpu) in dynos {
        if memory.is_some() || cpu.is_some() {
            out.entry(process).or_default().record(memory, cpu);
        }
    }
    out
}

/// One process type's usage over one step.
#[derive(Debug, Clone, PartialEq)]
pub struct UsagePoint {
    pub start: i64,
    pub step_secs: i64,
    pub stats: UsageStats,
}

/// Pure: stored buckets (process type, start, step, stats) as points of `step` seconds (at
/// least the coarsest step among them) per process type, oldest first.
pub fn usage_view(
    rows: Vec<(ProcessType, i64, i64, UsageStats)>,
    step: i64,
) -> (i64, BTreeMap<ProcessType, Vec<UsagePoint>>) {
    let step = rows.iter().map(|r| r.2).fold(step, i64::max);
    let mut buckets: BTreeMap<ProcessType, BTreeMap<i64, UsageStats>> = BTreeMap::new();
    for (process, start, _, stats) in rows {
        buckets
            .entry(process)
            .or_default()
            .entry(bucket_start(start, step))
            .or_default()
            .merge(&stats);
    }
    let points = buckets
        .into_iter()
        .map(|(process, by_start)| {
            let points = by_start
                .into_iter()
                .map(|(start, stats)| UsagePoint {
                    start,
                    step_secs: step,
                    stats,
                })
                .collect();
            (process, points)
        })
        .collect();
    (step, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ProcessType {
        ProcessType::parse("web").unwrap()
    }

    #[test]
    fn a_sample_counts_per_process_type_and_skips_dynos_without_figures() {
        let worker = ProcessType::parse("worker").unwrap();
        let rows = usage_of_sample([
            (web(), Some(100), Some(2.0)),
            (web(), Some(300), Some(4.0)),
            (worker.clone(), Some(50), None),
            (worker.clone(), None, None),
        ]);
        let w = rows[&web()];
        assert_eq!((w.memory_mean(), w.memory_max), (Some(200), 300));
        assert_eq!(w.cpu_mean(), Some(3.0));
        let k = rows[&worker];
        assert_eq!((k.memory_samples, k.cpu_mean()), (1, None));
        assert!(usage_of_sample([(web(), None, None)]).is_empty());
    }

    #[test]
    fn buckets_merge_into_steps_of_at_least_the_coarsest_stored() {
        let sample = |m, c| {
            let mut s = UsageStats::default();
            s.record(Some(m), Some(c));
            s
        };
        // (asked step, rows as (start, step), step shown, points as (start, mean, max))
        type Case = (i64, Vec<(i64, i64)>, i64, Vec<(i64, u64, u64)>);
        let cases: [Case; 3] = [
            (
                60,
                vec![(0, 60), (60, 60)],
                60,
                vec![(0, 10, 10), (60, 20, 20)],
            ),
            (600, vec![(0, 60), (60, 60)], 600, vec![(0, 15, 20)]),
            (
                60,
                vec![(0, 600), (600, 60)],
                600,
                vec![(0, 10, 10), (600, 20, 20)],
            ),
        ];
        for (asked, rows, want_step, want) in cases {
            let rows = rows
                .iter()
                .enumerate()
                .map(|(i, (start, step))| {
                    let m = 10 * (i as u64 + 1);
                    (web(), *start, *step, sample(m, m as f64))
                })
                .collect();
            let (step, points) = usage_view(rows, asked);
            assert_eq!(step, want_step, "{asked}");
            let got: Vec<(i64, u64, u64)> = points[&web()]
                .iter()
                .map(|p| (p.start, p.stats.memory_mean().unwrap(), p.stats.memory_max))
                .collect();
            assert_eq!(got, want, "{asked}");
        }
    }
}
