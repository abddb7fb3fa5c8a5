//! skiff's system suite: every scenario gets a freshly booted Debian container (systemd-nspawn, systemd as PID 1)
//! with the real .deb installed, and asserts on what a user would see. Needs root and `make deb` first.
//!
//! Usage: `cargo test --release --test system [-- FILTER]` runs the scenarios whose names contain FILTER;
//! `-- --list` prints their names; `-- --try` boots one container with skiff installed and opens a shell in it.
//! Environment: `SKIFF_DEB` (the .deb to test; default the newest in target/debian), `SKIFF_TEST_ROOTFS` (a
//! prepared rootfs instead of the cached debootstrap one).

mod access;
mod api;
mod apps;
mod bench;
mod bench_net;
mod compression;
mod deploys;
mod dynos;
mod example;
mod harness;
mod install;
mod intake;
mod journal;
mod network;
mod oneoff;
mod routing;
mod state;

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::Container;

pub struct Scenario {
    pub name: &'static str,
    pub run: fn(&Container),
}

fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(install::scenarios());
    all.extend(apps::scenarios());
    all.extend(example::scenarios());
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
    all.extend(install::purge_scenarios());
    all
}

/// The message and place of the last panic, recorded by the hook so a FAIL line can show it.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn panic_reason(payload: Box<dyn Any + Send>) -> String {
    if let Some(r) = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take() {
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

struct Args {
    filter: Option<String>,
    try_mode: bool,
    bench_mode: bool,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        filter: None,
        try_mode: false,
        bench_mode: false,
        list: false,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--try" => a.try_mode = true,
            "--bench" => a.bench_mode = true,
            "--list" => a.list = true,
            s if s.starts_with('-') => {
                return Err(format!(
                    "unknown flag {s:?}; this runner takes --list, --try, --bench or one filter (a substring of scenario names)"
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

fn main() -> ExitCode {
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
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{msg}{place}"));
    }));

    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("system: {e}");
            return ExitCode::from(2);
        }
    };
    let all = scenarios();
    if args.list {
        for s in &all {
            println!("{}", s.name);
        }
        return ExitCode::SUCCESS;
    }

    let setup = || -> anyhow::Result<(PathBuf, PathBuf)> {
        harness::require_root()?;
        let deb = harness::find_deb()?;
        let rootfs = harness::ensure_rootfs()?;
        harness::remove_stale_workdirs();
        Ok((rootfs, deb))
    };
    let (rootfs, deb) = match setup() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("system: cannot run the system suite: {e:#}");
            println!("system: 0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };

    if args.bench_mode {
        return bench_mode(&rootfs, &deb);
    }
    if args.try_mode {
        return try_mode(&rootfs, &deb);
    }

    let selected: Vec<&Scenario> = all
        .iter()
        .filter(|s| args.filter.as_deref().is_none_or(|f| s.name.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!(
            "system: no scenario matches {:?}; known: {}",
            args.filter.unwrap_or_default(),
            { all.iter().map(|s| s.name).collect::<Vec<_>>().join(", ") }
        );
        println!("system: 0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    println!(
        "system: {} scenario(s), rootfs {}, deb {}",
        selected.len(),
        rootfs.display(),
        deb.display()
    );

    let suite_start = Instant::now();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut boot_broken: Option<String> = None;
    for s in selected {
        if let Some(why) = &boot_broken {
            println!(
                "FAIL {}: not run, the container does not boot: {why}",
                s.name
            );
            failed += 1;
            continue;
        }
        let started = Instant::now();
        let container = match panic::catch_unwind(|| Container::boot(&rootfs, &deb)) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                let why = format!("{e:#}");
                println!("FAIL {}: container did not boot: {why}", s.name);
                boot_broken = Some(why.lines().next().unwrap_or_default().to_string());
                failed += 1;
                continue;
            }
            Err(p) => {
                let why = panic_reason(p);
                println!("FAIL {}: container did not boot: {why}", s.name);
                boot_broken = Some(why);
                failed += 1;
                continue;
            }
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| (s.run)(&container)));
        let timing = format!(
            "boot {}, install {}, total {}",
            secs(container.boot_time),
            container
                .install_time
                .get()
                .map(secs)
                .unwrap_or_else(|| "-".into()),
            secs(started.elapsed())
        );
        match result {
            Ok(()) => {
                println!("PASS {} ({timing})", s.name);
                passed += 1;
            }
            Err(p) => {
                let why = panic_reason(p);
                println!("FAIL {}: {why}", s.name);
                harness::eprint_indented(
                    &format!(
                        "{}: journalctl -b --no-pager -n 300 in {}",
                        s.name, container.name
                    ),
                    &container.journal_tail(),
                );
                println!("     ({timing})");
                failed += 1;
            }
        }
        drop(container);
    }
    println!("system: suite took {}", secs(suite_start.elapsed()));
    println!("system: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `make bench`: one container, figures printed, never a pass/fail on time.
fn bench_mode(rootfs: &std::path::Path, deb: &std::path::Path) -> ExitCode {
    let result = panic::catch_unwind(|| {
        let c = Container::boot(rootfs, deb)
            .unwrap_or_else(|e| panic!("container did not boot: {e:#}"));
        bench::run(&c);
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
fn try_mode(rootfs: &std::path::Path, deb: &std::path::Path) -> ExitCode {
    println!(
        "try: booting a throwaway container with {} ...",
        deb.display()
    );
    let prepared = panic::catch_unwind(|| {
        let c = Container::boot(rootfs, deb)
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
         try: web dyno directly at {url}\n\
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
        secs(c.boot_time)
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
            .map(|p| format!("http://127.0.0.1:{p}/"));
        url.is_some()
    });
    url.unwrap_or_else(|| panic!("the example app's web dyno did not come up"))
}
