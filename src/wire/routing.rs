//! Routing on the wire: domains, maintenance mode, compression and health checks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Domains {
    /// `APP.<base_domain>`, always served.
    pub default: String,
    /// Custom domains, sorted.
    pub custom: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainRequest {
    pub domain: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    pub enabled: bool,
}

/// Whether the proxy compresses the app's compressible responses (zstd or gzip).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompressionBody {
    pub enabled: bool,
}

/// A web health check on the wire.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckBody {
    /// GET this path; none: a TCP connection is enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The status the GET must answer; none: any 2xx or 3xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    /// Boot timeout like "60s" or "2m" (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The check in words (answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
