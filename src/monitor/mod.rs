//! Watching the running apps: their dynos as `ps` lists them (`dynos.rs`); a sample of each
//! app's dynos every 60 s, or every 10 s while someone watches it (`skiff metrics --watch`),
//! and none for an app without running dynos; its alert rules read on those samples and on its
//! finished router minutes (`alerts.rs`), and its dynos' memory and CPU per process type stored
//! as usage points; each alert that fires or resolves is one journald
//! line under the app with `SKIFF_ALERT` and a POST to its webhook (`webhook.rs`).

mod alerts;
mod dynos;
mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::RouterMetrics;
use crate::model::{
    alert_change, bucket_start, usage_of_sample, AlertChange, AppName, ProcessType, Reading,
    UsageStats, WebhookUrl, FINE_STEP_SECS,
};
use crate::store::{AlertRecord, AppAlerts, Store};
use alerts::{router_reading, AlertBook};
pub use dynos::{rfc3339_ms, rfc3339_usec, DynoLister, DynosError};
use webhook::AlertPayload;
pub use webhook::Notifier;

/// How often the monitor looks whether a sample or a minute is due.
const TICK: Duration = Duration::from_secs(10);
/// How often an app's dynos are sampled while someone watches it, and otherwise.
const WATCHED_EVERY: Duration = Duration::from_secs(10);
const SAMPLE_EVERY: Duration = Duration::from_secs(60);
/// How long a look at an app's metrics counts as watching it.
const WATCH_LASTS: Duration = Duration::from_secs(30);
/// journald priorities of a firing and a resolved alert.
const WARNING: u8 = 4;
const NOTICE: u8 = 5;

/// The apps someone looked at lately (the metrics API marks them).
#[derive(Clone, Default)]
pub struct Watched(Arc<Mutex<HashMap<AppName, Instant>>>);

impl Watched {
    pub fn touch(&self, app: &AppName) {
        let mut seen = self.0.lock().expect("watched lock");
        seen.retain(|_, at| at.elapsed() < WATCH_LASTS);
        seen.insert(app.clone(), Instant::now());
    }

    fn is_watched(&self, app: &AppName) -> bool {
        let seen = self.0.lock().expect("watched lock");
        seen.get(app).is_some_and(|at| at.elapsed() < WATCH_LASTS)
    }
}

/// The monitor task's parts.
pub struct Monitor {
    pub store: Store,
    pub dynos: DynoLister,
    pub router: RouterMetrics,
    pub watched: Watched,
    pub notifier: Notifier,
    /// `alert_webhook` of skiffd.toml: for apps without their own.
    pub server_webhook: Option<WebhookUrl>,
}

/// What the monitor remembers between ticks.
#[derive(Default)]
struct Memory {
    sampled_at: HashMap<AppName, Instant>,
    books: HashMap<AppName, AlertBook>,
}

fn unix_now() -> i64 {
    crate::activity::unix_now_ms() / 1000
}

impl Monitor {
    /// Samples and reads alerts every tick until `stop`.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut memory = Memory::default();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => self.tick(&mut memory).await,
            }
        }
    }

    async fn tick(&self, memory: &mut Memory) {
        let (alerted, running) = match (
            self.store.alerted_apps().await,
            self.store.monitored_apps().await,
        ) {
            (Ok(a), Ok(r)) => (a, r),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "monitor cannot read the apps");
                return;
            }
        };
        memory.sampled_at.retain(|app, _| running.contains(app));
        memory
            .books
            .retain(|app, _| alerted.iter().any(|a| &a.app == app));
        let now = unix_now();
        let (mut readings, usage) = self.sample_due(memory, &running, &alerted, now).await;
        if !usage.is_empty() {
            if let Err(e) = self.store.add_dyno_usage(usage).await {
                tracing::warn!(error = %e, "cannot store the dynos' usage");
            }
        }
        for a in &alerted {
            let book = memory.books.entry(a.app.clone()).or_default();
            book.keep_only(&a.alerts.iter().map(|r| r.id).collect::<Vec<_>>());
            if !running.contains(&a.app) {
                readings.extend(idle_readings(a));
            }
            readings.extend(self.router_readings(a, book, now).await);
        }
        for (alert, reading) in readings {
            if let Some(a) = alerted
                .iter()
                .find(|a| a.alerts.iter().any(|r| r.id == alert.id))
            {
                self.settle(a, &alert, reading, now).await;
            }
        }
    }

    /// Samples the running apps that are due: the readings of their sampled alert rules and
    /// their dynos' usage per process type, counted into the current minute.
    async fn sample_due(
        &self,
        memory: &mut Memory,
        running: &[AppName],
        alerted: &[AppAlerts],
        now: i64,
    ) -> (
        Vec<(AlertRecord, Reading)>,
        Vec<(AppName, ProcessType, i64, UsageStats)>,
    ) {
        let minute = bucket_start(now, FINE_STEP_SECS);
        let mut readings = Vec::new();
        let mut usage = Vec::new();
        for app in running {
            let every = if self.watched.is_watched(app) {
                WATCHED_EVERY
            } else {
                SAMPLE_EVERY
            };
            let due = memory
                .sampled_at
                .get(app)
                .is_none_or(|at| at.elapsed() + TICK / 2 >= every);
            if !due {
                continue;
            }
            memory.sampled_at.insert(app.clone(), Instant::now());
            let rows = match self.dynos.dynos_of(app).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(app = %app, error = %e, "cannot sample the dynos");
                    continue;
                }
            };
            let sample = rows.iter().filter_map(|d| {
                let process = ProcessType::parse(&d.process_type).ok()?;
                Some((process, d.memory_bytes, d.cpu_percent))
            });
            usage.extend(
                usage_of_sample(sample)
                    .into_iter()
                    .map(|(process, stats)| (app.clone(), process, minute, stats)),
            );
            if let Some(a) = alerted.iter().find(|a| &a.app == app) {
                let book = memory.books.entry(app.clone()).or_default();
                readings.extend(book.sampled(&a.alerts, &rows, now));
            }
        }
        (readings, usage)
    }

    async fn router_readings(
        &self,
        a: &AppAlerts,
        book: &mut AlertBook,
        now: i64,
    ) -> Vec<(AlertRecord, Reading)> {
        let due: Vec<(&AlertRecord, Vec<i64>)> = a
            .alerts
            .iter()
            .filter_map(|alert| book.router_minutes(alert, now).map(|m| (alert, m)))
            .collect();
        let Some(from) = due.iter().filter_map(|(_, m)| m.first()).min() else {
            return Vec::new();
        };
        let rows = match self.router.rows_since(&self.store, &a.app, *from).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(app = %a.app, error = %e, "cannot read the router metrics");
                return Vec::new();
            }
        };
        let mut stats = BTreeMap::new();
        for (start, _, s) in rows.into_iter().filter(|r| r.1 == FINE_STEP_SECS) {
            stats
                .entry(start)
                .or_insert_with(crate::model::RequestStats::default)
                .merge(&s);
        }
        due.into_iter()
            .map(|(alert, minutes)| (alert.clone(), router_reading(&alert.rule, &minutes, &stats)))
            .collect()
    }

    /// Records, logs and posts the change of one alert, if its reading changed it.
    async fn settle(&self, a: &AppAlerts, alert: &AlertRecord, reading: Reading, now: i64) {
        let Some(change) = alert_change(alert.firing.is_some(), reading.holds) else {
            return;
        };
        let since = alert.firing.as_ref().map_or(now, |(since, _)| *since);
        let firing = (change == AlertChange::Fired).then(|| (now, reading.value.clone()));
        if let Err(e) = self.store.set_alert_firing(alert.id, firing).await {
            tracing::warn!(app = %a.app, error = %e, "cannot record an alert's state");
            return;
        }
        let rule = alert.rule.to_string();
        let (priority, message) = match change {
            AlertChange::Fired => (WARNING, format!("alert firing: {rule} ({})", reading.value)),
            AlertChange::Resolved => (
                NOTICE,
                format!("alert resolved: {rule} ({})", reading.value),
            ),
        };
        // The app's line below is the one record of the change (a tracing line with the app's
        // fields would be a second one under SKIFF_APP).
        crate::journal::router::log_app_event(
            &a.app,
            priority,
            &message,
            &[("SKIFF_ALERT", &rule)],
        );
        if let Some(url) = a.webhook.clone().or_else(|| self.server_webhook.clone()) {
            let payload = AlertPayload {
                app: a.app.to_string(),
                alert: rule,
                state: change.as_str().to_owned(),
                value: reading.value,
                since: rfc3339_ms(since * 1000),
                at: rfc3339_ms(now * 1000),
            };
            self.notifier.send(url, &a.app, payload);
        }
    }
}

/// Pure: an app without running dynos (scaled to zero, asleep, not deployed) has nothing its
/// sampled rules could see: those that fire resolve.
fn idle_readings(a: &AppAlerts) -> Vec<(AlertRecord, Reading)> {
    a.alerts
        .iter()
        .filter(|alert| !alert.rule.reads_router() && alert.firing.is_some())
        .map(|alert| {
            let reading = Reading {
                holds: false,
                value: "no dyno runs".to_owned(),
            };
            (alert.clone(), reading)
        })
        .collect()
}
