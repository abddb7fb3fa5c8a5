//! skiffd's outbound HTTP requests (alert webhooks, HTTPS log drains): one POST per connection,
//! over TLS with the system's trusted roots when asked; callers put a timeout around it.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where a POST goes.
pub(crate) struct Target<'a> {
    pub tls: bool,
    pub host: &'a str,
    pub port: u16,
    /// The `Host` header.
    pub authority: &'a str,
    pub path_and_query: &'a str,
}

/// POSTs `body` as `content_type`; the receiver's status, or what went wrong in words.
pub(crate) async fn post(
    target: &Target<'_>,
    content_type: &str,
    body: Vec<u8>,
) -> Result<StatusCode, String> {
    let (host, port) = (target.host, target.port);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(target.path_and_query)
        .header("host", target.authority)
        .header("content-type", content_type)
        .header("user-agent", concat!("skiff/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    if target.tls {
        let tls = crate::tls::connect(host, stream)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        exchange(tls, request).await
    } else {
        exchange(stream, request).await
    }
}

async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<StatusCode, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let status = response.status();
    // Read the answer to its end so the connection closes cleanly.
    let _ = response.into_body().collect().await;
    Ok(status)
}
