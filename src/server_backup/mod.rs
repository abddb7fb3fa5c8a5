//! Whole-server backup and restore (`skiff backup`, `skiff restore`): one archive with the
//! SQLite state, every app's slugs, volumes and git repo, Caddy's storage (TLS material) and a
//! fresh checked backup of every add-on, and the restore that brings it all back.
//!
//! A backup first takes a checked backup of every add-on (any failure ends it before a byte is
//! sent), then copies the database with SQLite's online backup API and streams the archive,
//! the manifest with every entry's SHA-256 last. A restore stores the upload, reads it whole
//! against its manifest and checks the archived database before anything changes; then it
//! unpacks it beside the state, puts each tree in place, and last replaces the database in one
//! transaction: until that commit the server still has its old state, so an interrupted
//! restore is simply run again. Once the reconciler has made each add-on's server from the
//! restored rows, its data comes back from the backup the manifest names; meanwhile the apps'
//! dynos and cron jobs wait, so their code never meets an add-on still empty.

mod archive;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::addons::BackupError;
use crate::model::{
    check_restore_allowed, AddonName, AddonState, ArchiveError, ArchiveManifest, ArchivedAddon,
    BackupId, BackupKind, BackupStatus, ARCHIVE_FORMAT, DATABASE_NAME,
};
use crate::paths::Layout;
use crate::reconciler::Reconciler;
use crate::store::{Store, StoreError};
use crate::systemd::names::CADDY_UNIT;
use crate::systemd::Systemd;
pub(crate) use archive::ArchiveFault;

/// How long a restore waits for the reconciler to make one add-on's server.
const ADDON_READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Bytes handed to the response at a time.
const CHUNK: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServerBackupError {
    #[error("the backup of add-on {addon} failed ({reason}); no archive was written")]
    AddonBackup { addon: AddonName, reason: String },
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] ArchiveFault),
    #[error("cannot {what}: {source}")]
    Files {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("add-on {addon} was not made again: {reason}; its data is in backup {backup}, restore it with pg:backups:restore or redis:backups:restore")]
    AddonNotReady {
        addon: AddonName,
        backup: BackupId,
        reason: String,
    },
    #[error("the restore stopped: {0}")]
    Task(String),
}

impl From<ArchiveError> for ServerBackupError {
    fn from(e: ArchiveError) -> Self {
        Self::Archive(ArchiveFault::Refused(e))
    }
}

fn files(what: &'static str) -> impl FnOnce(std::io::Error) -> ServerBackupError {
    move |source| ServerBackupError::Files { what, source }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServerBackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerBackupError::Task(e.to_string()))
}

/// Names under the state directory of a backup's database copy and a restore's staging
/// folder; what a crash left of either is removed at start.
const DATABASE_COPY_PREFIX: &str = ".server-backup-";
const STAGING_PREFIX: &str = ".restore-";

/// At start: removes the database copies and staging folders a crash left behind (blocking).
pub fn remove_leftovers(layout: &Layout) -> usize {
    let Ok(entries) = std::fs::read_dir(&layout.state_dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let gone = if name.starts_with(STAGING_PREFIX) {
            std::fs::remove_dir_all(&path)
        } else if name.starts_with(DATABASE_COPY_PREFIX) {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        match gone {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove what an interrupted server backup or restore left")
            }
        }
    }
    removed
}

/// What the backup and restore work with.
#[derive(Clone)]
pub struct ServerBackups {
    pub store: Store,
    pub layout: Layout,
    pub reconciler: Reconciler,
    pub systemd: Arc<dyn Systemd>,
    /// `backup_free_space_floor`, in bytes.
    pub floor: u64,
}

/// The archive as it is written: chunks of bytes, or the error that cut it short.
pub type ArchiveStream = mpsc::Receiver<Result<Vec<u8>, std::io::Error>>;

/// A writer that hands the archive to the response in chunks; it fails once the client left.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// What a restore brought back. Until it is dropped (once the add-ons' data is back, or
/// could not be), the apps' dynos and cron jobs wait.
pub struct Restored {
    pub manifest: ArchiveManifest,
    pub apps: u64,
    pub addons: Vec<(AddonName, BackupId)>,
    _paused: crate::reconciler::ProcessesPaused,
}

impl ServerBackups {
    /// Takes a checked backup of every add-on, copies the database and starts streaming the
    /// archive. Every failure before the stream starts is an error here; one while streaming
    /// ends the stream with it, so the client never takes a cut archive for a whole one.
    pub async fn backup(&self) -> Result<ArchiveStream, ServerBackupError> {
        let addons = self.reconciler.addons();
        let mut archived = Vec::new();
        for addon in self.store.addons().await? {
            if addon.state == AddonState::Destroying {
                continue;
            }
            let taken = addons
                .take_backup(
                    &self.store,
                    &self.layout,
                    &addon,
                    BackupKind::Manual,
                    self.floor,
                )
                .await?;
            if taken.status != BackupStatus::Checked {
                return Err(ServerBackupError::AddonBackup {
                    addon: addon.name,
                    reason: taken.reason.unwrap_or_else(|| "no reason recorded".into()),
                });
            }
            archived.push(ArchivedAddon {
                addon: addon.name.to_string(),
                backup: taken.id.to_string(),
            });
        }
        let state_dir = self.layout.state_dir.clone();
        let copy = state_dir.join(format!("{DATABASE_COPY_PREFIX}{}.db", uuid::Uuid::new_v4()));
        let schema_version = self.store.snapshot_to(&copy).await?;
        let manifest = ArchiveManifest {
            format: ARCHIVE_FORMAT,
            skiff_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema_version,
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            entries: Vec::new(),
            addons: archived,
        };
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            match archive::write_archive(&state_dir, &copy, &mut out, manifest) {
                Ok(written) => tracing::info!(
                    entries = written.entries.len(),
                    addons = written.addons.len(),
                    "server backup written"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "server backup cut short");
                    let _ = tx.blocking_send(Err(e));
                }
            }
            let _ = std::fs::remove_file(&copy);
        });
        Ok(rx)
    }

    /// A folder beside the state for one restore's upload and unpacked trees.
    pub fn staging(&self) -> PathBuf {
        self.layout
            .state_dir
            .join(format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4()))
    }

    /// Restores the server from the archive at `staging/server.tar`: checked whole before
    /// anything changes, the trees put in place, the database replaced last, Caddy restarted
    /// on the restored TLS material. Returns the checked manifest; the add-ons' data comes back
    /// with [`ServerBackups::restore_addons`].
    pub async fn restore_state(
        &self,
        staging: &Path,
        force: bool,
    ) -> Result<Restored, ServerBackupError> {
        let upload = staging.join("server.tar");
        let manifest = blocking({
            let upload = upload.clone();
            move || archive::verify(&upload)
        })
        .await??;
        let addons = manifest.addon_backups()?;
        let apps: Vec<_> = self
            .store
            .list_apps()
            .await?
            .into_iter()
            .map(|a| a.name)
            .collect();
        check_restore_allowed(&apps, force)?;
        let unpacked = staging.join("unpacked");
        blocking({
            let (upload, unpacked) = (upload.clone(), unpacked.clone());
            move || {
                std::fs::create_dir(&unpacked).map_err(ArchiveFault::Disk)?;
                let mut owners = archive::Owners::default();
                archive::unpack(&upload, &unpacked, &mut |o| owners.resolve(o))
            }
        })
        .await??;
        let database = unpacked.join(DATABASE_NAME);
        let facts = Store::inspect_snapshot(&database).await?;
        blocking({
            let (units, state_dir) = (manifest.units(), self.layout.state_dir.clone());
            let replaced = staging.join("replaced");
            move || archive::put_in_place(&unpacked, &state_dir, &units, &replaced)
        })
        .await?
        .map_err(files("put the restored files in place"))?;
        let paused = self.reconciler.pause_processes();
        self.store.replace_with(&database).await?;
        let interrupted = self.store.fail_interrupted_backups().await?;
        tracing::info!(
            apps = facts.apps,
            archive_version = %manifest.skiff_version,
            created = %manifest.created_at,
            interrupted_backups = interrupted,
            "server state restored"
        );
        if manifest.units().iter().any(|u| u == "caddy") {
            if let Err(e) = self.systemd.restart_unit_and_wait(CADDY_UNIT).await {
                tracing::warn!(error = %e, "skiff's Caddy did not restart on the restored storage");
            }
        }
        self.reconciler.addons().forget_made();
        self.reconciler.poke();
        Ok(Restored {
            manifest,
            apps: facts.apps,
            addons,
            _paused: paused,
        })
    }

    /// Once the reconciler has made each restored add-on's server, restores its data from the
    /// backup the archive holds for it.
    pub async fn restore_addons(&self, restored: &Restored) -> Result<(), ServerBackupError> {
        let addons = self.reconciler.addons();
        for (name, id) in &restored.addons {
            let not_ready = |reason: String| ServerBackupError::AddonNotReady {
                addon: name.clone(),
                backup: *id,
                reason,
            };
            let started = Instant::now();
            while !addons.served(name) {
                if let Some(failure) = self.reconciler.addon_failure(name) {
                    return Err(not_ready(failure));
                }
                if started.elapsed() > ADDON_READY_TIMEOUT {
                    return Err(not_ready(format!(
                        "still not ready after {}s",
                        ADDON_READY_TIMEOUT.as_secs()
                    )));
                }
                self.reconciler.wait_for_round().await;
            }
            let record = self.store.addon(name.as_str()).await?;
            addons
                .restore_backup(&self.store, &self.layout, &record, *id, self.floor)
                .await?;
        }
        Ok(())
    }
}
