//! Log drains on the wire: `/v1/apps/{app}/drains`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Drain {
    pub id: i64,
    /// `syslog://HOST:PORT`, `syslog+tls://HOST:PORT` or `https://HOST[:PORT]/PATH`.
    pub url: String,
    /// Lines delivered so far.
    pub delivered: i64,
    /// RFC 3339: the last delivery.
    pub last_delivered_at: Option<String>,
    /// Why the last delivery failed, until one succeeds.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDrain {
    pub url: String,
}
