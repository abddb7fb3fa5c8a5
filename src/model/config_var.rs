//! Config vars: POSIX environment names as keys, any UTF-8 as values, and `config:set` arguments.

use std::fmt;

/// Longest accepted config var value, in bytes.
pub const CONFIG_VALUE_MAX_BYTES: usize = 32 * 1024;
const CONFIG_KEY_MAX_LEN: usize = 200;

/// A config var name: a POSIX environment name (`[A-Za-z_][A-Za-z0-9_]*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid config var name {0:?}: use letters, digits and underscores, not starting with a digit")]
    Key(String),
    #[error("{0} is set by skiff for every dyno and cannot be changed")]
    Reserved(String),
    #[error("the value of {0} is longer than {CONFIG_VALUE_MAX_BYTES} bytes")]
    ValueTooLong(String),
    #[error("the value of {0} contains a NUL byte")]
    Nul(String),
    #[error("invalid argument {0:?}: use KEY=VALUE")]
    Syntax(String),
}

/// Set by skiff itself in every dyno; users may not override them.
const RESERVED: &[&str] = &["DYNO", "PORT"];

impl ConfigKey {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let ok = first_ok
            && raw.len() <= CONFIG_KEY_MAX_LEN
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(ConfigError::Key(raw.to_owned()));
        }
        if RESERVED.contains(&raw) {
            return Err(ConfigError::Reserved(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a value: any UTF-8 (newlines included) but NUL, up to a size limit.
pub fn check_config_value(key: &ConfigKey, value: &str) -> Result<(), ConfigError> {
    if value.len() > CONFIG_VALUE_MAX_BYTES {
        return Err(ConfigError::ValueTooLong(key.to_string()));
    }
    if value.contains('\0') {
        return Err(ConfigError::Nul(key.to_string()));
    }
    Ok(())
}

/// One change of `config:set` / `config:unset`: a new value, or `None` to remove the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub key: ConfigKey,
    pub value: Option<String>,
}

impl ConfigChange {
    /// `KEY=VALUE` as typed after `config:set` (the value may contain `=` and newlines).
    pub fn parse_assignment(raw: &str) -> Result<Self, ConfigError> {
        let (key, value) = raw
            .split_once('=')
            .ok_or_else(|| ConfigError::Syntax(raw.to_owned()))?;
        Self::set(key, value)
    }

    pub fn set(key: &str, value: &str) -> Result<Self, ConfigError> {
        let key = ConfigKey::parse(key)?;
        check_config_value(&key, value)?;
        Ok(Self {
            key,
            value: Some(value.to_owned()),
        })
    }

    pub fn unset(key: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            key: ConfigKey::parse(key)?,
            value: None,
        })
    }
}

/// "Set FOO, BAR config vars" / "Remove FOO config var", as Heroku describes config releases.
pub fn describe_changes(changes: &[ConfigChange]) -> String {
    let keys = |set: bool| -> Vec<&str> {
        changes
            .iter()
            .filter(|c| c.value.is_some() == set)
            .map(|c| c.key.as_str())
            .collect()
    };
    let part = |verb: &str, keys: Vec<&str>| {
        let noun = if keys.len() == 1 { "var" } else { "vars" };
        format!("{verb} {} config {noun}", keys.join(", "))
    };
    let (set, unset) = (keys(true), keys(false));
    match (set.is_empty(), unset.is_empty()) {
        (false, true) => part("Set", set),
        (true, false) => part("Remove", unset),
        _ => format!("{}; {}", part("Set", set), part("Remove", unset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_posix_environment_names() {
        for ok in ["FOO", "_x", "DATABASE_URL", "a1", "A_B_9"] {
            assert_eq!(ConfigKey::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "1A", "A-B", "A B", "É", "A=B", "a.b", &"x".repeat(201)] {
            assert_eq!(
                ConfigKey::parse(bad),
                Err(ConfigError::Key(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            ConfigKey::parse("PORT"),
            Err(ConfigError::Reserved("PORT".into()))
        );
    }

    #[test]
    fn assignments_split_at_the_first_equals_and_keep_any_utf8() {
        let c = ConfigChange::parse_assignment("URL=postgres://u:p@h/db?x=1").unwrap();
        assert_eq!(
            (c.key.as_str(), c.value.as_deref()),
            ("URL", Some("postgres://u:p@h/db?x=1"))
        );
        let multi = ConfigChange::parse_assignment("KEY=line one\nline \"two\" é").unwrap();
        assert_eq!(multi.value.as_deref(), Some("line one\nline \"two\" é"));
        assert_eq!(
            ConfigChange::parse_assignment("EMPTY=")
                .unwrap()
                .value
                .as_deref(),
            Some("")
        );
        assert_eq!(
            ConfigChange::parse_assignment("NOEQ"),
            Err(ConfigError::Syntax("NOEQ".into()))
        );
        assert_eq!(
            ConfigChange::set("K", "a\0b"),
            Err(ConfigError::Nul("K".into()))
        );
        assert!(matches!(
            ConfigChange::set("K", &"x".repeat(CONFIG_VALUE_MAX_BYTES + 1)),
            Err(ConfigError::ValueTooLong(_))
        ));
    }

    #[test]
    fn describes_changes_like_heroku() {
        let set = ConfigChange::set("FOO", "1").unwrap();
        let set2 = ConfigChange::set("BAR", "2").unwrap();
        let unset = ConfigChange::unset("OLD").unwrap();
        assert_eq!(
            describe_changes(std::slice::from_ref(&set)),
            "Set FOO config var"
        );
        assert_eq!(
            describe_changes(&[set.clone(), set2]),
            "Set FOO, BAR config vars"
        );
        assert_eq!(
            describe_changes(std::slice::from_ref(&unset)),
            "Remove OLD config var"
        );
        assert_eq!(
            describe_changes(&[set, unset]),
            "Set FOO config var; Remove OLD config var"
        );
    }
}
