//! `/v1/apps/{app}/dynos` and `/formation`: `ps`, `ps:scale`, `ps:resize`, `ps:restart`, `ps:stop`.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::config::{ByteSize, CpuPercent};
use crate::model::{
    AppName, DynoFilter, DynoName, DynoSize, DynoUnit, Hold, HoldReason, ProcessType, ScaleChange,
    ScaleError, SleepState,
};
use crate::reconciler::DynoDefaults;
use crate::store::FormationEntry;
use crate::systemd::names::UNIT_PATTERN;
use crate::systemd::ServiceDetails;
use crate::wire::{
    Dyno, ErrorBody, FormationItem, ResizeRequest, RestartRequest, Restarted, ScaleRequest,
};

impl Dyno {
    /// A row for a dyno that has no unit right now (held, or about to start).
    fn without_unit(
        name: String,
        process_type: &ProcessType,
        state: &str,
        since: Option<String>,
        command: String,
    ) -> Self {
        Self {
            name,
            process_type: process_type.to_string(),
            state: state.into(),
            since,
            release: None,
            pid: None,
            port: None,
            restarts: 0,
            command,
            unit: None,
            memory_bytes: None,
            memory_limit: None,
            cpu_percent: None,
            tasks: None,
        }
    }
}

/// Pure: a dyno's CPU use in percent of one core, from its cgroup's CPU time now and at the
/// previous look (both with the wall clock in µs since the epoch); without a usable previous
/// look (none, older than the unit's start, or a counter that went back), since the unit started.
pub fn cpu_percent(
    previous: Option<(u64, u64)>,
    now_usec: u64,
    cpu_nsec: u64,
    active_enter_usec: u64,
) -> Option<f64> {
    let (from_usec, from_nsec) = match previous {
        Some((at, nsec)) if at >= active_enter_usec && at < now_usec && nsec <= cpu_nsec => {
            (at, nsec)
        }
        _ => (active_enter_usec, 0),
    };
    let wall_nsec = now_usec.checked_sub(from_usec).filter(|d| *d > 0)? as f64 * 1000.0;
    Some((cpu_nsec - from_nsec) as f64 / wall_nsec * 100.0)
}

/// A systemd timestamp (µs since the epoch) as RFC 3339; `None` for 0 or infinity (never).
pub(super) fn rfc3339_usec(usec: u64) -> Option<String> {
    (usec > 0 && usec != u64::MAX).then(|| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_micros(usec)).to_string()
    })
}

/// The `ps` row of a dyno that has a unit.
fn live_row(
    unit: &DynoUnit,
    d: &ServiceDetails,
    ports: &BTreeMap<String, u16>,
    command: String,
) -> Dyno {
    let state = match (d.active_state.as_str(), d.sub_state.as_str()) {
        ("active", _) | ("reloading", _) => "up",
        ("activating", "auto-restart") => "restarting",
        ("activating", _) => "starting",
        ("deactivating", _) => "stopping",
        ("failed", _) => "crashed",
        _ => "stopped",
    };
    let name = unit.unit_name();
    Dyno {
        name: unit.dyno.to_string(),
        process_type: unit.dyno.process_type.to_string(),
        state: state.into(),
        since: rfc3339_usec(d.active_enter_usec),
        release: Some(unit.release),
        pid: (d.main_pid > 0).then_some(d.main_pid),
        port: ports.get(&name).copied(),
        restarts: d.n_restarts,
        command,
        unit: Some(name),
        memory_bytes: d.usage.memory_bytes,
        memory_limit: None,
        cpu_percent: None,
        tasks: d.usage.tasks,
    }
}

/// Pure: merges the formation, holds and live units of one app into `ps` rows; a wanted dyno
/// without a unit is `sleeping` (since the time given) while its app sleeps, else `starting`.
pub fn dyno_views(
    formation: &[FormationEntry],
    holds: &[Hold],
    live: &[(DynoUnit, ServiceDetails)],
    ports: &BTreeMap<String, u16>,
    sleeping_since: Option<&str>,
) -> Vec<Dyno> {
    let command_of = |t: &ProcessType| {
        formation
            .iter()
            .find(|f| &f.process_type == t)
            .map(|f| f.command.clone())
            .unwrap_or_default()
    };
    let mut rows: Vec<Dyno> = live
        .iter()
        .map(|(unit, d)| live_row(unit, d, ports, command_of(&unit.dyno.process_type)))
        .collect();
    for hold in holds {
        let state = match hold.reason {
            HoldReason::Crashed => "crashed",
            HoldReason::Stopped => "stopped",
        };
        rows.push(Dyno::without_unit(
            hold.dyno.to_string(),
            &hold.dyno.process_type,
            state,
            Some(hold.since.clone()),
            command_of(&hold.dyno.process_type),
        ));
    }
    for entry in formation {
        for index in 1..=entry.quantity {
            let name = format!("{}.{index}", entry.process_type);
            if !rows.iter().any(|r| r.name == name) {
                rows.push(Dyno::without_unit(
                    name,
                    &entry.process_type,
                    if sleeping_since.is_some() {
                        "sleeping"
                    } else {
                        "starting"
                    },
                    sleeping_since.map(str::to_owned),
                    entry.command.clone(),
                ));
            }
        }
    }
    let key = |d: &Dyno| {
        let index: u32 = d
            .name
            .rsplit('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (d.process_type.clone(), index, std::cmp::Reverse(d.release))
    };
    rows.sort_by_key(key);
    rows
}

pub(super) fn formation_items(
    entries: Vec<FormationEntry>,
    defaults: &DynoDefaults,
) -> Vec<FormationItem> {
    entries
        .into_iter()
        .map(|e| FormationItem {
            process_type: e.process_type.to_string(),
            quantity: e.quantity,
            command: e.command,
            memory_bytes: e.size.memory_bytes.unwrap_or(defaults.limits.memory_bytes),
            cpu_percent: e.size.cpu_percent.unwrap_or(defaults.limits.cpu_percent),
            tasks: e.size.tasks.unwrap_or(defaults.limits.tasks),
        })
        .collect()
}

async fn app_name(state: &AppState, app: &str) -> Result<AppName, ApiError> {
    Ok(state.store.get_app(app).await?.name)
}

#[utoipa::path(get, path = "/v1/apps/{app}/dynos", tag = "dynos",
    params(("app" = String, Path, description = "app name")),
    responses((status = 200, description = "the app's dynos", body = [Dyno]), (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_dynos(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<Dyno>>, ApiError> {
    let app = app_name(&state, &app).await?;
    Ok(Json(dynos_of(&state, &app).await?))
}

/// The app's dynos as `ps` lists them.
pub(super) async fn dynos_of(state: &AppState, app: &AppName) -> Result<Vec<Dyno>, ApiError> {
    let formation = state.store.formation(app).await?;
    let holds = state.store.holds(app).await?;
    let ports = state.store.ports().await?;
    let units = state
        .systemd
        .list_units(UNIT_PATTERN)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut live = Vec::new();
    for u in units {
        let Some(unit) = DynoUnit::parse(&u.name).filter(|d| &d.app == app) else {
            continue;
        };
        if let Some(details) = state
            .systemd
            .service_details(&u.name)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
        {
            live.push((unit, details));
        }
    }
    let sleep = state.store.app_sleep(app).await?;
    let sleeping_since = (sleep.state == SleepState::Sleeping)
        .then(|| sleep.since_ms.map(super::sleep::rfc3339_ms))
        .flatten();
    let mut rows = dyno_views(&formation, &holds, &live, &ports, sleeping_since.as_deref());
    add_usage(state, &formation, &live, &mut rows);
    Ok(rows)
}

/// Fills in each running dyno's memory limit and CPU share, remembering this look's CPU time
/// for the next one.
fn add_usage(
    state: &AppState,
    formation: &[FormationEntry],
    live: &[(DynoUnit, ServiceDetails)],
    rows: &mut [Dyno],
) {
    let now_usec = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let mut looks = state.cpu_looks.lock().expect("cpu looks lock");
    for row in rows.iter_mut() {
        let Some((_, details)) = live
            .iter()
            .find(|(unit, _)| Some(unit.unit_name()) == row.unit)
        else {
            continue;
        };
        row.memory_limit = formation
            .iter()
            .find(|f| f.process_type.as_str() == row.process_type)
            .map(|f| {
                f.size
                    .memory_bytes
                    .unwrap_or(state.dyno_defaults.limits.memory_bytes)
            });
        if let (Some(nsec), Some(unit)) = (details.usage.cpu_nsec, &row.unit) {
            let previous = looks.get(unit).copied();
            row.cpu_percent = cpu_percent(previous, now_usec, nsec, details.active_enter_usec);
            looks.insert(unit.clone(), (now_usec, nsec));
        }
    }
    // This app's units that are gone need no memory of their last look.
    if let Some((unit, _)) = live.first() {
        let prefix = format!("{}{}.", crate::model::UNIT_PREFIX, unit.app);
        looks.retain(|name, _| {
            !name.starts_with(&prefix) || live.iter().any(|(u, _)| u.unit_name() == *name)
        });
    }
}

#[utoipa::path(get, path = "/v1/apps/{app}/formation", tag = "dynos",
    params(("app" = String, Path, description = "app name")),
    responses((status = 200, description = "the formation", body = [FormationItem]), (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_formation(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<FormationItem>>, ApiError> {
    let app = app_name(&state, &app).await?;
    let entries = state.store.formation(&app).await?;
    Ok(Json(formation_items(entries, &state.dyno_defaults)))
}

#[utoipa::path(patch, path = "/v1/apps/{app}/formation", tag = "dynos", request_body = ScaleRequest,
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the new formation", body = [FormationItem]),
        (status = 409, description = "the app has no release yet", body = ErrorBody),
        (status = 422, description = "invalid scale request", body = ErrorBody)))]
pub async fn scale(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<ScaleRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<FormationItem>>, ApiError> {
    let Json(body) = body?;
    let app = app_name(&state, &app).await?;
    if body.changes.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_scale",
            ScaleError::Nothing.to_string(),
        ));
    }
    let changes = body
        .changes
        .iter()
        .map(|c| ScaleChange::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_scale",
                e.to_string(),
            )
        })?;
    state.store.scale(&app, changes).await?;
    tracing::info!(app = %app, changes = ?body.changes, caller = %caller.describe(), "scaled");
    state.reconciler.poke();
    let entries = state.store.formation(&app).await?;
    Ok(Json(formation_items(entries, &state.dyno_defaults)))
}

#[utoipa::path(patch, path = "/v1/apps/{app}/formation/{process_type}", tag = "dynos", request_body = ResizeRequest,
    params(("app" = String, Path, description = "app name"), ("process_type" = String, Path, description = "process type")),
    responses(
        (status = 200, description = "the new formation; running dynos of that type get the new limits at once", body = [FormationItem]),
        (status = 422, description = "invalid size", body = ErrorBody)))]
pub async fn resize(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((app, process_type)): Path<(String, String)>,
    body: Result<Json<ResizeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<FormationItem>>, ApiError> {
    let Json(body) = body?;
    let app = app_name(&state, &app).await?;
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_size", m);
    let process_type = ProcessType::parse(&process_type).map_err(|e| invalid(e.to_string()))?;
    let size = DynoSize {
        memory_bytes: body
            .memory
            .as_deref()
            .map(str::parse::<ByteSize>)
            .transpose()
            .map_err(invalid)?
            .map(|b| b.0),
        cpu_percent: body
            .cpu
            .as_deref()
            .map(str::parse::<CpuPercent>)
            .transpose()
            .map_err(invalid)?
            .map(|c| c.0),
        tasks: match body.tasks {
            Some(0) => return Err(invalid("tasks must be at least 1".into())),
            t => t,
        },
    };
    if size == DynoSize::default() {
        return Err(invalid("give at least one of memory, cpu or tasks".into()));
    }
    state.store.resize(&app, &process_type, size).await?;
    tracing::info!(app = %app, process_type = %process_type, caller = %caller.describe(), "resized");
    // The next round gives running dynos of that type the new limits (and the app's slice its
    // new totals); answer once it has.
    state.reconciler.wait_for_round().await;
    let entries = state.store.formation(&app).await?;
    Ok(Json(formation_items(entries, &state.dyno_defaults)))
}

fn parse_target(target: Option<&str>) -> Result<DynoFilter, ApiError> {
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_target", m);
    match target {
        None | Some("") => Ok(DynoFilter::All),
        Some(t) if t.contains('.') => DynoName::parse(t)
            .map(DynoFilter::One)
            .map_err(|e| invalid(e.to_string())),
        Some(t) => ProcessType::parse(t)
            .map(DynoFilter::Type)
            .map_err(|e| invalid(e.to_string())),
    }
}

#[utoipa::path(post, path = "/v1/apps/{app}/dynos/restart", tag = "dynos", request_body = RestartRequest,
    params(("app" = String, Path, description = "app name")),
    responses((status = 200, description = "dynos restarted; stopped and crashed ones start again", body = Restarted)))]
pub async fn restart(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<RestartRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Restarted>, ApiError> {
    let Json(body) = body?;
    let app = app_name(&state, &app).await?;
    let filter = parse_target(body.target.as_deref())?;
    // Recorded as intent (holds cleared, web dynos' new generations, a request to restart the
    // others in place); the reconciler carries it out and the answer waits for it.
    let request = state.store.request_restart(&app, filter).await?;
    state.reconciler.poke();
    let restarted = state
        .reconciler
        .wait_for_restart(&app, request)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    tracing::info!(app = %app, target = ?body.target, restarted, caller = %caller.describe(), "restarted");
    Ok(Json(Restarted { restarted }))
}

#[utoipa::path(post, path = "/v1/apps/{app}/dynos/{dyno}/stop", tag = "dynos",
    params(("app" = String, Path, description = "app name"), ("dyno" = String, Path, description = "dyno, like web.1")),
    responses(
        (status = 204, description = "the dyno stops and stays stopped until the next deploy, restart or scale"),
        (status = 404, description = "no such dyno", body = ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((app, dyno)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let app = app_name(&state, &app).await?;
    let dyno = DynoName::parse(&dyno).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_target",
            e.to_string(),
        )
    })?;
    let formation = state.store.formation(&app).await?;
    let exists = formation
        .iter()
        .any(|f| f.process_type == dyno.process_type && dyno.index <= f.quantity);
    if !exists {
        return Err(ApiError::not_found(format!("app {app} has no dyno {dyno}")));
    }
    state
        .store
        .hold_dyno(&app, &dyno, HoldReason::Stopped)
        .await?;
    tracing::info!(app = %app, dyno = %dyno, caller = %caller.describe(), "dyno stopped");
    state.reconciler.poke();
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: &str, n: u32) -> FormationEntry {
        FormationEntry {
            process_type: ProcessType::parse(t).unwrap(),
            quantity: n,
            command: format!("run {t}"),
            size: DynoSize::default(),
        }
    }

    fn live(name: &str, active: &str, sub: &str) -> (DynoUnit, ServiceDetails) {
        (
            DynoUnit::parse(name).unwrap(),
            ServiceDetails {
                active_state: active.into(),
                sub_state: sub.into(),
                main_pid: if active == "active" { 42 } else { 0 },
                n_restarts: 1,
                active_enter_usec: 1_763_719_200_000_000,
                usage: crate::systemd::Usage::from_counters(5_000_000_000, 24 << 20, 3),
            },
        )
    }

    #[test]
    fn cpu_is_the_share_of_one_core_since_the_last_look_or_the_start() {
        let start = 1_000_000_000;
        for (previous, now, nsec, want) in [
            // 1 s of CPU over 10 s since the start: 10 %.
            (None, start + 10_000_000, 1_000_000_000, Some(10.0)),
            // Since the previous look 1 s ago, 0.5 s of CPU: 50 %.
            (
                Some((start + 9_000_000, 500_000_000)),
                start + 10_000_000,
                1_000_000_000,
                Some(50.0),
            ),
            // Two cores busy: 200 %.
            (
                Some((start + 9_000_000, 0)),
                start + 10_000_000,
                2_000_000_000,
                Some(200.0),
            ),
            // A look from before this unit started, or a counter that went back: since the start.
            (
                Some((start - 5, 0)),
                start + 10_000_000,
                1_000_000_000,
                Some(10.0),
            ),
            (
                Some((start + 9_000_000, 3_000_000_000)),
                start + 10_000_000,
                1_000_000_000,
                Some(10.0),
            ),
            // No time passed: nothing to say.
            (None, start, 0, None),
        ] {
            assert_eq!(
                cpu_percent(previous, now, nsec, start),
                want,
                "{previous:?} {now} {nsec}"
            );
        }
    }

    #[test]
    fn ps_rows_tell_the_truth() {
        let formation = [entry("web", 2), entry("worker", 1)];
        let holds = [Hold {
            dyno: DynoName::parse("worker.1").unwrap(),
            reason: HoldReason::Crashed,
            since: "2026-11-21T10:00:00Z".into(),
        }];
        let units = [
            live("skiff-hello.web.1.v2.service", "active", "running"),
            live(
                "skiff-hello.web.1.v1.service",
                "deactivating",
                "stop-sigterm",
            ),
        ];
        let ports = [("skiff-hello.web.1.v2.service".to_owned(), 20001)].into();
        let rows = dyno_views(&formation, &holds, &units, &ports, None);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.state.as_str(), r.release, r.pid, r.port))
            .collect();
        assert_eq!(
            summary,
            [
                ("web.1", "up", Some(2), Some(42), Some(20001)),
                ("web.1", "stopping", Some(1), None, None),
                ("web.2", "starting", None, None, None),
                ("worker.1", "crashed", None, None, None),
            ]
        );
        assert_eq!(rows[0].since.as_deref(), Some("2025-11-21T10:00:00Z"));
        assert_eq!(rows[0].command, "run web");

        // Asleep: the draining unit still shows; the dynos without one sleep since the time.
        let since = "2026-12-03T06:00:00Z";
        let rows = dyno_views(&formation, &holds, &units[1..], &ports, Some(since));
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.state.as_str(), r.since.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("web.1", "stopping", Some("2025-11-21T10:00:00Z")),
                ("web.2", "sleeping", Some(since)),
                ("worker.1", "crashed", Some("2026-11-21T10:00:00Z")),
            ]
        );
    }

    #[test]
    fn restart_targets() {
        assert_eq!(parse_target(None).unwrap(), DynoFilter::All);
        assert!(matches!(
            parse_target(Some("web")).unwrap(),
            DynoFilter::Type(_)
        ));
        assert!(matches!(
            parse_target(Some("web.2")).unwrap(),
            DynoFilter::One(_)
        ));
        assert!(parse_target(Some("web.0")).is_err());
        assert!(parse_target(Some("a b")).is_err());
    }
}
