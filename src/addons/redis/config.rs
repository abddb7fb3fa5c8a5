//! An instance's `redis.conf` (pure): rendered from what the instance should be, read back from
//! the file the running server was started with, and the update that takes one to the other —
//! live `CONFIG SET` for memory, policy and password, a restart for anything else.

use std::net::Ipv4Addr;

use super::RedisInstance;
use crate::model::{AddonEndpoint, AddonSecret, MaxmemoryPolicy};
use crate::systemd::properties::REDIS_DATA_MOUNT;

/// What the server is allowed beyond `maxmemory`: a fork for an AOF rewrite may, under writes,
/// copy every page of the dataset (twice the memory at worst), and fragmentation, client
/// buffers and the server itself need some more.
pub(crate) fn memory_max(maxmemory: u64) -> u64 {
    maxmemory.saturating_mul(2).saturating_add(64 << 20)
}

/// The values of a config file skiff writes; everything else in it is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub listen: AddonEndpoint,
    pub password: AddonSecret,
    pub maxmemory: u64,
    pub policy: MaxmemoryPolicy,
}

impl Settings {
    pub fn of(instance: &RedisInstance) -> Self {
        Self {
            listen: instance.listen,
            password: instance.secret.clone(),
            maxmemory: instance.maxmemory,
            policy: instance.policy.clone(),
        }
    }
}

/// The whole config file: only the add-on address, a password, AOF in the data folder (no RDB
/// snapshots, which would fork too), logs to stdout for journald, never daemonized.
pub(crate) fn render(settings: &Settings) -> String {
    let Settings {
        listen: AddonEndpoint { host, port },
        password,
        maxmemory,
        policy,
    } = settings;
    format!(
        "# Written by skiffd; the unit reads it as a credential. Changes are made by skiffd.\n\
         bind {host}\n\
         port {port}\n\
         protected-mode yes\n\
         daemonize no\n\
         logfile \"\"\n\
         dir {REDIS_DATA_MOUNT}\n\
         appendonly yes\n\
         appendfsync everysec\n\
         save \"\"\n\
         maxmemory {maxmemory}\n\
         maxmemory-policy {policy}\n\
         requirepass {password}\n",
        policy = policy.as_str(),
        password = password.expose(),
    )
}

/// The settings of a file [`render`] wrote; `None` for any other text.
pub(crate) fn read_back(text: &str) -> Option<Settings> {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
    };
    let settings = Settings {
        listen: AddonEndpoint {
            host: value("bind")?.parse::<Ipv4Addr>().ok()?,
            port: value("port")?.parse().ok()?,
        },
        password: AddonSecret::stored(value("requirepass")?)?,
        maxmemory: value("maxmemory")?.parse().ok()?,
        policy: MaxmemoryPolicy::parse(value("maxmemory-policy")?).ok()?,
    };
    (render(&settings) == text).then_some(settings)
}

/// One setting a running server takes with `CONFIG SET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LiveSetting {
    Maxmemory(u64),
    Policy(MaxmemoryPolicy),
    Password(AddonSecret),
}

/// How a running server is brought to the wanted config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Update {
    /// Its file already says it.
    Nothing,
    /// `CONFIG SET` of these, authenticated with the password it has now, then the file.
    Live {
        current: AddonSecret,
        settings: Vec<LiveSetting>,
    },
    /// The address changed, or the file is not one skiff wrote as it writes them now.
    Restart,
}

/// The update from the file the server runs with (`None`: no file) to `wanted`.
pub(crate) fn update(current: Option<&str>, wanted: &Settings) -> Update {
    let Some(text) = current else {
        return Update::Restart;
    };
    if text == render(wanted) {
        return Update::Nothing;
    }
    let Some(running) = read_back(text) else {
        return Update::Restart;
    };
    if running.listen != wanted.listen {
        return Update::Restart;
    }
    let mut settings = Vec::new();
    if running.maxmemory != wanted.maxmemory {
        settings.push(LiveSetting::Maxmemory(wanted.maxmemory));
    }
    if running.policy != wanted.policy {
        settings.push(LiveSetting::Policy(wanted.policy.clone()));
    }
    if running.password != wanted.password {
        settings.push(LiveSetting::Password(wanted.password.clone()));
    }
    Update::Live {
        current: running.password,
        settings,
    }
}

/// `CONFIG SET` arguments of `settings` in one atomic call, and the new password, if any, which
/// goes last and is read from standard input (`redis-cli -x`), never from the command line.
pub(crate) fn config_set_args(settings: &[LiveSetting]) -> (Vec<String>, Option<&AddonSecret>) {
    let mut args = vec!["CONFIG".to_owned(), "SET".to_owned()];
    let mut password = None;
    for setting in settings {
        match setting {
            LiveSetting::Maxmemory(bytes) => args.extend(["maxmemory".into(), bytes.to_string()]),
            LiveSetting::Policy(policy) => {
                args.extend(["maxmemory-policy".into(), policy.as_str().into()]);
            }
            LiveSetting::Password(secret) => password = Some(secret),
        }
    }
    if password.is_some() {
        args.push("requirepass".to_owned());
    }
    (args, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(c: char) -> AddonSecret {
        AddonSecret::stored(&c.to_string().repeat(48)).unwrap()
    }

    fn settings() -> Settings {
        Settings {
            listen: AddonEndpoint {
                host: Ipv4Addr::new(10, 213, 255, 241),
                port: 6379,
            },
            password: secret('a'),
            maxmemory: 25 << 20,
            policy: MaxmemoryPolicy::default(),
        }
    }

    #[test]
    fn the_file_binds_the_add_on_address_only_and_persists_to_the_data_folder() {
        let text = render(&settings());
        for line in [
            "bind 10.213.255.241",
            "port 6379",
            "protected-mode yes",
            "daemonize no",
            "logfile \"\"",
            "dir /var/lib/redis",
            "appendonly yes",
            "appendfsync everysec",
            "save \"\"",
            "maxmemory 26214400",
            "maxmemory-policy noeviction",
            &format!("requirepass {}", "a".repeat(48)),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("bind")).count(), 1);
    }

    #[test]
    fn only_files_skiff_wrote_read_back() {
        let text = render(&settings());
        assert_eq!(read_back(&text), Some(settings()));
        for other in [
            String::new(),
            text.replace("appendonly yes", "appendonly no"),
            text.replace("port 6379", "port x"),
            text.replace(&"a".repeat(48), "short"),
            format!("{text}rename-command CONFIG \"\"\n"),
        ] {
            assert_eq!(read_back(&other), None, "{other}");
        }
    }

    #[test]
    fn updates_are_live_unless_the_address_or_the_template_changed() {
        let running = settings();
        let text = render(&running);
        let lru = MaxmemoryPolicy::parse("allkeys-lru").unwrap();
        let with = |f: &dyn Fn(&mut Settings)| {
            let mut s = running.clone();
            f(&mut s);
            s
        };
        let live = |settings: Vec<LiveSetting>| Update::Live {
            current: secret('a'),
            settings,
        };
        let cases = [
            (Some(text.as_str()), running.clone(), Update::Nothing),
            (None, running.clone(), Update::Restart),
            (Some("garbage"), running.clone(), Update::Restart),
            (
                Some(text.as_str()),
                with(&|s| s.listen.port = 6380),
                Update::Restart,
            ),
            (
                Some(text.as_str()),
                with(&|s| s.listen.host = Ipv4Addr::new(10, 0, 0, 1)),
                Update::Restart,
            ),
            (
                Some(text.as_str()),
                with(&|s| s.maxmemory = 50 << 20),
                live(vec![LiveSetting::Maxmemory(50 << 20)]),
            ),
            (
                Some(text.as_str()),
                with(&|s| {
                    s.policy = lru.clone();
                    s.password = secret('b');
                }),
                live(vec![
                    LiveSetting::Policy(lru.clone()),
                    LiveSetting::Password(secret('b')),
                ]),
            ),
        ];
        for (current, wanted, expected) in cases {
            assert_eq!(
                update(current, &wanted),
                expected,
                "{current:?} → {wanted:?}"
            );
        }
    }

    #[test]
    fn config_set_keeps_the_new_password_off_the_command_line() {
        let lru = MaxmemoryPolicy::parse("allkeys-lru").unwrap();
        let new = secret('b');
        let cases: [(Vec<LiveSetting>, &[&str], Option<&AddonSecret>); 3] = [
            (
                vec![LiveSetting::Maxmemory(1024)],
                &["CONFIG", "SET", "maxmemory", "1024"],
                None,
            ),
            (
                vec![LiveSetting::Password(new.clone()), LiveSetting::Policy(lru)],
                &[
                    "CONFIG",
                    "SET",
                    "maxmemory-policy",
                    "allkeys-lru",
                    "requirepass",
                ],
                Some(&new),
            ),
            (
                vec![LiveSetting::Password(new.clone())],
                &["CONFIG", "SET", "requirepass"],
                Some(&new),
            ),
        ];
        for (settings, args, password) in cases {
            let (got, got_password) = config_set_args(&settings);
            assert_eq!(got, args, "{settings:?}");
            assert_eq!(got_password, password);
            assert!(!got.iter().any(|a| a.contains(new.expose())));
        }
    }

    #[test]
    fn memory_max_leaves_room_for_a_rewrite_fork() {
        assert_eq!(memory_max(25 << 20), 114 << 20);
        assert_eq!(memory_max(1 << 30), (2 << 30) + (64 << 20));
        assert_eq!(memory_max(u64::MAX), u64::MAX);
    }
}
