//! Wakes sleeping apps for the proxy. skiff's Caddy holds every request to a sleeping app and
//! asks `GET /wake/APP` on skiffd's wake socket first (a subrequest, as `forward_auth` does).
//! The first such request starts the wake (the app's dynos are wanted again and the reconciler
//! starts them); every request waits, without polling, for the reconciler's rounds to say the
//! app's web dynos are healthy and routed — then the answer is 200 and Caddy sends the request
//! on to them — or that the wake failed or took longer than the wake timeout: then the answer
//! is a 503 page with the reason, which the client gets. The request that started a wake gets
//! its time in `X-Skiff-Wake`, which its router line shows as `wake=…ms`.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::activity::{unix_now_ms, Activity};
use crate::journal::router::log_app_event;
use crate::model::{AppName, ReleaseStatus, SleepState};
use crate::reconciler::{FinishedRounds, Reconciler};
use crate::store::{Store, WakeStart};

/// The wake answer's header with the wake's time, copied by the proxy onto the woken response.
pub const WAKE_HEADER: &str = "X-Skiff-Wake";
/// The socket's file name in skiffd's runtime folder; Caddy's user may connect to it.
pub const WAKE_SOCKET_NAME: &str = "wake.sock";

/// journald priorities of the wake's lines about an app.
const NOTICE: u8 = 5;
const WARNING: u8 = 4;

/// What wakes apps: the store's sleep rows, the reconciler that starts their dynos and the
/// activity the sleep decision reads.
#[derive(Clone)]
pub struct Waker {
    pub store: Store,
    pub reconciler: Reconciler,
    pub activity: Activity,
    /// A held request waits this long at most.
    pub timeout: Duration,
}

impl Waker {
    /// Wakes the apps of `state`'s store with its reconciler.
    pub(crate) fn new(state: &crate::api::AppState, activity: Activity, timeout: Duration) -> Self {
        Self {
            store: state.store.clone(),
            reconciler: state.reconciler.clone(),
            activity,
            timeout,
        }
    }
}

/// How a held request ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The app is up; the request that started the wake says how long it took.
    Up { started_it: Option<Duration> },
    /// The answer is a 503 page with this reason.
    Failed(String),
}

/// The wake socket's routes.
pub fn router(waker: Waker) -> axum::Router {
    axum::Router::new()
        .route("/wake/{app}", get(wake))
        .with_state(waker)
}

async fn wake(State(waker): State<Waker>, Path(app): Path<String>) -> Response {
    let Ok(app) = AppName::parse(&app) else {
        return page(
            StatusCode::NOT_FOUND,
            "No such app",
            "No app is served at this address.",
        );
    };
    match waker.wake(&app).await {
        Woken::Up { started_it } => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            if let Some(took) = started_it {
                let ms = format!("{}ms", took.as_millis());
                if let Ok(value) = HeaderValue::from_str(&ms) {
                    response.headers_mut().insert(WAKE_HEADER, value);
                }
            }
            response
        }
        Woken::Failed(reason) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "App failed to wake",
            &format!("The app {app} was asleep and could not be woken: {reason}"),
        ),
    }
}

impl Waker {
    /// Wakes `app` (or joins the wake that runs) and waits for the outcome.
    pub(crate) async fn wake(&self, app: &AppName) -> Woken {
        let began = Instant::now();
        // Subscribed before the first look, so no round's end is missed.
        let mut rounds = self.reconciler.finished_rounds();
        let start = match self.store.begin_wake(app, unix_now_ms()).await {
            Ok(start) => start,
            Err(e) => return Woken::Failed(e.to_string()),
        };
        let (pending, started) = match start {
            WakeStart::Awake => return Woken::Up { started_it: None },
            WakeStart::Throttled(reason) => return Woken::Failed(reason),
            WakeStart::Started { pending } => {
                self.activity.touch(app, unix_now_ms());
                tracing::info!(app = %app, "waking for a request");
                self.reconciler.poke();
                (pending, true)
            }
            WakeStart::Joined { pending } => (pending, false),
        };
        let outcome = tokio::time::timeout(self.timeout, self.until_up(app, pending, &mut rounds))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "it did not wake within {}",
                    humantime::format_duration(self.timeout)
                ))
            });
        match (outcome, started) {
            (Ok(()), true) => {
                let took = began.elapsed();
                self.activity.touch(app, unix_now_ms());
                log_app_event(
                    app,
                    NOTICE,
                    &format!("woke for a request in {} ms", took.as_millis()),
                    &[],
                );
                Woken::Up {
                    started_it: Some(took),
                }
            }
            (Ok(()), false) => Woken::Up { started_it: None },
            (Err(reason), started) => {
                if started {
                    log_app_event(app, WARNING, &format!("wake failed: {reason}"), &[]);
                }
                Woken::Failed(reason)
            }
        }
    }

    /// Waits, a round at a time, until `app` is awake; why not when its wake failed, or when the
    /// release that was pending as it began failed its health check.
    async fn until_up(
        &self,
        app: &AppName,
        pending: Option<u32>,
        rounds: &mut FinishedRounds,
    ) -> Result<(), String> {
        loop {
            let sleep = self.store.app_sleep(app).await.map_err(|e| e.to_string())?;
            match sleep.state {
                SleepState::Awake => return Ok(()),
                // Only a failed wake puts a waking app back to sleep.
                SleepState::Sleeping => {
                    return Err(sleep
                        .wake_failure
                        .map(|(_, why)| why)
                        .unwrap_or_else(|| "it fell asleep again".into()))
                }
                SleepState::Waking => {}
            }
            if let Some(version) = pending {
                let (status, failure) = self
                    .store
                    .release_status(app, version.into())
                    .await
                    .map_err(|e| e.to_string())?;
                if status == ReleaseStatus::Failed {
                    return Err(format!(
                        "its new release v{version} failed its health check ({}); the previous release stays live",
                        failure.unwrap_or_else(|| "its web dynos failed".into())
                    ));
                }
            }
            rounds.next().await;
        }
    }
}

/// An HTML page with `title` and `text` (escaped), never cached, retried after a few seconds.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:4em auto;max-width:40em\">\
         <h1>{title}</h1><p>{}</p></body></html>\n",
        escape(text)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "10"),
        ],
        body,
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_escaped_in_the_page() {
        assert_eq!(
            escape(r#"web.1 answered <500> & "no""#),
            "web.1 answered &lt;500&gt; &amp; &quot;no&quot;"
        );
    }
}
