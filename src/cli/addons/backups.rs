//! `pg:backups*`: an add-on's backups. A capture follows its backup until it is checked or
//! failed, saying each step on the terminal, and exits non-zero when it failed.

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;

use super::{addon_path, pick, POSTGRES};
use crate::cli::output;
use crate::cli::{path_segment, CliError, Session};
use crate::wire::{Backup, BackupList};

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
    let addon = pick(s, POSTGRES, addon).await?;
    Ok(format!("{}/backups", addon_path(&addon.name)?))
}

fn newest(list: BackupList) -> Result<Backup, CliError> {
    list.backups.into_iter().next().ok_or_else(|| {
        CliError::Usage(format!(
            "{} has no backups yet; take one with skiff pg:backups:capture",
            list.addon
        ))
    })
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
