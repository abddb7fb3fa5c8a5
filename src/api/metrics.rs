//! `GET /v1/apps/{app}/metrics`: the app's router metrics (stored points and the minutes not
//! written yet), its dynos' memory and CPU per process type now, and their stored usage points.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;

use super::dynos::dynos_of;
use super::error::ApiError;
use super::AppState;
use crate::model::{
    metrics_view, usage_view, MetricsPeriod, MetricsPoint, UsagePoint, FINE_STEP_SECS,
};
use crate::monitor::rfc3339_ms;
use crate::wire::{
    AppMetrics, Dyno, DynoUsage, DynoUsagePoint, ErrorBody, MetricsQuery, ProcessUsage, RouterPoint,
};

impl From<&MetricsPoint> for RouterPoint {
    fn from(p: &MetricsPoint) -> Self {
        let [s2, s3, s4, s5] = p.by_class;
        Self {
            time: rfc3339_ms(p.start * 1000),
            step_secs: p.step_secs,
            requests: s2 + s3 + s4 + s5,
            status_2xx: s2,
            status_3xx: s3,
            status_4xx: s4,
            status_5xx: s5,
            p50_ms: p.p50_ms,
            p95_ms: p.p95_ms,
            p99_ms: p.p99_ms,
            max_ms: p.max_ms,
        }
    }
}

impl From<&UsagePoint> for DynoUsagePoint {
    fn from(p: &UsagePoint) -> Self {
        Self {
            time: rfc3339_ms(p.start * 1000),
            step_secs: p.step_secs,
            memory_bytes: p.stats.memory_mean(),
            memory_max_bytes: (p.stats.memory_samples > 0).then_some(p.stats.memory_max),
            cpu_percent: p.stats.cpu_mean(),
        }
    }
}

/// Pure: the running dynos' memory and CPU summed per process type.
pub fn process_usage(dynos: &[Dyno]) -> Vec<ProcessUsage> {
    let mut out: Vec<ProcessUsage> = Vec::new();
    for d in dynos.iter().filter(|d| d.memory_bytes.is_some()) {
        let i = match out.iter().position(|p| p.process_type == d.process_type) {
            Some(i) => i,
            None => {
                out.push(ProcessUsage {
                    process_type: d.process_type.clone(),
                    dynos: 0,
                    memory_bytes: 0,
                    memory_limit: d.memory_limit,
                    cpu_percent: 0.0,
                });
                out.len() - 1
            }
        };
        let p = &mut out[i];
        p.dynos += 1;
        p.memory_bytes += d.memory_bytes.unwrap_or(0);
        p.cpu_percent += d.cpu_percent.unwrap_or(0.0);
    }
    out
}

fn period(what: &'static str, raw: Option<&str>, default: &str) -> Result<MetricsPeriod, ApiError> {
    MetricsPeriod::parse(what, raw.unwrap_or(default)).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
            e.to_string(),
        )
    })
}

#[utoipa::path(get, path = "/v1/apps/{app}/metrics", tag = "metrics",
    params(("app" = String, Path, description = "app name"), MetricsQuery),
    responses(
        (status = 200, description = "throughput by status class and service-time percentiles per step, and the dynos' memory and CPU now", body = AppMetrics),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 422, description = "since or step is not a period of 1 minute to 8 days", body = ErrorBody)))]
pub async fn app_metrics(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> Result<Json<AppMetrics>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    state.watched.touch(&app);
    let since = period("since", query.since.as_deref(), "1h")?;
    let step = match query.step.as_deref() {
        Some(raw) => period("step", Some(raw), "")?.secs(),
        None => since.default_step(),
    };
    let now = crate::activity::unix_now_ms() / 1000;
    let from = crate::model::bucket_start(now - since.secs(), FINE_STEP_SECS);
    let rows = state.metrics.rows_since(&state.store, &app, from).await?;
    let (step, points, total) = metrics_view(rows, step);
    let (_, usage) = usage_view(state.store.usage_rows(&app, from).await?, step);
    let dynos = dynos_of(&state, &app).await?;
    Ok(Json(AppMetrics {
        app: app.to_string(),
        since: rfc3339_ms(from * 1000),
        step_secs: step,
        points: points.iter().map(RouterPoint::from).collect(),
        total: RouterPoint::from(&total),
        processes: process_usage(&dynos),
        usage: usage
            .iter()
            .map(|(process, points)| DynoUsage {
                process_type: process.to_string(),
                points: points.iter().map(DynoUsagePoint::from).collect(),
            })
            .collect(),
    }))
}
