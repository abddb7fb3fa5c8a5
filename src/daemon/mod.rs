//! skiffd's life cycle: logging, capabilities, listeners, readiness, serving and graceful shutdown.

use std::future::{Future, IntoFuture};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

mod args;
mod sockets;
mod tasks;

pub use sockets::Listeners;
use sockets::{admin_gid, dashboard_address, dashboard_socket, wake_socket};

pub use args::DaemonArgs;

use anyhow::{bail, Context};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::activity::Activity;
use crate::addons::postgres::{DebianPostgres, PostgresServer};
use crate::addons::redis::{DebianRedis, RedisServer};
use crate::addons::Addons;
use crate::api::{self, AppState, BackupSettings, LocalPolicy, Peer, UploadLimits};
use crate::build::pipeline::{BuildSettings, Deployer};
use crate::config::{Config, LogLevel};
use crate::health::{NetProber, Prober};
use crate::journal::{Journalctl, LogSource};
use crate::metrics::RouterMetrics;
use crate::network::{HostNetwork, LinuxHost, NetworkSettings, Networking};
use crate::oneoff::{RunSettings, Runner};
use crate::paths::Layout;
pub use crate::proxy::migrate_queued_connections;
use crate::proxy::{CaddyAdmin, Proxy, ProxySettings, ACCESS_LOG, ADMIN_SOCKET};
use crate::reconciler::{DynoDefaults, Reconciler, Traffic};
use crate::store::Store;
use crate::systemd::names::DAEMON_UNIT;
use crate::systemd::{DbusSystemd, Systemd};
use crate::wake::Waker;

/// The group whose members may use the local API socket.
pub const ADMIN_GROUP: &str = "skiff";

/// Capabilities skiffd keeps; ARCHITECTURE.md and the unit's `CapabilityBoundingSet=` list the same.
pub const KEPT_CAPABILITIES: &[caps::Capability] = &[
    // Give the API socket (and later app files) to group skiff.
    caps::Capability::CAP_CHOWN,
    // Read and write files owned by dynos' dynamic users (slugs, build dirs, caches).
    caps::Capability::CAP_DAC_OVERRIDE,
    // Set modes on files skiffd does not own.
    caps::Capability::CAP_FOWNER,
    // Let `listen_tcp` use a port below 1024 if an operator asks for one.
    caps::Capability::CAP_NET_BIND_SERVICE,
    // Replace skiff's nftables table (`nft`) and turn on IPv4 forwarding for apps' networks.
    caps::Capability::CAP_NET_ADMIN,
];

/// Sends skiffd's own logs to journald (identifier `skiffd`, fields prefixed `SKIFF_`) when
/// started by systemd, else to stderr. `SKIFFD_LOG` (an EnvFilter) overrides the config's level.
pub fn init_logging(level: LogLevel) {
    let filter = EnvFilter::try_from_env("SKIFFD_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,skiff={level},skiffd={level},tower_http={level}"
        ))
    });
    let registry = tracing_subscriber::registry().with(filter);
    let journald = std::env::var_os("JOURNAL_STREAM")
        .and_then(|_| tracing_journald::layer().ok())
        .map(|layer| {
            layer
                .with_syslog_identifier("skiffd".to_owned())
                .with_field_prefix(Some("SKIFF".to_owned()))
        });
    match journald {
        Some(layer) => registry.with(layer).init(),
        None => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
    }
}

/// Drops every capability but [`KEPT_CAPABILITIES`] from the bounding, permitted and effective
/// sets. Does nothing when not running as root (tests, development).
pub fn drop_capabilities() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let keep: caps::CapsHashSet = KEPT_CAPABILITIES.iter().copied().collect();
    let bounding =
        caps::read(None, caps::CapSet::Bounding).context("reading the capability bounding set")?;
    let mut to_drop: Vec<_> = bounding.difference(&keep).copied().collect();
    // Dropping from the bounding set needs CAP_SETPCAP, so it goes last.
    to_drop.sort_by_key(|c| *c == caps::Capability::CAP_SETPCAP);
    for cap in to_drop {
        caps::drop(None, caps::CapSet::Bounding, cap)
            .with_context(|| format!("dropping {cap} from the bounding set"))?;
    }
    let permitted = caps::read(None, caps::CapSet::Permitted)?;
    let kept: caps::CapsHashSet = permitted.intersection(&keep).copied().collect();
    caps::clear(None, caps::CapSet::Inheritable)?;
    caps::set(None, caps::CapSet::Effective, &kept)?;
    caps::set(None, caps::CapSet::Permitted, &kept)?;
    Ok(())
}

/// The outside systems skiffd talks to, real in production and fakes in tests.
pub struct Adapters {
    pub systemd: Arc<dyn Systemd>,
    pub logs: Arc<dyn LogSource>,
    pub proxy: Arc<dyn Proxy>,
    pub prober: Arc<dyn Prober>,
    /// The host's network namespaces, veths and nftables.
    pub host: Arc<dyn HostNetwork>,
    /// skiff's Postgres cluster.
    pub postgres: Arc<dyn PostgresServer>,
    /// The add-ons' Redis servers.
    pub redis: Arc<dyn RedisServer>,
    /// Relay the proxy's access lines as router lines to journald.
    pub relay_router_log: bool,
}

impl Adapters {
    /// The real ones: PID 1 over the system bus, journalctl, skiff's Caddy, network probes,
    /// Debian's Postgres and Redis servers keeping their data under the state dir.
    pub async fn production(config: &Config) -> anyhow::Result<Self> {
        let systemd: Arc<dyn Systemd> = Arc::new(
            DbusSystemd::connect_system()
                .await
                .context("cannot reach systemd over D-Bus")?,
        );
        Ok(Self {
            postgres: Arc::new(DebianPostgres::new(Arc::clone(&systemd), &config.state_dir)),
            redis: Arc::new(DebianRedis::new(Arc::clone(&systemd), &layout(config))),
            systemd,
            logs: Arc::new(Journalctl),
            proxy: Arc::new(CaddyAdmin::new(ADMIN_SOCKET)),
            prober: Arc::new(NetProber),
            host: Arc::new(LinuxHost),
            relay_router_log: true,
        })
    }
}

/// The add-on plans, checked when the config was read.
fn backup_settings(config: &Config) -> BackupSettings {
    BackupSettings {
        floor: config.backup_free_space_floor.0,
        keep: config
            .backup_retention()
            .expect("retention is checked when the config is read"),
    }
}

/// The add-ons, copying checked backups off the server when `backup_copy_to` says where.
fn addons(
    config: &Config,
    postgres: Arc<dyn crate::addons::postgres::PostgresServer>,
    redis: Arc<dyn crate::addons::redis::RedisServer>,
) -> Addons {
    let addons = Addons::new(postgres, redis, plans(config));
    if config.backup_copy_to.is_empty() {
        return addons;
    }
    addons.with_copier(Arc::new(crate::addons::copies::Rclone {
        config: config.backup_rclone_config.clone(),
        destination: config.backup_copy_to.clone(),
    }))
}

fn plans(config: &Config) -> crate::model::Plans {
    config
        .plans()
        .expect("plans are checked when the config is read")
}

/// Where skiffd's files are: the state dir, and the runtime dir beside the API socket.
pub(super) fn layout(config: &Config) -> Layout {
    let runtime_dir = config
        .socket_path
        .parent()
        .unwrap_or(Path::new("/run/skiff"));
    Layout::new(&config.state_dir, runtime_dir)
}

/// What the proxy config is rendered with.
pub fn proxy_settings(config: &Config) -> ProxySettings {
    ProxySettings {
        base_domain: config.base_domain.clone(),
        tls: config.tls,
        acme_email: config.acme_email.clone(),
        admin_socket: ADMIN_SOCKET.into(),
        access_log: ACCESS_LOG.into(),
        storage_dir: config.state_dir.join("caddy"),
        http_port: 80,
        https_port: 443,
        max_body: config.max_request_body.0,
        network: config.dyno_network.range(),
        wake_socket: wake_socket(config),
        dashboard: config
            .dashboard_host()
            .map(|host| (host, dashboard_socket(config))),
        api: config
            .api_domain
            .0
            .as_ref()
            .map(|host| (host.to_string(), sockets::api_proxied_socket(config))),
    }
}

/// How apps' private networks are set up.
pub fn network_settings(config: &Config) -> NetworkSettings {
    let proxy = proxy_settings(config);
    NetworkSettings {
        range: config.dyno_network.range(),
        default_egress: config.dyno_egress,
        proxy_ports: vec![proxy.http_port, proxy.https_port],
    }
}

/// Opens the database and clears what an earlier skiffd left unfinished: backups in progress
/// (marked failed, their temporaries removed) and a server restore's staging folder.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let db_path = config.db_path();
    let store = tokio::task::spawn_blocking(move || Store::open(&db_path)).await??;
    // No backup survives its skiffd: one still in progress was interrupted and is not good.
    let interrupted = store.fail_interrupted_backups().await?;
    if interrupted > 0 {
        tracing::warn!(
            count = interrupted,
            "backups interrupted when skiffd last stopped are marked failed"
        );
    }
    let backup_layout = layout(config);
    tokio::task::spawn_blocking(move || {
        crate::addons::remove_temporaries(&backup_layout);
        crate::server_backup::remove_leftovers(&backup_layout);
    })
    .await?;
    Ok(store)
}

/// Runs the daemon until `shutdown` resolves, then stops accepting and finishes in-flight requests.
pub async fn run(
    config: Config,
    listeners: Listeners,
    adapters: Adapters,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let relay_router_log = adapters.relay_router_log;
    let store = open_store(&config).await?;
    let activity = Activity::default();
    let metrics = if config.metrics {
        RouterMetrics::default()
    } else {
        RouterMetrics::off()
    };
    // What PID 1 can do decides some unit properties (systemd 254 grows restart delays).
    let systemd_version = adapters.systemd.version().await.unwrap_or_default();
    tracing::info!(version = %systemd_version, "systemd");
    let state = app_state(
        &config,
        store,
        adapters,
        (activity.clone(), metrics.clone()),
        &systemd_version,
    );
    let reconciler = state.reconciler.clone();
    let monitoring = tasks::monitor_of(&config, &state, metrics.clone());
    reconciler.networks().check_host().await?;
    // Before any round or request: files a crash left under an app's former name.
    crate::build::rename::complete_renames(&state.store, &state.layout).await?;
    // Each drain goes on from the last line it delivered, those written while skiffd was stopped first.
    state.drains.sync().await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let routers = Routers::new(&config, state, activity.clone(), &stop_rx);
    let mut servers = serve(listeners, routers, &stop_rx)?;
    servers.spawn({
        let stop = stopped(stop_rx.clone());
        async move {
            reconciler
                .run(stop)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    });
    tasks::spawn_monitoring(&mut servers, &config, monitoring, &stop_rx);
    if relay_router_log {
        let position = config.state_dir.join("router-log.position");
        servers.spawn(tasks::relay_router_lines(
            position,
            activity,
            metrics,
            stop_rx.clone(),
        ));
    }

    notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = tasks::spawn_watchdog();
    tracing::info!(socket = %config.socket_path.display(), version = env!("CARGO_PKG_VERSION"), "skiffd ready");

    tokio::select! {
        () = shutdown => {}
        Some(result) = servers.join_next() => {
            result?.context("API server stopped")?;
            bail!("API server stopped unexpectedly");
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    while let Some(result) = servers.join_next().await {
        result?.context("API server failed while stopping")?;
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once the stop signal turns true (or its sender is gone).
pub(crate) async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

pub(crate) type Servers = tokio::task::JoinSet<std::io::Result<()>>;

/// What each listener serves.
struct Routers {
    api: axum::Router,
    wake: axum::Router,
    dashboard: axum::Router,
}

impl Routers {
    /// The API (its streams end when skiffd stops), the wake endpoint and the dashboard on it.
    fn new(
        config: &Config,
        state: AppState,
        activity: Activity,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let waker = Waker::new(&state, activity, config.wake_timeout.0);
        let store = state.store.clone();
        let body_limit = usize::try_from(config.api_body_limit.0).unwrap_or(usize::MAX);
        let api = api::router(state, body_limit).layer(axum::middleware::map_response_with_state(
            stop.clone(),
            api::shutdown::end_streams_on_stop,
        ));
        Self {
            wake: crate::wake::router(waker),
            dashboard: crate::dashboard::router(api.clone(), store),
            api,
        }
    }
}

/// Serves the API on the socket and the optional TCP listener, the wake socket and the
/// dashboard until the stop signal.
fn serve(
    listeners: Listeners,
    routers: Routers,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Servers> {
    let Routers {
        api: app,
        wake,
        dashboard,
    } = routers;
    let mut servers = Servers::new();
    servers.spawn(
        axum::serve(listeners.wake, wake)
            .with_graceful_shutdown(stopped(stop.clone()))
            .into_future(),
    );
    servers.spawn(
        axum::serve(listeners.dashboard, dashboard)
            .with_graceful_shutdown(stopped(stop.clone()))
            .into_future(),
    );
    servers.spawn(
        axum::serve(
            listeners.unix,
            app.clone().into_make_service_with_connect_info::<Peer>(),
        )
        .with_graceful_shutdown(stopped(stop.clone()))
        .into_future(),
    );
    if let Some(proxied) = listeners.api_proxied {
        tracing::info!("serving the API to skiff's Caddy for api_domain (bearer tokens required)");
        servers.spawn(
            axum::serve(
                proxied,
                app.clone().into_make_service_with_connect_info::<Peer>(),
            )
            .with_graceful_shutdown(stopped(stop.clone()))
            .into_future(),
        );
    }
    if let Some(tcp) = listeners.tcp {
        tracing::info!(addr = %tcp.local_addr()?, "listening on TCP (bearer tokens required)");
        servers.spawn(
            axum::serve(tcp, app.into_make_service_with_connect_info::<Peer>())
                .with_graceful_shutdown(stopped(stop.clone()))
                .into_future(),
        );
    }
    Ok(servers)
}

/// The proxy, health checks, drains and sleep the reconciler moves traffic with.
fn traffic(
    config: &Config,
    proxy: Arc<dyn Proxy>,
    prober: Arc<dyn Prober>,
    activity: Activity,
) -> Traffic {
    Traffic {
        proxy,
        prober,
        settings: proxy_settings(config),
        drain: config.drain_timeout.0,
        // Apps on the host's network cannot sleep: a woken app's requests need the fixed
        // service address of a private network.
        sleep_default: config
            .sleep_after
            .0
            .filter(|_| config.dyno_network.range().is_some()),
        activity,
    }
}

/// How builds run: their limits and timeout, and the release phase's and postdeploy's limits.
fn build_settings(config: &Config, dyno_defaults: &DynoDefaults) -> BuildSettings {
    BuildSettings {
        memory_bytes: config.build_memory.0,
        timeout: config.build_timeout.0,
        keep_releases: config.keep_releases,
        max_slug_size: config.max_slug_size.0,
        oneoff_limits: dyno_defaults.limits,
    }
}

fn upload_limits(config: &Config) -> UploadLimits {
    UploadLimits {
        max_upload: config.max_upload.0,
        max_slug_size: config.max_slug_size.0,
    }
}

/// Wires the store and the adapters into the reconciler, the deployer, the one-off runner and
/// everything else a handler may touch.
fn app_state(
    config: &Config,
    store: Store,
    adapters: Adapters,
    (activity, metrics): (Activity, RouterMetrics),
    systemd_version: &str,
) -> AppState {
    let Adapters {
        systemd,
        logs,
        proxy,
        prober,
        host,
        postgres,
        redis,
        relay_router_log: _,
    } = adapters;
    let layout = layout(config);
    let dyno_defaults = DynoDefaults {
        restart: crate::systemd::properties::RestartPolicy::for_systemd(systemd_version),
        ..DynoDefaults::from_config(config)
    };
    let networks = Networking::new(
        network_settings(config),
        store.clone(),
        Arc::clone(&systemd),
        host,
    );
    let reconciler = Reconciler::new(
        store.clone(),
        Arc::clone(&systemd),
        layout.clone(),
        dyno_defaults.clone(),
        traffic(config, proxy, prober, activity),
        networks.clone(),
        addons(config, postgres, redis),
    );
    let deployer = Deployer::new(
        store.clone(),
        Arc::clone(&systemd),
        Arc::clone(&logs),
        layout.clone(),
        reconciler.clone(),
        build_settings(config, &dyno_defaults),
    );
    let runner = Runner::new(
        Arc::clone(&systemd),
        networks,
        store.clone(),
        layout.clone(),
        run_settings(config, &dyno_defaults),
    );
    let dynos =
        crate::monitor::DynoLister::new(store.clone(), Arc::clone(&systemd), dyno_defaults.clone());
    AppState {
        runner,
        drains: crate::drains::Drains::new(store.clone(), Arc::clone(&logs)),
        watched: crate::monitor::Watched::default(),
        alert_webhook: config.alert_webhook.0.clone(),
        dynos,
        metrics,
        store,
        systemd,
        logs,
        reconciler,
        deployer,
        layout,
        limits: upload_limits(config),
        dyno_defaults,
        backups: backup_settings(config),
        started: Instant::now(),
        base_domain: config.base_domain.clone(),
        dashboard: dashboard_address(config),
        local_policy: LocalPolicy {
            daemon_uid: nix::unistd::geteuid().as_raw(),
            admin_gid: admin_gid(),
        },
    }
}

/// One-off dynos: the dynos' limits, `run_timeout` at most, attached ones part of skiffd.
fn run_settings(config: &Config, dyno_defaults: &DynoDefaults) -> RunSettings {
    RunSettings {
        limits: dyno_defaults.limits,
        max_timeout: config.run_timeout.0,
        daemon_unit: Some(DAEMON_UNIT.to_owned()),
    }
}

pub(crate) fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
