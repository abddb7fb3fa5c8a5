//! `/v1/server/backup` and `/v1/server/restore`: the whole-server archive's query and answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/server/restore?force=true`: replace a server that already has apps.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct RestoreQuery {
    /// Restore although the server has apps; theirs are replaced by the archive's.
    pub force: Option<bool>,
}

/// An add-on whose data a restore brought back, and from which backup.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RestoredAddon {
    pub addon: String,
    pub backup: String,
}

/// What `POST /v1/server/restore` brought back.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServerRestored {
    /// The skiff version that wrote the archive.
    pub skiff_version: String,
    /// When the archive was written (RFC 3339).
    pub created_at: String,
    /// How many apps the restored state has.
    pub apps: u64,
    /// Files, folders and links the archive held.
    pub entries: u64,
    pub addons: Vec<RestoredAddon>,
}

/// The archive's content type.
pub const ARCHIVE_CONTENT_TYPE: &str = "application/x-tar";
