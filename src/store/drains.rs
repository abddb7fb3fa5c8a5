//! Log drains: each app's, with the journal cursor of the last line delivered and how the last
//! delivery went.

use rusqlite::{params, OptionalExtension};

use super::db::{app_id, corrupt, stored_app_name, Store, StoreError, NOW};
use crate::model::{AppName, DrainUrl};

/// Drains an app may have.
pub const MAX_DRAINS_PER_APP: i64 = 5;

/// A drain as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainRecord {
    pub id: i64,
    pub app: AppName,
    pub url: DrainUrl,
    /// The journal cursor of the last line delivered; `None` before the first.
    pub cursor: Option<String>,
    /// When it was added (Unix seconds): the first lines it forwards are from then on.
    pub created_at: i64,
    pub delivered: i64,
    pub last_delivered_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

const COLUMNS: &str = "d.id, a.name, d.url, d.cursor, d.created_at, d.delivered, d.last_delivered_at, d.last_error, d.last_error_at";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<DrainRecord, StoreError>> {
    let (app, url): (String, String) = (r.get(1)?, r.get(2)?);
    let (id, cursor, created_at, delivered) = (r.get(0)?, r.get(3)?, r.get(4)?, r.get(5)?);
    let (last_delivered_at, last_error, last_error_at) = (r.get(6)?, r.get(7)?, r.get(8)?);
    Ok((|| {
        Ok(DrainRecord {
            id,
            app: stored_app_name(&app)?,
            url: DrainUrl::parse(&url).map_err(|e| corrupt("drain URL", e))?,
            cursor,
            created_at,
            delivered,
            last_delivered_at,
            last_error,
            last_error_at,
        })
    })())
}

impl Store {
    /// Adds a drain to `app`, starting now.
    pub async fn add_drain(&self, app: &AppName, url: DrainUrl) -> Result<DrainRecord, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM log_drains WHERE app_id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            if count >= MAX_DRAINS_PER_APP {
                return Err(StoreError::TooManyDrains(app));
            }
            let inserted = tx.execute(
                "INSERT INTO log_drains (app_id, url, created_at) VALUES (?1, ?2, CAST(strftime('%s','now') AS INTEGER))
                 ON CONFLICT (app_id, url) DO NOTHING",
                params![id, url.as_str()],
            )?;
            if inserted == 0 {
                return Err(StoreError::DrainExists {
                    app,
                    url: url.to_string(),
                });
            }
            let drain_id = tx.last_insert_rowid();
            let record = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM log_drains d JOIN apps a ON a.id = d.app_id WHERE d.id = ?1"),
                    params![drain_id],
                    record,
                )??;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    pub async fn remove_drain(&self, app: &AppName, url: &str) -> Result<(), StoreError> {
        let (app, url) = (app.clone(), url.to_owned());
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let removed = conn.execute(
                "DELETE FROM log_drains WHERE app_id = ?1 AND url = ?2",
                params![id, url],
            )?;
            if removed == 0 {
                return Err(StoreError::DrainNotFound { app, url });
            }
            Ok(())
        })
        .await
    }

    /// The app's drains in the order they were added.
    pub async fn drains_of(&self, app: &AppName) -> Result<Vec<DrainRecord>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM log_drains d JOIN apps a ON a.id = d.app_id WHERE d.app_id = ?1 ORDER BY d.id"
            ))?;
            let rows = stmt.query_map(params![id], record)?;
            rows.map(|row| row?).collect()
        })
        .await
    }

    /// Every app's drains.
    pub async fn all_drains(&self) -> Result<Vec<DrainRecord>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM log_drains d JOIN apps a ON a.id = d.app_id ORDER BY d.id"
            ))?;
            let rows = stmt.query_map([], record)?;
            rows.map(|row| row?).collect()
        })
        .await
    }

    /// One drain, if it is still there.
    pub async fn drain(&self, id: i64) -> Result<Option<DrainRecord>, StoreError> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM log_drains d JOIN apps a ON a.id = d.app_id WHERE d.id = ?1"),
                params![id],
                record,
            )
            .optional()?
            .transpose()
        })
        .await
    }

    /// `lines` more went out, up to the line at `cursor`; the last failure is over.
    pub async fn drain_delivered(
        &self,
        id: i64,
        cursor: String,
        lines: usize,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute(
                &format!(
                    "UPDATE log_drains SET cursor = ?2, delivered = delivered + ?3,
                     last_delivered_at = {NOW}, last_error = NULL, last_error_at = NULL WHERE id = ?1"
                ),
                params![id, cursor, lines as i64],
            )?;
            Ok(())
        })
        .await
    }

    /// Why the last delivery failed.
    pub async fn drain_failed(&self, id: i64, error: String) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute(
                &format!(
                    "UPDATE log_drains SET last_error = ?2, last_error_at = {NOW} WHERE id = ?1"
                ),
                params![id, error],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drains_are_added_once_keep_their_place_and_go_with_the_app() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let url = DrainUrl::parse("syslog://127.0.0.1:514").unwrap();
        let added = store.add_drain(&app, url.clone()).await.unwrap();
        assert_eq!((added.cursor.clone(), added.delivered), (None, 0));
        assert!(added.created_at > 1_700_000_000);
        assert!(matches!(
            store.add_drain(&app, url.clone()).await,
            Err(StoreError::DrainExists { .. })
        ));
        store
            .drain_failed(added.id, "connection refused".into())
            .await
            .unwrap();
        let failed = store.drain(added.id).await.unwrap().unwrap();
        assert_eq!(failed.last_error.as_deref(), Some("connection refused"));
        store
            .drain_delivered(added.id, "c1".into(), 3)
            .await
            .unwrap();
        store
            .drain_delivered(added.id, "c2".into(), 2)
            .await
            .unwrap();
        let ok = store.drain(added.id).await.unwrap().unwrap();
        assert_eq!(
            (ok.cursor.as_deref(), ok.delivered, ok.last_error),
            (Some("c2"), 5, None)
        );
        assert!(ok.last_delivered_at.is_some());
        for port in 1..MAX_DRAINS_PER_APP {
            let more = DrainUrl::parse(&format!("syslog://h:{port}")).unwrap();
            store.add_drain(&app, more).await.unwrap();
        }
        let one_more = DrainUrl::parse("syslog://h:999").unwrap();
        assert!(matches!(
            store.add_drain(&app, one_more).await,
            Err(StoreError::TooManyDrains(_))
        ));
        assert_eq!(store.drains_of(&app).await.unwrap().len(), 5);
        store.remove_drain(&app, url.as_str()).await.unwrap();
        assert!(matches!(
            store.remove_drain(&app, url.as_str()).await,
            Err(StoreError::DrainNotFound { .. })
        ));
        assert_eq!(store.all_drains().await.unwrap().len(), 4);
        store.delete_app(&app).await.unwrap();
        assert_eq!(store.all_drains().await.unwrap(), vec![]);
        assert_eq!(store.drain(added.id).await.unwrap(), None);
    }
}
