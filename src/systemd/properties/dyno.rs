//! A dyno's transient service: its command over the read-only slug, environment, restart policy
//! and logging, inside the sandbox and limits.

use std::path::{Path, PathBuf};

use super::limits::{accounting_properties, limit_properties};
use super::sandbox::app_sandbox_properties;
use super::values::{binds, env_file, exec_sh, hidden, log_fields, s, Property, PropertyValue};
use crate::model::{DynoUnit, Limits, VolumeMount};
use crate::systemd::names::app_slice;

/// `PATH` in dynos: what the builders install (virtualenv, node_modules, bin/) comes first.
pub const DYNO_PATH: &str =
    "/app/.venv/bin:/app/node_modules/.bin:/app/bin:/usr/local/bin:/usr/bin:/bin";

/// How systemd restarts a dyno whose process ended before giving up on it (it is then `crashed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub delay_usec: u64,
    /// More than `burst` starts within `interval_usec` → the unit fails for good.
    pub burst: u32,
    pub interval_usec: u64,
    /// Where systemd has them (254 and later): the delay grows over this many restarts to at
    /// most this long (`RestartSteps=`, `RestartMaxDelaySec=`), so a dyno that crashes at once
    /// is not restarted every second.
    pub backoff: Option<(u32, u64)>,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            delay_usec: 1_000_000,
            burst: 5,
            interval_usec: 120_000_000,
            backoff: None,
        }
    }
}

/// The first systemd with `RestartSteps=` and `RestartMaxDelaySec=`.
const RESTART_STEPS_SINCE: u32 = 254;

impl RestartPolicy {
    /// The policy for the systemd whose `Version` PID 1 reports (`252.39-1~deb12u1`): the
    /// growing delay where it has one. From 1 s to 16 s over five restarts keeps five restarts
    /// well within the start limit's two minutes, so a crash loop still ends `crashed`.
    pub fn for_systemd(version: &str) -> Self {
        let major = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        Self {
            backoff: major
                .filter(|m| *m >= RESTART_STEPS_SINCE)
                .map(|_| (5, 16_000_000)),
            ..Self::default()
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
    /// The app's network namespace (`/run/netns/…`); none on the host's network.
    pub network_namespace: Option<String>,
    /// The app's volumes, bound read-write.
    pub volumes: Vec<VolumeMount>,
}

/// Heroku restarts a dyno whenever its process exits, whatever the status; systemd's start limit
/// (not skiffd) then turns a restart loop into a `crashed` dyno.
fn restart_properties(restart: &RestartPolicy) -> Vec<Property> {
    let mut props = vec![
        ("Restart", s("always")),
        ("RestartUSec", PropertyValue::U64(restart.delay_usec)),
        ("StartLimitBurst", PropertyValue::U32(restart.burst)),
        (
            "StartLimitIntervalUSec",
            PropertyValue::U64(restart.interval_usec),
        ),
    ];
    if let Some((steps, max_delay_usec)) = restart.backoff {
        props.extend([
            ("RestartSteps", PropertyValue::U32(steps)),
            ("RestartMaxDelayUSec", PropertyValue::U64(max_delay_usec)),
        ]);
    }
    props
}

/// The environment every process of an app gets (`DYNO`, `HOME`, `PATH`), never secret.
pub(super) fn process_environment(dyno: &str) -> Vec<String> {
    vec![
        format!("DYNO={dyno}"),
        "HOME=/app".to_owned(),
        format!("PATH={DYNO_PATH}"),
    ]
}

/// How any process of an app runs: in `/app`, the release's slug mounted there read-only,
/// the app's volumes read-write, skiff's own paths hidden, `environment` in the open and the
/// config vars from the root-only `env_file`, inside the app's network namespace when it has one.
pub(super) fn app_process_properties(
    slug_dir: &Path,
    volumes: &[VolumeMount],
    hidden_paths: &[PathBuf],
    environment: Vec<String>,
    env_file_path: &Path,
    network_namespace: Option<&str>,
) -> Vec<Property> {
    let mut props = vec![
        ("WorkingDirectory", s("/app")),
        ("BindReadOnlyPaths", binds(&[(slug_dir, "/app")])),
    ];
    if !volumes.is_empty() {
        let list: Vec<(&Path, &str)> = volumes
            .iter()
            .map(|v| (v.source.as_path(), v.target.as_str()))
            .collect();
        props.push(("BindPaths", binds(&list)));
    }
    props.extend([
        ("InaccessiblePaths", hidden(hidden_paths)),
        // Not secret: visible to `systemctl show`. Config vars go only in the root-only file.
        ("Environment", PropertyValue::StrList(environment)),
        ("EnvironmentFiles", env_file(env_file_path)),
    ]);
    props.extend(network_namespace_property(network_namespace));
    props
}

/// `NetworkNamespacePath=` of a process that runs in a namespace of skiff's.
pub(super) fn network_namespace_property(path: Option<&str>) -> Option<Property> {
    path.map(|path| ("NetworkNamespacePath", s(path)))
}

/// All properties of a dyno's transient service, in the order they are sent.
pub fn dyno_properties(spec: &DynoSpec) -> Vec<Property> {
    let unit = &spec.unit;
    let dyno = unit.dyno.to_string();
    let mut environment = process_environment(&dyno);
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
    ];
    props.extend(app_process_properties(
        &spec.slug_dir,
        &spec.volumes,
        &spec.hidden_paths,
        environment,
        &spec.env_file,
        spec.network_namespace.as_deref(),
    ));
    props.extend(restart_properties(&spec.restart));
    props.extend([
        (
            "TimeoutStopUSec",
            PropertyValue::U64(spec.stop_timeout_usec),
        ),
        ("SyslogIdentifier", s(unit.syslog_identifier())),
        (
            "LogExtraFields",
            log_fields(vec![
                format!("SKIFF_APP={}", unit.app),
                format!("SKIFF_DYNO={dyno}"),
                format!("SKIFF_RELEASE=v{}", unit.release),
            ]),
        ),
    ]);
    props.extend(limit_properties(&spec.limits));
    props.extend(accounting_properties());
    props.extend(app_sandbox_properties(!spec.volumes.is_empty()));
    props
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::{AppName, DynoName};
    use crate::systemd::properties::test_support::{get, one};
    use crate::systemd::properties::values::{b, strs, MS_REC};

    pub(in crate::systemd::properties) fn spec(port: Option<u16>) -> DynoSpec {
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
            network_namespace: Some("/run/netns/skiff-my-app".into()),
            volumes: Vec::new(),
        }
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
    fn volumes_are_bound_read_write_and_shared_through_their_group() {
        let plain = dyno_properties(&spec(Some(20001)));
        assert!(get(&plain, "BindPaths").is_empty());
        assert!(get(&plain, "SupplementaryGroups").is_empty());
        assert_eq!(one(&plain, "UMask"), &PropertyValue::U32(0o077));
        let mut with = spec(Some(20001));
        with.volumes = vec![
            VolumeMount {
                source: "/var/lib/skiff/apps/my-app/volumes/data".into(),
                target: crate::model::MountPath::parse("/data").unwrap(),
            },
            VolumeMount {
                source: "/var/lib/skiff/apps/my-app/volumes/up".into(),
                target: crate::model::MountPath::parse("/srv/uploads").unwrap(),
            },
        ];
        let p = dyno_properties(&with);
        assert_eq!(
            one(&p, "BindPaths"),
            &PropertyValue::Binds(vec![
                (
                    "/var/lib/skiff/apps/my-app/volumes/data".into(),
                    "/data".into(),
                    false,
                    MS_REC
                ),
                (
                    "/var/lib/skiff/apps/my-app/volumes/up".into(),
                    "/srv/uploads".into(),
                    false,
                    MS_REC
                ),
            ])
        );
        assert_eq!(one(&p, "SupplementaryGroups"), &strs(["skiff-volumes"]));
        assert_eq!(one(&p, "UMask"), &PropertyValue::U32(0o007));
        assert_eq!(one(&p, "DynamicUser"), &b(true));
    }

    #[test]
    fn restart_delays_grow_where_systemd_can() {
        for (version, backoff) in [
            ("252.39-1~deb12u1", None),
            ("253", None),
            ("254", Some((5, 16_000_000))),
            ("257.9-1~deb13u1", Some((5, 16_000_000))),
            ("", None),
            ("unknown", None),
        ] {
            assert_eq!(
                RestartPolicy::for_systemd(version).backoff,
                backoff,
                "{version}"
            );
        }
        let mut s = spec(Some(20001));
        s.restart = RestartPolicy::for_systemd("257.9-1~deb13u1");
        let p = dyno_properties(&s);
        assert_eq!(one(&p, "RestartSteps"), &PropertyValue::U32(5));
        assert_eq!(
            one(&p, "RestartMaxDelayUSec"),
            &PropertyValue::U64(16_000_000)
        );
        // Even doubling each time (systemd's steps grow slower), five restarts fit the limit.
        let (steps, max) = s.restart.backoff.unwrap();
        let total: u64 = (0..steps)
            .map(|i| (s.restart.delay_usec << i).min(max))
            .sum();
        assert!(total < s.restart.interval_usec, "{total}");
    }

    #[test]
    fn limits_restart_and_logging() {
        let p = dyno_properties(&spec(Some(20001)));
        assert_eq!(one(&p, "MemoryMax"), &PropertyValue::U64(512 << 20));
        assert_eq!(one(&p, "CPUQuotaPerSecUSec"), &PropertyValue::U64(500_000));
        assert_eq!(one(&p, "TasksMax"), &PropertyValue::U64(256));
        assert_eq!(one(&p, "Restart"), &s("always"));
        assert_eq!(one(&p, "StartLimitBurst"), &PropertyValue::U32(5));
        assert!(get(&p, "RestartSteps").is_empty(), "not on systemd 252");
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
