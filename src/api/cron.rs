//! `/v1/apps/{app}/cron`: the live release's scheduled jobs, with their timers' next and last
//! runs as systemd reports them.

use axum::extract::{Path, State};
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::model::{AppName, CronUnit};
use crate::monitor::rfc3339_usec;
use crate::systemd::{RunOutcome, TimerDetails};
use crate::wire::{CronJobInfo, ErrorBody};

/// Pure: what a job's timer and service say about its runs.
pub fn describe_runs(
    details: Option<&TimerDetails>,
) -> (Option<String>, Option<String>, Option<String>) {
    let Some(d) = details else {
        return (None, None, None);
    };
    let last_result = match (d.service_active_state.as_str(), d.last_trigger_usec) {
        ("activating" | "active" | "deactivating", _) => Some("running".to_owned()),
        (_, 0) => None,
        _ if d.service_result.is_empty() => None,
        _ => Some(
            RunOutcome {
                result: d.service_result.clone(),
                exit_status: d.service_exit_status,
            }
            .describe(),
        ),
    };
    (
        rfc3339_usec(d.next_elapse_usec),
        rfc3339_usec(d.last_trigger_usec),
        last_result,
    )
}

/// The live release's jobs of `app` with their timers' state.
pub async fn cron_jobs(state: &AppState, app: &AppName) -> Result<Vec<CronJobInfo>, ApiError> {
    let Some(live) = state.store.current_release(app).await? else {
        return Ok(Vec::new());
    };
    let mut jobs = Vec::new();
    for (i, job) in live.cron.iter().enumerate() {
        let unit = CronUnit {
            app: app.clone(),
            index: i as u32 + 1,
            release: live.version,
        };
        let details = state
            .systemd
            .timer_details(&unit.timer_name(), &unit.service_name())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let (next_run, last_run, last_result) = describe_runs(details.as_ref());
        jobs.push(CronJobInfo {
            dyno: unit.dyno(),
            schedule: job.schedule.to_string(),
            command: job.command.clone(),
            release: live.version,
            next_run,
            last_run,
            last_result,
            timer: unit.timer_name(),
        });
    }
    Ok(jobs)
}

#[utoipa::path(get, path = "/v1/apps/{app}/cron", tag = "cron",
    params(("app" = String, Path, description = "app name")),
    responses(
        (status = 200, description = "the live release's scheduled jobs (app.json `cron`)", body = [CronJobInfo]),
        (status = 404, description = "no such app", body = ErrorBody)))]
pub async fn list_cron(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<CronJobInfo>>, ApiError> {
    let app = state.store.get_app(&app).await?.name;
    Ok(Json(cron_jobs(&state, &app).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(state: &str, last: u64, result: &str, status: i32) -> TimerDetails {
        TimerDetails {
            next_elapse_usec: 1_700_000_060_000_000,
            last_trigger_usec: last,
            service_active_state: state.into(),
            service_result: result.into(),
            service_exit_status: status,
        }
    }

    #[test]
    fn runs_are_described_from_the_timer_and_its_service() {
        assert_eq!(describe_runs(None), (None, None, None));
        let next = Some("2023-11-14T22:14:20Z".to_owned());
        assert_eq!(
            describe_runs(Some(&details("inactive", 0, "success", 0))),
            (next.clone(), None, None)
        );
        assert_eq!(
            describe_runs(Some(&details(
                "inactive",
                1_700_000_000_000_000,
                "success",
                0
            ))),
            (
                next.clone(),
                Some("2023-11-14T22:13:20Z".to_owned()),
                Some("succeeded".to_owned())
            )
        );
        assert_eq!(
            describe_runs(Some(&details(
                "failed",
                1_700_000_000_000_000,
                "exit-code",
                3
            )))
            .2,
            Some("exited with status 3".to_owned())
        );
        assert_eq!(
            describe_runs(Some(&details(
                "activating",
                1_700_000_000_000_000,
                "success",
                0
            )))
            .2,
            Some("running".to_owned())
        );
        let mut unscheduled = details("inactive", 0, "", 0);
        unscheduled.next_elapse_usec = u64::MAX;
        assert_eq!(describe_runs(Some(&unscheduled)).0, None);
    }
}
