//! The HTTP API over the Unix socket: health, the OpenAPI document, request ids and the error shape.

use crate::harness::{Container, Http};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "api_health_openapi",
            run: api_health_openapi,
        },
        Scenario {
            name: "api_error_shape",
            run: api_error_shape,
        },
    ]
}

#[track_caller]
fn has_request_id(r: &Http, what: &str) {
    let id = r
        .header("x-request-id")
        .unwrap_or_else(|| panic!("{what}: no x-request-id header in {:?}", r.headers));
    assert!(!id.trim().is_empty(), "{what}: empty x-request-id");
}

#[track_caller]
fn error_shape(r: &Http, what: &str) {
    let v = r.json();
    let code = &v["error"]["code"];
    let message = &v["error"]["message"];
    assert!(
        (code.is_string() && !code.as_str().unwrap_or_default().is_empty()) || code.is_number(),
        "{what}: error.code missing in {}",
        r.body
    );
    assert!(
        message.as_str().is_some_and(|m| !m.trim().is_empty()),
        "{what}: error.message missing in {}",
        r.body
    );
}

fn api_health_openapi(c: &Container) {
    c.install_deb();

    let r = c.api("GET", "/v1/health", "");
    assert_eq!(r.status, 200, "GET /v1/health: {}", r.body);
    has_request_id(&r, "GET /v1/health");
    let h = r.json();
    assert!(
        h["version"].as_str().is_some_and(|v| !v.is_empty()),
        "health has no version: {h}"
    );
    let sd = h["systemd_version"]
        .as_str()
        .unwrap_or_else(|| panic!("health has no systemd_version string: {h}"));
    assert!(!sd.trim().is_empty(), "empty systemd_version in {h}");
    // The container runs Debian 12's systemd 252; the daemon should report what it talks to.
    let real = c.ok("systemctl --version | head -n1");
    let major = real
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        sd.contains(&major),
        "systemd_version {sd:?} does not match `systemctl --version`: {real}"
    );

    let r = c.api("GET", "/v1/openapi.json", "");
    assert_eq!(r.status, 200, "GET /v1/openapi.json");
    has_request_id(&r, "GET /v1/openapi.json");
    let doc = r.json();
    assert!(
        doc.get("openapi").is_some(),
        "openapi.json has no `openapi` key"
    );
    assert!(
        doc["paths"].get("/v1/apps").is_some(),
        "openapi.json has no path /v1/apps: {}",
        doc["paths"]
    );

    let r = c.api("GET", "/v1/apps", "");
    assert_eq!(r.status, 200, "GET /v1/apps: {}", r.body);
    has_request_id(&r, "GET /v1/apps");
    assert!(
        r.json().is_array(),
        "GET /v1/apps is not an array: {}",
        r.body
    );

    // Request ids differ per request, and a caller's id is echoed back.
    let a = c.api("GET", "/v1/health", "");
    let b = c.api("GET", "/v1/health", "");
    assert_ne!(
        a.header("x-request-id"),
        b.header("x-request-id"),
        "two requests got the same x-request-id"
    );
    let mine = c.api("GET", "/v1/health", "-H 'x-request-id: test-1234'");
    assert_eq!(
        mine.header("x-request-id"),
        Some("test-1234"),
        "a caller-supplied x-request-id is not kept"
    );
}

fn api_error_shape(c: &Container) {
    c.install_deb();
    let json = "-H 'content-type: application/json'";

    let r = c.api(
        "POST",
        "/v1/apps",
        &format!(r#"{json} -d '{{"name":"Bad"}}'"#),
    );
    assert!(
        r.status == 422 || r.status == 400,
        "POST /v1/apps with a bad name: status {} {}",
        r.status,
        r.body
    );
    has_request_id(&r, "POST /v1/apps (bad name)");
    error_shape(&r, "POST /v1/apps (bad name)");

    let r = c.api("POST", "/v1/apps", &format!("{json} -d '{{not json'"));
    assert!(
        r.status == 400 || r.status == 422,
        "malformed JSON: status {} {}",
        r.status,
        r.body
    );
    error_shape(&r, "POST /v1/apps (malformed JSON)");

    let r = c.api("GET", "/v1/apps/nosuchapp", "");
    assert_eq!(r.status, 404, "GET a missing app: {}", r.body);
    has_request_id(&r, "GET /v1/apps/nosuchapp");
    error_shape(&r, "GET /v1/apps/nosuchapp");

    let r = c.api(
        "POST",
        "/v1/apps",
        &format!(r#"{json} -d '{{"name":"dup"}}'"#),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "create dup: {} {}",
        r.status,
        r.body
    );
    let r = c.api(
        "POST",
        "/v1/apps",
        &format!(r#"{json} -d '{{"name":"dup"}}'"#),
    );
    assert_eq!(r.status, 409, "creating an existing app: {}", r.body);
    error_shape(&r, "POST /v1/apps (duplicate)");

    let r = c.api("GET", "/v1/no/such/route", "");
    assert_eq!(r.status, 404, "unknown route");
    has_request_id(&r, "unknown route");

    // Nothing of the failed requests was stored.
    let names = crate::apps::list_apps(c);
    assert_eq!(names, vec!["dup".to_string()], "only the valid app exists");
}
