//! Router metrics in skiffd: every router line counts into its app's minute in memory
//! (`model::RequestStats`), and a flusher writes the finished minutes to SQLite once a minute in
//! one transaction (and everything at stop), then applies the retention. A minute whose lines
//! come late (relayed after a restart) is merged into its stored row.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::model::{bucket_start, AppName, RequestStats, FINE_STEP_SECS};
use crate::store::{Store, StoreError};

/// How often finished minutes go to the database.
const FLUSH_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone, Default)]
pub struct RouterMetrics {
    minutes: Arc<Mutex<BTreeMap<(AppName, i64), RequestStats>>>,
    /// Held while a flush moves minutes from memory to the database, so a reader of both
    /// sees each minute exactly once.
    flushing: Arc<tokio::sync::Mutex<()>>,
    /// `metrics = false`: nothing is counted.
    off: bool,
}

impl RouterMetrics {
    /// Router metrics that count nothing.
    pub fn off() -> Self {
        Self {
            off: true,
            ..Self::default()
        }
    }

    /// Counts one request of `app` logged at `at_ms`.
    pub fn record(&self, app: &AppName, at_ms: i64, status: u16, service_ms: u64) {
        if self.off {
            return;
        }
        let minute = bucket_start(at_ms.div_euclid(1000), FINE_STEP_SECS);
        let mut minutes = self.minutes.lock().expect("metrics lock");
        minutes
            .entry((app.clone(), minute))
            .or_default()
            .record(status, service_ms);
    }

    /// `app`'s stored buckets from `from` (Unix seconds) and its minutes not written yet, as
    /// (start, step, stats).
    pub async fn rows_since(
        &self,
        store: &Store,
        app: &AppName,
        from: i64,
    ) -> Result<Vec<(i64, i64, RequestStats)>, StoreError> {
        let _flush = self.flushing.lock().await;
        let mut rows = store.request_rows(app, from).await?;
        rows.extend(self.unflushed(app));
        Ok(rows)
    }

    fn unflushed(&self, app: &AppName) -> Vec<(i64, i64, RequestStats)> {
        let minutes = self.minutes.lock().expect("metrics lock");
        minutes
            .iter()
            .filter(|((a, _), _)| a == app)
            .map(|((_, start), stats)| (*start, FINE_STEP_SECS, stats.clone()))
            .collect()
    }

    /// Takes the minutes that ended before `now` (Unix seconds), or all of them.
    fn take(&self, before: Option<i64>) -> Vec<(AppName, i64, RequestStats)> {
        let mut minutes = self.minutes.lock().expect("metrics lock");
        let current = before.map(|now| bucket_start(now, FINE_STEP_SECS));
        let taken: Vec<(AppName, i64)> = minutes
            .keys()
            .filter(|(_, m)| current.is_none_or(|c| *m < c))
            .cloned()
            .collect();
        taken
            .into_iter()
            .filter_map(|key| minutes.remove(&key).map(|s| (key.0, key.1, s)))
            .collect()
    }

    /// Writes the finished minutes, then applies retention; a failed write keeps nothing
    /// twice: its minutes are logged as lost.
    async fn flush(&self, store: &Store, before: Option<i64>) {
        let _flush = self.flushing.lock().await;
        let minutes = self.take(before);
        if !minutes.is_empty() {
            let count = minutes.len();
            if let Err(e) = store.add_request_stats(minutes).await {
                tracing::warn!(error = %e, minutes = count, "router metrics could not be stored");
            }
        }
        let now = crate::activity::unix_now_ms() / 1000;
        if let Err(e) = store.apply_metrics_retention(now).await {
            tracing::warn!(error = %e, "router metrics retention failed");
        }
        if let Err(e) = store.apply_usage_retention(now).await {
            tracing::warn!(error = %e, "dyno usage retention failed");
        }
    }

    /// Flushes once a minute until `stop`, then once more with everything counted.
    pub async fn run_flusher(self, store: Store, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => {
                    let now = crate::activity::unix_now_ms() / 1000;
                    self.flush(&store, Some(now)).await;
                }
            }
        }
        self.flush(&store, None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finished_minutes_are_flushed_and_the_current_one_waits() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let metrics = RouterMetrics::default();
        let now = 1_800_000_030;
        metrics.record(&app, (now - 70) * 1000, 200, 5);
        metrics.record(&app, (now - 65) * 1000, 500, 50);
        metrics.record(&app, now * 1000, 200, 7);
        metrics.flush(&store, Some(now)).await;
        let stored = store.request_rows(&app, now - 3600).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].2.by_class, [1, 0, 0, 1]);
        assert_eq!(metrics.unflushed(&app).len(), 1, "the current minute waits");
        metrics.flush(&store, None).await;
        let stored = store.request_rows(&app, now - 3600).await.unwrap();
        assert_eq!(stored.iter().map(|r| r.2.by_class[0]).sum::<u64>(), 2);
        assert!(metrics.take(None).is_empty());
    }
}
