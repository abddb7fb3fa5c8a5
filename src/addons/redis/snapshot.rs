//! Backups of Redis add-ons: an RDB snapshot taken with `BGSAVE` and waited for until the
//! server says it is written, copied from the data folder (Redis renames a finished snapshot
//! into place, so the copy is of one whole snapshot; a newer one appearing meanwhile makes it
//! start over), and checked by loading it into a scratch `redis-server` as its own unit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cli;
use super::config;
use super::debian::{blocking, io, redis_ids, DebianRedis, GONE_TIMEOUT, POLL};
use super::info::{parse_snapshot_state, SnapshotState};
use super::{RedisError, RedisInstance, RedisSnapshot};
use crate::model::{AddonName, Census};
use crate::systemd::properties::{
    redis_check_properties, RedisCheckSpec, REDIS_CHECK_SNAPSHOT, REDIS_CHECK_SOCKET,
};

/// How long a snapshot may take to be written.
const SAVE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long the scratch server may take to load a snapshot.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Snapshots taken again when a newer one replaced ours while it was copied.
const ATTEMPTS: usize = 3;
/// Redis's own name for its snapshot in the data folder.
const DUMP_FILE: &str = "dump.rdb";

fn cli_error(command: &str, message: impl Into<String>) -> RedisError {
    RedisError::Cli {
        command: command.to_owned(),
        message: message.into(),
    }
}

impl DebianRedis {
    async fn snapshot_state(&self, instance: &RedisInstance) -> Result<SnapshotState, RedisError> {
        let args = ["INFO", "keyspace", "persistence"].map(String::from);
        let text = cli::call(instance.listen, &instance.secret, &args, None).await?;
        parse_snapshot_state(&text)
            .ok_or_else(|| cli_error("INFO", "the answer lacks the keyspace or persistence"))
    }

    /// Asks for a background save and waits until it is written; the state right after.
    async fn background_save(&self, instance: &RedisInstance) -> Result<SnapshotState, RedisError> {
        let before = self.snapshot_state(instance).await?;
        let reply = cli::call(instance.listen, &instance.secret, &["BGSAVE".into()], None).await?;
        // "started": the fork happened, and the save is done once none is in progress.
        // "scheduled": it starts after an AOF rewrite, so wait to see it run or its time.
        let started = reply.contains("started");
        if !started && !reply.contains("scheduled") {
            return Err(cli_error("BGSAVE", reply));
        }
        let deadline = tokio::time::Instant::now() + SAVE_TIMEOUT;
        let mut seen_running = false;
        loop {
            let state = self.snapshot_state(instance).await?;
            seen_running |= state.in_progress;
            let done = !state.in_progress
                && (started || seen_running || state.last_save > before.last_save);
            if done {
                if !state.last_ok {
                    return Err(cli_error(
                        "BGSAVE",
                        "the snapshot failed; the add-on's journal says why",
                    ));
                }
                return Ok(state);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(cli_error(
                    "BGSAVE",
                    format!("not written after {}s", SAVE_TIMEOUT.as_secs()),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Writes a snapshot of `instance` to `file`; the keys it holds, within the writes made and
    /// keys that may expire since it was taken.
    pub(super) async fn take_snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<RedisSnapshot, RedisError> {
        let source = self.data_dir(&instance.name).join(DUMP_FILE);
        for _ in 0..ATTEMPTS {
            let saved = self.background_save(instance).await?;
            let (from, to) = (source.clone(), file.to_owned());
            blocking(move || {
                use std::os::unix::fs::PermissionsExt;
                std::fs::copy(&from, &to)
                    .and_then(|_| std::fs::set_permissions(&to, PermissionsExt::from_mode(0o600)))
                    .map_err(io(format!("cannot copy {}", from.display())))
            })
            .await?;
            let after = self.snapshot_state(instance).await?;
            if after.last_save == saved.last_save && !after.in_progress {
                return Ok(RedisSnapshot {
                    keys: saved.keys,
                    tolerance: saved.changes + saved.expires,
                });
            }
        }
        Err(cli_error(
            "BGSAVE",
            "other snapshots kept replacing the one being copied",
        ))
    }

    fn scratch_dir(&self, name: &AddonName) -> PathBuf {
        self.root.join(format!(".check-{name}"))
    }

    /// Loads `file` into a scratch server of its own and counts its keys per database.
    pub(super) async fn check_loaded_snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<Census, RedisError> {
        let unit = instance.name.backup_check_unit_name();
        self.stop_check(&unit).await?;
        let scratch = self.scratch_dir(&instance.name);
        let (dir, from) = (scratch.clone(), file.to_owned());
        blocking(move || prepare_scratch(&dir, &from)).await?;
        let spec = RedisCheckSpec {
            addon: instance.name.clone(),
            scratch_dir: scratch.clone(),
            memory_max: config::memory_max(instance.maxmemory),
            hidden_paths: self.hidden_paths.clone(),
            runtime_max_usec: (LOAD_TIMEOUT * 2).as_micros() as u64,
        };
        let counted = match self
            .systemd
            .start_transient(&unit, redis_check_properties(&spec))
            .await
        {
            Ok(()) => {
                self.count_loaded(&unit, &scratch.join(REDIS_CHECK_SOCKET))
                    .await
            }
            Err(e) => Err(e.into()),
        };
        let stopped = self.stop_check(&unit).await;
        let dir = scratch.clone();
        let removed = blocking(move || {
            std::fs::remove_dir_all(&dir).map_err(io(format!("cannot remove {}", dir.display())))
        })
        .await;
        let census = counted?;
        stopped?;
        removed?;
        Ok(census)
    }

    /// Waits until the scratch server has loaded its snapshot, then counts the keys.
    async fn count_loaded(&self, unit: &str, socket: &Path) -> Result<Census, RedisError> {
        let deadline = tokio::time::Instant::now() + LOAD_TIMEOUT;
        let args = ["INFO", "keyspace", "persistence"].map(String::from);
        loop {
            // Until it has loaded, it is not there or answers LOADING.
            match cli::call_socket(socket, &args).await {
                Ok(text) => {
                    return parse_snapshot_state(&text).map(|s| s.keys).ok_or_else(|| {
                        cli_error("INFO", "the scratch server's answer lacks its keyspace")
                    });
                }
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(e) => {
                    let listed = self.systemd.list_units(unit).await?;
                    if !listed
                        .iter()
                        .any(|u| u.name == unit && u.active_state == "active")
                    {
                        return Err(cli_error(
                            "redis-server",
                            format!("the scratch server did not load the snapshot ({e}); journalctl -u {unit} says why"),
                        ));
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Stops a scratch server (a leftover of a crash too) and waits until it is gone.
    async fn stop_check(&self, unit: &str) -> Result<(), RedisError> {
        let deadline = tokio::time::Instant::now() + GONE_TIMEOUT;
        loop {
            let listed = self.systemd.list_units(unit).await?;
            match listed.iter().find(|u| u.name == unit) {
                None => return Ok(()),
                Some(u) if u.active_state == "inactive" => return Ok(()),
                Some(u) if u.active_state == "failed" => {
                    self.systemd.reset_failed(unit).await?;
                    return Ok(());
                }
                Some(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(cli_error(
                        "redis-server",
                        format!("{unit} did not stop within {}s", GONE_TIMEOUT.as_secs()),
                    ));
                }
                Some(u) => {
                    if u.active_state == "active" {
                        self.systemd.stop_unit(unit).await?;
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
}

/// The AOF folder a restore makes from a snapshot before it swaps it in, and where the previous
/// AOF is afterwards until it is deleted.
const STAGED_AOF_DIR: &str = ".appendonlydir.restore";
/// Redis's own names (`appenddirname`, `appendfilename`): the multi-part AOF folder and, in it,
/// the manifest and a base that may be in RDB format.
const AOF_DIR: &str = "appendonlydir";
const AOF_MANIFEST: &str = "appendonly.aof.manifest";
const AOF_BASE: &str = "appendonly.aof.1.base.rdb";

impl DebianRedis {
    /// Replaces what the instance holds with the snapshot `file`: a new AOF folder whose base
    /// is the snapshot is made beside the current one, the server stops, the two folders are
    /// swapped in one `renameat2(RENAME_EXCHANGE)`, and the server starts on the new one. The
    /// previous AOF is deleted only once the server answers again; until then it is in
    /// `.appendonlydir.restore`.
    pub(super) async fn restore_from_snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<(), RedisError> {
        let data = self.data_dir(&instance.name);
        let staged = data.join(STAGED_AOF_DIR);
        let (dir, from) = (staged.clone(), file.to_owned());
        blocking(move || stage_aof(&dir, &from)).await?;
        self.stop_instance(&instance.name).await?;
        let (dir, current) = (staged.clone(), data.join(AOF_DIR));
        blocking(move || swap_dirs(&dir, &current)).await?;
        self.start_instance(instance).await?;
        let dir = staged.clone();
        blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io(format!("cannot remove {}", dir.display()))(e))
            }
            _ => Ok(()),
        })
        .await
    }
}

/// A fresh AOF folder owned by `redis` whose only part is `snapshot` as its base, synced.
fn stage_aof(dir: &Path, snapshot: &Path) -> Result<(), RedisError> {
    fresh_redis_dir(dir)?;
    let base = dir.join(AOF_BASE);
    let manifest = dir.join(AOF_MANIFEST);
    let written = std::fs::copy(snapshot, &base)
        .and_then(|_| std::fs::write(&manifest, format!("file {AOF_BASE} seq 1 type b\n")))
        .and_then(|()| {
            for path in [&base, &manifest] {
                std::fs::File::open(path)?.sync_all()?;
            }
            std::fs::File::open(dir)?.sync_all()
        });
    written.map_err(io(format!("cannot write {}", dir.display())))?;
    give_to_redis(&[dir, &base, &manifest])
}

/// Exchanges two folders' names atomically (the current AOF folder may not exist yet: then the
/// staged one is renamed).
fn swap_dirs(staged: &Path, current: &Path) -> Result<(), RedisError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    let exchanged = if current.exists() {
        renameat_with(CWD, staged, CWD, current, RenameFlags::EXCHANGE)
            .map_err(std::io::Error::from)
    } else {
        std::fs::rename(staged, current)
    };
    exchanged.map_err(io(format!("cannot put {} in place", staged.display())))?;
    let parent = current.parent().unwrap_or(current);
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot sync {}", parent.display())))
}

fn give_to_redis(paths: &[&Path]) -> Result<(), RedisError> {
    let (uid, gid) = redis_ids()?;
    for path in paths {
        nix::unistd::chown(*path, Some(uid), Some(gid)).map_err(|e| RedisError::Io {
            what: format!("cannot give {} to redis", path.display()),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// An empty folder at `dir`, whatever was there, open to its owner alone.
fn fresh_redis_dir(dir: &Path) -> Result<(), RedisError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io(format!("cannot remove {}", dir.display()))(e));
        }
        _ => {}
    }
    crate::files::make_dir_mode(dir, 0o700).map_err(io(format!("cannot create {}", dir.display())))
}

/// A fresh scratch folder owned by `redis` holding a copy of the snapshot.
fn prepare_scratch(dir: &Path, snapshot: &Path) -> Result<(), RedisError> {
    fresh_redis_dir(dir)?;
    let copy = dir.join(REDIS_CHECK_SNAPSHOT);
    std::fs::copy(snapshot, &copy).map_err(io(format!("cannot copy to {}", copy.display())))?;
    give_to_redis(&[dir, &copy])
}
