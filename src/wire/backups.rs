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
    /// Tables and rows the check found in the restored copy (for Redis: databases and keys
    /// the scratch server loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Why a failed backup failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the copy off the server (`backup_copy_to`) is, once it was listed back whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_to: Option<String>,
    /// Why the copy off the server failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_error: Option<String>,
}

/// An add-on's backups, newest first, the disk space their files take, and its schedule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupList {
    pub addon: String,
    /// Bytes the add-on's backup directory takes on disk.
    pub used: u64,
    pub backups: Vec<Backup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<BackupScheduleBody>,
}

/// The CLI verb a scheduled backup's service runs: it asks for a backup of kind `scheduled` and
/// follows it like `pg:backups:capture`.
pub const SCHEDULED_BACKUP_VERB: &str = "backups:run-scheduled";

/// `POST /v1/addons/{addon}/backups?kind=scheduled`: what the backup is (default `manual`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct CaptureQuery {
    /// `manual` (kept until deleted) or `scheduled` (pruned by the schedule's retention).
    pub kind: Option<String>,
}

/// `PUT /v1/addons/{addon}/backups/schedule`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupScheduleRequest {
    /// The daily time and optional tz database zone, like `02:00 Europe/Berlin` (UTC if none).
    pub at: String,
    /// Days whose newest scheduled backup is kept (default `backup_keep_daily`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Weeks whose newest scheduled backup is kept (default `backup_keep_weekly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
}

/// An add-on's backup schedule, and what its timer says when it has one yet.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupScheduleBody {
    pub addon: String,
    /// Like `02:00 Europe/Berlin`.
    pub at: String,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    /// When the timer fires next (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    /// When it last fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// How the last scheduled run ended: `success` or systemd's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
}

/// What `pg:backups:restore` did: the backup now in the database, and the safety backup of what
/// the database held just before.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupRestored {
    pub restored: Backup,
    pub safety: Backup,
}
