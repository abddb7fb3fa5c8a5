//! Names of dyno and cron units, `skiff-APP.TYPE.N.vR[.gG].service` and
//! `skiff-APP.cron-N.vR.{timer,service}`: what they identify and how they read back.

use super::{AppName, DynoName};

/// Every unit skiff creates starts with this.
pub const UNIT_PREFIX: &str = "skiff-";

/// One scheduled job of a release: `skiff-APP.cron-N.vR.timer` fires
/// `skiff-APP.cron-N.vR.service`. The release in the name lets a new release's timers replace
/// the old ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CronUnit {
    pub app: AppName,
    /// N of `cron.N`: the job's place in app.json's `cron` list, from 1.
    pub index: u32,
    pub release: u32,
}

impl CronUnit {
    fn base(&self) -> String {
        format!(
            "{UNIT_PREFIX}{}.cron-{}.v{}",
            self.app, self.index, self.release
        )
    }

    pub fn timer_name(&self) -> String {
        format!("{}.timer", self.base())
    }

    pub fn service_name(&self) -> String {
        format!("{}.service", self.base())
    }

    /// `cron.2`, the job's `DYNO` and `SKIFF_DYNO`.
    pub fn dyno(&self) -> String {
        format!("cron.{}", self.index)
    }

    /// Reads a timer's or its service's name back.
    pub fn parse(unit_name: &str) -> Option<Self> {
        let body = unit_name.strip_prefix(UNIT_PREFIX)?;
        let body = body
            .strip_suffix(".timer")
            .or_else(|| body.strip_suffix(".service"))?;
        let (app, rest) = body.split_once('.')?;
        let (index, release) = rest.strip_prefix("cron-")?.split_once('.')?;
        Some(Self {
            app: AppName::parse(app).ok()?,
            index: parse_positive(index)?,
            release: parse_positive(release.strip_prefix('v')?)?,
        })
    }
}

/// Identifies one dyno unit: which app, which dyno of it, which release it runs, and how many
/// times `ps:restart` replaced it within that release (its generation, 0 at first).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DynoUnit {
    pub app: AppName,
    pub dyno: DynoName,
    pub release: u32,
    pub generation: u32,
}

impl DynoUnit {
    /// `skiff-hello.web.1.v3.service` (`….v3.g2.service` after two restarts): dots separate the
    /// parts because app names and process types cannot contain dots; release and generation
    /// let a replacement run beside the dyno it replaces.
    pub fn unit_name(&self) -> String {
        let generation = match self.generation {
            0 => String::new(),
            g => format!(".g{g}"),
        };
        format!(
            "{UNIT_PREFIX}{}.{}.{}.v{}{generation}.service",
            self.app, self.dyno.process_type, self.dyno.index, self.release
        )
    }

    /// Reads a unit name back; `None` for anything skiff did not name this way.
    pub fn parse(unit_name: &str) -> Option<Self> {
        let body = unit_name
            .strip_prefix(UNIT_PREFIX)?
            .strip_suffix(".service")?;
        let mut parts = body.split('.');
        let (app, process_type, index, release) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let generation = match parts.next() {
            None => 0,
            Some(g) => parse_positive(g.strip_prefix('g')?)?,
        };
        if parts.next().is_some() {
            return None;
        }
        let dyno = DynoName::parse(&format!("{process_type}.{index}")).ok()?;
        Some(Self {
            app: AppName::parse(app).ok()?,
            dyno,
            release: parse_positive(release.strip_prefix('v')?)?,
            generation,
        })
    }

    /// Syslog identifier of the dyno's lines: `hello.web.1`.
    pub fn syslog_identifier(&self) -> String {
        format!("{}.{}", self.app, self.dyno)
    }
}

/// A number written without sign or leading zeros, above zero.
pub(crate) fn parse_positive(raw: &str) -> Option<u32> {
    if raw.starts_with('0') || !raw.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(app: &str, dyno: &str, release: u32) -> DynoUnit {
        DynoUnit {
            app: AppName::parse(app).unwrap(),
            dyno: DynoName::parse(dyno).unwrap(),
            release,
            generation: 0,
        }
    }

    #[test]
    fn dyno_unit_names_round_trip() {
        for (u, name) in [
            (unit("hello", "web.1", 3), "skiff-hello.web.1.v3.service"),
            (
                unit("my-app", "my_worker-2.12", 140),
                "skiff-my-app.my_worker-2.12.v140.service",
            ),
            (
                DynoUnit {
                    generation: 2,
                    ..unit("hello", "web.1", 3)
                },
                "skiff-hello.web.1.v3.g2.service",
            ),
        ] {
            assert_eq!(u.unit_name(), name);
            assert_eq!(DynoUnit::parse(name), Some(u));
        }
    }

    #[test]
    fn foreign_names_are_not_dynos() {
        for name in [
            "skiffd.service",
            "skiff-hello.slice",
            "skiff-hello.web.1.service",
            "skiff-hello.web.0.v1.service",
            "skiff-hello.web.1.v0.service",
            "skiff-hello.web.1.3.service",
            "skiff-hello.web.1.v3.x.service",
            "skiff-hello.web.1.v3.g0.service",
            "skiff-hello.web.1.v3.g02.service",
            "skiff-hello.web.1.v3.g2.g3.service",
            "skiff-hello.web.1.v+3.service",
            "skiff-caddy.service",
            "skiff-Bad.web.1.v1.service",
            "other-hello.web.1.v1.service",
        ] {
            assert_eq!(DynoUnit::parse(name), None, "{name}");
        }
    }

    #[test]
    fn syslog_identifier_names_app_and_dyno() {
        assert_eq!(unit("hello", "web.2", 1).syslog_identifier(), "hello.web.2");
    }
}
