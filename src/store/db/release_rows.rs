//! Rows of `releases` and the release pointers and config of `apps`.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::dyno_rows::clear_holds;
use super::{corrupt, StoreError, NOW};
use crate::model::{
    AppName, ConfigChange, ConfigVars, CronJob, HoldRelease, Procfile, ReleaseRecord, ReleaseStatus,
};

const RELEASE_COLUMNS: &str = "r.version, r.slug_version, r.procfile, r.config, r.description, \
     r.created_at, r.status, r.failure, r.cron, r.build_id";

fn release_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ReleaseRecord, StoreError>> {
    let version: u32 = r.get(0)?;
    let slug_version: Option<u32> = r.get(1)?;
    let procfile: String = r.get(2)?;
    let config: String = r.get(3)?;
    let status: String = r.get(6)?;
    let cron: String = r.get(8)?;
    let record = (|| {
        Ok(ReleaseRecord {
            version,
            slug_version: slug_version.unwrap_or(version),
            procfile: Procfile::parse(&procfile).map_err(|e| corrupt("release", e))?,
            config: parse_config(&config)?,
            description: r.get(4)?,
            created_at: r.get(5)?,
            status: ReleaseStatus::parse(&status)
                .ok_or_else(|| corrupt("release status", &status))?,
            failure: r.get(7)?,
            cron: parse_cron(&cron)?,
            build_id: r.get(9)?,
        })
    })();
    Ok(record)
}

/// A scheduled job as stored in `releases.cron`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCron {
    command: String,
    schedule: String,
}

fn parse_cron(json: &str) -> Result<Vec<CronJob>, StoreError> {
    let stored: Vec<StoredCron> =
        serde_json::from_str(json).map_err(|e| corrupt("cron jobs", e))?;
    stored
        .iter()
        .map(|c| CronJob::new(&c.command, &c.schedule).map_err(|e| corrupt("cron jobs", e)))
        .collect()
}

fn cron_json(jobs: &[CronJob]) -> Result<String, StoreError> {
    let stored: Vec<StoredCron> = jobs
        .iter()
        .map(|j| StoredCron {
            command: j.command.clone(),
            schedule: j.schedule.to_string(),
        })
        .collect();
    serde_json::to_string(&stored).map_err(|e| StoreError::Task(e.to_string()))
}

fn parse_config(json: &str) -> Result<ConfigVars, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt("config vars", e))
}

fn config_json(config: &ConfigVars) -> Result<String, StoreError> {
    serde_json::to_string(config).map_err(|e| StoreError::Task(e.to_string()))
}

/// Which release of an app a column of `apps` points at.
#[derive(Clone, Copy)]
enum Pointer {
    /// `current_release`: the live one.
    Live,
    /// `pending_release`: the one waiting to go live.
    Pending,
}

fn pointed_release(
    conn: &Connection,
    app: &AppName,
    pointer: Pointer,
) -> Result<Option<ReleaseRecord>, StoreError> {
    let column = match pointer {
        Pointer::Live => "current_release",
        Pointer::Pending => "pending_release",
    };
    conn.query_row(
        &format!(
            "SELECT {RELEASE_COLUMNS} FROM apps a
             JOIN releases r ON r.app_id = a.id AND r.version = a.{column} WHERE a.name = ?1"
        ),
        params![app.as_str()],
        release_row,
    )
    .optional()?
    .transpose()
}

/// The live release, if any.
pub(crate) fn current_release(
    conn: &Connection,
    app: &AppName,
) -> Result<Option<ReleaseRecord>, StoreError> {
    pointed_release(conn, app, Pointer::Live)
}

/// The release waiting to go live, if any.
pub(crate) fn pending_release(
    conn: &Connection,
    app: &AppName,
) -> Result<Option<ReleaseRecord>, StoreError> {
    pointed_release(conn, app, Pointer::Pending)
}

pub(crate) fn release(
    conn: &Connection,
    app_id: i64,
    version: u32,
) -> Result<Option<ReleaseRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = ?1 AND r.version = ?2"),
        params![app_id, version],
        release_row,
    )
    .optional()?
    .transpose()
}

pub(crate) fn app_config(conn: &Connection, app_id: i64) -> Result<ConfigVars, StoreError> {
    let json: String = conn.query_row(
        "SELECT config FROM apps WHERE id = ?1",
        params![app_id],
        |r| r.get(0),
    )?;
    parse_config(&json)
}

/// Inserts the next release as the app's pending one (it goes live once its web dynos are
/// healthy; a pending one it replaces is superseded) and returns it. Holds are cleared: a release
/// restarts every dyno.
pub(crate) fn insert_release(
    tx: &Transaction,
    app_id: i64,
    procfile: &Procfile,
    config: &ConfigVars,
    slug_version: Option<u32>,
    cron: &[CronJob],
    description: &str,
) -> Result<ReleaseRecord, StoreError> {
    let last: Option<u32> = tx.query_row(
        "SELECT max(version) FROM releases WHERE app_id = ?1",
        params![app_id],
        |r| r.get(0),
    )?;
    let version = last.unwrap_or(0) + 1;
    tx.execute(
        "UPDATE releases SET status = 'superseded' WHERE app_id = ?1 AND status = 'pending'",
        params![app_id],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO releases (app_id, version, slug_version, procfile, config, description, created_at, status, cron)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, {NOW}, 'pending', ?7)"
        ),
        params![app_id, version, slug_version.unwrap_or(version), procfile.render(), config_json(config)?, description, cron_json(cron)?],
    )?;
    tx.execute(
        "UPDATE apps SET pending_release = ?1, config = ?2 WHERE id = ?3",
        params![version, config_json(config)?, app_id],
    )?;
    clear_holds(tx, app_id, &HoldRelease::NewRelease.dynos())?;
    release(tx, app_id, version)?.ok_or_else(|| StoreError::Task("release vanished".into()))
}

/// Applies config changes inside `tx`; when the app is deployed, makes a release with the newest
/// slug and the new config so its dynos restart with it. Returns the config and that release.
pub(crate) fn change_config(
    tx: &Transaction,
    app_id: i64,
    app: &AppName,
    changes: &[ConfigChange],
    description: &str,
) -> Result<(ConfigVars, Option<ReleaseRecord>), StoreError> {
    let mut config = app_config(tx, app_id)?;
    for change in changes {
        match &change.value {
            Some(v) => config.insert(change.key.to_string(), v.clone()),
            None => config.remove(change.key.as_str()),
        };
    }
    let record = match newest_release(tx, app)? {
        Some(base) => Some(insert_release(
            tx,
            app_id,
            &base.procfile,
            &config,
            Some(base.slug_version),
            &base.cron,
            description,
        )?),
        None => {
            tx.execute(
                "UPDATE apps SET config = ?1 WHERE id = ?2",
                params![config_json(&config)?, app_id],
            )?;
            None
        }
    };
    Ok((config, record))
}

/// Every release of the app, newest first.
pub(crate) fn releases_of(
    conn: &Connection,
    app_id: i64,
) -> Result<Vec<ReleaseRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = ?1 ORDER BY r.version DESC"
    ))?;
    let rows = stmt.query_map(params![app_id], release_row)?;
    rows.map(|row| row?).collect()
}

/// The newest release: the pending one, else the live one.
pub(crate) fn newest_release(
    conn: &Connection,
    app: &AppName,
) -> Result<Option<ReleaseRecord>, StoreError> {
    match pending_release(conn, app)? {
        Some(p) => Ok(Some(p)),
        None => current_release(conn, app),
    }
}
