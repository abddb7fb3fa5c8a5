//! The bottom of the store: the one SQLite connection behind its mutex, running a closure on
//! tokio's blocking pool, the store's error type, the row helpers every table module shares and
//! whole copies of the database (`snapshot.rs`).

mod addon_rows;
mod dyno_rows;
mod error;
mod event_rows;
mod migrations;
mod release_rows;
mod routing_rows;
mod snapshot;
mod volume_rows;

pub use addon_rows::AppRelease;
pub(crate) use addon_rows::{addon_id, destroy_owned_addons, live_addon_id, remove_attachments};
pub(crate) use dyno_rows::{
    clear_holds, current_formation, formation_of, generations_of, holds_of, write_formation,
};
pub use error::StoreError;
pub(crate) use event_rows::{events_of, record_event};
pub(crate) use release_rows::{
    app_config, change_config, current_release, insert_release, newest_release, pending_release,
    release, releases_of,
};
pub(crate) use routing_rows::{
    domains_of, draining_of, health_check_of, routes_of, sleep_state_of, wake_for_change,
    write_health_check,
};
pub(crate) use volume_rows::volumes_of;

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::model::AppName;

/// Handle to the database. Cheap to clone; one connection serialises writers, and every call
/// runs on tokio's blocking pool so the async runtime never waits on disk.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// SQL for the current time as stored (`2024-05-01T12:00:00Z`).
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%SZ','now')";

impl Store {
    /// Opens (creating with mode 0600) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(open_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(open_err)?;
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrations::apply(&mut conn, path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// An in-memory database for tests.
    #[cfg(test)]
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrations::apply(&mut conn, Path::new(":memory:"))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("database lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// A row that no longer parses as what it stores.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Task(format!("corrupt {what}: {e}"))
}

/// An app name read back from the database.
pub(crate) fn stored_app_name(raw: &str) -> Result<AppName, StoreError> {
    AppName::parse(raw).map_err(|e| corrupt("app row", e))
}

/// The row id of an app, or [`StoreError::AppNotFound`].
pub(crate) fn app_id(conn: &Connection, app: &AppName) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT id FROM apps WHERE name = ?1",
        params![app.as_str()],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::AppNotFound(app.to_string()))
}
