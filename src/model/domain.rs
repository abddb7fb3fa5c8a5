//! `Domain`: a host name an app answers on (`www.example.com`), validated and lowercased.

use std::fmt;

/// Longest host name DNS allows (without the trailing dot).
pub const DOMAIN_MAX_LEN: usize = 253;
const LABEL_MAX_LEN: usize = 63;

/// A lowercase DNS host name: dot-separated labels of letters, digits and inner dashes, at least
/// two labels, no trailing dot, no wildcard, not an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid domain {0:?}: use a host name such as www.example.com (letters, digits, dashes and dots, at least two labels, at most {DOMAIN_MAX_LEN} characters)")]
    Invalid(String),
    #[error("invalid domain {0:?}: an IP address is not a domain")]
    IpAddress(String),
}

impl Domain {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let lower = raw.to_ascii_lowercase();
        let labels: Vec<&str> = lower.split('.').collect();
        let label_ok = |l: &&str| {
            (1..=LABEL_MAX_LEN).contains(&l.len())
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if lower.len() > DOMAIN_MAX_LEN || labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(DomainError::Invalid(raw.to_owned()));
        }
        if labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit())) {
            return Err(DomainError::IpAddress(raw.to_owned()));
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_names_and_lowercases_them() {
        for (raw, want) in [
            ("www.example.com", "www.example.com"),
            ("Shop.Example.COM", "shop.example.com"),
            ("a-b.c-d.localhost", "a-b.c-d.localhost"),
            ("x1.io", "x1.io"),
        ] {
            assert_eq!(Domain::parse(raw).unwrap().as_str(), want, "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_host_name() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for raw in [
            "",
            "localhost",
            "example.com.",
            ".example.com",
            "a..com",
            "-a.com",
            "a-.com",
            "*.example.com",
            "exa mple.com",
            "exa_mple.com",
            "héllo.com",
            "example.com:80",
            "http://example.com",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(
                matches!(Domain::parse(raw), Err(DomainError::Invalid(_))),
                "{raw:?}"
            );
        }
        assert!(matches!(
            Domain::parse("127.0.0.1"),
            Err(DomainError::IpAddress(_))
        ));
    }
}
