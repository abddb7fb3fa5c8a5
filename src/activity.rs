//! When each app's dynos last served a request, as the router lines say (one-off dynos and cron
//! jobs never count), shared by the router-log relay that records it, the reconciler that puts
//! idle apps to sleep and the wake endpoint. In memory only: after a restart of skiffd every app
//! counts as active from the start, so none sleeps sooner than its period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::AppName;

/// Milliseconds since the epoch.
pub(crate) fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Clone)]
pub struct Activity {
    started_ms: i64,
    last: Arc<Mutex<HashMap<AppName, i64>>>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::starting_at(unix_now_ms())
    }
}

impl Activity {
    /// Every app counts as active at `started_ms` until a later request says otherwise.
    pub fn starting_at(started_ms: i64) -> Self {
        Self {
            started_ms,
            last: Arc::default(),
        }
    }

    /// Records a request (or a wake) of `app` at `at_ms`; an older time changes nothing.
    pub fn touch(&self, app: &AppName, at_ms: i64) {
        let mut last = self.last.lock().expect("activity lock");
        let entry = last.entry(app.clone()).or_insert(at_ms);
        *entry = (*entry).max(at_ms);
    }

    /// When `app` was last active.
    pub fn last(&self, app: &AppName) -> i64 {
        let last = self.last.lock().expect("activity lock");
        last.get(app)
            .copied()
            .unwrap_or(self.started_ms)
            .max(self.started_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_request_counts_and_start_is_the_floor() {
        let a = AppName::parse("shop").unwrap();
        let b = AppName::parse("blog").unwrap();
        let activity = Activity::starting_at(1_000);
        assert_eq!(activity.last(&a), 1_000);
        activity.touch(&a, 5_000);
        activity.touch(&a, 3_000);
        assert_eq!(activity.last(&a), 5_000);
        // A line written before skiffd started (relayed late) does not make an app older.
        activity.touch(&b, 500);
        assert_eq!(activity.last(&b), 1_000);
    }
}
