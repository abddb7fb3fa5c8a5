//! `make bench FILTER=dashboard`: what the dashboard costs skiffd at rest, with 10 apps and
//! their dynos: skiffd's RSS and its CPU over 60 s with `dashboard = false`, with `dashboard =
//! true` before any page was asked for, and again once every page of every app, a live log
//! stream and the login were served. The binary is the same in all three, and pages of code no
//! request touched are not resident, so the first figure stands for skiffd without a dashboard.

use std::time::Duration;

use crate::bench::rss_kib;
use crate::bench_metrics::cpu_over_window;
use crate::dynos::deploy_app;
use crate::harness::{wait_until, Container};

const APPS: usize = 10;
const PAGES: [&str; 6] = [
    "",
    "/metrics",
    "/metrics?period=7d",
    "/activity",
    "/logs",
    "/settings",
];
const DASHBOARD: &str = "http://skiff.localhost";
const RESOLVE: &str = "--resolve skiff.localhost:80:127.0.0.1";

/// Sets `dashboard` in skiffd.toml and restarts skiffd, then lets its first rounds pass.
fn set_dashboard(c: &Container, on: bool) {
    c.ok(&format!(
        "sed -i '/^dashboard = /d' /etc/skiff/skiffd.toml && echo 'dashboard = {on}' >> /etc/skiff/skiffd.toml && systemctl restart skiffd"
    ));
    c.wait_active("skiffd", Duration::from_secs(30));
    let answers = wait_until(Duration::from_secs(30), || {
        c.sh("skiff apps --json").success()
    });
    assert!(answers, "skiffd answers after its restart");
    std::thread::sleep(Duration::from_secs(15));
}

/// Logs in with a link and asks for every page of every app, then follows a log for 5 s.
fn use_every_page(c: &Container, apps: &[String]) -> usize {
    let link = c.ok("skiff dashboard").trim().to_owned();
    c.ok(&format!(
        "curl -sS -o /dev/null -c /root/jar {RESOLVE} '{link}'"
    ));
    let mut served = 0;
    for page in std::iter::once("/".to_owned()).chain(
        apps.iter()
            .flat_map(|app| PAGES.iter().map(move |p| format!("/apps/{app}{p}"))),
    ) {
        let status = c.ok(&format!(
            "curl -sS -o /dev/null -w '%{{http_code}}' -b /root/jar {RESOLVE} '{DASHBOARD}{page}'"
        ));
        assert_eq!(status, "200", "{page}");
        served += 1;
    }
    c.sh(&format!(
        "timeout 5 curl -sS -N -b /root/jar -H 'Accept: text/event-stream' {RESOLVE} '{DASHBOARD}/apps/{}/logs/events' > /dev/null",
        apps[0]
    ));
    served
}

pub fn run(c: &Container) {
    let apps: Vec<String> = (1..=APPS).map(|i| format!("panel{i:02}")).collect();
    for app in &apps {
        deploy_app(c, app);
    }
    let dynos = wait_until(Duration::from_secs(120), || {
        crate::bench::active_count(c, "skiff-panel*.web.*") == APPS
    });
    assert!(dynos, "{APPS} web dynos active");

    set_dashboard(c, false);
    let off = (rss_kib(c), cpu_over_window(c));
    set_dashboard(c, true);
    let unused = (rss_kib(c), cpu_over_window(c));
    let served = use_every_page(c, &apps);
    std::thread::sleep(Duration::from_secs(15));
    let used = (rss_kib(c), cpu_over_window(c));

    println!("bench: dashboard with {APPS} apps, skiffd at rest over 60 s:");
    let row = |what: &str, (rss, (ticks, busy)): (u64, (u64, usize))| {
        println!(
            "bench:   {what:<28} CPU {:5.2} s ({busy:2} of 60 seconds with any)  RSS {:6.1} MiB",
            ticks as f64 / 100.0,
            rss as f64 / 1024.0
        );
    };
    row("dashboard = false", off);
    row("dashboard = true, unused", unused);
    row(&format!("after {served} pages and a stream"), used);
    println!(
        "bench:   used − off                   CPU {:+5.2} s per minute, RSS {:+6.1} MiB (aim: no measurable CPU, ≤ 2 MiB)",
        (used.1 .0 as f64 - off.1 .0 as f64) / 100.0,
        (used.0 as f64 - off.0 as f64) / 1024.0
    );
}
