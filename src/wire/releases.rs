//! Config vars, release details, rollback and the events that make no release on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Release;

/// The app's config vars, by name.
pub type ConfigMap = BTreeMap<String, String>;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConfigChanged {
    pub config: ConfigMap,
    /// The release the change made (none before the first deploy).
    pub release: Option<Release>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleaseInfo {
    #[serde(flatten)]
    pub release: Release,
    /// The Procfile's commands, by process type.
    pub processes: BTreeMap<String, String>,
    /// Whether the release's slug is still on disk (it can be rolled back to).
    pub slug_on_disk: bool,
    /// Whether this is the live release.
    pub current: bool,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The release to go back to; default: the one before the live release.
    pub version: Option<u32>,
}

/// Something that happened to an app without making a release, newest first in `events`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppEvent {
    /// scale, resize, maintenance or restart.
    pub kind: String,
    /// What it did, like "Scaled to web@2".
    pub description: String,
    /// Who did it: uid:N on the local socket, token:NAME, or dashboard.
    pub by: String,
    pub created_at: String,
}
