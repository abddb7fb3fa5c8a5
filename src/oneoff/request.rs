//! Checks a `skiff run` request before anything starts: the command, its timeout and the
//! client's `TERM`.

use std::time::Duration;

use super::RunError;
use crate::systemd::properties::OneOffCommand;

/// The most bytes a command line may have, all arguments together.
pub(super) const MAX_COMMAND_BYTES: usize = 64 * 1024;

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

/// A request that passed every check.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct CheckedRun {
    pub command: OneOffCommand,
    pub timeout: Duration,
    /// `TERM=…` when the client has a terminal that names its type.
    pub extra_env: Vec<String>,
}

fn valid_term(term: &str) -> bool {
    !term.is_empty()
        && term.len() <= 64
        && term
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-+._".contains(c))
}

/// Checks `request` against the server's longest run; one argument is a shell line, more are
/// the program and its arguments.
pub(super) fn check(request: &RunRequest, max_timeout: Duration) -> Result<CheckedRun, RunError> {
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
        None => max_timeout,
        Some(t) if t.is_zero() => return Err(RunError::ZeroTimeout),
        Some(t) if t > max_timeout => {
            return Err(RunError::TimeoutTooLong {
                asked: humantime::format_duration(t).to_string(),
                max: humantime::format_duration(max_timeout).to_string(),
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
    let command = match request.command.as_slice() {
        [line] => OneOffCommand::Shell(line.clone()),
        argv => OneOffCommand::Argv(argv.to_vec()),
    };
    Ok(CheckedRun {
        command,
        timeout,
        extra_env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn request(command: &[&str], timeout: Option<u64>, term: Option<&str>) -> RunRequest {
        RunRequest {
            command: command.iter().map(|a| a.to_string()).collect(),
            terminal: term.map(|t| TerminalRequest {
                cols: 80,
                rows: 24,
                term: Some(t.to_owned()),
            }),
            timeout: timeout.map(Duration::from_secs),
        }
    }

    #[test]
    fn requests_are_checked_before_anything_starts() {
        let long = "x".repeat(MAX_COMMAND_BYTES + 1);
        let refused = [
            (request(&[], None, None), "no command given"),
            (request(&["  ", ""], None, None), "no command given"),
            (
                request(&[&long], None, None),
                "the command is over 65536 bytes",
            ),
            (request(&["a\0b"], None, None), "contains a NUL byte"),
            (request(&["ls"], Some(0), None), "a timeout of 0"),
            (
                request(&["ls"], Some(7200), None),
                "timeout 2h is longer than this server's run_timeout (1h)",
            ),
            (request(&["ls"], None, Some("xterm;rm")), "invalid TERM"),
            (request(&["ls"], None, Some("")), "invalid TERM"),
        ];
        for (req, want) in refused {
            let err = check(&req, HOUR).unwrap_err().to_string();
            assert!(err.contains(want), "{req:?}: {err}");
        }
    }

    #[test]
    fn one_argument_is_a_shell_line_more_are_an_argv() {
        let shell = check(&request(&["echo $HOME"], None, None), HOUR).unwrap();
        assert_eq!(
            shell,
            CheckedRun {
                command: OneOffCommand::Shell("echo $HOME".into()),
                timeout: HOUR,
                extra_env: vec![],
            }
        );
        let argv = check(
            &request(&["ls", "-l"], Some(60), Some("xterm-256color")),
            HOUR,
        )
        .unwrap();
        assert_eq!(
            argv.command,
            OneOffCommand::Argv(vec!["ls".into(), "-l".into()])
        );
        assert_eq!(argv.timeout, Duration::from_secs(60));
        assert_eq!(argv.extra_env, vec!["TERM=xterm-256color".to_owned()]);
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
