//! `/v1/apps/{app}/alerts` and `/alert-webhook`: `alerts`, `alerts:add`, `alerts:remove` and
//! `alerts:webhook`. Rules are validated here; the monitor reads them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::model::{AlertRule, AppName, WebhookUrl};
use crate::monitor::rfc3339_ms;
use crate::store::AlertRecord;
use crate::wire::{AddAlert, Alert, AlertList, AlertWebhookRequest, ErrorBody};

fn alert_view(a: &AlertRecord) -> Alert {
    Alert {
        id: a.id,
        rule: a.rule.to_string(),
        state: if a.firing.is_some() { "firing" } else { "ok" }.to_owned(),
        since: a.firing.as_ref().map(|(since, _)| rfc3339_ms(since * 1000)),
        value: a.firing.as_ref().map(|(_, value)| value.clone()),
        created_at: rfc3339_ms(a.created_at * 1000),
    }
}

async fn list_of(state: &AppState, app: &AppName) -> Result<AlertList, ApiError> {
    let found = state.store.alerts(app).await?;
    Ok(AlertList {
        app: app.to_string(),
        alerts: found.alerts.iter().map(alert_view).collect(),
        webhook: found.webhook.map(|u| u.to_string()),
        server_webhook: state.alert_webhook.as_ref().map(|u| u.to_string()),
    })
}

fn invalid(code: &'static str, e: impl ToString) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
}

#[utoipa::path(get, path = "/v1/apps/{app}/alerts", tag = "metrics",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's alerts, whether each fires, and where they are POSTed", body = AlertList),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<AlertList>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    Ok(Json(list_of(&state, &app).await?))
}

#[utoipa::path(post, path = "/v1/apps/{app}/alerts", tag = "metrics",
    params(("app" = String, Path, description = "app name")),
    request_body = AddAlert,
    responses(
        (status = 201, description = "the rule is stored; the monitor reads it from its next look", body = Alert),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "the app has this rule already", body = ErrorBody),
        (status = 422, description = "not a rule; the message lists what is allowed", body = ErrorBody)))]
pub async fn add_alert(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Result<Json<AddAlert>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    let Json(body) = body?;
    let rule = AlertRule::parse(&body.rule).map_err(|e| invalid("invalid_alert", e))?;
    let app = state.store.get_app(&app).await?.name;
    let now = crate::activity::unix_now_ms() / 1000;
    let added = state.store.add_alert(&app, rule, now).await?;
    tracing::info!(app = %app, rule = %rule, "alert added");
    Ok((StatusCode::CREATED, Json(alert_view(&added))))
}

#[utoipa::path(delete, path = "/v1/apps/{app}/alerts/{id}", tag = "metrics",
    params(("app" = String, Path, description = "app name"), ("id" = i64, Path, description = "the alert's id")),
    responses(
        (status = 204, description = "the alert is gone"),
        (status = 404, description = "no such app or alert", body = ErrorBody)))]
pub async fn remove_alert(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let found = state.store.alerts(&app).await?;
    let Some(alert) = found.alerts.iter().find(|a| a.id == id) else {
        return Err(ApiError::not_found(format!(
            "app {app} has no alert {id}; skiff alerts -a {app} lists them"
        )));
    };
    state.store.remove_alert(&app, alert.rule).await?;
    tracing::info!(app = %app, rule = %alert.rule, "alert removed");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/v1/apps/{app}/alert-webhook", tag = "metrics",
    params(("app" = String, Path, description = "app name")),
    request_body = AlertWebhookRequest,
    responses(
        (status = 200, description = "where the app's alerts are POSTed from now on", body = AlertList),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 422, description = "not an http:// or https:// URL", body = ErrorBody)))]
pub async fn set_alert_webhook(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Result<Json<AlertWebhookRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let Json(body) = body?;
    let url = body
        .url
        .as_deref()
        .map(WebhookUrl::parse)
        .transpose()
        .map_err(|e| invalid("invalid_webhook", e))?;
    let app = state.store.get_app(&app).await?.name;
    state.store.set_alert_webhook(&app, url).await?;
    tracing::info!(app = %app, "alert webhook set");
    Ok(Json(list_of(&state, &app).await?))
}
