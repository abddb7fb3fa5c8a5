//! `make bench`: figures, never pass/fail. Everything is measured inside one booted container,
//! each against a baseline taken in the same run: a dyno started through skiff's API against a
//! bare transient unit started over D-Bus by `systemd-run`; scaling 0 → 50 → 0; skiffd's RSS idle
//! and with 50 dynos, and its CPU time over 10 idle seconds.

use std::time::Duration;

use crate::dynos::deploy_app;
use crate::harness::{wait_until, Container};

const ROUNDS: usize = 10;
const MANY: usize = 50;

/// Milliseconds since the epoch, read inside the container.
fn now_ms(c: &Container) -> f64 {
    c.ok("date +%s%N")
        .trim()
        .parse::<f64>()
        .expect("date prints nanoseconds")
        / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn rss_kib(c: &Container) -> u64 {
    c.ok("ps -o rss= -p $(systemctl show -p MainPID --value skiffd)")
        .trim()
        .parse()
        .expect("ps prints the RSS")
}

fn cpu_ticks(c: &Container) -> u64 {
    let stat = c.ok("cat /proc/$(systemctl show -p MainPID --value skiffd)/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of /proc/PID/stat; after the ')' they are 12th and 13th.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Runs `cmd` and waits (polling every 10 ms inside the container) until `unit` is active;
/// returns the milliseconds taken.
fn time_until_active(c: &Container, cmd: &str, unit: &str) -> f64 {
    let script = format!(
        "s=$(date +%s%N); {cmd} >/dev/null; until [ \"$(systemctl is-active {unit})\" = active ]; do sleep 0.01; done; e=$(date +%s%N); echo $(( (e - s) / 1000 ))"
    );
    c.ok(&script).trim().parse::<f64>().expect("microseconds") / 1000.0
}

fn active_count(c: &Container, pattern: &str) -> usize {
    c.ok(&format!(
        "systemctl list-units '{pattern}' --state=active --plain --no-legend | wc -l"
    ))
    .trim()
    .parse()
    .unwrap_or(0)
}

pub fn run(c: &Container) {
    c.install_deb();
    deploy_app(c, "bench");
    assert!(wait_until(Duration::from_secs(30), || active_count(
        c,
        "skiff-bench.web.*"
    ) == 1));
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = rss_kib(c);
    let ticks_before = cpu_ticks(c);
    std::thread::sleep(Duration::from_secs(10));
    let idle_ticks = cpu_ticks(c) - ticks_before;

    let mut bare = Vec::new();
    let mut skiff = Vec::new();
    for i in 1..=ROUNDS {
        bare.push(time_until_active(
            c,
            &format!(
                "systemd-run -q --unit=bench-bare-{i} -p Type=exec -p DynamicUser=yes sleep 1000"
            ),
            &format!("bench-bare-{i}"),
        ));
        skiff.push(time_until_active(
            c,
            &format!("skiff ps:scale worker={i} -a bench"),
            &format!("skiff-bench.worker.{i}.v1.service"),
        ));
    }
    c.ok("systemctl stop 'bench-bare-*' && skiff ps:scale worker=0 -a bench");
    assert!(wait_until(Duration::from_secs(60), || active_count(
        c,
        "skiff-bench.worker.*"
    ) == 0));

    let start = now_ms(c);
    c.ok(&format!("skiff ps:scale worker={MANY} -a bench"));
    assert!(wait_until(Duration::from_secs(120), || active_count(
        c,
        "skiff-bench.worker.*"
    ) == MANY));
    let up = now_ms(c) - start;
    std::thread::sleep(Duration::from_secs(2));
    let busy_rss = rss_kib(c);
    let start = now_ms(c);
    c.ok("skiff ps:scale worker=0 -a bench");
    assert!(wait_until(Duration::from_secs(120), || active_count(
        c,
        "skiff-bench.worker.*"
    ) == 0));
    let down = now_ms(c) - start;

    let (b, s) = (median(bare), median(skiff));
    println!("bench: dyno start, median of {ROUNDS} (command until the unit is active, polled every 10 ms):");
    println!("bench:   bare transient unit over D-Bus (systemd-run)  {b:8.1} ms");
    println!("bench:   skiff ps:scale → dyno active                  {s:8.1} ms   ratio {:.2} (goal ≤ 1.2)", s / b);
    println!("bench: scale 0 → {MANY} dynos active                    {up:8.0} ms");
    println!("bench: scale {MANY} → 0 dynos                           {down:8.0} ms");
    println!(
        "bench: skiffd RSS idle                                 {:8.1} MiB (goal ≤ 10)",
        idle_rss as f64 / 1024.0
    );
    println!(
        "bench: skiffd RSS with {MANY} dynos                     {:8.1} MiB",
        busy_rss as f64 / 1024.0
    );
    println!("bench: skiffd CPU ticks over 10 idle seconds           {idle_ticks:8}");
}
