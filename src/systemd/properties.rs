//! Pure `DynoSpec → unit properties`: the sandbox, limits, environment and logging of one dyno.

use std::path::PathBuf;

use super::names::{app_slice, DynoUnit};

/// Linux's MS_REC, for recursive bind mounts.
const MS_REC: u64 = 16384;

/// A property value in the D-Bus shape systemd expects for that property (see DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// `s`
    Str(String),
    /// `b`
    Bool(bool),
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
}

pub type Property = (&'static str, PropertyValue);

/// Resource limits of one dyno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Percent of one CPU (200 = two cores).
    pub cpu_percent: u32,
    pub tasks: u64,
}

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

/// All properties of a dyno's transient service, in the order they are sent.
pub fn dyno_properties(spec: &DynoSpec) -> Vec<Property> {
    let unit = &spec.unit;
    let dyno = unit.dyno.to_string();
    let mut environment = vec![format!("DYNO={dyno}"), "HOME=/app".to_owned()];
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
        (
            "ExecStart",
            PropertyValue::Exec(vec![(
                "/bin/sh".into(),
                vec!["/bin/sh".into(), "-c".into(), spec.command.clone()],
                false,
            )]),
        ),
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
                    "python3 app.py --port $PORT".into()
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
            &strs(["DYNO=web.2", "HOME=/app", "PORT=20001"])
        );
        assert_eq!(
            one(&p, "EnvironmentFiles"),
            &PropertyValue::EnvFiles(vec![("/run/skiff/env/my-app/v7.env".into(), false)])
        );
        let worker = dyno_properties(&spec(None));
        assert_eq!(
            one(&worker, "Environment"),
            &strs(["DYNO=worker.1", "HOME=/app"])
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
}
