//! Sleeping apps: an idle app's dynos stop and give their memory back, and the first request
//! wakes it and is served — through the proxy with curl, `skiff ps`, systemctl and journalctl.

use std::time::Duration;

use crate::dynos::deploy_app;
use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "sleep_idle_apps_and_wake_on_request",
            run: sleep_idle_apps_and_wake_on_request,
        },
        Scenario {
            name: "sleep_deploys_wait_for_the_wake",
            run: sleep_deploys_wait_for_the_wake,
        },
    ]
}

/// Short drains, so a sleeping app's dynos stop a second after it falls asleep.
pub fn short_drains(c: &Container) {
    c.ok(
        "printf 'drain_timeout = \"1s\"\\n' >> /etc/skiff/skiffd.toml && systemctl restart skiffd",
    );
    c.wait_active("skiffd", Duration::from_secs(30));
}

/// `ps:autosleep --json`: the app's sleep.
fn autosleep(c: &Container, app: &str) -> serde_json::Value {
    c.json(&format!("skiff ps:autosleep -a {app} --json"))
}

/// Active units of `app`'s web and worker dynos.
pub fn dyno_units(c: &Container, app: &str) -> Vec<String> {
    c.ok(&format!(
        "systemctl list-units 'skiff-{app}.web.*' 'skiff-{app}.worker.*' --type=service --state=active,activating,deactivating --plain --no-legend | cut -d' ' -f1"
    ))
    .lines()
    .filter(|l| !l.is_empty())
    .map(str::to_owned)
    .collect()
}

/// Waits until `app` sleeps and its dynos are gone.
#[track_caller]
pub fn wait_asleep(c: &Container, app: &str) {
    let ok = wait_until(Duration::from_secs(60), || {
        autosleep(c, app)["state"] == "sleeping" && dyno_units(c, app).is_empty()
    });
    assert!(
        ok,
        "{app} never fell asleep: {} units {:?}\n{}",
        autosleep(c, app),
        dyno_units(c, app),
        c.journal_tail()
    );
}

/// `n` requests sent at once through the proxy; their status codes.
pub fn concurrent_requests(c: &Container, app: &str, n: usize) -> Vec<String> {
    let out = c.ok(&format!(
        "for i in $(seq {n}); do curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 60 -H 'Host: {app}.localhost' http://127.0.0.1/ & done; wait"
    ));
    out.lines().map(str::to_owned).collect()
}

fn sleep_idle_apps_and_wake_on_request(c: &Container) {
    c.install_deb();
    short_drains(c);
    deploy_app(c, "napper");
    c.ok("cd /root/napper && printf '{\"cron\": [{\"command\": \"echo cron-ran-$DYNO\", \"schedule\": \"0 4 * * *\"}]}' > app.json && skiff deploy -a napper");
    c.ok("skiff ps:scale worker=1 -a napper");
    assert!(
        wait_until(Duration::from_secs(30), || dyno_units(c, "napper").len()
            == 2),
        "web and worker run: {:?}",
        dyno_units(c, "napper")
    );
    let first = c.curl("-H 'Host: napper.localhost' http://127.0.0.1/");
    assert_eq!(first.status, 200, "{}", first.body);

    // Bad settings are refused with what is allowed, and change nothing.
    let bad = c.fails("skiff ps:autosleep soon -a napper");
    assert_contains(&bad, "must be a duration like \"30m\"", "a bad period");
    assert_eq!(autosleep(c, "napper")["effective"], serde_json::Value::Null);

    let set = c.ok("skiff ps:autosleep 5s -a napper");
    assert_contains(
        &set,
        "napper sleeps after 5s without a request",
        "ps:autosleep",
    );
    wait_asleep(c, "napper");
    let ps = c.ok("skiff ps -a napper");
    assert_contains(&ps, "web.1: sleeping since", "ps while asleep");
    assert_contains(&ps, "worker.1: sleeping since", "workers sleep too");
    assert_contains(&c.ok("skiff apps"), "sleeping since", "apps");
    assert_contains(
        &c.ok("skiff apps:info -a napper"),
        "sleeping since",
        "apps:info",
    );
    // Its slice holds no process and no memory.
    let memory = c.ok("systemctl show -p MemoryCurrent --value skiff-napper.slice");
    let memory = memory.trim();
    assert!(
        memory == "[not set]" || memory.parse::<u64>().is_ok_and(|b| b < 1 << 20),
        "a sleeping app's slice uses ~0 bytes: {memory}"
    );

    // A cron job runs while asleep and wakes nothing.
    let cron = c.ok("systemctl list-units --all 'skiff-napper.cron-*' --type=timer --plain --no-legend | cut -d' ' -f1");
    let service = cron.trim().replace(".timer", ".service");
    assert!(service.ends_with(".service"), "the cron timer: {cron}");
    c.ok(&format!("systemctl start {service}"));
    assert!(
        wait_until(Duration::from_secs(20), || c
            .sh("journalctl SKIFF_APP=napper --no-pager -o cat")
            .stdout
            .contains("cron-ran-cron.1")),
        "the cron job ran"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        autosleep(c, "napper")["state"],
        "sleeping",
        "a cron job wakes nothing"
    );
    assert!(
        dyno_units(c, "napper").is_empty(),
        "{:?}",
        dyno_units(c, "napper")
    );

    // maintenance:on answers 503 without waking it.
    c.ok("skiff maintenance:on -a napper");
    let down = c.curl("-H 'Host: napper.localhost' http://127.0.0.1/");
    assert_eq!(down.status, 503, "{}", down.body);
    assert_contains(&down.body, "maintenance", "the maintenance page");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        autosleep(c, "napper")["state"],
        "sleeping",
        "maintenance wakes nothing"
    );
    c.ok("skiff maintenance:off -a napper");

    // The next request wakes it and is served; the router line says how long the wake took.
    let woken = c.curl("-H 'Host: napper.localhost' http://127.0.0.1/");
    assert_eq!(woken.status, 200, "{}", woken.body);
    assert_contains(&woken.body, "hello from web.1", "the woken dyno answers");
    assert_eq!(autosleep(c, "napper")["state"], "awake");
    assert!(
        wait_until(Duration::from_secs(30), || dyno_units(c, "napper").len()
            == 2),
        "the worker wakes too: {:?}",
        dyno_units(c, "napper")
    );
    let logs = "journalctl SKIFF_APP=napper --no-pager -o cat";
    assert!(
        wait_until(Duration::from_secs(10), || {
            let j = c.sh(logs).stdout;
            j.lines().any(|l| {
                l.starts_with("at=info") && l.contains(" wake=") && l.contains("status=200")
            })
        }),
        "a router line with wake=: {}",
        c.sh(logs).stdout
    );
    let journal = c.sh(logs).stdout;
    assert_contains(&journal, "sleeping: no request for 5s", "the sleep's line");
    assert_contains(&journal, "woke for a request in", "the wake's line");
    let skiff_logs = c.ok("skiff logs -a napper -n 500");
    assert_contains(&skiff_logs, "skiff: woke for a request in", "skiff logs");

    // Ten sleep/wake cycles, twenty requests sent at once at the sleeping app each time: every
    // one is answered 200.
    let mut failed = Vec::new();
    for cycle in 1..=10 {
        wait_asleep(c, "napper");
        let codes = concurrent_requests(c, "napper", 20);
        assert_eq!(
            codes.len(),
            20,
            "cycle {cycle}: every request ended: {codes:?}"
        );
        failed.extend(codes.into_iter().filter(|s| s != "200").map(|s| (cycle, s)));
    }
    assert!(
        failed.is_empty(),
        "failed requests (cycle, status): {failed:?}"
    );

    // off: it stays awake.
    c.ok("skiff ps:autosleep off -a napper");
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(autosleep(c, "napper")["state"], "awake");
    assert_eq!(dyno_units(c, "napper").len(), 2);
}

fn sleep_deploys_wait_for_the_wake(c: &Container) {
    c.install_deb();
    short_drains(c);
    deploy_app(c, "dozer");
    c.ok("skiff healthcheck:set --timeout 5s -a dozer");
    c.ok("skiff ps:autosleep 3s -a dozer");
    wait_asleep(c, "dozer");

    // A deploy while asleep builds and releases without waking it; the wake brings it up.
    c.ok("cd /root/dozer && echo v2 > marker");
    let out = c.ok("cd /root/dozer && skiff deploy -a dozer 2>&1");
    assert_contains(
        &out,
        "goes live when the next request wakes it",
        "deploy while asleep",
    );
    assert_eq!(autosleep(c, "dozer")["state"], "sleeping");
    assert!(
        dyno_units(c, "dozer").is_empty(),
        "{:?}",
        dyno_units(c, "dozer")
    );
    let woken = c.curl("-H 'Host: dozer.localhost' http://127.0.0.1/");
    assert_eq!(woken.status, 200, "{}", woken.body);
    assert_eq!(
        c.json("skiff apps:info -a dozer --json")["release"]["version"],
        2,
        "the release deployed while asleep is the one that woke"
    );
    assert_eq!(dyno_units(c, "dozer"), ["skiff-dozer.web.1.v2.service"]);

    // A release that cannot pass its health check: the wake answers 503 with the reason, and
    // the previous release stays live and serves the next requests.
    wait_asleep(c, "dozer");
    c.ok("cd /root/dozer && sed -i 's/^web: .*/web: sleep infinity/' Procfile");
    let out = c.ok("cd /root/dozer && skiff deploy -a dozer 2>&1");
    assert_contains(
        &out,
        "v3 goes live when the next request wakes it",
        "a broken deploy while asleep",
    );
    let failed = c.curl("-H 'Host: dozer.localhost' http://127.0.0.1/");
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_contains(&failed.body, "v3 failed its health check", "the reason");
    assert!(
        wait_until(Duration::from_secs(30), || c
            .curl("-H 'Host: dozer.localhost' http://127.0.0.1/")
            .status
            == 200),
        "the previous release serves after the failed wake"
    );
    let info = c.json("skiff apps:info -a dozer --json");
    assert_eq!(info["release"]["version"], 2, "{info}");
    let releases = c.ok("skiff releases -a dozer");
    assert_contains(&releases, "failed", "v3 is recorded as failed");
    assert_eq!(dyno_units(c, "dozer"), ["skiff-dozer.web.1.v2.service"]);

    // ps:scale wakes it.
    wait_asleep(c, "dozer");
    c.ok("skiff ps:scale web=2 -a dozer");
    assert!(
        wait_until(Duration::from_secs(30), || dyno_units(c, "dozer").len()
            == 2),
        "ps:scale wakes it: {:?}",
        dyno_units(c, "dozer")
    );
}
