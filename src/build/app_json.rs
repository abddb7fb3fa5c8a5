//! Heroku's `app.json` manifest (pure): `env` defaults (with `"generator": "secret"`), `formation`
//! defaults and `scripts.postdeploy`, applied on an app's first deploy.

use std::collections::BTreeMap;

use rand::RngCore;
use serde::Deserialize;

use crate::model::{check_config_value, ConfigKey, ProcessType, MAX_DYNOS_PER_TYPE};
use crate::store::FirstDeployDefaults;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppJson {
    pub defaults: FirstDeployDefaults,
    pub postdeploy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppJsonError {
    #[error("app.json is not valid JSON: {0}")]
    Syntax(String),
    #[error("app.json env: {0}")]
    Env(String),
    #[error("app.json formation: {0}")]
    Formation(String),
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

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    env: BTreeMap<String, EnvEntry>,
    #[serde(default)]
    formation: BTreeMap<String, FormationEntry>,
    #[serde(default)]
    scripts: Scripts,
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
    fn secrets_are_long_random_hex() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
