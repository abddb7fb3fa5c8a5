//! Add-on backups, pure: their ids (`b007`), what state they are in, the census a dump is
//! checked against (tables and row counts, keys) and the free-space rule that refuses to start
//! one.

use std::collections::BTreeMap;
use std::fmt;

/// One backup of an add-on, numbered per add-on from 1 and shown as `b001` (Heroku's style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupId(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a backup id; ids look like b001 (skiff pg:backups lists them)")]
pub struct BackupIdError(String);

impl BackupId {
    pub fn new(number: u32) -> Self {
        Self(number)
    }

    /// `b7`, `b007` or `7`.
    pub fn parse(text: &str) -> Result<Self, BackupIdError> {
        let digits = text.strip_prefix('b').unwrap_or(text);
        let valid =
            !digits.is_empty() && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit());
        match digits.parse::<u32>() {
            Ok(n) if valid && n > 0 => Ok(Self(n)),
            _ => Err(BackupIdError(text.to_owned())),
        }
    }

    pub fn number(self) -> u32 {
        self.0
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{:03}", self.0)
    }
}

/// Where a backup is. Only `checked` is a good backup; `running` and `checking` are in progress
/// and become `failed` when skiffd finds them at start (a crash or restart interrupted them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupStatus {
    Running,
    Checking,
    Checked,
    Failed,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Checking => "checking",
            Self::Checked => "checked",
            Self::Failed => "failed",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Running, Self::Checking, Self::Checked, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Why a backup was taken: by hand (kept until deleted), by its schedule (retention prunes
/// these), or as the safety copy a restore takes first (kept until deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    Manual,
    Scheduled,
    Safety,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
            Self::Safety => "safety",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Manual, Self::Scheduled, Self::Safety]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// What a database holds, counted: rows per table (`schema.table`) for Postgres, keys per
/// logical database (`db0`) for Redis.
pub type Census = BTreeMap<String, u64>;

/// Why a dump does not hold what its database held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckMismatch {
    #[error("the dump restored nothing, but the database holds {0}")]
    Empty(String),
    #[error("{name} is missing from the restored dump")]
    Missing { name: String },
    #[error("{name} is in the restored dump but was not in the database")]
    Extra { name: String },
    #[error("the snapshot holds {loaded} keys where the server held {held}: {apart} apart, more than the {tolerance} that changed or could expire meanwhile")]
    Apart {
        apart: u64,
        tolerance: u64,
        held: u64,
        loaded: u64,
    },
    #[error("{name} holds {restored} in the restored dump, but {expected} in the database")]
    Count {
        name: String,
        expected: u64,
        restored: u64,
    },
}

fn describe(census: &Census) -> String {
    let rows: u64 = census.values().sum();
    format!("{} tables and {rows} rows", census.len())
}

/// Checks a restored dump against the census taken in the dump's own snapshot: the same
/// tables with the same row counts, exactly.
pub fn compare_exact(expected: &Census, restored: &Census) -> Result<(), CheckMismatch> {
    if restored.is_empty() && !expected.is_empty() {
        return Err(CheckMismatch::Empty(describe(expected)));
    }
    for (name, &count) in expected {
        match restored.get(name) {
            None => return Err(CheckMismatch::Missing { name: name.clone() }),
            Some(&got) if got != count => {
                return Err(CheckMismatch::Count {
                    name: name.clone(),
                    expected: count,
                    restored: got,
                })
            }
            Some(_) => {}
        }
    }
    match restored.keys().find(|name| !expected.contains_key(*name)) {
        Some(name) => Err(CheckMismatch::Extra { name: name.clone() }),
        None => Ok(()),
    }
}

/// Checks a loaded Redis snapshot against the key counts the server gave once the snapshot was
/// taken, when `tolerance` writes and expiring keys may have changed them since: exact when
/// it is 0, otherwise the counts may differ by that many in all. An empty snapshot of a
/// server that held more keys than that is never good.
pub fn compare_within(
    expected: &Census,
    restored: &Census,
    tolerance: u64,
) -> Result<(), CheckMismatch> {
    if tolerance == 0 {
        return compare_exact(expected, restored);
    }
    let held: u64 = expected.values().sum();
    let loaded: u64 = restored.values().sum();
    if loaded == 0 && held > tolerance {
        return Err(CheckMismatch::Empty(format!("{held} keys")));
    }
    let names: std::collections::BTreeSet<&String> =
        expected.keys().chain(restored.keys()).collect();
    let apart: u64 = names
        .iter()
        .map(|name| {
            let (e, r) = (expected.get(*name), restored.get(*name));
            e.copied().unwrap_or(0).abs_diff(r.copied().unwrap_or(0))
        })
        .sum();
    if apart > tolerance {
        return Err(CheckMismatch::Apart {
            apart,
            tolerance,
            held,
            loaded,
        });
    }
    Ok(())
}

/// Whether a backup of about `estimate` bytes may start with `free` bytes free on the backup
/// disk, keeping at least `floor` free; the refusal says how much is missing.
pub fn check_free_space(free: u64, estimate: u64, floor: u64) -> Result<(), String> {
    let needed = estimate.saturating_add(floor);
    if free >= needed {
        return Ok(());
    }
    Err(format!(
        "not enough disk space for a backup: {free} bytes free, a backup of about {estimate} bytes \
         would leave less than the free-space floor of {floor} bytes (backup_free_space_floor in \
         skiffd.toml)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(pairs: &[(&str, u64)]) -> Census {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn ids_parse_and_print_like_heroku() {
        for (text, number) in [("b001", 1), ("b7", 7), ("12", 12), ("b1000", 1000)] {
            assert_eq!(BackupId::parse(text).unwrap().number(), number, "{text}");
        }
        for bad in [
            "",
            "b",
            "b0",
            "0",
            "a001",
            "b-1",
            "b1x",
            "b12345678901",
            " b1",
        ] {
            assert!(BackupId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(BackupId::new(3).to_string(), "b003");
        assert_eq!(BackupId::new(1234).to_string(), "b1234");
    }

    #[test]
    fn statuses_and_kinds_round_trip() {
        for s in [
            BackupStatus::Running,
            BackupStatus::Checking,
            BackupStatus::Checked,
            BackupStatus::Failed,
        ] {
            assert_eq!(BackupStatus::parse(s.as_str()), Some(s));
        }
        for k in [
            BackupKind::Manual,
            BackupKind::Scheduled,
            BackupKind::Safety,
        ] {
            assert_eq!(BackupKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(BackupStatus::parse("completed"), None);
        assert_eq!(BackupKind::parse("daily"), None);
    }

    #[test]
    fn a_restored_dump_must_hold_exactly_what_the_database_held() {
        let db = census(&[("public.a", 3), ("public.b", 0)]);
        let cases: [(Census, Option<&str>); 6] = [
            (db.clone(), None),
            (Census::new(), Some("restored nothing")),
            (census(&[("public.a", 3)]), Some("public.b is missing")),
            (census(&[("public.a", 2), ("public.b", 0)]), Some("holds 2")),
            (
                census(&[("public.a", 3), ("public.b", 0), ("public.c", 1)]),
                Some("public.c is in the restored dump"),
            ),
            (census(&[("public.a", 3), ("public.b", 1)]), Some("but 0")),
        ];
        for (restored, error) in cases {
            let got = compare_exact(&db, &restored).map_err(|e| e.to_string());
            match error {
                None => assert_eq!(got, Ok(()), "{restored:?}"),
                Some(part) => assert!(got.unwrap_err().contains(part), "{restored:?}"),
            }
        }
        assert_eq!(compare_exact(&Census::new(), &Census::new()), Ok(()));
    }

    #[test]
    fn a_snapshot_may_differ_by_what_changed_since_it_was_taken() {
        let held = census(&[("db0", 10), ("db1", 2)]);
        let cases: [(Census, u64, Option<&str>); 7] = [
            (held.clone(), 0, None),
            (census(&[("db0", 9), ("db1", 2)]), 0, Some("holds 9")),
            (census(&[("db0", 9), ("db1", 2)]), 1, None),
            (census(&[("db0", 9), ("db1", 3)]), 2, None),
            (census(&[("db0", 8), ("db2", 1)]), 4, Some("5 apart")),
            (
                Census::new(),
                5,
                Some("restored nothing, but the database holds 12 keys"),
            ),
            (Census::new(), 12, None),
        ];
        for (restored, tolerance, error) in cases {
            let got = compare_within(&held, &restored, tolerance).map_err(|e| e.to_string());
            match error {
                None => assert_eq!(got, Ok(()), "{restored:?} {tolerance}"),
                Some(part) => assert!(got.unwrap_err().contains(part), "{restored:?} {tolerance}"),
            }
        }
    }

    #[test]
    fn a_backup_keeps_the_floor_free() {
        assert_eq!(check_free_space(10, 3, 7), Ok(()));
        assert!(check_free_space(9, 3, 7)
            .unwrap_err()
            .contains("9 bytes free"));
        assert!(check_free_space(0, 0, 1).is_err());
        assert_eq!(check_free_space(u64::MAX, u64::MAX, u64::MAX), Ok(()));
        assert!(check_free_space(5, u64::MAX, 1).is_err());
    }
}
