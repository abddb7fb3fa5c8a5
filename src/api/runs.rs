//! `/v1/apps/{app}/runs`: one-off dynos. Attached runs switch the connection to the
//! `skiff-run.1` frame protocol (`Upgrade:`); detached ones answer at once.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hyper_util::rt::TokioIo;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::AppName;
use crate::oneoff::{RunError, RunRequest, TerminalRequest};
use crate::wire::run_protocol::UPGRADE_PROTOCOL;
use crate::wire::{ErrorBody, RunBody, RunStarted};

/// The largest run request body: the command line and a few fields.
const MAX_BODY: usize = 128 * 1024;

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        let message = e.to_string();
        match e {
            RunError::Store(e) => e.into(),
            RunError::NotDeployed(_) => Self::new(StatusCode::CONFLICT, "not_deployed", message),
            RunError::EmptyCommand
            | RunError::CommandTooLong
            | RunError::NulInCommand
            | RunError::TimeoutTooLong { .. }
            | RunError::ZeroTimeout
            | RunError::Term(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_run", message)
            }
            RunError::Network(e) => e.into(),
            RunError::Io(_) | RunError::Systemd(_) | RunError::Volume(_) => Self::internal(message),
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_run", message)
}

fn run_request(body: RunBody) -> Result<RunRequest, ApiError> {
    let timeout = body
        .timeout
        .as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .map_err(|_| invalid(format!("invalid timeout {t:?}: use a duration like 30m")))
        })
        .transpose()?;
    if body.detached && body.terminal.is_some() {
        return Err(invalid("a detached run has no terminal"));
    }
    Ok(RunRequest {
        command: body.command,
        terminal: body.terminal.map(|t| TerminalRequest {
            cols: t.cols,
            rows: t.rows,
            term: t.term,
        }),
        timeout,
    })
}

fn wants_upgrade(request: &Request) -> bool {
    let has = |name, token: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, UPGRADE_PROTOCOL)
}

#[utoipa::path(post, path = "/v1/apps/{app}/runs", tag = "runs", request_body = RunBody,
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 101, description = "attached (send `Connection: Upgrade` and `Upgrade: skiff-run.1`): the connection carries frames `[type u8][length u32 BE][payload]` — client: 0 input, 1 end of input, 2 resize (cols u16, rows u16); server: 3 output, 4 error output, 5 exit (status i32, then a message)"),
        (status = 201, description = "detached: started", body = RunStarted),
        (status = 404, description = "no such app", body = ErrorBody),
        (status = 409, description = "the app has no release yet", body = ErrorBody),
        (status = 422, description = "invalid command, timeout or terminal", body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let upgrade = wants_upgrade(&request);
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request: {e}")))?;
    let body: RunBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid run request: {e}")))?;
    let detached = body.detached;
    if !detached && !upgrade {
        return Err(ApiError::bad_request(format!(
            "an attached run needs the headers Connection: Upgrade and Upgrade: {UPGRADE_PROTOCOL}"
        )));
    }
    let request = run_request(body)?;
    let app = AppName::parse(&app).map_err(|e| ApiError::not_found(e.to_string()))?;
    let command = request.command.join(" ");
    let prepared = state.runner.prepare(&app, request).await?;
    tracing::info!(app = %app, dyno = prepared.dyno(), %command, detached, caller = %caller.describe(), "one-off dyno");
    if detached {
        let started = state.runner.detach(prepared).await?;
        return Ok((
            StatusCode::CREATED,
            Json(RunStarted {
                dyno: started.dyno,
                unit: started.unit,
            }),
        )
            .into_response());
    }
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| ApiError::bad_request("this connection cannot be upgraded"))?;
    let runner = state.runner.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => runner.attach(prepared, TokioIo::new(upgraded)).await,
            Err(e) => {
                tracing::warn!("upgrading a run's connection failed: {e}");
                runner.discard(prepared).await;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, UPGRADE_PROTOCOL)
        .body(Body::empty())
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TerminalBody;
    use std::time::Duration;

    fn body(detached: bool, terminal: bool, timeout: Option<&str>) -> RunBody {
        RunBody {
            command: vec!["bash".into()],
            detached,
            terminal: terminal.then_some(TerminalBody {
                cols: 80,
                rows: 24,
                term: None,
            }),
            timeout: timeout.map(str::to_owned),
        }
    }

    #[test]
    fn requests_are_checked_before_anything_runs() {
        let ok = run_request(body(false, true, Some("10m"))).unwrap();
        assert_eq!(ok.timeout, Some(Duration::from_secs(600)));
        assert_eq!(ok.terminal.unwrap().cols, 80);
        let err = run_request(body(true, true, None)).unwrap_err();
        assert_eq!(err.message, "a detached run has no terminal");
        let err = run_request(body(false, false, Some("soon"))).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            err.message.contains("invalid timeout \"soon\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn upgrade_needs_both_headers() {
        let request = |headers: &[(&str, &str)]| {
            let mut r = Request::builder().uri("/v1/apps/a/runs");
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.body(Body::empty()).unwrap()
        };
        assert!(wants_upgrade(&request(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "skiff-run.1")
        ])));
        assert!(!wants_upgrade(&request(&[("upgrade", "skiff-run.1")])));
        assert!(!wants_upgrade(&request(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket")
        ])));
    }
}
