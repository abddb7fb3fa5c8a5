//! Log drains: a syslog-over-TLS, a plain syslog and an HTTPS receiver on the container's loopback
//! get the app's dyno and router lines, those written while skiffd was stopped too; a drain that
//! cannot deliver says so in `drains` and in journald.

use std::time::Duration;

use crate::apps::cli_error;
use crate::harness::{assert_contains, wait_until, Container};

pub fn scenarios() -> Vec<crate::Scenario> {
    vec![crate::Scenario {
        name: "drains_forward_dyno_and_router_lines",
        run: drains_forward_dyno_and_router_lines,
    }]
}

/// A receiver: `syslog` and `syslog-tls` read octet-counted frames (a bad count ends the
/// connection, so a framing fault shows as missing lines), `https` takes POSTed JSON arrays;
/// each writes one line per message to its file.
const RECEIVER: &str = r#"import http.server, json, socket, ssl, sys, threading
mode, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/root/tls/leaf.pem", "/root/tls/leaf.key")
def syslog(conn):
    if mode == "syslog-tls":
        conn = ctx.wrap_socket(conn, server_side=True)
    buf = b""
    with open(out, "ab", buffering=0) as f:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b" " in buf:
                count, rest = buf.split(b" ", 1)
                n = int(count)
                if len(rest) < n:
                    break
                f.write(rest[:n].replace(b"\n", b"\\n") + b"\n")
                buf = rest[n:]
class Post(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "a") as f:
            for line in json.loads(body):
                f.write(json.dumps(line) + "\n")
        self.send_response(204)
        self.end_headers()
if mode == "https":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Post)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
listener = socket.create_server(("127.0.0.1", port))
while True:
    conn, _ = listener.accept()
    threading.Thread(target=syslog, args=(conn,), daemon=True).start()
"#;

/// A CA the container trusts and a certificate for `localhost` it signed.
const MAKE_TLS: &str = "mkdir -p /root/tls && cd /root/tls \
 && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=skiff-test-ca 2>/dev/null \
 && openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=localhost 2>/dev/null \
 && printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext \
 && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext 2>/dev/null \
 && cp ca.pem /usr/local/share/ca-certificates/skiff-test-ca.crt && update-ca-certificates > /dev/null";

/// Whether `file` holds a dyno line and a router line about a request for `path`.
fn has_both(c: &Container, file: &str, path: &str, dyno: &str, router: &str) -> bool {
    let text = c.sh(&format!("cat {file}")).stdout;
    let about: Vec<&str> = text.lines().filter(|l| l.contains(path)).collect();
    about.iter().any(|l| l.contains(dyno)) && about.iter().any(|l| l.contains(router))
}

fn drains_forward_dyno_and_router_lines(c: &Container) {
    c.install_deb();
    c.ok(MAKE_TLS);
    c.ok(&format!("cat > /root/receiver.py <<'EOF'\n{RECEIVER}EOF"));
    for (unit, mode, port) in [
        ("recv-tls", "syslog-tls", 6514),
        ("recv-plain", "syslog", 6601),
        ("recv-https", "https", 8443),
    ] {
        c.ok(&format!(
            "systemd-run --quiet --unit={unit} python3 /root/receiver.py {mode} {port} /root/{unit}.log"
        ));
    }
    c.ok("mkdir -p /root/shop && cd /root/shop && git init -q && printf 'web: python3 -m http.server $PORT\\n' > Procfile");
    c.ok("cd /root/shop && skiff apps:create shop && skiff deploy && skiff ps:wait --timeout 60s");

    assert_contains(
        &cli_error(c, "cd /root/shop && skiff drains:add ftp://localhost:21"),
        "is not syslog://HOST:PORT",
        "a URL no drain speaks",
    );
    assert_contains(
        &cli_error(c, "cd /root/shop && skiff drains:add syslog://localhost"),
        "needs a port",
        "syslog without a port",
    );
    for url in [
        "syslog+tls://localhost:6514",
        "syslog://127.0.0.1:6601",
        "https://localhost:8443/logs?token=t1",
    ] {
        assert_contains(
            &c.ok(&format!("cd /root/shop && skiff drains:add {url}")),
            &format!("Successfully added drain {url}"),
            "drains:add",
        );
    }
    assert_contains(
        &cli_error(
            c,
            "cd /root/shop && skiff drains:add syslog://127.0.0.1:6601",
        ),
        "already drains to",
        "the same drain twice",
    );

    c.ok("curl -s -o /dev/null -H 'Host: shop.localhost' http://127.0.0.1/drain-one");
    let syslog_dyno = " shop app web.1 - - ";
    let syslog_router = " shop skiff router - - ";
    let json_dyno = r#""source": "app", "dyno": "web.1""#;
    let json_router = r#""source": "skiff", "dyno": "router""#;
    let arrived = |path: &str| {
        has_both(c, "/root/recv-tls.log", path, syslog_dyno, syslog_router)
            && has_both(c, "/root/recv-plain.log", path, syslog_dyno, syslog_router)
            && has_both(c, "/root/recv-https.log", path, json_dyno, json_router)
    };
    let receivers = || c.sh("tail -n 5 /root/recv-*.log").stdout;
    assert!(
        wait_until(Duration::from_secs(30), || arrived("/drain-one")),
        "every drain got the dyno's and the router's line: {}",
        receivers()
    );

    // Lines written while skiffd is stopped go out once it is back.
    c.ok("systemctl stop skiffd");
    c.ok("curl -s -o /dev/null -H 'Host: shop.localhost' http://127.0.0.1/while-stopped");
    assert!(
        !c.sh("grep -q /while-stopped /root/recv-*.log").success(),
        "nothing is forwarded while skiffd is stopped"
    );
    c.ok("systemctl start skiffd");
    assert!(
        wait_until(Duration::from_secs(45), || arrived("/while-stopped")),
        "the lines of the stop reach every drain: {}",
        receivers()
    );
    let frames = c.ok("cat /root/recv-tls.log /root/recv-plain.log");
    for frame in frames.lines() {
        assert!(
            frame.starts_with("<1") && frame.contains(">1 ") && frame.contains(" shop "),
            "an RFC 5424 message: {frame}"
        );
    }

    let drains = c.json("cd /root/shop && skiff drains --json");
    for d in drains.as_array().expect("a list") {
        assert!(d["delivered"].as_i64().unwrap_or(0) >= 4, "{d}");
        assert!(d["last_error"].is_null(), "{d}");
    }

    // A drain with nobody listening says why, in `drains` and in journald under the app.
    c.ok("cd /root/shop && skiff drains:add syslog://127.0.0.1:9");
    let mut failing = serde_json::Value::Null;
    let reported = wait_until(Duration::from_secs(30), || {
        failing = c.json("cd /root/shop && skiff drains --json");
        failing[3]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("connecting to 127.0.0.1:9"))
    });
    assert!(reported, "the failure shows in drains: {failing}");
    assert_contains(
        &c.ok("cd /root/shop && skiff drains"),
        "connecting to 127.0.0.1:9",
        "drains as a table",
    );
    assert!(
        wait_until(Duration::from_secs(10), || c
            .ok("cd /root/shop && skiff logs --source skiff -n 200")
            .contains("log drain syslog://127.0.0.1:9 failed")),
        "the failure is in the app's skiff lines"
    );
    assert_contains(
        &c.ok("cd /root/shop && skiff drains:remove syslog://127.0.0.1:9"),
        "Successfully removed drain syslog://127.0.0.1:9",
        "drains:remove",
    );
    assert_eq!(
        c.json("cd /root/shop && skiff drains --json")
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_contains(
        &cli_error(
            c,
            "cd /root/shop && skiff drains:remove syslog://127.0.0.1:9",
        ),
        "has no drain",
        "a drain removed twice",
    );
}
