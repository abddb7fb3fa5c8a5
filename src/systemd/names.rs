//! Names of the units skiff owns: `skiff-APP.TYPE.N.vR[.gG].service` for dynos,
//! `skiff-APP.KIND-ID.service` for builds and one-off runs, `skiff-APP.cron-N.vR.{timer,service}`
//! for scheduled jobs, `skiff-APP.slice` per app, and the
//! units the package ships (`skiff-caddy.service`), which the reconciler never touches.

use crate::model::{AppName, DynoName};

pub const UNIT_PREFIX: &str = "skiff-";
/// The pattern that matches every unit skiff creates (for `ListUnitsByPatterns`).
pub const UNIT_PATTERN: &str = "skiff-*";
/// The parent slice of every app's slice.
pub const ROOT_SLICE: &str = "skiff.slice";

/// Units installed by the package, not created by skiffd: never stopped as strays.
pub const PACKAGED_UNITS: &[&str] = &[CADDY_UNIT];
/// The proxy's unit.
pub const CADDY_UNIT: &str = "skiff-caddy.service";
/// skiffd's own unit.
pub const DAEMON_UNIT: &str = "skiffd.service";

/// Kinds of units that run once to their end, named `skiff-APP.KIND-ID.service`.
pub const ONEOFF_KINDS: &[&str] = &["build", "release", "postdeploy", "run"];

/// `skiff-hello.build-3f2a9c.service`: a build or one-off run of an app (never parsed as a dyno,
/// whose names have dots where this has a dash).
pub fn oneoff_unit_name(app: &AppName, kind: &str, id: &str) -> String {
    format!("{UNIT_PREFIX}{app}.{kind}-{id}.service")
}

/// `skiff-hello.run-3.service`: the unit of one-off dyno `run.3`.
pub fn run_unit_name(app: &AppName, index: u32) -> String {
    oneoff_unit_name(app, "run", &index.to_string())
}

/// Matches every one-off dyno of `app`.
pub fn run_unit_pattern(app: &AppName) -> String {
    format!("{UNIT_PREFIX}{app}.run-*.service")
}

/// N of `app`'s one-off dyno `run.N`, if `unit_name` is one.
pub fn run_unit_index(app: &AppName, unit_name: &str) -> Option<u32> {
    let index = unit_name
        .strip_prefix(&format!("{UNIT_PREFIX}{app}.run-"))?
        .strip_suffix(".service")?;
    positive(index)
}

/// The app a one-off unit belongs to, if `unit_name` is one.
pub fn oneoff_unit_app(unit_name: &str) -> Option<AppName> {
    let body = unit_name
        .strip_prefix(UNIT_PREFIX)?
        .strip_suffix(".service")?;
    let (app, rest) = body.split_once('.')?;
    let (kind, id) = rest.split_once('-')?;
    let id_ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !ONEOFF_KINDS.contains(&kind) || !id_ok {
        return None;
    }
    AppName::parse(app).ok()
}

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
            index: positive(index)?,
            release: positive(release.strip_prefix('v')?)?,
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
            Some(g) => positive(g.strip_prefix('g')?)?,
        };
        if parts.next().is_some() {
            return None;
        }
        let dyno = DynoName::parse(&format!("{process_type}.{index}")).ok()?;
        Some(Self {
            app: AppName::parse(app).ok()?,
            dyno,
            release: positive(release.strip_prefix('v')?)?,
            generation,
        })
    }

    /// Syslog identifier of the dyno's lines: `hello.web.1`.
    pub fn syslog_identifier(&self) -> String {
        format!("{}.{}", self.app, self.dyno)
    }
}

/// A number written without sign or leading zeros, above zero.
fn positive(raw: &str) -> Option<u32> {
    if raw.starts_with('0') || !raw.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// `skiff-my\x2dapp.slice`: the app's slice, a child of `skiff.slice`. Dashes are escaped as
/// systemd-escape does, because a dash in a slice name means nesting.
pub fn app_slice(app: &AppName) -> String {
    format!("{UNIT_PREFIX}{}.slice", escape_unit_part(app.as_str()))
}

/// systemd's unit-name escaping of one name part: keeps `[A-Za-z0-9:_.]`, writes other bytes as `\xNN`.
pub fn escape_unit_part(raw: &str) -> String {
    raw.bytes()
        .enumerate()
        .map(|(i, b)| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'_' => (b as char).to_string(),
            b'.' if i > 0 => ".".to_owned(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
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
    fn slices_escape_dashes_so_they_do_not_nest() {
        assert_eq!(
            app_slice(&AppName::parse("hello").unwrap()),
            "skiff-hello.slice"
        );
        assert_eq!(
            app_slice(&AppName::parse("my-app").unwrap()),
            "skiff-my\\x2dapp.slice"
        );
        assert_eq!(escape_unit_part("a b/c"), "a\\x20b\\x2fc");
    }

    #[test]
    fn syslog_identifier_names_app_and_dyno() {
        assert_eq!(unit("hello", "web.2", 1).syslog_identifier(), "hello.web.2");
    }

    #[test]
    fn oneoff_names_round_trip_and_never_parse_as_dynos() {
        let app = AppName::parse("my-app").unwrap();
        let name = oneoff_unit_name(&app, "build", "3f2a9c");
        assert_eq!(name, "skiff-my-app.build-3f2a9c.service");
        assert_eq!(oneoff_unit_app(&name), Some(app.clone()));
        assert_eq!(DynoUnit::parse(&name), None);
        for other in [
            "skiff-my-app.web.1.v1.service",
            "skiff-my-app.shell-1.service",
            "skiff-my-app.build-.service",
            "skiff-my-app.build-a.b.service",
            "skiff-my-app.slice",
        ] {
            assert_eq!(oneoff_unit_app(other), None, "{other}");
        }
    }

    #[test]
    fn run_units_are_numbered_per_app() {
        let app = AppName::parse("job").unwrap();
        assert_eq!(run_unit_name(&app, 3), "skiff-job.run-3.service");
        assert_eq!(run_unit_pattern(&app), "skiff-job.run-*.service");
        assert_eq!(run_unit_index(&app, "skiff-job.run-3.service"), Some(3));
        for other in [
            "skiff-job.run-03.service",
            "skiff-job.run-x.service",
            "skiff-job2.run-3.service",
            "skiff-job.run-3.timer",
            "skiff-job.web.1.v1.service",
        ] {
            assert_eq!(run_unit_index(&app, other), None, "{other}");
        }
        assert_eq!(oneoff_unit_app("skiff-job.run-3.service"), Some(app));
    }

    #[test]
    fn cron_units_name_a_timer_and_its_service() {
        let unit = CronUnit {
            app: AppName::parse("job").unwrap(),
            index: 2,
            release: 7,
        };
        assert_eq!(unit.timer_name(), "skiff-job.cron-2.v7.timer");
        assert_eq!(unit.service_name(), "skiff-job.cron-2.v7.service");
        assert_eq!(unit.dyno(), "cron.2");
        assert_eq!(CronUnit::parse(&unit.timer_name()), Some(unit.clone()));
        assert_eq!(CronUnit::parse(&unit.service_name()), Some(unit));
        for other in [
            "skiff-job.cron-0.v7.timer",
            "skiff-job.cron-2.7.timer",
            "skiff-job.cron-2.v7.slice",
            "skiff-job.run-2.service",
            "skiff-job.web.1.v7.service",
        ] {
            assert_eq!(CronUnit::parse(other), None, "{other}");
        }
        assert_eq!(DynoUnit::parse("skiff-job.cron-2.v7.service"), None);
        assert_eq!(oneoff_unit_app("skiff-job.cron-2.v7.service"), None);
    }
}
