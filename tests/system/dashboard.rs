//! The dashboard in a real browser: Debian's chromium, driven through chromedriver (inside the
//! container) over WebDriver from this suite, logs in with a link from `skiff dashboard`, scales,
//! toggles maintenance, sets a config var, follows the live log and reads the activity; the
//! refusals are checked with curl; screenshots land in the suite's output folder.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::harness::{assert_contains, wait_until, Container};

const APP_PY: &str = r#"import http.server, os, socketserver
class Board(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("served", self.path, flush=True)
        body = ("board " + os.environ.get("GREETING", "hello") + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), Board).serve_forever()
"#;

const DASHBOARD: &str = "https://skiff.localhost";
const WEBDRIVER_PORT: u16 = 9515;
/// The whole browser session ends by then, whatever happens.
const BROWSER_BOUND: Duration = Duration::from_secs(420);

pub fn scenarios() -> Vec<crate::Scenario> {
    vec![crate::Scenario {
        name: "dashboard_in_a_browser",
        run: dashboard_in_a_browser,
    }]
}

/// Where screenshots go: `$SKIFF_TEST_OUTPUT`, or target/system-output.
fn output_dir() -> PathBuf {
    let base = std::env::var_os("SKIFF_TEST_OUTPUT")
        .map_or_else(|| PathBuf::from("target/system-output"), PathBuf::from);
    base.join("dashboard")
}

fn dashboard_in_a_browser(c: &Container) {
    c.install_deb();
    c.ok("printf 'dashboard = true\\ntls = \"internal\"\\n' >> /etc/skiff/skiffd.toml && systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    c.ok("skiff apps:create board");
    c.ok(&format!(
        "mkdir -p /root/board && cd /root/board && cat > app.py <<'EOF'\n{APP_PY}EOF\nprintf 'web: python3 app.py\\n' > Procfile"
    ));
    assert_contains(
        &c.ok("cd /root/board && skiff deploy -a board"),
        "Released v1 of board",
        "deploy",
    );
    let up = wait_until(Duration::from_secs(60), || {
        c.sh("curl -sk https://board.localhost/ --resolve board.localhost:443:127.0.0.1")
            .stdout
            .contains("board hello")
    });
    assert!(
        up,
        "board does not answer through the proxy: {}",
        c.sh("skiff ps -a board").stdout
    );
    refusals_without_a_session(c);

    c.ok(&format!(
        "systemd-run --unit=webdriver chromedriver --port={WEBDRIVER_PORT} --allowed-ips={} --allowed-origins='*'",
        c.host_ip()
    ));
    let ready = wait_until(Duration::from_secs(30), || {
        c.sh(&format!(
            "curl -sf http://127.0.0.1:{WEBDRIVER_PORT}/status"
        ))
        .stdout
        .contains("\"ready\":true")
    });
    assert!(
        ready,
        "chromedriver did not start: {}",
        c.sh("journalctl -u webdriver --no-pager | tail -20").stdout
    );
    let link = c.ok("skiff dashboard").trim().to_owned();
    assert!(
        link.starts_with(&format!("{DASHBOARD}/login?link=")),
        "{link}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let webdriver = format!("http://{}:{WEBDRIVER_PORT}", c.ip);
    let outcome = runtime.block_on(async {
        let browser = connect(&webdriver).await;
        let steps = tokio::time::timeout(BROWSER_BOUND, browse(c, &browser, &link)).await;
        let _ = browser.close().await;
        steps
    });
    c.sh("systemctl stop webdriver");
    outcome.unwrap_or_else(|_| panic!("the browser steps took longer than {BROWSER_BOUND:?}"));
}

/// Without a session: pages redirect to the login page, streams and forms get 401.
fn refusals_without_a_session(c: &Container) {
    let curl = |args: &str| {
        c.ok(&format!(
            "curl -sk -o /dev/null -w '%{{http_code}} %{{redirect_url}}' --resolve skiff.localhost:443:127.0.0.1 {args}"
        ))
    };
    for page in [
        "/",
        "/apps/board",
        "/apps/board/metrics",
        "/apps/board/settings",
    ] {
        let got = curl(&format!("{DASHBOARD}{page}"));
        assert_eq!(
            got,
            format!("303 {DASHBOARD}/login"),
            "{page} without a session"
        );
    }
    let stream = curl(&format!(
        "-H 'Accept: text/event-stream' {DASHBOARD}/apps/board/logs/events"
    ));
    assert!(
        stream.starts_with("401"),
        "the log stream without a session: {stream}"
    );
    let form = curl(&format!("-d enabled=on {DASHBOARD}/apps/board/maintenance"));
    assert!(form.starts_with("401"), "a form without a session: {form}");
}

async fn connect(webdriver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("acceptInsecureCerts".into(), json!(true));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=/tmp/dashboard-browser", "--window-size=1280,900",
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(webdriver)
        .await
        .unwrap_or_else(|e| panic!("cannot start chromium through {webdriver}: {e}"))
}

/// Reloads `path` until `css`'s text holds `want`, for up to `timeout`.
async fn wait_text(browser: &Client, path: &str, css: &str, want: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        browser.goto(&format!("{DASHBOARD}{path}")).await.unwrap();
        if let Ok(found) = browser.find(Locator::Css(css)).await {
            last = found.text().await.unwrap_or_default();
            if last.contains(want) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let page = browser.source().await.unwrap_or_default();
    panic!("{css} on {path} never said {want:?} (last {last:?}); page:\n{page}");
}

/// The element `css` finds, waited for; a panic with the page it is missing from.
async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    let found = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await;
    match found {
        Ok(found) => found,
        Err(e) => {
            let url = browser.current_url().await.map(|u| u.to_string());
            let page = browser.source().await.unwrap_or_default();
            panic!("no {css} on {url:?}: {e}; page:\n{page}")
        }
    }
}

/// The text of `css` on the current page; found again when the page changed under it.
async fn text(browser: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match element(browser, css).await.text().await {
            Ok(text) => return text,
            Err(e) if Instant::now() >= deadline => panic!("cannot read {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Waits until `css` on the current page says `want`: after a click the old page may still
/// be there for a moment, with the same elements.
async fn shows(browser: &Client, css: &str, want: &str) {
    let said = wait_until_async(Duration::from_secs(20), || async {
        match browser.find(Locator::Css(css)).await {
            Ok(found) => found.text().await.is_ok_and(|t| t.contains(want)),
            Err(_) => false,
        }
    })
    .await;
    if !said {
        let url = browser.current_url().await.map(|u| u.to_string());
        let page = browser.source().await.unwrap_or_default();
        panic!("{css} never said {want:?} on {url:?}; page:\n{page}");
    }
}

async fn click(browser: &Client, css: &str) {
    element(browser, css).await.click().await.unwrap();
}

async fn screenshot(browser: &Client, name: &str, width: u32, height: u32) {
    browser.set_window_size(width, height).await.unwrap();
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    let dir = output_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("dashboard: screenshot {}", path.display());
}

async fn browse(c: &Container, browser: &Client, link: &str) {
    browser.goto(link).await.unwrap();
    let logged_in = wait_until_async(Duration::from_secs(10), || async {
        browser
            .current_url()
            .await
            .is_ok_and(|url| url.path() == "/")
    })
    .await;
    if !logged_in {
        let url = browser.current_url().await.map(|u| u.to_string());
        let page = browser.source().await.unwrap_or_default();
        let said = c.sh("journalctl -u skiffd --no-pager -o cat | grep -i dashboard | tail -20");
        panic!("the link did not log in and go to the apps: at {url:?}; skiffd said:\n{}\npage:\n{page}", said.stdout);
    }
    let cookie = browser.get_named_cookie("skiff_session").await.unwrap();
    assert_eq!(
        cookie.secure(),
        Some(true),
        "over TLS the session cookie is Secure"
    );
    assert_eq!(cookie.http_only(), Some(true));
    shows(browser, "table.apps", "board").await;
    screenshot(browser, "apps-desktop", 1280, 900).await;
    screenshot(browser, "apps-phone", 390, 844).await;
    browser.set_window_size(1280, 900).await.unwrap();

    click(browser, "a[href=\"/apps/board\"]").await;
    wait_text(
        browser,
        "/apps/board",
        "tr[data-dyno=\"web.1\"] .state",
        "up",
        Duration::from_secs(30),
    )
    .await;
    let quantity = browser.find(Locator::Css("#q-web")).await.unwrap();
    quantity.clear().await.unwrap();
    quantity.send_keys("2").await.unwrap();
    click(browser, "form[action=\"/apps/board/scale\"] button").await;
    shows(browser, ".notice", "scaled web=2").await;
    wait_text(
        browser,
        "/apps/board",
        "tr[data-dyno=\"web.2\"] .state",
        "up",
        Duration::from_secs(60),
    )
    .await;
    let ps = c.json("skiff ps -a board --json");
    let web_up = ps
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["process_type"] == "web" && d["state"] == "up")
        .count();
    assert_eq!(web_up, 2, "skiff ps agrees: {ps}");

    maintenance(c, browser).await;
    config_var(c, browser).await;
    live_log(c, browser).await;
    activity(c, browser).await;

    browser
        .goto(&format!("{DASHBOARD}/apps/board/metrics"))
        .await
        .unwrap();
    let charts = browser.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(charts.len(), 3, "response times, throughput and memory");
    shows(browser, "main", "requests in the last 1h").await;
    screenshot(browser, "metrics-desktop", 1280, 900).await;
    screenshot(browser, "metrics-phone", 390, 844).await;
    browser.set_window_size(1280, 900).await.unwrap();

    forged_form_and_used_link(c, browser, link, cookie.value()).await;
    browser.goto(&format!("{DASHBOARD}/")).await.unwrap();
    shows(browser, "table.apps", "board").await;
    click(browser, "form.logout button").await;
    let out = wait_until_async(Duration::from_secs(20), || async {
        browser
            .current_url()
            .await
            .is_ok_and(|u| u.path() == "/login")
    })
    .await;
    assert!(out, "logging out shows the login page");
    browser
        .goto(&format!("{DASHBOARD}/apps/board"))
        .await
        .unwrap();
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/login",
        "logged out"
    );
}

/// The activity page tells who scaled, and each deploy's build output is a click away, the same
/// lines `skiff releases:output` prints.
async fn activity(c: &Container, browser: &Client) {
    browser
        .goto(&format!("{DASHBOARD}/apps/board/activity"))
        .await
        .unwrap();
    shows(browser, "#events tr.scale", "Scaled to web@2").await;
    shows(browser, "#events tr.scale", "dashboard").await;
    click(browser, "a[href=\"/apps/board/releases/1/output\"]").await;
    let printed = c.ok("skiff releases:output v1 -a board");
    assert_contains(&printed, "Process types: web", "releases:output v1");
    shows(browser, "#build-output", "Process types: web").await;
    let shown = text(browser, "#build-output").await;
    assert_eq!(
        shown.trim(),
        printed.trim(),
        "the page shows what the CLI prints"
    );
}

fn proxy_status(c: &Container) -> String {
    c.ok("curl -sk -o /dev/null -w '%{http_code}' --resolve board.localhost:443:127.0.0.1 https://board.localhost/")
}

async fn maintenance(c: &Container, browser: &Client) {
    browser
        .goto(&format!("{DASHBOARD}/apps/board/settings"))
        .await
        .unwrap();
    click(browser, "#maintenance-toggle").await;
    shows(browser, ".notice", "maintenance mode is on").await;
    shows(browser, "#maintenance-state", "on").await;
    assert!(
        wait_until(Duration::from_secs(30), || proxy_status(c) == "503"),
        "no 503 page: {}",
        proxy_status(c)
    );
    click(browser, "#maintenance-toggle").await;
    shows(browser, "#maintenance-state", "off").await;
    assert!(
        wait_until(Duration::from_secs(30), || proxy_status(c) == "200"),
        "still {}",
        proxy_status(c)
    );
}

async fn config_var(c: &Container, browser: &Client) {
    browser
        .goto(&format!("{DASHBOARD}/apps/board/settings"))
        .await
        .unwrap();
    browser
        .find(Locator::Css("#key"))
        .await
        .unwrap()
        .send_keys("GREETING")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#value"))
        .await
        .unwrap()
        .send_keys("from-the-browser")
        .await
        .unwrap();
    click(browser, "form.grid button").await;
    shows(browser, ".notice", "set GREETING; release v2 made").await;
    shows(browser, "table.config", "GREETING").await;
    assert!(
        !browser.source().await.unwrap().contains("from-the-browser"),
        "values stay hidden"
    );
    click(browser, "a[href=\"?reveal=1\"]").await;
    shows(browser, "table.config", "from-the-browser").await;
    let releases = c.json("skiff releases -a board --json");
    assert!(
        releases
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["version"] == 2 && r["config_keys"].to_string().contains("GREETING")),
        "a new release with the var: {releases}"
    );
    let served = wait_until(Duration::from_secs(60), || {
        c.sh("curl -sk --resolve board.localhost:443:127.0.0.1 https://board.localhost/")
            .stdout
            .contains("board from-the-browser")
    });
    assert!(served, "the new release does not serve the var");
}

async fn live_log(c: &Container, browser: &Client) {
    browser
        .goto(&format!("{DASHBOARD}/apps/board/logs"))
        .await
        .unwrap();
    let live = wait_until_async(Duration::from_secs(20), || async {
        text(browser, "#log-state").await.contains("following")
    })
    .await;
    assert!(
        live,
        "the log view never connected: {}",
        text(browser, "#log-state").await
    );
    let marker = format!("/seen-in-the-browser-{}", std::process::id());
    c.ok(&format!("curl -sk -o /dev/null --resolve board.localhost:443:127.0.0.1 https://board.localhost{marker}"));
    let shown = wait_until_async(Duration::from_secs(30), || async {
        text(browser, "#log")
            .await
            .contains(&format!("served {marker}"))
    })
    .await;
    assert!(
        shown,
        "the app's line never appeared live: {}",
        text(browser, "#log").await
    );
}

async fn wait_until_async<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// A form posted with the session but without its CSRF token changes nothing; a used link
/// logs nobody in, and the failure is in journald.
async fn forged_form_and_used_link(c: &Container, browser: &Client, link: &str, session: &str) {
    let forged = c.ok(&format!(
        "curl -sk -o /dev/null -w '%{{http_code}}' --resolve skiff.localhost:443:127.0.0.1 -b 'skiff_session={session}' -d enabled=on {DASHBOARD}/apps/board/maintenance"
    ));
    assert_eq!(forged, "403", "a forged form");
    assert_eq!(
        c.json("skiff apps:info -a board --json")["maintenance"],
        false,
        "nothing changed"
    );
    let again = c.ok(&format!(
        "curl -sk -o /dev/null -w '%{{http_code}}' --resolve skiff.localhost:443:127.0.0.1 '{link}'"
    ));
    assert_eq!(again, "401", "a used link");
    browser.goto(link).await.unwrap();
    shows(browser, ".error", "used already").await;
    let logged =
        c.ok("journalctl -u skiffd --no-pager -o cat | grep -c 'dashboard login failed' || true");
    assert!(
        logged.trim().parse::<u32>().unwrap_or(0) >= 2,
        "failed logins are logged: {logged}"
    );
}
