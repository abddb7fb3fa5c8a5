//! Health checks of new web dynos before they get traffic: a TCP connection to their port, or an
//! HTTP GET of the app's path answering the expected status, retried until the boot timeout.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::model::HealthCheck;

/// Pause between two attempts: short, because a new dyno's first requests (a deploy's switch,
/// a sleeping app's wake) wait for the attempt that finds it ready.
const RETRY_EVERY: Duration = Duration::from_millis(20);
/// Longest one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// One health-check attempt against a dyno's port.
#[async_trait::async_trait]
pub trait Prober: Send + Sync {
    /// `Ok` when the dyno at `ip:port` passes `check`; otherwise what went wrong, in words.
    async fn attempt(
        &self,
        ip: IpAddr,
        port: u16,
        check: &HealthCheck,
        host: &str,
    ) -> Result<(), String>;
}

/// Probes over TCP: a dyno's namespace address, or loopback on the host's network.
pub struct NetProber;

/// Where a dyno on the host's network listens.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[async_trait::async_trait]
impl Prober for NetProber {
    async fn attempt(
        &self,
        ip: IpAddr,
        port: u16,
        check: &HealthCheck,
        host: &str,
    ) -> Result<(), String> {
        let stream = TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let Some(path) = &check.path else {
            return Ok(());
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let connection = tokio::spawn(connection);
        let request = Request::get(path.as_str())
            .header(hyper::header::HOST, host)
            .header(hyper::header::USER_AGENT, "skiff-health-check")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        connection.abort();
        let status = response.status().as_u16();
        if check.accepts(status) {
            Ok(())
        } else {
            Err(format!("GET {path} answered {status}"))
        }
    }
}

/// Tries until the dyno passes or `check.timeout` runs out; the error says why it never passed.
pub async fn wait_healthy(
    prober: &dyn Prober,
    ip: IpAddr,
    port: u16,
    check: &HealthCheck,
    host: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + check.timeout;
    loop {
        // No attempt outlives the check's own deadline, however long a dyno keeps it waiting.
        let bound = ATTEMPT_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        let last = match tokio::time::timeout(bound, prober.attempt(ip, port, check, host)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {:.1}s", bound.as_secs_f64()),
        };
        if Instant::now() + RETRY_EVERY >= deadline {
            // In a private network the dyno's own loopback is not where the proxy comes from.
            let hint = if ip != LOOPBACK && last.contains("refused") {
                " (a web dyno must listen on 0.0.0.0:$PORT; 127.0.0.1 is only reachable from inside its app)"
            } else {
                ""
            };
            return Err(format!(
                "failed its health check ({check}) on port {port}: {last}{hint}"
            ));
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Answers healthy at once, except for the ports it is told are broken.
#[derive(Default)]
#[cfg(any(test, feature = "fakes"))]
pub struct FakeProber {
    broken: std::sync::Mutex<std::collections::BTreeSet<u16>>,
}

#[cfg(any(test, feature = "fakes"))]
impl FakeProber {
    pub fn break_port(&self, port: u16) {
        self.broken.lock().expect("fake prober lock").insert(port);
    }
}

#[cfg(any(test, feature = "fakes"))]
#[async_trait::async_trait]
impl Prober for FakeProber {
    async fn attempt(
        &self,
        _ip: IpAddr,
        port: u16,
        _check: &HealthCheck,
        _host: &str,
    ) -> Result<(), String> {
        if self
            .broken
            .lock()
            .expect("fake prober lock")
            .contains(&port)
        {
            Err("connection refused".into())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP server answering `status` to every request.
    async fn server(status: u16) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        port
    }

    /// Accepts connections and never answers on them.
    async fn silent_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        port
    }

    fn check(path: Option<&str>, status: Option<u32>, secs: u64) -> HealthCheck {
        HealthCheck::new(path, status, Some(Duration::from_secs(secs))).unwrap()
    }

    #[tokio::test]
    async fn tcp_and_http_checks_pass_against_a_listening_server() {
        let ok = server(200).await;
        wait_healthy(&NetProber, LOOPBACK, ok, &check(None, None, 1), "h")
            .await
            .unwrap();
        wait_healthy(
            &NetProber,
            LOOPBACK,
            ok,
            &check(Some("/up"), Some(200), 1),
            "h",
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_wrong_status_or_a_closed_port_fails_after_the_timeout_with_the_reason() {
        let bad = server(503).await;
        let err = wait_healthy(&NetProber, LOOPBACK, bad, &check(Some("/up"), None, 1), "h")
            .await
            .unwrap_err();
        assert!(err.contains("GET /up answered 503"), "{err}");
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let started = Instant::now();
        let err = wait_healthy(&NetProber, LOOPBACK, port, &check(None, None, 1), "h")
            .await
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(700));
        assert!(err.contains(&format!("on port {port}")), "{err}");
        assert!(err.contains("refused"), "{err}");
    }

    #[tokio::test]
    async fn a_dyno_that_accepts_and_never_answers_fails_within_the_check_timeout() {
        let port = silent_server().await;
        let started = Instant::now();
        let err = wait_healthy(
            &NetProber,
            LOOPBACK,
            port,
            &check(Some("/up"), None, 1),
            "h",
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        assert!(err.contains("no answer within"), "{err}");
    }
}
