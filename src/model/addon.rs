//! Add-ons as domain data: the services skiff manages (PostgreSQL, Redis), add-on and attachment
//! names, plans, the add-on's secret and the connection URL a dyno gets in its config.

use std::fmt;
use std::net::Ipv4Addr;

use rand::RngCore;

use super::{AppName, ConfigKey};

/// Longest add-on name; its database identifier (`skiff_` + name) stays under Postgres's 63.
const ADDON_NAME_MAX_LEN: usize = 50;
const ATTACHMENT_NAME_MAX_LEN: usize = 40;
const PLAN_NAME_MAX_LEN: usize = 30;
/// 192 random bits, hex-encoded: safe in a URL and in SQL and Redis config without quoting.
const SECRET_BYTES: usize = 24;
/// Every unit of an add-on server skiff runs itself is named `skiff-addon-NAME.service`.
pub const ADDON_UNIT_PREFIX: &str = "skiff-addon-";
const BACKUP_TIMER_SUFFIX: &str = ".backup.timer";
const BACKUP_SERVICE_SUFFIX: &str = ".backup.service";
/// The ports Redis add-ons listen on at the add-on address, one each: from 6380, so none takes
/// 6379 from Debian's own redis-server, which listens on loopback (where add-ons listen too when
/// `dyno_network = "host"`).
pub const REDIS_PORTS: std::ops::RangeInclusive<u16> = 6380..=7379;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddonError {
    #[error("unknown add-on service {0:?}: skiff offers postgres, redis")]
    UnknownService(String),
    #[error("invalid add-on name {0:?}: use 3-{ADDON_NAME_MAX_LEN} lowercase letters, digits and dashes, starting with a letter and not ending with a dash")]
    Name(String),
    #[error("invalid attachment name {0:?}: use letters, digits and underscores, starting with a letter (it becomes NAME_URL)")]
    Attachment(String),
    #[error(
        "invalid plan name {0:?}: use 1-{PLAN_NAME_MAX_LEN} lowercase letters, digits and dashes"
    )]
    PlanName(String),
    #[error("unknown plan {name:?}: the plans are {list}")]
    UnknownPlan { name: String, list: String },
    #[error("invalid maxmemory policy {0:?}: use one of {list}", list = MaxmemoryPolicy::ALL.join(", "))]
    Policy(String),
}

/// A service skiff runs add-ons of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddonService {
    Postgres,
    Redis,
}

impl AddonService {
    /// Accepts the names Heroku users type: `postgres`, `postgresql`, `heroku-postgresql`, `pg`,
    /// `redis`, `heroku-redis` (and a `:plan` suffix is not part of the service).
    pub fn parse(raw: &str) -> Result<Self, AddonError> {
        match raw.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "heroku-postgresql" | "pg" => Ok(Self::Postgres),
            "redis" | "heroku-redis" => Ok(Self::Redis),
            _ => Err(AddonError::UnknownService(raw.to_owned())),
        }
    }

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgresql",
            Self::Redis => "redis",
        }
    }

    /// The attachment name when none is given: `DATABASE` (→ `DATABASE_URL`) or `REDIS`.
    pub fn default_attachment(self) -> AttachmentName {
        AttachmentName(
            match self {
                Self::Postgres => "DATABASE",
                Self::Redis => "REDIS",
            }
            .to_owned(),
        )
    }
}

impl fmt::Display for AddonService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An add-on's name, unique on the server: lowercase letters, digits and single dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddonName(String);

impl AddonName {
    pub fn parse(raw: &str) -> Result<Self, AddonError> {
        let ok = (3..=ADDON_NAME_MAX_LEN).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && !raw.ends_with('-')
            && !raw.contains("--")
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AddonError::Name(raw.to_owned()))
        }
    }

    /// The first free of `SERVICE-APP`, `SERVICE-APP-2`, `SERVICE-APP-3`, …
    pub fn first_free(service: AddonService, app: &AppName, taken: &[AddonName]) -> AddonName {
        let base = format!("{}-{app}", service.as_str());
        (1u32..)
            .map(|n| match n {
                1 => base.clone(),
                n => format!("{base}-{n}"),
            })
            .map(AddonName)
            .find(|name| !taken.contains(name))
            .expect("an unbounded range has a free name")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Postgres database and role of this add-on: `skiff_` and the name with underscores,
    /// a plain identifier that needs no quoting.
    pub fn database(&self) -> String {
        format!("skiff_{}", self.0.replace('-', "_"))
    }

    /// The Postgres role that logs in with credentials of `generation`: a member of the
    /// database's owner role [`AddonName::database`], which owns everything in it. The double
    /// underscore never occurs in an owner's name (add-on names have no `--`), so no login role
    /// is another add-on's owner.
    pub fn login_role(&self, generation: u32) -> String {
        format!("{}{generation}", self.login_prefix())
    }

    /// What every login role of this add-on starts with.
    pub fn login_prefix(&self) -> String {
        format!("{}__", self.database())
    }

    /// The unit of a server skiff runs for this add-on (Redis): `skiff-addon-NAME.service`.
    pub fn unit_name(&self) -> String {
        format!("{ADDON_UNIT_PREFIX}{}.service", self.0)
    }

    /// The timer of the add-on's scheduled backups. Its name never parses as a server's unit
    /// (an add-on name has no dot), so it is never reported as an orphan server.
    pub fn backup_timer_name(&self) -> String {
        format!("{ADDON_UNIT_PREFIX}{}{BACKUP_TIMER_SUFFIX}", self.0)
    }

    /// The service the backup timer fires.
    pub fn backup_service_name(&self) -> String {
        format!("{ADDON_UNIT_PREFIX}{}{BACKUP_SERVICE_SUFFIX}", self.0)
    }

    /// The scratch server that loads a backup of the add-on to check it.
    pub fn backup_check_unit_name(&self) -> String {
        format!("{ADDON_UNIT_PREFIX}{}.check.service", self.0)
    }

    /// The add-on whose backup timer or service `unit` is.
    pub fn from_backup_unit_name(unit: &str) -> Option<AddonName> {
        let rest = unit.strip_prefix(ADDON_UNIT_PREFIX)?;
        let name = rest
            .strip_suffix(BACKUP_TIMER_SUFFIX)
            .or_else(|| rest.strip_suffix(BACKUP_SERVICE_SUFFIX))?;
        AddonName::parse(name).ok()
    }

    /// The add-on a unit named by [`AddonName::unit_name`] belongs to.
    pub fn from_unit_name(unit: &str) -> Option<AddonName> {
        let name = unit
            .strip_prefix(ADDON_UNIT_PREFIX)?
            .strip_suffix(".service")?;
        AddonName::parse(name).ok()
    }
}

impl fmt::Display for AddonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an app refers to an add-on: its config var is `NAME_URL` (`DATABASE` → `DATABASE_URL`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentName(String);

impl AttachmentName {
    /// Accepts `--as` as typed, in any case, with or without the `_URL` suffix.
    pub fn parse(raw: &str) -> Result<Self, AddonError> {
        let upper = raw.to_ascii_uppercase();
        let name = upper.strip_suffix("_URL").unwrap_or(&upper);
        let ok = (1..=ATTACHMENT_NAME_MAX_LEN).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(AddonError::Attachment(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The config var that carries the add-on's URL.
    pub fn config_key(&self) -> ConfigKey {
        ConfigKey::parse(&format!("{}_URL", self.0)).expect("attachment names make valid keys")
    }
}

impl fmt::Display for AttachmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plan's name, as in `skiffd.toml`'s `[addon_plans.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlanName(String);

impl PlanName {
    pub fn parse(raw: &str) -> Result<Self, AddonError> {
        let ok = (1..=PLAN_NAME_MAX_LEN).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AddonError::PlanName(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PlanName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a plan gives an add-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonPlan {
    pub name: PlanName,
    /// Postgres: the role's connection limit.
    pub postgres_connections: u32,
    /// Redis: `maxmemory`, in bytes.
    pub redis_memory: u64,
}

/// The plans of this server, and the one add-ons get when none is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    plans: Vec<AddonPlan>,
    default: PlanName,
}

impl Plans {
    /// `plans` sorted by name; `default` must be one of them.
    pub fn new(mut plans: Vec<AddonPlan>, default: PlanName) -> Result<Self, AddonError> {
        plans.sort_by(|a, b| a.name.cmp(&b.name));
        let plans = Self { plans, default };
        plans.find(plans.default.as_str())?;
        Ok(plans)
    }

    pub fn all(&self) -> &[AddonPlan] {
        &self.plans
    }

    pub fn default_plan(&self) -> &AddonPlan {
        self.find(self.default.as_str())
            .expect("the default plan is checked at construction")
    }

    /// The plan called `name`, or an error that lists the plans there are.
    pub fn find(&self, name: &str) -> Result<&AddonPlan, AddonError> {
        self.plans
            .iter()
            .find(|p| p.name.as_str() == name)
            .ok_or_else(|| AddonError::UnknownPlan {
                name: name.to_owned(),
                list: self
                    .plans
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Redis's `maxmemory-policy` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxmemoryPolicy(&'static str);

impl MaxmemoryPolicy {
    pub const ALL: &'static [&'static str] = &[
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ];

    pub fn parse(raw: &str) -> Result<Self, AddonError> {
        Self::ALL
            .iter()
            .find(|p| **p == raw)
            .map(|p| Self(p))
            .ok_or_else(|| AddonError::Policy(raw.to_owned()))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl Default for MaxmemoryPolicy {
    /// Heroku's default for its Redis add-ons.
    fn default() -> Self {
        Self("noeviction")
    }
}

/// An add-on's password. Its `Debug` is redacted so it never lands in a log.
#[derive(Clone, PartialEq, Eq)]
pub struct AddonSecret(String);

impl AddonSecret {
    /// A fresh secret from the OS's random source (hex: no character needs escaping anywhere).
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A secret read back from the store; only hex secrets are accepted.
    pub fn stored(raw: &str) -> Option<Self> {
        let ok = raw.len() == SECRET_BYTES * 2 && raw.chars().all(|c| c.is_ascii_hexdigit());
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AddonSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddonSecret(<redacted>)")
    }
}

/// Where an add-on is in its life: made by the reconciler after `creating` is recorded, and its
/// data destroyed by it after `destroying` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddonState {
    Creating,
    Ready,
    Destroying,
}

impl AddonState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Ready => "ready",
            Self::Destroying => "destroying",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Creating, Self::Ready, Self::Destroying]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One set of credentials of an add-on. A rotation makes the next generation while the
/// previous one still works, until every attached app runs with the new URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonCredential {
    pub generation: u32,
    pub secret: AddonSecret,
}

/// Where an add-on's server listens for dynos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddonEndpoint {
    pub host: Ipv4Addr,
    pub port: u16,
}

/// The URL an attached app gets: `postgres://ROLE:PASSWORD@HOST:PORT/DB` (the login role of
/// the credential's generation, the add-on's database) or `redis://default:PASSWORD@HOST:PORT`.
pub fn connection_url(
    service: AddonService,
    name: &AddonName,
    credential: &AddonCredential,
    endpoint: AddonEndpoint,
) -> String {
    let AddonEndpoint { host, port } = endpoint;
    let password = credential.secret.expose();
    match service {
        AddonService::Postgres => {
            let db = name.database();
            let role = name.login_role(credential.generation);
            format!("postgres://{role}:{password}@{host}:{port}/{db}")
        }
        AddonService::Redis => format!("redis://default:{password}@{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    #[test]
    fn services_are_known_by_the_names_heroku_users_type() {
        for (raw, service) in [
            ("postgres", AddonService::Postgres),
            ("postgresql", AddonService::Postgres),
            ("heroku-postgresql", AddonService::Postgres),
            ("PG", AddonService::Postgres),
            ("redis", AddonService::Redis),
            ("heroku-redis", AddonService::Redis),
        ] {
            assert_eq!(AddonService::parse(raw), Ok(service), "{raw}");
        }
        let err = AddonService::parse("mysql").unwrap_err().to_string();
        assert!(err.contains("postgres, redis"), "{err}");
    }

    #[test]
    fn addon_names_follow_app_name_rules_and_make_plain_identifiers() {
        for bad in [
            "",
            "ab",
            "1db",
            "db-",
            "a--b",
            "Db",
            "db_1",
            &"x".repeat(51),
        ] {
            assert!(AddonName::parse(bad).is_err(), "{bad:?}");
        }
        let name = AddonName::parse("postgresql-my-shop").unwrap();
        assert_eq!(name.database(), "skiff_postgresql_my_shop");
        let longest = AddonName::parse(&"x".repeat(50)).unwrap();
        assert!(longest.login_role(99_999).len() <= 63);
        assert_eq!(name.login_role(3), "skiff_postgresql_my_shop__3");
        let other = AddonName::parse("postgresql-my-shop-3").unwrap();
        assert_ne!(name.login_role(3), other.database());
        assert_eq!(name.unit_name(), "skiff-addon-postgresql-my-shop.service");
        assert_eq!(
            AddonName::from_unit_name("skiff-addon-postgresql-my-shop.service"),
            Some(name.clone())
        );
        assert_eq!(
            name.backup_timer_name(),
            "skiff-addon-postgresql-my-shop.backup.timer"
        );
        assert_eq!(
            AddonName::from_unit_name(&name.backup_check_unit_name()),
            None
        );
        for unit in [name.backup_timer_name(), name.backup_service_name()] {
            assert_eq!(AddonName::from_unit_name(&unit), None, "{unit}");
            assert_eq!(AddonName::from_backup_unit_name(&unit), Some(name.clone()));
        }
        for foreign in [
            "skiff-addon-x.backup.timer",
            "skiff-addon-postgresql-my-shop.service",
        ] {
            assert_eq!(AddonName::from_backup_unit_name(foreign), None, "{foreign}");
        }
        for foreign in [
            "skiff-addon-.service",
            "skiff-shop.web.1.v1.service",
            "skiff-addon-x.slice",
            "skiff-caddy.service",
        ] {
            assert_eq!(AddonName::from_unit_name(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn default_names_take_the_first_free_number() {
        let shop = app("shop");
        let taken = |names: &[&str]| -> Vec<AddonName> {
            names.iter().map(|n| AddonName::parse(n).unwrap()).collect()
        };
        for (existing, expected) in [
            (taken(&[]), "postgresql-shop"),
            (taken(&["postgresql-shop"]), "postgresql-shop-2"),
            (
                taken(&["postgresql-shop", "postgresql-shop-3"]),
                "postgresql-shop-2",
            ),
            (taken(&["redis-shop"]), "postgresql-shop"),
        ] {
            let got = AddonName::first_free(AddonService::Postgres, &shop, &existing);
            assert_eq!(got.as_str(), expected, "{existing:?}");
        }
    }

    #[test]
    fn attachment_names_become_url_config_vars() {
        for (raw, key) in [
            ("DATABASE", "DATABASE_URL"),
            ("follower", "FOLLOWER_URL"),
            ("CACHE_URL", "CACHE_URL"),
            ("db2", "DB2_URL"),
        ] {
            let name = AttachmentName::parse(raw).unwrap();
            assert_eq!(name.config_key().as_str(), key, "{raw}");
        }
        for bad in ["", "_URL", "2DB", "MY-DB", "a b", &"A".repeat(41)] {
            assert!(AttachmentName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            AddonService::Redis
                .default_attachment()
                .config_key()
                .as_str(),
            "REDIS_URL"
        );
    }

    #[test]
    fn plans_are_found_by_name_and_unknown_ones_list_the_others() {
        let plan = |name: &str, connections: u32| AddonPlan {
            name: PlanName::parse(name).unwrap(),
            postgres_connections: connections,
            redis_memory: 1 << 20,
        };
        let plans = Plans::new(
            vec![plan("standard", 120), plan("mini", 20)],
            PlanName::parse("mini").unwrap(),
        )
        .unwrap();
        assert_eq!(plans.default_plan().postgres_connections, 20);
        assert_eq!(plans.find("standard").unwrap().postgres_connections, 120);
        let err = plans.find("huge").unwrap_err().to_string();
        assert!(err.contains("mini, standard"), "{err}");
        assert!(Plans::new(vec![plan("mini", 20)], PlanName::parse("gold").unwrap()).is_err());
    }

    #[test]
    fn policies_are_redis_own_words() {
        assert_eq!(MaxmemoryPolicy::default().as_str(), "noeviction");
        assert_eq!(
            MaxmemoryPolicy::parse("allkeys-lru").unwrap().as_str(),
            "allkeys-lru"
        );
        let err = MaxmemoryPolicy::parse("lru").unwrap_err().to_string();
        assert!(err.contains("volatile-ttl"), "{err}");
    }

    #[test]
    fn secrets_are_random_hex_and_never_debug_printed() {
        let a = AddonSecret::generate();
        let b = AddonSecret::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 48);
        assert_eq!(AddonSecret::stored(a.expose()), Some(a.clone()));
        assert_eq!(AddonSecret::stored("short"), None);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn urls_carry_role_password_address_and_database() {
        let secret = AddonCredential {
            generation: 2,
            secret: AddonSecret::stored(&"ab".repeat(24)).unwrap(),
        };
        let endpoint = AddonEndpoint {
            host: "10.213.255.241".parse().unwrap(),
            port: 5433,
        };
        let pg = AddonName::parse("postgresql-shop").unwrap();
        assert_eq!(
            connection_url(AddonService::Postgres, &pg, &secret, endpoint),
            format!(
                "postgres://skiff_postgresql_shop__2:{}@10.213.255.241:5433/skiff_postgresql_shop",
                "ab".repeat(24)
            )
        );
        let redis = AddonName::parse("redis-shop").unwrap();
        assert_eq!(
            connection_url(
                AddonService::Redis,
                &redis,
                &secret,
                AddonEndpoint {
                    port: 6379,
                    ..endpoint
                }
            ),
            format!("redis://default:{}@10.213.255.241:6379", "ab".repeat(24))
        );
    }
}
