//! Dynos and the formation on the wire: `ps`, `ps:scale`, `ps:resize`, `ps:restart`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One dyno as `ps` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dyno {
    /// `web.1`
    pub name: String,
    pub process_type: String,
    /// up, starting, restarting, stopping, crashed or stopped
    pub state: String,
    /// RFC 3339, when it entered this state (when known).
    pub since: Option<String>,
    pub release: Option<u32>,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub restarts: u32,
    pub command: String,
    /// The systemd unit, when one exists.
    pub unit: Option<String>,
    /// Memory its cgroup uses now, and its limit (bytes).
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub memory_limit: Option<u64>,
    /// CPU in percent of one core since the previous look (or since it started).
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    /// Processes and threads now.
    #[serde(default)]
    pub tasks: Option<u64>,
}

/// One process type of the formation, with the limits its dynos get.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FormationItem {
    pub process_type: String,
    pub quantity: u32,
    pub command: String,
    pub memory_bytes: u64,
    /// Percent of one CPU.
    pub cpu_percent: u32,
    pub tasks: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScaleRequest {
    /// Like `["web=2", "worker+1"]`.
    pub changes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
pub struct ResizeRequest {
    /// Like "512M".
    pub memory: Option<String>,
    /// Like "50%".
    pub cpu: Option<String>,
    pub tasks: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
pub struct RestartRequest {
    /// A process type (`web`), a dyno (`web.1`), or nothing for all dynos.
    pub target: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Restarted {
    pub restarted: usize,
}

/// `ps:autosleep`: the app's own setting.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutosleepRequest {
    /// A period like `30m` (from 1s to 7 days), `off`, or `default` (the server's).
    pub after: String,
}

/// Whether and when an app sleeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Autosleep {
    /// The app's own setting: a period, `off` or `default`.
    pub setting: String,
    /// The period that applies (the setting, or the server's default); none: it never sleeps.
    pub effective: Option<String>,
    /// awake, sleeping (its web and worker dynos are stopped) or waking
    pub state: String,
    /// RFC 3339: when it fell asleep, while it sleeps or wakes.
    pub since: Option<String>,
    /// Why its last wake failed, until one succeeds.
    pub wake_failure: Option<String>,
}
