//! Sleeping apps as domain data: how long an app may go without a request before its dynos stop
//! (`ps:autosleep 30m`, app.json's `sleep_after`, or the server's default), whether it sleeps,
//! and the pure decisions: which awake apps are due to sleep and when the next one is, and
//! whether a request may try to wake an app whose last wake failed.

use std::fmt;
use std::time::Duration;

/// The shortest idle period an app can have (tests use a few seconds).
pub const MIN_SLEEP_AFTER: Duration = Duration::from_secs(1);
/// The longest: a week.
pub const MAX_SLEEP_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);
/// After a failed wake, requests get its reason for this long before one tries again.
pub const WAKE_RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SleepError {
    #[error(
        "autosleep {0:?} must be a duration like \"30m\", \"2h\" or \"90s\", \"off\", or \"default\""
    )]
    Malformed(String),
    #[error("autosleep {0:?} is out of range: from 1s to 7 days")]
    OutOfRange(String),
}

/// How long an app goes without a request before it sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SleepAfter(Duration);

impl SleepAfter {
    pub fn parse(raw: &str) -> Result<Self, SleepError> {
        let d = humantime::parse_duration(raw.trim())
            .map_err(|_| SleepError::Malformed(raw.to_owned()))?;
        if !(MIN_SLEEP_AFTER..=MAX_SLEEP_AFTER).contains(&d) || d.subsec_nanos() != 0 {
            return Err(SleepError::OutOfRange(raw.to_owned()));
        }
        Ok(Self(d))
    }

    /// From stored whole seconds; `None` when out of range.
    pub fn from_secs(secs: u64) -> Option<Self> {
        let d = Duration::from_secs(secs);
        (MIN_SLEEP_AFTER..=MAX_SLEEP_AFTER)
            .contains(&d)
            .then_some(Self(d))
    }

    pub fn secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl fmt::Display for SleepAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// An app's own autosleep setting: the server's default, off, or a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SleepSetting {
    #[default]
    Default,
    Off,
    After(SleepAfter),
}

impl SleepSetting {
    /// `off`, `default` or a duration.
    pub fn parse(raw: &str) -> Result<Self, SleepError> {
        match raw.trim() {
            "off" => Ok(Self::Off),
            "default" => Ok(Self::Default),
            other => SleepAfter::parse(other).map(Self::After),
        }
    }

    /// The period that applies given the server's default (`None`: the app never sleeps).
    pub fn effective(self, server_default: Option<SleepAfter>) -> Option<SleepAfter> {
        match self {
            Self::Default => server_default,
            Self::Off => None,
            Self::After(after) => Some(after),
        }
    }

    /// As stored: NULL for the default, 0 for off, else seconds.
    pub fn to_stored(self) -> Option<u64> {
        match self {
            Self::Default => None,
            Self::Off => Some(0),
            Self::After(after) => Some(after.secs()),
        }
    }

    pub fn from_stored(stored: Option<u64>) -> Self {
        match stored {
            None => Self::Default,
            Some(secs) => SleepAfter::from_secs(secs).map_or(Self::Off, Self::After),
        }
    }
}

impl fmt::Display for SleepSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Off => f.write_str("off"),
            Self::After(after) => after.fmt(f),
        }
    }
}

/// Whether an app's web and worker dynos run. `Waking` is a sleeping app whose dynos start for a
/// request: the proxy still holds its requests until they are healthy and routed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SleepState {
    #[default]
    Awake,
    Sleeping,
    Waking,
}

impl SleepState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awake => "awake",
            Self::Sleeping => "sleeping",
            Self::Waking => "waking",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "awake" => Some(Self::Awake),
            "sleeping" => Some(Self::Sleeping),
            "waking" => Some(Self::Waking),
            _ => None,
        }
    }

    /// Whether the proxy holds the app's requests for a wake instead of routing them.
    pub fn holds_requests(self) -> bool {
        self != Self::Awake
    }
}

/// One app as the sleep decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SleepCandidate<A> {
    pub app: A,
    pub state: SleepState,
    pub after: Option<SleepAfter>,
    /// A release is waiting to go live (a deploy's health check runs): never put to sleep then.
    pub rolling_out: bool,
    /// The app has a live release to wake with.
    pub deployed: bool,
    /// Its formation runs web dynos: only requests wake an app, so one without never sleeps.
    pub serves_web: bool,
    /// When a request last reached one of its dynos, or it last woke or was deployed
    /// (milliseconds since the epoch).
    pub last_active_ms: i64,
}

/// Which apps are due to sleep at `now_ms`, and when the next one will be if no request comes.
pub fn due_to_sleep<A: Clone>(
    candidates: &[SleepCandidate<A>],
    now_ms: i64,
) -> (Vec<A>, Option<i64>) {
    let mut due = Vec::new();
    let mut next: Option<i64> = None;
    for c in candidates {
        let Some(after) = c.after else { continue };
        if c.state != SleepState::Awake || c.rolling_out || !c.deployed || !c.serves_web {
            continue;
        }
        let at = c
            .last_active_ms
            .saturating_add(after.secs().saturating_mul(1000) as i64);
        if at <= now_ms {
            due.push(c.app.clone());
        } else {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    (due, next)
}

/// Whether a request may start a new wake, given when the last one failed.
pub fn may_try_waking(last_failure_ms: Option<i64>, now_ms: i64) -> bool {
    last_failure_ms.is_none_or(|at| now_ms - at >= WAKE_RETRY_AFTER.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_show_and_store() {
        for (raw, want, shown, stored) in [
            ("30m", Some(1800), "30m", Some(1800)),
            ("5s", Some(5), "5s", Some(5)),
            (" 2h ", Some(7200), "2h", Some(7200)),
            ("7days", Some(604_800), "7days", Some(604_800)),
            ("off", None, "off", Some(0)),
            ("default", None, "default", None),
        ] {
            let s = SleepSetting::parse(raw).unwrap();
            assert_eq!(
                match s {
                    SleepSetting::After(a) => Some(a.secs()),
                    _ => None,
                },
                want,
                "{raw}"
            );
            assert_eq!(s.to_string(), shown, "{raw}");
            assert_eq!(s.to_stored(), stored, "{raw}");
            assert_eq!(SleepSetting::from_stored(stored), s, "{raw}");
        }
    }

    #[test]
    fn bad_settings_say_what_is_allowed() {
        for (raw, want) in [
            ("soon", "must be a duration like \"30m\""),
            ("", "must be a duration"),
            ("-5m", "must be a duration"),
            ("0s", "out of range: from 1s to 7 days"),
            ("500ms", "out of range"),
            ("1500ms", "out of range"),
            ("8days", "out of range"),
        ] {
            let err = SleepSetting::parse(raw).unwrap_err().to_string();
            assert!(err.contains(want), "{raw}: {err}");
        }
        assert_eq!(SleepAfter::from_secs(0), None);
        assert_eq!(SleepSetting::from_stored(Some(0)), SleepSetting::Off);
    }

    #[test]
    fn the_app_setting_wins_over_the_server_default() {
        let five = SleepAfter::parse("5m").ok();
        let one = SleepAfter::parse("1h").unwrap();
        assert_eq!(SleepSetting::Default.effective(five), five);
        assert_eq!(SleepSetting::Default.effective(None), None);
        assert_eq!(SleepSetting::Off.effective(five), None);
        assert_eq!(SleepSetting::After(one).effective(five), Some(one));
        assert_eq!(SleepSetting::After(one).effective(None), Some(one));
    }

    #[test]
    fn states_round_trip_and_only_awake_apps_are_routed() {
        for s in [SleepState::Awake, SleepState::Sleeping, SleepState::Waking] {
            assert_eq!(SleepState::parse(s.as_str()), Some(s));
            assert_eq!(s.holds_requests(), s != SleepState::Awake);
        }
        assert_eq!(SleepState::parse("dozing"), None);
    }

    fn candidate(app: &'static str, after: Option<u64>, last: i64) -> SleepCandidate<&'static str> {
        SleepCandidate {
            app,
            state: SleepState::Awake,
            after: after.and_then(SleepAfter::from_secs),
            rolling_out: false,
            deployed: true,
            serves_web: true,
            last_active_ms: last,
        }
    }

    #[test]
    fn idle_apps_are_due_and_the_next_deadline_is_the_soonest() {
        let now = 100_000;
        type Case = (
            &'static str,
            Vec<SleepCandidate<&'static str>>,
            Vec<&'static str>,
            Option<i64>,
        );
        let cases: Vec<Case> = vec![
            ("nothing set", vec![candidate("a", None, 0)], vec![], None),
            (
                "idle exactly the period",
                vec![candidate("a", Some(5), 95_000)],
                vec!["a"],
                None,
            ),
            (
                "active a moment ago",
                vec![candidate("a", Some(5), 99_000)],
                vec![],
                Some(104_000),
            ),
            (
                "one due, the soonest of the others next",
                vec![
                    candidate("a", Some(60), 90_000),
                    candidate("b", Some(5), 10_000),
                    candidate("c", Some(30), 90_000),
                ],
                vec!["b"],
                Some(120_000),
            ),
            (
                "sleeping, waking, rolling out, undeployed or web-less apps are left alone",
                vec![
                    SleepCandidate {
                        state: SleepState::Sleeping,
                        ..candidate("a", Some(5), 0)
                    },
                    SleepCandidate {
                        state: SleepState::Waking,
                        ..candidate("b", Some(5), 0)
                    },
                    SleepCandidate {
                        rolling_out: true,
                        ..candidate("c", Some(5), 0)
                    },
                    SleepCandidate {
                        deployed: false,
                        ..candidate("d", Some(5), 0)
                    },
                    SleepCandidate {
                        serves_web: false,
                        ..candidate("e", Some(5), 0)
                    },
                ],
                vec![],
                None,
            ),
        ];
        for (name, candidates, want_due, want_next) in cases {
            let (due, next) = due_to_sleep(&candidates, now);
            assert_eq!(due, want_due, "{name}");
            assert_eq!(next, want_next, "{name}");
        }
    }

    #[test]
    fn a_failed_wake_is_retried_only_after_the_pause() {
        let pause = WAKE_RETRY_AFTER.as_millis() as i64;
        assert!(may_try_waking(None, 0));
        assert!(!may_try_waking(Some(1_000), 1_000));
        assert!(!may_try_waking(Some(1_000), 1_000 + pause - 1));
        assert!(may_try_waking(Some(1_000), 1_000 + pause));
    }
}
