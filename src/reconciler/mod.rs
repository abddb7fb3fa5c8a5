//! The reconciler's thin I/O shell: reads desired state from the store and observed units from
//! systemd, runs the pure `reconcile::plan`, and carries the actions out; `traffic.rs` moves web
//! traffic to healthy new dynos and keeps the proxy's config. Level-triggered: it runs at start,
//! when the API pokes it, on every signal about a `skiff-*` unit, and when a drain ends.

mod traffic;

pub use traffic::Traffic;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::config::Config;
use crate::model::{AppName, ProcessType};
use crate::paths::Layout;
use crate::reconcile::{plan, render_env_file, ActiveState, ObservedUnit};
use crate::store::{
    DesiredCron, DesiredDyno, DesiredState, DynoFilter, DynoSize, HoldReason, Store, StoreError,
};
use crate::systemd::names::{app_slice, CronUnit, DynoUnit, UNIT_PATTERN};
use crate::systemd::properties::{
    dyno_properties, limit_properties, oneoff_properties, timer_properties, DynoSpec, Limits,
    OneOffCommand, OneOffLifetime, OneOffSpec, OneOffStdio, RestartPolicy,
};
use crate::systemd::{Systemd, SystemdError};

/// Quiet period that merges a burst of signals into one reconcile round.
const DEBOUNCE: Duration = Duration::from_millis(25);
/// The first pause after a round in which something failed; it doubles up to the maximum.
const ERROR_BACKOFF_MIN: Duration = Duration::from_millis(250);
const ERROR_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How many dyno starts one round runs at once.
const START_CONCURRENCY: usize = 16;
/// How long a dyno gets between SIGTERM and SIGKILL.
const STOP_TIMEOUT_USEC: u64 = 10_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error("proxy: {0}")]
    Proxy(String),
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
}

/// What dynos get unless their process type says otherwise.
#[derive(Debug, Clone)]
pub struct DynoDefaults {
    pub limits: Limits,
    pub port_first: u16,
    pub port_last: u16,
    pub restart: RestartPolicy,
    /// The longest a scheduled job may run (`run_timeout`).
    pub job_timeout: Duration,
}

impl DynoDefaults {
    pub fn from_config(config: &Config) -> Self {
        Self {
            limits: Limits {
                memory_bytes: config.dyno_memory.0,
                cpu_percent: config.dyno_cpu.0,
                tasks: u64::from(config.dyno_tasks),
            },
            port_first: config.port_range.first,
            port_last: config.port_range.last,
            restart: RestartPolicy::default(),
            job_timeout: config.run_timeout.0,
        }
    }

    /// A process type's limits: its own sizes where set, the configured defaults elsewhere.
    pub fn limits_for(&self, size: &DynoSize) -> Limits {
        Limits {
            memory_bytes: size.memory_bytes.unwrap_or(self.limits.memory_bytes),
            cpu_percent: size.cpu_percent.unwrap_or(self.limits.cpu_percent),
            tasks: size.tasks.unwrap_or(self.limits.tasks),
        }
    }
}

/// Summary of one round, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub started: usize,
    pub stopped: usize,
    pub crashed: usize,
    pub errors: usize,
}

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
    state: Arc<traffic::TrafficState>,
    /// When the next drain ends (Unix seconds): the loop wakes then to stop the drained dynos.
    next_drain_end: Arc<std::sync::Mutex<Option<i64>>>,
}

/// Pure: each app's slice limits, the sums of its desired dynos' limits.
pub fn app_totals<'a>(
    dynos: impl IntoIterator<Item = &'a DesiredDyno>,
    defaults: &DynoDefaults,
) -> BTreeMap<AppName, Limits> {
    let mut totals: BTreeMap<AppName, Limits> = BTreeMap::new();
    for d in dynos {
        let l = defaults.limits_for(&d.size);
        let t = totals.entry(d.unit.app.clone()).or_insert(Limits {
            memory_bytes: 0,
            cpu_percent: 0,
            tasks: 0,
        });
        t.memory_bytes = t.memory_bytes.saturating_add(l.memory_bytes);
        t.cpu_percent = t.cpu_percent.saturating_add(l.cpu_percent);
        t.tasks = t.tasks.saturating_add(l.tasks);
    }
    totals
}

impl Reconciler {
    pub fn new(
        store: Store,
        systemd: Arc<dyn Systemd>,
        layout: Layout,
        defaults: DynoDefaults,
        traffic: Traffic,
    ) -> Self {
        Self {
            store,
            systemd,
            layout,
            defaults,
            wake: Arc::new(Notify::new()),
            slice_limits: Arc::default(),
            traffic,
            state: Arc::new(traffic::TrafficState::new()),
            next_drain_end: Arc::default(),
        }
    }

    /// Asks for a round soon; cheap, and many pokes merge into one round.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Runs rounds until `shutdown` resolves: one now, then on every poke or unit signal.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ReconcileError> {
        let mut events = self.systemd.watch().await?;
        tokio::pin!(shutdown);
        let mut backoff = Duration::ZERO;
        let mut failed = self.round_logged().await;
        loop {
            // A failing action makes signals of its own; without a pause they would trigger
            // the next failing round at once. A poke (a user's change) ends the pause.
            if failed {
                backoff = (backoff * 2).clamp(ERROR_BACKOFF_MIN, ERROR_BACKOFF_MAX);
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(backoff) => {}
                }
                while events.try_recv().is_ok() {}
                self.poke();
            } else {
                backoff = Duration::ZERO;
            }
            let drain_end = *self.next_drain_end.lock().expect("drain lock");
            let drain_sleep = async move {
                match drain_end {
                    Some(end) => {
                        let secs = (end - traffic::unix_now()).max(0) as u64;
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let poked = tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = self.wake.notified() => true,
                () = drain_sleep => true,
                Some(_) = events.recv() => false,
            };
            // A poke is a user waiting on a change: act at once. Unit signals come in bursts:
            // let the burst settle so it costs one round.
            if !poked {
                tokio::time::sleep(DEBOUNCE).await;
            }
            while events.try_recv().is_ok() {}
            failed = self.round_logged().await;
        }
    }

    /// Runs a round and logs it; true when something in it failed.
    async fn round_logged(&self) -> bool {
        match self.round().await {
            Ok(round) if round != Round::default() => {
                tracing::info!(
                    started = round.started,
                    stopped = round.stopped,
                    crashed = round.crashed,
                    errors = round.errors,
                    "reconciled"
                );
                round.errors > 0
            }
            Ok(_) => {
                tracing::debug!("reconciled: nothing to do");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "reconcile round failed");
                true
            }
        }
    }

    /// One round: observe, plan, start, move traffic, stop, tidy up.
    pub async fn round(&self) -> Result<Round, ReconcileError> {
        self.store.end_drains(traffic::unix_now()).await?;
        let desired = self.store.desired_state().await?;
        *self.next_drain_end.lock().expect("drain lock") = traffic::next_drain_end(&desired);
        let units = self.systemd.list_units(UNIT_PATTERN).await?;
        let observed: Vec<ObservedUnit> = units
            .iter()
            .map(|u| ObservedUnit {
                name: u.name.clone(),
                active_state: ActiveState::parse(&u.active_state),
            })
            .collect();
        let wanted: BTreeSet<DynoUnit> = desired.dynos.keys().cloned().collect();
        let mut round = Round::default();
        let keep = traffic::kept_units(&desired);
        let timers: BTreeSet<CronUnit> = desired.cron.keys().cloned().collect();
        let plan = plan(&wanted, &timers, &keep, &desired.apps, &observed);
        let desired = &desired;
        // Starts run concurrently (each waits for its own job) and come first, so replacements
        // are up before what they replace is stopped.
        let results: Vec<(DynoUnit, Result<(), ReconcileError>)> =
            futures_util::stream::iter(plan.start.iter().cloned())
                .map(|unit| async move {
                    // A slice that emptied may have been unloaded and come back without limits,
                    // so its totals are sent again after any start.
                    self.slice_limits
                        .lock()
                        .expect("slice cache lock")
                        .remove(&unit.app);
                    let result = self.start(&desired.dynos[&unit]).await;
                    (unit, result)
                })
                .buffer_unordered(START_CONCURRENCY)
                .collect()
                .await;
        for (unit, result) in results {
            match result {
                Ok(()) => round.started += 1,
                Err(e) => {
                    round.errors += 1;
                    tracing::error!(unit = %unit.unit_name(), error = %e, "starting a dyno failed");
                }
            }
        }
        // Traffic moves after the starts and before the stops: a dyno stops only once the proxy
        // no longer routes to it and its drain has ended.
        let traffic_changed = match self.roll_out(desired).await {
            Ok(changed) => changed,
            Err(e) => {
                round.errors += 1;
                tracing::error!(error = %e, "moving traffic failed");
                false
            }
        };
        if let Err(e) = self.apply_proxy().await {
            round.errors += 1;
            tracing::error!(error = %e, "applying the proxy config failed");
        }
        for unit in &plan.start_timers {
            match self.start_timer(&desired.cron[unit]).await {
                Ok(()) => round.started += 1,
                Err(e) => {
                    round.errors += 1;
                    tracing::error!(timer = %unit.timer_name(), error = %e, "starting a timer failed");
                }
            }
        }
        for unit in &plan.mark_crashed {
            round.crashed += 1;
            if let Err(e) = self.mark_crashed(desired, unit).await {
                round.errors += 1;
                tracing::error!(unit = %unit.unit_name(), error = %e, "recording a crash failed");
            }
        }
        for name in &plan.stop {
            match self.systemd.stop_unit(name).await {
                Ok(()) => round.stopped += 1,
                Err(e) => {
                    round.errors += 1;
                    tracing::error!(unit = %name, error = %e, "stopping a unit failed");
                }
            }
        }
        for name in &plan.reset_failed {
            if let Err(e) = self.systemd.reset_failed(name).await {
                round.errors += 1;
                tracing::error!(unit = %name, error = %e, "resetting a failed unit failed");
            }
        }
        let keep: BTreeSet<String> = wanted
            .iter()
            .map(DynoUnit::unit_name)
            .chain(units.iter().map(|u| u.name.clone()))
            .collect();
        self.store.release_ports_except(keep).await?;
        self.apply_slice_totals(desired.dynos.values()).await;
        self.remove_files_of_gone_apps(&units).await?;
        if traffic_changed {
            self.poke();
        }
        Ok(round)
    }

    /// A dyno that failed for good: a pending release's web dyno fails its release, any other
    /// is held as crashed.
    async fn mark_crashed(
        &self,
        desired: &DesiredState,
        unit: &DynoUnit,
    ) -> Result<(), ReconcileError> {
        if is_pending_web(desired, unit) {
            let reason = format!("{} crashed: its process kept exiting", unit.dyno);
            return self.fail_release(&unit.app, unit.release, reason).await;
        }
        tracing::warn!(app = %unit.app, dyno = %unit.dyno, "dyno crashed repeatedly; left stopped until the next deploy, restart or scale");
        self.store
            .hold_dyno(unit.app.as_str(), unit.dyno.clone(), HoldReason::Crashed)
            .await?;
        Ok(())
    }

    /// Sets each app's slice to the sum of its dynos' limits, when that changed.
    async fn apply_slice_totals<'a>(&self, dynos: impl IntoIterator<Item = &'a DesiredDyno>) {
        for (app, totals) in app_totals(dynos, &self.defaults) {
            let known = self
                .slice_limits
                .lock()
                .expect("slice cache lock")
                .get(&app)
                == Some(&totals);
            if known {
                continue;
            }
            let slice = app_slice(&app);
            match self
                .systemd
                .set_properties(&slice, limit_properties(&totals))
                .await
            {
                Ok(()) => {
                    self.slice_limits
                        .lock()
                        .expect("slice cache lock")
                        .insert(app, totals);
                }
                // The slice exists once a dyno runs in it; the next round tries again.
                Err(e) => tracing::debug!(slice = %slice, error = %e, "slice limits not set yet"),
            }
        }
    }

    async fn start(&self, dyno: &DesiredDyno) -> Result<(), ReconcileError> {
        let unit = &dyno.unit;
        let name = unit.unit_name();
        let slug_dir = self.layout.slug_dir(&unit.app, dyno.slug_version);
        if !slug_dir.is_dir() {
            return Err(ReconcileError::Io {
                action: format!("starting {name}"),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("slug {} is missing", slug_dir.display()),
                ),
            });
        }
        let env_file = self.layout.env_file(&unit.app, unit.release);
        write_private(&env_file, render_env_file(&dyno.config).as_bytes())?;
        let port = if unit.dyno.process_type.is_web() {
            Some(
                self.store
                    .assign_port(
                        name.clone(),
                        self.defaults.port_first,
                        self.defaults.port_last,
                    )
                    .await?,
            )
        } else {
            None
        };
        let spec = DynoSpec {
            unit: unit.clone(),
            command: dyno.command.clone(),
            slug_dir,
            env_file,
            port,
            limits: self.defaults.limits_for(&dyno.size),
            restart: self.defaults.restart,
            hidden_paths: self.layout.hidden_from_dynos(),
            stop_timeout_usec: STOP_TIMEOUT_USEC,
        };
        tracing::info!(app = %unit.app, dyno = %unit.dyno, release = unit.release, unit = %name, "starting dyno");
        self.systemd
            .start_transient(&name, dyno_properties(&spec))
            .await?;
        Ok(())
    }

    /// Sets up a live release's scheduled job: its environment file, then its timer with the
    /// service the timer fires (in the dyno sandbox, output to the journal as `cron.N`).
    async fn start_timer(&self, cron: &DesiredCron) -> Result<(), ReconcileError> {
        let unit = &cron.unit;
        let env_file = self.layout.env_file(&unit.app, unit.release);
        write_private(&env_file, render_env_file(&cron.config).as_bytes())?;
        let spec = OneOffSpec {
            unit_name: unit.service_name(),
            app: unit.app.clone(),
            dyno: unit.dyno(),
            command: OneOffCommand::Shell(cron.job.command.clone()),
            slug_dir: self.layout.slug_dir(&unit.app, cron.slug_version),
            env_file,
            build_id: None,
            release: Some(unit.release),
            limits: self.defaults.limits,
            timeout_usec: self.defaults.job_timeout.as_micros() as u64,
            hidden_paths: self.layout.hidden_from_dynos(),
            stdio: OneOffStdio::Journal,
            lifetime: OneOffLifetime::Oneshot { part_of: None },
            extra_env: Vec::new(),
        };
        tracing::info!(app = %unit.app, job = %unit.dyno(), release = unit.release, schedule = %cron.job.schedule, "scheduling job");
        self.systemd
            .start_timer(
                &unit.timer_name(),
                timer_properties(unit, &cron.job.schedule),
                &unit.service_name(),
                oneoff_properties(&spec),
            )
            .await?;
        Ok(())
    }

    /// Restarts the app's dynos that match `filter` (`ps:restart`); held ones are released by
    /// the caller and started by the next round.
    pub async fn restart(
        &self,
        app: &AppName,
        filter: &DynoFilter,
    ) -> Result<usize, ReconcileError> {
        // Web dynos get a new generation: the next rounds start replacements beside them and
        // switch traffic once those are healthy. Other dynos restart in place.
        let mut restarted = self
            .store
            .bump_generations(app.as_str(), filter.clone())
            .await?;
        let units = self.systemd.list_units(UNIT_PATTERN).await?;
        for u in units {
            let Some(unit) = DynoUnit::parse(&u.name) else {
                continue;
            };
            if &unit.app == app
                && !unit.dyno.process_type.is_web()
                && filter.matches(&unit.dyno)
                && u.active_state != "failed"
            {
                self.systemd.restart_unit(&u.name).await?;
                restarted += 1;
            }
        }
        self.poke();
        Ok(restarted)
    }

    /// Applies a process type's current limits to its running dynos without restarting them
    /// (`ps:resize`); dynos started later get them from the DB.
    pub async fn apply_limits(
        &self,
        app: &AppName,
        process_type: &ProcessType,
    ) -> Result<usize, ReconcileError> {
        let size = self
            .store
            .formation(app.as_str())
            .await?
            .into_iter()
            .find(|f| &f.process_type == process_type)
            .map(|f| f.size)
            .unwrap_or_default();
        let properties = limit_properties(&self.defaults.limits_for(&size));
        let mut changed = 0;
        for u in self.systemd.list_units(UNIT_PATTERN).await? {
            let Some(unit) = DynoUnit::parse(&u.name) else {
                continue;
            };
            if &unit.app == app
                && &unit.dyno.process_type == process_type
                && u.active_state != "failed"
            {
                self.systemd
                    .set_properties(&u.name, properties.clone())
                    .await?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Deletes slugs and env files of apps the DB no longer has, once none of their units runs.
    async fn remove_files_of_gone_apps(
        &self,
        units: &[crate::systemd::UnitStatus],
    ) -> Result<(), ReconcileError> {
        // Listed now, not taken from the round's snapshot: an app created while the round ran
        // already has files (its upload) and must keep them. An app's row always exists before
        // its files do, so files listed after this read belong to apps in it or to gone ones.
        let mut apps = BTreeSet::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let roots = [
            self.layout.apps_dir(),
            self.layout.env_root(),
            self.layout.repos_dir(),
        ];
        for root in &roots {
            if let Ok(entries) = std::fs::read_dir(root) {
                seen.extend(entries.flatten().map(|e| owner_app(&e.file_name())));
            }
        }
        if seen.is_empty() {
            return Ok(());
        }
        for record in self.store.list_apps().await? {
            apps.insert(record.name);
        }
        let busy: BTreeSet<String> = units
            .iter()
            .filter_map(|u| DynoUnit::parse(&u.name))
            .map(|u| u.app.to_string())
            .collect();
        for root in &roots {
            let Ok(entries) = std::fs::read_dir(root) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = owner_app(&entry.file_name());
                if !seen.contains(&name) {
                    continue; // appeared after the app list was read
                }
                let known = AppName::parse(&name).is_ok_and(|a| apps.contains(&a));
                if !known && !busy.contains(&name) {
                    tracing::info!(path = %entry.path().display(), "removing files of a destroyed app");
                    std::fs::remove_dir_all(entry.path()).map_err(|source| ReconcileError::Io {
                        action: format!("removing {}", entry.path().display()),
                        source,
                    })?;
                }
            }
        }
        Ok(())
    }
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

/// The app an entry of the apps, env or repos directory belongs to (`hello.git` → `hello`).
fn owner_app(file_name: &std::ffi::OsStr) -> String {
    let name = file_name.to_string_lossy();
    name.strip_suffix(".git").unwrap_or(&name).to_owned()
}

/// [`crate::files::write_private`] with the reconciler's error.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), ReconcileError> {
    crate::files::write_private(path, contents).map_err(|source| ReconcileError::Io {
        action: format!("writing {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::FakeProber;
    use crate::model::{DynoName, Procfile, ScaleChange};
    use crate::proxy::FakeProxy;
    use crate::systemd::FakeSystemd;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        systemd: Arc<FakeSystemd>,
        reconciler: Reconciler,
        layout: Layout,
        proxy: Arc<FakeProxy>,
        prober: Arc<FakeProber>,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(&dir.path().join("state"), &dir.path().join("run"));
        let store = Store::open_in_memory().unwrap();
        let systemd = Arc::new(FakeSystemd::default());
        let proxy = Arc::new(FakeProxy::default());
        let prober = Arc::new(FakeProber::default());
        let reconciler = Reconciler::new(
            store.clone(),
            systemd.clone(),
            layout.clone(),
            DynoDefaults::from_config(&Config::default()),
            Traffic {
                proxy: proxy.clone(),
                prober: prober.clone(),
                settings: crate::daemon::proxy_settings(&Config::default()),
                drain: Duration::ZERO,
            },
        );
        Fixture {
            _dir: dir,
            store,
            systemd,
            reconciler,
            layout,
            proxy,
            prober,
        }
    }

    /// Runs rounds until health probes have answered and traffic has moved: what the loop does
    /// on its own when probes poke it.
    async fn settle(f: &Fixture) {
        for _ in 0..6 {
            f.reconciler.round().await.unwrap();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    async fn deploy(f: &Fixture, app: &str, procfile: &str) {
        let app = AppName::parse(app).unwrap();
        if f.store.get_app(app.as_str()).await.is_err() {
            f.store.create_app(app.clone()).await.unwrap();
        }
        let layout = f.layout.clone();
        let a = app.clone();
        f.store
            .create_release(
                app,
                Procfile::parse(procfile).unwrap(),
                "Deploy".into(),
                move |v| std::fs::create_dir_all(layout.slug_dir(&a, v)).map_err(|e| e.to_string()),
            )
            .await
            .unwrap();
    }

    async fn scale(f: &Fixture, changes: &[&str]) {
        let changes = changes
            .iter()
            .map(|c| ScaleChange::parse(c).unwrap())
            .collect();
        f.store.scale("hello", changes).await.unwrap();
    }

    fn names(f: &Fixture) -> Vec<String> {
        f.systemd.units().into_keys().collect()
    }

    /// The upstream ports of `app` in the proxy config last loaded.
    fn upstreams(f: &Fixture, app: &str) -> Vec<String> {
        let config = f.proxy.loaded().last().cloned().unwrap();
        let routes = config["apps"]["http"]["servers"]["skiff"]["routes"]
            .as_array()
            .unwrap()
            .clone();
        let host = format!("{app}.localhost");
        let route = routes
            .iter()
            .find(|r| r["match"][0]["host"][0] == host.as_str())
            .unwrap();
        route["handle"][0]["routes"][2]["handle"][2]["upstreams"]
            .as_array()
            .map(|u| {
                u.iter()
                    .map(|d| d["dial"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn converges_scales_replaces_and_stays_put() {
        let f = fixture().await;
        deploy(&f, "hello", "web: python3 app.py\nworker: sleep 1000\n").await;
        let round = f.reconciler.round().await.unwrap();
        assert_eq!(round.started, 1);
        assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
        assert!(
            upstreams(&f, "hello").is_empty(),
            "not routed before it is healthy"
        );
        settle(&f).await;
        assert_eq!(upstreams(&f, "hello"), ["127.0.0.1:20000"]);
        assert_eq!(
            f.store
                .current_release("hello")
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );

        scale(&f, &["web=2", "worker=1"]).await;
        settle(&f).await;
        assert_eq!(names(&f).len(), 3);
        assert_eq!(
            upstreams(&f, "hello"),
            ["127.0.0.1:20000", "127.0.0.1:20001"]
        );
        // Converged: another round changes nothing (running dynos are adopted, not restarted).
        let calls = f.systemd.calls().len();
        let loads = f.proxy.loaded().len();
        assert_eq!(f.reconciler.round().await.unwrap(), Round::default());
        assert_eq!(f.systemd.calls().len(), calls);
        assert_eq!(f.proxy.loaded().len(), loads);

        deploy(&f, "hello", "web: python3 app2.py\nworker: sleep 1000\n").await;
        f.reconciler.round().await.unwrap();
        assert_eq!(
            names(&f).len(),
            5,
            "new web dynos start beside the routed ones; the worker waits for the switch"
        );
        assert_eq!(
            upstreams(&f, "hello"),
            ["127.0.0.1:20000", "127.0.0.1:20001"]
        );
        settle(&f).await;
        assert_eq!(
            names(&f),
            [
                "skiff-hello.web.1.v2.service",
                "skiff-hello.web.2.v2.service",
                "skiff-hello.worker.1.v2.service"
            ]
        );
        assert_eq!(
            upstreams(&f, "hello"),
            ["127.0.0.1:20002", "127.0.0.1:20003"]
        );
    }

    #[tokio::test]
    async fn an_unhealthy_release_fails_and_the_live_one_keeps_serving() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\n").await;
        settle(&f).await;
        f.store
            .set_health_check(
                "hello",
                crate::model::HealthCheck::new(None, None, Some(Duration::from_secs(1))).unwrap(),
            )
            .await
            .unwrap();
        f.prober.break_port(20001);
        deploy(&f, "hello", "web: broken\n").await;
        f.reconciler.round().await.unwrap();
        let app = AppName::parse("hello").unwrap();
        let (status, failure) = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                f.reconciler.round().await.unwrap();
                let s = f.store.release_status("hello", 2).await.unwrap();
                if s.0 != crate::store::ReleaseStatus::Pending {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(status, crate::store::ReleaseStatus::Failed);
        let failure = failure.unwrap();
        assert!(
            failure.contains("web.1 failed its health check"),
            "{failure}"
        );
        assert_eq!(
            f.reconciler.wait_for_release(&app, 2).await.unwrap().0,
            crate::store::ReleaseStatus::Failed
        );
        settle(&f).await;
        assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
        assert_eq!(upstreams(&f, "hello"), ["127.0.0.1:20000"]);
        assert_eq!(
            f.store
                .current_release("hello")
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
    }

    #[tokio::test]
    async fn restart_replaces_web_dynos_beside_the_routed_ones() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\n").await;
        settle(&f).await;
        let app = AppName::parse("hello").unwrap();
        assert_eq!(
            f.reconciler.restart(&app, &DynoFilter::All).await.unwrap(),
            1
        );
        f.reconciler.round().await.unwrap();
        assert_eq!(
            names(&f),
            [
                "skiff-hello.web.1.v1.g1.service",
                "skiff-hello.web.1.v1.service"
            ]
        );
        settle(&f).await;
        assert_eq!(names(&f), ["skiff-hello.web.1.v1.g1.service"]);
        assert_eq!(upstreams(&f, "hello"), ["127.0.0.1:20001"]);
    }

    #[tokio::test]
    async fn web_dynos_get_distinct_persisted_ports_and_a_private_env_file() {
        use crate::systemd::properties::PropertyValue;
        use std::os::unix::fs::PermissionsExt;
        let f = fixture().await;
        deploy(&f, "hello", "web: a\nworker: b\n").await;
        settle(&f).await;
        scale(&f, &["web=2", "worker=1"]).await;
        f.reconciler.round().await.unwrap();
        let units = f.systemd.units();
        let env_of = |name: &str| {
            units[name]
                .properties
                .iter()
                .find(|(k, _)| *k == "Environment")
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(
            env_of("skiff-hello.web.1.v1.service"),
            PropertyValue::StrList(vec![
                "DYNO=web.1".into(),
                "HOME=/app".into(),
                format!("PATH={}", crate::systemd::properties::DYNO_PATH),
                "PORT=20000".into()
            ])
        );
        assert_eq!(
            env_of("skiff-hello.web.2.v1.service"),
            PropertyValue::StrList(vec![
                "DYNO=web.2".into(),
                "HOME=/app".into(),
                format!("PATH={}", crate::systemd::properties::DYNO_PATH),
                "PORT=20001".into()
            ])
        );
        assert_eq!(
            env_of("skiff-hello.worker.1.v1.service"),
            PropertyValue::StrList(vec![
                "DYNO=worker.1".into(),
                "HOME=/app".into(),
                format!("PATH={}", crate::systemd::properties::DYNO_PATH)
            ])
        );
        let env_file = f.layout.env_file(&AppName::parse("hello").unwrap(), 1);
        assert_eq!(
            std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let ports = f.store.ports().await.unwrap();
        assert_eq!(ports["skiff-hello.web.1.v1.service"], 20000);
    }

    #[tokio::test]
    async fn strays_are_stopped_and_crashed_dynos_are_held() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\n").await;
        settle(&f).await;
        f.systemd.add_unit("skiff-stray.service", "active");
        f.reconciler.round().await.unwrap();
        assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);

        f.systemd.fail("skiff-hello.web.1.v1.service");
        let round = f.reconciler.round().await.unwrap();
        assert_eq!(round.crashed, 1);
        assert!(
            names(&f).is_empty(),
            "the failed unit is reset and not restarted"
        );
        assert_eq!(f.reconciler.round().await.unwrap(), Round::default());
        let holds = f.store.holds("hello").await.unwrap();
        assert_eq!(holds[0].dyno, DynoName::parse("web.1").unwrap());

        f.store
            .scale("hello", vec![ScaleChange::parse("web=1").unwrap()])
            .await
            .unwrap();
        f.reconciler.round().await.unwrap();
        assert_eq!(names(&f), ["skiff-hello.web.1.v1.service"]);
    }

    #[tokio::test]
    async fn destroying_an_app_stops_its_dynos_and_removes_its_files() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\n").await;
        deploy(&f, "other", "web: a\n").await;
        settle(&f).await;
        f.reconciler.round().await.unwrap();
        let hello_dir = f.layout.app_dir(&AppName::parse("hello").unwrap());
        assert!(hello_dir.is_dir());
        f.store.delete_app("hello").await.unwrap();
        f.reconciler.round().await.unwrap();
        assert_eq!(names(&f), ["skiff-other.web.1.v1.service"]);
        // The unit is gone now, so the next round removes the files.
        f.reconciler.round().await.unwrap();
        assert!(!hello_dir.exists());
        assert!(f.layout.app_dir(&AppName::parse("other").unwrap()).is_dir());
    }

    #[tokio::test]
    async fn resize_applies_limits_to_running_dynos_of_that_type() {
        use crate::systemd::properties::PropertyValue;
        let f = fixture().await;
        deploy(&f, "hello", "web: a\nworker: b\n").await;
        settle(&f).await;
        f.store
            .scale("hello", vec![ScaleChange::parse("worker=1").unwrap()])
            .await
            .unwrap();
        f.reconciler.round().await.unwrap();
        let web = crate::model::ProcessType::parse("web").unwrap();
        let size = DynoSize {
            memory_bytes: Some(256 << 20),
            ..DynoSize::default()
        };
        f.store.resize("hello", web.clone(), size).await.unwrap();
        let changed = f
            .reconciler
            .apply_limits(&AppName::parse("hello").unwrap(), &web)
            .await
            .unwrap();
        assert_eq!(changed, 1);
        let memory = |unit: &str| {
            f.systemd.units()[unit]
                .properties
                .iter()
                .find(|(k, _)| *k == "MemoryMax")
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(
            memory("skiff-hello.web.1.v1.service"),
            PropertyValue::U64(256 << 20)
        );
        assert_eq!(
            memory("skiff-hello.worker.1.v1.service"),
            PropertyValue::U64(512 << 20)
        );
    }

    #[tokio::test]
    async fn slices_get_the_sum_of_their_dynos_limits() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\nworker: b\n").await;
        settle(&f).await;
        scale(&f, &["web=2", "worker=1"]).await;
        let desired = f.store.desired_state().await.unwrap();
        let totals = app_totals(
            desired.dynos.values(),
            &DynoDefaults::from_config(&Config::default()),
        );
        assert_eq!(
            totals[&AppName::parse("hello").unwrap()],
            Limits {
                memory_bytes: 3 * (512 << 20),
                cpu_percent: 300,
                tasks: 768
            }
        );
        f.systemd.add_unit("skiff-hello.slice", "active");
        settle(&f).await;
        let sets = |f: &Fixture| {
            f.systemd
                .calls()
                .iter()
                .filter(|c| *c == "set-property skiff-hello.slice")
                .count()
        };
        let sent = sets(&f);
        assert!(sent >= 1);
        f.reconciler.round().await.unwrap();
        assert_eq!(sets(&f), sent, "unchanged totals are not sent again");
    }

    #[tokio::test]
    async fn files_of_an_app_created_after_the_rounds_snapshot_are_kept() {
        let f = fixture().await;
        // The round's desired state is read before `late` exists; its upload lands meanwhile.
        let late = AppName::parse("late").unwrap();
        f.store.create_app(late.clone()).await.unwrap();
        std::fs::create_dir_all(f.layout.builds_dir(&late)).unwrap();
        f.reconciler.remove_files_of_gone_apps(&[]).await.unwrap();
        assert!(f.layout.app_dir(&late).is_dir());
        f.store.delete_app("late").await.unwrap();
        f.reconciler.remove_files_of_gone_apps(&[]).await.unwrap();
        assert!(!f.layout.app_dir(&late).exists());
    }

    #[tokio::test]
    async fn restart_restarts_matching_running_dynos_only() {
        let f = fixture().await;
        deploy(&f, "hello", "web: a\nworker: b\n").await;
        settle(&f).await;
        scale(&f, &["web=2", "worker=1"]).await;
        f.reconciler.round().await.unwrap();
        let app = AppName::parse("hello").unwrap();
        let n = f
            .reconciler
            .restart(
                &app,
                &DynoFilter::Type(crate::model::ProcessType::parse("web").unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(n, 2);
        let n = f
            .reconciler
            .restart(&app, &DynoFilter::One(DynoName::parse("worker.1").unwrap()))
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
