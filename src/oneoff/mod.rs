//! One-off dynos (`skiff run`): a command in the live release's sandbox as a transient unit,
//! numbered `run.N`, its terminal or pipes relayed to the client over the upgraded connection,
//! or left running detached with its output in the journal.

pub mod protocol;
mod stdio;

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::files::write_private;
use crate::model::{AppName, Limits};
use crate::paths::Layout;
use crate::reconcile::render_env_file;
use crate::store::{Store, StoreError};
use crate::systemd::names::{run_unit_index, run_unit_name, run_unit_pattern};
use crate::systemd::properties::{
    oneoff_properties, OneOffCommand, OneOffLifetime, OneOffSpec, OneOffStdio,
};
use crate::systemd::{RunOutcome, Systemd, SystemdError};
use protocol::{Frame, FrameDecoder, MAX_PAYLOAD};
use stdio::{Channel, ChildIo};

/// The most bytes a command line may have, all arguments together.
const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// How long output may still arrive after the process ended (from processes it left behind).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// Input frames queued for a process that does not read them before the client is made to wait.
const MAX_PENDING_INPUT: usize = 16;
/// The status a client exits with when its run timed out (as `timeout(1)` does).
pub const TIMED_OUT_STATUS: i32 = 124;

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
}

/// The client's terminal, when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRequest {
    pub cols: u16,
    pub rows: u16,
    /// The client's `TERM`, so programs draw for the right terminal.
    pub term: Option<String>,
}

/// What to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// One element: a shell command line. More: the program and its arguments, exactly.
    pub command: Vec<String>,
    pub terminal: Option<TerminalRequest>,
    /// At most the server's `run_timeout`, which is also the default.
    pub timeout: Option<Duration>,
}

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

    pub fn unit_name(&self) -> &str {
        &self.spec.unit_name
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
    store: Store,
    layout: Layout,
    settings: RunSettings,
    claims: Claims,
}

fn valid_term(term: &str) -> bool {
    !term.is_empty()
        && term.len() <= 64
        && term
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-+._".contains(c))
}

impl Runner {
    pub fn new(
        systemd: Arc<dyn Systemd>,
        store: Store,
        layout: Layout,
        settings: RunSettings,
    ) -> Self {
        Self {
            systemd,
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
        if request.command.is_empty() || request.command.iter().all(|a| a.trim().is_empty()) {
            return Err(RunError::EmptyCommand);
        }
        if request.command.iter().map(String::len).sum::<usize>() > MAX_COMMAND_BYTES {
            return Err(RunError::CommandTooLong);
        }
        if request.command.iter().any(|a| a.contains('\0')) {
            return Err(RunError::NulInCommand);
        }
        let timeout = match request.timeout {
            None => self.settings.max_timeout,
            Some(t) if t.is_zero() => return Err(RunError::ZeroTimeout),
            Some(t) if t > self.settings.max_timeout => {
                return Err(RunError::TimeoutTooLong {
                    asked: humantime::format_duration(t).to_string(),
                    max: humantime::format_duration(self.settings.max_timeout).to_string(),
                })
            }
            Some(t) => t,
        };
        let mut extra_env = Vec::new();
        if let Some(term) = request.terminal.as_ref().and_then(|t| t.term.as_deref()) {
            if !valid_term(term) {
                return Err(RunError::Term(term.to_owned()));
            }
            extra_env.push(format!("TERM={term}"));
        }
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
        let command = match request.command.as_slice() {
            [line] => OneOffCommand::Shell(line.clone()),
            argv => OneOffCommand::Argv(argv.to_vec()),
        };
        let spec = OneOffSpec {
            unit_name: run_unit_name(app, index),
            app: app.clone(),
            dyno: format!("run.{index}"),
            command,
            slug_dir: self.layout.slug_dir(app, release.slug_version),
            env_file,
            build_id: None,
            release: Some(release.version),
            limits: self.settings.limits,
            timeout_usec: timeout.as_micros() as u64,
            hidden_paths: self.layout.hidden_from_dynos(),
            stdio: OneOffStdio::Journal,
            lifetime: OneOffLifetime::Detached,
            extra_env,
        };
        Ok(PreparedRun {
            spec,
            terminal: request.terminal,
            timeout,
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

    async fn relay<R, W>(
        &self,
        run: &mut PreparedRun,
        mut io: ChildIo,
        mut client_in: R,
        client_out: &mut W,
    ) -> Frame
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        run.spec.stdio = io.stdio.clone();
        run.spec.lifetime = OneOffLifetime::Oneshot {
            part_of: self.settings.daemon_unit.clone(),
        };
        let properties = oneoff_properties(&run.spec);
        run.spec.stdio = OneOffStdio::Journal;
        let unit = run.spec.unit_name.clone();
        let dyno = run.spec.dyno.clone();
        let completion = self.systemd.run_to_completion(
            &unit,
            properties,
            run.timeout + Duration::from_secs(60),
        );
        tokio::pin!(completion);

        let (frames_tx, mut frames) = mpsc::channel::<Frame>(16);
        for (channel, mut reader) in io.outputs.drain(..) {
            let tx = frames_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; MAX_PAYLOAD.min(16 * 1024)];
                while let Ok(n @ 1..) = reader.read(&mut buf).await {
                    let data = buf[..n].to_vec();
                    let frame = match channel {
                        Channel::Stdout => Frame::Output(data),
                        Channel::Stderr => Frame::ErrorOutput(data),
                    };
                    if tx.send(frame).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(frames_tx);
        let input = spawn_input_writer(io.input.take(), io.terminal.is_some());

        let mut decoder = FrameDecoder::default();
        let mut pending: VecDeque<Input> = VecDeque::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut outcome: Option<Result<RunOutcome, SystemdError>> = None;
        let mut outputs_open = true;
        let mut client_open = true;
        let drain = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(drain);
        loop {
            tokio::select! {
                result = &mut completion, if outcome.is_none() => {
                    outcome = Some(result);
                    io.release_process_side();
                    drain.as_mut().reset(tokio::time::Instant::now() + OUTPUT_DRAIN);
                }
                frame = frames.recv(), if outputs_open => match frame {
                    Some(frame) => {
                        if client_out.write_all(&frame.encode()).await.is_err() && outcome.is_none() {
                            client_open = false;
                            self.stop(&unit).await;
                        }
                    }
                    None => outputs_open = false,
                },
                read = client_in.read(&mut buf), if client_open && pending.len() < MAX_PENDING_INPUT => {
                    let n: usize = read.unwrap_or_default();
                    if n == 0 {
                        client_open = false;
                        if outcome.is_none() {
                            self.stop(&unit).await;
                        }
                        continue;
                    }
                    decoder.push(&buf[..n]);
                    loop {
                        match decoder.next_frame() {
                            Ok(Some(Frame::Input(data))) => pending.push_back(Input::Data(data)),
                            Ok(Some(Frame::InputEnd)) => pending.push_back(Input::End),
                            Ok(Some(Frame::Resize { cols, rows })) => {
                                if let Some(terminal) = &io.terminal {
                                    let _ = stdio::resize(terminal.get_ref(), cols.max(1), rows.max(1));
                                }
                            }
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(%unit, "ending a run whose client sent a bad frame: {e}");
                                client_open = false;
                                if outcome.is_none() {
                                    self.stop(&unit).await;
                                }
                                break;
                            }
                        }
                    }
                }
                permit = input.reserve(), if !pending.is_empty() => {
                    if let (Ok(permit), Some(item)) = (permit, pending.pop_front()) {
                        permit.send(item);
                    } else {
                        pending.clear();
                    }
                }
                _ = &mut drain, if outcome.is_some() => break,
            }
            if outcome.is_some() && !outputs_open {
                break;
            }
        }
        exit_frame(&dyno, run.timeout, outcome)
    }

    async fn stop(&self, unit: &str) {
        if let Err(e) = self.systemd.stop_unit(unit).await {
            tracing::warn!(%unit, "stopping a run whose client went away: {e}");
        }
    }
}

enum Input {
    Data(Vec<u8>),
    End,
}

/// Writes the client's input to the process as it takes it. The end of input closes a pipe;
/// on a terminal it is the end-of-file character, as typing Ctrl-D would be.
fn spawn_input_writer(writer: Option<stdio::Writer>, terminal: bool) -> mpsc::Sender<Input> {
    let (tx, mut rx) = mpsc::channel::<Input>(4);
    tokio::spawn(async move {
        let Some(mut writer) = writer else { return };
        while let Some(item) = rx.recv().await {
            let written = match item {
                Input::Data(data) => writer.write_all(&data).await,
                Input::End if terminal => writer.write_all(&[0x04]).await,
                Input::End => return,
            };
            if written.is_err() {
                return;
            }
        }
    });
    tx
}

async fn remove_env_file(path: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
}

/// The client's exit status: the process's own, 128+N for a signal as shells do, 124 for a
/// timeout; with a line to print when the process did not simply exit.
pub fn exit_frame(
    dyno: &str,
    timeout: Duration,
    outcome: Option<Result<RunOutcome, SystemdError>>,
) -> Frame {
    let (status, message) = match outcome {
        Some(Ok(o)) => match o.result.as_str() {
            "success" => (0, String::new()),
            "exit-code" => (o.exit_status, String::new()),
            "signal" | "core-dump" => (128 + o.exit_status, String::new()),
            "timeout" => (
                TIMED_OUT_STATUS,
                format!(
                    "{dyno} was stopped: it ran longer than its timeout ({})",
                    humantime::format_duration(timeout)
                ),
            ),
            _ => (1, format!("{dyno} {}", o.describe())),
        },
        Some(Err(e)) => (1, format!("{dyno} could not run: {e}")),
        None => (1, format!("{dyno} ended without a result")),
    };
    Frame::Exit { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(result: &str, exit_status: i32) -> Option<Result<RunOutcome, SystemdError>> {
        Some(Ok(RunOutcome {
            result: result.into(),
            exit_status,
        }))
    }

    #[test]
    fn exit_statuses_follow_the_shells_conventions() {
        let hour = Duration::from_secs(3600);
        let cases = [
            (outcome("success", 0), 0, ""),
            (outcome("exit-code", 7), 7, ""),
            (outcome("signal", 2), 130, ""),
            (outcome("core-dump", 11), 139, ""),
            (
                outcome("timeout", 0),
                124,
                "run.1 was stopped: it ran longer than its timeout (1h)",
            ),
            (
                outcome("oom-kill", 9),
                1,
                "run.1 was killed for using more memory than allowed",
            ),
            (None, 1, "run.1 ended without a result"),
        ];
        for (given, status, message) in cases {
            assert_eq!(
                exit_frame("run.1", hour, given),
                Frame::Exit {
                    status,
                    message: message.into()
                }
            );
        }
    }

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

    #[test]
    fn terms_are_plain_names() {
        for ok in ["xterm-256color", "screen.xterm", "vt100", "rxvt-unicode+x"] {
            assert!(valid_term(ok), "{ok}");
        }
        for bad in ["", "a b", "x\ny", "$(id)", &"x".repeat(65)] {
            assert!(!valid_term(bad), "{bad}");
        }
    }
}
