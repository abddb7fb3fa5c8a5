//! The dashboard's rules that the API and the dashboard share: where it is reached, what a login
//! link looks like, and how long links and sessions live.

use std::time::Duration;

/// A login link works once, within this time.
pub const LOGIN_LINK_TTL: Duration = Duration::from_secs(10 * 60);
/// A session ends this long after it began, or earlier when ended.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// The local port the hint's SSH tunnel forwards to the dashboard socket.
const TUNNEL_PORT: u16 = 8080;

/// Where browsers reach the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashboardAddress {
    /// Served by skiff's Caddy on this host, over TLS or not.
    Proxy { host: String, tls: bool },
    /// Only on skiffd's dashboard socket at this path.
    Socket { path: String },
}

impl DashboardAddress {
    /// The page a login link opens, with the link's secret.
    pub fn login_url(&self, secret: &str) -> String {
        let base = match self {
            Self::Proxy { host, tls: true } => format!("https://{host}"),
            Self::Proxy { host, tls: false } => format!("http://{host}"),
            Self::Socket { .. } => format!("http://localhost:{TUNNEL_PORT}"),
        };
        format!("{base}/login?link={secret}")
    }

    /// How to reach a dashboard only served on the socket.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Proxy { .. } => None,
            Self::Socket { path } => Some(format!(
                "the proxy does not serve the dashboard (dashboard = false in skiffd.toml): \
                 open the link through an SSH tunnel, ssh -L {TUNNEL_PORT}:{path} SERVER"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_urls_follow_the_address() {
        let cases = [
            (
                DashboardAddress::Proxy {
                    host: "skiff.example.com".into(),
                    tls: true,
                },
                "https://skiff.example.com/login?link=s3",
                false,
            ),
            (
                DashboardAddress::Proxy {
                    host: "skiff.localhost".into(),
                    tls: false,
                },
                "http://skiff.localhost/login?link=s3",
                false,
            ),
            (
                DashboardAddress::Socket {
                    path: "/run/skiff/dashboard.sock".into(),
                },
                "http://localhost:8080/login?link=s3",
                true,
            ),
        ];
        for (address, url, hinted) in cases {
            assert_eq!(address.login_url("s3"), url);
            assert_eq!(address.hint().is_some(), hinted, "{address:?}");
        }
        let hint = DashboardAddress::Socket {
            path: "/run/skiff/dashboard.sock".into(),
        }
        .hint()
        .unwrap();
        assert!(
            hint.contains("ssh -L 8080:/run/skiff/dashboard.sock"),
            "{hint}"
        );
    }
}
