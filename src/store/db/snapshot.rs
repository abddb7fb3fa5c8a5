//! Whole copies of the database through SQLite's online backup API: a consistent copy for the
//! server archive while skiffd keeps writing, the check of an archived copy, and putting a
//! checked copy into the open connection in one step.

use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{migrations, Store, StoreError};

/// What a checked copy of the database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFacts {
    pub schema_version: i64,
    pub apps: u64,
}

/// Copies every page of `from` into `to` in one step: the destination sees all or nothing.
fn copy_whole(from: &Connection, to: &mut Connection) -> Result<(), StoreError> {
    let backup = Backup::new(from, to)?;
    match backup.step(-1)? {
        StepResult::Done => Ok(()),
        other => Err(StoreError::Task(format!(
            "the database copy did not finish in one step ({other:?})"
        ))),
    }
}

fn bad(e: impl std::fmt::Display) -> StoreError {
    StoreError::BadSnapshot(e.to_string())
}

impl Store {
    /// Writes a consistent copy of the database to `path` (a new file, mode 0600) and returns
    /// its schema version.
    pub async fn snapshot_to(&self, path: &Path) -> Result<i64, StoreError> {
        let path = path.to_owned();
        self.call(move |conn| {
            let mut copy = Connection::open(&path)?;
            copy_whole(conn, &mut copy)?;
            let version = copy.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            drop(copy);
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|source| StoreError::Open { path, source })?;
            Ok(version)
        })
        .await
    }

    /// Checks a copy of the database without changing it: whole (`integrity_check`), skiff's
    /// (its apps table reads) and of a schema this skiff knows.
    pub async fn inspect_snapshot(path: &Path) -> Result<SnapshotFacts, StoreError> {
        let path: PathBuf = path.to_owned();
        tokio::task::spawn_blocking(move || inspect(&path))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Replaces the whole database with the checked copy at `path`, in one transaction of the
    /// open connection, then brings an older schema up to date.
    pub async fn replace_with(&self, path: &Path) -> Result<SnapshotFacts, StoreError> {
        let path = path.to_owned();
        self.call(move |conn| {
            let facts = inspect(&path)?;
            let copy = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            copy_whole(&copy, conn)?;
            migrations::apply(conn, &path)?;
            Ok(facts)
        })
        .await
    }
}

fn inspect(path: &Path) -> Result<SnapshotFacts, StoreError> {
    let copy = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(bad)?;
    let integrity: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(bad)?;
    if integrity != "ok" {
        return Err(bad(format!("integrity check: {integrity}")));
    }
    let schema_version: i64 = copy
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(bad)?;
    if schema_version > migrations::known_version() {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found: schema_version,
            known: migrations::known_version(),
        });
    }
    let apps: i64 = copy
        .query_row("SELECT count(*) FROM apps", [], |r| r.get(0))
        .map_err(|e| bad(format!("it is not skiff's database ({e})")))?;
    Ok(SnapshotFacts {
        schema_version,
        apps: apps as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AppName;

    async fn store_with_app(dir: &Path, name: &str) -> Store {
        let store = Store::open(&dir.join(format!("{name}.db"))).unwrap();
        store
            .create_app(AppName::parse(name).unwrap())
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn a_snapshot_replaces_another_database_whole() {
        let dir = tempfile::tempdir().unwrap();
        let source = store_with_app(dir.path(), "shop").await;
        let copy = dir.path().join("copy.db");
        let version = source.snapshot_to(&copy).await.unwrap();
        assert_eq!(version, migrations::known_version());
        let facts = Store::inspect_snapshot(&copy).await.unwrap();
        assert_eq!(
            facts,
            SnapshotFacts {
                schema_version: version,
                apps: 1
            }
        );

        let target = store_with_app(dir.path(), "blog").await;
        target.replace_with(&copy).await.unwrap();
        let names: Vec<String> = target
            .list_apps()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name.to_string())
            .collect();
        assert_eq!(names, ["shop"]);
    }

    #[tokio::test]
    async fn a_damaged_or_foreign_or_newer_copy_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = store_with_app(dir.path(), "blog").await;

        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"this is not a database at all, only some bytes").unwrap();
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE other (x)")
            .unwrap();
        let newer = dir.path().join("newer.db");
        target.snapshot_to(&newer).await.unwrap();
        Connection::open(&newer)
            .unwrap()
            .execute_batch("PRAGMA user_version = 999")
            .unwrap();

        for (path, want) in [
            (&garbage, "not usable"),
            (&foreign, "not skiff's database"),
            (&newer, "newer than this skiff"),
        ] {
            let err = target.replace_with(path).await.unwrap_err().to_string();
            assert!(err.contains(want), "{}: {err}", path.display());
        }
        let apps = target.list_apps().await.unwrap();
        assert_eq!(apps.len(), 1, "still the blog app");
        assert_eq!(apps[0].name.as_str(), "blog");
    }
}
