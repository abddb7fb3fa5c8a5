//! Copies of backups off the server: with `backup_copy_to` naming an rclone SFTP remote (the
//! container's own sshd, a user of its own), every checked backup is copied there and listed
//! back before it is recorded; an unreachable destination is recorded as a failed copy of a
//! backup that stays checked.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "backups_copied_off_server",
        run: backups_copied_off_server,
    }]
}

const RCLONE_CONF: &str = "[offsite]
type = sftp
host = 127.0.0.1
user = offsite
key_file = /etc/skiff/offsite_key
known_hosts_file = /etc/skiff/offsite_known_hosts
";

/// Waits until backup `id` says how its copy went.
fn copy_outcome(c: &Container, id: &str) -> Value {
    let mut info = Value::Null;
    let done = wait_until(Duration::from_secs(60), || {
        info = c.json(&format!("skiff pg:backups:info {id} -a shop --json"));
        info["copied_to"].is_string() || info["copy_error"].is_string()
    });
    assert!(done, "backup {id} never recorded its copy: {info}");
    info
}

fn backups_copied_off_server(c: &Container) {
    c.install_deb();
    c.ok("useradd --create-home offsite");
    c.ok("ssh-keygen -q -t ed25519 -N '' -f /etc/skiff/offsite_key");
    c.ok("install -d -m 700 -o offsite -g offsite /home/offsite/.ssh");
    c.ok("install -m 600 -o offsite -g offsite /etc/skiff/offsite_key.pub /home/offsite/.ssh/authorized_keys");
    c.wait_active("ssh", Duration::from_secs(20));
    c.ok("ssh-keyscan 127.0.0.1 > /etc/skiff/offsite_known_hosts 2>/dev/null");
    c.ok(&format!(
        "printf '%s' '{RCLONE_CONF}' > /etc/skiff/rclone.conf && chmod 600 /etc/skiff/rclone.conf"
    ));
    c.ok("echo 'backup_copy_to = \"offsite:skiff-backups\"' >> /etc/skiff/skiffd.toml");
    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));

    c.ok("skiff apps:create shop");
    c.json("skiff addons:create postgres -a shop --json");
    c.ok("skiff pg:psql -a shop -c 'create table t (n int); insert into t values (1), (2), (3)'");
    assert_contains(
        &c.ok("skiff pg:backups:capture -a shop"),
        "done",
        "a backup",
    );
    let copied = copy_outcome(c, "b001");
    assert_eq!(
        copied["copied_to"], "offsite:skiff-backups/postgresql-shop/b001.dump",
        "{copied}"
    );
    let remote = "/home/offsite/skiff-backups/postgresql-shop/b001.dump";
    let sha = c.ok(&format!("sha256sum {remote} | cut -d' ' -f1"));
    assert_eq!(
        copied["sha256"].as_str(),
        Some(sha.trim()),
        "the copy is the backup"
    );
    assert_contains(
        &c.ok("skiff pg:backups:info b001 -a shop"),
        "offsite:skiff-backups/postgresql-shop/b001.dump",
        "pg:backups:info says where the copy is",
    );

    // The destination is down: the backup is still checked, its copy is failed, with rclone's
    // own words.
    c.ok("systemctl stop ssh");
    assert_contains(
        &c.ok("skiff pg:backups:capture -a shop"),
        "done",
        "a backup while the destination is down",
    );
    let failed = copy_outcome(c, "b002");
    assert_eq!(failed["status"], "checked", "{failed}");
    assert!(failed["copied_to"].is_null(), "{failed}");
    assert_contains(
        failed["copy_error"].as_str().unwrap_or(""),
        "rclone",
        "the failed copy's reason",
    );
    assert!(
        !c.sh("test -e /home/offsite/skiff-backups/postgresql-shop/b002.dump")
            .success(),
        "nothing arrived"
    );
}
