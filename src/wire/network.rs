//! An app's private network on the wire: where its dynos live and whether they reach the
//! internet.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkInfo {
    /// `private` (a network namespace of the app's own) or `host` (the host's network).
    pub mode: String,
    /// The dynos' network namespace, once the app has one.
    pub namespace: Option<String>,
    /// The dynos' address inside it.
    pub address: Option<String>,
    /// The stable address the proxy sends the app's requests to.
    pub service_address: Option<String>,
    /// Whether the app's dynos reach the internet.
    pub egress: bool,
    /// `app` when the app chose its egress, `default` when it follows the server's `dyno_egress`.
    pub egress_source: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRequest {
    /// true or false; null returns the app to the server's default.
    pub egress: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_egress_request_is_a_bool_or_null_and_nothing_else() {
        let on: EgressRequest = serde_json::from_str(r#"{"egress": true}"#).unwrap();
        assert_eq!(on.egress, Some(true));
        let default: EgressRequest = serde_json::from_str(r#"{"egress": null}"#).unwrap();
        assert_eq!(default.egress, None);
        assert!(serde_json::from_str::<EgressRequest>(r#"{"egress": "yes"}"#).is_err());
        assert!(serde_json::from_str::<EgressRequest>(r#"{"egress": true, "x": 1}"#).is_err());
    }
}
