//! Where log lines come from: `journalctl` as a subprocess in production, a fixed list in tests.

use std::pin::Pin;
use std::process::Stdio;

use futures_util::Stream;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStdout;

use super::{
    build_output_args, drain_args, drain_line, journalctl_args, message, render, LogQuery,
};
use crate::model::{DrainLine, LogOrigin};

/// How long listing the journal's unit names may take.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub type LineStream = Pin<Box<dyn Stream<Item = String> + Send>>;

/// A drain's lines, each with its journal cursor.
pub type DrainStream = Pin<Box<dyn Stream<Item = (String, DrainLine)> + Send>>;

#[derive(Debug, thiserror::Error)]
#[error("cannot run journalctl: {0}")]
pub struct LogError(#[from] std::io::Error);

#[async_trait::async_trait]
pub trait LogSource: Send + Sync {
    /// Rendered lines, oldest first; with `follow` the stream stays open for new lines.
    async fn lines(&self, query: LogQuery) -> Result<LineStream, LogError>;
    /// A build's output (messages only); with `follow`, until the stream is dropped.
    async fn build_output(
        &self,
        build_id: &str,
        dyno: Option<&str>,
        follow: bool,
    ) -> Result<LineStream, LogError>;
    /// The lines a drain of `query.app` forwards, from just after `cursor` (from `since`, Unix
    /// seconds, when none was delivered yet), following; the stream ends if journalctl does.
    async fn drain_lines(
        &self,
        query: LogQuery,
        cursor: Option<String>,
        since: i64,
    ) -> Result<DrainStream, LogError>;
}

/// Runs `journalctl -o json`; the process is killed when the stream is dropped (client gone).
pub struct Journalctl;

#[async_trait::async_trait]
impl LogSource for Journalctl {
    async fn lines(&self, query: LogQuery) -> Result<LineStream, LogError> {
        let seen = match query.origin {
            Some(LogOrigin::Skiff) => units_seen(&query.unit_prefixes()).await?,
            _ => Vec::new(),
        };
        match journalctl_args(&query, &seen) {
            Some(args) => journalctl(args, render),
            None if query.follow => Ok(Box::pin(futures_util::stream::pending())),
            None => Ok(Box::pin(futures_util::stream::empty())),
        }
    }

    async fn build_output(
        &self,
        build_id: &str,
        dyno: Option<&str>,
        follow: bool,
    ) -> Result<LineStream, LogError> {
        journalctl(build_output_args(build_id, dyno, follow), message)
    }

    async fn drain_lines(
        &self,
        query: LogQuery,
        cursor: Option<String>,
        since: i64,
    ) -> Result<DrainStream, LogError> {
        let (child, lines) = spawn_journalctl(drain_args(&query, cursor.as_deref(), since))?;
        let app = query.app;
        Ok(Box::pin(futures_util::stream::unfold(
            (lines, child),
            move |(mut lines, child)| {
                let app = app.clone();
                async move {
                    loop {
                        let line = lines.next_line().await.ok()??;
                        let entry = serde_json::from_str(&line).ok();
                        if let Some(drained) = entry.and_then(|e| drain_line(&e, &app)) {
                            return Some((drained, (lines, child)));
                        }
                    }
                }
            },
        )))
    }
}

/// The `UNIT=` values in the journal that start with one of `prefixes`: the units PID 1 wrote
/// about, as journalctl's own `--unit=` glob finds them.
async fn units_seen(prefixes: &[String]) -> Result<Vec<String>, LogError> {
    let run = tokio::process::Command::new("journalctl")
        .args(["--field=UNIT", "--quiet"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(LIST_TIMEOUT, run)
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "journalctl --field timed out")
        })??;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|u| prefixes.iter().any(|p| u.starts_with(p.as_str())))
        .map(str::to_owned)
        .collect())
}

/// Runs `journalctl` with `args` and turns each JSON entry into a line with `to_line`.
fn journalctl(
    args: Vec<String>,
    to_line: fn(&serde_json::Value) -> Option<String>,
) -> Result<LineStream, LogError> {
    let (child, lines) = spawn_journalctl(args)?;
    Ok(Box::pin(futures_util::stream::unfold(
        (lines, child),
        move |(mut lines, child)| async move {
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        let rendered = serde_json::from_str(&line).ok().and_then(|v| to_line(&v));
                        if let Some(rendered) = rendered {
                            return Some((rendered, (lines, child)));
                        }
                    }
                    _ => return None,
                }
            }
        },
    )))
}

/// Starts `journalctl ARGS` (killed when the returned child is dropped) and its stdout's lines.
pub(super) fn spawn_journalctl(
    args: Vec<String>,
) -> std::io::Result<(tokio::process::Child, Lines<BufReader<ChildStdout>>)> {
    let mut child = tokio::process::Command::new("journalctl")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    Ok((child, BufReader::new(stdout).lines()))
}

/// Serves a fixed set of lines for any query, for tests.
#[derive(Default)]
#[cfg(any(test, feature = "fakes"))]
pub struct FakeLogs {
    pub lines: Vec<String>,
    /// What every build prints.
    pub build_lines: Vec<String>,
    /// What drains read, by cursor, in order; shared so a test can add lines as it goes.
    pub drain_lines: std::sync::Arc<std::sync::Mutex<Vec<(String, DrainLine)>>>,
}

#[cfg(any(test, feature = "fakes"))]
#[async_trait::async_trait]
impl LogSource for FakeLogs {
    async fn lines(&self, query: LogQuery) -> Result<LineStream, LogError> {
        let skip = self.lines.len().saturating_sub(query.lines as usize);
        let lines: Vec<String> = self
            .lines
            .iter()
            .skip(skip)
            .filter(|l| {
                query
                    .dyno
                    .as_ref()
                    .is_none_or(|d| l.contains(&format!("[{d}]")))
            })
            .filter(|l| match query.origin {
                None => true,
                Some(LogOrigin::App) => l.contains(" app["),
                Some(LogOrigin::Router) => l.contains(" skiff[router]"),
                Some(LogOrigin::Skiff) => l.contains(" skiff") && !l.contains(" skiff[router]"),
            })
            .cloned()
            .collect();
        let lines = futures_util::stream::iter(lines);
        if query.follow {
            // Like journalctl --follow: the stream stays open after the last line.
            Ok(Box::pin(futures_util::StreamExt::chain(
                lines,
                futures_util::stream::pending(),
            )))
        } else {
            Ok(Box::pin(lines))
        }
    }

    async fn build_output(
        &self,
        _build_id: &str,
        _dyno: Option<&str>,
        _follow: bool,
    ) -> Result<LineStream, LogError> {
        Ok(Box::pin(futures_util::stream::iter(
            self.build_lines.clone(),
        )))
    }

    /// The lines after `cursor` (all without one), then open like `journalctl --follow`.
    async fn drain_lines(
        &self,
        _query: LogQuery,
        cursor: Option<String>,
        _since: i64,
    ) -> Result<DrainStream, LogError> {
        let all = self.drain_lines.lock().expect("fake drain lines").clone();
        let after = cursor
            .and_then(|c| all.iter().position(|(at, _)| *at == c))
            .map_or(0, |i| i + 1);
        let lines = futures_util::stream::iter(all.into_iter().skip(after));
        Ok(Box::pin(futures_util::StreamExt::chain(
            lines,
            futures_util::stream::pending(),
        )))
    }
}
