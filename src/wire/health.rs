//! The daemon's health on the wire: `GET /v1/health`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
