//! Heroku's Procfile: `type: command` lines, comments and blank lines, validated line by line.

use std::collections::BTreeMap;
use std::fmt;

/// A process type from a Procfile (`web`, `worker`, …): 1–30 of letters, digits, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessType(String);

pub const PROCESS_TYPE_MAX_LEN: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid process type {0:?}: use 1-{PROCESS_TYPE_MAX_LEN} letters, digits, underscores or dashes")]
pub struct ProcessTypeError(pub String);

impl ProcessType {
    pub fn parse(raw: &str) -> Result<Self, ProcessTypeError> {
        let ok = (1..=PROCESS_TYPE_MAX_LEN).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ProcessTypeError(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_web(&self) -> bool {
        self.0 == "web"
    }

    /// The process type the proxy routes requests to.
    pub fn web() -> Self {
        Self("web".to_owned())
    }

    /// `release` is Heroku's release phase: run once per deploy before it goes live, never a dyno.
    pub fn is_release(&self) -> bool {
        self.0 == "release"
    }
}

impl fmt::Display for ProcessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed Procfile: process types and their commands, in name order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Procfile {
    processes: BTreeMap<ProcessType, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcfileError {
    #[error("Procfile line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("Procfile declares no processes; add lines like 'web: python3 app.py'")]
    Empty,
    #[error("Procfile is larger than {0} bytes")]
    TooLarge(usize),
}

pub const PROCFILE_MAX_BYTES: usize = 64 * 1024;

impl Procfile {
    pub fn parse(text: &str) -> Result<Self, ProcfileError> {
        if text.len() > PROCFILE_MAX_BYTES {
            return Err(ProcfileError::TooLarge(PROCFILE_MAX_BYTES));
        }
        let mut processes = BTreeMap::new();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let fail = |reason: String| ProcfileError::Line { line, reason };
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (name, command) = trimmed
                .split_once(':')
                .ok_or_else(|| fail(format!("expected 'type: command', got {trimmed:?}")))?;
            let process_type = ProcessType::parse(name.trim()).map_err(|e| fail(e.to_string()))?;
            let command = command.trim();
            if command.is_empty() {
                return Err(fail(format!("process type {process_type} has no command")));
            }
            if command.contains('\0') {
                return Err(fail("the command contains a NUL byte".into()));
            }
            if processes
                .insert(process_type.clone(), command.to_owned())
                .is_some()
            {
                return Err(fail(format!(
                    "process type {process_type} is declared twice"
                )));
            }
        }
        if processes.is_empty() {
            return Err(ProcfileError::Empty);
        }
        Ok(Self { processes })
    }

    pub fn command(&self, process_type: &ProcessType) -> Option<&str> {
        self.processes.get(process_type).map(String::as_str)
    }

    /// The release-phase command, if the Procfile has a `release:` line.
    pub fn release_command(&self) -> Option<&str> {
        self.iter()
            .find(|(t, _)| t.is_release())
            .map(|(_, command)| command)
    }

    /// Process types that run as dynos: all but `release`.
    pub fn dyno_types(&self) -> impl Iterator<Item = &ProcessType> {
        self.process_types().filter(|t| !t.is_release())
    }

    pub fn process_types(&self) -> impl Iterator<Item = &ProcessType> {
        self.processes.keys()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ProcessType, &str)> {
        self.processes.iter().map(|(t, c)| (t, c.as_str()))
    }

    /// Renders it back in canonical form (what a release stores).
    pub fn render(&self) -> String {
        self.processes
            .iter()
            .map(|(t, c)| format!("{t}: {c}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(s: &str) -> ProcessType {
        ProcessType::parse(s).unwrap()
    }

    #[test]
    fn parses_herokus_format() {
        let p = Procfile::parse("# my app\n\nweb: python3 -m http.server $PORT\nworker:python3 worker.py --loop\n  clock_2 :  sh -c 'date; sleep 60'  \n").unwrap();
        assert_eq!(p.command(&pt("web")), Some("python3 -m http.server $PORT"));
        assert_eq!(p.command(&pt("worker")), Some("python3 worker.py --loop"));
        assert_eq!(p.command(&pt("clock_2")), Some("sh -c 'date; sleep 60'"));
        let types: Vec<_> = p.process_types().map(|t| t.as_str()).collect();
        assert_eq!(types, ["clock_2", "web", "worker"]);
    }

    #[test]
    fn commands_may_contain_colons() {
        let p = Procfile::parse("web: gunicorn app:app --bind 0.0.0.0:$PORT").unwrap();
        assert_eq!(
            p.command(&pt("web")),
            Some("gunicorn app:app --bind 0.0.0.0:$PORT")
        );
    }

    #[test]
    fn errors_name_the_line_and_the_reason() {
        for (text, line, needle) in [
            (
                "web: ok\nthis is not a process\n",
                2,
                "expected 'type: command'",
            ),
            ("web:\n", 1, "has no command"),
            ("web: a\nweb: b\n", 2, "declared twice"),
            ("# c\nmy worker: x\n", 2, "invalid process type"),
            ("we.b: x\n", 1, "invalid process type"),
            (": x\n", 1, "invalid process type"),
        ] {
            match Procfile::parse(text) {
                Err(ProcfileError::Line { line: got, reason }) => {
                    assert_eq!(got, line, "{text:?}");
                    assert!(reason.contains(needle), "{text:?}: {reason}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn empty_and_oversized_procfiles_are_refused() {
        assert_eq!(Procfile::parse("# nothing\n\n"), Err(ProcfileError::Empty));
        let big = "web: x\n".repeat(PROCFILE_MAX_BYTES);
        assert_eq!(
            Procfile::parse(&big),
            Err(ProcfileError::TooLarge(PROCFILE_MAX_BYTES))
        );
    }

    #[test]
    fn render_round_trips() {
        let p = Procfile::parse("worker: b\n# x\nweb:   a  \n").unwrap();
        assert_eq!(p.render(), "web: a\nworker: b\n");
        assert_eq!(Procfile::parse(&p.render()).unwrap(), p);
    }
}
