//! `POST /v1/apps/{app}/deploys`: an uploaded tarball becomes the next release's slug and goes live.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{AppState, Caller};
use crate::build::intake::{self, IntakeError, IntakeLimits};
use crate::model::Procfile;
use crate::store::ReleaseRecord;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Release {
    pub version: u32,
    pub description: String,
    pub created_at: String,
    /// Process types of the release's Procfile.
    pub process_types: Vec<String>,
}

impl From<ReleaseRecord> for Release {
    fn from(r: ReleaseRecord) -> Self {
        Self {
            version: r.version,
            process_types: r.procfile.process_types().map(|t| t.to_string()).collect(),
            description: r.description,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeployQuery {
    /// Shown in `releases`, e.g. "Deploy 1a2b3c4". Defaults to "Deploy".
    pub description: Option<String>,
}

/// Removes temporary upload files on every exit path.
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

fn invalid_upload(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_upload", message)
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> ApiError + '_ {
    move |e| ApiError::internal(format!("{what}: {e}"))
}

#[utoipa::path(post, path = "/v1/apps/{app}/deploys", tag = "releases",
    params(("app" = String, Path, description = "app name"), DeployQuery),
    request_body(content = Vec<u8>, content_type = "application/x-tar", description = "the app's source as a tar (optionally gzip) archive, with a Procfile at its root"),
    responses(
        (status = 201, description = "the new release is live", body = Release),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 413, description = "upload too large", body = ErrorBody),
        (status = 422, description = "unsafe or invalid archive, missing or malformed Procfile", body = ErrorBody)))]
pub async fn deploy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    Query(query): Query<DeployQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let app = state.store.get_app(&app).await?.name;
    let description = match query.description.map(|d| d.trim().to_owned()) {
        Some(d) if d.is_empty() || d.len() > 200 || d.chars().any(char::is_control) => {
            return Err(ApiError::bad_request(
                "description must be 1-200 printable characters",
            ))
        }
        Some(d) => d,
        None => "Deploy".to_owned(),
    };
    let incoming = state.layout.incoming_dir(&app);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&incoming)
        .map_err(io_error("creating the upload directory"))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let archive = incoming.join(format!("{id}.tar"));
    let unpacked = incoming.join(&id);
    let _scratch = Scratch(vec![archive.clone(), unpacked.clone()]);

    let max_upload = state.limits.max_upload;
    let mut file = tokio::fs::File::create(&archive)
        .await
        .map_err(io_error("storing the upload"))?;
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?;
        received += chunk.len() as u64;
        if received > max_upload {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the upload is larger than max_upload ({max_upload} bytes)"),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(io_error("storing the upload"))?;
    }
    file.flush().await.map_err(io_error("storing the upload"))?;
    drop(file);
    if received == 0 {
        return Err(invalid_upload(
            "the upload is empty; send a tar archive of the app",
        ));
    }

    let limits = IntakeLimits {
        max_bytes: state.limits.max_slug_size,
        max_entries: 100_000,
    };
    let (archive_path, dest) = (archive.clone(), unpacked.clone());
    tokio::task::spawn_blocking(move || -> Result<(), IntakeError> {
        intake::unpack(std::fs::File::open(&archive_path)?, &dest, limits)?;
        Ok(())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| match e {
        IntakeError::Io(io) => ApiError::internal(format!("unpacking the upload: {io}")),
        other => invalid_upload(other.to_string()),
    })?;

    let procfile_path = unpacked.join("Procfile");
    let procfile_text = match std::fs::symlink_metadata(&procfile_path) {
        Ok(m) if m.is_file() => std::fs::read_to_string(&procfile_path)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_procfile", format!("cannot read the Procfile: {e}")))?,
        Ok(_) => {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_procfile", "Procfile must be a regular file"))
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_procfile",
                "no Procfile in the app's root directory; add one with lines like 'web: python3 app.py'",
            ))
        }
    };
    let procfile = Procfile::parse(&procfile_text).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_procfile",
            e.to_string(),
        )
    })?;

    let layout = state.layout.clone();
    let slug_app = app.clone();
    let release = state
        .store
        .create_release(app.clone(), procfile, description, move |version| {
            let slug = layout.slug_dir(&slug_app, version);
            if slug.exists() {
                // Left by a crash between moving a slug and committing its release.
                std::fs::remove_dir_all(&slug)
                    .map_err(|e| format!("removing stale {}: {e}", slug.display()))?;
            }
            let parent = slug.parent().expect("slugs live in a directory");
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
            std::fs::rename(&unpacked, &slug).map_err(|e| format!("installing the slug: {e}"))
        })
        .await?;
    tracing::info!(app = %app, release = release.version, caller = %caller.describe(), bytes = received, "deployed");
    state.reconciler.poke();
    Ok((StatusCode::CREATED, Json(Release::from(release))))
}
