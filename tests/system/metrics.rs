//! Metrics: a dyno's memory and CPU as systemd accounts its cgroup, shown by `skiff ps`; an
//! app's requests by status and service time, and its dynos' usage over time, by `skiff metrics`.

use std::time::Duration;

use crate::dynos::deploy_app;
use crate::harness::Container;
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "metrics_ps_shows_memory_and_cpu",
            run: metrics_ps_shows_memory_and_cpu,
        },
        Scenario {
            name: "metrics_count_requests_by_status",
            run: metrics_count_requests_by_status,
        },
    ]
}

/// A web process answering 500 on /fail and 200 elsewhere.
pub const FLAKY_PY: &str = r#"import http.server, os, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 500 if self.path == "/fail" else 200
        self.send_response(code)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;

fn metrics_count_requests_by_status(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create flaky");
    c.ok(&format!(
        "mkdir -p /root/flaky && cd /root/flaky && cat > app.py <<'EOF'\n{FLAKY_PY}EOF\nprintf 'web: python3 app.py\\n' > Procfile && skiff deploy -a flaky"
    ));
    c.ok("for i in $(seq 150); do curl -s -o /dev/null -H 'Host: flaky.localhost' http://127.0.0.1/; done; for i in $(seq 50); do curl -s -o /dev/null -H 'Host: flaky.localhost' http://127.0.0.1/fail; done");
    let mut metrics = serde_json::Value::Null;
    let counted = crate::harness::wait_until(Duration::from_secs(30), || {
        metrics = c.json("skiff metrics -a flaky --since 10m --json");
        metrics["total"]["requests"] == 200
    });
    assert!(counted, "200 requests counted: {metrics}");
    let total = &metrics["total"];
    assert_eq!(total["status_2xx"], 150, "{total}");
    assert_eq!(total["status_5xx"], 50, "{total}");
    assert_eq!(total["status_4xx"], 0, "{total}");
    let at = |k: &str| {
        total[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {total}"))
    };
    assert!(
        at("p50_ms") <= at("p95_ms")
            && at("p95_ms") <= at("p99_ms")
            && at("p99_ms") <= at("max_ms"),
        "percentiles in order: {total}"
    );
    let points: u64 = metrics["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(points, 200, "the points add up: {metrics}");
    assert_eq!(metrics["processes"][0]["process_type"], "web", "{metrics}");
    // The monitor's samples of the web dyno are stored as usage points too.
    let sampled = crate::harness::wait_until(Duration::from_secs(30), || {
        metrics = c.json("skiff metrics -a flaky --since 10m --json");
        metrics["usage"][0]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    });
    assert!(sampled, "usage points: {metrics}");
    let usage = &metrics["usage"][0];
    assert_eq!(usage["process_type"], "web", "{usage}");
    let point = &usage["points"][0];
    let (mean, highest) = (
        point["memory_bytes"].as_u64().expect("memory_bytes"),
        point["memory_max_bytes"]
            .as_u64()
            .expect("memory_max_bytes"),
    );
    assert!(
        (1 << 20..=512 << 20).contains(&mean) && mean <= highest,
        "a python web dyno's memory between 1 MiB and its limit: {point}"
    );
    assert!(point["cpu_percent"].as_f64().is_some(), "{point}");

    // The minutes are written to the database: still there after skiffd restarts.
    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    let after = c.json("skiff metrics -a flaky --since 10m --json");
    assert_eq!(after["total"]["requests"], 200, "{after}");
    let text = c.ok("skiff metrics -a flaky --since 10m");
    assert!(text.contains("Errors (5xx) 25.0%"), "{text}");
    assert!(text.contains("Memory per dyno "), "{text}");
    // Bad periods are refused with what is allowed.
    let bad = c.fails("skiff metrics -a flaky --since forever");
    assert!(bad.contains("must be a duration like \"1h\""), "{bad}");
}

/// `web.1`'s row of `ps --json`.
fn web1(c: &Container, app: &str) -> serde_json::Value {
    let rows = c.json(&format!("skiff ps -a {app} --json"));
    rows.as_array()
        .and_then(|r| {
            r.iter()
                .find(|d| d["name"] == "web.1" && d["state"] == "up")
        })
        .cloned()
        .unwrap_or_else(|| panic!("no web.1 up: {rows}"))
}

fn metrics_ps_shows_memory_and_cpu(c: &Container) {
    c.install_deb();
    deploy_app(c, "gauge");
    let row = web1(c, "gauge");
    let memory = row["memory_bytes"].as_u64().expect("memory_bytes");
    let limit = row["memory_limit"].as_u64().expect("memory_limit");
    assert_eq!(limit, 512 << 20, "the default limit: {row}");
    assert!(
        (1 << 20..limit).contains(&memory),
        "a python web dyno uses between 1 MiB and its limit: {memory}"
    );
    assert!(row["tasks"].as_u64().is_some_and(|t| t >= 1), "{row}");
    let text = c.ok("skiff ps -a gauge");
    assert!(
        text.contains("memory of 512.0M") && text.contains("% CPU"),
        "{text}"
    );

    // Idle: next to no CPU since the last look. Under a bounded loop of requests: more.
    std::thread::sleep(Duration::from_secs(3));
    let idle = web1(c, "gauge")["cpu_percent"]
        .as_f64()
        .expect("cpu_percent");
    c.ok("for i in $(seq 1500); do curl -s -o /dev/null -H 'Host: gauge.localhost' http://127.0.0.1/; done");
    let busy = web1(c, "gauge")["cpu_percent"]
        .as_f64()
        .expect("cpu_percent");
    assert!(
        busy > idle && busy > 1.0,
        "CPU rises under load: idle {idle:.2} %, busy {busy:.2} %"
    );
}
