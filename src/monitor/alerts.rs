//! Reading an app's alert rules: the sampled ones (`memory`, `crashed`) on each sample of its
//! dynos, the router ones once per finished minute; what the monitor remembers between samples
//! (each dyno's restarts, since when a dyno's memory is above a rule's share) is an
//! `AlertBook` per app. Pure: the monitor does the I/O.

use std::collections::{BTreeMap, HashMap};

use crate::model::{above_since, AlertRule, Reading, RequestStats};
use crate::store::AlertRecord;
use crate::wire::Dyno;

/// What one app's sampled rules remember between samples.
#[derive(Debug, Default)]
pub(super) struct AlertBook {
    /// Each dyno unit's restarts at the last sample.
    restarts: HashMap<String, u32>,
    /// (alert, dyno) → since when (Unix seconds) the dyno's memory is above the alert's share.
    memory_since: HashMap<(i64, String), i64>,
    /// Each router alert's last minute read.
    minute_read: HashMap<i64, i64>,
}

/// Pure: `crashed` holds while a dyno is crashed or restarting, or restarted since `before`.
fn crashed_reading(rows: &[Dyno], before: &HashMap<String, u32>) -> Reading {
    let bad: Vec<String> = rows
        .iter()
        .filter_map(|d| {
            let rose = d
                .unit
                .as_ref()
                .and_then(|u| before.get(u))
                .is_some_and(|r| d.restarts > *r);
            match d.state.as_str() {
                "crashed" => Some(format!("{} crashed", d.name)),
                "restarting" => Some(format!("{} restarting after a crash", d.name)),
                _ if rose => Some(format!("{} restarted after a crash", d.name)),
                _ => None,
            }
        })
        .collect();
    Reading {
        holds: !bad.is_empty(),
        value: if bad.is_empty() {
            "every dyno up".to_owned()
        } else {
            bad.join(", ")
        },
    }
}

impl AlertBook {
    /// The readings of the sampled rules among `alerts` from a sample of the app's dynos taken
    /// at `now` (Unix seconds).
    pub fn sampled(
        &mut self,
        alerts: &[AlertRecord],
        rows: &[Dyno],
        now: i64,
    ) -> Vec<(AlertRecord, Reading)> {
        let mut readings = Vec::new();
        for alert in alerts {
            let reading = match alert.rule {
                AlertRule::Crashed => crashed_reading(rows, &self.restarts),
                AlertRule::Memory { .. } => self.memory_reading(alert, rows, now),
                _ => continue,
            };
            readings.push((alert.clone(), reading));
        }
        self.restarts = rows
            .iter()
            .filter_map(|d| d.unit.clone().map(|u| (u, d.restarts)))
            .collect();
        readings
    }

    fn memory_reading(&mut self, alert: &AlertRecord, rows: &[Dyno], now: i64) -> Reading {
        // Only dynos of this sample stay remembered, each above since its first sample above.
        let before: HashMap<String, i64> = self
            .memory_since
            .iter()
            .filter(|((id, _), _)| *id == alert.id)
            .map(|((_, dyno), since)| (dyno.clone(), *since))
            .collect();
        self.memory_since.retain(|(id, _), _| *id != alert.id);
        let mut highest: Option<(f64, &str)> = None;
        let mut holds = false;
        for d in rows {
            let (Some(used), Some(limit)) = (d.memory_bytes, d.memory_limit) else {
                continue;
            };
            let key = (alert.id, d.name.clone());
            let since = above_since(
                before.get(&d.name).copied(),
                alert.rule.memory_above(used, limit),
                now,
            );
            if let Some(since) = since {
                holds |= now - since >= alert.rule.for_secs() as i64;
                self.memory_since.insert(key, since);
            }
            let share = used as f64 * 100.0 / limit.max(1) as f64;
            if highest.is_none_or(|(h, _)| share > h) {
                highest = Some((share, d.name.as_str()));
            }
        }
        Reading {
            holds,
            value: highest.map_or_else(
                || "no dyno runs".to_owned(),
                |(share, name)| format!("{name} at {share:.0}% of its memory limit"),
            ),
        }
    }

    /// The minutes a router alert reads at `now`, when a minute finished since it last read.
    pub fn router_minutes(&mut self, alert: &AlertRecord, now: i64) -> Option<Vec<i64>> {
        let minutes = alert.rule.minutes_at(now);
        let last = *minutes.last()?;
        if self.minute_read.get(&alert.id) == Some(&last) {
            return None;
        }
        self.minute_read.insert(alert.id, last);
        Some(minutes)
    }

    /// Forgets what the alerts not among `ids` remembered.
    pub fn keep_only(&mut self, ids: &[i64]) {
        self.memory_since.retain(|(id, _), _| ids.contains(id));
        self.minute_read.retain(|id, _| ids.contains(id));
    }
}

/// Pure: a router rule's reading on the app's minutes (start → stats).
pub(super) fn router_reading(
    rule: &AlertRule,
    minutes: &[i64],
    stats: &BTreeMap<i64, RequestStats>,
) -> Reading {
    let wanted: Vec<Option<&RequestStats>> = minutes.iter().map(|m| stats.get(m)).collect();
    rule.holds_on_minutes(&wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dyno(name: &str, state: &str, restarts: u32, memory: Option<u64>) -> Dyno {
        Dyno {
            name: name.into(),
            process_type: name.split('.').next().unwrap().into(),
            state: state.into(),
            since: None,
            release: Some(1),
            pid: None,
            port: None,
            restarts,
            command: String::new(),
            unit: Some(format!("skiff-shop.{name}.v1.service")),
            memory_bytes: memory,
            memory_limit: Some(100),
            cpu_percent: None,
            tasks: None,
        }
    }

    fn alert(id: i64, rule: &str) -> AlertRecord {
        AlertRecord {
            id,
            rule: AlertRule::parse(rule).unwrap(),
            firing: None,
            created_at: 0,
        }
    }

    #[test]
    fn crashed_holds_on_a_crash_a_restart_or_a_restart_loop() {
        let mut book = AlertBook::default();
        let crashed = [alert(1, "crashed")];
        let read =
            |book: &mut AlertBook, rows: &[Dyno]| book.sampled(&crashed, rows, 0)[0].1.clone();
        let up = [dyno("web.1", "up", 0, None)];
        assert!(!read(&mut book, &up).holds);
        let restarted = [dyno("web.1", "up", 2, None)];
        assert_eq!(
            read(&mut book, &restarted).value,
            "web.1 restarted after a crash"
        );
        assert!(!read(&mut book, &restarted).holds, "no new restart");
        let looping = [
            dyno("web.1", "restarting", 3, None),
            dyno("worker.1", "crashed", 0, None),
        ];
        let r = read(&mut book, &looping);
        assert!(r.holds);
        assert_eq!(r.value, "web.1 restarting after a crash, worker.1 crashed");
        // A dyno first seen with restarts behind it (skiffd restarted) is not a new crash.
        let mut fresh = AlertBook::default();
        assert!(!read(&mut fresh, &restarted).holds);
    }

    #[test]
    fn memory_holds_once_a_dyno_stays_above_for_the_period() {
        let mut book = AlertBook::default();
        let rules = [alert(7, "memory > 90% for 2m")];
        let at = |book: &mut AlertBook, memory: u64, now: i64| {
            book.sampled(&rules, &[dyno("web.1", "up", 0, Some(memory))], now)[0]
                .1
                .clone()
        };
        assert!(!at(&mut book, 95, 0).holds);
        assert!(!at(&mut book, 95, 60).holds);
        let r = at(&mut book, 95, 120);
        assert!(r.holds);
        assert_eq!(r.value, "web.1 at 95% of its memory limit");
        assert!(
            !at(&mut book, 50, 180).holds,
            "one sample below starts over"
        );
        assert!(!at(&mut book, 95, 240).holds);
        let none = book.sampled(&rules, &[], 300);
        assert_eq!(none[0].1.value, "no dyno runs");
        book.keep_only(&[]);
        assert!(book.memory_since.is_empty());
    }

    #[test]
    fn router_alerts_read_each_finished_minute_once() {
        let mut book = AlertBook::default();
        let errors = alert(3, "errors > 10% for 1m");
        let now = 1_800_000_010; // ten seconds into a minute
        let minutes = book.router_minutes(&errors, now).unwrap();
        assert_eq!(minutes, vec![now - 10 - 60]);
        assert_eq!(book.router_minutes(&errors, now + 20), None);
        assert!(book.router_minutes(&errors, now + 60).is_some());
        assert_eq!(book.router_minutes(&alert(4, "crashed"), now), None);
        let mut bad = RequestStats::default();
        bad.record(500, 3);
        let stats = BTreeMap::from([(minutes[0], bad)]);
        assert!(router_reading(&errors.rule, &minutes, &stats).holds);
        assert!(!router_reading(&errors.rule, &[minutes[0] + 60], &stats).holds);
    }
}
