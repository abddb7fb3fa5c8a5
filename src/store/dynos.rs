//! Formation, dyno sizes, holds, restart generations and web ports.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, OptionalExtension};

use super::db::{
    app_id, clear_holds, current_formation, current_release, formation_of, holds_of, record_event,
    wake_for_change, write_formation, Store, StoreError, NOW,
};
use crate::model::{
    check_resizable, AppEventNote, AppName, DynoName, DynoSize, Hold, HoldReason, HoldRelease,
    ProcessType, ScaleChange,
};

/// One process type of an app's formation, as `ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormationEntry {
    pub process_type: ProcessType,
    pub quantity: u32,
    pub command: String,
    pub size: DynoSize,
}

impl Store {
    /// The app's formation joined with its current Procfile, by process type.
    pub async fn formation(&self, app: &AppName) -> Result<Vec<FormationEntry>, StoreError> {
        let app = app.clone();
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

    /// Applies `ps:scale` changes in one transaction, clears the app's holds and records the
    /// event, made by `actor`.
    pub async fn scale(
        &self,
        app: &AppName,
        changes: Vec<ScaleChange>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let (app, actor) = (app.clone(), actor.to_owned());
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
            clear_holds(&tx, id, &HoldRelease::Scale.dynos())?;
            wake_for_change(&tx, id)?;
            record_event(&tx, id, &AppEventNote::scaled(&changes, &next, &actor))?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Sets size overrides of one process type (only the given fields change) and records the
    /// event, made by `actor`.
    pub async fn resize(
        &self,
        app: &AppName,
        process_type: &ProcessType,
        size: DynoSize,
        actor: &str,
    ) -> Result<(), StoreError> {
        let (app, actor) = (app.clone(), actor.to_owned());
        let process_type = process_type.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let release =
                current_release(&tx, &app)?.ok_or_else(|| StoreError::NotDeployed(app.clone()))?;
            check_resizable(&release.procfile, &process_type).map_err(StoreError::Scale)?;
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
            record_event(
                &tx,
                id,
                &AppEventNote::resized(&process_type, &size, &actor),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Keeps a dyno down (ps:stop, or a crash the reconciler saw).
    pub async fn hold_dyno(
        &self,
        app: &AppName,
        dyno: &DynoName,
        reason: HoldReason,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        let dyno = dyno.clone();
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

    pub async fn holds(&self, app: &AppName) -> Result<Vec<Hold>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            holds_of(conn, id)
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
    use crate::model::{AppName, DesiredState, Procfile};

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
        store.go_live(&app("hello")).await.unwrap();
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
                &app("hello"),
                vec![
                    ScaleChange::parse("web=2").unwrap(),
                    ScaleChange::parse("worker+1").unwrap(),
                ],
                "uid:0",
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
        store.go_live(&app("hello")).await.unwrap();
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
            .scale(
                &app("hello"),
                vec![ScaleChange::parse("clock=1").unwrap()],
                "uid:0",
            )
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
                .current_release(&app("hello"))
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
            .scale(
                &app("hello"),
                vec![ScaleChange::parse("web=2").unwrap()],
                "uid:0",
            )
            .await
            .unwrap();
        store
            .hold_dyno(
                &app("hello"),
                &DynoName::parse("web.2").unwrap(),
                HoldReason::Crashed,
            )
            .await
            .unwrap();
        assert_eq!(
            names(&store.desired_state().await.unwrap()),
            ["skiff-hello.web.1.v1.service"]
        );
        assert_eq!(
            store.holds(&app("hello")).await.unwrap()[0].reason,
            HoldReason::Crashed
        );
        store
            .scale(
                &app("hello"),
                vec![ScaleChange::parse("web=2").unwrap()],
                "uid:0",
            )
            .await
            .unwrap();
        assert_eq!(store.desired_state().await.unwrap().dynos.len(), 2);
        assert!(store.holds(&app("hello")).await.unwrap().is_empty());
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
        store.delete_app(&app("hello")).await.unwrap();
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
            .resize(
                &app("hello"),
                &ProcessType::parse("web").unwrap(),
                size,
                "uid:0",
            )
            .await
            .unwrap();
        let size2 = DynoSize {
            tasks: Some(64),
            ..DynoSize::default()
        };
        store
            .resize(
                &app("hello"),
                &ProcessType::parse("web").unwrap(),
                size2,
                "uid:0",
            )
            .await
            .unwrap();
        let f = store.formation(&app("hello")).await.unwrap();
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
