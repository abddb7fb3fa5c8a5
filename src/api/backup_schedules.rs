//! `/v1/addons/{addon}/backups/schedule`: an add-on's daily backup, as a systemd timer the
//! reconciler makes from the row, with the retention its scheduled backups are pruned by.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::addons::find;
use super::cron::describe_runs;
use super::error::ApiError;
use super::{AppState, Caller};
use crate::model::{BackupSchedule, Retention, ScheduleError};
use crate::store::{AddonRecord, ScheduleRecord};
use crate::systemd::TimerDetails;
use crate::wire::{BackupScheduleBody, BackupScheduleRequest, ErrorBody};

/// Where the tz database keeps its zones (Debian's `tzdata`).
const ZONEINFO: &str = "/usr/share/zoneinfo";

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        Self::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_schedule",
            e.to_string(),
        )
    }
}

/// The schedule with what its timer says (nothing yet while the reconciler makes it).
pub(super) async fn schedule_body(
    state: &AppState,
    record: ScheduleRecord,
) -> Result<BackupScheduleBody, ApiError> {
    let details = state
        .systemd
        .timer_details(
            &record.addon.backup_timer_name(),
            &record.addon.backup_service_name(),
        )
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(body(record, details.as_ref()))
}

/// Pure: a schedule's body, with what its timer says when there is one.
fn body(record: ScheduleRecord, timer: Option<&TimerDetails>) -> BackupScheduleBody {
    let (next_run, last_run, last_result) = describe_runs(timer);
    BackupScheduleBody {
        addon: record.addon.to_string(),
        at: record.at.to_string(),
        keep_daily: record.keep.daily(),
        keep_weekly: record.keep.weekly(),
        next_run,
        last_run,
        last_result,
    }
}

/// The schedule of `addon`, if it has one, for its backup list.
pub(super) async fn schedule_of(
    state: &AppState,
    addon: &AddonRecord,
) -> Result<Option<BackupScheduleBody>, ApiError> {
    match state.store.backup_schedule(&addon.name).await? {
        Some(record) => Ok(Some(schedule_body(state, record).await?)),
        None => Ok(None),
    }
}

/// Whether this host's tz database has `zone` (a TZif file), as systemd requires of a calendar
/// expression's zone; UTC is systemd's own and always there.
async fn zone_exists(zone: &str) -> bool {
    if zone == "UTC" {
        return true;
    }
    let path = PathBuf::from(ZONEINFO).join(zone);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut magic = [0u8; 4];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok_and(|()| &magic == b"TZif")
    })
    .await
    .unwrap_or(false)
}

#[utoipa::path(put, path = "/v1/addons/{addon}/backups/schedule", tag = "backups",
    params(("addon" = String, Path, description = "add-on name")),
    request_body = BackupScheduleRequest,
    responses(
        (status = 200, description = "the add-on is backed up daily at that time", body = BackupScheduleBody),
        (status = 404, description = "no such add-on", body = ErrorBody),
        (status = 422, description = "the time, zone or retention is invalid", body = ErrorBody)))]
pub async fn set_schedule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
    Json(request): Json<BackupScheduleRequest>,
) -> Result<Json<BackupScheduleBody>, ApiError> {
    let record = find(&state, &addon).await?;
    let at = BackupSchedule::parse(&request.at)?;
    if !zone_exists(at.zone()).await {
        return Err(ScheduleError::Zone(at.zone().to_owned()).into());
    }
    let keep = Retention::new(
        request.keep_daily.unwrap_or(state.backups.keep.daily()),
        request.keep_weekly.unwrap_or(state.backups.keep.weekly()),
    )?;
    let schedule = state
        .store
        .set_backup_schedule(&record.name, at, keep)
        .await?;
    tracing::info!(addon = %record.name, at = %schedule.at, caller = %caller.describe(), "backup schedule set");
    state.reconciler.wait_for_round().await;
    Ok(Json(schedule_body(&state, schedule).await?))
}

#[utoipa::path(delete, path = "/v1/addons/{addon}/backups/schedule", tag = "backups",
    params(("addon" = String, Path, description = "add-on name")),
    responses(
        (status = 200, description = "the schedule is gone; the backups it took stay", body = BackupScheduleBody),
        (status = 404, description = "no such add-on, or it has no schedule", body = ErrorBody)))]
pub async fn remove_schedule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(addon): Path<String>,
) -> Result<Json<BackupScheduleBody>, ApiError> {
    let record = find(&state, &addon).await?;
    let removed = state.store.remove_backup_schedule(&record.name).await?;
    tracing::info!(addon = %record.name, caller = %caller.describe(), "backup schedule removed");
    state.reconciler.wait_for_round().await;
    Ok(Json(body(removed, None)))
}
