//! The sockets skiffd serves on: the API's (and the optional TCP listener), the wake socket
//! skiff's Caddy asks, and the dashboard's; who may connect to each; where login links point.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tokio::net::{TcpListener, UnixListener};

use super::{layout, ADMIN_GROUP};
use crate::config::{Config, TlsMode};
use crate::model::DashboardAddress;

/// The sockets skiffd serves on; bound before the daemon runs so tests can pass their own.
pub struct Listeners {
    pub unix: UnixListener,
    pub tcp: Option<TcpListener>,
    /// The wake socket skiff's Caddy asks before it sends a sleeping app's requests on.
    pub wake: UnixListener,
    /// The dashboard's socket, which skiff's Caddy proxies to.
    pub dashboard: UnixListener,
    /// The API's socket for the requests skiff's Caddy proxies from `api_domain`, when set.
    pub api_proxied: Option<crate::api::ProxiedListener>,
}

impl Listeners {
    /// Binds the API socket (mode 0660, group skiff when it exists), the wake socket and the
    /// socket of the API's proxied requests (mode 0660, group caddy when it exists), the dashboard socket (mode 0666: every request on it needs
    /// a dashboard session, as it would through the proxy) and the optional TCP listener.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let unix = bind_unix(&config.socket_path, admin_gid(), 0o660)?;
        let wake = bind_unix(&wake_socket(config), gid_of(PROXY_GROUP), 0o660)?;
        let dashboard = bind_unix(&dashboard_socket(config), None, 0o666)?;
        let api_proxied = match config.api_domain.0 {
            Some(_) => Some(crate::api::ProxiedListener(bind_unix(
                &api_proxied_socket(config),
                gid_of(PROXY_GROUP),
                0o660,
            )?)),
            None => None,
        };
        let tcp = match config.listen_tcp {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on listen_tcp {addr}"))?,
            ),
            None => None,
        };
        Ok(Self {
            unix,
            tcp,
            wake,
            dashboard,
            api_proxied,
        })
    }
}

pub(super) fn admin_gid() -> Option<u32> {
    gid_of(ADMIN_GROUP)
}

/// The group skiff's Caddy runs as: it may use the wake socket.
const PROXY_GROUP: &str = "caddy";

fn gid_of(group: &str) -> Option<u32> {
    nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// The wake socket, beside the API socket in skiffd's runtime folder.
pub(super) fn wake_socket(config: &Config) -> PathBuf {
    layout(config)
        .runtime_dir
        .join(crate::wake::WAKE_SOCKET_NAME)
}

/// The dashboard's socket, beside the API socket.
pub(super) fn dashboard_socket(config: &Config) -> PathBuf {
    layout(config)
        .runtime_dir
        .join(crate::dashboard::DASHBOARD_SOCKET_NAME)
}

/// The socket skiff's Caddy proxies `api_domain` to (group caddy), beside the API socket.
pub(super) fn api_proxied_socket(config: &Config) -> PathBuf {
    layout(config).runtime_dir.join(API_PROXIED_SOCKET_NAME)
}

const API_PROXIED_SOCKET_NAME: &str = "api-proxied.sock";

/// Where the dashboard's login links point: the proxy's host, or the socket.
pub(super) fn dashboard_address(config: &Config) -> DashboardAddress {
    match config.dashboard_host() {
        Some(host) => DashboardAddress::Proxy {
            host,
            tls: config.tls != TlsMode::Off,
        },
        None => DashboardAddress::Socket {
            path: dashboard_socket(config).display().to_string(),
        },
    }
}

fn bind_unix(path: &Path, group: Option<u32>, mode: u32) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?,
        Ok(_) => bail!(
            "{} exists and is not a socket; refusing to replace it",
            path.display()
        ),
        Err(_) => {}
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    if let (Some(gid), true) = (group, nix::unistd::geteuid().is_root()) {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .with_context(|| format!("giving {} to its group", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(listener)
}
