//! Idle apps fall asleep: at the start of a round, every awake app whose period passed without a
//! request (`model::due_to_sleep` decides) has its routed dynos drained and wants none, and the
//! loop is told when the next one is due. A wake that failed puts the app back to sleep with
//! the reason its next requests get.

use super::{traffic, ReconcileError, Reconciler};
use crate::activity::unix_now_ms;
use crate::journal::router::log_app_event;
use crate::model::{due_to_sleep, AppName, SleepCandidate};

/// journald priorities of skiffd's lines about an app.
const NOTICE: u8 = 5;
const WARNING: u8 = 4;

impl Reconciler {
    /// Puts the apps due to sleep to sleep and remembers when the next one is due.
    pub(super) async fn put_idle_apps_to_sleep(&self) -> Result<(), ReconcileError> {
        if !self.apps_can_sleep() {
            return Ok(());
        }
        let rows = self.store.sleep_rows().await?;
        let candidates: Vec<SleepCandidate<AppName>> = rows
            .into_iter()
            .map(|row| SleepCandidate {
                last_active_ms: self.traffic.activity.last(&row.app),
                after: row.setting.effective(self.traffic.sleep_default),
                app: row.app,
                state: row.state,
                rolling_out: row.rolling_out,
                deployed: row.deployed,
                serves_web: row.serves_web,
            })
            .collect();
        let now = unix_now_ms();
        let (due, next) = due_to_sleep(&candidates, now);
        *self.next_sleep_at.lock().expect("sleep lock") = next;
        for app in due {
            let drain_until = traffic::unix_now() + self.traffic.drain.as_secs() as i64;
            if self.store.put_to_sleep(&app, now, drain_until).await? {
                let idle = candidates
                    .iter()
                    .find(|c| c.app == app)
                    .and_then(|c| c.after)
                    .map(|after| after.to_string())
                    .unwrap_or_default();
                tracing::info!(app = %app, idle = %idle, "app sleeping");
                log_app_event(
                    &app,
                    NOTICE,
                    &format!("sleeping: no request for {idle}; its web and worker dynos stop until the next request wakes it"),
                    &[],
                );
            }
        }
        Ok(())
    }

    /// A wake whose dynos never became healthy: the app sleeps again, with the reason.
    pub(super) async fn fail_wake(
        &self,
        app: &AppName,
        reason: String,
    ) -> Result<(), ReconcileError> {
        tracing::warn!(app = %app, reason = %reason, "wake failed");
        log_app_event(
            app,
            WARNING,
            &format!(
                "wake failed: {reason}; the app sleeps again and the next request tries again"
            ),
            &[],
        );
        self.store.fail_wake(app, reason, unix_now_ms()).await?;
        Ok(())
    }
}
