//! Sleeping apps' rows: each app's autosleep setting, whether it sleeps, and the moves between
//! awake, sleeping and waking, each one transaction that checks the state it starts from.

use rusqlite::{params, Connection};

use super::db::{app_id, sleep_state_of, stored_app_name, Store, StoreError};
use crate::model::{may_try_waking, AppName, SleepSetting, SleepState};

/// An app's sleep as `ps` and `apps:info` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSleep {
    pub setting: SleepSetting,
    pub state: SleepState,
    /// When it fell asleep (Unix milliseconds), while it sleeps or wakes.
    pub since_ms: Option<i64>,
    /// The last failed wake: when (Unix milliseconds) and why.
    pub wake_failure: Option<(i64, String)>,
}

/// One app as the sleep decision reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SleepRow {
    pub app: AppName,
    pub setting: SleepSetting,
    pub state: SleepState,
    pub rolling_out: bool,
    pub deployed: bool,
    pub serves_web: bool,
}

/// What a request that found an app asleep or waking does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeStart {
    /// The app is awake: the request goes on at once.
    Awake,
    /// This request started the wake; the release then pending, if any, is the one that wakes.
    Started { pending: Option<u32> },
    /// A wake runs already: the request waits for it.
    Joined { pending: Option<u32> },
    /// The last wake failed a moment ago (why): the request gets that answer without a retry.
    Throttled(String),
}

fn app_sleep(conn: &Connection, id: i64) -> Result<AppSleep, StoreError> {
    let (setting, since, failure, failed_at): (Option<u64>, Option<i64>, Option<String>, Option<i64>) =
        conn.query_row(
            "SELECT sleep_after_secs, sleep_since, wake_failure, wake_failed_at FROM apps WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    let state = sleep_state_of(conn, id)?;
    Ok(AppSleep {
        setting: SleepSetting::from_stored(setting),
        state,
        since_ms: since.filter(|_| state.holds_requests()),
        wake_failure: failed_at.zip(failure),
    })
}

fn pending_of(conn: &Connection, id: i64) -> Result<Option<u32>, StoreError> {
    Ok(conn.query_row(
        "SELECT pending_release FROM apps WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )?)
}

impl Store {
    /// Sets the app's own autosleep.
    pub async fn set_autosleep(
        &self,
        app: &AppName,
        setting: SleepSetting,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                "UPDATE apps SET sleep_after_secs = ?1 WHERE id = ?2",
                params![setting.to_stored(), id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn app_sleep(&self, app: &AppName) -> Result<AppSleep, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            app_sleep(conn, id)
        })
        .await
    }

    /// Every app with what decides whether it may sleep.
    pub async fn sleep_rows(&self) -> Result<Vec<SleepRow>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, sleep_after_secs, sleep_state, pending_release IS NOT NULL,
                        current_release IS NOT NULL,
                        EXISTS (SELECT 1 FROM formation f WHERE f.app_id = apps.id
                                AND f.process_type = 'web' AND f.quantity > 0)
                 FROM apps ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<u64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })?;
            rows.map(|row| {
                let (name, setting, state, rolling_out, deployed, serves_web) = row?;
                Ok(SleepRow {
                    app: stored_app_name(&name)?,
                    setting: SleepSetting::from_stored(setting),
                    state: SleepState::parse(&state)
                        .ok_or_else(|| super::db::corrupt("sleep state", &state))?,
                    rolling_out,
                    deployed,
                    serves_web,
                })
            })
            .collect()
        })
        .await
    }

    /// Puts an awake app with no release waiting to go live to sleep: its routed dynos drain
    /// until `drain_until` (Unix seconds) and then stop, as its wanted dynos are none. Returns
    /// whether it fell asleep (false when a request, deploy or scale changed it meanwhile).
    pub async fn put_to_sleep(
        &self,
        app: &AppName,
        now_ms: i64,
        drain_until: i64,
    ) -> Result<bool, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            if sleep_state_of(&tx, id)? != SleepState::Awake || pending_of(&tx, id)?.is_some() {
                return Ok(false);
            }
            tx.execute(
                "UPDATE apps SET sleep_state = 'sleeping', sleep_since = ?1 WHERE id = ?2",
                params![now_ms, id],
            )?;
            tx.execute(
                "UPDATE routes SET draining_until = ?1 WHERE app_id = ?2 AND draining_until IS NULL",
                params![drain_until, id],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// A request for the app found it asleep: starts its wake unless one runs or the last one
    /// failed less than a pause ago. A wake ends the crashed holds, as a restart does.
    pub async fn begin_wake(&self, app: &AppName, now_ms: i64) -> Result<WakeStart, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let pending = pending_of(&tx, id)?;
            let start = match sleep_state_of(&tx, id)? {
                SleepState::Awake => WakeStart::Awake,
                SleepState::Waking => WakeStart::Joined { pending },
                SleepState::Sleeping => {
                    let sleep = app_sleep(&tx, id)?;
                    match sleep.wake_failure {
                        Some((at, why)) if !may_try_waking(Some(at), now_ms) => {
                            WakeStart::Throttled(why)
                        }
                        _ => {
                            tx.execute(
                                "UPDATE apps SET sleep_state = 'waking' WHERE id = ?1",
                                params![id],
                            )?;
                            tx.execute(
                                "DELETE FROM dyno_holds WHERE app_id = ?1 AND reason = 'crashed'",
                                params![id],
                            )?;
                            WakeStart::Started { pending }
                        }
                    }
                }
            };
            tx.commit()?;
            Ok(start)
        })
        .await
    }

    /// A waking app whose web dynos are routed is awake.
    pub async fn mark_awake(&self, app: &AppName) -> Result<bool, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE apps SET sleep_state = 'awake', sleep_since = NULL, wake_failure = NULL,
                    wake_failed_at = NULL
                 WHERE name = ?1 AND sleep_state = 'waking'",
                params![app.as_str()],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    /// A wake that failed: the app sleeps again, with the reason the next requests get.
    pub async fn fail_wake(
        &self,
        app: &AppName,
        reason: String,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            conn.execute(
                "UPDATE apps SET sleep_state = 'sleeping', wake_failure = ?1, wake_failed_at = ?2
                 WHERE name = ?3 AND sleep_state = 'waking'",
                params![reason, now_ms, app.as_str()],
            )?;
            Ok(())
        })
        .await
    }
}
