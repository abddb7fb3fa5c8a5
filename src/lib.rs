//! skiff: a single-server PaaS — git push, sandboxed systemd dynos, a local proxy.
//!
//! The binaries and the tests reach the library through `cli`, `config`, `daemon`, `manuals`
//! and `adapters`; every other module is the crate's own, so whatever nothing uses is reported.
#![forbid(unsafe_code)]

pub(crate) mod activity;
pub(crate) mod addons;
pub(crate) mod api;
pub(crate) mod build;
pub mod cli;
pub mod config;
pub mod daemon;
pub(crate) mod dashboard;
pub(crate) mod drains;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod journal;
pub mod manuals;
pub(crate) mod metrics;
pub(crate) mod model;
pub(crate) mod monitor;
pub(crate) mod network;
pub(crate) mod oneoff;
pub(crate) mod outbound;
pub(crate) mod paths;
pub(crate) mod procfs;
pub(crate) mod proxy;
pub(crate) mod reconcile;
pub(crate) mod reconciler;
pub(crate) mod server_backup;
pub(crate) mod store;
pub(crate) mod systemd;
pub(crate) mod tls;
pub(crate) mod volume_dirs;
pub(crate) mod wake;
pub(crate) mod wire;

/// The outside systems skiffd talks to, each behind a narrow trait (`daemon::Adapters` holds
/// the real ones), and with the `fakes` feature (tests only) an in-memory fake of each.
pub mod adapters {
    #[cfg(any(test, feature = "fakes"))]
    pub use crate::addons::postgres::FakePostgres;
    pub use crate::addons::postgres::PostgresServer;
    #[cfg(any(test, feature = "fakes"))]
    pub use crate::addons::redis::FakeRedis;
    pub use crate::addons::redis::RedisServer;
    #[cfg(any(test, feature = "fakes"))]
    pub use crate::health::FakeProber;
    pub use crate::health::Prober;
    #[cfg(any(test, feature = "fakes"))]
    pub use crate::journal::FakeLogs;
    pub use crate::journal::LogSource;
    #[cfg(any(test, feature = "fakes"))]
    pub use crate::network::FakeHost;
    pub use crate::network::HostNetwork;
    #[cfg(any(test, feature = "fakes"))]
    pub use crate::proxy::FakeProxy;
    pub use crate::proxy::Proxy;
    #[cfg(any(test, feature = "fakes"))]
    pub use crate::systemd::FakeSystemd;
    pub use crate::systemd::Systemd;
}
