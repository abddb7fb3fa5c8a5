//! The only module that speaks D-Bus: a narrow `Systemd` trait, its zbus implementation and a fake.

mod dbus;
#[cfg(any(test, feature = "fakes"))]
mod fake;
pub mod names;
pub mod properties;

pub use dbus::DbusSystemd;
#[cfg(any(test, feature = "fakes"))]
pub use fake::FakeSystemd;

use properties::Property;

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cannot connect to the system bus: {0}")]
    Connect(Box<zbus::Error>),
    #[error("systemd D-Bus call {call} failed: {source}")]
    Call {
        call: &'static str,
        source: Box<zbus::Error>,
    },
    /// `job` is what was asked: "starting", "reloading", "restarting".
    #[error("{job} {unit} failed: job result {result}")]
    JobFailed {
        job: &'static str,
        unit: String,
        result: String,
    },
    #[error("{job} {unit} timed out waiting for its job")]
    JobTimeout { job: &'static str, unit: String },
}

/// A unit as `ListUnitsByPatterns` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStatus {
    pub name: String,
    /// Its `Description=`.
    pub description: String,
    pub active_state: String,
    pub sub_state: String,
}

/// What `ps` shows of a running service unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceDetails {
    pub active_state: String,
    pub sub_state: String,
    pub main_pid: u32,
    pub n_restarts: u32,
    /// When the unit last became active, µs since the epoch (0 = never).
    pub active_enter_usec: u64,
    /// What its cgroup used, as systemd accounts it (`None` where the host does not).
    pub usage: Usage,
}

/// A unit's cgroup counters: CPU time so far, memory and tasks now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub cpu_nsec: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub tasks: Option<u64>,
}

impl Usage {
    /// systemd's `[not set]` (`u64::MAX`) as `None`.
    pub fn from_counters(cpu_nsec: u64, memory_bytes: u64, tasks: u64) -> Self {
        let set = |v: u64| (v != u64::MAX).then_some(v);
        Self {
            cpu_nsec: set(cpu_nsec),
            memory_bytes: set(memory_bytes),
            tasks: set(tasks),
        }
    }
}

/// What `skiff cron` shows of a scheduled job: its timer and the last run of its service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimerDetails {
    /// When it fires next, µs since the epoch (0 = not scheduled).
    pub next_elapse_usec: u64,
    /// When it last fired, µs since the epoch (0 = never).
    pub last_trigger_usec: u64,
    /// The service's state (`activating` while the job runs) and how its last run ended.
    pub service_active_state: String,
    pub service_result: String,
    pub service_exit_status: i32,
}

/// How a unit run to completion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// systemd's `Result` of the service: `success`, `exit-code`, `timeout`, `signal`, `oom-kill`…
    pub result: String,
    /// The main process's exit status (or signal number).
    pub exit_status: i32,
}

impl RunOutcome {
    pub fn success() -> Self {
        Self {
            result: "success".to_owned(),
            exit_status: 0,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.result == "success"
    }

    /// "exited with status 3", "timed out", "was killed for using too much memory"…
    pub fn describe(&self) -> String {
        match self.result.as_str() {
            "success" => "succeeded".to_owned(),
            "exit-code" => format!("exited with status {}", self.exit_status),
            "timeout" => "timed out".to_owned(),
            "signal" | "core-dump" => format!("was killed by signal {}", self.exit_status),
            "oom-kill" => "was killed for using more memory than allowed".to_owned(),
            other => format!("failed ({other})"),
        }
    }
}

/// What skiff needs from systemd (PID 1). Callers hold `Arc<dyn Systemd>`.
#[async_trait::async_trait]
pub trait Systemd: Send + Sync {
    /// systemd's version string, e.g. "252.30-1~deb12u2".
    async fn version(&self) -> Result<String, SystemdError>;
    /// Units whose names match `pattern` (a glob like `skiff-*`), loaded or failed.
    async fn list_units(&self, pattern: &str) -> Result<Vec<UnitStatus>, SystemdError>;
    /// Starts a transient unit and waits for its start job to finish.
    async fn start_transient(
        &self,
        name: &str,
        properties: Vec<Property>,
    ) -> Result<(), SystemdError>;
    /// Starts a transient timer together with the service it fires, and waits for the timer's
    /// start job.
    async fn start_timer(
        &self,
        timer: &str,
        timer_properties: Vec<Property>,
        service: &str,
        service_properties: Vec<Property>,
    ) -> Result<(), SystemdError>;
    /// A timer's schedule and its service's last run; `None` when the timer is not loaded.
    async fn timer_details(
        &self,
        timer: &str,
        service: &str,
    ) -> Result<Option<TimerDetails>, SystemdError>;
    /// Starts a transient `Type=oneshot` unit and waits (at most `wait_at_most`; the unit's own
    /// timeout should end it first) until its process has ended; a failed unit is reset.
    async fn run_to_completion(
        &self,
        name: &str,
        properties: Vec<Property>,
        wait_at_most: std::time::Duration,
    ) -> Result<RunOutcome, SystemdError>;
    /// Changes properties of a loaded unit at runtime (like `systemctl set-property --runtime`).
    async fn set_properties(
        &self,
        name: &str,
        properties: Vec<Property>,
    ) -> Result<(), SystemdError>;
    /// Enqueues a stop; the unit's signals tell when it is gone.
    async fn stop_unit(&self, name: &str) -> Result<(), SystemdError>;
    /// Enqueues a restart of a running unit.
    async fn restart_unit(&self, name: &str) -> Result<(), SystemdError>;
    /// Starts a unit that has a unit file (a packaged one) and waits for its start job.
    async fn start_unit(&self, name: &str) -> Result<(), SystemdError>;
    /// Reloads a running unit (its `ExecReload=`) and waits for the reload job.
    async fn reload_unit(&self, name: &str) -> Result<(), SystemdError>;
    /// Restarts a unit and waits for the restart job, so it runs again when this returns.
    async fn restart_unit_and_wait(&self, name: &str) -> Result<(), SystemdError>;
    /// Forgets a failed unit so its name can be used again.
    async fn reset_failed(&self, name: &str) -> Result<(), SystemdError>;
    /// Live details of a service unit; `None` when it is not loaded.
    async fn service_details(&self, name: &str) -> Result<Option<ServiceDetails>, SystemdError>;
    /// A feed of "a unit matching `skiff-*` changed" events (each carries the unit or object name).
    async fn watch(&self) -> Result<tokio::sync::mpsc::Receiver<String>, SystemdError>;
}
