//! The buildpacks set on each app, read by the build and replaced whole by `buildpacks:*`.

use rusqlite::params;

use super::db::{app_id, corrupt, Store, StoreError};
use crate::model::{AppName, Buildpacks};

impl Store {
    /// The app's buildpacks in the order they run; empty when none are set.
    pub async fn buildpacks(&self, app: &AppName) -> Result<Buildpacks, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            let mut stmt =
                conn.prepare("SELECT url FROM app_buildpacks WHERE app_id = ?1 ORDER BY position")?;
            let urls = stmt
                .query_map(params![id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Buildpacks::parse(&urls).map_err(|e| corrupt("buildpack row", e))
        })
        .await
    }

    /// Replaces the app's buildpacks with `packs` in one transaction.
    pub async fn set_buildpacks(&self, app: &AppName, packs: Buildpacks) -> Result<(), StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = app_id(&tx, &app)?;
            tx.execute("DELETE FROM app_buildpacks WHERE app_id = ?1", params![id])?;
            for (position, url) in packs.urls().iter().enumerate() {
                tx.execute(
                    "INSERT INTO app_buildpacks (app_id, position, url) VALUES (?1, ?2, ?3)",
                    params![id, position as i64 + 1, url],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{AppName, Buildpacks};
    use crate::store::Store;

    #[tokio::test]
    async fn a_list_is_kept_in_order_replaced_whole_and_goes_with_its_app() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("packed").unwrap();
        store.create_app(app.clone()).await.unwrap();
        assert_eq!(store.buildpacks(&app).await.unwrap(), Buildpacks::default());
        let two = Buildpacks::parse(&["https://example.org/b.git#v1", "/srv/a"]).unwrap();
        store.set_buildpacks(&app, two.clone()).await.unwrap();
        assert_eq!(store.buildpacks(&app).await.unwrap(), two);
        let one = Buildpacks::parse(&["/srv/a"]).unwrap();
        store.set_buildpacks(&app, one.clone()).await.unwrap();
        assert_eq!(store.buildpacks(&app).await.unwrap(), one);
        let other = AppName::parse("nope").unwrap();
        assert!(store.buildpacks(&other).await.is_err());
        store.delete_app(&app).await.unwrap();
        store.create_app(app.clone()).await.unwrap();
        assert_eq!(
            store.buildpacks(&app).await.unwrap(),
            Buildpacks::default(),
            "a deleted app's buildpacks went with it"
        );
    }
}
