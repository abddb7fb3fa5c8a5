//! What happened to an app without making a release (scaling, resizing, maintenance, restarts),
//! said in the words its activity feed shows, with who did it.

use super::{DynoFilter, DynoSize, Formation, ProcessType, ScaleChange};

/// How many events of each app are kept; older ones are dropped as new ones come.
pub const KEPT_EVENTS_PER_APP: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEventKind {
    Scale,
    Resize,
    Maintenance,
    Restart,
}

impl AppEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scale => "scale",
            Self::Resize => "resize",
            Self::Maintenance => "maintenance",
            Self::Restart => "restart",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Scale, Self::Resize, Self::Maintenance, Self::Restart]
            .into_iter()
            .find(|kind| kind.as_str() == raw)
    }
}

/// One event as it is recorded: its kind, what it did and who did it (a caller as the API
/// names it: `uid:0`, `token:ci`, `dashboard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEventNote {
    pub kind: AppEventKind,
    pub description: String,
    pub actor: String,
}

/// A recorded event, with when it happened (UTC, RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEvent {
    pub note: AppEventNote,
    pub created_at: String,
}

impl AppEventNote {
    /// "Scaled to web@2, worker@0": the counts the changed types have now, as Heroku says it.
    pub fn scaled(changes: &[ScaleChange], now: &Formation, actor: &str) -> Self {
        let mut types: Vec<&ProcessType> = changes.iter().map(|c| &c.process_type).collect();
        types.sort();
        types.dedup();
        let counts: Vec<String> = types
            .iter()
            .map(|t| format!("{t}@{}", now.count(t)))
            .collect();
        Self::new(
            AppEventKind::Scale,
            format!("Scaled to {}", counts.join(", ")),
            actor,
        )
    }

    /// "Resized web: memory 512 MiB, cpu 50%, tasks 64", naming only what changed.
    pub fn resized(process_type: &ProcessType, size: &DynoSize, actor: &str) -> Self {
        let mut parts = Vec::new();
        if let Some(bytes) = size.memory_bytes {
            parts.push(format!("memory {} MiB", bytes / (1024 * 1024)));
        }
        if let Some(cpu) = size.cpu_percent {
            parts.push(format!("cpu {cpu}%"));
        }
        if let Some(tasks) = size.tasks {
            parts.push(format!("tasks {tasks}"));
        }
        Self::new(
            AppEventKind::Resize,
            format!("Resized {process_type}: {}", parts.join(", ")),
            actor,
        )
    }

    pub fn maintenance(on: bool, actor: &str) -> Self {
        let description = if on {
            "Maintenance on"
        } else {
            "Maintenance off"
        };
        Self::new(AppEventKind::Maintenance, description.to_owned(), actor)
    }

    pub fn restarted(filter: &DynoFilter, actor: &str) -> Self {
        let description = match filter {
            DynoFilter::All => "Restarted all dynos".to_owned(),
            DynoFilter::Type(t) => format!("Restarted {t} dynos"),
            DynoFilter::One(d) => format!("Restarted {d}"),
        };
        Self::new(AppEventKind::Restart, description, actor)
    }

    fn new(kind: AppEventKind, description: String, actor: &str) -> Self {
        Self {
            kind,
            description,
            actor: actor.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DynoName;

    fn web() -> ProcessType {
        ProcessType::parse("web").unwrap()
    }

    #[test]
    fn kinds_read_back() {
        for kind in [
            AppEventKind::Scale,
            AppEventKind::Resize,
            AppEventKind::Maintenance,
            AppEventKind::Restart,
        ] {
            assert_eq!(AppEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AppEventKind::parse("deploy"), None);
    }

    #[test]
    fn each_event_says_what_it_did() {
        let worker = ProcessType::parse("worker").unwrap();
        let now = Formation::from_counts([(web(), 2), (worker.clone(), 0)]);
        let changes = [
            ScaleChange::parse("web=2").unwrap(),
            ScaleChange::parse("worker-1").unwrap(),
        ];
        let size = DynoSize {
            memory_bytes: Some(512 * 1024 * 1024),
            cpu_percent: None,
            tasks: Some(64),
        };
        let cases = [
            (
                AppEventNote::scaled(&changes, &now, "uid:0"),
                AppEventKind::Scale,
                "Scaled to web@2, worker@0",
            ),
            (
                AppEventNote::scaled(&changes[..1], &now, "uid:0"),
                AppEventKind::Scale,
                "Scaled to web@2",
            ),
            (
                AppEventNote::resized(&web(), &size, "uid:0"),
                AppEventKind::Resize,
                "Resized web: memory 512 MiB, tasks 64",
            ),
            (
                AppEventNote::maintenance(true, "uid:0"),
                AppEventKind::Maintenance,
                "Maintenance on",
            ),
            (
                AppEventNote::maintenance(false, "uid:0"),
                AppEventKind::Maintenance,
                "Maintenance off",
            ),
            (
                AppEventNote::restarted(&DynoFilter::All, "uid:0"),
                AppEventKind::Restart,
                "Restarted all dynos",
            ),
            (
                AppEventNote::restarted(&DynoFilter::Type(worker), "uid:0"),
                AppEventKind::Restart,
                "Restarted worker dynos",
            ),
            (
                AppEventNote::restarted(
                    &DynoFilter::One(DynoName::parse("web.1").unwrap()),
                    "dashboard",
                ),
                AppEventKind::Restart,
                "Restarted web.1",
            ),
        ];
        for (note, kind, said) in cases {
            assert_eq!((note.kind, note.description.as_str()), (kind, said));
        }
    }
}
