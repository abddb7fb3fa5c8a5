//! Compression through skiff's Caddy: an app's ~100 KB HTML page comes back gzip- or
//! zstd-encoded to a client that accepts it and decodes to the same bytes, unencoded to one
//! that does not; event streams, images and responses the app encoded itself are left alone;
//! after `proxy:compression off` nothing is encoded.

use std::time::Duration;

use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "compression_on_by_default_and_off_per_app",
        run: compression_on_by_default_and_off_per_app,
    }]
}

/// A web app on Debian's python3 serving `page.html` at /page, the same page already
/// gzip-encoded by the app at /pre, `image.png` at /image and an event stream at /events.
const APP_PY: &str = r#"import gzip, http.server, os, socketserver
PAGE = open("page.html", "rb").read()
IMAGE = open("image.png", "rb").read()
EVENTS = b"".join(b"data: event %d\n\n" % i for i in range(400))
class H(http.server.BaseHTTPRequestHandler):
    def send(self, body, ctype, extra=(), length=True):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        for name, value in extra:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        html = "text/html; charset=utf-8"
        if self.path == "/page":
            self.send(PAGE, html)
        elif self.path == "/pre":
            self.send(gzip.compress(PAGE), html, [("Content-Encoding", "gzip")])
        elif self.path == "/image":
            self.send(IMAGE, "image/png")
        elif self.path == "/events":
            self.send(EVENTS, "text/event-stream", [("Cache-Control", "no-cache")], length=False)
        else:
            self.send(b"ok\n", "text/plain")
    def log_message(self, *args):
        pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Writes the app, its ~100 KB page and a 100 KB incompressible image into /root/packed.
const WRITE_FILES: &str = r#"import os
page = "<!doctype html><html><body>\n" + "".join(
    f"<p>line {i} of the packed page</p>\n" for i in range(3000)) + "</body></html>\n"
open("page.html", "w").write(page)
open("image.png", "wb").write(b"\x89PNG\r\n\x1a\n" + os.urandom(100_000))
"#;

/// GETs PATH from the app through Caddy (with `Accept-Encoding: ACCEPT` when given) into
/// /tmp/body; returns the status and the Content-Encoding ("" when none).
fn fetch(c: &Container, path: &str, accept: Option<&str>) -> (u16, String) {
    let accept = accept
        .map(|a| format!("-H 'Accept-Encoding: {a}'"))
        .unwrap_or_default();
    let status = c.ok(&format!(
        "curl -sS --max-time 30 -o /tmp/body -D /tmp/head -w '%{{http_code}}' \
         -H 'Host: packed.localhost' {accept} http://127.0.0.1{path}"
    ));
    let encoding = c.ok("sed -n 's/^[Cc]ontent-[Ee]ncoding: *//p' /tmp/head | tr -d '\\r'");
    (
        status.trim().parse().unwrap_or(0),
        encoding.trim().to_owned(),
    )
}

/// Whether /tmp/body, decoded with DECODE (a shell filter), is byte for byte FILE of the app.
fn body_is(c: &Container, decode: &str, file: &str) -> bool {
    c.sh(&format!(
        "{decode} < /tmp/body | cmp -s - /root/packed/{file}"
    ))
    .success()
}

fn compression_on_by_default_and_off_per_app(c: &Container) {
    c.install_deb();
    c.wait_active("skiff-caddy", Duration::from_secs(30));
    c.ok("skiff apps:create packed");
    c.ok(&format!(
        "mkdir -p /root/packed && cd /root/packed && cat > app.py <<'EOF'\n{APP_PY}EOF\n\
         python3 - <<'EOF'\n{WRITE_FILES}EOF\nprintf 'web: python3 app.py\\n' > Procfile"
    ));
    c.ok("cd /root/packed && skiff deploy -a packed");
    let mut last = (0, String::new());
    assert!(
        wait_until(Duration::from_secs(30), || {
            last = fetch(c, "/", None);
            last.0 == 200
        }),
        "packed is served through Caddy: last {last:?}"
    );
    assert_eq!(
        c.ok("skiff proxy:compression -a packed --json")
            .split_whitespace()
            .collect::<String>(),
        r#"{"enabled":true}"#
    );

    assert_eq!(fetch(c, "/page", Some("gzip")), (200, "gzip".into()));
    assert!(
        body_is(c, "gunzip -c", "page.html"),
        "gzip decodes to the page"
    );
    let gzipped: u64 = c.ok("stat -c %s /tmp/body").trim().parse().unwrap();
    assert!(gzipped < 50_000, "the page is compressed: {gzipped} bytes");
    assert_contains(&c.ok("cat /tmp/head"), "Accept-Encoding", "Vary");
    assert_eq!(fetch(c, "/page", Some("gzip, zstd")), (200, "zstd".into()));
    if c.sh("command -v zstd").success() {
        assert!(
            body_is(c, "zstd -dc", "page.html"),
            "zstd decodes to the page"
        );
    }
    assert_eq!(fetch(c, "/page", None), (200, String::new()));
    assert!(
        body_is(c, "cat", "page.html"),
        "unencoded without Accept-Encoding"
    );

    let (status, encoding) = fetch(c, "/events", Some("gzip, zstd"));
    assert_eq!(
        (status, encoding.as_str()),
        (200, ""),
        "an event stream is never encoded"
    );
    assert_contains(
        &c.ok("head -c 64 /tmp/body"),
        "data: event 0",
        "the event stream",
    );
    assert_eq!(fetch(c, "/image", Some("gzip, zstd")), (200, String::new()));
    assert!(body_is(c, "cat", "image.png"), "the image as it was");
    assert_eq!(
        fetch(c, "/pre", Some("zstd, gzip")),
        (200, "gzip".into()),
        "a response the app encoded itself is not encoded again"
    );
    assert!(body_is(c, "gunzip -c", "page.html"), "encoded once only");

    let off = c.ok("skiff proxy:compression off -a packed");
    assert_contains(
        &off,
        "Compression is off for packed",
        "proxy:compression off",
    );
    assert!(
        wait_until(Duration::from_secs(15), || {
            last = fetch(c, "/page", Some("gzip, zstd"));
            last == (200, String::new())
        }),
        "after proxy:compression off the page is unencoded: last {last:?}"
    );
    assert!(body_is(c, "cat", "page.html"), "the page as it was");
    let info = c.ok("skiff apps:info -a packed");
    assert!(
        info.lines()
            .any(|l| l.starts_with("Compression") && l.trim_end().ends_with("off")),
        "apps:info shows compression off: {info}"
    );
}
