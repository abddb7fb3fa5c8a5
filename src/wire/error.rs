//! The error envelope every failed request answers with.

use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_name`, `already_exists`, `not_found`, `unauthorized`, …
    pub code: String,
    /// What went wrong and, where possible, what is allowed instead.
    pub message: String,
}
