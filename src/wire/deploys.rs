//! Deploys on the wire: releases, the deploy query and the streamed build events.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ErrorDetail;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Release {
    pub version: u32,
    /// The release whose slug this one runs (itself for a deploy).
    pub slug_version: u32,
    pub description: String,
    pub created_at: String,
    /// Process types of the release's Procfile.
    pub process_types: Vec<String>,
    /// Names (never values) of the release's config vars.
    pub config_keys: Vec<String>,
    /// pending (its web dynos are starting), succeeded (went live), failed or superseded.
    pub status: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The build that made its slug, whose output `releases/{version}/output` serves; none for
    /// config changes and rollbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeployQuery {
    /// Shown in `releases`, e.g. "Deploy 1a2b3c4". Defaults to "Deploy".
    pub description: Option<String>,
}

/// One line of a streamed build (`application/x-ndjson`): output lines, then a release or an error.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BuildEvent {
    Output(String),
    Release(Release),
    Error(ErrorDetail),
}
