//! Pure `DynoSpec → unit properties`: the sandbox, limits, environment and logging of one dyno.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::names::app_slice;
use crate::model::{AppName, CronSchedule, CronUnit, DynoUnit, Limits};

/// Linux's MS_REC, for recursive bind mounts.
const MS_REC: u64 = 16384;

/// A property value in the D-Bus shape systemd expects for that property (see DESIGN.md §5).
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

/// How systemd restarts a dyno whose process ended before giving up on it (it is then `crashed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub delay_usec: u64,
    /// More than `burst` starts within `interval_usec` → the unit fails for good.
    pub burst: u32,
    pub interval_usec: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            delay_usec: 1_000_000,
            burst: 5,
            interval_usec: 120_000_000,
        }
    }
}

/// Everything needed to start one dyno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynoSpec {
    pub unit: DynoUnit,
    /// The Procfile command, run with `/bin/sh -c` in `/app`.
    pub command: String,
    /// The release's slug, mounted read-only at `/app`.
    pub slug_dir: PathBuf,
    /// Root-only file with the release's config vars.
    pub env_file: PathBuf,
    /// Web dynos get a port.
    pub port: Option<u16>,
    pub limits: Limits,
    pub restart: RestartPolicy,
    /// Paths the dyno must not see at all (skiff's state and runtime dirs).
    pub hidden_paths: Vec<PathBuf>,
    pub stop_timeout_usec: u64,
}

fn s(v: impl Into<String>) -> PropertyValue {
    PropertyValue::Str(v.into())
}

fn b(v: bool) -> PropertyValue {
    PropertyValue::Bool(v)
}

fn strs<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> PropertyValue {
    PropertyValue::StrList(v.into_iter().map(Into::into).collect())
}

/// The sandbox every dyno (and later every build and one-off) runs in: DESIGN.md §4.
pub fn sandbox_properties() -> Vec<Property> {
    vec![
        ("DynamicUser", b(true)),
        ("PrivateUsers", b(true)),
        ("NoNewPrivileges", b(true)),
        ("ProtectSystem", s("strict")),
        ("ProtectHome", s("yes")),
        ("PrivateTmp", b(true)),
        ("PrivateDevices", b(true)),
        ("ProtectKernelTunables", b(true)),
        ("ProtectKernelModules", b(true)),
        ("ProtectKernelLogs", b(true)),
        ("ProtectControlGroups", b(true)),
        ("ProtectClock", b(true)),
        ("ProtectHostname", b(true)),
        ("ProtectProc", s("invisible")),
        ("ProcSubset", s("pid")),
        // The allowed namespace types; none.
        ("RestrictNamespaces", PropertyValue::U64(0)),
        ("RestrictRealtime", b(true)),
        ("RestrictSUIDSGID", b(true)),
        ("LockPersonality", b(true)),
        ("SystemCallArchitectures", strs(["native"])),
        (
            "SystemCallFilter",
            PropertyValue::Filter(true, vec!["@system-service".into()]),
        ),
        (
            "SystemCallFilter",
            PropertyValue::Filter(false, vec!["@privileged".into(), "@resources".into()]),
        ),
        // A denied call fails with EPERM instead of killing the process: runtimes such as Node.js
        // probe calls like prlimit64 at start and carry on without them.
        ("SystemCallErrorNumber", PropertyValue::I32(1)),
        (
            "RestrictAddressFamilies",
            PropertyValue::Filter(
                true,
                vec!["AF_INET".into(), "AF_INET6".into(), "AF_UNIX".into()],
            ),
        ),
        // An empty bounding set: no capabilities at all.
        ("CapabilityBoundingSet", PropertyValue::U64(0)),
        ("UMask", PropertyValue::U32(0o077)),
    ]
}

/// `PATH` in dynos: what the builders install (virtualenv, node_modules, bin/) comes first.
pub const DYNO_PATH: &str =
    "/app/.venv/bin:/app/node_modules/.bin:/app/bin:/usr/local/bin:/usr/bin:/bin";

fn binds(list: &[(&Path, &str)]) -> PropertyValue {
    PropertyValue::Binds(
        list.iter()
            .map(|(src, dst)| (src.display().to_string(), (*dst).to_owned(), false, MS_REC))
            .collect(),
    )
}

/// `/bin/sh -c COMMAND`. systemd expands `$VAR` and `${VAR}` in command lines itself (even for
/// transient units) and turns `$$` into `$`; doubling every `$` leaves all expansion to the shell.
fn exec_sh(command: &str) -> PropertyValue {
    PropertyValue::Exec(vec![(
        "/bin/sh".into(),
        vec!["/bin/sh".into(), "-c".into(), command.replace('$', "$$")],
        false,
    )])
}

fn log_fields(fields: Vec<String>) -> PropertyValue {
    PropertyValue::Bytes(fields.into_iter().map(String::into_bytes).collect())
}

fn hidden(paths: &[PathBuf]) -> PropertyValue {
    strs(paths.iter().map(|p| format!("-{}", p.display())))
}

/// One build of an app: its script, its directories and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub unit_name: String,
    pub app: AppName,
    pub build_id: String,
    pub script: String,
    /// The source tree, built in place at `/app`.
    pub app_dir: PathBuf,
    /// The app's build cache, at `/cache`.
    pub cache_dir: PathBuf,
    /// Config vars as files (a buildpack's ENV_DIR), read-only at `/env`.
    pub env_dir: PathBuf,
    /// The same config vars as a root-only environment file.
    pub env_file: PathBuf,
    /// Where the build leaves results for skiffd, at `/meta`.
    pub meta_dir: PathBuf,
    /// Local buildpacks, read-only at `/buildpacks/N`.
    pub buildpack_dirs: Vec<(usize, PathBuf)>,
    pub memory_bytes: u64,
    pub timeout_usec: u64,
    pub hidden_paths: Vec<PathBuf>,
}

/// A build runs in the dyno sandbox with the network, as a oneshot that writes only its own tree,
/// cache and results. `UMask=0000` keeps the cache writable by the next build's dynamic user.
pub fn build_properties(spec: &BuildSpec) -> Vec<Property> {
    let mut read_only: Vec<(&Path, String)> = vec![(spec.env_dir.as_path(), "/env".to_owned())];
    for (i, dir) in &spec.buildpack_dirs {
        read_only.push((dir.as_path(), format!("/buildpacks/{i}")));
    }
    let read_only: Vec<(&Path, &str)> = read_only.iter().map(|(p, d)| (*p, d.as_str())).collect();
    let mut props = vec![
        (
            "Description",
            s(format!("skiff build of {} ({})", spec.app, spec.build_id)),
        ),
        ("Slice", s(BUILD_SLICE)),
        ("Type", s("oneshot")),
        ("ExecStart", exec_sh(&spec.script)),
        ("WorkingDirectory", s("/app")),
        (
            "BindPaths",
            binds(&[
                (spec.app_dir.as_path(), "/app"),
                (spec.cache_dir.as_path(), "/cache"),
                (spec.meta_dir.as_path(), "/meta"),
            ]),
        ),
        ("BindReadOnlyPaths", binds(&read_only)),
        ("InaccessiblePaths", hidden(&spec.hidden_paths)),
        (
            "Environment",
            strs([
                "STACK=skiff",
                "DYNO=build",
                "PATH=/usr/local/bin:/usr/bin:/bin",
            ]),
        ),
        (
            "EnvironmentFiles",
            PropertyValue::EnvFiles(vec![(spec.env_file.display().to_string(), false)]),
        ),
        ("TimeoutStartUSec", PropertyValue::U64(spec.timeout_usec)),
        ("MemoryMax", PropertyValue::U64(spec.memory_bytes)),
        ("SyslogIdentifier", s(format!("{}.build", spec.app))),
        (
            "LogExtraFields",
            log_fields(vec![
                format!("SKIFF_APP={}", spec.app),
                format!("SKIFF_BUILD={}", spec.build_id),
            ]),
        ),
    ];
    props.extend(
        sandbox_properties()
            .into_iter()
            .filter(|(name, _)| *name != "UMask"),
    );
    props.push(("UMask", PropertyValue::U32(0)));
    props
}

/// What a one-off runs: a shell command line, or an exact argument vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneOffCommand {
    /// Run with `/bin/sh -c`, like a Procfile command.
    Shell(String),
    /// Run as given (found on the dyno's `PATH`), each argument passed through untouched.
    Argv(Vec<String>),
}

/// Where a one-off's standard input and output go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneOffStdio {
    /// No input; output to the journal with the app's fields.
    Journal,
    /// A pseudo-terminal (its path under `/dev/pts`) as controlling terminal, input and output.
    Terminal { tty_path: String },
    /// Descriptors the caller holds the other ends of.
    Pipes {
        stdin: SharedFd,
        stdout: SharedFd,
        stderr: SharedFd,
    },
}

/// How long a one-off may live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneOffLifetime {
    /// `Type=oneshot`: its start job lasts as long as the process, at most the timeout. With
    /// `part_of`, stopping or restarting that unit (skiffd, which relays the client) stops it.
    Oneshot { part_of: Option<String> },
    /// `Type=exec`, stopped by systemd when the timeout is up (`run:detached`).
    Detached,
}

/// A one-off process in a dyno's sandbox: the release phase, postdeploy, `skiff run`, cron jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOffSpec {
    pub unit_name: String,
    pub app: AppName,
    /// `release.1`, `postdeploy.1`, `run.3`, `cron.1`…
    pub dyno: String,
    pub command: OneOffCommand,
    pub slug_dir: PathBuf,
    pub env_file: PathBuf,
    /// Logged as `SKIFF_BUILD` so the deploy that ran it can stream its output.
    pub build_id: Option<String>,
    /// The release it runs, logged as `SKIFF_RELEASE` (none before the release exists).
    pub release: Option<u32>,
    pub limits: Limits,
    pub timeout_usec: u64,
    pub hidden_paths: Vec<PathBuf>,
    pub stdio: OneOffStdio,
    pub lifetime: OneOffLifetime,
    /// More `Environment=` entries, never secret (`TERM` of the client's terminal).
    pub extra_env: Vec<String>,
}

/// `exec "$@"` through the shell, so the dyno's `PATH` finds the program; `$` is doubled for
/// systemd as in [`exec_sh`].
fn exec_argv(argv: &[String]) -> PropertyValue {
    let mut args = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        "exec \"$$@\"".to_owned(),
        "sh".to_owned(),
    ];
    args.extend(argv.iter().map(|a| a.replace('$', "$$")));
    PropertyValue::Exec(vec![("/bin/sh".into(), args, false)])
}

fn stdio_properties(stdio: &OneOffStdio) -> Vec<Property> {
    match stdio {
        OneOffStdio::Journal => Vec::new(),
        // systemd opens the terminal in the new process and makes it the controlling one, so
        // Ctrl-C and window-size changes reach the process group in the foreground.
        OneOffStdio::Terminal { tty_path } => vec![
            ("StandardInput", s("tty-force")),
            ("StandardOutput", s("tty")),
            ("StandardError", s("tty")),
            ("TTYPath", s(tty_path.clone())),
        ],
        OneOffStdio::Pipes {
            stdin,
            stdout,
            stderr,
        } => vec![
            (
                "StandardInputFileDescriptor",
                PropertyValue::Fd(stdin.clone()),
            ),
            (
                "StandardOutputFileDescriptor",
                PropertyValue::Fd(stdout.clone()),
            ),
            (
                "StandardErrorFileDescriptor",
                PropertyValue::Fd(stderr.clone()),
            ),
        ],
    }
}

fn lifetime_properties(lifetime: &OneOffLifetime, timeout_usec: u64) -> Vec<Property> {
    match lifetime {
        OneOffLifetime::Oneshot { part_of } => {
            let mut props = vec![
                ("Type", s("oneshot")),
                ("TimeoutStartUSec", PropertyValue::U64(timeout_usec)),
            ];
            if let Some(unit) = part_of {
                props.push(("PartOf", strs([unit.clone()])));
            }
            props
        }
        OneOffLifetime::Detached => vec![
            ("Type", s("exec")),
            ("RuntimeMaxUSec", PropertyValue::U64(timeout_usec)),
        ],
    }
}

pub fn oneoff_properties(spec: &OneOffSpec) -> Vec<Property> {
    let mut environment = vec![
        format!("DYNO={}", spec.dyno),
        "HOME=/app".to_owned(),
        format!("PATH={DYNO_PATH}"),
    ];
    environment.extend(spec.extra_env.iter().cloned());
    let mut log_extra = vec![
        format!("SKIFF_APP={}", spec.app),
        format!("SKIFF_DYNO={}", spec.dyno),
    ];
    if let Some(release) = spec.release {
        log_extra.push(format!("SKIFF_RELEASE=v{release}"));
    }
    if let Some(build_id) = &spec.build_id {
        log_extra.push(format!("SKIFF_BUILD={build_id}"));
    }
    let exec = match &spec.command {
        OneOffCommand::Shell(command) => exec_sh(command),
        OneOffCommand::Argv(argv) => exec_argv(argv),
    };
    let mut props = vec![
        (
            "Description",
            s(format!("skiff {} {}", spec.app, spec.dyno)),
        ),
        ("Slice", s(app_slice(&spec.app))),
        ("ExecStart", exec),
        ("WorkingDirectory", s("/app")),
        (
            "BindReadOnlyPaths",
            binds(&[(spec.slug_dir.as_path(), "/app")]),
        ),
        ("InaccessiblePaths", hidden(&spec.hidden_paths)),
        ("Environment", PropertyValue::StrList(environment)),
        (
            "EnvironmentFiles",
            PropertyValue::EnvFiles(vec![(spec.env_file.display().to_string(), false)]),
        ),
        ("SyslogIdentifier", s(format!("{}.{}", spec.app, spec.dyno))),
        ("LogExtraFields", log_fields(log_extra)),
    ];
    props.extend(lifetime_properties(&spec.lifetime, spec.timeout_usec));
    props.extend(stdio_properties(&spec.stdio));
    props.extend(limit_properties(&spec.limits));
    props.extend(sandbox_properties());
    props
}

/// A scheduled job's timer: fires its service on every calendar expression, to the second
/// (systemd's default accuracy would let it drift up to a minute).
pub fn timer_properties(unit: &CronUnit, schedule: &CronSchedule) -> Vec<Property> {
    vec![
        (
            "Description",
            s(format!(
                "skiff {} {} (v{}): {schedule}",
                unit.app,
                unit.dyno(),
                unit.release
            )),
        ),
        (
            "TimersCalendar",
            PropertyValue::Timers(
                schedule
                    .on_calendar()
                    .into_iter()
                    .map(|expr| ("OnCalendar".to_owned(), expr))
                    .collect(),
            ),
        ),
        // The timer fires the service of the same name, created alongside it.
        ("AccuracyUSec", PropertyValue::U64(1_000_000)),
    ]
}

/// Builds run here, beside the apps' slices, so they do not eat into an app's dyno totals.
pub const BUILD_SLICE: &str = super::names::ROOT_SLICE;

/// All properties of a dyno's transient service, in the order they are sent.
pub fn dyno_properties(spec: &DynoSpec) -> Vec<Property> {
    let unit = &spec.unit;
    let dyno = unit.dyno.to_string();
    let mut environment = vec![
        format!("DYNO={dyno}"),
        "HOME=/app".to_owned(),
        format!("PATH={DYNO_PATH}"),
    ];
    if let Some(port) = spec.port {
        environment.push(format!("PORT={port}"));
    }
    let mut props = vec![
        (
            "Description",
            s(format!("skiff {} {dyno} (v{})", unit.app, unit.release)),
        ),
        ("Slice", s(app_slice(&unit.app))),
        ("Type", s("exec")),
        ("ExecStart", exec_sh(&spec.command)),
        ("WorkingDirectory", s("/app")),
        (
            "BindReadOnlyPaths",
            PropertyValue::Binds(vec![(
                spec.slug_dir.display().to_string(),
                "/app".into(),
                false,
                MS_REC,
            )]),
        ),
        (
            "InaccessiblePaths",
            strs(
                spec.hidden_paths
                    .iter()
                    .map(|p| format!("-{}", p.display())),
            ),
        ),
        // Not secret: visible to `systemctl show`. Config vars go only in the root-only file.
        ("Environment", PropertyValue::StrList(environment)),
        (
            "EnvironmentFiles",
            PropertyValue::EnvFiles(vec![(spec.env_file.display().to_string(), false)]),
        ),
        // Heroku restarts a dyno whenever its process exits, whatever the status; systemd's
        // start limit (not skiffd) then turns a restart loop into a `crashed` dyno.
        ("Restart", s("always")),
        ("RestartUSec", PropertyValue::U64(spec.restart.delay_usec)),
        ("StartLimitBurst", PropertyValue::U32(spec.restart.burst)),
        (
            "StartLimitIntervalUSec",
            PropertyValue::U64(spec.restart.interval_usec),
        ),
        (
            "TimeoutStopUSec",
            PropertyValue::U64(spec.stop_timeout_usec),
        ),
        ("SyslogIdentifier", s(unit.syslog_identifier())),
        (
            "LogExtraFields",
            PropertyValue::Bytes(
                [
                    format!("SKIFF_APP={}", unit.app),
                    format!("SKIFF_DYNO={dyno}"),
                    format!("SKIFF_RELEASE=v{}", unit.release),
                ]
                .into_iter()
                .map(String::into_bytes)
                .collect(),
            ),
        ),
    ];
    props.extend(limit_properties(&spec.limits));
    props.extend(sandbox_properties());
    props
}

/// The cgroup limits of a dyno; also applied live to running units by `ps:resize`.
pub fn limit_properties(limits: &Limits) -> Vec<Property> {
    vec![
        ("MemoryMax", PropertyValue::U64(limits.memory_bytes)),
        (
            "CPUQuotaPerSecUSec",
            PropertyValue::U64(u64::from(limits.cpu_percent) * 10_000),
        ),
        ("TasksMax", PropertyValue::U64(limits.tasks)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppName, DynoName};

    fn spec(port: Option<u16>) -> DynoSpec {
        DynoSpec {
            unit: DynoUnit {
                app: AppName::parse("my-app").unwrap(),
                dyno: DynoName::parse(if port.is_some() { "web.2" } else { "worker.1" }).unwrap(),
                release: 7,
                generation: 0,
            },
            command: "python3 app.py --port $PORT".into(),
            slug_dir: "/var/lib/skiff/slugs/my-app/v7".into(),
            env_file: "/run/skiff/env/my-app/v7.env".into(),
            port,
            limits: Limits {
                memory_bytes: 512 << 20,
                cpu_percent: 50,
                tasks: 256,
            },
            restart: RestartPolicy::default(),
            hidden_paths: vec!["/var/lib/skiff".into(), "/run/skiff".into()],
            stop_timeout_usec: 10_000_000,
        }
    }

    fn get<'a>(props: &'a [Property], name: &str) -> Vec<&'a PropertyValue> {
        props
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect()
    }

    fn one<'a>(props: &'a [Property], name: &str) -> &'a PropertyValue {
        let found = get(props, name);
        assert_eq!(found.len(), 1, "{name} set {} times", found.len());
        found[0]
    }

    #[test]
    fn runs_the_command_in_the_read_only_slug() {
        let p = dyno_properties(&spec(Some(20001)));
        assert_eq!(
            one(&p, "ExecStart"),
            &PropertyValue::Exec(vec![(
                "/bin/sh".into(),
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "python3 app.py --port $$PORT".into()
                ],
                false
            )])
        );
        assert_eq!(one(&p, "WorkingDirectory"), &s("/app"));
        assert_eq!(
            one(&p, "BindReadOnlyPaths"),
            &PropertyValue::Binds(vec![(
                "/var/lib/skiff/slugs/my-app/v7".into(),
                "/app".into(),
                false,
                MS_REC
            )])
        );
        assert_eq!(one(&p, "Type"), &s("exec"));
        assert_eq!(one(&p, "Slice"), &s("skiff-my\\x2dapp.slice"));
    }

    #[test]
    fn environment_has_herokus_variables_and_never_config_values() {
        let p = dyno_properties(&spec(Some(20001)));
        assert_eq!(
            one(&p, "Environment"),
            &strs([
                "DYNO=web.2",
                "HOME=/app",
                &format!("PATH={DYNO_PATH}"),
                "PORT=20001"
            ])
        );
        assert_eq!(
            one(&p, "EnvironmentFiles"),
            &PropertyValue::EnvFiles(vec![("/run/skiff/env/my-app/v7.env".into(), false)])
        );
        let worker = dyno_properties(&spec(None));
        assert_eq!(
            one(&worker, "Environment"),
            &strs(["DYNO=worker.1", "HOME=/app", &format!("PATH={DYNO_PATH}")])
        );
    }

    #[test]
    fn sandbox_is_complete() {
        let p = dyno_properties(&spec(None));
        for name in [
            "DynamicUser",
            "PrivateUsers",
            "NoNewPrivileges",
            "PrivateTmp",
            "PrivateDevices",
            "ProtectKernelTunables",
            "ProtectKernelModules",
            "ProtectKernelLogs",
            "ProtectControlGroups",
            "ProtectClock",
            "ProtectHostname",
            "RestrictRealtime",
            "RestrictSUIDSGID",
            "LockPersonality",
        ] {
            assert_eq!(one(&p, name), &b(true), "{name}");
        }
        assert_eq!(one(&p, "ProtectSystem"), &s("strict"));
        assert_eq!(one(&p, "ProtectHome"), &s("yes"));
        assert_eq!(one(&p, "ProtectProc"), &s("invisible"));
        assert_eq!(one(&p, "CapabilityBoundingSet"), &PropertyValue::U64(0));
        assert_eq!(one(&p, "RestrictNamespaces"), &PropertyValue::U64(0));
        assert_eq!(get(&p, "SystemCallFilter").len(), 2);
        assert_eq!(one(&p, "SystemCallErrorNumber"), &PropertyValue::I32(1));
        assert_eq!(
            one(&p, "InaccessiblePaths"),
            &strs(["-/var/lib/skiff", "-/run/skiff"])
        );
    }

    #[test]
    fn limits_restart_and_logging() {
        let p = dyno_properties(&spec(Some(20001)));
        assert_eq!(one(&p, "MemoryMax"), &PropertyValue::U64(512 << 20));
        assert_eq!(one(&p, "CPUQuotaPerSecUSec"), &PropertyValue::U64(500_000));
        assert_eq!(one(&p, "TasksMax"), &PropertyValue::U64(256));
        assert_eq!(one(&p, "Restart"), &s("always"));
        assert_eq!(one(&p, "StartLimitBurst"), &PropertyValue::U32(5));
        assert_eq!(one(&p, "SyslogIdentifier"), &s("my-app.web.2"));
        assert_eq!(
            one(&p, "LogExtraFields"),
            &PropertyValue::Bytes(vec![
                b"SKIFF_APP=my-app".to_vec(),
                b"SKIFF_DYNO=web.2".to_vec(),
                b"SKIFF_RELEASE=v7".to_vec()
            ])
        );
    }

    fn build_spec() -> BuildSpec {
        BuildSpec {
            unit_name: "skiff-my-app.build-ab12.service".into(),
            app: AppName::parse("my-app").unwrap(),
            build_id: "ab12".into(),
            script: "set -eu".into(),
            app_dir: "/var/lib/skiff/apps/my-app/builds/ab12/app".into(),
            cache_dir: "/var/lib/skiff/apps/my-app/cache".into(),
            env_dir: "/var/lib/skiff/apps/my-app/builds/ab12/env".into(),
            env_file: "/run/skiff/env/my-app/build-ab12.env".into(),
            meta_dir: "/var/lib/skiff/apps/my-app/builds/ab12/meta".into(),
            buildpack_dirs: vec![(0, "/srv/bp".into())],
            memory_bytes: 1 << 30,
            timeout_usec: 900_000_000,
            hidden_paths: vec!["/var/lib/skiff".into(), "/run/skiff".into()],
        }
    }

    #[test]
    fn a_build_writes_only_its_tree_cache_and_results() {
        let p = build_properties(&build_spec());
        assert_eq!(one(&p, "Type"), &s("oneshot"));
        assert_eq!(
            one(&p, "BindPaths"),
            &PropertyValue::Binds(vec![
                (
                    "/var/lib/skiff/apps/my-app/builds/ab12/app".into(),
                    "/app".into(),
                    false,
                    MS_REC
                ),
                (
                    "/var/lib/skiff/apps/my-app/cache".into(),
                    "/cache".into(),
                    false,
                    MS_REC
                ),
                (
                    "/var/lib/skiff/apps/my-app/builds/ab12/meta".into(),
                    "/meta".into(),
                    false,
                    MS_REC
                ),
            ])
        );
        assert_eq!(
            one(&p, "BindReadOnlyPaths"),
            &PropertyValue::Binds(vec![
                (
                    "/var/lib/skiff/apps/my-app/builds/ab12/env".into(),
                    "/env".into(),
                    false,
                    MS_REC
                ),
                ("/srv/bp".into(), "/buildpacks/0".into(), false, MS_REC),
            ])
        );
        assert_eq!(one(&p, "ProtectSystem"), &s("strict"));
        assert_eq!(one(&p, "DynamicUser"), &b(true));
        assert_eq!(one(&p, "UMask"), &PropertyValue::U32(0));
        assert_eq!(
            one(&p, "TimeoutStartUSec"),
            &PropertyValue::U64(900_000_000)
        );
        assert_eq!(one(&p, "MemoryMax"), &PropertyValue::U64(1 << 30));
        assert_eq!(one(&p, "Slice"), &s("skiff.slice"));
        assert_eq!(
            one(&p, "LogExtraFields"),
            &PropertyValue::Bytes(vec![
                b"SKIFF_APP=my-app".to_vec(),
                b"SKIFF_BUILD=ab12".to_vec()
            ])
        );
        let env = format!("{:?}", one(&p, "Environment"));
        assert!(
            !env.contains("SECRET"),
            "config vars never go in Environment="
        );
    }

    #[test]
    fn a_one_off_runs_in_the_dyno_sandbox_to_its_end() {
        let spec = OneOffSpec {
            unit_name: "skiff-my-app.release-ab12.service".into(),
            app: AppName::parse("my-app").unwrap(),
            dyno: "release.1".into(),
            command: OneOffCommand::Shell("python3 migrate.py".into()),
            slug_dir: "/var/lib/skiff/apps/my-app/builds/ab12/app".into(),
            env_file: "/run/skiff/env/my-app/build-ab12.env".into(),
            build_id: Some("ab12".into()),
            release: None,
            limits: Limits {
                memory_bytes: 512 << 20,
                cpu_percent: 100,
                tasks: 256,
            },
            timeout_usec: 60_000_000,
            hidden_paths: vec!["/var/lib/skiff".into()],
            stdio: OneOffStdio::Journal,
            lifetime: OneOffLifetime::Oneshot { part_of: None },
            extra_env: Vec::new(),
        };
        let p = oneoff_properties(&spec);
        assert_eq!(one(&p, "Type"), &s("oneshot"));
        assert_eq!(one(&p, "UMask"), &PropertyValue::U32(0o077));
        assert_eq!(one(&p, "ExecStart"), &exec_sh("python3 migrate.py"));
        assert_eq!(
            one(&p, "Environment"),
            &strs(["DYNO=release.1", "HOME=/app", &format!("PATH={DYNO_PATH}")])
        );
        assert_eq!(one(&p, "CapabilityBoundingSet"), &PropertyValue::U64(0));
        assert_eq!(
            one(&p, "LogExtraFields"),
            &PropertyValue::Bytes(vec![
                b"SKIFF_APP=my-app".to_vec(),
                b"SKIFF_DYNO=release.1".to_vec(),
                b"SKIFF_BUILD=ab12".to_vec()
            ])
        );
    }

    fn run_spec(stdio: OneOffStdio, lifetime: OneOffLifetime) -> OneOffSpec {
        OneOffSpec {
            unit_name: "skiff-my-app.run-1.service".into(),
            app: AppName::parse("my-app").unwrap(),
            dyno: "run.1".into(),
            command: OneOffCommand::Argv(vec!["sh".into(), "-c".into(), "echo $DYNO".into()]),
            slug_dir: "/var/lib/skiff/apps/my-app/slugs/v2".into(),
            env_file: "/run/skiff/env/my-app/run-1.env".into(),
            build_id: None,
            release: Some(2),
            limits: Limits {
                memory_bytes: 512 << 20,
                cpu_percent: 100,
                tasks: 256,
            },
            timeout_usec: 3_600_000_000,
            hidden_paths: vec!["/var/lib/skiff".into()],
            stdio,
            lifetime,
            extra_env: vec!["TERM=xterm-256color".into()],
        }
    }

    #[test]
    fn an_attached_run_with_a_terminal_gets_it_as_controlling_tty_and_ends_with_skiffd() {
        let p = oneoff_properties(&run_spec(
            OneOffStdio::Terminal {
                tty_path: "/dev/pts/3".into(),
            },
            OneOffLifetime::Oneshot {
                part_of: Some("skiffd.service".into()),
            },
        ));
        assert_eq!(one(&p, "Type"), &s("oneshot"));
        assert_eq!(
            one(&p, "TimeoutStartUSec"),
            &PropertyValue::U64(3_600_000_000)
        );
        assert_eq!(one(&p, "PartOf"), &strs(["skiffd.service"]));
        assert_eq!(one(&p, "StandardInput"), &s("tty-force"));
        assert_eq!(one(&p, "StandardOutput"), &s("tty"));
        assert_eq!(one(&p, "StandardError"), &s("tty"));
        assert_eq!(one(&p, "TTYPath"), &s("/dev/pts/3"));
        assert_eq!(
            one(&p, "ExecStart"),
            &PropertyValue::Exec(vec![(
                "/bin/sh".into(),
                [
                    "/bin/sh",
                    "-c",
                    "exec \"$$@\"",
                    "sh",
                    "sh",
                    "-c",
                    "echo $$DYNO"
                ]
                .map(String::from)
                .to_vec(),
                false
            )])
        );
        assert_eq!(
            one(&p, "Environment"),
            &strs([
                "DYNO=run.1",
                "HOME=/app",
                &format!("PATH={DYNO_PATH}"),
                "TERM=xterm-256color"
            ])
        );
        assert_eq!(
            one(&p, "LogExtraFields"),
            &PropertyValue::Bytes(vec![
                b"SKIFF_APP=my-app".to_vec(),
                b"SKIFF_DYNO=run.1".to_vec(),
                b"SKIFF_RELEASE=v2".to_vec()
            ])
        );
        assert_eq!(one(&p, "DynamicUser"), &b(true));
        assert!(p.iter().all(|(k, _)| *k != "RuntimeMaxUSec"));
    }

    #[test]
    fn a_run_without_terminal_gets_the_callers_pipes() {
        let fd = || SharedFd::new(std::fs::File::open("/dev/null").unwrap().into());
        let (stdin, stdout, stderr) = (fd(), fd(), fd());
        let p = oneoff_properties(&run_spec(
            OneOffStdio::Pipes {
                stdin: stdin.clone(),
                stdout: stdout.clone(),
                stderr: stderr.clone(),
            },
            OneOffLifetime::Oneshot { part_of: None },
        ));
        assert_eq!(
            one(&p, "StandardInputFileDescriptor"),
            &PropertyValue::Fd(stdin)
        );
        assert_eq!(
            one(&p, "StandardOutputFileDescriptor"),
            &PropertyValue::Fd(stdout)
        );
        assert_eq!(
            one(&p, "StandardErrorFileDescriptor"),
            &PropertyValue::Fd(stderr.clone())
        );
        assert_ne!(PropertyValue::Fd(stderr), PropertyValue::Fd(fd()));
        assert!(p.iter().all(|(k, _)| *k != "PartOf" && *k != "TTYPath"));
    }

    #[test]
    fn a_detached_run_logs_to_the_journal_and_is_stopped_at_its_timeout() {
        let p = oneoff_properties(&run_spec(OneOffStdio::Journal, OneOffLifetime::Detached));
        assert_eq!(one(&p, "Type"), &s("exec"));
        assert_eq!(
            one(&p, "RuntimeMaxUSec"),
            &PropertyValue::U64(3_600_000_000)
        );
        assert!(p.iter().all(|(k, _)| !k.starts_with("Standard")
            && *k != "TimeoutStartUSec"
            && *k != "PartOf"));
    }

    #[test]
    fn a_timer_fires_its_service_on_each_calendar_expression() {
        let unit = CronUnit {
            app: AppName::parse("my-app").unwrap(),
            index: 2,
            release: 4,
        };
        let schedule = CronSchedule::parse("0 9 1 * mon").unwrap();
        let p = timer_properties(&unit, &schedule);
        assert_eq!(
            one(&p, "TimersCalendar"),
            &PropertyValue::Timers(
                schedule
                    .on_calendar()
                    .into_iter()
                    .map(|e| ("OnCalendar".to_owned(), e))
                    .collect()
            )
        );
        let PropertyValue::Timers(list) = one(&p, "TimersCalendar") else {
            panic!("not timers")
        };
        assert_eq!(list.len(), 2, "day of month OR weekday: two expressions");
        assert_eq!(one(&p, "AccuracyUSec"), &PropertyValue::U64(1_000_000));
        assert_eq!(
            one(&p, "Description"),
            &s("skiff my-app cron.2 (v4): 0 9 1 * mon")
        );
    }
}
