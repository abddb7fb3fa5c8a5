//! Reading an app's logs from journald: pure `journalctl` arguments and Heroku-shaped lines, and a
//! thin reader that runs `journalctl -o json` and streams what it prints.

mod access_log;
pub mod router;
mod source;

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::model::{AppName, DynoName, DynoUnit, UNIT_PREFIX};

#[cfg(any(test, feature = "fakes"))]
pub use source::FakeLogs;
pub use source::{Journalctl, LogError, LogSource};

/// Most lines one request may ask for.
pub const MAX_LINES: u32 = 10_000;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub app: AppName,
    pub dyno: Option<DynoName>,
    /// The units of the app's add-on servers, whose lines come too when no dyno is asked for.
    pub addon_units: Vec<String>,
    pub lines: u32,
    pub follow: bool,
}

/// `journalctl` arguments: the app's units by glob, so the dynos' own lines (`_SYSTEMD_UNIT=`),
/// PID 1's lines about them (`UNIT=`) and skiffd's router lines (`OBJECT_SYSTEMD_UNIT=
/// skiff-APP.router`) come back.
pub fn journalctl_args(q: &LogQuery) -> Vec<String> {
    let units = match &q.dyno {
        Some(d) => format!("{UNIT_PREFIX}{}.{}.{}.*", q.app, d.process_type, d.index),
        None => format!("{UNIT_PREFIX}{}.*", q.app),
    };
    let mut args = vec![
        "--output=json".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
        format!("--lines={}", q.lines.min(MAX_LINES)),
        format!("--unit={units}"),
    ];
    if q.dyno.is_none() {
        args.extend(q.addon_units.iter().map(|u| format!("--unit={u}")));
    }
    if q.follow {
        args.push("--follow".to_owned());
    }
    args
}

/// `journalctl` arguments that read one build's lines from the start: all of them (the build
/// unit's, the release phase's, postdeploy's), or those of one of its processes (`release.1`);
/// with `follow`, the stream stays open for new ones.
pub fn build_output_args(build_id: &str, dyno: Option<&str>, follow: bool) -> Vec<String> {
    let mut args = vec![
        "--output=json".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
        "--lines=all".to_owned(),
    ];
    if follow {
        args.push("--follow".to_owned());
    }
    args.push(format!("SKIFF_BUILD={build_id}"));
    // Matches on two different fields must both hold: only that process's lines.
    args.extend(dyno.map(|d| format!("SKIFF_DYNO={d}")));
    args
}

/// The message of a journal entry, as the process printed it.
pub fn message(entry: &Value) -> Option<String> {
    field(entry, "MESSAGE")
}

fn field(entry: &Value, name: &str) -> Option<String> {
    match entry.get(name)? {
        Value::String(s) => Some(s.clone()),
        // journald sends non-UTF-8 or binary fields as byte arrays.
        Value::Array(bytes) => Some(
            String::from_utf8_lossy(
                &bytes
                    .iter()
                    .filter_map(|b| b.as_u64())
                    .map(|b| b as u8)
                    .collect::<Vec<_>>(),
            )
            .into_owned(),
        ),
        _ => None,
    }
}

/// One journal entry (a `journalctl -o json` line) as Heroku prints it:
/// `2026-11-21T10:00:00.123456Z app[web.1]: message`, or `skiff[web.1]: …` for systemd's own
/// lines, and `app[redis]: …` for an add-on server's (tagged `SKIFF_ADDON`).
pub fn render(entry: &Value) -> Option<String> {
    let usec: u64 = field(entry, "__REALTIME_TIMESTAMP")?.parse().ok()?;
    let when = humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(usec));
    let message = field(entry, "MESSAGE").unwrap_or_default();
    let source = if let Some(dyno) = field(entry, "SKIFF_DYNO") {
        format!("app[{dyno}]")
    } else if field(entry, "SKIFF_ADDON").is_some() {
        let server = field(entry, "SYSLOG_IDENTIFIER").unwrap_or_else(|| "addon".to_owned());
        format!("app[{server}]")
    } else if field(entry, "SYSLOG_IDENTIFIER").as_deref() == Some(router::ROUTER_IDENTIFIER) {
        "skiff[router]".to_owned()
    } else {
        let unit = field(entry, "UNIT").or_else(|| field(entry, "_SYSTEMD_UNIT"))?;
        match DynoUnit::parse(&unit) {
            Some(u) => format!("skiff[{}]", u.dyno),
            None => "skiff".to_owned(),
        }
    };
    Some(format!(
        "{when} {source}: {}",
        message.trim_end_matches('\n')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_follows_a_build_or_one_of_its_processes() {
        let all = build_output_args("b7", None, true);
        assert!(all.contains(&"SKIFF_BUILD=b7".to_owned()), "{all:?}");
        assert!(all.contains(&"--lines=all".to_owned()), "{all:?}");
        assert!(all.contains(&"--follow".to_owned()), "{all:?}");
        assert!(!all.iter().any(|a| a.starts_with("SKIFF_DYNO=")), "{all:?}");
        let one = build_output_args("b7", Some("postdeploy.1"), true);
        assert_eq!(one[..all.len()], all[..]);
        assert_eq!(one[all.len()..], ["SKIFF_DYNO=postdeploy.1".to_owned()]);
        let past = build_output_args("b7", None, false);
        let followed: Vec<_> = all.into_iter().filter(|a| a != "--follow").collect();
        assert_eq!(past, followed, "a past build's output is read to its end");
    }
    use serde_json::json;

    fn query(dyno: Option<&str>, follow: bool) -> LogQuery {
        LogQuery {
            app: AppName::parse("my-app").unwrap(),
            dyno: dyno.map(|d| DynoName::parse(d).unwrap()),
            addon_units: Vec::new(),
            lines: 50,
            follow,
        }
    }

    #[test]
    fn the_apps_addon_servers_come_too_unless_one_dyno_is_asked_for() {
        let with_addon = |dyno| LogQuery {
            addon_units: vec!["skiff-addon-redis-my-app.service".into()],
            ..query(dyno, false)
        };
        let args = journalctl_args(&with_addon(None));
        assert!(
            args.contains(&"--unit=skiff-addon-redis-my-app.service".to_owned()),
            "{args:?}"
        );
        let args = journalctl_args(&with_addon(Some("web.1")));
        assert!(!args.iter().any(|a| a.contains("addon")), "{args:?}");
        let line = json!({
            "__REALTIME_TIMESTAMP": "1763719200000000",
            "MESSAGE": "Ready to accept connections tcp",
            "SKIFF_APP": "my-app",
            "SKIFF_ADDON": "redis-my-app",
            "SYSLOG_IDENTIFIER": "redis",
            "_SYSTEMD_UNIT": "skiff-addon-redis-my-app.service",
        });
        assert_eq!(
            render(&line).unwrap(),
            "2025-11-21T10:00:00.000000Z app[redis]: Ready to accept connections tcp"
        );
    }

    #[test]
    fn selects_the_apps_units_by_glob() {
        assert_eq!(
            journalctl_args(&query(None, false)),
            [
                "--output=json",
                "--no-pager",
                "--quiet",
                "--lines=50",
                "--unit=skiff-my-app.*"
            ]
        );
        let args = journalctl_args(&query(Some("web.2"), true));
        assert!(args.contains(&"--unit=skiff-my-app.web.2.*".to_owned()));
        assert_eq!(args.last().unwrap(), "--follow");
        let mut many = query(None, false);
        many.lines = 1_000_000;
        assert!(journalctl_args(&many).contains(&"--lines=10000".to_owned()));
    }

    #[test]
    fn renders_router_lines_as_skiffs_router() {
        let entry = json!({
            "__REALTIME_TIMESTAMP": "1763719200000000",
            "MESSAGE": "at=info method=GET path=\"/\" status=200",
            "SKIFF_APP": "my-app",
            "SYSLOG_IDENTIFIER": "skiff-router",
            "_SYSTEMD_UNIT": "skiffd.service",
        });
        assert_eq!(
            render(&entry).unwrap(),
            "2025-11-21T10:00:00.000000Z skiff[router]: at=info method=GET path=\"/\" status=200"
        );
    }

    #[test]
    fn renders_dyno_lines_and_systemd_lines() {
        let dyno_line = json!({
            "__REALTIME_TIMESTAMP": "1763719200000000",
            "MESSAGE": "listening on 20000\n",
            "SKIFF_APP": "my-app",
            "SKIFF_DYNO": "web.1",
            "_SYSTEMD_UNIT": "skiff-my-app.web.1.v3.service",
        });
        assert_eq!(
            render(&dyno_line).unwrap(),
            "2025-11-21T10:00:00.000000Z app[web.1]: listening on 20000"
        );
        let pid1_line = json!({
            "__REALTIME_TIMESTAMP": "1763719201500000",
            "MESSAGE": "Started skiff my-app web.1 (v3).",
            "UNIT": "skiff-my-app.web.1.v3.service",
        });
        assert_eq!(
            render(&pid1_line).unwrap(),
            "2025-11-21T10:00:01.500000Z skiff[web.1]: Started skiff my-app web.1 (v3)."
        );
        let binary = json!({"__REALTIME_TIMESTAMP": "0", "MESSAGE": [104, 105, 255], "SKIFF_DYNO": "worker.1"});
        assert_eq!(
            render(&binary).unwrap(),
            "1970-01-01T00:00:00.000000Z app[worker.1]: hi\u{fffd}"
        );
        assert_eq!(render(&json!({"MESSAGE": "no time"})), None);
    }
}
