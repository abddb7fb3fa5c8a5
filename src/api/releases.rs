//! `/v1/apps/{app}/config`, `/releases` and `/rollback`: config vars, release history with each
//! release's build output, the app's events that make no release, and rollback.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use futures_util::StreamExt;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{
    describe_changes, parse_release_version, ConfigChange, ReleaseRecord, ReleaseVersion,
    RollbackError,
};
use crate::wire::{
    AppEvent, ConfigChanged, ConfigMap, ErrorBody, Release, ReleaseInfo, RollbackRequest,
};

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

#[utoipa::path(get, path = "/v1/apps/{app}/releases/{version}/output", tag = "releases",
    params(("app" = String, Path, description = "app name"), ("version" = String, Path, description = "3 or v3")),
    responses(
        (status = 200, description = "the output of the build that made the release, with its release phase's and postdeploy's, one line each", content_type = "text/plain", body = String),
        (status = 404, description = "no such app or release, or the release made no build (a config change or rollback)", body = ErrorBody)))]
pub async fn release_output(
    State(state): State<AppState>,
    Path((app, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let number =
        parse_release_version(&version).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let app = state.store.get_app(&app).await?.name;
    let record = state
        .store
        .release(&app, number.into())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app {app} has no release v{number}")))?;
    let Some(build_id) = record.build_id else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_build_output",
            no_build_message(&record),
        ));
    };
    let lines = state
        .logs
        .build_output(&build_id, None, false)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map(|line| Ok::<_, std::io::Error>(format!("{line}\n")));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(lines))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Why a release has no build output of its own, and where its slug's is.
fn no_build_message(record: &ReleaseRecord) -> String {
    let version = record.version;
    if record.slug_version == version {
        format!(
            "v{version} has no recorded build (it was made before skiff kept builds with releases)"
        )
    } else {
        let slug = record.slug_version;
        format!("v{version} made no build: it runs v{slug}'s slug ({}); see that build with 'skiff releases:output v{slug}'", record.description)
    }
}

#[utoipa::path(get, path = "/v1/apps/{app}/events", tag = "releases",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "what happened to the app without making a release (scaling, resizing, maintenance, restarts), newest first; the last 200 are kept", body = [AppEvent]),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<AppEvent>>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let events = state.store.events(&app).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| AppEvent {
                kind: e.note.kind.as_str().to_owned(),
                description: e.note.description,
                by: e.note.actor,
                created_at: e.created_at,
            })
            .collect(),
    ))
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
