//! `GET /v1/health`: the daemon's version, uptime and the systemd it drives.

use super::AppState;
use crate::wire::Health;
use axum::extract::State;
use axum::Json;

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
