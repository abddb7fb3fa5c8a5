//! Intents the API records for the reconciler to carry out: restart requests (`ps:restart`).

use rusqlite::{params, Connection, OptionalExtension};

use super::db::{
    app_id, clear_holds, corrupt, current_formation, record_event, stored_app_name,
    wake_for_change, Store, StoreError, NOW,
};
use crate::model::{
    restarted_web_dynos, AppEventNote, AppName, DynoFilter, DynoName, HoldRelease, ProcessType,
};

/// A restart request's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RestartId(i64);

/// A `ps:restart` the reconciler has not carried out yet: web dynos already have their new
/// generation (the rounds replace them beside the routed ones); other dynos matching `filter`
/// are restarted in place by the next round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestartRequest {
    pub(crate) id: RestartId,
    pub(crate) app: AppName,
    pub(crate) filter: DynoFilter,
    /// How many web dynos got a new generation.
    pub(crate) web_replaced: usize,
}

/// A filter as the row's `process_type` and `idx` columns (NULL for "every").
fn filter_columns(filter: &DynoFilter) -> (Option<&str>, Option<u32>) {
    match filter {
        DynoFilter::All => (None, None),
        DynoFilter::Type(t) => (Some(t.as_str()), None),
        DynoFilter::One(d) => (Some(d.process_type.as_str()), Some(d.index)),
    }
}

fn filter_from_columns(
    process_type: Option<String>,
    index: Option<u32>,
) -> Result<DynoFilter, StoreError> {
    let Some(process_type) = process_type else {
        return Ok(DynoFilter::All);
    };
    let process_type =
        ProcessType::parse(&process_type).map_err(|e| corrupt("restart request", e))?;
    Ok(match index {
        None => DynoFilter::Type(process_type),
        Some(index) => DynoFilter::One(DynoName {
            process_type,
            index,
        }),
    })
}

/// Gives the formation's web dynos matching `filter` a new generation; returns how many.
fn bump_web_generations(
    conn: &Connection,
    app_id: i64,
    filter: &DynoFilter,
) -> Result<usize, StoreError> {
    let dynos = restarted_web_dynos(&current_formation(conn, app_id)?, filter);
    for dyno in &dynos {
        conn.execute(
            "INSERT INTO dyno_generations (app_id, process_type, idx, generation) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (app_id, process_type, idx) DO UPDATE SET generation = generation + 1",
            params![app_id, dyno.process_type.as_str(), dyno.index],
        )?;
    }
    Ok(dynos.len())
}

impl Store {
    /// Records `ps:restart` in one transaction: the matching dynos' holds are cleared, web
    /// dynos get a new generation, and a request for the reconciler restarts the others.
    pub(crate) async fn request_restart(
        &self,
        app: &AppName,
        filter: DynoFilter,
        actor: &str,
    ) -> Result<RestartId, StoreError> {
        let (app, actor) = (app.clone(), actor.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            clear_holds(&tx, id, &HoldRelease::Restart(filter.clone()).dynos())?;
            wake_for_change(&tx, id)?;
            let web_replaced = bump_web_generations(&tx, id, &filter)?;
            let (process_type, index) = filter_columns(&filter);
            tx.execute(
                &format!(
                    "INSERT INTO restart_requests (app_id, process_type, idx, web_replaced, created_at)
                     VALUES (?1, ?2, ?3, ?4, {NOW})"
                ),
                params![id, process_type, index, web_replaced],
            )?;
            let request = RestartId(tx.last_insert_rowid());
            record_event(&tx, id, &AppEventNote::restarted(&filter, &actor))?;
            tx.commit()?;
            Ok(request)
        })
        .await
    }

    /// The restart requests not carried out yet, oldest first.
    pub(crate) async fn restart_requests(&self) -> Result<Vec<RestartRequest>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT r.id, a.name, r.process_type, r.idx, r.web_replaced
                 FROM restart_requests r JOIN apps a ON a.id = r.app_id ORDER BY r.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<u32>>(3)?,
                    r.get::<_, usize>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (id, app, process_type, index, web_replaced) = row?;
                Ok(RestartRequest {
                    id: RestartId(id),
                    app: stored_app_name(&app)?,
                    filter: filter_from_columns(process_type, index)?,
                    web_replaced,
                })
            })
            .collect()
        })
        .await
    }

    /// Whether a restart request still waits for the reconciler (false once carried out, or
    /// when its app was destroyed).
    pub(crate) async fn restart_pending(&self, id: RestartId) -> Result<bool, StoreError> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM restart_requests WHERE id = ?1",
                    params![id.0],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
        .await
    }

    /// Forgets a restart request the reconciler carried out.
    pub(crate) async fn finish_restart(&self, id: RestartId) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute("DELETE FROM restart_requests WHERE id = ?1", params![id.0])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HoldReason;
    use crate::model::{Procfile, ScaleChange};

    async fn deployed() -> Store {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("hello").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let procfile = Procfile::parse("web: a\nworker: b\n").unwrap();
        store
            .create_release(app, procfile, "Deploy".into(), |_| Ok(()))
            .await
            .unwrap();
        store
            .go_live(&crate::model::AppName::parse("hello").unwrap())
            .await
            .unwrap();
        let changes = ["web=2", "worker=1"].map(|c| ScaleChange::parse(c).unwrap());
        store
            .scale(
                &crate::model::AppName::parse("hello").unwrap(),
                changes.to_vec(),
                "uid:0",
            )
            .await
            .unwrap();
        store
    }

    fn generations(state: &crate::model::DesiredState) -> Vec<(String, u32)> {
        state
            .dynos
            .keys()
            .map(|u| (u.dyno.to_string(), u.generation))
            .collect()
    }

    #[tokio::test]
    async fn a_restart_request_replaces_web_dynos_and_waits_for_the_others() {
        let web = ProcessType::parse("web").unwrap();
        let worker1 = DynoName::parse("worker.1").unwrap();
        let cases = [
            (DynoFilter::All, 2, [1, 1, 0]),
            (DynoFilter::Type(web), 2, [1, 1, 0]),
            (
                DynoFilter::One(DynoName::parse("web.2").unwrap()),
                1,
                [0, 1, 0],
            ),
            (DynoFilter::One(worker1.clone()), 0, [0, 0, 0]),
        ];
        for (filter, replaced, want) in cases {
            let store = deployed().await;
            store
                .hold_dyno(
                    &crate::model::AppName::parse("hello").unwrap(),
                    &worker1,
                    HoldReason::Crashed,
                )
                .await
                .unwrap();
            let id = store
                .request_restart(
                    &crate::model::AppName::parse("hello").unwrap(),
                    filter.clone(),
                    "uid:0",
                )
                .await
                .unwrap();
            let requests = store.restart_requests().await.unwrap();
            assert_eq!(
                requests,
                [RestartRequest {
                    id,
                    app: AppName::parse("hello").unwrap(),
                    filter: filter.clone(),
                    web_replaced: replaced,
                }]
            );
            let state = store.desired_state().await.unwrap();
            let got: Vec<u32> = generations(&state).into_iter().map(|(_, g)| g).collect();
            let want = if filter.matches(&worker1) {
                want.to_vec()
            } else {
                want[..2].to_vec()
            };
            assert_eq!(got, want, "{filter:?}");
            assert_eq!(
                store
                    .holds(&crate::model::AppName::parse("hello").unwrap())
                    .await
                    .unwrap()
                    .is_empty(),
                filter.matches(&worker1),
                "{filter:?}: holds of matching dynos are cleared"
            );
            assert!(store.restart_pending(id).await.unwrap());
            store.finish_restart(id).await.unwrap();
            assert!(!store.restart_pending(id).await.unwrap());
            assert!(store.restart_requests().await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn destroying_the_app_drops_its_requests() {
        let store = deployed().await;
        let id = store
            .request_restart(
                &crate::model::AppName::parse("hello").unwrap(),
                DynoFilter::All,
                "uid:0",
            )
            .await
            .unwrap();
        store
            .delete_app(&crate::model::AppName::parse("hello").unwrap())
            .await
            .unwrap();
        assert!(!store.restart_pending(id).await.unwrap());
    }
}
