//! One reconcile round: put idle apps to sleep, observe, plan, start, move traffic, carry out the rest of the plan and
//! the API's restarts and resizes, tidy up (ports, slice limits, files of destroyed apps).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;

use super::files::{prepare_releases, ReleaseFiles};
use super::networks::RoundNetworks;
use super::{traffic, ReconcileError, Reconciler};
use crate::model::{AppName, CronUnit, DesiredDyno, DesiredState, DynoUnit, HoldReason};
use crate::reconcile::{plan, ActiveState, ObservedUnit, Plan};
use crate::systemd::names::UNIT_PATTERN;
use crate::systemd::UnitStatus;

/// How many dyno starts one round runs at once.
const START_CONCURRENCY: usize = 16;

/// Summary of one round, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub started: usize,
    pub stopped: usize,
    pub crashed: usize,
    /// Dynos restarted in place (`ps:restart` of non-web dynos).
    pub restarted: usize,
    /// Running dynos given new limits (`ps:resize`).
    pub resized: usize,
    pub errors: usize,
}

impl Round {
    /// Counts one action's outcome: true when it succeeded; otherwise an error, logged as
    /// "`what` failed".
    pub(super) fn count(&mut self, what: &str, result: Result<(), ReconcileError>) -> bool {
        self.count_ok(what, result).is_some()
    }

    /// The value of a step that worked; a failed one is counted and logged.
    pub(super) fn count_ok<T>(
        &mut self,
        what: &str,
        result: Result<T, ReconcileError>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.errors += 1;
                tracing::error!(error = %e, "{what} failed");
                None
            }
        }
    }
}

impl Reconciler {
    /// One round: observe, plan, start, move traffic, stop, tidy up.
    #[cfg(test)]
    pub(crate) async fn round(&self) -> Result<Round, ReconcileError> {
        Ok(self.round_observing(None).await?.0)
    }

    /// A round that takes `listed` as systemd's units instead of listing them, when the caller
    /// knows nothing changed since that listing. Returns the listing the next round may reuse:
    /// this round's, when it changed no unit.
    pub(super) async fn round_observing(
        &self,
        listed: Option<Vec<UnitStatus>>,
    ) -> Result<(Round, Option<Vec<UnitStatus>>), ReconcileError> {
        let _finished = self.begin_round();
        self.store.end_drains(traffic::unix_now()).await?;
        self.put_idle_apps_to_sleep().await?;
        let mut desired = self.store.desired_state().await?;
        if self
            .processes_paused
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            desired.dynos.clear();
            desired.cron.clear();
        }
        let restarts = self.store.restart_requests().await?;
        *self.next_drain_end.lock().expect("drain lock") = traffic::next_drain_end(&desired);
        let units = match listed {
            Some(units) => units,
            None => self.systemd.list_units(UNIT_PATTERN).await?,
        };
        let plan = plan_round(&desired, &units);
        let mut round = Round::default();
        let networks = self.converge_networks(&units, &mut round).await;
        let addon_access = self.converge_addons(&networks, &units, &mut round).await;
        self.start_dynos(&desired, &plan.start, &networks, &mut round)
            .await;
        // Traffic moves after the starts and before the stops: a dyno stops only once the proxy
        // no longer routes to it and its drain has ended.
        let traffic_changed = match self.roll_out(&desired, &networks).await {
            Ok(changed) => changed,
            Err(e) => {
                round.errors += 1;
                tracing::error!(error = %e, "moving traffic failed");
                false
            }
        };
        // The rules first: a route the proxy's new config dials must already lead somewhere.
        match self.store.proxy_state().await {
            Ok(apps) => {
                self.apply_rules(&networks, &apps, &addon_access, &mut round)
                    .await;
                let proxied = self.apply_proxy(&apps).await;
                round.count("applying the proxy config", proxied);
            }
            Err(e) => {
                round.count("reading the routes", Err(e.into()));
            }
        }
        self.carry_out(&desired, &plan, &networks, &mut round).await;
        self.carry_out_restarts(&restarts, &units, &mut round).await;
        self.apply_dyno_limits(&desired, &units, &plan.stop, &mut round)
            .await;
        let keep: BTreeSet<String> = desired
            .dynos
            .keys()
            .map(DynoUnit::unit_name)
            .chain(units.iter().map(|u| u.name.clone()))
            .collect();
        self.store.release_ports_except(keep).await?;
        self.apply_slice_totals(desired.dynos.values()).await;
        self.remove_files_of_gone_apps(&units).await?;
        self.remove_destroyed_volumes(&units, &mut round).await;
        if traffic_changed {
            self.poke();
        }
        let unchanged = plan == Plan::default() && restarts.is_empty();
        Ok((round, unchanged.then_some(units)))
    }

    /// Starts the plan's dynos concurrently (each waits for its own job); they come first, so
    /// replacements are up before what they replace is stopped. Dynos of one release share its
    /// slug and env file, checked and written once before the starts.
    async fn start_dynos(
        &self,
        desired: &DesiredState,
        start: &[DynoUnit],
        networks: &RoundNetworks,
        round: &mut Round,
    ) {
        // A dyno whose app's network is not ready waits for a round in which it is.
        let start: Vec<&DynoUnit> = start
            .iter()
            .filter(|u| networks.namespace(&u.app).is_some())
            .collect();
        if start.is_empty() {
            return;
        }
        let releases: BTreeMap<(&AppName, u32), &DesiredDyno> = start
            .iter()
            .map(|u| ((&u.app, u.release), &desired.dynos[*u]))
            .collect();
        let prepared = prepare_releases(releases.values().map(|dyno| ReleaseFiles {
            slug_dir: self.layout.slug_dir(&dyno.unit.app, dyno.slug_version),
            env_file: self.layout.env_file(&dyno.unit.app, dyno.unit.release),
            config: dyno.config.clone(),
        }))
        .await;
        let mut unprepared = BTreeSet::new();
        for (key, result) in releases.keys().zip(prepared) {
            if !round.count(&format!("preparing {} v{}", key.0, key.1), result) {
                unprepared.insert(*key);
            }
        }
        // Ports are handed out one by one in the units' order (web.1 before web.2), then the
        // units start concurrently.
        let mut ready: Vec<(DynoUnit, Option<u16>, Option<String>)> = Vec::new();
        for unit in start
            .into_iter()
            .filter(|u| !unprepared.contains(&(&u.app, u.release)))
        {
            let port = self.port_of(unit).await;
            if let Some(port) = round.count_ok(&format!("starting {}", unit.unit_name()), port) {
                let namespace = networks.namespace(&unit.app).flatten();
                ready.push((unit.clone(), port, namespace));
            }
        }
        let results: Vec<(DynoUnit, Result<(), ReconcileError>)> =
            futures_util::stream::iter(ready)
                .map(|(unit, port, namespace)| async move {
                    let result = self.start(&desired.dynos[&unit], port, namespace).await;
                    (unit, result)
                })
                .buffer_unordered(START_CONCURRENCY)
                .collect()
                .await;
        for (unit, result) in results {
            if round.count(&format!("starting {}", unit.unit_name()), result) {
                round.started += 1;
            }
        }
    }

    /// The plan after the starts: timers, crashes, stops and resets.
    async fn carry_out(
        &self,
        desired: &DesiredState,
        plan: &Plan,
        networks: &RoundNetworks,
        round: &mut Round,
    ) {
        for unit in &plan.start_timers {
            let Some(namespace) = networks.namespace(&unit.app) else {
                continue;
            };
            let started = self.start_timer(&desired.cron[unit], namespace).await;
            if round.count(&format!("starting {}", unit.timer_name()), started) {
                round.started += 1;
            }
        }
        for unit in &plan.mark_crashed {
            round.crashed += 1;
            let marked = self.mark_crashed(desired, unit).await;
            round.count(
                &format!("recording the crash of {}", unit.unit_name()),
                marked,
            );
        }
        for name in &plan.stop {
            let stopped = self.systemd.stop_unit(name).await.map_err(Into::into);
            if round.count(&format!("stopping {name}"), stopped) {
                round.stopped += 1;
            }
        }
        for name in &plan.reset_failed {
            let reset = self.systemd.reset_failed(name).await.map_err(Into::into);
            round.count(&format!("resetting {name}"), reset);
        }
    }

    /// A dyno that failed for good: a pending release's web dyno fails its release, any other
    /// is held as crashed.
    async fn mark_crashed(
        &self,
        desired: &DesiredState,
        unit: &DynoUnit,
    ) -> Result<(), ReconcileError> {
        let reason = format!("{} crashed: its process kept exiting", unit.dyno);
        if is_pending_web(desired, unit) {
            return self.fail_release(&unit.app, unit.release, reason).await;
        }
        if is_waking(desired, &unit.app) {
            return self.fail_wake(&unit.app, reason).await;
        }
        tracing::warn!(app = %unit.app, dyno = %unit.dyno, "dyno crashed repeatedly; left stopped until the next deploy, restart or scale");
        self.store
            .hold_dyno(&unit.app, &unit.dyno, HoldReason::Crashed)
            .await?;
        Ok(())
    }
}

/// Pure: the plan for `desired` given the listed units.
fn plan_round(desired: &DesiredState, units: &[UnitStatus]) -> Plan {
    let observed: Vec<ObservedUnit> = units
        .iter()
        .map(|u| ObservedUnit {
            name: u.name.clone(),
            active_state: ActiveState::parse(&u.active_state),
        })
        .collect();
    let wanted: BTreeSet<DynoUnit> = desired.dynos.keys().cloned().collect();
    let timers: BTreeSet<CronUnit> = desired.cron.keys().cloned().collect();
    let keep = traffic::kept_units(desired);
    plan(&wanted, &timers, &keep, &desired.apps, &observed)
}

/// Whether `app` is waking (a crash ends its wake instead of holding the dyno).
fn is_waking(desired: &DesiredState, app: &AppName) -> bool {
    desired
        .routing
        .get(app)
        .is_some_and(|r| r.sleep == crate::model::SleepState::Waking)
}

/// Whether `unit` is a web dyno of its app's pending release (its crash fails the release
/// instead of holding the dyno).
fn is_pending_web(desired: &DesiredState, unit: &DynoUnit) -> bool {
    unit.dyno.process_type.is_web()
        && desired
            .routing
            .get(&unit.app)
            .is_some_and(|r| r.pending == Some(unit.release))
}
