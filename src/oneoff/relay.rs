//! Relays an attached one-off's input and output to its client as frames, until the process
//! ends and its last output is sent, and turns its result into the client's exit status.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::stdio::{self, Channel, ChildIo};
use super::{PreparedRun, Runner};
use crate::systemd::properties::{oneoff_properties, OneOffLifetime, OneOffStdio, Property};
use crate::systemd::{RunOutcome, SystemdError};
use crate::wire::run_protocol::{Frame, FrameDecoder, ProtocolError, MAX_PAYLOAD};

/// How long output may still arrive after the process ended (from processes it left behind).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// Input frames queued for a process that does not read them before the client is made to wait.
const MAX_PENDING_INPUT: usize = 16;
/// The status a client exits with when its run timed out (as `timeout(1)` does).
pub const TIMED_OUT_STATUS: i32 = 124;

impl Runner {
    /// An attached run is a oneshot part of skiffd, its stdio the terminal or pipes of `io`.
    fn attached_properties(&self, run: &mut PreparedRun, io: &ChildIo) -> Vec<Property> {
        run.spec.stdio = io.stdio.clone();
        run.spec.lifetime = OneOffLifetime::Oneshot {
            part_of: self.settings.daemon_unit.clone(),
        };
        let properties = oneoff_properties(&run.spec);
        run.spec.stdio = OneOffStdio::Journal;
        properties
    }

    pub(super) async fn relay<R, W>(
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
        let properties = self.attached_properties(run, &io);
        let unit = run.spec.unit_name.clone();
        let dyno = run.spec.dyno.clone();
        let completion = self.systemd.run_to_completion(
            &unit,
            properties,
            run.timeout + Duration::from_secs(60),
        );
        tokio::pin!(completion);

        let mut frames = spawn_output_readers(&mut io);
        let input = spawn_input_writer(io.input.take(), io.terminal.is_some());

        let (mut decoder, mut pending) = (FrameDecoder::default(), VecDeque::<Input>::new());
        let mut buf = vec![0u8; 16 * 1024];
        let mut outcome: Option<Result<RunOutcome, SystemdError>> = None;
        let (mut outputs_open, mut client_open) = (true, true);
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
                    if let Err(e) = take_client_frames(&mut decoder, &mut pending, &io) {
                        tracing::warn!(%unit, "ending a run whose client sent a bad frame: {e}");
                        client_open = false;
                        if outcome.is_none() {
                            self.stop(&unit).await;
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
}

/// One task per output stream, each sending its chunks as frames; the receiver ends when all
/// streams have.
fn spawn_output_readers(io: &mut ChildIo) -> mpsc::Receiver<Frame> {
    let (frames_tx, frames) = mpsc::channel::<Frame>(16);
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
    frames
}

/// Queues the input in every complete frame the client sent and applies window sizes.
fn take_client_frames(
    decoder: &mut FrameDecoder,
    pending: &mut VecDeque<Input>,
    io: &ChildIo,
) -> Result<(), ProtocolError> {
    while let Some(frame) = decoder.next_frame()? {
        match frame {
            Frame::Input(data) => pending.push_back(Input::Data(data)),
            Frame::InputEnd => pending.push_back(Input::End),
            Frame::Resize { cols, rows } => {
                if let Some(terminal) = &io.terminal {
                    let _ = stdio::resize(terminal.get_ref(), cols.max(1), rows.max(1));
                }
            }
            _ => {}
        }
    }
    Ok(())
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
}
