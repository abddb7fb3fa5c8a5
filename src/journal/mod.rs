//! Reading an app's logs from journald: pure `journalctl` arguments and Heroku-shaped lines, and a
//! thin reader that runs `journalctl -o json` and streams what it prints.

mod access_log;
pub mod router;
mod source;

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::model::{AppName, DrainLine, DynoName, DynoUnit, LogOrigin, UNIT_PREFIX};
use crate::systemd::names::app_slice;
use router::{object_unit, DaemonPart};

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
    /// Only the lines of this origin; all of them when `None`.
    pub origin: Option<LogOrigin>,
    /// The names the app had before `apps:rename`: its lines written under them come too.
    pub former_names: Vec<AppName>,
}

impl LogQuery {
    /// The app's name and its former ones, whose lines are all the app's.
    fn names(&self) -> impl Iterator<Item = &AppName> {
        std::iter::once(&self.app).chain(&self.former_names)
    }

    /// The prefixes of the units whose `UNIT=` values PID 1's lines about them carry, for
    /// `--source skiff`: `skiff-APP.` or one dyno's `skiff-APP.web.1.`, under each name.
    pub fn unit_prefixes(&self) -> Vec<String> {
        self.names()
            .map(|app| match &self.dyno {
                Some(d) => format!("{UNIT_PREFIX}{app}.{}.{}.", d.process_type, d.index),
                None => format!("{UNIT_PREFIX}{app}."),
            })
            .collect()
    }
}

/// `journalctl` arguments, for the app's name and each of its former ones. All of an app's lines are its units' by glob, so the dynos' own lines
/// (`_SYSTEMD_UNIT=`), PID 1's lines about them (`UNIT=`) and skiffd's (`OBJECT_SYSTEMD_UNIT=
/// skiff-APP.router` and `.skiffd`) come back. One origin is exact field matches instead: the
/// processes in the app's slice (and its add-on servers' units) for `app`, skiffd's router object
/// for `router`, and for `skiff` PID 1's lines about `seen_units` (the journal's `UNIT=` values
/// under [`LogQuery::unit_prefix`]) and skiffd's own object. `None` when nothing can match: no
/// PID 1 line about the asked dyno exists yet, or the router's lines were asked of one dyno.
pub fn journalctl_args(q: &LogQuery, seen_units: &[String]) -> Option<Vec<String>> {
    let mut args = vec![
        "--output=json".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
        format!("--lines={}", q.lines.min(MAX_LINES)),
    ];
    args.extend(origin_matches(q, seen_units)?);
    if q.follow {
        args.push("--follow".to_owned());
    }
    Some(args)
}

/// The unit options or field matches that pick the asked lines (`+` separates alternatives).
fn origin_matches(q: &LogQuery, seen_units: &[String]) -> Option<Vec<String>> {
    let prefixes = q.unit_prefixes();
    let addon_units = || {
        q.addon_units
            .iter()
            .filter(|_| q.dyno.is_none())
            .map(String::as_str)
    };
    let matches = match q.origin {
        None => prefixes
            .iter()
            .map(|prefix| format!("--unit={prefix}*"))
            .chain(addon_units().map(|u| format!("--unit={u}")))
            .collect(),
        Some(LogOrigin::App) => {
            let mut m = Vec::new();
            for app in q.names() {
                if !m.is_empty() {
                    m.push("+".to_owned());
                }
                m.push(format!("_SYSTEMD_SLICE={}", app_slice(app)));
                m.extend(q.dyno.iter().map(|d| format!("SKIFF_DYNO={d}")));
            }
            for unit in addon_units() {
                m.extend(["+".to_owned(), format!("_SYSTEMD_UNIT={unit}")]);
            }
            m
        }
        Some(LogOrigin::Router) if q.dyno.is_some() => return None,
        // Matches of one field are alternatives to journalctl.
        Some(LogOrigin::Router) => q
            .names()
            .map(|app| {
                format!(
                    "OBJECT_SYSTEMD_UNIT={}",
                    object_unit(app.as_str(), DaemonPart::Router)
                )
            })
            .collect(),
        Some(LogOrigin::Skiff) => {
            let units: Vec<String> = seen_units
                .iter()
                .filter(|u| prefixes.iter().any(|p| u.starts_with(p)))
                .map(|u| format!("UNIT={u}"))
                .collect();
            let mut m = Vec::new();
            if !units.is_empty() {
                m.push("_PID=1".to_owned());
                m.extend(units);
            }
            if q.dyno.is_none() {
                if !m.is_empty() {
                    m.push("+".to_owned());
                }
                m.extend(q.names().map(|app| {
                    format!(
                        "OBJECT_SYSTEMD_UNIT={}",
                        object_unit(app.as_str(), DaemonPart::Skiffd)
                    )
                }));
            }
            if m.is_empty() {
                return None;
            }
            m
        }
    };
    Some(matches)
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
    let source = match origin_of(entry)? {
        (source, part) if part.is_empty() => source.to_owned(),
        (source, part) => format!("{source}[{part}]"),
    };
    Some(format!(
        "{when} {source}: {}",
        message.trim_end_matches('\n')
    ))
}

/// Who wrote a line: `("app", "web.1")` (or an add-on server) for the app's own output,
/// `("skiff", "router")` for the router's, `("skiff", "web.1")` for systemd's and skiffd's
/// lines about a dyno, `("skiff", "")` for the rest of theirs.
fn origin_of(entry: &Value) -> Option<(&'static str, String)> {
    // systemd 256 and later copy a unit's `LogExtraFields=` (`SKIFF_DYNO`) into PID 1's own lines
    // about it, so those are told apart by who wrote them first.
    let by_pid1 = field(entry, "_PID").as_deref() == Some("1");
    Some(if by_pid1 {
        skiff_about(entry)?
    } else if let Some(dyno) = field(entry, "SKIFF_DYNO") {
        ("app", dyno)
    } else if field(entry, "SKIFF_ADDON").is_some() {
        let server = field(entry, "SYSLOG_IDENTIFIER").unwrap_or_else(|| "addon".to_owned());
        ("app", server)
    } else if field(entry, "SYSLOG_IDENTIFIER").as_deref() == Some(router::ROUTER_IDENTIFIER) {
        ("skiff", "router".to_owned())
    } else {
        skiff_about(entry)?
    })
}

/// systemd's and skiffd's lines: about the dyno their unit names, or the app.
fn skiff_about(entry: &Value) -> Option<(&'static str, String)> {
    let unit = field(entry, "UNIT").or_else(|| field(entry, "_SYSTEMD_UNIT"))?;
    let dyno = DynoUnit::parse(&unit).map(|u| u.dyno.to_string());
    Some(("skiff", dyno.unwrap_or_default()))
}

/// A journal entry of `app` as a drain sends it, with the entry's cursor.
pub fn drain_line(entry: &Value, app: &AppName) -> Option<(String, DrainLine)> {
    let cursor = field(entry, "__CURSOR")?;
    let usec: u64 = field(entry, "__REALTIME_TIMESTAMP")?.parse().ok()?;
    let (source, dyno) = origin_of(entry)?;
    let line = DrainLine {
        time: humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(usec))
            .to_string(),
        app: app.to_string(),
        source,
        dyno,
        severity: field(entry, "PRIORITY")
            .and_then(|p| p.parse().ok())
            .unwrap_or(6),
        message: field(entry, "MESSAGE").unwrap_or_default(),
    };
    Some((cursor, line))
}

/// `journalctl` arguments that follow the lines tagged with the app's name or a former one (its
/// dynos', builds', the router's and skiffd's about it; PID 1's about its units where systemd
/// copies the units' fields into them, from 256 on) from just after `cursor`, or from `since`
/// (Unix seconds) when none was delivered yet. Field matches, not the `--unit=` glob of `logs`:
/// journalctl expands a glob once, when it starts, and a drain follows for days, past the
/// units of later releases.
pub fn drain_args(q: &LogQuery, cursor: Option<&str>, since: i64) -> Vec<String> {
    let mut args = vec![
        "--output=json".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
        "--follow".to_owned(),
        "--lines=all".to_owned(),
        match cursor {
            Some(c) => format!("--after-cursor={c}"),
            None => format!("--since=@{since}"),
        },
    ];
    args.extend(q.names().map(|app| format!("SKIFF_APP={app}")));
    args
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
            origin: None,
            former_names: Vec::new(),
        }
    }

    #[test]
    fn one_origin_is_picked_by_exact_matches() {
        let seen: Vec<String> = [
            "skiff-my-app.web.1.v3.service",
            "skiff-my-app.worker.1.v3.service",
            "skiff-my-app2.web.1.v1.service",
            "ssh.service",
        ]
        .map(str::to_owned)
        .into();
        let redis = vec!["skiff-addon-redis-my-app.service".to_owned()];
        let matches = |origin, dyno: Option<&str>, addons: &[String], seen: &[String]| {
            let q = LogQuery {
                origin: Some(origin),
                addon_units: addons.to_vec(),
                ..query(dyno, false)
            };
            journalctl_args(&q, seen).map(|a| a[4..].to_vec())
        };
        /// Origin, dyno, add-on units, `UNIT=` values seen, the matches wanted.
        type Case<'a> = (
            LogOrigin,
            Option<&'a str>,
            &'a [String],
            &'a [String],
            Option<&'a [&'a str]>,
        );
        let cases: [Case; 9] = [
            (
                LogOrigin::App,
                None,
                &[],
                &seen,
                Some(&["_SYSTEMD_SLICE=skiff-my\\x2dapp.slice"]),
            ),
            (
                LogOrigin::App,
                None,
                &redis,
                &seen,
                Some(&[
                    "_SYSTEMD_SLICE=skiff-my\\x2dapp.slice",
                    "+",
                    "_SYSTEMD_UNIT=skiff-addon-redis-my-app.service",
                ]),
            ),
            (
                LogOrigin::App,
                Some("web.1"),
                &redis,
                &seen,
                Some(&["_SYSTEMD_SLICE=skiff-my\\x2dapp.slice", "SKIFF_DYNO=web.1"]),
            ),
            (
                LogOrigin::Router,
                None,
                &redis,
                &seen,
                Some(&["OBJECT_SYSTEMD_UNIT=skiff-my-app.router"]),
            ),
            (LogOrigin::Router, Some("web.1"), &[], &seen, None),
            (
                LogOrigin::Skiff,
                None,
                &redis,
                &seen,
                Some(&[
                    "_PID=1",
                    "UNIT=skiff-my-app.web.1.v3.service",
                    "UNIT=skiff-my-app.worker.1.v3.service",
                    "+",
                    "OBJECT_SYSTEMD_UNIT=skiff-my-app.skiffd",
                ]),
            ),
            (
                LogOrigin::Skiff,
                Some("web.1"),
                &[],
                &seen,
                Some(&["_PID=1", "UNIT=skiff-my-app.web.1.v3.service"]),
            ),
            (
                LogOrigin::Skiff,
                None,
                &[],
                &[],
                Some(&["OBJECT_SYSTEMD_UNIT=skiff-my-app.skiffd"]),
            ),
            (LogOrigin::Skiff, Some("web.2"), &[], &seen, None),
        ];
        for (origin, dyno, addons, seen, want) in cases {
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(
                matches(origin, dyno, addons, seen),
                want,
                "{origin} {dyno:?}"
            );
        }
        let followed = LogQuery {
            origin: Some(LogOrigin::App),
            ..query(None, true)
        };
        let args = journalctl_args(&followed, &[]).unwrap();
        assert_eq!(args.last().unwrap(), "--follow");
        assert_eq!(args[3], "--lines=50");
    }

    #[test]
    fn a_drain_follows_all_the_apps_lines_from_its_place() {
        let q = LogQuery {
            origin: Some(LogOrigin::Router),
            former_names: vec![AppName::parse("old-shop").unwrap()],
            ..query(Some("web.1"), false)
        };
        let from_cursor = drain_args(&q, Some("s=abc;i=7"), 1_800_000_000);
        assert_eq!(
            from_cursor,
            [
                "--output=json",
                "--no-pager",
                "--quiet",
                "--follow",
                "--lines=all",
                "--after-cursor=s=abc;i=7",
                "SKIFF_APP=my-app",
                "SKIFF_APP=old-shop",
            ]
        );
        let fresh = drain_args(&q, None, 1_800_000_000);
        assert_eq!(fresh[5], "--since=@1800000000", "{fresh:?}");
    }

    #[test]
    fn drain_lines_say_who_wrote_them() {
        let app = AppName::parse("my-app").unwrap();
        let dyno = json!({
            "__CURSOR": "c1",
            "__REALTIME_TIMESTAMP": "1763719200000000",
            "MESSAGE": "listening\n",
            "PRIORITY": "3",
            "SKIFF_DYNO": "web.1",
        });
        let (cursor, line) = drain_line(&dyno, &app).unwrap();
        assert_eq!(cursor, "c1");
        assert_eq!(
            (
                line.time.as_str(),
                line.source,
                line.dyno.as_str(),
                line.severity,
                line.message.as_str()
            ),
            (
                "2025-11-21T10:00:00.000000Z",
                "app",
                "web.1",
                3,
                "listening\n"
            )
        );
        let router = json!({"__CURSOR": "c2", "__REALTIME_TIMESTAMP": "0", "MESSAGE": "at=info", "SYSLOG_IDENTIFIER": "skiff-router"});
        let (_, line) = drain_line(&router, &app).unwrap();
        assert_eq!(
            (line.source, line.dyno.as_str(), line.severity),
            ("skiff", "router", 6)
        );
        let pid1 = json!({"__CURSOR": "c3", "__REALTIME_TIMESTAMP": "0", "MESSAGE": "Started", "_PID": "1", "UNIT": "skiff-my-app.worker.2.v4.service", "SKIFF_DYNO": "worker.2"});
        let (_, line) = drain_line(&pid1, &app).unwrap();
        assert_eq!((line.source, line.dyno.as_str()), ("skiff", "worker.2"));
        let no_cursor = json!({"__REALTIME_TIMESTAMP": "0", "MESSAGE": "x", "SKIFF_DYNO": "web.1"});
        assert_eq!(drain_line(&no_cursor, &app), None);
    }

    #[test]
    fn a_renamed_apps_lines_under_its_former_names_come_too() {
        let renamed = |origin, dyno| LogQuery {
            origin,
            former_names: vec![AppName::parse("old-shop").unwrap()],
            ..query(dyno, false)
        };
        let matches =
            |q: &LogQuery, seen: &[String]| journalctl_args(q, seen).unwrap()[4..].to_vec();
        let seen = [
            "skiff-my-app.web.1.v1.service".to_owned(),
            "skiff-old-shop.web.1.v1.service".to_owned(),
            "skiff-other.web.1.v1.service".to_owned(),
        ];
        /// Origin, dyno, the matches wanted.
        type Case<'a> = (Option<LogOrigin>, Option<&'a str>, &'a [&'a str]);
        let cases: [Case; 5] = [
            (
                None,
                None,
                &["--unit=skiff-my-app.*", "--unit=skiff-old-shop.*"],
            ),
            (
                Some(LogOrigin::App),
                Some("web.1"),
                &[
                    "_SYSTEMD_SLICE=skiff-my\\x2dapp.slice",
                    "SKIFF_DYNO=web.1",
                    "+",
                    "_SYSTEMD_SLICE=skiff-old\\x2dshop.slice",
                    "SKIFF_DYNO=web.1",
                ],
            ),
            (
                Some(LogOrigin::Router),
                None,
                &[
                    "OBJECT_SYSTEMD_UNIT=skiff-my-app.router",
                    "OBJECT_SYSTEMD_UNIT=skiff-old-shop.router",
                ],
            ),
            (
                Some(LogOrigin::Skiff),
                None,
                &[
                    "_PID=1",
                    "UNIT=skiff-my-app.web.1.v1.service",
                    "UNIT=skiff-old-shop.web.1.v1.service",
                    "+",
                    "OBJECT_SYSTEMD_UNIT=skiff-my-app.skiffd",
                    "OBJECT_SYSTEMD_UNIT=skiff-old-shop.skiffd",
                ],
            ),
            (
                Some(LogOrigin::Skiff),
                Some("web.1"),
                &[
                    "_PID=1",
                    "UNIT=skiff-my-app.web.1.v1.service",
                    "UNIT=skiff-old-shop.web.1.v1.service",
                ],
            ),
        ];
        for (origin, dyno, want) in cases {
            assert_eq!(
                matches(&renamed(origin, dyno), &seen),
                want.to_vec(),
                "{origin:?} {dyno:?}"
            );
        }
    }

    #[test]
    fn the_apps_addon_servers_come_too_unless_one_dyno_is_asked_for() {
        let with_addon = |dyno| LogQuery {
            addon_units: vec!["skiff-addon-redis-my-app.service".into()],
            ..query(dyno, false)
        };
        let args = journalctl_args(&with_addon(None), &[]).unwrap();
        assert!(
            args.contains(&"--unit=skiff-addon-redis-my-app.service".to_owned()),
            "{args:?}"
        );
        let args = journalctl_args(&with_addon(Some("web.1")), &[]).unwrap();
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
            journalctl_args(&query(None, false), &[]).unwrap(),
            [
                "--output=json",
                "--no-pager",
                "--quiet",
                "--lines=50",
                "--unit=skiff-my-app.*"
            ]
        );
        let args = journalctl_args(&query(Some("web.2"), true), &[]).unwrap();
        assert!(args.contains(&"--unit=skiff-my-app.web.2.*".to_owned()));
        assert_eq!(args.last().unwrap(), "--follow");
        let mut many = query(None, false);
        many.lines = 1_000_000;
        assert!(journalctl_args(&many, &[])
            .unwrap()
            .contains(&"--lines=10000".to_owned()));
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
        let pid1_line_of_systemd_257 = json!({
            "__REALTIME_TIMESTAMP": "1763719201500000",
            "MESSAGE": "Started skiff my-app web.1 (v3).",
            "UNIT": "skiff-my-app.web.1.v3.service",
            "SKIFF_APP": "my-app",
            "SKIFF_DYNO": "web.1",
            "_PID": "1",
            "_SYSTEMD_UNIT": "init.scope",
        });
        assert_eq!(
            render(&pid1_line_of_systemd_257).unwrap(),
            "2025-11-21T10:00:01.500000Z skiff[web.1]: Started skiff my-app web.1 (v3).",
            "PID 1's line carrying the unit's extra fields is still skiff's"
        );
        let binary = json!({"__REALTIME_TIMESTAMP": "0", "MESSAGE": [104, 105, 255], "SKIFF_DYNO": "worker.1"});
        assert_eq!(
            render(&binary).unwrap(),
            "1970-01-01T00:00:00.000000Z app[worker.1]: hi\u{fffd}"
        );
        assert_eq!(render(&json!({"MESSAGE": "no time"})), None);
    }
}
