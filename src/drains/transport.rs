//! Sending a batch of lines to a drain: octet-counted syslog over a kept TCP or TLS connection,
//! or one HTTPS POST of a JSON array per batch; every step under a timeout.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::model::{syslog_frame, DrainLine, DrainTransport, DrainUrl};

/// How long connecting and sending one batch may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// A syslog connection, plain or TLS.
trait Connection: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Connection for T {}

type Stream = Box<dyn Connection>;

/// A drain's way out; a syslog connection is kept between batches and made again after a failure.
pub(super) struct Sender {
    url: DrainUrl,
    syslog: Option<Stream>,
}

impl Sender {
    pub(super) fn new(url: DrainUrl) -> Self {
        Self { url, syslog: None }
    }

    /// Sends `lines` whole, or says why not (the connection is dropped then).
    pub(super) async fn send(&mut self, lines: &[DrainLine]) -> Result<(), String> {
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.try_send(lines)).await;
        let result = match sent {
            Ok(result) => result,
            Err(_) => Err(format!("no delivery within {SEND_TIMEOUT:?}")),
        };
        if result.is_err() {
            self.syslog = None;
        }
        result
    }

    async fn try_send(&mut self, lines: &[DrainLine]) -> Result<(), String> {
        if self.url.transport() == DrainTransport::Https {
            return post(&self.url, lines).await;
        }
        // A receiver that closed the connection would take one more write into the kernel's
        // buffer and lose it: a closed one is made again first.
        if let Some(stream) = self.syslog.as_mut() {
            let mut probe = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::ZERO, stream.read(&mut probe)).await
            {
                self.syslog = None;
            }
        }
        if self.syslog.is_none() {
            self.syslog = Some(connect(&self.url).await?);
        }
        let stream = self.syslog.as_mut().expect("connected above");
        let frames: Vec<u8> = lines.iter().flat_map(syslog_frame).collect();
        stream
            .write_all(&frames)
            .await
            .map_err(|e| format!("writing to {}: {e}", self.url))?;
        stream
            .flush()
            .await
            .map_err(|e| format!("writing to {}: {e}", self.url))
    }
}

async fn connect(url: &DrainUrl) -> Result<Stream, String> {
    let (host, port) = (url.host(), url.port());
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    Ok(match url.transport() {
        DrainTransport::SyslogTls => Box::new(
            crate::tls::connect(host, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?,
        ),
        _ => Box::new(tcp),
    })
}

async fn post(url: &DrainUrl, lines: &[DrainLine]) -> Result<(), String> {
    let body = serde_json::to_vec(lines).map_err(|e| e.to_string())?;
    let authority = url.authority();
    let target = crate::outbound::Target {
        tls: true,
        host: url.host(),
        port: url.port(),
        authority: &authority,
        path_and_query: url.path(),
    };
    let status = crate::outbound::post(&target, "application/json", body).await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {status}"))
    }
}
