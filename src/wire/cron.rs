//! Scheduled jobs on the wire: `/v1/apps/{app}/cron`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One scheduled job as `skiff cron` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CronJobInfo {
    /// `cron.1`: its `DYNO` and `SKIFF_DYNO`.
    pub dyno: String,
    /// Crontab syntax, as written in app.json.
    pub schedule: String,
    pub command: String,
    /// The release whose slug and config it runs.
    pub release: u32,
    /// RFC 3339; none when its timer is not set up (yet).
    pub next_run: Option<String>,
    pub last_run: Option<String>,
    /// How the last run ended ("succeeded", "exited with status 3"…), "running", or none.
    pub last_result: Option<String>,
    pub timer: String,
}
