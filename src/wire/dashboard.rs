//! The dashboard on the wire: `/v1/dashboard/links` and `/v1/dashboard/sessions`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DashboardLink {
    /// Opens a session once, until `expires_at`.
    pub url: String,
    pub expires_at: String,
    /// How to reach the dashboard when skiff's Caddy does not serve it.
    pub hint: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionsEnded {
    /// How many live sessions were ended.
    pub ended: usize,
}
