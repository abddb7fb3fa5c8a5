//! Reading `INFO`'s answer (pure): `field:value` lines in `# Section`s, CRLF-ended.

use super::RedisInfo;
use crate::model::Census;

/// The version, memory, clients and keys (summed over the databases, `dbN:keys=K,…`) of an
/// `INFO` answer; `None` when a field is missing.
pub(crate) fn parse_info(text: &str) -> Option<RedisInfo> {
    let fields = info_fields(text);
    let field = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let keys = fields
        .iter()
        .filter(|(k, _)| is_database(k))
        .map(|(_, v)| database_keys(v))
        .sum::<Option<u64>>()?;
    Some(RedisInfo {
        version: field("redis_version")?.to_owned(),
        used_memory: field("used_memory")?.parse().ok()?,
        clients: field("connected_clients")?.parse().ok()?,
        keys,
    })
}

/// What `INFO keyspace persistence` says right after a snapshot: keys per database, how many
/// of them have a TTL, and how far the server is with its snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotState {
    pub keys: Census,
    pub expires: u64,
    pub in_progress: bool,
    /// `rdb_last_bgsave_status:ok`.
    pub last_ok: bool,
    /// Writes since the last snapshot was taken (its fork, for a background save).
    pub changes: u64,
    /// `rdb_last_save_time`, seconds since the epoch.
    pub last_save: u64,
}

/// Reads the answer of `INFO keyspace persistence`; `None` when a field is missing.
pub(crate) fn parse_snapshot_state(text: &str) -> Option<SnapshotState> {
    let fields = info_fields(text);
    let number =
        |name: &str| -> Option<u64> { fields.iter().find(|(k, _)| *k == name)?.1.parse().ok() };
    let databases: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| is_database(k))
        .copied()
        .collect();
    let mut keys = Census::new();
    let mut expires = 0;
    for (db, value) in databases {
        keys.insert(db.to_owned(), database_keys(value)?);
        expires += database_field(value, "expires=")?;
    }
    Some(SnapshotState {
        keys,
        expires,
        in_progress: number("rdb_bgsave_in_progress")? == 1,
        last_ok: fields
            .iter()
            .any(|(k, v)| *k == "rdb_last_bgsave_status" && *v == "ok"),
        changes: number("rdb_changes_since_last_save")?,
        last_save: number("rdb_last_save_time")?,
    })
}

/// The `field:value` pairs of an answer, section headers left out.
fn info_fields(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .collect()
}

fn is_database(key: &str) -> bool {
    key.strip_prefix("db")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// K of `keys=K,expires=E,avg_ttl=T`.
fn database_keys(value: &str) -> Option<u64> {
    database_field(value, "keys=")
}

fn database_field(value: &str, prefix: &str) -> Option<u64> {
    value
        .split(',')
        .find_map(|part| part.strip_prefix(prefix))?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n\
        # Clients\r\nconnected_clients:3\r\n\r\n# Memory\r\nused_memory:966696\r\n\
        used_memory_human:944.04K\r\n\r\n# Keyspace\r\n";

    #[test]
    fn info_gives_version_memory_clients_and_keys_of_every_database() {
        let cases = [
            ("", 0),
            ("db0:keys=2,expires=0,avg_ttl=0\r\n", 2),
            (
                "db0:keys=2,expires=0,avg_ttl=0\r\ndb3:keys=40,expires=1,avg_ttl=9\r\n",
                42,
            ),
        ];
        for (keyspace, keys) in cases {
            let info = parse_info(&format!("{INFO}{keyspace}")).unwrap();
            assert_eq!(
                info,
                RedisInfo {
                    version: "7.0.15".into(),
                    used_memory: 966_696,
                    clients: 3,
                    keys
                },
                "{keyspace}"
            );
        }
    }

    #[test]
    fn answers_without_the_fields_are_refused() {
        for bad in [
            "",
            "NOAUTH Authentication required.",
            &INFO.replace("used_memory:966696", "used_memory:lots"),
            &format!("{INFO}db0:expires=0\r\n"),
        ] {
            assert_eq!(parse_info(bad), None, "{bad}");
        }
    }

    const PERSISTENCE: &str = "# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=100\r\n\
        db2:keys=1,expires=0,avg_ttl=0\r\n\r\n# Persistence\r\nloading:0\r\n\
        rdb_changes_since_last_save:3\r\nrdb_bgsave_in_progress:0\r\n\
        rdb_last_save_time:1767571200\r\nrdb_last_bgsave_status:ok\r\n";

    #[test]
    fn a_snapshots_state_gives_keys_per_database_ttls_progress_and_changes() {
        let state = parse_snapshot_state(PERSISTENCE).unwrap();
        assert_eq!(
            state,
            SnapshotState {
                keys: [("db0".to_owned(), 5), ("db2".to_owned(), 1)].into(),
                expires: 2,
                in_progress: false,
                last_ok: true,
                changes: 3,
                last_save: 1_767_571_200,
            }
        );
        let running = PERSISTENCE
            .replace("in_progress:0", "in_progress:1")
            .replace("status:ok", "status:err");
        let state = parse_snapshot_state(&running).unwrap();
        assert!(state.in_progress && !state.last_ok);
        let empty = PERSISTENCE.replace(
            "db0:keys=5,expires=2,avg_ttl=100\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n",
            "",
        );
        assert_eq!(parse_snapshot_state(&empty).unwrap().keys, Census::new());
        for bad in [
            "",
            &PERSISTENCE.replace("rdb_changes_since_last_save:3\r\n", ""),
            &PERSISTENCE.replace("expires=2", "expires=x"),
        ] {
            assert_eq!(parse_snapshot_state(bad), None, "{bad}");
        }
    }
}
