//! Reading `INFO`'s answer (pure): `field:value` lines in `# Section`s, CRLF-ended.

use super::RedisInfo;

/// The version, memory, clients and keys (summed over the databases, `dbN:keys=K,…`) of an
/// `INFO` answer; `None` when a field is missing.
pub(crate) fn parse_info(text: &str) -> Option<RedisInfo> {
    let fields: Vec<(&str, &str)> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .collect();
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

fn is_database(key: &str) -> bool {
    key.strip_prefix("db")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// K of `keys=K,expires=E,avg_ttl=T`.
fn database_keys(value: &str) -> Option<u64> {
    value
        .split(',')
        .find_map(|part| part.strip_prefix("keys="))?
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
}
