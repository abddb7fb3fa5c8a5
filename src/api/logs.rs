//! `GET /v1/apps/{app}/logs`: the app's journald lines in Heroku's shape, streamed with `follow`.

use super::error::ApiError;
use super::AppState;
use crate::journal::{LogQuery, MAX_LINES};
use crate::model::{AddonService, DynoName, LogOrigin};
use crate::wire::{ErrorBody, LogsParams};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;

#[utoipa::path(get, path = "/v1/apps/{app}/logs", tag = "logs",
    params(("app" = String, Path, description = "app name"), LogsParams),
    responses(
        (status = 200, description = "log lines, one per line: `TIMESTAMP app[web.1]: message`", content_type = "text/plain", body = String),
        (status = 400, description = "a bad line count or source, or the router's lines of one dyno", body = ErrorBody),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn logs(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(params): Query<LogsParams>,
) -> Result<Response, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let dyno = params
        .dyno
        .as_deref()
        .map(DynoName::parse)
        .transpose()
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_target",
                e.to_string(),
            )
        })?;
    let origin = params
        .source
        .as_deref()
        .map(LogOrigin::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if origin == Some(LogOrigin::Router) && dyno.is_some() {
        return Err(ApiError::bad_request(
            "the router's lines belong to no dyno: leave out the dyno, or ask for the app's or skiff's lines",
        ));
    }
    let lines = params.lines.unwrap_or(100);
    if lines > MAX_LINES {
        return Err(ApiError::bad_request(format!(
            "lines must be at most {MAX_LINES}"
        )));
    }
    let addon_units = state
        .store
        .addons()
        .await?
        .into_iter()
        .filter(|a| a.service == AddonService::Redis && a.owner.as_ref() == Some(&app))
        .map(|a| a.name.unit_name())
        .collect();
    let former_names = state.store.former_names(&app).await?;
    let query = LogQuery {
        app,
        dyno,
        addon_units,
        lines,
        follow: params.follow.unwrap_or(false),
        origin,
        former_names,
    };
    let stream = state
        .logs
        .lines(query)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map(|line| Ok::<_, std::io::Error>(format!("{line}\n")));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}
