//! SQLite state: the one place that reads and writes skiff.db (WAL, foreign keys, migrations).
//!
//! Layered without cycles: `db` (the connection, migrations, errors, row helpers) at the bottom; one module
//! per table or aggregate above it, each importing only `db` and `crate::model`; `desired`, the
//! one read of the whole desired state, at the top.

mod addons;
mod alerts;
mod apps;
mod backup_schedules;
mod backups;
mod buildpacks;
mod dashboard;
mod db;
mod desired;
mod drains;
mod dynos;
mod events;
mod intents;
mod keys;
mod metrics;
mod networks;
mod releases;
mod routing;
mod sleep;
mod usage;
mod volumes;

pub use addons::{AddonRecord, NewAddon};
pub use alerts::{AlertRecord, AppAlerts};
pub use apps::{AppRecord, TokenRecord};
pub use backup_schedules::ScheduleRecord;
pub use backups::{BackupRecord, CheckedBackup};
pub use db::AppRelease;
pub use db::{Store, StoreError};
pub use drains::DrainRecord;
pub use dynos::FormationEntry;
pub(crate) use intents::{RestartId, RestartRequest};
pub use keys::KeyRecord;
pub use networks::EgressSetting;
pub use sleep::{AppSleep, WakeStart};
