//! `apps:rename` of a deployed app with a custom domain: it keeps serving, under the new name and
//! its domain, while the old name answers 404; its files, network and git remote follow, its old
//! lines stay findable, and a rename while it deploys, while its upload is received, or onto a
//! taken name is refused.

use std::time::Duration;

use crate::apps::cli_error;
use crate::harness::{assert_contains, wait_until, Container};

pub fn scenarios() -> Vec<crate::Scenario> {
    vec![crate::Scenario {
        name: "rename_a_deployed_app",
        run: rename_a_deployed_app,
    }]
}

/// The status of a GET through skiff's Caddy for `host`.
fn status(c: &Container, host: &str, path: &str) -> String {
    c.sh(&format!(
        "curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 -H 'Host: {host}' http://127.0.0.1{path}"
    ))
    .stdout
}

/// Requests made every 50 ms to `host` while a rename happens, their statuses written to a file.
const PROBES: u32 = 200;

fn rename_a_deployed_app(c: &Container) {
    c.install_deb();
    c.ok("mkdir -p /root/shop && cd /root/shop && git init -q && printf 'web: python3 -m http.server $PORT\\nworker: sleep infinity\\n' > Procfile");
    c.ok("cd /root/shop && skiff apps:create shop");
    c.ok("skiff apps:create taken");
    c.ok("cd /root/shop && skiff deploy && skiff ps:scale worker=1 && skiff ps:wait --timeout 60s");
    c.ok("skiff domains:add -a shop www.shop.test");
    assert!(
        wait_until(Duration::from_secs(30), || status(c, "www.shop.test", "/")
            == "200"),
        "the custom domain is served before the rename"
    );
    assert_eq!(status(c, "shop.localhost", "/before-rename"), "404");
    c.ok("mkdir -p /var/lib/skiff/apps/shop/cache && echo kept > /var/lib/skiff/apps/shop/cache/mark");

    // Refusals change nothing.
    assert_contains(
        &cli_error(c, "cd /root/shop && skiff apps:rename taken"),
        "taken",
        "a taken name",
    );
    assert_contains(
        &cli_error(c, "skiff apps:rename shop -a shop"),
        "already named shop",
        "its own name",
    );
    assert_contains(
        &cli_error(c, "skiff apps:rename shop Not_A_Name"),
        "Not_A_Name",
        "an invalid name",
    );
    assert_contains(
        &cli_error(c, "skiff apps:rename shop store -a shop"),
        "not both",
        "the app twice",
    );

    // Requests keep coming while it is renamed; every one must be answered by the app.
    c.ok(&format!(
        "(for i in $(seq 1 {PROBES}); do curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 -H 'Host: www.shop.test' http://127.0.0.1/; sleep 0.05; done > /root/probes; touch /root/probes.done) > /dev/null 2>&1 &"
    ));
    let renamed = c.sh("cd /root/shop && skiff apps:rename store");
    assert!(renamed.success(), "{}", renamed.describe());
    assert_contains(
        &renamed.stdout,
        "Renaming shop to store... done",
        "apps:rename",
    );
    assert_contains(
        &renamed.stdout,
        "http://store.localhost/",
        "the new web URL",
    );
    assert_contains(
        &renamed.stderr,
        "Git remote skiff updated",
        "the checkout's remote",
    );
    let hostname = c.ok("cat /proc/sys/kernel/hostname");
    assert_eq!(
        c.ok("cd /root/shop && git remote get-url skiff").trim(),
        format!("skiff@{}:store", hostname.trim())
    );

    assert!(
        wait_until(Duration::from_secs(60), || status(
            c,
            "store.localhost",
            "/"
        ) == "200"),
        "served under the new name"
    );
    assert_eq!(
        status(c, "shop.localhost", "/"),
        "404",
        "the old name is not routed"
    );
    assert_eq!(
        status(c, "www.shop.test", "/"),
        "200",
        "the custom domain stays"
    );
    let ps = c.ok("cd /root/shop && skiff ps:wait --timeout 60s && skiff ps");
    assert_contains(&ps, "web.1", "ps under the new name");
    let old_units_gone = wait_until(Duration::from_secs(60), || {
        c.ok("systemctl list-units --all --plain --no-legend 'skiff-shop.*'")
            .trim()
            .is_empty()
    });
    assert!(
        old_units_gone,
        "the old units are replaced: {}",
        c.ok("systemctl list-units --all --plain --no-legend 'skiff-*'")
    );
    let units = c.ok("systemctl list-units --plain --no-legend 'skiff-store.*'");
    assert_contains(
        &units,
        "skiff-store.web.1.v1",
        "the web dyno under the new name",
    );
    assert_contains(
        &units,
        "skiff-store.worker.1.v1",
        "the worker under the new name",
    );

    assert!(
        wait_until(Duration::from_secs(30), || c
            .sh("test -e /root/probes.done")
            .success()),
        "the probes end"
    );
    let probes = c.ok("cat /root/probes");
    let codes: Vec<&str> = probes.lines().collect();
    let failed = codes.iter().filter(|code| **code != "200").count();
    println!(
        "     rename_a_deployed_app: {} of {} requests during the rename failed",
        failed,
        codes.len()
    );
    assert_eq!(codes.len(), PROBES as usize, "every probe ran: {probes}");
    assert_eq!(failed, 0, "requests failed during the rename: {probes}");

    // Files and network moved with it.
    assert_eq!(
        c.ok("cat /var/lib/skiff/apps/store/cache/mark").trim(),
        "kept"
    );
    assert!(
        !c.sh("test -e /var/lib/skiff/apps/shop").success(),
        "no files under the old name"
    );
    assert!(c.sh("test -e /run/netns/skiff-store").success());
    let old_netns_gone = wait_until(Duration::from_secs(30), || {
        !c.sh("test -e /run/netns/skiff-shop").success()
    });
    assert!(
        old_netns_gone,
        "the old namespace name goes with the old dynos"
    );

    // The old lines stay under the old name and `logs` of the new one shows them.
    let logs = c.ok("cd /root/shop && skiff logs -n 500");
    assert_contains(&logs, "/before-rename", "a line from before the rename");
    assert_contains(
        &c.ok("journalctl -q --no-pager SKIFF_APP=shop"),
        "/before-rename",
        "journald keeps the old name on old lines",
    );
    assert_contains(&c.ok("skiff apps:info -a store"), "Formerly:", "apps:info");
    assert_eq!(
        c.json("skiff apps:info -a store --json")["former_names"][0],
        "shop"
    );

    // While it deploys, it keeps its name.
    c.ok("cd /root/shop && printf 'web: python3 -m http.server $PORT\\nrelease: sleep 15\\n' > Procfile");
    c.ok("cd /root/shop && (skiff deploy > /root/deploy.log 2>&1; touch /root/deploy.done) > /dev/null 2>&1 &");
    assert!(
        wait_until(Duration::from_secs(60), || c
            .ok("cat /root/deploy.log")
            .contains("Running the release command")),
        "the deploy reaches its release phase: {}",
        c.ok("cat /root/deploy.log")
    );
    assert_contains(
        &cli_error(c, "skiff apps:rename store again"),
        "a deploy of store is running",
        "a rename during a deploy",
    );
    assert!(
        wait_until(Duration::from_secs(90), || c
            .sh("test -e /root/deploy.done")
            .success()),
        "the deploy ends"
    );
    assert_contains(
        &c.ok("cat /root/deploy.log"),
        "Released v2",
        "the deploy went on",
    );
    assert_eq!(c.json("skiff apps --json")[0]["name"], "store");

    // While an upload is still being received (before its build takes the deploy lock), too.
    c.ok("mkdir -p /root/up && printf 'web: python3 -m http.server $PORT\\n' > /root/up/Procfile && head -c 300000 /dev/urandom > /root/up/blob && tar -C /root/up -cf /root/up.tar .");
    c.ok("(curl -sS --unix-socket /run/skiff/api.sock --limit-rate 30k -X POST -H 'Content-Type: application/x-tar' --data-binary @/root/up.tar -o /root/up.out -w '%{http_code}' http://localhost/v1/apps/store/deploys > /root/up.code 2>&1; touch /root/up.done) > /dev/null 2>&1 &");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !c.sh("test -e /root/up.done").success(),
        "the slowed upload is still going"
    );
    assert_contains(
        &cli_error(c, "skiff apps:rename store again"),
        "a deploy of store is running",
        "a rename during an upload",
    );
    assert!(
        wait_until(Duration::from_secs(60), || c
            .sh("test -e /root/up.done")
            .success()),
        "the upload ends"
    );
    assert_eq!(
        c.ok("cat /root/up.code").trim(),
        "201",
        "the upload was deployed: {}",
        c.ok("cat /root/up.out")
    );
    assert_eq!(c.json("skiff apps --json")[0]["name"], "store");
}
