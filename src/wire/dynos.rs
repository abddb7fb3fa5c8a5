//! Dynos and the formation on the wire: `ps`, `ps:scale`, `ps:resize`, `ps:restart`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One dyno as `ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
