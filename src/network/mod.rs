//! Private networks: every app's dynos, one-offs, cron jobs and release phase in a network
//! namespace of their own (its builds in a second one that always has egress), joined to the
//! host by a veth pair, and skiff's nftables table that keeps them apart. This is the thin I/O
//! shell: `setup.rs` (the `ip` commands) and `rules.rs` (the table) decide, `host.rs` reads the
//! host and runs `nft`, and namespaces are made and removed by oneshot units PID 1 runs
//! (`skiff-APP.net-KIND.service`), in the host's mount namespace where every unit sees them.

mod host;
mod host_routes;
mod rules;
mod setup;

#[cfg(any(test, feature = "fakes"))]
pub use host::FakeHost;
pub use host::{HostError, HostNetwork, LinuxHost};
use setup::ADDON_LINK;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::model::{
    parse_namespace_name, service_addr, service_port, AppName, AppNetwork, AppRoutes, Namespace,
    NetworkKind, NetworkRange,
};
use crate::store::{EgressSetting, Store, StoreError};
use crate::systemd::names::oneoff_unit_name;
use crate::systemd::properties::{host_commands_properties, HostCommandsSpec};
use crate::systemd::{Systemd, SystemdError};
use rules::{render, AddonGrant, RuleSet, ServiceRoute};
use setup::{addon_address_commands, setup_commands, teardown_commands};

/// The oneshot unit that makes the add-on address (its name is no add-on's and no app's).
const ADDON_ADDRESS_UNIT: &str = "skiff-addon-address.net.service";

/// The longest a setup or teardown unit may run.
const SETUP_TIMEOUT_USEC: u64 = 30_000_000;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("private networks are unavailable on this host: {0}; dynos are not started rather than run exposed on the host's network (set dyno_network = \"host\" in /etc/skiff/skiffd.toml to run them there anyway)")]
    Unavailable(String),
    #[error("dyno_network {range} overlaps the host's route to {destination}/{prefix} on {interface}; choose another range for dyno_network in /etc/skiff/skiffd.toml")]
    Overlap {
        range: NetworkRange,
        destination: std::net::Ipv4Addr,
        prefix: u8,
        interface: String,
    },
    #[error("dyno_network {range} has room for {capacity} apps; app {app} has no network")]
    Full {
        range: NetworkRange,
        capacity: u32,
        app: AppName,
    },
    #[error(
        "setting up the network of app {app} failed (journalctl -u {unit} says why): {source}"
    )]
    Setup {
        app: AppName,
        unit: String,
        source: SystemdError,
    },
    #[error("making the add-on address {addr} on {ADDON_LINK} failed (journalctl -u {ADDON_ADDRESS_UNIT} says why): {source}")]
    AddonAddress {
        addr: std::net::Ipv4Addr,
        source: SystemdError,
    },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An app allowed to reach the add-on server listening on `port` at the add-on address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddonAccess {
    pub app: AppName,
    pub port: u16,
}

/// How apps' networks are set up here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    /// None: dynos run on the host's network (`dyno_network = "host"`).
    pub range: Option<NetworkRange>,
    pub default_egress: bool,
    /// The proxy's ports, which namespaces may reach on the host.
    pub proxy_ports: Vec<u16>,
}

/// An app's network as `skiff network` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkDescription {
    /// The dynos' namespace and the service address, once the app has a slot; none on the
    /// host's network.
    pub placed: Option<(Namespace, std::net::Ipv4Addr)>,
    pub private: bool,
    pub egress: bool,
    /// Whether the egress is the app's own choice rather than the server's default.
    pub own_choice: bool,
}

/// Every app's network after a round, and what went wrong.
#[derive(Debug, Default)]
pub struct Converged {
    /// Apps whose namespaces are complete.
    pub ready: BTreeMap<AppName, AppNetwork>,
    pub failures: Vec<NetworkError>,
}

#[derive(Clone)]
pub struct Networking {
    settings: NetworkSettings,
    store: Store,
    systemd: Arc<dyn Systemd>,
    host: Arc<dyn HostNetwork>,
    /// Why private networks cannot work here (found at start), if they cannot.
    unavailable: Arc<Mutex<Option<String>>>,
    /// Namespaces are made and removed one at a time.
    changing: Arc<tokio::sync::Mutex<()>>,
    /// The last script applied and how nft listed the table right after.
    applied: Arc<Mutex<Option<(String, String)>>>,
}

impl Networking {
    pub fn new(
        settings: NetworkSettings,
        store: Store,
        systemd: Arc<dyn Systemd>,
        host: Arc<dyn HostNetwork>,
    ) -> Self {
        Self {
            settings,
            store,
            systemd,
            host,
            unavailable: Arc::default(),
            changing: Arc::default(),
            applied: Arc::default(),
        }
    }

    /// Where add-on servers listen: the add-on address of the range, or loopback on the host's
    /// network (where nothing but their passwords keeps apps apart).
    pub fn addon_addr(&self) -> std::net::Ipv4Addr {
        match self.settings.range {
            Some(range) => range.addon_addr(),
            None => std::net::Ipv4Addr::LOCALHOST,
        }
    }

    /// Makes the add-on address exist on loopback whenever the host does not have it (after a
    /// reboot, or if someone removed it). Nothing to do on the host's network.
    pub async fn ensure_addon_address(&self) -> Result<(), NetworkError> {
        if self.usable_range()?.is_none() {
            return Ok(());
        }
        let addr = self.addon_addr();
        if self.host.has_address(addr).await {
            return Ok(());
        }
        let spec = HostCommandsSpec {
            description: format!("skiff add-on address {addr}"),
            commands: addon_address_commands(addr),
            timeout_usec: SETUP_TIMEOUT_USEC,
        };
        tracing::info!(%addr, link = ADDON_LINK, "making the add-on address");
        self.systemd
            .start_transient(ADDON_ADDRESS_UNIT, host_commands_properties(&spec))
            .await
            .map_err(|source| NetworkError::AddonAddress { addr, source })
    }

    /// The range apps' networks come from; none on the host's network.
    pub fn range(&self) -> Option<NetworkRange> {
        self.settings.range
    }

    /// At start: whether this host can give apps private networks (said once, in the log, when
    /// it cannot), and a range that overlaps one of the host's routes is refused.
    pub async fn check_host(&self) -> Result<(), NetworkError> {
        let Some(range) = self.settings.range else {
            tracing::warn!("dyno_network = \"host\": dynos run on the host's network and listen on its addresses");
            return Ok(());
        };
        if let Some(reason) = self.host.unavailable().await {
            let error = NetworkError::Unavailable(reason.clone());
            tracing::error!("{error}");
            *self.unavailable.lock().expect("network lock") = Some(reason);
            return Ok(());
        }
        let routes = self.host.routes().await?;
        if let Some(route) = host_routes::overlapping_route(&range, &routes) {
            return Err(NetworkError::Overlap {
                range,
                destination: route.destination,
                prefix: route.prefix,
                interface: route.interface.clone(),
            });
        }
        self.host.enable_forwarding().await?;
        Ok(())
    }

    fn usable_range(&self) -> Result<Option<NetworkRange>, NetworkError> {
        match (
            &self.settings.range,
            &*self.unavailable.lock().expect("network lock"),
        ) {
            (None, _) => Ok(None),
            (Some(_), Some(reason)) => Err(NetworkError::Unavailable(reason.clone())),
            (Some(range), None) => Ok(Some(*range)),
        }
    }

    /// The namespace `app`'s processes of `kind` join (`/run/netns/…`), made first if missing;
    /// none on the host's network.
    pub async fn namespace_for(
        &self,
        app: &AppName,
        kind: NetworkKind,
    ) -> Result<Option<String>, NetworkError> {
        let Some(range) = self.usable_range()? else {
            return Ok(None);
        };
        let _one_at_a_time = self.changing.lock().await;
        let networks = self
            .store
            .assign_networks(range.capacity(), self.settings.default_egress)
            .await?;
        let Some(network) = networks.networks.into_iter().find(|n| &n.app == app) else {
            return Err(NetworkError::Full {
                range,
                capacity: range.capacity(),
                app: app.clone(),
            });
        };
        self.complete(&network, range, kind).await?;
        Ok(Some(network.namespace(&range, kind).path()))
    }

    /// Runs `commit` (the rename of app `old` to `new` in the DB) while no namespace changes,
    /// after giving `old`'s namespaces their names under `new`, so its dynos keep their network
    /// through the rename. When that fails the rename still happens: the next round makes `new`'s
    /// namespaces afresh, and the old dynos lose their network until they are replaced. When the
    /// commit fails, the new names go again before any other app could be given them.
    pub async fn carry_over<T, E>(
        &self,
        old: &AppName,
        new: &AppName,
        commit: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let _one_at_a_time = self.changing.lock().await;
        let mut carried = Vec::new();
        if let Err(e) = self.carry_over_namespaces(old, new, &mut carried).await {
            tracing::warn!(app = %old, renamed_to = %new, error = %e, "cannot carry the network namespaces over to the new name");
        }
        let committed = commit.await;
        if committed.is_err() {
            for (name, id) in carried {
                let undone = self
                    .run_host_commands(old, &format!("un{id}"), teardown_commands(&name))
                    .await;
                if let Err(e) = undone {
                    tracing::warn!(app = %old, namespace = %name, error = %e, "cannot remove the name a failed rename gave a namespace");
                }
            }
        }
        committed
    }

    /// Gives `old`'s namespaces their names under `new`, each one named in `carried` with the id
    /// of the unit that named it.
    async fn carry_over_namespaces(
        &self,
        old: &AppName,
        new: &AppName,
        carried: &mut Vec<(String, &'static str)>,
    ) -> Result<(), NetworkError> {
        let Some(range) = self.usable_range()? else {
            return Ok(());
        };
        let (Some(slot), _) = self.store.app_network(old).await? else {
            return Ok(());
        };
        let network = |app: &AppName| AppNetwork {
            app: app.clone(),
            slot,
            egress: true,
        };
        let (from, to) = (network(old), network(new));
        for kind in [NetworkKind::Dynos, NetworkKind::Build] {
            let (source, target) = (from.namespace(&range, kind), to.namespace(&range, kind));
            if !self.host.presence(&source).await.namespace
                || self.host.presence(&target).await.namespace
            {
                continue;
            }
            let id = match kind {
                NetworkKind::Dynos => "rename",
                NetworkKind::Build => "renamebuild",
            };
            let commands = setup::carry_over_commands(&source.path(), &target.path());
            self.run_host_commands(old, id, commands).await?;
            carried.push((target.name, id));
        }
        Ok(())
    }

    /// Makes what is missing of one of `network`'s namespaces.
    async fn complete(
        &self,
        network: &AppNetwork,
        range: NetworkRange,
        kind: NetworkKind,
    ) -> Result<(), NetworkError> {
        let namespace = network.namespace(&range, kind);
        let present = self.host.presence(&namespace).await;
        let commands = setup_commands(&namespace, present);
        if commands.is_empty() {
            return Ok(());
        }
        let id = match kind {
            NetworkKind::Dynos => "dynos",
            NetworkKind::Build => "build",
        };
        tracing::info!(app = %network.app, namespace = %namespace.name, address = %namespace.namespace_addr, "setting up network namespace");
        self.run_host_commands(&network.app, id, commands).await
    }

    async fn run_host_commands(
        &self,
        app: &AppName,
        id: &str,
        commands: Vec<crate::systemd::properties::HostCommand>,
    ) -> Result<(), NetworkError> {
        let unit = oneoff_unit_name(app, "net", id);
        let spec = HostCommandsSpec {
            description: format!("skiff network of {app}"),
            commands,
            timeout_usec: SETUP_TIMEOUT_USEC,
        };
        self.systemd
            .start_transient(&unit, host_commands_properties(&spec))
            .await
            .map_err(|source| NetworkError::Setup {
                app: app.clone(),
                unit,
                source,
            })
    }

    /// Every app gets its slot and complete namespaces; namespaces and veths of apps that are
    /// gone are removed once none of `busy`'s units runs (a crash may have left them).
    pub async fn converge(&self, busy: &BTreeSet<AppName>) -> Converged {
        let mut out = Converged::default();
        let range = match self.usable_range() {
            Ok(Some(range)) => range,
            Ok(None) => return out,
            Err(e) => {
                out.failures.push(e);
                return out;
            }
        };
        let _one_at_a_time = self.changing.lock().await;
        let networks = match self
            .store
            .assign_networks(range.capacity(), self.settings.default_egress)
            .await
        {
            Ok(networks) => networks,
            Err(e) => {
                out.failures.push(e.into());
                return out;
            }
        };
        out.failures
            .extend(networks.unplaced.iter().map(|app| NetworkError::Full {
                range,
                capacity: range.capacity(),
                app: app.clone(),
            }));
        for network in &networks.networks {
            let mut complete = true;
            for kind in [NetworkKind::Dynos, NetworkKind::Build] {
                if let Err(e) = self.complete(network, range, kind).await {
                    out.failures.push(e);
                    complete = false;
                }
            }
            if complete {
                out.ready.insert(network.app.clone(), network.clone());
            }
        }
        self.remove_strays(&networks.networks, busy, &mut out.failures)
            .await;
        out
    }

    /// Removes the namespaces of apps that are gone. Their veth pairs go with them; a veth
    /// whose namespace some process still holds is replaced when its slot is handed out again.
    async fn remove_strays(
        &self,
        networks: &[AppNetwork],
        busy: &BTreeSet<AppName>,
        failures: &mut Vec<NetworkError>,
    ) {
        let known: BTreeSet<&AppName> = networks.iter().map(|n| &n.app).collect();
        for name in self.host.namespaces().await {
            let Some((app, kind)) = parse_namespace_name(&name) else {
                continue;
            };
            if known.contains(&app) || busy.contains(&app) {
                continue;
            }
            tracing::info!(app = %app, namespace = %name, "removing the network namespace of a destroyed app");
            let id = match kind {
                NetworkKind::Dynos => "remove",
                NetworkKind::Build => "removebuild",
            };
            if let Err(e) = self
                .run_host_commands(&app, id, teardown_commands(&name))
                .await
            {
                failures.push(e);
            }
        }
    }

    /// What `app`'s network is.
    pub async fn describe(&self, app: &AppName) -> Result<NetworkDescription, NetworkError> {
        let (slot, setting) = self.store.app_network(app).await?;
        let egress = setting.effective(self.settings.default_egress);
        let placed = match (self.settings.range, slot) {
            (Some(range), Some(slot)) => {
                let network = AppNetwork {
                    app: app.clone(),
                    slot,
                    egress,
                };
                Some((
                    network.namespace(&range, NetworkKind::Dynos),
                    service_addr(&range, slot),
                ))
            }
            _ => None,
        };
        Ok(NetworkDescription {
            placed,
            private: self.settings.range.is_some(),
            egress,
            own_choice: setting.0.is_some(),
        })
    }

    /// Sets whether `app`'s dynos reach the internet (`None`: the server's default); the next
    /// round's rules carry it out, for running dynos too.
    pub async fn set_egress(
        &self,
        app: &AppName,
        egress: Option<bool>,
    ) -> Result<(), NetworkError> {
        self.store
            .set_dyno_egress(app, EgressSetting(egress))
            .await?;
        Ok(())
    }

    /// Replaces skiff's table when what it should hold changed, or when nft lists it otherwise
    /// than right after it was applied (someone changed or flushed it). Returns whether it did.
    pub async fn apply_rules(
        &self,
        networks: &BTreeMap<AppName, AppNetwork>,
        apps: &[AppRoutes],
        addons: &[AddonAccess],
    ) -> Result<bool, NetworkError> {
        let Some(range) = self.usable_range()? else {
            return Ok(false);
        };
        let script = render(&rule_set(&self.settings, range, networks, apps, addons));
        let listed = self.host.listed_rules().await?;
        let current = self.applied.lock().expect("rules lock").clone();
        if current.is_some_and(|(s, l)| s == script && l == listed) {
            return Ok(false);
        }
        self.host.apply_rules(&script).await?;
        let listed = self.host.listed_rules().await?;
        *self.applied.lock().expect("rules lock") = Some((script, listed));
        Ok(true)
    }
}

/// Pure: what the table holds for these apps' networks and routes.
fn rule_set(
    settings: &NetworkSettings,
    range: NetworkRange,
    networks: &BTreeMap<AppName, AppNetwork>,
    apps: &[AppRoutes],
    addons: &[AddonAccess],
) -> RuleSet {
    let mut rules = RuleSet {
        proxy_ports: settings.proxy_ports.clone(),
        ..RuleSet::default()
    };
    for network in networks.values() {
        rules.namespaces.extend(network.namespaces(&range));
        rules.service_addrs.push(service_addr(&range, network.slot));
    }
    for app in apps {
        let Some(network) = networks.get(&app.app) else {
            continue;
        };
        let dynos = network.namespace(&range, NetworkKind::Dynos);
        rules
            .routes
            .extend(app.upstreams.iter().map(|route| ServiceRoute {
                service_addr: service_addr(&range, network.slot),
                service_port: service_port(&route.dyno),
                dyno_addr: dynos.namespace_addr,
                dyno_port: route.port,
            }));
    }
    for access in addons {
        let Some(network) = networks.get(&access.app) else {
            continue;
        };
        let dynos = network.namespace(&range, NetworkKind::Dynos);
        rules.addon_grants.push(AddonGrant {
            host_veth: dynos.host_veth,
            from: dynos.namespace_addr,
            addon_addr: range.addon_addr(),
            port: access.port,
        });
    }
    rules
}

#[cfg(test)]
mod tests;
