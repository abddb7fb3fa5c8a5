//! The reconciler's part in private networks: each round every app gets complete namespaces
//! before its dynos start, and skiff's nftables table follows the routes before the proxy's
//! config does (so a new route exists in the rules before the proxy dials it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::round::Round;
use super::Reconciler;
use crate::health::LOOPBACK;
use crate::model::{AppName, AppNetwork, AppRoutes, CronUnit, DynoUnit, NetworkKind};
use crate::network::NetworkError;
use crate::systemd::names::oneoff_unit_app;
use crate::systemd::UnitStatus;

/// Apps' networks as one round sees them.
pub(super) struct RoundNetworks {
    range: Option<crate::model::NetworkRange>,
    ready: BTreeMap<AppName, AppNetwork>,
}

impl RoundNetworks {
    /// The namespace `app`'s dynos join: `Some(None)` on the host's network, `None` while the
    /// app's network is not ready (its dynos wait).
    pub(super) fn namespace(&self, app: &AppName) -> Option<Option<String>> {
        match self.range {
            None => Some(None),
            Some(range) => self
                .ready
                .get(app)
                .map(|n| Some(n.namespace(&range, NetworkKind::Dynos).path())),
        }
    }

    /// The address `app`'s dynos connect from (to add-on servers): their namespace's, loopback on
    /// the host's network; `None` while the app's network is not ready.
    pub(super) fn dyno_addr(&self, app: &AppName) -> Option<std::net::Ipv4Addr> {
        match self.range {
            None => Some(std::net::Ipv4Addr::LOCALHOST),
            Some(range) => self
                .ready
                .get(app)
                .map(|n| n.namespace(&range, NetworkKind::Dynos).namespace_addr),
        }
    }

    /// The address `app`'s dynos listen on, as health checks reach them.
    pub(super) fn dyno_ip(&self, app: &AppName) -> IpAddr {
        match (self.range, self.ready.get(app)) {
            (Some(range), Some(n)) => {
                IpAddr::V4(n.namespace(&range, NetworkKind::Dynos).namespace_addr)
            }
            _ => LOOPBACK,
        }
    }
}

/// Apps that still have units: their namespaces stay until those are gone.
fn apps_with_units(units: &[UnitStatus]) -> BTreeSet<AppName> {
    units
        .iter()
        .filter_map(|u| {
            DynoUnit::parse(&u.name)
                .map(|d| d.app)
                .or_else(|| CronUnit::parse(&u.name).map(|c| c.app))
                .or_else(|| oneoff_unit_app(&u.name))
        })
        .collect()
}

impl Reconciler {
    /// Completes every app's namespaces and removes those of gone apps. That the host cannot
    /// was said once at start and is not repeated every round.
    pub(super) async fn converge_networks(
        &self,
        units: &[UnitStatus],
        round: &mut Round,
    ) -> RoundNetworks {
        let converged = self.networks.converge(&apps_with_units(units)).await;
        for failure in &converged.failures {
            if matches!(failure, NetworkError::Unavailable(_)) {
                tracing::debug!(error = %failure, "dynos wait for a private network");
            } else {
                round.errors += 1;
                tracing::error!(error = %failure, "network setup failed");
            }
        }
        RoundNetworks {
            range: self.networks.range(),
            ready: converged.ready,
        }
    }

    /// Brings skiff's nftables table in line with the apps' networks and routes.
    pub(super) async fn apply_rules(
        &self,
        networks: &RoundNetworks,
        apps: &[AppRoutes],
        addons: &[crate::network::AddonAccess],
        round: &mut Round,
    ) {
        match self
            .networks
            .apply_rules(&networks.ready, apps, addons)
            .await
        {
            Ok(true) => tracing::info!(apps = networks.ready.len(), "network rules loaded"),
            Ok(false) => {}
            Err(NetworkError::Unavailable(_)) => {}
            Err(e) => {
                round.errors += 1;
                tracing::error!(error = %e, "applying the network rules failed");
            }
        }
    }
}
