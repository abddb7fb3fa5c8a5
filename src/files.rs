//! Small file-system helpers shared by the reconciler and the build pipeline: root-only files
//! written atomically, and tree walks that open a build tree up or seal a slug.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes a root-only file (0600 in a 0700 directory), replacing it atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("private files live in a directory");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // A name of its own per write, so two writers of the same file never share the temporary.
    let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .write_all(contents)
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Bytes a tree takes on disk, as `du` counts them (allocated blocks; symlinks are not followed);
/// 0 when it does not exist.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let children = std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| disk_usage(&e.path()))
                .sum()
        })
        .unwrap_or(0);
    own + children
}

/// Syncs a written file to disk and returns its size and SHA-256 (hex).
pub fn sync_and_hash(path: &Path) -> std::io::Result<(u64, String)> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)?;
    file.sync_all()?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)?;
    let digest = hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((size, hex))
}

/// Renames `from` to `to` in the same directory and syncs the directory, so the new name
/// survives a power cut.
pub fn rename_durably(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    let dir = to.parent().expect("a renamed file lives in a directory");
    std::fs::File::open(dir)?.sync_all()
}

/// Bytes free for an unprivileged writer on the file system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    Ok(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

/// Creates `dir` (and parents) and sets its mode exactly, whatever the umask.
pub fn make_dir_mode(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Visits every entry under `root` (not following symlinks), children before parents.
fn walk(
    root: &Path,
    f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(root)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(root)? {
            walk(&entry?.path(), f)?;
        }
    }
    f(root, &meta)
}

/// Lets anyone write the tree (a build's dynamic user must); symlinks are left alone.
pub fn open_tree(root: &Path) -> std::io::Result<()> {
    walk(root, &mut |path, meta| {
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mode = meta.permissions().mode() & 0o7777;
        let open = if meta.is_dir() || mode & 0o111 != 0 {
            0o777
        } else {
            0o666
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(open))
    })
}

/// Makes a built tree a slug: owned by skiffd's user (when `chown` is set), directories 0755,
/// files 0644 or 0755, no set-id bits. Returns the bytes of regular files it holds.
pub fn seal_tree(root: &Path, chown: bool) -> std::io::Result<u64> {
    let mut bytes = 0;
    walk(root, &mut |path, meta| {
        if chown {
            std::os::unix::fs::lchown(path, Some(0), Some(0))?;
        }
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        if meta.is_file() {
            bytes += meta.len();
        }
        let mode = meta.permissions().mode();
        let sealed = if meta.is_dir() || mode & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(sealed))
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_of_one_private_file_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env").join("v1.env");
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        write_private(&path, format!("writer {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("writer ") && text.lines().count() == 1,
            "{text:?}"
        );
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the file itself is left: {left:?}");
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn private_files_are_root_only_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env/app/v1.env");
        write_private(&file, b"A=\"1\"\n").unwrap();
        write_private(&file, b"A=\"2\"\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "A=\"2\"\n");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }

    #[test]
    fn opening_then_sealing_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("lib/a.py"), "12345").unwrap();
        std::fs::write(root.join("run"), "#!/bin/sh").unwrap();
        std::fs::set_permissions(root.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("lib/a.py", root.join("link")).unwrap();
        open_tree(&root).unwrap();
        assert_eq!(mode(&root.join("lib")), 0o777);
        assert_eq!(mode(&root.join("lib/a.py")), 0o666);
        assert_eq!(mode(&root.join("run")), 0o777);
        std::fs::set_permissions(
            root.join("lib/a.py"),
            std::fs::Permissions::from_mode(0o4766),
        )
        .unwrap();
        let bytes = seal_tree(&root, false).unwrap();
        assert_eq!(bytes, 5 + 9);
        assert_eq!(mode(&root.join("lib")), 0o755);
        assert_eq!(mode(&root.join("lib/a.py")), 0o755);
        assert_eq!(mode(&root.join("run")), 0o755);
    }

    #[test]
    fn disk_usage_counts_a_trees_blocks() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
        let empty = disk_usage(dir.path());
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/data"), vec![7u8; 64 * 1024]).unwrap();
        let full = disk_usage(dir.path());
        assert!(full >= empty + 64 * 1024, "{empty} → {full}");
    }
}
