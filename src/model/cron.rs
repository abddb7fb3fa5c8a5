//! `CronSchedule`: a crontab schedule (five fields or @hourly-style names), validated, and turned
//! into systemd `OnCalendar=` expressions; `CronJob`: a command run on such a schedule.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Longest schedule text accepted; real schedules are a few dozen bytes.
pub const SCHEDULE_MAX_LEN: usize = 200;
/// Longest job command accepted.
pub const COMMAND_MAX_LEN: usize = 4096;

/// A validated crontab schedule. Keeps the text the user wrote (whitespace collapsed) for display,
/// and each field expanded to the set of values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    text: String,
    minutes: BTreeSet<u8>,
    hours: BTreeSet<u8>,
    days: BTreeSet<u8>,
    months: BTreeSet<u8>,
    /// 0 = Sunday … 6 = Saturday; crontab's 7 (also Sunday) is folded into 0.
    weekdays: BTreeSet<u8>,
    /// Whether the day-of-month / day-of-week text starts with `*`: Vixie cron then treats the
    /// field as unrestricted for its "either day field matches" rule, whatever the step.
    days_star: bool,
    weekdays_star: bool,
}

/// A command an app runs on a schedule (app.json's `cron` entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJob {
    pub command: String,
    pub schedule: CronSchedule,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("invalid cron schedule: it is {0} bytes long (at most {SCHEDULE_MAX_LEN})")]
    TooLong(usize),
    #[error("invalid cron schedule {schedule:?}: expected 5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly; got {got}")]
    FieldCount { schedule: String, got: usize },
    #[error("invalid cron schedule {0:?}: @reboot is not supported (skiff runs jobs on a schedule only)")]
    Reboot(String),
    #[error("invalid cron schedule {0:?}: unknown nickname; use @hourly, @daily (or @midnight), @weekly, @monthly or @yearly (or @annually)")]
    UnknownNickname(String),
    #[error(
        "invalid cron schedule {0:?}: a nickname such as @daily stands alone, without other fields"
    )]
    NicknameWithFields(String),
    #[error("invalid cron schedule {schedule:?}: {field} {value} is out of range {min}-{max}")]
    OutOfRange {
        schedule: String,
        field: &'static str,
        value: String,
        min: u8,
        max: u8,
    },
    #[error("invalid cron schedule {schedule:?}: {value:?} is not a valid {field}; use {allowed}")]
    BadValue {
        schedule: String,
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("invalid cron schedule {schedule:?}: {field} range {range} is reversed; write the smaller value first")]
    ReversedRange {
        schedule: String,
        field: &'static str,
        range: String,
    },
    #[error("invalid cron schedule {schedule:?}: the {field} step in {item:?} must be a number from 1 to {max_step}")]
    Step {
        schedule: String,
        field: &'static str,
        item: String,
        max_step: u8,
    },
    #[error("invalid cron schedule {schedule:?}: {field} has an empty list item; separate values with single commas")]
    EmptyItem {
        schedule: String,
        field: &'static str,
    },
    #[error("invalid cron command: it is empty; give the command the job runs")]
    EmptyCommand,
    #[error("invalid cron command {0:?}: it must be a single line without NUL characters")]
    CommandControl(String),
    #[error("invalid cron command: it is {0} bytes long (at most {COMMAND_MAX_LEN})")]
    CommandTooLong(usize),
}

/// One crontab field: its name in messages, its numeric range and its names (if any), the first
/// name standing for `min`.
struct FieldSpec {
    name: &'static str,
    min: u8,
    max: u8,
    names: &'static [&'static str],
    allowed: &'static str,
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    allowed: "0-59",
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    allowed: "0-23",
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    allowed: "1-31",
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    allowed: "1-12 or jan-dec",
};
/// 0-7 as in Vixie cron and cronie: both 0 and 7 are Sunday, so `*/n` and `a/n` run up to 7.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    allowed: "0-7 (0 and 7 are Sunday) or sun-sat",
};

/// systemd's weekday names, indexed like cron (0 = Sunday).
const SYSTEMD_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// The order systemd's weeks (and people) list weekdays in: Monday first.
const MONDAY_FIRST: [u8; 7] = [1, 2, 3, 4, 5, 6, 0];

/// What is wrong with one field; turned into a [`CronError`] once the schedule and field are known.
enum Problem {
    OutOfRange(String),
    BadValue(String),
    Reversed(String),
    Step(String),
    EmptyItem,
}

impl Problem {
    fn into_error(self, schedule: &str, spec: &FieldSpec) -> CronError {
        let schedule = schedule.to_owned();
        let field = spec.name;
        match self {
            Problem::OutOfRange(value) => CronError::OutOfRange {
                schedule,
                field,
                value,
                min: spec.min,
                max: spec.max,
            },
            Problem::BadValue(value) => CronError::BadValue {
                schedule,
                field,
                value,
                allowed: spec.allowed,
            },
            Problem::Reversed(range) => CronError::ReversedRange {
                schedule,
                field,
                range,
            },
            Problem::Step(item) => CronError::Step {
                schedule,
                field,
                item,
                max_step: max_step(spec),
            },
            Problem::EmptyItem => CronError::EmptyItem { schedule, field },
        }
    }
}

/// The largest useful step: one that still reaches past the first value is nonsense beyond this.
fn max_step(spec: &FieldSpec) -> u8 {
    spec.max - spec.min + 1
}

impl CronSchedule {
    pub fn parse(text: &str) -> Result<Self, CronError> {
        if text.len() > SCHEDULE_MAX_LEN {
            return Err(CronError::TooLong(text.len()));
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let normalized = words.join(" ");
        let fields = match words.first() {
            Some(first) if first.starts_with('@') => {
                if words.len() > 1 {
                    return Err(CronError::NicknameWithFields(normalized));
                }
                nickname(first, &normalized)?.split(' ').collect()
            }
            _ => words,
        };
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(CronError::FieldCount {
                schedule: normalized,
                got: fields.len(),
            });
        };
        let field = |text: &str, spec: &FieldSpec| {
            parse_field(text, spec).map_err(|p| p.into_error(&normalized, spec))
        };
        Ok(Self {
            minutes: field(minute, &MINUTE)?,
            hours: field(hour, &HOUR)?,
            days: field(day, &DAY_OF_MONTH)?,
            months: field(month, &MONTH)?,
            // Sunday is both 0 and 7 in crontab; keep one of them so "every day" is 7 values.
            weekdays: field(weekday, &DAY_OF_WEEK)?
                .into_iter()
                .map(|d| d % 7)
                .collect(),
            days_star: day.starts_with('*'),
            weekdays_star: weekday.starts_with('*'),
            text: normalized,
        })
    }

    /// The schedule as written, trimmed, with whitespace collapsed to single spaces.
    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// systemd `OnCalendar=` expressions (`DOW YYYY-MM-DD HH:MM:SS`) that together fire exactly
    /// when cron would run this schedule: one, or two when both day fields are restricted.
    pub fn on_calendar(&self) -> Vec<String> {
        // Cron has no seconds: a job starts at second 0 of each matching minute.
        let time = format!(
            "{}:{}:00",
            numbers(&self.hours, &HOUR),
            numbers(&self.minutes, &MINUTE)
        );
        let months = numbers(&self.months, &MONTH);
        let days = numbers(&self.days, &DAY_OF_MONTH);
        let weekdays = weekday_names(&self.weekdays);
        if !self.days_star && !self.weekdays_star {
            // Cron runs when EITHER day field matches, systemd only when both do: one expression
            // per day field, the other left open — unless one of them already matches every day
            // (`1-31`, `0-7`), which makes the union every day.
            if days == "*" || weekdays.is_none() {
                return vec![calendar(None, &months, "*", &time)];
            }
            return vec![
                calendar(None, &months, &days, &time),
                calendar(weekdays.as_deref(), &months, "*", &time),
            ];
        }
        vec![calendar(weekdays.as_deref(), &months, &days, &time)]
    }
}

impl FromStr for CronSchedule {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl CronJob {
    /// Validates both parts; the command is trimmed and must be one non-empty line.
    pub fn new(command: &str, schedule: &str) -> Result<Self, CronError> {
        let command = command.trim();
        if command.is_empty() {
            return Err(CronError::EmptyCommand);
        }
        if command.len() > COMMAND_MAX_LEN {
            return Err(CronError::CommandTooLong(command.len()));
        }
        // The command ends up on one line of a unit file and in a shell; a line break or NUL
        // would cut it short or smuggle in another line.
        if command.contains(['\0', '\n', '\r']) {
            return Err(CronError::CommandControl(command.to_owned()));
        }
        Ok(Self {
            command: command.to_owned(),
            schedule: CronSchedule::parse(schedule)?,
        })
    }
}

/// The five fields a nickname stands for (as in Vixie cron).
fn nickname(word: &str, schedule: &str) -> Result<&'static str, CronError> {
    match word.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Ok("0 0 1 1 *"),
        "@monthly" => Ok("0 0 1 * *"),
        "@weekly" => Ok("0 0 * * 0"),
        "@daily" | "@midnight" => Ok("0 0 * * *"),
        "@hourly" => Ok("0 * * * *"),
        "@reboot" => Err(CronError::Reboot(schedule.to_owned())),
        _ => Err(CronError::UnknownNickname(schedule.to_owned())),
    }
}

/// A comma list of items, each `*`, `v`, `a-b`, `*/n`, `a-b/n` or `a/n`, expanded to its values.
fn parse_field(text: &str, spec: &FieldSpec) -> Result<BTreeSet<u8>, Problem> {
    let mut values = BTreeSet::new();
    for item in text.split(',') {
        values.extend(parse_item(item, spec)?);
    }
    Ok(values)
}

fn parse_item(item: &str, spec: &FieldSpec) -> Result<impl Iterator<Item = u8>, Problem> {
    if item.is_empty() {
        return Err(Problem::EmptyItem);
    }
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(parse_step(step, item, spec)?)),
        None => (item, None),
    };
    // An empty side ("-5", "1-") says nothing useful on its own; show the whole item instead.
    let value = |text: &str| match parse_value(text, spec) {
        Err(Problem::BadValue(_)) if text.is_empty() => Err(Problem::BadValue(item.to_owned())),
        other => other,
    };
    let (low, high) = if base == "*" {
        (spec.min, spec.max)
    } else if let Some((a, b)) = base.split_once('-') {
        let (low, high) = (value(a)?, value(b)?);
        if low > high {
            return Err(Problem::Reversed(base.to_owned()));
        }
        (low, high)
    } else {
        let v = value(base)?;
        // `a/n` means "from a to the end, every n" (cronie); a lone value is just itself.
        (v, if step.is_some() { spec.max } else { v })
    };
    Ok((low..=high).step_by(step.unwrap_or(1)))
}

fn parse_step(text: &str, item: &str, spec: &FieldSpec) -> Result<usize, Problem> {
    let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u8>() {
        Ok(n) if all_digits && (1..=max_step(spec)).contains(&n) => Ok(usize::from(n)),
        _ => Err(Problem::Step(item.to_owned())),
    }
}

/// A number in the field's range, or one of its names (case-insensitive).
fn parse_value(text: &str, spec: &FieldSpec) -> Result<u8, Problem> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u8 is out of range too, not "not a number".
        return match text.parse::<u8>() {
            Ok(n) if (spec.min..=spec.max).contains(&n) => Ok(n),
            _ => Err(Problem::OutOfRange(text.to_owned())),
        };
    }
    let lower = text.to_ascii_lowercase();
    (spec.min..)
        .zip(spec.names)
        .find(|(_, name)| **name == lower)
        .map(|(value, _)| value)
        .ok_or_else(|| Problem::BadValue(text.to_owned()))
}

/// `*` when the values cover the whole field (systemd then needs no list), else a sorted comma
/// list of two-digit numbers.
fn numbers(values: &BTreeSet<u8>, spec: &FieldSpec) -> String {
    if values.len() == usize::from(max_step(spec)) {
        return "*".to_owned();
    }
    let list: Vec<String> = values.iter().map(|v| format!("{v:02}")).collect();
    list.join(",")
}

/// systemd weekday names, Monday first; `None` when every day is in (the part is then omitted).
fn weekday_names(weekdays: &BTreeSet<u8>) -> Option<String> {
    if weekdays.len() == SYSTEMD_WEEKDAYS.len() {
        return None;
    }
    let names: Vec<&str> = MONDAY_FIRST
        .iter()
        .filter(|d| weekdays.contains(d))
        .map(|d| SYSTEMD_WEEKDAYS[usize::from(*d)])
        .collect();
    Some(names.join(","))
}

fn calendar(weekdays: Option<&str>, months: &str, days: &str, time: &str) -> String {
    match weekdays {
        Some(w) => format!("{w} *-{months}-{days} {time}"),
        None => format!("*-{months}-{days} {time}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(schedule: &str) -> Vec<String> {
        CronSchedule::parse(schedule)
            .unwrap_or_else(|e| panic!("{schedule}: {e}"))
            .on_calendar()
    }

    fn err(schedule: &str) -> String {
        match CronSchedule::parse(schedule) {
            Ok(s) => panic!("{schedule:?} was accepted as {:?}", s.on_calendar()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn renders_every_syntax_form() {
        for (schedule, want) in [
            ("* * * * *", "*-*-* *:*:00"),
            ("*/10 * * * *", "*-*-* *:00,10,20,30,40,50:00"),
            ("30 9 * * 1-5", "Mon,Tue,Wed,Thu,Fri *-*-* 09:30:00"),
            ("0 0 1 * *", "*-*-01 00:00:00"),
            ("0 12 1 jan,jul *", "*-01,07-01 12:00:00"),
            // single values, zero-padded
            ("5 4 * * *", "*-*-* 04:05:00"),
            ("59 23 31 12 *", "*-12-31 23:59:00"),
            // ranges
            ("0-4 * * * *", "*-*-* *:00,01,02,03,04:00"),
            ("0 22-23 * * *", "*-*-* 22,23:00:00"),
            ("0 0 * 3-5 *", "*-03,04,05-* 00:00:00"),
            // steps: */n, a-b/n, a/n (a to the end)
            ("0 */6 * * *", "*-*-* 00,06,12,18:00:00"),
            ("10-30/10 * * * *", "*-*-* *:10,20,30:00"),
            ("45/5 * * * *", "*-*-* *:45,50,55:00"),
            ("0 0 */10 * *", "*-*-01,11,21,31 00:00:00"),
            ("0 0 1 */3 *", "*-01,04,07,10-01 00:00:00"),
            ("0 0 1 2/5 *", "*-02,07,12-01 00:00:00"),
            // lists mixing forms, sorted and deduplicated
            ("30,0,15,45,0 * * * *", "*-*-* *:00,15,30,45:00"),
            ("1,2-4,*/20 * * * *", "*-*-* *:00,01,02,03,04,20,40:00"),
            ("0 9-10,8,*/12 * * *", "*-*-* 00,08,09,10,12:00:00"),
            // steps over the whole range are `*` again
            ("*/1 */1 * * *", "*-*-* *:*:00"),
            ("0-59 0-23 1-31 1-12 0-6", "*-*-* *:*:00"),
            ("0 0 * jan-dec *", "*-*-* 00:00:00"),
            // month names, any case; ranges and steps over names
            ("0 0 1 JAN *", "*-01-01 00:00:00"),
            ("0 0 1 Feb-Apr *", "*-02,03,04-01 00:00:00"),
            ("0 0 1 jan-dec/6 *", "*-01,07-01 00:00:00"),
            // weekdays: numbers, names, Sunday as 0 and 7, Monday-first order, 0-7 is every day
            ("0 0 * * 0", "Sun *-*-* 00:00:00"),
            ("0 0 * * 7", "Sun *-*-* 00:00:00"),
            ("0 0 * * 0,7", "Sun *-*-* 00:00:00"),
            ("0 0 * * 5-7", "Fri,Sat,Sun *-*-* 00:00:00"),
            ("0 0 * * sun,sat", "Sat,Sun *-*-* 00:00:00"),
            ("0 0 * * MON-fri", "Mon,Tue,Wed,Thu,Fri *-*-* 00:00:00"),
            ("0 0 * * */2", "Tue,Thu,Sat,Sun *-*-* 00:00:00"),
            ("0 0 * * 1/2", "Mon,Wed,Fri,Sun *-*-* 00:00:00"),
            ("0 0 * * 0-7", "*-*-* 00:00:00"),
            ("0 0 * * sun-sat", "*-*-* 00:00:00"),
            // leading zeros
            ("05 07 01 01 *", "*-01-01 07:05:00"),
        ] {
            assert_eq!(cal(schedule), [want], "{schedule}");
        }
    }

    #[test]
    fn nicknames_are_their_five_field_schedules() {
        for (schedule, want) in [
            ("@yearly", "*-01-01 00:00:00"),
            ("@annually", "*-01-01 00:00:00"),
            ("@monthly", "*-*-01 00:00:00"),
            ("@weekly", "Sun *-*-* 00:00:00"),
            ("@daily", "*-*-* 00:00:00"),
            ("@midnight", "*-*-* 00:00:00"),
            ("@hourly", "*-*-* *:00:00"),
            ("@HOURLY", "*-*-* *:00:00"),
            ("  @Daily \t", "*-*-* 00:00:00"),
        ] {
            assert_eq!(cal(schedule), [want], "{schedule}");
        }
    }

    #[test]
    fn both_day_fields_restricted_run_when_either_matches() {
        for (schedule, want) in [
            (
                "0 0 1,15 * 1",
                vec!["*-*-01,15 00:00:00", "Mon *-*-* 00:00:00"],
            ),
            (
                "30 8 13 * fri",
                vec!["*-*-13 08:30:00", "Fri *-*-* 08:30:00"],
            ),
            (
                "0 12 1 jan,jul sat,sun",
                vec!["*-01,07-01 12:00:00", "Sat,Sun *-01,07-* 12:00:00"],
            ),
            // a restricted field covering every day makes the union every day
            ("0 0 1-31 * 1", vec!["*-*-* 00:00:00"]),
            ("0 0 1 * 0-7", vec!["*-*-* 00:00:00"]),
            ("0 0 1 7 sun-sat", vec!["*-07-* 00:00:00"]),
        ] {
            assert_eq!(cal(schedule), want, "{schedule}");
        }
    }

    #[test]
    fn a_day_field_starting_with_star_makes_both_day_fields_required() {
        // Vixie cron: `*`-led day fields are unrestricted for the either-rule, so both must match.
        for (schedule, want) in [
            (
                "0 0 */2 * 1",
                "Mon *-*-01,03,05,07,09,11,13,15,17,19,21,23,25,27,29,31 00:00:00",
            ),
            ("0 0 13 * */1", "*-*-13 00:00:00"),
            ("0 0 13 * */2", "Tue,Thu,Sat,Sun *-*-13 00:00:00"),
            ("0 0 * * 1", "Mon *-*-* 00:00:00"),
            ("0 0 13 * *", "*-*-13 00:00:00"),
        ] {
            assert_eq!(cal(schedule), [want], "{schedule}");
        }
    }

    #[test]
    fn shows_the_text_as_written_with_whitespace_collapsed() {
        let s = CronSchedule::parse("  */5\t*  * JAN   mon-fri\n").unwrap();
        assert_eq!(s.as_str(), "*/5 * * JAN mon-fri");
        assert_eq!(s.to_string(), "*/5 * * JAN mon-fri");
        assert_eq!("@Daily".parse::<CronSchedule>().unwrap().as_str(), "@Daily");
        assert_eq!(
            "0 0 * * 0".parse::<CronSchedule>(),
            CronSchedule::parse("0   0 * * 0")
        );
        assert!("61 * * * *".parse::<CronSchedule>().is_err());
    }

    #[test]
    fn refuses_bad_schedules_saying_what_is_wrong() {
        let fields = "expected 5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly";
        for (schedule, want) in [
            // field count
            ("", format!(r#"invalid cron schedule "": {fields}; got 0"#)),
            ("   ", format!(r#"invalid cron schedule "": {fields}; got 0"#)),
            ("* * *", format!(r#"invalid cron schedule "* * *": {fields}; got 3"#)),
            (
                "* * * * * *",
                format!(r#"invalid cron schedule "* * * * * *": {fields}; got 6"#),
            ),
            (
                "* * * * * /bin/job",
                format!(r#"invalid cron schedule "* * * * * /bin/job": {fields}; got 6"#),
            ),
            // nicknames
            (
                "@reboot",
                r#"invalid cron schedule "@reboot": @reboot is not supported (skiff runs jobs on a schedule only)"#.to_owned(),
            ),
            (
                "@REBOOT",
                r#"invalid cron schedule "@REBOOT": @reboot is not supported (skiff runs jobs on a schedule only)"#.to_owned(),
            ),
            (
                "@often",
                r#"invalid cron schedule "@often": unknown nickname; use @hourly, @daily (or @midnight), @weekly, @monthly or @yearly (or @annually)"#.to_owned(),
            ),
            (
                "@daily 0",
                r#"invalid cron schedule "@daily 0": a nickname such as @daily stands alone, without other fields"#.to_owned(),
            ),
            // out of range, in every field and inside ranges
            (
                "61 * * * *",
                r#"invalid cron schedule "61 * * * *": minute 61 is out of range 0-59"#.to_owned(),
            ),
            (
                "0 24 * * *",
                r#"invalid cron schedule "0 24 * * *": hour 24 is out of range 0-23"#.to_owned(),
            ),
            (
                "0 0 0 * *",
                r#"invalid cron schedule "0 0 0 * *": day-of-month 0 is out of range 1-31"#.to_owned(),
            ),
            (
                "0 0 32 * *",
                r#"invalid cron schedule "0 0 32 * *": day-of-month 32 is out of range 1-31"#.to_owned(),
            ),
            (
                "0 0 * 13 *",
                r#"invalid cron schedule "0 0 * 13 *": month 13 is out of range 1-12"#.to_owned(),
            ),
            (
                "0 0 * 0 *",
                r#"invalid cron schedule "0 0 * 0 *": month 0 is out of range 1-12"#.to_owned(),
            ),
            (
                "0 0 * * 8",
                r#"invalid cron schedule "0 0 * * 8": day-of-week 8 is out of range 0-7"#.to_owned(),
            ),
            (
                "0-60 * * * *",
                r#"invalid cron schedule "0-60 * * * *": minute 60 is out of range 0-59"#.to_owned(),
            ),
            (
                "99999999999 * * * *",
                r#"invalid cron schedule "99999999999 * * * *": minute 99999999999 is out of range 0-59"#.to_owned(),
            ),
            // reversed ranges
            (
                "0 5-3 * * *",
                r#"invalid cron schedule "0 5-3 * * *": hour range 5-3 is reversed; write the smaller value first"#.to_owned(),
            ),
            (
                "0 0 * * fri-mon",
                r#"invalid cron schedule "0 0 * * fri-mon": day-of-week range fri-mon is reversed; write the smaller value first"#.to_owned(),
            ),
            // steps
            (
                "*/0 * * * *",
                r#"invalid cron schedule "*/0 * * * *": the minute step in "*/0" must be a number from 1 to 60"#.to_owned(),
            ),
            (
                "0 1-5/0 * * *",
                r#"invalid cron schedule "0 1-5/0 * * *": the hour step in "1-5/0" must be a number from 1 to 24"#.to_owned(),
            ),
            (
                "*/61 * * * *",
                r#"invalid cron schedule "*/61 * * * *": the minute step in "*/61" must be a number from 1 to 60"#.to_owned(),
            ),
            (
                "*/ * * * *",
                r#"invalid cron schedule "*/ * * * *": the minute step in "*/" must be a number from 1 to 60"#.to_owned(),
            ),
            (
                "*/2/3 * * * *",
                r#"invalid cron schedule "*/2/3 * * * *": the minute step in "*/2/3" must be a number from 1 to 60"#.to_owned(),
            ),
            (
                "*/+2 * * * *",
                r#"invalid cron schedule "*/+2 * * * *": the minute step in "*/+2" must be a number from 1 to 60"#.to_owned(),
            ),
            // empty list items
            (
                "1,,2 * * * *",
                r#"invalid cron schedule "1,,2 * * * *": minute has an empty list item; separate values with single commas"#.to_owned(),
            ),
            (
                "0 0 * * 1,",
                r#"invalid cron schedule "0 0 * * 1,": day-of-week has an empty list item; separate values with single commas"#.to_owned(),
            ),
            (
                ",0 * * * *",
                r#"invalid cron schedule ",0 * * * *": minute has an empty list item; separate values with single commas"#.to_owned(),
            ),
            // unknown names, names in numeric fields, junk
            (
                "0 0 1 janu *",
                r#"invalid cron schedule "0 0 1 janu *": "janu" is not a valid month; use 1-12 or jan-dec"#.to_owned(),
            ),
            (
                "0 0 * * funday",
                r#"invalid cron schedule "0 0 * * funday": "funday" is not a valid day-of-week; use 0-7 (0 and 7 are Sunday) or sun-sat"#.to_owned(),
            ),
            (
                "0 0 jan * *",
                r#"invalid cron schedule "0 0 jan * *": "jan" is not a valid day-of-month; use 1-31"#.to_owned(),
            ),
            (
                "5x * * * *",
                r#"invalid cron schedule "5x * * * *": "5x" is not a valid minute; use 0-59"#.to_owned(),
            ),
            (
                "+5 * * * *",
                r#"invalid cron schedule "+5 * * * *": "+5" is not a valid minute; use 0-59"#.to_owned(),
            ),
            (
                "1-2-3 * * * *",
                r#"invalid cron schedule "1-2-3 * * * *": "2-3" is not a valid minute; use 0-59"#.to_owned(),
            ),
            (
                "-5 * * * *",
                r#"invalid cron schedule "-5 * * * *": "-5" is not a valid minute; use 0-59"#.to_owned(),
            ),
            (
                "0 1- * * *",
                r#"invalid cron schedule "0 1- * * *": "1-" is not a valid hour; use 0-23"#.to_owned(),
            ),
            (
                "*-5 * * * *",
                r#"invalid cron schedule "*-5 * * * *": "*" is not a valid minute; use 0-59"#.to_owned(),
            ),
            (
                "** * * * *",
                r#"invalid cron schedule "** * * * *": "**" is not a valid minute; use 0-59"#.to_owned(),
            ),
            (
                "? * * * *",
                r#"invalid cron schedule "? * * * *": "?" is not a valid minute; use 0-59"#.to_owned(),
            ),
            (
                "0 0 L * *",
                r#"invalid cron schedule "0 0 L * *": "L" is not a valid day-of-month; use 1-31"#.to_owned(),
            ),
        ] {
            assert_eq!(err(schedule), want, "{schedule:?}");
        }
    }

    #[test]
    fn refuses_overlong_schedules() {
        let long = format!("{}* * * * *", " ".repeat(SCHEDULE_MAX_LEN));
        assert_eq!(
            CronSchedule::parse(&long),
            Err(CronError::TooLong(SCHEDULE_MAX_LEN + 9))
        );
        assert_eq!(
            CronError::TooLong(209).to_string(),
            "invalid cron schedule: it is 209 bytes long (at most 200)"
        );
        let exactly = format!("{}* * * * *", " ".repeat(SCHEDULE_MAX_LEN - 9));
        assert!(CronSchedule::parse(&exactly).is_ok());
    }

    #[test]
    fn jobs_need_a_one_line_command_and_a_valid_schedule() {
        let job = CronJob::new("  python task.py \n", "*/10 * * * *").unwrap();
        assert_eq!(job.command, "python task.py");
        assert_eq!(job.schedule.as_str(), "*/10 * * * *");
        for (command, want) in [
            (
                "",
                "invalid cron command: it is empty; give the command the job runs",
            ),
            (
                " \t\n",
                "invalid cron command: it is empty; give the command the job runs",
            ),
            (
                "echo a\necho b",
                r#"invalid cron command "echo a\necho b": it must be a single line without NUL characters"#,
            ),
            (
                "echo a\rb",
                r#"invalid cron command "echo a\rb": it must be a single line without NUL characters"#,
            ),
            (
                "echo \0",
                r#"invalid cron command "echo \0": it must be a single line without NUL characters"#,
            ),
        ] {
            assert_eq!(
                CronJob::new(command, "@daily").unwrap_err().to_string(),
                want,
                "{command:?}"
            );
        }
        let long = "x".repeat(COMMAND_MAX_LEN + 1);
        assert_eq!(
            CronJob::new(&long, "@daily").unwrap_err().to_string(),
            "invalid cron command: it is 4097 bytes long (at most 4096)"
        );
        assert!(CronJob::new(&"x".repeat(COMMAND_MAX_LEN), "@daily").is_ok());
        assert_eq!(
            CronJob::new("run", "@reboot").unwrap_err(),
            CronError::Reboot("@reboot".to_owned())
        );
    }
}
