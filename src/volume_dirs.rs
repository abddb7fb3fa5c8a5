//! Volume directories on disk: made with their group and mode before any process mounts them,
//! and removed once the volume is destroyed. All work runs on the blocking pool.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::model::{AppName, VolumeMount, VolumeRecord, VOLUME_DIR_MODE, VOLUME_GROUP};
use crate::paths::Layout;

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

/// Makes sure each of the app's volumes has its directory (`root:skiff-volumes`, mode 2770) and
/// returns the mounts its processes get.
pub async fn prepare(
    layout: &Layout,
    app: &AppName,
    volumes: &[VolumeRecord],
) -> Result<Vec<VolumeMount>, VolumeDirError> {
    let mounts = layout.volume_mounts(app, volumes);
    if mounts.is_empty() {
        return Ok(mounts);
    }
    let (parent, dirs): (PathBuf, Vec<PathBuf>) = (
        layout.volumes_dir(app),
        mounts.iter().map(|m| m.source.clone()).collect(),
    );
    blocking(move || {
        let gid = nix::unistd::Group::from_name(VOLUME_GROUP)
            .ok()
            .flatten()
            .ok_or(VolumeDirError::NoGroup)?
            .gid;
        // Root's alone: only the mounts let processes reach the volumes.
        std::fs::create_dir_all(&parent).map_err(io("making", &parent))?;
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700))
            .map_err(io("restricting", &parent))?;
        for dir in &dirs {
            ensure_dir(dir, gid.as_raw())?;
        }
        Ok(())
    })
    .await?;
    Ok(mounts)
}

/// One volume's directory with the volume group and mode, made or corrected.
fn ensure_dir(dir: &Path, gid: u32) -> Result<(), VolumeDirError> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta)
            if meta.is_dir() && meta.gid() == gid && meta.mode() & 0o7777 == VOLUME_DIR_MODE =>
        {
            return Ok(())
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(VolumeDirError::Io {
                action: "using",
                path: dir.to_owned(),
                source: std::io::Error::other("it is not a directory"),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(dir).map_err(io("making", dir))?;
        }
        Err(e) => return Err(io("reading", dir)(e)),
    }
    nix::unistd::chown(
        dir,
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(|e| io("giving the volume group", dir)(e.into()))?;
    // chmod after chown: chown clears the set-group-ID bit.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(VOLUME_DIR_MODE))
        .map_err(io("setting the mode of", dir))
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

    #[tokio::test]
    async fn an_app_without_volumes_needs_no_directory() {
        let layout = Layout::new(
            Path::new("/nonexistent/state"),
            Path::new("/nonexistent/run"),
        );
        let app = AppName::parse("hello").unwrap();
        assert!(prepare(&layout, &app, &[]).await.unwrap().is_empty());
    }
}
