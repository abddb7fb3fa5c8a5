//! Whole-server backup and restore: `skiff backup` writes one archive of a server with two
//! apps (a git-pushed one with a Postgres add-on, a volume, a domain and config vars; an
//! uploaded one with a Redis add-on and a cron job); a damaged or truncated archive is refused
//! and changes nothing; after `apt-get purge` and a fresh install, `skiff restore` brings back
//! every app, release, add-on's data, domain, cron job, volume, SSH key and git repo — through
//! the CLI, git push, curl through the proxy and systemctl.

use std::time::Duration;

use serde_json::Value;

use crate::dynos::deploy_app;
use crate::harness::{assert_contains, shell_quote, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "server_backup_restored_after_purge",
        run: server_backup_restored_after_purge,
    }]
}

const SSH: &str = "GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes'";
const ARCHIVE: &str = "/root/server.tar";

fn psql(c: &Container, sql: &str) -> String {
    c.ok(&format!("skiff pg:psql -a alpha -c {}", shell_quote(sql)))
        .trim()
        .to_owned()
}

fn redis(c: &Container, command: &str) -> String {
    c.ok(&format!("skiff redis:cli -a bravo -- {command}"))
        .trim()
        .to_owned()
}

fn push(c: &Container, message: &str) -> String {
    c.ok(&format!(
        "cd /root/alpha && echo {message} > marker && git add -A && \
         git -c user.name=dev -c user.email=dev@example.org commit -q -m {message} && \
         {SSH} git push skiff main 2>&1"
    ))
}

/// (version, description) of every release, oldest first.
fn releases(c: &Container, app: &str) -> Vec<(Value, Value)> {
    let list = c.json(&format!("skiff releases -a {app} --json"));
    let mut rows: Vec<(Value, Value)> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r["version"].clone(), r["description"].clone()))
        .collect();
    rows.sort_by_key(|(v, _)| v.as_u64());
    rows
}

/// Waits until the proxy answers `host` with a body containing `needle`.
fn wait_served(c: &Container, host: &str, needle: &str) {
    let mut last = String::new();
    let served = wait_until(Duration::from_secs(90), || {
        let out = c.sh(&format!(
            "curl -s --max-time 3 -H 'Host: {host}' http://127.0.0.1/"
        ));
        last = out.stdout;
        last.contains(needle)
    });
    assert!(served, "{host} never served {needle:?}; last: {last:?}");
}

/// Two apps with everything a restore must bring back.
fn set_up_server(c: &Container) {
    deploy_app(c, "bravo");
    c.ok("mkdir -p /root/.ssh && ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519");
    c.ok("skiff keys:add /root/.ssh/id_ed25519.pub");
    c.ok("skiff apps:create alpha");
    c.ok(
        "cp -r /root/bravo /root/alpha && cd /root/alpha && git init -q -b main && \
         git remote add skiff skiff@localhost:alpha",
    );
    assert_contains(&push(c, "first"), "alpha v1 is live", "git push");
    c.json("skiff addons:create postgres -a alpha --json");
    psql(
        c,
        "create table orders (id int primary key); \
         insert into orders select generate_series(1, 1000)",
    );
    c.ok("skiff volumes:create data --mount /data -a alpha");
    c.ok("skiff run -a alpha -- sh -c 'echo kept > /data/note'");
    c.ok("skiff config:set GREETING=ahoy -a alpha");
    c.ok("skiff domains:add shop.example.test -a alpha");

    c.json("skiff addons:create redis -a bravo --json");
    redis(
        c,
        "EVAL \"for i = 1, 300 do redis.call('SET', 'k' .. i, i) end\" 0",
    );
    c.ok(
        "cd /root/bravo && printf '{\"cron\": [{\"command\": \"true\", \"schedule\": \"@daily\"}]}' > app.json && \
         skiff deploy -a bravo",
    );
    wait_served(c, "alpha.localhost", "hello from web.1");
    wait_served(c, "shop.example.test", "hello from web.1");
}

/// Copies of the archive cut short and with one byte changed inside a file's content.
fn damaged_copies(c: &Container) {
    c.ok(&format!(
        "head -c $(( $(stat -c %s {ARCHIVE}) * 2 / 3 )) {ARCHIVE} > /root/cut.tar"
    ));
    // The Procfile's text sits inside a file's content: change one of its bytes.
    c.ok(&format!(
        "cp {ARCHIVE} /root/changed.tar && \
         at=$(grep -abo 'web: python3 app.py' {ARCHIVE} | head -1 | cut -d: -f1) && \
         printf 'W' | dd of=/root/changed.tar bs=1 seek=$at conv=notrunc status=none"
    ));
}

fn server_backup_restored_after_purge(c: &Container) {
    c.install_deb();
    set_up_server(c);
    let alpha_releases = releases(c, "alpha");
    let bravo_releases = releases(c, "bravo");

    let wrote = c.ok(&format!("skiff backup -o {ARCHIVE}"));
    assert_contains(&wrote, &format!("Wrote {ARCHIVE}"), "skiff backup");
    let listing = c.ok(&format!("tar -tf {ARCHIVE}"));
    for want in [
        "skiff.db",
        "apps/alpha/slugs/v1/app.py",
        "apps/alpha/volumes/data/note",
        "repos/alpha.git/HEAD",
        "backups/postgresql-alpha/",
        "backups/redis-bravo/",
        "caddy/",
    ] {
        assert_contains(&listing, want, "what the archive holds");
    }
    assert_eq!(
        listing.lines().last(),
        Some("skiff-backup.json"),
        "the manifest is last"
    );
    assert!(
        !listing.contains("/builds/") && !listing.contains("addons/"),
        "no build workspaces or live add-on data: {listing}"
    );
    damaged_copies(c);

    let refused = c.fails(&format!("skiff restore {ARCHIVE}"));
    assert_contains(&refused, "already has apps", "a server with apps");

    c.ok("DEBIAN_FRONTEND=noninteractive apt-get purge -y skiff 2>&1");
    c.ok("test ! -e /var/lib/skiff");
    c.install_deb();
    assert_eq!(c.json("skiff apps --json"), Value::Array(vec![]));

    for (file, want) in [
        ("/root/cut.tar", "truncated"),
        ("/root/changed.tar", "damaged"),
    ] {
        let err = c.fails(&format!("skiff restore {file}"));
        assert_contains(&err, want, file);
        assert_eq!(
            c.json("skiff apps --json"),
            Value::Array(vec![]),
            "{file} changed nothing"
        );
    }
    c.ok("test -z \"$(ls -A /var/lib/skiff/apps 2>/dev/null)\"");

    let restored = c.ok(&format!("skiff restore {ARCHIVE}"));
    assert_contains(&restored, "Restored 2 app(s)", "skiff restore");
    assert_contains(
        &restored,
        "postgresql-alpha: data restored",
        "postgres data",
    );
    assert_contains(&restored, "redis-bravo: data restored", "redis data");
    check_restored(c, &alpha_releases, &bravo_releases);
}

fn check_restored(
    c: &Container,
    alpha_releases: &[(Value, Value)],
    bravo_releases: &[(Value, Value)],
) {
    // Every release is back; an add-on whose server listens elsewhere now adds one of its own.
    for (app, before) in [("alpha", alpha_releases), ("bravo", bravo_releases)] {
        let after = releases(c, app);
        assert_eq!(&after[..before.len()], before, "{app}'s releases");
    }
    wait_served(c, "alpha.localhost", "hello from web.1");
    wait_served(c, "shop.example.test", "hello from web.1");
    wait_served(c, "bravo.localhost", "hello from web.1");
    let counted = psql(c, "select count(*) as n from orders");
    assert!(
        counted.lines().any(|l| l.trim() == "1000"),
        "the orders are back: {counted}"
    );
    assert_eq!(redis(c, "DBSIZE"), "300");
    let config = c.json("skiff config -a alpha --json");
    assert_eq!(config["GREETING"], "ahoy", "{config}");
    assert_contains(
        &c.ok("skiff run -a alpha -- cat /data/note"),
        "kept",
        "the volume",
    );
    let jobs = c.json("skiff cron -a bravo --json");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
    assert!(
        wait_until(Duration::from_secs(30), || c
            .sh("systemctl list-timers 'skiff-bravo.cron-*' --no-legend")
            .stdout
            .contains("skiff-bravo.cron-1")),
        "the cron timer runs again"
    );

    // The git repo and SSH key came back: a push on top of the old history deploys.
    let pushed = push(c, "second");
    assert_contains(&pushed, "Released v", "git push after the restore");
    wait_served(c, "alpha.localhost", "hello from web.1");
    let back = c.ok("skiff rollback -a alpha");
    assert_contains(&back, "Rollback to", "rollback after the restore");
}
