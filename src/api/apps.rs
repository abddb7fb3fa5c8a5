//! `/v1/apps`: create, list, show and destroy apps.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::{AppState, Caller};
use crate::model::AppName;
use crate::store::AppRecord;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct App {
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Where the proxy serves the app.
    pub web_url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// 3–30 lowercase letters, digits and dashes, starting with a letter.
    pub name: String,
}

impl App {
    fn from_record(record: AppRecord, state: &AppState) -> Self {
        Self {
            web_url: format!("http://{}.{}/", record.name, state.base_domain.as_str()),
            name: record.name.to_string(),
            created_at: record.created_at,
        }
    }
}

#[utoipa::path(get, path = "/v1/apps", tag = "apps",
    responses((status = 200, description = "all apps, by name", body = [App])))]
pub async fn list_apps(State(state): State<AppState>) -> Result<Json<Vec<App>>, ApiError> {
    let apps = state.store.list_apps().await?;
    Ok(Json(
        apps.into_iter()
            .map(|a| App::from_record(a, &state))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/apps", tag = "apps", request_body = CreateApp,
    responses(
        (status = 201, description = "app created", body = App),
        (status = 409, description = "an app of that name exists", body = ErrorBody),
        (status = 422, description = "invalid or reserved name", body = ErrorBody)))]
pub async fn create_app(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<CreateApp>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    let Json(body) = body?;
    let name = AppName::parse(&body.name)?;
    let record = state.store.create_app(name).await?;
    tracing::info!(app = %record.name, caller = %caller.describe(), "app created");
    Ok((StatusCode::CREATED, Json(App::from_record(record, &state))))
}

#[utoipa::path(get, path = "/v1/apps/{app}", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app", body = App),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<App>, ApiError> {
    let record = state.store.get_app(&app).await?;
    Ok(Json(App::from_record(record, &state)))
}

#[utoipa::path(delete, path = "/v1/apps/{app}", tag = "apps",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 204, description = "app destroyed"),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn delete_app(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_app(&app).await?;
    tracing::info!(app = %app, caller = %caller.describe(), "app destroyed");
    // The reconciler stops the app's units, then removes its files.
    state.reconciler.poke();
    Ok(StatusCode::NO_CONTENT)
}
