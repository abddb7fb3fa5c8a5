//! Safe unpacking of an uploaded tarball (plain or gzip) into a fresh directory: refuses absolute
//! paths, `..`, writes through symlinks, links that leave the tree, hard links, devices and
//! fifos, and trees over the size or file-count limits. Nothing is written outside `dest`.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for IntakeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("unsafe path {0:?} in the upload: paths must be relative and stay inside the app")]
    UnsafePath(String),
    #[error("the upload holds {kind} {path:?}; only files, directories and symlinks are allowed")]
    ForbiddenType { kind: &'static str, path: String },
    #[error("symlink {path:?} points outside the app ({target:?})")]
    EscapingLink { path: String, target: String },
    #[error("{path:?} would be written through the symlink {link:?}")]
    ThroughLink { path: String, link: String },
    #[error("the upload unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the upload has more than {0} entries")]
    TooManyEntries(u64),
    #[error("the upload is not a valid tar archive: {0}")]
    Corrupt(String),
    #[error("unpacking the upload: {0}")]
    Io(#[from] io::Error),
}

/// Lexically checks that `target`, as seen from the directory `parent` (relative to the tree's
/// root), stays inside the tree.
fn link_stays_inside(parent: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = parent.components().count() as i64;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Creates a directory with mode 0755 whatever the process umask (skiffd runs with 077, but
/// dynos' dynamic users must be able to read their slug).
fn make_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o755).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

/// A relative path made only of normal components, or an error.
fn clean_relative(raw: &Path) -> Result<PathBuf, IntakeError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return Err(IntakeError::UnsafePath(raw.display().to_string())),
        }
    }
    Ok(out)
}

/// Unpacks `archive` (tar, optionally gzip-compressed) into `dest`, which must not exist yet.
/// Modes are normalised: directories 0755, files 0644 (0755 when executable), owner = caller.
pub fn unpack(archive: impl Read, dest: &Path, limits: IntakeLimits) -> Result<u64, IntakeError> {
    make_dir(dest)?;
    let mut reader = BufReader::new(archive);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut tar = tar::Archive::new(input);
    let mut total: u64 = 0;
    let mut count: u64 = 0;
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        count += 1;
        if count > limits.max_entries {
            return Err(IntakeError::TooManyEntries(limits.max_entries));
        }
        let raw_path = entry.path().map_err(corrupt)?.into_owned();
        let rel = clean_relative(&raw_path)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        ensure_real_ancestors(dest, &rel)?;
        let target = dest.join(&rel);
        if let Ok(m) = fs::symlink_metadata(&target) {
            if !m.is_dir() {
                fs::remove_file(&target)?;
            }
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => match fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {}
                _ => make_dir(&target)?,
            },
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(corrupt)?;
                total = total.saturating_add(size);
                if total > limits.max_bytes {
                    return Err(IntakeError::TooLarge(limits.max_bytes));
                }
                write_file(&mut entry, &rel, &target, size)?;
            }
            tar::EntryType::Symlink => write_symlink(&entry, &rel, &target)?,
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => {
                return Err(IntakeError::ForbiddenType {
                    kind: forbidden_kind(other),
                    path: rel.display().to_string(),
                })
            }
        }
    }
    Ok(total)
}

fn corrupt(e: io::Error) -> IntakeError {
    IntakeError::Corrupt(e.to_string())
}

/// Every ancestor of `rel` inside `dest` must be a real directory (made when missing): never
/// write through a symlink.
fn ensure_real_ancestors(dest: &Path, rel: &Path) -> Result<(), IntakeError> {
    let shown = || rel.display().to_string();
    let mut ancestor = dest.to_path_buf();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        ancestor.push(part);
        match fs::symlink_metadata(&ancestor) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(IntakeError::ThroughLink {
                    path: shown(),
                    link: ancestor
                        .strip_prefix(dest)
                        .unwrap_or(&ancestor)
                        .display()
                        .to_string(),
                })
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(IntakeError::UnsafePath(shown())),
            Err(_) => make_dir(&ancestor)?,
        }
    }
    Ok(())
}

/// Writes a regular file's `size` bytes, 0755 when any execute bit is set, else 0644.
fn write_file(
    entry: &mut tar::Entry<'_, impl Read>,
    rel: &Path,
    target: &Path,
    size: u64,
) -> Result<(), IntakeError> {
    let executable = entry.header().mode().map_err(corrupt)? & 0o111 != 0;
    let mode = if executable { 0o755 } else { 0o644 };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(target)?;
    let copied = io::copy(&mut entry.take(size), &mut file)?;
    if copied != size {
        return Err(IntakeError::Corrupt(format!(
            "{} is truncated",
            rel.display()
        )));
    }
    fs::set_permissions(target, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Makes a symlink whose target stays inside the tree.
fn write_symlink(
    entry: &tar::Entry<'_, impl Read>,
    rel: &Path,
    target: &Path,
) -> Result<(), IntakeError> {
    let shown = rel.display().to_string();
    let link = entry
        .link_name()
        .map_err(corrupt)?
        .ok_or_else(|| IntakeError::Corrupt(format!("symlink {shown} has no target")))?
        .into_owned();
    let parent = rel.parent().unwrap_or(Path::new(""));
    if !link_stays_inside(parent, &link) {
        return Err(IntakeError::EscapingLink {
            path: shown,
            target: link.display().to_string(),
        });
    }
    std::os::unix::fs::symlink(&link, target)?;
    Ok(())
}

fn forbidden_kind(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a fifo",
        _ => "an unsupported entry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a tar in memory from (path, kind) pairs, writing raw headers so that unsafe
    /// entries (which the tar crate's builder would refuse) can be made.
    enum E<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str),
        Link(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Fifo(&'a str),
        Char(&'a str),
    }

    fn archive(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_old();
            let (path, data, kind, mode): (&str, &[u8], tar::EntryType, u32) = match e {
                E::File(p, d, m) => (p, d, tar::EntryType::Regular, *m),
                E::Dir(p) => (p, b"", tar::EntryType::Directory, 0o755),
                E::Link(p, t) | E::Hard(p, t) => {
                    h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                    let kind = if matches!(e, E::Link(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    };
                    (p, b"", kind, 0o777)
                }
                E::Fifo(p) => (p, b"", tar::EntryType::Fifo, 0o644),
                E::Char(p) => (p, b"", tar::EntryType::Char, 0o644),
            };
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn unpack_into(entries: &[E]) -> (tempfile::TempDir, Result<u64, IntakeError>) {
        let dir = tempfile::tempdir().unwrap();
        let result = unpack(
            &archive(entries)[..],
            &dir.path().join("slug"),
            IntakeLimits::default(),
        );
        (dir, result)
    }

    #[test]
    fn unpacks_files_dirs_and_inside_links_with_normal_modes() {
        let (dir, result) = unpack_into(&[
            E::Dir("bin"),
            E::File("Procfile", b"web: ./bin/run\n", 0o600),
            E::File("bin/run", b"#!/bin/sh\n", 0o700),
            E::File("deep/er/file.txt", b"x", 0o644),
            E::Link("bin/alias", "run"),
            E::Link("up", "deep/../bin"),
        ]);
        assert_eq!(result.unwrap(), 15 + 10 + 1);
        let slug = dir.path().join("slug");
        let mode = |p: &str| fs::metadata(slug.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("Procfile"), 0o644);
        assert_eq!(mode("bin/run"), 0o755);
        assert_eq!(mode("deep/er"), 0o755);
        assert_eq!(
            fs::read_link(slug.join("bin/alias")).unwrap(),
            Path::new("run")
        );
    }

    #[test]
    fn modes_do_not_depend_on_the_umask() {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        let (dir, result) = unpack_into(&[E::File("a/b/c.txt", b"x", 0o644), E::Dir("d")]);
        nix::sys::stat::umask(old);
        result.unwrap();
        let slug = dir.path().join("slug");
        for (p, want) in [
            ("", 0o755),
            ("a", 0o755),
            ("a/b", 0o755),
            ("d", 0o755),
            ("a/b/c.txt", 0o644),
        ] {
            let mode = fs::metadata(slug.join(p)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, want, "{p}");
        }
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&archive(&[E::File("Procfile", b"web: x\n", 0o644)]))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        unpack(
            &gz.finish().unwrap()[..],
            &dir.path().join("slug"),
            IntakeLimits::default(),
        )
        .unwrap();
        assert!(dir.path().join("slug/Procfile").is_file());
    }

    #[test]
    fn refuses_unsafe_entries_and_writes_nothing_outside() {
        for (entries, needle) in [
            (vec![E::File("../evil", b"x", 0o644)], "unsafe path"),
            (vec![E::File("/etc/evil", b"x", 0o644)], "unsafe path"),
            (vec![E::File("a/../../evil", b"x", 0o644)], "unsafe path"),
            (vec![E::Link("out", "../../etc")], "points outside"),
            (vec![E::Link("abs", "/etc/shadow")], "points outside"),
            (
                vec![E::Link("sub", "."), E::Link("sub/x", "../..")],
                "through the symlink",
            ),
            (
                vec![E::Link("d", "."), E::File("d/evil", b"x", 0o644)],
                "through the symlink",
            ),
            (vec![E::Hard("h", "/etc/shadow")], "a hard link"),
            (vec![E::Fifo("f")], "a fifo"),
            (vec![E::Char("c")], "a character device"),
        ] {
            let (dir, result) = unpack_into(&entries);
            let msg = result.unwrap_err().to_string();
            assert!(msg.contains(needle), "{needle}: {msg}");
            assert!(!dir.path().join("evil").exists());
        }
    }

    #[test]
    fn enforces_size_and_count_limits() {
        let dir = tempfile::tempdir().unwrap();
        let big = archive(&[
            E::File("a", &[0u8; 100], 0o644),
            E::File("b", &[0u8; 100], 0o644),
        ]);
        let limits = IntakeLimits {
            max_bytes: 150,
            max_entries: 10,
        };
        assert!(matches!(
            unpack(&big[..], &dir.path().join("s1"), limits),
            Err(IntakeError::TooLarge(150))
        ));
        let limits = IntakeLimits {
            max_bytes: 1000,
            max_entries: 1,
        };
        assert!(matches!(
            unpack(&big[..], &dir.path().join("s2"), limits),
            Err(IntakeError::TooManyEntries(1))
        ));
    }

    #[test]
    fn garbage_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(
            &b"this is not a tarball at all, not even close......"[..].repeat(20)[..],
            &dir.path().join("s"),
            IntakeLimits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a valid tar"), "{err}");
    }
}
