//! `make bench`, sleeping apps: a request to a sleeping app until its first byte, against a bare
//! start of the same web process as a dyno-sandboxed transient unit plus its first answer once
//! it listens (both medians of ten, in the same container); and the memory of ten apps' dynos
//! awake against the same ten asleep.

use std::time::Duration;

use crate::bench::{dyno_sandbox, median};
use crate::dynos::deploy_app;
use crate::harness::Container;
use crate::sleep::{dyno_units, short_drains, wait_asleep};

const ROUNDS: usize = 10;
const APPS: usize = 10;

/// Milliseconds until the first byte of a request through the proxy, as curl measures it.
fn first_byte_ms(c: &Container, app: &str) -> f64 {
    let out = c.ok(&format!(
        "curl -s -o /dev/null -w '%{{http_code}} %{{time_starttransfer}}' --max-time 60 -H 'Host: {app}.localhost' http://127.0.0.1/"
    ));
    let (status, secs) = out.trim().split_once(' ').expect("status and time");
    assert_eq!(status, "200", "the woken app answers");
    secs.parse::<f64>().expect("seconds") * 1000.0
}

/// The baseline: the app's web command as a dyno-sandboxed transient unit, from `systemd-run`
/// until its first answer (curl retried every 10 ms until the port answers).
fn bare_start_ms(c: &Container, app: &str, i: usize) -> f64 {
    let port = 29100 + i;
    let script = format!(
        "s=$(date +%s%N); systemd-run -q --unit=bench-wake-{i} {} -p Environment=PORT={port} -p Environment=DYNO=web.1 python3 app.py; until curl -s -o /dev/null --max-time 1 http://127.0.0.1:{port}/; do sleep 0.01; done; e=$(date +%s%N); echo $(( (e - s) / 1000 ))",
        dyno_sandbox(app)
    );
    let us: f64 = c.ok(&script).trim().parse().expect("microseconds");
    c.ok(&format!("systemctl stop bench-wake-{i}"));
    us / 1000.0
}

/// The memory the apps' dynos use as `skiff ps` reports it (their cgroups as systemd accounts
/// them, or their processes where it cannot), in KiB.
fn dynos_kib(c: &Container, apps: &[String]) -> u64 {
    apps.iter()
        .flat_map(|app| {
            let rows = c.json(&format!("skiff ps -a {app} --json"));
            rows.as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r["memory_bytes"].as_u64())
        })
        .sum::<u64>()
        / 1024
}

pub fn run(c: &Container) {
    short_drains(c);
    let apps: Vec<String> = (1..=APPS).map(|i| format!("nap{i:02}")).collect();
    for app in &apps {
        deploy_app(c, app);
    }
    std::thread::sleep(Duration::from_secs(2));
    let awake = dynos_kib(c, &apps);
    for app in &apps {
        c.ok(&format!("skiff ps:autosleep 2s -a {app}"));
    }
    for app in &apps {
        wait_asleep(c, app);
    }
    let asleep = dynos_kib(c, &apps);

    let mut wakes = Vec::new();
    let mut bare = Vec::new();
    for i in 1..=ROUNDS {
        wait_asleep(c, &apps[0]);
        wakes.push(first_byte_ms(c, &apps[0]));
        bare.push(bare_start_ms(c, &apps[0], i));
    }
    assert!(!dyno_units(c, &apps[0]).is_empty());
    let (w, b) = (median(wakes), median(bare));
    println!("bench: wake on request, median of {ROUNDS} (python3 web dyno):");
    println!("bench:   bare sandboxed unit start + first answer  {b:8.0} ms (polled every 10 ms)");
    println!(
        "bench:   request to a sleeping app → first byte     {w:8.0} ms   ratio {:.2} (aim ≤ 1.2)",
        w / b
    );
    println!(
        "bench: memory of {APPS} apps' dynos (skiff ps): awake {:.1} MiB, asleep {:.1} MiB",
        awake as f64 / 1024.0,
        asleep as f64 / 1024.0
    );
}
