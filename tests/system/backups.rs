//! Add-on backups: a Postgres backup is checked by restoring it before it is called good, is
//! refused when the disk would fall under the floor, and a crash in the middle leaves a failed
//! backup, no file and no scratch database — through the CLI, the backup files and the cluster.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{assert_contains, shell_quote, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "backups_postgres_checked",
        run: backups_postgres_checked,
    }]
}

const BACKUPS: &str = "/var/lib/skiff/backups/postgresql-shop";

fn backups(c: &Container) -> Value {
    c.json("skiff pg:backups -a shop --json")
}

fn backup(c: &Container, id: &str) -> Value {
    c.json(&format!("skiff pg:backups:info {id} -a shop --json"))
}

/// Databases of skiff's cluster, as its superuser sees them.
fn databases(c: &Container) -> String {
    let port = c.ok("pg_lsclusters -h | awk '$2 == \"skiff\" {print $3}'");
    c.ok(&format!(
        "runuser -u postgres -- psql -X -p {} -At -c 'select datname from pg_database order by 1'",
        port.trim()
    ))
}

fn psql(c: &Container, sql: &str) -> String {
    c.ok(&format!("skiff pg:psql -a shop -c {}", shell_quote(sql)))
}

fn backups_postgres_checked(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create shop");
    c.json("skiff addons:create postgres -a shop --json");
    let empty = backups(c);
    assert_eq!(
        empty["backups"],
        Value::Array(vec![]),
        "no backups yet: {empty}"
    );
    assert_contains(
        &c.ok("skiff pg:backups -a shop"),
        "no backups yet",
        "pg:backups of none",
    );

    psql(
        c,
        "create table orders (id int primary key, note text); \
         insert into orders select g, 'n' || g from generate_series(1, 1000) g; \
         create table tags (name text); insert into tags values ('a'), ('b')",
    );
    let captured = c.ok("skiff pg:backups:capture -a shop");
    assert_contains(
        &captured,
        "Backing up postgresql-shop to b001...",
        "capture's progress",
    );
    assert_contains(&captured, "done", "capture's end");
    let first = backup(c, "b001");
    assert_eq!(first["status"], "checked", "{first}");
    assert_eq!(
        (first["tables"].as_u64(), first["rows"].as_u64()),
        (Some(2), Some(1002)),
        "{first}"
    );

    // The file is the one the row describes, root-only, and pg_restore reads it.
    let file = format!("{BACKUPS}/b001.dump");
    let sha = c.ok(&format!("sha256sum {file} | cut -d' ' -f1"));
    assert_eq!(
        first["sha256"].as_str(),
        Some(sha.trim()),
        "checksum of {file}"
    );
    let size = c.ok(&format!("stat -c %s {file}"));
    assert_eq!(
        first["size"].as_u64(),
        size.trim().parse().ok(),
        "size of {file}"
    );
    assert_eq!(
        c.ok(&format!("stat -c %a {file}")).trim(),
        "600",
        "mode of {file}"
    );
    let listing = c.ok(&format!("pg_restore --list {file}"));
    assert_contains(
        &listing,
        "TABLE DATA public orders",
        "the dump's table of contents",
    );
    let listed = backups(c);
    assert!(
        listed["used"].as_u64().unwrap_or(0) >= size.trim().parse::<u64>().unwrap(),
        "{listed}"
    );
    assert_contains(
        &c.ok("skiff pg:backups -a shop"),
        "use",
        "pg:backups shows the space used",
    );
    let info = c.json("skiff apps:info -a shop --json");
    assert_eq!(
        info["disk"]["backups"], listed["used"],
        "apps:info counts the backups: {info}"
    );
    assert_contains(
        &c.ok("skiff apps:info -a shop"),
        "add-on backups",
        "apps:info in words",
    );
    assert!(
        !databases(c).contains("skiffcheck_"),
        "the check's scratch database is dropped"
    );

    // A backup the disk has no room for is refused, and nothing is recorded.
    c.ok("cp /etc/skiff/skiffd.toml /root/skiffd.toml.orig");
    c.ok("sed -i '1i backup_free_space_floor = \"1000000G\"' /etc/skiff/skiffd.toml && systemctl restart skiffd");
    c.wait_active("skiffd.service", Duration::from_secs(30));
    let refused = c.fails("skiff pg:backups:capture -a shop");
    assert_contains(
        &refused,
        "not enough disk space",
        "a full disk refuses the backup",
    );
    assert_eq!(
        backups(c)["backups"].as_array().map(Vec::len),
        Some(1),
        "nothing recorded"
    );
    c.ok("cp /root/skiffd.toml.orig /etc/skiff/skiffd.toml && systemctl restart skiffd");
    c.wait_active("skiffd.service", Duration::from_secs(30));

    crash_mid_backup(c);
    download_restore_delete(c);
    bad_file_and_stopped_server(c);
}

/// A backup file truncated on disk is refused by restore before anything changes; a backup of
/// a database whose server is down is recorded as failed, with the reason.
fn bad_file_and_stopped_server(c: &Container) {
    c.ok(&format!("truncate -s -100 {BACKUPS}/b003.dump"));
    let refused = c.fails("skiff pg:backups:restore b003 -a shop --confirm shop");
    assert_contains(
        &refused,
        "no longer matches its checksum",
        "a truncated backup",
    );
    assert_contains(
        &psql(c, "select count(*) from orders"),
        "1001",
        "a refused restore changes nothing",
    );

    let version = c.ok("pg_lsclusters -h | awk '$2 == \"skiff\" {print $1}'");
    let unit = format!("postgresql@{}-skiff.service", version.trim());
    // Masked, so that no round of skiffd's starts it again meanwhile.
    c.ok(&format!(
        "systemctl mask --runtime {unit} && systemctl stop {unit}"
    ));
    let failed = c.fails("skiff pg:backups:capture -a shop");
    assert_contains(&failed, "failed", "a backup of a stopped server");
    let newest = backups(c)["backups"][0].clone();
    assert_eq!(newest["status"], "failed", "{newest}");
    assert!(
        !newest["reason"].as_str().unwrap_or("").is_empty(),
        "the failure says why: {newest}"
    );
    c.ok(&format!(
        "systemctl unmask --runtime {unit} && systemctl start {unit}"
    ));
}

/// b001 downloaded and checked against its checksum; restored over changed data (a safety
/// backup of the change first), after which the app's role uses the tables as before; deleted
/// with its file.
fn download_restore_delete(c: &Container) {
    let got = c.ok("cd /root && skiff pg:backups:download b001 -a shop -o /root/b001.dump");
    assert_contains(&got, "SHA-256 checked", "download");
    let sums = c.ok(&format!(
        "sha256sum /root/b001.dump {BACKUPS}/b001.dump | cut -d' ' -f1 | uniq | wc -l"
    ));
    assert_eq!(sums.trim(), "1", "the download is the backup's file");

    psql(
        c,
        "delete from orders where id > 10; drop table tags; create table later (x int)",
    );
    let refused = c.fails("skiff pg:backups:restore b001 -a shop");
    assert_contains(&refused, "--confirm shop", "a restore wants confirming");
    let restored = c.json("skiff pg:backups:restore b001 -a shop --confirm shop --json");
    assert_eq!(restored["restored"]["id"], "b001", "{restored}");
    let safety = &restored["safety"];
    assert_eq!(
        (safety["kind"].as_str(), safety["status"].as_str()),
        (Some("safety"), Some("checked")),
        "{restored}"
    );
    assert_eq!(
        safety["rows"].as_u64(),
        Some(10),
        "the safety backup holds the changed data: {safety}"
    );
    let counts = psql(
        c,
        "select (select count(*) from orders), (select count(*) from tags), \
         (select count(*) from information_schema.tables where table_name = 'later')",
    );
    assert_contains(
        &counts,
        "1000 |     2 |     0",
        "the database holds b001 again",
    );
    psql(
        c,
        "insert into orders values (5000, 'after the restore'); insert into tags values ('c')",
    );

    let files = || c.ok(&format!("ls -A {BACKUPS}"));
    assert_contains(&files(), "b001.dump", "b001's file before the delete");
    c.fails("skiff pg:backups:delete b001 -a shop");
    c.ok("skiff pg:backups:delete b001 -a shop --confirm shop");
    assert!(
        !files().contains("b001.dump"),
        "b001's file is gone: {}",
        files()
    );
    let missing = c.fails("skiff pg:backups:info b001 -a shop");
    assert_contains(&missing, "no backup b001", "a deleted backup");
    assert!(
        !databases(c).contains("skiffcheck_"),
        "no scratch database is left by the restore"
    );
}

/// skiffd killed while a backup runs: the backup is failed at the next start, its file and
/// scratch database are gone, and the next backup is checked.
fn crash_mid_backup(c: &Container) {
    psql(
        c,
        "insert into orders select g, repeat('x', 20) from generate_series(1001, 2000000) g",
    );
    c.ok("(setsid skiff pg:backups:capture -a shop > /root/capture.out 2>&1 < /dev/null &)");
    let started = wait_until(Duration::from_secs(30), || {
        backups(c)["backups"][0]["id"] == "b002"
    });
    assert!(started, "b002 started: {}", backups(c));
    let status = backups(c)["backups"][0]["status"].clone();
    assert!(
        status == "running" || status == "checking",
        "b002 still in progress when killed: {status}"
    );
    c.ok("systemctl kill -s KILL skiffd.service");
    let restarted = wait_until(Duration::from_secs(60), || {
        c.sh("skiff pg:backups -a shop --json").success()
    });
    assert!(restarted, "skiffd came back: {}", c.journal_tail());
    let failed = backup(c, "b002");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_contains(
        failed["reason"].as_str().unwrap_or(""),
        "interrupted",
        "why b002 failed",
    );
    let files = c.ok(&format!("ls -A {BACKUPS}"));
    assert_eq!(
        files.split_whitespace().collect::<Vec<_>>(),
        ["b001.dump"],
        "only b001's file is left"
    );

    let after = c.ok("skiff pg:backups:capture -a shop");
    assert_contains(
        &after,
        "to b003... checking... done",
        "the next backup after a crash",
    );
    let third = backup(c, "b003");
    assert_eq!(third["rows"].as_u64(), Some(2_000_002), "{third}");
    assert!(
        !databases(c).contains("skiffcheck_"),
        "scratch databases are gone after the crash"
    );
}
