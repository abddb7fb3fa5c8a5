//! Router logs: Caddy prints one JSON access line per request (logger `http.log.access.APP`) to
//! its journal; skiffd follows those lines and writes each again as a Heroku-style router line
//! (`at=info method=GET path="/" … dyno=web.1 service=3ms status=200`) tagged `SKIFF_APP=APP`,
//! so `journalctl SKIFF_APP=APP` and `skiff logs` show it. The last relayed cursor is kept on
//! disk, so lines printed while skiffd was down are relayed when it is back.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::systemd::names::CADDY_UNIT;

/// `SYSLOG_IDENTIFIER` of router lines; `skiff logs` shows them as `skiff[router]`.
pub const ROUTER_IDENTIFIER: &str = "skiff-router";
/// journald's native protocol socket.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// Save the cursor after this many relayed lines (and whenever the stream pauses).
const CURSOR_EVERY: usize = 64;

/// One request as the router saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterLine {
    pub app: String,
    pub message: String,
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
    let at = if status >= 500 { "error" } else { "info" };
    let message = format!(
        "at={at} method={} path={:?} host={} request_id={request_id} fwd={:?} dyno={dyno} service={service_ms}ms status={status} bytes={bytes} protocol={}",
        text(request, &["method"])?,
        text(request, &["uri"])?,
        text(request, &["host"])?,
        text(request, &["remote_ip"]).unwrap_or("-"),
        text(request, &["proto"]).unwrap_or("-"),
    );
    Some(RouterLine {
        app: app.to_owned(),
        message,
    })
}

/// journald's native-protocol datagram for a router line.
pub fn journal_datagram(line: &RouterLine) -> Vec<u8> {
    let mut out = Vec::new();
    // Lines a root daemon writes about a unit carry OBJECT_SYSTEMD_UNIT; journalctl's
    // `--unit=skiff-APP.*` (what `skiff logs` runs) then finds them beside the dynos' lines.
    let object = format!("skiff-{}.router", line.app);
    for (key, value) in [
        ("MESSAGE", line.message.as_str()),
        ("PRIORITY", "6"),
        ("SYSLOG_IDENTIFIER", ROUTER_IDENTIFIER),
        ("SKIFF_APP", line.app.as_str()),
        ("OBJECT_SYSTEMD_UNIT", object.as_str()),
    ] {
        // Values never hold a newline here (the message is one formatted line).
        out.extend_from_slice(format!("{key}={}\n", value.replace('\n', " ")).as_bytes());
    }
    out
}

/// Follows Caddy's journal and relays access lines until the process ends; returns when
/// `journalctl` exits (the caller restarts it).
pub async fn relay(cursor_file: PathBuf) -> std::io::Result<()> {
    let journal = UnixDatagram::unbound()?;
    let mut args = vec![
        "--output=json".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
        "--follow".to_owned(),
        format!("_SYSTEMD_UNIT={CADDY_UNIT}"),
    ];
    match std::fs::read_to_string(&cursor_file) {
        Ok(c) if !c.trim().is_empty() => args.push(format!("--after-cursor={}", c.trim())),
        _ => args.push("--lines=0".to_owned()),
    }
    let (_child, mut lines) = super::source::spawn_journalctl(args)?;
    let mut unsaved = 0usize;
    let mut cursor = String::new();
    loop {
        let next = if unsaved > 0 {
            match tokio::time::timeout(std::time::Duration::from_millis(500), lines.next_line())
                .await
            {
                Ok(line) => line?,
                Err(_) => {
                    save_cursor(&cursor_file, &cursor);
                    unsaved = 0;
                    continue;
                }
            }
        } else {
            lines.next_line().await?
        };
        let Some(line) = next else {
            save_cursor(&cursor_file, &cursor);
            return Ok(());
        };
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(c) = entry.get("__CURSOR").and_then(Value::as_str) {
            cursor = c.to_owned();
        }
        if let Some(router) = super::message(&entry).as_deref().and_then(router_line) {
            if let Err(e) = journal.send_to(&journal_datagram(&router), JOURNAL_SOCKET) {
                tracing::debug!(error = %e, "cannot write a router line to journald");
            }
        }
        unsaved += 1;
        if unsaved >= CURSOR_EVERY {
            save_cursor(&cursor_file, &cursor);
            unsaved = 0;
        }
    }
}

fn save_cursor(path: &Path, cursor: &str) {
    if cursor.is_empty() {
        return;
    }
    if let Err(e) = crate::files::write_private(path, cursor.as_bytes()) {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the router log cursor");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS: &str = r#"{"level":"info","ts":1795309047.759,"logger":"http.log.access.my-app","msg":"handled request","request":{"remote_ip":"10.0.0.7","remote_port":"40856","proto":"HTTP/1.1","method":"GET","host":"my-app.localhost","uri":"/a?b=1","headers":{"User-Agent":["curl/7.88.1"]}},"user_id":"","duration":0.0123,"size":13,"status":200,"resp_headers":{"Server":["Caddy"],"X-Skiff-Dyno":["web.2"],"X-Request-Id":["5f0c"]}}"#;

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
