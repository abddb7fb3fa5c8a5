//! `AppName`: an app's name, validated by Heroku's rule and skiff's reserved list.

use std::fmt;
use std::str::FromStr;

/// Names that would collide with skiff's own units, hosts or tooling.
pub const RESERVED_APP_NAMES: &[&str] = &[
    "skiff",
    "skiffd",
    "api",
    "admin",
    "root",
    "system",
    "systemd",
    "caddy",
    "www",
    "localhost",
    "git",
    "ssh",
    "proxy",
    "router",
    "dashboard",
];

pub const APP_NAME_MIN_LEN: usize = 3;
pub const APP_NAME_MAX_LEN: usize = 30;

/// A valid app name: lowercase letters, digits and dashes, starting with a letter, 3–30 chars,
/// not ending with a dash, no double dashes, and not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppNameError {
    #[error("invalid app name {0:?}: use {APP_NAME_MIN_LEN}-{APP_NAME_MAX_LEN} lowercase letters, digits and dashes, starting with a letter and not ending with a dash")]
    Invalid(String),
    #[error("app name {0:?} is reserved; reserved names are: {list}", list = RESERVED_APP_NAMES.join(", "))]
    Reserved(String),
}

impl AppName {
    pub fn parse(raw: &str) -> Result<Self, AppNameError> {
        let len = raw.len();
        let mut chars = raw.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let allowed = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let valid = (APP_NAME_MIN_LEN..=APP_NAME_MAX_LEN).contains(&len)
            && starts_with_letter
            && allowed
            && !raw.ends_with('-')
            && !raw.contains("--");
        if !valid {
            return Err(AppNameError::Invalid(raw.to_owned()));
        }
        if RESERVED_APP_NAMES.contains(&raw) {
            return Err(AppNameError::Reserved(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AppName {
    type Err = AppNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_heroku_style_names() {
        for name in ["abc", "my-app", "a1b2c3", "app-2", &"a".repeat(30)] {
            assert_eq!(AppName::parse(name).unwrap().as_str(), name, "{name}");
        }
    }

    #[test]
    fn refuses_names_outside_the_rule() {
        let long = "a".repeat(31);
        for name in [
            "", "ab", "1abc", "-abc", "abc-", "Abc", "my_app", "my app", "my--app", "émile",
            "a.b.c", &long,
        ] {
            match AppName::parse(name) {
                Err(AppNameError::Invalid(got)) => assert_eq!(got, name),
                other => panic!("{name:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_reserved_names_and_says_so() {
        for name in RESERVED_APP_NAMES {
            let err = AppName::parse(name).unwrap_err();
            assert_eq!(err, AppNameError::Reserved((*name).to_owned()));
            assert!(err.to_string().contains("reserved"));
        }
    }

    #[test]
    fn invalid_message_says_what_is_allowed() {
        let msg = AppName::parse("Bad_Name").unwrap_err().to_string();
        assert!(
            msg.contains("lowercase letters, digits and dashes"),
            "{msg}"
        );
        assert!(msg.contains("3-30"), "{msg}");
    }
}
