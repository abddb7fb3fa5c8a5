//! The app's dynos as `ps` lists them: the formation, holds and live units merged into rows,
//! each running dyno with its memory against its limit and its CPU share since the previous
//! look (`skiff ps`, the metrics API and the monitor's samples all read them here).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use crate::model::{AppName, DynoUnit, Hold, HoldReason, ProcessType, SleepState};
use crate::reconciler::DynoDefaults;
use crate::store::{FormationEntry, Store, StoreError};
use crate::systemd::names::UNIT_PATTERN;
use crate::systemd::{ServiceDetails, Systemd};
use crate::wire::Dyno;

#[derive(Debug, thiserror::Error)]
pub enum DynosError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the dynos from systemd: {0}")]
    Systemd(String),
}

/// Each dyno unit's CPU time at the last look (wall clock µs, CPU ns): its CPU share is what
/// it used since.
type CpuLooks = Arc<Mutex<HashMap<String, (u64, u64)>>>;

/// Reads an app's dynos with their usage.
#[derive(Clone)]
pub struct DynoLister {
    pub store: Store,
    pub systemd: Arc<dyn Systemd>,
    pub defaults: DynoDefaults,
    cpu_looks: CpuLooks,
}

impl Dyno {
    /// A row for a dyno that has no unit right now (held, or about to start).
    fn without_unit(
        name: String,
        process_type: &ProcessType,
        state: &str,
        since: Option<String>,
        command: String,
    ) -> Self {
        Self {
            name,
            process_type: process_type.to_string(),
            state: state.into(),
            since,
            release: None,
            pid: None,
            port: None,
            restarts: 0,
            command,
            unit: None,
            memory_bytes: None,
            memory_limit: None,
            cpu_percent: None,
            tasks: None,
        }
    }
}

/// Pure: a dyno's CPU use in percent of one core, from its cgroup's CPU time now and at the
/// previous look (both with the wall clock in µs since the epoch); without a usable previous
/// look (none, older than the unit's start, or a counter that went back), since the unit started.
pub fn cpu_percent(
    previous: Option<(u64, u64)>,
    now_usec: u64,
    cpu_nsec: u64,
    active_enter_usec: u64,
) -> Option<f64> {
    let (from_usec, from_nsec) = match previous {
        Some((at, nsec)) if at >= active_enter_usec && at < now_usec && nsec <= cpu_nsec => {
            (at, nsec)
        }
        _ => (active_enter_usec, 0),
    };
    let wall_nsec = now_usec.checked_sub(from_usec).filter(|d| *d > 0)? as f64 * 1000.0;
    Some((cpu_nsec - from_nsec) as f64 / wall_nsec * 100.0)
}

/// Unix milliseconds as RFC 3339.
pub fn rfc3339_ms(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A systemd timestamp (µs since the epoch) as RFC 3339; `None` for 0 or infinity (never).
pub fn rfc3339_usec(usec: u64) -> Option<String> {
    (usec > 0 && usec != u64::MAX).then(|| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_micros(usec)).to_string()
    })
}

/// The `ps` row of a dyno that has a unit.
fn live_row(
    unit: &DynoUnit,
    d: &ServiceDetails,
    ports: &BTreeMap<String, u16>,
    command: String,
) -> Dyno {
    let state = match (d.active_state.as_str(), d.sub_state.as_str()) {
        ("active", _) | ("reloading", _) => "up",
        ("activating", "auto-restart") => "restarting",
        ("activating", _) => "starting",
        ("deactivating", _) => "stopping",
        ("failed", _) => "crashed",
        _ => "stopped",
    };
    let name = unit.unit_name();
    Dyno {
        name: unit.dyno.to_string(),
        process_type: unit.dyno.process_type.to_string(),
        state: state.into(),
        since: rfc3339_usec(d.active_enter_usec),
        release: Some(unit.release),
        pid: (d.main_pid > 0).then_some(d.main_pid),
        port: ports.get(&name).copied(),
        restarts: d.n_restarts,
        command,
        unit: Some(name),
        memory_bytes: d.usage.memory_bytes,
        memory_limit: None,
        cpu_percent: None,
        tasks: d.usage.tasks,
    }
}

/// Pure: merges the formation, holds and live units of one app into `ps` rows; a wanted dyno
/// without a unit is `sleeping` (since the time given) while its app sleeps, else `starting`.
pub fn dyno_views(
    formation: &[FormationEntry],
    holds: &[Hold],
    live: &[(DynoUnit, ServiceDetails)],
    ports: &BTreeMap<String, u16>,
    sleeping_since: Option<&str>,
) -> Vec<Dyno> {
    let command_of = |t: &ProcessType| {
        formation
            .iter()
            .find(|f| &f.process_type == t)
            .map(|f| f.command.clone())
            .unwrap_or_default()
    };
    let mut rows: Vec<Dyno> = live
        .iter()
        .map(|(unit, d)| live_row(unit, d, ports, command_of(&unit.dyno.process_type)))
        .collect();
    for hold in holds {
        let state = match hold.reason {
            HoldReason::Crashed => "crashed",
            HoldReason::Stopped => "stopped",
        };
        rows.push(Dyno::without_unit(
            hold.dyno.to_string(),
            &hold.dyno.process_type,
            state,
            Some(hold.since.clone()),
            command_of(&hold.dyno.process_type),
        ));
    }
    for entry in formation {
        for index in 1..=entry.quantity {
            let name = format!("{}.{index}", entry.process_type);
            if !rows.iter().any(|r| r.name == name) {
                rows.push(Dyno::without_unit(
                    name,
                    &entry.process_type,
                    if sleeping_since.is_some() {
                        "sleeping"
                    } else {
                        "starting"
                    },
                    sleeping_since.map(str::to_owned),
                    entry.command.clone(),
                ));
            }
        }
    }
    let key = |d: &Dyno| {
        let index: u32 = d
            .name
            .rsplit('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (d.process_type.clone(), index, std::cmp::Reverse(d.release))
    };
    rows.sort_by_key(key);
    rows
}

impl DynoLister {
    pub fn new(store: Store, systemd: Arc<dyn Systemd>, defaults: DynoDefaults) -> Self {
        Self {
            store,
            systemd,
            defaults,
            cpu_looks: CpuLooks::default(),
        }
    }

    /// The app's dynos as `ps` lists them.
    pub async fn dynos_of(&self, app: &AppName) -> Result<Vec<Dyno>, DynosError> {
        let formation = self.store.formation(app).await?;
        let holds = self.store.holds(app).await?;
        let ports = self.store.ports().await?;
        let units = self
            .systemd
            .list_units(UNIT_PATTERN)
            .await
            .map_err(|e| DynosError::Systemd(e.to_string()))?;
        let mut live = Vec::new();
        for u in units {
            let Some(unit) = DynoUnit::parse(&u.name).filter(|d| &d.app == app) else {
                continue;
            };
            if let Some(details) = self
                .systemd
                .service_details(&u.name)
                .await
                .map_err(|e| DynosError::Systemd(e.to_string()))?
            {
                live.push((unit, details));
            }
        }
        let sleep = self.store.app_sleep(app).await?;
        let sleeping_since = (sleep.state == SleepState::Sleeping)
            .then(|| sleep.since_ms.map(rfc3339_ms))
            .flatten();
        let mut rows = dyno_views(&formation, &holds, &live, &ports, sleeping_since.as_deref());
        self.add_usage(&formation, &live, &mut rows);
        Ok(rows)
    }

    /// Fills in each running dyno's memory limit and CPU share, remembering this look's CPU time
    /// for the next one.
    fn add_usage(
        &self,
        formation: &[FormationEntry],
        live: &[(DynoUnit, ServiceDetails)],
        rows: &mut [Dyno],
    ) {
        let now_usec = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let mut looks = self.cpu_looks.lock().expect("cpu looks lock");
        for row in rows.iter_mut() {
            let Some((_, details)) = live
                .iter()
                .find(|(unit, _)| Some(unit.unit_name()) == row.unit)
            else {
                continue;
            };
            row.memory_limit = formation
                .iter()
                .find(|f| f.process_type.as_str() == row.process_type)
                .map(|f| {
                    f.size
                        .memory_bytes
                        .unwrap_or(self.defaults.limits.memory_bytes)
                });
            if let (Some(nsec), Some(unit)) = (details.usage.cpu_nsec, &row.unit) {
                let previous = looks.get(unit).copied();
                row.cpu_percent = cpu_percent(previous, now_usec, nsec, details.active_enter_usec);
                looks.insert(unit.clone(), (now_usec, nsec));
            }
        }
        // This app's units that are gone need no memory of their last look.
        if let Some((unit, _)) = live.first() {
            let prefix = format!("{}{}.", crate::model::UNIT_PREFIX, unit.app);
            looks.retain(|name, _| {
                !name.starts_with(&prefix) || live.iter().any(|(u, _)| u.unit_name() == *name)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DynoName, DynoSize};

    fn entry(t: &str, n: u32) -> FormationEntry {
        FormationEntry {
            process_type: ProcessType::parse(t).unwrap(),
            quantity: n,
            command: format!("run {t}"),
            size: DynoSize::default(),
        }
    }

    fn live(name: &str, active: &str, sub: &str) -> (DynoUnit, ServiceDetails) {
        (
            DynoUnit::parse(name).unwrap(),
            ServiceDetails {
                active_state: active.into(),
                sub_state: sub.into(),
                main_pid: if active == "active" { 42 } else { 0 },
                n_restarts: 1,
                active_enter_usec: 1_763_719_200_000_000,
                usage: crate::systemd::Usage::from_counters(5_000_000_000, 24 << 20, 3),
            },
        )
    }

    #[test]
    fn cpu_is_the_share_of_one_core_since_the_last_look_or_the_start() {
        let start = 1_000_000_000;
        for (previous, now, nsec, want) in [
            // 1 s of CPU over 10 s since the start: 10 %.
            (None, start + 10_000_000, 1_000_000_000, Some(10.0)),
            // Since the previous look 1 s ago, 0.5 s of CPU: 50 %.
            (
                Some((start + 9_000_000, 500_000_000)),
                start + 10_000_000,
                1_000_000_000,
                Some(50.0),
            ),
            // Two cores busy: 200 %.
            (
                Some((start + 9_000_000, 0)),
                start + 10_000_000,
                2_000_000_000,
                Some(200.0),
            ),
            // A look from before this unit started, or a counter that went back: since the start.
            (
                Some((start - 5, 0)),
                start + 10_000_000,
                1_000_000_000,
                Some(10.0),
            ),
            (
                Some((start + 9_000_000, 3_000_000_000)),
                start + 10_000_000,
                1_000_000_000,
                Some(10.0),
            ),
            // No time passed: nothing to say.
            (None, start, 0, None),
        ] {
            assert_eq!(
                cpu_percent(previous, now, nsec, start),
                want,
                "{previous:?} {now} {nsec}"
            );
        }
    }

    #[test]
    fn ps_rows_tell_the_truth() {
        let formation = [entry("web", 2), entry("worker", 1)];
        let holds = [Hold {
            dyno: DynoName::parse("worker.1").unwrap(),
            reason: HoldReason::Crashed,
            since: "2026-11-21T10:00:00Z".into(),
        }];
        let units = [
            live("skiff-hello.web.1.v2.service", "active", "running"),
            live(
                "skiff-hello.web.1.v1.service",
                "deactivating",
                "stop-sigterm",
            ),
        ];
        let ports = [("skiff-hello.web.1.v2.service".to_owned(), 20001)].into();
        let rows = dyno_views(&formation, &holds, &units, &ports, None);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.state.as_str(), r.release, r.pid, r.port))
            .collect();
        assert_eq!(
            summary,
            [
                ("web.1", "up", Some(2), Some(42), Some(20001)),
                ("web.1", "stopping", Some(1), None, None),
                ("web.2", "starting", None, None, None),
                ("worker.1", "crashed", None, None, None),
            ]
        );
        assert_eq!(rows[0].since.as_deref(), Some("2025-11-21T10:00:00Z"));
        assert_eq!(rows[0].command, "run web");

        // Asleep: the draining unit still shows; the dynos without one sleep since the time.
        let since = "2026-12-03T06:00:00Z";
        let rows = dyno_views(&formation, &holds, &units[1..], &ports, Some(since));
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.state.as_str(), r.since.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("web.1", "stopping", Some("2025-11-21T10:00:00Z")),
                ("web.2", "sleeping", Some(since)),
                ("worker.1", "crashed", Some("2026-11-21T10:00:00Z")),
            ]
        );
    }
}
