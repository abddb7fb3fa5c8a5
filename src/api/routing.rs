//! `/v1/apps/{app}/domains`, `/maintenance`, `/compression` and `/healthcheck`: how an app is
//! reached through the proxy. Each change is intent in the DB; the reconciler renders and applies the proxy config.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{AppName, Compression, Domain, HealthCheck, RoutingSettings};
use crate::wire::{
    CompressionBody, DomainRequest, Domains, ErrorBody, HealthCheckBody, Maintenance,
};

impl From<&HealthCheck> for HealthCheckBody {
    fn from(h: &HealthCheck) -> Self {
        Self {
            path: h.path.clone(),
            status: h.status.map(u32::from),
            timeout: Some(humantime::format_duration(h.timeout).to_string()),
            description: Some(h.to_string()),
        }
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

async fn domains_of(state: &AppState, app: &AppName) -> Result<Domains, ApiError> {
    let RoutingSettings { domains, .. } = state.store.routing_settings(app).await?;
    Ok(Domains {
        default: format!("{app}.{}", state.base_domain.as_str()),
        custom: domains.iter().map(|d| d.to_string()).collect(),
    })
}

#[utoipa::path(get, path = "/v1/apps/{app}/domains", tag = "routing",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's host names", body = Domains),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_domains(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Domains>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    Ok(Json(domains_of(&state, &app).await?))
}

#[utoipa::path(post, path = "/v1/apps/{app}/domains", tag = "routing",
    params(("app" = String, Path, description = "app name")),
    request_body = DomainRequest,
    responses(
        (status = 201, description = "the domain is routed to the app", body = Domains),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "the domain is already in use", body = ErrorBody),
        (status = 422, description = "not a valid domain", body = ErrorBody)))]
pub async fn add_domain(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Result<Json<DomainRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Domains>), ApiError> {
    let Json(body) = body?;
    let domain =
        Domain::parse(&body.domain).map_err(|e| invalid("invalid_domain", e.to_string()))?;
    let default = format!("{app}.{}", state.base_domain.as_str());
    if domain
        .as_str()
        .ends_with(&format!(".{}", state.base_domain.as_str()))
    {
        return Err(invalid(
            "invalid_domain",
            format!(
                "{domain} is under base_domain {}, where app names are routed; every app is already served at {default}",
                state.base_domain.as_str()
            ),
        ));
    }
    let app = state.store.get_app(&app).await?.name;
    state.store.add_domain(&app, domain).await?;
    state.reconciler.poke();
    Ok((StatusCode::CREATED, Json(domains_of(&state, &app).await?)))
}

#[utoipa::path(delete, path = "/v1/apps/{app}/domains/{domain}", tag = "routing",
    params(("app" = String, Path, description = "app name"), ("domain" = String, Path, description = "the custom domain")),
    responses(
        (status = 200, description = "the domain is no longer routed", body = Domains),
        (status = 404, description = "no such app or domain", body = ErrorBody),
        (status = 422, description = "not a valid domain", body = ErrorBody)))]
pub async fn remove_domain(
    State(state): State<AppState>,
    Path((app, domain)): Path<(String, String)>,
) -> Result<Json<Domains>, ApiError> {
    let domain = Domain::parse(&domain).map_err(|e| invalid("invalid_domain", e.to_string()))?;
    let app = state.store.get_app(&app).await?.name;
    state.store.remove_domain(&app, domain).await?;
    state.reconciler.poke();
    Ok(Json(domains_of(&state, &app).await?))
}

#[utoipa::path(put, path = "/v1/apps/{app}/maintenance", tag = "routing",
    params(("app" = String, Path, description = "app name")),
    request_body = Maintenance,
    responses(
        (status = 200, description = "maintenance mode set: on, every request gets a 503 page", body = Maintenance),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn set_maintenance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<Maintenance>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Maintenance>, ApiError> {
    let Json(body) = body?;
    let app = state.store.get_app(&app).await?.name;
    state
        .store
        .set_maintenance(&app, body.enabled, &caller.describe())
        .await?;
    state.reconciler.poke();
    Ok(Json(body))
}

#[utoipa::path(get, path = "/v1/apps/{app}/compression", tag = "routing",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "whether the proxy compresses the app's responses", body = CompressionBody),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_compression(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<CompressionBody>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let settings = state.store.routing_settings(&app).await?;
    Ok(Json(CompressionBody {
        enabled: settings.compression.enabled(),
    }))
}

#[utoipa::path(put, path = "/v1/apps/{app}/compression", tag = "routing",
    params(("app" = String, Path, description = "app name")),
    request_body = CompressionBody,
    responses(
        (status = 200, description = "compression set: on, text responses (HTML, CSS, JavaScript, JSON, XML, SVG…) over 512 bytes are sent zstd- or gzip-encoded to clients that accept it", body = CompressionBody),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn set_compression(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Result<Json<CompressionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CompressionBody>, ApiError> {
    let Json(body) = body?;
    let app = state.store.get_app(&app).await?.name;
    state
        .store
        .set_compression(&app, Compression::from_enabled(body.enabled))
        .await?;
    state.reconciler.poke();
    Ok(Json(body))
}

#[utoipa::path(get, path = "/v1/apps/{app}/healthcheck", tag = "routing",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the check new web dynos must pass before they get traffic", body = HealthCheckBody),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn get_health_check(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<HealthCheckBody>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let settings = state.store.routing_settings(&app).await?;
    Ok(Json(HealthCheckBody::from(&settings.health_check)))
}

#[utoipa::path(put, path = "/v1/apps/{app}/healthcheck", tag = "routing",
    params(("app" = String, Path, description = "app name")),
    request_body = HealthCheckBody,
    responses(
        (status = 200, description = "the new check, used from the next deploy or restart on", body = HealthCheckBody),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 422, description = "invalid path, status or timeout; nothing changed", body = ErrorBody)))]
pub async fn set_health_check(
    State(state): State<AppState>,
    Path(app): Path<String>,
    body: Result<Json<HealthCheckBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<HealthCheckBody>, ApiError> {
    let Json(body) = body?;
    let bad = |e: crate::model::HealthCheckError| invalid("invalid_health_check", e.to_string());
    let timeout = body
        .timeout
        .as_deref()
        .map(HealthCheck::parse_timeout)
        .transpose()
        .map_err(bad)?;
    let check = HealthCheck::new(body.path.as_deref(), body.status, timeout).map_err(bad)?;
    let app = state.store.get_app(&app).await?.name;
    state.store.set_health_check(&app, check.clone()).await?;
    Ok(Json(HealthCheckBody::from(&check)))
}
