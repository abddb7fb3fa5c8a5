//! `/v1/addons/{addon}/backups`: an add-on's backups. A capture is refused before anything is
//! recorded when the disk is too full or another backup runs; otherwise it answers at once with
//! the `running` row, and the client follows it until it is `checked` or `failed`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};

use super::addons::{confirmed, find};
use super::backup_schedules::schedule_of;
use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{BackupId, BackupKind};
use crate::store::{AddonRecord, BackupRecord};
use crate::wire::{
    Backup, BackupList, BackupRestored, CaptureQuery, DestroyQuery, ErrorBody, BACKUP_SHA256_HEADER,
};

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
        copied_to: record.copied_to,
        copy_error: record.copy_error,
    }
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
    let record = find(&state, &addon).await?;
    let backups = state.store.backups(&record.name).await?;
    Ok(Json(BackupList {
        addon: record.name.to_string(),
        used: backups_used(&state, &record).await?,
        backups: backups.into_iter().map(backup_body).collect(),
        schedule: schedule_of(&state, &record).await?,
    }))
}

#[utoipa::path(post, path = "/v1/addons/{addon}/backups", tag = "backups",
    params(("addon" = String, Path, description = "add-on name"), CaptureQuery),
    responses(
        (status = 202, description = "the backup started; follow it until it is checked or failed", body = Backup),
        (status = 409, description = "the add-on is not ready, or a backup of it is in progress", body = ErrorBody),
        (status = 507, description = "the disk would fall under backup_free_space_floor", body = ErrorBody)))]
pub async fn capture_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
    Query(query): Query<CaptureQuery>,
) -> Result<(StatusCode, Json<Backup>), ApiError> {
    let kind = match query.kind.as_deref() {
        None | Some("manual") => BackupKind::Manual,
        Some("scheduled") => BackupKind::Scheduled,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown backup kind {other:?}: use manual or scheduled"
            )))
        }
    };
    let record = find(&state, &addon).await?;
    let backup = state
        .reconciler
        .addons()
        .start_backup(
            &state.store,
            &state.layout,
            &record,
            kind,
            state.backups.floor,
        )
        .await?;
    tracing::info!(addon = %record.name, backup = %backup.id, kind = kind.as_str(), caller = %caller.describe(), "backup started");
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

#[utoipa::path(delete, path = "/v1/addons/{addon}/backups/{id}", tag = "backups",
    params(("addon" = String, Path, description = "add-on name"), ("id" = String, Path, description = "backup id, like b001"), DestroyQuery),
    responses(
        (status = 200, description = "the backup and its file are gone", body = Backup),
        (status = 400, description = "confirm does not name the owner app", body = ErrorBody),
        (status = 409, description = "the backup is in progress", body = ErrorBody)))]
pub async fn delete_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((addon, id)): Path<(String, String)>,
    Query(query): Query<DestroyQuery>,
) -> Result<Json<Backup>, ApiError> {
    let id = BackupId::parse(&id)?;
    let record = find(&state, &addon).await?;
    state.store.backup(&record.name, id).await?;
    let what = format!("deleting backup {id} of {} removes its file", record.name);
    confirmed(&record, query.confirm.as_deref(), &what)?;
    let addons = state.reconciler.addons();
    let deleted = addons
        .delete_backup(&state.store, &state.layout, &record, id)
        .await?;
    tracing::info!(addon = %record.name, backup = %id, caller = %caller.describe(), "backup deleted");
    Ok(Json(backup_body(deleted)))
}

#[utoipa::path(post, path = "/v1/addons/{addon}/backups/{id}/restore", tag = "backups",
    params(("addon" = String, Path, description = "add-on name"), ("id" = String, Path, description = "backup id, like b001"), DestroyQuery),
    responses(
        (status = 200, description = "the database holds the backup; the safety backup holds what it held before", body = BackupRestored),
        (status = 400, description = "confirm does not name the owner app", body = ErrorBody),
        (status = 422, description = "the backup is not checked, or its file no longer matches its checksum", body = ErrorBody)))]
pub async fn restore_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((addon, id)): Path<(String, String)>,
    Query(query): Query<DestroyQuery>,
) -> Result<Json<BackupRestored>, ApiError> {
    let id = BackupId::parse(&id)?;
    let record = find(&state, &addon).await?;
    let backup = state.store.backup(&record.name, id).await?;
    let what = format!(
        "restoring {id} replaces everything in the database of {}",
        record.name
    );
    confirmed(&record, query.confirm.as_deref(), &what)?;
    tracing::info!(addon = %record.name, backup = %id, caller = %caller.describe(), "restore started");
    // In a task of its own: a client that goes away must not cut a restore (or its safety
    // backup) short half-way; it runs to its end and the rows say how it went.
    let restore = {
        let (addons, store, layout) = (
            state.reconciler.addons().clone(),
            state.store.clone(),
            state.layout.clone(),
        );
        let floor = state.backups.floor;
        tokio::spawn(async move {
            addons
                .restore_backup(&store, &layout, &record, id, floor)
                .await
        })
    };
    let safety = restore
        .await
        .map_err(|e| ApiError::internal(format!("the restore stopped: {e}")))??;
    Ok(Json(BackupRestored {
        restored: backup_body(backup),
        safety: backup_body(safety),
    }))
}

#[utoipa::path(get, path = "/v1/addons/{addon}/backups/{id}/download", tag = "backups",
    params(("addon" = String, Path, description = "add-on name"), ("id" = String, Path, description = "backup id, like b001")),
    responses(
        (status = 200, description = "the backup's file, streamed; its SHA-256 in X-Skiff-Sha256", content_type = "application/octet-stream"),
        (status = 409, description = "the backup is not checked", body = ErrorBody)))]
pub async fn download_backup(
    State(state): State<AppState>,
    Path((addon, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = BackupId::parse(&id)?;
    let record = find(&state, &addon).await?;
    let backup = state.store.backup(&record.name, id).await?;
    let (Some(sha256), Some(size)) = (backup.sha256.clone(), backup.size_bytes) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_checked",
            format!(
                "backup {id} is {}; only a checked backup has a file",
                backup.status.as_str()
            ),
        ));
    };
    let path = crate::addons::backup_file(&state.layout, &record, id);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot open {}: {e}", path.display())))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .header(BACKUP_SHA256_HEADER, sha256)
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}
