//! The local proxy: `config.rs` renders Caddy's whole JSON config from the DB's routes (pure);
//! the `Proxy` trait applies it, through Caddy's admin API on a root-only Unix socket
//! (`CaddyAdmin`) or in memory for tests (`FakeProxy`).

mod caddy;
mod config;

pub use caddy::CaddyAdmin;
pub use config::{render, ProxySettings, ACCESS_LOG, ADMIN_SOCKET};

use serde_json::Value;

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
