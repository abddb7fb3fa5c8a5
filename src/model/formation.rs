//! Formation: how many dynos of each process type should run, and `ps:scale` requests that change it.

use std::collections::BTreeMap;
use std::fmt;

use super::procfile::{ProcessType, Procfile};

/// Most dynos of one process type an app may ask for.
pub const MAX_DYNOS_PER_TYPE: u32 = 100;

/// Desired dyno counts per process type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Formation(BTreeMap<ProcessType, u32>);

impl Formation {
    pub fn from_counts(counts: impl IntoIterator<Item = (ProcessType, u32)>) -> Self {
        Self(counts.into_iter().collect())
    }

    /// Heroku's defaults for a first release: one `web` dyno when there is a web type, others 0.
    pub fn defaults_for(procfile: &Procfile) -> Self {
        Self(
            procfile
                .dyno_types()
                .map(|t| (t.clone(), u32::from(t.is_web())))
                .collect(),
        )
    }

    /// The formation for a new release: keeps existing counts, adds new types at their defaults,
    /// and drops types the new Procfile no longer has.
    pub fn carried_to(&self, procfile: &Procfile) -> Self {
        let defaults = Self::defaults_for(procfile);
        Self(
            defaults
                .0
                .into_iter()
                .map(|(t, default)| {
                    let count = self.0.get(&t).copied().unwrap_or(default);
                    (t, count)
                })
                .collect(),
        )
    }

    pub fn count(&self, process_type: &ProcessType) -> u32 {
        self.0.get(process_type).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ProcessType, u32)> {
        self.0.iter().map(|(t, n)| (t, *n))
    }

    /// Applies scale changes; refuses types the Procfile lacks and counts out of bounds.
    pub fn scaled(&self, changes: &[ScaleChange], procfile: &Procfile) -> Result<Self, ScaleError> {
        let mut next = self.clone();
        for change in changes {
            if change.process_type.is_release() {
                return Err(ScaleError::ReleasePhase);
            }
            if procfile.command(&change.process_type).is_none() {
                let known: Vec<_> = procfile.dyno_types().map(|t| t.as_str()).collect();
                return Err(ScaleError::UnknownType {
                    process_type: change.process_type.to_string(),
                    known: known.join(", "),
                });
            }
            let current = i64::from(next.count(&change.process_type));
            let wanted = match change.amount {
                ScaleAmount::Absolute(n) => i64::from(n),
                ScaleAmount::Relative(d) => current + d,
            };
            if !(0..=i64::from(MAX_DYNOS_PER_TYPE)).contains(&wanted) {
                return Err(ScaleError::OutOfRange {
                    process_type: change.process_type.to_string(),
                    wanted,
                });
            }
            next.0.insert(change.process_type.clone(), wanted as u32);
        }
        Ok(next)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleAmount {
    Absolute(u32),
    Relative(i64),
}

/// One argument of `ps:scale`: `web=2`, `worker+1`, `worker-1` (also `web=+1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleChange {
    pub process_type: ProcessType,
    pub amount: ScaleAmount,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    #[error("invalid scale argument {0:?}: use TYPE=N, TYPE+N or TYPE-N, like web=2 or worker+1")]
    Syntax(String),
    #[error("no process type {process_type} in this app's Procfile (it has: {known})")]
    UnknownType { process_type: String, known: String },
    #[error("cannot scale {process_type} to {wanted}: use 0 to {MAX_DYNOS_PER_TYPE} dynos per process type")]
    OutOfRange { process_type: String, wanted: i64 },
    #[error("nothing to scale: give at least one TYPE=N")]
    Nothing,
    #[error("release is the release phase: it runs once per deploy and cannot be scaled")]
    ReleasePhase,
}

impl ScaleChange {
    pub fn parse(raw: &str) -> Result<Self, ScaleError> {
        let err = || ScaleError::Syntax(raw.to_owned());
        // The operator is the last '=', '+' or '-' followed only by digits: process types may
        // themselves contain '-' (`my-job-1` scales `my-job` down by one).
        let (at, op) = raw
            .char_indices()
            .rev()
            .find(|&(i, c)| {
                let tail = &raw[i + 1..];
                matches!(c, '=' | '+' | '-')
                    && !tail.is_empty()
                    && tail.bytes().all(|b| b.is_ascii_digit())
            })
            .ok_or_else(err)?;
        let n: u32 = raw[at + 1..].parse().map_err(|_| err())?;
        let (name, amount) = match op {
            '=' => (&raw[..at], ScaleAmount::Absolute(n)),
            _ => {
                let delta = if op == '+' {
                    i64::from(n)
                } else {
                    -i64::from(n)
                };
                (
                    raw[..at].strip_suffix('=').unwrap_or(&raw[..at]),
                    ScaleAmount::Relative(delta),
                )
            }
        };
        let process_type = ProcessType::parse(name).map_err(|_| err())?;
        Ok(Self {
            process_type,
            amount,
        })
    }
}

/// A dyno's name within its app: `web.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DynoName {
    pub process_type: ProcessType,
    pub index: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid dyno name {0:?}: use TYPE.N, like web.1")]
pub struct DynoNameError(pub String);

impl DynoName {
    pub fn parse(raw: &str) -> Result<Self, DynoNameError> {
        let err = || DynoNameError(raw.to_owned());
        let (t, n) = raw.rsplit_once('.').ok_or_else(err)?;
        let index: u32 = n.parse().map_err(|_| err())?;
        if index == 0 || n.starts_with('0') {
            return Err(err());
        }
        Ok(Self {
            process_type: ProcessType::parse(t).map_err(|_| err())?,
            index,
        })
    }
}

impl fmt::Display for DynoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.process_type, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(s: &str) -> ProcessType {
        ProcessType::parse(s).unwrap()
    }

    fn procfile() -> Procfile {
        Procfile::parse("web: a\nworker: b\nmy-job: c\n").unwrap()
    }

    #[test]
    fn defaults_are_one_web_and_nothing_else() {
        let f = Formation::defaults_for(&procfile());
        assert_eq!(f.count(&pt("web")), 1);
        assert_eq!(f.count(&pt("worker")), 0);
        let no_web = Formation::defaults_for(&Procfile::parse("worker: b").unwrap());
        assert_eq!(no_web.iter().map(|(_, n)| n).sum::<u32>(), 0);
    }

    #[test]
    fn the_release_phase_is_never_a_dyno() {
        let with_release = Procfile::parse("web: a\nrelease: migrate\n").unwrap();
        let f = Formation::defaults_for(&with_release);
        assert_eq!(
            f.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            ["web"]
        );
        assert_eq!(
            f.scaled(&[ScaleChange::parse("release=1").unwrap()], &with_release),
            Err(ScaleError::ReleasePhase)
        );
        assert_eq!(with_release.release_command(), Some("migrate"));
    }

    #[test]
    fn parses_scale_arguments() {
        use ScaleAmount::*;
        for (raw, t, amount) in [
            ("web=2", "web", Absolute(2)),
            ("web=0", "web", Absolute(0)),
            ("worker+1", "worker", Relative(1)),
            ("worker-1", "worker", Relative(-1)),
            ("web=+3", "web", Relative(3)),
            ("web=-2", "web", Relative(-2)),
            ("my-job=4", "my-job", Absolute(4)),
            ("my-job-1", "my-job", Relative(-1)),
            ("my-job+2", "my-job", Relative(2)),
        ] {
            assert_eq!(
                ScaleChange::parse(raw).unwrap(),
                ScaleChange {
                    process_type: pt(t),
                    amount
                },
                "{raw}"
            );
        }
        for bad in [
            "web",
            "web=",
            "=2",
            "web=two",
            "web=2x",
            "we b=1",
            "web+",
            "web=99999999999",
        ] {
            assert!(ScaleChange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scaling_applies_changes_in_order_and_checks_bounds() {
        let f = Formation::defaults_for(&procfile());
        let changes = [
            ScaleChange::parse("web=3").unwrap(),
            ScaleChange::parse("worker+2").unwrap(),
            ScaleChange::parse("web-1").unwrap(),
        ];
        let next = f.scaled(&changes, &procfile()).unwrap();
        assert_eq!((next.count(&pt("web")), next.count(&pt("worker"))), (2, 2));

        let err = f
            .scaled(&[ScaleChange::parse("worker-1").unwrap()], &procfile())
            .unwrap_err();
        assert!(
            matches!(err, ScaleError::OutOfRange { wanted: -1, .. }),
            "{err:?}"
        );
        let err = f
            .scaled(&[ScaleChange::parse("web=101").unwrap()], &procfile())
            .unwrap_err();
        assert!(err.to_string().contains("0 to 100"), "{err}");
        let err = f
            .scaled(&[ScaleChange::parse("clock=1").unwrap()], &procfile())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no process type clock in this app's Procfile (it has: my-job, web, worker)"
        );
    }

    #[test]
    fn formation_carries_over_to_a_new_procfile() {
        let old = Formation::from_counts([(pt("web"), 3), (pt("worker"), 2), (pt("gone"), 1)]);
        let next = old.carried_to(&Procfile::parse("web: a\nworker: b\nclock: c\n").unwrap());
        let counts: Vec<_> = next
            .iter()
            .map(|(t, n)| (t.as_str().to_owned(), n))
            .collect();
        assert_eq!(
            counts,
            [
                ("clock".to_owned(), 0),
                ("web".to_owned(), 3),
                ("worker".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn dyno_names() {
        let d = DynoName::parse("web.1").unwrap();
        assert_eq!((d.process_type.as_str(), d.index), ("web", 1));
        assert_eq!(d.to_string(), "web.1");
        assert_eq!(DynoName::parse("my-job.12").unwrap().index, 12);
        for bad in ["web", "web.0", "web.01", ".1", "web.x", "a b.1"] {
            assert!(DynoName::parse(bad).is_err(), "{bad}");
        }
    }
}
