//! skiffd's background tasks beside the API servers and the reconciler: the router-log relay,
//! the router metrics' flusher, the monitor with its webhook sender, and the watchdog pings.

use std::path::PathBuf;
use std::time::Duration;

use super::{notify, stopped, Servers};
use crate::activity::Activity;
use crate::config::Config;
use crate::metrics::RouterMetrics;
use crate::monitor::{Monitor, Notifier};
use crate::proxy::ACCESS_LOG;

/// How to make the monitor once its webhook sender exists.
pub(super) fn monitor_of(
    config: &Config,
    state: &crate::api::AppState,
    router: RouterMetrics,
) -> impl FnOnce(Notifier) -> Monitor {
    let (store, dynos, watched) = (
        state.store.clone(),
        state.dynos.clone(),
        state.watched.clone(),
    );
    let server_webhook = config.alert_webhook.0.clone();
    move |notifier| Monitor {
        store,
        dynos,
        router,
        watched,
        notifier,
        server_webhook,
    }
}

/// The router metrics' flusher, and the monitor with its webhook sender; none of them when
/// `metrics = false`. Deliveries still waiting when skiffd stops are not sent.
pub(super) fn spawn_monitoring(
    servers: &mut Servers,
    config: &Config,
    monitor: impl FnOnce(Notifier) -> Monitor,
    stop: &tokio::sync::watch::Receiver<bool>,
) {
    if !config.metrics {
        return;
    }
    let (notifier, sender) = Notifier::new();
    let monitor = monitor(notifier);
    servers.spawn({
        let (metrics, store, stop) = (
            monitor.router.clone(),
            monitor.store.clone(),
            stopped(stop.clone()),
        );
        async move {
            metrics.run_flusher(store, stop).await;
            Ok(())
        }
    });
    let until_stop = stopped(stop.clone());
    servers.spawn(async move {
        tokio::select! {
            () = sender => {}
            () = until_stop => {}
        }
        Ok(())
    });
    let until_stop = stopped(stop.clone());
    servers.spawn(async move {
        monitor.run(until_stop).await;
        Ok(())
    });
}

/// Keeps the router-log relay running until the stop signal; after an error it starts again.
pub(super) async fn relay_router_lines(
    position: PathBuf,
    activity: Activity,
    metrics: RouterMetrics,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    while !*stop.borrow() {
        let relayed = crate::journal::router::relay(
            ACCESS_LOG.into(),
            position.clone(),
            activity.clone(),
            metrics.clone(),
            stopped(stop.clone()),
        );
        if let Err(e) = relayed.await {
            // Caddy makes its log folder when it first starts, maybe after skiffd.
            if e.kind() == std::io::ErrorKind::NotFound {
                tracing::debug!(error = %e, "waiting for Caddy's access log folder");
            } else {
                tracing::warn!(error = %e, "router log relay stopped");
            }
            tokio::select! {
                () = stopped(stop.clone()) => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    Ok(())
}

/// Pings systemd's watchdog at half its interval when the unit sets `WatchdogSec=`.
pub(super) fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return None;
    }
    let period = Duration::from_micros(usec / 2);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            notify(&[sd_notify::NotifyState::Watchdog]);
        }
    }))
}
