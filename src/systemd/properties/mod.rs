//! Pure specs → transient unit properties: dynos, builds, one-offs, cron timers, add-ons'
//! Redis servers and backup timers, each in its own file over the shared value helpers, sandbox and limits.

mod addon;
mod backup;
mod build;
mod dyno;
mod limits;
mod network;
mod oneoff;
mod sandbox;
mod timer;
mod values;

#[cfg(test)]
mod signatures;

pub use addon::{
    redis_check_properties, redis_unit_properties, RedisCheckSpec, RedisUnitSpec,
    REDIS_CHECK_SNAPSHOT, REDIS_CHECK_SOCKET, REDIS_DATA_MOUNT, REDIS_SERVER, REDIS_USER,
};
pub use backup::{
    backup_service_properties, backup_timer_description, backup_timer_properties, BackupTimerSpec,
};
pub use build::{build_properties, BuildSpec};
#[cfg(test)]
pub use dyno::DYNO_PATH;
pub use dyno::{dyno_properties, DynoSpec, RestartPolicy};
pub use limits::limit_properties;
pub use network::{host_commands_properties, HostCommand, HostCommandsSpec};
pub use oneoff::{oneoff_properties, OneOffCommand, OneOffLifetime, OneOffSpec, OneOffStdio};
pub use timer::timer_properties;
pub use values::{Property, PropertyValue, SharedFd};

#[cfg(test)]
pub(crate) mod test_support {
    //! Lookups over a property list shared by the tests of every spec.

    use super::{Property, PropertyValue};

    pub(crate) fn get<'a>(props: &'a [Property], name: &str) -> Vec<&'a PropertyValue> {
        props
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect()
    }

    pub(crate) fn one<'a>(props: &'a [Property], name: &str) -> &'a PropertyValue {
        let found = get(props, name);
        assert_eq!(found.len(), 1, "{name} set {} times", found.len());
        found[0]
    }
}
