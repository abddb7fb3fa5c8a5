//! Releases, formation, dyno holds and web ports: the desired state the reconciler reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::releases::{current_release, pending_release, ConfigVars, ReleaseRecord};
use super::routing::{draining_of, generations_of, health_check_of, routes_of, Route};
use super::{stored_app_name, Store, StoreError, NOW};
use crate::model::{AppName, CronJob, DynoName, Formation, HealthCheck, ProcessType, ScaleChange};
use crate::systemd::names::{CronUnit, DynoUnit};

/// Per-process-type size overrides; `None` means the configured default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DynoSize {
    pub memory_bytes: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub tasks: Option<u64>,
}

/// One process type of an app's formation, as `ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormationEntry {
    pub process_type: ProcessType,
    pub quantity: u32,
    pub command: String,
    pub size: DynoSize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    Stopped,
    Crashed,
}

impl HoldReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Crashed => "crashed",
        }
    }

    fn parse(raw: &str) -> Self {
        if raw == "crashed" {
            Self::Crashed
        } else {
            Self::Stopped
        }
    }
}

/// A dyno kept down on purpose: stopped by `ps:stop`, or crashed until the next deploy/restart/scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub dyno: DynoName,
    pub reason: HoldReason,
    pub since: String,
}

/// A dyno the DB wants running, with what it takes to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredDyno {
    pub unit: DynoUnit,
    /// The release whose slug the dyno runs (config releases reuse an earlier one).
    pub slug_version: u32,
    pub command: String,
    pub size: DynoSize,
    pub config: Arc<ConfigVars>,
}

/// A scheduled job of a live release, as the reconciler sets it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredCron {
    pub unit: CronUnit,
    pub job: CronJob,
    pub slug_version: u32,
    pub config: Arc<ConfigVars>,
}

/// Everything the reconciler needs from the DB, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    pub apps: BTreeSet<AppName>,
    pub dynos: BTreeMap<DynoUnit, DesiredDyno>,
    pub routing: BTreeMap<AppName, AppRouting>,
    /// The live releases' scheduled jobs (a pending release's wait until it is live).
    pub cron: BTreeMap<CronUnit, DesiredCron>,
}

/// An app's web traffic: which release waits to go live, which units the proxy routes to and
/// which drain, and the health check new web dynos must pass before they get traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRouting {
    pub pending: Option<u32>,
    pub routed: Vec<Route>,
    /// Units routed no more, kept running until the time (Unix seconds).
    pub draining: BTreeMap<String, i64>,
    pub health_check: HealthCheck,
}

/// Which dynos of an app a restart or hold-clearing applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynoFilter {
    All,
    Type(ProcessType),
    One(DynoName),
}

impl DynoFilter {
    pub fn matches(&self, dyno: &DynoName) -> bool {
        match self {
            Self::All => true,
            Self::Type(t) => &dyno.process_type == t,
            Self::One(d) => d == dyno,
        }
    }
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Task(format!("corrupt {what}: {e}"))
}

pub(super) fn app_id(conn: &Connection, app: &str) -> Result<i64, StoreError> {
    conn.query_row("SELECT id FROM apps WHERE name = ?1", params![app], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| StoreError::AppNotFound(app.to_owned()))
}

pub(super) fn formation_of(
    conn: &Connection,
    app_id: i64,
) -> Result<BTreeMap<ProcessType, (u32, DynoSize)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT process_type, quantity, memory_bytes, cpu_percent, tasks FROM formation WHERE app_id = ?1",
    )?;
    let rows = stmt.query_map(params![app_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            DynoSize {
                memory_bytes: r.get(2)?,
                cpu_percent: r.get(3)?,
                tasks: r.get(4)?,
            },
        ))
    })?;
    rows.map(|row| {
        let (t, n, size) = row?;
        Ok((
            ProcessType::parse(&t).map_err(|e| corrupt("formation", e))?,
            (n, size),
        ))
    })
    .collect()
}

/// The app's dyno counts by process type (without sizes).
pub(super) fn current_formation(conn: &Connection, app_id: i64) -> Result<Formation, StoreError> {
    Ok(Formation::from_counts(
        formation_of(conn, app_id)?
            .into_iter()
            .map(|(t, (n, _))| (t, n)),
    ))
}

pub(super) fn write_formation(
    tx: &Transaction,
    app_id: i64,
    formation: &Formation,
) -> Result<(), StoreError> {
    let kept: Vec<String> = formation.iter().map(|(t, _)| t.to_string()).collect();
    let mut stmt = tx.prepare("SELECT process_type FROM formation WHERE app_id = ?1")?;
    let existing: Vec<String> = stmt
        .query_map(params![app_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for gone in existing.iter().filter(|t| !kept.contains(t)) {
        tx.execute(
            "DELETE FROM formation WHERE app_id = ?1 AND process_type = ?2",
            params![app_id, gone],
        )?;
    }
    for (t, n) in formation.iter() {
        tx.execute(
            "INSERT INTO formation (app_id, process_type, quantity) VALUES (?1, ?2, ?3)
             ON CONFLICT (app_id, process_type) DO UPDATE SET quantity = excluded.quantity",
            params![app_id, t.as_str(), n],
        )?;
    }
    Ok(())
}

pub(super) fn clear_holds(
    tx: &Connection,
    app_id: i64,
    filter: &DynoFilter,
) -> Result<(), StoreError> {
    match filter {
        DynoFilter::All => {
            tx.execute("DELETE FROM dyno_holds WHERE app_id = ?1", params![app_id])?
        }
        DynoFilter::Type(t) => tx.execute(
            "DELETE FROM dyno_holds WHERE app_id = ?1 AND process_type = ?2",
            params![app_id, t.as_str()],
        )?,
        DynoFilter::One(d) => tx.execute(
            "DELETE FROM dyno_holds WHERE app_id = ?1 AND process_type = ?2 AND idx = ?3",
            params![app_id, d.process_type.as_str(), d.index],
        )?,
    };
    Ok(())
}

impl Store {
    /// The release waiting to go live, if any.
    pub async fn pending_release(&self, app: &str) -> Result<Option<ReleaseRecord>, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| pending_release(conn, &app)).await
    }

    pub async fn current_release(&self, app: &str) -> Result<Option<ReleaseRecord>, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            app_id(conn, &app)?;
            current_release(conn, &app)
        })
        .await
    }

    /// The app's formation joined with its current Procfile, by process type.
    pub async fn formation(&self, app: &str) -> Result<Vec<FormationEntry>, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let Some(release) = current_release(conn, &app)? else {
                return Ok(Vec::new());
            };
            let formation = formation_of(conn, id)?;
            Ok(release
                .procfile
                .iter()
                .filter(|(t, _)| !t.is_release())
                .map(|(t, command)| {
                    let (quantity, size) = formation.get(t).copied().unwrap_or_default();
                    FormationEntry {
                        process_type: t.clone(),
                        quantity,
                        command: command.to_owned(),
                        size,
                    }
                })
                .collect())
        })
        .await
    }

    /// Applies `ps:scale` changes in one transaction and clears the app's holds.
    pub async fn scale(&self, app: &str, changes: Vec<ScaleChange>) -> Result<(), StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let release =
                current_release(&tx, &app)?.ok_or_else(|| StoreError::NotDeployed(app.clone()))?;
            let current = current_formation(&tx, id)?;
            let next = current
                .scaled(&changes, &release.procfile)
                .map_err(StoreError::Scale)?;
            write_formation(&tx, id, &next)?;
            clear_holds(&tx, id, &DynoFilter::All)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Sets size overrides of one process type (only the given fields change).
    pub async fn resize(
        &self,
        app: &str,
        process_type: ProcessType,
        size: DynoSize,
    ) -> Result<(), StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let release =
                current_release(&tx, &app)?.ok_or_else(|| StoreError::NotDeployed(app.clone()))?;
            if release.procfile.command(&process_type).is_none() {
                return Err(StoreError::Scale(crate::model::ScaleError::UnknownType {
                    process_type: process_type.to_string(),
                    known: release
                        .procfile
                        .process_types()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }));
            }
            tx.execute(
                "UPDATE formation SET memory_bytes = coalesce(?3, memory_bytes),
                    cpu_percent = coalesce(?4, cpu_percent), tasks = coalesce(?5, tasks)
                 WHERE app_id = ?1 AND process_type = ?2",
                params![
                    id,
                    process_type.as_str(),
                    size.memory_bytes,
                    size.cpu_percent,
                    size.tasks
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Keeps a dyno down (ps:stop, or a crash the reconciler saw).
    pub async fn hold_dyno(
        &self,
        app: &str,
        dyno: DynoName,
        reason: HoldReason,
    ) -> Result<(), StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                &format!(
                    "INSERT INTO dyno_holds (app_id, process_type, idx, reason, since) VALUES (?1, ?2, ?3, ?4, {NOW})
                     ON CONFLICT (app_id, process_type, idx) DO UPDATE SET reason = excluded.reason, since = excluded.since"
                ),
                params![id, dyno.process_type.as_str(), dyno.index, reason.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn clear_holds(&self, app: &str, filter: DynoFilter) -> Result<(), StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            clear_holds(conn, id, &filter)
        })
        .await
    }

    pub async fn holds(&self, app: &str) -> Result<Vec<Hold>, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let mut stmt = conn.prepare(
                "SELECT process_type, idx, reason, since FROM dyno_holds WHERE app_id = ?1 ORDER BY process_type, idx",
            )?;
            let rows = stmt.query_map(params![id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?, r.get(3)?))
            })?;
            rows.map(|row| {
                let (t, idx, reason, since) = row?;
                let dyno = DynoName::parse(&format!("{t}.{idx}")).map_err(|e| corrupt("hold", e))?;
                Ok(Hold {
                    dyno,
                    reason: HoldReason::parse(&reason),
                    since,
                })
            })
            .collect()
        })
        .await
    }

    /// Every app, and every dyno that should run: the live release's Procfile times the
    /// formation, minus held dynos — except web dynos while a release is pending, which are the
    /// pending release's (they start beside the routed ones and replace them once healthy).
    pub async fn desired_state(&self) -> Result<DesiredState, StoreError> {
        self.call(|conn| {
            let tx = conn.transaction()?;
            let mut state = DesiredState::default();
            let apps: Vec<(i64, String)> = {
                let mut stmt = tx.prepare("SELECT id, name FROM apps")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            for (id, name) in apps {
                let app = stored_app_name(&name)?;
                state.apps.insert(app.clone());
                let live = current_release(&tx, &name)?;
                let pending = pending_release(&tx, &name)?;
                state.routing.insert(
                    app.clone(),
                    AppRouting {
                        pending: pending.as_ref().map(|r| r.version),
                        routed: routes_of(&tx, id)?,
                        draining: draining_of(&tx, id)?,
                        health_check: health_check_of(&tx, id)?,
                    },
                );
                let holds: BTreeSet<(String, u32)> = {
                    let mut stmt =
                        tx.prepare("SELECT process_type, idx FROM dyno_holds WHERE app_id = ?1")?;
                    let rows = stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect::<Result<_, _>>()?
                };
                if let Some(live) = &live {
                    let config = Arc::new(live.config.clone());
                    for (i, job) in live.cron.iter().enumerate() {
                        let unit = CronUnit {
                            app: app.clone(),
                            index: i as u32 + 1,
                            release: live.version,
                        };
                        state.cron.insert(
                            unit.clone(),
                            DesiredCron {
                                unit,
                                job: job.clone(),
                                slug_version: live.slug_version,
                                config: Arc::clone(&config),
                            },
                        );
                    }
                }
                let generations = generations_of(&tx, id)?;
                let formation = formation_of(&tx, id)?;
                for (process_type, (quantity, size)) in &formation {
                    let (release, generations) = match (&pending, process_type.is_web()) {
                        (Some(p), true) => (p, &BTreeMap::new()),
                        _ => match &live {
                            Some(l) => (l, &generations),
                            None => continue,
                        },
                    };
                    let Some(command) = release.procfile.command(process_type) else {
                        continue;
                    };
                    let config = Arc::new(release.config.clone());
                    for index in 1..=*quantity {
                        let key = (process_type.to_string(), index);
                        if holds.contains(&key) {
                            continue;
                        }
                        let unit = DynoUnit {
                            app: app.clone(),
                            dyno: DynoName {
                                process_type: process_type.clone(),
                                index,
                            },
                            release: release.version,
                            generation: generations.get(&key).copied().unwrap_or(0),
                        };
                        state.dynos.insert(
                            unit.clone(),
                            DesiredDyno {
                                unit,
                                slug_version: release.slug_version,
                                command: command.to_owned(),
                                size: *size,
                                config: Arc::clone(&config),
                            },
                        );
                    }
                }
            }
            tx.commit()?;
            Ok(state)
        })
        .await
    }

    /// The port of a unit: the one it already has, or the next free one in `first..=last` after
    /// the last one handed out (wrapping), so a port just freed — with connections of the dyno
    /// that had it maybe still in TIME_WAIT — is not handed out again at once.
    pub async fn assign_port(
        &self,
        unit_name: String,
        first: u16,
        last: u16,
    ) -> Result<u16, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            if let Some(port) = tx
                .query_row(
                    "SELECT port FROM unit_ports WHERE unit_name = ?1",
                    params![unit_name],
                    |r| r.get(0),
                )
                .optional()?
            {
                return Ok(port);
            }
            let used: BTreeSet<u16> = {
                let mut stmt = tx.prepare("SELECT port FROM unit_ports")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let previous: Option<u16> = tx
                .query_row(
                    "SELECT value FROM counters WHERE name = 'last_port'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let start = previous
                .filter(|p| (first..last).contains(p))
                .map_or(first, |p| p + 1);
            let port = (start..=last)
                .chain(first..start)
                .find(|p| !used.contains(p))
                .ok_or(StoreError::PortsExhausted { first, last })?;
            tx.execute(
                "INSERT INTO unit_ports (unit_name, port) VALUES (?1, ?2)",
                params![unit_name, port],
            )?;
            tx.execute(
                "INSERT INTO counters (name, value) VALUES ('last_port', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![port],
            )?;
            tx.commit()?;
            Ok(port)
        })
        .await
    }

    pub async fn ports(&self) -> Result<BTreeMap<String, u16>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare("SELECT unit_name, port FROM unit_ports")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Frees the ports of units that are neither wanted nor running.
    pub async fn release_ports_except(&self, keep: BTreeSet<String>) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let names: Vec<String> = {
                let mut stmt = tx.prepare("SELECT unit_name FROM unit_ports")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            for name in names.iter().filter(|n| !keep.contains(*n)) {
                tx.execute("DELETE FROM unit_ports WHERE unit_name = ?1", params![name])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Procfile;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    fn procfile(text: &str) -> Procfile {
        Procfile::parse(text).unwrap()
    }

    async fn deployed(text: &str) -> Store {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("hello")).await.unwrap();
        store
            .create_release(app("hello"), procfile(text), "Deploy".into(), |_| Ok(()))
            .await
            .unwrap();
        store.go_live("hello").await.unwrap();
        store
    }

    fn names(state: &DesiredState) -> Vec<String> {
        state.dynos.keys().map(|u| u.unit_name()).collect()
    }

    #[tokio::test]
    async fn first_release_runs_one_web_dyno() {
        let store = deployed("web: a\nworker: b\n").await;
        let state = store.desired_state().await.unwrap();
        assert_eq!(names(&state), ["skiff-hello.web.1.v1.service"]);
        assert_eq!(state.dynos.values().next().unwrap().command, "a");
        assert!(state.apps.contains(&app("hello")));
    }

    #[tokio::test]
    async fn scaling_and_new_releases_keep_counts() {
        let store = deployed("web: a\nworker: b\n").await;
        store
            .scale(
                "hello",
                vec![
                    ScaleChange::parse("web=2").unwrap(),
                    ScaleChange::parse("worker+1").unwrap(),
                ],
            )
            .await
            .unwrap();
        let v2 = store
            .create_release(
                app("hello"),
                procfile("web: a2\nworker: b2\n"),
                "Deploy 2".into(),
                |_| Ok(()),
            )
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(
            names(&store.desired_state().await.unwrap()),
            [
                "skiff-hello.web.1.v2.service",
                "skiff-hello.web.2.v2.service",
                "skiff-hello.worker.1.v1.service"
            ],
            "while v2 is pending, only its web dynos run beside v1"
        );
        store.go_live("hello").await.unwrap();
        let state = store.desired_state().await.unwrap();
        assert_eq!(
            names(&state),
            [
                "skiff-hello.web.1.v2.service",
                "skiff-hello.web.2.v2.service",
                "skiff-hello.worker.1.v2.service"
            ]
        );
        let bad = store
            .scale("hello", vec![ScaleChange::parse("clock=1").unwrap()])
            .await;
        assert!(matches!(bad, Err(StoreError::Scale(_))), "{bad:?}");
    }

    #[tokio::test]
    async fn a_failed_slug_install_records_nothing() {
        let store = deployed("web: a\n").await;
        let err = store
            .create_release(app("hello"), procfile("web: b\n"), "Deploy".into(), |_| {
                Err("disk full".into())
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert_eq!(
            store
                .current_release("hello")
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
    }

    #[tokio::test]
    async fn holds_keep_dynos_down_until_cleared_by_a_scale() {
        let store = deployed("web: a\n").await;
        store
            .scale("hello", vec![ScaleChange::parse("web=2").unwrap()])
            .await
            .unwrap();
        store
            .hold_dyno(
                "hello",
                DynoName::parse("web.2").unwrap(),
                HoldReason::Crashed,
            )
            .await
            .unwrap();
        assert_eq!(
            names(&store.desired_state().await.unwrap()),
            ["skiff-hello.web.1.v1.service"]
        );
        assert_eq!(
            store.holds("hello").await.unwrap()[0].reason,
            HoldReason::Crashed
        );
        store
            .scale("hello", vec![ScaleChange::parse("web=2").unwrap()])
            .await
            .unwrap();
        assert_eq!(store.desired_state().await.unwrap().dynos.len(), 2);
        assert!(store.holds("hello").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn ports_are_stable_unique_and_freed() {
        let store = Store::open_in_memory().unwrap();
        let a = store.assign_port("a".into(), 20000, 20001).await.unwrap();
        let b = store.assign_port("b".into(), 20000, 20001).await.unwrap();
        assert_eq!((a, b), (20000, 20001));
        assert_eq!(
            store.assign_port("a".into(), 20000, 20001).await.unwrap(),
            20000
        );
        assert!(matches!(
            store.assign_port("c".into(), 20000, 20001).await,
            Err(StoreError::PortsExhausted { .. })
        ));
        store
            .release_ports_except(["b".to_owned()].into())
            .await
            .unwrap();
        assert_eq!(
            store.assign_port("c".into(), 20000, 20001).await.unwrap(),
            20000
        );
        // A freed port is not the next one handed out while others are free.
        let store = Store::open_in_memory().unwrap();
        assert_eq!(
            store.assign_port("a".into(), 20000, 20009).await.unwrap(),
            20000
        );
        store.release_ports_except(BTreeSet::new()).await.unwrap();
        assert_eq!(
            store.assign_port("b".into(), 20000, 20009).await.unwrap(),
            20001
        );
    }

    #[tokio::test]
    async fn destroying_an_app_removes_its_desired_dynos() {
        let store = deployed("web: a\n").await;
        store.delete_app("hello").await.unwrap();
        let state = store.desired_state().await.unwrap();
        assert!(state.dynos.is_empty() && state.apps.is_empty());
    }

    #[tokio::test]
    async fn resize_sets_only_given_fields() {
        let store = deployed("web: a\n").await;
        let size = DynoSize {
            memory_bytes: Some(1 << 30),
            ..DynoSize::default()
        };
        store
            .resize("hello", ProcessType::parse("web").unwrap(), size)
            .await
            .unwrap();
        let size2 = DynoSize {
            tasks: Some(64),
            ..DynoSize::default()
        };
        store
            .resize("hello", ProcessType::parse("web").unwrap(), size2)
            .await
            .unwrap();
        let f = store.formation("hello").await.unwrap();
        assert_eq!(
            f[0].size,
            DynoSize {
                memory_bytes: Some(1 << 30),
                cpu_percent: None,
                tasks: Some(64)
            }
        );
    }
}
