//! The local proxy: `config.rs` renders Caddy's whole JSON config from the DB's routes (pure);
//! the `Proxy` trait applies it, through Caddy's admin API on a root-only Unix socket
//! (`CaddyAdmin`) or in memory for tests (`FakeProxy`).

mod caddy;
mod config;

pub use caddy::CaddyAdmin;
pub use config::{render, ProxySettings, ACCESS_LOG, ADMIN_SOCKET};

use serde_json::Value;

/// The kernel setting that hands connections still queued on a closed listening socket to another
/// socket on the same port (Linux 5.14 and later), instead of resetting them.
const MIGRATE_QUEUED_CONNECTIONS: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// Turns `net.ipv4.tcp_migrate_req` on in the host's network namespace, where Caddy listens.
///
/// Caddy (2.6, Debian 12 and 13) opens its listening sockets with `SO_REUSEPORT`, and each config
/// load opens new ones beside the old and then closes the old. A connection the kernel had already
/// queued on an old socket, its request perhaps sent, is reset when that socket closes: measured
/// in a container, 4 of 3,000 requests across 50 loads. With the setting on, the kernel moves such
/// connections to the new socket. Called once at start, before the runtime, by `skiffd` only.
pub fn migrate_queued_connections() -> std::io::Result<()> {
    if std::fs::read_to_string(MIGRATE_QUEUED_CONNECTIONS)?.trim() == "1" {
        return Ok(());
    }
    std::fs::write(MIGRATE_QUEUED_CONNECTIONS, "1\n")
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot reach caddy's admin socket {socket}: {reason}")]
    Unreachable { socket: String, reason: String },
    #[error("caddy refused the config ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("unexpected answer from caddy's admin API: {0}")]
    Protocol(String),
    #[error("caddy's admin socket {socket} did not answer within {seconds} s")]
    Timeout { socket: String, seconds: u64 },
}

/// Applies a complete proxy config.
#[async_trait::async_trait]
pub trait Proxy: Send + Sync {
    /// Makes `config` the proxy's config, atomically; does nothing when it already is (so a
    /// restarted skiffd or an unchanged round never reloads the proxy). Returns whether it loaded.
    async fn apply(&self, config: &Value) -> Result<bool, ProxyError>;
}

/// Keeps the last config in memory.
#[derive(Default)]
#[cfg(any(test, feature = "fakes"))]
pub struct FakeProxy {
    loaded: std::sync::Mutex<Vec<Value>>,
}

#[cfg(any(test, feature = "fakes"))]
impl FakeProxy {
    /// Every config loaded so far, oldest first.
    pub fn loaded(&self) -> Vec<Value> {
        self.loaded.lock().expect("fake proxy lock").clone()
    }
}

#[cfg(any(test, feature = "fakes"))]
#[async_trait::async_trait]
impl Proxy for FakeProxy {
    async fn apply(&self, config: &Value) -> Result<bool, ProxyError> {
        let mut loaded = self.loaded.lock().expect("fake proxy lock");
        if loaded.last() == Some(config) {
            return Ok(false);
        }
        loaded.push(config.clone());
        Ok(true)
    }
}
