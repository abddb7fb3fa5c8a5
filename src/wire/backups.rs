//! Add-on backups on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header a download carries the file's SHA-256 (hex) in, to check what arrived.
pub const BACKUP_SHA256_HEADER: &str = "x-skiff-sha256";

/// One backup of an add-on. Only a `checked` backup is good: its file was synced, checksummed,
/// restored somewhere else and found to hold what the database held.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Backup {
    /// Like `b001`.
    pub id: String,
    pub addon: String,
    /// `manual`, `scheduled` or `safety` (taken before a restore).
    pub kind: String,
    /// `running`, `checking`, `checked` or `failed`.
    pub status: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Bytes of the backup's file, once checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the file (hex), once checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Tables and rows the check found in the restored copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Why a failed backup failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An add-on's backups, newest first, and the disk space their files take.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupList {
    pub addon: String,
    /// Bytes the add-on's backup directory takes on disk.
    pub used: u64,
    pub backups: Vec<Backup>,
}

/// What `pg:backups:restore` did: the backup now in the database, and the safety backup of what
/// the database held just before.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupRestored {
    pub restored: Backup,
    pub safety: Backup,
}
