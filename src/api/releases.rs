//! `/v1/apps/{app}/config`, `/releases` and `/rollback`: config vars, release history and rollback.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{
    describe_changes, parse_release_version, ConfigChange, ReleaseVersion, RollbackError,
};
use crate::wire::{ConfigChanged, ConfigMap, ErrorBody, Release, ReleaseInfo, RollbackRequest};

fn invalid_config(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", message)
}

#[utoipa::path(get, path = "/v1/apps/{app}/config", tag = "config",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's config vars", body = ConfigMap),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_config(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<ConfigMap>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    Ok(Json(state.store.config(&app).await?))
}

#[utoipa::path(patch, path = "/v1/apps/{app}/config", tag = "config",
    params(("app" = String, Path, description = "app name")),
    request_body(content = BTreeMap<String, Option<String>>, description = "values to set; null removes a var"),
    responses(
        (status = 200, description = "the new config and the release it made; dynos restart with it", body = ConfigChanged),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 422, description = "invalid name or value; nothing changed", body = ErrorBody)))]
pub async fn patch_config(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<BTreeMap<String, Option<String>>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ConfigChanged>, ApiError> {
    let Json(body) = body?;
    let app = state.store.get_app(&app).await?.name;
    if body.is_empty() {
        return Err(invalid_config(
            "nothing to change: give at least one KEY=VALUE",
        ));
    }
    let changes = body
        .iter()
        .map(|(k, v)| match v {
            Some(v) => ConfigChange::set(k, v),
            None => ConfigChange::unset(k),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid_config(e.to_string()))?;
    let description = describe_changes(&changes);
    let (config, release) = state
        .store
        .change_config(&app, changes, description.clone())
        .await?;
    // Names only: values are secrets.
    tracing::info!(app = %app, caller = %caller.describe(), change = %description, "config changed");
    state.reconciler.poke();
    Ok(Json(ConfigChanged {
        config,
        release: release.map(Release::from),
    }))
}

#[utoipa::path(get, path = "/v1/apps/{app}/releases", tag = "releases",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "releases, newest first", body = [Release]),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_releases(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<Release>>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let releases = state.store.releases(&app).await?;
    Ok(Json(releases.into_iter().map(Release::from).collect()))
}

#[utoipa::path(get, path = "/v1/apps/{app}/releases/{version}", tag = "releases",
    params(("app" = String, Path, description = "app name"), ("version" = String, Path, description = "3 or v3")),
    responses(
        (status = 200, description = "one release", body = ReleaseInfo),
        (status = 404, description = "no such app or release", body = ErrorBody)))]
pub async fn get_release(
    State(state): State<AppState>,
    Path((app, version)): Path<(String, String)>,
) -> Result<Json<ReleaseInfo>, ApiError> {
    let number =
        parse_release_version(&version).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let app = state.store.get_app(&app).await?.name;
    let record = state
        .store
        .release(&app, number.into())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app {app} has no release v{number}")))?;
    let live = state.store.current_release(&app).await?;
    Ok(Json(ReleaseInfo {
        processes: record
            .procfile
            .iter()
            .map(|(t, c)| (t.to_string(), c.to_owned()))
            .collect(),
        slug_on_disk: state.layout.slug_dir(&app, record.slug_version).is_dir(),
        current: live.is_some_and(|l| l.version == record.version),
        release: Release::from(record),
    }))
}

#[utoipa::path(post, path = "/v1/apps/{app}/rollback", tag = "releases",
    params(("app" = String, Path, description = "app name")),
    request_body = RollbackRequest,
    responses(
        (status = 201, description = "a new release with the old slug and config is live", body = Release),
        (status = 404, description = "no such app or release", body = ErrorBody),
        (status = 409, description = "not deployed, already live, or the slug is gone", body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<RollbackRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let Json(body) = body?;
    let app = state.store.get_app(&app).await?.name;
    let layout = state.layout.clone();
    let slug_app = app.clone();
    let release = state
        .store
        .rollback(&app, body.version.map(ReleaseVersion::from), move |v| {
            layout.slug_dir(&slug_app, v).is_dir()
        })
        .await?
        .map_err(|e| {
            let message = e.to_string();
            match e {
                RollbackError::NoSuchRelease { .. } => ApiError::not_found(message),
                _ => ApiError::new(StatusCode::CONFLICT, "cannot_roll_back", message),
            }
        })?;
    tracing::info!(app = %app, caller = %caller.describe(), release = release.version, "rolled back");
    state.reconciler.poke();
    Ok((StatusCode::CREATED, Json(Release::from(release))))
}
