//! What can go wrong in the store.

use std::path::PathBuf;

use crate::model::{AppName, TokenName};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path} has schema version {found}, newer than this skiff understands ({known}); upgrade skiff or restore a backup — the database was left untouched")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("app {0} already exists")]
    AppExists(AppName),
    #[error("app {app} already drains to {url}")]
    DrainExists { app: AppName, url: String },
    #[error("app {app} has no drain {url}; skiff drains -a {app} lists them")]
    DrainNotFound { app: AppName, url: String },
    #[error("app {0} has 5 drains, as many as an app may have; remove one first")]
    TooManyDrains(AppName),
    #[error("app {0} not found")]
    AppNotFound(String),
    #[error("token {0} already exists")]
    TokenExists(TokenName),
    #[error("token {0} not found")]
    TokenNotFound(String),
    #[error("an SSH key with fingerprint {0} is already added")]
    KeyExists(String),
    #[error("no SSH key with fingerprint or comment {0}")]
    KeyNotFound(String),
    #[error("more than one SSH key has the comment {0}; remove it by fingerprint")]
    KeyAmbiguous(String),
    #[error("{0} is already a domain of this app")]
    DomainExists(crate::model::Domain),
    #[error("{domain} is already a domain of app {owner}; remove it there first")]
    DomainTaken {
        domain: crate::model::Domain,
        owner: AppName,
    },
    #[error("{domain} is not a domain of app {app}")]
    DomainNotFound {
        domain: crate::model::Domain,
        app: AppName,
    },
    #[error("app {0} has no release yet; deploy it first with: skiff deploy -a {0}")]
    NotDeployed(AppName),
    #[error("{0}")]
    Scale(crate::model::ScaleError),
    #[error("no free port left in port_range {first}-{last}")]
    PortsExhausted { first: u16, last: u16 },
    #[error("add-on {0} already exists")]
    AddonExists(crate::model::AddonName),
    #[error("add-on {0} not found")]
    AddonNotFound(String),
    #[error("backup {id} of add-on {addon} is still in progress; wait for it to end")]
    BackupInProgress {
        addon: crate::model::AddonName,
        id: crate::model::BackupId,
    },
    #[error("add-on {addon} has no backup {id}; skiff pg:backups lists them")]
    BackupNotFound {
        addon: crate::model::AddonName,
        id: crate::model::BackupId,
    },
    #[error(
        "add-on {0} has no backup schedule; set one with skiff pg:backups:schedule --at 02:00"
    )]
    NoBackupSchedule(crate::model::AddonName),
    #[error(
        "app {app} already has an add-on attached as {name} ({key}); choose another name with --as"
    )]
    AttachmentTaken {
        app: AppName,
        name: crate::model::AttachmentName,
        key: crate::model::ConfigKey,
    },
    #[error("add-on {addon} is already attached to app {app}")]
    AlreadyAttached {
        addon: crate::model::AddonName,
        app: AppName,
    },
    #[error("add-on {addon} is not attached to app {app}")]
    NotAttached {
        addon: crate::model::AddonName,
        app: AppName,
    },
    #[error("the credentials of add-on {0} are being rotated; wait until the attached apps run with the new ones")]
    RotationInProgress(crate::model::AddonName),
    #[error("add-on {0} is being destroyed")]
    AddonDestroying(crate::model::AddonName),
    #[error("no free port left for redis add-ons ({first}-{last})")]
    AddonPortsExhausted { first: u16, last: u16 },
    #[error("app {app} already has a volume named {name}")]
    VolumeExists {
        app: AppName,
        name: crate::model::VolumeName,
    },
    #[error("app {app} has no volume named {name}")]
    VolumeNotFound { app: AppName, name: String },
    #[error("volume {name} of app {app} is still being destroyed; wait until its dynos have restarted without it")]
    VolumeDestroying {
        app: AppName,
        name: crate::model::VolumeName,
    },
    #[error("app {app}'s volume {other} is mounted at {other_mount}, which overlaps {mount}; choose another mount path")]
    MountOverlaps {
        app: AppName,
        mount: crate::model::MountPath,
        other: crate::model::VolumeName,
        other_mount: crate::model::MountPath,
    },
    #[error("app {app} already has the alert {rule}")]
    AlertExists { app: AppName, rule: String },
    #[error("app {app} has no alert {rule}; skiff alerts -a {app} lists them")]
    AlertNotFound { app: AppName, rule: String },
    #[error("the archived database is not usable: {0}; nothing was changed")]
    BadSnapshot(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Task(String),
}
