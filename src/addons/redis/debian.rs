//! The real Redis servers: Debian's `redis-server` as one transient unit per add-on, its files
//! under `STATE/addons/redis/` (`NAME/`, the data folder owned by `redis`, 0700; `NAME.conf`, the
//! root-only config), file work on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::cli::{self, REDIS_CLI};
use super::config::{self, LiveSetting, Settings, Update};
use super::info::parse_info;
use super::{RedisError, RedisInfo, RedisInstance, RedisServer, RedisSnapshot};
use crate::files::{make_dir_mode, write_private};
use crate::model::{AddonName, AddonSecret, Census};
use crate::paths::Layout;
use crate::systemd::properties::{
    redis_unit_properties, PropertyValue, RedisUnitSpec, REDIS_SERVER, REDIS_USER,
};
use crate::systemd::Systemd;

/// How long a started server has to answer PING (loading a large AOF takes a while).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped unit has to be gone; its own stop timeout ends it first.
pub(super) const GONE_TIMEOUT: Duration = Duration::from_secs(40);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const POLL: Duration = Duration::from_millis(250);
const RESTART_DELAY: Duration = Duration::from_secs(1);

pub struct DebianRedis {
    pub(super) systemd: Arc<dyn Systemd>,
    /// `STATE/addons/redis`.
    pub(super) root: PathBuf,
    pub(super) hidden_paths: Vec<PathBuf>,
}

/// Where an instance's unit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitState {
    /// Not loaded: it must be started.
    Absent,
    /// Failed for good (restarts ran out): reset, then started.
    Failed,
    /// Running, starting or between two restarts.
    Present,
}

pub(super) fn io(what: String) -> impl FnOnce(std::io::Error) -> RedisError {
    move |source| RedisError::Io { what, source }
}

/// Runs file work on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RedisError> + Send + 'static,
) -> Result<T, RedisError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("redis file work does not panic")
}

/// The uid and gid of the `redis` user.
pub(super) fn redis_ids() -> Result<(nix::unistd::Uid, nix::unistd::Gid), RedisError> {
    match nix::unistd::User::from_name(REDIS_USER) {
        Ok(Some(user)) => Ok((user.uid, user.gid)),
        _ => Err(RedisError::Unavailable(format!(
            "there is no user {REDIS_USER}"
        ))),
    }
}

/// Makes the data folder exist, owned by `redis` and open to it alone.
fn prepare_data_dir(dir: &Path) -> Result<(), RedisError> {
    let (uid, gid) = redis_ids()?;
    make_dir_mode(dir, 0o700).map_err(io(format!("cannot create {}", dir.display())))?;
    nix::unistd::chown(dir, Some(uid), Some(gid)).map_err(|e| RedisError::Io {
        what: format!("cannot give {} to {REDIS_USER}", dir.display()),
        source: e.into(),
    })
}

fn read_optional(path: &Path) -> Result<Option<String>, RedisError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("cannot read {}", path.display()))(e)),
    }
}

fn remove_files(data_dir: &Path, config_file: &Path) -> Result<(), RedisError> {
    for (path, result) in [
        (data_dir, std::fs::remove_dir_all(data_dir)),
        (config_file, std::fs::remove_file(config_file)),
    ] {
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(format!("cannot remove {}", path.display()))(e));
            }
            _ => {}
        }
    }
    Ok(())
}

impl DebianRedis {
    pub fn new(systemd: Arc<dyn Systemd>, layout: &Layout) -> Self {
        Self {
            systemd,
            root: layout.state_dir.join("addons").join("redis"),
            hidden_paths: layout.hidden_from_dynos(),
        }
    }

    pub(super) fn data_dir(&self, name: &AddonName) -> PathBuf {
        self.root.join(name.as_str())
    }

    fn config_file(&self, name: &AddonName) -> PathBuf {
        self.root.join(format!("{name}.conf"))
    }

    fn spec(&self, instance: &RedisInstance) -> RedisUnitSpec {
        RedisUnitSpec {
            addon: instance.name.clone(),
            owner: instance.owner.clone(),
            data_dir: self.data_dir(&instance.name),
            config_file: self.config_file(&instance.name),
            memory_max: config::memory_max(instance.maxmemory),
            hidden_paths: self.hidden_paths.clone(),
            restart_delay_usec: RESTART_DELAY.as_micros() as u64,
            stop_timeout_usec: STOP_TIMEOUT.as_micros() as u64,
        }
    }

    async fn unit_state(&self, name: &AddonName) -> Result<UnitState, RedisError> {
        let unit = name.unit_name();
        let listed = self.systemd.list_units(&unit).await?;
        Ok(match listed.iter().find(|u| u.name == unit) {
            None => UnitState::Absent,
            Some(u) if u.active_state == "failed" => UnitState::Failed,
            Some(u) if u.active_state == "inactive" => UnitState::Absent,
            Some(_) => UnitState::Present,
        })
    }

    async fn write_config(&self, name: &AddonName, text: String) -> Result<(), RedisError> {
        let path = self.config_file(name);
        blocking(move || {
            write_private(&path, text.as_bytes())
                .map_err(io(format!("cannot write {}", path.display())))
        })
        .await
    }

    /// Data folder and config in place, the unit started, and the server answering.
    async fn start(&self, instance: &RedisInstance, state: UnitState) -> Result<(), RedisError> {
        let name = &instance.name;
        let data_dir = self.data_dir(name);
        blocking(move || prepare_data_dir(&data_dir)).await?;
        self.write_config(name, config::render(&Settings::of(instance)))
            .await?;
        if state == UnitState::Failed {
            self.systemd.reset_failed(&name.unit_name()).await?;
        }
        self.systemd
            .start_transient(
                &name.unit_name(),
                redis_unit_properties(&self.spec(instance)),
            )
            .await?;
        self.wait_ready(instance).await
    }

    /// Stops the unit and waits until systemd has let it go.
    async fn stop(&self, name: &AddonName) -> Result<(), RedisError> {
        let unit = name.unit_name();
        if self.unit_state(name).await? == UnitState::Present {
            self.systemd.stop_unit(&unit).await?;
        }
        let deadline = tokio::time::Instant::now() + GONE_TIMEOUT;
        loop {
            match self.unit_state(name).await? {
                UnitState::Absent => return Ok(()),
                UnitState::Failed => {
                    self.systemd.reset_failed(&unit).await?;
                    return Ok(());
                }
                UnitState::Present if tokio::time::Instant::now() >= deadline => {
                    return Err(RedisError::NotStopped {
                        name: name.clone(),
                        waited: GONE_TIMEOUT.as_secs(),
                    });
                }
                UnitState::Present => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Waits until the server answers PING with the instance's password.
    async fn wait_ready(&self, instance: &RedisInstance) -> Result<(), RedisError> {
        let ping = ["PING".to_owned()];
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let answer = cli::call(instance.listen, &instance.secret, &ping, None).await;
            match answer {
                Ok(reply) if reply == "PONG" => return Ok(()),
                Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Ok(reply) => {
                    return Err(RedisError::NotAnswering {
                        name: instance.name.clone(),
                        message: reply,
                    })
                }
                Err(e) => {
                    return Err(RedisError::NotAnswering {
                        name: instance.name.clone(),
                        message: e.to_string(),
                    })
                }
            }
        }
    }

    /// `CONFIG SET` on the running server, and its new limit on the unit.
    async fn apply_live(
        &self,
        instance: &RedisInstance,
        current: &AddonSecret,
        settings: &[LiveSetting],
    ) -> Result<(), RedisError> {
        let (args, password) = config::config_set_args(settings);
        let reply = cli::call(instance.listen, current, &args, password).await?;
        if reply != "OK" {
            return Err(RedisError::Cli {
                command: "CONFIG".to_owned(),
                message: reply,
            });
        }
        if settings
            .iter()
            .any(|s| matches!(s, LiveSetting::Maxmemory(_)))
        {
            let limit = config::memory_max(instance.maxmemory);
            self.systemd
                .set_properties(
                    &instance.name.unit_name(),
                    vec![("MemoryMax", PropertyValue::U64(limit))],
                )
                .await?;
        }
        Ok(())
    }

    /// Brings a running server to `instance`: live when it can, else by a restart.
    async fn change(
        &self,
        instance: &RedisInstance,
        current: Option<&str>,
    ) -> Result<(), RedisError> {
        let wanted = Settings::of(instance);
        match config::update(current, &wanted) {
            Update::Nothing => Ok(()),
            Update::Live { current, settings } => {
                let live = self.apply_live(instance, &current, &settings).await;
                if let Err(e) = live {
                    tracing::warn!(addon = %instance.name, "restarting redis: a live change failed: {e}");
                    return self.restart(instance).await;
                }
                self.write_config(&instance.name, config::render(&wanted))
                    .await
            }
            Update::Restart => self.restart(instance).await,
        }
    }

    /// Stops the instance's server (a restore replaces its files meanwhile).
    pub(super) async fn stop_instance(&self, name: &AddonName) -> Result<(), RedisError> {
        self.stop(name).await
    }

    /// Starts the instance's server on the files it has and waits until it answers.
    pub(super) async fn start_instance(&self, instance: &RedisInstance) -> Result<(), RedisError> {
        self.start(instance, UnitState::Absent).await
    }

    async fn restart(&self, instance: &RedisInstance) -> Result<(), RedisError> {
        self.stop(&instance.name).await?;
        self.start(instance, UnitState::Absent).await
    }
}

#[async_trait::async_trait]
impl RedisServer for DebianRedis {
    async fn unavailable(&self) -> Option<String> {
        blocking(|| {
            for program in [REDIS_SERVER, REDIS_CLI] {
                if !Path::new(program).exists() {
                    return Err(RedisError::Unavailable(format!("{program} is missing")));
                }
            }
            redis_ids().map(|_| ())
        })
        .await
        .err()
        .map(|e| e.to_string())
    }

    async fn ensure(&self, instance: &RedisInstance) -> Result<(), RedisError> {
        let state = self.unit_state(&instance.name).await?;
        if state != UnitState::Present {
            return self.start(instance, state).await;
        }
        let path = self.config_file(&instance.name);
        let current = blocking(move || read_optional(&path)).await?;
        self.change(instance, current.as_deref()).await
    }

    async fn remove(&self, name: &AddonName) -> Result<(), RedisError> {
        self.stop(name).await?;
        let (data_dir, config_file) = (self.data_dir(name), self.config_file(name));
        blocking(move || remove_files(&data_dir, &config_file)).await
    }

    async fn snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<RedisSnapshot, RedisError> {
        self.take_snapshot(instance, file).await
    }

    async fn check_snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<Census, RedisError> {
        self.check_loaded_snapshot(instance, file).await
    }

    async fn restore(&self, instance: &RedisInstance, file: &Path) -> Result<(), RedisError> {
        self.restore_from_snapshot(instance, file).await
    }

    async fn info(&self, instance: &RedisInstance) -> Result<RedisInfo, RedisError> {
        let info = cli::call(
            instance.listen,
            &instance.secret,
            &["INFO".to_owned()],
            None,
        )
        .await?;
        parse_info(&info).ok_or_else(|| RedisError::Cli {
            command: "INFO".to_owned(),
            message: "the answer lacks version, memory, clients or keys".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddonEndpoint, AppName, MaxmemoryPolicy};
    use crate::systemd::FakeSystemd;

    fn instance() -> RedisInstance {
        RedisInstance {
            name: AddonName::parse("redis-shop").unwrap(),
            owner: AppName::parse("shop").unwrap(),
            listen: AddonEndpoint {
                host: "10.213.255.241".parse().unwrap(),
                port: 6379,
            },
            secret: AddonSecret::generate(),
            maxmemory: 25 << 20,
            policy: MaxmemoryPolicy::default(),
        }
    }

    fn redis(dir: &Path) -> (Arc<FakeSystemd>, DebianRedis) {
        let systemd = Arc::new(FakeSystemd::default());
        let layout = Layout::new(&dir.join("state"), &dir.join("run"));
        (systemd.clone(), DebianRedis::new(systemd, &layout))
    }

    #[tokio::test]
    async fn ensure_does_nothing_while_the_unit_runs_with_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let (systemd, redis) = redis(dir.path());
        let instance = instance();
        let text = config::render(&Settings::of(&instance));
        write_private(&redis.config_file(&instance.name), text.as_bytes()).unwrap();
        systemd.add_unit(&instance.name.unit_name(), "active");
        redis.ensure(&instance).await.unwrap();
        assert_eq!(systemd.calls(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn remove_stops_the_unit_then_deletes_data_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let (systemd, redis) = redis(dir.path());
        let name = instance().name;
        let data = redis.data_dir(&name);
        std::fs::create_dir_all(data.join("appendonlydir")).unwrap();
        write_private(&redis.config_file(&name), b"x").unwrap();
        systemd.add_unit(&name.unit_name(), "active");
        redis.remove(&name).await.unwrap();
        assert_eq!(systemd.calls(), ["stop skiff-addon-redis-shop.service"]);
        assert!(!data.exists());
        assert!(!redis.config_file(&name).exists());
        redis.remove(&name).await.unwrap();
    }

    #[test]
    fn files_live_under_the_state_dir_and_the_password_never_in_properties() {
        let dir = tempfile::tempdir().unwrap();
        let (_, redis) = redis(dir.path());
        let instance = instance();
        let spec = redis.spec(&instance);
        let state = dir.path().join("state/addons/redis");
        assert_eq!(spec.data_dir, state.join("redis-shop"));
        assert_eq!(spec.config_file, state.join("redis-shop.conf"));
        assert_eq!(spec.memory_max, 114 << 20);
        let props = format!("{:?}", redis_unit_properties(&spec));
        assert!(!props.contains(instance.secret.expose()));
    }
}
