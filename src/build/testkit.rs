//! A deployer over fakes for the pipeline's tests: an in-memory store, fake systemd, logs, proxy
//! and prober, and temporary state and runtime directories.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::pipeline::{BuildSettings, DeployError, DeployLog, Deployer, Workspace};
use crate::config::Config;
use crate::health::FakeProber;
use crate::journal::FakeLogs;
use crate::model::AppName;
use crate::model::ReleaseRecord;
use crate::paths::Layout;
use crate::proxy::FakeProxy;
use crate::reconciler::{DynoDefaults, Reconciler, Traffic};
use crate::store::Store;
use crate::systemd::FakeSystemd;

pub(super) struct Kit {
    _dir: tempfile::TempDir,
    pub(super) store: Store,
    pub(super) systemd: Arc<FakeSystemd>,
    pub(super) layout: Layout,
    pub(super) reconciler: Reconciler,
    pub(super) prober: Arc<FakeProber>,
    pub(super) deployer: Deployer,
    pub(super) app: AppName,
}

/// A deployer for the app `my-app`, which exists and has never been deployed.
pub(super) async fn kit() -> Kit {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(&dir.path().join("state"), &dir.path().join("run"));
    let store = Store::open_in_memory().unwrap();
    let systemd = Arc::new(FakeSystemd::default());
    let config = Config::default();
    let defaults = DynoDefaults::from_config(&config);
    let prober = Arc::new(FakeProber::default());
    let reconciler = Reconciler::new(
        store.clone(),
        systemd.clone(),
        layout.clone(),
        defaults.clone(),
        Traffic {
            proxy: Arc::new(FakeProxy::default()),
            prober: prober.clone(),
            settings: crate::daemon::proxy_settings(&config),
            drain: Duration::ZERO,
            sleep_default: None,
            activity: crate::activity::Activity::default(),
        },
        crate::network::Networking::new(
            crate::daemon::network_settings(&Config::default()),
            store.clone(),
            systemd.clone(),
            Arc::new(crate::network::FakeHost::default()),
        ),
        crate::addons::Addons::new(
            Arc::new(crate::addons::postgres::FakePostgres::default()),
            Arc::new(crate::addons::redis::FakeRedis::default()),
            config.plans().unwrap(),
        ),
    );
    let logs = Arc::new(FakeLogs {
        build_lines: vec!["building".into()],
        lines: vec!["app[web.1]: cannot bind".into()],
        ..FakeLogs::default()
    });
    let deployer = Deployer::new(
        store.clone(),
        systemd.clone(),
        logs,
        layout.clone(),
        reconciler.clone(),
        BuildSettings {
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(60),
            keep_releases: 1,
            max_slug_size: 64 << 20,
            oneoff_limits: defaults.limits,
        },
    );
    let app = AppName::parse("my-app").unwrap();
    store.create_app(app.clone()).await.unwrap();
    Kit {
        _dir: dir,
        store,
        systemd,
        layout,
        reconciler,
        prober,
        deployer,
        app,
    }
}

/// A deploy's output channel; the receiver collects what was said.
pub(super) fn output() -> (DeployLog, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel(1024);
    let app = AppName::parse("test-output").expect("a valid name");
    (DeployLog::new(tx, &app, "test-build"), rx)
}

/// Everything said so far.
pub(super) fn said(rx: &mut mpsc::Receiver<String>) -> String {
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        lines.push(line);
    }
    lines.join("\n")
}

impl Kit {
    /// A workspace whose source tree holds `files`.
    pub(super) fn workspace(&self, files: &[(&str, &str)]) -> Workspace {
        let hold = self.deployer.hold_name(&self.app).unwrap();
        let ws = self.deployer.workspace(&self.app, hold).unwrap();
        let source = ws.source_dir();
        std::fs::create_dir_all(&source).unwrap();
        for (name, text) in files {
            std::fs::write(source.join(name), text).unwrap();
        }
        ws
    }

    /// A whole deploy of `files`, with the reconciler running to take the release live.
    pub(super) async fn deploy(
        &self,
        files: &[(&str, &str)],
    ) -> (Result<ReleaseRecord, DeployError>, String) {
        let running = tokio::spawn(self.reconciler.clone().run(std::future::pending()));
        let (out, mut rx) = mpsc::channel(1024);
        let ws = self.workspace(files);
        let result = self
            .deployer
            .deploy(&self.app, ws, "Deploy".into(), &out)
            .await;
        running.abort();
        (result, said(&mut rx))
    }
}
