//! The archive's file work (blocking; run on the blocking pool): writing the state directory's
//! trees as one tar with the manifest last, reading an archive back to check every entry
//! against its manifest, unpacking a checked one with each tree's owners, and putting the
//! unpacked trees in place.

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::model::{
    place, ArchiveError, ArchiveManifest, ArchivedEntry, Ownership, DATABASE_NAME, MANIFEST_NAME,
};
pub use crate::wire::ArchiveFault;
use crate::wire::{archive_entry_path, verify_archive, Hashed};

/// The trees of the state directory a backup holds, relative to it, in a stable order: each
/// app's slugs and volumes, the git repositories, Caddy's storage and the add-on backups.
fn units(state_dir: &Path) -> io::Result<Vec<String>> {
    let mut units = Vec::new();
    for app in sorted_names(&state_dir.join("apps"))? {
        for tree in ["slugs", "volumes"] {
            units.push(format!("apps/{app}/{tree}"));
        }
    }
    units.extend(sorted_names(&state_dir.join("repos"))?.map(|r| format!("repos/{r}")));
    units.push("caddy".to_owned());
    units.extend(sorted_names(&state_dir.join("backups"))?.map(|a| format!("backups/{a}")));
    Ok(units
        .into_iter()
        .filter(|u| place(u).is_ok() && state_dir.join(u).is_dir())
        .collect())
}

fn sorted_names(dir: &Path) -> io::Result<impl Iterator<Item = String>> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<_>>()?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    names.sort();
    Ok(names.into_iter())
}

/// Every path under `root` (itself first), depth first in name order, not following links.
/// In a backup folder, the hidden temporaries of backups in progress are left out.
fn walk(root: &Path, rel: &str, out: &mut Vec<(PathBuf, String, Metadata)>) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(root)?;
    let is_dir = meta.is_dir();
    out.push((root.to_owned(), rel.to_owned(), meta));
    if !is_dir {
        return Ok(());
    }
    for name in sorted_names(root)? {
        if rel.starts_with("backups/") && name.starts_with('.') {
            continue;
        }
        walk(&root.join(&name), &format!("{rel}/{name}"), out)?;
    }
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    rel: &str,
    meta: &Metadata,
) -> io::Result<Option<ArchivedEntry>> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    let kind = meta.file_type();
    if kind.is_dir() {
        header.set_size(0);
        tar.append_data(&mut header, rel, io::empty())?;
        return Ok(Some(ArchivedEntry::Dir {
            path: rel.to_owned(),
        }));
    }
    if kind.is_symlink() {
        let target = std::fs::read_link(path)?;
        let text = target.to_str().ok_or_else(|| not_utf8(path))?.to_owned();
        header.set_size(0);
        tar.append_link(&mut header, rel, &target)?;
        return Ok(Some(ArchivedEntry::Link {
            path: rel.to_owned(),
            target: text,
        }));
    }
    if !kind.is_file() {
        tracing::warn!(path = %path.display(), "not a file, folder or link; left out of the server backup");
        return Ok(None);
    }
    let size = meta.len();
    let mut reader = Hashed::new(File::open(path)?.take(size));
    tar.append_data(&mut header, rel, &mut reader)?;
    let (read, sha256) = reader.finish();
    if read != size {
        return Err(io::Error::other(format!(
            "{} changed size while it was archived; run the backup again",
            path.display()
        )));
    }
    Ok(Some(ArchivedEntry::File {
        path: rel.to_owned(),
        size,
        sha256,
    }))
}

fn not_utf8(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} has a name that is not UTF-8 and cannot be archived",
        path.display()
    ))
}

/// Writes the archive to `out`: the database copy at `database` as `skiff.db`, every tree of
/// `state_dir` a backup holds, then `manifest` (its `entries` filled in here) as the last
/// entry. Returns the manifest written.
pub fn write_archive<W: Write>(
    state_dir: &Path,
    database: &Path,
    out: W,
    mut manifest: ArchiveManifest,
) -> io::Result<ArchiveManifest> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut paths = Vec::new();
    paths.push((
        database.to_owned(),
        DATABASE_NAME.to_owned(),
        std::fs::metadata(database)?,
    ));
    for unit in units(state_dir)? {
        walk(&state_dir.join(&unit), &unit, &mut paths)?;
    }
    for (path, rel, meta) in &paths {
        if let Some(entry) = append(&mut tar, path, rel, meta)? {
            manifest.entries.push(entry);
        }
    }
    let text = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    tar.append_data(&mut header, MANIFEST_NAME, text.as_slice())?;
    tar.into_inner()?.flush()?;
    Ok(manifest)
}

/// Reads the whole archive at `path` and checks it against its manifest; changes nothing.
pub fn verify(path: &Path) -> Result<ArchiveManifest, ArchiveFault> {
    let file = File::open(path).map_err(ArchiveFault::Disk)?;
    verify_archive(io::BufReader::new(file))
}

/// Unpacks a checked archive into `dest` (a fresh folder on the state directory's file
/// system): modes without set-id bits, times kept, each path owned as [`place`] says, with
/// the ids `owners` gives for its names ([`Owners`] on a server).
pub fn unpack(
    path: &Path,
    dest: &Path,
    owners: &mut dyn FnMut(Ownership) -> io::Result<(u32, u32)>,
) -> Result<(), ArchiveFault> {
    let file = File::open(path).map_err(ArchiveFault::Disk)?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    archive.set_preserve_permissions(false);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(false);
    for entry in archive.entries().map_err(ArchiveFault::Damaged)? {
        let mut entry = entry.map_err(ArchiveFault::Damaged)?;
        let rel = archive_entry_path(&entry)?;
        if rel == MANIFEST_NAME {
            continue;
        }
        let placement = place(&rel)?;
        if !entry.unpack_in(dest).map_err(ArchiveFault::Disk)? {
            return Err(ArchiveError::UnexpectedPath(rel).into());
        }
        let (uid, gid) = owners(placement.owner).map_err(ArchiveFault::Disk)?;
        std::os::unix::fs::lchown(dest.join(&rel), Some(uid), Some(gid))
            .map_err(ArchiveFault::Disk)?;
    }
    Ok(())
}

/// Users and groups by name on this server, looked up once each.
#[derive(Default)]
pub struct Owners(BTreeMap<(&'static str, &'static str), (u32, u32)>);

impl Owners {
    pub fn resolve(&mut self, owner: Ownership) -> io::Result<(u32, u32)> {
        if let Some(ids) = self.0.get(&(owner.user, owner.group)) {
            return Ok(*ids);
        }
        let missing = |what: &str, name: &str| {
            io::Error::other(format!(
                "this server has no {what} {name}; is skiff installed?"
            ))
        };
        let user = nix::unistd::User::from_name(owner.user)
            .map_err(io::Error::from)?
            .ok_or_else(|| missing("user", owner.user))?;
        let group = nix::unistd::Group::from_name(owner.group)
            .map_err(io::Error::from)?
            .ok_or_else(|| missing("group", owner.group))?;
        let ids = (user.uid.as_raw(), group.gid.as_raw());
        self.0.insert((owner.user, owner.group), ids);
        Ok(ids)
    }
}

/// Puts each unpacked tree of `units` from `unpacked` in its place under `state_dir`; a tree
/// already there is moved into `replaced` (on the same file system), for the caller to delete.
pub fn put_in_place(
    unpacked: &Path,
    state_dir: &Path,
    units: &[String],
    replaced: &Path,
) -> io::Result<()> {
    std::fs::create_dir_all(replaced)?;
    for (index, unit) in units.iter().enumerate() {
        let target = state_dir.join(unit);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::symlink_metadata(&target).is_ok() {
            std::fs::rename(&target, replaced.join(index.to_string()))?;
        }
        std::fs::rename(unpacked.join(unit), &target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn uid_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().uid()
    }

    fn manifest() -> ArchiveManifest {
        ArchiveManifest {
            format: crate::model::ARCHIVE_FORMAT,
            skiff_version: "0.1.0".to_owned(),
            schema_version: 13,
            created_at: "2026-12-01T00:00:00Z".to_owned(),
            entries: Vec::new(),
            addons: vec![crate::model::ArchivedAddon {
                addon: "postgresql-shop".to_owned(),
                backup: "b001".to_owned(),
            }],
        }
    }

    /// A state directory with a slug (a file and a link), a volume, a repo, Caddy's storage,
    /// a backup, a backup in progress and a build that the archive leaves out.
    fn state(dir: &Path) -> PathBuf {
        let state = dir.join("state");
        let slug = state.join("apps/shop/slugs/v1");
        std::fs::create_dir_all(&slug).unwrap();
        std::fs::write(slug.join("app.py"), "print('hi')\n").unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", slug.join("python")).unwrap();
        std::fs::create_dir_all(state.join("apps/shop/volumes/data")).unwrap();
        std::fs::write(state.join("apps/shop/volumes/data/notes"), "kept").unwrap();
        std::fs::create_dir_all(state.join("apps/shop/builds/7/app")).unwrap();
        std::fs::create_dir_all(state.join("repos/shop.git/refs")).unwrap();
        std::fs::write(state.join("repos/shop.git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::create_dir_all(state.join("caddy/data")).unwrap();
        std::fs::write(state.join("caddy/data/key.pem"), "secret").unwrap();
        std::fs::create_dir_all(state.join("backups/postgresql-shop")).unwrap();
        std::fs::write(state.join("backups/postgresql-shop/b001.dump"), "dump").unwrap();
        std::fs::write(state.join("backups/postgresql-shop/.b002.dump.tmp"), "half").unwrap();
        std::fs::write(dir.join("copy.db"), "the database").unwrap();
        state
    }

    fn archive(dir: &Path) -> (PathBuf, ArchiveManifest) {
        let state = state(dir);
        let path = dir.join("server.tar");
        let out = File::create(&path).unwrap();
        let written = write_archive(&state, &dir.join("copy.db"), out, manifest()).unwrap();
        (path, written)
    }

    #[test]
    fn an_archive_holds_the_trees_and_checks_against_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let (path, written) = archive(dir.path());
        let paths: Vec<&str> = written.entries.iter().map(ArchivedEntry::path).collect();
        assert_eq!(
            paths,
            [
                "skiff.db",
                "apps/shop/slugs",
                "apps/shop/slugs/v1",
                "apps/shop/slugs/v1/app.py",
                "apps/shop/slugs/v1/python",
                "apps/shop/volumes",
                "apps/shop/volumes/data",
                "apps/shop/volumes/data/notes",
                "repos/shop.git",
                "repos/shop.git/HEAD",
                "repos/shop.git/refs",
                "caddy",
                "caddy/data",
                "caddy/data/key.pem",
                "backups/postgresql-shop",
                "backups/postgresql-shop/b001.dump",
            ]
        );
        assert_eq!(verify(&path).unwrap(), written);
    }

    #[test]
    fn a_truncated_or_changed_archive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = archive(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        let manifest_at = bytes
            .windows(MANIFEST_NAME.len())
            .position(|w| w == MANIFEST_NAME.as_bytes())
            .unwrap();
        let app_at = bytes.windows(11).position(|w| w == b"print('hi')").unwrap();
        let mut changed = bytes.clone();
        changed[app_at] = b'P';
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (bytes[..manifest_at - 100].to_vec(), "truncated"),
            (bytes[..bytes.len() / 3].to_vec(), "truncated"),
            (bytes[..manifest_at + 700].to_vec(), "truncated"),
            (changed, "does not match its manifest"),
            (b"not a tar file at all".to_vec(), "truncated"),
        ];
        for (index, (content, want)) in cases.into_iter().enumerate() {
            let bad = dir.path().join(format!("bad{index}.tar"));
            std::fs::write(&bad, content).unwrap();
            let err = verify(&bad).unwrap_err().to_string();
            assert!(err.contains(want), "case {index}: {err}");
        }
    }

    #[test]
    fn an_unpacked_archive_is_put_in_place_and_what_was_there_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (path, written) = archive(dir.path());
        let dest = dir.path().join("unpacked");
        std::fs::create_dir(&dest).unwrap();
        // This test's own ids stand for every owner (a test cannot chown to others); which
        // owner each path gets is `place`'s, tested in the model.
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let mut asked = Vec::new();
        let mut owners = |o: Ownership| {
            asked.push(o.user);
            Ok(me)
        };
        unpack(&path, &dest, &mut owners).unwrap();
        assert_eq!(asked.len(), written.entries.len(), "every entry is owned");
        assert!(
            asked.contains(&"caddy") && asked.contains(&"skiff"),
            "{asked:?}"
        );
        assert_eq!(
            std::fs::read_link(dest.join("apps/shop/slugs/v1/python")).unwrap(),
            Path::new("/usr/bin/python3")
        );
        assert_eq!(uid_of(&dest.join("apps/shop/slugs/v1/app.py")), me.0);
        assert_eq!(
            std::fs::read_to_string(dest.join("apps/shop/volumes/data/notes")).unwrap(),
            "kept"
        );

        let target = dir.path().join("new-state");
        std::fs::create_dir_all(target.join("apps/shop/slugs/v9")).unwrap();
        let replaced = dir.path().join("replaced");
        put_in_place(&dest, &target, &written.units(), &replaced).unwrap();
        assert!(target.join("apps/shop/slugs/v1/app.py").is_file());
        assert!(!target.join("apps/shop/slugs/v9").exists());
        assert!(target.join("backups/postgresql-shop/b001.dump").is_file());
        assert_eq!(
            std::fs::read_dir(&replaced).unwrap().count(),
            1,
            "the old slugs moved aside"
        );
    }
}
