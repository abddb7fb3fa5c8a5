//! Releases and config vars: creating releases (deploys, config changes, rollbacks), listing them,
//! and which slugs the retention policy keeps.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::dynos::{app_id, clear_holds, corrupt, current_formation, write_formation, DynoFilter};
use super::{Store, StoreError, NOW};
use crate::model::{AppName, ConfigChange, CronJob, Formation, HealthCheck, ProcessType, Procfile};

/// Config vars by key.
pub type ConfigVars = BTreeMap<String, String>;

/// Where a release stands: it goes live only once its web dynos pass their health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseStatus {
    /// Its web dynos are starting beside the live ones.
    Pending,
    /// It went live (it may have been replaced by a newer one since).
    Succeeded,
    /// Its web dynos failed their health check; it never went live.
    Failed,
    /// A newer release replaced it before it went live.
    Superseded,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        Ok(match raw {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "superseded" => Self::Superseded,
            other => return Err(corrupt("release status", other)),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub version: u32,
    /// The release whose slug this one runs: itself for a deploy, an earlier one for config
    /// changes and rollbacks.
    pub slug_version: u32,
    pub procfile: Procfile,
    pub config: ConfigVars,
    pub description: String,
    pub created_at: String,
    pub status: ReleaseStatus,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// Scheduled jobs (app.json `cron`), run as `cron.1`, `cron.2`… while this release is live.
    pub cron: Vec<CronJob>,
}

/// What an app's `app.json` asks for on its first deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstDeployDefaults {
    /// Config vars to set unless already set.
    pub env: ConfigVars,
    /// Dyno counts that replace Heroku's defaults.
    pub formation: BTreeMap<ProcessType, u32>,
}

const RELEASE_COLUMNS: &str = "r.version, r.slug_version, r.procfile, r.config, r.description, \
     r.created_at, r.status, r.failure, r.cron";

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
            status: ReleaseStatus::parse(&status)?,
            failure: r.get(7)?,
            cron: parse_cron(&cron)?,
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
    app: &str,
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
        params![app],
        release_row,
    )
    .optional()?
    .transpose()
}

/// The live release, if any.
pub(super) fn current_release(
    conn: &Connection,
    app: &str,
) -> Result<Option<ReleaseRecord>, StoreError> {
    pointed_release(conn, app, Pointer::Live)
}

/// The release waiting to go live, if any.
pub(super) fn pending_release(
    conn: &Connection,
    app: &str,
) -> Result<Option<ReleaseRecord>, StoreError> {
    pointed_release(conn, app, Pointer::Pending)
}

fn release(
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

fn app_config(conn: &Connection, app_id: i64) -> Result<ConfigVars, StoreError> {
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
fn insert_release(
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
    clear_holds(tx, app_id, &DynoFilter::All)?;
    release(tx, app_id, version)?.ok_or_else(|| StoreError::Task("release vanished".into()))
}

/// The newest release: the pending one, else the live one.
fn newest_release(conn: &Connection, app: &str) -> Result<Option<ReleaseRecord>, StoreError> {
    match pending_release(conn, app)? {
        Some(p) => Ok(Some(p)),
        None => current_release(conn, app),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("app {app} has no release v{version}")]
    NoSuchRelease { app: String, version: u32 },
    #[error("v{version} is already the live release of {app}")]
    AlreadyLive { app: String, version: u32 },
    #[error("app {0} has no earlier release to roll back to")]
    NothingEarlier(String),
    #[error("v{version} never went live (it {status}); roll back to a release that did")]
    NeverLive { version: u32, status: &'static str },
    #[error("the slug of v{version} was removed by the retention policy (keep_releases); roll back to a newer release")]
    SlugGone { version: u32 },
}

impl Store {
    /// Makes a new release from a new slug live in one transaction. `install_slug(version)` runs
    /// inside it (it moves the built slug into place); if it fails, nothing is recorded.
    pub async fn create_release<F>(
        &self,
        app: AppName,
        procfile: Procfile,
        description: String,
        install_slug: F,
    ) -> Result<ReleaseRecord, StoreError>
    where
        F: FnOnce(u32) -> Result<(), String> + Send + 'static,
    {
        self.create_release_with_defaults(
            app,
            procfile,
            description,
            FirstDeployDefaults::default(),
            Vec::new(),
            None,
            install_slug,
        )
        .await
    }

    /// [`Store::create_release`] with the slug's scheduled jobs, applying `defaults` when this
    /// is the app's first release and setting the app's `health_check` when given.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_release_with_defaults<F>(
        &self,
        app: AppName,
        procfile: Procfile,
        description: String,
        defaults: FirstDeployDefaults,
        cron: Vec<CronJob>,
        health_check: Option<HealthCheck>,
        install_slug: F,
    ) -> Result<ReleaseRecord, StoreError>
    where
        F: FnOnce(u32) -> Result<(), String> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, app.as_str())?;
            let previous = newest_release(&tx, app.as_str())?;
            let mut config = app_config(&tx, id)?;
            let current = current_formation(&tx, id)?;
            let next =
                match previous {
                    Some(_) => current.carried_to(&procfile),
                    None => {
                        for (key, value) in defaults.env {
                            config.entry(key).or_insert(value);
                        }
                        let base = Formation::defaults_for(&procfile);
                        Formation::from_counts(base.iter().map(|(t, n)| {
                            (t.clone(), defaults.formation.get(t).copied().unwrap_or(n))
                        }))
                    }
                };
            let release = insert_release(&tx, id, &procfile, &config, None, &cron, &description)?;
            write_formation(&tx, id, &next)?;
            if let Some(check) = health_check {
                tx.execute(
                    "UPDATE apps SET health_path = ?1, health_status = ?2, health_timeout_secs = ?3 WHERE id = ?4",
                    params![check.path, check.status, check.timeout.as_secs(), id],
                )?;
            }
            install_slug(release.version).map_err(StoreError::Task)?;
            tx.commit()?;
            Ok(release)
        })
        .await
    }

    /// The app's config vars (those of its next release).
    pub async fn config(&self, app: &str) -> Result<ConfigVars, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            app_config(conn, id)
        })
        .await
    }

    /// Applies config changes; when the app is deployed, makes a release with the newest slug and
    /// the new config (returned) so its dynos restart with it.
    pub async fn change_config(
        &self,
        app: &str,
        changes: Vec<ConfigChange>,
        description: String,
    ) -> Result<(ConfigVars, Option<ReleaseRecord>), StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let mut config = app_config(&tx, id)?;
            for change in changes {
                match change.value {
                    Some(v) => config.insert(change.key.to_string(), v),
                    None => config.remove(change.key.as_str()),
                };
            }
            let record = match newest_release(&tx, &app)? {
                Some(base) => Some(insert_release(
                    &tx,
                    id,
                    &base.procfile,
                    &config,
                    Some(base.slug_version),
                    &base.cron,
                    &description,
                )?),
                None => {
                    tx.execute(
                        "UPDATE apps SET config = ?1 WHERE id = ?2",
                        params![config_json(&config)?, id],
                    )?;
                    None
                }
            };
            tx.commit()?;
            Ok((config, record))
        })
        .await
    }

    /// Releases, newest first.
    pub async fn releases(&self, app: &str) -> Result<Vec<ReleaseRecord>, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = ?1 ORDER BY r.version DESC"
            ))?;
            let rows = stmt.query_map(params![id], release_row)?;
            rows.map(|row| row?).collect()
        })
        .await
    }

    /// One release, `None` when the app has no such version.
    pub async fn release(
        &self,
        app: &str,
        version: u32,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            release(conn, id, version)
        })
        .await
    }

    /// A new release with `target`'s slug, Procfile and config (default: the newest release
    /// before the live one that went live). `slug_exists` tells whether a slug is still on disk.
    pub async fn rollback<F>(
        &self,
        app: &str,
        target: Option<u32>,
        slug_exists: F,
    ) -> Result<Result<ReleaseRecord, RollbackError>, StoreError>
    where
        F: Fn(u32) -> bool + Send + 'static,
    {
        let app = app.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let Some(live) = current_release(&tx, &app)? else {
                return Err(StoreError::NotDeployed(app));
            };
            let earlier: Option<u32> = tx.query_row(
                "SELECT max(version) FROM releases WHERE app_id = ?1 AND version < ?2 AND status = 'succeeded'",
                params![id, live.version],
                |r| r.get(0),
            )?;
            let version = match (target, earlier) {
                (Some(v), _) | (None, Some(v)) => v,
                (None, None) => return Ok(Err(RollbackError::NothingEarlier(app))),
            };
            if version == live.version {
                return Ok(Err(RollbackError::AlreadyLive { app, version }));
            }
            let Some(old) = release(&tx, id, version)? else {
                return Ok(Err(RollbackError::NoSuchRelease { app, version }));
            };
            if old.status != ReleaseStatus::Succeeded {
                return Ok(Err(RollbackError::NeverLive {
                    version,
                    status: old.status.as_str(),
                }));
            }
            if !slug_exists(old.slug_version) {
                return Ok(Err(RollbackError::SlugGone { version }));
            }
            let current = current_formation(&tx, id)?;
            let release = insert_release(
                &tx,
                id,
                &old.procfile,
                &old.config,
                Some(old.slug_version),
                &old.cron,
                &format!("Rollback to v{version}"),
            )?;
            write_formation(&tx, id, &current.carried_to(&old.procfile))?;
            tx.commit()?;
            Ok(Ok(release))
        })
        .await
    }

    /// Slug versions the retention policy keeps: the live and pending releases' and those of the
    /// newest `keep` releases.
    pub async fn slugs_to_keep(&self, app: &str, keep: u32) -> Result<BTreeSet<u32>, StoreError> {
        let app = app.to_owned();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let mut kept: BTreeSet<u32> = current_release(conn, &app)?
                .into_iter()
                .chain(pending_release(conn, &app)?)
                .map(|r| r.slug_version)
                .collect();
            let mut stmt = conn.prepare(
                "SELECT COALESCE(slug_version, version) FROM releases WHERE app_id = ?1 ORDER BY version DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![id, keep], |r| r.get::<_, u32>(0))?;
            for v in rows {
                kept.insert(v?);
            }
            Ok(kept)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    async fn deployed(store: &Store, procfile: &str) -> ReleaseRecord {
        let release = store
            .create_release(
                app("hello"),
                Procfile::parse(procfile).unwrap(),
                "Deploy".into(),
                |_| Ok(()),
            )
            .await
            .unwrap();
        store.go_live("hello").await.unwrap();
        store
            .release("hello", release.version)
            .await
            .unwrap()
            .unwrap()
    }

    fn set(k: &str, v: &str) -> ConfigChange {
        ConfigChange::set(k, v).unwrap()
    }

    #[tokio::test]
    async fn config_before_the_first_deploy_makes_no_release_and_reaches_it() {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("hello")).await.unwrap();
        let (config, release) = store
            .change_config("hello", vec![set("A", "1")], "Set A config var".into())
            .await
            .unwrap();
        assert_eq!(config["A"], "1");
        assert!(release.is_none());
        let v1 = deployed(&store, "web: x").await;
        assert_eq!((v1.version, v1.slug_version), (1, 1));
        assert_eq!(v1.config["A"], "1");
    }

    #[tokio::test]
    async fn config_changes_make_releases_that_reuse_the_live_slug() {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("hello")).await.unwrap();
        deployed(&store, "web: x").await;
        let (_, v2) = store
            .change_config(
                "hello",
                vec![set("SECRET", "a\nb"), set("B", "2")],
                "Set".into(),
            )
            .await
            .unwrap();
        let v2 = v2.unwrap();
        assert_eq!((v2.version, v2.slug_version), (2, 1));
        let (config, v3) = store
            .change_config(
                "hello",
                vec![ConfigChange::unset("B").unwrap()],
                "Remove".into(),
            )
            .await
            .unwrap();
        assert_eq!(config.keys().collect::<Vec<_>>(), ["SECRET"]);
        assert_eq!(v3.unwrap().config, config);
        let v4 = deployed(&store, "web: y").await;
        assert_eq!((v4.version, v4.slug_version), (4, 4));
        assert_eq!(v4.config["SECRET"], "a\nb");
    }

    #[tokio::test]
    async fn rollback_takes_the_old_slug_and_config_and_checks_its_target() {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("hello")).await.unwrap();
        deployed(&store, "web: one").await;
        store
            .change_config("hello", vec![set("A", "1")], "Set A".into())
            .await
            .unwrap();
        store.go_live("hello").await.unwrap();
        deployed(&store, "web: two").await;
        let back = store
            .rollback("hello", Some(1), |_| true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((back.version, back.slug_version), (4, 1));
        assert_eq!(back.description, "Rollback to v1");
        assert!(back.config.is_empty());
        assert_eq!(store.config("hello").await.unwrap(), back.config);
        store.go_live("hello").await.unwrap();
        let previous = store
            .rollback("hello", None, |_| true)
            .await
            .unwrap()
            .unwrap();
        store.go_live("hello").await.unwrap();
        assert_eq!(
            (
                previous.version,
                previous.slug_version,
                previous.config["A"].as_str()
            ),
            (5, 3, "1")
        );
        assert!(matches!(
            store.rollback("hello", Some(9), |_| true).await.unwrap(),
            Err(RollbackError::NoSuchRelease { version: 9, .. })
        ));
        assert!(matches!(
            store.rollback("hello", Some(5), |_| true).await.unwrap(),
            Err(RollbackError::AlreadyLive { .. })
        ));
        assert!(matches!(
            store.rollback("hello", Some(2), |v| v != 1).await.unwrap(),
            Err(RollbackError::SlugGone { version: 2 })
        ));
        assert_eq!(store.releases("hello").await.unwrap().len(), 5);
        // A release that failed its health check never went live: no rollback to it, and the
        // default target skips it.
        store
            .create_release(
                app("hello"),
                Procfile::parse("web: broken").unwrap(),
                "Deploy".into(),
                |_| Ok(()),
            )
            .await
            .unwrap();
        assert!(store
            .fail_release("hello", 6, "web.1 timed out".into())
            .await
            .unwrap());
        let (status, failure) = store.release_status("hello", 6).await.unwrap();
        assert_eq!(
            (status, failure.as_deref()),
            (ReleaseStatus::Failed, Some("web.1 timed out"))
        );
        assert!(matches!(
            store.rollback("hello", Some(6), |_| true).await.unwrap(),
            Err(RollbackError::NeverLive { version: 6, .. })
        ));
        let back = store
            .rollback("hello", None, |_| true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.description, "Rollback to v4");
    }

    #[tokio::test]
    async fn retention_keeps_the_newest_releases_slugs_and_the_live_one() {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("hello")).await.unwrap();
        for _ in 0..6 {
            deployed(&store, "web: x").await;
        }
        assert_eq!(
            store.slugs_to_keep("hello", 2).await.unwrap(),
            [5, 6].into()
        );
        store
            .rollback("hello", Some(1), |_| true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.slugs_to_keep("hello", 2).await.unwrap(),
            [1, 6].into()
        );
    }

    #[tokio::test]
    async fn first_deploy_applies_app_json_defaults_without_overriding_config() {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("hello")).await.unwrap();
        store
            .change_config("hello", vec![set("KEEP", "mine")], "Set".into())
            .await
            .unwrap();
        let defaults = FirstDeployDefaults {
            env: [
                ("KEEP".to_owned(), "theirs".to_owned()),
                ("NEW".to_owned(), "x".to_owned()),
            ]
            .into(),
            formation: [(ProcessType::parse("worker").unwrap(), 2)].into(),
        };
        let v1 = store
            .create_release_with_defaults(
                app("hello"),
                Procfile::parse("web: a\nworker: b").unwrap(),
                "Deploy".into(),
                defaults.clone(),
                vec![CronJob::new("python task.py", "*/10 * * * *").unwrap()],
                None,
                |_| Ok(()),
            )
            .await
            .unwrap();
        store.go_live("hello").await.unwrap();
        assert_eq!(v1.cron[0].command, "python task.py");
        // A config change runs the same slug, so the same scheduled jobs.
        let (_, v2) = store
            .change_config("hello", vec![], "Set X".into())
            .await
            .unwrap();
        assert_eq!(v2.unwrap().cron, v1.cron);
        assert_eq!(
            (v1.config["KEEP"].as_str(), v1.config["NEW"].as_str()),
            ("mine", "x")
        );
        let counts: Vec<(String, u32)> = store
            .formation("hello")
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.process_type.to_string(), f.quantity))
            .collect();
        assert_eq!(counts, [("web".to_owned(), 1), ("worker".to_owned(), 2)]);
    }
}
