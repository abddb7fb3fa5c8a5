//! Property values in the D-Bus shapes systemd expects, and the helpers that build them.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Linux's MS_REC, for recursive bind mounts.
pub(super) const MS_REC: u64 = 16384;

/// A property value in the D-Bus shape systemd expects for that property (the signatures are
/// listed in `signatures.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// `s`
    Str(String),
    /// `b`
    Bool(bool),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `t`
    U64(u64),
    /// `as`
    StrList(Vec<String>),
    /// `a(sasb)`: path, argv, ignore-failure.
    Exec(Vec<(String, Vec<String>, bool)>),
    /// `a(sb)`: path, ignore-missing.
    EnvFiles(Vec<(String, bool)>),
    /// `a(ssbt)`: source, destination, ignore-missing, mount flags.
    Binds(Vec<(String, String, bool, u64)>),
    /// `(bas)`: allow-list?, entries.
    Filter(bool, Vec<String>),
    /// `aay`
    Bytes(Vec<Vec<u8>>),
    /// `h`: a file descriptor passed along with the call.
    Fd(SharedFd),
    /// `a(ss)`: timer base and expression, like ("OnCalendar", "*-*-* *:00:00").
    Timers(Vec<(String, String)>),
}

/// A file descriptor handed to systemd in a property (a one-off's standard input or output).
/// Clones share it; equal only to its own clones.
#[derive(Debug, Clone)]
pub struct SharedFd(pub Arc<OwnedFd>);

impl SharedFd {
    pub fn new(fd: OwnedFd) -> Self {
        Self(Arc::new(fd))
    }
}

impl PartialEq for SharedFd {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedFd {}

pub type Property = (&'static str, PropertyValue);

pub(super) fn s(v: impl Into<String>) -> PropertyValue {
    PropertyValue::Str(v.into())
}

pub(super) fn b(v: bool) -> PropertyValue {
    PropertyValue::Bool(v)
}

pub(super) fn strs<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> PropertyValue {
    PropertyValue::StrList(v.into_iter().map(Into::into).collect())
}

/// Recursive bind mounts of `(source, destination)` pairs; a missing source is an error.
pub(super) fn binds(list: &[(&Path, &str)]) -> PropertyValue {
    PropertyValue::Binds(
        list.iter()
            .map(|(src, dst)| (src.display().to_string(), (*dst).to_owned(), false, MS_REC))
            .collect(),
    )
}

/// `/bin/sh -c COMMAND`. systemd expands `$VAR` and `${VAR}` in command lines itself (even for
/// transient units) and turns `$$` into `$`; doubling every `$` leaves all expansion to the shell.
pub(super) fn exec_sh(command: &str) -> PropertyValue {
    PropertyValue::Exec(vec![(
        "/bin/sh".into(),
        vec!["/bin/sh".into(), "-c".into(), command.replace('$', "$$")],
        false,
    )])
}

/// `exec "$@"` through the shell, so the dyno's `PATH` finds the program; `$` is doubled for
/// systemd as in [`exec_sh`].
pub(super) fn exec_argv(argv: &[String]) -> PropertyValue {
    let mut args = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        "exec \"$$@\"".to_owned(),
        "sh".to_owned(),
    ];
    args.extend(argv.iter().map(|a| a.replace('$', "$$")));
    PropertyValue::Exec(vec![("/bin/sh".into(), args, false)])
}

/// journald fields (`KEY=value`) added to every line of the unit.
pub(super) fn log_fields(fields: Vec<String>) -> PropertyValue {
    PropertyValue::Bytes(fields.into_iter().map(String::into_bytes).collect())
}

/// `InaccessiblePaths=` entries that may be missing (`-` prefix).
pub(super) fn hidden(paths: &[PathBuf]) -> PropertyValue {
    strs(paths.iter().map(|p| format!("-{}", p.display())))
}

/// The one root-only environment file a unit reads its config vars from.
pub(super) fn env_file(path: &Path) -> PropertyValue {
    PropertyValue::EnvFiles(vec![(path.display().to_string(), false)])
}
