//! `/v1/server/backup` and `/v1/server/restore`: the whole server as one archive, streamed out,
//! and a server brought back from one uploaded.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::error::ApiError;
use super::keys::write_authorized_keys;
use super::shutdown::WholeOrNothing;
use super::{AppState, Caller};
use crate::model::{check_free_space, check_restore_allowed};
use crate::server_backup::{Restored, ServerBackupError, ServerBackups};
use crate::wire::{ErrorBody, RestoreQuery, RestoredAddon, ServerRestored, ARCHIVE_CONTENT_TYPE};

/// How often, in bytes received, a restore's upload checks the free space again.
const SPACE_CHECK_EVERY: u64 = 64 << 20;

fn server_backups(state: &AppState) -> ServerBackups {
    ServerBackups {
        store: state.store.clone(),
        layout: state.layout.clone(),
        reconciler: state.reconciler.clone(),
        systemd: state.systemd.clone(),
        floor: state.backups.floor,
    }
}

#[utoipa::path(post, path = "/v1/server/backup", tag = "server",
    responses(
        (status = 200, description = "the archive (tar), streamed, its manifest with every entry's SHA-256 last; a stream cut short is not a backup", content_type = "application/x-tar"),
        (status = 502, description = "an add-on's backup failed its check; nothing was sent", body = ErrorBody),
        (status = 507, description = "the disk would fall under backup_free_space_floor", body = ErrorBody)))]
pub async fn backup_server(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    tracing::info!(caller = %caller.describe(), "server backup started");
    let chunks = server_backups(&state).backup().await?;
    let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
        let chunk = chunks.recv().await?;
        Some((chunk.map(axum::body::Bytes::from), chunks))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, ARCHIVE_CONTENT_TYPE)
        .extension(WholeOrNothing)
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Removes a restore's staging folder (the upload, the unpacked trees, what they replaced).
struct Staging(std::path::PathBuf);

impl Staging {
    fn remove_now(dir: &std::path::Path) {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a restore's staging folder");
            }
            _ => {}
        }
    }

    /// Removes the folder and waits until it is gone.
    async fn remove(mut self) {
        let dir = std::mem::take(&mut self.0);
        let _ = tokio::task::spawn_blocking(move || Self::remove_now(&dir)).await;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return;
        }
        let dir = std::mem::take(&mut self.0);
        tokio::task::spawn_blocking(move || Self::remove_now(&dir));
    }
}

async fn free_space_left(state: &AppState, coming: u64) -> Result<(), ApiError> {
    let dir = state.layout.state_dir.clone();
    let free = tokio::task::spawn_blocking(move || crate::files::free_bytes(&dir))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("measuring the free space: {e}")))?;
    check_free_space(free, coming, state.backups.floor)
        .map_err(|m| ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "no_space", m))
}

type Upload = axum::body::BodyDataStream;

/// Reads what is left of a refused upload, so the client, still sending, gets the refusal
/// rather than a broken connection; the bytes go nowhere.
async fn drained(mut upload: Upload, refusal: ApiError) -> ApiError {
    while let Some(Ok(_)) = upload.next().await {}
    refusal
}

/// Stores the upload as `staging/server.tar`, keeping the free-space floor.
async fn receive(
    state: &AppState,
    staging: &Staging,
    stream: &mut Upload,
    length: u64,
) -> Result<(), ApiError> {
    // The upload and its unpacked trees both land on the state's disk.
    free_space_left(state, length.saturating_mul(2)).await?;
    tokio::fs::create_dir(&staging.0)
        .await
        .map_err(|e| ApiError::internal(format!("making the restore's folder: {e}")))?;
    let path = staging.0.join("server.tar");
    let storing = |e: std::io::Error| ApiError::internal(format!("storing the upload: {e}"));
    let mut file = tokio::fs::File::create(&path).await.map_err(storing)?;
    let mut received: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?;
        let before = received;
        received += chunk.len() as u64;
        if before / SPACE_CHECK_EVERY != received / SPACE_CHECK_EVERY {
            free_space_left(state, received).await?;
        }
        file.write_all(&chunk).await.map_err(storing)?;
    }
    file.sync_all().await.map_err(storing)?;
    if received == 0 {
        return Err(ApiError::bad_request(
            "the upload is empty; send an archive written by skiff backup",
        ));
    }
    tracing::info!(bytes = received, "server archive received");
    Ok(())
}

#[utoipa::path(post, path = "/v1/server/restore", tag = "server",
    params(RestoreQuery),
    request_body(content = Vec<u8>, description = "an archive written by skiff backup", content_type = "application/x-tar"),
    responses(
        (status = 200, description = "the state, files and add-ons' data are back; the reconciler starts the apps", body = ServerRestored),
        (status = 409, description = "the server already has apps and force is not set", body = ErrorBody),
        (status = 422, description = "the archive is damaged, truncated, not skiff's or from a newer skiff; nothing changed", body = ErrorBody),
        (status = 507, description = "the disk would fall under backup_free_space_floor", body = ErrorBody)))]
pub async fn restore_server(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<RestoreQuery>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Json<ServerRestored>, ApiError> {
    let force = query.force.unwrap_or(false);
    let mut upload = body.into_data_stream();
    let apps = match state.store.list_apps().await {
        Ok(apps) => apps.into_iter().map(|a| a.name).collect::<Vec<_>>(),
        Err(e) => return Err(drained(upload, e.into()).await),
    };
    if let Err(e) = check_restore_allowed(&apps, force) {
        return Err(drained(upload, ServerBackupError::from(e).into()).await);
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let backups = server_backups(&state);
    let staging = Staging(backups.staging());
    if let Err(e) = receive(&state, &staging, &mut upload, length).await {
        return Err(drained(upload, e).await);
    }
    tracing::info!(caller = %caller.describe(), force, "server restore started");
    // In a task of its own: a client that goes away does not cut the restore short.
    let restore = tokio::spawn(async move {
        let restored = backups.restore_state(&staging.0, force).await?;
        write_authorized_keys(&state).await?;
        backups.restore_addons(&restored).await?;
        staging.remove().await;
        Ok::<Restored, ApiError>(restored)
    });
    let restored = restore
        .await
        .map_err(|e| ApiError::internal(format!("the restore stopped: {e}")))??;
    tracing::info!(
        apps = restored.apps,
        addons = restored.addons.len(),
        "server restored"
    );
    Ok(Json(ServerRestored {
        skiff_version: restored.manifest.skiff_version,
        created_at: restored.manifest.created_at,
        apps: restored.apps,
        entries: restored.manifest.entries.len() as u64,
        addons: restored
            .addons
            .iter()
            .map(|(addon, backup)| RestoredAddon {
                addon: addon.to_string(),
                backup: backup.to_string(),
            })
            .collect(),
    }))
}
