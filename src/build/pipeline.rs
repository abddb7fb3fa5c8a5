//! The deploy pipeline: a source tree in a build workspace → sandboxed build unit → release phase
//! → a new release, with every stage's output streamed to the caller. A failure at any stage
//! changes nothing: the workspace is removed and the previous release stays live. The stages
//! themselves live in `stages.rs` (up to the sealed slug and its plan) and `release.rs` (from the
//! release phase on); what they decide is computed by `plan.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::plan::PlanError;
use crate::files::make_dir_mode;
use crate::journal::router::log_build_line;
use crate::journal::{LogError, LogSource};
use crate::model::{AppName, Limits, ReleaseRecord};
use crate::paths::Layout;
use crate::reconciler::Reconciler;
use crate::store::{Store, StoreError};
use crate::systemd::{Systemd, SystemdError};

/// Where a deploy's output lines go (the client's stream); a gone client does not stop a deploy.
pub type Output = mpsc::Sender<String>;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The source or its manifests are unusable: a clear message for the user.
    #[error("{0}")]
    Rejected(String),
    #[error("the build {0}")]
    BuildFailed(String),
    #[error("the release command {0}; the previous release stays live")]
    ReleasePhaseFailed(String),
    #[error("v{version} did not go live: {reason}; the previous release stays live{logs}")]
    Unhealthy {
        version: u32,
        reason: String,
        /// The app's last log lines, each on its own line, or empty.
        logs: String,
    },
    #[error(transparent)]
    Reconcile(#[from] crate::reconciler::ReconcileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error(transparent)]
    Volume(#[from] crate::volume_dirs::VolumeDirError),
    #[error("following the build's output: {0}")]
    Logs(#[from] LogError),
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error("{0} is being renamed; deploy it under its new name")]
    Renaming(AppName),
}

impl From<PlanError> for DeployError {
    fn from(e: PlanError) -> Self {
        DeployError::Rejected(e.to_string())
    }
}

pub(super) fn io_err(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeployError {
    let action = action.into();
    move |source| DeployError::Io { action, source }
}

/// Runs slow disk work on the blocking pool; `action` names it in the error.
pub(super) async fn blocking<T: Send + 'static>(
    action: &'static str,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, DeployError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io_err(action)(std::io::Error::other(e)))?
        .map_err(io_err(action))
}

/// One deploy's output: the lines go to the client's stream, and skiffd's own (what `say`
/// writes) to journald too, tagged with the build, so `releases:output` shows the whole of it
/// beside the build unit's and the release phase's lines, which journald has already.
#[derive(Clone)]
pub(super) struct DeployLog {
    sink: Output,
    app: AppName,
    build_id: String,
}

impl DeployLog {
    pub(super) fn new(sink: Output, app: &AppName, build_id: &str) -> Self {
        Self {
            sink,
            app: app.clone(),
            build_id: build_id.to_owned(),
        }
    }

    /// The client's stream alone, for lines journald already holds.
    pub(super) fn sink(&self) -> Output {
        self.sink.clone()
    }
}

/// Tells the client `line` and keeps it with the build's output in journald.
pub(super) async fn say(out: &DeployLog, line: impl Into<String>) {
    let line = line.into();
    log_build_line(&out.app, &out.build_id, &line);
    let _ = out.sink.send(line).await;
}

/// Limits of builds and one-off runs, from skiffd.toml.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub memory_bytes: u64,
    pub timeout: Duration,
    pub keep_releases: u32,
    pub max_slug_size: u64,
    /// Limits of the release phase and postdeploy (a dyno's defaults).
    pub oneoff_limits: Limits,
}

/// One build's scratch space: `builds/ID/` with the source in `app/`; removed at the end of its
/// deploy, or when dropped (after a successful deploy `app/` has already become the slug).
pub struct Workspace {
    pub id: String,
    pub root: PathBuf,
    pub(super) env_file: PathBuf,
    removed: bool,
    /// The app's name stays until the workspace is gone: no rename moves it mid-upload or mid-build.
    _name: NameHold,
}

/// A shared hold on an app's name, taken before its upload is received and kept through its
/// build; `apps:rename` needs the name unheld.
pub struct NameHold {
    _held: tokio::sync::OwnedRwLockReadGuard<()>,
}

fn remove_workspace(root: &std::path::Path, env_file: &std::path::Path) {
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_file(env_file);
}

impl Workspace {
    /// The source tree: unpack the upload here (it does not exist yet).
    pub fn source_dir(&self) -> PathBuf {
        self.root.join("app")
    }

    pub(super) fn meta_dir(&self) -> PathBuf {
        self.root.join("meta")
    }

    /// Removes the workspace on the blocking pool and waits for it.
    pub(super) async fn remove(mut self) {
        self.removed = true;
        let (root, env_file) = (self.root.clone(), self.env_file.clone());
        let _ = tokio::task::spawn_blocking(move || remove_workspace(&root, &env_file)).await;
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        // Done before the drop returns, so a failed upload's answer comes after its cleanup; on
        // a multi-threaded runtime the worker hands its other tasks on while it removes.
        let remove = || remove_workspace(&self.root, &self.env_file);
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(remove),
            _ => remove(),
        }
    }
}

/// Runs deploys; one at a time per app.
#[derive(Clone)]
pub struct Deployer {
    pub(super) store: Store,
    pub(super) systemd: Arc<dyn Systemd>,
    pub(super) logs: Arc<dyn LogSource>,
    pub(super) layout: Layout,
    pub(super) reconciler: Reconciler,
    pub(super) settings: BuildSettings,
    locks: Arc<Mutex<HashMap<AppName, Arc<tokio::sync::Mutex<()>>>>>,
    names: Arc<Mutex<HashMap<AppName, Arc<tokio::sync::RwLock<()>>>>>,
}

impl Deployer {
    pub fn new(
        store: Store,
        systemd: Arc<dyn Systemd>,
        logs: Arc<dyn LogSource>,
        layout: Layout,
        reconciler: Reconciler,
        settings: BuildSettings,
    ) -> Self {
        Self {
            store,
            systemd,
            logs,
            layout,
            reconciler,
            settings,
            locks: Arc::default(),
            names: Arc::default(),
        }
    }

    /// Holds `app`'s name for an upload and its build; refused while the app is being renamed.
    pub fn hold_name(&self, app: &AppName) -> Result<NameHold, DeployError> {
        let name = self.name_lock(app);
        name.try_read_owned()
            .map(|held| NameHold { _held: held })
            .map_err(|_| DeployError::Renaming(app.clone()))
    }

    pub(super) fn name_lock(&self, app: &AppName) -> Arc<tokio::sync::RwLock<()>> {
        let mut names = self.names.lock().expect("name holds");
        Arc::clone(names.entry(app.clone()).or_default())
    }

    /// A fresh, root-only workspace for one build of `app`, whose name `hold` keeps.
    pub fn workspace(&self, app: &AppName, hold: NameHold) -> Result<Workspace, DeployError> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let builds = self.layout.builds_dir(app);
        make_dir_mode(&builds, 0o700).map_err(io_err("creating the builds directory"))?;
        let root = builds.join(&id);
        make_dir_mode(&root, 0o700).map_err(io_err("creating the build workspace"))?;
        let env_file = self.layout.build_env_file(app, &id);
        Ok(Workspace {
            id,
            root,
            env_file,
            removed: false,
            _name: hold,
        })
    }

    pub(super) fn app_lock(&self, app: &AppName) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("deploy locks");
        Arc::clone(locks.entry(app.clone()).or_default())
    }

    /// Builds the source in `ws` and makes it the app's next release.
    pub async fn deploy(
        &self,
        app: &AppName,
        ws: Workspace,
        description: String,
        out: &Output,
    ) -> Result<ReleaseRecord, DeployError> {
        let out = &DeployLog::new(out.clone(), app, &ws.id);
        let lock = self.app_lock(app);
        let _guard = match lock.try_lock() {
            Ok(g) => g,
            Err(_) => {
                say(
                    out,
                    format!("-----> Waiting for the running deploy of {app} to finish"),
                )
                .await;
                lock.lock().await
            }
        };
        let result = self.run_stages(app, &ws, description, out).await;
        ws.remove().await;
        result
    }

    /// Every stage in order; the first failure ends the deploy before anything is committed.
    async fn run_stages(
        &self,
        app: &AppName,
        ws: &Workspace,
        description: String,
        out: &DeployLog,
    ) -> Result<ReleaseRecord, DeployError> {
        let started = Instant::now();
        // Without a network for its dynos the deploy could never go live: it says why first.
        self.reconciler
            .networks()
            .namespace_for(app, crate::model::NetworkKind::Dynos)
            .await?;
        let intake = self.intake(app, ws).await?;
        say(
            out,
            format!("-----> {} app detected", intake.build.builder.name()),
        )
        .await;
        self.build(app, ws, &intake, out).await?;
        let slug_bytes = self.seal(ws).await?;
        let plan = self.plan_release(app, ws, &intake, slug_bytes).await?;
        for line in plan.summary() {
            say(out, line).await;
        }
        self.release_phase(app, ws, &plan, out).await?;
        let release = self.commit(app, ws, &plan, description).await?;
        self.go_live(app, release.version, out).await?;
        say(
            out,
            format!(
                "-----> Released v{} ({:.1} s)",
                release.version,
                started.elapsed().as_secs_f64()
            ),
        )
        .await;
        self.apply_retention(app, out).await;
        self.postdeploy(app, ws, &plan, &release, out).await;
        Ok(release)
    }
}
