//! Log drains (the I/O shell): one task per drain follows the app's lines in journald from just
//! after the drain's saved cursor (`journalctl --follow`), sends them in batches, and saves the
//! cursor of each batch delivered, so lines written while skiffd was stopped go out when it
//! starts again and a restart resends at most the batch in flight. A failed delivery is recorded
//! on the drain (`skiff drains`) and in journald under the app, and the drain reads the journal
//! again from its saved cursor after a pause. journald keeps the lines, so a slow or dead drain
//! never holds the app up.

mod transport;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use crate::journal::router::log_app_event;
use crate::journal::{drain_args, drain_line, LogQuery};
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
    tasks: Arc<Mutex<Tasks>>,
}

impl Drains {
    pub fn new(store: Store) -> Self {
        Self {
            store,
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
            let task = tokio::spawn(run(self.store.clone(), drain.id, drain.app.clone()));
            tasks.insert(drain.id, (drain.app, task));
        }
        Ok(())
    }
}

/// A drain's life: follow, send, and after a failure, pause and follow again from the cursor.
async fn run(store: Store, id: i64, app: AppName) {
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
        let why = follow(&store, &drain, &mut failures).await;
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
async fn follow(store: &Store, drain: &DrainRecord, failures: &mut u32) -> String {
    let query = LogQuery {
        app: drain.app.clone(),
        dyno: None,
        addon_units: Vec::new(),
        lines: 0,
        follow: true,
        origin: None,
        former_names: store.former_names(&drain.app).await.unwrap_or_default(),
    };
    let args = drain_args(&query, drain.cursor.as_deref(), drain.created_at);
    let mut child = match tokio::process::Command::new("journalctl")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return format!("cannot run journalctl: {e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        return "journalctl has no output".to_owned();
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut sender = Sender::new(drain.url.clone());
    let mut batch: Vec<DrainLine> = Vec::new();
    let mut cursor = String::new();
    loop {
        let next = if batch.is_empty() {
            Ok(lines.next_line().await)
        } else {
            tokio::time::timeout(BATCH_WAIT, lines.next_line()).await
        };
        match next {
            Ok(Ok(Some(text))) => {
                let entry = serde_json::from_str(&text).ok();
                if let Some((c, line)) = entry.and_then(|e| drain_line(&e, &drain.app)) {
                    cursor = c;
                    batch.push(line);
                }
                if batch.len() < DRAIN_BATCH {
                    continue;
                }
            }
            Ok(Ok(None)) => return "journalctl ended".to_owned(),
            Ok(Err(e)) => return format!("reading journalctl: {e}"),
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
