//! Caddy's admin API over its Unix socket: `GET /config/` to compare, `POST /load` to replace the
//! whole config atomically (Caddy rolls back by itself if the new config fails to start).

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;

use super::{Proxy, ProxyError};

/// Longest one admin-API call may take, connecting included: a hung Caddy must not stall a
/// reconciler round.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Talks to the Caddy whose admin endpoint listens on `socket`.
pub struct CaddyAdmin {
    socket: PathBuf,
    timeout: Duration,
}

impl CaddyAdmin {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            timeout: CALL_TIMEOUT,
        }
    }

    /// One request, given up after the call timeout.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ProxyError> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, body))
            .await
            .unwrap_or_else(|_| {
                Err(ProxyError::Timeout {
                    socket: self.socket.display().to_string(),
                    seconds: self.timeout.as_secs(),
                })
            })
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ProxyError> {
        let unreachable = |reason: String| ProxyError::Unreachable {
            socket: self.socket.display().to_string(),
            reason,
        };
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(format!("HTTP handshake: {e}")))?;
        tokio::spawn(connection);
        // Caddy checks the Host of admin requests against its allowed origins.
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ProxyError::Protocol(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ProxyError::Protocol(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// The config Caddy runs now (`null` when it has none).
    pub async fn current(&self) -> Result<Value, ProxyError> {
        let (status, bytes) = self.call(Method::GET, "/config/", Vec::new()).await?;
        if !status.is_success() {
            return Err(ProxyError::Protocol(format!(
                "GET /config/ answered {status}: {}",
                String::from_utf8_lossy(&bytes).trim()
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| ProxyError::Protocol(e.to_string()))
    }
}

#[async_trait::async_trait]
impl Proxy for CaddyAdmin {
    async fn apply(&self, config: &Value) -> Result<bool, ProxyError> {
        if &self.current().await? == config {
            return Ok(false);
        }
        let body = serde_json::to_vec(config).map_err(|e| ProxyError::Protocol(e.to_string()))?;
        let (status, bytes) = self.call(Method::POST, "/load", body).await?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.trim().to_owned());
            return Err(ProxyError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    #[tokio::test]
    async fn a_caddy_that_accepts_and_never_answers_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let admin = CaddyAdmin {
            socket,
            timeout: Duration::from_millis(300),
        };
        let started = std::time::Instant::now();
        let err = admin.apply(&serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ProxyError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        hold.abort();
    }

    #[tokio::test]
    async fn a_missing_socket_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let admin = CaddyAdmin::new(dir.path().join("none.sock"));
        let err = admin.current().await.unwrap_err();
        assert!(matches!(err, ProxyError::Unreachable { .. }), "{err}");
    }
}
