//! The example app `make try` deploys: a web process answering a greeting and a worker that ticks,
//! using only Debian's python3 — nothing of the suite's fixtures.

use crate::harness::{assert_contains, Container};

const APP_PY: &str = r#"import http.server, os, socketserver
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("Hello from skiff! This is " + os.environ["DYNO"] + ".\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
print("listening on", os.environ["PORT"], flush=True)
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), Hello).serve_forever()
"#;

const WORKER_PY: &str = r#"import os, time
while True:
    print(os.environ["DYNO"], "is working", flush=True)
    time.sleep(10)
"#;

const PROCFILE: &str = "web: python3 app.py\nworker: python3 worker.py\n";

/// Writes the example into /root/NAME inside the container and deploys it as app NAME.
pub fn deploy(c: &Container, name: &str) {
    c.ok(&format!("skiff apps:create {name}"));
    c.ok(&format!(
        "mkdir -p /root/{name} && cd /root/{name} && cat > app.py <<'EOF'\n{APP_PY}EOF\ncat > worker.py <<'EOF'\n{WORKER_PY}EOF\nprintf '%s' '{PROCFILE}' > Procfile"
    ));
    let out = c.ok(&format!("cd /root/{name} && skiff deploy -a {name}"));
    assert_contains(&out, &format!("Released v1 of {name}"), "skiff deploy");
}

pub fn scenarios() -> Vec<crate::Scenario> {
    vec![crate::Scenario {
        name: "example_app_of_make_try",
        run: example_app_of_make_try,
    }]
}

/// What `make try` promises: the example deploys, and answers directly and through the proxy.
fn example_app_of_make_try(c: &Container) {
    c.install_deb();
    deploy(c, "hello");
    let url = crate::wait_for_web_url(c, "hello");
    let direct = c.ok(&format!("curl -sS {url}"));
    assert_contains(&direct, "Hello from skiff! This is web.1.", "the web dyno");
    let through_proxy = crate::harness::wait_until(std::time::Duration::from_secs(30), || {
        c.sh("curl -sS -H 'Host: hello.localhost' http://127.0.0.1/")
            .stdout
            .contains("Hello from skiff! This is web.1.")
    });
    assert!(
        through_proxy,
        "http://hello.localhost/ did not answer the greeting through the proxy: {}",
        c.sh("curl -sS -H 'Host: hello.localhost' http://127.0.0.1/")
            .stdout
    );
    let ps = c.ok("skiff ps -a hello");
    assert!(
        !ps.contains("crasher") && !ps.contains("probe"),
        "the example shows only its own processes: {ps}"
    );
}
