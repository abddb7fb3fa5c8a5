//! Where the CLI sends requests: the local socket, or a remote URL given by `SKIFF_API`.

use std::fmt;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/skiff/api.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Http { host: String, port: u16, tls: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SKIFF_API {0:?} is neither a socket path (/run/skiff/api.sock, unix:/path) nor an http(s)://HOST[:PORT] URL")]
pub struct EndpointError(pub String);

impl Endpoint {
    /// Parses `SKIFF_API`; `None` or empty means the default local socket.
    pub fn parse(raw: Option<&str>) -> Result<Self, EndpointError> {
        let raw = raw.map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            return Ok(Self::Unix(PathBuf::from(DEFAULT_SOCKET)));
        }
        if let Some(path) = raw.strip_prefix("unix:") {
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if raw.starts_with('/') {
            return Ok(Self::Unix(PathBuf::from(raw)));
        }
        let err = || EndpointError(raw.to_owned());
        let uri: hyper::Uri = raw.parse().map_err(|_| err())?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(err()),
        };
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(err());
        }
        let host = uri
            .host()
            .ok_or_else(err)?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self::Http { host, port, tls })
    }

    /// The value of the `Host` header.
    pub fn host_header(&self) -> String {
        match self {
            Self::Unix(_) => "localhost".to_owned(),
            Self::Http { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
            Self::Http { host, port, .. } => format!("{host}:{port}"),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "{}", path.display()),
            Self::Http { host, port, tls } => {
                write!(
                    f,
                    "{}://{}:{port}",
                    if *tls { "https" } else { "http" },
                    host
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_write() {
        let unix = |p: &str| Endpoint::Unix(PathBuf::from(p));
        let http = |h: &str, port, tls| Endpoint::Http {
            host: h.to_owned(),
            port,
            tls,
        };
        for (raw, want) in [
            (None, unix(DEFAULT_SOCKET)),
            (Some(""), unix(DEFAULT_SOCKET)),
            (Some("/tmp/s.sock"), unix("/tmp/s.sock")),
            (Some("unix:/tmp/s.sock"), unix("/tmp/s.sock")),
            (
                Some("http://127.0.0.1:7070"),
                http("127.0.0.1", 7070, false),
            ),
            (
                Some("https://paas.example.com"),
                http("paas.example.com", 443, true),
            ),
            (
                Some("https://paas.example.com/"),
                http("paas.example.com", 443, true),
            ),
            (Some("http://[::1]:7070"), http("::1", 7070, false)),
        ] {
            assert_eq!(Endpoint::parse(raw).unwrap(), want, "{raw:?}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_reach() {
        for raw in [
            "ftp://x",
            "localhost:7070",
            "relative/path",
            "http://host/v1/sub",
        ] {
            assert!(Endpoint::parse(Some(raw)).is_err(), "{raw}");
        }
    }

    #[test]
    fn host_headers() {
        assert_eq!(
            Endpoint::parse(Some("http://[::1]:7070"))
                .unwrap()
                .host_header(),
            "[::1]:7070"
        );
        assert_eq!(Endpoint::parse(None).unwrap().host_header(), "localhost");
    }
}
