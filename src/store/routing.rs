//! Routing state: domains, maintenance mode, health checks, restart generations, which dyno units
//! the proxy routes to, and the release life cycle around them (a pending release goes live or
//! fails).

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::dynos::{app_id, corrupt, formation_of, DynoFilter};
use super::releases::{current_release, pending_release, ReleaseStatus};
use super::{stored_app_name, Store, StoreError, NOW};
use crate::model::{AppName, Domain, DynoName, HealthCheck};

/// A dyno unit the proxy sends an app's requests to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub unit_name: String,
    pub dyno: DynoName,
    pub port: u16,
}

/// One app as the proxy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoutes {
    pub app: AppName,
    pub domains: Vec<Domain>,
    pub maintenance: bool,
    /// Routed dynos, by unit name (draining ones are not here).
    pub upstreams: Vec<Route>,
}

/// An app's routing settings as `apps:info` and `domains` show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingSettings {
    pub domains: Vec<Domain>,
    pub maintenance: bool,
    pub health_check: HealthCheck,
}

pub(super) fn health_check_of(conn: &Connection, app_id: i64) -> Result<HealthCheck, StoreError> {
    let (path, status, timeout): (Option<String>, Option<u32>, Option<u64>) = conn.query_row(
        "SELECT health_path, health_status, health_timeout_secs FROM apps WHERE id = ?1",
        params![app_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    HealthCheck::new(
        path.as_deref(),
        status,
        timeout.map(std::time::Duration::from_secs),
    )
    .map_err(|e| corrupt("health check", e))
}

pub(super) fn domains_of(conn: &Connection, app_id: i64) -> Result<Vec<Domain>, StoreError> {
    let mut stmt = conn.prepare("SELECT domain FROM domains WHERE app_id = ?1 ORDER BY domain")?;
    let rows = stmt.query_map(params![app_id], |r| r.get::<_, String>(0))?;
    rows.map(|d| Domain::parse(&d?).map_err(|e| corrupt("domain", e)))
        .collect()
}

pub(super) fn routes_of(conn: &Connection, app_id: i64) -> Result<Vec<Route>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT unit_name, dyno, port FROM routes
         WHERE app_id = ?1 AND draining_until IS NULL ORDER BY unit_name",
    )?;
    let rows = stmt.query_map(params![app_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, u16>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (unit_name, dyno, port) = row?;
        Ok(Route {
            unit_name,
            dyno: DynoName::parse(&dyno).map_err(|e| corrupt("route", e))?,
            port,
        })
    })
    .collect()
}

/// Units still draining (routed no more, kept running until the time, in Unix seconds).
pub(super) fn draining_of(
    conn: &Connection,
    app_id: i64,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT unit_name, draining_until FROM routes
         WHERE app_id = ?1 AND draining_until IS NOT NULL",
    )?;
    let rows = stmt.query_map(params![app_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Restart generations of an app's dynos, by (process type, index).
pub(super) fn generations_of(
    conn: &Connection,
    app_id: i64,
) -> Result<BTreeMap<(String, u32), u32>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT process_type, idx, generation FROM dyno_generations WHERE app_id = ?1")?;
    let rows = stmt.query_map(params![app_id], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Store {
    /// Attaches a custom domain; a domain belongs to at most one app.
    pub async fn add_domain(&self, app: &str, domain: Domain) -> Result<(), StoreError> {
        let app = app.to_owned();
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
            match owner {
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

    pub async fn remove_domain(&self, app: &str, domain: Domain) -> Result<(), StoreError> {
        let app = app.to_owned();
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

    pub async fn set_maintenance(&self, app: &str, on: bool) -> Result<(), StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                "UPDATE apps SET maintenance = ?1 WHERE id = ?2",
                params![on, id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn set_health_check(&self, app: &str, check: HealthCheck) -> Result<(), StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                "UPDATE apps SET health_path = ?1, health_status = ?2, health_timeout_secs = ?3 WHERE id = ?4",
                params![check.path, check.status, check.timeout.as_secs(), id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn routing_settings(&self, app: &str) -> Result<RoutingSettings, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let maintenance: bool = conn.query_row(
                "SELECT maintenance FROM apps WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            Ok(RoutingSettings {
                domains: domains_of(conn, id)?,
                maintenance,
                health_check: health_check_of(conn, id)?,
            })
        })
        .await
    }

    /// Everything the proxy config is rendered from, read in one transaction.
    pub async fn proxy_state(&self) -> Result<Vec<AppRoutes>, StoreError> {
        self.call(|conn| {
            let tx = conn.transaction()?;
            let apps: Vec<(i64, String, bool)> = {
                let mut stmt =
                    tx.prepare("SELECT id, name, maintenance FROM apps ORDER BY name")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = Vec::with_capacity(apps.len());
            for (id, name, maintenance) in apps {
                out.push(AppRoutes {
                    app: stored_app_name(&name)?,
                    domains: domains_of(&tx, id)?,
                    maintenance,
                    upstreams: routes_of(&tx, id)?,
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
        app: &str,
        routes: Vec<Route>,
        promote: Option<u32>,
        drain_until: i64,
    ) -> Result<(), StoreError> {
        let app = app.to_owned();
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
            if let Some(version) = promote {
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

    /// Marks a pending release failed with `reason`: it never goes live, and the app's config
    /// goes back to the live release's. Returns false when it was no longer pending.
    pub async fn fail_release(
        &self,
        app: &str,
        version: u32,
        reason: String,
    ) -> Result<bool, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            if pending_release(&tx, &app)?.map(|r| r.version) != Some(version) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE releases SET status = 'failed', failure = ?1 WHERE app_id = ?2 AND version = ?3",
                params![reason, id, version],
            )?;
            tx.execute(
                "UPDATE apps SET pending_release = NULL WHERE id = ?1",
                params![id],
            )?;
            if let Some(live) = current_release(&tx, &app)? {
                tx.execute(
                    "UPDATE apps SET config = ?1 WHERE id = ?2",
                    params![
                        serde_json::to_string(&live.config)
                            .map_err(|e| StoreError::Task(e.to_string()))?,
                        id
                    ],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// A release's status and failure reason.
    pub async fn release_status(
        &self,
        app: &str,
        version: u32,
    ) -> Result<(ReleaseStatus, Option<String>), StoreError> {
        let record = self
            .release(app, version)
            .await?
            .ok_or_else(|| StoreError::Task(format!("release v{version} of {app} vanished")))?;
        Ok((record.status, record.failure))
    }

    /// Gives the matching dynos of the app a new generation, so the reconciler replaces them
    /// (web dynos beside the old ones, health-checked). Returns how many.
    pub async fn bump_generations(
        &self,
        app: &str,
        filter: DynoFilter,
    ) -> Result<usize, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let mut bumped = 0;
            for (process_type, (quantity, _)) in formation_of(&tx, id)? {
                if !process_type.is_web() {
                    continue;
                }
                for index in 1..=quantity {
                    let dyno = DynoName {
                        process_type: process_type.clone(),
                        index,
                    };
                    if !filter.matches(&dyno) {
                        continue;
                    }
                    tx.execute(
                        "INSERT INTO dyno_generations (app_id, process_type, idx, generation) VALUES (?1, ?2, ?3, 1)
                         ON CONFLICT (app_id, process_type, idx) DO UPDATE SET generation = generation + 1",
                        params![id, process_type.as_str(), index],
                    )?;
                    bumped += 1;
                }
            }
            tx.commit()?;
            Ok(bumped)
        })
        .await
    }
}

#[cfg(test)]
impl Store {
    /// Lets the app's pending release go live as a healthy rollout would (for store tests).
    pub async fn go_live(&self, app: &str) -> Result<u32, StoreError> {
        let name = app.to_owned();
        let version = self
            .call(move |conn| Ok(pending_release(conn, &name)?.map(|r| r.version)))
            .await?
            .ok_or_else(|| StoreError::Task(format!("{app} has no pending release")))?;
        self.switch_routes(app, Vec::new(), Some(version), 0)
            .await?;
        Ok(version)
    }
}
