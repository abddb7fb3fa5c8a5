//! Alert webhooks: each firing or resolved alert is one JSON POST to the app's (or the
//! server's) `alert_webhook`, sent by one task in the order the alerts changed, retried with
//! doubling pauses (`model::WEBHOOK_RETRY_DELAYS`), each attempt given up after 10 s. The
//! monitor only queues a delivery; a slow or dead receiver never holds anything else up.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::journal::router::log_app_event;
use crate::model::{AppName, WebhookUrl, WEBHOOK_RETRY_DELAYS};

/// How long one attempt may take, connecting included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries waiting beyond this many are dropped (and said so in journald).
const QUEUE: usize = 256;
/// journald's warning priority.
const WARNING: u8 = 4;

/// What a receiver gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertPayload {
    pub app: String,
    pub alert: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// What the rule saw: `errors 35.0%`, `web.1 crashed`.
    pub value: String,
    /// When it began firing (RFC 3339).
    pub since: String,
    /// When it changed (RFC 3339).
    pub at: String,
}

#[derive(Debug)]
struct Delivery {
    url: WebhookUrl,
    app: AppName,
    payload: AlertPayload,
}

/// Queues deliveries for the sending task.
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Delivery>,
}

impl Notifier {
    /// The notifier and its sending task (to spawn), which ends once every notifier is gone.
    pub fn new() -> (Self, impl std::future::Future<Output = ()>) {
        let (queue, deliveries) = mpsc::channel(QUEUE);
        (Self { queue }, send_all(deliveries))
    }

    /// Queues one POST; never waits.
    pub fn send(&self, url: WebhookUrl, app: &AppName, payload: AlertPayload) {
        let delivery = Delivery {
            url,
            app: app.clone(),
            payload,
        };
        if let Err(e) = self.queue.try_send(delivery) {
            let why = format!("alert webhook dropped: more than {QUEUE} deliveries wait ({e})");
            log_app_event(app, WARNING, &why, &[]);
        }
    }
}

async fn send_all(mut deliveries: mpsc::Receiver<Delivery>) {
    while let Some(d) = deliveries.recv().await {
        let body = serde_json::to_vec(&d.payload).expect("a payload serializes");
        let mut last_error = String::new();
        for pause in std::iter::once(None).chain(WEBHOOK_RETRY_DELAYS.iter().map(Some)) {
            if let Some(pause) = pause {
                tokio::time::sleep(*pause).await;
            }
            match tokio::time::timeout(ATTEMPT_TIMEOUT, post(&d.url, body.clone())).await {
                Ok(Ok(())) => {
                    last_error.clear();
                    break;
                }
                Ok(Err(e)) => last_error = e,
                Err(_) => last_error = format!("no answer within {ATTEMPT_TIMEOUT:?}"),
            }
        }
        if !last_error.is_empty() {
            let attempts = WEBHOOK_RETRY_DELAYS.len() + 1;
            let why = format!(
                "alert webhook {} failed {attempts} times, last: {last_error}; the {} alert {:?} was not delivered",
                d.url, d.payload.state, d.payload.alert
            );
            log_app_event(&d.app, WARNING, &why, &[("SKIFF_ALERT", &d.payload.alert)]);
        }
    }
}

/// The host and port a URL's authority names (`[::1]:80` → `::1`, 80).
fn host_port(url: &WebhookUrl) -> Result<(String, u16), String> {
    let authority = url.authority();
    let default = if url.is_https() { 443 } else { 80 };
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or("a bad IPv6 address")?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
        None => default,
    };
    Ok((host.to_owned(), port))
}

async fn post(url: &WebhookUrl, body: Vec<u8>) -> Result<(), String> {
    let (host, port) = host_port(url)?;
    let target = crate::outbound::Target {
        tls: url.is_https(),
        host: &host,
        port,
        authority: url.authority(),
        path_and_query: &url.path_and_query(),
    };
    let status = crate::outbound::post(&target, "application/json", body).await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_come_from_the_url() {
        for (raw, host, port) in [
            ("http://127.0.0.1:9000/hook", "127.0.0.1", 9000),
            ("https://hooks.example.org/x", "hooks.example.org", 443),
            ("http://[::1]:8080/", "::1", 8080),
            ("http://[::1]/", "::1", 80),
        ] {
            let url = WebhookUrl::parse(raw).unwrap();
            assert_eq!(host_port(&url).unwrap(), (host.to_owned(), port), "{raw}");
        }
        let url = WebhookUrl::parse("http://h:port/").unwrap();
        assert!(host_port(&url).is_err());
    }

    #[tokio::test]
    async fn a_delivery_is_posted_as_json() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\"at\"") {
                let n = conn.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/hook?k=1")).unwrap();
        let payload = AlertPayload {
            app: "shop".into(),
            alert: "crashed".into(),
            state: "firing".into(),
            value: "web.1 crashed".into(),
            since: "2026-12-03T10:00:00Z".into(),
            at: "2026-12-03T10:00:00Z".into(),
        };
        post(&url, serde_json::to_vec(&payload).unwrap())
            .await
            .unwrap();
        let got = server.await.unwrap();
        assert!(got.starts_with("POST /hook?k=1 HTTP/1.1\r\n"), "{got}");
        assert!(got.contains("content-type: application/json"), "{got}");
        assert!(got.contains(r#""state":"firing""#), "{got}");
    }
}
