//! Where the CLI sends requests: the local socket, a remote URL given by `SKIFF_API`, or a
//! server's local socket reached over SSH (`ssh://USER@HOST[:PORT]`).

use std::fmt;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/skiff/api.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Http {
        host: String,
        port: u16,
        tls: bool,
    },
    /// Each request runs `ssh DESTINATION skiff api:relay`, which joins it to the server's
    /// local socket as that user: no TCP listener, and the socket's own permissions decide.
    Ssh {
        /// `USER@HOST` or `HOST`, as ssh takes it.
        destination: String,
        port: Option<u16>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SKIFF_API {0:?} is neither a socket path (/run/skiff/api.sock, unix:/path) nor an http(s)://HOST[:PORT] or ssh://USER@HOST[:PORT] URL")]
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
        if let Some(rest) = raw.strip_prefix("ssh://") {
            return ssh(rest.strip_suffix('/').unwrap_or(rest)).ok_or_else(err);
        }
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
            Self::Unix(_) | Self::Ssh { .. } => "localhost".to_owned(),
            Self::Http { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
            Self::Http { host, port, .. } => format!("{host}:{port}"),
        }
    }
}

/// `USER@HOST[:PORT]` of an ssh:// URL: a user and host without spaces, control characters or
/// a leading `-` (nothing ssh could take for an option).
fn ssh(rest: &str) -> Option<Endpoint> {
    let (destination, port) = match rest.rsplit_once(':') {
        Some((d, p)) => (d, Some(p.parse::<u16>().ok().filter(|p| *p > 0)?)),
        None => (rest, None),
    };
    let (user, host) = match destination.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, destination),
    };
    let fine = |part: &str| {
        !part.is_empty()
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (user.is_none_or(fine) && fine(host)).then(|| Endpoint::Ssh {
        destination: destination.to_owned(),
        port,
    })
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
            Self::Ssh {
                destination,
                port: None,
            } => write!(f, "ssh://{destination}"),
            Self::Ssh {
                destination,
                port: Some(port),
            } => write!(f, "ssh://{destination}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_write() {
        let unix = |p: &str| Endpoint::Unix(PathBuf::from(p));
        let ssh = |d: &str, port| Endpoint::Ssh {
            destination: d.to_owned(),
            port,
        };
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
            (
                Some("ssh://admin@paas.example.com"),
                ssh("admin@paas.example.com", None),
            ),
            (Some("ssh://paas-1:2222/"), ssh("paas-1", Some(2222))),
            (
                Some("ssh://deploy_bot@10.0.0.5:22"),
                ssh("deploy_bot@10.0.0.5", Some(22)),
            ),
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
            "ssh://",
            "ssh://-oProxyCommand=x",
            "ssh://admin@-host",
            "ssh://a b@host",
            "ssh://admin@host:0",
            "ssh://admin@host:port",
            "ssh://admin@host/path",
            "ssh://admin@@host",
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
        let over_ssh = Endpoint::parse(Some("ssh://admin@paas:2222")).unwrap();
        assert_eq!(over_ssh.host_header(), "localhost");
        assert_eq!(over_ssh.to_string(), "ssh://admin@paas:2222");
    }
}
