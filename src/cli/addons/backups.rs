//! `pg:backups*` and `redis:backups*`: an add-on's backups. A capture follows its backup until
//! it is checked or failed, saying each step on the terminal, and exits non-zero when it failed.

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::schedules::{self, ScheduleArgs};
use super::{addon_path, pick, POSTGRES, REDIS};
use crate::cli::output;
use crate::cli::{path_segment, CliError, Session};
use crate::wire::{Addon, Backup, BackupList, BackupRestored, SCHEDULED_BACKUP_VERB};

/// How often a capture asks how its backup is going.
const POLL: Duration = Duration::from_millis(300);

/// `ID ADDON` for the verbs that act on one backup.
#[derive(Debug, Args)]
pub struct OneBackup {
    /// Like b001 (default: the newest; for download and restore the newest checked one).
    id: Option<String>,
    addon: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    backup: OneBackup,
    /// Where to write it (default latest.dump, or latest.rdb for Redis).
    #[arg(short = 'o', long = "output")]
    output: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    backup: OneBackup,
    /// The owner app's name, to confirm; the add-on's current data is replaced.
    #[arg(long)]
    confirm: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    id: String,
    addon: Option<String>,
    /// The owner app's name, to confirm.
    #[arg(long)]
    confirm: Option<String>,
}

/// What a backup verb does, whichever service it was typed for.
#[derive(Debug)]
enum Action {
    List(Option<String>),
    Capture(Option<String>),
    Info(OneBackup),
    Download(DownloadArgs),
    Restore(RestoreArgs),
    Delete(DeleteArgs),
    Schedule(ScheduleArgs),
    Schedules,
    Unschedule(Option<String>),
}

/// The backup verbs of one service (`pg:backups*` or `redis:backups*`), all parsed into the same
/// [`Action`]s.
macro_rules! backup_verbs {
    ($verbs:ident, $service:expr, $prefix:literal) => {
        #[derive(Debug, Subcommand)]
        pub enum $verbs {
            /// List the add-on's backups: id, start, size, duration, status, and its schedule.
            #[command(name = concat!($prefix, ":backups"))]
            List { addon: Option<String> },
            /// Back up the add-on now; the backup is good only once it loaded whole elsewhere.
            #[command(name = concat!($prefix, ":backups:capture"))]
            Capture { addon: Option<String> },
            /// Show one backup: checksum, what its check counted, why it failed.
            #[command(name = concat!($prefix, ":backups:info"))]
            Info(OneBackup),
            /// Download a checked backup, checked against its SHA-256.
            #[command(name = concat!($prefix, ":backups:download"))]
            Download(DownloadArgs),
            /// Replace the add-on's data with a checked backup; a safety backup of what it
            /// holds now is taken first.
            #[command(name = concat!($prefix, ":backups:restore"))]
            Restore(RestoreArgs),
            /// Delete a backup and its file.
            #[command(name = concat!($prefix, ":backups:delete"))]
            Delete(DeleteArgs),
            /// Back the add-on up every day at a time, even while skiffd is down; a time missed
            /// while the server was off is caught up when it is back.
            #[command(name = concat!($prefix, ":backups:schedule"))]
            Schedule(ScheduleArgs),
            /// List the backup schedules of the app's add-ons.
            #[command(name = concat!($prefix, ":backups:schedules"))]
            Schedules,
            /// Stop the add-on's daily backups; the backups taken stay.
            #[command(name = concat!($prefix, ":backups:unschedule"))]
            Unschedule { addon: Option<String> },
        }

        impl $verbs {
            fn into_action(self) -> (&'static str, Action) {
                let action = match self {
                    Self::List { addon } => Action::List(addon),
                    Self::Capture { addon } => Action::Capture(addon),
                    Self::Info(one) => Action::Info(one),
                    Self::Download(args) => Action::Download(args),
                    Self::Restore(args) => Action::Restore(args),
                    Self::Delete(args) => Action::Delete(args),
                    Self::Schedule(args) => Action::Schedule(args),
                    Self::Schedules => Action::Schedules,
                    Self::Unschedule { addon } => Action::Unschedule(addon),
                };
                ($service, action)
            }
        }
    };
}

backup_verbs!(PgBackupsVerb, POSTGRES, "pg");
backup_verbs!(RedisBackupsVerb, REDIS, "redis");

/// Every backup verb: both services' and the one a schedule's timer runs.
#[derive(Debug, Subcommand)]
pub enum BackupsVerb {
    #[command(flatten)]
    Pg(PgBackupsVerb),
    #[command(flatten)]
    Redis(RedisBackupsVerb),
    /// What a backup schedule's timer runs: a scheduled backup of ADDON, followed to its end.
    #[command(name = SCHEDULED_BACKUP_VERB, hide = true)]
    Scheduled { addon: String },
}

pub(crate) async fn run(verb: BackupsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let (service, action) = match verb {
        BackupsVerb::Pg(verb) => verb.into_action(),
        BackupsVerb::Redis(verb) => verb.into_action(),
        BackupsVerb::Scheduled { addon } => {
            let one = addon_path(&addon)?;
            let found: Addon = s.client.get(&one).await?;
            return capture(s, &found.service, &format!("{one}/backups"), "scheduled").await;
        }
    };
    match action {
        Action::List(addon) => {
            let path = backups_path(s, service, addon).await?;
            let list: BackupList = s.client.get(&path).await?;
            s.output
                .show(&list, |out, _| write_list(out, &list, service))?;
            Ok(())
        }
        Action::Capture(addon) => {
            let path = backups_path(s, service, addon).await?;
            capture(s, service, &path, "manual").await
        }
        Action::Download(args) => download(s, service, args).await,
        Action::Restore(args) => restore(s, service, args).await,
        Action::Delete(args) => delete(s, service, args).await,
        Action::Info(one) => {
            let path = backups_path(s, service, one.addon).await?;
            let backup = match one.id {
                Some(id) => {
                    s.client
                        .get(&format!("{path}/{}", path_segment(&id)?))
                        .await?
                }
                None => newest(s.client.get::<BackupList>(&path).await?, service)?,
            };
            s.output
                .show(&backup, |out, _| write_info(out, &backup, service))?;
            Ok(())
        }
        Action::Schedule(args) => schedules::schedule(s, service, args).await,
        Action::Schedules => schedules::list(s, service).await,
        Action::Unschedule(addon) => schedules::unschedule(s, service, addon).await,
    }
}

async fn delete(s: &mut Session<'_>, service: &str, args: DeleteArgs) -> Result<(), CliError> {
    let (addon, path) = addon_and_path(s, service, args.addon).await?;
    let what = format!("deleting {} of {} removes its file", args.id, addon.name);
    let confirm = confirmed(&addon, args.confirm, &what)?;
    let url = format!("{path}/{}?confirm={confirm}", path_segment(&args.id)?);
    let gone: Backup = s.client.delete_json(&url).await?;
    s.output.show(&gone, |out, _| {
        writeln!(out, "Deleted {} of {}", gone.id, gone.addon)
    })?;
    Ok(())
}

async fn backups_path(
    s: &mut Session<'_>,
    service: &str,
    addon: Option<String>,
) -> Result<String, CliError> {
    Ok(addon_and_path(s, service, addon).await?.1)
}

pub(super) async fn addon_and_path(
    s: &mut Session<'_>,
    service: &str,
    addon: Option<String>,
) -> Result<(Addon, String), CliError> {
    let addon = pick(s, service, addon).await?;
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

async fn restore(s: &mut Session<'_>, service: &str, args: RestoreArgs) -> Result<(), CliError> {
    let (addon, path) = addon_and_path(s, service, args.backup.addon).await?;
    let id = checked_id(s, service, &path, args.backup.id).await?;
    let what = format!("restoring {id} replaces everything in {}", addon.name);
    let confirm = confirmed(&addon, args.confirm, &what)?;
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
            "Restored {}; what the add-on held before is in {}",
            done.restored.id, done.safety.id
        )
    })?;
    Ok(())
}

/// The verb `pg:backups:VERB` or `redis:backups:VERB` of `service`.
pub(super) fn verb(service: &str, verb: &str) -> String {
    let prefix = if service == REDIS { "redis" } else { "pg" };
    format!("{prefix}:backups:{verb}")
}

fn no_backups_yet(addon: &str, service: &str) -> String {
    let capture = verb(service, "capture");
    format!("{addon} has no backups yet; take one with skiff {capture}")
}

fn newest(list: BackupList, service: &str) -> Result<Backup, CliError> {
    let none = CliError::Usage(no_backups_yet(&list.addon, service));
    list.backups.into_iter().next().ok_or(none)
}

/// `id` as given, or the newest checked backup's.
async fn checked_id(
    s: &Session<'_>,
    service: &str,
    path: &str,
    id: Option<String>,
) -> Result<String, CliError> {
    if let Some(id) = id {
        return Ok(id);
    }
    let list: BackupList = s.client.get(path).await?;
    let checked = list.backups.into_iter().find(|b| b.status == "checked");
    checked.map(|b| b.id).ok_or_else(|| {
        CliError::Usage(format!(
            "{} has no checked backup; take one with skiff {}",
            list.addon,
            verb(service, "capture")
        ))
    })
}

/// Streams the backup into `OUTPUT.part` while hashing it, and names it `OUTPUT` only once
/// its SHA-256 is the backup's.
async fn download(s: &mut Session<'_>, service: &str, args: DownloadArgs) -> Result<(), CliError> {
    let default = match service {
        REDIS => "latest.rdb",
        _ => "latest.dump",
    };
    let output = &args.output.unwrap_or_else(|| default.into());
    let path = backups_path(s, service, args.backup.addon).await?;
    let id = checked_id(s, service, &path, args.backup.id).await?;
    let one = format!("{path}/{}", path_segment(&id)?);
    let backup: Backup = s.client.get(&one).await?;
    let part = output.with_extension("part");
    let mut file = crate::cli::hashing::Hashing::new(std::fs::File::create(&part)?);
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

/// Starts a backup of `kind` at `path` (an add-on's backups) and follows it to its end.
async fn capture(
    s: &mut Session<'_>,
    service: &str,
    path: &str,
    kind: &str,
) -> Result<(), CliError> {
    let mut backup: Backup = s
        .client
        .post(&format!("{path}?kind={kind}"), &serde_json::json!({}))
        .await?;
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
    s.output
        .show(&backup, |out, _| write_info(out, &backup, service))?;
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

fn write_list(out: &mut dyn Write, list: &BackupList, service: &str) -> std::io::Result<()> {
    if list.backups.is_empty() {
        writeln!(out, "{}", no_backups_yet(&list.addon, service))?;
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
    )?;
    if let Some(schedule) = &list.schedule {
        writeln!(out, "{}", schedules::describe(schedule))?;
    }
    Ok(())
}

fn write_info(out: &mut dyn Write, b: &Backup, service: &str) -> std::io::Result<()> {
    let checked = match (b.tables, b.rows) {
        (Some(dbs), Some(keys)) if service == REDIS => {
            format!("loaded elsewhere: {keys} keys in {dbs} databases")
        }
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
    if let Some(to) = &b.copied_to {
        pairs.push(("Copied to", to));
    }
    if let Some(why) = &b.copy_error {
        pairs.push(("Copy failed", why));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    output::fields(out, &pairs)
}
