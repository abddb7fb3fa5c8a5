//! `pg:backups*`: an add-on's backups. A capture follows its backup until it is checked or
//! failed, saying each step on the terminal, and exits non-zero when it failed.

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;

use super::{addon_path, pick, POSTGRES};
use crate::cli::output;
use crate::cli::{path_segment, CliError, Session};
use crate::wire::{Addon, Backup, BackupList, BackupRestored};

/// How often a capture asks how its backup is going.
const POLL: Duration = Duration::from_millis(300);

#[derive(Debug, Subcommand)]
pub enum BackupsVerb {
    /// List the database's backups: id, start, size, duration, status.
    #[command(name = "pg:backups")]
    List { addon: Option<String> },
    /// Back up the database now; the backup is good only once it restored whole elsewhere.
    #[command(name = "pg:backups:capture")]
    Capture { addon: Option<String> },
    /// Show one backup: checksum, what its check counted, why it failed.
    #[command(name = "pg:backups:info")]
    Info {
        /// Like b001 (default: the newest).
        id: Option<String>,
        addon: Option<String>,
    },
    /// Download a checked backup (pg_restore's custom format), checked against its SHA-256.
    #[command(name = "pg:backups:download")]
    Download {
        /// Like b001 (default: the newest checked one).
        id: Option<String>,
        addon: Option<String>,
        /// Where to write it.
        #[arg(short = 'o', long = "output", default_value = "latest.dump")]
        output: std::path::PathBuf,
    },
    /// Replace everything in the database with a checked backup; a safety backup of what it
    /// holds now is taken first.
    #[command(name = "pg:backups:restore")]
    Restore {
        /// Like b001 (default: the newest checked one).
        id: Option<String>,
        addon: Option<String>,
        /// The owner app's name, to confirm; the database's current data is replaced.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Delete a backup and its file.
    #[command(name = "pg:backups:delete")]
    Delete {
        id: String,
        addon: Option<String>,
        /// The owner app's name, to confirm.
        #[arg(long)]
        confirm: Option<String>,
    },
}

pub(crate) async fn run(verb: BackupsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        BackupsVerb::List { addon } => {
            let path = backups_path(s, addon).await?;
            let list: BackupList = s.client.get(&path).await?;
            s.output.show(&list, |out, _| write_list(out, &list))?;
            Ok(())
        }
        BackupsVerb::Capture { addon } => capture(s, addon).await,
        BackupsVerb::Download { id, addon, output } => download(s, id, addon, &output).await,
        BackupsVerb::Restore { id, addon, confirm } => restore(s, id, addon, confirm).await,
        BackupsVerb::Delete { id, addon, confirm } => {
            let (addon, path) = addon_and_path(s, addon).await?;
            let what = format!("deleting {id} of {} removes its file", addon.name);
            let confirm = confirmed(&addon, confirm, &what)?;
            let url = format!("{path}/{}?confirm={confirm}", path_segment(&id)?);
            let gone: Backup = s.client.delete_json(&url).await?;
            s.output.show(&gone, |out, _| {
                writeln!(out, "Deleted {} of {}", gone.id, gone.addon)
            })?;
            Ok(())
        }
        BackupsVerb::Info { id, addon } => {
            let path = backups_path(s, addon).await?;
            let backup = match id {
                Some(id) => {
                    s.client
                        .get(&format!("{path}/{}", path_segment(&id)?))
                        .await?
                }
                None => newest(s.client.get::<BackupList>(&path).await?)?,
            };
            s.output.show(&backup, |out, _| write_info(out, &backup))?;
            Ok(())
        }
    }
}

async fn backups_path(s: &mut Session<'_>, addon: Option<String>) -> Result<String, CliError> {
    Ok(addon_and_path(s, addon).await?.1)
}

async fn addon_and_path(
    s: &mut Session<'_>,
    addon: Option<String>,
) -> Result<(Addon, String), CliError> {
    let addon = pick(s, POSTGRES, addon).await?;
    let path = format!("{}/backups", addon_path(&addon.name)?);
    Ok((addon, path))
}

/// The owner's name when `confirm` says it; refused before anything is asked of the server.
fn confirmed(addon: &Addon, confirm: Option<String>, what: &str) -> Result<String, CliError> {
    let owner = addon.owner.clone().unwrap_or_default();
    if confirm.as_deref() != Some(owner.as_str()) {
        return Err(CliError::Usage(format!(
            "{what}; to proceed, pass --confirm {owner}"
        )));
    }
    Ok(path_segment(&owner)?.to_owned())
}

async fn restore(
    s: &mut Session<'_>,
    id: Option<String>,
    addon: Option<String>,
    confirm: Option<String>,
) -> Result<(), CliError> {
    let (addon, path) = addon_and_path(s, addon).await?;
    let id = checked_id(s, &path, id).await?;
    let what = format!(
        "restoring {id} replaces everything in the database of {}",
        addon.name
    );
    let confirm = confirmed(&addon, confirm, &what)?;
    let url = format!("{path}/{}/restore?confirm={confirm}", path_segment(&id)?);
    writeln!(
        s.output.progress(),
        "Restoring {id} into {} (a safety backup first)...",
        addon.name
    )?;
    let done: BackupRestored = s.client.post(&url, &serde_json::json!({})).await?;
    s.output.show(&done, |out, _| {
        writeln!(
            out,
            "Restored {}; what the database held before is in {}",
            done.restored.id, done.safety.id
        )
    })?;
    Ok(())
}

fn newest(list: BackupList) -> Result<Backup, CliError> {
    list.backups.into_iter().next().ok_or_else(|| {
        CliError::Usage(format!(
            "{} has no backups yet; take one with skiff pg:backups:capture",
            list.addon
        ))
    })
}

/// `id` as given, or the newest checked backup's.
async fn checked_id(s: &Session<'_>, path: &str, id: Option<String>) -> Result<String, CliError> {
    if let Some(id) = id {
        return Ok(id);
    }
    let list: BackupList = s.client.get(path).await?;
    let checked = list.backups.into_iter().find(|b| b.status == "checked");
    checked.map(|b| b.id).ok_or_else(|| {
        CliError::Usage(format!(
            "{} has no checked backup; take one with skiff pg:backups:capture",
            list.addon
        ))
    })
}

/// Streams the backup into `OUTPUT.part` while hashing it, and names it `OUTPUT` only once
/// its SHA-256 is the backup's.
async fn download(
    s: &mut Session<'_>,
    id: Option<String>,
    addon: Option<String>,
    output: &std::path::Path,
) -> Result<(), CliError> {
    let path = backups_path(s, addon).await?;
    let id = checked_id(s, &path, id).await?;
    let one = format!("{path}/{}", path_segment(&id)?);
    let backup: Backup = s.client.get(&one).await?;
    let part = output.with_extension("part");
    let mut file = Hashing::new(std::fs::File::create(&part)?);
    let streamed = s
        .client
        .stream_to(&format!("{one}/download"), &mut file)
        .await;
    let (written, sha256) = file.finish()?;
    let verified = streamed.and_then(|()| match backup.sha256.as_deref() {
        Some(want) if want == sha256 => Ok(()),
        _ => Err(CliError::Failed(format!(
            "the download of {id} does not match its checksum; {} was not written",
            output.display()
        ))),
    });
    if let Err(e) = verified {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, output)?;
    s.output.show(&backup, |out, _| {
        writeln!(
            out,
            "Downloaded {id} to {} ({}, SHA-256 checked)",
            output.display(),
            output::human_bytes(written)
        )
    })?;
    Ok(())
}

/// A file writer that hashes what it writes.
struct Hashing {
    file: std::fs::File,
    hasher: sha2::Sha256,
    written: u64,
}

impl Hashing {
    fn new(file: std::fs::File) -> Self {
        use sha2::Digest;
        Self {
            file,
            hasher: sha2::Sha256::new(),
            written: 0,
        }
    }

    /// Syncs the file; its size and SHA-256 (hex).
    fn finish(self) -> std::io::Result<(u64, String)> {
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

async fn capture(s: &mut Session<'_>, addon: Option<String>) -> Result<(), CliError> {
    let path = backups_path(s, addon).await?;
    let mut backup: Backup = s.client.post(&path, &serde_json::json!({})).await?;
    let one = format!("{path}/{}", path_segment(&backup.id)?);
    write!(
        s.output.progress(),
        "Backing up {} to {}...",
        backup.addon,
        backup.id
    )?;
    let mut said = backup.status.clone();
    while matches!(backup.status.as_str(), "running" | "checking") {
        tokio::time::sleep(POLL).await;
        backup = s.client.get(&one).await?;
        if backup.status != said && backup.status == "checking" {
            write!(s.output.progress(), " checking...")?;
        }
        said = backup.status.clone();
    }
    let progress = s.output.progress();
    if backup.status == "checked" {
        writeln!(progress, " done")?;
    } else {
        writeln!(progress, " failed")?;
    }
    s.output.show(&backup, |out, _| write_info(out, &backup))?;
    if backup.status == "checked" {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "backup {} failed: {}",
        backup.id,
        backup.reason.as_deref().unwrap_or("no reason recorded")
    )))
}

/// How long a finished backup took, from its RFC 3339 times.
fn duration(backup: &Backup) -> String {
    let (Ok(start), Some(Ok(end))) = (
        humantime::parse_rfc3339(&backup.started_at),
        backup.finished_at.as_deref().map(humantime::parse_rfc3339),
    ) else {
        return String::new();
    };
    let secs = end.duration_since(start).unwrap_or_default().as_secs();
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

fn size(backup: &Backup) -> String {
    backup.size.map(output::human_bytes).unwrap_or_default()
}

fn write_list(out: &mut dyn Write, list: &BackupList) -> std::io::Result<()> {
    if list.backups.is_empty() {
        writeln!(
            out,
            "{} has no backups yet; take one with skiff pg:backups:capture",
            list.addon
        )?;
    } else {
        let rows = list.backups.iter().map(|b| {
            vec![
                b.id.clone(),
                b.started_at.clone(),
                size(b),
                duration(b),
                b.status.clone(),
                b.kind.clone(),
            ]
        });
        output::table(
            out,
            &["ID", "STARTED", "SIZE", "DURATION", "STATUS", "KIND"],
            rows,
        )?;
    }
    writeln!(
        out,
        "Backups of {} use {} on disk",
        list.addon,
        output::human_bytes(list.used)
    )
}

fn write_info(out: &mut dyn Write, b: &Backup) -> std::io::Result<()> {
    let checked = match (b.tables, b.rows) {
        (Some(tables), Some(rows)) => format!("restored elsewhere: {tables} tables, {rows} rows"),
        _ => String::new(),
    };
    let mut pairs = vec![
        ("Backup", b.id.as_str()),
        ("Add-on", b.addon.as_str()),
        ("Status", b.status.as_str()),
        ("Kind", b.kind.as_str()),
        ("Started", b.started_at.as_str()),
    ];
    let (finished, size, took) = (
        b.finished_at.clone().unwrap_or_default(),
        size(b),
        duration(b),
    );
    pairs.extend([
        ("Finished", finished.as_str()),
        ("Size", size.as_str()),
        ("Duration", took.as_str()),
    ]);
    if let Some(sha) = &b.sha256 {
        pairs.push(("SHA-256", sha));
    }
    if !checked.is_empty() {
        pairs.push(("Checked", checked.as_str()));
    }
    if let Some(reason) = &b.reason {
        pairs.push(("Reason", reason));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    output::fields(out, &pairs)
}
