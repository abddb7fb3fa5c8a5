//! The desired state: every app, every dyno that should run and every scheduled job of a live
//! release, as the reconciler compares it with what runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{
    AppName, AppRouting, ConfigVars, CronJob, CronUnit, DynoName, DynoSize, DynoUnit, ProcessType,
    ReleaseRecord, SleepState, VolumeRecord,
};

/// A dyno the DB wants running, with what it takes to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredDyno {
    pub unit: DynoUnit,
    /// The release whose slug the dyno runs (config releases reuse an earlier one).
    pub slug_version: u32,
    pub command: String,
    pub size: DynoSize,
    pub config: Arc<ConfigVars>,
    /// The app's volumes, mounted read-write.
    pub volumes: Arc<Vec<VolumeRecord>>,
}

/// A scheduled job of a live release, as the reconciler sets it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredCron {
    pub unit: CronUnit,
    pub job: CronJob,
    pub slug_version: u32,
    pub config: Arc<ConfigVars>,
    pub volumes: Arc<Vec<VolumeRecord>>,
}

/// Everything the reconciler needs from the DB, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    pub apps: BTreeSet<AppName>,
    pub dynos: BTreeMap<DynoUnit, DesiredDyno>,
    pub routing: BTreeMap<AppName, AppRouting>,
    /// The live releases' scheduled jobs (a pending release's wait until it is live).
    pub cron: BTreeMap<CronUnit, DesiredCron>,
}

/// One app's rows as the store read them, in the same transaction as every other app's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSnapshot {
    pub app: AppName,
    pub live: Option<ReleaseRecord>,
    pub pending: Option<ReleaseRecord>,
    /// Dyno counts and size overrides by process type.
    pub formation: BTreeMap<ProcessType, (u32, DynoSize)>,
    /// Dynos kept down (stopped or crashed).
    pub held: BTreeSet<DynoName>,
    /// How many times `ps:restart` replaced a dyno within the live release.
    pub generations: BTreeMap<DynoName, u32>,
    pub routing: AppRouting,
    pub volumes: Vec<VolumeRecord>,
}

/// Which release a process type's dynos run, and whether restart generations apply: web dynos
/// run the pending release while there is one (they start beside the routed ones and replace
/// them once healthy) and start at generation 0; everything else runs the live release.
fn release_for<'a>(
    process_type: &ProcessType,
    live: Option<&'a ReleaseRecord>,
    pending: Option<&'a ReleaseRecord>,
) -> Option<(&'a ReleaseRecord, bool)> {
    match (pending, process_type.is_web()) {
        (Some(p), true) => Some((p, false)),
        _ => live.map(|l| (l, true)),
    }
}

impl DesiredState {
    /// Every app, and every dyno that should run: the wanted release's Procfile times the
    /// formation, minus held dynos (see [`release_for`]); and the live releases' cron jobs.
    pub fn from_snapshot(apps: Vec<AppSnapshot>) -> Self {
        let mut state = Self::default();
        for snapshot in apps {
            state.apps.insert(snapshot.app.clone());
            state
                .cron
                .extend(desired_cron(&snapshot).map(|c| (c.unit.clone(), c)));
            state
                .dynos
                .extend(desired_dynos(&snapshot).map(|d| (d.unit.clone(), d)));
            state.routing.insert(snapshot.app, snapshot.routing);
        }
        state
    }
}

/// The scheduled jobs of the app's live release, numbered from 1.
fn desired_cron(snapshot: &AppSnapshot) -> impl Iterator<Item = DesiredCron> + '_ {
    let volumes = Arc::new(snapshot.volumes.clone());
    snapshot.live.iter().flat_map(move |live| {
        let config = Arc::new(live.config.clone());
        let volumes = Arc::clone(&volumes);
        live.cron
            .iter()
            .enumerate()
            .map(move |(i, job)| DesiredCron {
                unit: CronUnit {
                    app: snapshot.app.clone(),
                    index: i as u32 + 1,
                    release: live.version,
                },
                job: job.clone(),
                slug_version: live.slug_version,
                config: Arc::clone(&config),
                volumes: Arc::clone(&volumes),
            })
    })
}

/// The app's dynos that should run: none while it sleeps (a waking app's start).
fn desired_dynos(snapshot: &AppSnapshot) -> impl Iterator<Item = DesiredDyno> + '_ {
    let volumes = Arc::new(snapshot.volumes.clone());
    let asleep = snapshot.routing.sleep == SleepState::Sleeping;
    snapshot
        .formation
        .iter()
        .filter(move |_| !asleep)
        .filter_map(move |(process_type, (quantity, size))| {
            let (release, generations_apply) = release_for(
                process_type,
                snapshot.live.as_ref(),
                snapshot.pending.as_ref(),
            )?;
            let command = release.procfile.command(process_type)?.to_owned();
            let config = Arc::new(release.config.clone());
            let volumes = Arc::clone(&volumes);
            Some((1..=*quantity).filter_map(move |index| {
                let dyno = DynoName {
                    process_type: process_type.clone(),
                    index,
                };
                if snapshot.held.contains(&dyno) {
                    return None;
                }
                let generation = if generations_apply {
                    snapshot.generations.get(&dyno).copied().unwrap_or(0)
                } else {
                    0
                };
                let unit = DynoUnit {
                    app: snapshot.app.clone(),
                    dyno,
                    release: release.version,
                    generation,
                };
                Some(DesiredDyno {
                    unit,
                    slug_version: release.slug_version,
                    command: command.clone(),
                    size: *size,
                    config: Arc::clone(&config),
                    volumes: Arc::clone(&volumes),
                })
            }))
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Procfile, ReleaseStatus};

    fn release(version: u32, procfile: &str) -> ReleaseRecord {
        ReleaseRecord {
            version,
            slug_version: version,
            procfile: Procfile::parse(procfile).unwrap(),
            config: ConfigVars::new(),
            description: String::new(),
            created_at: String::new(),
            status: ReleaseStatus::Succeeded,
            failure: None,
            cron: vec![CronJob::new("task", "0 * * * *").unwrap()],
            build_id: None,
        }
    }

    fn dyno(name: &str) -> DynoName {
        DynoName::parse(name).unwrap()
    }

    fn snapshot(live: Option<u32>, pending: Option<u32>) -> AppSnapshot {
        let counts = [("web", 2), ("worker", 1)];
        AppSnapshot {
            app: AppName::parse("hello").unwrap(),
            live: live.map(|v| release(v, "web: a\nworker: b")),
            pending: pending.map(|v| release(v, "web: a2\nworker: b2")),
            formation: counts
                .into_iter()
                .map(|(t, n)| (ProcessType::parse(t).unwrap(), (n, DynoSize::default())))
                .collect(),
            held: BTreeSet::new(),
            generations: BTreeMap::new(),
            routing: AppRouting::default(),
            volumes: Vec::new(),
        }
    }

    fn unit_names(state: &DesiredState) -> Vec<String> {
        state.dynos.keys().map(DynoUnit::unit_name).collect()
    }

    #[test]
    fn pending_web_dynos_replace_the_live_ones_only() {
        let cases: [(Option<u32>, Option<u32>, &[&str]); 4] = [
            (None, None, &[]),
            (
                Some(1),
                None,
                &[
                    "skiff-hello.web.1.v1.service",
                    "skiff-hello.web.2.v1.service",
                    "skiff-hello.worker.1.v1.service",
                ],
            ),
            (
                Some(1),
                Some(2),
                &[
                    "skiff-hello.web.1.v2.service",
                    "skiff-hello.web.2.v2.service",
                    "skiff-hello.worker.1.v1.service",
                ],
            ),
            (
                None,
                Some(1),
                &[
                    "skiff-hello.web.1.v1.service",
                    "skiff-hello.web.2.v1.service",
                ],
            ),
        ];
        for (live, pending, want) in cases {
            let state = DesiredState::from_snapshot(vec![snapshot(live, pending)]);
            assert_eq!(
                unit_names(&state),
                want,
                "live {live:?} pending {pending:?}"
            );
            assert_eq!(state.cron.len(), usize::from(live.is_some()));
            assert!(state.apps.contains(&AppName::parse("hello").unwrap()));
        }
    }

    #[test]
    fn held_dynos_are_left_out() {
        let cases: [(&[&str], &[&str]); 3] = [
            (
                &[],
                &[
                    "skiff-hello.web.1.v1.service",
                    "skiff-hello.web.2.v1.service",
                    "skiff-hello.worker.1.v1.service",
                ],
            ),
            (
                &["web.2"],
                &[
                    "skiff-hello.web.1.v1.service",
                    "skiff-hello.worker.1.v1.service",
                ],
            ),
            (&["web.1", "web.2", "worker.1", "clock.1"], &[]),
        ];
        for (held, want) in cases {
            let mut app = snapshot(Some(1), None);
            app.held = held.iter().map(|d| dyno(d)).collect();
            let state = DesiredState::from_snapshot(vec![app]);
            assert_eq!(unit_names(&state), want, "held {held:?}");
        }
    }

    #[test]
    fn generations_apply_to_live_dynos_not_pending_ones() {
        let cases: [(Option<u32>, &[&str]); 2] = [
            (
                None,
                &[
                    "skiff-hello.web.1.v1.g2.service",
                    "skiff-hello.web.2.v1.service",
                    "skiff-hello.worker.1.v1.g1.service",
                ],
            ),
            (
                Some(2),
                &[
                    "skiff-hello.web.1.v2.service",
                    "skiff-hello.web.2.v2.service",
                    "skiff-hello.worker.1.v1.g1.service",
                ],
            ),
        ];
        for (pending, want) in cases {
            let mut app = snapshot(Some(1), pending);
            app.generations = [(dyno("web.1"), 2), (dyno("worker.1"), 1)].into();
            let state = DesiredState::from_snapshot(vec![app]);
            assert_eq!(unit_names(&state), want, "pending {pending:?}");
        }
    }

    #[test]
    fn a_sleeping_app_wants_no_dyno_but_keeps_its_cron_jobs() {
        for (state, pending, want) in [
            (SleepState::Awake, None, 3),
            (SleepState::Sleeping, None, 0),
            (SleepState::Sleeping, Some(2), 0),
            (SleepState::Waking, Some(2), 3),
        ] {
            let mut app = snapshot(Some(1), pending);
            app.routing.sleep = state;
            let desired = DesiredState::from_snapshot(vec![app]);
            assert_eq!(desired.dynos.len(), want, "{state:?} pending {pending:?}");
            assert_eq!(desired.cron.len(), 1, "{state:?}");
        }
    }

    #[test]
    fn every_dyno_and_job_carries_the_apps_volumes() {
        let volume = VolumeRecord {
            name: crate::model::VolumeName::parse("data").unwrap(),
            mount: crate::model::MountPath::parse("/data").unwrap(),
            size: None,
            created_at: String::new(),
        };
        let mut with = snapshot(Some(1), Some(2));
        with.volumes = vec![volume.clone()];
        let mut without = snapshot(Some(1), None);
        without.app = AppName::parse("other").unwrap();
        let state = DesiredState::from_snapshot(vec![with, without]);
        for dyno in state.dynos.values() {
            let want = if dyno.unit.app.as_str() == "hello" {
                vec![volume.clone()]
            } else {
                Vec::new()
            };
            assert_eq!(*dyno.volumes, want, "{}", dyno.unit.unit_name());
        }
        let jobs: Vec<_> = state.cron.values().map(|c| c.volumes.len()).collect();
        assert_eq!(jobs, [1, 0]);
    }
}
