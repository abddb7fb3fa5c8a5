//! skiff's system suite: every scenario gets a freshly booted Debian container (systemd-nspawn, systemd as PID 1)
//! with the real .deb installed, and asserts on what a user would see. Needs root and `make deb` first.
//!
//! Each container has a network of its own (a veth, a /30 of 10.99.0.0/24, NAT to the host's uplink; see net.rs),
//! so scenarios run side by side: two at a time unless told otherwise, the purge scenarios after all the others.
//! Each scenario's PASS or FAIL line is printed whole when it ends; the last lines give the suite's wall time and
//! the sum of the scenarios' own times.
//!
//! Every scenario runs on each Debian release of [`harness::SUITES`] (12 and 13), named `SUITE/SCENARIO`.
//! Usage: `cargo test --release --test system [-- FILTER]` runs the scenarios whose names contain FILTER
//! (`apps_create` on both releases, `trixie/` all of Debian 13's);
//! `-- --jobs N` runs N at a time (1 runs them one after another); `-- --list` prints their names; `-- --try`
//! boots one container with skiff installed and opens a shell in it; `-- --bench` prints figures.
//! Environment: `SKIFF_TEST_JOBS` (scenarios at a time, as `--jobs`; the flag wins), `SKIFF_TEST_SUITES`
//! (releases to run, comma-separated; `--try` and `--bench` use the first, default bookworm), `SKIFF_DEB` (the
//! .deb to test; default the newest in target/debian), `SKIFF_TEST_ROOTFS_BOOKWORM` and `_TRIXIE` (a prepared
//! rootfs instead of the cached debootstrap one).

mod access;
mod addons;
mod alerts;
mod api;
mod apps;
mod backup_copies;
mod backup_schedules;
mod backups;
mod backups_redis;
mod bench;
mod bench_addons;
mod bench_backups;
mod bench_dashboard;
mod bench_metrics;
mod bench_net;
mod bench_sleep;
mod cgroup;
mod compression;
mod dashboard;
mod deploys;
mod drains;
mod dynos;
mod example;
mod habits;
mod harness;
mod install;
mod intake;
mod journal;
mod metrics;
mod net;
mod network;
mod oneoff;
mod rename;
mod routing;
mod server_backup;
mod sleep;
mod state;
mod volumes;

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use harness::Container;

pub struct Scenario {
    pub name: &'static str,
    pub run: fn(&Container),
}

fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(install::scenarios());
    // Mostly waiting for finished minutes: started early, beside the others.
    all.extend(alerts::scenarios());
    all.extend(apps::scenarios());
    all.extend(example::scenarios());
    all.extend(dashboard::scenarios());
    all.extend(habits::scenarios());
    all.extend(rename::scenarios());
    all.extend(drains::scenarios());
    all.extend(access::scenarios());
    all.extend(state::scenarios());
    all.extend(journal::scenarios());
    all.extend(api::scenarios());
    all.extend(dynos::scenarios());
    all.extend(deploys::scenarios());
    all.extend(intake::scenarios());
    all.extend(routing::scenarios());
    all.extend(network::scenarios());
    all.extend(compression::scenarios());
    all.extend(oneoff::scenarios());
    all.extend(addons::scenarios());
    all.extend(volumes::scenarios());
    all.extend(backups::scenarios());
    all.extend(backup_schedules::scenarios());
    all.extend(backups_redis::scenarios());
    all.extend(backup_copies::scenarios());
    all.extend(server_backup::scenarios());
    all.extend(sleep::scenarios());
    all.extend(metrics::scenarios());
    all.extend(install::purge_scenarios());
    all
}

thread_local! {
    /// The message and place of this thread's last panic, recorded by the hook so a FAIL line can show it.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn panic_reason(payload: Box<dyn Any + Send>) -> String {
    if let Some(r) = LAST_PANIC.with(|p| p.borrow_mut().take()) {
        return r;
    }
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Scenarios at a time unless `--jobs` or `SKIFF_TEST_JOBS` says otherwise.
const DEFAULT_JOBS: usize = 2;

struct Args {
    filter: Option<String>,
    /// The Debian releases to run on, in [`harness::SUITES`]' order.
    suites: Vec<&'static str>,
    try_mode: bool,
    bench_mode: bool,
    list: bool,
    jobs: usize,
}

fn parse_jobs(text: &str, from: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{from} wants a number of scenarios at a time (1 or more), not {text:?}"
        )),
    }
}

/// `SKIFF_TEST_SUITES`: a comma-separated subset of [`harness::SUITES`].
fn parse_suites(text: &str) -> Result<Vec<&'static str>, String> {
    let asked: Vec<&str> = text.split(',').map(str::trim).collect();
    if let Some(bad) = asked.iter().find(|a| !harness::SUITES.contains(a)) {
        return Err(format!(
            "SKIFF_TEST_SUITES names {bad:?}; the suite runs on {}",
            harness::SUITES.join(", ")
        ));
    }
    Ok(harness::SUITES
        .iter()
        .copied()
        .filter(|s| asked.contains(s))
        .collect())
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        filter: None,
        suites: match std::env::var("SKIFF_TEST_SUITES") {
            Ok(v) => parse_suites(&v)?,
            Err(_) => harness::SUITES.to_vec(),
        },
        try_mode: false,
        bench_mode: false,
        list: false,
        jobs: match std::env::var("SKIFF_TEST_JOBS") {
            Ok(v) => parse_jobs(&v, "SKIFF_TEST_JOBS")?,
            Err(_) => DEFAULT_JOBS,
        },
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--try" => a.try_mode = true,
            "--bench" => a.bench_mode = true,
            "--list" => a.list = true,
            "--jobs" => {
                let n = args.next().ok_or("--jobs wants a number")?;
                a.jobs = parse_jobs(&n, "--jobs")?;
            }
            s if s.starts_with("--jobs=") => a.jobs = parse_jobs(&s["--jobs=".len()..], "--jobs")?,
            s if s.starts_with('-') => {
                return Err(format!(
                    "unknown flag {s:?}; this runner takes --list, --try, --bench, --jobs N or one filter (a substring of scenario names)"
                ))
            }
            s => {
                if a.filter.replace(s.to_string()).is_some() {
                    return Err("give at most one filter (a substring of scenario names)".into());
                }
            }
        }
    }
    Ok(a)
}

fn record_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let place = info
            .location()
            .map(|l| format!(" [{}:{}]", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{place}")));
    }));
}

/// The rootfs of each Debian release in use.
type Rootfses = HashMap<&'static str, PathBuf>;

/// Root, the .deb, the rootfs of each of `suites`, and the host's network claimed for the containers (given
/// back when it drops).
fn setup(suites: &[&'static str]) -> anyhow::Result<(Rootfses, PathBuf, net::HostNet)> {
    harness::require_root()?;
    let deb = harness::find_deb()?;
    let mut rootfses = HashMap::new();
    for &suite in suites {
        rootfses.insert(suite, harness::ensure_rootfs(suite)?);
    }
    harness::remove_stale_workdirs();
    let host_net = net::HostNet::claim()?;
    Ok((rootfses, deb, host_net))
}

/// One scenario on one Debian release.
struct Run<'a> {
    /// `SUITE/SCENARIO`, what the filter matches and the PASS or FAIL line names.
    name: String,
    suite: &'static str,
    scenario: &'a Scenario,
}

/// Each scenario on each of `suites`, the releases side by side, so both advance together.
fn runs<'a>(all: &'a [Scenario], suites: &[&'static str], filter: Option<&str>) -> Vec<Run<'a>> {
    all.iter()
        .flat_map(|scenario| {
            suites.iter().map(move |&suite| Run {
                name: format!("{suite}/{}", scenario.name),
                suite,
                scenario,
            })
        })
        .filter(|r| filter.is_none_or(|f| r.name.contains(f)))
        .collect()
}

fn main() -> ExitCode {
    record_panics();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("system: {e}");
            return ExitCode::from(2);
        }
    };
    let all = scenarios();
    if args.list {
        for r in runs(&all, &args.suites, None) {
            println!("{}", r.name);
        }
        return ExitCode::SUCCESS;
    }
    let selected = runs(&all, &args.suites, args.filter.as_deref());
    let needed: Vec<&'static str> = if args.bench_mode || args.try_mode {
        args.suites.iter().copied().take(1).collect()
    } else {
        args.suites
            .iter()
            .copied()
            .filter(|s| selected.iter().any(|r| r.suite == *s))
            .collect()
    };
    if needed.is_empty() {
        eprintln!(
            "system: no scenario matches {:?}; known: {}",
            args.filter.unwrap_or_default(),
            { all.iter().map(|s| s.name).collect::<Vec<_>>().join(", ") }
        );
        println!("system: 0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    // `_host_net` lives until main returns: its drop deletes the NAT table and restores ip_forward, also when a
    // scenario fails or something panics.
    let (rootfses, deb, _host_net) = match setup(&needed) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("system: cannot run the system suite: {e:#}");
            println!("system: 0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let first = needed[0];
    if args.bench_mode {
        return bench_mode(first, &rootfses[first], &deb, args.filter.as_deref());
    }
    if args.try_mode {
        return try_mode(first, &rootfses[first], &deb);
    }
    println!(
        "system: {} scenario run(s), {} at a time, deb {}",
        selected.len(),
        args.jobs,
        deb.display()
    );
    for suite in &needed {
        println!("system: {suite} rootfs {}", rootfses[suite].display());
    }
    let failed = run_suite(&selected, args.jobs, &rootfses, &deb);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What the workers share: where to boot from, which releases do not boot, and the tally.
struct Suite<'a> {
    rootfses: &'a Rootfses,
    deb: &'a Path,
    boot_broken: Mutex<HashMap<&'static str, String>>,
    tally: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    /// The sum of the scenarios' own times (boot to verdict).
    own: Duration,
}

/// Runs `selected` on `jobs` workers, the purge scenarios after all others have finished; prints the summary and
/// returns how many failed.
fn run_suite(selected: &[Run], jobs: usize, rootfses: &Rootfses, deb: &Path) -> usize {
    let last: Vec<&str> = install::purge_scenarios().iter().map(|s| s.name).collect();
    let (at_end, first): (Vec<&Run>, Vec<&Run>) = selected
        .iter()
        .partition(|r| last.contains(&r.scenario.name));
    let suite = Suite {
        rootfses,
        deb,
        boot_broken: Mutex::new(HashMap::new()),
        tally: Mutex::new(Tally::default()),
    };
    let started = Instant::now();
    run_pool(&suite, &first, jobs);
    run_pool(&suite, &at_end, jobs);
    let t = suite.tally.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "suite: {} scenarios, {jobs} at a time, wall {} (scenarios' own time {})",
        selected.len(),
        secs(started.elapsed()),
        secs(t.own)
    );
    println!("system: {} passed, {} failed", t.passed, t.failed);
    t.failed
}

/// Up to `jobs` scenarios at once, each in its own container, taken from `queue` in order.
fn run_pool(suite: &Suite, queue: &[&Run], jobs: usize) {
    let next = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..jobs.min(queue.len()) {
            scope.spawn(|| {
                while let Some(s) = queue.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let (passed, own) = run_one(suite, s);
                    let mut t = suite.tally.lock().unwrap_or_else(|e| e.into_inner());
                    if passed {
                        t.passed += 1;
                    } else {
                        t.failed += 1;
                    }
                    t.own += own;
                }
            });
        }
    });
}

/// Boots a container, runs `r` in it, prints its PASS or FAIL line whole; whether it passed and how long it took.
fn run_one(suite: &Suite, r: &Run) -> (bool, Duration) {
    let started = Instant::now();
    let broken = suite
        .boot_broken
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(r.suite)
        .cloned();
    if let Some(why) = broken {
        println!(
            "FAIL {}: not run, the {} container does not boot: {why}",
            r.name, r.suite
        );
        return (false, Duration::ZERO);
    }
    let rootfs = &suite.rootfses[r.suite];
    let booted = panic::catch_unwind(|| Container::boot(r.suite, rootfs, suite.deb, &r.name))
        .map_err(panic_reason)
        .and_then(|res| res.map_err(|e| format!("{e:#}")));
    let container = match booted {
        Ok(c) => c,
        Err(why) => {
            println!("FAIL {}: container did not boot: {why}", r.name);
            let first = why.lines().next().unwrap_or_default().to_string();
            suite
                .boot_broken
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(r.suite, first);
            return (false, started.elapsed());
        }
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| (r.scenario.run)(&container)));
    let own = started.elapsed();
    let timing = format!(
        "boot {}, install {}, total {}",
        secs(container.boot_time),
        container
            .install_time
            .get()
            .map(secs)
            .unwrap_or_else(|| "-".into()),
        secs(own)
    );
    let passed = match result {
        Ok(()) => {
            println!("PASS {} ({timing})", r.name);
            true
        }
        Err(p) => {
            println!("FAIL {}: {}\n     ({timing})", r.name, panic_reason(p));
            harness::eprint_indented(
                &format!(
                    "{}: journalctl -b --no-pager -n 300 in {}",
                    r.name, container.name
                ),
                &container.journal_tail(),
            );
            false
        }
    };
    drop(container);
    (passed, own)
}

/// A benchmark part: its name for `FILTER` and what it runs.
type BenchPart = (&'static str, fn(&Container));

/// `make bench`: one container, figures printed, never a pass/fail on time. With a filter
/// (`make bench FILTER=sleep`), only the parts whose name holds it: dynos, addons, backups,
/// sleep, metrics, dashboard.
fn bench_mode(
    suite: &'static str,
    rootfs: &std::path::Path,
    deb: &std::path::Path,
    filter: Option<&str>,
) -> ExitCode {
    let parts: [BenchPart; 6] = [
        ("dynos", bench::run),
        ("addons", bench_addons::run),
        ("backups", bench_backups::run),
        ("sleep", bench_sleep::run),
        ("metrics", bench_metrics::run),
        ("dashboard", bench_dashboard::run),
    ];
    let result = panic::catch_unwind(|| {
        let c = Container::boot(suite, rootfs, deb, "bench")
            .unwrap_or_else(|e| panic!("container did not boot: {e:#}"));
        let chosen: Vec<_> = parts
            .iter()
            .filter(|(name, _)| filter.is_none_or(|f| name.contains(f)))
            .collect();
        assert!(
            !chosen.is_empty(),
            "no benchmark part is named like {filter:?}"
        );
        if chosen[0].0 != "dynos" {
            // The first part installs the package; without it, install it here.
            c.install_deb();
        }
        for (_, run) in chosen {
            run(&c);
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(p) => {
            eprintln!("bench: {}", panic_reason(p));
            ExitCode::FAILURE
        }
    }
}

/// `make try`: a container with skiff installed and an example app, and a shell in it.
fn try_mode(suite: &'static str, rootfs: &std::path::Path, deb: &std::path::Path) -> ExitCode {
    println!(
        "try: booting a throwaway Debian {suite} container with {} ...",
        deb.display()
    );
    let prepared = panic::catch_unwind(|| {
        let c = Container::boot(suite, rootfs, deb, "try")
            .unwrap_or_else(|e| panic!("container did not boot: {e:#}"));
        c.install_deb();
        example::deploy(&c, "hello");
        let url = wait_for_web_url(&c, "hello");
        (c, url)
    });
    let (c, url) = match prepared {
        Ok(ready) => ready,
        Err(p) => {
            eprintln!("try: {}", panic_reason(p));
            return ExitCode::FAILURE;
        }
    };
    println!(
        "\n\
         try: skiff is installed in container {} (booted in {}); the example app `hello` is deployed\n\
         try: from /root/hello; through skiff's Caddy it answers at http://hello.localhost/ and its\n\
         try: web dyno directly at {url}; from the host, the container is at {ip}\n\
         try: (curl -H 'Host: hello.localhost' http://{ip}/ on the host)\n\
         try: things to type:\n\
         \x20   curl -H 'Host: hello.localhost' http://127.0.0.1/   through the proxy\n\
         \x20   curl {url}\n\
         \x20   skiff domains -a hello          its host names (domains:add www.example.test -a hello)\n\
         \x20   skiff ps -a hello               its dynos (ps:scale web=2 worker=1 -a hello for more)\n\
         \x20   skiff logs -a hello -f          its logs (Ctrl-C to stop)\n\
         \x20   skiff apps                      list apps\n\
         \x20   skiff apps:info -a hello        one app (add --json for scripts)\n\
         \x20   skiff apps:create myapp         make another\n\
         \x20   systemctl status skiffd         the daemon\n\
         \x20   journalctl -u skiffd            its logs\n\
         \x20   curl --unix-socket /run/skiff/api.sock http://localhost/v1/health\n\
         \x20   exit                            leave; the container and all changes are discarded\n",
        c.name,
        secs(c.boot_time),
        ip = c.ip
    );
    let status = c.interactive_shell();
    println!("try: powering the container off ...");
    drop(c);
    match status {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("try: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The URL of the app's first web dyno, once it is up.
fn wait_for_web_url(c: &Container, app: &str) -> String {
    let mut url = None;
    harness::wait_until(Duration::from_secs(30), || {
        url = dynos::ps(c, app)
            .into_iter()
            .find(|(name, state, _, port)| name == "web.1" && state == "up" && port.is_some())
            .and_then(|(.., port)| port)
            .map(|p| format!("http://{}:{p}/", c.dyno_addr(app)));
        url.is_some()
    });
    url.unwrap_or_else(|| panic!("the example app's web dyno did not come up"))
}
