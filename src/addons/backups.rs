//! Taking an add-on backup: refuse it when the disk would fall under the free-space floor,
//! dump into a temporary file in the backup's own directory, sync and checksum it, restore it
//! somewhere else and compare what it holds with what the database held, and only then give it
//! its name and mark it `checked`. Any failure marks it `failed` with the reason and removes the
//! temporary file; a crash leaves a row skiffd fails at its next start.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::copies::CopySource;
use super::{Addons, AddonsError};
use crate::model::{
    check_free_space, compare_within, prune, AddonService, BackupId, BackupKind, BackupStatus,
    Census, CheckMismatch, RetainedBackup,
};
use crate::paths::Layout;
use crate::store::{AddonRecord, BackupRecord, CheckedBackup, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    NoSpace(String),
    #[error(transparent)]
    Addons(#[from] AddonsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot {what} {path}: {source}")]
    Files {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    NotRestorable(String),
    #[error("the dump is empty (0 bytes)")]
    EmptyFile,
    #[error("the check found the dump incomplete: {0}")]
    Mismatch(#[from] CheckMismatch),
}

/// The file name extension of a service's backups.
fn extension(service: AddonService) -> &'static str {
    match service {
        AddonService::Postgres => "dump",
        AddonService::Redis => "rdb",
    }
}

/// Where the checked backup `id` of `addon` is.
pub fn backup_file(layout: &Layout, addon: &AddonRecord, id: BackupId) -> PathBuf {
    layout.backup_file(&addon.name, id, extension(addon.service))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking backup task panicked")
}

fn files_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Files { what, path, source }
}

impl Addons {
    /// Starts a backup of `addon`: refused (nothing recorded) when the disk would keep less
    /// than `floor` bytes free, or when one is in progress; otherwise recorded as `running` and
    /// carried on in a task of its own. Returns the new row.
    pub async fn start_backup(
        &self,
        store: &Store,
        layout: &Layout,
        addon: &AddonRecord,
        kind: BackupKind,
        floor: u64,
    ) -> Result<BackupRecord, BackupError> {
        let record = self.begin_backup(store, layout, addon, kind, floor).await?;
        let (addons, store, layout, addon) =
            (self.clone(), store.clone(), layout.clone(), addon.clone());
        let started = record.clone();
        tokio::spawn(async move {
            addons
                .finish_backup(&store, &layout, &addon, &started)
                .await;
        });
        Ok(record)
    }

    /// Takes a backup of `addon` and waits for its end; the row says whether it is checked.
    pub async fn take_backup(
        &self,
        store: &Store,
        layout: &Layout,
        addon: &AddonRecord,
        kind: BackupKind,
        floor: u64,
    ) -> Result<BackupRecord, BackupError> {
        let record = self.begin_backup(store, layout, addon, kind, floor).await?;
        self.finish_backup(store, layout, addon, &record).await;
        Ok(store.backup(&addon.name, record.id).await?)
    }

    async fn begin_backup(
        &self,
        store: &Store,
        layout: &Layout,
        addon: &AddonRecord,
        kind: BackupKind,
        floor: u64,
    ) -> Result<BackupRecord, BackupError> {
        // A server that does not answer still gets its backup attempted and recorded, so the
        // failure is there with its reason; only its size is then unknown.
        let estimate = match addon.service {
            AddonService::Postgres => {
                self.ready_postgres(addon)?;
                let info = self.postgres.info(&addon.name).await;
                info.map(|i| i.size_bytes).map_err(AddonsError::from)
            }
            AddonService::Redis => {
                let instance = self.ready_redis(addon)?;
                let info = self.redis.info(&instance).await;
                info.map(|i| i.used_memory).map_err(AddonsError::from)
            }
        };
        let estimate = estimate.unwrap_or_else(|e| {
            tracing::warn!(addon = %addon.name, error = %e, "cannot measure the add-on before its backup");
            0
        });
        let dir = layout.backup_dir(&addon.name);
        let free = blocking({
            let dir = dir.clone();
            move || {
                crate::files::make_dir_mode(&dir, 0o700)?;
                crate::files::free_bytes(&dir)
            }
        })
        .await
        .map_err(files_error("measure the free space of", &dir))?;
        check_free_space(free, estimate, floor).map_err(BackupError::NoSpace)?;
        Ok(store.begin_backup(&addon.name, kind).await?)
    }

    /// `pg:backups:restore`: the checked backup `id`, its file still matching its checksum,
    /// replaces the database, after a safety backup of what the database holds now. Nothing
    /// changes when any step before the swap fails. Returns the safety backup.
    pub async fn restore_backup(
        &self,
        store: &Store,
        layout: &Layout,
        addon: &AddonRecord,
        id: BackupId,
        floor: u64,
    ) -> Result<BackupRecord, BackupError> {
        let record = store.backup(&addon.name, id).await?;
        if record.status != BackupStatus::Checked {
            return Err(BackupError::NotRestorable(format!(
                "backup {id} is {}; only a checked backup is restored",
                record.status.as_str()
            )));
        }
        let file = backup_file(layout, addon, id);
        let (_, sha256) = blocking({
            let file = file.clone();
            move || crate::files::sync_and_hash(&file)
        })
        .await
        .map_err(files_error("read", &file))?;
        if Some(&sha256) != record.sha256.as_ref() {
            return Err(BackupError::NotRestorable(format!(
                "the file of backup {id} no longer matches its checksum; it is not restored"
            )));
        }
        let safety = self
            .take_backup(store, layout, addon, BackupKind::Safety, floor)
            .await?;
        if safety.status != BackupStatus::Checked {
            return Err(BackupError::NotRestorable(format!(
                "the safety backup {} failed ({}); nothing was restored",
                safety.id,
                safety.reason.as_deref().unwrap_or("no reason recorded")
            )));
        }
        {
            let _one_restore_at_a_time = self.checks.lock().await;
            match addon.service {
                AddonService::Postgres => {
                    let restored = self.postgres.restore(&addon.name, &file, &record.census);
                    restored.await.map_err(AddonsError::from)?;
                }
                AddonService::Redis => {
                    let instance = self.ready_redis(addon)?;
                    let _left_alone = Restoring::begin(self, &addon.name);
                    let restored = self.redis.restore(&instance, &file).await;
                    restored.map_err(AddonsError::from)?;
                }
            }
        }
        if addon.service == AddonService::Postgres {
            self.postgres_reapply(addon).await?;
        }
        tracing::info!(addon = %addon.name, backup = %id, safety = %safety.id, "backup restored");
        Ok(safety)
    }

    /// `pg:backups:delete`: the row goes first, then the file, so a crash between the two
    /// leaves a file no row claims rather than a good backup without its file.
    pub async fn delete_backup(
        &self,
        store: &Store,
        layout: &Layout,
        addon: &AddonRecord,
        id: BackupId,
    ) -> Result<BackupRecord, BackupError> {
        let record = store.delete_backup(&addon.name, id).await?;
        let file = backup_file(layout, addon, id);
        blocking({
            let file = file.clone();
            move || match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .await
        .map_err(files_error("remove", &file))?;
        Ok(record)
    }

    /// Carries a started backup to `checked`, or records why it `failed`.
    async fn finish_backup(
        &self,
        store: &Store,
        layout: &Layout,
        addon: &AddonRecord,
        record: &BackupRecord,
    ) {
        let ext = extension(addon.service);
        let temporary = layout.backup_temporary(&addon.name, record.id, ext);
        let done = layout.backup_file(&addon.name, record.id, ext);
        let result = self
            .dump_and_check(store, addon, record, &temporary, &done)
            .await;
        let outcome = match result {
            Ok(checked) => store.backup_checked(&addon.name, record.id, checked).await,
            Err(e) => {
                let reason = e.to_string();
                blocking(move || {
                    let _ = std::fs::remove_file(&temporary);
                })
                .await;
                tracing::warn!(addon = %addon.name, backup = %record.id, %reason, "backup failed");
                store.backup_failed(&addon.name, record.id, &reason).await
            }
        };
        match outcome {
            Ok(r) if r.status == BackupStatus::Checked => {
                tracing::info!(addon = %addon.name, backup = %record.id, size = r.size_bytes, "backup checked");
                if self.copy_off_server(store, &done, &r).await {
                    self.retry_failed_copies(store, layout, addon).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(addon = %addon.name, backup = %record.id, error = %e, "cannot record the end of a backup");
            }
        }
        if record.kind == BackupKind::Scheduled {
            if let Err(e) = self.apply_retention(store, layout, addon).await {
                tracing::error!(addon = %addon.name, error = %e, "cannot prune old scheduled backups");
            }
        }
    }

    /// Once a copy went through again, the earlier checked backups of the add-on whose copy
    /// failed are copied too, oldest first.
    async fn retry_failed_copies(&self, store: &Store, layout: &Layout, addon: &AddonRecord) {
        let Ok(backups) = store.backups(&addon.name).await else {
            return;
        };
        let failed = backups.iter().rev().filter(|b| {
            b.status == BackupStatus::Checked && b.copied_to.is_none() && b.copy_error.is_some()
        });
        for backup in failed {
            let file = backup_file(layout, addon, backup.id);
            if !self.copy_off_server(store, &file, backup).await {
                return;
            }
        }
    }

    /// Copies a checked backup to `backup_copy_to`, when one is set, and records how it went;
    /// whether it was copied.
    async fn copy_off_server(&self, store: &Store, file: &Path, record: &BackupRecord) -> bool {
        let (Some(copier), Some(size), Some(sha256)) =
            (&self.copier, record.size_bytes, record.sha256.clone())
        else {
            return false;
        };
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let source = CopySource {
            local: file.to_owned(),
            name: format!("{}/{}", record.addon, name.unwrap_or_default()),
            size,
            sha256,
        };
        let copied = copier.copy(&source).await.map_err(|e| e.to_string());
        match &copied {
            Ok(to) => {
                tracing::info!(addon = %record.addon, backup = %record.id, %to, "backup copied off the server")
            }
            Err(why) => {
                tracing::warn!(addon = %record.addon, backup = %record.id, %why, "backup not copied off the server")
            }
        }
        let went = copied.is_ok();
        if let Err(e) = store.backup_copied(&record.addon, record.id, copied).await {
            tracing::error!(addon = %record.addon, backup = %record.id, error = %e, "cannot record a backup's copy");
        }
        went
    }

    /// Deletes the scheduled backups the add-on's schedule no longer keeps; returns them.
    async fn apply_retention(
        &self,
        store: &Store,
        layout: &Layout,
        addon: &AddonRecord,
    ) -> Result<Vec<BackupId>, BackupError> {
        let Some(schedule) = store.backup_schedule(&addon.name).await? else {
            return Ok(Vec::new());
        };
        let retained: Vec<RetainedBackup> = store
            .backups(&addon.name)
            .await?
            .iter()
            .filter_map(|b| {
                Some(RetainedBackup {
                    id: b.id,
                    kind: b.kind,
                    status: b.status,
                    started: humantime::parse_rfc3339(&b.started_at).ok()?,
                })
            })
            .collect();
        let pruned = prune(&retained, schedule.keep, SystemTime::now());
        for id in &pruned {
            self.delete_backup(store, layout, addon, *id).await?;
            tracing::info!(addon = %addon.name, backup = %id, "scheduled backup pruned by retention");
        }
        Ok(pruned)
    }

    async fn dump_and_check(
        &self,
        store: &Store,
        addon: &AddonRecord,
        record: &BackupRecord,
        temporary: &Path,
        done: &Path,
    ) -> Result<CheckedBackup, BackupError> {
        let stale = temporary.to_owned();
        blocking(move || match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
        .map_err(files_error("remove", temporary))?;
        let (census, tolerance) = match addon.service {
            AddonService::Postgres => {
                let census = self.postgres.dump(&addon.name, temporary).await;
                (census.map_err(AddonsError::from)?, 0)
            }
            AddonService::Redis => {
                let instance = self.ready_redis(addon)?;
                let snapshot = self.redis.snapshot(&instance, temporary).await;
                let snapshot = snapshot.map_err(AddonsError::from)?;
                (snapshot.keys, snapshot.tolerance)
            }
        };
        let (size_bytes, sha256) = blocking({
            let path = temporary.to_owned();
            move || crate::files::sync_and_hash(&path)
        })
        .await
        .map_err(files_error("sync", temporary))?;
        if size_bytes == 0 {
            return Err(BackupError::EmptyFile);
        }
        store.backup_checking(&addon.name, record.id).await?;
        let restored = {
            let _one_check_at_a_time = self.checks.lock().await;
            match addon.service {
                AddonService::Postgres => self
                    .postgres
                    .check_dump(temporary)
                    .await
                    .map_err(AddonsError::from)?,
                AddonService::Redis => {
                    let instance = self.ready_redis(addon)?;
                    let loaded = self.redis.check_snapshot(&instance, temporary).await;
                    loaded.map_err(AddonsError::from)?
                }
            }
        };
        compare_within(&census, &restored, tolerance)?;
        blocking({
            let (from, to) = (temporary.to_owned(), done.to_owned());
            move || crate::files::rename_durably(&from, &to)
        })
        .await
        .map_err(files_error("name", done))?;
        // What the file holds, which a restore of it must bring back.
        Ok(summary(size_bytes, sha256, restored))
    }
}

/// While it lives, the reconciler leaves the add-on's server alone (a restore stopped it).
struct Restoring {
    set: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<crate::model::AddonName>>>,
    name: crate::model::AddonName,
}

impl Restoring {
    fn begin(addons: &Addons, name: &crate::model::AddonName) -> Self {
        let set = addons.restoring.clone();
        set.lock().expect("add-ons lock").insert(name.clone());
        Self {
            set,
            name: name.clone(),
        }
    }
}

impl Drop for Restoring {
    fn drop(&mut self) {
        self.set.lock().expect("add-ons lock").remove(&self.name);
    }
}

/// At start: removes the temporary files of backups a crash interrupted (their rows are failed
/// by then). Returns how many went.
pub fn remove_temporaries(layout: &Layout) -> usize {
    let Ok(addons) = std::fs::read_dir(layout.backups_root()) else {
        return 0;
    };
    let temporaries = addons
        .filter_map(Result::ok)
        .filter_map(|dir| std::fs::read_dir(dir.path()).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|f| {
            let name = f.file_name();
            let name = name.to_string_lossy();
            name.starts_with('.') && name.ends_with(".tmp")
        });
    temporaries
        .filter(|f| std::fs::remove_file(f.path()).is_ok())
        .count()
}

fn summary(size_bytes: u64, sha256: String, census: Census) -> CheckedBackup {
    CheckedBackup {
        size_bytes,
        sha256,
        census,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::addons::postgres::FakePostgres;
    use crate::addons::redis::FakeRedis;
    use crate::model::{AddonName, AddonSecret, AppName, PlanName};
    use crate::store::NewAddon;

    struct Setup {
        addons: Addons,
        pg: Arc<FakePostgres>,
        redis: Arc<FakeRedis>,
        store: Store,
        layout: Layout,
        addon: AddonRecord,
        _dir: tempfile::TempDir,
    }

    impl Setup {
        /// A backup of the add-on, waited for to its end.
        async fn take(&self, kind: BackupKind) -> BackupRecord {
            let addons = &self.addons;
            let taken = addons.take_backup(&self.store, &self.layout, &self.addon, kind, 0);
            taken.await.unwrap()
        }
    }

    async fn setup() -> Setup {
        setup_for(AddonService::Postgres, "pg-shop", 5433).await
    }

    /// App `shop` with one ready add-on of `service` named `name`, listening on `port`.
    async fn setup_for(service: AddonService, name: &str, port: u16) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pg = Arc::new(FakePostgres::default());
        let redis = Arc::new(FakeRedis::default());
        let plans = crate::config::Config::default().plans().unwrap();
        let addons = Addons::new(pg.clone(), redis.clone(), plans);
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let made = store
            .create_addon(NewAddon {
                name: Some(AddonName::parse(name).unwrap()),
                service,
                plan: PlanName::parse("mini").unwrap(),
                owner: app,
                attach_as: service.default_attachment(),
                secret: AddonSecret::generate(),
            })
            .await
            .unwrap();
        store.addon_made(&made.name, port).await.unwrap();
        let addon = store.addon(made.name.as_str()).await.unwrap();
        addons
            .converge(
                std::slice::from_ref(&addon),
                "10.0.0.1".parse().unwrap(),
                &Default::default(),
            )
            .await;
        let layout = Layout::new(dir.path(), &dir.path().join("run"));
        Setup {
            addons,
            pg,
            redis,
            store,
            layout,
            addon,
            _dir: dir,
        }
    }

    async fn settled(s: &Setup, id: crate::model::BackupId) -> BackupRecord {
        for _ in 0..200 {
            let record = s.store.backup(&s.addon.name, id).await.unwrap();
            if matches!(record.status, BackupStatus::Checked | BackupStatus::Failed) {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("backup {id} never ended");
    }

    #[tokio::test]
    async fn a_checked_backup_has_its_file_its_checksum_and_its_census() {
        let s = setup().await;
        s.pg.set_rows(&s.addon.name, [("public.t".to_owned(), 3)].into());
        let started = s
            .addons
            .start_backup(&s.store, &s.layout, &s.addon, BackupKind::Manual, 0)
            .await
            .unwrap();
        assert_eq!(started.status, BackupStatus::Running);
        let done = settled(&s, started.id).await;
        assert_eq!(done.status, BackupStatus::Checked, "{:?}", done.reason);
        assert_eq!((done.tables, done.rows), (Some(1), Some(3)));
        let file = s.layout.backup_file(&s.addon.name, done.id, "dump");
        let (size, sha) = crate::files::sync_and_hash(&file).unwrap();
        assert_eq!((Some(size), Some(sha)), (done.size_bytes, done.sha256));
        assert!(!s
            .layout
            .backup_temporary(&s.addon.name, done.id, "dump")
            .exists());
    }

    #[tokio::test]
    async fn a_scheduled_backup_prunes_the_scheduled_ones_its_schedule_no_longer_keeps() {
        let s = setup().await;
        s.pg.set_rows(&s.addon.name, [("public.t".to_owned(), 1)].into());
        let unscheduled = s.take(BackupKind::Scheduled).await;
        let manual = s.take(BackupKind::Manual).await;
        assert_eq!(s.store.backups(&s.addon.name).await.unwrap().len(), 2);
        let keep_one = crate::model::Retention::new(1, 0).unwrap();
        let at = crate::model::BackupSchedule::parse("02:00").unwrap();
        s.store
            .set_backup_schedule(&s.addon.name, at, keep_one)
            .await
            .unwrap();
        let newest = s.take(BackupKind::Scheduled).await;
        let left: Vec<_> = s
            .store
            .backups(&s.addon.name)
            .await
            .unwrap()
            .iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(left, [newest.id, manual.id]);
        let file = |id| s.layout.backup_file(&s.addon.name, id, "dump");
        assert!(!file(unscheduled.id).exists());
        assert!(file(newest.id).exists() && file(manual.id).exists());
    }

    #[tokio::test]
    async fn a_redis_backup_is_checked_by_loading_it_and_restores_after_a_safety_backup() {
        let s = setup_for(AddonService::Redis, "redis-shop", 6380).await;
        let (addons, store, layout, addon, redis) =
            (&s.addons, &s.store, &s.layout, &s.addon, &s.redis);
        redis.set_keys(&addon.name, [("db0".to_owned(), 7)].into());
        let first = s.take(BackupKind::Manual).await;
        assert_eq!(first.status, BackupStatus::Checked, "{:?}", first.reason);
        assert_eq!((first.tables, first.rows), (Some(1), Some(7)));
        assert!(layout.backup_file(&addon.name, first.id, "rdb").exists());
        redis.set_keys(&addon.name, [("db0".to_owned(), 1)].into());
        let safety = addons
            .restore_backup(store, layout, addon, first.id, 0)
            .await
            .unwrap();
        assert_eq!((safety.kind, safety.rows), (BackupKind::Safety, Some(1)));
        assert!(redis.calls().contains(&"restore redis-shop".to_owned()));
        let after = s.take(BackupKind::Manual).await;
        assert_eq!(after.rows, Some(7), "the restored keys are back");
    }

    #[tokio::test]
    async fn a_checked_backup_is_copied_off_the_server_and_a_failed_copy_says_why() {
        let s = setup().await;
        let folder = tempfile::tempdir().unwrap();
        for failure in [None, Some("remote unreachable".to_owned()), None] {
            let copier = crate::addons::copies::FakeCopier {
                folder: folder.path().to_owned(),
                failure: failure.clone(),
            };
            let addons = s.addons.clone().with_copier(Arc::new(copier));
            let done = addons
                .take_backup(&s.store, &s.layout, &s.addon, BackupKind::Manual, 0)
                .await
                .unwrap();
            assert_eq!(done.status, BackupStatus::Checked);
            let copy = folder.path().join(format!("pg-shop-{}.dump", done.id));
            match failure {
                None => {
                    assert_eq!(done.copied_to, Some(copy.display().to_string()));
                    let (size, _) = crate::files::sync_and_hash(&copy).unwrap();
                    assert_eq!(Some(size), done.size_bytes);
                }
                Some(why) => {
                    assert_eq!((done.copied_to, done.copy_error), (None, Some(why)));
                    assert!(!copy.exists());
                }
            }
        }
        // The third backup's copy went through, and the second's failed copy was made then.
        let second = s
            .store
            .backup(&s.addon.name, BackupId::new(2))
            .await
            .unwrap();
        assert_eq!(second.copy_error, None, "{second:?}");
        assert!(second.copied_to.is_some(), "{second:?}");
    }

    #[tokio::test]
    async fn a_full_disk_refuses_the_backup_and_records_nothing() {
        let s = setup().await;
        let refused = s
            .addons
            .start_backup(&s.store, &s.layout, &s.addon, BackupKind::Manual, u64::MAX)
            .await;
        assert!(
            matches!(refused, Err(BackupError::NoSpace(_))),
            "{refused:?}"
        );
        assert!(s.store.backups(&s.addon.name).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_dump_that_does_not_restore_whole_is_failed_and_leaves_no_file() {
        let s = setup().await;
        s.pg.set_rows(&s.addon.name, [("public.t".to_owned(), 2)].into());
        let cases = [
            (Err("input file is too short".to_owned()), "too short"),
            (Ok(Census::new()), "restored nothing"),
            (
                Ok([("public.t".to_owned(), 1)].into()),
                "holds 1 in the restored dump",
            ),
        ];
        for (check, why) in cases {
            s.pg.override_check(check);
            let started = s
                .addons
                .start_backup(&s.store, &s.layout, &s.addon, BackupKind::Manual, 0)
                .await
                .unwrap();
            let failed = settled(&s, started.id).await;
            assert_eq!(failed.status, BackupStatus::Failed);
            assert!(
                failed.reason.as_deref().unwrap_or("").contains(why),
                "{failed:?}"
            );
            assert!(!s
                .layout
                .backup_file(&s.addon.name, started.id, "dump")
                .exists());
            assert!(!s
                .layout
                .backup_temporary(&s.addon.name, started.id, "dump")
                .exists());
        }
    }

    #[test]
    fn only_temporaries_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), &dir.path().join("run"));
        assert_eq!(remove_temporaries(&layout), 0, "no backups directory yet");
        let addon = AddonName::parse("pg-shop").unwrap();
        std::fs::create_dir_all(layout.backup_dir(&addon)).unwrap();
        let id = crate::model::BackupId::new(1);
        let (kept, gone) = (
            layout.backup_file(&addon, id, "dump"),
            layout.backup_temporary(&addon, id, "dump"),
        );
        std::fs::write(&kept, "x").unwrap();
        std::fs::write(&gone, "x").unwrap();
        assert_eq!(remove_temporaries(&layout), 1);
        assert!(kept.exists() && !gone.exists());
    }

    #[tokio::test]
    async fn a_restore_takes_a_safety_backup_first_and_refuses_bad_files() {
        let s = setup().await;
        s.pg.set_rows(&s.addon.name, [("public.t".to_owned(), 3)].into());
        let first = s.take(BackupKind::Manual).await;
        assert_eq!(first.status, BackupStatus::Checked);
        s.pg.set_rows(&s.addon.name, [("public.t".to_owned(), 9)].into());
        let safety = s
            .addons
            .restore_backup(&s.store, &s.layout, &s.addon, first.id, 0)
            .await
            .unwrap();
        assert_eq!(
            (safety.kind, safety.status, safety.rows),
            (BackupKind::Safety, BackupStatus::Checked, Some(9))
        );
        assert!(s.pg.calls().contains(&"restore pg-shop".to_owned()));

        let file = backup_file(&s.layout, &s.addon, first.id);
        std::fs::write(&file, "{}").unwrap();
        let tampered = s
            .addons
            .restore_backup(&s.store, &s.layout, &s.addon, first.id, 0)
            .await;
        assert!(
            matches!(&tampered, Err(BackupError::NotRestorable(m)) if m.contains("checksum")),
            "{tampered:?}"
        );
        let backups = s.store.backups(&s.addon.name).await.unwrap();
        assert_eq!(backups.len(), 2, "a refused restore takes no safety backup");

        let deleted = s
            .addons
            .delete_backup(&s.store, &s.layout, &s.addon, first.id)
            .await
            .unwrap();
        assert_eq!(deleted.id, first.id);
        assert!(!file.exists());
        let gone = s
            .addons
            .restore_backup(&s.store, &s.layout, &s.addon, first.id, 0)
            .await;
        assert!(
            matches!(
                gone,
                Err(BackupError::Store(StoreError::BackupNotFound { .. }))
            ),
            "{gone:?}"
        );
    }
}
