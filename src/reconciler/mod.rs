//! The reconciler's thin I/O shell: reads desired state from the store and observed units from
//! systemd, runs the pure `reconcile::plan`, and carries the plan out. Level-triggered: it runs
//! at start, when the API pokes it, on every signal about a `skiff-*` unit, and when a drain
//! ends. `run_loop.rs` is the loop, `round.rs` one round, `spec.rs` the pure dyno specs and slice
//! totals, `cron.rs` the timers of scheduled jobs, `files.rs` env files and the files of
//! destroyed apps, `intents.rs` restarts and resizes of running dynos, `traffic.rs` moves web
//! traffic to healthy new dynos and keeps the proxy's config, `networks.rs` the apps' networks,
//! `addons.rs` the add-ons' servers and URLs, and `sleep.rs` puts idle apps to sleep.

mod addons;
mod backup_timers;
mod cron;
mod dynos;
mod error;
mod files;
mod intents;
mod networks;
mod round;
mod run_loop;
mod sleep;
mod spec;
mod traffic;
mod volumes;

pub use error::ReconcileError;
pub(crate) use intents::FinishedRounds;
pub use spec::DynoDefaults;
pub use traffic::Traffic;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::addons::Addons;
use crate::model::{AppName, Limits};
use crate::network::Networking;
use crate::paths::Layout;
use crate::store::Store;
use crate::systemd::Systemd;

#[derive(Clone)]
pub struct Reconciler {
    store: Store,
    systemd: Arc<dyn Systemd>,
    layout: Layout,
    defaults: DynoDefaults,
    wake: Arc<Notify>,
    /// Per-app totals last set on each app's slice, so unchanged ones are not sent again.
    slice_limits: Arc<std::sync::Mutex<BTreeMap<AppName, Limits>>>,
    traffic: Traffic,
    networks: Networking,
    state: Arc<traffic::TrafficState>,
    intents: Arc<intents::IntentState>,
    /// When the next drain ends (Unix seconds): the loop wakes then to stop the drained dynos.
    next_drain_end: Arc<std::sync::Mutex<Option<i64>>>,
    /// When the next idle app is due to sleep (Unix milliseconds): the loop wakes then.
    next_sleep_at: Arc<std::sync::Mutex<Option<i64>>>,
    addons: Addons,
    /// Why add-ons failed in the last round.
    addon_failures: Arc<std::sync::Mutex<BTreeMap<crate::model::AddonName, String>>>,
    /// While set (a server restore brings add-ons' data back), rounds want no dyno and no
    /// cron timer: the apps' code does not run against add-ons still empty.
    processes_paused: Arc<std::sync::atomic::AtomicBool>,
}

/// Held while apps' processes wait; dropping it lets them start again.
pub(crate) struct ProcessesPaused(Reconciler);

impl Drop for ProcessesPaused {
    fn drop(&mut self) {
        let paused = &self.0.processes_paused;
        paused.store(false, std::sync::atomic::Ordering::SeqCst);
        tracing::info!("apps' dynos and cron jobs may run again");
        self.0.poke();
    }
}

impl Reconciler {
    pub fn new(
        store: Store,
        systemd: Arc<dyn Systemd>,
        layout: Layout,
        defaults: DynoDefaults,
        traffic: Traffic,
        networks: Networking,
        addons: Addons,
    ) -> Self {
        Self {
            store,
            systemd,
            layout,
            defaults,
            wake: Arc::new(Notify::new()),
            slice_limits: Arc::default(),
            traffic,
            networks,
            state: Arc::new(traffic::TrafficState::new()),
            intents: Arc::new(intents::IntentState::new()),
            next_drain_end: Arc::default(),
            next_sleep_at: Arc::default(),
            addons,
            addon_failures: Arc::default(),
            processes_paused: Arc::default(),
        }
    }

    /// Stops wanting any dyno or cron timer until the guard is dropped (not across a restart
    /// of skiffd: the database alone says what runs then).
    pub(crate) fn pause_processes(&self) -> ProcessesPaused {
        let paused = &self.processes_paused;
        paused.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!("apps' dynos and cron jobs wait while a restore brings add-ons back");
        ProcessesPaused(self.clone())
    }

    /// How long apps without a setting of their own go idle before they sleep.
    pub(crate) fn sleep_default(&self) -> Option<crate::model::SleepAfter> {
        self.traffic.sleep_default
    }

    /// Whether apps can sleep: only in private networks, where a woken app's held requests go to
    /// its fixed service address.
    pub(crate) fn apps_can_sleep(&self) -> bool {
        self.traffic.settings.network.is_some()
    }

    /// The add-on servers and plans.
    pub(crate) fn addons(&self) -> &Addons {
        &self.addons
    }

    /// Apps' private networks, which deploys and one-off runs join too.
    pub(crate) fn networks(&self) -> &Networking {
        &self.networks
    }
}

#[cfg(test)]
mod tests;
