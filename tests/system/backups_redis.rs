//! Redis backups: an RDB snapshot taken with BGSAVE is checked by loading it into a scratch
//! redis-server before it is called good; a restore brings the keys back after a safety backup
//! and leaves the server persisting to its AOF again — through the CLI, the files and the units.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "backups_redis_checked",
        run: backups_redis_checked,
    }]
}

const BACKUPS: &str = "/var/lib/skiff/backups/redis-shop";
const UNIT: &str = "skiff-addon-redis-shop.service";

fn redis(c: &Container, command: &str) -> String {
    c.ok(&format!("skiff redis:cli -a shop -- {command}"))
        .trim()
        .to_owned()
}

fn backup(c: &Container, id: &str) -> Value {
    c.json(&format!("skiff redis:backups:info {id} -a shop --json"))
}

fn backups_redis_checked(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create shop");
    c.json("skiff addons:create redis -a shop --json");
    redis(
        c,
        "EVAL \"for i = 1, 500 do redis.call('SET', 'k' .. i, i) end\" 0",
    );
    assert_eq!(redis(c, "DBSIZE"), "500");

    let captured = c.ok("skiff redis:backups:capture -a shop");
    assert_contains(&captured, "Backing up redis-shop to b001...", "capture");
    assert_contains(&captured, "done", "capture's end");
    assert_contains(
        &captured,
        "loaded elsewhere: 500 keys in 1 databases",
        "what the check loaded",
    );
    let first = backup(c, "b001");
    assert_eq!(first["status"], "checked", "{first}");
    assert_eq!(first["rows"].as_u64(), Some(500), "{first}");
    let file = format!("{BACKUPS}/b001.rdb");
    assert_eq!(c.ok(&format!("head -c 5 {file}")), "REDIS", "an RDB file");
    let sha = c.ok(&format!("sha256sum {file} | cut -d' ' -f1"));
    assert_eq!(first["sha256"].as_str(), Some(sha.trim()), "{first}");
    assert_eq!(c.ok(&format!("stat -c %a {file}")).trim(), "600");
    // The scratch server and its folder are gone.
    assert!(
        !c.sh("systemctl is-active skiff-addon-redis-shop.check.service")
            .success(),
        "the scratch server stopped"
    );
    assert!(
        !c.sh("ls -d /var/lib/skiff/addons/redis/.check-*").success(),
        "the scratch folder is removed"
    );

    // Downloaded, checked against its SHA-256.
    c.ok("skiff redis:backups:download -a shop -o /root/shop.rdb");
    let downloaded = c.ok("sha256sum /root/shop.rdb | cut -d' ' -f1");
    assert_eq!(downloaded.trim(), sha.trim(), "the download");

    // Restore: the keys come back, what was there is in a safety backup.
    redis(c, "FLUSHALL");
    redis(c, "SET only-after-flush 1");
    let refused = c.fails("skiff redis:backups:restore b001 -a shop");
    assert_contains(&refused, "--confirm shop", "restore without confirm");
    assert_eq!(redis(c, "DBSIZE"), "1", "a refused restore changes nothing");
    let restored = c.ok("skiff redis:backups:restore b001 --confirm shop -a shop");
    assert_contains(
        &restored,
        "Restored b001; what the add-on held before is in b002",
        "restore",
    );
    assert_eq!(redis(c, "DBSIZE"), "500", "the backup's keys are back");
    assert_eq!(redis(c, "GET k42"), "42");
    let safety = backup(c, "b002");
    assert_eq!(
        (safety["kind"].as_str(), safety["rows"].as_u64()),
        (Some("safety"), Some(1)),
        "{safety}"
    );
    // The restored server persists again: a write survives a restart of its unit.
    redis(c, "SET written-after-restore yes");
    c.ok(&format!("systemctl restart {UNIT}"));
    assert!(
        wait_until(Duration::from_secs(20), || c
            .sh("skiff redis:cli -a shop -- GET written-after-restore")
            .stdout
            .trim()
            == "yes"),
        "the write after the restore survives a restart"
    );
    assert_eq!(redis(c, "DBSIZE"), "501");
    assert!(
        !c.sh("ls -d /var/lib/skiff/addons/redis/redis-shop/.appendonlydir.restore")
            .success(),
        "the previous AOF is deleted once the server answers"
    );

    // Schedules work for Redis as for Postgres; delete removes a backup and its file.
    c.ok("skiff redis:backups:schedule --at 04:00 -a shop");
    c.wait_active(
        "skiff-addon-redis-shop.backup.timer",
        Duration::from_secs(10),
    );
    c.ok("skiff redis:backups:unschedule -a shop");
    c.ok("skiff redis:backups:delete b002 --confirm shop -a shop");
    assert!(!c.sh(&format!("test -e {BACKUPS}/b002.rdb")).success());
    let left = c.json("skiff redis:backups -a shop --json");
    assert_eq!(left["backups"].as_array().map(Vec::len), Some(1), "{left}");
}
