//! The query of `GET /v1/apps/{app}/logs`.

use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsParams {
    /// How many past lines (default 100, at most 10000).
    pub lines: Option<u32>,
    /// Only this dyno, like `web.1`.
    pub dyno: Option<String>,
    /// Keep the response open and stream new lines.
    pub follow: Option<bool>,
    /// Only the lines of one origin: `app` (the app's own processes), `skiff` (systemd's and
    /// skiffd's lines about it) or `router`.
    pub source: Option<String>,
}
