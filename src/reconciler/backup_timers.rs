//! The reconciler's part in scheduled backups: each add-on's schedule in the DB becomes a
//! `Persistent=` timer PID 1 owns, so it fires while skiffd is down and catches up after a
//! reboot, when the first round after the start makes it again.

use std::collections::BTreeMap;

use super::round::Round;
use super::Reconciler;
use crate::model::AddonName;
use crate::reconcile::{plan_backup_timers, ActiveState, ObservedUnit};
use crate::store::{AddonRecord, ScheduleRecord};
use crate::systemd::names::DAEMON_UNIT;
use crate::systemd::properties::{
    backup_service_properties, backup_timer_description, backup_timer_properties, BackupTimerSpec,
};
use crate::systemd::UnitStatus;

impl Reconciler {
    /// Starts, replaces and stops the add-ons' backup timers as their schedules say.
    pub(super) async fn converge_backup_timers(
        &self,
        addons: &[AddonRecord],
        units: &[UnitStatus],
        round: &mut Round,
    ) {
        let Some(schedules) = round.count_ok(
            "reading the backup schedules",
            self.store.backup_schedules().await.map_err(Into::into),
        ) else {
            return;
        };
        let schedules: BTreeMap<AddonName, ScheduleRecord> = schedules
            .into_iter()
            .map(|s| (s.addon.clone(), s))
            .collect();
        let desired = schedules
            .values()
            .map(|s| (s.addon.clone(), backup_timer_description(&s.addon, &s.at)))
            .collect();
        let observed: Vec<(ObservedUnit, String)> = units
            .iter()
            .map(|u| {
                let unit = ObservedUnit {
                    name: u.name.clone(),
                    active_state: ActiveState::parse(&u.active_state),
                };
                (unit, u.description.clone())
            })
            .collect();
        let plan = plan_backup_timers(&desired, &observed);
        for name in &plan.reset_failed {
            let reset = self.systemd.reset_failed(name).await.map_err(Into::into);
            round.count(&format!("resetting {name}"), reset);
        }
        for name in &plan.stop {
            let stopped = self.systemd.stop_unit(name).await.map_err(Into::into);
            if round.count(&format!("stopping {name}"), stopped) {
                tracing::info!(unit = %name, "backup schedule removed or changed");
            }
        }
        for addon in &plan.start {
            let schedule = &schedules[addon];
            let spec = BackupTimerSpec {
                addon: addon.clone(),
                owner: addons
                    .iter()
                    .find(|a| &a.name == addon)
                    .and_then(|a| a.owner.clone()),
                schedule: schedule.at.clone(),
                cli: crate::paths::installed_cli(),
                daemon_unit: DAEMON_UNIT.to_owned(),
            };
            let started = self
                .systemd
                .start_timer(
                    &addon.backup_timer_name(),
                    backup_timer_properties(&spec),
                    &addon.backup_service_name(),
                    backup_service_properties(&spec),
                )
                .await
                .map_err(Into::into);
            if round.count(&format!("scheduling the backups of {addon}"), started) {
                tracing::info!(addon = %addon, at = %schedule.at, "backups scheduled");
            }
        }
    }
}
