//! `skiff run` and `run:detached`: a one-off dyno. Attached, the client's terminal (in raw mode,
//! so Ctrl-C and every key go to the dyno) or its pipes are relayed over the upgraded connection,
//! and the client exits with the dyno's status.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use clap::Subcommand;

use super::client::ApiClient;
use super::{path_segment, CliError, Session};
use crate::wire::run_protocol::{Frame, FrameDecoder, MAX_PAYLOAD, UPGRADE_PROTOCOL};
use crate::wire::{RunBody, RunStarted, TerminalBody};

/// How `skiff run` ended: the dyno's exit status and what to tell the user about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunExit {
    pub status: i32,
    pub message: String,
}

/// Puts the terminal in raw mode and restores it when dropped, however the run ends.
struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    fn enter() -> std::io::Result<Self> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = rustix::termios::tcsetattr(
            stdin.as_fd(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout().as_fd()).ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
}

fn runs_path(app: &str) -> Result<String, CliError> {
    Ok(format!("/v1/apps/{}/runs", path_segment(app)?))
}

#[derive(Debug, Subcommand)]
pub enum RunVerb {
    /// Run a command in a one-off dyno (run.N) with the live release, attached to this terminal;
    /// exits with its status. One argument is a shell command line; more are run exactly.
    #[command(name = "run")]
    Attached {
        /// The longest it may run, like 10m (default and maximum: the server's run_timeout).
        #[arg(long)]
        timeout: Option<String>,
        /// Do not give the dyno a terminal even when this is one (plain pipes, stdout and
        /// stderr kept apart).
        #[arg(long = "no-tty")]
        no_tty: bool,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Start a one-off dyno in the background; its output goes to the app's logs.
    #[command(name = "run:detached")]
    Detached {
        /// The longest it may run, like 10m (default and maximum: the server's run_timeout).
        #[arg(long)]
        timeout: Option<String>,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

pub(super) async fn run(verb: RunVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    let app = s.app()?;
    match verb {
        RunVerb::Attached {
            timeout,
            no_tty,
            command,
        } => {
            let exit = attached(&s.client, &app, command, timeout, no_tty).await?;
            if exit.status != 0 || !exit.message.is_empty() {
                return Err(CliError::DynoExit {
                    status: exit.status,
                    message: exit.message,
                });
            }
        }
        RunVerb::Detached { timeout, command } => {
            let body = RunBody {
                command,
                detached: true,
                terminal: None,
                timeout,
            };
            let started: RunStarted = s.client.post(&runs_path(&app)?, &body).await?;
            s.output.show(&started, |out, _| {
                writeln!(
                    out,
                    "Running {} on {app}; see its output with: skiff logs -a {app} --dyno {} -f",
                    started.dyno, started.dyno
                )
            })?;
        }
    }
    Ok(())
}

/// `run`: relays until the dyno ends; its exit status is the result.
async fn attached(
    client: &ApiClient,
    app: &str,
    command: Vec<String>,
    timeout: Option<String>,
    no_tty: bool,
) -> Result<RunExit, CliError> {
    let tty = !no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let terminal = if tty {
        let (cols, rows) = terminal_size().unwrap_or((80, 24));
        Some(TerminalBody {
            cols,
            rows,
            term: std::env::var("TERM").ok().filter(|t| !t.is_empty()),
        })
    } else {
        None
    };
    let body = RunBody {
        command,
        detached: false,
        terminal,
        timeout,
    };
    let connection = client
        .upgrade(&runs_path(app)?, &body, UPGRADE_PROTOCOL)
        .await?;
    let raw =
        if tty {
            Some(RawMode::enter().map_err(|e| {
                CliError::Usage(format!("cannot put the terminal in raw mode: {e}"))
            })?)
        } else {
            None
        };
    let (reader, mut writer) = tokio::io::split(connection);
    let (frames_tx, mut frames) = mpsc::channel::<Frame>(16);
    spawn_input(tokio::io::stdin(), frames_tx.clone());
    if tty {
        spawn_resizes(frames_tx);
    } else {
        drop(frames_tx);
    }
    let sender = tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if writer.write_all(&frame.encode()).await.is_err() {
                break;
            }
        }
        // Keep the connection open for the output: ending the writer would end the run.
        std::future::pending::<()>().await;
    });
    let exit = receive(reader).await;
    sender.abort();
    drop(raw);
    exit
}

/// Sends standard input as it comes, then its end.
fn spawn_input<R: AsyncRead + Send + Unpin + 'static>(mut stdin: R, frames: mpsc::Sender<Frame>) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_PAYLOAD.min(16 * 1024)];
        loop {
            let frame = match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => Frame::InputEnd,
                Ok(n) => Frame::Input(buf[..n].to_vec()),
            };
            let end = frame == Frame::InputEnd;
            if frames.send(frame).await.is_err() || end {
                return;
            }
        }
    });
}

/// Sends the terminal's new size on every SIGWINCH.
fn spawn_resizes(frames: mpsc::Sender<Frame>) {
    tokio::spawn(async move {
        let kind = tokio::signal::unix::SignalKind::window_change();
        let Ok(mut changes) = tokio::signal::unix::signal(kind) else {
            return;
        };
        while changes.recv().await.is_some() {
            if let Some((cols, rows)) = terminal_size() {
                if frames.send(Frame::Resize { cols, rows }).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Writes the dyno's output until its exit frame.
async fn receive<R: AsyncRead + Unpin>(mut reader: R) -> Result<RunExit, CliError> {
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        while let Some(frame) = decoder
            .next_frame()
            .map_err(|e| CliError::Protocol(e.to_string()))?
        {
            match frame {
                Frame::Output(data) => write_now(&mut std::io::stdout().lock(), &data)?,
                Frame::ErrorOutput(data) => write_now(&mut std::io::stderr().lock(), &data)?,
                Frame::Exit { status, message } => return Ok(RunExit { status, message }),
                other => {
                    return Err(CliError::Protocol(format!(
                        "unexpected frame from skiffd: {other:?}"
                    )))
                }
            }
        }
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| CliError::Protocol(format!("the connection to skiffd broke: {e}")))?;
        if n == 0 {
            return Err(CliError::Protocol(
                "skiffd closed the connection before the dyno ended".into(),
            ));
        }
        decoder.push(&buf[..n]);
    }
}

fn write_now(out: &mut dyn Write, data: &[u8]) -> Result<(), CliError> {
    out.write_all(data)?;
    out.flush()?;
    Ok(())
}
