//! Apps' persistent volumes: what the API records (create, destroy) and what the reconciler
//! reports back (a destroyed volume's directory removed). Creating or destroying a volume of a
//! deployed app makes a release in the same transaction, so every dyno restarts with the mounts.

use rusqlite::{params, OptionalExtension, Transaction};

use super::db::{app_id, change_config, stored_app_name, volumes_of, Store, StoreError, NOW};
use crate::config::ByteSize;
use crate::model::{AppName, MountPath, ReleaseRecord, VolumeName, VolumeRecord};

/// A destroyed volume whose directory is still there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyedVolume {
    pub app: AppName,
    pub name: VolumeName,
    /// The release that took the volume away (none when the app had no release); its directory
    /// may go once no dyno of an older release runs.
    pub destroyed_in: Option<u32>,
}

impl Store {
    /// Records a new volume of `app`; a deployed app gets a release that mounts it.
    pub async fn create_volume(
        &self,
        app: &AppName,
        name: VolumeName,
        mount: MountPath,
        size: Option<ByteSize>,
    ) -> Result<(VolumeRecord, Option<ReleaseRecord>), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            check_new_volume(&tx, id, &app, &name, &mount)?;
            tx.execute(
                &format!(
                    "INSERT INTO volumes (app_id, name, mount, size_bytes, created_at)
                     VALUES (?1, ?2, ?3, ?4, {NOW})"
                ),
                params![id, name.as_str(), mount.as_str(), size.map(|s| s.0)],
            )?;
            let description = format!("Add volume {name} at {mount}");
            let (_, release) = change_config(&tx, id, &app, &[], &description)?;
            let record = volumes_of(&tx, id)?
                .into_iter()
                .find(|v| v.name == name)
                .ok_or_else(|| StoreError::Task("volume vanished".into()))?;
            tx.commit()?;
            Ok((record, release))
        })
        .await
    }

    /// The app's volumes, by name.
    pub async fn volumes(&self, app: &AppName) -> Result<Vec<VolumeRecord>, StoreError> {
        let app = app.clone();
        self.call(move |conn| volumes_of(conn, app_id(conn, &app)?))
            .await
    }

    /// Takes the volume away from `app`'s processes with a new release; the reconciler removes
    /// its directory once no dyno of an older release runs.
    pub async fn destroy_volume(
        &self,
        app: &AppName,
        name: &str,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        let (app, name) = (app.clone(), name.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            let found: Option<i64> = tx
                .query_row(
                    "SELECT id FROM volumes WHERE app_id = ?1 AND name = ?2 AND state = 'ready'",
                    params![id, name],
                    |r| r.get(0),
                )
                .optional()?;
            let volume = found.ok_or_else(|| StoreError::VolumeNotFound {
                app: app.clone(),
                name: name.clone(),
            })?;
            let (_, release) = change_config(&tx, id, &app, &[], &format!("Remove volume {name}"))?;
            tx.execute(
                "UPDATE volumes SET state = 'destroying', destroyed_in = ?1 WHERE id = ?2",
                params![release.as_ref().map(|r| r.version), volume],
            )?;
            tx.commit()?;
            Ok(release)
        })
        .await
    }

    /// Destroyed volumes whose directories the reconciler has not removed yet.
    pub async fn destroyed_volumes(&self) -> Result<Vec<DestroyedVolume>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT a.name, v.name, v.destroyed_in FROM volumes v JOIN apps a ON a.id = v.app_id
                 WHERE v.state = 'destroying' ORDER BY a.name, v.name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<u32>>(2)?,
                ))
            })?;
            rows.map(|row| {
                let (app, name, destroyed_in) = row?;
                Ok(DestroyedVolume {
                    app: stored_app_name(&app)?,
                    name: VolumeName::parse(&name)
                        .map_err(|e| super::db::corrupt("volume name", e))?,
                    destroyed_in,
                })
            })
            .collect()
        })
        .await
    }

    /// Forgets a destroyed volume once its directory is gone.
    pub async fn forget_volume(&self, app: &AppName, name: &VolumeName) -> Result<(), StoreError> {
        let (app, name) = (app.clone(), name.clone());
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            conn.execute(
                "DELETE FROM volumes WHERE app_id = ?1 AND name = ?2 AND state = 'destroying'",
                params![id, name.as_str()],
            )?;
            Ok(())
        })
        .await
    }
}

/// Refuses a name the app already uses (or still destroys) and a mount path overlapping one of
/// its volumes'.
fn check_new_volume(
    tx: &Transaction,
    app_id: i64,
    app: &AppName,
    name: &VolumeName,
    mount: &MountPath,
) -> Result<(), StoreError> {
    let state: Option<String> = tx
        .query_row(
            "SELECT state FROM volumes WHERE app_id = ?1 AND name = ?2",
            params![app_id, name.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    match state.as_deref() {
        Some("ready") => {
            return Err(StoreError::VolumeExists {
                app: app.clone(),
                name: name.clone(),
            })
        }
        Some(_) => {
            return Err(StoreError::VolumeDestroying {
                app: app.clone(),
                name: name.clone(),
            })
        }
        None => {}
    }
    match volumes_of(tx, app_id)?
        .into_iter()
        .find(|v| v.mount.overlaps(mount))
    {
        Some(other) => Err(StoreError::MountOverlaps {
            app: app.clone(),
            mount: mount.clone(),
            other: other.name,
            other_mount: other.mount,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Procfile, ReleaseStatus};

    fn name(s: &str) -> VolumeName {
        VolumeName::parse(s).unwrap()
    }
    fn mount(s: &str) -> MountPath {
        MountPath::parse(s).unwrap()
    }

    async fn store_with_app(deployed: bool) -> (Store, AppName) {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("my-app").unwrap();
        store.create_app(app.clone()).await.unwrap();
        if deployed {
            store
                .create_release(
                    app.clone(),
                    Procfile::parse("web: run").unwrap(),
                    "Deploy".into(),
                    |_| Ok(()),
                )
                .await
                .unwrap();
        }
        (store, app)
    }

    #[tokio::test]
    async fn a_volume_of_a_deployed_app_comes_with_a_release() {
        let (store, app) = store_with_app(true).await;
        let (volume, release) = store
            .create_volume(&app, name("data"), mount("/data"), Some(ByteSize(1 << 30)))
            .await
            .unwrap();
        assert_eq!(volume.mount, mount("/data"));
        assert_eq!(volume.size, Some(ByteSize(1 << 30)));
        let release = release.expect("a release");
        assert_eq!(release.description, "Add volume data at /data");
        assert_eq!(release.status, ReleaseStatus::Pending);
        assert_eq!(store.volumes(&app).await.unwrap(), vec![volume]);
    }

    #[tokio::test]
    async fn a_volume_of_an_app_never_deployed_waits_for_its_first_release() {
        let (store, app) = store_with_app(false).await;
        let (_, release) = store
            .create_volume(&app, name("data"), mount("/data"), None)
            .await
            .unwrap();
        assert_eq!(release, None);
        assert!(store.releases(&app).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn taken_names_and_overlapping_mounts_are_refused_and_change_nothing() {
        let (store, app) = store_with_app(true).await;
        store
            .create_volume(&app, name("data"), mount("/data"), None)
            .await
            .unwrap();
        let releases = store.releases(&app).await.unwrap().len();
        let taken = store
            .create_volume(&app, name("data"), mount("/other"), None)
            .await
            .unwrap_err();
        assert!(matches!(taken, StoreError::VolumeExists { .. }), "{taken}");
        for overlapping in ["/data", "/data/sub"] {
            let e = store
                .create_volume(&app, name("more"), mount(overlapping), None)
                .await
                .unwrap_err();
            assert!(matches!(e, StoreError::MountOverlaps { .. }), "{e}");
        }
        assert_eq!(store.volumes(&app).await.unwrap().len(), 1);
        assert_eq!(store.releases(&app).await.unwrap().len(), releases);
        let unknown = AppName::parse("nope").unwrap();
        assert!(matches!(
            store
                .create_volume(&unknown, name("data"), mount("/data"), None)
                .await,
            Err(StoreError::AppNotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_destroyed_volume_stays_until_its_directory_is_gone() {
        let (store, app) = store_with_app(true).await;
        store
            .create_volume(&app, name("data"), mount("/data"), None)
            .await
            .unwrap();
        let release = store.destroy_volume(&app, "data").await.unwrap().unwrap();
        assert_eq!(release.description, "Remove volume data");
        assert!(store.volumes(&app).await.unwrap().is_empty());
        assert_eq!(
            store.destroyed_volumes().await.unwrap(),
            vec![DestroyedVolume {
                app: app.clone(),
                name: name("data"),
                destroyed_in: Some(release.version),
            }]
        );
        let again = store
            .create_volume(&app, name("data"), mount("/data"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(again, StoreError::VolumeDestroying { .. }),
            "{again}"
        );
        assert!(matches!(
            store.destroy_volume(&app, "data").await,
            Err(StoreError::VolumeNotFound { .. })
        ));
        store.forget_volume(&app, &name("data")).await.unwrap();
        assert!(store.destroyed_volumes().await.unwrap().is_empty());
        store
            .create_volume(&app, name("data"), mount("/data"), None)
            .await
            .unwrap();
    }
}
