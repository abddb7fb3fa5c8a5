//! Router metrics as domain data: per app and time bucket, requests by status class and the
//! service times as an HDR histogram (percentiles from the histogram, never from averages);
//! merging buckets into coarser points; and the retention rule — one-minute points for 48 hours,
//! rolled into ten-minute points kept for 8 days, then dropped.

use std::fmt;
use std::time::Duration;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

/// The fine step and how long its points stay.
pub const FINE_STEP_SECS: i64 = 60;
pub const FINE_KEEP_SECS: i64 = 48 * 3600;
/// The coarse step fine points are rolled into, and how long those stay.
pub const COARSE_STEP_SECS: i64 = 600;
pub const COARSE_KEEP_SECS: i64 = 8 * 24 * 3600;
/// Service times above this (an hour, in ms) are counted as this.
const MAX_TRACKED_MS: u64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    #[error("a stored histogram does not read back: {0}")]
    Histogram(String),
    #[error("{what} {raw:?} must be a duration like \"1h\", \"30m\" or \"7d\", up to 8 days")]
    Period { what: &'static str, raw: String },
}

/// One bucket of one app's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestStats {
    /// 2xx, 3xx, 4xx and 5xx answers (1xx count as 2xx: the request went through).
    pub by_class: [u64; 4],
    /// Service times in milliseconds.
    pub service_ms: Histogram<u64>,
}

impl Default for RequestStats {
    fn default() -> Self {
        Self {
            by_class: [0; 4],
            service_ms: Histogram::new_with_bounds(1, MAX_TRACKED_MS, 2)
                .expect("the bounds are valid"),
        }
    }
}

impl RequestStats {
    /// Counts one request.
    pub fn record(&mut self, status: u16, service_ms: u64) {
        let class = match status {
            0..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.by_class[class] += 1;
        self.service_ms
            .saturating_record(service_ms.clamp(1, MAX_TRACKED_MS));
    }

    pub fn merge(&mut self, other: &RequestStats) {
        for (a, b) in self.by_class.iter_mut().zip(other.by_class) {
            *a += b;
        }
        // Both have the same bounds, so adding never fails.
        let _ = self.service_ms.add(&other.service_ms);
    }

    pub fn requests(&self) -> u64 {
        self.by_class.iter().sum()
    }

    /// The histogram as stored (HDR's V2 format).
    pub fn histogram_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        V2Serializer::new()
            .serialize(&self.service_ms, &mut out)
            .expect("writing to memory does not fail");
        out
    }

    pub fn from_stored(by_class: [u64; 4], histogram: &[u8]) -> Result<Self, MetricsError> {
        let service_ms = Deserializer::new()
            .deserialize(&mut &histogram[..])
            .map_err(|e| MetricsError::Histogram(format!("{e:?}")))?;
        Ok(Self {
            by_class,
            service_ms,
        })
    }

    /// The point a client sees: counts and p50/p95/p99/max of the service time.
    pub fn point(&self, start: i64, step_secs: i64) -> MetricsPoint {
        let q = |q: f64| (self.requests() > 0).then(|| self.service_ms.value_at_quantile(q));
        MetricsPoint {
            start,
            step_secs,
            by_class: self.by_class,
            p50_ms: q(0.50),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: (self.requests() > 0).then(|| self.service_ms.max()),
        }
    }
}

/// One point of an app's router metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsPoint {
    /// Unix seconds at the start of the bucket.
    pub start: i64,
    pub step_secs: i64,
    pub by_class: [u64; 4],
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

/// The start of the `step`-second bucket holding `secs`.
pub fn bucket_start(secs: i64, step: i64) -> i64 {
    secs.div_euclid(step) * step
}

/// Merges stored buckets (start, stats), oldest first, into points of `step` seconds.
pub fn merge_into_steps(rows: Vec<(i64, RequestStats)>, step: i64) -> Vec<MetricsPoint> {
    let mut points: Vec<(i64, RequestStats)> = Vec::new();
    for (start, stats) in rows {
        let bucket = bucket_start(start, step);
        match points.last_mut() {
            Some((b, merged)) if *b == bucket => merged.merge(&stats),
            _ => points.push((bucket, stats)),
        }
    }
    points
        .into_iter()
        .map(|(start, stats)| stats.point(start, step))
        .collect()
}

/// Points of `step` seconds (at least the coarsest step among the rows) and the total over all
/// of them, from buckets (start, step, stats) in any order — stored ones and those still in
/// memory, which may share a minute.
pub fn metrics_view(
    mut rows: Vec<(i64, i64, RequestStats)>,
    step: i64,
) -> (i64, Vec<MetricsPoint>, MetricsPoint) {
    rows.sort_by_key(|r| r.0);
    let step = rows.iter().map(|r| r.1).fold(step, i64::max);
    let mut total = RequestStats::default();
    for (_, _, stats) in &rows {
        total.merge(stats);
    }
    let first = rows.first().map_or(0, |r| bucket_start(r.0, step));
    let last = rows.last().map_or(0, |r| bucket_start(r.0, step) + step);
    let points = merge_into_steps(rows.into_iter().map(|r| (r.0, r.2)).collect(), step);
    (step, points, total.point(first, last - first))
}

/// What retention does at `now` (Unix seconds): fine points that start before `roll_before`
/// are rolled into coarse ones and deleted; coarse points that start before `drop_before` are
/// deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsRetention {
    pub roll_before: i64,
    pub drop_before: i64,
}

pub fn retention_at(now: i64) -> MetricsRetention {
    MetricsRetention {
        // Whole coarse buckets only, so a coarse point is built once from all its minutes.
        roll_before: bucket_start(now - FINE_KEEP_SECS, COARSE_STEP_SECS),
        drop_before: now - COARSE_KEEP_SECS,
    }
}

/// A `--since` or `step` period: `1h`, `30m`, `7d`, up to 8 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsPeriod(Duration);

impl MetricsPeriod {
    pub fn parse(what: &'static str, raw: &str) -> Result<Self, MetricsError> {
        let bad = || MetricsError::Period {
            what,
            raw: raw.to_owned(),
        };
        let d = humantime::parse_duration(raw.trim()).map_err(|_| bad())?;
        let secs = d.as_secs() as i64;
        if !(FINE_STEP_SECS..=COARSE_KEEP_SECS).contains(&secs) || d.subsec_nanos() != 0 {
            return Err(bad());
        }
        Ok(Self(d))
    }

    pub fn secs(self) -> i64 {
        self.0.as_secs() as i64
    }

    /// The step of a view of this length when none is asked: minutes up to 6 hours, ten
    /// minutes up to two days, hours beyond.
    pub fn default_step(self) -> i64 {
        match self.secs() {
            s if s <= 6 * 3600 => FINE_STEP_SECS,
            s if s <= 48 * 3600 => COARSE_STEP_SECS,
            _ => 3600,
        }
    }
}

impl fmt::Display for MetricsPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(requests: &[(u16, u64)]) -> RequestStats {
        let mut s = RequestStats::default();
        for (status, ms) in requests {
            s.record(*status, *ms);
        }
        s
    }

    #[test]
    fn requests_are_counted_by_class_with_percentiles_from_the_histogram() {
        let mut requests: Vec<(u16, u64)> = (1..=100).map(|ms| (200, ms)).collect();
        requests.extend([(301, 5), (404, 5), (500, 900), (503, 0), (101, 2)]);
        let s = stats(&requests);
        assert_eq!(s.by_class, [101, 1, 1, 2]);
        let p = s.point(120, 60);
        assert_eq!((p.start, p.step_secs), (120, 60));
        let (p50, p95, p99, max) = (
            p.p50_ms.unwrap(),
            p.p95_ms.unwrap(),
            p.p99_ms.unwrap(),
            p.max_ms.unwrap(),
        );
        assert!(p50 <= p95 && p95 <= p99 && p99 <= max, "{p:?}");
        assert!((49..=53).contains(&p50), "{p50}");
        assert!((95..=101).contains(&p95), "{p95}");
        assert!((895..=905).contains(&max), "{max}");
        let empty = RequestStats::default().point(0, 60);
        assert_eq!((empty.p50_ms, empty.max_ms), (None, None));
    }

    #[test]
    fn stored_histograms_read_back_and_garbage_is_an_error() {
        let s = stats(&[(200, 3), (200, 40), (500, 1200)]);
        let back = RequestStats::from_stored(s.by_class, &s.histogram_bytes()).unwrap();
        assert_eq!(back, s);
        assert!(RequestStats::from_stored([0; 4], b"nope").is_err());
    }

    #[test]
    fn buckets_merge_into_coarser_steps() {
        let rows = vec![
            (0, stats(&[(200, 10)])),
            (60, stats(&[(200, 20), (500, 30)])),
            (600, stats(&[(404, 5)])),
            (660, stats(&[])),
        ];
        let points = merge_into_steps(rows.clone(), 600);
        let summary: Vec<(i64, [u64; 4])> = points.iter().map(|p| (p.start, p.by_class)).collect();
        assert_eq!(summary, [(0, [2, 0, 0, 1]), (600, [0, 0, 1, 0])]);
        assert_eq!(points[0].max_ms, Some(30));
        assert_eq!(merge_into_steps(rows, 60).len(), 4);
        assert_eq!(bucket_start(-1, 60), -60);
        assert_eq!(bucket_start(659, 600), 600);
    }

    #[test]
    fn a_view_merges_stored_and_unflushed_buckets_and_totals_them() {
        let rows = vec![
            (120, 60, stats(&[(200, 10)])),
            (0, 600, stats(&[(200, 5), (500, 50)])),
            (120, 60, stats(&[(404, 1)])),
        ];
        let (step, points, total) = metrics_view(rows, 60);
        assert_eq!(step, 600);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].by_class, [2, 0, 1, 1]);
        assert_eq!(total.by_class, [2, 0, 1, 1]);
        assert_eq!((total.start, total.step_secs), (0, 600));
        let (step, points, total) = metrics_view(Vec::new(), 60);
        assert_eq!((step, points.len(), total.by_class), (60, 0, [0; 4]));
    }

    #[test]
    fn retention_rolls_whole_coarse_buckets_and_drops_after_eight_days() {
        let now = 1_800_000_123;
        let r = retention_at(now);
        assert_eq!(r.roll_before % COARSE_STEP_SECS, 0);
        assert!(
            r.roll_before <= now - FINE_KEEP_SECS && r.roll_before > now - FINE_KEEP_SECS - 600
        );
        assert_eq!(r.drop_before, now - 8 * 24 * 3600);
    }

    #[test]
    fn periods_parse_within_range_and_pick_a_step() {
        for (raw, secs, step) in [
            ("1h", 3600, 60),
            ("6h", 21_600, 60),
            ("24h", 86_400, 600),
            ("7d", 604_800, 3600),
        ] {
            let p = MetricsPeriod::parse("since", raw).unwrap();
            assert_eq!((p.secs(), p.default_step()), (secs, step), "{raw}");
        }
        for raw in ["soon", "30s", "9d", ""] {
            let err = MetricsPeriod::parse("since", raw).unwrap_err().to_string();
            assert!(
                err.contains("must be a duration like \"1h\""),
                "{raw}: {err}"
            );
        }
    }
}
