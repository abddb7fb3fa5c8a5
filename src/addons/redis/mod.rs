//! One Redis server per add-on, from Debian's `redis-server`, as a sandboxed transient unit of
//! skiff's (`skiff-addon-NAME.service`) with its data under `/var/lib/skiff/addons/redis/`.
//! `config.rs` and `info.rs` are pure, `cli.rs` talks to a server, `debian.rs` is the adapter.

mod cli;
mod config;
mod debian;
#[cfg(any(test, feature = "fakes"))]
mod fake;
mod info;
mod snapshot;

pub use debian::DebianRedis;
#[cfg(any(test, feature = "fakes"))]
pub use fake::FakeRedis;

use std::path::Path;

use crate::model::{AddonEndpoint, AddonName, AddonSecret, AppName, Census, MaxmemoryPolicy};
use crate::systemd::SystemdError;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis add-ons need Debian's redis-server package: {0}")]
    Unavailable(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error("redis {command} failed: {message}")]
    Cli { command: String, message: String },
    #[error("redis add-on {name} does not answer: {message}")]
    NotAnswering { name: AddonName, message: String },
    #[error("redis add-on {name} was still running {waited}s after it was stopped")]
    NotStopped { name: AddonName, waited: u64 },
}

/// What one Redis add-on's server should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisInstance {
    pub name: AddonName,
    /// The app that owns the add-on: its lines in journald carry `SKIFF_APP=owner`.
    pub owner: AppName,
    pub listen: AddonEndpoint,
    /// The password of the `default` user. A new one takes effect at once for new
    /// connections; connections already open stay (Redis clients keep theirs).
    pub secret: AddonSecret,
    /// `maxmemory` in bytes.
    pub maxmemory: u64,
    pub policy: MaxmemoryPolicy,
}

/// `redis:info` of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisInfo {
    pub version: String,
    pub used_memory: u64,
    pub clients: u32,
    pub keys: u64,
}

/// A snapshot written to a backup file: the keys per database the server held once it was
/// written, and how far the snapshot's own counts may be from those (the writes made since it
/// was taken, and keys with a TTL, which may have expired meanwhile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSnapshot {
    pub keys: Census,
    pub tolerance: u64,
}

/// The Redis servers of add-ons as the reconciler drives them.
#[async_trait::async_trait]
pub trait RedisServer: Send + Sync {
    /// Why redis add-ons cannot be made on this host (no server installed), if so.
    async fn unavailable(&self) -> Option<String>;
    /// Makes the instance run as `instance` says: data folder and config written, its unit
    /// started when not running and changed when its config changed; Ok once it answers PING
    /// with its password. Cheap when nothing changed.
    async fn ensure(&self, instance: &RedisInstance) -> Result<(), RedisError>;
    /// Stops the instance's unit and deletes its files (`addons:destroy`).
    async fn remove(&self, name: &AddonName) -> Result<(), RedisError>;
    async fn info(&self, instance: &RedisInstance) -> Result<RedisInfo, RedisError>;
    /// Writes a snapshot (`BGSAVE`, waited for) of the instance to `file`.
    async fn snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<RedisSnapshot, RedisError>;
    /// Replaces what the instance holds with the snapshot `file` (a restart).
    async fn restore(&self, instance: &RedisInstance, file: &Path) -> Result<(), RedisError>;
    /// Loads the snapshot `file` into a scratch server and counts its keys per database.
    async fn check_snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<Census, RedisError>;
}
