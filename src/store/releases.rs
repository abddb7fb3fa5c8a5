//! Releases and config vars: creating releases (deploys, config changes, rollbacks), listing
//! them, failing a pending one, and which slugs the retention policy keeps.

use std::collections::BTreeSet;

use rusqlite::params;

use super::db::{
    app_config, app_id, change_config, current_formation, current_release, insert_release,
    newest_release, pending_release, release, releases_of, write_formation, write_health_check,
    Store, StoreError,
};
use crate::model::{
    deploy_start, rollback_target, AppName, BuiltRelease, ConfigChange, ConfigVars, ReleaseRecord,
    ReleaseStatus, ReleaseVersion, RollbackError,
};

impl Store {
    /// Makes a new release from a new slug live in one transaction. `install_slug(version)` runs
    /// inside it (it moves the built slug into place); if it fails, nothing is recorded.
    #[cfg(test)]
    pub async fn create_release<F>(
        &self,
        app: AppName,
        procfile: crate::model::Procfile,
        description: String,
        install_slug: F,
    ) -> Result<ReleaseRecord, StoreError>
    where
        F: FnOnce(u32) -> Result<(), String> + Send + 'static,
    {
        let built = BuiltRelease {
            procfile,
            description,
            defaults: crate::model::FirstDeployDefaults::default(),
            cron: Vec::new(),
            health_check: None,
            build_id: None,
        };
        self.create_release_from_build(app, built, install_slug)
            .await
    }

    /// [`Store::create_release`] from a build: its slug's scheduled jobs, `defaults` applied when
    /// this is the app's first release, the app's `health_check` set when given, and the build
    /// recorded so its output can be found.
    pub async fn create_release_from_build<F>(
        &self,
        app: AppName,
        built: BuiltRelease,
        install_slug: F,
    ) -> Result<ReleaseRecord, StoreError>
    where
        F: FnOnce(u32) -> Result<(), String> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let first_deploy = newest_release(&tx, &app)?.is_none();
            let current = current_formation(&tx, id)?;
            let (config, next) = deploy_start(
                first_deploy,
                app_config(&tx, id)?,
                &current,
                &built.procfile,
                built.defaults,
            );
            let mut release = insert_release(
                &tx,
                id,
                &built.procfile,
                &config,
                None,
                &built.cron,
                &built.description,
            )?;
            if let Some(build_id) = &built.build_id {
                tx.execute(
                    "UPDATE releases SET build_id = ?1 WHERE app_id = ?2 AND version = ?3",
                    params![build_id, id, release.version],
                )?;
                release.build_id = Some(build_id.clone());
            }
            write_formation(&tx, id, &next)?;
            if let Some(check) = &built.health_check {
                write_health_check(&tx, id, check)?;
            }
            install_slug(release.version).map_err(StoreError::Task)?;
            tx.commit()?;
            Ok(release)
        })
        .await
    }

    /// The app's config vars (those of its next release).
    pub async fn config(&self, app: &AppName) -> Result<ConfigVars, StoreError> {
        let app = app.clone();
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
        app: &AppName,
        changes: Vec<ConfigChange>,
        description: String,
    ) -> Result<(ConfigVars, Option<ReleaseRecord>), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let changed = change_config(&tx, id, &app, &changes, &description)?;
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    /// Releases, newest first.
    pub async fn releases(&self, app: &AppName) -> Result<Vec<ReleaseRecord>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            releases_of(conn, id)
        })
        .await
    }

    /// One release, `None` when the app has no such version.
    pub async fn release(
        &self,
        app: &AppName,
        version: ReleaseVersion,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            release(conn, id, version.get())
        })
        .await
    }

    /// A new release with `target`'s slug, Procfile and config (default: the newest release
    /// before the live one that went live). `slug_exists` tells whether a slug is still on disk.
    pub async fn rollback<F>(
        &self,
        app: &AppName,
        target: Option<ReleaseVersion>,
        slug_exists: F,
    ) -> Result<Result<ReleaseRecord, RollbackError>, StoreError>
    where
        F: Fn(u32) -> bool + Send + 'static,
    {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let Some(live) = current_release(&tx, &app)? else {
                return Err(StoreError::NotDeployed(app));
            };
            let history = releases_of(&tx, id)?;
            let old =
                match rollback_target(&app, live.version.into(), target, &history, slug_exists) {
                    Ok(old) => old,
                    Err(refused) => return Ok(Err(refused)),
                };
            let version = old.version;
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

    /// The release waiting to go live, if any.
    pub async fn pending_release(
        &self,
        app: &AppName,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        let app = app.clone();
        self.call(move |conn| pending_release(conn, &app)).await
    }

    pub async fn current_release(
        &self,
        app: &AppName,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            app_id(conn, &app)?;
            current_release(conn, &app)
        })
        .await
    }

    /// Marks a pending release failed with `reason`: it never goes live, and the app's config
    /// goes back to the live release's. Returns false when it was no longer pending.
    pub async fn fail_release(
        &self,
        app: &AppName,
        version: ReleaseVersion,
        reason: String,
    ) -> Result<bool, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            if pending_release(&tx, &app)?.map(|r| r.version) != Some(version.get()) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE releases SET status = 'failed', failure = ?1 WHERE app_id = ?2 AND version = ?3",
                params![reason, id, version.get()],
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
        app: &AppName,
        version: ReleaseVersion,
    ) -> Result<(ReleaseStatus, Option<String>), StoreError> {
        let record = self
            .release(app, version)
            .await?
            .ok_or_else(|| StoreError::Task(format!("release {version} of {app} vanished")))?;
        Ok((record.status, record.failure))
    }

    /// Slug versions the retention policy keeps: the live and pending releases' and those of the
    /// newest `keep` releases.
    pub async fn slugs_to_keep(
        &self,
        app: &AppName,
        keep: u32,
    ) -> Result<BTreeSet<u32>, StoreError> {
        let app = app.clone();
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
    use crate::model::{CronJob, FirstDeployDefaults, ProcessType, Procfile};

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
        store.go_live(&app("hello")).await.unwrap();
        store
            .release(&app("hello"), release.version.into())
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
            .change_config(
                &app("hello"),
                vec![set("A", "1")],
                "Set A config var".into(),
            )
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
                &app("hello"),
                vec![set("SECRET", "a\nb"), set("B", "2")],
                "Set".into(),
            )
            .await
            .unwrap();
        let v2 = v2.unwrap();
        assert_eq!((v2.version, v2.slug_version), (2, 1));
        let (config, v3) = store
            .change_config(
                &app("hello"),
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
            .change_config(&app("hello"), vec![set("A", "1")], "Set A".into())
            .await
            .unwrap();
        store.go_live(&app("hello")).await.unwrap();
        deployed(&store, "web: two").await;
        let back = store
            .rollback(&app("hello"), Some(1.into()), |_| true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((back.version, back.slug_version), (4, 1));
        assert_eq!(back.description, "Rollback to v1");
        assert!(back.config.is_empty());
        assert_eq!(store.config(&app("hello")).await.unwrap(), back.config);
        store.go_live(&app("hello")).await.unwrap();
        let previous = store
            .rollback(&app("hello"), None, |_| true)
            .await
            .unwrap()
            .unwrap();
        store.go_live(&app("hello")).await.unwrap();
        assert_eq!(
            (
                previous.version,
                previous.slug_version,
                previous.config["A"].as_str()
            ),
            (5, 3, "1")
        );
        assert!(matches!(
            store.rollback(&app("hello"), Some(9.into()), |_| true).await.unwrap(),
            Err(RollbackError::NoSuchRelease { version, .. }) if version == ReleaseVersion::from(9)
        ));
        assert!(matches!(
            store
                .rollback(&app("hello"), Some(5.into()), |_| true)
                .await
                .unwrap(),
            Err(RollbackError::AlreadyLive { .. })
        ));
        assert!(matches!(
            store.rollback(&app("hello"), Some(2.into()), |v| v != 1).await.unwrap(),
            Err(RollbackError::SlugGone { version }) if version == ReleaseVersion::from(2)
        ));
        assert_eq!(store.releases(&app("hello")).await.unwrap().len(), 5);
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
            .fail_release(&app("hello"), 6.into(), "web.1 timed out".into())
            .await
            .unwrap());
        let (status, failure) = store.release_status(&app("hello"), 6.into()).await.unwrap();
        assert_eq!(
            (status, failure.as_deref()),
            (ReleaseStatus::Failed, Some("web.1 timed out"))
        );
        assert!(matches!(
            store.rollback(&app("hello"), Some(6.into()), |_| true).await.unwrap(),
            Err(RollbackError::NeverLive { version, .. }) if version == ReleaseVersion::from(6)
        ));
        let back = store
            .rollback(&app("hello"), None, |_| true)
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
            store.slugs_to_keep(&app("hello"), 2).await.unwrap(),
            [5, 6].into()
        );
        store
            .rollback(&app("hello"), Some(1.into()), |_| true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.slugs_to_keep(&app("hello"), 2).await.unwrap(),
            [1, 6].into()
        );
    }

    #[tokio::test]
    async fn first_deploy_applies_app_json_defaults_without_overriding_config() {
        let store = Store::open_in_memory().unwrap();
        store.create_app(app("hello")).await.unwrap();
        store
            .change_config(&app("hello"), vec![set("KEEP", "mine")], "Set".into())
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
        let built = BuiltRelease {
            procfile: Procfile::parse("web: a\nworker: b").unwrap(),
            description: "Deploy".into(),
            defaults: defaults.clone(),
            cron: vec![CronJob::new("python task.py", "*/10 * * * *").unwrap()],
            health_check: None,
            build_id: Some("0123456789ab".into()),
        };
        let v1 = store
            .create_release_from_build(app("hello"), built, |_| Ok(()))
            .await
            .unwrap();
        assert_eq!(v1.build_id.as_deref(), Some("0123456789ab"));
        store.go_live(&app("hello")).await.unwrap();
        assert_eq!(v1.cron[0].command, "python task.py");
        // A config change runs the same slug, so the same scheduled jobs.
        let (_, v2) = store
            .change_config(&app("hello"), vec![], "Set X".into())
            .await
            .unwrap();
        let v2 = v2.unwrap();
        assert_eq!(v2.cron, v1.cron);
        assert_eq!(v2.build_id, None, "a config change makes no build");
        let stored = store
            .release(&app("hello"), v1.version.into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.build_id, v1.build_id,
            "the build is stored with its release"
        );
        assert_eq!(
            (v1.config["KEEP"].as_str(), v1.config["NEW"].as_str()),
            ("mine", "x")
        );
        let counts: Vec<(String, u32)> = store
            .formation(&app("hello"))
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.process_type.to_string(), f.quantity))
            .collect();
        assert_eq!(counts, [("web".to_owned(), 1), ("worker".to_owned(), 2)]);
    }
}
