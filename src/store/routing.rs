//! Routing state: domains, maintenance mode, compression, health checks, which dyno units the
//! proxy routes to, and switching them (a pending release goes live with its switch).

use rusqlite::{params, OptionalExtension};

use super::db::{
    app_id, domains_of, health_check_of, record_event, routes_of, sleep_state_of, stored_app_name,
    write_health_check, Store, StoreError, NOW,
};
use crate::model::{
    AppEventNote, AppName, AppRoutes, Compression, Domain, HealthCheck, NetworkSlot,
    ReleaseVersion, Route, RoutingSettings,
};

impl Store {
    /// Attaches a custom domain; a domain belongs to at most one app.
    pub async fn add_domain(&self, app: &AppName, domain: Domain) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let owner: Option<String> = tx
                .query_row(
                    "SELECT a.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE d.domain = ?1",
                    params![domain.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            match owner.as_deref().map(stored_app_name).transpose()? {
                Some(owner) if owner == app => return Err(StoreError::DomainExists(domain)),
                Some(owner) => return Err(StoreError::DomainTaken { domain, owner }),
                None => {}
            }
            tx.execute(
                &format!("INSERT INTO domains (domain, app_id, created_at) VALUES (?1, ?2, {NOW})"),
                params![domain.as_str(), id],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn remove_domain(&self, app: &AppName, domain: Domain) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let removed = conn.execute(
                "DELETE FROM domains WHERE app_id = ?1 AND domain = ?2",
                params![id, domain.as_str()],
            )?;
            if removed == 0 {
                return Err(StoreError::DomainNotFound { domain, app });
            }
            Ok(())
        })
        .await
    }

    /// Turns maintenance mode on or off and, when that changed it, records the event, made by
    /// `actor`.
    pub async fn set_maintenance(
        &self,
        app: &AppName,
        on: bool,
        actor: &str,
    ) -> Result<(), StoreError> {
        let (app, actor) = (app.clone(), actor.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let changed = tx.execute(
                "UPDATE apps SET maintenance = ?1 WHERE id = ?2 AND maintenance != ?1",
                params![on, id],
            )?;
            if changed > 0 {
                record_event(&tx, id, &AppEventNote::maintenance(on, &actor))?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn set_compression(
        &self,
        app: &AppName,
        compression: Compression,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                "UPDATE apps SET compression = ?1 WHERE id = ?2",
                params![compression.enabled(), id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn set_health_check(
        &self,
        app: &AppName,
        check: HealthCheck,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            write_health_check(conn, id, &check)
        })
        .await
    }

    pub async fn routing_settings(&self, app: &AppName) -> Result<RoutingSettings, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let (maintenance, compression): (bool, bool) = conn.query_row(
                "SELECT maintenance, compression FROM apps WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(RoutingSettings {
                domains: domains_of(conn, id)?,
                maintenance,
                compression: Compression::from_enabled(compression),
                health_check: health_check_of(conn, id)?,
            })
        })
        .await
    }

    /// Everything the proxy config is rendered from, read in one transaction.
    pub async fn proxy_state(&self) -> Result<Vec<AppRoutes>, StoreError> {
        self.call(|conn| {
            let tx = conn.transaction()?;
            let apps: Vec<(i64, String, bool, bool, Option<u32>, u32)> = {
                let mut stmt = tx.prepare(
                    "SELECT id, name, maintenance, compression, network_slot,
                        COALESCE((SELECT quantity FROM formation f
                                  WHERE f.app_id = apps.id AND f.process_type = 'web'), 0)
                     FROM apps ORDER BY name",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = Vec::with_capacity(apps.len());
            for (id, name, maintenance, compression, slot, web_dynos) in apps {
                out.push(AppRoutes {
                    app: stored_app_name(&name)?,
                    domains: domains_of(&tx, id)?,
                    maintenance,
                    compression: Compression::from_enabled(compression),
                    upstreams: routes_of(&tx, id)?,
                    network_slot: slot.map(NetworkSlot::new),
                    sleep: sleep_state_of(&tx, id)?,
                    web_dynos,
                });
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Switches an app's routes to `routes` in one transaction: routed units left out drain until
    /// `drain_until` (Unix seconds). With `promote`, that pending release goes live at the same
    /// time (its dynos' restart generations start over).
    pub async fn switch_routes(
        &self,
        app: &AppName,
        routes: Vec<Route>,
        promote: Option<ReleaseVersion>,
        drain_until: i64,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let old = routes_of(&tx, id)?;
            for gone in old.iter().filter(|o| !routes.iter().any(|r| r.unit_name == o.unit_name)) {
                tx.execute(
                    "UPDATE routes SET draining_until = ?1 WHERE unit_name = ?2",
                    params![drain_until, gone.unit_name],
                )?;
            }
            for r in &routes {
                tx.execute(
                    "INSERT INTO routes (unit_name, app_id, dyno, port) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (unit_name) DO UPDATE SET port = excluded.port, draining_until = NULL",
                    params![r.unit_name, id, r.dyno.to_string(), r.port],
                )?;
            }
            if let Some(version) = promote.map(ReleaseVersion::get) {
                let pending: Option<u32> = tx.query_row(
                    "SELECT pending_release FROM apps WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                if pending == Some(version) {
                    tx.execute(
                        "UPDATE apps SET current_release = ?1, pending_release = NULL WHERE id = ?2",
                        params![version, id],
                    )?;
                    tx.execute(
                        "UPDATE releases SET status = 'succeeded' WHERE app_id = ?1 AND version = ?2",
                        params![id, version],
                    )?;
                    tx.execute("DELETE FROM dyno_generations WHERE app_id = ?1", params![id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Forgets routes that finished draining by `now` (Unix seconds).
    pub async fn end_drains(&self, now: i64) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM routes WHERE draining_until IS NOT NULL AND draining_until <= ?1",
                params![now],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
impl Store {
    /// Lets the app's pending release go live as a healthy rollout would (for store tests).
    pub async fn go_live(&self, app: &AppName) -> Result<ReleaseVersion, StoreError> {
        let version = self
            .pending_release(app)
            .await?
            .map(|r| ReleaseVersion::from(r.version))
            .ok_or_else(|| StoreError::Task(format!("{app} has no pending release")))?;
        self.switch_routes(app, Vec::new(), Some(version), 0)
            .await?;
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn compression_is_on_by_default_and_kept_per_app() {
        let store = Store::open_in_memory().unwrap();
        let (hello, other) = (
            AppName::parse("hello").unwrap(),
            AppName::parse("other").unwrap(),
        );
        store.create_app(hello.clone()).await.unwrap();
        store.create_app(other.clone()).await.unwrap();
        let compression = |routes: &[AppRoutes]| -> Vec<Compression> {
            routes.iter().map(|a| a.compression).collect()
        };
        assert_eq!(
            compression(&store.proxy_state().await.unwrap()),
            [Compression::On, Compression::On]
        );
        store
            .set_compression(&hello, Compression::Off)
            .await
            .unwrap();
        assert_eq!(
            compression(&store.proxy_state().await.unwrap()),
            [Compression::Off, Compression::On]
        );
        let settings = store.routing_settings(&hello).await.unwrap();
        assert_eq!(settings.compression, Compression::Off);
        store
            .set_compression(&hello, Compression::On)
            .await
            .unwrap();
        let settings = store.routing_settings(&hello).await.unwrap();
        assert_eq!(settings.compression, Compression::On);
        let missing = AppName::parse("missing").unwrap();
        assert!(matches!(
            store.set_compression(&missing, Compression::Off).await,
            Err(StoreError::AppNotFound(_))
        ));
    }
}
