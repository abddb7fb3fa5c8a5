//! Who is calling: peer credentials on the Unix socket, bearer tokens on TCP and on the socket
//! skiff's Caddy proxies `api_domain` to.

use std::net::SocketAddr;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, UnixListener};

use super::error::ApiError;
use super::AppState;
use crate::model::{ApiToken, TokenName};

/// The far end of a connection, captured when it is accepted.
#[derive(Debug, Clone)]
pub enum Peer {
    Unix {
        uid: Option<u32>,
        gid: Option<u32>,
        pid: Option<i32>,
    },
    Tcp(SocketAddr),
    /// A request skiff's Caddy proxied from `api_domain`: a remote client like one on TCP.
    Proxied,
    /// The dashboard, calling in-process for a browser with a live session; no listener
    /// produces it.
    Dashboard,
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        match stream.io().peer_cred() {
            Ok(cred) => Peer::Unix {
                uid: Some(cred.uid()),
                gid: Some(cred.gid()),
                pid: cred.pid(),
            },
            Err(_) => Peer::Unix {
                uid: None,
                gid: None,
                pid: None,
            },
        }
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer::Tcp(*stream.remote_addr())
    }
}

/// The socket skiff's Caddy proxies `api_domain` to. Its peer is always Caddy, so its peer
/// credentials say nothing of the client: every request on it needs a token.
pub struct ProxiedListener(pub UnixListener);

impl axum::serve::Listener for ProxiedListener {
    type Io = <UnixListener as axum::serve::Listener>::Io;
    type Addr = <UnixListener as axum::serve::Listener>::Addr;

    fn accept(&mut self) -> impl std::future::Future<Output = (Self::Io, Self::Addr)> + Send {
        axum::serve::Listener::accept(&mut self.0)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        axum::serve::Listener::local_addr(&self.0)
    }
}

impl Connected<IncomingStream<'_, ProxiedListener>> for Peer {
    fn connect_info(_: IncomingStream<'_, ProxiedListener>) -> Self {
        Peer::Proxied
    }
}

/// An authenticated caller, available to handlers as an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A local user on the socket: root, skiffd's own user, or a member of the admin group.
    Local { uid: u32 },
    /// A remote client that presented a valid token.
    Token { name: TokenName },
    /// A browser session of the dashboard.
    Dashboard,
}

impl Caller {
    pub fn describe(&self) -> String {
        match self {
            Caller::Local { uid } => format!("uid:{uid}"),
            Caller::Token { name } => format!("token:{name}"),
            Caller::Dashboard => "dashboard".to_owned(),
        }
    }

    /// Token management is for local administrators only.
    pub fn require_local(&self) -> Result<(), ApiError> {
        match self {
            Caller::Local { .. } => Ok(()),
            Caller::Token { .. } | Caller::Dashboard => Err(ApiError::forbidden(
                "tokens can be managed only over the local socket",
            )),
        }
    }
}

/// Who may use the local socket besides root.
#[derive(Debug, Clone, Copy)]
pub struct LocalPolicy {
    /// The uid skiffd runs as (root in production; the test user in tests).
    pub daemon_uid: u32,
    /// The `skiff` group's gid, when that group exists.
    pub admin_gid: Option<u32>,
}

impl LocalPolicy {
    /// Pure decision: `groups` are the caller's primary and supplementary groups.
    pub fn allows(&self, uid: u32, groups: &[u32]) -> bool {
        uid == 0
            || uid == self.daemon_uid
            || self.admin_gid.is_some_and(|admin| groups.contains(&admin))
    }
}

/// Parses the `Groups:` line of `/proc/PID/status`.
pub fn supplementary_groups(proc_status: &str) -> Vec<u32> {
    proc_status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn local_caller(
    policy: &LocalPolicy,
    uid: Option<u32>,
    gid: Option<u32>,
    pid: Option<i32>,
) -> Result<Caller, ApiError> {
    let uid = uid.ok_or_else(|| {
        ApiError::forbidden("cannot read the peer credentials of this connection")
    })?;
    let mut groups: Vec<u32> = gid.into_iter().collect();
    if let Some(pid) = pid {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            groups.extend(supplementary_groups(&status));
        }
    }
    if policy.allows(uid, &groups) {
        Ok(Caller::Local { uid })
    } else {
        Err(ApiError::forbidden(
            "permission denied: only root and members of group skiff may use the local API",
        ))
    }
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A remote client: the one whose valid token the request carries.
async fn token_caller(
    state: &AppState,
    presented: Option<String>,
    remote: &str,
) -> Result<Caller, ApiError> {
    let presented = presented.ok_or_else(|| {
        ApiError::unauthorized("a bearer token is required: send 'Authorization: Bearer <token>' (create one with 'skiff tokens:create NAME')")
    })?;
    let name = state
        .store
        .authenticate_token(ApiToken::presented(&presented).hash())
        .await?
        .ok_or_else(|| {
            tracing::warn!(%remote, "refused a request with an invalid or revoked token");
            ApiError::unauthorized("invalid or revoked token")
        })?;
    Ok(Caller::Token { name })
}

/// Middleware: decides the caller for every request, or refuses it.
pub async fn authenticate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = match peer {
        Peer::Unix { uid, gid, pid } => local_caller(&state.local_policy, uid, gid, pid)?,
        Peer::Tcp(remote) => {
            let presented = bearer(&request).map(str::to_owned);
            token_caller(&state, presented, &remote.to_string()).await?
        }
        Peer::Proxied => {
            let remote = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("the proxy")
                .to_owned();
            let presented = bearer(&request).map(str::to_owned);
            token_caller(&state, presented, &remote).await?
        }
        Peer::Dashboard => Caller::Dashboard,
    };
    tracing::debug!(caller = %caller.describe(), "authenticated");
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_root_the_daemon_user_and_the_admin_group_only() {
        let policy = LocalPolicy {
            daemon_uid: 0,
            admin_gid: Some(990),
        };
        assert!(policy.allows(0, &[]));
        assert!(policy.allows(1000, &[1000, 990]));
        assert!(!policy.allows(1000, &[1000, 27]));
        let no_group = LocalPolicy {
            daemon_uid: 1000,
            admin_gid: None,
        };
        assert!(no_group.allows(1000, &[]));
        assert!(!no_group.allows(1001, &[990]));
    }

    #[test]
    fn parses_groups_from_proc_status() {
        let status =
            "Name:\tbash\nUid:\t1000\t1000\t1000\t1000\nGroups:\t24 27 990 \nVmPeak:\t1 kB\n";
        assert_eq!(supplementary_groups(status), vec![24, 27, 990]);
        assert_eq!(supplementary_groups("Groups:\n"), Vec::<u32>::new());
        assert_eq!(supplementary_groups("Name:\tx\n"), Vec::<u32>::new());
    }
}
