//! Metrics on the wire: `GET /v1/apps/{app}/metrics`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// How far back: `1h` (the default), `30m`, `24h`, `7d` (up to 8 days).
    pub since: Option<String>,
    /// The points' step: `1m`, `10m`, `1h`; by default minutes up to 6 h, ten minutes up to
    /// 2 days, hours beyond. Never finer than what is stored (ten minutes after 48 hours).
    pub step: Option<String>,
}

/// One point of an app's router metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RouterPoint {
    /// RFC 3339, the start of the point.
    pub time: String,
    pub step_secs: i64,
    pub requests: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// Service time percentiles and maximum in milliseconds (none without requests).
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

/// One process type's dynos now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessUsage {
    pub process_type: String,
    pub dynos: usize,
    /// Summed over its running dynos.
    pub memory_bytes: u64,
    /// Each dyno's limit.
    pub memory_limit: Option<u64>,
    /// Summed over its running dynos, in percent of one core, since the last look.
    pub cpu_percent: f64,
}

/// One process type's dynos over one step, from the samples taken in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DynoUsagePoint {
    /// RFC 3339, the start of the point.
    pub time: String,
    pub step_secs: i64,
    /// A dyno's mean memory over the samples, and the highest any dyno had.
    pub memory_bytes: Option<u64>,
    pub memory_max_bytes: Option<u64>,
    /// A dyno's mean CPU over the samples, in percent of one core.
    pub cpu_percent: Option<f64>,
}

/// One process type's usage over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DynoUsage {
    pub process_type: String,
    pub points: Vec<DynoUsagePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppMetrics {
    pub app: String,
    /// RFC 3339: the start of the period shown.
    pub since: String,
    pub step_secs: i64,
    pub points: Vec<RouterPoint>,
    /// All of the period's requests as one point.
    pub total: RouterPoint,
    /// The dynos now, per process type.
    pub processes: Vec<ProcessUsage>,
    /// The dynos' memory and CPU per process type over the period (sampled every 60 s, every
    /// 10 s while watched).
    pub usage: Vec<DynoUsage>,
}
