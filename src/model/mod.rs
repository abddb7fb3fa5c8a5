//! Pure domain types and rules: validated names, Procfiles, formations, config vars, domains,
//! health checks, cron schedules, releases, dynos and their holds, routes, unit names, the
//! desired state, an app's events, SSH keys, API tokens, add-ons, volumes and the whole-server
//! archive. No I/O.

mod addon;
mod alert;
mod app_event;
mod app_name;
mod backup;
mod backup_schedule;
mod buildpack;
mod config_var;
mod cron;
mod dashboard;
mod desired;
mod domain;
mod drain;
mod dyno;
mod first_deploy;
mod formation;
mod health_check;
mod log_origin;
mod metrics;
mod network;
mod procfile;
mod release;
mod release_version;
mod rollback;
mod routing;
mod server_archive;
mod sleep;
mod ssh_key;
mod token;
mod unit_name;
mod usage;
mod volume;

pub use addon::{
    connection_url, AddonCredential, AddonEndpoint, AddonError, AddonName, AddonPlan, AddonSecret,
    AddonService, AddonState, AttachmentName, MaxmemoryPolicy, PlanName, Plans, ADDON_UNIT_PREFIX,
    REDIS_PORTS,
};
pub use alert::{
    above_since, alert_change, AlertChange, AlertRule, Reading, WebhookUrl, WEBHOOK_RETRY_DELAYS,
};
pub use app_event::{AppEvent, AppEventKind, AppEventNote, KEPT_EVENTS_PER_APP};
pub use app_name::{AppName, AppNameError};
pub use backup::{
    check_free_space, compare_exact, compare_within, BackupId, BackupIdError, BackupKind,
    BackupStatus, Census, CheckMismatch,
};
pub use backup_schedule::{prune, BackupSchedule, RetainedBackup, Retention, ScheduleError};
pub use buildpack::{BuildpackChoice, BuildpackError, BuildpackSource, Buildpacks};
pub use config_var::{check_config_value, describe_changes, ConfigChange, ConfigKey};
pub use cron::{CronJob, CronSchedule};
pub use dashboard::{DashboardAddress, LOGIN_LINK_TTL, SESSION_TTL};
pub use desired::{AppSnapshot, DesiredCron, DesiredDyno, DesiredState};
pub use domain::Domain;
pub use drain::{
    drain_retry_pause, syslog_frame, DrainLine, DrainTransport, DrainUrl, DRAIN_BATCH,
};
pub use dyno::{
    check_resizable, restarted_web_dynos, DynoFilter, DynoSize, Hold, HoldReason, HoldRelease,
    Limits,
};
pub use first_deploy::{deploy_start, FirstDeployDefaults};
pub use formation::{DynoName, Formation, ScaleChange, ScaleError, MAX_DYNOS_PER_TYPE};
pub use health_check::{HealthCheck, HealthCheckError};
pub use log_origin::{LogOrigin, LOG_ORIGINS};
pub use metrics::{
    bucket_start, metrics_view, retention_at, MetricsPeriod, MetricsPoint, RequestStats,
    COARSE_STEP_SECS, FINE_STEP_SECS,
};
pub use network::{
    parse_namespace_name, service_addr, service_port, AppNetwork, Namespace, NetworkKind,
    NetworkRange, NetworkSlot, NAMESPACE_INTERFACE, NETNS_DIR, SUBNET_PREFIX, VETH_PREFIX,
};
pub use procfile::{ProcessType, Procfile};
pub use release::{BuiltRelease, ConfigVars, ReleaseRecord, ReleaseStatus};
pub use release_version::{parse_release_version, ReleaseVersion};
pub use rollback::{rollback_target, RollbackError};
pub use routing::{AppRoutes, AppRouting, Compression, Route, RoutingSettings};
pub use server_archive::{
    check_entries, check_restore_allowed, place, ArchiveError, ArchiveManifest, ArchivedAddon,
    ArchivedEntry, Ownership, ARCHIVE_FORMAT, DATABASE_NAME, MANIFEST_NAME,
};
pub use sleep::{
    due_to_sleep, may_try_waking, SleepAfter, SleepCandidate, SleepSetting, SleepState,
};
pub use ssh_key::{render_authorized_keys, SshPublicKey};
pub use token::{ApiToken, TokenHash, TokenName, TokenNameError};
pub(crate) use unit_name::parse_positive;
pub use unit_name::{CronUnit, DynoUnit, UNIT_PREFIX};
pub use usage::{usage_of_sample, usage_view, UsagePoint, UsageStats};
pub use volume::{
    volume_unmounted, MountPath, VolumeMount, VolumeName, VolumeRecord, VOLUME_DIR_MODE,
    VOLUME_GROUP, VOLUME_UMASK,
};
