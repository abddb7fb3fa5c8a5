//! `/v1/keys`: SSH public keys allowed to `git push`; every change rewrites the `skiff` user's
//! `authorized_keys` from the database.

use std::path::Path as FsPath;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{render_authorized_keys, SshPublicKey};
use crate::store::KeyRecord;
use crate::wire::{AddKey, ErrorBody, Key};

/// The user `git push` logs in as.
pub const GIT_USER: &str = "skiff";

impl From<KeyRecord> for Key {
    fn from(r: KeyRecord) -> Self {
        Self {
            fingerprint: r.fingerprint,
            key_type: r.key.key_type,
            comment: r.key.comment,
            created_at: r.created_at,
        }
    }
}

/// The forced command: the `skiff` CLI installed beside skiffd.
fn git_shell_command() -> String {
    format!("{} git-shell", crate::paths::installed_cli().display())
}

/// Rewrites `authorized_keys` (0600, owned by the git user when it exists) from the database.
pub async fn write_authorized_keys(state: &AppState) -> Result<(), ApiError> {
    let keys: Vec<SshPublicKey> = state
        .store
        .list_keys()
        .await?
        .into_iter()
        .map(|k| k.key)
        .collect();
    let text = render_authorized_keys(&git_shell_command(), &keys);
    let path = state.layout.authorized_keys();
    let write = move || -> std::io::Result<()> {
        crate::files::write_private(&path, text.as_bytes())?;
        if let Ok(Some(user)) = nix::unistd::User::from_name(GIT_USER) {
            let dir = path.parent().expect("in .ssh");
            for p in [dir, FsPath::new(&path)] {
                std::os::unix::fs::chown(p, Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
            }
        }
        Ok(())
    };
    tokio::task::spawn_blocking(write)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("writing authorized_keys: {e}")))
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, description = "keys allowed to git push", body = [Key])))]
pub async fn list_keys(State(state): State<AppState>) -> Result<Json<Vec<Key>>, ApiError> {
    let keys = state.store.list_keys().await?;
    Ok(Json(keys.into_iter().map(Key::from).collect()))
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = AddKey,
    responses(
        (status = 201, description = "key added; it can git push now", body = Key),
        (status = 409, description = "the key is already added", body = ErrorBody),
        (status = 422, description = "not an SSH public key", body = ErrorBody)))]
pub async fn add_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<AddKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Key>), ApiError> {
    let Json(body) = body?;
    let key = SshPublicKey::parse(&body.public_key).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key",
            e.to_string(),
        )
    })?;
    let record = state.store.add_key(key).await?;
    write_authorized_keys(&state).await?;
    tracing::info!(fingerprint = %record.fingerprint, caller = %caller.describe(), "ssh key added");
    Ok((StatusCode::CREATED, Json(Key::from(record))))
}

#[utoipa::path(delete, path = "/v1/keys/{key}", tag = "keys",
    params(("key" = String, Path, description = "the key's fingerprint (SHA256:…) or comment")),
    responses(
        (status = 200, description = "key removed", body = Key),
        (status = 404, description = "no such key", body = ErrorBody)))]
pub async fn remove_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Result<Json<Key>, ApiError> {
    let record = state.store.remove_key(&key).await?;
    write_authorized_keys(&state).await?;
    tracing::info!(fingerprint = %record.fingerprint, caller = %caller.describe(), "ssh key removed");
    Ok(Json(Key::from(record)))
}
