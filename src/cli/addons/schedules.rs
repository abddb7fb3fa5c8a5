//! `pg:backups:schedule`, `:schedules` and `:unschedule` (and their `redis:` twins): an
//! add-on's daily backup, kept by skiffd as a systemd timer that fires while skiffd is down and
//! catches up after a reboot.

use clap::Args;

use super::backups::{addon_and_path, verb};
use super::pick_all;
use crate::cli::output;
use crate::cli::{CliError, Session};
use crate::wire::{BackupList, BackupScheduleBody, BackupScheduleRequest};

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    addon: Option<String>,
    /// The time of day and an optional tz database zone: '02:00 Europe/Berlin' (UTC if none).
    #[arg(long)]
    at: String,
    /// Days whose newest scheduled backup is kept (default: backup_keep_daily of skiffd.toml).
    #[arg(long)]
    keep_daily: Option<u32>,
    /// Weeks whose newest scheduled backup is kept (default: backup_keep_weekly).
    #[arg(long)]
    keep_weekly: Option<u32>,
}

pub(super) async fn schedule(
    s: &mut Session<'_>,
    service: &str,
    args: ScheduleArgs,
) -> Result<(), CliError> {
    let (_, path) = addon_and_path(s, service, args.addon).await?;
    let request = BackupScheduleRequest {
        at: args.at,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
    };
    let set: BackupScheduleBody = s.client.put(&format!("{path}/schedule"), &request).await?;
    s.output
        .show(&set, |out, _| writeln!(out, "{}", describe(&set)))?;
    Ok(())
}

pub(super) async fn unschedule(
    s: &mut Session<'_>,
    service: &str,
    addon: Option<String>,
) -> Result<(), CliError> {
    let (_, path) = addon_and_path(s, service, addon).await?;
    let gone: BackupScheduleBody = s.client.delete_json(&format!("{path}/schedule")).await?;
    s.output.show(&gone, |out, _| {
        writeln!(
            out,
            "Stopped the daily backups of {} at {}; its backups stay",
            gone.addon, gone.at
        )
    })?;
    Ok(())
}

/// The schedules of every add-on of `service` the app has.
pub(super) async fn list(s: &mut Session<'_>, service: &str) -> Result<(), CliError> {
    let mut schedules = Vec::new();
    for addon in pick_all(s, service).await? {
        let path = format!("{}/backups", super::addon_path(&addon.name)?);
        let list: BackupList = s.client.get(&path).await?;
        schedules.extend(list.schedule);
    }
    let schedule_verb = verb(service, "schedule");
    s.output.show(&schedules, |out, _| {
        if schedules.is_empty() {
            return writeln!(
                out,
                "No backup schedules; set one with skiff {schedule_verb} --at 02:00"
            );
        }
        let rows = schedules.iter().map(|sc| {
            vec![
                sc.addon.clone(),
                sc.at.clone(),
                format!("{} daily, {} weekly", sc.keep_daily, sc.keep_weekly),
                sc.next_run.clone().unwrap_or_default(),
                last(sc),
            ]
        });
        output::table(
            out,
            &["ADD-ON", "AT", "KEEPS", "NEXT RUN", "LAST RUN"],
            rows,
        )
    })?;
    Ok(())
}

fn last(sc: &BackupScheduleBody) -> String {
    match (&sc.last_run, &sc.last_result) {
        (Some(at), Some(result)) => format!("{at} ({result})"),
        (Some(at), None) => at.clone(),
        _ => String::new(),
    }
}

/// One line about a schedule, as `pg:backups` and `pg:backups:schedule` say it.
pub(super) fn describe(sc: &BackupScheduleBody) -> String {
    let next = sc
        .next_run
        .as_deref()
        .map(|n| format!("; next at {n}"))
        .unwrap_or_default();
    format!(
        "{} is backed up daily at {}, keeping the newest of the last {} days and {} weeks{next}",
        sc.addon, sc.at, sc.keep_daily, sc.keep_weekly
    )
}
