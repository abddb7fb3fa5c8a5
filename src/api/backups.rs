//! `/v1/addons/{addon}/backups`: an add-on's backups. A capture is refused before anything is
//! recorded when the disk is too full or another backup runs; otherwise it answers at once with
//! the `running` row, and the client follows it until it is `checked` or `failed`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{AddonState, BackupId, BackupKind};
use crate::store::{AddonRecord, BackupRecord, StoreError};
use crate::wire::{Backup, BackupList, ErrorBody};

pub(super) fn backup_body(record: BackupRecord) -> Backup {
    Backup {
        id: record.id.to_string(),
        addon: record.addon.to_string(),
        kind: record.kind.as_str().to_owned(),
        status: record.status.as_str().to_owned(),
        started_at: record.started_at,
        finished_at: record.finished_at,
        size: record.size_bytes,
        sha256: record.sha256,
        tables: record.tables,
        rows: record.rows,
        reason: record.reason,
    }
}

async fn live_addon(state: &AppState, name: &str) -> Result<AddonRecord, ApiError> {
    let record = state.store.addon(name).await?;
    if record.state == AddonState::Destroying {
        return Err(StoreError::AddonDestroying(record.name).into());
    }
    Ok(record)
}

/// Bytes the add-on's backups take on disk (measured on the blocking pool).
pub(super) async fn backups_used(state: &AppState, addon: &AddonRecord) -> Result<u64, ApiError> {
    let dir = state.layout.backup_dir(&addon.name);
    tokio::task::spawn_blocking(move || crate::files::disk_usage(&dir))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[utoipa::path(get, path = "/v1/addons/{addon}/backups", tag = "backups",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 200, description = "the add-on's backups, newest first, and the space they take", body = BackupList),
        (status = 404, description = "no such add-on", body = ErrorBody)))]
pub async fn list_backups(
    State(state): State<AppState>,
    Path(addon): Path<String>,
) -> Result<Json<BackupList>, ApiError> {
    let record = live_addon(&state, &addon).await?;
    let backups = state.store.backups(&record.name).await?;
    Ok(Json(BackupList {
        addon: record.name.to_string(),
        used: backups_used(&state, &record).await?,
        backups: backups.into_iter().map(backup_body).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/addons/{addon}/backups", tag = "backups",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 202, description = "the backup started; follow it until it is checked or failed", body = Backup),
        (status = 409, description = "the add-on is not ready, or a backup of it is in progress", body = ErrorBody),
        (status = 507, description = "the disk would fall under backup_free_space_floor", body = ErrorBody)))]
pub async fn capture_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
) -> Result<(StatusCode, Json<Backup>), ApiError> {
    let record = live_addon(&state, &addon).await?;
    let backup = state
        .reconciler
        .addons()
        .start_backup(
            &state.store,
            &state.layout,
            &record,
            BackupKind::Manual,
            state.backup_floor,
        )
        .await?;
    tracing::info!(addon = %record.name, backup = %backup.id, caller = %caller.describe(), "backup started");
    Ok((StatusCode::ACCEPTED, Json(backup_body(backup))))
}

#[utoipa::path(get, path = "/v1/addons/{addon}/backups/{id}", tag = "backups",
    params(("addon" = String, Path, description = "add-on name"), ("id" = String, Path, description = "backup id, like b001")),
    responses(
        (status = 200, description = "one backup", body = Backup),
        (status = 404, description = "no such add-on or backup", body = ErrorBody)))]
pub async fn get_backup(
    State(state): State<AppState>,
    Path((addon, id)): Path<(String, String)>,
) -> Result<Json<Backup>, ApiError> {
    let id = BackupId::parse(&id)?;
    let record = state.store.addon(&addon).await?;
    Ok(Json(backup_body(
        state.store.backup(&record.name, id).await?,
    )))
}
