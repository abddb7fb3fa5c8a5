//! Scheduled add-on backups, pure: the daily time they are taken at (`02:00 Europe/Berlin`,
//! turned into a systemd `OnCalendar=` expression), how many of them are kept (the newest of
//! each of the last N days and M weeks), and which ones retention deletes.

use std::fmt;
use std::time::{Duration, SystemTime};

use super::backup::{BackupId, BackupKind, BackupStatus};

/// Longest time zone name accepted (the tz database's longest is 32 characters).
const ZONE_MAX_LEN: usize = 64;
const DAY_SECS: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid backup time {0:?}: give the hour and minute of each day, like '02:00' or '02:00 Europe/Berlin'")]
    Time(String),
    #[error("invalid time zone {0:?}: give a tz database name like Europe/Berlin or UTC")]
    Zone(String),
    #[error("invalid retention: keep at least one daily or weekly backup")]
    KeepNothing,
}

/// When an add-on's scheduled backup is taken: every day at `hour:minute` in `zone` (a tz
/// database name; UTC when none is given). Whether the zone exists on this host is for the
/// caller to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    hour: u8,
    minute: u8,
    zone: String,
}

impl BackupSchedule {
    /// `02:00`, `2:00 UTC`, `02:30 America/New_York` (Heroku's `--at` syntax).
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let mut words = text.split_whitespace();
        let time = words
            .next()
            .ok_or_else(|| ScheduleError::Time(text.to_owned()))?;
        let zone = words.next().unwrap_or("UTC");
        if words.next().is_some() {
            return Err(ScheduleError::Time(text.to_owned()));
        }
        let (hour, minute) =
            parse_time(time).ok_or_else(|| ScheduleError::Time(text.to_owned()))?;
        if !valid_zone(zone) {
            return Err(ScheduleError::Zone(zone.to_owned()));
        }
        Ok(Self {
            hour,
            minute,
            zone: zone.to_owned(),
        })
    }

    /// The tz database name, which is also its file's path under `/usr/share/zoneinfo`.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// systemd's calendar expression: every day at that time in that zone.
    pub fn on_calendar(&self) -> String {
        format!("*-*-* {:02}:{:02}:00 {}", self.hour, self.minute, self.zone)
    }
}

impl fmt::Display for BackupSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02} {}", self.hour, self.minute, self.zone)
    }
}

fn parse_time(time: &str) -> Option<(u8, u8)> {
    let (hour, minute) = time.split_once(':')?;
    let digits = |s: &str, max: u8| -> Option<u8> {
        let ok = (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        s.parse::<u8>().ok().filter(|n| ok && *n <= max)
    };
    let minute_ok = minute.len() == 2;
    Some((digits(hour, 23)?, digits(minute, 59).filter(|_| minute_ok)?))
}

/// A tz database name: components of letters, digits, `_`, `-` and `+` joined by `/`, none
/// empty or starting with a dot, so it can only name a file under the zoneinfo folder.
fn valid_zone(zone: &str) -> bool {
    zone.len() <= ZONE_MAX_LEN
        && zone.split('/').all(|part| {
            !part.is_empty()
                && part.as_bytes()[0].is_ascii_alphanumeric()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
        })
}

/// How many scheduled backups retention keeps: the newest of each of the last `daily` days
/// that have one, and the newest of each of the last `weekly` weeks (Monday to Sunday, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    daily: u32,
    weekly: u32,
}

impl Retention {
    pub fn new(daily: u32, weekly: u32) -> Result<Self, ScheduleError> {
        if daily == 0 && weekly == 0 {
            return Err(ScheduleError::KeepNothing);
        }
        Ok(Self { daily, weekly })
    }

    pub fn daily(self) -> u32 {
        self.daily
    }

    pub fn weekly(self) -> u32 {
        self.weekly
    }
}

/// What retention needs to know of one backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainedBackup {
    pub id: BackupId,
    pub kind: BackupKind,
    pub status: BackupStatus,
    pub started: SystemTime,
}

/// The backups retention deletes, given every backup of one add-on. Only scheduled backups are
/// ever pruned (manual and safety ones stay until deleted): checked ones beyond the newest of
/// each kept day and week, and failed ones once older than the daily window (they stay that
/// long so the failure shows). Backups in progress are never touched.
pub fn prune(backups: &[RetainedBackup], keep: Retention, now: SystemTime) -> Vec<BackupId> {
    let mut checked: Vec<&RetainedBackup> = backups
        .iter()
        .filter(|b| b.kind == BackupKind::Scheduled && b.status == BackupStatus::Checked)
        .collect();
    checked.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    let day = |b: &RetainedBackup| epoch_secs(b.started) / DAY_SECS;
    // 1970-01-01 was a Thursday: day 4 is the first Monday.
    let week = |b: &RetainedBackup| (epoch_secs(b.started) / DAY_SECS + 3) / 7;
    let kept_daily = newest_per_period(&checked, day, keep.daily);
    let kept_weekly = newest_per_period(&checked, week, keep.weekly);
    let failed_window = Duration::from_secs(DAY_SECS * u64::from(keep.daily.max(1)));
    let mut pruned: Vec<BackupId> = checked
        .iter()
        .map(|b| b.id)
        .filter(|id| !kept_daily.contains(id) && !kept_weekly.contains(id))
        .collect();
    pruned.extend(
        backups
            .iter()
            .filter(|b| b.kind == BackupKind::Scheduled && b.status == BackupStatus::Failed)
            .filter(|b| now.duration_since(b.started).unwrap_or_default() > failed_window)
            .map(|b| b.id),
    );
    pruned.sort();
    pruned
}

/// The first backup (they come newest first) of each of the first `count` periods.
fn newest_per_period(
    newest_first: &[&RetainedBackup],
    period: impl Fn(&RetainedBackup) -> u64,
    count: u32,
) -> Vec<BackupId> {
    let mut kept = Vec::new();
    let mut last = None;
    for b in newest_first {
        let p = period(b);
        if last == Some(p) {
            continue;
        }
        if kept.len() as u32 == count {
            break;
        }
        last = Some(p);
        kept.push(b.id);
    }
    kept
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_herokus_at() {
        let cases = [
            ("02:00", "02:00 UTC", "*-*-* 02:00:00 UTC"),
            ("2:00", "02:00 UTC", "*-*-* 02:00:00 UTC"),
            (
                "02:30 Europe/Berlin",
                "02:30 Europe/Berlin",
                "*-*-* 02:30:00 Europe/Berlin",
            ),
            (
                " 23:59   America/Argentina/Buenos_Aires ",
                "23:59 America/Argentina/Buenos_Aires",
                "*-*-* 23:59:00 America/Argentina/Buenos_Aires",
            ),
            (
                "00:00 Etc/GMT+5",
                "00:00 Etc/GMT+5",
                "*-*-* 00:00:00 Etc/GMT+5",
            ),
        ];
        for (text, shown, calendar) in cases {
            let s = BackupSchedule::parse(text).unwrap();
            assert_eq!(s.to_string(), shown, "{text}");
            assert_eq!(s.on_calendar(), calendar, "{text}");
        }
    }

    #[test]
    fn bad_times_and_zones_are_refused() {
        for bad in [
            "",
            "24:00",
            "02:60",
            "02",
            "2:5",
            "02:000",
            "-1:00",
            "02:00 UTC extra",
            "0x2:00",
            "02:00:00",
        ] {
            assert!(
                matches!(BackupSchedule::parse(bad), Err(ScheduleError::Time(_))),
                "{bad:?}"
            );
        }
        let long = format!("02:00 {}", "a".repeat(65));
        for bad in [
            "02:00 ../etc/passwd",
            "02:00 /etc/localtime",
            "02:00 Europe//Berlin",
            "02:00 Europe/",
            "02:00 .hidden",
            "02:00 Europe/Ber;lin",
            long.as_str(),
        ] {
            assert!(
                matches!(BackupSchedule::parse(bad), Err(ScheduleError::Zone(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn retention_keeps_something() {
        assert_eq!(Retention::new(0, 0), Err(ScheduleError::KeepNothing));
        assert_eq!(Retention::new(7, 4).unwrap().daily(), 7);
        assert_eq!(Retention::new(0, 4).unwrap().weekly(), 4);
    }

    /// A backup started `days` (fractional) after Monday 2026-01-05 00:00 UTC.
    fn at(days: f64) -> SystemTime {
        let secs = 1_767_571_200.0 + days * 86_400.0;
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    fn backup(n: u32, kind: BackupKind, status: BackupStatus, days: f64) -> RetainedBackup {
        RetainedBackup {
            id: BackupId::new(n),
            kind,
            status,
            started: at(days),
        }
    }

    fn ids(numbers: &[u32]) -> Vec<BackupId> {
        numbers.iter().map(|n| BackupId::new(*n)).collect()
    }

    #[test]
    fn the_anchor_day_is_a_monday() {
        // 2026-01-05 is a Monday: its week starts that day.
        let monday = backup(1, BackupKind::Scheduled, BackupStatus::Checked, 0.0);
        let sunday = backup(2, BackupKind::Scheduled, BackupStatus::Checked, -0.5);
        let week = |b: &RetainedBackup| (epoch_secs(b.started) / DAY_SECS + 3) / 7;
        assert_eq!(week(&monday), week(&sunday) + 1);
    }

    #[test]
    fn retention_keeps_the_newest_of_each_day_and_week_and_only_prunes_scheduled_ones() {
        use BackupKind::{Manual, Safety, Scheduled};
        use BackupStatus::{Checked, Checking, Failed, Running};
        // One scheduled backup a day for 40 days (b1 on day 0 … b40 on day 39), a manual and a
        // safety one among them.
        let daily: Vec<RetainedBackup> = (0..40)
            .map(|d| backup(d + 1, Scheduled, Checked, f64::from(d) + 0.1))
            .collect();
        let now = at(39.5);
        let cases: [(Vec<RetainedBackup>, Retention, Vec<BackupId>); 6] = [
            // Days 33–39 (b34…b40) are the 7 daily; the newest of the last 4 weeks are b40
            // (week of day 35), b35 (day 34), b28 (day 27) and b21 (day 20).
            (
                daily.clone(),
                Retention::new(7, 4).unwrap(),
                ids(&(1..=20).chain(22..=27).chain(29..=33).collect::<Vec<_>>()),
            ),
            (
                daily.clone(),
                Retention::new(1, 0).unwrap(),
                ids(&(1..=39).collect::<Vec<_>>()),
            ),
            (
                daily[..3].to_vec(),
                Retention::new(7, 4).unwrap(),
                Vec::new(),
            ),
            // Two on the same day: the older one goes.
            (
                vec![
                    backup(1, Scheduled, Checked, 0.1),
                    backup(2, Scheduled, Checked, 0.9),
                    backup(3, Scheduled, Checked, 1.1),
                ],
                Retention::new(2, 0).unwrap(),
                ids(&[1]),
            ),
            // Manual, safety and in-progress backups are never pruned; an old failed scheduled
            // one is, a recent one is not.
            (
                vec![
                    backup(1, Manual, Checked, 0.0),
                    backup(2, Safety, Checked, 0.0),
                    backup(3, Scheduled, Failed, 30.0),
                    backup(4, Scheduled, Failed, 38.0),
                    backup(5, Scheduled, Running, 39.0),
                    backup(6, Scheduled, Checking, 39.0),
                    backup(7, Scheduled, Checked, 39.1),
                    backup(8, Manual, Failed, 1.0),
                ],
                Retention::new(7, 4).unwrap(),
                ids(&[3]),
            ),
            (Vec::new(), Retention::new(7, 4).unwrap(), Vec::new()),
        ];
        for (backups, keep, expected) in cases {
            assert_eq!(prune(&backups, keep, now), expected, "{keep:?}");
        }
    }
}
