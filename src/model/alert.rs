//! Alerts as domain data: the rules a user writes (`p95 > 500ms for 5m`, `errors > 2% for 5m`,
//! `memory > 90% for 2m`, `crashed`), validated with messages that say what is allowed; when a
//! rule holds on an app's finished router minutes or its dyno samples; the transitions between
//! ok and firing; the webhook URL and the webhook's retry delays.

use std::fmt;
use std::time::Duration;

use super::metrics::{bucket_start, RequestStats, FINE_STEP_SECS};

/// What every message about a bad rule lists.
const ALLOWED: &str = "allowed are \"p50|p95|p99|max > 500ms for 5m\", \"errors > 2% for 5m\" (the share of 5xx answers), \"memory > 90% for 2m\" (of a dyno's memory limit) and \"crashed\"";
/// The longest `for` a rule may have.
const MAX_FOR_SECS: u64 = 24 * 3600;
/// How long after a minute ends its router lines may still arrive (Caddy writes a line when
/// a request ends; skiffd relays it within milliseconds, or at start after a restart).
pub const MINUTE_SETTLES_SECS: i64 = 5;
/// The webhook's pauses between attempts: the first try, then five retries, doubling.
pub const WEBHOOK_RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("alert {raw:?} is not understood: {ALLOWED}")]
    Syntax { raw: String },
    #[error("alert {raw:?}: {why}; {ALLOWED}")]
    Value { raw: String, why: String },
    #[error("alert webhook {0:?} must be an http:// or https:// URL with a host")]
    Webhook(String),
}

/// A service-time percentile of an app's router lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    P50,
    P95,
    P99,
    Max,
}

impl Latency {
    fn name(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::Max => "max",
        }
    }

    fn of(self, stats: &RequestStats) -> u64 {
        match self {
            Self::P50 => stats.service_ms.value_at_quantile(0.50),
            Self::P95 => stats.service_ms.value_at_quantile(0.95),
            Self::P99 => stats.service_ms.value_at_quantile(0.99),
            Self::Max => stats.service_ms.max(),
        }
    }
}

/// One alert rule of an app.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlertRule {
    /// The percentile's service time above `above_ms` in every minute of `for_secs`.
    Latency {
        latency: Latency,
        above_ms: u64,
        for_secs: u64,
    },
    /// The share of 5xx answers above `above_percent` in every minute of `for_secs`.
    Errors { above_percent: f64, for_secs: u64 },
    /// A dyno's memory above `above_percent` of its limit in every sample for `for_secs`.
    Memory { above_percent: f64, for_secs: u64 },
    /// A dyno crashed (restarted after its process ended) or is held `crashed`.
    Crashed,
}

fn parse_for(raw: &str, text: &str) -> Result<u64, AlertError> {
    let why = || AlertError::Value {
        raw: raw.to_owned(),
        why: format!("{text:?} must be whole minutes from 1m to 24h"),
    };
    let d = humantime::parse_duration(text).map_err(|_| why())?;
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs % 60 != 0 || !(60..=MAX_FOR_SECS).contains(&secs) {
        return Err(why());
    }
    Ok(secs)
}

fn parse_percent(raw: &str, text: &str, what: &str) -> Result<f64, AlertError> {
    let why = || AlertError::Value {
        raw: raw.to_owned(),
        why: format!("{what} takes a percentage above 0 and below 100, like 2% or 0.5%"),
    };
    let n: f64 = text
        .strip_suffix('%')
        .ok_or_else(why)?
        .parse()
        .map_err(|_| why())?;
    if !(n > 0.0 && n < 100.0) {
        return Err(why());
    }
    Ok(n)
}

fn parse_ms(raw: &str, text: &str, what: &str) -> Result<u64, AlertError> {
    let why = || AlertError::Value {
        raw: raw.to_owned(),
        why: format!("{what} takes a time from 1ms to 1h, like 500ms or 2s"),
    };
    let d = humantime::parse_duration(text).map_err(|_| why())?;
    let ms = u64::try_from(d.as_millis()).map_err(|_| why())?;
    if !(1..=3_600_000).contains(&ms) || d.subsec_nanos() % 1_000_000 != 0 {
        return Err(why());
    }
    Ok(ms)
}

impl AlertRule {
    /// Reads a rule; spaces around `>` are optional.
    pub fn parse(raw: &str) -> Result<Self, AlertError> {
        let spaced = raw.trim().replace('>', " > ");
        let words: Vec<&str> = spaced.split_whitespace().collect();
        let syntax = || AlertError::Syntax {
            raw: raw.to_owned(),
        };
        match words.as_slice() {
            ["crashed"] => Ok(Self::Crashed),
            [metric, ">", threshold, "for", period] => {
                let for_secs = parse_for(raw, period)?;
                let latency = match *metric {
                    "errors" => {
                        let above_percent = parse_percent(raw, threshold, metric)?;
                        return Ok(Self::Errors {
                            above_percent,
                            for_secs,
                        });
                    }
                    "memory" => {
                        let above_percent = parse_percent(raw, threshold, metric)?;
                        return Ok(Self::Memory {
                            above_percent,
                            for_secs,
                        });
                    }
                    "p50" => Latency::P50,
                    "p95" => Latency::P95,
                    "p99" => Latency::P99,
                    "max" => Latency::Max,
                    _ => return Err(syntax()),
                };
                Ok(Self::Latency {
                    latency,
                    above_ms: parse_ms(raw, threshold, metric)?,
                    for_secs,
                })
            }
            _ => Err(syntax()),
        }
    }

    /// Whether the rule reads router minutes (else dyno samples).
    pub fn reads_router(&self) -> bool {
        matches!(self, Self::Latency { .. } | Self::Errors { .. })
    }

    /// The finished router minutes the rule needs at `now`: their starts, oldest first; empty
    /// for rules on dyno samples.
    pub fn minutes_at(&self, now: i64) -> Vec<i64> {
        let for_secs = match self {
            Self::Latency { for_secs, .. } | Self::Errors { for_secs, .. } => *for_secs as i64,
            _ => return Vec::new(),
        };
        let last = bucket_start(now - MINUTE_SETTLES_SECS, FINE_STEP_SECS) - FINE_STEP_SECS;
        let count = for_secs / FINE_STEP_SECS;
        (0..count)
            .rev()
            .map(|i| last - i * FINE_STEP_SECS)
            .collect()
    }

    /// Pure: whether the rule holds on the finished minutes it needs (`minutes_at`), each
    /// `None` when no request came that minute (which never holds), with the latest value.
    pub fn holds_on_minutes(&self, minutes: &[Option<&RequestStats>]) -> Reading {
        let value = |s: &RequestStats| -> Option<(bool, String)> {
            match self {
                Self::Latency {
                    latency, above_ms, ..
                } => {
                    let ms = latency.of(s);
                    Some((ms > *above_ms, format!("{} {ms}ms", latency.name())))
                }
                Self::Errors { above_percent, .. } => {
                    let share = s.by_class[3] as f64 * 100.0 / s.requests() as f64;
                    Some((share > *above_percent, format!("errors {share:.1}%")))
                }
                _ => None,
            }
        };
        let readings: Vec<Option<(bool, String)>> = minutes
            .iter()
            .map(|m| m.filter(|s| s.requests() > 0).and_then(value))
            .collect();
        let holds = !readings.is_empty()
            && readings
                .iter()
                .all(|r| r.as_ref().is_some_and(|(above, _)| *above));
        let latest = readings.last().cloned().flatten();
        Reading {
            holds,
            value: latest.map_or_else(|| "no requests".to_owned(), |(_, v)| v),
        }
    }

    /// Pure: whether a memory sample is above the rule's share of `limit`.
    pub fn memory_above(&self, memory_bytes: u64, limit: u64) -> bool {
        match self {
            Self::Memory { above_percent, .. } if limit > 0 => {
                memory_bytes as f64 * 100.0 / limit as f64 > *above_percent
            }
            _ => false,
        }
    }

    /// How long a sampled condition must last before the rule holds.
    pub fn for_secs(&self) -> u64 {
        match self {
            Self::Latency { for_secs, .. }
            | Self::Errors { for_secs, .. }
            | Self::Memory { for_secs, .. } => *for_secs,
            Self::Crashed => 0,
        }
    }
}

impl fmt::Display for AlertRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One word each, so the canonical form reads back.
        let period = |secs: u64| match secs {
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s => format!("{}m", s / 60),
        };
        match self {
            Self::Latency {
                latency,
                above_ms,
                for_secs,
            } => {
                let limit = match above_ms {
                    ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
                    ms => format!("{ms}ms"),
                };
                write!(f, "{} > {limit} for {}", latency.name(), period(*for_secs))
            }
            Self::Errors {
                above_percent,
                for_secs,
            } => write!(f, "errors > {above_percent}% for {}", period(*for_secs)),
            Self::Memory {
                above_percent,
                for_secs,
            } => write!(f, "memory > {above_percent}% for {}", period(*for_secs)),
            Self::Crashed => f.write_str("crashed"),
        }
    }
}

/// Whether a rule holds now, and the value it saw (`errors 35.0%`, `web.1 crashed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub holds: bool,
    pub value: String,
}

/// A change of an alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    Fired,
    Resolved,
}

impl AlertChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fired => "firing",
            Self::Resolved => "resolved",
        }
    }
}

/// Pure: the change, if any, of an alert that is `firing` when its rule `holds`.
pub fn alert_change(firing: bool, holds: bool) -> Option<AlertChange> {
    match (firing, holds) {
        (false, true) => Some(AlertChange::Fired),
        (true, false) => Some(AlertChange::Resolved),
        _ => None,
    }
}

/// Pure: when a sampled condition that is `above` at `now` has been above since, given when it
/// was above since before (`None`: it was not).
pub fn above_since(previous: Option<i64>, above: bool, now: i64) -> Option<i64> {
    above.then(|| previous.unwrap_or(now))
}

/// Where an app's (or the server's) alerts are POSTed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, AlertError> {
        let bad = || AlertError::Webhook(raw.to_owned());
        let rest = raw
            .strip_prefix("http://")
            .or_else(|| raw.strip_prefix("https://"))
            .ok_or_else(bad)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let ok_char = |c: char| c.is_ascii_graphic() && c != '\\';
        if host.is_empty() || host.starts_with(':') || !raw.chars().all(ok_char) {
            return Err(bad());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The host (and port, if given) the URL names.
    pub fn authority(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, r)| r);
        rest.split(['/', '?', '#']).next().unwrap_or("")
    }

    /// The path and query, `/` when the URL has none.
    pub fn path_and_query(&self) -> String {
        let rest = self.0.split_once("://").map_or("", |(_, r)| r);
        match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => {
                rest[i..].split('#').next().unwrap_or("/").to_owned()
            }
            Some(i) => format!("/{}", rest[i..].split('#').next().unwrap_or("")),
            None => "/".to_owned(),
        }
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_back_in_their_canonical_form() {
        for (raw, canonical) in [
            ("p95 > 500ms for 5m", "p95 > 500ms for 5m"),
            ("p50>2s for 1h", "p50 > 2s for 1h"),
            ("p50 > 2000ms for 90m", "p50 > 2s for 90m"),
            ("  max > 1500ms   for 10m ", "max > 1500ms for 10m"),
            ("p99 > 1ms for 1m", "p99 > 1ms for 1m"),
            ("errors > 2% for 5m", "errors > 2% for 5m"),
            ("errors > 0.5% for 1m", "errors > 0.5% for 1m"),
            ("memory > 90% for 2m", "memory > 90% for 2m"),
            ("memory > 99.9% for 24h", "memory > 99.9% for 24h"),
            ("crashed", "crashed"),
        ] {
            let rule = AlertRule::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(rule.to_string(), canonical, "{raw}");
            assert_eq!(AlertRule::parse(canonical), Ok(rule), "{canonical}");
        }
    }

    #[test]
    fn bad_rules_are_refused_saying_what_is_allowed() {
        for (raw, says) in [
            ("", "not understood"),
            ("p95 < 500ms for 5m", "not understood"),
            ("p90 > 500ms for 5m", "not understood"),
            ("cpu > 50% for 5m", "not understood"),
            ("p95 > 500ms", "not understood"),
            ("crashed for 5m", "not understood"),
            ("p95 > 500 for 5m", "500ms or 2s"),
            ("p95 > 0ms for 5m", "from 1ms to 1h"),
            ("p95 > 2h for 5m", "from 1ms to 1h"),
            ("p95 > 500ms for 30s", "whole minutes from 1m to 24h"),
            ("p95 > 500ms for 90s", "whole minutes"),
            ("p95 > 500ms for 2d", "whole minutes"),
            ("errors > 2 for 5m", "percentage"),
            ("errors > 0% for 5m", "above 0 and below 100"),
            ("errors > 100% for 5m", "below 100"),
            ("memory > abc% for 5m", "percentage"),
            ("memory > -5% for 5m", "percentage"),
        ] {
            let e = AlertRule::parse(raw).unwrap_err().to_string();
            assert!(e.contains(says), "{raw}: {e}");
            assert!(e.contains("\"crashed\""), "{raw}: {e}");
        }
    }

    fn stats(ok: u64, errors: u64, ms: u64) -> RequestStats {
        let mut s = RequestStats::default();
        (0..ok).for_each(|_| s.record(200, ms));
        (0..errors).for_each(|_| s.record(500, ms));
        s
    }

    #[test]
    fn router_rules_need_every_finished_minute_of_their_period() {
        let rule = AlertRule::parse("errors > 10% for 2m").unwrap();
        // At 12:03:04 the minute 12:02 has not settled: 12:00 and 12:01 are the finished ones.
        let now = 1_800_000_000 + 3 * 60 + 4; // 1_800_000_000 starts a minute
        let m = now - now % 60 - 3 * 60;
        assert_eq!(rule.minutes_at(now), vec![m, m + 60]);
        assert_eq!(rule.minutes_at(now + 1), vec![m + 60, m + 120]);
        let (bad, good) = (stats(80, 20, 5), stats(95, 5, 5));
        for (minutes, holds, value) in [
            (vec![Some(&bad), Some(&bad)], true, "errors 20.0%"),
            (vec![Some(&good), Some(&bad)], false, "errors 20.0%"),
            (vec![Some(&bad), Some(&good)], false, "errors 5.0%"),
            (vec![Some(&bad), None], false, "no requests"),
            (vec![None, None], false, "no requests"),
        ] {
            let r = rule.holds_on_minutes(&minutes);
            assert_eq!((r.holds, r.value.as_str()), (holds, value), "{minutes:?}");
        }
        let slow = AlertRule::parse("p95 > 100ms for 1m").unwrap();
        assert!(slow.holds_on_minutes(&[Some(&stats(10, 0, 300))]).holds);
        let r = slow.holds_on_minutes(&[Some(&stats(10, 0, 50))]);
        assert_eq!((r.holds, r.value.as_str()), (false, "p95 50ms"));
        assert!(AlertRule::Crashed.minutes_at(now).is_empty());
        assert!(!AlertRule::Crashed.holds_on_minutes(&[]).holds);
    }

    #[test]
    fn memory_is_compared_to_the_limit_and_must_last() {
        let rule = AlertRule::parse("memory > 90% for 2m").unwrap();
        assert!(rule.memory_above(95, 100));
        assert!(!rule.memory_above(90, 100));
        assert!(!rule.memory_above(95, 0), "no limit, nothing to compare");
        assert!(!AlertRule::Crashed.memory_above(95, 100));
        assert_eq!(rule.for_secs(), 120);
        assert_eq!(above_since(None, true, 10), Some(10));
        assert_eq!(above_since(Some(5), true, 10), Some(5));
        assert_eq!(above_since(Some(5), false, 10), None);
    }

    #[test]
    fn an_alert_changes_only_when_its_rule_turns() {
        assert_eq!(alert_change(false, true), Some(AlertChange::Fired));
        assert_eq!(alert_change(true, false), Some(AlertChange::Resolved));
        assert_eq!(alert_change(true, true), None);
        assert_eq!(alert_change(false, false), None);
    }

    #[test]
    fn webhook_urls_are_http_with_a_host() {
        for (raw, https, authority, path) in [
            (
                "http://127.0.0.1:9000/hook",
                false,
                "127.0.0.1:9000",
                "/hook",
            ),
            ("https://hooks.example.org", true, "hooks.example.org", "/"),
            ("http://h/a?b=c", false, "h", "/a?b=c"),
            ("http://h?b=c", false, "h", "/?b=c"),
        ] {
            let url = WebhookUrl::parse(raw).unwrap();
            assert_eq!(url.is_https(), https, "{raw}");
            assert_eq!(url.authority(), authority, "{raw}");
            assert_eq!(url.path_and_query(), path, "{raw}");
        }
        for raw in [
            "ftp://h/x",
            "http://",
            "http:///x",
            "http://h/ x",
            "h/x",
            "http://:80/",
        ] {
            assert!(WebhookUrl::parse(raw).is_err(), "{raw}");
        }
    }
}
