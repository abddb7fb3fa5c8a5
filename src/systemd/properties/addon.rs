//! An add-on's Redis server as a transient service: Debian's `redis-server` as its `redis` user,
//! the config (with the password) handed over as a credential, only its own data folder visible,
//! inside the dyno sandbox's confinement, restarted whenever it ends.

use std::path::PathBuf;

use super::sandbox::confinement_properties;
use super::values::{binds, hidden, log_fields, s, Property, PropertyValue};
use crate::model::{AddonName, AppName};
use crate::systemd::names::ROOT_SLICE;

/// Debian's server binary (package `redis-server`).
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// The system user and group the `redis-server` package creates; they own every data folder.
pub const REDIS_USER: &str = "redis";
/// Where an instance's data folder appears inside its unit: Debian's home of the `redis` user,
/// there wherever the package is installed, so systemd never has to make a mount point.
pub const REDIS_DATA_MOUNT: &str = "/var/lib/redis";
/// The credential name of an instance's config file.
const CONFIG_CREDENTIAL: &str = "redis.conf";

/// Everything needed to start one add-on's Redis server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUnitSpec {
    pub addon: AddonName,
    /// The app that owns the add-on, named in every journal line.
    pub owner: AppName,
    /// The instance's own folder (owned by `redis`), mounted at [`REDIS_DATA_MOUNT`].
    pub data_dir: PathBuf,
    /// The root-only config file, copied by systemd into the unit's credentials at each start.
    pub config_file: PathBuf,
    pub memory_max: u64,
    /// skiff's state and runtime dirs, which the server must not see.
    pub hidden_paths: Vec<PathBuf>,
    pub restart_delay_usec: u64,
    pub stop_timeout_usec: u64,
}

/// Where the server finds its config: systemd's credentials folder of the unit. Transient
/// units' command lines are not specifier-expanded, and add-on names have no `$` or `%`.
fn redis_config_path(addon: &AddonName) -> String {
    format!("/run/credentials/{}/{CONFIG_CREDENTIAL}", addon.unit_name())
}

/// All properties of an add-on's Redis unit, in the order they are sent.
pub fn redis_unit_properties(spec: &RedisUnitSpec) -> Vec<Property> {
    let config = redis_config_path(&spec.addon);
    let mut props = vec![
        (
            "Description",
            s(format!(
                "skiff add-on {} (redis of {})",
                spec.addon, spec.owner
            )),
        ),
        // Not the owner's slice: that one carries exactly the sum of its dynos' limits.
        ("Slice", s(ROOT_SLICE)),
        ("Type", s("exec")),
        (
            "ExecStart",
            PropertyValue::Exec(vec![(
                REDIS_SERVER.to_owned(),
                vec![REDIS_SERVER.to_owned(), config],
                false,
            )]),
        ),
        ("User", s(REDIS_USER)),
        ("Group", s(REDIS_USER)),
        // `a(ss)`, credential id and source path: the shape the timers' property has too.
        (
            "LoadCredential",
            PropertyValue::Timers(vec![(
                CONFIG_CREDENTIAL.to_owned(),
                spec.config_file.display().to_string(),
            )]),
        ),
        (
            "BindPaths",
            binds(&[(spec.data_dir.as_path(), REDIS_DATA_MOUNT)]),
        ),
        ("InaccessiblePaths", hidden(&spec.hidden_paths)),
        // A crash or `SHUTDOWN` brings it back; a restart loop ends in `failed`, which the
        // reconciler's next round resets and starts again.
        ("Restart", s("always")),
        ("RestartUSec", PropertyValue::U64(spec.restart_delay_usec)),
        ("StartLimitBurst", PropertyValue::U32(5)),
        ("StartLimitIntervalUSec", PropertyValue::U64(120_000_000)),
        (
            "TimeoutStopUSec",
            PropertyValue::U64(spec.stop_timeout_usec),
        ),
        ("MemoryMax", PropertyValue::U64(spec.memory_max)),
        ("SyslogIdentifier", s("redis")),
        (
            "LogExtraFields",
            log_fields(vec![
                format!("SKIFF_APP={}", spec.owner),
                format!("SKIFF_ADDON={}", spec.addon),
            ]),
        ),
    ];
    props.extend(confinement_properties());
    props
}

/// A scratch Redis server that loads one backup to check it: no port, a Unix socket in its
/// folder, the snapshot as its only data, nothing ever written back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCheckSpec {
    pub addon: AddonName,
    /// Owned by `redis`, holding the snapshot as [`REDIS_CHECK_SNAPSHOT`]; mounted at
    /// [`REDIS_DATA_MOUNT`].
    pub scratch_dir: PathBuf,
    pub memory_max: u64,
    pub hidden_paths: Vec<PathBuf>,
    /// The longest it may run.
    pub runtime_max_usec: u64,
}

/// The snapshot's and the socket's names in the scratch folder.
pub const REDIS_CHECK_SNAPSHOT: &str = "backup.rdb";
pub const REDIS_CHECK_SOCKET: &str = "check.sock";

pub fn redis_check_properties(spec: &RedisCheckSpec) -> Vec<Property> {
    let inside = |name: &str| format!("{REDIS_DATA_MOUNT}/{name}");
    let argv: Vec<String> = [
        REDIS_SERVER,
        "--port",
        "0",
        "--unixsocket",
        &inside(REDIS_CHECK_SOCKET),
        "--unixsocketperm",
        "700",
        "--dir",
        REDIS_DATA_MOUNT,
        "--dbfilename",
        REDIS_CHECK_SNAPSHOT,
        "--appendonly",
        "no",
        "--save",
        "",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let mut props = vec![
        (
            "Description",
            s(format!("skiff check of a backup of {}", spec.addon)),
        ),
        ("Slice", s(ROOT_SLICE)),
        ("Type", s("exec")),
        (
            "ExecStart",
            PropertyValue::Exec(vec![(REDIS_SERVER.to_owned(), argv, false)]),
        ),
        ("User", s(REDIS_USER)),
        ("Group", s(REDIS_USER)),
        (
            "BindPaths",
            binds(&[(spec.scratch_dir.as_path(), REDIS_DATA_MOUNT)]),
        ),
        ("InaccessiblePaths", hidden(&spec.hidden_paths)),
        ("RuntimeMaxUSec", PropertyValue::U64(spec.runtime_max_usec)),
        ("MemoryMax", PropertyValue::U64(spec.memory_max)),
        ("SyslogIdentifier", s("redis-check")),
        (
            "LogExtraFields",
            log_fields(vec![format!("SKIFF_ADDON={}", spec.addon)]),
        ),
    ];
    props.extend(confinement_properties());
    props
}

#[cfg(test)]
pub(in crate::systemd::properties) mod tests {
    use super::*;
    use crate::systemd::properties::test_support::{get, one};
    use crate::systemd::properties::values::{b, strs, MS_REC};

    pub(in crate::systemd::properties) fn redis_spec() -> RedisUnitSpec {
        RedisUnitSpec {
            addon: AddonName::parse("redis-shop").unwrap(),
            owner: AppName::parse("shop").unwrap(),
            data_dir: "/var/lib/skiff/addons/redis/redis-shop".into(),
            config_file: "/var/lib/skiff/addons/redis/redis-shop.conf".into(),
            memory_max: 114 << 20,
            hidden_paths: vec!["/var/lib/skiff".into(), "/run/skiff".into()],
            restart_delay_usec: 1_000_000,
            stop_timeout_usec: 30_000_000,
        }
    }

    pub(in crate::systemd::properties) fn check_spec() -> RedisCheckSpec {
        RedisCheckSpec {
            addon: AddonName::parse("redis-shop").unwrap(),
            scratch_dir: "/var/lib/skiff/addons/redis/.check-redis-shop".into(),
            memory_max: 114 << 20,
            hidden_paths: vec!["/var/lib/skiff".into()],
            runtime_max_usec: 3_600_000_000,
        }
    }

    #[test]
    fn a_check_server_loads_only_the_snapshot_and_listens_only_on_its_socket() {
        let p = redis_check_properties(&check_spec());
        let PropertyValue::Exec(exec) = one(&p, "ExecStart") else {
            panic!("ExecStart");
        };
        let argv = exec[0].1.join(" ");
        for part in [
            "--port 0",
            "--unixsocket /var/lib/redis/check.sock",
            "--dbfilename backup.rdb",
            "--appendonly no",
        ] {
            assert!(argv.contains(part), "{argv}");
        }
        assert_eq!(
            exec[0].1.last().map(String::as_str),
            Some(""),
            "--save \"\""
        );
        assert_eq!(one(&p, "User"), &s("redis"));
        assert_eq!(
            one(&p, "RuntimeMaxUSec"),
            &PropertyValue::U64(3_600_000_000)
        );
        assert!(get(&p, "Restart").is_empty());
    }

    #[test]
    fn runs_debians_server_on_its_config_credential_as_user_redis() {
        let p = redis_unit_properties(&redis_spec());
        assert_eq!(
            one(&p, "ExecStart"),
            &PropertyValue::Exec(vec![(
                "/usr/bin/redis-server".into(),
                vec![
                    "/usr/bin/redis-server".into(),
                    "/run/credentials/skiff-addon-redis-shop.service/redis.conf".into()
                ],
                false
            )])
        );
        assert_eq!(
            one(&p, "LoadCredential"),
            &PropertyValue::Timers(vec![(
                "redis.conf".into(),
                "/var/lib/skiff/addons/redis/redis-shop.conf".into()
            )])
        );
        assert_eq!(one(&p, "User"), &s("redis"));
        assert_eq!(one(&p, "Group"), &s("redis"));
        assert!(get(&p, "DynamicUser").is_empty());
        assert_eq!(one(&p, "Type"), &s("exec"));
        assert_eq!(one(&p, "Slice"), &s("skiff.slice"));
    }

    #[test]
    fn sees_only_its_own_data_folder_of_skiffs_state() {
        let p = redis_unit_properties(&redis_spec());
        assert_eq!(
            one(&p, "BindPaths"),
            &PropertyValue::Binds(vec![(
                "/var/lib/skiff/addons/redis/redis-shop".into(),
                "/var/lib/redis".into(),
                false,
                MS_REC
            )])
        );
        assert_eq!(
            one(&p, "InaccessiblePaths"),
            &strs(["-/var/lib/skiff", "-/run/skiff"])
        );
        for name in [
            "PrivateUsers",
            "NoNewPrivileges",
            "PrivateTmp",
            "PrivateDevices",
        ] {
            assert_eq!(one(&p, name), &b(true), "{name}");
        }
        assert_eq!(one(&p, "ProtectSystem"), &s("strict"));
        assert_eq!(one(&p, "CapabilityBoundingSet"), &PropertyValue::U64(0));
    }

    #[test]
    fn restarts_always_within_its_memory_and_logs_as_the_owners_addon() {
        let p = redis_unit_properties(&redis_spec());
        assert_eq!(one(&p, "Restart"), &s("always"));
        assert_eq!(one(&p, "RestartUSec"), &PropertyValue::U64(1_000_000));
        assert_eq!(one(&p, "MemoryMax"), &PropertyValue::U64(114 << 20));
        assert_eq!(one(&p, "SyslogIdentifier"), &s("redis"));
        assert_eq!(
            one(&p, "LogExtraFields"),
            &PropertyValue::Bytes(vec![
                b"SKIFF_APP=shop".to_vec(),
                b"SKIFF_ADDON=redis-shop".to_vec()
            ])
        );
    }
}
