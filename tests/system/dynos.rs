//! Dynos as sandboxed transient systemd units: deploy, scale, restarts, crashes, skiffd restarts,
//! strays, the sandbox, limits, logs and destroy — all through the CLI, curl and journalctl.

use std::time::Duration;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "dynos_deploy_and_scale",
            run: dynos_deploy_and_scale,
        },
        Scenario {
            name: "dynos_restarts_and_crashes",
            run: dynos_restarts_and_crashes,
        },
        Scenario {
            name: "dynos_survive_skiffd",
            run: dynos_survive_skiffd,
        },
        Scenario {
            name: "dynos_sandbox_and_limits",
            run: dynos_sandbox_and_limits,
        },
        Scenario {
            name: "dynos_logs_and_destroy",
            run: dynos_logs_and_destroy,
        },
    ]
}

/// A tiny app using only Debian's python3: `web` answers with its `$DYNO`, `worker` ticks,
/// `crasher` exits at once, `probe` reports what the sandbox lets it see, then sleeps.
const APP_PY: &str = r#"import http.server, os, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + os.environ["DYNO"] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("listening on", os.environ["PORT"], flush=True)
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;

const PROBE_SH: &str = r#"for f in /var/lib/skiff/skiff.db /etc/shadow /var/lib/skiff/apps/other/slugs/v1/app.py; do
  if cat "$f" >/dev/null 2>&1; then echo "PROBE readable $f"; else echo "PROBE denied $f"; fi
done
for d in /root /var/lib/skiff /run/skiff/env; do
  if ls "$d/" >/dev/null 2>&1; then echo "PROBE readable $d"; else echo "PROBE denied $d"; fi
done
echo "PROBE uid $(id -u)"
echo "PROBE $(grep CapEff /proc/self/status | tr -s '\t' ' ')"
echo "PROBE app $(cat /app/marker)"
touch /app/x 2>/dev/null && echo "PROBE app-writable" || echo "PROBE app-readonly"
exec sleep infinity
"#;

const PROCFILE: &str = "web: python3 app.py\nworker: while true; do echo tick $DYNO; sleep 1; done\ncrasher: echo about to crash; exit 3\nprobe: sh probe.sh\n";

/// Writes the example app into /root/NAME inside the container and deploys it as app NAME.
pub fn deploy_app(c: &Container, name: &str) {
    c.ok(&format!("skiff apps:create {name}"));
    c.ok(&format!(
        "mkdir -p /root/{name} && cd /root/{name} && cat > app.py <<'EOF'\n{APP_PY}EOF\ncat > probe.sh <<'EOF'\n{PROBE_SH}EOF\nprintf '%s' '{PROCFILE}' > Procfile && echo {name} > marker"
    ));
    let out = c.ok(&format!("cd /root/{name} && skiff deploy -a {name}"));
    assert_contains(&out, &format!("Released v1 of {name}"), "skiff deploy");
}

/// `skiff ps --json` rows as (name, state, pid, port).
pub fn ps(c: &Container, app: &str) -> Vec<(String, String, Option<u64>, Option<u64>)> {
    let rows = c.json(&format!("skiff ps -a {app} --json"));
    rows.as_array()
        .expect("ps --json is an array")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["state"].as_str().unwrap_or_default().to_owned(),
                r["pid"].as_u64(),
                r["port"].as_u64(),
            )
        })
        .collect()
}

/// Active units of the app, by name.
fn active_units(c: &Container, app: &str) -> Vec<String> {
    let mut units: Vec<String> = c
        .ok(&format!(
            "systemctl list-units 'skiff-{app}.*' --type=service --state=active --plain --no-legend | cut -d' ' -f1"
        ))
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    units.sort();
    units
}

#[track_caller]
fn wait_ps(c: &Container, app: &str, want: &[(&str, &str)], what: &str) {
    let mut last = Vec::new();
    let ok = wait_until(Duration::from_secs(30), || {
        last = ps(c, app);
        let got: Vec<(&str, &str)> = last
            .iter()
            .map(|(n, s, ..)| (n.as_str(), s.as_str()))
            .collect();
        got == want
    });
    assert!(ok, "{what}: ps never showed {want:?}; last: {last:?}");
}

fn main_pid(c: &Container, unit: &str) -> String {
    c.ok(&format!("systemctl show -p MainPID --value {unit}"))
        .trim()
        .to_owned()
}

fn dynos_deploy_and_scale(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    wait_ps(
        c,
        "hello",
        &[("web.1", "up")],
        "first deploy runs one web dyno",
    );
    let port = ps(c, "hello")[0].3.expect("a web dyno has a port");
    let addr = c.dyno_addr("hello");
    let body = c.ok(&format!(
        "curl -sf --retry 10 --retry-connrefused --retry-delay 1 http://{addr}:{port}/"
    ));
    assert_eq!(body, "hello from web.1\n");

    c.ok("skiff ps:scale web=3 worker=1 -a hello");
    wait_ps(
        c,
        "hello",
        &[
            ("web.1", "up"),
            ("web.2", "up"),
            ("web.3", "up"),
            ("worker.1", "up"),
        ],
        "after ps:scale web=3 worker=1",
    );
    assert_eq!(
        active_units(c, "hello").len(),
        4,
        "{:?}",
        active_units(c, "hello")
    );
    let rows = ps(c, "hello");
    for (name, _, pid, port) in rows.iter().filter(|r| r.0.starts_with("web.")) {
        assert!(pid.is_some(), "{name} has a pid");
        let body = c.ok(&format!(
            "curl -sf --retry 10 --retry-connrefused --retry-delay 1 http://{addr}:{}/",
            port.expect("web dynos have ports")
        ));
        assert_eq!(
            body,
            format!("hello from {name}\n"),
            "each web dyno answers with its own DYNO"
        );
    }
    let human = c.ok("skiff ps -a hello");
    assert_contains(&human, "=== web (3 dynos", "skiff ps");
    assert_contains(&human, "worker.1: up", "skiff ps");

    c.ok("skiff ps:scale web=1 worker-1 -a hello");
    wait_ps(c, "hello", &[("web.1", "up")], "after scaling down");
    assert!(
        wait_until(Duration::from_secs(20), || active_units(c, "hello")
            == ["skiff-hello.web.1.v1.service"]),
        "scaling down stops the extra units: {:?}",
        active_units(c, "hello")
    );

    // A second deploy replaces the dyno with the new release's.
    c.ok("cd /root/hello && skiff deploy -a hello");
    assert!(
        wait_until(Duration::from_secs(30), || active_units(c, "hello")
            == ["skiff-hello.web.1.v2.service"]),
        "a new release replaces the old dynos: {:?}",
        active_units(c, "hello")
    );
    let err = c.fails("skiff ps:scale nope=1 -a hello");
    assert_contains(&err, "no process type nope", "scaling an unknown type");
}

fn dynos_restarts_and_crashes(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    wait_ps(c, "hello", &[("web.1", "up")], "first deploy");
    let unit = "skiff-hello.web.1.v1.service";
    let before = main_pid(c, unit);
    c.ok(&format!("kill -9 {before}"));
    assert!(
        wait_until(Duration::from_secs(20), || {
            let pid = main_pid(c, unit);
            pid != before
                && pid != "0"
                && c.sh(&format!("systemctl is-active {unit}")).stdout.trim() == "active"
        }),
        "systemd restarts a killed dyno"
    );
    let restarts = c.ok(&format!("systemctl show -p NRestarts --value {unit}"));
    assert_eq!(restarts.trim(), "1");
    // systemd 254 and later grow the restart delay (Debian 13); 252 has no such property.
    let backoff = c.ok(&format!(
        "systemctl show -p RestartSteps -p RestartMaxDelayUSec {unit}"
    ));
    if c.suite == "trixie" {
        assert_eq!(backoff, "RestartSteps=5\nRestartMaxDelayUSec=16s\n");
    } else {
        assert!(!backoff.contains("RestartSteps=5"), "{backoff}");
    }

    // A process that exits at once crash-loops until systemd's start limit; then it stays down.
    c.ok("skiff ps:scale crasher=1 -a hello");
    assert!(
        wait_until(Duration::from_secs(60), || ps(c, "hello")
            .iter()
            .any(|(n, s, ..)| n == "crasher.1" && s == "crashed")),
        "a crash-looping dyno ends crashed: {:?}",
        ps(c, "hello")
    );
    std::thread::sleep(Duration::from_secs(3));
    let units = c.ok("systemctl list-units 'skiff-hello.crasher.*' --all --plain --no-legend");
    assert!(
        units.trim().is_empty(),
        "a crashed dyno is left stopped, not restarted: {units}"
    );
    assert_contains(&c.ok("skiff ps -a hello"), "crasher.1: crashed", "skiff ps");

    // ps:stop keeps a dyno down until the next restart; ps:restart brings it back.
    c.ok("skiff ps:stop web.1 -a hello");
    wait_ps(
        c,
        "hello",
        &[("crasher.1", "crashed"), ("web.1", "stopped")],
        "after ps:stop web.1",
    );
    // Restarted web dynos are new units (a new generation) that take over once healthy.
    c.ok("skiff ps:restart web -a hello");
    assert!(
        wait_until(Duration::from_secs(20), || active_units(c, "hello")
            == ["skiff-hello.web.1.v1.g1.service"]),
        "ps:restart starts a stopped dyno again: {:?}",
        active_units(c, "hello")
    );
}

fn dynos_survive_skiffd(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    c.ok("skiff ps:scale web=2 worker=1 -a hello");
    wait_ps(
        c,
        "hello",
        &[("web.1", "up"), ("web.2", "up"), ("worker.1", "up")],
        "before restarting skiffd",
    );
    let units = active_units(c, "hello");
    let pids: Vec<String> = units.iter().map(|u| main_pid(c, u)).collect();
    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<String> = units.iter().map(|u| main_pid(c, u)).collect();
    assert_eq!(pids, after, "dynos keep their PIDs across a skiffd restart");
    c.ok("apt-get install -y --reinstall /mnt/skiff-deb/skiff_*.deb");
    c.wait_active("skiffd", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let upgraded: Vec<String> = units.iter().map(|u| main_pid(c, u)).collect();
    assert_eq!(
        pids, upgraded,
        "dynos keep their PIDs across a package upgrade"
    );

    // A stray skiff-* unit the DB does not know is stopped.
    c.ok("systemd-run --unit=skiff-stray.service --property=Type=exec sleep 1000");
    c.ok("systemctl restart skiffd");
    assert!(
        wait_until(Duration::from_secs(20), || c
            .sh("systemctl is-active skiff-stray.service")
            .stdout
            .trim()
            != "active"),
        "the stray unit is stopped"
    );

    // skiffd killed in the middle of a scale: the next start converges, with no orphans.
    for scale in ["web=5", "web=1 worker=0"] {
        let killed = main_pid(c, "skiffd");
        c.ok(&format!(
            "skiff ps:scale {scale} -a hello && kill -9 {killed}"
        ));
        // Until systemd has seen the kill, it may still call the old process active.
        assert!(
            wait_until(Duration::from_secs(30), || {
                let pid = main_pid(c, "skiffd");
                pid != killed && pid != "0"
            }),
            "systemd starts skiffd again after it was killed"
        );
        c.wait_active("skiffd", Duration::from_secs(30));
    }
    assert!(
        wait_until(Duration::from_secs(30), || active_units(c, "hello")
            == ["skiff-hello.web.1.v1.service"]),
        "converged after skiffd was killed mid-scale: {:?}",
        active_units(c, "hello")
    );
    wait_ps(c, "hello", &[("web.1", "up")], "after the kills");
}

fn dynos_sandbox_and_limits(c: &Container) {
    c.install_deb();
    deploy_app(c, "other");
    deploy_app(c, "hello");
    c.ok("skiff ps:scale probe=1 -a hello");
    let mut report = String::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            report = c.sh("journalctl SKIFF_APP=hello SKIFF_DYNO=probe.1 -o cat --no-pager | grep '^PROBE'").stdout;
            report.contains("PROBE app-")
        }),
        "the probe dyno reports: {report}"
    );
    for path in [
        "/var/lib/skiff/skiff.db",
        "/etc/shadow",
        "/root",
        "/var/lib/skiff/apps/other/slugs/v1/app.py",
        "/run/skiff/env",
    ] {
        assert_contains(&report, &format!("PROBE denied {path}"), "the sandbox");
    }
    assert!(
        !report.contains("PROBE uid 0"),
        "a dyno does not run as root: {report}"
    );
    assert_contains(
        &report,
        "PROBE CapEff: 0000000000000000",
        "a dyno has no capabilities",
    );
    assert_contains(
        &report,
        "PROBE app hello",
        "the dyno sees its own slug at /app",
    );
    assert_contains(&report, "PROBE app-readonly", "the slug is read-only");

    let exposure =
        c.ok("systemd-analyze security skiff-hello.web.1.v1.service --no-pager | tail -n 1");
    let score: f64 = exposure
        .split("exposure level for skiff-hello.web.1.v1.service:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure level from: {exposure}"));
    assert!(score <= 1.5, "exposure level {score} is above 1.5");
    let env = c.ok("runuser -u nobody -- systemctl show skiff-hello.web.1.v1.service -p Environment -p EnvironmentFiles");
    assert_contains(&env, "DYNO=web.1", "unit environment");
    assert_contains(
        &env,
        "/run/skiff/env/hello/v1.env",
        "config vars come from a root-only file",
    );
    assert_eq!(
        c.ok("stat -c '%a %U' /run/skiff/env/hello/v1.env").trim(),
        "600 root"
    );

    // Limits are set on the units. On these cgroup-hybrid hosts the container does not enforce
    // them, so the test checks what systemd was told, not that a dyno is throttled.
    c.ok("skiff ps:resize web --memory 256M --cpu 50% --tasks 64 -a hello");
    assert!(
        wait_until(Duration::from_secs(30), || c
            .sh("systemctl show skiff-hello.web.1.v1.service -p MemoryMax --value")
            .stdout
            .trim()
            == "268435456"),
        "MemoryMax follows ps:resize"
    );
    let shown = c.ok("systemctl show skiff-hello.web.1.v1.service -p MemoryMax -p CPUQuotaPerSecUSec -p TasksMax");
    assert_contains(&shown, "MemoryMax=268435456", "unit limits");
    assert_contains(&shown, "CPUQuotaPerSecUSec=500ms", "unit limits");
    assert_contains(&shown, "TasksMax=64", "unit limits");
    // The app's slice carries the totals: web (256M) + probe (512M, the default).
    assert!(
        wait_until(Duration::from_secs(30), || c
            .sh("systemctl show skiff-hello.slice -p MemoryMax --value")
            .stdout
            .trim()
            == (805_306_368u64).to_string()),
        "the slice's MemoryMax is the sum of its dynos': {}",
        c.sh("systemctl show skiff-hello.slice -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec")
            .stdout
    );
}

fn dynos_logs_and_destroy(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    c.ok("skiff ps:scale worker=1 -a hello");
    assert!(
        wait_until(Duration::from_secs(30), || c
            .ok("journalctl SKIFF_APP=hello SKIFF_DYNO=worker.1 -o cat --no-pager")
            .contains("tick worker.1")),
        "journalctl SKIFF_APP=hello SKIFF_DYNO=worker.1 shows the worker's lines"
    );
    let logs = c.ok("skiff logs -a hello -n 200");
    assert_contains(&logs, "app[worker.1]: tick worker.1", "skiff logs");
    assert_contains(&logs, "app[web.1]: listening on", "skiff logs");
    assert_contains(
        &logs,
        "skiff[worker.1]: Started",
        "skiff logs shows systemd's lines",
    );
    let only = c.ok("skiff logs -a hello -n 50 --dyno worker.1");
    assert!(!only.contains("[web.1]"), "--dyno filters: {only}");
    let followed = c.sh("timeout 4 skiff logs -a hello -n 0 -f --dyno worker.1");
    assert_contains(
        &followed.stdout,
        "app[worker.1]: tick worker.1",
        "skiff logs -f streams new lines",
    );

    c.ok("skiff apps:destroy hello --confirm hello");
    assert!(
        wait_until(Duration::from_secs(30), || c
            .ok("systemctl list-units 'skiff-hello*' --all --plain --no-legend")
            .trim()
            .is_empty()),
        "destroy stops every unit of the app"
    );
    assert!(
        wait_until(Duration::from_secs(10), || c
            .sh("test -e /var/lib/skiff/apps/hello")
            .status
            == Some(1)),
        "destroy removes the app's files"
    );
}
