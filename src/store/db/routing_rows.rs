//! Rows of `routes`, `domains` and the routing and sleep columns of `apps`.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use super::{corrupt, StoreError};
use crate::model::{Domain, DynoName, HealthCheck, Route, SleepState};

/// Sets the app's health check (inside whatever transaction `conn` is).
pub(crate) fn write_health_check(
    conn: &Connection,
    app_id: i64,
    check: &HealthCheck,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE apps SET health_path = ?1, health_status = ?2, health_timeout_secs = ?3 WHERE id = ?4",
        params![check.path, check.status, check.timeout.as_secs(), app_id],
    )?;
    Ok(())
}

pub(crate) fn health_check_of(conn: &Connection, app_id: i64) -> Result<HealthCheck, StoreError> {
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

pub(crate) fn domains_of(conn: &Connection, app_id: i64) -> Result<Vec<Domain>, StoreError> {
    let mut stmt = conn.prepare("SELECT domain FROM domains WHERE app_id = ?1 ORDER BY domain")?;
    let rows = stmt.query_map(params![app_id], |r| r.get::<_, String>(0))?;
    rows.map(|d| Domain::parse(&d?).map_err(|e| corrupt("domain", e)))
        .collect()
}

pub(crate) fn routes_of(conn: &Connection, app_id: i64) -> Result<Vec<Route>, StoreError> {
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
pub(crate) fn draining_of(
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

/// The app's sleep state (inside whatever transaction `conn` is).
pub(crate) fn sleep_state_of(conn: &Connection, app_id: i64) -> Result<SleepState, StoreError> {
    let raw: String = conn.query_row(
        "SELECT sleep_state FROM apps WHERE id = ?1",
        params![app_id],
        |r| r.get(0),
    )?;
    SleepState::parse(&raw).ok_or_else(|| corrupt("sleep state", raw))
}

/// Wakes a sleeping app for a scale or restart (inside the caller's transaction): its dynos are
/// wanted again, and the proxy keeps holding requests until they are routed.
pub(crate) fn wake_for_change(conn: &Connection, app_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE apps SET sleep_state = 'waking' WHERE id = ?1 AND sleep_state = 'sleeping'",
        params![app_id],
    )?;
    Ok(())
}
