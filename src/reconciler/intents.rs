//! What the API asks of running dynos, carried out by the rounds: `ps:restart` requests
//! recorded in the store (non-web dynos restart in place), and `ps:resize` limits (running
//! dynos whose applied limits differ from the stored size get the new ones, without a restart);
//! the API waits for the round that carried its intent out.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::round::Round;
use super::spec::DynoDefaults;
use super::{ReconcileError, Reconciler};
use crate::model::{AppName, DesiredState, DynoFilter, DynoUnit, Limits, ProcessType};
use crate::store::{RestartId, RestartRequest, StoreError};
use crate::systemd::properties::limit_properties;
use crate::systemd::UnitStatus;

/// How many carried-out restarts keep their outcome for a waiter that has not read it yet.
const KEPT_OUTCOMES: usize = 64;

/// How a restart request ended: how many dynos it restarted, or why it failed.
type RestartOutcome = Result<usize, String>;

/// Rounds begun and finished, so a caller can wait for a round that saw its write.
#[derive(Debug, Clone, Copy, Default)]
struct RoundCount {
    begun: u64,
    finished: u64,
}

/// Changes whenever a round finishes.
pub(crate) struct FinishedRounds {
    rounds: watch::Receiver<RoundCount>,
    seen: u64,
}

impl FinishedRounds {
    /// Waits until a round finishes after the last call (or the subscription).
    pub(crate) async fn next(&mut self) {
        let seen = self.seen;
        // The sender lives as long as the reconciler, which outlives its waiters.
        if let Ok(count) = self.rounds.wait_for(|c| c.finished > seen).await {
            self.seen = count.finished;
        }
    }
}

/// The reconciler's in-memory side of intents.
pub(super) struct IntentState {
    rounds: watch::Sender<RoundCount>,
    restarts: watch::Sender<BTreeMap<RestartId, RestartOutcome>>,
    /// The limits each running dyno unit has, as set at its start or since; a unit missing here
    /// (one adopted after skiffd started) gets its limits set once.
    applied: Mutex<BTreeMap<String, Limits>>,
}

impl IntentState {
    pub(super) fn new() -> Self {
        Self {
            rounds: watch::channel(RoundCount::default()).0,
            restarts: watch::channel(BTreeMap::new()).0,
            applied: Mutex::default(),
        }
    }
}

/// Marks its round finished when dropped, however the round ended.
pub(super) struct RoundMark<'a> {
    rounds: &'a watch::Sender<RoundCount>,
    number: u64,
}

impl Drop for RoundMark<'_> {
    fn drop(&mut self) {
        let number = self.number;
        self.rounds
            .send_modify(|c| c.finished = c.finished.max(number));
    }
}

/// Pure: the units to restart in place for a restart of `app`'s dynos matching `filter`: its
/// non-web dynos that have not failed.
fn restarts_in_place(app: &AppName, filter: &DynoFilter, units: &[UnitStatus]) -> Vec<String> {
    units
        .iter()
        .filter(|u| u.active_state != "failed")
        .filter(|u| {
            DynoUnit::parse(&u.name).is_some_and(|unit| {
                &unit.app == app && !unit.dyno.process_type.is_web() && filter.matches(&unit.dyno)
            })
        })
        .map(|u| u.name.clone())
        .collect()
}

/// Pure: the running dyno units whose limits differ from their process type's desired ones,
/// with the limits to set; units being stopped need none.
fn limits_to_apply(
    desired: &DesiredState,
    defaults: &DynoDefaults,
    units: &[UnitStatus],
    stopping: &[String],
    applied: &BTreeMap<String, Limits>,
) -> Vec<(String, Limits)> {
    let wanted: BTreeMap<(&AppName, &ProcessType), Limits> = desired
        .dynos
        .values()
        .map(|d| {
            let key = (&d.unit.app, &d.unit.dyno.process_type);
            (key, defaults.limits_for(&d.size))
        })
        .collect();
    units
        .iter()
        .filter(|u| !matches!(u.active_state.as_str(), "failed" | "inactive"))
        .filter(|u| !stopping.contains(&u.name))
        .filter_map(|u| {
            let unit = DynoUnit::parse(&u.name)?;
            let limits = *wanted.get(&(&unit.app, &unit.dyno.process_type))?;
            (applied.get(&u.name) != Some(&limits)).then(|| (u.name.clone(), limits))
        })
        .collect()
}

impl Reconciler {
    /// Counts a round as begun; the mark counts it finished when dropped.
    pub(super) fn begin_round(&self) -> RoundMark<'_> {
        let mut number = 0;
        self.intents.rounds.send_modify(|c| {
            c.begun += 1;
            number = c.begun;
        });
        RoundMark {
            rounds: &self.intents.rounds,
            number,
        }
    }

    /// A watch of finished rounds: subscribe, check what you wait for, then wait for the next
    /// round's end and check again, and no round in between is missed.
    pub(crate) fn finished_rounds(&self) -> FinishedRounds {
        let rounds = self.intents.rounds.subscribe();
        let seen = rounds.borrow().finished;
        FinishedRounds { rounds, seen }
    }

    /// Pokes and waits until a round that began after this call has finished: one that saw
    /// every write made before it.
    pub(crate) async fn wait_for_round(&self) {
        let mut rx = self.intents.rounds.subscribe();
        let target = rx.borrow().begun + 1;
        self.poke();
        // The sender lives as long as the reconciler, which outlives its waiters.
        let _ = rx.wait_for(|c| c.finished >= target).await;
    }

    /// Waits until the reconciler carried out restart request `id` of `app`; how many dynos it
    /// restarted (web dynos replaced and others restarted in place).
    pub(crate) async fn wait_for_restart(
        &self,
        app: &AppName,
        id: RestartId,
    ) -> Result<usize, ReconcileError> {
        // The round that carries a request out forgets its row before it publishes the
        // outcome, so a row found gone means: the outcome comes with that round's end, or the
        // app was destroyed and its request with it.
        let mut gone = false;
        loop {
            let outcome = self.intents.restarts.borrow().get(&id).cloned();
            if let Some(outcome) = outcome {
                self.intents.restarts.send_modify(|o| {
                    o.remove(&id);
                });
                return outcome.map_err(ReconcileError::Restart);
            }
            if gone {
                return Err(StoreError::AppNotFound(app.to_string()).into());
            }
            gone = !self.store.restart_pending(id).await?;
            self.wait_for_round().await;
        }
    }

    /// Carries out the restart requests read at the round's start.
    pub(super) async fn carry_out_restarts(
        &self,
        requests: &[RestartRequest],
        units: &[UnitStatus],
        round: &mut Round,
    ) {
        for request in requests {
            let mut outcome: RestartOutcome = Ok(request.web_replaced);
            for name in restarts_in_place(&request.app, &request.filter, units) {
                match self.systemd.restart_unit(&name).await {
                    Ok(()) => {
                        round.restarted += 1;
                        outcome = outcome.map(|n| n + 1);
                    }
                    Err(e) => {
                        round.errors += 1;
                        tracing::error!(unit = %name, error = %e, "restarting a dyno failed");
                        outcome = Err(e.to_string());
                        break;
                    }
                }
            }
            if let Err(e) = self.store.finish_restart(request.id).await {
                round.errors += 1;
                tracing::error!(error = %e, "recording a carried-out restart failed");
                continue;
            }
            self.intents.restarts.send_modify(|outcomes| {
                outcomes.insert(request.id, outcome);
                while outcomes.len() > KEPT_OUTCOMES {
                    outcomes.pop_first();
                }
            });
        }
    }

    /// Records the limits a dyno unit has now.
    pub(super) fn record_limits(&self, unit_name: String, limits: Limits) {
        self.intents
            .applied
            .lock()
            .expect("applied limits lock")
            .insert(unit_name, limits);
    }

    /// Gives running dynos their process type's current limits where they differ (`ps:resize`),
    /// without restarting them; `stopping` are the units this round stopped.
    pub(super) async fn apply_dyno_limits(
        &self,
        desired: &DesiredState,
        units: &[UnitStatus],
        stopping: &[String],
        round: &mut Round,
    ) {
        let changes = {
            let mut applied = self.intents.applied.lock().expect("applied limits lock");
            // Dynos started this round are desired though not listed yet.
            applied.retain(|name, _| {
                units.iter().any(|u| &u.name == name)
                    || DynoUnit::parse(name).is_some_and(|u| desired.dynos.contains_key(&u))
            });
            limits_to_apply(desired, &self.defaults, units, stopping, &applied)
        };
        for (name, limits) in changes {
            match self
                .systemd
                .set_properties(&name, limit_properties(&limits))
                .await
            {
                Ok(()) => {
                    round.resized += 1;
                    self.record_limits(name, limits);
                }
                Err(e) => {
                    round.errors += 1;
                    tracing::error!(unit = %name, error = %e, "setting a dyno's limits failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{DesiredDyno, DynoSize};
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::model::DynoName;

    fn listed(name: &str, state: &str) -> UnitStatus {
        UnitStatus {
            name: name.into(),
            description: String::new(),
            active_state: state.into(),
            sub_state: String::new(),
        }
    }

    #[test]
    fn restarts_in_place_pick_running_non_web_dynos_of_the_filter() {
        let units = [
            listed("skiff-hello.web.1.v1.service", "active"),
            listed("skiff-hello.worker.1.v1.service", "active"),
            listed("skiff-hello.worker.2.v1.service", "failed"),
            listed("skiff-hello.clock.1.v1.service", "activating"),
            listed("skiff-other.worker.1.v1.service", "active"),
            listed("skiff-hello.build-1.service", "active"),
        ];
        let cases = [
            (
                DynoFilter::All,
                vec![
                    "skiff-hello.worker.1.v1.service",
                    "skiff-hello.clock.1.v1.service",
                ],
            ),
            (
                DynoFilter::Type(ProcessType::parse("worker").unwrap()),
                vec!["skiff-hello.worker.1.v1.service"],
            ),
            (DynoFilter::Type(ProcessType::parse("web").unwrap()), vec![]),
            (
                DynoFilter::One(DynoName::parse("worker.2").unwrap()),
                vec![],
            ),
        ];
        for (filter, want) in cases {
            let app = AppName::parse("hello").unwrap();
            assert_eq!(restarts_in_place(&app, &filter, &units), want, "{filter:?}");
        }
    }

    /// Two dynos of `hello` v2: web resized to 256M, worker at the defaults.
    fn resized_web() -> DesiredState {
        let small = DynoSize {
            memory_bytes: Some(256 << 20),
            ..DynoSize::default()
        };
        let mut desired = DesiredState::default();
        for (name, size) in [
            ("skiff-hello.web.1.v2.service", small),
            ("skiff-hello.worker.1.v2.service", DynoSize::default()),
        ] {
            let unit = DynoUnit::parse(name).unwrap();
            let dyno = DesiredDyno {
                unit: unit.clone(),
                slug_version: 2,
                command: "run".into(),
                size,
                config: Arc::default(),
                volumes: Arc::default(),
            };
            desired.dynos.insert(unit, dyno);
        }
        desired
    }

    struct LimitCase {
        name: &'static str,
        stopping: Vec<String>,
        applied: Vec<(&'static str, Limits)>,
        want: Vec<(&'static str, Limits)>,
    }

    #[test]
    fn limits_are_set_where_they_differ_from_the_stored_size() {
        let defaults = DynoDefaults::from_config(&Config::default());
        let resized = Limits {
            memory_bytes: 256 << 20,
            ..defaults.limits
        };
        let (web, old_web, worker) = (
            "skiff-hello.web.1.v2.service",
            "skiff-hello.web.1.v1.service",
            "skiff-hello.worker.1.v2.service",
        );
        let units = [
            listed(web, "active"),
            listed(old_web, "deactivating"),
            listed(worker, "active"),
            listed("skiff-hello.worker.2.v2.service", "failed"),
            listed("skiff-hello.slice", "active"),
        ];
        let old = defaults.limits;
        let cases = [
            LimitCase {
                name: "nothing known: every running dyno gets its limits",
                stopping: vec![],
                applied: vec![],
                want: vec![(web, resized), (old_web, resized), (worker, old)],
            },
            LimitCase {
                name: "a resized type's dynos get the new limits",
                stopping: vec![],
                applied: vec![(web, old), (old_web, old), (worker, old)],
                want: vec![(web, resized), (old_web, resized)],
            },
            LimitCase {
                name: "a dyno being stopped needs none",
                stopping: vec![old_web.to_owned()],
                applied: vec![(web, old), (worker, old)],
                want: vec![(web, resized)],
            },
            LimitCase {
                name: "converged: nothing to set",
                stopping: vec![],
                applied: vec![(web, resized), (old_web, resized), (worker, old)],
                want: vec![],
            },
        ];
        let owned = |v: Vec<(&str, Limits)>| -> Vec<(String, Limits)> {
            v.into_iter().map(|(n, l)| (n.to_owned(), l)).collect()
        };
        for case in cases {
            let applied: BTreeMap<String, Limits> = owned(case.applied).into_iter().collect();
            let got = limits_to_apply(&resized_web(), &defaults, &units, &case.stopping, &applied);
            assert_eq!(got, owned(case.want), "{}", case.name);
        }
    }
}
