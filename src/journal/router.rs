//! Router logs: Caddy writes one JSON access line per request (logger `http.log.access.APP`) to
//! its access log file; skiffd follows that file (`access_log.rs`, no helper process) and writes
//! each line again as a Heroku-style router line (`at=info method=GET path="/" … dyno=web.1
//! service=3ms status=200`) tagged `SKIFF_APP=APP`, so `journalctl SKIFF_APP=APP` and `skiff
//! logs` show it. The follower keeps its place on disk, so lines written while skiffd was down
//! are relayed when it is back.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use serde_json::Value;

use crate::activity::Activity;
use crate::metrics::RouterMetrics;
use crate::model::AppName;
use crate::wake::WAKE_HEADER;

/// `SYSLOG_IDENTIFIER` of router lines; `skiff logs` shows them as `skiff[router]`.
pub const ROUTER_IDENTIFIER: &str = "skiff-router";

/// The part of skiffd a line about an app comes from: its router, or skiffd's own doings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonPart {
    Router,
    Skiffd,
}

/// `OBJECT_SYSTEMD_UNIT` of skiffd's lines about `app` from `part`: `skiff-APP.router` or
/// `skiff-APP.skiffd`, inside the `skiff-APP.*` glob `skiff logs` reads, and exact enough for
/// `--source` to pick one part.
pub fn object_unit(app: &str, part: DaemonPart) -> String {
    let part = match part {
        DaemonPart::Router => "router",
        DaemonPart::Skiffd => "skiffd",
    };
    format!("skiff-{app}.{part}")
}
/// journald's native protocol socket.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// One request as the router saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterLine {
    pub app: String,
    pub message: String,
    /// Whether a web dyno answered (the app's activity; the proxy's own pages are not).
    pub reached_dyno: bool,
    /// When the request was logged (milliseconds since the epoch).
    pub at_ms: i64,
    pub status: u16,
    pub service_ms: u64,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))?
        .1
        .get(0)?
        .as_str()
}

/// Turns one of Caddy's access-log lines into a router line; `None` for anything else (Caddy's
/// own messages, requests for unknown hosts).
pub fn router_line(caddy_message: &str) -> Option<RouterLine> {
    let v: Value = serde_json::from_str(caddy_message).ok()?;
    let app = text(&v, &["logger"])?.strip_prefix("http.log.access.")?;
    crate::model::AppName::parse(app).ok()?;
    let request = v.get("request")?;
    let status = v.get("status")?.as_u64()?;
    let service_ms = (v.get("duration")?.as_f64()? * 1000.0).round() as u64;
    let bytes = v.get("size").and_then(Value::as_u64).unwrap_or(0);
    let resp = v.get("resp_headers").cloned().unwrap_or(Value::Null);
    let dyno = header(&resp, "X-Skiff-Dyno").unwrap_or("none");
    let request_id = header(&resp, "X-Request-Id").unwrap_or("-");
    // The request that woke a sleeping app says how long the wake took.
    let wake = header(&resp, WAKE_HEADER)
        .filter(|ms| !ms.is_empty())
        .map(|ms| format!(" wake={ms}"))
        .unwrap_or_default();
    let at = if status >= 500 { "error" } else { "info" };
    let message = format!(
        "at={at} method={} path={:?} host={} request_id={request_id} fwd={:?} dyno={dyno} service={service_ms}ms{wake} status={status} bytes={bytes} protocol={}",
        text(request, &["method"])?,
        text(request, &["uri"])?,
        text(request, &["host"])?,
        text(request, &["remote_ip"]).unwrap_or("-"),
        text(request, &["proto"]).unwrap_or("-"),
    );
    Some(RouterLine {
        app: app.to_owned(),
        message,
        reached_dyno: dyno != "none",
        at_ms: (v.get("ts").and_then(Value::as_f64).unwrap_or(0.0) * 1000.0) as i64,
        status: u16::try_from(status).unwrap_or(u16::MAX),
        service_ms,
    })
}

/// journald's native-protocol datagram for a router line.
pub fn journal_datagram(line: &RouterLine) -> Vec<u8> {
    app_datagram(
        &line.app,
        DaemonPart::Router,
        ROUTER_IDENTIFIER,
        6,
        &line.message,
        &[],
    )
}

/// journald's native-protocol datagram for a line about `app` from skiffd's `part` at syslog
/// `priority`.
pub fn app_datagram(
    app: &str,
    part: DaemonPart,
    identifier: &str,
    priority: u8,
    message: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    // Lines a root daemon writes about a unit carry OBJECT_SYSTEMD_UNIT; journalctl's
    // `--unit=skiff-APP.*` (what `skiff logs` runs) then finds them beside the dynos' lines.
    let object = object_unit(app, part);
    let priority = priority.to_string();
    let fields = [
        ("MESSAGE", message),
        ("PRIORITY", priority.as_str()),
        ("SYSLOG_IDENTIFIER", identifier),
        ("SKIFF_APP", app),
        ("OBJECT_SYSTEMD_UNIT", object.as_str()),
    ];
    native_datagram(fields.into_iter().chain(extra.iter().copied()))
}

/// journald's native protocol: one `KEY=value` line per field; a newline in a value becomes a
/// space (every value here is one formatted line).
fn native_datagram<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in fields {
        out.extend_from_slice(format!("{key}={}\n", value.replace('\n', " ")).as_bytes());
    }
    out
}

/// Sends a datagram to journald; a journald that is not there loses the line, said at debug.
fn send_to_journal(app: &AppName, datagram: &[u8]) {
    let sent = UnixDatagram::unbound().and_then(|s| s.send_to(datagram, JOURNAL_SOCKET));
    if let Err(e) = sent {
        tracing::debug!(app = %app, error = %e, "cannot write an app's line to journald");
    }
}

/// Writes one line about `app` from skiffd itself (a sleep, a wake, an alert) to journald, with
/// any `extra` fields, where `skiff logs` shows it as `skiff: …`.
pub fn log_app_event(app: &AppName, priority: u8, message: &str, extra: &[(&str, &str)]) {
    let datagram = app_datagram(
        app.as_str(),
        DaemonPart::Skiffd,
        "skiffd",
        priority,
        message,
        extra,
    );
    send_to_journal(app, &datagram);
}

/// journald's datagram for one of skiffd's lines about a deploy (`-----> Python app detected`):
/// tagged `SKIFF_BUILD` beside the build unit's own lines, and with no unit object, so it shows in
/// that build's output and not among the app's runtime logs.
pub fn build_datagram(app: &str, build_id: &str, message: &str) -> Vec<u8> {
    native_datagram(
        [
            ("MESSAGE", message),
            ("PRIORITY", "6"),
            ("SYSLOG_IDENTIFIER", "skiffd"),
            ("SKIFF_APP", app),
            ("SKIFF_BUILD", build_id),
        ]
        .into_iter(),
    )
}

/// Writes one of skiffd's lines about a deploy of `app` to journald (see [`build_datagram`]).
pub fn log_build_line(app: &AppName, build_id: &str, message: &str) {
    send_to_journal(app, &build_datagram(app.as_str(), build_id, message));
}

/// Follows Caddy's access log and relays its access lines to journald as router lines until
/// `stop`, counting every request into its app's metrics and each one a dyno answered as its
/// app's activity; returns early only on an error (the caller starts it again).
pub async fn relay(
    access_log: PathBuf,
    position_file: PathBuf,
    activity: Activity,
    metrics: RouterMetrics,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let journal = UnixDatagram::unbound()?;
    super::access_log::follow(access_log, position_file, stop, |line| {
        if let Some(router) = router_line(line) {
            if let Ok(app) = AppName::parse(&router.app) {
                metrics.record(&app, router.at_ms, router.status, router.service_ms);
                if router.reached_dyno {
                    activity.touch(&app, router.at_ms);
                }
            }
            if let Err(e) = journal.send_to(&journal_datagram(&router), JOURNAL_SOCKET) {
                tracing::debug!(error = %e, "cannot write a router line to journald");
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS: &str = r#"{"level":"info","ts":1795309047.759,"logger":"http.log.access.my-app","msg":"handled request","request":{"remote_ip":"10.0.0.7","remote_port":"40856","proto":"HTTP/1.1","method":"GET","host":"my-app.localhost","uri":"/a?b=1","headers":{"User-Agent":["curl/7.88.1"]}},"user_id":"","duration":0.0123,"size":13,"status":200,"resp_headers":{"Server":["Caddy"],"X-Skiff-Dyno":["web.2"],"X-Request-Id":["5f0c"]}}"#;

    #[test]
    fn a_deploy_line_is_tagged_with_its_build_and_no_unit() {
        let datagram =
            String::from_utf8(build_datagram("shop", "b1", "-----> Released v3\nx")).unwrap();
        assert_eq!(
            datagram,
            "MESSAGE=-----> Released v3 x\nPRIORITY=6\nSYSLOG_IDENTIFIER=skiffd\nSKIFF_APP=shop\nSKIFF_BUILD=b1\n"
        );
    }

    #[test]
    fn access_lines_become_heroku_router_lines() {
        let line = router_line(ACCESS).unwrap();
        assert_eq!(line.app, "my-app");
        assert_eq!(
            line.message,
            r#"at=info method=GET path="/a?b=1" host=my-app.localhost request_id=5f0c fwd="10.0.0.7" dyno=web.2 service=12ms status=200 bytes=13 protocol=HTTP/1.1"#
        );
        let datagram = String::from_utf8(journal_datagram(&line)).unwrap();
        assert!(datagram.contains("\nSKIFF_APP=my-app\n"), "{datagram}");
        assert!(
            datagram.ends_with("\nOBJECT_SYSTEMD_UNIT=skiff-my-app.router\n"),
            "{datagram}"
        );
        assert!(datagram.starts_with("MESSAGE=at=info "), "{datagram}");
    }

    #[test]
    fn the_request_that_woke_an_app_shows_the_wake_and_counts_as_activity() {
        let woken = ACCESS.replace(
            r#""X-Request-Id":["5f0c"]"#,
            r#""X-Request-Id":["5f0c"],"X-Skiff-Wake":["1234ms"]"#,
        );
        let line = router_line(&woken).unwrap();
        assert!(
            line.message
                .contains(" service=12ms wake=1234ms status=200 "),
            "{}",
            line.message
        );
        assert!(line.reached_dyno);
        assert_eq!(line.at_ms, 1_795_309_047_759);
        // Requests held while another woke the app carry an empty header: no wake field.
        let joined = ACCESS.replace(
            r#""X-Request-Id":["5f0c"]"#,
            r#""X-Request-Id":["5f0c"],"X-Skiff-Wake":[""]"#,
        );
        assert!(!router_line(&joined).unwrap().message.contains("wake="));
        // The proxy's own pages (maintenance, a failed wake) are no activity.
        let page = ACCESS.replace(r#","X-Skiff-Dyno":["web.2"]"#, "");
        assert!(!router_line(&page).unwrap().reached_dyno);
    }

    #[test]
    fn server_errors_are_marked_and_other_lines_ignored() {
        let failed = ACCESS
            .replace(r#""status":200"#, r#""status":503"#)
            .replace(r#","X-Skiff-Dyno":["web.2"]"#, "");
        let line = router_line(&failed).unwrap();
        assert!(line.message.starts_with("at=error "), "{}", line.message);
        assert!(line.message.contains(" dyno=none "), "{}", line.message);
        for other in [
            r#"{"level":"info","logger":"admin.api","msg":"load"}"#,
            &ACCESS.replace("http.log.access.my-app", "http.log.access"),
            &ACCESS.replace("http.log.access.my-app", "http.log.access.Bad_App"),
            "not json",
        ] {
            assert_eq!(router_line(other), None, "{other}");
        }
    }
}
