//! `/v1/apps/{app}/volumes`: an app's persistent volumes. Creating or destroying one records it
//! with a release that restarts the app's dynos with or without the mount; the reconciler makes
//! the directories and removes a destroyed one's once nothing mounts it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::config::ByteSize;
use crate::model::{AppName, MountPath, VolumeName, VolumeRecord};
use crate::wire::{CreateVolume, ErrorBody, Volume, VolumeChanged, VolumeDestroyQuery};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_volume", message)
}

/// The app's volumes with the space each takes (measured on the blocking pool).
pub(super) async fn volumes_of(state: &AppState, app: &AppName) -> Result<Vec<Volume>, ApiError> {
    let records = state.store.volumes(app).await?;
    let dirs: Vec<_> = records
        .iter()
        .map(|v| state.layout.volume_dir(app, &v.name))
        .collect();
    let used = tokio::task::spawn_blocking(move || {
        dirs.iter()
            .map(|d| crate::files::disk_usage(d))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(records
        .into_iter()
        .zip(used)
        .map(|(record, used)| volume(record, used))
        .collect())
}

fn volume(record: VolumeRecord, used: u64) -> Volume {
    let size = record.size.map(|s| s.0);
    Volume {
        name: record.name.to_string(),
        mount: record.mount.to_string(),
        size,
        used,
        over_size: size.is_some_and(|size| used > size),
        created_at: record.created_at,
    }
}

#[utoipa::path(get, path = "/v1/apps/{app}/volumes", tag = "volumes",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the app's volumes and the space they take", body = Vec<Volume>),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_volumes(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<Volume>>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    Ok(Json(volumes_of(&state, &app).await?))
}

#[utoipa::path(post, path = "/v1/apps/{app}/volumes", tag = "volumes",
    params(("app" = String, Path, description = "app name")),
    request_body = CreateVolume,
    responses(
        (status = 201, description = "the volume, and the release that mounts it in every dyno", body = VolumeChanged),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "the name is taken or the mount path overlaps another volume's", body = ErrorBody),
        (status = 422, description = "not a valid name, mount path or size", body = ErrorBody)))]
pub async fn create_volume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Result<Json<CreateVolume>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<VolumeChanged>), ApiError> {
    let Json(body) = body?;
    let name = VolumeName::parse(&body.name).map_err(|e| invalid(e.to_string()))?;
    let mount = MountPath::parse(&body.mount).map_err(|e| invalid(e.to_string()))?;
    let size = body
        .size
        .as_deref()
        .map(str::parse::<ByteSize>)
        .transpose()
        .map_err(|e| invalid(format!("invalid volume size: {e}")))?;
    let app = state.store.get_app(&app).await?.name;
    let (record, release) = state.store.create_volume(&app, name, mount, size).await?;
    tracing::info!(app = %app, volume = %record.name, mount = %record.mount, caller = %caller.describe(), "volume created");
    state.reconciler.poke();
    Ok((
        StatusCode::CREATED,
        Json(VolumeChanged {
            volume: volume(record, 0),
            release: release.map(|r| r.version),
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/apps/{app}/volumes/{volume}", tag = "volumes",
    params(("app" = String, Path, description = "app name"),
        ("volume" = String, Path, description = "the volume's name"),
        VolumeDestroyQuery),
    responses(
        (status = 200, description = "the volume is unmounted with a new release; its files go once no older dyno runs", body = VolumeChanged),
        (status = 400, description = "confirm does not name the app", body = ErrorBody),
        (status = 404, description = "no such app or volume", body = ErrorBody)))]
pub async fn destroy_volume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((app, name)): Path<(String, String)>,
    Query(query): Query<VolumeDestroyQuery>,
) -> Result<Json<VolumeChanged>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let existing = volumes_of(&state, &app)
        .await?
        .into_iter()
        .find(|v| v.name == name)
        .ok_or_else(|| {
            ApiError::from(crate::store::StoreError::VolumeNotFound {
                app: app.clone(),
                name: name.clone(),
            })
        })?;
    if query.confirm.as_deref() != Some(app.as_str()) {
        return Err(ApiError::bad_request(format!(
            "destroying volume {name} deletes its files; confirm with --confirm {app}"
        )));
    }
    let release = state.store.destroy_volume(&app, &name).await?;
    tracing::info!(app = %app, volume = %name, caller = %caller.describe(), "volume destroyed");
    state.reconciler.poke();
    Ok(Json(VolumeChanged {
        volume: existing,
        release: release.map(|r| r.version),
    }))
}
