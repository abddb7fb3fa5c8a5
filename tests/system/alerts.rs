//! Alerts: rules on an app's router minutes and dyno samples fire and resolve as a journald
//! line and a webhook POST, here to a receiver on the container's loopback.

use std::time::{Duration, Instant};

use crate::harness::{wait_until, Container};
use crate::metrics::FLAKY_PY;
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "alerts_fire_resolve_and_post",
        run: alerts_fire_resolve_and_post,
    }]
}

/// A webhook receiver: each POST's body as one line of /root/hooks.jsonl.
const RECEIVER_PY: &str = r#"import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("/root/hooks.jsonl", "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", 9099), H).serve_forever()
"#;

const ERRORS: &str = "errors > 10% for 1m";

/// The POSTs the receiver got so far.
fn hooks(c: &Container) -> Vec<serde_json::Value> {
    c.ok("cat /root/hooks.jsonl 2>/dev/null || true")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a POST body ({e}): {l}")))
        .collect()
}

/// Waits up to `limit` for a POST of `alert` in `state`; returns it and how long it took.
fn wait_for_post(
    c: &Container,
    alert: &str,
    state: &str,
    limit: Duration,
) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let mut found = None;
    let arrived = wait_until(limit, || {
        found = hooks(c)
            .into_iter()
            .find(|h| h["alert"] == alert && h["state"] == state);
        found.is_some() || {
            std::thread::sleep(Duration::from_secs(2));
            false
        }
    });
    assert!(
        arrived,
        "no {state} POST for {alert:?} within {limit:?}: {:?}\n{}",
        hooks(c),
        c.ok("skiff alerts -a flaky; skiff logs -a flaky -n 40")
    );
    (found.expect("a POST"), started.elapsed())
}

fn alerts_fire_resolve_and_post(c: &Container) {
    c.install_deb();
    c.ok(&format!(
        "cat > /root/receiver.py <<'EOF'\n{RECEIVER_PY}EOF\nsystemd-run -q --unit=hook-receiver python3 /root/receiver.py && until curl -s -o /dev/null http://127.0.0.1:9099/; do sleep 0.1; done"
    ));
    c.ok("skiff apps:create flaky");
    c.ok(&format!(
        "mkdir -p /root/flaky && cd /root/flaky && cat > app.py <<'EOF'\n{FLAKY_PY}EOF\nprintf 'web: python3 app.py\\ncrash: sh -c \"sleep 2; exit 3\"\\n' > Procfile && skiff deploy -a flaky"
    ));

    // Bad rules and webhooks are refused with what is allowed, and change nothing.
    let bad = c.fails("skiff alerts:add -a flaky 'errors > lots'");
    assert!(
        bad.contains("allowed are") && bad.contains("crashed"),
        "{bad}"
    );
    let bad = c.fails("skiff alerts:add -a flaky 'p95 > 500ms for 30s'");
    assert!(
        bad.contains("must be whole minutes from 1m to 24h"),
        "{bad}"
    );
    let bad = c.fails("skiff alerts:webhook -a flaky ftp://127.0.0.1/hook");
    assert!(bad.contains("must be an http:// or https:// URL"), "{bad}");
    let none = c.json("skiff alerts -a flaky --json");
    assert_eq!(none["alerts"], serde_json::json!([]), "{none}");
    assert_eq!(none["webhook"], serde_json::Value::Null, "{none}");

    c.ok("skiff alerts:webhook -a flaky http://127.0.0.1:9099/hook");
    c.ok(&format!("skiff alerts:add -a flaky '{ERRORS}'"));
    c.ok("skiff alerts:add -a flaky crashed");
    let twice = c.fails("skiff alerts:add -a flaky 'errors>10% for 1m'");
    assert!(twice.contains("already"), "the same rule twice: {twice}");

    // A crash-looping dyno and a burst of 500s.
    c.ok("skiff ps:scale crash=1 -a flaky");
    c.ok("for i in $(seq 20); do curl -s -o /dev/null -H 'Host: flaky.localhost' http://127.0.0.1/; done; for i in $(seq 30); do curl -s -o /dev/null -H 'Host: flaky.localhost' http://127.0.0.1/fail; done");
    let (fired, took) = wait_for_post(c, ERRORS, "firing", Duration::from_secs(150));
    println!(
        "  alerts_fire_resolve_and_post: errors alert POSTed {:.0} s after the burst",
        took.as_secs_f64()
    );
    assert!(
        took <= Duration::from_secs(120),
        "the errors alert fires within two minutes of the burst, took {took:?}"
    );
    assert_eq!(fired["app"], "flaky", "{fired}");
    assert!(
        fired["value"].as_str().is_some_and(|v| v.contains('%')),
        "{fired}"
    );
    let listed = c.json("skiff alerts -a flaky --json");
    let errors = listed["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["rule"] == ERRORS))
        .cloned()
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(errors["state"], "firing", "{listed}");
    assert!(errors["since"].is_string(), "{listed}");
    wait_for_post(c, "crashed", "firing", Duration::from_secs(90));

    // No more 500s and no more crashes: both resolve.
    c.ok("skiff ps:scale crash=0 -a flaky");
    let (resolved, _) = wait_for_post(c, ERRORS, "resolved", Duration::from_secs(150));
    assert_eq!(resolved["since"], fired["since"], "{resolved}");
    wait_for_post(c, "crashed", "resolved", Duration::from_secs(90));
    let listed = c.json("skiff alerts -a flaky --json");
    assert!(
        listed["alerts"]
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|r| r["state"] == "ok")),
        "{listed}"
    );

    // Each change is one journald line under the app: warning when firing, notice when resolved.
    let lines = c.ok(&format!(
        "journalctl SKIFF_APP=flaky 'SKIFF_ALERT={ERRORS}' -o json --no-pager"
    ));
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("journalctl -o json"))
        .collect();
    let said: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["PRIORITY"].as_str().unwrap_or_default(),
                l["MESSAGE"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].0 == "4" && said[0].1.starts_with(&format!("alert firing: {ERRORS}")),
        "{said:?}"
    );
    assert!(
        said[1].0 == "5" && said[1].1.starts_with(&format!("alert resolved: {ERRORS}")),
        "{said:?}"
    );
    let logs = c.ok("skiff logs -a flaky -n 500");
    assert!(
        logs.contains("alert firing: crashed") && logs.contains("alert resolved: crashed"),
        "{logs}"
    );
}
