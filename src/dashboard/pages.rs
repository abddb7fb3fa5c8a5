//! The dashboard's pages: every app, and each app's overview, metrics, logs and settings,
//! read from the API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

use super::api_call::{encode, ApiFailure};
use super::charts::{self, Chart, Series, Unit};
use super::gate::Session;
use super::render::{page, Chrome};
use super::views::{app_state, bytes, dense, per_minute, short_time, unix_secs};
use super::Dashboard;
use crate::wire::{App, AppInfo, AppMetrics, ConfigMap, RouterPoint};

/// The notice or error an action left for the page it returns to.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Flash {
    notice: Option<String>,
    error: Option<String>,
}

pub(super) fn chrome(
    title: String,
    app: Option<&str>,
    tab: &'static str,
    session: &Session,
    flash: Flash,
) -> Chrome {
    Chrome {
        title,
        app: app.map(str::to_owned),
        tab,
        csrf: session.csrf.clone(),
        notice: flash.notice,
        error: flash.error,
    }
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage {
    chrome: Chrome,
}

/// The API's refusal as a page, with its status.
pub(super) fn failed(chrome: Chrome, failure: ApiFailure) -> Response {
    let status = failure.status;
    let mut chrome = chrome;
    chrome.error = Some(failure.message);
    chrome.notice = None;
    page(status, &ErrorPage { chrome })
}

/// One row of the apps page.
pub(crate) struct AppRow {
    name: String,
    state: &'static str,
    release: String,
    dynos: String,
    last_deploy: String,
    requests_per_minute: String,
}

impl AppRow {
    fn state_class(&self) -> String {
        state_class(self.state)
    }
}

/// The CSS class of a state word.
fn state_class(state: &str) -> String {
    state.replace(' ', "-")
}

#[derive(Template)]
#[template(path = "dashboard/apps.html")]
struct AppsPage {
    chrome: Chrome,
    apps: Vec<AppRow>,
}

/// The period the apps page counts requests over.
const RATE_PERIOD: &str = "10m";
const RATE_SECS: i64 = 600;

async fn app_row(dashboard: &Dashboard, app: App) -> Result<AppRow, ApiFailure> {
    let name = encode(&app.name);
    let info: AppInfo = dashboard.api.get(&format!("/v1/apps/{name}/info")).await?;
    let metrics: AppMetrics = dashboard
        .api
        .get(&format!("/v1/apps/{name}/metrics?since={RATE_PERIOD}"))
        .await?;
    let up = info.dynos.iter().filter(|d| d.state == "up").count();
    Ok(AppRow {
        state: app_state(&info),
        release: info
            .release
            .as_ref()
            .map_or("—".to_owned(), |r| format!("v{}", r.version)),
        dynos: format!("{up} up of {}", info.dynos.len()),
        last_deploy: info
            .release
            .as_ref()
            .map_or("never".to_owned(), |r| r.created_at.clone()),
        requests_per_minute: per_minute(metrics.total.requests, RATE_SECS),
        name: app.name,
    })
}

/// `GET /`: every app with its state.
pub(crate) async fn apps(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    Query(flash): Query<Flash>,
) -> Response {
    let chrome = chrome("Apps".into(), None, "apps", &session, flash);
    let listed: Vec<App> = match dashboard.api.get("/v1/apps").await {
        Ok(apps) => apps,
        Err(e) => return failed(chrome, e),
    };
    let mut rows = Vec::with_capacity(listed.len());
    for app in listed {
        match app_row(&dashboard, app).await {
            Ok(row) => rows.push(row),
            Err(e) => return failed(chrome, e),
        }
    }
    page(StatusCode::OK, &AppsPage { chrome, apps: rows })
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    info: AppInfo,
    state: &'static str,
}

impl OverviewPage {
    fn state_class(&self) -> String {
        state_class(self.state)
    }

    fn size(&self, n: &u64) -> String {
        bytes(*n)
    }

    fn memory(&self, used: &Option<u64>, limit: &Option<u64>) -> String {
        match (used, limit) {
            (Some(used), Some(limit)) => format!("{} of {}", bytes(*used), bytes(*limit)),
            (Some(used), None) => bytes(*used),
            _ => "—".to_owned(),
        }
    }

    fn cpu(&self, percent: &Option<f64>) -> String {
        percent.map_or("—".to_owned(), |p| format!("{p:.1} %"))
    }
}

pub(super) async fn info(dashboard: &Dashboard, app: &str) -> Result<AppInfo, ApiFailure> {
    dashboard
        .api
        .get(&format!("/v1/apps/{}/info", encode(app)))
        .await
}

/// `GET /apps/{app}`: the app at a glance, with its formation and dynos.
pub(crate) async fn overview(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    Path(app): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let chrome = chrome(app.clone(), Some(&app), "overview", &session, flash);
    match info(&dashboard, &app).await {
        Ok(info) => page(
            StatusCode::OK,
            &OverviewPage {
                chrome,
                state: app_state(&info),
                info,
            },
        ),
        Err(e) => failed(chrome, e),
    }
}

#[derive(Deserialize)]
pub(crate) struct PeriodQuery {
    period: Option<String>,
}

/// The periods the metrics page offers.
const PERIODS: [&str; 3] = ["1h", "24h", "7d"];

#[derive(Template)]
#[template(path = "dashboard/metrics.html")]
struct MetricsPage {
    chrome: Chrome,
    period: String,
    periods: [&'static str; 3],
    charts: Vec<String>,
    total_requests: u64,
}

fn metrics_charts(metrics: &AppMetrics, now: i64) -> Vec<Chart> {
    let since = unix_secs(&metrics.since).unwrap_or(now);
    let period = (since, now, metrics.step_secs);
    let router = |pick: fn(&RouterPoint) -> Option<f64>, fill| {
        let points = metrics
            .points
            .iter()
            .filter_map(|p| Some((unix_secs(&p.time)?, pick(p))));
        dense(period, points, fill)
    };
    let line = |label: &str, class: &'static str, values| Series {
        label: label.to_owned(),
        class,
        values,
    };
    let chart = |title: &str, unit, series| Chart {
        title: title.to_owned(),
        unit,
        series,
        from: short_time(since),
        to: format!("{} UTC", short_time(now)),
    };
    let latency = vec![
        line("p50", "p50", router(|p| p.p50_ms.map(|v| v as f64), None)),
        line("p95", "p95", router(|p| p.p95_ms.map(|v| v as f64), None)),
        line("p99", "p99", router(|p| p.p99_ms.map(|v| v as f64), None)),
    ];
    let zero = Some(0.0);
    let throughput = vec![
        line("2xx", "s2xx", router(|p| Some(p.status_2xx as f64), zero)),
        line("3xx", "s3xx", router(|p| Some(p.status_3xx as f64), zero)),
        line("4xx", "s4xx", router(|p| Some(p.status_4xx as f64), zero)),
        line("5xx", "s5xx", router(|p| Some(p.status_5xx as f64), zero)),
    ];
    const MEMORY_CLASSES: [&str; 4] = ["m1", "m2", "m3", "m4"];
    let memory = metrics
        .usage
        .iter()
        .zip(MEMORY_CLASSES.iter().cycle())
        .map(|(usage, class)| {
            let points = usage
                .points
                .iter()
                .filter_map(|p| Some((unix_secs(&p.time)?, p.memory_bytes.map(|m| m as f64))));
            line(&usage.process_type, class, dense(period, points, None))
        })
        .collect();
    vec![
        chart("Response time", Unit::Milliseconds, latency),
        chart("Requests by status class", Unit::Requests, throughput),
        chart("Memory per dyno (mean)", Unit::Bytes, memory),
    ]
}

/// `GET /apps/{app}/metrics?period=`: response times, throughput and memory as charts.
pub(crate) async fn metrics(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    Path(app): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Response {
    let chrome = chrome(
        format!("{app}: metrics"),
        Some(&app),
        "metrics",
        &session,
        Flash::default(),
    );
    let period = query.period.unwrap_or_else(|| PERIODS[0].to_owned());
    let path = format!(
        "/v1/apps/{}/metrics?since={}",
        encode(&app),
        encode(&period)
    );
    let metrics: AppMetrics = match dashboard.api.get(&path).await {
        Ok(metrics) => metrics,
        Err(e) => return failed(chrome, e),
    };
    page(
        StatusCode::OK,
        &MetricsPage {
            chrome,
            period,
            periods: PERIODS,
            total_requests: metrics.total.requests,
            charts: metrics_charts(&metrics, super::gate::unix_now())
                .iter()
                .map(charts::render)
                .collect(),
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct LogsQuery {
    dyno: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/logs.html")]
struct LogsPage {
    chrome: Chrome,
    dyno: String,
    dynos: Vec<String>,
}

/// `GET /apps/{app}/logs?dyno=`: the live log view (its lines come from `logs/events`).
pub(crate) async fn logs(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    Path(app): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Response {
    let chrome = chrome(
        format!("{app}: logs"),
        Some(&app),
        "logs",
        &session,
        Flash::default(),
    );
    match info(&dashboard, &app).await {
        Ok(info) => page(
            StatusCode::OK,
            &LogsPage {
                chrome,
                dyno: query.dyno.unwrap_or_default(),
                dynos: info.dynos.into_iter().map(|d| d.name).collect(),
            },
        ),
        Err(e) => failed(chrome, e),
    }
}

#[derive(Deserialize)]
pub(crate) struct RevealQuery {
    reveal: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    info: AppInfo,
    config: ConfigMap,
    revealed: bool,
}

/// `GET /apps/{app}/settings?reveal=1`: config vars (values hidden until revealed), domains,
/// maintenance, health check, autosleep and alerts.
pub(crate) async fn settings(
    State(dashboard): State<Dashboard>,
    Extension(session): Extension<Session>,
    Path(app): Path<String>,
    Query(flash): Query<Flash>,
    Query(reveal): Query<RevealQuery>,
) -> Response {
    let chrome = chrome(
        format!("{app}: settings"),
        Some(&app),
        "settings",
        &session,
        flash,
    );
    let read = async {
        let info = info(&dashboard, &app).await?;
        let config: ConfigMap = dashboard
            .api
            .get(&format!("/v1/apps/{}/config", encode(&app)))
            .await?;
        Ok::<_, ApiFailure>((info, config))
    };
    match read.await {
        Ok((info, config)) => page(
            StatusCode::OK,
            &SettingsPage {
                chrome,
                info,
                config,
                revealed: reveal.reveal.is_some(),
            },
        ),
        Err(e) => failed(chrome, e),
    }
}
