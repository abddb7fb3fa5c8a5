//! The API over SSH: the client side runs `ssh DESTINATION skiff api:relay` per request and
//! speaks HTTP over its standard input and output; the server side (`api:relay`) joins them to
//! the local socket as the SSH user, so the socket's permissions (root and group skiff) decide.

use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Subcommand;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Join, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::endpoint::Endpoint;
use super::{CliError, Session};

/// How long ssh may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Subcommand)]
pub enum RelayVerb {
    /// Relay standard input and output to the local API socket (what SKIFF_API=ssh:// runs on
    /// the server).
    #[command(name = "api:relay", hide = true)]
    Relay,
}

/// `ssh` arguments for one request: no terminal, no prompts (keys and known hosts as the user's
/// ssh configuration has them), a bounded connect, then the relay on the server.
pub(crate) fn ssh_args(destination: &str, port: Option<u16>) -> Vec<String> {
    let mut args: Vec<String> = [
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        &format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()),
    ]
    .map(str::to_owned)
    .into();
    if let Some(port) = port {
        args.extend(["-p".to_owned(), port.to_string()]);
    }
    args.extend(["--", destination, "skiff", "api:relay"].map(str::to_owned));
    args
}

/// One request's connection: ssh's output to read, its input to write; ssh ends with it.
pub(crate) struct SshStream {
    io: Join<ChildStdout, ChildStdin>,
    _ssh: Child,
}

/// Starts ssh to `destination`; its errors (a refused key, an unknown host) go to our stderr.
pub(crate) fn connect(destination: &str, port: Option<u16>) -> std::io::Result<SshStream> {
    let mut ssh = tokio::process::Command::new("ssh")
        .args(ssh_args(destination, port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = ssh.stdout.take().expect("stdout is piped");
    let stdin = ssh.stdin.take().expect("stdin is piped");
    Ok(SshStream {
        io: tokio::io::join(stdout, stdin),
        _ssh: ssh,
    })
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

pub(super) async fn run(verb: RelayVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        RelayVerb::Relay => relay(&s.ctx.endpoint, s.output.out()).await,
    }
}

/// Copies standard input to the local socket, and what skiffd answers to `out` (standard
/// output, already locked by the caller) until skiffd closes the connection.
async fn relay(endpoint: &Endpoint, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    let Endpoint::Unix(path) = endpoint else {
        return Err(CliError::Usage(format!(
            "api:relay joins SSH to this server's local socket; SKIFF_API here is {endpoint}"
        )));
    };
    let socket = tokio::net::UnixStream::connect(path).await.map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (only root and members of group skiff may use the API)"
                    .to_owned()
            }
            _ => e.to_string(),
        };
        CliError::Connect(format!(
            "cannot connect to skiffd at {}: {reason}",
            path.display()
        ))
    })?;
    let (mut from_skiffd, mut to_skiffd) = socket.into_split();
    // Standard input's end (the client is done sending) closes only that direction.
    let upstream = tokio::spawn(async move {
        tokio::io::copy(&mut tokio::io::stdin(), &mut to_skiffd).await?;
        to_skiffd.shutdown().await
    });
    let mut buf = vec![0u8; 64 * 1024];
    let copied = loop {
        match from_skiffd.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = out.write_all(&buf[..n]).and_then(|()| out.flush()) {
                    break Err(e);
                }
            }
            Err(e) => break Err(e),
        }
    };
    upstream.abort();
    Ok(copied?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_runs_the_relay_with_no_prompt_and_nothing_taken_for_an_option() {
        assert_eq!(
            ssh_args("admin@paas", None),
            [
                "-T",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=15",
                "--",
                "admin@paas",
                "skiff",
                "api:relay"
            ]
        );
        let with_port = ssh_args("paas", Some(2222));
        assert_eq!(with_port[5..8], ["-p", "2222", "--"]);
    }
}
