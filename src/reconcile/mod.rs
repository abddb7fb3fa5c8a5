//! The reconciler's pure core: compare desired dynos (from the DB) with observed units (from
//! systemd) and decide what to do, and when new web dynos take over from the routed ones. No I/O here; `reconciler` carries the plan out.

mod backup_timers;
mod env_file;
pub mod plan;
mod rollout;

pub use backup_timers::plan_backup_timers;
pub use env_file::render_env_file;

pub use plan::{plan, ActiveState, ObservedUnit, Plan};
pub use rollout::{describe_failures, rollout_step, Health, RolloutStep, WantedWeb};
