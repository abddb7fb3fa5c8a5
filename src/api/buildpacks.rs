//! `/v1/apps/{app}/buildpacks`: the buildpacks the app's next builds run, read and replaced
//! whole (as Heroku's CLI edits its list); the running release is not touched.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::model::{AppName, Buildpacks};
use crate::wire::{AppBuildpacks, ErrorBody, SetBuildpacks};

fn body(app: &AppName, packs: &Buildpacks) -> AppBuildpacks {
    AppBuildpacks {
        app: app.to_string(),
        buildpacks: packs.urls(),
    }
}

#[utoipa::path(get, path = "/v1/apps/{app}/buildpacks", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's buildpacks in the order they run", body = AppBuildpacks),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_buildpacks(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<AppBuildpacks>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let packs = state.store.buildpacks(&app).await?;
    Ok(Json(body(&app, &packs)))
}

#[utoipa::path(put, path = "/v1/apps/{app}/buildpacks", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    request_body = SetBuildpacks,
    responses(
        (status = 200, description = "the new list; the next build uses it", body = AppBuildpacks),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 422, description = "an invalid or repeated buildpack, or too many; nothing changed", body = ErrorBody)))]
pub async fn set_buildpacks(
    State(state): State<AppState>,
    Path(app): Path<String>,
    sent: Result<Json<SetBuildpacks>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<AppBuildpacks>, ApiError> {
    let Json(sent) = sent?;
    let app = state.store.get_app(&app).await?.name;
    let packs = Buildpacks::parse(&sent.buildpacks).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_buildpack",
            e.to_string(),
        )
    })?;
    state.store.set_buildpacks(&app, packs.clone()).await?;
    Ok(Json(body(&app, &packs)))
}
