//! The top of the store: the one read of the desired state, every app's rows in one
//! transaction, turned into dynos and cron jobs by [`DesiredState::from_snapshot`].

use rusqlite::Connection;

use super::db::{
    current_release, draining_of, formation_of, generations_of, health_check_of, holds_of,
    pending_release, routes_of, sleep_state_of, stored_app_name, volumes_of, Store, StoreError,
};
use crate::model::{AppRouting, AppSnapshot, DesiredState};

impl Store {
    /// Every app's rows the desired state comes from (releases, formation, holds, generations,
    /// routes), read in one transaction.
    pub async fn desired_snapshot(&self) -> Result<Vec<AppSnapshot>, StoreError> {
        self.call(|conn| {
            let tx = conn.transaction()?;
            let apps: Vec<(i64, String)> = {
                let mut stmt = tx.prepare("SELECT id, name FROM apps")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let snapshot = apps
                .into_iter()
                .map(|(id, name)| app_snapshot(&tx, id, &name))
                .collect::<Result<_, _>>()?;
            tx.commit()?;
            Ok(snapshot)
        })
        .await
    }

    /// The desired state of [`Store::desired_snapshot`].
    pub async fn desired_state(&self) -> Result<DesiredState, StoreError> {
        Ok(DesiredState::from_snapshot(self.desired_snapshot().await?))
    }
}

fn app_snapshot(conn: &Connection, id: i64, name: &str) -> Result<AppSnapshot, StoreError> {
    let app = stored_app_name(name)?;
    let pending = pending_release(conn, &app)?;
    Ok(AppSnapshot {
        live: current_release(conn, &app)?,
        routing: AppRouting {
            pending: pending.as_ref().map(|r| r.version),
            routed: routes_of(conn, id)?,
            draining: draining_of(conn, id)?,
            health_check: health_check_of(conn, id)?,
            sleep: sleep_state_of(conn, id)?,
        },
        pending,
        formation: formation_of(conn, id)?,
        held: holds_of(conn, id)?.into_iter().map(|h| h.dyno).collect(),
        generations: generations_of(conn, id)?,
        volumes: volumes_of(conn, id)?,
        app,
    })
}
