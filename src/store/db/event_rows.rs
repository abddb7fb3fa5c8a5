//! Rows of `app_events`: written in the transaction of the change they tell of.

use rusqlite::{params, Connection};

use super::{corrupt, StoreError, NOW};
use crate::model::{AppEvent, AppEventKind, AppEventNote, KEPT_EVENTS_PER_APP};

/// Records `note` for the app and drops its events beyond the newest [`KEPT_EVENTS_PER_APP`].
pub(crate) fn record_event(
    conn: &Connection,
    app_id: i64,
    note: &AppEventNote,
) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO app_events (app_id, kind, description, actor, created_at)
             VALUES (?1, ?2, ?3, ?4, {NOW})"
        ),
        params![app_id, note.kind.as_str(), note.description, note.actor],
    )?;
    conn.execute(
        "DELETE FROM app_events WHERE app_id = ?1 AND id NOT IN
             (SELECT id FROM app_events WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2)",
        params![app_id, KEPT_EVENTS_PER_APP],
    )?;
    Ok(())
}

/// The app's kept events, newest first.
pub(crate) fn events_of(conn: &Connection, app_id: i64) -> Result<Vec<AppEvent>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT kind, description, actor, created_at FROM app_events
         WHERE app_id = ?1 ORDER BY id DESC",
    )?;
    let rows = stmt.query_map(params![app_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (kind, description, actor, created_at) = row?;
        let kind = AppEventKind::parse(&kind).ok_or_else(|| corrupt("event kind", &kind))?;
        events.push(AppEvent {
            note: AppEventNote {
                kind,
                description,
                actor,
            },
            created_at,
        });
    }
    Ok(events)
}
