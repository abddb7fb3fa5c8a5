//! Routing through skiff's Caddy: hosts, the 404 and 503 pages, load balancing, custom domains,
//! maintenance mode, router logs, TLS with skiff's local CA, health-checked zero-downtime
//! deploys and restarts, requests across many proxy config loads, a refused unhealthy deploy, and
//! Caddy coming back after `kill -9`.

use std::time::Duration;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "routing_hosts_domains_and_maintenance",
            run: routing_hosts_domains_and_maintenance,
        },
        Scenario {
            name: "routing_tls_internal_and_body_limit",
            run: routing_tls_internal_and_body_limit,
        },
        Scenario {
            name: "routing_zero_downtime",
            run: routing_zero_downtime,
        },
        Scenario {
            name: "routing_proxy_loads_lose_no_requests",
            run: routing_proxy_loads_lose_no_requests,
        },
        Scenario {
            name: "routing_unhealthy_deploy_is_refused",
            run: routing_unhealthy_deploy_is_refused,
        },
        Scenario {
            name: "routing_survives_a_caddy_kill",
            run: routing_survives_a_caddy_kill,
        },
    ]
}

/// A web app on Debian's python3: answers `VERSION DYNO GREETING` (after a one-second boot, so
/// health gating matters), echoes the proxy headers at /headers and the body size of a POST.
const APP_PY: &str = r#"import http.server, os, socketserver, time
VERSION = open("version").read().strip()
time.sleep(1)
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, text):
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/headers":
            names = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id"]
            self.reply("".join(f"{n}: {self.headers.get(n)}\n" for n in names))
        else:
            self.reply(f"{VERSION} {os.environ['DYNO']} {os.environ.get('GREETING', '-')}\n")
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.reply(f"got {len(self.rfile.read(n))} bytes\n")
    def log_message(self, *args):
        pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Writes version `version` of the app into /root/NAME.
fn write_app(c: &Container, name: &str, version: &str, procfile: &str) {
    c.ok(&format!(
        "mkdir -p /root/{name} && cd /root/{name} && cat > app.py <<'EOF'\n{APP_PY}EOF\nprintf '%s\\n' {version} > version && printf '%s\\n' '{procfile}' > Procfile"
    ));
}

/// Creates and deploys app NAME at version v1.
fn deploy_app(c: &Container, name: &str) {
    c.ok(&format!("skiff apps:create {name}"));
    write_app(c, name, "v1", "web: python3 app.py");
    c.ok(&format!("cd /root/{name} && skiff deploy -a {name}"));
}

/// `curl` through the proxy with a Host header: (status, body).
fn get(c: &Container, host: &str, path: &str) -> (u16, String) {
    let r = c.curl(&format!("-H 'Host: {host}' http://127.0.0.1{path}"));
    (r.status, r.body)
}

fn routing_hosts_domains_and_maintenance(c: &Container) {
    c.install_deb();
    c.wait_active("skiff-caddy", Duration::from_secs(30));
    // Debian's stock Caddy was on :80 before skiff came: the package turned it off.
    assert_eq!(
        c.sh("systemctl is-enabled caddy.service").stdout.trim(),
        "disabled"
    );

    // skiffd loads its config into Caddy once both are up; until then Caddy's bootstrap 503.
    // Caddy swaps its listeners while it loads that first config, so a connection made at
    // that moment may be reset: while waiting, a failed connection means "not yet".
    let probe = "curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: nothing.localhost' http://127.0.0.1/";
    let mut last = String::new();
    assert!(
        crate::harness::wait_until(Duration::from_secs(15), || {
            last = c.sh(probe).stdout;
            !["503", "000", ""].contains(&last.trim())
        }),
        "skiffd configures the proxy: last status {last:?}"
    );
    let (status, body) = get(c, "nothing.localhost", "/");
    assert_eq!(status, 404, "unknown host: {body}");
    assert_contains(&body, "No such app", "the 404 page");

    deploy_app(c, "hello");
    let (status, body) = get(c, "hello.localhost", "/");
    assert_eq!((status, body.as_str()), (200, "v1 web.1 -\n"));
    let r = c.curl("-H 'Host: hello.localhost' http://127.0.0.1/headers");
    assert_contains(&r.body, "X-Forwarded-For: 127.0.0.1", "proxy headers");
    assert_contains(&r.body, "X-Forwarded-Proto: http", "proxy headers");
    assert_contains(
        &r.body,
        "X-Forwarded-Host: hello.localhost",
        "proxy headers",
    );
    let id = r.header("x-request-id").expect("a request id").to_owned();
    assert_contains(
        &r.body,
        &format!("X-Request-Id: {id}"),
        "the app sees the request id",
    );

    // web=3: thirty requests reach all three dynos.
    c.ok("skiff ps:scale web=3 -a hello");
    let mut seen = std::collections::BTreeSet::new();
    let spread = wait_until(Duration::from_secs(30), || {
        seen.clear();
        for _ in 0..30 {
            let (_, body) = get(c, "hello.localhost", "/");
            if let Some(dyno) = body.split_whitespace().nth(1) {
                seen.insert(dyno.to_owned());
            }
        }
        seen.len() == 3
    });
    assert!(spread, "30 requests reached only {seen:?}");

    // A custom domain.
    assert_eq!(get(c, "www.example.test", "/").0, 404);
    let out = c.ok("skiff domains:add www.example.test -a hello");
    assert_contains(&out, "www.example.test", "domains:add");
    assert_contains(
        &c.ok("skiff domains -a hello"),
        "hello.localhost (default)",
        "domains",
    );
    assert!(wait_until(Duration::from_secs(10), || get(
        c,
        "www.example.test",
        "/"
    )
    .0 == 200));
    let err = c.fails("skiff domains:add 'not a domain' -a hello");
    assert_contains(&err, "invalid domain", "a bad domain is refused");
    c.ok("skiff apps:create other");
    let err = c.fails("skiff domains:add www.example.test -a other");
    assert_contains(
        &err,
        "already a domain of app hello",
        "a domain has one app",
    );
    c.ok("skiff domains:remove www.example.test -a hello");
    assert!(wait_until(Duration::from_secs(10), || get(
        c,
        "www.example.test",
        "/"
    )
    .0 == 404));

    // Maintenance mode, then no web dynos at all.
    c.ok("skiff maintenance:on -a hello");
    let (status, body) = get(c, "hello.localhost", "/");
    assert_eq!(status, 503, "maintenance: {body}");
    assert_contains(&body, "maintenance", "the maintenance page");
    c.ok("skiff maintenance:off -a hello");
    assert_eq!(get(c, "hello.localhost", "/").0, 200);
    c.ok("skiff ps:scale web=0 -a hello");
    let no_web = wait_until(Duration::from_secs(30), || {
        let (status, body) = get(c, "hello.localhost", "/");
        status == 503 && body.contains("No web dynos running")
    });
    assert!(no_web, "web=0 answers the no-web-dynos page");
    c.ok("skiff ps:scale web=1 -a hello");
    assert!(wait_until(Duration::from_secs(30), || get(
        c,
        "hello.localhost",
        "/"
    )
    .0 == 200));

    // Router logs: in journald under the app, and in `skiff logs` as router lines.
    let routed = wait_until(Duration::from_secs(15), || {
        c.sh("journalctl SKIFF_APP=hello SYSLOG_IDENTIFIER=skiff-router --no-pager -o cat")
            .stdout
            .contains("method=GET path=\"/headers\" host=hello.localhost")
    });
    assert!(routed, "router lines reach journald with SKIFF_APP");
    let logs = c.ok("skiff logs -a hello -n 500");
    assert_contains(
        &logs,
        "skiff[router]: at=info method=GET path=\"/\"",
        "skiff logs",
    );
    assert_contains(&logs, " dyno=web.", "router lines name the dyno");
    assert_contains(&logs, " status=200 ", "router lines carry the status");

    // skiffd follows Caddy's access log itself: no helper process, and requests served while
    // skiffd is down become router lines once it is back, each once.
    let children = c.ok("ps -o comm= --ppid $(systemctl show -p MainPID --value skiffd) || true");
    assert!(
        !children.contains("journalctl"),
        "skiffd keeps no journalctl process: {children}"
    );
    c.ok("systemctl stop skiffd");
    assert_eq!(
        get(c, "hello.localhost", "/while-skiffd-was-down").0,
        200,
        "dynos serve while skiffd is down"
    );
    c.ok("systemctl start skiffd");
    let journal = "journalctl SKIFF_APP=hello SYSLOG_IDENTIFIER=skiff-router --no-pager -o cat";
    let relayed = wait_until(Duration::from_secs(15), || {
        c.sh(journal)
            .stdout
            .contains("path=\"/while-skiffd-was-down\"")
    });
    assert!(
        relayed,
        "a request served while skiffd was down becomes a router line"
    );
    c.ok("systemctl restart skiffd");
    std::thread::sleep(Duration::from_secs(2));
    let copies = c
        .sh(journal)
        .stdout
        .matches("path=\"/while-skiffd-was-down\"")
        .count();
    assert_eq!(copies, 1, "the line is relayed once, also across a restart");
}

fn routing_tls_internal_and_body_limit(c: &Container) {
    c.install_deb();
    c.ok("printf 'tls = \"internal\"\\nmax_request_body = \"1K\"\\n' >> /etc/skiff/skiffd.toml && systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    deploy_app(c, "hello");
    let ca = "/var/lib/skiff/caddy/pki/authorities/local/root.crt";
    let https =
        format!("--cacert {ca} --resolve hello.localhost:443:127.0.0.1 https://hello.localhost/");
    let served = wait_until(Duration::from_secs(30), || {
        c.sh(&format!("curl -sf {https}")).stdout == "v1 web.1 -\n"
    });
    assert!(
        served,
        "HTTPS with skiff's CA: {}",
        c.sh(&format!("curl -sS {https}")).describe()
    );
    let r = c.curl("-H 'Host: hello.localhost' http://127.0.0.1/");
    assert!(
        (301..=308).contains(&r.status),
        "HTTP redirects to HTTPS, got {}",
        r.status
    );
    assert_eq!(r.header("location"), Some("https://hello.localhost/"));
    // The CA stays skiff's: the system trust store does not have it.
    let trusted = c.sh("curl -s --resolve hello.localhost:443:127.0.0.1 https://hello.localhost/");
    assert!(
        !trusted.success(),
        "the system trust store must not know skiff's CA"
    );

    let small = c.curl(&format!("-X POST --data-binary @/etc/hostname {https}"));
    assert_contains(&small.body, "got ", "a small POST passes");
    c.ok("head -c 4096 /dev/zero > /root/big.bin");
    let big = c.curl(&format!("-X POST --data-binary @/root/big.bin {https}"));
    assert_eq!(big.status, 413, "over max_request_body: {}", big.body);
}

/// The request loop: GETs through the proxy on one keep-alive connection, never retrying, until
/// /root/stop exists (at most 240 s). A request that got no answer (a connection closed or reset
/// under it, a timeout) or a non-200 answer is a failure; after one the loop opens a new
/// connection for the next request. Prints `ok N failed M last BODY` and the first failures.
const LOOP_PY: &str = r#"import http.client, os, time
ok = failed = 0
last = ""
errors = []
conn = None
deadline = time.time() + 240
while time.time() < deadline and not os.path.exists("/root/stop"):
    if conn is None:
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": "hello.localhost"})
        r = conn.getresponse()
        body = r.read().decode().strip()
        if r.status != 200:
            raise RuntimeError(f"status {r.status}: {body[:80]}")
        last = body
        ok += 1
    except Exception as e:
        failed += 1
        if len(errors) < 5:
            errors.append(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {e!r}")
        conn.close()
        conn = None
    time.sleep(0.02)
print(f"ok {ok} failed {failed} last {last}")
for e in errors:
    print("error", e)
"#;

fn routing_zero_downtime(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    c.ok("skiff ps:scale web=2 -a hello");
    assert!(wait_until(Duration::from_secs(30), || {
        c.sh("skiff ps -a hello --json")
            .stdout
            .matches("\"up\"")
            .count()
            == 2
    }));
    // A scale changes the proxy's list of web dynos (a reload, which closes idle keep-alive
    // connections): the loop starts once web.2 gets traffic.
    let both_routed = wait_until(Duration::from_secs(30), || {
        get(c, "hello.localhost", "/").1.contains("web.2")
    });
    assert!(both_routed, "web.2 gets traffic after the scale");
    c.ok(&format!(
        "cat > /root/loop.py <<'EOF'\n{LOOP_PY}EOF\nrm -f /root/stop; (setsid python3 /root/loop.py > /root/loop.out 2>&1 &)"
    ));
    std::thread::sleep(Duration::from_secs(2));
    let loads_before = proxy_loads(c);
    for version in ["v2", "v3", "v4"] {
        write_app(c, "hello", version, "web: python3 app.py");
        let out = c.ok(&format!(
            "logger -t zero-downtime deploy {version}; cd /root/hello && skiff deploy -a hello"
        ));
        assert_contains(
            &out,
            "health check",
            "the deploy waits for the health check",
        );
    }
    c.ok("logger -t zero-downtime config:set; skiff config:set GREETING=hi -a hello");
    std::thread::sleep(Duration::from_secs(4));
    c.ok("logger -t zero-downtime ps:restart; skiff ps:restart -a hello");
    std::thread::sleep(Duration::from_secs(4));
    c.ok("logger -t zero-downtime restart skiffd; systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    let newest = wait_until(Duration::from_secs(30), || {
        let body = get(c, "hello.localhost", "/").1;
        body.starts_with("v4 web.") && body.ends_with(" hi\n")
    });
    assert!(
        newest,
        "the newest release and config serve: {:?}",
        get(c, "hello.localhost", "/")
    );
    assert_eq!(
        proxy_loads(c),
        loads_before,
        "deploys, a config change, a restart and a skiffd restart switch traffic in the network \
         rules and never reload the proxy's config"
    );
    std::thread::sleep(Duration::from_secs(2));
    c.ok("touch /root/stop");
    let finished = wait_until(Duration::from_secs(30), || {
        c.sh("cat /root/loop.out").stdout.starts_with("ok ")
    });
    let report = c.sh("cat /root/loop.out").stdout;
    assert!(finished, "the request loop did not finish: {report}");
    c.note(&format!(
        "request loop: {}",
        report.lines().next().unwrap_or_default()
    ));
    assert_contains(
        &report,
        " failed 0 ",
        "no request failed during deploys and restarts",
    );
    let ok: u64 = report
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        ok > 100,
        "the loop made enough requests to mean something: {report}"
    );
    assert_contains(
        &report,
        "last v4 web.",
        "the loop saw the newest release last",
    );
}

/// How many times skiffd has loaded a new config into Caddy.
fn proxy_loads(c: &Container) -> usize {
    c.sh("journalctl -u skiffd -o cat --no-pager | grep -c 'proxy config loaded'")
        .stdout
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Shell loops of `curl`, each request on a new connection, until /root/probes.stop exists (two
/// minutes at most): one `STATUS EXIT` line per request in /root/probes.N.
const PROBE_LOOPS_SH: &str = r#"for n in 1 2 3 4; do
  (deadline=$(( $(date +%s) + 120 ))
   while [ ! -e /root/probes.stop ] && [ "$(date +%s)" -lt "$deadline" ]; do
     code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: hello.localhost' http://127.0.0.1/)
     echo "$code $?"
   done > /root/probes.$n; touch /root/probes.$n.done) &
done
"#;

/// How many domain changes the proxy-load scenario makes; each one is a config load.
const DOMAIN_CHANGES: usize = 80;

/// Each config load makes Caddy open new listening sockets and close the old ones; no request
/// that reached the port meanwhile may be reset (skiffd turns on the kernel's handover).
fn routing_proxy_loads_lose_no_requests(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    assert_eq!(
        c.ok("cat /proc/sys/net/ipv4/tcp_migrate_req").trim(),
        "1",
        "skiffd hands queued connections to the new listening socket"
    );
    c.ok(&format!(
        "cat > /root/probes.sh <<'EOF'\n{PROBE_LOOPS_SH}EOF\n(setsid sh /root/probes.sh > /dev/null 2>&1 &)"
    ));
    let loads_before = proxy_loads(c);
    for change in 0..DOMAIN_CHANGES {
        let (verb, status) = if change % 2 == 0 {
            ("add", "200")
        } else {
            ("remove", "404")
        };
        c.ok(&format!("skiff domains:{verb} www.example.test -a hello"));
        let routed = wait_until(Duration::from_secs(10), || {
            c.sh("curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: www.example.test' http://127.0.0.1/")
                .stdout
                == status
        });
        assert!(
            routed,
            "after domains:{verb}, www.example.test answers {status}"
        );
    }
    let loads = proxy_loads(c) - loads_before;
    c.ok("touch /root/probes.stop");
    let finished = wait_until(Duration::from_secs(30), || {
        (1..=4).all(|n| c.sh(&format!("test -e /root/probes.{n}.done")).success())
    });
    assert!(finished, "the probe loops end");
    let probes = c.ok("cat /root/probes.1 /root/probes.2 /root/probes.3 /root/probes.4");
    let total = probes.lines().count();
    let failed: Vec<&str> = probes.lines().filter(|line| *line != "200 0").collect();
    c.note(&format!(
        "{} of {total} requests on new connections failed across {loads} proxy config loads",
        failed.len()
    ));
    assert!(
        loads >= DOMAIN_CHANGES,
        "each domain change loads the proxy's config: {loads} loads"
    );
    assert!(total >= 300, "the probes made enough requests: {total}");
    assert!(
        failed.is_empty(),
        "failed requests (status, curl exit): {failed:?}"
    );
}

fn routing_unhealthy_deploy_is_refused(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    let out = c.ok("skiff healthcheck:set --path / --status 200 --timeout 5s -a hello");
    assert_contains(&out, "GET / answers 200 within 5s", "healthcheck:set");
    write_app(
        c,
        "hello",
        "v2",
        "web: echo booting but never binding; sleep 1000",
    );
    let err = c.fails("cd /root/hello && skiff deploy -a hello");
    assert_contains(&err, "v2 did not go live", "the refused deploy says so");
    assert_contains(&err, "failed its health check", "with the reason");
    assert_contains(
        &err,
        "booting but never binding",
        "and the app's last log lines",
    );
    assert_eq!(
        get(c, "hello.localhost", "/"),
        (200, "v1 web.1 -\n".to_owned())
    );
    let releases = c.ok("skiff releases -a hello");
    assert_contains(&releases, "failed", "releases shows the failed one");
    let gone = wait_until(Duration::from_secs(20), || {
        !c.sh("systemctl list-units 'skiff-hello.web.*' --no-legend --plain")
            .stdout
            .contains(".v2.")
    });
    assert!(gone, "the failed release's units are cleaned up");
}

fn routing_survives_a_caddy_kill(c: &Container) {
    c.install_deb();
    deploy_app(c, "hello");
    assert_eq!(get(c, "hello.localhost", "/").0, 200);
    let pid = c.ok("systemctl show -p MainPID --value skiff-caddy");
    c.ok(&format!("kill -9 {}", pid.trim()));
    let back = wait_until(Duration::from_secs(10), || {
        c.sh("curl -s -o /dev/null -w '%{http_code}' -H 'Host: hello.localhost' http://127.0.0.1/")
            .stdout
            == "200"
    });
    assert!(
        back,
        "routes are back within seconds after kill -9 of Caddy"
    );
    let new_pid = c.ok("systemctl show -p MainPID --value skiff-caddy");
    assert_ne!(pid.trim(), new_pid.trim(), "systemd restarted Caddy");
    // Routes come back from Caddy's own saved config, even with skiffd stopped.
    c.ok("systemctl stop skiffd");
    c.ok("systemctl restart skiff-caddy");
    let resumed = wait_until(Duration::from_secs(10), || {
        c.sh("curl -s -H 'Host: hello.localhost' http://127.0.0.1/")
            .stdout
            == "v1 web.1 -\n"
    });
    assert!(resumed, "Caddy resumes its last config without skiffd");
}
