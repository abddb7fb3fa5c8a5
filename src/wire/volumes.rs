//! Persistent volumes on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A volume of an app, with the space its files take.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Volume {
    pub name: String,
    /// Where every process of the app sees it, read-write.
    pub mount: String,
    /// The size asked for, in bytes; none: no limit asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Bytes its files take on disk.
    pub used: u64,
    /// Whether the files take more than `size`.
    pub over_size: bool,
    pub created_at: String,
}

/// `volumes:create`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVolume {
    pub name: String,
    /// An absolute path like `/data`.
    pub mount: String,
    /// Like "1G" or "512M".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

/// A volume created or destroyed, and the release that restarts the app's dynos with or without
/// it (none while the app has no release).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeChanged {
    #[serde(flatten)]
    pub volume: Volume,
    pub release: Option<u32>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct VolumeDestroyQuery {
    /// The app's name, as `--confirm` says it.
    pub confirm: Option<String>,
}
