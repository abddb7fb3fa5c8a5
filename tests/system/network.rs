//! Private networks: each app's dynos in a network namespace of their own, reachable only through
//! the proxy; apps cannot reach each other nor the host's services; egress on and off; the
//! namespaces and rules come back after skiffd restarts and after they are lost (as at boot).

use std::time::Duration;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "network_apps_are_isolated",
            run: network_apps_are_isolated,
        },
        Scenario {
            name: "network_egress_and_recovery",
            run: network_egress_and_recovery,
        },
        Scenario {
            name: "network_refused_without_nftables",
            run: network_refused_without_nftables,
        },
    ]
}

/// A web app that answers its name and dyno, and a worker that probes what its app must not
/// reach (the targets in /app/targets, one `HOST PORT` per line) and logs each result.
const APP_PY: &str = r#"import http.server, os, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.environ['APP']} {os.environ['DYNO']}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Tries a TCP connection to each `HOST PORT` argument pair; prints `HOST:PORT open|closed REASON`.
const PROBE_PY: &str = r#"import socket, sys
args = sys.argv[1:]
for host, port in zip(args[::2], args[1::2]):
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print(f"{host}:{port} open", flush=True)
    except OSError as e:
        print(f"{host}:{port} closed {e}", flush=True)
"#;

fn deploy(c: &Container, app: &str) {
    c.ok(&format!("skiff apps:create {app}"));
    c.ok(&format!(
        "mkdir -p /root/{app} && cd /root/{app} && cat > app.py <<'EOF'\n{APP_PY}EOF\n\
         cat > probe.py <<'EOF'\n{PROBE_PY}EOF\nprintf 'web: python3 app.py\\nprober: python3 probe.py $PROBE; sleep infinity\\n' > Procfile"
    ));
    c.ok(&format!("skiff config:set APP={app} -a {app}"));
    c.ok(&format!("cd /root/{app} && skiff deploy -a {app}"));
}

fn network_of(c: &Container, app: &str) -> serde_json::Value {
    c.json(&format!("skiff network -a {app} --json"))
}

/// The port of the running unit of `app`'s web.1.
fn web_port(c: &Container, app: &str) -> String {
    let env = c.ok(&format!(
        "systemctl show -p Environment --value 'skiff-{app}.web.1.*'"
    ));
    env.split_whitespace()
        .find_map(|kv| kv.strip_prefix("PORT="))
        .unwrap_or_else(|| panic!("no PORT in {env}"))
        .to_owned()
}

/// Runs the probe as a one-off dyno of `app` against `targets` (HOST PORT pairs).
fn probe_from(c: &Container, app: &str, targets: &[(&str, &str)]) -> String {
    let args: Vec<String> = targets.iter().map(|(h, p)| format!("{h} {p}")).collect();
    c.ok(&format!(
        "skiff run -a {app} -- python3 probe.py {}",
        args.join(" ")
    ))
}

fn proxy_get(c: &Container, host: &str) -> String {
    c.ok(&format!(
        "curl -sS --max-time 10 -H 'Host: {host}' http://127.0.0.1/"
    ))
}

fn network_apps_are_isolated(c: &Container) {
    c.install_deb();
    c.ok("printf 'listen_tcp = \"0.0.0.0:7070\"\\n' >> /etc/skiff/skiffd.toml && systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    deploy(c, "alpha");
    deploy(c, "beta");
    assert_eq!(proxy_get(c, "alpha.localhost"), "alpha web.1\n");
    assert_eq!(proxy_get(c, "beta.localhost"), "beta web.1\n");

    let alpha = network_of(c, "alpha");
    let beta = network_of(c, "beta");
    assert_eq!(alpha["mode"], "private", "{alpha}");
    assert_eq!(alpha["namespace"], "skiff-alpha", "{alpha}");
    let alpha_addr = alpha["address"].as_str().unwrap().to_owned();
    let alpha_service = alpha["service_address"].as_str().unwrap().to_owned();
    let beta_addr = beta["address"].as_str().unwrap().to_owned();
    assert_ne!(alpha_addr, beta_addr);
    let alpha_port = web_port(c, "alpha");
    // The host end of beta's veth is its gateway: the host's own services answer there.
    let gateway = c.ok("ip -n skiff-beta route show default | awk '{print $3}'");
    let gateway = gateway.trim();

    // No app process listens on the container's own addresses.
    let listening = c.ok("ss -ltnpH");
    assert!(
        !listening.contains("python3"),
        "an app listens on a host address:\n{listening}"
    );
    // The host reaches alpha's dyno at its namespace address, as the proxy and health checks do.
    assert_eq!(
        c.ok(&format!(
            "curl -sS --max-time 5 http://{alpha_addr}:{alpha_port}/"
        )),
        "alpha web.1\n"
    );
    assert!(
        !c.sh(&format!(
            "curl -sS --max-time 3 http://127.0.0.1:{alpha_port}/"
        ))
        .success(),
        "alpha's dyno is not on the host's loopback"
    );

    let report = probe_from(
        c,
        "beta",
        &[
            (&alpha_addr, &alpha_port),
            (&alpha_service, "10001"),
            (gateway, "7070"),
            (gateway, "22"),
            ("127.0.0.1", "7070"),
            ("127.0.0.1", &alpha_port),
            (gateway, "80"),
        ],
    );
    c.note(&format!("probes from beta's one-off dyno:\n{report}"));
    for closed in [
        format!("{alpha_addr}:{alpha_port} closed"),
        format!("{alpha_service}:10001 closed"),
        format!("{gateway}:7070 closed"),
        format!("{gateway}:22 closed"),
        "127.0.0.1:7070 closed".to_owned(),
        format!("127.0.0.1:{alpha_port} closed"),
    ] {
        assert_contains(&report, &closed, "beta cannot reach it");
    }
    // beta's dynos are in the same place as its one-offs: a worker sees the same.
    let targets = format!("{alpha_addr} {alpha_port} {gateway} 7070 {gateway} 80");
    c.ok(&format!("skiff config:set 'PROBE={targets}' -a beta"));
    c.ok("skiff ps:scale prober=1 -a beta");
    let mut logged = String::new();
    let probed = wait_until(Duration::from_secs(30), || {
        logged = c
            .sh("journalctl SKIFF_APP=beta SKIFF_DYNO=prober.1 -o cat --no-pager")
            .stdout;
        logged.contains(&format!("{gateway}:80 "))
    });
    assert!(probed, "the worker probed: {logged}");
    assert_contains(
        &logged,
        &format!("{alpha_addr}:{alpha_port} closed"),
        "from a worker dyno",
    );
    assert_contains(
        &logged,
        &format!("{gateway}:7070 closed"),
        "from a worker dyno",
    );
    assert_contains(&logged, &format!("{gateway}:80 open"), "from a worker dyno");
    // The front door is open, as it is from anywhere.
    assert_contains(&report, &format!("{gateway}:80 open"), "the proxy's port");
    // Through the proxy, beta reaches alpha as anyone on the internet would.
    let through = c.ok(&format!(
        "skiff run -a beta -- curl -sS --max-time 5 -H 'Host: alpha.localhost' http://{gateway}/"
    ));
    assert_contains(
        &through,
        "alpha web.1",
        "beta reaches alpha through the proxy",
    );

    // beta's own web dyno is on localhost inside its namespace, which its one-offs share.
    let beta_port = web_port(c, "beta");
    let local = c.ok(&format!(
        "skiff run -a beta -- curl -sS --max-time 5 http://127.0.0.1:{beta_port}/"
    ));
    assert_eq!(local.trim(), "beta web.1");

    let rules = c.ok("nft list table inet skiff");
    assert_contains(
        &rules,
        "service_routes",
        "skiff's table maps service addresses",
    );

    // Destroying an app removes its namespaces once its units are gone.
    c.ok("skiff apps:destroy beta --confirm beta");
    let gone = wait_until(Duration::from_secs(30), || {
        !c.sh("ip netns list").stdout.contains("skiff-beta")
    });
    assert!(
        gone,
        "beta's namespaces are removed: {}",
        c.sh("ip netns list").stdout
    );
    assert_eq!(proxy_get(c, "alpha.localhost"), "alpha web.1\n");
}

/// The Release file of the container's package mirror, as its apt sources name it: a file on a
/// host on the internet that apt itself fetches.
fn mirror_url(c: &Container) -> String {
    let base = c.ok("grep -rhoE 'https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null | head -n1");
    let suite = c.ok(". /etc/os-release && echo $VERSION_CODENAME");
    format!(
        "{}/dists/{}/Release",
        base.trim().trim_end_matches('/'),
        suite.trim()
    )
}

fn network_egress_and_recovery(c: &Container) {
    c.install_deb();
    deploy(c, "gamma");
    let url = mirror_url(c);
    assert!(!url.is_empty(), "the container's apt sources name a mirror");
    let fetch = format!(
        "skiff run -a gamma -- curl -sS -o /dev/null -w '%{{http_code}}' --connect-timeout 5 --max-time 20 {url}"
    );
    let status = c.ok(&fetch);
    // Any HTTP answer means the name resolved and the host was reached.
    assert!(
        status.trim() != "000" && !status.trim().is_empty(),
        "a dyno resolves and reaches the internet: {status}"
    );
    c.note(&format!(
        "the mirror's Release file from a dyno: HTTP {}",
        status.trim()
    ));
    let off = c.ok("skiff network:egress off -a gamma");
    assert_contains(
        &off,
        "Egress:    off (set for this app)",
        "network:egress off",
    );
    let cut = wait_until(Duration::from_secs(10), || !c.sh(&fetch).success());
    assert!(cut, "with egress off the dyno reaches nothing outside");
    assert_eq!(
        proxy_get(c, "gamma.localhost"),
        "gamma web.1\n",
        "it still serves"
    );
    c.ok("skiff network:egress default -a gamma");
    let back = wait_until(Duration::from_secs(10), || c.sh(&fetch).success());
    assert!(back, "egress is back with the server's default");

    // A skiffd restart keeps everything as it is.
    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    assert_eq!(proxy_get(c, "gamma.localhost"), "gamma web.1\n");

    // As after a reboot: dynos, namespaces and rules are all gone when skiffd starts.
    c.ok("systemctl stop skiffd");
    // Some of the app's unit names match only units already gone: systemctl says so and fails.
    c.sh("systemctl stop 'skiff-gamma.*'");
    c.ok("ip netns delete skiff-gamma && ip netns delete skiff-gamma.build");
    c.ok("nft delete table inet skiff");
    c.ok("systemctl start skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    let served = wait_until(Duration::from_secs(30), || {
        c.sh("curl -s --max-time 5 -H 'Host: gamma.localhost' http://127.0.0.1/")
            .stdout
            == "gamma web.1\n"
    });
    assert!(
        served,
        "namespaces, rules and dynos come back: {}",
        c.journal_tail()
    );
    assert_contains(
        &c.ok("ip netns list"),
        "skiff-gamma",
        "the namespace is back",
    );
    assert_contains(
        &c.ok("nft list table inet skiff"),
        "masquerade",
        "the rules are back",
    );
    // Rules changed behind skiffd's back are put back.
    c.ok("nft flush chain inet skiff forward");
    c.ok("skiff ps:restart -a gamma");
    let restored = wait_until(Duration::from_secs(20), || {
        c.sh("nft list chain inet skiff forward")
            .stdout
            .contains("drop")
    });
    assert!(restored, "skiffd restores its rules");
}

/// On a host without nftables skiffd says so once and starts no dyno rather than run it exposed;
/// `dyno_network = "host"` runs dynos on the host's network anyway.
fn network_refused_without_nftables(c: &Container) {
    c.install_deb();
    c.ok("mv /usr/sbin/nft /usr/sbin/nft.away && systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    let said = c.ok("journalctl -u skiffd -o cat --no-pager | grep -c 'private networks are unavailable on this host' || true");
    assert_eq!(said.trim(), "1", "said once at start");
    c.ok("skiff apps:create delta");
    c.ok(&format!(
        "mkdir -p /root/delta && cd /root/delta && cat > app.py <<'EOF'\n{APP_PY}EOF\nprintf 'web: python3 app.py\\n' > Procfile"
    ));
    c.ok("skiff config:set APP=delta -a delta");
    let err = c.fails("cd /root/delta && skiff deploy -a delta");
    assert_contains(&err, "/usr/sbin/nft is missing", "the deploy says why");
    assert_contains(&err, "dyno_network = \"host\"", "and what to do");
    assert!(
        c.sh("systemctl list-units 'skiff-delta.*' --no-legend --plain")
            .stdout
            .trim()
            .is_empty(),
        "nothing of delta runs"
    );
    c.ok(
        "printf 'dyno_network = \"host\"\\n' >> /etc/skiff/skiffd.toml && systemctl restart skiffd",
    );
    c.wait_active("skiffd", Duration::from_secs(30));
    c.ok("cd /root/delta && skiff deploy -a delta");
    assert_eq!(proxy_get(c, "delta.localhost"), "delta web.1\n");
    assert_contains(
        &c.ok("skiff network -a delta"),
        "Mode:      host",
        "network shows it",
    );
    assert_contains(
        &c.ok("ss -ltnpH"),
        "python3",
        "on the host's network the dyno listens there",
    );
}
