//! Releases as domain data: what a release runs, where it stands in its life cycle, and the
//! config vars it carries.

use std::collections::BTreeMap;

use super::{CronJob, FirstDeployDefaults, HealthCheck, Procfile};

/// Config vars by key.
pub type ConfigVars = BTreeMap<String, String>;

/// Where a release stands: it goes live only once its web dynos pass their health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseStatus {
    /// Its web dynos are starting beside the live ones.
    Pending,
    /// It went live (it may have been replaced by a newer one since).
    Succeeded,
    /// Its web dynos failed their health check; it never went live.
    Failed,
    /// A newer release replaced it before it went live.
    Superseded,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }

    /// Reads [`ReleaseStatus::as_str`] back.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "superseded" => Self::Superseded,
            _ => return None,
        })
    }
}

/// One release of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub version: u32,
    /// The release whose slug this one runs: itself for a deploy, an earlier one for config
    /// changes and rollbacks.
    pub slug_version: u32,
    pub procfile: Procfile,
    pub config: ConfigVars,
    pub description: String,
    pub created_at: String,
    pub status: ReleaseStatus,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// Scheduled jobs (app.json `cron`), run as `cron.1`, `cron.2`… while this release is live.
    pub cron: Vec<CronJob>,
    /// The build that made this release's slug (its output is in journald under
    /// `SKIFF_BUILD`); none for config changes and rollbacks, which reuse a slug.
    pub build_id: Option<String>,
}

/// What a build hands the store to make a release of its slug.
#[derive(Debug, Clone)]
pub struct BuiltRelease {
    pub procfile: Procfile,
    pub description: String,
    /// app.json's `env` and `formation`, applied when this is the app's first release.
    pub defaults: FirstDeployDefaults,
    pub cron: Vec<CronJob>,
    /// app.json's health check, set on the app when given.
    pub health_check: Option<HealthCheck>,
    pub build_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back() {
        use ReleaseStatus::*;
        for status in [Pending, Succeeded, Failed, Superseded] {
            assert_eq!(ReleaseStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ReleaseStatus::parse("live"), None);
    }
}
