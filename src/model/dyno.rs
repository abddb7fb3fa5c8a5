//! Dynos as domain data: size overrides and the limits they come to, holds (a dyno kept down on
//! purpose) and which dynos an operation applies to.

use super::{DynoName, ProcessType};

/// Per-process-type size overrides; `None` means the configured default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DynoSize {
    pub memory_bytes: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub tasks: Option<u64>,
}

/// Resource limits of one dyno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Percent of one CPU (200 = two cores).
    pub cpu_percent: u32,
    pub tasks: u64,
}

/// Why a dyno is held down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    Stopped,
    Crashed,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Crashed => "crashed",
        }
    }

    /// Reads [`HoldReason::as_str`] back; anything but `crashed` is a stop.
    pub fn parse(raw: &str) -> Self {
        if raw == "crashed" {
            Self::Crashed
        } else {
            Self::Stopped
        }
    }
}

/// A dyno kept down on purpose: stopped by `ps:stop`, or crashed until the next deploy/restart/scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub dyno: DynoName,
    pub reason: HoldReason,
    pub since: String,
}

/// Which dynos of an app a restart or hold-clearing applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynoFilter {
    All,
    Type(ProcessType),
    One(DynoName),
}

impl DynoFilter {
    pub fn matches(&self, dyno: &DynoName) -> bool {
        match self {
            Self::All => true,
            Self::Type(t) => &dyno.process_type == t,
            Self::One(d) => d == dyno,
        }
    }
}
