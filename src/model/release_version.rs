//! Release versions as users type them: `v3` or `3`.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid release {0:?}: use a version like v3")]
pub struct ReleaseVersionError(pub String);

/// `v3` or `3` → 3; versions start at 1.
pub fn parse_release_version(raw: &str) -> Result<u32, ReleaseVersionError> {
    raw.strip_prefix('v')
        .unwrap_or(raw)
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ReleaseVersionError(raw.to_owned()))
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
}
