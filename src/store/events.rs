//! Reading an app's events (scaling, resizing, maintenance, restarts); each is written by the
//! change it tells of, in that change's transaction.

use super::db::{app_id, events_of, Store, StoreError};
use crate::model::{AppEvent, AppName};

impl Store {
    /// The app's kept events, newest first.
    pub async fn events(&self, app: &AppName) -> Result<Vec<AppEvent>, StoreError> {
        let app = app.clone();
        self.call(move |conn| {
            let id = app_id(conn, &app)?;
            events_of(conn, id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AppEventKind, DynoFilter, DynoSize, ProcessType, Procfile, ScaleChange, KEPT_EVENTS_PER_APP,
    };

    fn hello() -> AppName {
        AppName::parse("hello").unwrap()
    }

    async fn deployed() -> Store {
        let store = Store::open_in_memory().unwrap();
        store.create_app(hello()).await.unwrap();
        let procfile = Procfile::parse("web: a\nworker: b").unwrap();
        store
            .create_release(hello(), procfile, "Deploy".into(), |_| Ok(()))
            .await
            .unwrap();
        store.go_live(&hello()).await.unwrap();
        store
    }

    #[tokio::test]
    async fn changes_record_their_events_newest_first_and_a_same_maintenance_none() {
        let store = deployed().await;
        let web = ProcessType::parse("web").unwrap();
        store
            .scale(
                &hello(),
                vec![ScaleChange::parse("web=3").unwrap()],
                "uid:0",
            )
            .await
            .unwrap();
        let size = DynoSize {
            cpu_percent: Some(50),
            ..DynoSize::default()
        };
        store
            .resize(&hello(), &web, size, "token:ci")
            .await
            .unwrap();
        store
            .set_maintenance(&hello(), true, "dashboard")
            .await
            .unwrap();
        store
            .set_maintenance(&hello(), true, "dashboard")
            .await
            .unwrap();
        store
            .request_restart(&hello(), DynoFilter::Type(web), "uid:1000")
            .await
            .unwrap();
        let got: Vec<(AppEventKind, String, String)> = store
            .events(&hello())
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.note.kind, e.note.description, e.note.actor))
            .collect();
        let want = [
            (AppEventKind::Restart, "Restarted web dynos", "uid:1000"),
            (AppEventKind::Maintenance, "Maintenance on", "dashboard"),
            (AppEventKind::Resize, "Resized web: cpu 50%", "token:ci"),
            (AppEventKind::Scale, "Scaled to web@3", "uid:0"),
        ]
        .map(|(k, d, a)| (k, d.to_owned(), a.to_owned()));
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_refused_change_records_nothing_and_old_events_are_dropped() {
        let store = deployed().await;
        let refused = store
            .scale(
                &hello(),
                vec![ScaleChange::parse("nope=1").unwrap()],
                "uid:0",
            )
            .await;
        assert!(refused.is_err());
        assert!(store.events(&hello()).await.unwrap().is_empty());
        for on in (0..=KEPT_EVENTS_PER_APP).map(|i| i % 2 == 0) {
            store.set_maintenance(&hello(), on, "uid:0").await.unwrap();
        }
        let kept = store.events(&hello()).await.unwrap();
        assert_eq!(kept.len(), KEPT_EVENTS_PER_APP as usize);
        assert_eq!(
            kept[0].note.description, "Maintenance on",
            "the newest is kept"
        );
    }
}
