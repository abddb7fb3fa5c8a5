//! `POST /v1/apps/{app}/deploys`: an uploaded tarball becomes the next release's slug and goes live.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::build::intake::{self, IntakeError, IntakeLimits};
use crate::build::pipeline::{DeployError, NameHold, Workspace};
use crate::model::{AppName, ReleaseRecord};
use crate::wire::{BuildEvent, DeployQuery, ErrorBody, Release};

impl From<ReleaseRecord> for Release {
    fn from(r: ReleaseRecord) -> Self {
        Self {
            version: r.version,
            slug_version: r.slug_version,
            process_types: r.procfile.process_types().map(|t| t.to_string()).collect(),
            config_keys: r.config.keys().cloned().collect(),
            status: r.status.as_str().to_owned(),
            failure: r.failure,
            build_id: r.build_id,
            description: r.description,
            created_at: r.created_at,
        }
    }
}

fn invalid_upload(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_upload", message)
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> ApiError + '_ {
    move |e| ApiError::internal(format!("{what}: {e}"))
}

fn description(raw: Option<String>) -> Result<String, ApiError> {
    match raw.map(|d| d.trim().to_owned()) {
        Some(d) if d.is_empty() || d.len() > 200 || d.chars().any(char::is_control) => Err(
            ApiError::bad_request("description must be 1-200 printable characters"),
        ),
        Some(d) => Ok(d),
        None => Ok("Deploy".to_owned()),
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let message = e.to_string();
        match e {
            DeployError::Rejected(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_app", message)
            }
            DeployError::BuildFailed(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "build_failed", message)
            }
            DeployError::ReleasePhaseFailed(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "release_failed", message)
            }
            DeployError::Unhealthy { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unhealthy", message)
            }
            DeployError::Renaming(_) => ApiError::new(StatusCode::CONFLICT, "renaming", message),
            DeployError::Store(s) => ApiError::from(s),
            DeployError::Network(e) => ApiError::from(e),
            _ => ApiError::internal(message),
        }
    }
}

/// Stores the upload and unpacks it safely into a fresh build workspace.
async fn receive(
    state: &AppState,
    app: &AppName,
    hold: NameHold,
    body: Body,
) -> Result<Workspace, ApiError> {
    let ws = state.deployer.workspace(app, hold)?;
    let archive = ws.root.join("upload.tar");
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
    let dest = ws.source_dir();
    tokio::task::spawn_blocking(move || -> Result<(), IntakeError> {
        intake::unpack(std::fs::File::open(&archive)?, &dest, limits)?;
        let _ = std::fs::remove_file(&archive);
        Ok(())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| match e {
        IntakeError::Io(io) => ApiError::internal(format!("unpacking the upload: {io}")),
        other => invalid_upload(other.to_string()),
    })?;
    tracing::info!(app = %app, bytes = received, workspace = %ws.id, "upload received");
    Ok(ws)
}

type DeployResult = tokio::sync::oneshot::Receiver<Result<ReleaseRecord, ApiError>>;

/// Checks the request, receives the upload, and runs the deploy in its own task (a client that
/// goes away does not cut a build short): output lines come on the first receiver, the result on
/// the second.
async fn start_deploy(
    state: &AppState,
    caller: &Caller,
    app: &str,
    query: DeployQuery,
    body: Body,
) -> Result<(mpsc::Receiver<String>, DeployResult), ApiError> {
    let app = state.store.get_app(app).await?.name;
    let description = description(query.description)?;
    // While the name is held the app cannot be renamed; one renamed just before is not found.
    let hold = state.deployer.hold_name(&app)?;
    state.store.get_app(app.as_str()).await?;
    let ws = receive(state, &app, hold, body).await?;
    let (lines, lines_rx) = mpsc::channel(64);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let deployer = state.deployer.clone();
    let caller = caller.describe();
    tokio::spawn(async move {
        let result = deployer.deploy(&app, ws, description, &lines).await;
        match &result {
            Ok(r) => tracing::info!(app = %app, release = r.version, caller = %caller, "deployed"),
            Err(e) => tracing::warn!(app = %app, caller = %caller, error = %e, "deploy failed"),
        }
        let _ = done_tx.send(result.map_err(ApiError::from));
    });
    Ok((lines_rx, done_rx))
}

#[utoipa::path(post, path = "/v1/apps/{app}/deploys", tag = "releases",
    params(("app" = String, Path, description = "app name"), DeployQuery),
    request_body(content = Vec<u8>, content_type = "application/x-tar", description = "the app's source as a tar (optionally gzip) archive"),
    responses(
        (status = 201, description = "built and released; the new release is live", body = Release),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 413, description = "upload too large", body = ErrorBody),
        (status = 422, description = "unsafe archive, no way to build it, build or release phase failed (the message ends with the last output lines)", body = ErrorBody)))]
pub async fn deploy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    Query(query): Query<DeployQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let (mut rx, done) = start_deploy(&state, &caller, &app, query, body).await?;
    let mut tail: VecDeque<String> = VecDeque::new();
    while let Some(line) = rx.recv().await {
        if tail.len() == 20 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    match done.await {
        Ok(Ok(release)) => Ok((StatusCode::CREATED, Json(Release::from(release)))),
        Ok(Err(mut e)) => {
            if !tail.is_empty() {
                e.message = format!("{}\n{}", e.message, Vec::from(tail).join("\n"));
            }
            Err(e)
        }
        Err(_) => Err(ApiError::internal("the deploy task ended unexpectedly")),
    }
}

fn ndjson(event: &BuildEvent) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

#[utoipa::path(post, path = "/v1/apps/{app}/builds", tag = "releases",
    params(("app" = String, Path, description = "app name"), DeployQuery),
    request_body(content = Vec<u8>, content_type = "application/x-tar", description = "the app's source as a tar (optionally gzip) archive"),
    responses(
        (status = 200, description = "the build's output as it happens, one JSON event per line: {\"output\": line}…, then {\"release\": …} or {\"error\": {code, message}}", content_type = "application/x-ndjson", body = BuildEvent),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 413, description = "upload too large", body = ErrorBody),
        (status = 422, description = "unsafe or invalid archive", body = ErrorBody)))]
pub async fn build(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    Query(query): Query<DeployQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let (rx, done) = start_deploy(&state, &caller, &app, query, body).await?;
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, Infallible>(ndjson(&BuildEvent::Output(line))), rx))
    });
    let last = futures_util::stream::once(async move {
        let event = match done.await {
            Ok(Ok(release)) => BuildEvent::Release(Release::from(release)),
            Ok(Err(e)) => BuildEvent::Error(e.detail()),
            Err(_) => {
                BuildEvent::Error(ApiError::internal("the deploy task ended unexpectedly").detail())
            }
        };
        Ok::<_, Infallible>(ndjson(&event))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(lines.chain(last)))
        .map_err(|e| ApiError::internal(e.to_string()))
}
