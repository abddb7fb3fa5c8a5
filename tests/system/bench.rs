//! `make bench`: figures, never pass/fail. Everything is measured inside one booted container,
//! each against a baseline taken in the same run: a dyno started through skiff's API against a
//! bare transient unit started over D-Bus by `systemd-run`; scaling 0 → 50 → 0; skiffd's RSS idle
//! and with 50 dynos, and its CPU time over 10 idle seconds; upload → serving of an app with
//! nothing to build against the same web process started as a bare unit; and a Python app's first
//! build against its cached rebuild, stage by stage.

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

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub(crate) fn rss_kib(c: &Container) -> u64 {
    c.ok("ps -o rss= -p $(systemctl show -p MainPID --value skiffd)")
        .trim()
        .parse()
        .expect("ps prints the RSS")
}

/// skiffd's resident memory split as /proc reports it: (anonymous — heap and stacks —, mapped
/// files — its code; on the container's tmpfs root they count as shared memory).
fn rss_split_kib(c: &Container) -> (u64, u64) {
    let status = c.ok("cat /proc/$(systemctl show -p MainPID --value skiffd)/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:") + field("RssShmem:"))
}

/// Every process of skiff's own units (skiffd and its children, skiff's Caddy) as
/// (name, RSS KiB, PSS KiB), from /proc/PID/smaps_rollup.
fn platform_memory_kib(c: &Container) -> Vec<(String, u64, u64)> {
    let out = c.ok(
        r#"for pid in $(ps -eo pid=,unit= | awk '$2=="skiffd.service" || $2=="skiff-caddy.service" {print $1}'); do
  printf '%s %s %s\n' "$(ps -o comm= -p "$pid")" \
    "$(awk '/^Rss:/ {print $2}' /proc/"$pid"/smaps_rollup)" "$(awk '/^Pss:/ {print $2}' /proc/"$pid"/smaps_rollup)"
done"#,
    );
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.to_owned(),
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
            ))
        })
        .collect()
}

fn print_platform_memory(processes: &[(String, u64, u64)]) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("bench: skiff's own processes idle (RSS / PSS):");
    for (name, rss, pss) in processes {
        println!(
            "bench:   {name:<16} {:8.1} / {:6.1} MiB",
            mib(*rss),
            mib(*pss)
        );
    }
    let rss: u64 = processes.iter().map(|p| p.1).sum();
    let pss: u64 = processes.iter().map(|p| p.2).sum();
    println!(
        "bench:   platform total   {:8.1} / {:6.1} MiB (goal PSS ≤ 40)",
        mib(rss),
        mib(pss)
    );
}

pub(crate) fn cpu_ticks(c: &Container) -> u64 {
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
/// `systemd-run` flags for a unit sandboxed as a dyno is (see `systemd/properties/sandbox.rs`),
/// with `app`'s newest slug at /app and skiff's state hidden: what systemd itself spends on a
/// dyno's start, without skiff.
pub(crate) fn dyno_sandbox(app: &str) -> String {
    format!(
        "-p Type=exec -p DynamicUser=yes -p PrivateUsers=yes \
    -p NoNewPrivileges=yes -p ProtectSystem=strict -p ProtectHome=yes -p PrivateTmp=yes \
    -p PrivateDevices=yes -p ProtectKernelTunables=yes -p ProtectKernelModules=yes \
    -p ProtectKernelLogs=yes -p ProtectControlGroups=yes -p RestrictNamespaces=yes \
    -p LockPersonality=yes -p RestrictRealtime=yes -p RestrictSUIDSGID=yes -p ProtectClock=yes \
    -p ProtectHostname=yes -p SystemCallArchitectures=native -p SystemCallFilter=@system-service \
    -p 'SystemCallFilter=~@privileged @resources' -p SystemCallErrorNumber=EPERM \
    -p 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    -p CapabilityBoundingSet= -p ProtectProc=invisible -p ProcSubset=pid -p UMask=0077 \
    -p InaccessiblePaths=/var/lib/skiff \
    -p BindReadOnlyPaths=$(ls -d /var/lib/skiff/apps/{app}/slugs/* | tail -n 1):/app \
    -p WorkingDirectory=/app"
    )
}

pub(crate) fn time_until_active(c: &Container, cmd: &str, unit: &str) -> f64 {
    let script = format!(
        "s=$(date +%s%N); {cmd} >/dev/null; until [ \"$(systemctl is-active {unit})\" = active ]; do sleep 0.01; done; e=$(date +%s%N); echo $(( (e - s) / 1000 ))"
    );
    c.ok(&script).trim().parse::<f64>().expect("microseconds") / 1000.0
}

pub(crate) fn active_count(c: &Container, pattern: &str) -> usize {
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
    // Idle with a scheduled job in place too: its timer belongs to PID 1, not to skiffd.
    c.ok("cd /root/bench && printf '{\"cron\": [{\"command\": \"true\", \"schedule\": \"*/5 * * * *\"}]}' > app.json && skiff deploy -a bench >/dev/null 2>&1");
    assert!(wait_until(Duration::from_secs(30), || active_count(
        c,
        "skiff-bench.web.*"
    ) == 1));
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = rss_kib(c);
    let (idle_anon, idle_code) = rss_split_kib(c);
    let platform = platform_memory_kib(c);
    assert!(
        platform.iter().any(|p| p.0 == "skiffd") && platform.iter().any(|p| p.0 == "caddy"),
        "skiffd and caddy among skiff's processes: {platform:?}"
    );
    let ticks_before = cpu_ticks(c);
    std::thread::sleep(Duration::from_secs(10));
    let idle_ticks = cpu_ticks(c) - ticks_before;

    let mut bare = Vec::new();
    let mut sandboxed = Vec::new();
    let mut skiff = Vec::new();
    for i in 1..=ROUNDS {
        sandboxed.push(time_until_active(
            c,
            &format!(
                "systemd-run -q --unit=bench-sandboxed-{i} {} sleep 1000",
                dyno_sandbox("bench")
            ),
            &format!("bench-sandboxed-{i}"),
        ));
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
            &format!("skiff-bench.worker.{i}.v2.service"),
        ));
    }
    c.ok("systemctl stop 'bench-bare-*' 'bench-sandboxed-*' && skiff ps:scale worker=0 -a bench");
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

    let (b, sb, s) = (median(bare), median(sandboxed), median(skiff));
    println!("bench: dyno start, median of {ROUNDS} (command until the unit is active, polled every 10 ms):");
    println!("bench:   bare transient unit over D-Bus (systemd-run)  {b:8.1} ms");
    println!("bench:   the same with a dyno's sandbox (systemd-run)  {sb:8.1} ms   ratio {:.2} (systemd's own cost of the sandbox)", sb / b);
    println!("bench:   skiff ps:scale → dyno active                  {s:8.1} ms   ratio {:.2} (goal ≤ 1.3), {:.2} against the sandboxed unit", s / b, s / sb);
    println!("bench: scale 0 → {MANY} dynos active                    {up:8.0} ms");
    println!("bench: scale {MANY} → 0 dynos                           {down:8.0} ms");
    println!(
        "bench: skiffd RSS idle                                 {:8.1} MiB (goal ≤ 10)",
        idle_rss as f64 / 1024.0
    );
    println!(
        "bench:   of which heap and stacks {:.1} MiB, mapped code {:.1} MiB",
        idle_anon as f64 / 1024.0,
        idle_code as f64 / 1024.0
    );
    println!(
        "bench: skiffd RSS with {MANY} dynos                     {:8.1} MiB",
        busy_rss as f64 / 1024.0
    );
    println!("bench: skiffd CPU ticks over 10 idle seconds           {idle_ticks:8}");
    print_platform_memory(&platform);
    crate::bench_net::namespace_start(c);
    deploys(c);
    proxy(c);
}

const WEB: &str = "python3 -m http.server $PORT --bind 0.0.0.0";

/// Milliseconds from running `cmd` until some web dyno of `app` serves a page containing `mark`.
fn time_until_served(c: &Container, cmd: &str, app: &str, mark: &str) -> f64 {
    let addr = c.dyno_addr(app);
    let script = format!(
        r#"s=$(date +%s%N); {cmd} >/dev/null
found=
while [ -z "$found" ]; do
  for p in $(skiff ps -a {app} --json | grep -o '"port": [0-9]*' | grep -o '[0-9]*$'); do
    curl -s --max-time 1 "http://{addr}:$p/" | grep -q '{mark}' && found=1
  done
  [ -n "$found" ] || sleep 0.01
done
e=$(date +%s%N); echo $(( (e - s) / 1000 ))"#
    );
    c.ok(&format!("sh -c {}", crate::harness::shell_quote(&script)))
        .trim()
        .parse::<f64>()
        .expect("microseconds")
        / 1000.0
}

/// The bare baseline: the same web process as a transient unit, until it serves.
fn time_bare_web(c: &Container, i: usize) -> f64 {
    let port = 29000 + i;
    let script = format!(
        "mkdir -p /root/bare && echo bare-{i} > /root/bare/index.html; s=$(date +%s%N); systemd-run -q --unit=bench-web-{i} -p Type=exec -p DynamicUser=yes -p WorkingDirectory=/root/bare -p Environment=PORT={port} sh -c '{WEB}'; until curl -s --max-time 1 http://127.0.0.1:{port}/ | grep -q bare-{i}; do sleep 0.01; done; e=$(date +%s%N); echo $(( (e - s) / 1000 ))"
    );
    c.ok(&script).trim().parse::<f64>().expect("microseconds") / 1000.0
}

fn deploys(c: &Container) {
    c.ok("chmod 755 /root");
    c.ok("skiff apps:create quick && mkdir -p /root/quick");
    let mut skiff = Vec::new();
    let mut bare = Vec::new();
    for i in 1..=ROUNDS / 2 {
        c.ok(&format!(
            "cd /root/quick && echo quick-{i} > index.html && printf 'web: {WEB}\n' > Procfile"
        ));
        skiff.push(time_until_served(
            c,
            "cd /root/quick && skiff deploy -a quick",
            "quick",
            &format!("quick-{i}"),
        ));
        bare.push(time_bare_web(c, i));
    }
    c.sh("systemctl stop 'bench-web-*'");
    let (s, b) = (median(skiff), median(bare));
    println!(
        "bench: deploy with nothing to build, median of {} (command until the new release serves):",
        ROUNDS / 2
    );
    println!("bench:   bare unit running the same web process      {b:8.0} ms");
    println!("bench:   skiff deploy → new release serving          {s:8.0} ms   ratio {:.2} (goal ≤ 1 s)", s / b);

    c.ok("skiff apps:create pybench && mkdir -p /root/pybench");
    let app = "import six, http.server, os, socketserver\nsocketserver.TCPServer(('0.0.0.0', int(os.environ['PORT'])), http.server.SimpleHTTPRequestHandler).serve_forever()\n";
    let mut times = Vec::new();
    for round in ["first build", "cached rebuild"] {
        c.ok(&format!(
            "cd /root/pybench && printf \"{app}\" > app.py && echo '{round}' > index.html && printf 'six==1.16.0\\n' > requirements.txt && printf 'web: python app.py\\n' > Procfile"
        ));
        let started = now_ms(c);
        let out = c.ok("cd /root/pybench && skiff deploy -a pybench");
        let total = now_ms(c) - started;
        let stages: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("-----> ") || l.trim_start().starts_with("done in"))
            .collect();
        println!("bench: python {round}: {total:.0} ms");
        for line in stages {
            println!("bench:     {line}");
        }
        times.push(total);
    }
    println!(
        "bench: python cached rebuild / first build           {:8.2}",
        times[1] / times[0]
    );
}

/// Load from inside the container: THREADS threads GET a URL for SECS seconds over kept-alive
/// connections; prints `requests/s p50_ms p99_ms failures`. A request that gets no 200 answer
/// (a closed or reset connection, a timeout, another status) is a failure and is not retried;
/// the next request opens a new connection.
pub(crate) const LOAD_PY: &str = r#"import sys, threading, time, http.client
addr, port, host, secs, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
lat, fails, lock = [], [0], threading.Lock()
end = time.time() + secs
def run():
    conn = None
    while time.time() < end:
        t = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(addr, port, timeout=10)
            conn.request("GET", "/", headers={"Host": host})
            r = conn.getresponse(); r.read()
            ok = r.status == 200
        except Exception:
            ok = False
            if conn: conn.close()
            conn = None
        d = (time.perf_counter() - t) * 1000
        with lock:
            if ok: lat.append(d)
            else: fails[0] += 1
ts = [threading.Thread(target=run) for _ in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else 0.0
print(f"{len(lat) / secs:.1f} {pct(0.5):.2f} {pct(0.99):.2f} {fails[0]}")
"#;

pub(crate) fn load(
    c: &Container,
    addr: &str,
    port: u16,
    host: &str,
    secs: u32,
) -> (f64, f64, f64, u64) {
    let out = c.ok(&format!(
        "python3 /root/load.py {addr} {port} {host} {secs} 4"
    ));
    let f: Vec<&str> = out.split_whitespace().collect();
    (
        f[0].parse().unwrap_or(0.0),
        f[1].parse().unwrap_or(0.0),
        f[2].parse().unwrap_or(0.0),
        f[3].parse().unwrap_or(0),
    )
}

/// Throughput and latency through Caddy against the same dyno directly, then the failed
/// requests a steady load sees during three deploys, then the same load through Caddy with the
/// dynos on the host's network (`dyno_network = "host"`) against their own network namespace.
fn proxy(c: &Container) {
    c.ok(&format!("cat > /root/load.py <<'EOF'\n{LOAD_PY}EOF"));
    let port: u16 = c
        .ok("skiff ps -a quick --json | grep -o '\"port\": [0-9]*' | grep -o '[0-9]*$' | head -1")
        .trim()
        .parse()
        .expect("quick's web port");
    let direct = load(c, &c.dyno_addr("quick"), port, "quick.localhost", 5);
    let proxied = load(c, "127.0.0.1", 80, "quick.localhost", 5);
    println!("bench: HTTP load, 4 client threads for 5 s (requests/s, p50, p99, failed requests):");
    println!(
        "bench:   direct to the dyno             {:8.0} req/s  p50 {:6.2} ms  p99 {:6.2} ms  failed {}",
        direct.0, direct.1, direct.2, direct.3
    );
    println!(
        "bench:   through skiff's Caddy          {:8.0} req/s  p50 {:6.2} ms  p99 {:6.2} ms  failed {}",
        proxied.0, proxied.1, proxied.2, proxied.3
    );
    println!(
        "bench:   proxy / direct                 {:8.2} throughput, {:.2} p50, {:.2} p99",
        proxied.0 / direct.0.max(1.0),
        proxied.1 / direct.1.max(0.001),
        proxied.2 / direct.2.max(0.001)
    );
    c.ok("(setsid python3 /root/load.py 127.0.0.1 80 quick.localhost 40 2 > /root/during.out 2>&1 &)");
    for i in 1..=3 {
        c.ok(&format!(
            "cd /root/quick && echo during-{i} > index.html && skiff deploy -a quick"
        ));
    }
    assert!(wait_until(Duration::from_secs(60), || c
        .sh("cat /root/during.out")
        .stdout
        .contains(' ')));
    let during: Vec<String> = c
        .ok("cat /root/during.out")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    println!(
        "bench: failed requests during 3 deploys under load  {:>8}   (of {:.0} served; must be 0)",
        during[3],
        during[0].parse::<f64>().unwrap_or(0.0) * 40.0
    );
    host_network(c, proxied);
}

/// Switches skiffd to the host's network, replaces the app's web dynos, and loads them through
/// Caddy as before: the figure a private network is measured against.
fn host_network(c: &Container, private: (f64, f64, f64, u64)) {
    c.ok(
        "printf 'dyno_network = \"host\"\\n' >> /etc/skiff/skiffd.toml && systemctl restart skiffd",
    );
    c.wait_active("skiffd", Duration::from_secs(30));
    c.ok("skiff ps:restart -a quick");
    let on_host = wait_until(Duration::from_secs(60), || {
        c.sh("systemctl show -p NetworkNamespacePath --value 'skiff-quick.web.1.*'")
            .stdout
            .trim()
            .is_empty()
    });
    assert!(on_host, "the web dyno runs on the host's network");
    let host = load(c, "127.0.0.1", 80, "quick.localhost", 5);
    println!(
        "bench:   through Caddy, dynos on the host's network {:8.0} req/s  p50 {:6.2} ms  p99 {:6.2} ms  failed {}",
        host.0, host.1, host.2, host.3
    );
    println!(
        "bench:   private network / host network {:8.2} throughput, {:.2} p50, {:.2} p99 (aim: within 5 %)",
        private.0 / host.0.max(1.0),
        private.1 / host.1.max(0.001),
        private.2 / host.2.max(0.001)
    );
    // Back to private networks for the benchmarks after this one.
    c.ok(
        "sed -i '/^dyno_network = \"host\"$/d' /etc/skiff/skiffd.toml && systemctl restart skiffd",
    );
    c.wait_active("skiffd", Duration::from_secs(30));
    c.ok("skiff ps:restart -a quick");
}
