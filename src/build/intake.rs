//! Safe unpacking of an uploaded tarball (plain or gzip) into a fresh directory: refuses absolute
//! paths, `..`, writes through symlinks, links that leave the tree (resolved through the links
//! unpacked before and after them), hard links, devices and fifos, and trees over the size or
//! file-count limits. Nothing is written outside `dest`.

use std::collections::HashMap;
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
    #[error("symlink {path:?} ({target:?}) goes through too many symlinks")]
    LinkLoop { path: String, target: String },
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

/// How many symlinks one resolution may follow, as the kernel allows (`MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

/// Why a link's target does not resolve inside the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unresolved {
    Outside,
    Loop,
}

/// A model of the tree being unpacked: the symlinks made so far (path → target, relative to the
/// root), to resolve a target the way the kernel will — component by component, following links.
#[derive(Debug, Default)]
struct Links {
    targets: HashMap<PathBuf, PathBuf>,
    order: Vec<PathBuf>,
}

impl Links {
    fn insert(&mut self, path: &Path, target: &Path) {
        self.targets
            .insert(path.to_path_buf(), target.to_path_buf());
        self.order.push(path.to_path_buf());
    }

    /// An entry replaced whatever was at `path`.
    fn forget(&mut self, path: &Path) {
        self.targets.remove(path);
    }

    /// Where `target`, read in the directory `dir`, ends up (relative to the root). A missing
    /// component is taken as a directory; `..` at the root, an absolute target or too many hops
    /// refuse.
    fn resolve(&self, dir: &Path, target: &Path) -> Result<PathBuf, Unresolved> {
        let mut here = dir.to_path_buf();
        let mut pending: Vec<Component<'_>> = target.components().rev().collect();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !here.pop() {
                        return Err(Unresolved::Outside);
                    }
                }
                Component::Normal(name) => {
                    let next = here.join(name);
                    match self.targets.get(&next) {
                        Some(link) => {
                            hops += 1;
                            if hops > MAX_HOPS {
                                return Err(Unresolved::Loop);
                            }
                            pending.extend(link.components().rev());
                        }
                        None => here = next,
                    }
                }
                Component::RootDir | Component::Prefix(_) => return Err(Unresolved::Outside),
            }
        }
        Ok(here)
    }

    /// Checks the symlink at `path` against the tree as it is now.
    fn check(&self, path: &Path, target: &Path) -> Result<(), IntakeError> {
        let dir = path.parent().unwrap_or(Path::new(""));
        let unresolved = match self.resolve(dir, target) {
            Ok(_) => return Ok(()),
            Err(unresolved) => unresolved,
        };
        let (path, target) = (path.display().to_string(), target.display().to_string());
        Err(match unresolved {
            Unresolved::Outside => IntakeError::EscapingLink { path, target },
            Unresolved::Loop => IntakeError::LinkLoop { path, target },
        })
    }

    /// Checks every symlink still in the tree, in archive order: a later link can change where
    /// an earlier one leads (`a -> b/..` then `b -> .`).
    fn check_all(&self) -> Result<(), IntakeError> {
        for path in &self.order {
            if let Some(target) = self.targets.get(path) {
                self.check(path, target)?;
            }
        }
        Ok(())
    }
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
    let mut links = Links::default();
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
        links.forget(&rel);
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
            tar::EntryType::Symlink => write_symlink(&entry, &rel, &target, &mut links)?,
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
    links.check_all()?;
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

/// Makes a symlink whose target, resolved through the links made so far, stays inside the tree.
fn write_symlink(
    entry: &tar::Entry<'_, impl Read>,
    rel: &Path,
    target: &Path,
    links: &mut Links,
) -> Result<(), IntakeError> {
    let shown = rel.display().to_string();
    let link = entry
        .link_name()
        .map_err(corrupt)?
        .ok_or_else(|| IntakeError::Corrupt(format!("symlink {shown} has no target")))?
        .into_owned();
    links.check(rel, &link)?;
    std::os::unix::fs::symlink(&link, target)?;
    links.insert(rel, &link);
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

    /// Unpacks into `slug` beside a `marker` directory holding one file; returns the result and
    /// whether everything outside `slug` is as it was.
    fn unpack_beside_marker(entries: &[E]) -> (Result<u64, IntakeError>, bool, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("marker")).unwrap();
        fs::write(dir.path().join("marker/keep"), b"keep").unwrap();
        let result = unpack(
            &archive(entries)[..],
            &dir.path().join("slug"),
            IntakeLimits::default(),
        );
        let mut outside: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        outside.sort();
        let marker: Vec<_> = fs::read_dir(dir.path().join("marker"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let untouched = outside == ["marker", "slug"]
            && marker == ["keep"]
            && fs::read(dir.path().join("marker/keep")).unwrap() == b"keep";
        (result, untouched, dir)
    }

    #[test]
    fn refuses_links_that_resolve_outside_through_other_links() {
        for (what, entries, needle) in [
            (
                "chained",
                vec![E::Link("y", "."), E::Link("x", "y/y/..")],
                r#"symlink "x" points outside the app ("y/y/..")"#,
            ),
            (
                "chained, then written through",
                vec![
                    E::Link("y", "."),
                    E::Link("x", "y/y/.."),
                    E::File("x/marker/evil", b"x", 0o644),
                ],
                r#"symlink "x" points outside"#,
            ),
            (
                "nested directories",
                vec![
                    E::Dir("a/b"),
                    E::Link("a/b/up", ".."),
                    E::Link("a/b/c", "up/../../.."),
                ],
                r#"symlink "a/b/c" points outside"#,
            ),
            (
                "absolute through a link",
                vec![E::Link("l", "m/passwd"), E::Link("m", "/etc")],
                r#"symlink "m" points outside the app ("/etc")"#,
            ),
            (
                "a link to a link that escapes",
                vec![
                    E::Dir("d"),
                    E::Link("d/up", ".."),
                    E::Link("out", "d/up/.."),
                ],
                r#"symlink "out" points outside"#,
            ),
            (
                "an earlier link re-routed by a later one",
                vec![E::Link("a", "b/.."), E::Link("b", ".")],
                r#"symlink "a" points outside the app ("b/..")"#,
            ),
            (
                "re-routed through a directory",
                vec![E::Dir("s"), E::Link("s/a", "t/../.."), E::Link("s/t", ".")],
                r#"symlink "s/a" points outside"#,
            ),
            (
                "a loop",
                vec![E::Link("p", "q"), E::Link("q", "p")],
                r#"symlink "p" ("q") goes through too many symlinks"#,
            ),
            (
                "a file written through a link",
                vec![
                    E::Dir("vendor"),
                    E::Link("y", "vendor"),
                    E::File("y/evil", b"x", 0o644),
                ],
                r#""y/evil" would be written through the symlink "y""#,
            ),
            (
                "a directory made through a link",
                vec![E::Link("y", "."), E::Dir("y/y/sub")],
                r#"would be written through the symlink "y""#,
            ),
        ] {
            let (result, untouched, dir) = unpack_beside_marker(&entries);
            let msg = result.expect_err(what).to_string();
            assert!(msg.contains(needle), "{what}: {msg}");
            assert!(untouched, "{what}: something changed outside the slug");
            assert!(!dir.path().join("slug/vendor/evil").exists(), "{what}");
        }
    }

    #[test]
    fn accepts_links_that_stay_inside() {
        for (what, entries) in [
            (
                "into a vendored tree",
                vec![E::Dir("vendor/lib"), E::Link("lib", "vendor/lib")],
            ),
            (
                "up a level",
                vec![E::Dir("a"), E::Dir("c"), E::Link("a/b", "../c")],
            ),
            (
                "the root itself",
                vec![E::Link("y", "."), E::Link("x", "y/y")],
            ),
            (
                "a link to a link",
                vec![
                    E::Dir("vendor"),
                    E::Link("q", "vendor"),
                    E::Link("p", "q/.."),
                ],
            ),
            ("dangling", vec![E::Link("later", "not/yet")]),
            (
                "a link replaced by a file",
                vec![
                    E::Link("b", "."),
                    E::File("b", b"x", 0o644),
                    E::Link("a", "b/.."),
                ],
            ),
        ] {
            let (result, untouched, _dir) = unpack_beside_marker(&entries);
            result.expect(what);
            assert!(untouched, "{what}");
        }
    }

    #[test]
    fn resolution_follows_links_component_by_component() {
        let mut links = Links::default();
        links.insert(Path::new("y"), Path::new("."));
        links.insert(Path::new("lib"), Path::new("vendor/lib"));
        links.insert(Path::new("vendor/lib/up"), Path::new("../.."));
        for (dir, target, want) in [
            ("", "y/y/lib", Ok("vendor/lib")),
            ("", "lib/up/lib/x", Ok("vendor/lib/x")),
            ("a", "../y/lib/../..", Ok("")),
            ("", "y/y/..", Err(Unresolved::Outside)),
            ("", "lib/up/..", Err(Unresolved::Outside)),
            ("", "/lib", Err(Unresolved::Outside)),
        ] {
            let got = links.resolve(Path::new(dir), Path::new(target));
            assert_eq!(got, want.map(PathBuf::from), "{dir} {target}");
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
