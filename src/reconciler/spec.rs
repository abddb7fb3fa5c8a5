//! Pure assembly of what a dyno gets: the configured defaults, a desired dyno's `DynoSpec`, and
//! each app's slice totals.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::model::{AppName, DesiredDyno, DynoSize, Limits, VolumeMount};
use crate::paths::Layout;
use crate::systemd::properties::{DynoSpec, RestartPolicy};

/// How long a dyno gets between SIGTERM and SIGKILL.
const STOP_TIMEOUT_USEC: u64 = 10_000_000;

/// What dynos get unless their process type says otherwise.
#[derive(Debug, Clone)]
pub struct DynoDefaults {
    pub limits: Limits,
    pub port_first: u16,
    pub port_last: u16,
    pub restart: RestartPolicy,
    /// The longest a scheduled job may run (`run_timeout`).
    pub job_timeout: Duration,
}

impl DynoDefaults {
    pub fn from_config(config: &Config) -> Self {
        Self {
            limits: Limits {
                memory_bytes: config.dyno_memory.0,
                cpu_percent: config.dyno_cpu.0,
                tasks: u64::from(config.dyno_tasks),
            },
            port_first: config.port_range.first,
            port_last: config.port_range.last,
            restart: RestartPolicy::default(),
            job_timeout: config.run_timeout.0,
        }
    }

    /// A process type's limits: its own sizes where set, the configured defaults elsewhere.
    pub fn limits_for(&self, size: &DynoSize) -> Limits {
        Limits {
            memory_bytes: size.memory_bytes.unwrap_or(self.limits.memory_bytes),
            cpu_percent: size.cpu_percent.unwrap_or(self.limits.cpu_percent),
            tasks: size.tasks.unwrap_or(self.limits.tasks),
        }
    }
}

/// Pure: the unit a desired dyno runs as, given its env file, (web dynos) port and network
/// namespace.
pub(super) fn dyno_spec(
    dyno: &DesiredDyno,
    defaults: &DynoDefaults,
    layout: &Layout,
    env_file: PathBuf,
    port: Option<u16>,
    network_namespace: Option<String>,
    volumes: Vec<VolumeMount>,
) -> DynoSpec {
    DynoSpec {
        unit: dyno.unit.clone(),
        command: dyno.command.clone(),
        slug_dir: layout.slug_dir(&dyno.unit.app, dyno.slug_version),
        env_file,
        port,
        limits: defaults.limits_for(&dyno.size),
        restart: defaults.restart,
        hidden_paths: layout.hidden_from_dynos(),
        stop_timeout_usec: STOP_TIMEOUT_USEC,
        network_namespace,
        volumes,
    }
}

/// Pure: each app's slice limits, the sums of its desired dynos' limits.
pub fn app_totals<'a>(
    dynos: impl IntoIterator<Item = &'a DesiredDyno>,
    defaults: &DynoDefaults,
) -> BTreeMap<AppName, Limits> {
    let mut totals: BTreeMap<AppName, Limits> = BTreeMap::new();
    for d in dynos {
        let l = defaults.limits_for(&d.size);
        let t = totals.entry(d.unit.app.clone()).or_insert(Limits {
            memory_bytes: 0,
            cpu_percent: 0,
            tasks: 0,
        });
        t.memory_bytes = t.memory_bytes.saturating_add(l.memory_bytes);
        t.cpu_percent = t.cpu_percent.saturating_add(l.cpu_percent);
        t.tasks = t.tasks.saturating_add(l.tasks);
    }
    totals
}

#[cfg(test)]
mod tests {
    use crate::model::DynoUnit;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;

    fn desired(name: &str, size: DynoSize) -> DesiredDyno {
        DesiredDyno {
            unit: DynoUnit::parse(name).unwrap(),
            slug_version: 1,
            command: "run".into(),
            size,
            config: Arc::default(),
            volumes: Arc::default(),
        }
    }

    #[test]
    fn specs_take_the_dynos_own_sizes_over_the_defaults() {
        let defaults = DynoDefaults::from_config(&Config::default());
        let layout = Layout::new(Path::new("/state"), Path::new("/run"));
        let cases = [
            (DynoSize::default(), defaults.limits),
            (
                DynoSize {
                    memory_bytes: Some(1 << 30),
                    ..DynoSize::default()
                },
                Limits {
                    memory_bytes: 1 << 30,
                    ..defaults.limits
                },
            ),
            (
                DynoSize {
                    cpu_percent: Some(50),
                    tasks: Some(8),
                    ..DynoSize::default()
                },
                Limits {
                    cpu_percent: 50,
                    tasks: 8,
                    ..defaults.limits
                },
            ),
        ];
        for (size, limits) in cases {
            let dyno = desired("skiff-hello.web.1.v2.service", size);
            let spec = dyno_spec(
                &dyno,
                &defaults,
                &layout,
                "/env".into(),
                Some(20000),
                None,
                Vec::new(),
            );
            assert_eq!(spec.limits, limits, "{size:?}");
            assert_eq!(spec.port, Some(20000));
            assert_eq!(spec.slug_dir, layout.slug_dir(&dyno.unit.app, 1));
            assert_eq!(spec.env_file, Path::new("/env"));
        }
    }

    #[test]
    fn slice_totals_add_up_each_apps_dynos() {
        let defaults = DynoDefaults::from_config(&Config::default());
        let big = DynoSize {
            memory_bytes: Some(1 << 30),
            ..DynoSize::default()
        };
        let dynos = [
            desired("skiff-hello.web.1.v1.service", DynoSize::default()),
            desired("skiff-hello.worker.1.v1.service", big),
            desired("skiff-other.web.1.v1.service", DynoSize::default()),
        ];
        let totals = app_totals(&dynos, &defaults);
        let hello = &totals[&AppName::parse("hello").unwrap()];
        assert_eq!(hello.memory_bytes, defaults.limits.memory_bytes + (1 << 30));
        assert_eq!(hello.cpu_percent, 2 * defaults.limits.cpu_percent);
        assert_eq!(totals[&AppName::parse("other").unwrap()], defaults.limits);
    }
}
