//! Log drains (the I/O shell): one task per drain follows the app's lines in journald from just
//! after the drain's saved cursor (`journalctl --follow`), sends them in batches, and saves the
//! cursor of each batch delivered, so lines written while skiffd was stopped go out when it
//! starts again and a restart resends at most the batch in flight. A failed delivery is recorded
//! on the drain (`skiff drains`) and in journald under the app, and the drain reads the journal
//! again from its saved cursor after a pause. journald keeps the lines, so a slow or dead drain
//! never holds the app up.

mod transport;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::journal::router::log_app_event;
use crate::journal::{LogQuery, LogSource};
use crate::model::{drain_retry_pause, AppName, DrainLine, DRAIN_BATCH};
use crate::store::{DrainRecord, Store, StoreError};
use transport::Sender;

/// How long a batch waits for more lines before it goes.
const BATCH_WAIT: Duration = Duration::from_millis(500);
/// journald's warning priority.
const WARNING: u8 = 4;

/// Each running drain's task by drain id, with the app's name when it started.
type Tasks = HashMap<i64, (AppName, JoinHandle<()>)>;

/// The running drains, one task each.
#[derive(Clone)]
pub struct Drains {
    store: Store,
    logs: Arc<dyn LogSource>,
    tasks: Arc<Mutex<Tasks>>,
}

impl Drains {
    pub fn new(store: Store, logs: Arc<dyn LogSource>) -> Self {
        Self {
            store,
            logs,
            tasks: Arc::default(),
        }
    }

    /// Starts a task for each drain without one and ends those of drains removed, or of apps
    /// renamed since (their new task reads under the new name and the former ones).
    pub async fn sync(&self) -> Result<(), StoreError> {
        let drains = self.store.all_drains().await?;
        let mut tasks = self.tasks.lock().expect("drain tasks");
        tasks.retain(|id, (app, task)| {
            let current = drains.iter().any(|d| d.id == *id && &d.app == app);
            if !current {
                task.abort();
            }
            current && !task.is_finished()
        });
        for drain in drains {
            if tasks.contains_key(&drain.id) {
                continue;
            }
            let task = tokio::spawn(run(
                self.store.clone(),
                Arc::clone(&self.logs),
                drain.id,
                drain.app.clone(),
            ));
            tasks.insert(drain.id, (drain.app, task));
        }
        Ok(())
    }
}

/// A drain's life: follow, send, and after a failure, pause and follow again from the cursor.
async fn run(store: Store, logs: Arc<dyn LogSource>, id: i64, app: AppName) {
    let mut failures = 0u32;
    loop {
        let drain = match store.drain(id).await {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(drain = id, error = %e, "cannot read a log drain");
                tokio::time::sleep(drain_retry_pause(failures.max(1))).await;
                continue;
            }
        };
        let why = follow(&store, logs.as_ref(), &drain, &mut failures).await;
        failures += 1;
        let _ = store.drain_failed(id, why.clone()).await;
        let pause = drain_retry_pause(failures);
        log_app_event(
            &app,
            WARNING,
            &format!(
                "log drain {} failed: {why}; trying again in {pause:?}",
                drain.url
            ),
            &[],
        );
        tokio::time::sleep(pause).await;
    }
}

/// Follows the journal from the drain's cursor and sends what comes until something fails;
/// what failed, in words. Each delivered batch resets `failures`.
async fn follow(
    store: &Store,
    logs: &dyn LogSource,
    drain: &DrainRecord,
    failures: &mut u32,
) -> String {
    let query = LogQuery {
        app: drain.app.clone(),
        dyno: None,
        addon_units: Vec::new(),
        lines: 0,
        follow: true,
        origin: None,
        former_names: store.former_names(&drain.app).await.unwrap_or_default(),
    };
    let mut lines = match logs
        .drain_lines(query, drain.cursor.clone(), drain.created_at)
        .await
    {
        Ok(lines) => lines,
        Err(e) => return e.to_string(),
    };
    let mut sender = Sender::new(drain.url.clone());
    let mut batch: Vec<DrainLine> = Vec::new();
    let mut cursor = String::new();
    loop {
        let next = if batch.is_empty() {
            Ok(lines.next().await)
        } else {
            tokio::time::timeout(BATCH_WAIT, lines.next()).await
        };
        match next {
            Ok(Some((at, line))) => {
                cursor = at;
                batch.push(line);
                if batch.len() < DRAIN_BATCH {
                    continue;
                }
            }
            Ok(None) => return "journalctl ended".to_owned(),
            // No more lines for a moment: the batch goes.
            Err(_) => {}
        }
        if let Err(why) = sender.send(&batch).await {
            return why;
        }
        if let Err(e) = store
            .drain_delivered(drain.id, cursor.clone(), batch.len())
            .await
        {
            return format!("saving the drain's place: {e}");
        }
        *failures = 0;
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::journal::FakeLogs;
    use crate::model::DrainUrl;

    fn line(message: &str) -> DrainLine {
        DrainLine {
            time: "2026-12-07T10:00:00.000000Z".into(),
            app: "shop".into(),
            source: "app",
            dyno: "web.1".into(),
            severity: 6,
            message: message.into(),
        }
    }

    /// Reads what one connection sends until it holds `want` messages.
    async fn receive(listener: &tokio::net::TcpListener, want: usize) -> String {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while String::from_utf8_lossy(&got).matches("<190>1 ").count() < want {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the drain closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    }

    async fn wait_for(store: &Store, id: i64, done: impl Fn(&DrainRecord) -> bool) -> DrainRecord {
        for _ in 0..200 {
            let d = store.drain(id).await.unwrap().unwrap();
            if done(&d) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the drain never got there: {:?}", store.drain(id).await);
    }

    #[tokio::test]
    async fn a_drain_sends_in_order_saves_its_place_and_goes_on_from_it() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = DrainUrl::parse(&format!("syslog://127.0.0.1:{port}")).unwrap();
        let id = store.add_drain(&app, url).await.unwrap().id;
        let fake = FakeLogs::default();
        let journal = Arc::clone(&fake.drain_lines);
        journal
            .lock()
            .unwrap()
            .extend((1..=3).map(|i| (format!("c{i}"), line(&format!("m{i}")))));
        let drains = Drains::new(store.clone(), Arc::new(fake));
        drains.sync().await.unwrap();
        let first = receive(&listener, 3).await;
        let at = |m: &str| first.find(m).unwrap();
        assert!(at("m1") < at("m2") && at("m2") < at("m3"), "{first}");
        let saved = wait_for(&store, id, |d| d.cursor.as_deref() == Some("c3")).await;
        assert_eq!(saved.delivered, 3);

        // skiffd restarts: a new task goes on after c3, with what came meanwhile.
        for task in drains.tasks.lock().unwrap().values() {
            task.1.abort();
        }
        journal
            .lock()
            .unwrap()
            .extend((4..=5).map(|i| (format!("c{i}"), line(&format!("m{i}")))));
        let again = Drains::new(
            store.clone(),
            Arc::new(FakeLogs {
                drain_lines: journal,
                ..FakeLogs::default()
            }),
        );
        again.sync().await.unwrap();
        let second = receive(&listener, 2).await;
        assert!(second.contains("m4") && second.contains("m5"), "{second}");
        assert!(!second.contains("m3"), "nothing is sent twice: {second}");
        let saved = wait_for(&store, id, |d| d.cursor.as_deref() == Some("c5")).await;
        assert_eq!((saved.delivered, saved.last_error), (5, None));
    }

    #[tokio::test]
    async fn a_drain_nobody_listens_to_says_why_and_keeps_its_place() {
        let store = Store::open_in_memory().unwrap();
        let app = AppName::parse("shop").unwrap();
        store.create_app(app.clone()).await.unwrap();
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let url = DrainUrl::parse(&format!("syslog://127.0.0.1:{port}")).unwrap();
        let id = store.add_drain(&app, url).await.unwrap().id;
        let fake = FakeLogs::default();
        fake.drain_lines
            .lock()
            .unwrap()
            .push(("c1".into(), line("m1")));
        let drains = Drains::new(store.clone(), Arc::new(fake));
        drains.sync().await.unwrap();
        let failed = wait_for(&store, id, |d| d.last_error.is_some()).await;
        assert!(
            failed
                .last_error
                .unwrap()
                .contains(&format!("connecting to 127.0.0.1:{port}")),
            "in words"
        );
        assert_eq!(
            (failed.cursor, failed.delivered),
            (None, 0),
            "nothing counted as sent"
        );
        // Removed, its task ends at the next sync.
        store
            .remove_drain(&app, &format!("syslog://127.0.0.1:{port}"))
            .await
            .unwrap();
        drains.sync().await.unwrap();
        assert!(drains.tasks.lock().unwrap().is_empty());
    }
}
