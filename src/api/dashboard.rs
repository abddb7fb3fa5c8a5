//! `/v1/dashboard`: one-time login links for the dashboard, and ending its sessions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{ApiToken, LOGIN_LINK_TTL};
use crate::wire::{DashboardLink, ErrorBody, SessionsEnded};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A session cannot hand out more sessions: links come from the CLI or a token.
fn refuse_dashboard(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Dashboard => Err(ApiError::forbidden(
            "login links are made with 'skiff dashboard', not from the dashboard",
        )),
        Caller::Local { .. } | Caller::Token { .. } => Ok(()),
    }
}

#[utoipa::path(post, path = "/v1/dashboard/links", tag = "dashboard",
    responses(
        (status = 201, description = "a login link that works once, for ten minutes", body = DashboardLink),
        (status = 403, description = "asked from the dashboard", body = ErrorBody)))]
pub async fn create_link(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<(StatusCode, Json<DashboardLink>), ApiError> {
    refuse_dashboard(&caller)?;
    let secret = ApiToken::generate();
    let now = unix_now();
    let expires_at = now + LOGIN_LINK_TTL.as_secs() as i64;
    state
        .store
        .add_login_link(secret.hash(), now, expires_at)
        .await?;
    tracing::info!(caller = %caller.describe(), "dashboard login link made");
    let expires = UNIX_EPOCH + Duration::from_secs(expires_at as u64);
    Ok((
        StatusCode::CREATED,
        Json(DashboardLink {
            url: state.dashboard.login_url(secret.expose()),
            expires_at: humantime::format_rfc3339_seconds(expires).to_string(),
            hint: state.dashboard.hint(),
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/dashboard/sessions", tag = "dashboard",
    responses(
        (status = 200, description = "every session and unused link ended", body = SessionsEnded),
        (status = 403, description = "asked from the dashboard", body = ErrorBody)))]
pub async fn end_sessions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SessionsEnded>, ApiError> {
    refuse_dashboard(&caller)?;
    let ended = state.store.end_all_sessions(unix_now()).await?;
    tracing::info!(ended, caller = %caller.describe(), "dashboard sessions ended");
    Ok(Json(SessionsEnded { ended }))
}
