//! Heroku's `app.json` manifest (pure): `env` defaults (with `"generator": "secret"`), `formation`
//! defaults and `scripts.postdeploy`, applied on an app's first deploy; `healthchecks.web`, the
//! health check of the web dynos, `cron`, the app's scheduled jobs (Dokku's shape), and
//! `sleep_after`, its autosleep, applied on every deploy.

use std::collections::BTreeMap;

use rand::RngCore;
use serde::Deserialize;

use crate::model::{
    check_config_value, ConfigKey, CronJob, FirstDeployDefaults, HealthCheck, ProcessType,
    SleepSetting, MAX_DYNOS_PER_TYPE,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppJson {
    pub defaults: FirstDeployDefaults,
    pub postdeploy: Option<String>,
    pub health_check: Option<HealthCheck>,
    /// Scheduled jobs, in app.json order; empty when the key is absent.
    pub cron: Vec<CronJob>,
    /// `sleep_after`: the app's autosleep, set by every deploy that gives it.
    pub sleep_after: Option<SleepSetting>,
}

/// Most `cron` entries an app.json may list.
pub const MAX_CRON_JOBS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppJsonError {
    #[error("app.json is not valid JSON: {0}")]
    Syntax(String),
    #[error("app.json env: {0}")]
    Env(String),
    #[error("app.json formation: {0}")]
    Formation(String),
    #[error("app.json healthchecks.web: {0}")]
    HealthCheck(String),
    /// "entry 2: …" or "has 51 entries; …", after "app.json cron ".
    #[error("app.json cron {0}")]
    Cron(String),
    #[error("app.json sleep_after: {0}")]
    SleepAfter(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EnvEntry {
    Value(String),
    Spec {
        value: Option<String>,
        generator: Option<String>,
    },
}

#[derive(Deserialize)]
struct FormationEntry {
    quantity: Option<u32>,
}

#[derive(Deserialize, Default)]
struct Scripts {
    postdeploy: Option<String>,
}

/// `healthchecks.web`: one check, or a list of which the first is used (Dokku's shape).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawChecks {
    One(RawCheck),
    Many(Vec<RawCheck>),
}

#[derive(Deserialize)]
struct RawCheck {
    path: Option<String>,
    status: Option<u32>,
    /// Seconds, or a duration such as "30s".
    timeout: Option<serde_json::Value>,
}

/// One `cron` entry: `{"command": "python task.py", "schedule": "*/10 * * * *"}`.
#[derive(Deserialize)]
struct RawCron {
    command: String,
    schedule: String,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    env: BTreeMap<String, EnvEntry>,
    #[serde(default)]
    formation: BTreeMap<String, FormationEntry>,
    #[serde(default)]
    scripts: Scripts,
    #[serde(default)]
    healthchecks: BTreeMap<String, RawChecks>,
    #[serde(default)]
    cron: Vec<RawCron>,
    sleep_after: Option<String>,
}

fn health_check(raw: RawCheck) -> Result<HealthCheck, AppJsonError> {
    let bad = |e: String| AppJsonError::HealthCheck(e);
    let timeout = match raw.timeout {
        None => None,
        Some(serde_json::Value::Number(n)) => Some(std::time::Duration::from_secs(
            n.as_u64()
                .ok_or_else(|| bad(format!("timeout {n} is not a whole number of seconds")))?,
        )),
        Some(serde_json::Value::String(s)) => {
            Some(HealthCheck::parse_timeout(&s).map_err(|e| bad(e.to_string()))?)
        }
        Some(other) => return Err(bad(format!("timeout {other} is not a duration"))),
    };
    HealthCheck::new(raw.path.as_deref(), raw.status, timeout).map_err(|e| bad(e.to_string()))
}

fn cron_jobs(raw: Vec<RawCron>) -> Result<Vec<CronJob>, AppJsonError> {
    if raw.len() > MAX_CRON_JOBS {
        return Err(AppJsonError::Cron(format!(
            "has {} entries; at most {MAX_CRON_JOBS} are allowed",
            raw.len()
        )));
    }
    raw.iter()
        .enumerate()
        .map(|(i, entry)| {
            CronJob::new(&entry.command, &entry.schedule)
                .map_err(|e| AppJsonError::Cron(format!("entry {}: {e}", i + 1)))
        })
        .collect()
}

/// A random secret as Heroku's `"generator": "secret"` makes: 64 hex characters.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `app.json`; `secret` makes values for `"generator": "secret"`.
pub fn parse(text: &str, secret: impl Fn() -> String) -> Result<AppJson, AppJsonError> {
    let raw: Raw = serde_json::from_str(text).map_err(|e| AppJsonError::Syntax(e.to_string()))?;
    let mut out = AppJson::default();
    for (key, entry) in raw.env {
        let key_ok = ConfigKey::parse(&key).map_err(|e| AppJsonError::Env(e.to_string()))?;
        let value = match entry {
            EnvEntry::Value(v) => Some(v),
            EnvEntry::Spec {
                generator: Some(g), ..
            } if g == "secret" => Some(secret()),
            EnvEntry::Spec {
                generator: Some(g), ..
            } => {
                return Err(AppJsonError::Env(format!(
                    "{key}: unknown generator {g:?} (only \"secret\" exists)"
                )))
            }
            EnvEntry::Spec { value, .. } => value,
        };
        if let Some(value) = value {
            check_config_value(&key_ok, &value).map_err(|e| AppJsonError::Env(e.to_string()))?;
            out.defaults.env.insert(key, value);
        }
    }
    for (name, entry) in raw.formation {
        let t = ProcessType::parse(&name).map_err(|e| AppJsonError::Formation(e.to_string()))?;
        let quantity = entry.quantity.unwrap_or(1);
        if quantity > MAX_DYNOS_PER_TYPE {
            return Err(AppJsonError::Formation(format!(
                "{name}: quantity {quantity} is over {MAX_DYNOS_PER_TYPE}"
            )));
        }
        out.defaults.formation.insert(t, quantity);
    }
    out.postdeploy = raw.scripts.postdeploy.filter(|s| !s.trim().is_empty());
    if let Some(checks) = raw
        .healthchecks
        .into_iter()
        .find(|(t, _)| t == "web")
        .map(|(_, c)| c)
    {
        let first = match checks {
            RawChecks::One(c) => Some(c),
            RawChecks::Many(list) => list.into_iter().next(),
        };
        out.health_check = first.map(health_check).transpose()?;
    }
    out.cron = cron_jobs(raw.cron)?;
    out.sleep_after = raw
        .sleep_after
        .map(|s| SleepSetting::parse(&s).map_err(|e| AppJsonError::SleepAfter(e.to_string())))
        .transpose()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_formation_and_postdeploy() {
        let text = r#"{
            "name": "demo",
            "env": {
                "PLAIN": "x",
                "WITH_VALUE": {"description": "d", "value": "y"},
                "SECRET_KEY": {"generator": "secret"},
                "REQUIRED_NO_VALUE": {"required": true}
            },
            "formation": {"web": {"quantity": 2, "size": "basic"}, "worker": {}},
            "scripts": {"postdeploy": "python3 seed.py"}
        }"#;
        let a = parse(text, || "generated".to_owned()).unwrap();
        assert_eq!(
            a.defaults.env,
            [
                ("PLAIN", "x"),
                ("SECRET_KEY", "generated"),
                ("WITH_VALUE", "y")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
        );
        assert_eq!(
            a.defaults.formation,
            [
                (ProcessType::parse("web").unwrap(), 2),
                (ProcessType::parse("worker").unwrap(), 1)
            ]
            .into()
        );
        assert_eq!(a.postdeploy.as_deref(), Some("python3 seed.py"));
        assert_eq!(parse("{}", String::new).unwrap(), AppJson::default());
    }

    #[test]
    fn reads_the_web_health_check_in_either_shape() {
        let one = parse(
            r#"{"healthchecks": {"web": {"path": "/up", "status": 204, "timeout": 5}}}"#,
            String::new,
        )
        .unwrap();
        assert_eq!(
            one.health_check.unwrap().to_string(),
            "GET /up answers 204 within 5s"
        );
        let many = parse(
            r#"{"healthchecks": {"web": [{"type": "startup", "path": "/", "timeout": "30s"}]}}"#,
            String::new,
        )
        .unwrap();
        assert_eq!(
            many.health_check.unwrap().to_string(),
            "GET / answers 2xx or 3xx within 30s"
        );
        for bad in [
            r#"{"healthchecks": {"web": {"path": "up"}}}"#,
            r#"{"healthchecks": {"web": {"path": "/", "timeout": -1}}}"#,
            r#"{"healthchecks": {"web": {"path": "/", "timeout": "soon"}}}"#,
            r#"{"healthchecks": {"web": {"status": 200}}}"#,
        ] {
            assert!(
                matches!(parse(bad, String::new), Err(AppJsonError::HealthCheck(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        assert!(matches!(
            parse("{", String::new),
            Err(AppJsonError::Syntax(_))
        ));
        assert!(matches!(
            parse(r#"{"env": {"1BAD": "x"}}"#, String::new),
            Err(AppJsonError::Env(_))
        ));
        assert!(matches!(
            parse(r#"{"env": {"K": {"generator": "uuid"}}}"#, String::new),
            Err(AppJsonError::Env(_))
        ));
        assert!(matches!(
            parse(r#"{"formation": {"web": {"quantity": 1000}}}"#, String::new),
            Err(AppJsonError::Formation(_))
        ));
    }

    #[test]
    fn reads_cron_jobs_in_order() {
        let a = parse(
            r#"{"cron": [
                {"command": "python task.py", "schedule": "*/10 * * * *"},
                {"command": "bin/report", "schedule": "@daily"}
            ]}"#,
            String::new,
        )
        .unwrap();
        assert_eq!(
            a.cron,
            vec![
                CronJob::new("python task.py", "*/10 * * * *").unwrap(),
                CronJob::new("bin/report", "@daily").unwrap(),
            ]
        );
        assert_eq!(
            a.cron[0].schedule.on_calendar(),
            ["*-*-* *:00,10,20,30,40,50:00"]
        );
    }

    #[test]
    fn a_missing_or_empty_cron_key_means_no_jobs() {
        assert!(parse("{}", String::new).unwrap().cron.is_empty());
        assert!(parse(r#"{"cron": []}"#, String::new)
            .unwrap()
            .cron
            .is_empty());
    }

    #[test]
    fn bad_cron_entries_are_refused_with_their_number() {
        let bad_schedule = r#"{"cron": [
            {"command": "a", "schedule": "@hourly"},
            {"command": "b", "schedule": "61 * * * *"}
        ]}"#;
        let e = parse(bad_schedule, String::new).unwrap_err();
        assert!(matches!(e, AppJsonError::Cron(_)));
        assert_eq!(
            e.to_string(),
            r#"app.json cron entry 2: invalid cron schedule "61 * * * *": minute 61 is out of range 0-59"#
        );
        let empty_command = r#"{"cron": [{"command": "  ", "schedule": "@daily"}]}"#;
        assert_eq!(
            parse(empty_command, String::new).unwrap_err().to_string(),
            "app.json cron entry 1: invalid cron command: it is empty; give the command the job runs"
        );
        // An entry without its schedule is not the shape app.json documents.
        assert!(matches!(
            parse(r#"{"cron": [{"command": "a"}]}"#, String::new),
            Err(AppJsonError::Syntax(_))
        ));
    }

    #[test]
    fn at_most_fifty_cron_jobs() {
        let manifest = |n: usize| {
            let entries = vec![r#"{"command": "true", "schedule": "@hourly"}"#; n].join(",");
            format!(r#"{{"cron": [{entries}]}}"#)
        };
        assert_eq!(
            parse(&manifest(MAX_CRON_JOBS), String::new)
                .unwrap()
                .cron
                .len(),
            MAX_CRON_JOBS
        );
        assert_eq!(
            parse(&manifest(MAX_CRON_JOBS + 1), String::new)
                .unwrap_err()
                .to_string(),
            "app.json cron has 51 entries; at most 50 are allowed"
        );
    }

    #[test]
    fn secrets_are_long_random_hex() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
