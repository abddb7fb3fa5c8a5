//! The whole-server archive read back (`skiff backup` checks what it wrote, `skiff restore`
//! what it received): every entry decoded from the tar stream, files hashed, and the result held
//! against the manifest, the archive's last entry.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::model::{
    check_entries, place, ArchiveError, ArchiveManifest, ArchivedEntry, MANIFEST_NAME,
};

/// What can go wrong reading an archive: it is damaged (or not ours), or the disk failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveFault {
    #[error(transparent)]
    Refused(#[from] ArchiveError),
    #[error("the archive is damaged or truncated: {0}")]
    Damaged(io::Error),
    #[error("{0}")]
    Disk(io::Error),
}

/// A reader that hashes and counts what passes through it.
pub struct Hashed<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl<R> Hashed<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    pub fn finish(self) -> (u64, String) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (self.count, hex)
    }
}

/// An entry's path as the archive names it, without a directory's trailing slash.
pub fn archive_entry_path<R: Read>(entry: &tar::Entry<R>) -> Result<String, ArchiveFault> {
    let path = entry.path().map_err(ArchiveFault::Damaged)?;
    let text = path
        .to_str()
        .ok_or_else(|| ArchiveError::UnexpectedPath(path.to_string_lossy().into_owned()))?;
    Ok(text.trim_end_matches('/').to_owned())
}

/// Reads a whole archive from `reader` and checks it against its manifest (the last entry):
/// every path one a backup holds, every file's size and SHA-256, nothing missing or extra.
/// Changes nothing.
pub fn verify_archive<R: Read>(reader: R) -> Result<ArchiveManifest, ArchiveFault> {
    let mut archive = tar::Archive::new(reader);
    let mut seen = Vec::new();
    let mut manifest: Option<ArchiveManifest> = None;
    for entry in archive.entries().map_err(ArchiveFault::Damaged)? {
        let mut entry = entry.map_err(ArchiveFault::Damaged)?;
        let rel = archive_entry_path(&entry)?;
        if manifest.is_some() {
            return Err(ArchiveError::AfterManifest(rel).into());
        }
        if rel == MANIFEST_NAME {
            let mut text = String::new();
            (&mut entry)
                .take(64 << 20)
                .read_to_string(&mut text)
                .map_err(ArchiveFault::Damaged)?;
            if text.len() as u64 != entry.header().size().map_err(ArchiveFault::Damaged)? {
                return Err(ArchiveError::NoManifest.into());
            }
            let parsed = serde_json::from_str(&text)
                .map_err(|e| ArchiveError::BadManifest(e.to_string()))?;
            manifest = Some(parsed);
            continue;
        }
        place(&rel)?;
        let kind = entry.header().entry_type();
        let read = if kind.is_dir() {
            ArchivedEntry::Dir { path: rel }
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(ArchiveFault::Damaged)?
                .and_then(|t| t.to_str().map(str::to_owned))
                .ok_or_else(|| ArchiveError::Differs(rel.clone()))?;
            ArchivedEntry::Link { path: rel, target }
        } else if kind.is_file() {
            let mut hashed = Hashed::new(&mut entry);
            io::copy(&mut hashed, &mut io::sink()).map_err(ArchiveFault::Damaged)?;
            let (size, sha256) = hashed.finish();
            ArchivedEntry::File {
                path: rel,
                size,
                sha256,
            }
        } else {
            return Err(ArchiveError::UnexpectedPath(rel).into());
        };
        seen.push(read);
    }
    let manifest = manifest.ok_or(ArchiveError::NoManifest)?;
    check_entries(&manifest, &seen)?;
    Ok(manifest)
}
