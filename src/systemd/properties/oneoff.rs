//! A one-off process in a dyno's sandbox (release phase, postdeploy, `skiff run`, cron jobs): its
//! command, where its standard streams go and how long it may live.

use std::path::PathBuf;

use super::dyno::{app_process_properties, process_environment};
use super::limits::{accounting_properties, limit_properties};
use super::sandbox::app_sandbox_properties;
use super::values::{exec_argv, exec_sh, log_fields, s, strs, Property, PropertyValue, SharedFd};
use crate::model::{AppName, Limits, VolumeMount};
use crate::systemd::names::app_slice;

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
    /// The app's network namespace (`/run/netns/…`); none on the host's network.
    pub network_namespace: Option<String>,
    /// The app's volumes, bound read-write.
    pub volumes: Vec<VolumeMount>,
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

/// All properties of a one-off's transient service.
pub fn oneoff_properties(spec: &OneOffSpec) -> Vec<Property> {
    let mut environment = process_environment(&spec.dyno);
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
    ];
    props.extend(app_process_properties(
        &spec.slug_dir,
        &spec.volumes,
        &spec.hidden_paths,
        environment,
        &spec.env_file,
        spec.network_namespace.as_deref(),
    ));
    props.extend([
        ("SyslogIdentifier", s(format!("{}.{}", spec.app, spec.dyno))),
        ("LogExtraFields", log_fields(log_extra)),
    ]);
    props.extend(lifetime_properties(&spec.lifetime, spec.timeout_usec));
    props.extend(stdio_properties(&spec.stdio));
    props.extend(limit_properties(&spec.limits));
    props.extend(accounting_properties());
    props.extend(app_sandbox_properties(!spec.volumes.is_empty()));
    props
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::systemd::properties::test_support::one;
    use crate::systemd::properties::values::b;
    use crate::systemd::properties::DYNO_PATH;

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
            network_namespace: Some("/run/netns/skiff-my-app".into()),
            volumes: Vec::new(),
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

    pub(in crate::systemd::properties) fn run_spec(
        stdio: OneOffStdio,
        lifetime: OneOffLifetime,
    ) -> OneOffSpec {
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
            network_namespace: Some("/run/netns/skiff-my-app".into()),
            volumes: Vec::new(),
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
}
