//! `make bench`, private networks: a dyno's start when its app's namespace is already there
//! against one that has to make the namespace first (as the first dyno after a reboot does).

use std::time::Duration;

use crate::bench::{active_count, median, time_until_active};
use crate::harness::{wait_until, Container};

const ROUNDS: usize = 5;

/// Prints the median start of a worker dyno with its app's namespace in place and with it
/// removed just before (skiffd then runs the setup unit before the dyno's).
pub fn namespace_start(c: &Container) {
    c.ok("skiff apps:create fresh && mkdir -p /root/fresh && cd /root/fresh && printf 'worker: sleep 1000\\n' > Procfile && skiff deploy -a fresh >/dev/null 2>&1");
    let mut existing = Vec::new();
    let mut new = Vec::new();
    for _ in 0..ROUNDS {
        for fresh_namespace in [false, true] {
            if fresh_namespace {
                c.ok("ip netns delete skiff-fresh");
            }
            let ms = time_until_active(
                c,
                "skiff ps:scale worker=1 -a fresh",
                "skiff-fresh.worker.1.v1.service",
            );
            if fresh_namespace {
                new.push(ms);
            } else {
                existing.push(ms);
            }
            c.ok("skiff ps:scale worker=0 -a fresh");
            assert!(wait_until(Duration::from_secs(30), || active_count(
                c,
                "skiff-fresh.worker.*"
            ) == 0));
        }
    }
    let (e, n) = (median(existing), median(new));
    println!("bench: dyno start in a private network, median of {ROUNDS}:");
    println!("bench:   its app's namespace already there          {e:8.1} ms");
    println!(
        "bench:   the namespace made first                    {n:8.1} ms   ratio {:.2}",
        n / e
    );
}
