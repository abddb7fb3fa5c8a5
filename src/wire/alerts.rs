//! Alerts on the wire: `/v1/apps/{app}/alerts` and `/alert-webhook`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One alert rule of an app and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: i64,
    /// The rule in its canonical form: `p95 > 500ms for 5m`, `errors > 2% for 5m`,
    /// `memory > 90% for 2m` or `crashed`.
    pub rule: String,
    /// `ok` or `firing`.
    pub state: String,
    /// RFC 3339: when it began firing.
    pub since: Option<String>,
    /// What the rule saw when it fired.
    pub value: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// An app's alerts and where they are POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub app: String,
    pub alerts: Vec<Alert>,
    /// The app's own webhook.
    pub webhook: Option<String>,
    /// The server's `alert_webhook`, used when the app has none.
    pub server_webhook: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAlert {
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertWebhookRequest {
    /// An http:// or https:// URL; `null` clears it.
    pub url: Option<String>,
}
