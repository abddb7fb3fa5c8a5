//! `plan(desired, observed) -> Plan`: level-triggered, idempotent, tested table by table.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{AppName, CronUnit, DynoUnit, ADDON_UNIT_PREFIX, UNIT_PREFIX};
use crate::systemd::names::{app_slice, oneoff_unit_app, PACKAGED_UNITS};

/// A unit's `ActiveState` as systemd reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveState {
    Active,
    Reloading,
    Inactive,
    Failed,
    Activating,
    Deactivating,
    Other,
}

impl ActiveState {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "active" => Self::Active,
            "reloading" => Self::Reloading,
            "inactive" => Self::Inactive,
            "failed" => Self::Failed,
            "activating" => Self::Activating,
            "deactivating" => Self::Deactivating,
            _ => Self::Other,
        }
    }
}

/// One `skiff-*` unit as listed by systemd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedUnit {
    pub name: String,
    pub active_state: ActiveState,
}

/// What the executor should do to move observed units towards the desired ones, by kind.
///
/// The executor starts `start` first (a replacement is up before what it replaces goes down),
/// then carries out the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Desired dynos that have no unit.
    pub start: Vec<DynoUnit>,
    /// Scheduled jobs whose timer (with its service) is missing.
    pub start_timers: Vec<CronUnit>,
    /// Desired dynos whose unit failed for good (restarts exhausted): recorded as crashed, so
    /// they stay down until the next deploy, restart or scale; their names are reset too.
    pub mark_crashed: Vec<DynoUnit>,
    /// Units nobody wants: scaled away, superseded release, destroyed app, unknown name.
    pub stop: Vec<String>,
    /// Failed units to forget so their names can be used again.
    pub reset_failed: Vec<String>,
}

/// Decides the actions that move `observed` towards `desired`.
///
/// `apps` are the apps the DB knows: their slices are kept, other `skiff-` slices are orphans.
/// `keep` names units that are not desired but must not be stopped yet: web dynos the proxy
/// still routes to or drains (a rollout replaces them once their successors are healthy).
/// `timers` are the live releases' scheduled jobs: missing timers are started, other timers
/// stopped; a job's service that is running finishes by itself unless its app is gone.
/// Units the package ships (the proxy) are never touched. Units that are busy changing state (activating, deactivating) are left alone this round;
/// the signal that ends the change triggers the next round.
pub fn plan(
    desired: &BTreeSet<DynoUnit>,
    timers: &BTreeSet<CronUnit>,
    keep: &BTreeSet<String>,
    apps: &BTreeSet<AppName>,
    observed: &[ObservedUnit],
) -> Plan {
    let observed_by_name: BTreeMap<&str, ActiveState> = observed
        .iter()
        .map(|u| (u.name.as_str(), u.active_state))
        .collect();
    let known_slices: BTreeSet<String> = apps.iter().map(app_slice).collect();
    let mut plan = Plan::default();

    for unit in desired {
        match observed_by_name.get(unit.unit_name().as_str()) {
            None | Some(ActiveState::Inactive) => plan.start.push(unit.clone()),
            Some(ActiveState::Failed) => {
                plan.mark_crashed.push(unit.clone());
                plan.reset_failed.push(unit.unit_name());
            }
            Some(_) => {}
        }
    }
    for timer in timers {
        match observed_by_name.get(timer.timer_name().as_str()) {
            None | Some(ActiveState::Inactive) => plan.start_timers.push(timer.clone()),
            Some(ActiveState::Failed) => plan.reset_failed.push(timer.timer_name()),
            Some(_) => {}
        }
    }

    for u in observed {
        // Add-on servers and their setup units are the add-ons' own (reconciler/addons.rs).
        if !u.name.starts_with(UNIT_PREFIX)
            || PACKAGED_UNITS.contains(&u.name.as_str())
            || u.name.starts_with(ADDON_UNIT_PREFIX)
        {
            continue;
        }
        let cron = CronUnit::parse(&u.name);
        let wanted = match DynoUnit::parse(&u.name) {
            Some(unit) => desired.contains(&unit) || keep.contains(&u.name),
            None if u.name.ends_with(".timer") => cron.is_some_and(|c| timers.contains(&c)),
            // A job in progress runs to its end (or its timeout), like a one-off.
            None if cron.is_some() => cron.is_some_and(|c| apps.contains(&c.app)),
            // Builds and one-off runs end by themselves; only a destroyed app's are stopped.
            None => match oneoff_unit_app(&u.name) {
                Some(app) => apps.contains(&app),
                None => u.name.ends_with(".slice") && known_slices.contains(&u.name),
            },
        };
        if wanted {
            continue;
        }
        match u.active_state {
            ActiveState::Failed => plan.reset_failed.push(u.name.clone()),
            ActiveState::Inactive | ActiveState::Deactivating => {}
            _ => plan.stop.push(u.name.clone()),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DynoName;
    use ActiveState::*;

    fn dyno(app: &str, d: &str, release: u32) -> DynoUnit {
        DynoUnit {
            app: AppName::parse(app).unwrap(),
            dyno: DynoName::parse(d).unwrap(),
            release,
            generation: 0,
        }
    }

    fn seen(name: &str, state: ActiveState) -> ObservedUnit {
        ObservedUnit {
            name: name.to_owned(),
            active_state: state,
        }
    }

    fn apps(names: &[&str]) -> BTreeSet<AppName> {
        names.iter().map(|n| AppName::parse(n).unwrap()).collect()
    }

    fn set(units: &[DynoUnit]) -> BTreeSet<DynoUnit> {
        units.iter().cloned().collect()
    }

    struct Case {
        name: &'static str,
        desired: Vec<DynoUnit>,
        observed: Vec<ObservedUnit>,
        want: Plan,
    }

    /// Plans each case for app `hello` without timers or kept units.
    fn check(cases: Vec<Case>) {
        for case in cases {
            let got = plan(
                &set(&case.desired),
                &BTreeSet::new(),
                &BTreeSet::new(),
                &apps(&["hello"]),
                &case.observed,
            );
            assert_eq!(got, case.want, "{}", case.name);
        }
    }

    #[test]
    fn table_of_starts_and_adoptions() {
        let web1 = dyno("hello", "web.1", 2);
        let web2 = dyno("hello", "web.2", 2);
        let old1 = dyno("hello", "web.1", 1);
        check(vec![
            Case {
                name: "nothing wanted, nothing running",
                desired: vec![],
                observed: vec![],
                want: Plan::default(),
            },
            Case {
                name: "missing dynos start",
                desired: vec![web1.clone(), web2.clone()],
                observed: vec![],
                want: Plan {
                    start: vec![web1.clone(), web2.clone()],
                    ..Plan::default()
                },
            },
            Case {
                name: "running dynos are adopted, not restarted",
                desired: vec![web1.clone(), web2.clone()],
                observed: vec![
                    seen(&web1.unit_name(), Active),
                    seen(&web2.unit_name(), Activating),
                ],
                want: Plan::default(),
            },
            Case {
                name: "scaled down: the extra dyno stops",
                desired: vec![web1.clone()],
                observed: vec![
                    seen(&web1.unit_name(), Active),
                    seen(&web2.unit_name(), Active),
                ],
                want: Plan {
                    stop: vec![web2.unit_name()],
                    ..Plan::default()
                },
            },
            Case {
                name: "a new release starts its dynos before the old ones stop",
                desired: vec![web1.clone()],
                observed: vec![seen(&old1.unit_name(), Active)],
                want: Plan {
                    start: vec![web1.clone()],
                    stop: vec![old1.unit_name()],
                    ..Plan::default()
                },
            },
            Case {
                name: "an inactive desired unit is started",
                desired: vec![web1.clone()],
                observed: vec![seen(&web1.unit_name(), Inactive)],
                want: Plan {
                    start: vec![web1.clone()],
                    ..Plan::default()
                },
            },
        ]);
    }

    #[test]
    fn table_of_crashes_stops_and_resets() {
        let web1 = dyno("hello", "web.1", 2);
        let web2 = dyno("hello", "web.2", 2);
        let old1 = dyno("hello", "web.1", 1);
        check(vec![
            Case {
                name: "a dyno that failed for good is marked crashed and its name freed",
                desired: vec![web1.clone()],
                observed: vec![seen(&web1.unit_name(), Failed)],
                want: Plan {
                    mark_crashed: vec![web1.clone()],
                    reset_failed: vec![web1.unit_name()],
                    ..Plan::default()
                },
            },
            Case {
                name: "an unwanted failed unit is only reset",
                desired: vec![],
                observed: vec![seen(&old1.unit_name(), Failed)],
                want: Plan {
                    reset_failed: vec![old1.unit_name()],
                    ..Plan::default()
                },
            },
            Case {
                name: "units already stopping or stopped are left alone",
                desired: vec![],
                observed: vec![
                    seen(&old1.unit_name(), Deactivating),
                    seen(&web2.unit_name(), Inactive),
                ],
                want: Plan::default(),
            },
            Case {
                name: "strays named skiff-* that skiff does not know are stopped, add-on servers are the add-ons' own",
                desired: vec![],
                observed: vec![
                    seen("skiff-stray.service", Active),
                    seen("skiff-addon-redis-shop.service", Active),
                    seen("skiff-addon-address.net.service", Failed),
                    seen("skiff-gone.web.1.v1.service", Active),
                    seen("skiff-gone.slice", Active),
                    seen("skiff-hello.slice", Active),
                    seen("skiffd.service", Active),
                    seen("skiff-caddy.service", Active),
                    seen("ssh.service", Active),
                ],
                want: Plan {
                    stop: vec![
                        "skiff-stray.service".into(),
                        "skiff-gone.web.1.v1.service".into(),
                        "skiff-gone.slice".into(),
                    ],
                    ..Plan::default()
                },
            },
        ]);
    }

    #[test]
    fn planning_is_idempotent_once_converged() {
        let desired = set(&[dyno("a-app", "web.1", 3), dyno("a-app", "worker.1", 3)]);
        let none = BTreeSet::new();
        let first = plan(&desired, &BTreeSet::new(), &none, &apps(&["a-app"]), &[]);
        let starts = Plan {
            start: first.start.clone(),
            ..Plan::default()
        };
        assert_eq!(first, starts, "only starts");
        let observed: Vec<_> = first
            .start
            .iter()
            .map(|u| seen(&u.unit_name(), Active))
            .chain([seen("skiff-a\\x2dapp.slice", Active)])
            .collect();
        assert_eq!(
            plan(
                &desired,
                &BTreeSet::new(),
                &none,
                &apps(&["a-app"]),
                &observed
            ),
            Plan::default()
        );
    }

    #[test]
    fn builds_and_one_offs_run_to_their_end_unless_their_app_is_gone() {
        let observed = [
            seen("skiff-a\\x2dapp.slice", Active),
            seen("skiff-a-app.build-3f2a.service", Active),
            seen("skiff-a-app.release-3f2a.service", Active),
            seen("skiff-gone.build-99.service", Active),
        ];
        assert_eq!(
            plan(
                &set(&[]),
                &BTreeSet::new(),
                &BTreeSet::new(),
                &apps(&["a-app"]),
                &observed
            ),
            Plan {
                stop: vec!["skiff-gone.build-99.service".into()],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn routed_and_draining_units_of_an_old_release_are_kept_until_released() {
        let new = dyno("hello", "web.1", 2);
        let old = dyno("hello", "web.1", 1);
        let observed = [
            seen("skiff-hello.slice", Active),
            seen(&old.unit_name(), Active),
        ];
        let keep: BTreeSet<String> = [old.unit_name()].into();
        assert_eq!(
            plan(
                &set(std::slice::from_ref(&new)),
                &BTreeSet::new(),
                &keep,
                &apps(&["hello"]),
                &observed
            ),
            Plan {
                start: vec![new.clone()],
                ..Plan::default()
            }
        );
        assert_eq!(
            plan(
                &set(std::slice::from_ref(&new)),
                &BTreeSet::new(),
                &BTreeSet::new(),
                &apps(&["hello"]),
                &observed
            ),
            Plan {
                start: vec![new],
                stop: vec![old.unit_name()],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_new_releases_timers_replace_the_old_ones_and_running_jobs_finish() {
        let cron = |index, release| CronUnit {
            app: AppName::parse("hello").unwrap(),
            index,
            release,
        };
        let timers: BTreeSet<CronUnit> = [cron(1, 2), cron(2, 2)].into();
        let observed = [
            seen("skiff-hello.slice", Active),
            seen(&cron(1, 1).timer_name(), Active),
            seen(&cron(1, 1).service_name(), Active),
            seen(&cron(1, 2).timer_name(), Active),
            seen(&cron(2, 2).timer_name(), Failed),
            seen("skiff-gone.cron-1.v1.timer", Active),
            seen("skiff-gone.cron-1.v1.service", Activating),
        ];
        assert_eq!(
            plan(
                &set(&[]),
                &timers,
                &BTreeSet::new(),
                &apps(&["hello"]),
                &observed
            ),
            Plan {
                reset_failed: vec![cron(2, 2).timer_name()],
                stop: vec![
                    cron(1, 1).timer_name(),
                    "skiff-gone.cron-1.v1.timer".into(),
                    "skiff-gone.cron-1.v1.service".into(),
                ],
                ..Plan::default()
            }
        );
        let fresh = plan(
            &set(&[]),
            &timers,
            &BTreeSet::new(),
            &apps(&["hello"]),
            &[seen("skiff-hello.slice", Active)],
        );
        assert_eq!(
            fresh,
            Plan {
                start_timers: vec![cron(1, 2), cron(2, 2)],
                ..Plan::default()
            }
        );
    }
}
