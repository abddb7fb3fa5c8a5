//! API bearer tokens: their names, the secret shown once, and the hash that is stored.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};

const TOKEN_PREFIX: &str = "skiff_";
const TOKEN_BYTES: usize = 32;

/// A token's label, chosen by the operator: 1–64 of letters, digits, `-`, `_`, `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenNameError {
    #[error("invalid token name {0:?}: use 1-64 letters, digits, dashes, underscores or dots")]
    Invalid(String),
}

impl TokenName {
    pub fn parse(raw: &str) -> Result<Self, TokenNameError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TokenNameError::Invalid(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret a client presents. Its `Debug` is redacted so it never lands in a log.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// A fresh token with 256 bits from the OS's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("{TOKEN_PREFIX}{hex}"))
    }

    /// Wraps what a client sent; any string may be presented, it just won't match a hash.
    pub fn presented(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        let digest = Sha256::digest(self.0.as_bytes());
        TokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// SHA-256 of a token, hex-encoded: what the database keeps. Tokens carry 256 random bits,
/// so a fast hash is enough; no salt or key stretching is needed for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_distinct_and_prefixed() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("skiff_"));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 2 * TOKEN_BYTES);
    }

    #[test]
    fn hash_is_stable_and_matches_only_the_same_token() {
        let token = ApiToken::generate();
        assert_eq!(token.hash(), ApiToken::presented(token.expose()).hash());
        assert_ne!(token.hash(), ApiToken::presented("skiff_wrong").hash());
        assert_eq!(token.hash().as_str().len(), 64);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = ApiToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn token_names() {
        assert!(TokenName::parse("ci-deploy_1.0").is_ok());
        for bad in ["", "has space", "slash/", &"x".repeat(65)] {
            assert!(TokenName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
