//! An in-memory `RedisServer` for tests: it records the instances it was asked to run.

use std::collections::BTreeMap;
use std::sync::Mutex;

use std::path::Path;

use super::{RedisError, RedisInfo, RedisInstance, RedisServer, RedisSnapshot};
use crate::model::{AddonName, Census};

/// Behaves like a host with Redis installed where every server answers at once.
#[derive(Default)]
pub struct FakeRedis {
    /// What `unavailable` says (no server installed).
    pub missing: Option<String>,
    instances: Mutex<BTreeMap<AddonName, RedisInstance>>,
    calls: Mutex<Vec<String>>,
    keys: Mutex<BTreeMap<AddonName, Census>>,
}

impl FakeRedis {
    /// The instances running now, by name.
    pub fn instances(&self) -> BTreeMap<AddonName, RedisInstance> {
        self.instances.lock().expect("fake redis lock").clone()
    }

    /// Every call that changed something, like "start redis-shop", "change redis-shop",
    /// "remove redis-shop".
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("fake redis lock").clone()
    }

    /// What the instance holds: its snapshots write it (as JSON) and checks read it back.
    pub fn set_keys(&self, name: &AddonName, keys: Census) {
        self.keys
            .lock()
            .expect("fake redis lock")
            .insert(name.clone(), keys);
    }

    fn record(&self, call: String) {
        self.calls.lock().expect("fake redis lock").push(call);
    }
}

#[async_trait::async_trait]
impl RedisServer for FakeRedis {
    async fn unavailable(&self) -> Option<String> {
        self.missing.clone()
    }

    async fn ensure(&self, instance: &RedisInstance) -> Result<(), RedisError> {
        if let Some(why) = &self.missing {
            return Err(RedisError::Unavailable(why.clone()));
        }
        let previous = self
            .instances
            .lock()
            .expect("fake redis lock")
            .insert(instance.name.clone(), instance.clone());
        match previous {
            None => self.record(format!("start {}", instance.name)),
            Some(old) if old != *instance => self.record(format!("change {}", instance.name)),
            Some(_) => {}
        }
        Ok(())
    }

    async fn remove(&self, name: &AddonName) -> Result<(), RedisError> {
        self.instances.lock().expect("fake redis lock").remove(name);
        self.record(format!("remove {name}"));
        Ok(())
    }

    async fn info(&self, instance: &RedisInstance) -> Result<RedisInfo, RedisError> {
        if !self.instances().contains_key(&instance.name) {
            return Err(RedisError::NotAnswering {
                name: instance.name.clone(),
                message: "not running".to_owned(),
            });
        }
        Ok(RedisInfo {
            version: "7.0.15".to_owned(),
            used_memory: 1 << 20,
            clients: 1,
            keys: 0,
        })
    }

    async fn snapshot(
        &self,
        instance: &RedisInstance,
        file: &Path,
    ) -> Result<RedisSnapshot, RedisError> {
        let keys = self
            .keys
            .lock()
            .expect("fake redis lock")
            .get(&instance.name)
            .cloned()
            .unwrap_or_default();
        let json = serde_json::to_vec(&keys).expect("a census is JSON");
        std::fs::write(file, json).map_err(|source| RedisError::Io {
            what: format!("cannot write {}", file.display()),
            source,
        })?;
        Ok(RedisSnapshot { keys, tolerance: 0 })
    }

    async fn restore(&self, instance: &RedisInstance, file: &Path) -> Result<(), RedisError> {
        let keys = self.check_snapshot(instance, file).await?;
        self.set_keys(&instance.name, keys);
        self.record(format!("restore {}", instance.name));
        Ok(())
    }

    async fn check_snapshot(
        &self,
        _instance: &RedisInstance,
        file: &Path,
    ) -> Result<Census, RedisError> {
        let text = std::fs::read(file).map_err(|source| RedisError::Io {
            what: format!("cannot read {}", file.display()),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| RedisError::Cli {
            command: "redis-server".to_owned(),
            message: format!("the snapshot does not load: {e}"),
        })
    }
}
