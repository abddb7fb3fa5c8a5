//! `make bench`, the cost of metrics: skiffd's CPU over 60 s and its RSS with 20 apps and 40
//! dynos being sampled, against the same with `metrics = false`; in which of those seconds it
//! used any CPU at all; and the proxy's request rate with router metrics on against off,
//! alternating rounds so both see the same machine.

use std::time::Duration;

use crate::bench::{cpu_ticks, load, median, rss_kib, LOAD_PY};
use crate::dynos::deploy_app;
use crate::harness::{wait_until, Container};

const APPS: usize = 20;
const WINDOW_SECS: usize = 60;
const LOAD_ROUNDS: usize = 5;

/// skiffd's CPU ticks (1/100 s) over the window, and in how many of its seconds it had any.
pub(crate) fn cpu_over_window(c: &Container) -> (u64, usize) {
    let script = format!(
        "pid=$(systemctl show -p MainPID --value skiffd); for i in $(seq {}); do cut -d' ' -f14,15 /proc/$pid/stat; sleep 1; done",
        WINDOW_SECS + 1
    );
    let ticks: Vec<u64> = c
        .ok(&script)
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .collect();
    let busy = ticks.windows(2).filter(|w| w[1] > w[0]).count();
    (ticks[ticks.len() - 1] - ticks[0], busy)
}

/// Sets `metrics` in skiffd.toml and restarts skiffd, then lets a sample round pass.
fn set_metrics(c: &Container, on: bool) {
    c.ok(&format!(
        "sed -i '/^metrics = /d' /etc/skiff/skiffd.toml && echo 'metrics = {on}' >> /etc/skiff/skiffd.toml && systemctl restart skiffd"
    ));
    c.wait_active("skiffd", Duration::from_secs(30));
    let answers = wait_until(Duration::from_secs(30), || {
        c.sh("skiff apps --json").success()
    });
    assert!(answers, "skiffd answers after its restart");
    // Its first samples (every app at once) are taken within one tick of the start.
    std::thread::sleep(Duration::from_secs(15));
}

pub fn run(c: &Container) {
    let apps: Vec<String> = (1..=APPS).map(|i| format!("gauge{i:02}")).collect();
    for app in &apps {
        deploy_app(c, app);
        c.ok(&format!("skiff ps:scale worker=1 -a {app}"));
        c.ok(&format!("skiff alerts:add -a {app} crashed"));
    }
    let dynos = wait_until(Duration::from_secs(120), || {
        crate::bench::active_count(c, "skiff-gauge*.web.*") == APPS
            && crate::bench::active_count(c, "skiff-gauge*.worker.*") == APPS
    });
    assert!(dynos, "{} dynos active", 2 * APPS);

    set_metrics(c, true);
    let on_rss = rss_kib(c);
    let (on_ticks, on_busy) = cpu_over_window(c);
    set_metrics(c, false);
    let off_rss = rss_kib(c);
    let (off_ticks, off_busy) = cpu_over_window(c);

    println!(
        "bench: metrics with {APPS} apps and {} dynos, skiffd over {WINDOW_SECS} s (no requests):",
        2 * APPS
    );
    println!(
        "bench:   metrics on   CPU {:6.2} s ({on_busy:2} of {WINDOW_SECS} seconds with any)  RSS {:6.1} MiB",
        on_ticks as f64 / 100.0,
        on_rss as f64 / 1024.0
    );
    println!(
        "bench:   metrics off  CPU {:6.2} s ({off_busy:2} of {WINDOW_SECS} seconds with any)  RSS {:6.1} MiB",
        off_ticks as f64 / 100.0,
        off_rss as f64 / 1024.0
    );
    println!(
        "bench:   on − off     CPU {:+6.2} s per minute, RSS {:+6.1} MiB (aim: a few MiB at most)",
        (on_ticks as f64 - off_ticks as f64) / 100.0,
        (on_rss as f64 - off_rss as f64) / 1024.0
    );

    proxy_rate(c, &apps[0]);
}

/// The proxy's request rate with router metrics on and off, in rounds that alternate which
/// goes first, with skiffd's CPU during each load (it relays every router line either way).
fn proxy_rate(c: &Container, app: &str) {
    c.ok(&format!("cat > /root/load.py <<'EOF'\n{LOAD_PY}EOF"));
    let host = format!("{app}.localhost");
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let (mut on_cpu, mut off_cpu) = (Vec::new(), Vec::new());
    let mut failed = 0;
    for round in 0..LOAD_ROUNDS {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for metrics in order {
            set_metrics(c, metrics);
            let before = cpu_ticks(c);
            let (rate, _, _, fails) = load(c, "127.0.0.1", 80, &host, 5);
            let cpu = (cpu_ticks(c) - before) as f64 / 100.0;
            let (rates, cpus) = if metrics {
                (&mut on, &mut on_cpu)
            } else {
                (&mut off, &mut off_cpu)
            };
            rates.push(rate);
            cpus.push(cpu);
            failed += fails;
        }
    }
    println!(
        "bench: proxy rate, median of {LOAD_ROUNDS} rounds of 5 s, 4 client threads (failed requests: {failed}):"
    );
    println!("bench:   rounds, metrics on   {}", figures(&on));
    println!("bench:   rounds, metrics off  {}", figures(&off));
    let (on, off, on_cpu, off_cpu) = (median(on), median(off), median(on_cpu), median(off_cpu));
    // What counting costs skiffd itself, which relays every router line either way.
    let per_thousand = |cpu: f64, rate: f64| cpu * 1000.0 / (rate * 5.0).max(1.0) * 1000.0;
    println!(
        "bench:   router metrics on   {on:8.0} req/s, skiffd CPU {on_cpu:.2} s per 5 s ({:.1} ms per 1000 requests)",
        per_thousand(on_cpu, on)
    );
    println!(
        "bench:   router metrics off  {off:8.0} req/s, skiffd CPU {off_cpu:.2} s per 5 s ({:.1} ms per 1000 requests)",
        per_thousand(off_cpu, off)
    );
    println!(
        "bench:   on / off            {:8.3} (aim: within 3 %)",
        on / off.max(1.0)
    );
}

fn figures(rates: &[f64]) -> String {
    rates
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}
