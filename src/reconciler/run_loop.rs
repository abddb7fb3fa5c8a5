//! The reconciler's loop: a round at start, then one on every poke, burst of unit signals,
//! drain deadline or idle app's sleep, with a pause that grows after rounds in which something failed.

use std::time::Duration;

use super::round::Round;
use super::{ReconcileError, Reconciler};
use crate::systemd::UnitStatus;

/// Quiet period that merges a burst of signals into one reconcile round.
const DEBOUNCE: Duration = Duration::from_millis(25);
/// The first pause after a round in which something failed; it doubles up to the maximum.
const ERROR_BACKOFF_MIN: Duration = Duration::from_millis(250);
const ERROR_BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Reconciler {
    /// Asks for a round soon; cheap, and many pokes merge into one round.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Runs rounds until `shutdown` resolves: one now, then on every poke or unit signal.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ReconcileError> {
        let mut events = self.systemd.watch().await?;
        tokio::pin!(shutdown);
        let mut backoff = Duration::ZERO;
        // systemd's units as the last round listed them, while no unit signal came since and
        // that round changed no unit: a poke's round (a scale, a restart) then plans and starts
        // at once instead of listing every unit first. Any signal drops it.
        let mut listed = None;
        let mut failed = self.round_logged(&mut listed).await;
        loop {
            // Without the signal feed nothing would tell that a listing went stale.
            if events.is_closed() {
                listed = None;
            }
            // A failing action makes signals of its own; without a pause they would trigger
            // the next failing round at once. A poke (a user's change) ends the pause.
            if failed {
                backoff = (backoff * 2).clamp(ERROR_BACKOFF_MIN, ERROR_BACKOFF_MAX);
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(backoff) => {}
                }
                while events.try_recv().is_ok() {
                    listed = None;
                }
                self.poke();
            } else {
                backoff = Duration::ZERO;
            }
            let deadline = self.next_deadline_ms();
            let deadline_sleep = async move {
                match deadline {
                    Some(at) => {
                        let ms = (at - crate::activity::unix_now_ms()).max(0) as u64;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let poked = tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = self.wake.notified() => true,
                () = deadline_sleep => true,
                Some(_) = events.recv() => {
                    listed = None;
                    false
                }
            };
            // A poke is a user waiting on a change: act at once. Unit signals come in bursts:
            // let the burst settle so it costs one round.
            if !poked {
                tokio::time::sleep(DEBOUNCE).await;
            }
            while events.try_recv().is_ok() {
                listed = None;
            }
            failed = self.round_logged(&mut listed).await;
        }
    }

    /// When the loop must run a round even if nothing pokes it (Unix milliseconds): the next
    /// drain's end or the next idle app's sleep.
    fn next_deadline_ms(&self) -> Option<i64> {
        let drain = self
            .next_drain_end
            .lock()
            .expect("drain lock")
            .map(|secs| secs * 1000);
        let sleep = *self.next_sleep_at.lock().expect("sleep lock");
        drain.into_iter().chain(sleep).min()
    }

    /// Runs a round (on `listed` units when given) and logs it; true when something in it
    /// failed. Leaves in `listed` what the next round may reuse.
    async fn round_logged(&self, listed: &mut Option<Vec<UnitStatus>>) -> bool {
        let result = self.round_observing(listed.take()).await;
        let result = result.map(|(round, reusable)| {
            *listed = reusable;
            round
        });
        match result {
            Ok(round) if round != Round::default() => {
                tracing::info!(
                    started = round.started,
                    stopped = round.stopped,
                    crashed = round.crashed,
                    restarted = round.restarted,
                    resized = round.resized,
                    errors = round.errors,
                    "reconciled"
                );
                round.errors > 0
            }
            Ok(_) => {
                tracing::debug!("reconciled: nothing to do");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "reconcile round failed");
                true
            }
        }
    }
}
