//! Add-on backups' rows: one per attempt, numbered per add-on, moving from `running` through
//! `checking` to `checked` or `failed`. A row is `checked` only once its file was written,
//! synced, checksummed and restored somewhere else and found whole.

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{addon_id, corrupt, live_addon_id, Store, StoreError, NOW};
use crate::model::{AddonName, BackupId, BackupKind, BackupStatus, Census};

/// One backup as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    pub addon: AddonName,
    pub id: BackupId,
    pub kind: BackupKind,
    pub status: BackupStatus,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    /// What the check counted in the restored copy.
    pub tables: Option<u64>,
    pub rows: Option<u64>,
    /// Rows per table of a checked backup (what a restore of it must hold); empty otherwise.
    pub census: Census,
    /// Why a failed backup failed.
    pub reason: Option<String>,
    /// Where its copy off the server is, or why that copy failed.
    pub copied_to: Option<String>,
    pub copy_error: Option<String>,
}

/// What a backup that passed its check records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBackup {
    pub size_bytes: u64,
    pub sha256: String,
    pub census: Census,
}

const COLUMNS: &str = "b.number, b.kind, b.status, b.started_at, b.finished_at, b.size_bytes, \
                       b.sha256, b.tables, b.rows, b.reason, b.census, b.copied_to, b.copy_error";

fn read_row(addon: &AddonName, r: &rusqlite::Row<'_>) -> Result<BackupRecord, StoreError> {
    let kind: String = r.get(1)?;
    let status: String = r.get(2)?;
    let census: Option<String> = r.get(10)?;
    let census = match census {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("backup census", e))?,
        None => Census::new(),
    };
    Ok(BackupRecord {
        addon: addon.clone(),
        id: BackupId::new(r.get(0)?),
        kind: BackupKind::parse(&kind).ok_or_else(|| corrupt("backup kind", &kind))?,
        status: BackupStatus::parse(&status).ok_or_else(|| corrupt("backup status", &status))?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        size_bytes: r.get(5)?,
        sha256: r.get(6)?,
        tables: r.get(7)?,
        rows: r.get(8)?,
        reason: r.get(9)?,
        census,
        copied_to: r.get(11)?,
        copy_error: r.get(12)?,
    })
}

fn backups_of(
    conn: &Connection,
    addon: &AddonName,
    only: Option<BackupId>,
) -> Result<Vec<BackupRecord>, StoreError> {
    let (id, _) = addon_id(conn, addon.as_str())?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM backups b WHERE b.addon_id = ?1 AND (?2 IS NULL OR b.number = ?2)
         ORDER BY b.number DESC"
    ))?;
    let mut rows = stmt.query(params![id, only.map(BackupId::number)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(read_row(addon, row)?);
    }
    Ok(out)
}

fn one_backup(
    conn: &Connection,
    addon: &AddonName,
    id: BackupId,
) -> Result<BackupRecord, StoreError> {
    backups_of(conn, addon, Some(id))?
        .pop()
        .ok_or_else(|| StoreError::BackupNotFound {
            addon: addon.clone(),
            id,
        })
}

/// Moves a backup that is still in progress to `status`, with the given columns set.
fn finish(
    conn: &Connection,
    addon: &AddonName,
    id: BackupId,
    set: &str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<BackupRecord, StoreError> {
    let (addon_row, _) = addon_id(conn, addon.as_str())?;
    let sql = format!(
        "UPDATE backups SET {set} WHERE addon_id = ? AND number = ? \
         AND status IN ('running', 'checking')"
    );
    let mut all: Vec<&dyn rusqlite::ToSql> = values.to_vec();
    let number = id.number();
    all.push(&addon_row);
    all.push(&number);
    if conn.execute(&sql, all.as_slice())? == 0 {
        return Err(StoreError::Task(format!(
            "backup {id} of {addon} is no longer in progress"
        )));
    }
    one_backup(conn, addon, id)
}

impl Store {
    /// Records a new backup of `addon`, `running`; refused while another one of it is in
    /// progress or the add-on is being destroyed.
    pub async fn begin_backup(
        &self,
        addon: &AddonName,
        kind: BackupKind,
    ) -> Result<BackupRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = live_addon_id(&tx, &addon)?;
            let busy: Option<u32> = tx
                .query_row(
                    "SELECT number FROM backups WHERE addon_id = ?1
                     AND status IN ('running', 'checking')",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(number) = busy {
                return Err(StoreError::BackupInProgress {
                    addon: addon.clone(),
                    id: BackupId::new(number),
                });
            }
            let number: u32 = tx.query_row(
                "UPDATE addons SET last_backup = last_backup + 1 WHERE id = ?1 RETURNING last_backup",
                params![id],
                |r| r.get(0),
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO backups (addon_id, number, kind, status, started_at)
                     VALUES (?1, ?2, ?3, 'running', {NOW})"
                ),
                params![id, number, kind.as_str()],
            )?;
            let record = one_backup(&tx, &addon, BackupId::new(number))?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// The backup's file is written and synced; its check starts.
    pub async fn backup_checking(
        &self,
        addon: &AddonName,
        id: BackupId,
    ) -> Result<BackupRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| finish(conn, &addon, id, "status = 'checking'", &[]))
            .await
    }

    /// The backup restored whole: it is a good backup.
    pub async fn backup_checked(
        &self,
        addon: &AddonName,
        id: BackupId,
        checked: CheckedBackup,
    ) -> Result<BackupRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let set = format!(
                "status = 'checked', finished_at = {NOW}, size_bytes = ?, sha256 = ?, \
                 tables = ?, rows = ?, census = ?"
            );
            let tables = checked.census.len() as u64;
            let rows: u64 = checked.census.values().sum();
            let census = serde_json::to_string(&checked.census).expect("a census is JSON");
            finish(
                conn,
                &addon,
                id,
                &set,
                &[
                    &checked.size_bytes,
                    &checked.sha256,
                    &tables,
                    &rows,
                    &census,
                ],
            )
        })
        .await
    }

    /// The backup failed for `reason`; it is never a good backup.
    pub async fn backup_failed(
        &self,
        addon: &AddonName,
        id: BackupId,
        reason: &str,
    ) -> Result<BackupRecord, StoreError> {
        let (addon, reason) = (addon.clone(), reason.to_owned());
        self.call(move |conn| {
            let set = format!("status = 'failed', finished_at = {NOW}, reason = ?");
            finish(conn, &addon, id, &set, &[&reason])
        })
        .await
    }

    /// Records how the copy of a checked backup off the server went: where it is, or why not.
    pub async fn backup_copied(
        &self,
        addon: &AddonName,
        id: BackupId,
        copied: Result<String, String>,
    ) -> Result<BackupRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let (addon_row, _) = addon_id(conn, addon.as_str())?;
            let (to, error) = match copied {
                Ok(to) => (Some(to), None),
                Err(why) => (None, Some(why)),
            };
            conn.execute(
                "UPDATE backups SET copied_to = ?1, copy_error = ?2
                 WHERE addon_id = ?3 AND number = ?4 AND status = 'checked'",
                params![to, error, addon_row, id.number()],
            )?;
            one_backup(conn, &addon, id)
        })
        .await
    }

    /// The add-on's backups, newest first.
    pub async fn backups(&self, addon: &AddonName) -> Result<Vec<BackupRecord>, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| backups_of(conn, &addon, None)).await
    }

    pub async fn backup(
        &self,
        addon: &AddonName,
        id: BackupId,
    ) -> Result<BackupRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| one_backup(conn, &addon, id)).await
    }

    /// Forgets a finished backup (its file is the caller's to remove first); refused while it
    /// is in progress.
    pub async fn delete_backup(
        &self,
        addon: &AddonName,
        id: BackupId,
    ) -> Result<BackupRecord, StoreError> {
        let addon = addon.clone();
        self.call(move |conn| {
            let record = one_backup(conn, &addon, id)?;
            if matches!(
                record.status,
                BackupStatus::Running | BackupStatus::Checking
            ) {
                return Err(StoreError::BackupInProgress { addon, id });
            }
            let (addon_row, _) = addon_id(conn, addon.as_str())?;
            conn.execute(
                "DELETE FROM backups WHERE addon_id = ?1 AND number = ?2",
                params![addon_row, id.number()],
            )?;
            Ok(record)
        })
        .await
    }

    /// At start: every backup still `running` or `checking` was interrupted (skiffd stopped or
    /// crashed meanwhile) and is marked `failed`. Returns how many.
    pub async fn fail_interrupted_backups(&self) -> Result<usize, StoreError> {
        self.call(|conn| {
            Ok(conn.execute(
                &format!(
                    "UPDATE backups SET status = 'failed', finished_at = {NOW}, \
                     reason = 'interrupted: skiffd stopped before the backup was checked' \
                     WHERE status IN ('running', 'checking')"
                ),
                [],
            )?)
        })
        .await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::{AddonSecret, AddonService, AppName, PlanName};
    use crate::store::NewAddon;

    /// A store with app `shop` and its Postgres add-on.
    pub(in crate::store) async fn store_with_addon() -> (Store, AddonName) {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let addon = store
            .create_addon(NewAddon {
                name: None,
                service: AddonService::Postgres,
                plan: PlanName::parse("mini").unwrap(),
                owner: app,
                attach_as: AddonService::Postgres.default_attachment(),
                secret: AddonSecret::generate(),
            })
            .await
            .unwrap();
        (store, addon.name)
    }

    fn checked() -> CheckedBackup {
        CheckedBackup {
            size_bytes: 4096,
            sha256: "ab".repeat(32),
            census: [("public.a".to_owned(), 4), ("public.b".to_owned(), 6)].into(),
        }
    }

    #[tokio::test]
    async fn a_backup_moves_from_running_to_checked_and_is_numbered_per_addon() {
        let (store, addon) = store_with_addon().await;
        let first = store
            .begin_backup(&addon, BackupKind::Manual)
            .await
            .unwrap();
        assert_eq!(
            (first.id.to_string(), first.status),
            ("b001".to_owned(), BackupStatus::Running)
        );
        let busy = store.begin_backup(&addon, BackupKind::Scheduled).await;
        assert!(
            matches!(busy, Err(StoreError::BackupInProgress { .. })),
            "{busy:?}"
        );
        store.backup_checking(&addon, first.id).await.unwrap();
        let done = store
            .backup_checked(&addon, first.id, checked())
            .await
            .unwrap();
        assert_eq!(done.status, BackupStatus::Checked);
        assert_eq!(
            (done.size_bytes, done.tables, done.rows),
            (Some(4096), Some(2), Some(10))
        );
        assert_eq!(done.census, checked().census);
        assert!(done.finished_at.is_some());
        let again = store.backup_failed(&addon, first.id, "late").await;
        assert!(again.is_err(), "a finished backup cannot fail afterwards");
        let second = store
            .begin_backup(&addon, BackupKind::Scheduled)
            .await
            .unwrap();
        assert_eq!(second.id, BackupId::new(2));
        let failed = store
            .backup_failed(&addon, second.id, "pg_dump: boom")
            .await
            .unwrap();
        assert_eq!(failed.reason.as_deref(), Some("pg_dump: boom"));
        let listed: Vec<BackupId> = store
            .backups(&addon)
            .await
            .unwrap()
            .iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(listed, [BackupId::new(2), BackupId::new(1)]);
        let missing = store.backup(&addon, BackupId::new(9)).await;
        assert!(matches!(missing, Err(StoreError::BackupNotFound { .. })));
        store.delete_backup(&addon, first.id).await.unwrap();
        assert!(matches!(
            store.backup(&addon, first.id).await,
            Err(StoreError::BackupNotFound { .. })
        ));
        let third = store
            .begin_backup(&addon, BackupKind::Manual)
            .await
            .unwrap();
        assert_eq!(
            third.id,
            BackupId::new(3),
            "numbers are never reused while a later one exists"
        );
        let busy = store.delete_backup(&addon, third.id).await;
        assert!(
            matches!(busy, Err(StoreError::BackupInProgress { .. })),
            "{busy:?}"
        );
    }

    #[tokio::test]
    async fn backups_interrupted_by_a_crash_are_failed_at_start() {
        let (store, addon) = store_with_addon().await;
        let running = store
            .begin_backup(&addon, BackupKind::Manual)
            .await
            .unwrap();
        assert_eq!(store.fail_interrupted_backups().await.unwrap(), 1);
        let record = store.backup(&addon, running.id).await.unwrap();
        assert_eq!(record.status, BackupStatus::Failed);
        assert!(record.reason.unwrap().contains("interrupted"));
        assert_eq!(store.fail_interrupted_backups().await.unwrap(), 0);
        let next = store
            .begin_backup(&addon, BackupKind::Manual)
            .await
            .unwrap();
        assert_eq!(next.id, BackupId::new(2));
    }
}
