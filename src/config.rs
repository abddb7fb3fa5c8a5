//! skiffd's configuration file: flat keys, documented defaults, validated values.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{AddonPlan, NetworkRange, PlanName, Plans, Retention, ScheduleError};

/// The commented example installed as `/etc/skiff/skiffd.toml`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../packaging/skiffd.toml");
pub const DEFAULT_CONFIG_PATH: &str = "/etc/skiff/skiffd.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub base_domain: BaseDomain,
    pub tls: TlsMode,
    pub acme_email: String,
    pub max_request_body: ByteSize,
    pub drain_timeout: Timeout,
    #[serde(deserialize_with = "empty_is_none")]
    pub listen_tcp: Option<SocketAddr>,
    pub port_range: PortRange,
    pub dyno_network: DynoNetwork,
    pub dyno_egress: bool,
    pub dyno_memory: ByteSize,
    pub dyno_cpu: CpuPercent,
    pub dyno_tasks: u32,
    pub api_body_limit: ByteSize,
    pub max_upload: ByteSize,
    pub max_slug_size: ByteSize,
    pub build_memory: ByteSize,
    pub build_timeout: Timeout,
    pub run_timeout: Timeout,
    pub keep_releases: u32,
    pub log_level: LogLevel,
    pub state_dir: PathBuf,
    pub socket_path: PathBuf,
    pub default_addon_plan: String,
    pub addon_plans: BTreeMap<String, PlanConfig>,
    /// A backup is refused when it would leave less free on the backup disk.
    pub backup_free_space_floor: ByteSize,
    /// Scheduled backups kept per add-on unless its schedule says otherwise: the newest of each
    /// of the last `backup_keep_daily` days and `backup_keep_weekly` weeks.
    pub backup_keep_daily: u32,
    pub backup_keep_weekly: u32,
    /// An rclone `remote:path` every checked backup is copied to; empty for none.
    pub backup_copy_to: String,
    /// The rclone config file that defines the remote.
    pub backup_rclone_config: PathBuf,
    /// How long an app goes without a request before its dynos sleep, unless it says otherwise.
    pub sleep_after: SleepDefault,
    /// How long the proxy holds a request to a sleeping app while it wakes.
    pub wake_timeout: Timeout,
    /// Where alerts of apps without a webhook of their own are POSTed; empty for nowhere.
    pub alert_webhook: AlertWebhook,
    /// Whether skiffd samples dynos, counts router metrics and reads alerts.
    pub metrics: bool,
    /// Whether skiff's Caddy serves the dashboard on `dashboard_host()`.
    pub dashboard: bool,
    /// The dashboard's host name; empty for `skiff.<base_domain>`.
    pub dashboard_domain: DashboardDomain,
    /// The host name skiff's Caddy serves the HTTP API on (bearer tokens required, over TLS
    /// when `tls` is on); none when empty.
    pub api_domain: ApiDomain,
}

/// `api_domain`: a host name, or empty for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiDomain(pub Option<crate::model::Domain>);

impl std::str::FromStr for ApiDomain {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        optional_domain(raw, "api_domain").map(Self)
    }
}

/// `dashboard_domain`: a host name, or empty for `skiff.<base_domain>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardDomain(pub Option<crate::model::Domain>);

impl std::str::FromStr for DashboardDomain {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        optional_domain(raw, "dashboard_domain").map(Self)
    }
}

/// A host name setting that may be left empty; `key` names it in the error.
fn optional_domain(raw: &str, key: &str) -> Result<Option<crate::model::Domain>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    crate::model::Domain::parse(raw.trim())
        .map(Some)
        .map_err(|e| format!("{key}: {e}"))
}

/// `alert_webhook`: an http:// or https:// URL, or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertWebhook(pub Option<crate::model::WebhookUrl>);

impl std::str::FromStr for AlertWebhook {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Ok(Self(None));
        }
        crate::model::WebhookUrl::parse(raw.trim())
            .map(|url| Self(Some(url)))
            .map_err(|e| format!("alert_webhook: {e}"))
    }
}

/// `sleep_after`: `off`, or a period like `30m`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SleepDefault(pub Option<crate::model::SleepAfter>);

impl std::str::FromStr for SleepDefault {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        if raw.trim() == "off" {
            return Ok(Self(None));
        }
        crate::model::SleepAfter::parse(raw)
            .map(|after| Self(Some(after)))
            .map_err(|e| format!("sleep_after: {e}"))
    }
}

/// One `[addon_plans.NAME]` table: what an add-on of that plan gets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    pub postgres_connections: u32,
    pub redis_memory: ByteSize,
}

fn plan(connections: u32, redis_memory: u64) -> PlanConfig {
    PlanConfig {
        postgres_connections: connections,
        redis_memory: ByteSize(redis_memory),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_domain: BaseDomain("localhost".into()),
            tls: TlsMode::Off,
            acme_email: String::new(),
            max_request_body: ByteSize(100 * 1024 * 1024),
            drain_timeout: Timeout(std::time::Duration::from_secs(10)),
            listen_tcp: None,
            port_range: PortRange {
                first: 20000,
                last: 29999,
            },
            dyno_network: DynoNetwork::Private(
                "10.213.0.0/16".parse().expect("the default range is valid"),
            ),
            dyno_egress: true,
            dyno_memory: ByteSize(512 * 1024 * 1024),
            dyno_cpu: CpuPercent(100),
            dyno_tasks: 256,
            api_body_limit: ByteSize(1024 * 1024),
            max_upload: ByteSize(512 * 1024 * 1024),
            max_slug_size: ByteSize(1024 * 1024 * 1024),
            build_memory: ByteSize(2 * 1024 * 1024 * 1024),
            build_timeout: Timeout(std::time::Duration::from_secs(15 * 60)),
            run_timeout: Timeout(std::time::Duration::from_secs(60 * 60)),
            keep_releases: 5,
            log_level: LogLevel::Info,
            state_dir: PathBuf::from("/var/lib/skiff"),
            socket_path: PathBuf::from("/run/skiff/api.sock"),
            default_addon_plan: "mini".into(),
            addon_plans: BTreeMap::from([
                ("mini".into(), plan(20, 25 << 20)),
                ("basic".into(), plan(60, 100 << 20)),
                ("standard".into(), plan(120, 512 << 20)),
            ]),
            backup_free_space_floor: ByteSize(1 << 30),
            backup_keep_daily: 7,
            backup_keep_weekly: 4,
            backup_copy_to: String::new(),
            backup_rclone_config: PathBuf::from("/etc/skiff/rclone.conf"),
            sleep_after: SleepDefault(None),
            wake_timeout: Timeout(std::time::Duration::from_secs(60)),
            alert_webhook: AlertWebhook(None),
            metrics: true,
            dashboard: false,
            dashboard_domain: DashboardDomain(None),
            api_domain: ApiDomain(None),
        }
    }
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned() + &span_hint(text, e.span()),
        })?;
        let invalid = |message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        };
        config.plans().map_err(invalid)?;
        config
            .backup_retention()
            .map_err(|e| invalid(format!("backup_keep_daily, backup_keep_weekly: {e}")))?;
        Ok(config)
    }

    /// How many scheduled backups an add-on keeps by default.
    pub fn backup_retention(&self) -> Result<Retention, ScheduleError> {
        Retention::new(self.backup_keep_daily, self.backup_keep_weekly)
    }

    /// The add-on plans, validated: every name a plan name, the default one of them.
    pub fn plans(&self) -> Result<Plans, String> {
        let plans = self
            .addon_plans
            .iter()
            .map(|(name, p)| {
                Ok(AddonPlan {
                    name: PlanName::parse(name).map_err(|e| e.to_string())?,
                    postgres_connections: p.postgres_connections,
                    redis_memory: p.redis_memory.0,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let default = PlanName::parse(&self.default_addon_plan).map_err(|e| e.to_string())?;
        Plans::new(plans, default).map_err(|e| format!("default_addon_plan: {e}"))
    }

    /// Reads the file; a missing file at the default path means "all defaults".
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && path == Path::new(DEFAULT_CONFIG_PATH) =>
            {
                Ok(Self::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The host skiff's Caddy serves the dashboard on, when `dashboard = true`.
    pub fn dashboard_host(&self) -> Option<String> {
        self.dashboard.then(|| match &self.dashboard_domain.0 {
            Some(domain) => domain.to_string(),
            None => format!("skiff.{}", self.base_domain.as_str()),
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("skiff.db")
    }
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.trim().is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "listen_tcp {raw:?} is not an address like \"127.0.0.1:7070\""
        ))
    })
}

/// Implements `Deserialize` through `TryFrom<String>` so each value type validates itself.
macro_rules! deserialize_via_str {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A DNS name under which apps are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseDomain(String);

impl BaseDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for BaseDomain {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if raw.len() <= 253 && raw.split('.').all(label_ok) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "base_domain {raw:?} is not a lowercase DNS name like \"apps.example.com\""
            ))
        }
    }
}
deserialize_via_str!(BaseDomain);
deserialize_via_str!(SleepDefault);
deserialize_via_str!(AlertWebhook);
deserialize_via_str!(DashboardDomain);
deserialize_via_str!(ApiDomain);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    Internal,
    Acme,
}

impl std::str::FromStr for TlsMode {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "off" => Ok(Self::Off),
            "internal" => Ok(Self::Internal),
            "acme" => Ok(Self::Acme),
            _ => Err(format!(
                "tls {raw:?} must be \"off\", \"internal\" or \"acme\""
            )),
        }
    }
}
deserialize_via_str!(TlsMode);

/// An inclusive range of TCP ports for web dynos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let err = || {
            format!("port_range {raw:?} must be \"FIRST-LAST\" with 1024 <= FIRST <= LAST <= 65535")
        };
        let (a, b) = raw.split_once('-').ok_or_else(err)?;
        let first: u16 = a.trim().parse().map_err(|_| err())?;
        let last: u16 = b.trim().parse().map_err(|_| err())?;
        if first < 1024 || first > last {
            return Err(err());
        }
        Ok(Self { first, last })
    }
}
deserialize_via_str!(PortRange);

/// Where dynos run: each app in private network namespaces carved from a range, or (when the
/// host cannot, and the admin says so) on the host's own network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynoNetwork {
    Host,
    Private(NetworkRange),
}

impl DynoNetwork {
    /// The range apps' networks come from, unless dynos run on the host's network.
    pub fn range(&self) -> Option<NetworkRange> {
        match self {
            Self::Host => None,
            Self::Private(range) => Some(*range),
        }
    }
}

impl std::str::FromStr for DynoNetwork {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "host" => Ok(Self::Host),
            other => other.parse().map(Self::Private),
        }
    }
}
deserialize_via_str!(DynoNetwork);

/// A size in bytes, written with an optional K/M/G/T suffix (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let err = || {
            format!("size {raw:?} must be a number of bytes with an optional K, M, G or T suffix, like \"512M\"")
        };
        let trimmed = raw.trim();
        let (digits, unit) = match trimmed.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((i, _)) => trimmed.split_at(i),
            None => (trimmed, ""),
        };
        let number: u64 = digits.parse().map_err(|_| err())?;
        let factor: u64 = match unit.to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => 1 << 10,
            "M" | "MB" | "MIB" => 1 << 20,
            "G" | "GB" | "GIB" => 1 << 30,
            "T" | "TB" | "TIB" => 1 << 40,
            _ => return Err(err()),
        };
        number
            .checked_mul(factor)
            .filter(|b| *b > 0)
            .map(Self)
            .ok_or_else(err)
    }
}
deserialize_via_str!(ByteSize);

/// A duration like "15m", "90s" or "1h".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub std::time::Duration);

impl std::str::FromStr for Timeout {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        humantime::parse_duration(raw.trim())
            .ok()
            .filter(|d| !d.is_zero())
            .map(Self)
            .ok_or_else(|| format!("duration {raw:?} must be like \"90s\", \"15m\" or \"1h\""))
    }
}
deserialize_via_str!(Timeout);

/// CPU share in percent of one core (200% = two cores).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuPercent(pub u32);

impl std::str::FromStr for CpuPercent {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let err =
            || format!("cpu {raw:?} must be a percentage of one core like \"50%\" or \"200%\"");
        let n: u32 = raw
            .trim()
            .strip_suffix('%')
            .ok_or_else(err)?
            .parse()
            .map_err(|_| err())?;
        if n == 0 || n > 100_000 {
            return Err(err());
        }
        Ok(Self(n))
    }
}
deserialize_via_str!(CpuPercent);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        })
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "error" => Ok(Self::Error),
            "warn" => Ok(Self::Warn),
            "info" => Ok(Self::Info),
            "debug" => Ok(Self::Debug),
            "trace" => Ok(Self::Trace),
            _ => Err(format!(
                "log_level {raw:?} must be error, warn, info, debug or trace"
            )),
        }
    }
}
deserialize_via_str!(LogLevel);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn the_shipped_example_is_all_defaults() {
        assert_eq!(parse(DEFAULT_CONFIG_TOML).unwrap(), Config::default());
    }

    #[test]
    fn every_commented_default_in_the_example_is_the_real_default() {
        let uncommented: String = DEFAULT_CONFIG_TOML
            .lines()
            .map(|l| {
                l.strip_prefix('#')
                    .filter(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '['))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(uncommented.contains("\nbase_domain = "));
        assert_eq!(parse(&uncommented).unwrap(), Config::default());
    }

    #[test]
    fn one_line_edits_work() {
        let c = parse("base_domain = \"apps.example.com\"\nlisten_tcp = \"127.0.0.1:7070\"\ntls = \"acme\"\ndyno_memory = \"1G\"\ndyno_cpu = \"50%\"\nport_range = \"30000-30010\"\n").unwrap();
        assert_eq!(c.base_domain.as_str(), "apps.example.com");
        assert_eq!(c.listen_tcp, Some("127.0.0.1:7070".parse().unwrap()));
        assert_eq!(c.tls, TlsMode::Acme);
        assert_eq!(c.dyno_memory, ByteSize(1 << 30));
        assert_eq!(c.dyno_cpu, CpuPercent(50));
        assert_eq!(
            c.port_range,
            PortRange {
                first: 30000,
                last: 30010
            }
        );
    }

    #[test]
    fn unknown_keys_are_named_in_the_error() {
        let msg = parse("bogus_key = 1\n").unwrap_err().to_string();
        assert!(msg.contains("bogus_key"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        for (text, needle) in [
            ("tls = \"maybe\"", "\"off\", \"internal\" or \"acme\""),
            ("listen_tcp = \"nope\"", "127.0.0.1:7070"),
            ("port_range = \"80-90\"", "FIRST-LAST"),
            ("port_range = \"3000-2000\"", "FIRST-LAST"),
            ("dyno_memory = \"12X\"", "K, M, G or T"),
            ("dyno_memory = \"0\"", "K, M, G or T"),
            ("dyno_cpu = \"50\"", "percentage"),
            ("base_domain = \"Bad_Domain\"", "DNS name"),
            ("log_level = \"loud\"", "error, warn"),
            ("dyno_tasks = \"many\"", "expected u32"),
            ("dyno_network = \"192.168.1.1/24\"", "\"10.213.0.0/16\""),
            ("dyno_network = \"none\"", "or \"host\""),
            (
                "dashboard_domain = \"skiff\"",
                "dashboard_domain: invalid domain",
            ),
        ] {
            let msg = parse(text).unwrap_err().to_string();
            assert!(msg.contains(needle), "{text}: {msg}");
        }
    }

    #[test]
    fn the_dashboard_host_defaults_under_the_base_domain() {
        assert_eq!(Config::default().dashboard_host(), None);
        let c = parse("base_domain = \"apps.example.com\"\ndashboard = true\n").unwrap();
        assert_eq!(
            c.dashboard_host().as_deref(),
            Some("skiff.apps.example.com")
        );
        let c = parse("dashboard = true\ndashboard_domain = \"Console.Example.com\"\n").unwrap();
        assert_eq!(c.dashboard_host().as_deref(), Some("console.example.com"));
        let c = parse("dashboard_domain = \"console.example.com\"\n").unwrap();
        assert_eq!(c.dashboard_host(), None);
    }

    #[test]
    fn dyno_network_is_a_range_or_host() {
        let c = parse("dyno_network = \"host\"\ndyno_egress = false\n").unwrap();
        assert_eq!(c.dyno_network, DynoNetwork::Host);
        assert_eq!(c.dyno_network.range(), None);
        assert!(!c.dyno_egress);
        let c = parse("dyno_network = \"172.29.0.0/20\"\n").unwrap();
        assert_eq!(c.dyno_network.range().unwrap().to_string(), "172.29.0.0/20");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!("512".parse::<ByteSize>().unwrap(), ByteSize(512));
        assert_eq!("4k".parse::<ByteSize>().unwrap(), ByteSize(4096));
        assert_eq!("2GiB".parse::<ByteSize>().unwrap(), ByteSize(2 << 30));
        assert!("99999999999T".parse::<ByteSize>().is_err());
    }

    #[test]
    fn a_missing_non_default_file_is_an_error() {
        let err = Config::load(Path::new("/nonexistent/skiffd.toml")).unwrap_err();
        assert!(err.to_string().contains("cannot read config file"));
    }
}
