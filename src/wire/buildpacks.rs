//! An app's buildpacks on the wire (`/v1/apps/{app}/buildpacks`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppBuildpacks {
    pub app: String,
    /// In the order they run; empty when the build detects what to do.
    pub buildpacks: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBuildpacks {
    /// The whole new list: git URLs (optionally `#ref`) or absolute paths on the server.
    pub buildpacks: Vec<String>,
}
