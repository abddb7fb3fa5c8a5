//! A small HTTP/1.1 client for skiffd's API over a Unix socket, plain TCP, TLS or SSH.

use futures_util::TryStreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};

use super::endpoint::Endpoint;
use super::CliError;

/// A request's body: bytes in memory, or a file streamed from disk.
type RequestBody = UnsyncBoxBody<Bytes, std::io::Error>;

fn full(payload: Bytes) -> RequestBody {
    Full::new(payload)
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub struct ApiClient {
    endpoint: Endpoint,
    token: Option<String>,
}

impl ApiClient {
    pub fn new(endpoint: Endpoint, token: Option<String>) -> Self {
        Self { endpoint, token }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let bytes = self.send(Method::GET, path, None::<&()>).await?;
        decode(&bytes)
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let bytes = self.send(Method::POST, path, Some(body)).await?;
        decode(&bytes)
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let bytes = self.send(Method::PATCH, path, Some(body)).await?;
        decode(&bytes)
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let bytes = self.send(Method::PUT, path, Some(body)).await?;
        decode(&bytes)
    }

    pub async fn delete(&self, path: &str) -> Result<(), CliError> {
        self.send(Method::DELETE, path, None::<&()>).await.map(drop)
    }

    /// DELETE that answers with what it removed.
    pub async fn delete_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let bytes = self.send(Method::DELETE, path, None::<&()>).await?;
        decode(&bytes)
    }

    /// Posts with no body, for actions whose answer is empty.
    pub async fn post_empty(&self, path: &str) -> Result<(), CliError> {
        self.exchange(Method::POST, path, None, Bytes::new())
            .await
            .map(drop)
    }

    /// POSTs `body` asking to switch the connection to `protocol`; the switched connection, or
    /// the server's error.
    pub async fn upgrade<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        protocol: &str,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>, CliError> {
        let payload =
            Bytes::from(serde_json::to_vec(body).map_err(|e| CliError::Protocol(e.to_string()))?);
        let upgrade = [
            (hyper::header::CONNECTION, "upgrade"),
            (hyper::header::UPGRADE, protocol),
        ];
        let response = self
            .response_with(
                Method::POST,
                path,
                Some("application/json"),
                full(payload),
                &upgrade,
            )
            .await?;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| CliError::Protocol(format!("reading the response: {e}")))?
                .to_bytes();
            return Err(api_error(status, &bytes));
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| CliError::Protocol(format!("switching protocols: {e}")))?;
        Ok(TokioIo::new(upgraded))
    }

    /// GETs a streamed text body and copies it to `out` as it arrives (for `logs -f`).
    pub async fn stream_to(
        &self,
        path: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), CliError> {
        self.copy_answer(Method::GET, path, out).await
    }

    /// POSTs with no body and copies the streamed answer to `out` as it arrives; an answer
    /// cut short is an error.
    pub async fn post_stream_to(
        &self,
        path: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), CliError> {
        self.copy_answer(Method::POST, path, out).await
    }

    async fn copy_answer(
        &self,
        method: Method,
        path: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), CliError> {
        self.stream(method, path, None, Bytes::new(), &mut |data| {
            out.write_all(data)?;
            out.flush()
        })
        .await
    }

    /// POSTs the file at `file` as the body, streamed from disk, and decodes the JSON answer.
    pub async fn post_file<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        file: &std::path::Path,
    ) -> Result<T, CliError> {
        let opened = tokio::fs::File::open(file).await?;
        let length = opened.metadata().await?.len().to_string();
        let chunks = tokio_util::io::ReaderStream::new(opened).map_ok(Frame::data);
        let body = StreamBody::new(chunks).boxed_unsync();
        let headers = [(hyper::header::CONTENT_LENGTH, length.as_str())];
        let response = self
            .response_with(Method::POST, path, Some(content_type), body, &headers)
            .await?;
        decode(&whole_answer(response).await?)
    }

    /// Posts raw bytes and hands each line of the streamed answer (NDJSON) to `on_line`.
    pub async fn post_lines(
        &self,
        path: &str,
        content_type: &str,
        payload: Vec<u8>,
        on_line: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), CliError> {
        let mut pending: Vec<u8> = Vec::new();
        self.stream(
            Method::POST,
            path,
            Some(content_type),
            Bytes::from(payload),
            &mut |data| {
                pending.extend_from_slice(data);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    on_line(&line[..line.len() - 1])?;
                }
                Ok(())
            },
        )
        .await?;
        if !pending.is_empty() {
            on_line(&pending)?;
        }
        Ok(())
    }

    /// Sends a request and hands the body's chunks to `sink` as they arrive.
    async fn stream(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        payload: Bytes,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), CliError> {
        let response = self.response(method, path, content_type, payload).await?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map_err(|e| CliError::Protocol(format!("reading the response: {e}")))?
                .to_bytes();
            return Err(api_error(status, &bytes));
        }
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| CliError::Protocol(format!("reading the stream: {e}")))?;
            if let Some(data) = frame.data_ref() {
                sink(data)?;
            }
        }
        Ok(())
    }

    /// Sends one JSON request; a non-2xx answer becomes `CliError::Api`.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Bytes, CliError> {
        let payload = match body {
            Some(b) => {
                Bytes::from(serde_json::to_vec(b).map_err(|e| CliError::Protocol(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        self.exchange(method, path, body.map(|_| "application/json"), payload)
            .await
    }

    /// One request on a fresh connection; the whole answer, or `CliError::Api` for a non-2xx one.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        payload: Bytes,
    ) -> Result<Bytes, CliError> {
        let response = self.response(method, path, content_type, payload).await?;
        whole_answer(response).await
    }

    /// Sends one request on a fresh connection and returns the response with its body unread.
    async fn response(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        payload: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>, CliError> {
        self.response_with(method, path, content_type, full(payload), &[])
            .await
    }

    async fn response_with(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        payload: RequestBody,
        headers: &[(hyper::header::HeaderName, &str)],
    ) -> Result<hyper::Response<hyper::body::Incoming>, CliError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.endpoint.host_header())
            .header(
                hyper::header::USER_AGENT,
                concat!("skiff/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(hyper::header::CONTENT_TYPE, content_type);
        }
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request
            .body(payload)
            .map_err(|e| CliError::Protocol(e.to_string()))?;
        let response = match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                exchange(stream, request).await?
            }
            Endpoint::Ssh { destination, port } => {
                let stream =
                    super::ssh::connect(destination, *port).map_err(|e| self.connect_error(e))?;
                exchange(stream, request).await.map_err(|e| match e {
                    CliError::Protocol(_) => CliError::Connect(format!(
                        "the SSH connection to {destination} ended before skiffd answered \
                         (ssh or skiff on the server said why above)"
                    )),
                    other => other,
                })?
            }
            Endpoint::Http { host, port, tls } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| self.connect_error(e))?;
                if *tls {
                    let stream = crate::tls::connect(host, stream)
                        .await
                        .map_err(|e| self.connect_error(e))?;
                    exchange(stream, request).await?
                } else {
                    exchange(stream, request).await?
                }
            }
        };
        Ok(response)
    }

    fn connect_error(&self, e: std::io::Error) -> CliError {
        let hint = match (&self.endpoint, e.kind()) {
            (Endpoint::Unix(_), std::io::ErrorKind::PermissionDenied) => {
                " (only root and members of group skiff may use the local API)"
            }
            (
                Endpoint::Unix(_),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused,
            ) => " (is skiffd running? try: systemctl status skiffd)",
            _ => "",
        };
        let reason = match e.kind() {
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => e.to_string(),
        };
        CliError::Connect(format!(
            "cannot connect to skiffd at {}: {reason}{hint}",
            self.endpoint
        ))
    }
}

/// The whole body of an answer, or `CliError::Api` for a non-2xx one.
async fn whole_answer(response: hyper::Response<hyper::body::Incoming>) -> Result<Bytes, CliError> {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::Protocol(format!("reading the response: {e}")))?
        .to_bytes();
    if status.is_success() {
        Ok(bytes)
    } else {
        Err(api_error(status, &bytes))
    }
}

async fn exchange<S>(
    stream: S,
    request: Request<RequestBody>,
) -> Result<hyper::Response<hyper::body::Incoming>, CliError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| CliError::Protocol(format!("HTTP handshake: {e}")))?;
    tokio::spawn(connection.with_upgrades());
    sender
        .send_request(request)
        .await
        .map_err(|e| CliError::Protocol(format!("sending the request: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CliError> {
    serde_json::from_slice(bytes)
        .map_err(|e| CliError::Protocol(format!("unexpected response from skiffd: {e}")))
}

/// Turns an error response into the server's own message when it sent the usual envelope.
fn api_error(status: StatusCode, bytes: &[u8]) -> CliError {
    let message = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            format!(
                "skiffd answered {status}: {}",
                String::from_utf8_lossy(bytes).trim()
            )
        });
    CliError::Api {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_gives_the_servers_message() {
        let err = api_error(
            StatusCode::CONFLICT,
            br#"{"error":{"code":"already_exists","message":"app alpha already exists"}}"#,
        );
        assert_eq!(err.to_string(), "app alpha already exists");
        let err = api_error(StatusCode::BAD_GATEWAY, b"upstream down");
        assert_eq!(
            err.to_string(),
            "skiffd answered 502 Bad Gateway: upstream down"
        );
    }
}
