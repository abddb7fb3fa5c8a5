//! Copies of checked backups off the server, through Debian's `rclone`: to the destination
//! `backup_copy_to` of `skiffd.toml` names (an rclone remote and path, its remotes defined in
//! `backup_rclone_config`), each file then listed back and its size (and SHA-256, where the
//! remote can hash) compared with the backup's, so a copy is recorded only once it is there.

use std::path::PathBuf;
use std::time::Duration;

/// Debian's rclone (package `rclone`).
pub const RCLONE: &str = "/usr/bin/rclone";
/// The longest one copy may take.
const COPY_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest listing the copy back may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("{0}")]
    Tool(String),
    #[error("the copy at {remote} holds {found}, not the backup's {expected}")]
    Differs {
        remote: String,
        found: String,
        expected: String,
    },
}

/// What a copy must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub local: PathBuf,
    /// The file's path under the destination: `ADDON/b001.dump`.
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// Puts a checked backup somewhere else; returns where it is.
#[async_trait::async_trait]
pub trait BackupCopier: Send + Sync {
    async fn copy(&self, source: &CopySource) -> Result<String, CopyError>;
}

/// `rclone` with skiff's config file, copying to `destination` (`remote:path`).
pub struct Rclone {
    pub config: PathBuf,
    pub destination: String,
}

/// Pure: where `name` goes under `destination`.
pub fn remote_path(destination: &str, name: &str) -> String {
    format!("{}/{name}", destination.trim_end_matches('/'))
}

/// Pure: the size and SHA-256 (when the remote gave one) of the one file `rclone lsjson --hash`
/// lists.
pub fn listed_file(json: &str) -> Option<(u64, Option<String>)> {
    let listed: serde_json::Value = serde_json::from_str(json).ok()?;
    let [file] = listed.as_array()?.as_slice() else {
        return None;
    };
    let size = file["Size"].as_u64()?;
    let sha256 = file["Hashes"]["sha256"].as_str().map(str::to_owned);
    Some((size, sha256))
}

/// Pure: whether what was listed back is the backup.
pub fn verify(
    source: &CopySource,
    remote: &str,
    listed: (u64, Option<String>),
) -> Result<(), CopyError> {
    let (size, sha256) = listed;
    if size != source.size {
        return Err(CopyError::Differs {
            remote: remote.to_owned(),
            found: format!("{size} bytes"),
            expected: format!("{} bytes", source.size),
        });
    }
    match sha256 {
        Some(sha) if sha != source.sha256 => Err(CopyError::Differs {
            remote: remote.to_owned(),
            found: format!("SHA-256 {sha}"),
            expected: format!("SHA-256 {}", source.sha256),
        }),
        _ => Ok(()),
    }
}

impl Rclone {
    async fn run(&self, args: &[&str], timeout: Duration) -> Result<String, CopyError> {
        let mut command = tokio::process::Command::new(RCLONE);
        command
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let what = args.first().copied().unwrap_or("rclone");
        let output = tokio::time::timeout(timeout, command.output())
            .await
            .map_err(|_| {
                CopyError::Tool(format!(
                    "rclone {what} did not end within {}s",
                    timeout.as_secs()
                ))
            })?
            .map_err(|e| {
                CopyError::Tool(format!(
                    "cannot run {RCLONE}: {e} (install Debian's rclone)"
                ))
            })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        Err(CopyError::Tool(format!(
            "rclone {what} failed: {}",
            last.trim()
        )))
    }
}

#[async_trait::async_trait]
impl BackupCopier for Rclone {
    async fn copy(&self, source: &CopySource) -> Result<String, CopyError> {
        let remote = remote_path(&self.destination, &source.name);
        let local = source.local.display().to_string();
        self.run(&["copyto", &local, &remote], COPY_TIMEOUT).await?;
        let json = self
            .run(&["lsjson", "--hash", &remote], LIST_TIMEOUT)
            .await?;
        let listed = listed_file(&json)
            .ok_or_else(|| CopyError::Tool(format!("rclone lists no file at {remote}")))?;
        verify(source, &remote, listed)?;
        Ok(remote)
    }
}

/// A copier for tests: copies into a local folder, or fails with a set reason.
#[cfg(test)]
pub struct FakeCopier {
    pub folder: PathBuf,
    pub failure: Option<String>,
}

#[cfg(test)]
#[async_trait::async_trait]
impl BackupCopier for FakeCopier {
    async fn copy(&self, source: &CopySource) -> Result<String, CopyError> {
        if let Some(why) = &self.failure {
            return Err(CopyError::Tool(why.clone()));
        }
        let to = self.folder.join(source.name.replace('/', "-"));
        std::fs::copy(&source.local, &to).map_err(|e| CopyError::Tool(e.to_string()))?;
        Ok(to.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> CopySource {
        CopySource {
            local: "/var/lib/skiff/backups/pg/b001.dump".into(),
            name: "pg/b001.dump".into(),
            size: 10,
            sha256: "ab".into(),
        }
    }

    #[test]
    fn copies_go_under_the_destination() {
        assert_eq!(
            remote_path("offsite:skiff", "pg/b001.dump"),
            "offsite:skiff/pg/b001.dump"
        );
        assert_eq!(
            remote_path("offsite:skiff/", "pg/b001.dump"),
            "offsite:skiff/pg/b001.dump"
        );
        assert_eq!(
            remote_path("offsite:", "pg/b001.dump"),
            "offsite:/pg/b001.dump"
        );
    }

    #[test]
    fn a_copy_counts_only_when_its_size_and_any_hash_match() {
        let cases = [
            (
                r#"[{"Path":"b001.dump","Size":10,"Hashes":{"sha256":"ab"}}]"#,
                Ok(()),
            ),
            (r#"[{"Path":"b001.dump","Size":10}]"#, Ok(())),
            (r#"[{"Size":9}]"#, Err("9 bytes")),
            (
                r#"[{"Size":10,"Hashes":{"sha256":"cd"}}]"#,
                Err("SHA-256 cd"),
            ),
        ];
        for (json, expected) in cases {
            let listed = listed_file(json).unwrap();
            let got = verify(&source(), "r:x", listed).map_err(|e| e.to_string());
            match expected {
                Ok(()) => assert_eq!(got, Ok(()), "{json}"),
                Err(part) => assert!(got.unwrap_err().contains(part), "{json}"),
            }
        }
        for bad in ["", "[]", r#"[{"Size":1},{"Size":1}]"#, r#"[{"Path":"x"}]"#] {
            assert_eq!(listed_file(bad), None, "{bad}");
        }
    }
}
