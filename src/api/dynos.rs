//! `/v1/apps/{app}/dynos` and `/formation`: `ps`, `ps:scale`, `ps:resize`, `ps:restart`, `ps:stop`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::config::{ByteSize, CpuPercent};
use crate::model::{
    AppName, DynoFilter, DynoName, DynoSize, HoldReason, ProcessType, ScaleChange, ScaleError,
};
use crate::monitor::DynosError;
use crate::reconciler::DynoDefaults;
use crate::store::FormationEntry;
use crate::wire::{
    Dyno, ErrorBody, FormationItem, ResizeRequest, RestartRequest, Restarted, ScaleRequest,
};

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
    state.dynos.dynos_of(app).await.map_err(|e| match e {
        DynosError::Store(e) => ApiError::from(e),
        DynosError::Systemd(e) => ApiError::internal(e),
    })
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
    state.store.scale(&app, changes, &caller.describe()).await?;
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
    state
        .store
        .resize(&app, &process_type, size, &caller.describe())
        .await?;
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
    let request = state
        .store
        .request_restart(&app, filter, &caller.describe())
        .await?;
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
