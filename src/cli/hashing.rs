//! A file writer that hashes what it writes, so a download is checked as it lands.

use std::io::Write;

/// A file writer that hashes what it writes.
pub(super) struct Hashing {
    file: std::fs::File,
    hasher: sha2::Sha256,
    written: u64,
}

impl Hashing {
    pub(super) fn new(file: std::fs::File) -> Self {
        use sha2::Digest;
        Self {
            file,
            hasher: sha2::Sha256::new(),
            written: 0,
        }
    }

    /// Syncs the file; its size and SHA-256 (hex).
    pub(super) fn finish(self) -> std::io::Result<(u64, String)> {
        use sha2::Digest;
        self.file.sync_all()?;
        let digest = self.hasher.finalize();
        Ok((
            self.written,
            digest.iter().map(|b| format!("{b:02x}")).collect(),
        ))
    }
}

impl Write for Hashing {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.file.write(data)?;
        self.hasher.update(&data[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}
