//! Add-ons' backup timers, pure: from the schedules in the DB (each as the timer description it
//! must have) and the `skiff-addon-*.backup.*` units systemd lists, which timers to start, stop
//! or forget. A timer whose description differs has an old schedule: it is stopped, and started
//! again with the new one in a later round. A timer is never started while its backup runs.

use std::collections::BTreeMap;

use super::plan::{ActiveState, ObservedUnit};
use crate::model::AddonName;

/// What to do about backup timers this round. The executor resets, then stops, then starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupTimerPlan {
    pub start: Vec<AddonName>,
    pub stop: Vec<String>,
    pub reset_failed: Vec<String>,
}

/// Decides the backup timers' actions; `desired` maps each scheduled add-on to its timer's
/// description, `observed` is every unit systemd lists (others are ignored).
pub fn plan_backup_timers(
    desired: &BTreeMap<AddonName, String>,
    observed: &[(ObservedUnit, String)],
) -> BackupTimerPlan {
    let state = |name: &str| {
        observed
            .iter()
            .find(|(u, _)| u.name == name)
            .map(|(u, description)| (u.active_state, description.as_str()))
    };
    let mut plan = BackupTimerPlan::default();
    for (unit, _) in observed {
        let Some(addon) = AddonName::from_backup_unit_name(&unit.name) else {
            continue;
        };
        let timer = addon.backup_timer_name();
        // The timer runs with the schedule the DB has.
        let timer_wanted = state(&timer).is_some_and(|(s, d)| {
            !matches!(s, ActiveState::Failed | ActiveState::Inactive)
                && desired.get(&addon).map(String::as_str) == Some(d)
        });
        match unit.active_state {
            // A failed last backup stays visible while its timer runs; otherwise the name is
            // freed for the timer's next service.
            ActiveState::Failed if unit.name != timer && timer_wanted => {}
            ActiveState::Failed => plan.reset_failed.push(unit.name.clone()),
            ActiveState::Inactive => {}
            _ if unit.name == timer && !timer_wanted => plan.stop.push(unit.name.clone()),
            _ => {}
        }
    }
    for addon in desired.keys() {
        let timer = state(&addon.backup_timer_name()).map(|(s, _)| s);
        let service = state(&addon.backup_service_name()).map(|(s, _)| s);
        let timer_missing = matches!(timer, None | Some(ActiveState::Inactive));
        let backup_runs = matches!(
            service,
            Some(
                ActiveState::Active
                    | ActiveState::Activating
                    | ActiveState::Deactivating
                    | ActiveState::Reloading
            )
        );
        if timer_missing && !backup_runs {
            plan.start.push(addon.clone());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActiveState::{Activating, Active, Failed, Inactive};

    fn addon(name: &str) -> AddonName {
        AddonName::parse(name).unwrap()
    }

    fn seen(name: &str, state: ActiveState, description: &str) -> (ObservedUnit, String) {
        (
            ObservedUnit {
                name: name.into(),
                active_state: state,
            },
            description.into(),
        )
    }

    #[test]
    fn timers_follow_the_schedules() {
        let shop = addon("postgresql-shop");
        let blog = addon("postgresql-blog");
        let desired: BTreeMap<AddonName, String> = [
            (shop.clone(), "at 02:00".to_owned()),
            (blog.clone(), "at 03:00".to_owned()),
        ]
        .into();
        let none: BTreeMap<AddonName, String> = BTreeMap::new();
        let shop_timer = "skiff-addon-postgresql-shop.backup.timer";
        let shop_service = "skiff-addon-postgresql-shop.backup.service";
        let gone_timer = "skiff-addon-postgresql-gone.backup.timer";
        let cases: Vec<(&str, &BTreeMap<AddonName, String>, Vec<_>, BackupTimerPlan)> = vec![
            (
                "nothing runs: both start",
                &desired,
                vec![seen("skiff-addon-redis-shop.service", Active, "x")],
                BackupTimerPlan {
                    start: vec![blog.clone(), shop.clone()],
                    ..Default::default()
                },
            ),
            (
                "both run with their schedules: nothing to do",
                &desired,
                vec![
                    seen(shop_timer, Active, "at 02:00"),
                    seen(shop_service, Inactive, ""),
                    seen(
                        "skiff-addon-postgresql-blog.backup.timer",
                        Active,
                        "at 03:00",
                    ),
                ],
                BackupTimerPlan::default(),
            ),
            (
                "a changed schedule stops the timer; a backup in progress delays the new one",
                &desired,
                vec![
                    seen(shop_timer, Active, "at 01:00"),
                    seen("skiff-addon-postgresql-blog.backup.service", Activating, ""),
                ],
                BackupTimerPlan {
                    stop: vec![shop_timer.into()],
                    ..Default::default()
                },
            ),
            (
                "unscheduled and unknown timers stop, a failed leftover service is forgotten",
                &none,
                vec![
                    seen(shop_timer, Active, "at 02:00"),
                    seen(gone_timer, Active, "at 02:00"),
                    seen(shop_service, Failed, ""),
                ],
                BackupTimerPlan {
                    stop: vec![shop_timer.into(), gone_timer.into()],
                    reset_failed: vec![shop_service.into()],
                    ..Default::default()
                },
            ),
            (
                "a failed last backup stays visible while its timer runs",
                &desired,
                vec![
                    seen(shop_timer, Active, "at 02:00"),
                    seen(shop_service, Failed, ""),
                    seen(
                        "skiff-addon-postgresql-blog.backup.timer",
                        Active,
                        "at 03:00",
                    ),
                ],
                BackupTimerPlan::default(),
            ),
            (
                "a failed timer is reset, to be started in the next round",
                &desired,
                vec![
                    seen(shop_timer, Failed, "at 02:00"),
                    seen(
                        "skiff-addon-postgresql-blog.backup.timer",
                        Active,
                        "at 03:00",
                    ),
                ],
                BackupTimerPlan {
                    reset_failed: vec![shop_timer.into()],
                    ..Default::default()
                },
            ),
            (
                "a failed service without its timer is forgotten before the timer starts",
                &desired,
                vec![
                    seen(shop_service, Failed, ""),
                    seen(
                        "skiff-addon-postgresql-blog.backup.timer",
                        Active,
                        "at 03:00",
                    ),
                ],
                BackupTimerPlan {
                    start: vec![shop.clone()],
                    reset_failed: vec![shop_service.into()],
                    ..Default::default()
                },
            ),
        ];
        for (what, desired, observed, expected) in cases {
            assert_eq!(plan_backup_timers(desired, &observed), expected, "{what}");
        }
    }
}
