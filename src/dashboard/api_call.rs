//! The dashboard's way to the API: in-process requests through the same router the CLI's
//! requests go through, as caller `dashboard`, so pages show and actions get exactly what the
//! API answers, errors included.

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::api::Peer;

/// Largest API answer a page reads.
const MAX_ANSWER: usize = 16 << 20;

/// A request the API refused or could not answer, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ApiFailure {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiFailure {
    fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

/// The API router, called in-process.
#[derive(Clone)]
pub(crate) struct Api {
    router: axum::Router,
}

impl Api {
    pub(crate) fn new(router: axum::Router) -> Self {
        Self { router }
    }

    /// The raw response, for streams.
    pub(crate) async fn respond(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Response, ApiFailure> {
        let mut request = Request::builder().method(method).uri(path);
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|e| ApiFailure::internal(format!("bad request to {path}: {e}")))?;
        request
            .extensions_mut()
            .insert(ConnectInfo(Peer::Dashboard));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| ApiFailure::internal(e.to_string()))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            let status = response.status();
            let bytes = read(response).await?;
            Err(ApiFailure {
                status,
                message: error_message(status, &bytes),
            })
        }
    }

    /// Sends a request and reads its JSON answer (`null` for an empty one).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, ApiFailure> {
        let bytes = read(self.respond(method, path, body).await?).await?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiFailure::internal(format!("unreadable answer from {path}: {e}")))
    }

    /// `GET path`, read as text (a stream the API ends, like a build's output).
    pub(crate) async fn get_text(&self, path: &str) -> Result<String, ApiFailure> {
        let bytes = read(self.respond(Method::GET, path, None).await?).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `GET path`, read as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiFailure> {
        let value = self.call(Method::GET, path, None).await?;
        serde_json::from_value(value)
            .map_err(|e| ApiFailure::internal(format!("unexpected answer from {path}: {e}")))
    }
}

async fn read(response: Response) -> Result<Vec<u8>, ApiFailure> {
    let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER);
    limited
        .collect()
        .await
        .map(|collected| collected.to_bytes().to_vec())
        .map_err(|e| ApiFailure::internal(format!("cannot read the API's answer: {e}")))
}

/// The message of the API's error envelope, or the status's reason.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase()
        })
}

pub(crate) use crate::wire::percent_encode as encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_the_envelope_or_the_status() {
        let body = br#"{"error":{"code":"invalid_scale","message":"web=x is not a number"}}"#;
        assert_eq!(
            error_message(StatusCode::UNPROCESSABLE_ENTITY, body),
            "web=x is not a number"
        );
        assert_eq!(error_message(StatusCode::NOT_FOUND, b"<html>"), "not found");
    }
}
