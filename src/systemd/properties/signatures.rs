//! Every property skiff sends to systemd, with the D-Bus signature systemd's unit-property
//! parser expects for it (the signatures of systemd 252 and 257, which agree on all of these).

use std::collections::BTreeMap;

use zbus::zvariant::Value;

use super::addon::tests::{check_spec, redis_spec};
use super::backup::tests::backup_spec;
use super::build::tests::build_spec;
use super::dyno::tests::spec as dyno_spec;
use super::network::tests::commands_spec;
use super::oneoff::tests::run_spec;
use super::{
    backup_service_properties, backup_timer_properties, build_properties, dyno_properties,
    host_commands_properties, limit_properties, oneoff_properties, redis_check_properties,
    redis_unit_properties, timer_properties, OneOffCommand, OneOffLifetime, OneOffStdio, Property,
    SharedFd,
};
use crate::model::CronUnit;
use crate::model::{AppName, CronSchedule, MountPath, VolumeMount};
use crate::systemd::dbus::to_value;

/// Property name → D-Bus signature, as systemd reads them in a transient unit.
const SIGNATURES: &[(&str, &str)] = &[
    // [Unit]
    ("Description", "s"),
    ("PartOf", "as"),
    ("Wants", "as"),
    ("After", "as"),
    ("StartLimitBurst", "u"),
    ("StartLimitIntervalUSec", "t"),
    // cgroup
    ("Slice", "s"),
    ("MemoryMax", "t"),
    ("CPUQuotaPerSecUSec", "t"),
    ("TasksMax", "t"),
    ("CPUAccounting", "b"),
    ("MemoryAccounting", "b"),
    ("TasksAccounting", "b"),
    ("IOAccounting", "b"),
    ("IPAccounting", "b"),
    // [Service]
    ("Type", "s"),
    ("ExecStart", "a(sasb)"),
    ("Restart", "s"),
    ("RestartUSec", "t"),
    ("RestartSteps", "u"),
    ("RestartMaxDelayUSec", "t"),
    ("TimeoutStartUSec", "t"),
    ("TimeoutStopUSec", "t"),
    ("RuntimeMaxUSec", "t"),
    ("CollectMode", "s"),
    // execution environment
    ("WorkingDirectory", "s"),
    ("NetworkNamespacePath", "s"),
    ("BindPaths", "a(ssbt)"),
    ("BindReadOnlyPaths", "a(ssbt)"),
    ("InaccessiblePaths", "as"),
    ("Environment", "as"),
    ("EnvironmentFiles", "a(sb)"),
    ("UMask", "u"),
    ("SupplementaryGroups", "as"),
    ("User", "s"),
    ("Group", "s"),
    ("LoadCredential", "a(ss)"),
    // logging and standard streams
    ("SyslogIdentifier", "s"),
    ("LogExtraFields", "aay"),
    ("StandardInput", "s"),
    ("StandardOutput", "s"),
    ("StandardError", "s"),
    ("TTYPath", "s"),
    ("StandardInputFileDescriptor", "h"),
    ("StandardOutputFileDescriptor", "h"),
    ("StandardErrorFileDescriptor", "h"),
    // sandbox
    ("DynamicUser", "b"),
    ("PrivateUsers", "b"),
    ("NoNewPrivileges", "b"),
    ("ProtectSystem", "s"),
    ("ProtectHome", "s"),
    ("PrivateTmp", "b"),
    ("PrivateDevices", "b"),
    ("ProtectKernelTunables", "b"),
    ("ProtectKernelModules", "b"),
    ("ProtectKernelLogs", "b"),
    ("ProtectControlGroups", "b"),
    ("ProtectClock", "b"),
    ("ProtectHostname", "b"),
    ("ProtectProc", "s"),
    ("ProcSubset", "s"),
    ("RestrictNamespaces", "t"),
    ("RestrictRealtime", "b"),
    ("RestrictSUIDSGID", "b"),
    ("LockPersonality", "b"),
    ("SystemCallArchitectures", "as"),
    ("SystemCallFilter", "(bas)"),
    ("SystemCallErrorNumber", "i"),
    ("RestrictAddressFamilies", "(bas)"),
    ("CapabilityBoundingSet", "t"),
    // [Timer]
    ("TimersCalendar", "a(ss)"),
    ("AccuracyUSec", "t"),
    ("Persistent", "b"),
];

fn pipes() -> OneOffStdio {
    let fd = || SharedFd::new(std::fs::File::open("/dev/null").unwrap().into());
    OneOffStdio::Pipes {
        stdin: fd(),
        stdout: fd(),
        stderr: fd(),
    }
}

/// Every kind of unit skiff starts, by what it is.
fn every_kind_of_unit() -> Vec<(&'static str, Vec<Property>)> {
    let attached = OneOffLifetime::Oneshot {
        part_of: Some("skiffd.service".into()),
    };
    let terminal = OneOffStdio::Terminal {
        tty_path: "/dev/pts/3".into(),
    };
    let mut release = run_spec(
        OneOffStdio::Journal,
        OneOffLifetime::Oneshot { part_of: None },
    );
    release.command = OneOffCommand::Shell("python3 migrate.py".into());
    release.build_id = Some("ab12".into());
    release.release = None;
    let cron = CronUnit {
        app: AppName::parse("my-app").unwrap(),
        index: 1,
        release: 2,
    };
    let schedule = CronSchedule::parse("0 9 1 * mon").unwrap();
    let mut cron_job = run_spec(
        OneOffStdio::Journal,
        OneOffLifetime::Oneshot { part_of: None },
    );
    cron_job.command = OneOffCommand::Shell("python3 report.py".into());
    let dyno = dyno_spec(Some(20001));
    let mut on_257 = dyno_spec(None);
    on_257.restart = super::RestartPolicy::for_systemd("257.9-1~deb13u1");
    let mut with_volume = dyno_spec(None);
    with_volume.volumes = vec![VolumeMount {
        source: "/var/lib/skiff/apps/my-app/volumes/data".into(),
        target: MountPath::parse("/data").unwrap(),
    }];
    vec![
        ("web dyno", dyno_properties(&dyno)),
        ("dyno with a volume", dyno_properties(&with_volume)),
        ("worker dyno", dyno_properties(&dyno_spec(None))),
        ("dyno on systemd 257", dyno_properties(&on_257)),
        ("app slice", limit_properties(&dyno.limits)),
        ("build", build_properties(&build_spec())),
        ("release phase", oneoff_properties(&release)),
        (
            "attached run with a terminal",
            oneoff_properties(&run_spec(terminal, attached.clone())),
        ),
        (
            "attached run with pipes",
            oneoff_properties(&run_spec(pipes(), attached)),
        ),
        (
            "detached run",
            oneoff_properties(&run_spec(OneOffStdio::Journal, OneOffLifetime::Detached)),
        ),
        ("cron timer", timer_properties(&cron, &schedule)),
        ("cron service", oneoff_properties(&cron_job)),
        ("network setup", host_commands_properties(&commands_spec())),
        ("redis add-on", redis_unit_properties(&redis_spec())),
        ("backup timer", backup_timer_properties(&backup_spec())),
        ("redis backup check", redis_check_properties(&check_spec())),
        ("backup service", backup_service_properties(&backup_spec())),
    ]
}

#[test]
fn the_table_names_each_property_once() {
    let table: BTreeMap<&str, &str> = SIGNATURES.iter().copied().collect();
    assert_eq!(table.len(), SIGNATURES.len());
}

#[test]
fn every_emitted_property_has_the_signature_systemd_expects() {
    let table: BTreeMap<&str, &str> = SIGNATURES.iter().copied().collect();
    for (kind, props) in every_kind_of_unit() {
        for (name, value) in &props {
            let Some(want) = table.get(name) else {
                panic!("{kind}: {name} is not a property systemd knows (not in the table)");
            };
            let got = Value::value_signature(&to_value(value)).to_string();
            assert_eq!(&got, want, "{kind}: {name}");
        }
    }
}

#[test]
fn every_property_in_the_table_is_emitted() {
    let emitted: Vec<&str> = every_kind_of_unit()
        .into_iter()
        .flat_map(|(_, props)| props.into_iter().map(|(name, _)| name))
        .collect();
    for (name, _) in SIGNATURES {
        assert!(emitted.contains(name), "{name} is never emitted");
    }
}
