//! One command to a Redis server through Debian's `redis-cli` (package `redis-tools`): the
//! password in `REDISCLI_AUTH`, a secret argument on standard input, never on a command line;
//! every call given up after a few seconds.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::RedisError;
use crate::model::{AddonEndpoint, AddonSecret};

pub(crate) const REDIS_CLI: &str = "/usr/bin/redis-cli";
/// The longest one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `args` against the server at `at` as its default user, with `last_argument` (if any)
/// read from standard input as the command's last argument (`-x`). Returns the reply as
/// `redis-cli` prints it off a terminal; an error reply, a refused connection or a wrong
/// password is an error (`-e`).
pub(crate) async fn call(
    at: AddonEndpoint,
    password: &AddonSecret,
    args: &[String],
    last_argument: Option<&AddonSecret>,
) -> Result<String, RedisError> {
    let server = [
        "-h".to_owned(),
        at.host.to_string(),
        "-p".to_owned(),
        at.port.to_string(),
    ];
    run(&server, Some(password), args, last_argument).await
}

/// Runs `args` against a server without a password listening on the Unix socket `socket` (a
/// scratch server only root can reach).
pub(crate) async fn call_socket(socket: &Path, args: &[String]) -> Result<String, RedisError> {
    let server = ["-s".to_owned(), socket.display().to_string()];
    run(&server, None, args, None).await
}

async fn run(
    server: &[String],
    password: Option<&AddonSecret>,
    args: &[String],
    last_argument: Option<&AddonSecret>,
) -> Result<String, RedisError> {
    let mut command = tokio::process::Command::new(REDIS_CLI);
    command
        .arg("-e")
        .args(server)
        .args(last_argument.map(|_| "-x"))
        .args(args)
        .env_clear()
        .envs(password.map(|p| ("REDISCLI_AUTH", p.expose())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = args.first().map_or("redis-cli", String::as_str).to_owned();
    let run = async {
        let mut child = command.spawn()?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        if let Some(secret) = last_argument {
            // No newline: `-x` would make it part of the argument.
            stdin.write_all(secret.expose().as_bytes()).await?;
        }
        drop(stdin);
        child.wait_with_output().await
    };
    let output = tokio::time::timeout(CALL_TIMEOUT, run)
        .await
        .map_err(|_| RedisError::Cli {
            command: what.clone(),
            message: format!("no answer within {}s", CALL_TIMEOUT.as_secs()),
        })?
        .map_err(|e| RedisError::Cli {
            command: what.clone(),
            message: format!("cannot run {REDIS_CLI}: {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = [stdout.as_str(), stderr.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        Err(RedisError::Cli {
            command: what,
            message,
        })
    }
}
