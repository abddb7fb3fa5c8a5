//! `HealthCheck`: how skiff decides a new web dyno is ready for traffic — a TCP connection on its
//! `PORT`, or an HTTP GET of a path answering an expected status — and how long it may take.

use std::fmt;
use std::time::Duration;

/// Heroku's boot timeout: a web dyno has this long to become healthy by default.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest boot timeout an app may ask for.
pub const MAX_HEALTH_TIMEOUT: Duration = Duration::from_secs(600);
const PATH_MAX_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `None`: a TCP connection is enough. `Some("/health")`: GET it with the app's host name.
    pub path: Option<String>,
    /// The status a GET must answer; `None` accepts any 2xx or 3xx.
    pub status: Option<u16>,
    pub timeout: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: None,
            status: None,
            timeout: DEFAULT_HEALTH_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthCheckError {
    #[error("invalid health check path {0:?}: it must start with / and contain no spaces or control characters (at most {PATH_MAX_LEN} bytes)")]
    Path(String),
    #[error("invalid health check status {0}: use an HTTP status from 100 to 599")]
    Status(u32),
    #[error("invalid health check timeout {0:?}: use 1s to 10m")]
    Timeout(String),
    #[error("a health check status needs a path to GET")]
    StatusWithoutPath,
}

impl HealthCheck {
    /// Validates the parts; `timeout` defaults to [`DEFAULT_HEALTH_TIMEOUT`].
    pub fn new(
        path: Option<&str>,
        status: Option<u32>,
        timeout: Option<Duration>,
    ) -> Result<Self, HealthCheckError> {
        let path = match path {
            None | Some("") => None,
            Some(p) => {
                let ok = p.starts_with('/')
                    && p.len() <= PATH_MAX_LEN
                    && p.chars().all(|c| c.is_ascii_graphic());
                if !ok {
                    return Err(HealthCheckError::Path(p.to_owned()));
                }
                Some(p.to_owned())
            }
        };
        let status = match status {
            None => None,
            Some(s) if (100..=599).contains(&s) => Some(s as u16),
            Some(s) => return Err(HealthCheckError::Status(s)),
        };
        if status.is_some() && path.is_none() {
            return Err(HealthCheckError::StatusWithoutPath);
        }
        let timeout = timeout.unwrap_or(DEFAULT_HEALTH_TIMEOUT);
        if timeout < Duration::from_secs(1) || timeout > MAX_HEALTH_TIMEOUT {
            return Err(HealthCheckError::Timeout(
                humantime::format_duration(timeout).to_string(),
            ));
        }
        Ok(Self {
            path,
            status,
            timeout,
        })
    }

    /// Parses a timeout as `30s`, `2m` or a bare number of seconds.
    pub fn parse_timeout(raw: &str) -> Result<Duration, HealthCheckError> {
        let raw = raw.trim();
        let parsed = match raw.parse::<u64>() {
            Ok(secs) => Ok(Duration::from_secs(secs)),
            Err(_) => humantime::parse_duration(raw),
        };
        parsed.map_err(|_| HealthCheckError::Timeout(raw.to_owned()))
    }

    /// Whether an HTTP status passes this check.
    pub fn accepts(&self, status: u16) -> bool {
        match self.status {
            Some(want) => status == want,
            None => (200..400).contains(&status),
        }
    }
}

impl fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let within = humantime::format_duration(self.timeout);
        match (&self.path, self.status) {
            (None, _) => write!(f, "TCP connection on $PORT within {within}"),
            (Some(p), Some(s)) => write!(f, "GET {p} answers {s} within {within}"),
            (Some(p), None) => write!(f, "GET {p} answers 2xx or 3xx within {within}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_a_tcp_check_within_heroku_boot_timeout() {
        let h = HealthCheck::new(None, None, None).unwrap();
        assert_eq!(h, HealthCheck::default());
        assert_eq!(h.to_string(), "TCP connection on $PORT within 1m");
        assert!(h.accepts(302) && !h.accepts(500));
    }

    #[test]
    fn http_checks_validate_path_status_and_timeout() {
        let h =
            HealthCheck::new(Some("/health?x=1"), Some(204), Some(Duration::from_secs(5))).unwrap();
        assert_eq!(h.to_string(), "GET /health?x=1 answers 204 within 5s");
        assert!(h.accepts(204) && !h.accepts(200));
        for (path, status, timeout, want) in [
            (Some("health"), None, None, "must start with /"),
            (Some("/a b"), None, None, "must start with /"),
            (Some("/ok"), Some(99), None, "100 to 599"),
            (None, Some(200), None, "needs a path"),
            (Some("/ok"), None, Some(Duration::ZERO), "1s to 10m"),
            (
                Some("/ok"),
                None,
                Some(Duration::from_secs(601)),
                "1s to 10m",
            ),
        ] {
            let err = HealthCheck::new(path, status, timeout).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
    }

    #[test]
    fn timeouts_read_as_seconds_or_durations() {
        assert_eq!(
            HealthCheck::parse_timeout("30").unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(
            HealthCheck::parse_timeout("2m").unwrap(),
            Duration::from_secs(120)
        );
        assert!(HealthCheck::parse_timeout("soon").is_err());
    }
}
