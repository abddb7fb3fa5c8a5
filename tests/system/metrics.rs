//! Metrics: a dyno's memory and CPU as systemd accounts its cgroup, shown by `skiff ps`.

use std::time::Duration;

use crate::dynos::deploy_app;
use crate::harness::Container;
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "metrics_ps_shows_memory_and_cpu",
        run: metrics_ps_shows_memory_and_cpu,
    }]
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
