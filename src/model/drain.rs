//! Log drains (pure): where an app's lines are forwarded (`syslog://`, `syslog+tls://`,
//! `https://`), each line as an RFC 5424 message framed by octet counting or as an element of a
//! JSON batch, and the pause after a failed delivery.

use std::time::Duration;

use serde::Serialize;

/// How a drain's lines travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainTransport {
    /// RFC 5424 messages over TCP, octet-counted (RFC 6587).
    Syslog,
    /// The same inside TLS (RFC 5425).
    SyslogTls,
    /// JSON arrays of lines POSTed over TLS.
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    #[error("drain URL {0:?} is not syslog://HOST:PORT, syslog+tls://HOST:PORT or https://HOST[:PORT]/PATH")]
    Url(String),
    #[error("drain URL {0:?} needs a port: syslog has no default one")]
    NoPort(String),
}

/// A drain's URL, checked: its scheme, host and port are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainUrl {
    raw: String,
    transport: DrainTransport,
    host: String,
    port: u16,
    /// The path and query an HTTPS drain posts to (`/` when none).
    path: String,
}

impl DrainUrl {
    pub fn parse(raw: &str) -> Result<Self, DrainError> {
        let bad = || DrainError::Url(raw.to_owned());
        let (scheme, rest) = raw.split_once("://").ok_or_else(bad)?;
        let transport = match scheme {
            "syslog" => DrainTransport::Syslog,
            "syslog+tls" => DrainTransport::SyslogTls,
            "https" => DrainTransport::Https,
            _ => return Err(bad()),
        };
        if raw.len() > 2048 || !raw.chars().all(|c| c.is_ascii_graphic() && c != '\\') {
            return Err(bad());
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        if transport != DrainTransport::Https && path != "/" {
            return Err(bad());
        }
        if authority.contains('@') || path.contains('#') {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == Some(0) {
            return Err(bad());
        }
        let port = match (port, transport) {
            (Some(p), _) => p,
            (None, DrainTransport::Https) => 443,
            (None, _) => return Err(DrainError::NoPort(raw.to_owned())),
        };
        Ok(Self {
            raw: raw.to_owned(),
            transport,
            host: host.to_owned(),
            port,
            path,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn transport(&self) -> DrainTransport {
        self.transport
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Host` header of an HTTPS drain's requests.
    pub fn authority(&self) -> String {
        if self.port == 443 {
            self.host.clone()
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for DrainUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

/// One line on its way to a drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrainLine {
    /// RFC 3339 in UTC, to the microsecond.
    pub time: String,
    pub app: String,
    /// `app` for the app's own output, `skiff` for skiff's and systemd's lines and the router's.
    pub source: &'static str,
    /// The dyno (`web.1`), `router`, or empty for skiff's lines about the whole app.
    pub dyno: String,
    /// syslog severity, 0 (emergency) to 7 (debug).
    pub severity: u8,
    pub message: String,
}

/// Facility local7 (23), as Heroku's drains send.
const FACILITY: u8 = 23;

/// The line as an RFC 5424 message framed by octet counting: `LEN <PRI>1 TIME APP SOURCE DYNO -
/// - MESSAGE`, the app's name as HOSTNAME, the source as APP-NAME and the dyno as PROCID.
pub fn syslog_frame(line: &DrainLine) -> Vec<u8> {
    let field = |value: &str| {
        let v: String = value
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(48)
            .collect();
        if v.is_empty() {
            "-".to_owned()
        } else {
            v
        }
    };
    let message = format!(
        "<{}>1 {} {} {} {} - - {}",
        u16::from(FACILITY) * 8 + u16::from(line.severity.min(7)),
        line.time,
        field(&line.app),
        line.source,
        field(&line.dyno),
        line.message.trim_end_matches('\n')
    );
    format!("{} {message}", message.len()).into_bytes()
}

/// Lines per delivery at most: a syslog write or one HTTPS request.
pub const DRAIN_BATCH: usize = 200;

/// How long a drain waits after a failed delivery before it reads the journal again from its
/// saved place: 1 s, doubling to a minute.
pub fn drain_retry_pause(failures_in_a_row: u32) -> Duration {
    Duration::from_secs(1u64 << failures_in_a_row.saturating_sub(1).min(6))
        .min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_whole() {
        type Case = (
            &'static str,
            Option<(DrainTransport, &'static str, u16, &'static str)>,
        );
        let cases: [Case; 16] = [
            (
                "syslog://logs.example.com:514",
                Some((DrainTransport::Syslog, "logs.example.com", 514, "/")),
            ),
            (
                "syslog+tls://127.0.0.1:6514",
                Some((DrainTransport::SyslogTls, "127.0.0.1", 6514, "/")),
            ),
            (
                "syslog+tls://[::1]:6514",
                Some((DrainTransport::SyslogTls, "::1", 6514, "/")),
            ),
            (
                "https://logs.example.com/in?token=x",
                Some((
                    DrainTransport::Https,
                    "logs.example.com",
                    443,
                    "/in?token=x",
                )),
            ),
            (
                "https://localhost:8443",
                Some((DrainTransport::Https, "localhost", 8443, "/")),
            ),
            (
                "https://localhost:8443?t=1",
                Some((DrainTransport::Https, "localhost", 8443, "/?t=1")),
            ),
            ("http://logs.example.com/", None),
            ("syslog://logs.example.com", None),
            ("syslog://logs.example.com:514/path", None),
            ("syslog://:514", None),
            ("syslog://h:0", None),
            ("syslog://h:99999", None),
            ("https://user:pw@logs.example.com/", None),
            ("https://logs.example.com/a b", None),
            ("ftp://logs.example.com:21", None),
            ("logs.example.com:514", None),
        ];
        for (raw, want) in cases {
            let got = DrainUrl::parse(raw).ok().map(|u| {
                (
                    u.transport(),
                    u.host().to_owned(),
                    u.port(),
                    u.path().to_owned(),
                )
            });
            let want = want.map(|(t, h, p, path)| (t, h.to_owned(), p, path.to_owned()));
            assert_eq!(got, want, "{raw}");
        }
        assert_eq!(
            DrainUrl::parse("syslog://h").unwrap_err(),
            DrainError::NoPort("syslog://h".into())
        );
        assert_eq!(DrainUrl::parse("https://h/x").unwrap().authority(), "h");
        assert_eq!(
            DrainUrl::parse("https://h:8443/x").unwrap().authority(),
            "h:8443"
        );
        assert_eq!(
            DrainUrl::parse("https://[::1]:8443/").unwrap().authority(),
            "[::1]:8443"
        );
    }

    fn line(source: &'static str, dyno: &str, message: &str) -> DrainLine {
        DrainLine {
            time: "2026-12-07T10:00:00.123456Z".into(),
            app: "shop".into(),
            source,
            dyno: dyno.into(),
            severity: 6,
            message: message.into(),
        }
    }

    #[test]
    fn syslog_frames_are_octet_counted_rfc5424() {
        let frame = syslog_frame(&line("app", "web.1", "GET / 200\n"));
        let text = String::from_utf8(frame).unwrap();
        let msg = "<190>1 2026-12-07T10:00:00.123456Z shop app web.1 - - GET / 200";
        assert_eq!(text, format!("{} {msg}", msg.len()));
        let text = String::from_utf8(syslog_frame(&line("skiff", "", "Scaled"))).unwrap();
        assert!(text.ends_with(" shop skiff - - - Scaled"), "{text}");
        // The count is of bytes, not characters.
        let text = String::from_utf8(syslog_frame(&line("app", "web.1", "ünïcode"))).unwrap();
        let (count, rest) = text.split_once(' ').unwrap();
        assert_eq!(count.parse::<usize>().unwrap(), rest.len());
        let mut critical = line("app", "web 1\x07", "x");
        critical.severity = 9;
        let text = String::from_utf8(syslog_frame(&critical)).unwrap();
        assert!(
            text.contains("<191>1 ") && text.contains(" web1 "),
            "{text}"
        );
    }

    #[test]
    fn a_failing_drain_waits_longer_each_time_up_to_a_minute() {
        let pauses: Vec<u64> = (1..=9).map(|n| drain_retry_pause(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
