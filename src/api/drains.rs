//! `/v1/apps/{app}/drains`: where the app's lines are forwarded, and how that goes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::DrainUrl;
use crate::store::DrainRecord;
use crate::wire::{AddDrain, Drain, ErrorBody};

impl From<DrainRecord> for Drain {
    fn from(d: DrainRecord) -> Self {
        Self {
            id: d.id,
            url: d.url.to_string(),
            delivered: d.delivered,
            last_delivered_at: d.last_delivered_at,
            last_error: d.last_error,
            last_error_at: d.last_error_at,
        }
    }
}

/// Brings the running drains in line with the rows; a failure only delays that to the next change.
async fn sync(state: &AppState) {
    if let Err(e) = state.drains.sync().await {
        tracing::warn!(error = %e, "cannot start or stop log drains");
    }
}

#[utoipa::path(get, path = "/v1/apps/{app}/drains", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's drains, in the order they were added", body = [Drain]),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_drains(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<Drain>>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let drains = state.store.drains_of(&app).await?;
    Ok(Json(drains.into_iter().map(Drain::from).collect()))
}

#[utoipa::path(post, path = "/v1/apps/{app}/drains", tag = "apps", request_body = AddDrain,
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 201, description = "the drain; it forwards the app's lines from now on", body = Drain),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "the app drains there already, or has as many drains as it may", body = ErrorBody),
        (status = 422, description = "not a drain URL", body = ErrorBody)))]
pub async fn add_drain(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<AddDrain>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Drain>), ApiError> {
    let Json(body) = body?;
    let app = state.store.get_app(&app).await?.name;
    let url = DrainUrl::parse(&body.url).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_drain",
            e.to_string(),
        )
    })?;
    let drain = state.store.add_drain(&app, url).await?;
    tracing::info!(app = %app, drain = %drain.url, caller = %caller.describe(), "log drain added");
    sync(&state).await;
    Ok((StatusCode::CREATED, Json(drain.into())))
}

#[utoipa::path(delete, path = "/v1/apps/{app}/drains/{id}", tag = "apps",
    params(("app" = String, Path, description = "app name"), ("id" = i64, Path, description = "the drain's id")),
    responses(
        (status = 204, description = "the drain is removed and forwards nothing more"),
        (status = 404, description = "no such app or drain", body = ErrorBody)))]
pub async fn remove_drain(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((app, id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let drain = state
        .store
        .drains_of(&app)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ApiError::not_found(format!("app {app} has no drain {id}")))?;
    state.store.remove_drain(&app, drain.url.as_str()).await?;
    tracing::info!(app = %app, drain = %drain.url, caller = %caller.describe(), "log drain removed");
    sync(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// After a rename or a destroy: the drains of the app read under its new name, or stop.
pub(super) async fn apps_changed(state: &AppState) {
    sync(state).await;
}
