//! Pure domain types and rules: validated names, Procfiles, formations, config vars, domains,
//! health checks, cron schedules, SSH keys and API tokens. No I/O.

mod app_name;
mod config_var;
mod cron;
mod domain;
mod formation;
mod health_check;
mod procfile;
mod release_version;
mod ssh_key;
mod token;

pub use app_name::{AppName, AppNameError};
pub use config_var::{
    check_config_value, describe_changes, ConfigChange, ConfigError, ConfigKey,
    CONFIG_VALUE_MAX_BYTES,
};
pub use cron::{CronError, CronJob, CronSchedule};
pub use domain::{Domain, DomainError};
pub use formation::{
    DynoName, DynoNameError, Formation, ScaleAmount, ScaleChange, ScaleError, MAX_DYNOS_PER_TYPE,
};
pub use health_check::{HealthCheck, HealthCheckError, DEFAULT_HEALTH_TIMEOUT, MAX_HEALTH_TIMEOUT};
pub use procfile::{ProcessType, ProcessTypeError, Procfile, ProcfileError};
pub use release_version::{parse_release_version, ReleaseVersionError};
pub use ssh_key::{render_authorized_keys, SshKeyError, SshPublicKey};
pub use token::{ApiToken, TokenHash, TokenName, TokenNameError};
