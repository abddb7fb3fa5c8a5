//! `apps:rename`: an app's new name in the DB, with its files and network namespaces carried over,
//! while no deploy of it runs and no upload of it is being received.
//!
//! The order keeps a crash harmless. The namespaces get their second name first (a stray one is
//! removed later like any other), then one transaction renames the app and records the old name,
//! then the files move. A crash before they move leaves them under the old name, which the DB
//! now lists as a former name: the reconciler never removes them, and skiffd moves them at its
//! next start before anything else runs ([`complete_renames`]). Units keep their old names until
//! the reconciler replaces them: the web dynos beside the routed ones, as a restart does.

use std::io;
use std::path::{Path, PathBuf};

use super::pipeline::Deployer;
use crate::model::AppName;
use crate::paths::Layout;
use crate::store::{AppRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("a deploy of {0} is running; rename the app once it has finished")]
    DeployRunning(AppName),
    #[error("the app is already named {0}")]
    SameName(AppName),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("moving the renamed app's files stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the app is renamed, but moving {from} to {to} failed ({source}); skiffd moves it when it starts again")]
    Move {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
}

impl Deployer {
    /// Renames app `old` to `new`; refused while a deploy of it runs (and none starts meanwhile).
    pub async fn rename_app(&self, old: &AppName, new: &AppName) -> Result<AppRecord, RenameError> {
        if old == new {
            return Err(RenameError::SameName(new.clone()));
        }
        let (old_lock, new_lock) = (self.app_lock(old), self.app_lock(new));
        let old_name = self.name_lock(old);
        // An upload being received holds the name before it takes the deploy lock.
        let (Ok(_old_guard), Ok(_new_guard), Ok(_unheld)) = (
            old_lock.try_lock(),
            new_lock.try_lock(),
            old_name.try_write(),
        ) else {
            return Err(RenameError::DeployRunning(old.clone()));
        };
        let record = self
            .reconciler
            .networks()
            .carry_over(old, new, self.store.rename_app(old, new))
            .await?;
        let (layout, from, to) = (self.layout.clone(), old.clone(), new.clone());
        let moved = tokio::task::spawn_blocking(move || move_app_files(&layout, &from, &to)).await;
        // Even when a move failed: the units get their new names, the files follow at start.
        self.reconciler.poke();
        moved??;
        Ok(record)
    }
}

fn move_failed(from: &Path, to: &Path, source: io::Error) -> RenameError {
    RenameError::Move {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    }
}

/// The places of `app`'s files that carry its name: `apps/APP/` (slugs, builds, cache, volumes)
/// and `repos/APP.git`. Env files are written afresh for the renamed units.
fn named_places(layout: &Layout, app: &AppName) -> [PathBuf; 2] {
    [layout.app_dir(app), layout.repo_dir(app)]
}

/// Moves what `old` has on disk to `new`'s places, durably; what was moved already, or never
/// made, is left alone, and a place `new` already has is not overwritten.
pub(crate) fn move_app_files(
    layout: &Layout,
    old: &AppName,
    new: &AppName,
) -> Result<(), RenameError> {
    for (from, to) in named_places(layout, old)
        .into_iter()
        .zip(named_places(layout, new))
    {
        if !from.exists() {
            continue;
        }
        if to.exists() {
            tracing::warn!(from = %from.display(), to = %to.display(), "not moving a renamed app's files over others");
            continue;
        }
        std::fs::rename(&from, &to).map_err(|e| move_failed(&from, &to, e))?;
        if let Some(parent) = to.parent() {
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| move_failed(&from, &to, e))?;
        }
        tracing::info!(from = %from.display(), to = %to.display(), "moved a renamed app's files");
    }
    Ok(())
}

/// At skiffd's start, before the reconciler: files a crash left under a former name go to the
/// app's name now.
pub async fn complete_renames(store: &Store, layout: &Layout) -> Result<(), RenameError> {
    let renames = store.renames().await?;
    let layout = layout.clone();
    tokio::task::spawn_blocking(move || {
        renames
            .iter()
            .try_for_each(|(old, new)| move_app_files(&layout, old, new))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::pipeline::DeployError;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    #[test]
    fn files_move_once_and_never_over_others() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::new(&root.path().join("lib"), &root.path().join("run"));
        let slug = layout.slug_dir(&app("shop"), 1);
        std::fs::create_dir_all(&slug).unwrap();
        std::fs::write(slug.join("Procfile"), "web: x").unwrap();
        std::fs::create_dir_all(layout.repo_dir(&app("shop"))).unwrap();
        move_app_files(&layout, &app("shop"), &app("store")).unwrap();
        assert!(layout.slug_dir(&app("store"), 1).join("Procfile").is_file());
        assert!(layout.repo_dir(&app("store")).is_dir());
        assert!(!layout.app_dir(&app("shop")).exists());
        assert!(!layout.repo_dir(&app("shop")).exists());
        // Once more (a start after the move finished): nothing to do.
        move_app_files(&layout, &app("shop"), &app("store")).unwrap();
        assert!(layout.slug_dir(&app("store"), 1).is_dir());
        // Files of another app under the new name stay where they are.
        std::fs::create_dir_all(layout.app_dir(&app("shop"))).unwrap();
        std::fs::write(layout.app_dir(&app("shop")).join("mark"), "").unwrap();
        move_app_files(&layout, &app("shop"), &app("store")).unwrap();
        assert!(layout.app_dir(&app("shop")).join("mark").is_file());
        assert!(!layout.app_dir(&app("store")).join("mark").exists());
    }

    #[tokio::test]
    async fn an_upload_holds_the_name_and_a_rename_holds_off_uploads() {
        let k = crate::build::testkit::kit().await;
        let new = app("renamed");
        let upload = k.workspace(&[("Procfile", "web: x\n")]);
        let err = k.deployer.rename_app(&k.app, &new).await.unwrap_err();
        assert!(matches!(err, RenameError::DeployRunning(_)), "{err}");
        assert!(upload.source_dir().join("Procfile").is_file());
        assert_eq!(k.store.get_app(k.app.as_str()).await.unwrap().name, k.app);
        drop(upload);
        {
            let _renaming = k.deployer.name_lock(&k.app).try_write_owned().unwrap();
            let refused = k.deployer.hold_name(&k.app).err().unwrap();
            assert!(matches!(refused, DeployError::Renaming(_)), "{refused}");
        }
        let renamed = k.deployer.rename_app(&k.app, &new).await.unwrap();
        assert_eq!(renamed.name, new);
    }

    #[tokio::test]
    async fn a_start_moves_what_a_crash_left_under_the_old_name() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::new(&root.path().join("lib"), &root.path().join("run"));
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("shop")).await.unwrap();
        std::fs::create_dir_all(layout.slug_dir(&app("shop"), 2)).unwrap();
        store.rename_app(&app("shop"), &app("store")).await.unwrap();
        complete_renames(&store, &layout).await.unwrap();
        assert!(layout.slug_dir(&app("store"), 2).is_dir());
        assert!(!layout.app_dir(&app("shop")).exists());
    }
}
