//! Where skiff keeps each app's files on disk and in /run; one place that knows the layout.

use std::path::{Path, PathBuf};

use crate::model::{AddonName, AppName, BackupId, VolumeMount, VolumeName, VolumeRecord};

/// The on-disk layout under the state dir (`/var/lib/skiff`) and runtime dir (`/run/skiff`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub state_dir: PathBuf,
    pub runtime_dir: PathBuf,
}

impl Layout {
    pub fn new(state_dir: &Path, runtime_dir: &Path) -> Self {
        Self {
            state_dir: state_dir.to_owned(),
            runtime_dir: runtime_dir.to_owned(),
        }
    }

    pub fn apps_dir(&self) -> PathBuf {
        self.state_dir.join("apps")
    }

    /// Everything an app owns on disk: `apps/APP/`.
    pub fn app_dir(&self, app: &AppName) -> PathBuf {
        self.apps_dir().join(app.as_str())
    }

    /// Release vN's unpacked slug, mounted read-only at `/app` in its dynos.
    pub fn slug_dir(&self, app: &AppName, release: u32) -> PathBuf {
        self.app_dir(app).join("slugs").join(format!("v{release}"))
    }

    /// All slugs of an app, one `vN` directory each.
    pub fn slugs_dir(&self, app: &AppName) -> PathBuf {
        self.app_dir(app).join("slugs")
    }

    /// Workspaces of builds: `builds/ID/{app,env,meta}`.
    pub fn builds_dir(&self, app: &AppName) -> PathBuf {
        self.app_dir(app).join("builds")
    }

    /// The app's build cache, kept between builds.
    pub fn cache_dir(&self, app: &AppName) -> PathBuf {
        self.app_dir(app).join("cache")
    }

    /// Root-only environment file of a build and its release phase.
    pub fn build_env_file(&self, app: &AppName, build_id: &str) -> PathBuf {
        self.env_root()
            .join(app.as_str())
            .join(format!("build-{build_id}.env"))
    }

    /// Bare git repositories that `git push` writes to (owned by the `skiff` user).
    pub fn repos_dir(&self) -> PathBuf {
        self.state_dir.join("repos")
    }

    pub fn repo_dir(&self, app: &AppName) -> PathBuf {
        self.repos_dir().join(format!("{app}.git"))
    }

    /// The `skiff` user's `authorized_keys`, written from the database.
    pub fn authorized_keys(&self) -> PathBuf {
        self.state_dir.join("home/.ssh/authorized_keys")
    }

    pub fn env_root(&self) -> PathBuf {
        self.runtime_dir.join("env")
    }

    /// Root-only file with release vN's config vars, read by systemd when a dyno starts.
    pub fn env_file(&self, app: &AppName, release: u32) -> PathBuf {
        self.env_root()
            .join(app.as_str())
            .join(format!("v{release}.env"))
    }

    /// Root-only file with the config vars of one-off dyno `run.N`, while it starts.
    pub fn run_env_file(&self, app: &AppName, index: u32) -> PathBuf {
        self.env_root()
            .join(app.as_str())
            .join(format!("run-{index}.env"))
    }

    /// Add-on backups, one root-only directory per add-on: `backups/ADDON/b001.dump`.
    pub fn backups_root(&self) -> PathBuf {
        self.state_dir.join("backups")
    }

    pub fn backup_dir(&self, addon: &AddonName) -> PathBuf {
        self.backups_root().join(addon.as_str())
    }

    /// A backup's file once checked; `extension` is the server's format (`dump`, `rdb`).
    pub fn backup_file(&self, addon: &AddonName, id: BackupId, extension: &str) -> PathBuf {
        self.backup_dir(addon).join(format!("{id}.{extension}"))
    }

    /// Where a backup is written before it is checked: in its own directory (the same file
    /// system, so the rename that makes it good is atomic), hidden by its leading dot.
    pub fn backup_temporary(&self, addon: &AddonName, id: BackupId, extension: &str) -> PathBuf {
        self.backup_dir(addon)
            .join(format!(".{id}.{extension}.tmp"))
    }

    /// The app's persistent volumes, one directory each (`root:skiff-volumes`, mode 2770).
    pub fn volumes_dir(&self, app: &AppName) -> PathBuf {
        self.app_dir(app).join("volumes")
    }

    pub fn volume_dir(&self, app: &AppName, volume: &VolumeName) -> PathBuf {
        self.volumes_dir(app).join(volume.as_str())
    }

    /// What every process of the app binds: each volume's directory at its mount path.
    pub fn volume_mounts(&self, app: &AppName, volumes: &[VolumeRecord]) -> Vec<VolumeMount> {
        volumes
            .iter()
            .map(|v| VolumeMount {
                source: self.volume_dir(app, &v.name),
                target: v.mount.clone(),
            })
            .collect()
    }

    /// Paths a dyno must not see: skiff's state (DB, other slugs) and runtime files (env files).
    pub fn hidden_from_dynos(&self) -> Vec<PathBuf> {
        vec![self.state_dir.clone(), self.runtime_dir.clone()]
    }
}

/// The `skiff` CLI installed beside the running skiffd (`/usr/bin/skiff` from the package).
pub fn installed_cli() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("skiff")))
        .unwrap_or_else(|| PathBuf::from("/usr/bin/skiff"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let l = Layout::new(Path::new("/var/lib/skiff"), Path::new("/run/skiff"));
        let app = AppName::parse("hello").unwrap();
        assert_eq!(
            l.slug_dir(&app, 3),
            Path::new("/var/lib/skiff/apps/hello/slugs/v3")
        );
        assert_eq!(
            l.env_file(&app, 3),
            Path::new("/run/skiff/env/hello/v3.env")
        );
        assert_eq!(
            l.build_env_file(&app, "ab12"),
            Path::new("/run/skiff/env/hello/build-ab12.env")
        );
        assert_eq!(
            l.repo_dir(&app),
            Path::new("/var/lib/skiff/repos/hello.git")
        );
        let data = VolumeRecord {
            name: VolumeName::parse("data").unwrap(),
            mount: crate::model::MountPath::parse("/srv/data").unwrap(),
            size: None,
            created_at: String::new(),
        };
        let mounts = l.volume_mounts(&app, std::slice::from_ref(&data));
        assert_eq!(
            mounts[0].source,
            Path::new("/var/lib/skiff/apps/hello/volumes/data")
        );
        assert_eq!(mounts[0].target, data.mount);
    }
}
