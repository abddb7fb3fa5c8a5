//! `GET /v1/health`: the daemon's version, uptime and the systemd it drives.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// "ok", or "degraded" when systemd cannot be reached.
    pub status: String,
    /// skiffd's version.
    pub version: String,
    pub uptime_seconds: u64,
    /// systemd's version as PID 1 reports it over D-Bus; null when unreachable.
    pub systemd_version: Option<String>,
}

#[utoipa::path(get, path = "/v1/health", tag = "health",
    responses((status = 200, description = "daemon health", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let systemd_version = match state.systemd.version().await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "systemd unreachable");
            None
        }
    };
    Json(Health {
        status: if systemd_version.is_some() {
            "ok"
        } else {
            "degraded"
        }
        .to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: state.started.elapsed().as_secs(),
        systemd_version,
    })
}
