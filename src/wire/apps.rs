//! Apps on the wire: `/v1/apps` and `/v1/apps/{app}/info`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CronJobInfo, Dyno, FormationItem, Release};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct App {
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Where the proxy serves the app.
    pub web_url: String,
    /// awake, sleeping or waking
    #[serde(default)]
    pub sleep: String,
    /// RFC 3339: when it fell asleep, while it sleeps or wakes.
    #[serde(default)]
    pub sleeping_since: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// 3–30 lowercase letters, digits and dashes, starting with a letter.
    pub name: String,
}

/// `PATCH /v1/apps/{app}`: the app's new name (`apps:rename`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameApp {
    /// 3–30 lowercase letters, digits and dashes, starting with a letter.
    pub name: String,
}

/// Bytes an app takes on disk.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiskUse {
    /// The slugs kept for rollback (the live one among them).
    pub slugs: u64,
    /// The build cache (dependencies kept between builds).
    pub cache: u64,
    /// Builds in progress or left by a crash.
    pub builds: u64,
    /// The git repository that `git push` fills.
    pub repo: u64,
    /// The backups of the add-ons the app owns.
    pub backups: u64,
    pub total: u64,
}

/// The whole picture of an app (`apps:info`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppInfo {
    #[serde(flatten)]
    pub app: App,
    /// Custom domains (the app is always at its web URL too).
    pub domains: Vec<String>,
    /// The live release, if any.
    pub release: Option<Release>,
    /// A release whose web dynos are starting and not live yet.
    pub pending_release: Option<u32>,
    pub maintenance: bool,
    /// Whether the proxy compresses compressible responses (zstd or gzip).
    pub compression: bool,
    /// The check new web dynos pass before they get traffic, in words.
    pub health_check: String,
    pub formation: Vec<FormationItem>,
    pub dynos: Vec<Dyno>,
    pub cron: Vec<CronJobInfo>,
    pub disk: DiskUse,
    /// Add-ons the app owns or is attached to.
    pub addons: Vec<super::Addon>,
    pub volumes: Vec<super::Volume>,
    /// Whether and when it sleeps.
    pub autosleep: super::Autosleep,
    /// The names it had before `apps:rename`, the latest first; its older log lines carry them.
    #[serde(default)]
    pub former_names: Vec<String>,
}
