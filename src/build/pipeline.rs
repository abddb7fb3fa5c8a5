//! The deploy pipeline: a source tree in a build workspace → sandboxed build unit → release phase
//! → a new release, with every stage's output streamed to the caller. A failure at any stage
//! changes nothing: the workspace is removed and the previous release stays live.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::app_json::{self, AppJson};
use super::detect::{detect, merge_processes, Builder, BuildpackSource, SourceFacts};
use super::script::{build_script, parse_release_yaml};
use crate::files::{make_dir_mode, open_tree, seal_tree, write_private};
use crate::journal::{LogError, LogQuery, LogSource};
use crate::model::{
    AppName, ConfigVars, FirstDeployDefaults, Limits, Procfile, ReleaseRecord, ReleaseStatus,
};
use crate::paths::Layout;
use crate::reconcile::render_env_file;
use crate::reconciler::Reconciler;
use crate::store::{Store, StoreError};
use crate::systemd::names::oneoff_unit_name;
use crate::systemd::properties::{
    build_properties, oneoff_properties, BuildSpec, OneOffCommand, OneOffLifetime, OneOffSpec,
    OneOffStdio, Property,
};
use crate::systemd::{RunOutcome, Systemd, SystemdError};

/// Where a deploy's output lines go (the client's stream); a gone client does not stop a deploy.
pub type Output = mpsc::Sender<String>;

/// How long to keep reading a unit's output after it ended, once no new line arrives.
const OUTPUT_DRAIN_IDLE: Duration = Duration::from_millis(400);
/// How many of the app's log lines a failed health check reports.
const LAST_LOG_LINES: u32 = 15;

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
    #[error("following the build's output: {0}")]
    Logs(#[from] LogError),
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
}

fn io_err(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeployError {
    let action = action.into();
    move |source| DeployError::Io { action, source }
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

/// One build's scratch space: `builds/ID/` with the source in `app/`; removed when dropped
/// (after a successful deploy `app/` has already become the slug).
pub struct Workspace {
    pub id: String,
    pub root: PathBuf,
    env_file: PathBuf,
}

impl Workspace {
    /// The source tree: unpack the upload here (it does not exist yet).
    pub fn source_dir(&self) -> PathBuf {
        self.root.join("app")
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_file(&self.env_file);
    }
}

/// Runs deploys; one at a time per app.
#[derive(Clone)]
pub struct Deployer {
    store: Store,
    systemd: Arc<dyn Systemd>,
    logs: Arc<dyn LogSource>,
    layout: Layout,
    reconciler: Reconciler,
    settings: BuildSettings,
    locks: Arc<Mutex<HashMap<AppName, Arc<tokio::sync::Mutex<()>>>>>,
}

async fn say(out: &Output, line: impl Into<String>) {
    let _ = out.send(line.into()).await;
}

/// Reads what the detector needs from the source's root.
fn source_facts(dir: &Path, config: &ConfigVars) -> SourceFacts {
    let read = |name: &str| -> Option<String> {
        let path = dir.join(name);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > 1024 * 1024 {
            return None;
        }
        std::fs::read_to_string(path).ok()
    };
    let root_files = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    SourceFacts {
        root_files,
        package_json: read("package.json"),
        requirements_txt: read("requirements.txt"),
        go_mod: read("go.mod"),
        buildpacks_file: read(".buildpacks"),
        buildpack_url: config.get("BUILDPACK_URL").cloned(),
        has_procfile: std::fs::symlink_metadata(dir.join("Procfile")).is_ok_and(|m| m.is_file()),
    }
}

/// The release's Procfile: the app's own, over what the builder and buildpacks provide.
fn release_procfile(
    dir: &Path,
    meta: &Path,
    builder: &Builder,
    facts: &SourceFacts,
) -> Result<Procfile, DeployError> {
    let own = match std::fs::symlink_metadata(dir.join("Procfile")) {
        Ok(m) if m.is_file() => {
            let text = std::fs::read_to_string(dir.join("Procfile"))
                .map_err(|e| DeployError::Rejected(format!("cannot read the Procfile: {e}")))?;
            Some(Procfile::parse(&text).map_err(|e| DeployError::Rejected(e.to_string()))?)
        }
        Ok(_) => {
            return Err(DeployError::Rejected(
                "Procfile must be a regular file".into(),
            ))
        }
        Err(_) => None,
    };
    let mut defaults: BTreeMap<String, String> = builder.default_processes(facts);
    if let Builder::Buildpacks(packs) = builder {
        for i in 0..packs.len() {
            if let Ok(text) = std::fs::read_to_string(meta.join(format!("release-{i}.yml"))) {
                defaults.extend(parse_release_yaml(&text));
            }
        }
    }
    let merged = merge_processes(own.as_ref(), &defaults);
    if merged.is_empty() {
        return Err(DeployError::Rejected(
            "no Procfile in the app's root directory; add one with lines like 'web: python3 app.py'"
                .into(),
        ));
    }
    Procfile::parse(&merged).map_err(|e| DeployError::Rejected(e.to_string()))
}

/// Config vars as one file each: a buildpack's ENV_DIR.
fn write_env_dir(dir: &Path, config: &ConfigVars) -> std::io::Result<()> {
    make_dir_mode(dir, 0o755)?;
    for (key, value) in config {
        let path = dir.join(key);
        std::fs::write(&path, value)?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    }
    Ok(())
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
        }
    }

    /// A fresh, root-only workspace for one build of `app`.
    pub fn workspace(&self, app: &AppName) -> Result<Workspace, DeployError> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let builds = self.layout.builds_dir(app);
        make_dir_mode(&builds, 0o700).map_err(io_err("creating the builds directory"))?;
        let root = builds.join(&id);
        make_dir_mode(&root, 0o700).map_err(io_err("creating the build workspace"))?;
        let env_file = self.layout.build_env_file(app, &id);
        Ok(Workspace { id, root, env_file })
    }

    fn app_lock(&self, app: &AppName) -> Arc<tokio::sync::Mutex<()>> {
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
        let started = Instant::now();
        self.remove_stale_workspaces(app, &ws.id);
        let source = ws.source_dir();
        let config = self.store.config(app).await?;
        let facts = source_facts(&source, &config);
        let builder = detect(&facts).map_err(|e| DeployError::Rejected(e.to_string()))?;
        say(out, format!("-----> {} app detected", builder.name())).await;

        let meta = ws.root.join("meta");
        if let Some(script) = build_script(&builder) {
            let t = Instant::now();
            self.build(app, &ws, &builder, script, &config, out).await?;
            say(
                out,
                format!("-----> Build took {:.1} s", t.elapsed().as_secs_f64()),
            )
            .await;
        }
        let bytes = seal_tree(&source, nix::unistd::geteuid().is_root())
            .map_err(io_err("sealing the slug"))?;
        if bytes > self.settings.max_slug_size {
            return Err(DeployError::Rejected(format!(
                "the built slug is {} MiB, over max_slug_size ({} MiB)",
                bytes >> 20,
                self.settings.max_slug_size >> 20
            )));
        }
        let procfile = release_procfile(&source, &meta, &builder, &facts)?;
        let manifest = self.app_json(&source)?;
        if let Some(check) = &manifest.health_check {
            self.store.set_health_check(app, check.clone()).await?;
        }
        let first = self.store.current_release(app).await?.is_none();
        let defaults = if first {
            manifest.defaults.clone()
        } else {
            FirstDeployDefaults::default()
        };
        let mut release_config = config.clone();
        for (k, v) in &defaults.env {
            release_config.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let types: Vec<&str> = procfile.process_types().map(|t| t.as_str()).collect();
        say(out, format!("-----> Process types: {}", types.join(", "))).await;
        for (i, job) in manifest.cron.iter().enumerate() {
            say(
                out,
                format!(
                    "-----> Scheduled job cron.{}: {} ({})",
                    i + 1,
                    job.command,
                    job.schedule
                ),
            )
            .await;
        }
        say(
            out,
            format!("-----> Slug size: {:.1} MiB", bytes as f64 / 1048576.0),
        )
        .await;

        if let Some(command) = procfile.release_command() {
            say(
                out,
                format!("-----> Running the release command: {command}"),
            )
            .await;
            let outcome = self
                .run_oneoff(
                    app,
                    &ws,
                    "release.1",
                    command,
                    &source,
                    &release_config,
                    out,
                )
                .await?;
            if !outcome.succeeded() {
                return Err(DeployError::ReleasePhaseFailed(outcome.describe()));
            }
        }

        let layout = self.layout.clone();
        let slug_app = app.clone();
        let built = source.clone();
        let release = self
            .store
            .create_release_with_defaults(
                app.clone(),
                procfile,
                description,
                defaults,
                manifest.cron.clone(),
                move |version| {
                    let slug = layout.slug_dir(&slug_app, version);
                    if slug.exists() {
                        // Left by a crash between moving a slug and committing its release.
                        std::fs::remove_dir_all(&slug)
                            .map_err(|e| format!("removing stale {}: {e}", slug.display()))?;
                    }
                    let parent = slug.parent().expect("slugs live in a directory");
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("creating {}: {e}", parent.display()))?;
                    std::fs::rename(&built, &slug).map_err(|e| format!("installing the slug: {e}"))
                },
            )
            .await?;
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
        if let (true, Some(script)) = (first, manifest.postdeploy.as_deref()) {
            say(
                out,
                format!("-----> Running app.json's postdeploy script: {script}"),
            )
            .await;
            let slug = self.layout.slug_dir(app, release.slug_version);
            match self
                .run_oneoff(
                    app,
                    &ws,
                    "postdeploy.1",
                    script,
                    &slug,
                    &release.config,
                    out,
                )
                .await
            {
                Ok(o) if o.succeeded() => {}
                Ok(o) => {
                    say(
                        out,
                        format!(
                            " !     postdeploy {}; v{} is live anyway",
                            o.describe(),
                            release.version
                        ),
                    )
                    .await
                }
                Err(e) => say(out, format!(" !     postdeploy could not run: {e}")).await,
            }
        }
        Ok(release)
    }

    /// Waits while the reconciler starts the release's web dynos beside the live ones and
    /// health-checks them; fails with the reason and the app's last log lines when they fail.
    async fn go_live(&self, app: &AppName, version: u32, out: &Output) -> Result<(), DeployError> {
        let check = self.store.routing_settings(app).await?.health_check;
        say(
            out,
            format!("-----> Starting v{version}'s web dynos; health check: {check}"),
        )
        .await;
        self.reconciler.poke();
        let (status, failure) = self.reconciler.wait_for_release(app, version).await?;
        match status {
            ReleaseStatus::Failed => Err(DeployError::Unhealthy {
                version,
                reason: failure.unwrap_or_else(|| "its web dynos failed".into()),
                logs: self.last_log_lines(app).await,
            }),
            ReleaseStatus::Superseded => {
                say(
                    out,
                    format!(
                        " !     v{version} was superseded by a newer release before it went live"
                    ),
                )
                .await;
                Ok(())
            }
            ReleaseStatus::Pending | ReleaseStatus::Succeeded => Ok(()),
        }
    }

    /// The app's last log lines, as `\n`-prefixed text for an error message.
    async fn last_log_lines(&self, app: &AppName) -> String {
        let query = LogQuery {
            app: app.clone(),
            dyno: None,
            lines: LAST_LOG_LINES,
            follow: false,
        };
        let Ok(lines) = self.logs.lines(query).await else {
            return String::new();
        };
        let lines: Vec<String> = lines.collect().await;
        if lines.is_empty() {
            return String::new();
        }
        format!("\nlast log lines:\n{}", lines.join("\n"))
    }

    fn app_json(&self, source: &Path) -> Result<AppJson, DeployError> {
        let path = source.join("app.json");
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| DeployError::Rejected(format!("cannot read app.json: {e}")))?;
                app_json::parse(&text, app_json::generate_secret)
                    .map_err(|e| DeployError::Rejected(e.to_string()))
            }
            _ => Ok(AppJson::default()),
        }
    }

    /// Runs the build unit over the workspace; the source tree becomes the built tree.
    async fn build(
        &self,
        app: &AppName,
        ws: &Workspace,
        builder: &Builder,
        script: String,
        config: &ConfigVars,
        out: &Output,
    ) -> Result<(), DeployError> {
        let source = ws.source_dir();
        let meta = ws.root.join("meta");
        let env_dir = ws.root.join("env");
        let cache = self.layout.cache_dir(app);
        let mut buildpack_dirs = Vec::new();
        if let Builder::Buildpacks(packs) = builder {
            for (i, pack) in packs.iter().enumerate() {
                if let BuildpackSource::Local(path) = pack {
                    if !Path::new(path).is_dir() {
                        return Err(DeployError::Rejected(format!(
                            "buildpack directory {path} does not exist on this server"
                        )));
                    }
                    buildpack_dirs.push((i, PathBuf::from(path)));
                }
            }
        }
        let prepare = || -> std::io::Result<()> {
            open_tree(&source)?;
            make_dir_mode(&meta, 0o777)?;
            make_dir_mode(&cache, 0o777)?;
            // Each build runs as a new dynamic user: whatever modes the last one left, this
            // one must be able to read, replace and delete the cache.
            open_tree(&cache)?;
            write_env_dir(&env_dir, config)?;
            write_private(&ws.env_file, render_env_file(config).as_bytes())
        };
        prepare().map_err(io_err("preparing the build"))?;
        let spec = BuildSpec {
            unit_name: oneoff_unit_name(app, "build", &ws.id),
            app: app.clone(),
            build_id: ws.id.clone(),
            script,
            app_dir: source,
            cache_dir: cache,
            env_dir,
            env_file: ws.env_file.clone(),
            meta_dir: meta,
            buildpack_dirs,
            memory_bytes: self.settings.memory_bytes,
            timeout_usec: self.settings.timeout.as_micros() as u64,
            hidden_paths: self.layout.hidden_from_dynos(),
        };
        let outcome = self
            .run_streamed(&spec.unit_name, build_properties(&spec), &ws.id, out)
            .await?;
        if outcome.succeeded() {
            Ok(())
        } else {
            Err(DeployError::BuildFailed(outcome.describe()))
        }
    }

    /// Runs `command` once in a dyno's sandbox over `slug` with `config`, streaming its output.
    #[allow(clippy::too_many_arguments)]
    async fn run_oneoff(
        &self,
        app: &AppName,
        ws: &Workspace,
        dyno: &str,
        command: &str,
        slug: &Path,
        config: &ConfigVars,
        out: &Output,
    ) -> Result<RunOutcome, DeployError> {
        write_private(&ws.env_file, render_env_file(config).as_bytes())
            .map_err(io_err("writing the release environment"))?;
        let kind = dyno.split('.').next().unwrap_or(dyno);
        let spec = OneOffSpec {
            unit_name: oneoff_unit_name(app, kind, &ws.id),
            app: app.clone(),
            dyno: dyno.to_owned(),
            command: OneOffCommand::Shell(command.to_owned()),
            slug_dir: slug.to_owned(),
            env_file: ws.env_file.clone(),
            build_id: Some(ws.id.clone()),
            release: None,
            limits: self.settings.oneoff_limits,
            timeout_usec: self.settings.timeout.as_micros() as u64,
            hidden_paths: self.layout.hidden_from_dynos(),
            stdio: OneOffStdio::Journal,
            lifetime: OneOffLifetime::Oneshot { part_of: None },
            extra_env: Vec::new(),
        };
        self.run_streamed(&spec.unit_name, oneoff_properties(&spec), &ws.id, out)
            .await
    }

    /// Runs a unit to its end while its journal lines (tagged `SKIFF_BUILD`) go to `out`.
    async fn run_streamed(
        &self,
        unit: &str,
        properties: Vec<Property>,
        build_id: &str,
        out: &Output,
    ) -> Result<RunOutcome, DeployError> {
        let mut lines = self.logs.build_output(build_id).await?;
        let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
        let sink = out.clone();
        let forward = tokio::spawn(async move {
            let mut finished = false;
            loop {
                let next = if finished {
                    match tokio::time::timeout(OUTPUT_DRAIN_IDLE, lines.next()).await {
                        Ok(line) => line,
                        Err(_) => break,
                    }
                } else {
                    tokio::select! {
                        line = lines.next() => line,
                        _ = done_rx.changed() => { finished = true; continue; }
                    }
                };
                match next {
                    Some(line) => {
                        let _ = sink.send(line).await;
                    }
                    None => break,
                }
            }
        });
        let wait = self.settings.timeout + Duration::from_secs(60);
        let outcome = self.systemd.run_to_completion(unit, properties, wait).await;
        let _ = done_tx.send(true);
        let _ = forward.await;
        Ok(outcome?)
    }

    /// Removes workspaces left by deploys that did not finish (skiffd stopped mid-build).
    fn remove_stale_workspaces(&self, app: &AppName, current: &str) {
        let Ok(entries) = std::fs::read_dir(self.layout.builds_dir(app)) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy() != current {
                tracing::info!(path = %entry.path().display(), "removing a stale build workspace");
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Deletes slugs no release within `keep_releases` (nor the live one) uses.
    async fn apply_retention(&self, app: &AppName, out: &Output) {
        let keep = match self
            .store
            .slugs_to_keep(app, self.settings.keep_releases)
            .await
        {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(app = %app, error = %e, "retention skipped");
                return;
            }
        };
        let Ok(entries) = std::fs::read_dir(self.layout.slugs_dir(app)) else {
            return;
        };
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = name.strip_prefix('v').and_then(|v| v.parse::<u32>().ok()) else {
                continue;
            };
            if !keep.contains(&version) && std::fs::remove_dir_all(entry.path()).is_ok() {
                removed.push(format!("v{version}"));
            }
        }
        if !removed.is_empty() {
            removed.sort();
            say(
                out,
                format!("-----> Removed old slugs: {}", removed.join(", ")),
            )
            .await;
        }
    }
}
