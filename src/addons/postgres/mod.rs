//! skiff's own PostgreSQL cluster (Debian's `pg_createcluster` conventions, never another
//! cluster of the host): one database and one role per add-on, reachable only from the
//! namespaces of the apps attached to it.

mod client;
mod conf;
mod debian;
mod dump;
#[cfg(any(test, feature = "fakes"))]
mod fake;
mod sql;

use std::net::Ipv4Addr;
use std::path::Path;

pub(crate) use debian::DebianPostgres;
#[cfg(any(test, feature = "fakes"))]
pub use fake::FakePostgres;

use crate::model::{AddonCredential, AddonName, Census};
use crate::systemd::SystemdError;

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("postgres add-ons need Debian's postgresql package: {0}")]
    Unavailable(String),
    #[error("cannot write {path} of skiff's PostgreSQL cluster: {source}")]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("creating skiff's PostgreSQL cluster ({unit}) {outcome}; see journalctl -u {unit}")]
    Setup { unit: String, outcome: String },
    #[error("skiff's PostgreSQL {version} cluster has no port in {path}")]
    NoPort {
        version: String,
        path: std::path::PathBuf,
    },
    #[error("skiff's PostgreSQL cluster: {0}")]
    Systemd(#[from] SystemdError),
    #[error("cannot connect to skiff's PostgreSQL cluster: {0}")]
    Connect(tokio_postgres::Error),
    #[error("skiff's PostgreSQL cluster refused to {what}: {source}")]
    Sql {
        what: &'static str,
        source: tokio_postgres::Error,
    },
    #[error("skiff's PostgreSQL cluster did not {0} in time")]
    Timeout(&'static str),
    #[error("skiff's PostgreSQL cluster is not made yet: the reconciler makes it first")]
    NotMade,
    #[error("skiff's PostgreSQL cluster has no database {0}")]
    NoDatabase(String),
    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },
    #[error("the restored copy does not hold what the backup held: {0}")]
    Mismatch(crate::model::CheckMismatch),
}

/// One pg_hba grant: add-on `addon`'s database and role, from address `from`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgAccess {
    pub addon: AddonName,
    pub from: Ipv4Addr,
}

/// Where skiff's cluster runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgCluster {
    /// The server's major version, e.g. `15`.
    pub version: String,
    pub port: u16,
}

/// What one add-on's database and roles should be: the database owned by a role that cannot
/// log in (`AddonName::database`), and one login role per credential (`AddonName::login_role`),
/// each a member of the owner whose sessions act as the owner; login roles of other
/// generations are dropped (their sessions ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgDatabase {
    pub name: AddonName,
    /// The current credential first; during a rotation the previous one too.
    pub logins: Vec<AddonCredential>,
    /// Per login role.
    pub connection_limit: u32,
}

/// `pg:info` of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgInfo {
    pub version: String,
    pub size_bytes: u64,
    pub connections: u32,
}

/// One session on an add-on's database (`pg:ps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSession {
    pub pid: i32,
    /// `active`, `idle`, `idle in transaction`, …
    pub state: String,
    /// When its current or last query started (UTC, RFC 3339), if it ran one.
    pub since: String,
    /// Its current or last query, cut at 200 characters.
    pub query: String,
}

/// skiff's PostgreSQL cluster as the reconciler drives it.
#[async_trait::async_trait]
pub trait PostgresServer: Send + Sync {
    /// Why postgres add-ons cannot be made on this host (no server installed), if so.
    async fn unavailable(&self) -> Option<String>;
    /// Makes skiff's cluster exist and run listening on `listen` with exactly `access` in its
    /// pg_hba; cheap when nothing changed. Returns where it listens.
    async fn ensure_cluster(
        &self,
        listen: Ipv4Addr,
        access: &[PgAccess],
    ) -> Result<PgCluster, PostgresError>;
    /// Makes the add-on's role and database exist as `db` says (password, connection limit,
    /// `CONNECT` only for its role). Idempotent.
    async fn ensure_database(&self, db: &PgDatabase) -> Result<(), PostgresError>;
    /// Drops the add-on's database and role (`addons:destroy`).
    async fn drop_database(&self, name: &AddonName) -> Result<(), PostgresError>;
    /// Every database of skiff's cluster named like an add-on's (`skiff_*`), to find orphans.
    async fn databases(&self) -> Result<Vec<String>, PostgresError>;
    async fn info(&self, name: &AddonName) -> Result<PgInfo, PostgresError>;
    /// The sessions on the add-on's database (`pg:ps`).
    async fn sessions(&self, name: &AddonName) -> Result<Vec<PgSession>, PostgresError>;
    /// Ends session `pid` if it is one on the add-on's database (`pg:kill`); whether it was.
    async fn kill(&self, name: &AddonName, pid: i32) -> Result<bool, PostgresError>;
    /// Dumps the add-on's database into `file` (pg_dump's custom format) in one snapshot, and
    /// returns the rows each table held in that snapshot.
    async fn dump(&self, name: &AddonName, file: &Path) -> Result<Census, PostgresError>;
    /// Restores `file` into a scratch database of the cluster, counts its rows, and drops it.
    async fn check_dump(&self, file: &Path) -> Result<Census, PostgresError>;
    /// Replaces the add-on's database with what `file` holds: restored into a scratch database
    /// as the add-on's owner role, counted and compared with `expected`, then swapped in under
    /// the database's name in one transaction (its sessions ended); the old one is dropped.
    /// Nothing changes when the restore or the comparison fails.
    async fn restore(
        &self,
        name: &AddonName,
        file: &Path,
        expected: &Census,
    ) -> Result<(), PostgresError>;
}
