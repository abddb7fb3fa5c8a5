//! Dyno usage rows: per app, process type, step and bucket, the sums of its dynos' samples
//! (`model::UsageStats`). One transaction per monitor tick, merged into a bucket that already
//! has a row; rolled up and dropped with the router metrics (`model::retention_at`).

use rusqlite::params;

use super::db::{app_id, corrupt, Store, StoreError};
use crate::model::{
    retention_at, AppName, ProcessType, UsageStats, COARSE_STEP_SECS, FINE_STEP_SECS,
};

/// Adds to a bucket's row, or makes it.
const MERGE: &str = "INSERT INTO dyno_metrics (app_id, process_type, step_secs, start,
        memory_samples, memory_sum, memory_max, cpu_samples, cpu_sum)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
    ON CONFLICT (app_id, process_type, step_secs, start) DO UPDATE SET
        memory_samples = memory_samples + excluded.memory_samples,
        memory_sum = memory_sum + excluded.memory_sum,
        memory_max = MAX(memory_max, excluded.memory_max),
        cpu_samples = cpu_samples + excluded.cpu_samples,
        cpu_sum = cpu_sum + excluded.cpu_sum";

impl Store {
    /// Writes one tick's samples, as (app, process type, minute start, stats), in one
    /// transaction; samples of an app that is gone are dropped.
    pub async fn add_dyno_usage(
        &self,
        samples: Vec<(AppName, ProcessType, i64, UsageStats)>,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            for (app, process, start, s) in &samples {
                let id = match app_id(&tx, app) {
                    Ok(id) => id,
                    Err(StoreError::AppNotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                tx.execute(
                    MERGE,
                    params![
                        id,
                        process.as_str(),
                        FINE_STEP_SECS,
                        start,
                        s.memory_samples,
                        s.memory_sum,
                        s.memory_max,
                        s.cpu_samples,
                        s.cpu_sum
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The app's stored usage buckets from `since` (Unix seconds) on, as (process type, start,
    /// step, stats).
    pub async fn usage_rows(
        &self,
        app: &AppName,
        since: i64,
    ) -> Result<Vec<(ProcessType, i64, i64, UsageStats)>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let mut stmt = conn.prepare(
                "SELECT process_type, start, step_secs, memory_samples, memory_sum, memory_max,
                    cpu_samples, cpu_sum
                 FROM dyno_metrics WHERE app_id = ?1 AND start >= ?2 ORDER BY start",
            )?;
            let rows = stmt.query_map(
                params![id, crate::model::bucket_start(since, FINE_STEP_SECS)],
                |r| {
                    let stats = UsageStats {
                        memory_samples: r.get(3)?,
                        memory_sum: r.get(4)?,
                        memory_max: r.get(5)?,
                        cpu_samples: r.get(6)?,
                        cpu_sum: r.get(7)?,
                    };
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, stats))
                },
            )?;
            rows.map(|row| {
                let (process, start, step, stats) = row?;
                let process =
                    ProcessType::parse(&process).map_err(|e| corrupt("dyno metrics", e))?;
                Ok((process, start, step, stats))
            })
            .collect()
        })
        .await
    }

    /// Rolls the usage minutes older than 48 hours into ten-minute buckets and drops buckets
    /// older than 8 days, as of `now` (Unix seconds), in one transaction.
    pub async fn apply_usage_retention(&self, now: i64) -> Result<(), StoreError> {
        let cut = retention_at(now);
        self.call(move |conn| {
            let tx = conn.transaction()?;
            // `WHERE true` keeps SQLite from reading the upsert's ON as a join's.
            tx.execute(
                "INSERT INTO dyno_metrics (app_id, process_type, step_secs, start,
                    memory_samples, memory_sum, memory_max, cpu_samples, cpu_sum)
                 SELECT app_id, process_type, ?1, start - start % ?1, SUM(memory_samples),
                    SUM(memory_sum), MAX(memory_max), SUM(cpu_samples), SUM(cpu_sum)
                 FROM dyno_metrics WHERE step_secs = ?2 AND start < ?3 AND true
                 GROUP BY app_id, process_type, start - start % ?1
                 ON CONFLICT (app_id, process_type, step_secs, start) DO UPDATE SET
                    memory_samples = memory_samples + excluded.memory_samples,
                    memory_sum = memory_sum + excluded.memory_sum,
                    memory_max = MAX(memory_max, excluded.memory_max),
                    cpu_samples = cpu_samples + excluded.cpu_samples,
                    cpu_sum = cpu_sum + excluded.cpu_sum",
                params![COARSE_STEP_SECS, FINE_STEP_SECS, cut.roll_before],
            )?;
            tx.execute(
                "DELETE FROM dyno_metrics WHERE step_secs = ?1 AND start < ?2",
                params![FINE_STEP_SECS, cut.roll_before],
            )?;
            tx.execute(
                "DELETE FROM dyno_metrics WHERE start < ?1",
                params![cut.drop_before],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(memory: u64, cpu: f64) -> UsageStats {
        let mut s = UsageStats::default();
        s.record(Some(memory), Some(cpu));
        s
    }

    #[tokio::test]
    async fn samples_merge_and_retention_rolls_up_then_drops_with_an_injected_clock() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        let web = ProcessType::parse("web").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let day = 24 * 3600;
        let now = 1_800_000_000; // a whole ten minutes
        store
            .add_dyno_usage(vec![
                (app.clone(), web.clone(), now - 120, sample(100, 1.0)),
                (
                    AppName::parse("gone").unwrap(),
                    web.clone(),
                    now - 120,
                    sample(1, 1.0),
                ),
            ])
            .await
            .unwrap();
        store
            .add_dyno_usage(vec![(
                app.clone(),
                web.clone(),
                now - 120,
                sample(300, 3.0),
            )])
            .await
            .unwrap();
        store
            .add_dyno_usage(vec![(app.clone(), web.clone(), now - 60, sample(50, 5.0))])
            .await
            .unwrap();
        let rows = store.usage_rows(&app, now - 3600).await.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].3.memory_mean(), Some(200));
        assert_eq!(rows[0].3.memory_max, 300);

        // Three days on, the minutes are one ten-minute bucket; nine days on, nothing.
        store.apply_usage_retention(now + 3 * day).await.unwrap();
        let rows = store.usage_rows(&app, now - 3600).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let (_, start, step, stats) = &rows[0];
        assert_eq!((*start, *step), (now - 600, 600));
        assert_eq!((stats.memory_samples, stats.memory_max), (3, 300));
        assert_eq!(stats.cpu_mean(), Some(3.0));
        store.apply_usage_retention(now + 9 * day).await.unwrap();
        assert!(store.usage_rows(&app, now - 3600).await.unwrap().is_empty());
    }
}
