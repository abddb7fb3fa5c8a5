//! The reconciler's traffic half: health probes of new web dynos, the zero-downtime switch of
//! each app's routes (`reconcile::rollout_step` decides, this carries it out), the proxy config,
//! and waiting for a release to go live or fail.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::networks::RoundNetworks;
use crate::activity::Activity;
use crate::config::BaseDomain;
use crate::health::{wait_healthy, Prober};
use crate::model::{
    AppName, AppRoutes, AppRouting, DesiredState, DynoUnit, HoldReason, ReleaseStatus,
    ReleaseVersion, SleepAfter, SleepState,
};
use crate::proxy::{render, Proxy, ProxySettings};
use crate::reconcile::{describe_failures, rollout_step, Health, RolloutStep, WantedWeb};

use super::{ReconcileError, Reconciler};

/// The proxy and the health checks, real in production and fakes in tests.
#[derive(Clone)]
pub struct Traffic {
    pub proxy: Arc<dyn Proxy>,
    pub prober: Arc<dyn Prober>,
    pub settings: ProxySettings,
    /// How long a replaced web dyno keeps running after the proxy stopped sending it requests.
    pub drain: Duration,
    /// How long apps go without a request before they sleep, unless their own setting says
    /// otherwise (`None`: they never do).
    pub sleep_default: Option<SleepAfter>,
    /// When each app last served a request.
    pub activity: Activity,
}

/// In-memory traffic state of the reconciler.
pub(super) struct TrafficState {
    /// Health of unrouted web dynos by unit name; a probe runs while `Waiting`.
    probes: Mutex<BTreeMap<String, Health>>,
    /// Bumped whenever a release goes live or fails, to wake the deploys waiting on one.
    outcomes: tokio::sync::watch::Sender<u64>,
}

impl TrafficState {
    pub(super) fn new() -> Self {
        Self {
            probes: Mutex::default(),
            outcomes: tokio::sync::watch::channel(0).0,
        }
    }
}

/// Seconds since the epoch, as the DB stores drain deadlines.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Units the plan must not stop: those routed to or draining.
pub(super) fn kept_units(desired: &DesiredState) -> BTreeSet<String> {
    desired
        .routing
        .values()
        .flat_map(|r| {
            r.routed
                .iter()
                .map(|route| route.unit_name.clone())
                .chain(r.draining.keys().cloned())
        })
        .collect()
}

/// When the next drain ends, if any drain runs.
pub(super) fn next_drain_end(desired: &DesiredState) -> Option<i64> {
    desired
        .routing
        .values()
        .flat_map(|r| r.draining.values().copied())
        .min()
}

/// The host name health checks send: the app's default one.
fn app_host(app: &AppName, base: &BaseDomain) -> String {
    format!("{app}.{}", base.as_str())
}

impl Reconciler {
    /// Moves every app's traffic one step: probes new web dynos, switches routes whose
    /// replacements are healthy, fails releases whose dynos are not. Returns whether it changed
    /// the DB (the caller then runs another round).
    pub(super) async fn roll_out(
        &self,
        desired: &DesiredState,
        networks: &RoundNetworks,
    ) -> Result<bool, ReconcileError> {
        let ports = self.store.ports().await?;
        let mut changed = false;
        let mut probing = BTreeSet::new();
        for (app, routing) in &desired.routing {
            // Nothing of a sleeping app's runs: a release deployed meanwhile stays pending, to
            // go live (or fail its health check) when the app wakes.
            if routing.sleep == SleepState::Sleeping {
                continue;
            }
            let wanted = self.wanted_web(desired, app, routing, &ports, networks, &mut probing);
            let step = rollout_step(&wanted, &routing.routed, routing.pending);
            let waking = routing.sleep == SleepState::Waking;
            if let (true, RolloutStep::Hold(failures)) = (waking, &step) {
                // A woken dyno that never became healthy: the app sleeps again with the reason.
                self.fail_wake(app, describe_failures(failures)).await?;
                changed = true;
                continue;
            }
            let woke = waking && matches!(step, RolloutStep::Settled | RolloutStep::Switch { .. });
            match step {
                RolloutStep::Settled | RolloutStep::Waiting => {}
                RolloutStep::Switch { routes, promote } => {
                    let dynos: Vec<String> = routes.iter().map(|r| r.dyno.to_string()).collect();
                    tracing::info!(app = %app, dynos = ?dynos, release = ?promote, "switching routes");
                    let drain_until = unix_now() + self.traffic.drain.as_secs() as i64;
                    self.store
                        .switch_routes(app, routes, promote.map(ReleaseVersion::from), drain_until)
                        .await?;
                    changed = true;
                }
                RolloutStep::FailRelease { version, reason } => {
                    self.fail_release(app, version, reason).await?;
                    changed = true;
                }
                RolloutStep::Hold(failures) => {
                    for (dyno, why) in failures {
                        tracing::warn!(app = %app, dyno = %dyno, reason = %why, "web dyno never became healthy; held as crashed");
                        self.store
                            .hold_dyno(app, &dyno, HoldReason::Crashed)
                            .await?;
                    }
                    changed = true;
                }
            }
            if woke && self.store.mark_awake(app).await? {
                // Awake from now on, however it was woken (a request, a scale, a restart).
                self.traffic
                    .activity
                    .touch(app, crate::activity::unix_now_ms());
                changed = true;
            }
        }
        self.state
            .probes
            .lock()
            .expect("probe lock")
            .retain(|name, _| probing.contains(name));
        if changed {
            self.announce_outcome();
        }
        Ok(changed)
    }

    /// The web dynos the DB wants for `app`, each with its port and health: routed ones are
    /// healthy, others are probed once they have a port (their names go into `probing`).
    fn wanted_web(
        &self,
        desired: &DesiredState,
        app: &AppName,
        routing: &AppRouting,
        ports: &BTreeMap<String, u16>,
        networks: &RoundNetworks,
        probing: &mut BTreeSet<String>,
    ) -> Vec<WantedWeb> {
        desired
            .dynos
            .keys()
            .filter(|u| &u.app == app && u.dyno.process_type.is_web())
            .map(|unit| {
                let name = unit.unit_name();
                let port = ports.get(&name).copied();
                let routed = routing.routed.iter().any(|r| r.unit_name == name);
                let health = match (routed, port) {
                    (true, _) => Health::Healthy,
                    (false, None) => Health::Waiting,
                    (false, Some(port)) => {
                        probing.insert(name.clone());
                        self.health_of(unit, networks.dyno_ip(app), port, routing)
                    }
                };
                WantedWeb {
                    unit: unit.clone(),
                    port,
                    health,
                }
            })
            .collect()
    }

    /// A pending release that will never go live: recorded with its reason, its dynos stop.
    pub(super) async fn fail_release(
        &self,
        app: &AppName,
        version: u32,
        reason: String,
    ) -> Result<(), ReconcileError> {
        tracing::warn!(app = %app, release = version, reason = %reason, "release failed its health check; the live release keeps serving");
        self.store.fail_release(app, version.into(), reason).await?;
        self.announce_outcome();
        Ok(())
    }

    fn announce_outcome(&self) {
        self.state.outcomes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The health of an unrouted web dyno; starts its probe the first time it is asked.
    fn health_of(&self, unit: &DynoUnit, ip: IpAddr, port: u16, routing: &AppRouting) -> Health {
        let name = unit.unit_name();
        let mut probes = self.state.probes.lock().expect("probe lock");
        if let Some(h) = probes.get(&name) {
            return h.clone();
        }
        probes.insert(name.clone(), Health::Waiting);
        let this = self.clone();
        let check = routing.health_check.clone();
        let host = app_host(&unit.app, &self.traffic.settings.base_domain);
        tokio::spawn(async move {
            let result = wait_healthy(this.traffic.prober.as_ref(), ip, port, &check, &host).await;
            let health = match result {
                Ok(()) => Health::Healthy,
                Err(why) => Health::Failed(why),
            };
            if let Some(h) = this.state.probes.lock().expect("probe lock").get_mut(&name) {
                *h = health;
            }
            this.poke();
        });
        Health::Waiting
    }

    /// Renders the proxy config from the routes and applies it (a no-op when Caddy has it
    /// already).
    pub(super) async fn apply_proxy(&self, apps: &[AppRoutes]) -> Result<(), ReconcileError> {
        let config = render(apps, &self.traffic.settings);
        if self.traffic.proxy.apply(&config).await? {
            tracing::info!(apps = apps.len(), "proxy config loaded");
        }
        Ok(())
    }

    /// Waits until `version` of `app` is no longer pending: it went live, failed (with the
    /// reason) or was superseded by a newer release.
    pub async fn wait_for_release(
        &self,
        app: &AppName,
        version: u32,
    ) -> Result<(ReleaseStatus, Option<String>), ReconcileError> {
        let mut rx = self.state.outcomes.subscribe();
        loop {
            let (status, failure) = self.store.release_status(app, version.into()).await?;
            if status != ReleaseStatus::Pending {
                return Ok((status, failure));
            }
            // The sender lives as long as the reconciler, which outlives its waiters.
            if rx.changed().await.is_err() {
                return Ok((status, failure));
            }
        }
    }
}
