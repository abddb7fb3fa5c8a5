//! Router metrics' rows: per app, step and bucket, requests by status class and the service
//! times' histogram. Written in batches (one transaction per flush, merged into a bucket that
//! already has a row), rolled up and dropped by `model::retention_at`, read back as points.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{app_id, corrupt, stored_app_name, Store, StoreError};
use crate::model::{retention_at, AppName, RequestStats, COARSE_STEP_SECS, FINE_STEP_SECS};

type Bucket = (i64, i64, i64);

fn read(conn: &Connection, (app, step, start): Bucket) -> Result<Option<RequestStats>, StoreError> {
    let row: Option<([u64; 4], Vec<u8>)> = conn
        .query_row(
            "SELECT c2xx, c3xx, c4xx, c5xx, histogram FROM router_metrics
             WHERE app_id = ?1 AND step_secs = ?2 AND start = ?3",
            params![app, step, start],
            |r| Ok(([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?], r.get(4)?)),
        )
        .optional()?;
    row.map(|(classes, histogram)| {
        RequestStats::from_stored(classes, &histogram).map_err(|e| corrupt("router metrics", e))
    })
    .transpose()
}

/// Adds `stats` to the bucket's row (made when missing).
fn merge_into(conn: &Connection, bucket: Bucket, stats: &RequestStats) -> Result<(), StoreError> {
    let mut merged = read(conn, bucket)?.unwrap_or_default();
    merged.merge(stats);
    let [c2, c3, c4, c5] = merged.by_class;
    conn.execute(
        "INSERT INTO router_metrics (app_id, step_secs, start, c2xx, c3xx, c4xx, c5xx, histogram)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (app_id, step_secs, start) DO UPDATE SET c2xx = excluded.c2xx,
            c3xx = excluded.c3xx, c4xx = excluded.c4xx, c5xx = excluded.c5xx,
            histogram = excluded.histogram",
        params![
            bucket.0,
            bucket.1,
            bucket.2,
            c2,
            c3,
            c4,
            c5,
            merged.histogram_bytes()
        ],
    )?;
    Ok(())
}

fn rows(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<(i64, i64, i64, RequestStats)>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let raw = stmt.query_map(args, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
            r.get::<_, Vec<u8>>(7)?,
        ))
    })?;
    raw.map(|row| {
        let (app, step, start, classes, histogram) = row?;
        let stats = RequestStats::from_stored(classes, &histogram)
            .map_err(|e| corrupt("router metrics", e))?;
        Ok((app, step, start, stats))
    })
    .collect()
}

const COLUMNS: &str = "app_id, step_secs, start, c2xx, c3xx, c4xx, c5xx, histogram";

impl Store {
    /// Writes one flush of per-minute stats in one transaction; stats of an app that is gone
    /// are dropped.
    pub async fn add_request_stats(
        &self,
        minutes: Vec<(AppName, i64, RequestStats)>,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            for (app, start, stats) in &minutes {
                match app_id(&tx, app) {
                    Ok(id) => merge_into(&tx, (id, FINE_STEP_SECS, *start), stats)?,
                    Err(StoreError::AppNotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Rolls minute points older than 48 hours into ten-minute points and drops those older
    /// than 8 days, as of `now` (Unix seconds), in one transaction.
    pub async fn apply_metrics_retention(&self, now: i64) -> Result<(), StoreError> {
        let cut = retention_at(now);
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let old = rows(
                &tx,
                &format!(
                    "SELECT {COLUMNS} FROM router_metrics WHERE step_secs = ?1 AND start < ?2"
                ),
                params![FINE_STEP_SECS, cut.roll_before],
            )?;
            let mut coarse: BTreeMap<(i64, i64), RequestStats> = BTreeMap::new();
            for (app, _, start, stats) in old {
                let key = (app, crate::model::bucket_start(start, COARSE_STEP_SECS));
                coarse.entry(key).or_default().merge(&stats);
            }
            for ((app, start), stats) in &coarse {
                merge_into(&tx, (*app, COARSE_STEP_SECS, *start), stats)?;
            }
            tx.execute(
                "DELETE FROM router_metrics WHERE step_secs = ?1 AND start < ?2",
                params![FINE_STEP_SECS, cut.roll_before],
            )?;
            tx.execute(
                "DELETE FROM router_metrics WHERE start < ?1",
                params![cut.drop_before],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The apps whose dynos run: deployed, awake, with a formation of at least one dyno.
    pub async fn monitored_apps(&self) -> Result<Vec<AppName>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name FROM apps WHERE current_release IS NOT NULL AND sleep_state = 'awake'
                 AND id IN (SELECT app_id FROM formation WHERE quantity > 0) ORDER BY name",
            )?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            names.iter().map(|n| stored_app_name(n)).collect()
        })
        .await
    }

    /// The app's stored buckets from `since` (Unix seconds) on, oldest first, as (start,
    /// step, stats).
    pub async fn request_rows(
        &self,
        app: &AppName,
        since: i64,
    ) -> Result<Vec<(i64, i64, RequestStats)>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let found = rows(
                conn,
                &format!("SELECT {COLUMNS} FROM router_metrics WHERE app_id = ?1 AND start >= ?2 ORDER BY start"),
                params![id, crate::model::bucket_start(since, FINE_STEP_SECS)],
            )?;
            Ok(found.into_iter().map(|(_, step, start, stats)| (start, step, stats)).collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{metrics_view, FINE_STEP_SECS};

    fn stats(n: u64, status: u16, ms: u64) -> RequestStats {
        let mut s = RequestStats::default();
        for _ in 0..n {
            s.record(status, ms);
        }
        s
    }

    #[tokio::test]
    async fn flushes_merge_and_retention_rolls_up_then_drops_with_an_injected_clock() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let day = 24 * 3600;
        let now = 1_800_000_000; // a whole ten minutes
        store
            .add_request_stats(vec![
                (app.clone(), now - 120, stats(3, 200, 10)),
                (app.clone(), now - 60, stats(1, 500, 90)),
                (AppName::parse("gone").unwrap(), now - 60, stats(5, 200, 1)),
            ])
            .await
            .unwrap();
        // A second flush for the same minute (lines relayed after a restart) adds to it.
        store
            .add_request_stats(vec![(app.clone(), now - 60, stats(2, 200, 20))])
            .await
            .unwrap();
        let rows = store.request_rows(&app, now - 3600).await.unwrap();
        let (step, points, _) = metrics_view(rows, FINE_STEP_SECS);
        assert_eq!(step, 60);
        let summary: Vec<(i64, [u64; 4])> = points.iter().map(|p| (p.start, p.by_class)).collect();
        assert_eq!(
            summary,
            [(now - 120, [3, 0, 0, 0]), (now - 60, [2, 0, 0, 1])]
        );

        // Three days on, the minutes are one ten-minute point; nine days on, nothing.
        store.apply_metrics_retention(now + 3 * day).await.unwrap();
        let (step, points, _) =
            metrics_view(store.request_rows(&app, now - 3600).await.unwrap(), 60);
        assert_eq!(step, 600);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].start, now - 600);
        assert_eq!(points[0].by_class, [5, 0, 0, 1]);
        assert_eq!(points[0].max_ms.map(|m| (89..=91).contains(&m)), Some(true));
        store.apply_metrics_retention(now + 9 * day).await.unwrap();
        assert!(store
            .request_rows(&app, now - 3600)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_destroyed_apps_metrics_go_with_it() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        store
            .add_request_stats(vec![(app.clone(), 60, stats(1, 200, 1))])
            .await
            .unwrap();
        store.delete_app(&app).await.unwrap();
        store.create_app(app.clone()).await.unwrap();
        assert!(store.request_rows(&app, 0).await.unwrap().is_empty());
    }
}
