//! One-off dyno requests and answers on the wire (before the connection is upgraded).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The client's terminal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalBody {
    pub cols: u16,
    pub rows: u16,
    /// The client's `TERM`, like `xterm-256color`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// One element: a shell command line. More: a program and its arguments, passed exactly.
    pub command: Vec<String>,
    /// Start it and answer at once; its output goes to the app's logs.
    #[serde(default)]
    pub detached: bool,
    /// Attached runs only: give the process a terminal of this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<TerminalBody>,
    /// Like "10m"; at most (and by default) the server's `run_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// A detached run that was started.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunStarted {
    /// `run.3`
    pub dyno: String,
    pub unit: String,
}
