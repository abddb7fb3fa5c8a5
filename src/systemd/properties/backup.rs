//! An add-on's scheduled backups as a timer and the oneshot it fires: the timer is `Persistent=`,
//! so a time missed while the machine was off fires as soon as the timer is back; the service
//! runs skiff's own CLI as the `skiff` user, which asks skiffd for the backup and follows it.

use std::path::PathBuf;

use super::sandbox::confinement_properties;
use super::values::{b, log_fields, s, strs, Property, PropertyValue};
use crate::model::{AddonName, AppName, BackupSchedule};
use crate::wire::SCHEDULED_BACKUP_VERB;

/// The user the service runs as: a member of the group that may use the local API.
pub const BACKUP_SERVICE_USER: &str = "skiff";
/// The longest a scheduled backup, check included, may take.
const BACKUP_SERVICE_TIMEOUT_USEC: u64 = 12 * 3600 * 1_000_000;

/// Everything needed to set up one add-on's backup schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTimerSpec {
    pub addon: AddonName,
    /// The owner app, named in the service's journal lines.
    pub owner: Option<AppName>,
    pub schedule: BackupSchedule,
    /// The `skiff` CLI installed beside skiffd.
    pub cli: PathBuf,
    /// skiffd's own unit, which the service pulls in and starts after.
    pub daemon_unit: String,
}

/// The timer's description, which also tells the reconciler which schedule a running timer has.
pub fn backup_timer_description(addon: &AddonName, schedule: &BackupSchedule) -> String {
    format!("skiff backups of {addon}: daily at {schedule}")
}

/// The timer's properties.
pub fn backup_timer_properties(spec: &BackupTimerSpec) -> Vec<Property> {
    vec![
        (
            "Description",
            s(backup_timer_description(&spec.addon, &spec.schedule)),
        ),
        (
            "TimersCalendar",
            PropertyValue::Timers(vec![("OnCalendar".into(), spec.schedule.on_calendar())]),
        ),
        // A stamp under /var/lib/systemd/timers remembers the last run across reboots.
        ("Persistent", b(true)),
        ("AccuracyUSec", PropertyValue::U64(1_000_000)),
    ]
}

/// The properties of the service the timer fires.
pub fn backup_service_properties(spec: &BackupTimerSpec) -> Vec<Property> {
    let cli = spec.cli.display().to_string();
    let mut fields = vec![format!("SKIFF_ADDON={}", spec.addon)];
    if let Some(owner) = &spec.owner {
        fields.insert(0, format!("SKIFF_APP={owner}"));
    }
    let mut props = vec![
        (
            "Description",
            s(format!("skiff scheduled backup of {}", spec.addon)),
        ),
        ("Wants", strs([spec.daemon_unit.clone()])),
        ("After", strs([spec.daemon_unit.clone()])),
        ("Type", s("oneshot")),
        (
            "ExecStart",
            PropertyValue::Exec(vec![(
                cli.clone(),
                vec![cli, SCHEDULED_BACKUP_VERB.into(), spec.addon.to_string()],
                false,
            )]),
        ),
        (
            "TimeoutStartUSec",
            PropertyValue::U64(BACKUP_SERVICE_TIMEOUT_USEC),
        ),
        ("User", s(BACKUP_SERVICE_USER)),
        ("Group", s(BACKUP_SERVICE_USER)),
        ("SyslogIdentifier", s("skiff-backup")),
        ("LogExtraFields", log_fields(fields)),
    ];
    props.extend(confinement_properties());
    props
}

#[cfg(test)]
pub(in crate::systemd::properties) mod tests {
    use super::*;
    use crate::systemd::properties::test_support::one;

    pub(in crate::systemd::properties) fn backup_spec() -> BackupTimerSpec {
        BackupTimerSpec {
            addon: AddonName::parse("postgresql-shop").unwrap(),
            owner: Some(AppName::parse("shop").unwrap()),
            schedule: BackupSchedule::parse("02:00 Europe/Berlin").unwrap(),
            cli: "/usr/bin/skiff".into(),
            daemon_unit: "skiffd.service".into(),
        }
    }

    #[test]
    fn the_timer_fires_daily_in_its_zone_and_catches_up_after_downtime() {
        let p = backup_timer_properties(&backup_spec());
        assert_eq!(
            one(&p, "TimersCalendar"),
            &PropertyValue::Timers(vec![(
                "OnCalendar".into(),
                "*-*-* 02:00:00 Europe/Berlin".into()
            )])
        );
        assert_eq!(one(&p, "Persistent"), &b(true));
        assert_eq!(
            one(&p, "Description"),
            &s("skiff backups of postgresql-shop: daily at 02:00 Europe/Berlin")
        );
    }

    #[test]
    fn the_service_asks_skiffd_for_the_backup_as_the_skiff_user() {
        let p = backup_service_properties(&backup_spec());
        assert_eq!(
            one(&p, "ExecStart"),
            &PropertyValue::Exec(vec![(
                "/usr/bin/skiff".into(),
                vec![
                    "/usr/bin/skiff".into(),
                    "backups:run-scheduled".into(),
                    "postgresql-shop".into()
                ],
                false
            )])
        );
        assert_eq!(one(&p, "User"), &s("skiff"));
        assert_eq!(one(&p, "Type"), &s("oneshot"));
        assert_eq!(one(&p, "Wants"), &strs(["skiffd.service"]));
        assert_eq!(one(&p, "After"), &strs(["skiffd.service"]));
        assert_eq!(one(&p, "CapabilityBoundingSet"), &PropertyValue::U64(0));
        assert_eq!(
            one(&p, "LogExtraFields"),
            &PropertyValue::Bytes(vec![
                b"SKIFF_APP=shop".to_vec(),
                b"SKIFF_ADDON=postgresql-shop".to_vec()
            ])
        );
    }
}
