//! Names of the units skiff owns besides dynos and cron jobs (those are `model::unit_name`):
//! `skiff-APP.KIND-ID.service` for builds and one-off runs, `skiff-APP.slice` per app, and the
//! units the package ships (`skiff-caddy.service`), which the reconciler never touches.

use crate::model::{parse_positive, AppName};

pub use crate::model::UNIT_PREFIX;
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
/// `net` units set up or remove an app's network namespaces (`skiff-APP.net-dynos.service`).
pub const ONEOFF_KINDS: &[&str] = &["build", "release", "postdeploy", "run", "net"];

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
    parse_positive(index)
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
    use crate::model::{CronUnit, DynoUnit};

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
