//! Volume directories on disk: made with their group and mode before any process mounts them,
//! and removed once the volume is destroyed. File work runs on the blocking pool.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::model::{AppName, VolumeMount, VolumeRecord, VOLUME_DIR_MODE, VOLUME_GROUP};
use crate::paths::Layout;
use crate::systemd::names::oneoff_unit_name;
use crate::systemd::properties::{host_commands_properties, HostCommand, HostCommandsSpec};
use crate::systemd::{Systemd, SystemdError};

#[derive(Debug, thiserror::Error)]
pub enum VolumeDirError {
    #[error("group {VOLUME_GROUP} is missing; reinstall the skiff package to make it")]
    NoGroup,
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("making the volume directories of {app}: {source}")]
    Make { app: AppName, source: SystemdError },
    #[error("volume task failed: {0}")]
    Task(String),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeDirError {
    let path = path.to_owned();
    move |source| VolumeDirError::Io {
        action,
        path,
        source,
    }
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, VolumeDirError> + Send + 'static,
) -> Result<R, VolumeDirError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VolumeDirError::Task(e.to_string()))?
}

/// How long making an app's volume directories may take.
const MAKE_TIMEOUT_USEC: u64 = 30_000_000;

/// One app's directories are made at a time, so two dynos starting together do not start the
/// same unit twice.
static MAKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Makes sure each of the app's volumes has its directory (`root:skiff-volumes`, mode 2770) and
/// returns the mounts its processes get. skiffd's own sandbox forbids set-group-ID modes
/// (`RestrictSUIDSGID=`), so a directory that is missing or wrong is made by a oneshot unit PID 1
/// runs, `skiff-APP.volumes-make.service`, with coreutils' `install`.
pub async fn prepare(
    layout: &Layout,
    systemd: &dyn Systemd,
    app: &AppName,
    volumes: &[VolumeRecord],
) -> Result<Vec<VolumeMount>, VolumeDirError> {
    let mounts = layout.volume_mounts(app, volumes);
    if mounts.is_empty() {
        return Ok(mounts);
    }
    let _one_at_a_time = MAKING.lock().await;
    let parent = layout.volumes_dir(app);
    let dirs: Vec<PathBuf> = mounts.iter().map(|m| m.source.clone()).collect();
    let wrong = blocking(move || {
        let gid = nix::unistd::Group::from_name(VOLUME_GROUP)
            .ok()
            .flatten()
            .ok_or(VolumeDirError::NoGroup)?
            .gid
            .as_raw();
        let mut wrong = Vec::new();
        for dir in dirs {
            if !is_ready(&dir, gid)? {
                wrong.push(dir);
            }
        }
        Ok(wrong)
    })
    .await?;
    if wrong.is_empty() {
        return Ok(mounts);
    }
    let spec = HostCommandsSpec {
        description: format!("skiff volumes of {app}"),
        commands: make_commands(&parent, &wrong),
        timeout_usec: MAKE_TIMEOUT_USEC,
    };
    let unit = oneoff_unit_name(app, "volumes", "make");
    tracing::info!(%app, volumes = wrong.len(), "making volume directories");
    systemd
        .start_transient(&unit, host_commands_properties(&spec))
        .await
        .map_err(|source| VolumeDirError::Make {
            app: app.clone(),
            source,
        })?;
    Ok(mounts)
}

/// Whether `dir` is a directory with the volume group and mode; an error when something else
/// has its name.
fn is_ready(dir: &Path, gid: u32) -> Result<bool, VolumeDirError> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            Ok(meta.uid() == 0 && meta.gid() == gid && meta.mode() & 0o7777 == VOLUME_DIR_MODE)
        }
        Ok(_) => Err(VolumeDirError::Io {
            action: "using",
            path: dir.to_owned(),
            source: std::io::Error::other("it is not a directory"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("reading", dir)(e)),
    }
}

/// The parent root's alone (only the mounts let processes reach the volumes), then each
/// directory made or corrected with its owner, group and mode.
fn make_commands(parent: &Path, dirs: &[PathBuf]) -> Vec<HostCommand> {
    let install = |args: &[&str], dir: &Path| HostCommand {
        argv: ["/usr/bin/install", "-d"]
            .iter()
            .chain(args)
            .map(|a| (*a).to_owned())
            .chain([dir.display().to_string()])
            .collect(),
        ignore_failure: false,
    };
    let mode = format!("{VOLUME_DIR_MODE:o}");
    std::iter::once(install(&["-m", "700"], parent))
        .chain(
            dirs.iter()
                .map(|dir| install(&["-o", "root", "-g", VOLUME_GROUP, "-m", &mode], dir)),
        )
        .collect()
}

/// Removes a destroyed volume's directory and everything in it (nothing when it is gone).
pub async fn remove(dir: PathBuf) -> Result<(), VolumeDirError> {
    blocking(move || match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("removing", &dir)(e)),
        _ => Ok(()),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn removing_takes_the_whole_tree_and_a_missing_one_is_fine() {
        let root = std::env::temp_dir().join(format!("skiff-volume-{}", rand::random::<u64>()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b"), b"x").unwrap();
        remove(root.clone()).await.unwrap();
        assert!(!root.exists());
        remove(root).await.unwrap();
    }

    #[test]
    fn the_parent_is_made_private_then_each_directory_gets_the_group_and_mode() {
        let dirs = [
            PathBuf::from("/s/apps/a/volumes/data"),
            PathBuf::from("/s/apps/a/volumes/up"),
        ];
        let argv: Vec<String> = make_commands(Path::new("/s/apps/a/volumes"), &dirs)
            .into_iter()
            .map(|c| {
                assert!(!c.ignore_failure);
                c.argv.join(" ")
            })
            .collect();
        assert_eq!(
            argv,
            [
                "/usr/bin/install -d -m 700 /s/apps/a/volumes",
                "/usr/bin/install -d -o root -g skiff-volumes -m 2770 /s/apps/a/volumes/data",
                "/usr/bin/install -d -o root -g skiff-volumes -m 2770 /s/apps/a/volumes/up",
            ]
        );
    }

    #[tokio::test]
    async fn an_app_without_volumes_needs_no_directory() {
        let layout = Layout::new(
            Path::new("/nonexistent/state"),
            Path::new("/nonexistent/run"),
        );
        let app = AppName::parse("hello").unwrap();
        let systemd = crate::systemd::FakeSystemd::default();
        assert!(prepare(&layout, &systemd, &app, &[])
            .await
            .unwrap()
            .is_empty());
        assert!(systemd.calls().is_empty());
    }
}
