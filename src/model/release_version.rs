//! Release versions: `v3`, as users type them (`v3` or `3`) and as they are shown.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid release {0:?}: use a version like v3")]
pub struct ReleaseVersionError(pub String);

/// The number of one of an app's releases; shown as `v3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseVersion(u32);

impl ReleaseVersion {
    /// `v3` or `3`; versions start at 1.
    pub fn parse(raw: &str) -> Result<Self, ReleaseVersionError> {
        raw.strip_prefix('v')
            .unwrap_or(raw)
            .parse::<u32>()
            .ok()
            .filter(|v| *v > 0)
            .map(Self)
            .ok_or_else(|| ReleaseVersionError(raw.to_owned()))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for ReleaseVersion {
    fn from(version: u32) -> Self {
        Self(version)
    }
}

impl fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// `v3` or `3` → 3; versions start at 1.
pub fn parse_release_version(raw: &str) -> Result<u32, ReleaseVersionError> {
    ReleaseVersion::parse(raw).map(ReleaseVersion::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_with_or_without_v() {
        assert_eq!(parse_release_version("v3"), Ok(3));
        assert_eq!(parse_release_version("12"), Ok(12));
        for bad in ["v0", "0", "latest", "v", "-1", "v3.1"] {
            assert_eq!(
                parse_release_version(bad),
                Err(ReleaseVersionError(bad.to_owned()))
            );
        }
    }

    #[test]
    fn versions_render_with_a_v() {
        for (raw, shown) in [("3", "v3"), ("v12", "v12")] {
            assert_eq!(ReleaseVersion::parse(raw).unwrap().to_string(), shown);
        }
        assert_eq!(ReleaseVersion::from(7).get(), 7);
    }
}
