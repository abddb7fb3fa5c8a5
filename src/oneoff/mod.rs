//! One-off dynos (`skiff run`): a command in the live release's sandbox as a transient unit,
//! numbered `run.N`, its terminal or pipes relayed to the client over the upgraded connection,
//! or left running detached with its output in the journal.

mod relay;
mod request;
mod stdio;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::files::write_private;
use crate::model::{AppName, Limits, NetworkKind};
use crate::network::{NetworkError, Networking};
use crate::paths::Layout;
use crate::reconcile::render_env_file;
use crate::store::{Store, StoreError};
use crate::systemd::names::{run_unit_index, run_unit_name, run_unit_pattern};
use crate::systemd::properties::{oneoff_properties, OneOffLifetime, OneOffSpec, OneOffStdio};
use crate::systemd::{Systemd, SystemdError};
use crate::wire::run_protocol::Frame;
use stdio::ChildIo;

use request::MAX_COMMAND_BYTES;
pub use request::{RunRequest, TerminalRequest};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("app {0} has no release yet; deploy it first")]
    NotDeployed(AppName),
    #[error("no command given")]
    EmptyCommand,
    #[error("the command is over {MAX_COMMAND_BYTES} bytes")]
    CommandTooLong,
    #[error("an argument of the command contains a NUL byte")]
    NulInCommand,
    #[error("timeout {asked} is longer than this server's run_timeout ({max})")]
    TimeoutTooLong { asked: String, max: String },
    #[error("a timeout of 0 would stop the run at once")]
    ZeroTimeout,
    #[error("invalid TERM {0:?}")]
    Term(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Volume(#[from] crate::volume_dirs::VolumeDirError),
}

/// How long a stopped run is watched for its end, and how often.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// How one-offs are run on this server.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub limits: Limits,
    /// The default and the longest a one-off may run.
    pub max_timeout: Duration,
    /// skiffd's own unit: attached runs are `PartOf=` it, so a stopped or restarted skiffd
    /// (which relays their client) stops them too.
    pub daemon_unit: Option<String>,
}

/// Hands out `run.N` numbers: the lowest one neither running nor being started.
#[derive(Clone, Default)]
struct Claims(Arc<Mutex<BTreeSet<(AppName, u32)>>>);

/// Holds a number until the run is over.
struct Claim {
    claims: Claims,
    key: (AppName, u32),
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut set) = self.claims.0.lock() {
            set.remove(&self.key);
        }
    }
}

impl Claims {
    fn claim(&self, app: &AppName, running: &BTreeSet<u32>) -> Option<Claim> {
        let mut set = self.0.lock().ok()?;
        let index = (1..)
            .find(|n| !running.contains(n) && !set.contains(&(app.clone(), *n)))
            .unwrap_or(1);
        let key = (app.clone(), index);
        set.insert(key.clone());
        Some(Claim {
            claims: self.clone(),
            key,
        })
    }
}

/// A run whose number, environment file and properties are ready; nothing is started yet.
pub struct PreparedRun {
    spec: OneOffSpec,
    terminal: Option<TerminalRequest>,
    timeout: Duration,
    _claim: Claim,
}

impl PreparedRun {
    /// `run.3`
    pub fn dyno(&self) -> &str {
        &self.spec.dyno
    }
}

/// What `run:detached` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    pub dyno: String,
    pub unit: String,
}

/// Starts one-off dynos. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    systemd: Arc<dyn Systemd>,
    networks: Networking,
    store: Store,
    layout: Layout,
    settings: RunSettings,
    claims: Claims,
}

impl Runner {
    pub fn new(
        systemd: Arc<dyn Systemd>,
        networks: Networking,
        store: Store,
        layout: Layout,
        settings: RunSettings,
    ) -> Self {
        Self {
            systemd,
            networks,
            store,
            layout,
            settings,
            claims: Claims::default(),
        }
    }

    /// Checks the request against the app's live release, picks the dyno's number and writes
    /// its environment file. Bad input fails here, before anything starts.
    pub async fn prepare(
        &self,
        app: &AppName,
        request: RunRequest,
    ) -> Result<PreparedRun, RunError> {
        let checked = request::check(&request, self.settings.max_timeout)?;
        self.store.get_app(app.as_str()).await?;
        let release = self
            .store
            .current_release(app)
            .await?
            .ok_or_else(|| RunError::NotDeployed(app.clone()))?;
        let running: BTreeSet<u32> = self
            .systemd
            .list_units(&run_unit_pattern(app))
            .await?
            .iter()
            .filter_map(|u| run_unit_index(app, &u.name))
            .collect();
        let claim = self
            .claims
            .claim(app, &running)
            .ok_or_else(|| RunError::Io("the run numbers' lock is poisoned".into()))?;
        let index = claim.key.1;
        let env_file = self.layout.run_env_file(app, index);
        let contents = render_env_file(&release.config);
        let path = env_file.clone();
        tokio::task::spawn_blocking(move || write_private(&path, contents.as_bytes()))
            .await
            .map_err(|e| RunError::Io(e.to_string()))?
            .map_err(|e| RunError::Io(format!("writing the run's environment: {e}")))?;
        let network_namespace = self.networks.namespace_for(app, NetworkKind::Dynos).await?;
        let volumes = self.store.volumes(app).await?;
        let volumes =
            crate::volume_dirs::prepare(&self.layout, self.systemd.as_ref(), app, &volumes).await?;
        let spec = OneOffSpec {
            unit_name: run_unit_name(app, index),
            app: app.clone(),
            dyno: format!("run.{index}"),
            command: checked.command,
            slug_dir: self.layout.slug_dir(app, release.slug_version),
            env_file,
            build_id: None,
            release: Some(release.version),
            limits: self.settings.limits,
            timeout_usec: checked.timeout.as_micros() as u64,
            hidden_paths: self.layout.hidden_from_dynos(),
            stdio: OneOffStdio::Journal,
            lifetime: OneOffLifetime::Detached,
            extra_env: checked.extra_env,
            network_namespace,
            volumes,
        };
        Ok(PreparedRun {
            spec,
            terminal: request.terminal,
            timeout: checked.timeout,
            _claim: claim,
        })
    }

    /// Starts the run with its output in the journal and returns once it is running; systemd
    /// stops it when its timeout is up.
    pub async fn detach(&self, run: PreparedRun) -> Result<Detached, RunError> {
        let started = self
            .systemd
            .start_transient(&run.spec.unit_name, oneoff_properties(&run.spec))
            .await;
        // The process has read its environment once it runs (or it never will).
        remove_env_file(run.spec.env_file.clone()).await;
        started?;
        Ok(Detached {
            dyno: run.spec.dyno.clone(),
            unit: run.spec.unit_name.clone(),
        })
    }

    /// Gives up a prepared run that will not start (its client never switched protocols).
    pub async fn discard(&self, run: PreparedRun) {
        remove_env_file(run.spec.env_file.clone()).await;
    }

    /// Runs to the end while relaying `client` (the upgraded connection) to the process: input
    /// and window size in, output and finally the exit status out. A client that goes away
    /// stops the run.
    pub async fn attach<S>(&self, mut run: PreparedRun, client: S)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (client_in, mut client_out) = tokio::io::split(client);
        let io = match &run.terminal {
            Some(t) => ChildIo::terminal(t.cols.max(1), t.rows.max(1)),
            None => ChildIo::pipes(),
        };
        let exit = match io {
            Ok(io) => self.relay(&mut run, io, client_in, &mut client_out).await,
            Err(e) => Frame::Exit {
                status: 1,
                message: format!("cannot set up the run's input and output: {e}"),
            },
        };
        remove_env_file(run.spec.env_file.clone()).await;
        let _ = client_out.write_all(&exit.encode()).await;
        let _ = client_out.shutdown().await;
    }

    /// Stops a run whose client went away. A oneshot stopped during its start may end `failed`
    /// (killed by the stop's signal); that is what was asked for, so once the stop is done the
    /// failure is reset and the unit's name is free again. A stop only enqueues a job, so the
    /// unit is watched until it is gone or failed, for at most `STOP_WAIT`.
    async fn stop(&self, unit: &str) {
        if let Err(e) = self.systemd.stop_unit(unit).await {
            tracing::warn!(%unit, "stopping a run whose client went away: {e}");
            return;
        }
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        loop {
            let state = match self.systemd.list_units(unit).await {
                Ok(units) => units.into_iter().find(|u| u.name == unit),
                Err(e) => {
                    tracing::warn!(%unit, "watching a stopped run: {e}");
                    return;
                }
            };
            match state {
                None => return,
                Some(u) if u.active_state == "failed" => break,
                Some(u) if u.active_state == "inactive" => return,
                Some(_) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(%unit, "a run whose client went away is still stopping");
                    return;
                }
                Some(_) => tokio::time::sleep(STOP_POLL).await,
            }
        }
        if let Err(e) = self.systemd.reset_failed(unit).await {
            tracing::warn!(%unit, "resetting a stopped run: {e}");
        }
    }
}

async fn remove_env_file(path: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_skip_running_and_claimed_dynos_and_come_back_when_released() {
        let claims = Claims::default();
        let app = AppName::parse("job").unwrap();
        let running: BTreeSet<u32> = [1, 3].into();
        let a = claims.claim(&app, &running).unwrap();
        assert_eq!(a.key.1, 2);
        let b = claims.claim(&app, &running).unwrap();
        assert_eq!(b.key.1, 4);
        let other = claims
            .claim(&AppName::parse("other").unwrap(), &running)
            .unwrap();
        assert_eq!(other.key.1, 2);
        drop(a);
        assert_eq!(claims.claim(&app, &running).unwrap().key.1, 2);
    }
}
