//! An in-memory `Systemd` for fast tests of everything above the D-Bus adapter.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::properties::Property;
use super::{RunOutcome, ServiceDetails, Systemd, SystemdError, TimerDetails, UnitStatus, Usage};

/// One unit the fake knows.
#[derive(Debug, Clone)]
pub struct FakeUnit {
    pub active_state: String,
    pub properties: Vec<Property>,
    pub main_pid: u32,
    pub n_restarts: u32,
}

impl FakeUnit {
    /// The `Description` it was started with.
    fn description(&self) -> String {
        self.properties
            .iter()
            .find(|(name, _)| *name == "Description")
            .and_then(|(_, value)| match value {
                super::properties::PropertyValue::Str(text) => Some(text.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    fn sub_state(&self) -> String {
        if self.active_state == "active" {
            "running"
        } else {
            "dead"
        }
        .to_owned()
    }
}

#[derive(Default)]
struct Inner {
    units: BTreeMap<String, FakeUnit>,
    next_pid: u32,
    watchers: Vec<tokio::sync::mpsc::Sender<String>>,
    calls: Vec<String>,
    runs: Vec<(String, Vec<Property>)>,
    failing_runs: Vec<(String, i32)>,
}

/// Behaves like PID 1 for the calls skiff makes: units start active at once, stop at once.
pub struct FakeSystemd {
    pub version: String,
    inner: Mutex<Inner>,
}

impl Default for FakeSystemd {
    fn default() -> Self {
        Self {
            version: "252-fake".to_owned(),
            inner: Mutex::new(Inner {
                next_pid: 1000,
                ..Inner::default()
            }),
        }
    }
}

impl FakeSystemd {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().expect("fake systemd lock"))
    }

    fn notify(inner: &mut Inner, name: &str) {
        inner
            .watchers
            .retain(|w| w.try_send(name.to_owned()).is_ok() || !w.is_closed());
    }

    /// Units and their states, by name.
    pub fn units(&self) -> BTreeMap<String, FakeUnit> {
        self.with(|i| i.units.clone())
    }

    /// Every mutating call made, like "start skiff-a.web.1.v1.service".
    pub fn calls(&self) -> Vec<String> {
        self.with(|i| i.calls.clone())
    }

    /// Simulates a unit failing for good (restarts exhausted).
    pub fn fail(&self, name: &str) {
        self.with(|i| {
            if let Some(u) = i.units.get_mut(name) {
                u.active_state = "failed".into();
                u.main_pid = 0;
            }
            Self::notify(i, name);
        });
    }

    /// Units run to completion whose name contains `part` exit with `status`.
    pub fn fail_runs(&self, part: &str, status: i32) {
        self.with(|i| i.failing_runs.push((part.to_owned(), status)));
    }

    /// Units run to completion, with their properties, in order.
    pub fn runs(&self) -> Vec<(String, Vec<Property>)> {
        self.with(|i| i.runs.clone())
    }

    /// Simulates a unit someone else started (a stray).
    pub fn add_unit(&self, name: &str, active_state: &str) {
        self.with(|i| {
            i.units.insert(
                name.to_owned(),
                FakeUnit {
                    active_state: active_state.into(),
                    properties: vec![],
                    main_pid: 1,
                    n_restarts: 0,
                },
            );
        });
    }
}

#[async_trait::async_trait]
impl Systemd for FakeSystemd {
    async fn version(&self) -> Result<String, SystemdError> {
        Ok(self.version.clone())
    }

    async fn list_units(&self, pattern: &str) -> Result<Vec<UnitStatus>, SystemdError> {
        let prefix = pattern.trim_end_matches('*');
        Ok(self.with(|i| {
            i.units
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(n, u)| UnitStatus {
                    name: n.clone(),
                    description: u.description(),
                    active_state: u.active_state.clone(),
                    sub_state: u.sub_state(),
                })
                .collect()
        }))
    }

    async fn start_transient(
        &self,
        name: &str,
        properties: Vec<Property>,
    ) -> Result<(), SystemdError> {
        self.with(|i| {
            i.calls.push(format!("start {name}"));
            i.next_pid += 1;
            let pid = i.next_pid;
            i.units.insert(
                name.to_owned(),
                FakeUnit {
                    active_state: "active".into(),
                    properties,
                    main_pid: pid,
                    n_restarts: 0,
                },
            );
            Self::notify(i, name);
        });
        Ok(())
    }

    async fn start_timer(
        &self,
        timer: &str,
        timer_properties: Vec<Property>,
        service: &str,
        service_properties: Vec<Property>,
    ) -> Result<(), SystemdError> {
        self.with(|i| {
            i.calls.push(format!("start {timer}"));
            for (name, active_state, properties) in [
                (timer, "active", timer_properties),
                (service, "inactive", service_properties),
            ] {
                i.units.insert(
                    name.to_owned(),
                    FakeUnit {
                        active_state: active_state.into(),
                        properties,
                        main_pid: 0,
                        n_restarts: 0,
                    },
                );
            }
            Self::notify(i, timer);
        });
        Ok(())
    }

    async fn timer_details(
        &self,
        timer: &str,
        service: &str,
    ) -> Result<Option<TimerDetails>, SystemdError> {
        Ok(self.with(|i| {
            i.units.get(timer).map(|_| TimerDetails {
                next_elapse_usec: 1_700_000_060_000_000,
                last_trigger_usec: 0,
                service_active_state: i
                    .units
                    .get(service)
                    .map(|u| u.active_state.clone())
                    .unwrap_or_default(),
                service_result: "success".into(),
                service_exit_status: 0,
            })
        }))
    }

    async fn run_to_completion(
        &self,
        name: &str,
        properties: Vec<Property>,
        _wait_at_most: std::time::Duration,
    ) -> Result<RunOutcome, SystemdError> {
        Ok(self.with(|i| {
            i.calls.push(format!("run {name}"));
            i.runs.push((name.to_owned(), properties));
            match i
                .failing_runs
                .iter()
                .find(|(part, _)| name.contains(part.as_str()))
            {
                Some((_, status)) => RunOutcome {
                    result: "exit-code".to_owned(),
                    exit_status: *status,
                },
                None => RunOutcome::success(),
            }
        }))
    }

    async fn set_properties(
        &self,
        name: &str,
        properties: Vec<Property>,
    ) -> Result<(), SystemdError> {
        self.with(|i| {
            i.calls.push(format!("set-property {name}"));
            if let Some(u) = i.units.get_mut(name) {
                for (key, value) in properties {
                    u.properties.retain(|(k, _)| *k != key);
                    u.properties.push((key, value));
                }
            }
        });
        Ok(())
    }

    async fn stop_unit(&self, name: &str) -> Result<(), SystemdError> {
        self.with(|i| {
            i.calls.push(format!("stop {name}"));
            i.units.remove(name);
            Self::notify(i, name);
        });
        Ok(())
    }

    async fn restart_unit(&self, name: &str) -> Result<(), SystemdError> {
        self.with(|i| {
            i.calls.push(format!("restart {name}"));
            i.next_pid += 1;
            let pid = i.next_pid;
            if let Some(u) = i.units.get_mut(name) {
                u.main_pid = pid;
                u.active_state = "active".into();
            }
            Self::notify(i, name);
        });
        Ok(())
    }

    async fn start_unit(&self, name: &str) -> Result<(), SystemdError> {
        self.with(|i| {
            i.calls.push(format!("start {name}"));
            i.next_pid += 1;
            let pid = i.next_pid;
            let unit = i.units.entry(name.to_owned()).or_insert(FakeUnit {
                active_state: "inactive".into(),
                properties: vec![],
                main_pid: 0,
                n_restarts: 0,
            });
            if unit.active_state != "active" {
                unit.active_state = "active".into();
                unit.main_pid = pid;
            }
            Self::notify(i, name);
        });
        Ok(())
    }

    async fn reload_unit(&self, name: &str) -> Result<(), SystemdError> {
        self.with(|i| i.calls.push(format!("reload {name}")));
        Ok(())
    }

    async fn restart_unit_and_wait(&self, name: &str) -> Result<(), SystemdError> {
        self.restart_unit(name).await
    }

    async fn reset_failed(&self, name: &str) -> Result<(), SystemdError> {
        self.with(|i| {
            i.calls.push(format!("reset-failed {name}"));
            if i.units
                .get(name)
                .is_some_and(|u| u.active_state == "failed")
            {
                i.units.remove(name);
            }
        });
        Ok(())
    }

    async fn service_details(&self, name: &str) -> Result<Option<ServiceDetails>, SystemdError> {
        Ok(self.with(|i| {
            i.units.get(name).map(|u| ServiceDetails {
                active_state: u.active_state.clone(),
                sub_state: u.sub_state(),
                main_pid: u.main_pid,
                n_restarts: u.n_restarts,
                active_enter_usec: 1_700_000_000_000_000,
                // A running fake unit holds a little memory and one task; a stopped one nothing.
                usage: if u.active_state == "active" {
                    Usage::from_counters(0, 32 << 20, 1)
                } else {
                    Usage::default()
                },
            })
        }))
    }

    async fn watch(&self) -> Result<tokio::sync::mpsc::Receiver<String>, SystemdError> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        self.with(|i| i.watchers.push(tx));
        Ok(rx)
    }
}
