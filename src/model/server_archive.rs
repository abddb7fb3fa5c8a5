//! The whole-server backup archive (`skiff backup`): which paths it may hold, who owns each on
//! the server it is restored to, its manifest and the checks that refuse a damaged archive
//! before anything changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AddonName, AppName, BackupId};

/// The manifest's name: the archive's last entry, so a truncated archive has none.
pub const MANIFEST_NAME: &str = "skiff-backup.json";

/// The archive's format; a restore refuses any other.
pub const ARCHIVE_FORMAT: u32 = 1;

/// The SQLite state's name in the archive and under the state directory.
pub const DATABASE_NAME: &str = "skiff.db";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive holds {0:?}, which no skiff backup holds")]
    UnexpectedPath(String),
    #[error("the archive has no manifest at its end: it is truncated or not a skiff backup")]
    NoManifest,
    #[error("the archive holds {0:?} after its manifest, which must be last")]
    AfterManifest(String),
    #[error("the manifest is not readable: {0}")]
    BadManifest(String),
    #[error("the archive is format {0}; this skiff restores format {ARCHIVE_FORMAT}")]
    Format(u32),
    #[error("the archive lacks {0:?}, which its manifest lists: it is truncated or damaged")]
    Missing(String),
    #[error("the archive holds {0:?}, which its manifest does not list")]
    Unlisted(String),
    #[error("{0:?} in the archive does not match its manifest (size, checksum or kind): the archive is damaged")]
    Differs(String),
    #[error("the archive holds {0:?} twice")]
    Duplicate(String),
    #[error("the archive has no {DATABASE_NAME}")]
    NoDatabase,
    #[error(
        "the manifest names add-on {addon} with backup {backup}, whose file the archive lacks"
    )]
    NoAddonBackup { addon: String, backup: String },
    #[error("this server already has apps ({0}); restore with --force to replace them")]
    HasApps(String),
}

/// One entry of the archive as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ArchivedEntry {
    Dir {
        path: String,
    },
    File {
        path: String,
        size: u64,
        sha256: String,
    },
    Link {
        path: String,
        target: String,
    },
}

impl ArchivedEntry {
    pub fn path(&self) -> &str {
        match self {
            Self::Dir { path } | Self::File { path, .. } | Self::Link { path, .. } => path,
        }
    }
}

/// An add-on and the checked backup, taken for this archive, that restores its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedAddon {
    pub addon: String,
    pub backup: String,
}

/// What the archive holds, written as its last entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    pub format: u32,
    pub skiff_version: String,
    /// The database's schema version (`user_version`).
    pub schema_version: i64,
    pub created_at: String,
    pub entries: Vec<ArchivedEntry>,
    pub addons: Vec<ArchivedAddon>,
}

impl ArchiveManifest {
    /// The add-ons with the backup each is restored from, validated.
    pub fn addon_backups(&self) -> Result<Vec<(AddonName, BackupId)>, ArchiveError> {
        self.addons
            .iter()
            .map(|a| {
                let bad = || ArchiveError::BadManifest(format!("bad add-on entry {a:?}"));
                let name = AddonName::parse(&a.addon).map_err(|_| bad())?;
                let id = BackupId::parse(&a.backup).map_err(|_| bad())?;
                Ok((name, id))
            })
            .collect()
    }

    /// The trees (relative to the state directory) the restore puts in place whole.
    pub fn units(&self) -> Vec<String> {
        let mut units: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| place(e.path()).ok().map(|p| p.unit))
            .filter(|u| u != DATABASE_NAME)
            .collect();
        units.sort();
        units.dedup();
        units
    }
}

/// A user and group by name, as the server the archive is restored to knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub user: &'static str,
    pub group: &'static str,
}

const ROOT: Ownership = Ownership {
    user: "root",
    group: "root",
};

/// Where an archived path goes: the tree it belongs to, put in place whole, and its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub unit: String,
    pub owner: Ownership,
}

/// Which tree of the state directory an archive path belongs to and who owns it there; any
/// path a skiff backup does not hold is refused. Slugs and add-on backups are root's, a
/// volume's files keep their group `skiff-volumes` (their owners were dynamic users, which
/// a new server does not have), git repositories are the `skiff` user's and Caddy's storage
/// (certificates, keys) is `caddy`'s.
pub fn place(path: &str) -> Result<Placement, ArchiveError> {
    let unexpected = || ArchiveError::UnexpectedPath(path.to_owned());
    let parts: Vec<&str> = path.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0'))
    {
        return Err(unexpected());
    }
    let placed = |unit: String, owner| Ok(Placement { unit, owner });
    match parts.as_slice() {
        [DATABASE_NAME] => placed(DATABASE_NAME.to_owned(), ROOT),
        ["apps", app, tree @ ("slugs" | "volumes"), ..] => {
            AppName::parse(app).map_err(|_| unexpected())?;
            let owner = match *tree {
                "slugs" => ROOT,
                _ => Ownership {
                    user: "root",
                    group: "skiff-volumes",
                },
            };
            placed(format!("apps/{app}/{tree}"), owner)
        }
        ["repos", repo, ..] => {
            let app = repo.strip_suffix(".git").ok_or_else(unexpected)?;
            AppName::parse(app).map_err(|_| unexpected())?;
            let owner = Ownership {
                user: "skiff",
                group: "skiff",
            };
            placed(format!("repos/{repo}"), owner)
        }
        ["caddy", ..] => {
            let owner = Ownership {
                user: "caddy",
                group: "caddy",
            };
            placed("caddy".to_owned(), owner)
        }
        ["backups", addon, ..] => {
            AddonName::parse(addon).map_err(|_| unexpected())?;
            placed(format!("backups/{addon}"), ROOT)
        }
        _ => Err(unexpected()),
    }
}

/// Checks that the entries read from an archive are exactly those its manifest lists (each
/// path once, every file with its size and checksum), that the database is there and that each
/// add-on's backup file is.
pub fn check_entries(
    manifest: &ArchiveManifest,
    seen: &[ArchivedEntry],
) -> Result<(), ArchiveError> {
    if manifest.format != ARCHIVE_FORMAT {
        return Err(ArchiveError::Format(manifest.format));
    }
    let listed = by_path(&manifest.entries)?;
    let found = by_path(seen)?;
    for (path, entry) in &listed {
        place(path)?;
        match found.get(path) {
            None => return Err(ArchiveError::Missing((*path).to_owned())),
            Some(other) if other != entry => return Err(ArchiveError::Differs((*path).to_owned())),
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|p| !listed.contains_key(*p)) {
        return Err(ArchiveError::Unlisted((*extra).to_owned()));
    }
    if !matches!(listed.get(DATABASE_NAME), Some(ArchivedEntry::File { .. })) {
        return Err(ArchiveError::NoDatabase);
    }
    for (addon, id) in manifest.addon_backups()? {
        let prefix = format!("backups/{addon}/{id}.");
        let has_file = listed
            .iter()
            .any(|(p, e)| p.starts_with(&prefix) && matches!(e, ArchivedEntry::File { .. }));
        if !has_file {
            return Err(ArchiveError::NoAddonBackup {
                addon: addon.to_string(),
                backup: id.to_string(),
            });
        }
    }
    Ok(())
}

fn by_path(entries: &[ArchivedEntry]) -> Result<BTreeMap<&str, &ArchivedEntry>, ArchiveError> {
    let mut map = BTreeMap::new();
    for entry in entries {
        if map.insert(entry.path(), entry).is_some() {
            return Err(ArchiveError::Duplicate(entry.path().to_owned()));
        }
    }
    Ok(map)
}

/// A restore replaces the server's state: refused when it has apps, unless forced.
pub fn check_restore_allowed(apps: &[AppName], force: bool) -> Result<(), ArchiveError> {
    if apps.is_empty() || force {
        return Ok(());
    }
    let names: Vec<&str> = apps.iter().map(AppName::as_str).collect();
    Err(ArchiveError::HasApps(names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sha256: &str) -> ArchivedEntry {
        ArchivedEntry::File {
            path: path.to_owned(),
            size: 3,
            sha256: sha256.to_owned(),
        }
    }

    fn manifest(entries: Vec<ArchivedEntry>) -> ArchiveManifest {
        ArchiveManifest {
            format: ARCHIVE_FORMAT,
            skiff_version: "0.1.0".to_owned(),
            schema_version: 13,
            created_at: "2026-12-01T00:00:00Z".to_owned(),
            entries,
            addons: vec![ArchivedAddon {
                addon: "postgresql-shop".to_owned(),
                backup: "b002".to_owned(),
            }],
        }
    }

    fn good() -> Vec<ArchivedEntry> {
        vec![
            file("skiff.db", "aa"),
            ArchivedEntry::Dir {
                path: "apps/shop/slugs".to_owned(),
            },
            ArchivedEntry::Link {
                path: "apps/shop/slugs/v1/python".to_owned(),
                target: "/usr/bin/python3".to_owned(),
            },
            file("backups/postgresql-shop/b002.dump", "bb"),
        ]
    }

    #[test]
    fn every_path_a_backup_holds_has_its_tree_and_owner_and_others_are_refused() {
        let volumes = Ownership {
            user: "root",
            group: "skiff-volumes",
        };
        let skiff = Ownership {
            user: "skiff",
            group: "skiff",
        };
        let caddy = Ownership {
            user: "caddy",
            group: "caddy",
        };
        let table: &[(&str, Option<(&str, Ownership)>)] = &[
            ("skiff.db", Some(("skiff.db", ROOT))),
            ("apps/shop/slugs", Some(("apps/shop/slugs", ROOT))),
            ("apps/shop/slugs/v3/app.py", Some(("apps/shop/slugs", ROOT))),
            (
                "apps/shop/volumes/data/x",
                Some(("apps/shop/volumes", volumes)),
            ),
            ("repos/shop.git/HEAD", Some(("repos/shop.git", skiff))),
            ("caddy/data/caddy/pki", Some(("caddy", caddy))),
            (
                "backups/postgresql-shop/b001.dump",
                Some(("backups/postgresql-shop", ROOT)),
            ),
            ("apps/shop/builds/1/app", None),
            ("apps/shop/cache/pip", None),
            ("apps/../etc/slugs/x", None),
            ("apps/shop/slugs/../../../etc/passwd", None),
            ("/etc/passwd", None),
            ("apps//slugs", None),
            ("repos/shop", None),
            ("repos/../x.git", None),
            ("addons/redis/x/dump.rdb", None),
            ("home/.ssh/authorized_keys", None),
            ("skiff.db/x", None),
            ("backups/Bad Name/b1", None),
            ("./skiff.db", None),
            ("", None),
        ];
        for (path, want) in table {
            let got = place(path).ok().map(|p| (p.unit, p.owner));
            let want = want.map(|(u, o)| (u.to_owned(), o));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn an_archive_must_hold_exactly_what_its_manifest_lists() {
        let m = manifest(good());
        assert_eq!(check_entries(&m, &good()), Ok(()));
        let mut reordered = good();
        reordered.reverse();
        assert_eq!(
            check_entries(&m, &reordered),
            Ok(()),
            "order does not matter"
        );

        let missing = good()[..3].to_vec();
        let mut changed = good();
        changed[0] = file("skiff.db", "cc");
        let mut extra = good();
        extra.push(file("caddy/x", "dd"));
        let mut twice = good();
        twice.push(file("skiff.db", "aa"));
        let mut kind = good();
        kind[1] = file("apps/shop/slugs", "ee");
        let table: Vec<(Vec<ArchivedEntry>, ArchiveError)> = vec![
            (
                missing,
                ArchiveError::Missing("backups/postgresql-shop/b002.dump".into()),
            ),
            (changed, ArchiveError::Differs("skiff.db".into())),
            (extra, ArchiveError::Unlisted("caddy/x".into())),
            (twice, ArchiveError::Duplicate("skiff.db".into())),
            (kind, ArchiveError::Differs("apps/shop/slugs".into())),
        ];
        for (seen, want) in table {
            assert_eq!(check_entries(&m, &seen), Err(want));
        }
    }

    #[test]
    fn a_manifest_must_be_whole_and_of_this_format() {
        let mut other = manifest(good());
        other.format = 2;
        assert_eq!(check_entries(&other, &good()), Err(ArchiveError::Format(2)));

        let no_db: Vec<ArchivedEntry> = good().into_iter().skip(1).collect();
        assert_eq!(
            check_entries(&manifest(no_db.clone()), &no_db),
            Err(ArchiveError::NoDatabase)
        );

        let no_dump: Vec<ArchivedEntry> = good().into_iter().take(3).collect();
        assert!(matches!(
            check_entries(&manifest(no_dump.clone()), &no_dump),
            Err(ArchiveError::NoAddonBackup { .. })
        ));

        let mut stray = good();
        stray.push(file("etc/shadow", "ff"));
        assert_eq!(
            check_entries(&manifest(stray.clone()), &stray),
            Err(ArchiveError::UnexpectedPath("etc/shadow".into()))
        );

        let mut bad_addon = manifest(good());
        bad_addon.addons[0].backup = "latest".to_owned();
        assert!(matches!(
            check_entries(&bad_addon, &good()),
            Err(ArchiveError::BadManifest(_))
        ));
    }

    #[test]
    fn the_trees_put_in_place_are_each_listed_once_without_the_database() {
        let mut entries = good();
        entries.push(file("apps/shop/slugs/v1/app.py", "11"));
        entries.push(file("repos/shop.git/HEAD", "22"));
        assert_eq!(
            manifest(entries).units(),
            [
                "apps/shop/slugs",
                "backups/postgresql-shop",
                "repos/shop.git"
            ]
        );
    }

    #[test]
    fn a_server_with_apps_is_replaced_only_when_forced() {
        let apps = [
            AppName::parse("shop").unwrap(),
            AppName::parse("blog").unwrap(),
        ];
        assert_eq!(check_restore_allowed(&[], false), Ok(()));
        assert_eq!(check_restore_allowed(&apps, true), Ok(()));
        assert_eq!(
            check_restore_allowed(&apps, false),
            Err(ArchiveError::HasApps("shop, blog".into()))
        );
    }

    #[test]
    fn the_manifest_round_trips_as_json() {
        let m = manifest(good());
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains(r#""kind":"link""#), "{text}");
        assert_eq!(serde_json::from_str::<ArchiveManifest>(&text).unwrap(), m);
    }
}
