//! `cron`: the app's scheduled jobs (app.json "cron") with their next and last runs.

use std::io::Write;

use clap::Subcommand;

use super::{output, CliError, Session};
use crate::wire::CronJobInfo;

#[derive(Debug, Subcommand)]
pub enum CronVerb {
    /// List the app's scheduled jobs (app.json "cron") with their next and last runs.
    #[command(name = "cron")]
    List,
}

pub(super) async fn run(verb: CronVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        CronVerb::List => {
            let (app, base) = s.app_path()?;
            let jobs: Vec<CronJobInfo> = s.client.get(&format!("{base}/cron")).await?;
            s.output
                .show(&jobs, |out, _| write_cron(out, &app, &jobs))?;
        }
    }
    Ok(())
}

/// `skiff cron`: one row per scheduled job.
pub(super) fn write_cron(
    out: &mut dyn Write,
    app: &str,
    jobs: &[CronJobInfo],
) -> std::io::Result<()> {
    if jobs.is_empty() {
        return writeln!(
            out,
            "{app} has no scheduled jobs; add them to app.json as \"cron\": [{{\"command\": \"…\", \"schedule\": \"*/10 * * * *\"}}] and deploy."
        );
    }
    let dash = || "-".to_owned();
    output::table(
        out,
        &[
            "JOB",
            "SCHEDULE",
            "COMMAND",
            "NEXT RUN",
            "LAST RUN",
            "LAST RESULT",
        ],
        jobs.iter().map(|j| {
            vec![
                j.dyno.clone(),
                j.schedule.clone(),
                j.command.clone(),
                j.next_run.clone().unwrap_or_else(dash),
                j.last_run.clone().unwrap_or_else(dash),
                j.last_result.clone().unwrap_or_else(dash),
            ]
        }),
    )
}
