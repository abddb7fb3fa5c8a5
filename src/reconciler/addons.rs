//! The reconciler's part in add-ons: each round, after the networks, every add-on's server side
//! is made, changed or destroyed as its row says, attached apps get its URL in a release once
//! they can reach it, and the rules let exactly the attached apps' namespaces through.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::networks::RoundNetworks;
use super::round::Round;
use super::Reconciler;
use crate::addons::Converged;
use crate::model::{connection_url, AddonEndpoint, AddonName, AddonState, DynoUnit};
use crate::network::AddonAccess;
use crate::store::AddonRecord;
use crate::systemd::UnitStatus;

impl Reconciler {
    /// Converges the add-ons and returns who may reach which add-on server.
    pub(super) async fn converge_addons(
        &self,
        networks: &RoundNetworks,
        units: &[UnitStatus],
        round: &mut Round,
    ) -> Vec<AddonAccess> {
        let Some(rows) = round.count_ok(
            "reading the add-ons",
            self.store.addons().await.map_err(Into::into),
        ) else {
            return Vec::new();
        };
        self.addons
            .report_orphan_units(units.iter().map(|u| u.name.as_str()), &rows);
        self.converge_backup_timers(&rows, units, round).await;
        if rows.is_empty() {
            return Vec::new();
        }
        if let Err(e) = self.networks.ensure_addon_address().await {
            round.errors += 1;
            tracing::error!(error = %e, "add-ons wait for their address");
            // Every add-on waits for it; the API says why to whoever waits for one.
            let mut failures = self.addon_failures.lock().expect("add-on failures lock");
            *failures = rows
                .iter()
                .map(|a| (a.name.clone(), e.to_string()))
                .collect();
            return Vec::new();
        }
        let listen = self.networks.addon_addr();
        let access: BTreeMap<AddonName, Vec<Ipv4Addr>> = rows
            .iter()
            .map(|a| {
                let from = a
                    .attachments
                    .iter()
                    .filter_map(|t| networks.dyno_addr(&t.app))
                    .collect();
                (a.name.clone(), from)
            })
            .collect();
        let converged = self.addons.converge(&rows, listen, &access).await;
        self.record(&converged, listen, round).await;
        let ready: Vec<(&AddonRecord, u16)> = rows
            .iter()
            .filter(|a| a.state != AddonState::Destroying)
            .filter_map(|a| converged.ready.get(&a.name).map(|port| (a, *port)))
            .collect();
        self.apply_urls(&ready, listen, networks, round).await;
        self.finish_rotations(&ready, listen, units, round).await;
        ready
            .iter()
            .flat_map(|(addon, port)| {
                addon.attachments.iter().map(|t| AddonAccess {
                    app: t.app.clone(),
                    port: *port,
                })
            })
            .collect()
    }

    /// Keeps what the servers said: failures for the API, made add-ons ready, destroyed ones
    /// forgotten.
    async fn record(&self, converged: &Converged, listen: Ipv4Addr, round: &mut Round) {
        {
            let mut failures = self.addon_failures.lock().expect("add-on failures lock");
            failures.clear();
            for (name, e) in &converged.failures {
                round.errors += 1;
                tracing::error!(addon = %name, error = %e, "add-on server failed");
                failures.insert(name.clone(), e.to_string());
            }
        }
        for (name, port) in &converged.made {
            let made = self.store.addon_made(name, *port).await;
            if round.count("recording an add-on", made.map_err(Into::into)) {
                tracing::info!(addon = %name, %listen, port, "add-on ready");
            }
        }
        for name in &converged.destroyed {
            let forgotten = self.store.forget_addon(name).await;
            if round.count("forgetting an add-on", forgotten.map_err(Into::into)) {
                tracing::info!(addon = %name, "add-on destroyed with its data");
                self.remove_backups_of(name).await;
            }
        }
    }

    /// Deletes a destroyed add-on's backup files, which no row lists any more (copies off the
    /// server stay where they are).
    async fn remove_backups_of(&self, name: &AddonName) {
        let dir = self.layout.backup_dir(name);
        let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await;
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(addon = %name, error = %e, "cannot remove the backups of a destroyed add-on")
            }
            Err(e) => {
                tracing::warn!(addon = %name, error = %e, "cannot remove the backups of a destroyed add-on")
            }
        }
    }

    /// Gives every attached app whose network is ready the add-on's current URL, each in a
    /// release of its own; the rules that let it through are applied later in this round,
    /// before the next round starts that release's dynos.
    async fn apply_urls(
        &self,
        ready: &[(&AddonRecord, u16)],
        listen: Ipv4Addr,
        networks: &RoundNetworks,
        round: &mut Round,
    ) {
        let mut released = false;
        for (addon, port) in ready {
            let endpoint = AddonEndpoint {
                host: listen,
                port: *port,
            };
            let url = connection_url(addon.service, &addon.name, &addon.credential, endpoint);
            for attachment in &addon.attachments {
                if attachment.applied_url.as_deref() == Some(url.as_str())
                    || networks.dyno_addr(&attachment.app).is_none()
                {
                    continue;
                }
                let applied = self
                    .store
                    .apply_addon_url(&addon.name, &attachment.app, url.clone())
                    .await;
                if let Some(Some(change)) =
                    round.count_ok("setting an add-on's URL", applied.map_err(Into::into))
                {
                    released = true;
                    let release = change.release.map(|r| format!("v{}", r.version));
                    tracing::info!(app = %change.app, addon = %addon.name, var = %attachment.name.config_key(), release = release.as_deref().unwrap_or("none yet"), "add-on URL set");
                }
            }
        }
        if released {
            self.poke();
        }
    }

    /// Ends the rotations whose new URL every attached app runs with: it is in the config of the
    /// app's live release, no release is pending, and no dyno of an older release runs (drained
    /// ones are gone). The previous credentials stop working in the next round.
    async fn finish_rotations(
        &self,
        ready: &[(&AddonRecord, u16)],
        listen: Ipv4Addr,
        units: &[UnitStatus],
        round: &mut Round,
    ) {
        for (addon, port) in ready.iter().filter(|(a, _)| a.previous.is_some()) {
            let endpoint = AddonEndpoint {
                host: listen,
                port: *port,
            };
            let url = connection_url(addon.service, &addon.name, &addon.credential, endpoint);
            let mut done = true;
            for attachment in &addon.attachments {
                let key = attachment.name.config_key();
                let live = self.store.current_release(&attachment.app).await;
                let pending = self.store.pending_release(&attachment.app).await;
                done &= match (live, pending) {
                    (Ok(live), Ok(None)) => match live {
                        // Not deployed yet: its first release gets the URL from its config.
                        None => attachment.applied_url.as_deref() == Some(url.as_str()),
                        Some(live) => {
                            live.config.get(key.as_str()) == Some(&url)
                                && !units.iter().any(|u| {
                                    DynoUnit::parse(&u.name).is_some_and(|d| {
                                        d.app == attachment.app && d.release < live.version
                                    })
                                })
                        }
                    },
                    _ => false,
                };
            }
            if done {
                let finished = self.store.finish_rotation(&addon.name).await;
                if round.count("ending a rotation", finished.map_err(Into::into)) {
                    tracing::info!(addon = %addon.name, "rotation done: the previous credentials stop working");
                    self.poke();
                }
            }
        }
    }

    /// Why each add-on failed in the last round, for the API to report.
    pub(crate) fn addon_failure(&self, name: &AddonName) -> Option<String> {
        self.addon_failures
            .lock()
            .expect("add-on failures lock")
            .get(name)
            .cloned()
    }
}
