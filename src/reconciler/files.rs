//! The reconciler's files, all touched on tokio's blocking pool: root-only env files of
//! releases, and the files of destroyed apps, removed once none of their units runs.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ReconcileError, Reconciler};
use crate::model::{AppName, ConfigVars, DynoUnit};
use crate::reconcile::render_env_file;
use crate::systemd::UnitStatus;

/// Writes a release's config vars to its root-only env file.
pub(super) async fn write_env_file(
    path: PathBuf,
    config: &ConfigVars,
) -> Result<(), ReconcileError> {
    let contents = render_env_file(config);
    tokio::task::spawn_blocking(move || write_private(&path, &contents)).await?
}

/// What dynos of one release need on disk before they start.
pub(super) struct ReleaseFiles {
    pub(super) slug_dir: PathBuf,
    pub(super) env_file: PathBuf,
    pub(super) config: Arc<ConfigVars>,
}

/// Checks each release's slug and writes its env file, all in one blocking task; a result per
/// release, in order.
pub(super) async fn prepare_releases(
    releases: impl Iterator<Item = ReleaseFiles>,
) -> Vec<Result<(), ReconcileError>> {
    let releases: Vec<ReleaseFiles> = releases.collect();
    let count = releases.len();
    let task = tokio::task::spawn_blocking(move || releases.iter().map(prepare).collect());
    match task.await {
        Ok(results) => results,
        Err(e) => {
            let message = e.to_string();
            let failed = || ReconcileError::Io {
                action: "preparing releases".into(),
                source: std::io::Error::other(message.clone()),
            };
            (0..count).map(|_| Err(failed())).collect()
        }
    }
}

/// Checks a release's slug and writes its env file.
fn prepare(release: &ReleaseFiles) -> Result<(), ReconcileError> {
    let slug = &release.slug_dir;
    if !slug.is_dir() {
        return Err(ReconcileError::Io {
            action: format!("starting dynos of {}", slug.display()),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("slug {} is missing", slug.display()),
            ),
        });
    }
    write_private(&release.env_file, &render_env_file(&release.config))
}

/// Writes a root-only env file, with the reconciler's error.
fn write_private(path: &Path, contents: &str) -> Result<(), ReconcileError> {
    crate::files::write_private(path, contents.as_bytes()).map_err(|source| ReconcileError::Io {
        action: format!("writing {}", path.display()),
        source,
    })
}

impl Reconciler {
    /// Deletes slugs and env files of apps the DB no longer has, once none of their units runs.
    pub(super) async fn remove_files_of_gone_apps(
        &self,
        units: &[UnitStatus],
    ) -> Result<(), ReconcileError> {
        // Listed now, not taken from the round's snapshot: an app created while the round ran
        // already has files (its upload) and must keep them. An app's row always exists before
        // its files do, so files listed after this read belong to apps in it or to gone ones.
        let roots = vec![
            self.layout.apps_dir(),
            self.layout.env_root(),
            self.layout.repos_dir(),
        ];
        let listed = roots.clone();
        let seen = tokio::task::spawn_blocking(move || owners_in(&listed)).await?;
        if seen.is_empty() {
            return Ok(());
        }
        let apps: BTreeSet<AppName> = self
            .store
            .list_apps()
            .await?
            .into_iter()
            .map(|record| record.name)
            .collect();
        // A crash may have left a renamed app's slugs, volumes or repository under a former
        // name, for the next start to move; its old env files are only its old units'.
        let former: BTreeSet<String> = self
            .store
            .renames()
            .await?
            .into_iter()
            .map(|(old, _)| old.to_string())
            .collect();
        let env_root = self.layout.env_root();
        let busy: BTreeSet<String> = units
            .iter()
            .filter_map(|u| DynoUnit::parse(&u.name))
            .map(|u| u.app.to_string())
            .collect();
        let gone = move |root: &Path, name: &str| {
            // An entry that appeared after the app list was read is not in `seen`.
            seen.contains(name)
                && !AppName::parse(name).is_ok_and(|a| apps.contains(&a))
                && !busy.contains(name)
                && (root == env_root || !former.contains(name))
        };
        tokio::task::spawn_blocking(move || remove_entries(&roots, gone)).await?
    }
}

/// The apps that own entries of `roots`.
fn owners_in(roots: &[PathBuf]) -> BTreeSet<String> {
    roots
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flat_map(|entries| entries.flatten().map(|e| owner_app(&e.file_name())))
        .collect()
}

/// Removes the entries of `roots` whose owner app is `gone`.
fn remove_entries(
    roots: &[PathBuf],
    gone: impl Fn(&Path, &str) -> bool,
) -> Result<(), ReconcileError> {
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            if !gone(root, &owner_app(&entry.file_name())) {
                continue;
            }
            tracing::info!(path = %entry.path().display(), "removing files of a destroyed app");
            std::fs::remove_dir_all(entry.path()).map_err(|source| ReconcileError::Io {
                action: format!("removing {}", entry.path().display()),
                source,
            })?;
        }
    }
    Ok(())
}

/// The app an entry of the apps, env or repos directory belongs to (`hello.git` → `hello`).
fn owner_app(file_name: &OsStr) -> String {
    let name = file_name.to_string_lossy();
    name.strip_suffix(".git").unwrap_or(&name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_belong_to_the_app_they_are_named_after() {
        let cases = [
            ("hello", "hello"),
            ("hello.git", "hello"),
            ("a-app", "a-app"),
            ("odd.git.git", "odd.git"),
        ];
        for (entry, app) in cases {
            assert_eq!(owner_app(OsStr::new(entry)), app, "{entry}");
        }
    }
}
