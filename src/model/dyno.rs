//! Dynos as domain data: size overrides and the limits they come to, holds (a dyno kept down on
//! purpose) and which dynos an operation applies to.

use super::{DynoName, Formation, ProcessType, Procfile, ScaleError};

/// Per-process-type size overrides; `None` means the configured default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DynoSize {
    pub memory_bytes: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub tasks: Option<u64>,
}

/// Resource limits of one dyno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Percent of one CPU (200 = two cores).
    pub cpu_percent: u32,
    pub tasks: u64,
}

/// Why a dyno is held down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    Stopped,
    Crashed,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Crashed => "crashed",
        }
    }

    /// Reads [`HoldReason::as_str`] back; anything but `crashed` is a stop.
    pub fn parse(raw: &str) -> Self {
        if raw == "crashed" {
            Self::Crashed
        } else {
            Self::Stopped
        }
    }
}

/// A dyno kept down on purpose: stopped by `ps:stop`, or crashed until the next deploy/restart/scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub dyno: DynoName,
    pub reason: HoldReason,
    pub since: String,
}

/// Which dynos of an app a restart or hold-clearing applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynoFilter {
    All,
    Type(ProcessType),
    One(DynoName),
}

impl DynoFilter {
    pub fn matches(&self, dyno: &DynoName) -> bool {
        match self {
            Self::All => true,
            Self::Type(t) => &dyno.process_type == t,
            Self::One(d) => d == dyno,
        }
    }
}

/// Refuses to resize a process type the live release's Procfile does not have.
pub fn check_resizable(procfile: &Procfile, process_type: &ProcessType) -> Result<(), ScaleError> {
    if procfile.command(process_type).is_some() {
        return Ok(());
    }
    let known: Vec<_> = procfile.process_types().map(|t| t.as_str()).collect();
    Err(ScaleError::UnknownType {
        process_type: process_type.to_string(),
        known: known.join(", "),
    })
}

/// What lets held dynos start again: a new release (deploy, config change, rollback), a scale,
/// or a restart of the dynos it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldRelease {
    NewRelease,
    Scale,
    Restart(DynoFilter),
}

impl HoldRelease {
    /// The dynos whose holds end: all of the app's for a new release or a scale, the matching
    /// ones for a restart.
    pub fn dynos(&self) -> DynoFilter {
        match self {
            Self::NewRelease | Self::Scale => DynoFilter::All,
            Self::Restart(filter) => filter.clone(),
        }
    }
}

/// The dynos `ps:restart` gives a new generation: the matching web dynos of the formation
/// (the reconciler starts replacements beside them; other dynos restart in place).
pub fn restarted_web_dynos(formation: &Formation, filter: &DynoFilter) -> Vec<DynoName> {
    formation
        .iter()
        .filter(|(t, _)| t.is_web())
        .flat_map(|(t, quantity)| {
            (1..=quantity).map(move |index| DynoName {
                process_type: t.clone(),
                index,
            })
        })
        .filter(|dyno| filter.matches(dyno))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dyno(name: &str) -> DynoName {
        DynoName::parse(name).unwrap()
    }

    fn process(name: &str) -> ProcessType {
        ProcessType::parse(name).unwrap()
    }

    #[test]
    fn holds_end_with_a_release_a_scale_or_a_restart_of_the_dyno() {
        let cases = [
            (HoldRelease::NewRelease, "worker.3", true),
            (HoldRelease::Scale, "web.1", true),
            (HoldRelease::Restart(DynoFilter::All), "web.2", true),
            (
                HoldRelease::Restart(DynoFilter::Type(process("web"))),
                "web.2",
                true,
            ),
            (
                HoldRelease::Restart(DynoFilter::Type(process("web"))),
                "worker.1",
                false,
            ),
            (
                HoldRelease::Restart(DynoFilter::One(dyno("web.1"))),
                "web.1",
                true,
            ),
            (
                HoldRelease::Restart(DynoFilter::One(dyno("web.1"))),
                "web.2",
                false,
            ),
        ];
        for (release, held, ends) in cases {
            assert_eq!(
                release.dynos().matches(&dyno(held)),
                ends,
                "{release:?} {held}"
            );
        }
    }

    #[test]
    fn only_types_of_the_procfile_are_resized() {
        let procfile = Procfile::parse("web: a\nworker: b\nrelease: c").unwrap();
        let cases = [
            ("web", Ok(())),
            ("worker", Ok(())),
            (
                "clock",
                Err(ScaleError::UnknownType {
                    process_type: "clock".into(),
                    known: "release, web, worker".into(),
                }),
            ),
        ];
        for (process_type, want) in cases {
            assert_eq!(
                check_resizable(&procfile, &process(process_type)),
                want,
                "{process_type}"
            );
        }
    }

    #[test]
    fn restarts_bump_only_matching_web_dynos() {
        let formation = Formation::from_counts([(process("web"), 2), (process("worker"), 3)]);
        let cases: [(DynoFilter, &[&str]); 4] = [
            (DynoFilter::All, &["web.1", "web.2"]),
            (DynoFilter::Type(process("worker")), &[]),
            (DynoFilter::One(dyno("web.2")), &["web.2"]),
            (DynoFilter::One(dyno("web.3")), &[]),
        ];
        for (filter, want) in cases {
            let want: Vec<DynoName> = want.iter().map(|d| dyno(d)).collect();
            assert_eq!(restarted_web_dynos(&formation, &filter), want, "{filter:?}");
        }
    }
}
