//! Alerts' rows: each app's rules (stored in their canonical form, one row per rule), whether
//! each is firing and since when, and the app's own alert webhook.

use rusqlite::{params, Connection};

use super::db::{app_id, corrupt, stored_app_name, Store, StoreError};
use crate::model::{AlertRule, AppName, WebhookUrl};

/// One alert of an app.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub rule: AlertRule,
    /// When it began firing (Unix seconds) and the value that fired it; `None` while ok.
    pub firing: Option<(i64, String)>,
    pub created_at: i64,
}

/// An app with alerts, as the monitor reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppAlerts {
    pub app: AppName,
    pub webhook: Option<WebhookUrl>,
    pub alerts: Vec<AlertRecord>,
}

/// An alert's columns: id, rule, firing since, value, created at.
type AlertColumns = (i64, String, Option<i64>, Option<String>, i64);

fn read_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertColumns> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn alerts_of(conn: &Connection, id: i64) -> Result<Vec<AlertRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, rule, firing_since, value, created_at FROM alerts WHERE app_id = ?1 ORDER BY id",
    )?;
    let raw = stmt
        .query_map(params![id], read_alert)?
        .collect::<Result<Vec<_>, _>>()?;
    raw.into_iter()
        .map(|(id, rule, since, value, created_at)| {
            Ok(AlertRecord {
                id,
                rule: AlertRule::parse(&rule).map_err(|e| corrupt("alert row", e))?,
                firing: since.map(|s| (s, value.unwrap_or_default())),
                created_at,
            })
        })
        .collect()
}

fn webhook_of(conn: &Connection, id: i64) -> Result<Option<WebhookUrl>, StoreError> {
    let raw: Option<String> = conn.query_row(
        "SELECT alert_webhook FROM apps WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    raw.map(|u| WebhookUrl::parse(&u).map_err(|e| corrupt("alert webhook", e)))
        .transpose()
}

impl Store {
    /// Adds a rule to the app; the same rule twice is refused.
    pub async fn add_alert(
        &self,
        app: &AppName,
        rule: AlertRule,
        now: i64,
    ) -> Result<AlertRecord, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let inserted = conn.execute(
                "INSERT INTO alerts (app_id, rule, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app_id, rule) DO NOTHING",
                params![id, rule.to_string(), now],
            )?;
            if inserted == 0 {
                return Err(StoreError::AlertExists {
                    app,
                    rule: rule.to_string(),
                });
            }
            Ok(AlertRecord {
                id: conn.last_insert_rowid(),
                rule,
                firing: None,
                created_at: now,
            })
        })
        .await
    }

    /// The app's alerts and its own webhook.
    pub async fn alerts(&self, app: &AppName) -> Result<AppAlerts, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            Ok(AppAlerts {
                alerts: alerts_of(conn, id)?,
                webhook: webhook_of(conn, id)?,
                app,
            })
        })
        .await
    }

    /// Every app with at least one alert.
    pub async fn alerted_apps(&self) -> Result<Vec<AppAlerts>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, name FROM apps WHERE id IN (SELECT app_id FROM alerts) ORDER BY name",
            )?;
            let apps = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            apps.into_iter()
                .map(|(id, name)| {
                    Ok(AppAlerts {
                        app: stored_app_name(&name)?,
                        webhook: webhook_of(conn, id)?,
                        alerts: alerts_of(conn, id)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Removes the app's rule.
    pub async fn remove_alert(&self, app: &AppName, rule: AlertRule) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let removed = conn.execute(
                "DELETE FROM alerts WHERE app_id = ?1 AND rule = ?2",
                params![id, rule.to_string()],
            )?;
            if removed == 0 {
                return Err(StoreError::AlertNotFound {
                    app,
                    rule: rule.to_string(),
                });
            }
            Ok(())
        })
        .await
    }

    /// Records that alert `id` fired (when, with what value) or resolved (`None`); an alert
    /// removed meanwhile stays removed.
    pub async fn set_alert_firing(
        &self,
        id: i64,
        firing: Option<(i64, String)>,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            let (since, value) = firing.unzip();
            conn.execute(
                "UPDATE alerts SET firing_since = ?1, value = ?2 WHERE id = ?3",
                params![since, value, id],
            )?;
            Ok(())
        })
        .await
    }

    /// Sets or clears where the app's alerts are POSTed.
    pub async fn set_alert_webhook(
        &self,
        app: &AppName,
        webhook: Option<WebhookUrl>,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                "UPDATE apps SET alert_webhook = ?1 WHERE id = ?2",
                params![webhook.as_ref().map(WebhookUrl::as_str), id],
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
    async fn rules_are_kept_once_each_with_their_state() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let errors = AlertRule::parse("errors>2% for 5m").unwrap();
        let added = store.add_alert(&app, errors, 100).await.unwrap();
        store
            .add_alert(&app, AlertRule::Crashed, 101)
            .await
            .unwrap();
        let again = store.add_alert(&app, AlertRule::parse("errors > 2% for 5m").unwrap(), 102);
        assert!(matches!(again.await, Err(StoreError::AlertExists { .. })));
        store
            .set_alert_firing(added.id, Some((150, "errors 9.0%".into())))
            .await
            .unwrap();
        let url = WebhookUrl::parse("http://127.0.0.1:9/hook").unwrap();
        store
            .set_alert_webhook(&app, Some(url.clone()))
            .await
            .unwrap();
        let all = store.alerted_apps().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].webhook, Some(url));
        assert_eq!(all[0].alerts[0].firing, Some((150, "errors 9.0%".into())));
        assert_eq!(all[0].alerts[1].rule, AlertRule::Crashed);
        store.remove_alert(&app, errors).await.unwrap();
        let gone = store.remove_alert(&app, errors).await;
        assert!(matches!(gone, Err(StoreError::AlertNotFound { .. })));
        store.remove_alert(&app, AlertRule::Crashed).await.unwrap();
        assert!(store.alerted_apps().await.unwrap().is_empty());
        assert_eq!(store.alerts(&app).await.unwrap().alerts, vec![]);
    }
}
