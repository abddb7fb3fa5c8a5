//! Rollbacks: which earlier release a rollback makes its new release from, and why one cannot.

use super::{AppName, ReleaseRecord, ReleaseStatus, ReleaseVersion};

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("app {app} has no release {version}")]
    NoSuchRelease {
        app: AppName,
        version: ReleaseVersion,
    },
    #[error("{version} is already the live release of {app}")]
    AlreadyLive {
        app: AppName,
        version: ReleaseVersion,
    },
    #[error("app {0} has no earlier release to roll back to")]
    NothingEarlier(AppName),
    #[error("{version} never went live (it {status}); roll back to a release that did")]
    NeverLive {
        version: ReleaseVersion,
        status: &'static str,
    },
    #[error("the slug of {version} was removed by the retention policy (keep_releases); roll back to a newer release")]
    SlugGone { version: ReleaseVersion },
}

/// The release of `app` to roll back to among `releases` (all of the app's): `requested`, or by
/// default the newest one before the live release that went live. It must not be the live
/// release, must have gone live once, and its slug must still be on disk (`slug_exists`).
pub fn rollback_target<'a>(
    app: &AppName,
    live: ReleaseVersion,
    requested: Option<ReleaseVersion>,
    releases: &'a [ReleaseRecord],
    slug_exists: impl Fn(u32) -> bool,
) -> Result<&'a ReleaseRecord, RollbackError> {
    let earlier = releases
        .iter()
        .filter(|r| r.version < live.get() && r.status == ReleaseStatus::Succeeded)
        .map(|r| ReleaseVersion::from(r.version))
        .max();
    let Some(version) = requested.or(earlier) else {
        return Err(RollbackError::NothingEarlier(app.clone()));
    };
    if version == live {
        return Err(RollbackError::AlreadyLive {
            app: app.clone(),
            version,
        });
    }
    let Some(old) = releases.iter().find(|r| r.version == version.get()) else {
        return Err(RollbackError::NoSuchRelease {
            app: app.clone(),
            version,
        });
    };
    if old.status != ReleaseStatus::Succeeded {
        return Err(RollbackError::NeverLive {
            version,
            status: old.status.as_str(),
        });
    }
    if !slug_exists(old.slug_version) {
        return Err(RollbackError::SlugGone { version });
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConfigVars, Procfile};

    fn release(version: u32, slug_version: u32, status: ReleaseStatus) -> ReleaseRecord {
        ReleaseRecord {
            version,
            slug_version,
            procfile: Procfile::parse("web: x").unwrap(),
            config: ConfigVars::new(),
            description: String::new(),
            created_at: String::new(),
            status,
            failure: None,
            cron: Vec::new(),
            build_id: None,
        }
    }

    #[test]
    fn targets_and_refusals() {
        use ReleaseStatus::*;
        // v1 and v2 went live, v3 failed, v4 is live; v1's slug is gone.
        let history = [
            release(1, 1, Succeeded),
            release(2, 2, Succeeded),
            release(3, 3, Failed),
            release(4, 2, Succeeded),
        ];
        let slug_exists = |v: u32| v != 1;
        let cases: [(u32, Option<u32>, Result<u32, &str>); 7] = [
            (4, None, Ok(2)),
            (4, Some(2), Ok(2)),
            (4, Some(4), Err("already live")),
            (4, Some(9), Err("no such release")),
            (4, Some(3), Err("never live")),
            (4, Some(1), Err("slug gone")),
            (1, None, Err("nothing earlier")),
        ];
        for (live, requested, want) in cases {
            let app = AppName::parse("hello").unwrap();
            let got = rollback_target(
                &app,
                live.into(),
                requested.map(ReleaseVersion::from),
                &history,
                slug_exists,
            );
            let got = match got {
                Ok(r) => Ok(r.version),
                Err(RollbackError::AlreadyLive { .. }) => Err("already live"),
                Err(RollbackError::NoSuchRelease { .. }) => Err("no such release"),
                Err(RollbackError::NeverLive { .. }) => Err("never live"),
                Err(RollbackError::SlugGone { .. }) => Err("slug gone"),
                Err(RollbackError::NothingEarlier(_)) => Err("nothing earlier"),
            };
            assert_eq!(got, want, "live v{live} requested {requested:?}");
        }
    }
}
