//! `Systemd` over D-Bus with zbus: proxies for `org.freedesktop.systemd1`'s Manager, Unit and Service.

use std::time::Duration;

use futures_util::StreamExt;
use std::os::fd::AsFd;

use zbus::zvariant::{Fd, OwnedObjectPath, Value};

use super::properties::{Property, PropertyValue};
use super::{RunOutcome, ServiceDetails, Systemd, SystemdError, TimerDetails, UnitStatus, Usage};

const START_JOB_TIMEOUT: Duration = Duration::from_secs(90);

type ListedUnit = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn subscribe(&self) -> zbus::Result<()>;

    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Value<'_>)],
        aux: &[(&str, Vec<(&str, Value<'_>)>)],
    ) -> zbus::Result<OwnedObjectPath>;

    fn set_unit_properties(
        &self,
        name: &str,
        runtime: bool,
        properties: &[(&str, Value<'_>)],
    ) -> zbus::Result<()>;

    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn reload_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;

    fn list_units_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<Vec<ListedUnit>>;

    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    fn get_unit_processes(&self, name: &str) -> zbus::Result<Vec<(String, u32, String)>>;

    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    fn unit_removed(&self, unit: String, path: OwnedObjectPath) -> zbus::Result<()>;

    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
trait Unit {
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_enter_timestamp(&self) -> zbus::Result<u64>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
trait Service {
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> zbus::Result<u32>;
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn result(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn exec_main_status(&self) -> zbus::Result<i32>;
    #[zbus(property, name = "CPUUsageNSec")]
    fn cpu_usage_nsec(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn memory_current(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn tasks_current(&self) -> zbus::Result<u64>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Timer",
    default_service = "org.freedesktop.systemd1"
)]
trait Timer {
    #[zbus(property, name = "NextElapseUSecRealtime")]
    fn next_elapse_usec_realtime(&self) -> zbus::Result<u64>;
    #[zbus(property, name = "LastTriggerUSec")]
    fn last_trigger_usec(&self) -> zbus::Result<u64>;
}

impl DbusSystemd {
    /// Where systemd does not account a unit's cgroup: what its processes use, from /proc.
    async fn usage_from_processes(&self, name: &str) -> Option<Usage> {
        let processes = self.manager.get_unit_processes(name).await.ok()?;
        let pids: Vec<u32> = processes.into_iter().map(|(_, pid, _)| pid).collect();
        tokio::task::spawn_blocking(move || crate::procfs::usage_of(&pids))
            .await
            .ok()
            .flatten()
    }
}

/// The real adapter, holding one bus connection for the daemon's life.
pub struct DbusSystemd {
    conn: zbus::Connection,
    manager: ManagerProxy<'static>,
}

fn call_err(call: &'static str) -> impl FnOnce(zbus::Error) -> SystemdError {
    move |source| SystemdError::Call {
        call,
        source: Box::new(source),
    }
}

fn values(properties: &[Property]) -> Vec<(&str, Value<'_>)> {
    properties.iter().map(|(k, v)| (*k, to_value(v))).collect()
}

/// Converts a property to the D-Bus variant systemd expects for it (a descriptor is borrowed
/// for the call).
pub fn to_value(value: &PropertyValue) -> Value<'_> {
    match value {
        PropertyValue::Str(s) => Value::from(s.clone()),
        PropertyValue::Bool(b) => Value::from(*b),
        PropertyValue::I32(n) => Value::from(*n),
        PropertyValue::U32(n) => Value::from(*n),
        PropertyValue::U64(n) => Value::from(*n),
        PropertyValue::StrList(v) => Value::from(v.clone()),
        PropertyValue::Exec(v) => Value::from(v.clone()),
        PropertyValue::EnvFiles(v) => Value::from(v.clone()),
        PropertyValue::Binds(v) => Value::from(v.clone()),
        PropertyValue::Filter(allow, v) => Value::from((*allow, v.clone())),
        PropertyValue::Bytes(v) => Value::from(v.clone()),
        PropertyValue::Fd(fd) => Value::Fd(Fd::from(fd.0.as_fd())),
        PropertyValue::Timers(v) => Value::from(v.clone()),
    }
}

impl DbusSystemd {
    /// Starts a transient unit (with `aux` units created alongside) and waits for its start
    /// job's result (`done`, `failed`, …).
    async fn start_and_wait(
        &self,
        name: &str,
        properties: &[Property],
        aux: &[(&str, &[Property])],
        timeout: Duration,
    ) -> Result<String, SystemdError> {
        let main = values(properties);
        let aux: Vec<(&str, Vec<(&str, Value<'_>)>)> =
            aux.iter().map(|(n, props)| (*n, values(props))).collect();
        let enqueue = self.manager.start_transient_unit(name, "fail", &main, &aux);
        self.enqueue_and_wait(
            enqueue,
            "Manager.StartTransientUnit",
            "starting",
            name,
            timeout,
        )
        .await
    }

    /// Sends the call that enqueues a job (`enqueue`, not yet polled) and waits for the job's
    /// result (`done`, `failed`, …).
    async fn enqueue_and_wait(
        &self,
        enqueue: impl std::future::Future<Output = zbus::Result<OwnedObjectPath>>,
        call: &'static str,
        job_name: &'static str,
        unit: &str,
        timeout: Duration,
    ) -> Result<String, SystemdError> {
        // Listen for the job's end before asking for it, so the signal cannot be missed.
        let mut removed = self
            .manager
            .receive_job_removed()
            .await
            .map_err(call_err("Manager.JobRemoved"))?;
        let job = enqueue.await.map_err(call_err(call))?;
        let wait = async {
            while let Some(signal) = removed.next().await {
                let Ok(args) = signal.args() else { continue };
                if args.job == job {
                    return Some(args.result);
                }
            }
            None
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(result)) => Ok(result),
            Ok(None) | Err(_) => Err(SystemdError::JobTimeout {
                job: job_name,
                unit: unit.to_owned(),
            }),
        }
    }

    /// A start, reload or restart of a unit (mode `replace`), done when its job is.
    async fn unit_job(
        &self,
        enqueue: impl std::future::Future<Output = zbus::Result<OwnedObjectPath>>,
        call: &'static str,
        job: &'static str,
        unit: &str,
    ) -> Result<(), SystemdError> {
        match self
            .enqueue_and_wait(enqueue, call, job, unit, START_JOB_TIMEOUT)
            .await?
        {
            result if result == "done" => Ok(()),
            result => Err(SystemdError::JobFailed {
                job,
                unit: unit.to_owned(),
                result,
            }),
        }
    }

    /// Connects to the system bus (where PID 1 listens).
    pub async fn connect_system() -> Result<Self, SystemdError> {
        let conn = zbus::Connection::system()
            .await
            .map_err(|e| SystemdError::Connect(Box::new(e)))?;
        Self::on(conn).await
    }

    /// Uses an existing connection: a bus, or a peer-to-peer link to a fake systemd in tests.
    /// Subscribes, so PID 1 sends job and unit signals.
    pub async fn on(conn: zbus::Connection) -> Result<Self, SystemdError> {
        let manager = ManagerProxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(call_err("Manager proxy"))?;
        manager
            .subscribe()
            .await
            .map_err(call_err("Manager.Subscribe"))?;
        Ok(Self { conn, manager })
    }

    /// A proxy of one unit object that reads properties afresh on every call.
    async fn uncached<P>(
        &self,
        path: OwnedObjectPath,
        what: &'static str,
    ) -> Result<P, SystemdError>
    where
        P: zbus::proxy::Defaults + From<zbus::Proxy<'static>>,
    {
        zbus::proxy::Builder::<P>::new(&self.conn)
            .path(path)
            .map_err(call_err(what))?
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(call_err(what))
    }

    async fn unit_path(&self, name: &str) -> Result<Option<OwnedObjectPath>, SystemdError> {
        match self.manager.get_unit(name).await {
            Ok(path) => Ok(Some(path)),
            Err(zbus::Error::MethodError(err_name, _, _))
                if err_name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
            {
                Ok(None)
            }
            Err(source) => Err(call_err("Manager.GetUnit")(source)),
        }
    }
}

/// `NoSuchUnit` on stop/reset means the work is already done.
fn ignore_no_such_unit(result: zbus::Result<()>, call: &'static str) -> Result<(), SystemdError> {
    match result {
        Err(zbus::Error::MethodError(name, _, _))
            if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
        {
            Ok(())
        }
        other => other.map_err(call_err(call)),
    }
}

#[async_trait::async_trait]
impl Systemd for DbusSystemd {
    async fn version(&self) -> Result<String, SystemdError> {
        self.manager
            .version()
            .await
            .map_err(call_err("Manager.Version"))
    }

    async fn list_units(&self, pattern: &str) -> Result<Vec<UnitStatus>, SystemdError> {
        let units = self
            .manager
            .list_units_by_patterns(&[], &[pattern])
            .await
            .map_err(call_err("Manager.ListUnitsByPatterns"))?;
        Ok(units
            .into_iter()
            .map(
                |(name, description, _, active_state, sub_state, ..)| UnitStatus {
                    name,
                    description,
                    active_state,
                    sub_state,
                },
            )
            .collect())
    }

    async fn start_transient(
        &self,
        name: &str,
        properties: Vec<Property>,
    ) -> Result<(), SystemdError> {
        match self
            .start_and_wait(name, &properties, &[], START_JOB_TIMEOUT)
            .await?
        {
            result if result == "done" => Ok(()),
            result => Err(SystemdError::JobFailed {
                job: "starting",
                unit: name.to_owned(),
                result,
            }),
        }
    }

    async fn run_to_completion(
        &self,
        name: &str,
        properties: Vec<Property>,
        wait_at_most: Duration,
    ) -> Result<RunOutcome, SystemdError> {
        // A oneshot's start job ends when its process does: `done` on success.
        let job_result = self
            .start_and_wait(name, &properties, &[], wait_at_most)
            .await?;
        if job_result == "done" {
            return Ok(RunOutcome::success());
        }
        let outcome = match self.unit_path(name).await? {
            Some(path) => {
                let service: ServiceProxy = self.uncached(path, "Service proxy").await?;
                let (result, exit_status) =
                    tokio::try_join!(service.result(), service.exec_main_status())
                        .map_err(call_err("Service properties"))?;
                RunOutcome {
                    result,
                    exit_status,
                }
            }
            None => RunOutcome {
                result: job_result,
                exit_status: 0,
            },
        };
        self.reset_failed(name).await?;
        Ok(outcome)
    }

    async fn start_timer(
        &self,
        timer: &str,
        timer_properties: Vec<Property>,
        service: &str,
        service_properties: Vec<Property>,
    ) -> Result<(), SystemdError> {
        let aux = [(service, service_properties.as_slice())];
        match self
            .start_and_wait(timer, &timer_properties, &aux, START_JOB_TIMEOUT)
            .await?
        {
            result if result == "done" => Ok(()),
            result => Err(SystemdError::JobFailed {
                job: "starting",
                unit: timer.to_owned(),
                result,
            }),
        }
    }

    async fn timer_details(
        &self,
        timer: &str,
        service: &str,
    ) -> Result<Option<TimerDetails>, SystemdError> {
        let Some(timer_path) = self.unit_path(timer).await? else {
            return Ok(None);
        };
        let timer: TimerProxy = self.uncached(timer_path, "Timer proxy").await?;
        let (next_elapse_usec, last_trigger_usec) =
            tokio::try_join!(timer.next_elapse_usec_realtime(), timer.last_trigger_usec())
                .map_err(call_err("Timer properties"))?;
        let mut details = TimerDetails {
            next_elapse_usec,
            last_trigger_usec,
            ..TimerDetails::default()
        };
        if let Some(path) = self.unit_path(service).await? {
            let unit: UnitProxy = self.uncached(path.clone(), "Unit proxy").await?;
            let service: ServiceProxy = self.uncached(path, "Service proxy").await?;
            let (state, result, status) = tokio::try_join!(
                unit.active_state(),
                service.result(),
                service.exec_main_status()
            )
            .map_err(call_err("Service properties"))?;
            details.service_active_state = state;
            details.service_result = result;
            details.service_exit_status = status;
        }
        Ok(Some(details))
    }

    async fn set_properties(
        &self,
        name: &str,
        properties: Vec<Property>,
    ) -> Result<(), SystemdError> {
        self.manager
            .set_unit_properties(name, true, &values(&properties))
            .await
            .map_err(call_err("Manager.SetUnitProperties"))
    }

    async fn stop_unit(&self, name: &str) -> Result<(), SystemdError> {
        ignore_no_such_unit(
            self.manager.stop_unit(name, "replace").await.map(drop),
            "Manager.StopUnit",
        )
    }

    async fn restart_unit(&self, name: &str) -> Result<(), SystemdError> {
        self.manager
            .restart_unit(name, "replace")
            .await
            .map(drop)
            .map_err(call_err("Manager.RestartUnit"))
    }

    async fn start_unit(&self, name: &str) -> Result<(), SystemdError> {
        let enqueue = self.manager.start_unit(name, "replace");
        self.unit_job(enqueue, "Manager.StartUnit", "starting", name)
            .await
    }

    async fn reload_unit(&self, name: &str) -> Result<(), SystemdError> {
        let enqueue = self.manager.reload_unit(name, "replace");
        self.unit_job(enqueue, "Manager.ReloadUnit", "reloading", name)
            .await
    }

    async fn restart_unit_and_wait(&self, name: &str) -> Result<(), SystemdError> {
        let enqueue = self.manager.restart_unit(name, "replace");
        self.unit_job(enqueue, "Manager.RestartUnit", "restarting", name)
            .await
    }

    async fn reset_failed(&self, name: &str) -> Result<(), SystemdError> {
        ignore_no_such_unit(
            self.manager.reset_failed_unit(name).await,
            "Manager.ResetFailedUnit",
        )
    }

    async fn service_details(&self, name: &str) -> Result<Option<ServiceDetails>, SystemdError> {
        let Some(path) = self.unit_path(name).await? else {
            return Ok(None);
        };
        let unit: UnitProxy = self.uncached(path.clone(), "Unit proxy").await?;
        let service: ServiceProxy = self.uncached(path, "Service proxy").await?;
        let (active_state, sub_state, enter, pid, restarts, cpu, memory, tasks) = tokio::try_join!(
            unit.active_state(),
            unit.sub_state(),
            unit.active_enter_timestamp(),
            service.main_pid(),
            service.n_restarts(),
            service.cpu_usage_nsec(),
            service.memory_current(),
            service.tasks_current()
        )
        .map_err(call_err("Unit properties"))?;
        let mut usage = Usage::from_counters(cpu, memory, tasks);
        if usage.memory_bytes.is_none() && active_state == "active" {
            usage = self.usage_from_processes(name).await.unwrap_or(usage);
        }
        Ok(Some(ServiceDetails {
            active_state,
            sub_state,
            main_pid: pid,
            n_restarts: restarts,
            active_enter_usec: enter,
            usage,
        }))
    }

    async fn watch(&self) -> Result<tokio::sync::mpsc::Receiver<String>, SystemdError> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let mut jobs = self
            .manager
            .receive_job_removed()
            .await
            .map_err(call_err("Manager.JobRemoved"))?;
        let mut removed = self
            .manager
            .receive_unit_removed()
            .await
            .map_err(call_err("Manager.UnitRemoved"))?;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.DBus.Properties")
            .and_then(|b| b.member("PropertiesChanged"))
            .and_then(|b| b.path_namespace("/org/freedesktop/systemd1/unit"))
            .map_err(call_err("PropertiesChanged match"))?
            .build();
        let mut changed = zbus::MessageStream::for_match_rule(rule, &self.conn, Some(1024))
            .await
            .map_err(call_err("PropertiesChanged match"))?;
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    Some(s) = jobs.next() => s.args().ok().map(|a| a.unit),
                    Some(s) = removed.next() => s.args().ok().map(|a| a.unit),
                    Some(Ok(m)) = changed.next() => m.header().path().map(|p| p.as_str().to_owned()),
                    else => break,
                };
                // Object paths escape '-' as "_2d": /org/freedesktop/systemd1/unit/skiff_2dhello…
                let Some(event) = event else { continue };
                let ours = event.starts_with("skiff-") || event.contains("/unit/skiff_2d");
                // Never wait on the reconciler: a blocked reader here would stall every
                // stream of this connection. Events are only hints; a full queue already
                // guarantees another round.
                if ours {
                    if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                        tx.try_send(event)
                    {
                        break;
                    }
                }
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use zbus::object_server::SignalEmitter;
    use zbus::zvariant::OwnedValue;

    use super::*;
    use crate::systemd::properties::PropertyValue as P;

    /// A stand-in for PID 1's Manager object, served on one end of a socket pair.
    type StartedUnit = (String, Vec<(String, OwnedValue)>);

    #[derive(Clone, Default)]
    struct FakeManager {
        started: Arc<Mutex<Vec<StartedUnit>>>,
        subscribed: Arc<Mutex<bool>>,
        jobs: Arc<Mutex<Vec<String>>>,
    }

    impl FakeManager {
        /// Records a start, reload or restart job and ends it at once (`failed` for a unit
        /// named `broken`).
        async fn job(
            &self,
            emitter: &SignalEmitter<'_>,
            kind: &str,
            name: String,
            mode: String,
        ) -> zbus::fdo::Result<OwnedObjectPath> {
            self.jobs
                .lock()
                .unwrap()
                .push(format!("{kind} {name} {mode}"));
            let job = OwnedObjectPath::try_from("/org/freedesktop/systemd1/job/8").unwrap();
            let result = if name.contains("broken") {
                "failed"
            } else {
                "done"
            };
            Self::job_removed(emitter, 8, job.clone(), name, result.to_owned()).await?;
            Ok(job)
        }
    }

    #[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
    impl FakeManager {
        #[zbus(property)]
        fn version(&self) -> String {
            "252.99-fake".to_owned()
        }

        fn subscribe(&self) {
            *self.subscribed.lock().unwrap() = true;
        }

        async fn start_transient_unit(
            &self,
            #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
            name: String,
            mode: String,
            properties: Vec<(String, OwnedValue)>,
            _aux: Vec<(String, Vec<(String, OwnedValue)>)>,
        ) -> zbus::fdo::Result<OwnedObjectPath> {
            assert_eq!(mode, "fail");
            self.started
                .lock()
                .unwrap()
                .push((name.clone(), properties));
            let job = OwnedObjectPath::try_from("/org/freedesktop/systemd1/job/7").unwrap();
            let result = if name.contains("broken") {
                "failed"
            } else {
                "done"
            };
            Self::job_removed(&emitter, 7, job.clone(), name, result.to_owned()).await?;
            Ok(job)
        }

        async fn start_unit(
            &self,
            #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
            name: String,
            mode: String,
        ) -> zbus::fdo::Result<OwnedObjectPath> {
            self.job(&emitter, "start", name, mode).await
        }

        async fn reload_unit(
            &self,
            #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
            name: String,
            mode: String,
        ) -> zbus::fdo::Result<OwnedObjectPath> {
            self.job(&emitter, "reload", name, mode).await
        }

        async fn restart_unit(
            &self,
            #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
            name: String,
            mode: String,
        ) -> zbus::fdo::Result<OwnedObjectPath> {
            self.job(&emitter, "restart", name, mode).await
        }

        fn list_units_by_patterns(
            &self,
            _states: Vec<String>,
            patterns: Vec<String>,
        ) -> Vec<ListedUnit> {
            assert_eq!(patterns, ["skiff-*"]);
            let path = OwnedObjectPath::try_from("/org/freedesktop/systemd1/unit/x").unwrap();
            vec![(
                "skiff-hello.web.1.v1.service".into(),
                "skiff hello web.1 (v1)".into(),
                "loaded".into(),
                "active".into(),
                "running".into(),
                String::new(),
                path.clone(),
                0,
                String::new(),
                path,
            )]
        }

        #[zbus(signal)]
        async fn job_removed(
            emitter: &SignalEmitter<'_>,
            id: u32,
            job: OwnedObjectPath,
            unit: String,
            result: String,
        ) -> zbus::Result<()>;
    }

    async fn connect(fake: FakeManager) -> DbusSystemd {
        let (server_end, client_end) = tokio::net::UnixStream::pair().unwrap();
        let server = zbus::connection::Builder::unix_stream(server_end)
            .server(zbus::Guid::generate())
            .unwrap()
            .p2p()
            .serve_at("/org/freedesktop/systemd1", fake)
            .unwrap()
            .build();
        let client = zbus::connection::Builder::unix_stream(client_end)
            .p2p()
            .build();
        let (server, client) = tokio::try_join!(server, client).unwrap();
        std::mem::forget(server);
        DbusSystemd::on(client).await.unwrap()
    }

    #[tokio::test]
    async fn subscribes_and_reads_the_version() {
        let fake = FakeManager::default();
        let systemd = connect(fake.clone()).await;
        assert!(*fake.subscribed.lock().unwrap());
        assert_eq!(systemd.version().await.unwrap(), "252.99-fake");
    }

    #[tokio::test]
    async fn starts_a_transient_unit_with_typed_properties_and_waits_for_its_job() {
        let fake = FakeManager::default();
        let systemd = connect(fake.clone()).await;
        let props = vec![
            ("Type", P::Str("exec".into())),
            ("DynamicUser", P::Bool(true)),
            ("StartLimitBurst", P::U32(5)),
            ("SystemCallErrorNumber", P::I32(1)),
            ("MemoryMax", P::U64(1024)),
            ("Environment", P::StrList(vec!["DYNO=web.1".into()])),
            (
                "ExecStart",
                P::Exec(vec![(
                    "/bin/sh".into(),
                    vec!["/bin/sh".into(), "-c".into(), "x".into()],
                    false,
                )]),
            ),
            (
                "EnvironmentFiles",
                P::EnvFiles(vec![("/run/skiff/env/a".into(), false)]),
            ),
            (
                "BindReadOnlyPaths",
                P::Binds(vec![("/src".into(), "/app".into(), false, 16384)]),
            ),
            (
                "SystemCallFilter",
                P::Filter(true, vec!["@system-service".into()]),
            ),
            ("LogExtraFields", P::Bytes(vec![b"SKIFF_APP=a".to_vec()])),
            (
                "StandardInputFileDescriptor",
                P::Fd(super::super::properties::SharedFd::new(
                    std::fs::File::open("/dev/null").unwrap().into(),
                )),
            ),
            (
                "TimersCalendar",
                P::Timers(vec![("OnCalendar".into(), "*-*-* *:*:00".into())]),
            ),
        ];
        systemd
            .start_transient("skiff-a.web.1.v1.service", props)
            .await
            .unwrap();
        let started = fake.started.lock().unwrap().clone();
        let (name, got) = &started[0];
        assert_eq!(name, "skiff-a.web.1.v1.service");
        let sig = |key: &str| {
            let value = &got.iter().find(|(k, _)| k == key).unwrap().1;
            value.value_signature().to_string()
        };
        for (key, want) in [
            ("Type", "s"),
            ("DynamicUser", "b"),
            ("StartLimitBurst", "u"),
            ("SystemCallErrorNumber", "i"),
            ("MemoryMax", "t"),
            ("Environment", "as"),
            ("ExecStart", "a(sasb)"),
            ("EnvironmentFiles", "a(sb)"),
            ("BindReadOnlyPaths", "a(ssbt)"),
            ("SystemCallFilter", "(bas)"),
            ("LogExtraFields", "aay"),
            ("StandardInputFileDescriptor", "h"),
            ("TimersCalendar", "a(ss)"),
        ] {
            assert_eq!(sig(key), want, "{key}");
        }
    }

    #[tokio::test]
    async fn a_failed_start_job_is_an_error() {
        let systemd = connect(FakeManager::default()).await;
        let err = systemd
            .start_transient("skiff-broken.service", vec![])
            .await
            .unwrap_err();
        assert!(
            matches!(err, SystemdError::JobFailed { ref result, .. } if result == "failed"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn starts_reloads_and_restarts_units_waiting_for_their_jobs() {
        let fake = FakeManager::default();
        let systemd = connect(fake.clone()).await;
        let unit = "postgresql@15-skiff.service";
        systemd.start_unit(unit).await.unwrap();
        systemd.reload_unit(unit).await.unwrap();
        systemd.restart_unit_and_wait(unit).await.unwrap();
        assert_eq!(
            *fake.jobs.lock().unwrap(),
            [
                format!("start {unit} replace"),
                format!("reload {unit} replace"),
                format!("restart {unit} replace"),
            ]
        );
        let err = systemd.reload_unit("broken.service").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "reloading broken.service failed: job result failed"
        );
    }

    #[tokio::test]
    async fn lists_units_by_pattern() {
        let systemd = connect(FakeManager::default()).await;
        let units = systemd.list_units("skiff-*").await.unwrap();
        assert_eq!(
            units,
            [UnitStatus {
                name: "skiff-hello.web.1.v1.service".into(),
                description: "skiff hello web.1 (v1)".into(),
                active_state: "active".into(),
                sub_state: "running".into()
            }]
        );
    }
}
