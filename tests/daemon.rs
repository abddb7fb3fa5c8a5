//! In-process integration tests: a whole skiffd on temp paths with a fake systemd, driven through
//! the real CLI code over its Unix socket and TCP listener.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use skiff::adapters::{
    FakeHost, FakeLogs, FakePostgres, FakeProber, FakeProxy, FakeRedis, FakeSystemd,
};
use skiff::cli::{self, Cli, CliError, Context, Endpoint};
use skiff::config::Config;
use skiff::daemon::{self, Adapters, Listeners};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Daemon {
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    tcp: Option<std::net::SocketAddr>,
    systemd: Arc<FakeSystemd>,
}

impl Daemon {
    async fn start(with_tcp: bool) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), with_tcp).await
    }

    /// Starts a daemon on an existing state directory (to test restarts).
    async fn start_in(dir: tempfile::TempDir, with_tcp: bool) -> Self {
        let mut config = Config {
            state_dir: dir.path().to_owned(),
            socket_path: dir.path().join("api.sock"),
            drain_timeout: skiff::config::Timeout(Duration::from_secs(1)),
            ..Config::default()
        };
        if with_tcp {
            config.listen_tcp = Some("127.0.0.1:0".parse().unwrap());
        }
        let listeners = Listeners::bind(&config).await.unwrap();
        let tcp = listeners.tcp.as_ref().map(|l| l.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let systemd = Arc::new(FakeSystemd::default());
        let logs = Arc::new(FakeLogs {
            lines: vec![
                "2026-11-21T10:00:00.000000Z skiff[web.1]: Started skiff hello web.1 (v1).".into(),
                "2026-11-21T10:00:01.000000Z app[web.1]: listening".into(),
                "2026-11-21T10:00:02.000000Z app[worker.1]: working".into(),
            ],
            build_lines: vec!["Collecting six".into(), "-----> Build finished".into()],
            ..FakeLogs::default()
        });
        let adapters = Adapters {
            systemd: systemd.clone(),
            logs,
            proxy: Arc::new(FakeProxy::default()),
            prober: Arc::new(FakeProber::default()),
            host: Arc::new(FakeHost::default()),
            postgres: Arc::new(FakePostgres::default()),
            redis: Arc::new(FakeRedis::default()),
            relay_router_log: false,
        };
        let task = tokio::spawn(daemon::run(config, listeners, adapters, async move {
            let _ = stopped.await;
        }));
        let daemon = Self {
            dir,
            stop: Some(stop),
            task,
            tcp,
            systemd,
        };
        daemon.wait_ready().await;
        daemon
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("api.sock")
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if self
                .raw("GET", "/v1/health", "")
                .await
                .starts_with("HTTP/1.1 200")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("daemon did not become ready");
    }

    fn local(&self) -> Context {
        Context {
            endpoint: Endpoint::Unix(self.socket()),
            token: None,
            cwd: self.dir.path().to_owned(),
            remotes_file: Some(self.dir.path().join("remotes.toml")),
        }
    }

    /// Runs a CLI command line; returns stdout, or the error.
    async fn cli(&self, ctx: &Context, args: &[&str]) -> Result<String, CliError> {
        let cli =
            Cli::try_parse_from(std::iter::once("skiff").chain(args.iter().copied())).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        cli::run(cli, ctx, &mut out, &mut err).await?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// One raw HTTP/1.1 exchange on the socket; returns the whole response text.
    async fn raw(&self, method: &str, path: &str, body: &str) -> String {
        let Ok(mut stream) = tokio::net::UnixStream::connect(self.socket()).await else {
            return String::new();
        };
        raw_exchange(&mut stream, method, path, body, None).await
    }

    /// Stops the daemon gracefully and hands back its state directory.
    async fn stop(mut self) -> tempfile::TempDir {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
        self.dir
    }
}

async fn raw_exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // The server may answer (413) and close before it has read all of a large body.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
}

fn body_json(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn apps_lifecycle_through_the_cli() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    assert!(d
        .cli(&ctx, &["apps"])
        .await
        .unwrap()
        .contains("No apps yet"));
    let created = d.cli(&ctx, &["apps:create", "alpha"]).await.unwrap();
    assert!(created.contains("http://alpha.localhost/"), "{created}");
    let listed = json(&d.cli(&ctx, &["apps", "--json"]).await.unwrap());
    assert_eq!(listed[0]["name"], "alpha");
    let table = d.cli(&ctx, &["apps"]).await.unwrap();
    assert!(
        table.lines().next().unwrap().contains("NAME") && table.contains("alpha"),
        "{table}"
    );
    let info = d.cli(&ctx, &["apps:info", "-a", "alpha"]).await.unwrap();
    assert!(info.starts_with("=== alpha\n"), "{info}");

    let dup = d.cli(&ctx, &["apps:create", "alpha"]).await.unwrap_err();
    assert!(matches!(dup, CliError::Api { status: 409, .. }), "{dup:?}");
    assert_eq!(dup.to_string(), "app alpha already exists");

    let refused = d
        .cli(&ctx, &["apps:destroy", "alpha", "--confirm", "alpah"])
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("--confirm alpha"), "{refused}");
    assert_eq!(
        json(&d.cli(&ctx, &["apps", "--json"]).await.unwrap())
            .as_array()
            .unwrap()
            .len(),
        1
    );

    d.cli(&ctx, &["apps:destroy", "alpha", "--confirm", "alpha"])
        .await
        .unwrap();
    assert_eq!(
        json(&d.cli(&ctx, &["apps", "--json"]).await.unwrap()),
        serde_json::json!([])
    );
    let missing = d
        .cli(&ctx, &["apps:info", "-a", "alpha"])
        .await
        .unwrap_err();
    assert_eq!(missing.to_string(), "app alpha not found");
    d.stop().await;
}

#[tokio::test]
async fn bad_and_reserved_names_change_nothing() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "keep"]).await.unwrap();
    let before = d.cli(&ctx, &["apps", "--json"]).await.unwrap();
    for bad in ["Bad_Name", "ab", "1abc", "-abc", &"a".repeat(31)] {
        let err = d.cli(&ctx, &["apps:create", "--", bad]).await.unwrap_err();
        assert!(
            matches!(err, CliError::Api { status: 422, .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("lowercase letters"), "{err}");
    }
    let err = d.cli(&ctx, &["apps:create", "skiff"]).await.unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    assert_eq!(d.cli(&ctx, &["apps", "--json"]).await.unwrap(), before);
    d.stop().await;
}

#[tokio::test]
async fn errors_have_the_envelope_and_every_response_a_request_id() {
    let d = Daemon::start(false).await;
    let response = d.raw("POST", "/v1/apps", r#"{"name":"Bad"}"#).await;
    assert!(response.starts_with("HTTP/1.1 422"), "{response}");
    assert!(
        response.to_lowercase().contains("x-request-id: "),
        "{response}"
    );
    let body = body_json(&response);
    assert_eq!(body["error"]["code"], "invalid_name");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("lowercase"));

    let response = d.raw("POST", "/v1/apps", "{not json").await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert_eq!(body_json(&response)["error"]["code"], "bad_request");

    let response = d
        .raw("POST", "/v1/apps", r#"{"name":"ok-name","extra":1}"#)
        .await;
    assert!(response.starts_with("HTTP/1.1 422"), "{response}");

    let response = d.raw("GET", "/v1/nope", "").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert_eq!(body_json(&response)["error"]["code"], "not_found");

    let huge = format!(r#"{{"name":"{}"}}"#, "a".repeat(2 * 1024 * 1024));
    let response = d.raw("POST", "/v1/apps", &huge).await;
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "{}",
        &response[..200.min(response.len())]
    );
    assert_eq!(
        json(&d.cli(&d.local(), &["apps", "--json"]).await.unwrap()),
        serde_json::json!([])
    );
    d.stop().await;
}

#[tokio::test]
async fn health_and_openapi() {
    let d = Daemon::start(false).await;
    let health = body_json(&d.raw("GET", "/v1/health", "").await);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["systemd_version"], "252-fake");
    assert_eq!(health["status"], "ok");
    let doc = body_json(&d.raw("GET", "/v1/openapi.json", "").await);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/health",
        "/v1/apps",
        "/v1/apps/{app}",
        "/v1/tokens",
        "/v1/tokens/{name}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["paths"]["/v1/apps"]["post"].is_object());
    let version = d.cli(&d.local(), &["version"]).await.unwrap();
    assert!(version.contains("systemd 252-fake"), "{version}");
    d.stop().await;
}

#[tokio::test]
async fn compression_is_on_by_default_and_set_per_app() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "packed"]).await.unwrap();
    let shown = d
        .cli(&ctx, &["proxy:compression", "-a", "packed"])
        .await
        .unwrap();
    assert!(shown.starts_with("Compression is on for packed"), "{shown}");
    let off = d
        .cli(
            &ctx,
            &["proxy:compression", "off", "-a", "packed", "--json"],
        )
        .await
        .unwrap();
    assert_eq!(json(&off), serde_json::json!({"enabled": false}));
    let shown = d
        .cli(&ctx, &["proxy:compression", "-a", "packed", "--json"])
        .await
        .unwrap();
    assert_eq!(json(&shown), serde_json::json!({"enabled": false}));
    let info = d.cli(&ctx, &["apps:info", "-a", "packed"]).await.unwrap();
    assert!(
        info.lines()
            .any(|l| l.starts_with("Compression") && l.ends_with("off")),
        "{info}"
    );
    let info = json(
        &d.cli(&ctx, &["apps:info", "-a", "packed", "--json"])
            .await
            .unwrap(),
    );
    assert_eq!(info["compression"], false);
    let on = d
        .cli(&ctx, &["proxy:compression", "on", "-a", "packed"])
        .await
        .unwrap();
    assert!(on.starts_with("Compression is on for packed"), "{on}");

    let bad = d
        .raw("PUT", "/v1/apps/packed/compression", r#"{"enabled":"no"}"#)
        .await;
    assert!(bad.starts_with("HTTP/1.1 4"), "{bad}");
    let shown = body_json(&d.raw("GET", "/v1/apps/packed/compression", "").await);
    assert_eq!(shown["enabled"], true, "a refused change changes nothing");
    let missing = d
        .raw("PUT", "/v1/apps/nope/compression", r#"{"enabled":false}"#)
        .await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let doc = body_json(&d.raw("GET", "/v1/openapi.json", "").await);
    let path = &doc["paths"]["/v1/apps/{app}/compression"];
    assert!(path["get"].is_object() && path["put"].is_object(), "{path}");
    d.stop().await;
}

#[tokio::test]
async fn tcp_listener_requires_a_valid_token() {
    let d = Daemon::start(true).await;
    let addr = d.tcp.unwrap();
    let remote = |token: Option<&str>| Context {
        endpoint: Endpoint::parse(Some(&format!("http://{addr}"))).unwrap(),
        token: token.map(str::to_owned),
        cwd: d.dir.path().to_owned(),
        remotes_file: None,
    };
    let status = |response: String| response[9..12].to_owned();
    let tcp_raw = |token: Option<&'static str>| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw_exchange(&mut stream, "GET", "/v1/apps", "", token).await
    };
    assert_eq!(status(tcp_raw(None).await), "401");
    assert_eq!(status(tcp_raw(Some("skiff_wrong")).await), "401");
    let err = d.cli(&remote(None), &["apps"]).await.unwrap_err();
    assert!(matches!(err, CliError::Api { status: 401, .. }), "{err:?}");

    let created = json(
        &d.cli(&d.local(), &["tokens:create", "ci", "--json"])
            .await
            .unwrap(),
    );
    let token = created["token"].as_str().unwrap().to_owned();
    d.cli(&remote(Some(&token)), &["apps:create", "remote-made"])
        .await
        .unwrap();
    assert!(d
        .cli(&d.local(), &["apps"])
        .await
        .unwrap()
        .contains("remote-made"));

    // Tokens cannot mint or list tokens; only the local socket can.
    let err = d.cli(&remote(Some(&token)), &["tokens"]).await.unwrap_err();
    assert!(matches!(err, CliError::Api { status: 403, .. }), "{err:?}");
    let tokens = json(&d.cli(&d.local(), &["tokens", "--json"]).await.unwrap());
    assert_eq!(tokens[0]["name"], "ci");
    assert!(tokens[0]["last_used_at"].is_string());
    assert!(
        !tokens.to_string().contains(&token),
        "the secret must never be listed"
    );

    d.cli(&d.local(), &["tokens:revoke", "ci"]).await.unwrap();
    let err = d.cli(&remote(Some(&token)), &["apps"]).await.unwrap_err();
    assert!(matches!(err, CliError::Api { status: 401, .. }), "{err:?}");
    d.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart_on_the_same_directory() {
    let d = Daemon::start(false).await;
    d.cli(&d.local(), &["apps:create", "durable"])
        .await
        .unwrap();
    let dir = d.stop().await;
    assert_db_private(&dir.path().join("skiff.db"));
    let d = Daemon::start_in(dir, false).await;
    let apps = json(&d.cli(&d.local(), &["apps", "--json"]).await.unwrap());
    assert_eq!(apps[0]["name"], "durable");
    d.stop().await;
}

fn assert_db_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let d = Daemon::start(false).await;
    // Open a connection and send half a request, then ask the daemon to stop, then finish it.
    let mut stream = tokio::net::UnixStream::connect(d.socket()).await.unwrap();
    stream
        .write_all(b"GET /v1/apps HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let Daemon {
        stop, task, dir, ..
    } = d;
    stop.unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(b"Connection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    task.await.unwrap().unwrap();
    // New connections are refused once it has stopped.
    assert!(tokio::net::UnixStream::connect(dir.path().join("api.sock"))
        .await
        .is_err());
}

#[tokio::test]
async fn the_app_comes_from_the_skiff_git_remote() {
    let d = Daemon::start(false).await;
    d.cli(&d.local(), &["apps:create", "from-git"])
        .await
        .unwrap();
    let repo = d.dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    for args in [
        &["init", "-q"][..],
        &["remote", "add", "skiff", "skiff@host.invalid:from-git"],
    ] {
        assert!(std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap()
            .success());
    }
    let ctx = Context {
        cwd: repo,
        ..d.local()
    };
    let info = json(&d.cli(&ctx, &["apps:info", "--json"]).await.unwrap());
    assert_eq!(info["name"], "from-git");
    let err = d.cli(&d.local(), &["apps:info"]).await.unwrap_err();
    assert!(err.to_string().contains("-a APP"), "{err}");
    d.stop().await;
}

/// Waits until the fake systemd has exactly these units (the reconciler runs in the background).
async fn wait_units(d: &Daemon, want: &[&str]) {
    let mut got = Vec::new();
    for _ in 0..500 {
        got = d.systemd.units().into_keys().collect::<Vec<_>>();
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("units {got:?}, wanted {want:?}");
}

fn app_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    dir
}

#[tokio::test]
async fn deploy_scale_restart_stop_and_destroy() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "hello"]).await.unwrap();
    let src = app_dir(&[
        ("Procfile", "web: python3 app.py\nworker: python3 work.py\n"),
        ("app.py", "print()"),
    ]);
    let src_path = src.path().to_str().unwrap();
    let out = d
        .cli(&ctx, &["deploy", src_path, "-a", "hello"])
        .await
        .unwrap();
    assert!(out.contains("-----> Procfile app detected"), "{out}");
    assert!(
        out.ends_with("\n")
            && out
                .lines()
                .last()
                .unwrap()
                .starts_with("Released v1 of hello"),
        "{out}"
    );
    wait_units(&d, &["skiff-hello.web.1.v1.service"]).await;
    let slug = d.dir.path().join("apps/hello/slugs/v1/app.py");
    assert!(slug.is_file(), "the slug is unpacked under the state dir");

    let out = d
        .cli(&ctx, &["ps:scale", "web=2", "worker+1", "-a", "hello"])
        .await
        .unwrap();
    assert_eq!(out, "Scaled hello: now running web at 2, worker at 1\n");
    wait_units(
        &d,
        &[
            "skiff-hello.web.1.v1.service",
            "skiff-hello.web.2.v1.service",
            "skiff-hello.worker.1.v1.service",
        ],
    )
    .await;
    let ps = json(&d.cli(&ctx, &["ps", "-a", "hello", "--json"]).await.unwrap());
    let rows: Vec<(String, String)> = ps
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("web.1".into(), "up".into()),
            ("web.2".into(), "up".into()),
            ("worker.1".into(), "up".into())
        ]
    );
    assert_ne!(ps[0]["port"], ps[1]["port"]);
    let human = d.cli(&ctx, &["ps", "-a", "hello"]).await.unwrap();
    assert!(human.contains("=== web (2 dynos"), "{human}");

    let err = d
        .cli(&ctx, &["ps:scale", "clock=1", "-a", "hello"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no process type clock"), "{err}");

    let out = d
        .cli(&ctx, &["ps:restart", "web", "-a", "hello"])
        .await
        .unwrap();
    assert_eq!(out, "Restarted 2 dynos of hello\n");

    d.cli(&ctx, &["ps:stop", "worker.1", "-a", "hello"])
        .await
        .unwrap();
    // Restarted web dynos are new units beside the old ones; the old ones drain and stop.
    wait_units(
        &d,
        &[
            "skiff-hello.web.1.v1.g1.service",
            "skiff-hello.web.2.v1.g1.service",
        ],
    )
    .await;
    let ps = json(&d.cli(&ctx, &["ps", "-a", "hello", "--json"]).await.unwrap());
    assert_eq!(ps[2]["state"], "stopped");

    // A new release replaces every dyno; the stopped one comes back with the deploy.
    d.cli(&ctx, &["deploy", src_path, "-a", "hello"])
        .await
        .unwrap();
    wait_units(
        &d,
        &[
            "skiff-hello.web.1.v2.service",
            "skiff-hello.web.2.v2.service",
            "skiff-hello.worker.1.v2.service",
        ],
    )
    .await;

    d.cli(&ctx, &["apps:destroy", "hello", "--confirm", "hello"])
        .await
        .unwrap();
    wait_units(&d, &[]).await;
    for _ in 0..300 {
        if !d.dir.path().join("apps/hello").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !d.dir.path().join("apps/hello").exists(),
        "destroy removes the app's files"
    );
    d.stop().await;
}

#[tokio::test]
async fn bad_deploys_change_nothing() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "hello"]).await.unwrap();
    let no_procfile = app_dir(&[("app.py", "print()")]);
    let err = d
        .cli(
            &ctx,
            &[
                "deploy",
                no_procfile.path().to_str().unwrap(),
                "-a",
                "hello",
            ],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no Procfile"), "{err}");
    let bad = app_dir(&[("Procfile", "web: ok\nnot a process line\n")]);
    let err = d
        .cli(
            &ctx,
            &["deploy", bad.path().to_str().unwrap(), "-a", "hello"],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Procfile line 2: expected 'type: command', got \"not a process line\""
    );
    let response = d
        .raw(
            "POST",
            "/v1/apps/hello/deploys",
            "garbage that is not a tar archive",
        )
        .await;
    assert!(response.starts_with("HTTP/1.1 422"), "{response}");
    let ps = json(&d.cli(&ctx, &["ps", "-a", "hello", "--json"]).await.unwrap());
    assert_eq!(ps, serde_json::json!([]));
    let err = d
        .cli(&ctx, &["ps:scale", "web=1", "-a", "hello"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no release yet"), "{err}");
    assert!(d.systemd.units().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(d.dir.path().join("apps/hello/builds"))
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "failed uploads leave nothing behind");
    d.stop().await;
}

#[tokio::test]
async fn logs_come_back_in_herokus_shape() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "hello"]).await.unwrap();
    let all = d.cli(&ctx, &["logs", "-a", "hello"]).await.unwrap();
    assert_eq!(all.lines().count(), 3, "{all}");
    let last = d
        .cli(&ctx, &["logs", "-a", "hello", "-n", "1"])
        .await
        .unwrap();
    assert_eq!(last, "2026-11-21T10:00:02.000000Z app[worker.1]: working\n");
    let web = d
        .cli(&ctx, &["logs", "-a", "hello", "--dyno", "web.1"])
        .await
        .unwrap();
    assert_eq!(web.lines().count(), 2, "{web}");
    let err = d.cli(&ctx, &["logs", "-a", "nope"]).await.unwrap_err();
    assert_eq!(err.to_string(), "app nope not found");
    let err = d
        .cli(&ctx, &["logs", "-a", "hello", "--dyno", "web"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TYPE.N"), "{err}");
    d.stop().await;
}

#[tokio::test]
async fn builds_release_phase_config_and_rollback() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "hello"]).await.unwrap();
    let src = app_dir(&[
        ("requirements.txt", "six==1.16.0\n"),
        ("app.py", "print()"),
        (
            "Procfile",
            "web: python app.py\nrelease: python migrate.py\n",
        ),
    ]);
    let src_path = src.path().to_str().unwrap();
    let out = d
        .cli(&ctx, &["deploy", src_path, "-a", "hello"])
        .await
        .unwrap();
    assert!(out.contains("-----> Python app detected"), "{out}");
    assert!(
        out.contains("Collecting six"),
        "build output streams: {out}"
    );
    let runs = d.systemd.runs();
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("skiff-hello.build-"), "{names:?}");
    assert!(names[1].starts_with("skiff-hello.release-"), "{names:?}");
    let script = format!(
        "{:?}",
        runs[0].1.iter().find(|(k, _)| *k == "ExecStart").unwrap().1
    );
    assert!(
        script.contains("pip install -r requirements.txt"),
        "{script}"
    );
    wait_units(&d, &["skiff-hello.web.1.v1.service"]).await;
    assert!(
        !d.systemd.units().keys().any(|u| u.contains("release")),
        "the release phase never runs as a dyno"
    );

    let changed = json(
        &d.cli(
            &ctx,
            &["config:set", "TOKEN=a\"b\nc", "-a", "hello", "--json"],
        )
        .await
        .unwrap(),
    );
    assert_eq!(changed["release"]["version"], 2);
    assert_eq!(changed["release"]["slug_version"], 1);
    wait_units(&d, &["skiff-hello.web.1.v2.service"]).await;
    let env = std::fs::read_to_string(d.dir.path().join("env/hello/v2.env")).unwrap();
    assert_eq!(env, "TOKEN=\"a\\\"b\nc\"\n");
    let props = format!(
        "{:?}",
        d.systemd.units()["skiff-hello.web.1.v2.service"].properties
    );
    assert!(
        !props.contains("a\\\"b"),
        "config values never reach unit properties"
    );

    d.systemd.fail_runs("release-", 3);
    let err = d
        .cli(&ctx, &["deploy", src_path, "-a", "hello"])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the release command exited with status 3; the previous release stays live"
    );
    let releases = json(
        &d.cli(&ctx, &["releases", "-a", "hello", "--json"])
            .await
            .unwrap(),
    );
    assert_eq!(
        releases.as_array().unwrap().len(),
        2,
        "a failed release phase makes no release"
    );

    let back = d.cli(&ctx, &["rollback", "-a", "hello"]).await.unwrap();
    assert!(
        back.starts_with("Rollback to v1 of hello: v3 is live"),
        "{back}"
    );
    let config = json(
        &d.cli(&ctx, &["config", "-a", "hello", "--json"])
            .await
            .unwrap(),
    );
    assert_eq!(
        config,
        serde_json::json!({}),
        "rollback restores v1's config"
    );
    let err = d
        .cli(&ctx, &["config:set", "1BAD=x", "-a", "hello"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid config var name"), "{err}");
    d.stop().await;
}

#[tokio::test]
async fn a_named_remote_is_used_with_dash_dash_server() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "faraway"]).await.unwrap();
    let socket = d.socket().display().to_string();
    d.cli(&ctx, &["remotes:add", "here", &socket])
        .await
        .unwrap();
    let listed = d.cli(&ctx, &["remotes", "--json"]).await.unwrap();
    assert_eq!(
        json(&listed),
        serde_json::json!([{"name": "here", "api": socket, "token": false}])
    );
    let elsewhere = Context {
        endpoint: Endpoint::Unix(d.dir.path().join("nothing.sock")),
        ..d.local()
    };
    assert!(
        d.cli(&elsewhere, &["apps"]).await.is_err(),
        "no server there"
    );
    let apps = d
        .cli(&elsewhere, &["apps", "--server", "here"])
        .await
        .unwrap();
    assert!(apps.contains("faraway"), "{apps}");
    let err = d
        .cli(&elsewhere, &["apps", "--server", "there"])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("there is no remote there"),
        "{err}"
    );
    d.cli(&ctx, &["remotes:remove", "here"]).await.unwrap();
    assert!(d
        .cli(&elsewhere, &["apps", "--server", "here"])
        .await
        .is_err());
    d.stop().await;
}

#[tokio::test]
async fn the_routers_lines_of_one_dyno_are_refused_in_words() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "quiet"]).await.unwrap();
    let err = d
        .cli(
            &ctx,
            &["logs", "-a", "quiet", "-s", "router", "-d", "web.1"],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("belong to no dyno"), "{err}");
    d.stop().await;
}

#[tokio::test]
async fn stopping_ends_a_followed_log_stream_at_once() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "tail"]).await.unwrap();
    let mut stream = tokio::net::UnixStream::connect(d.socket()).await.unwrap();
    stream
        .write_all(b"GET /v1/apps/tail/logs?follow=true HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "the follow stream is open");

    let reader = tokio::spawn(async move {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.map(|_| rest)
    });
    tokio::time::timeout(Duration::from_secs(2), d.stop())
        .await
        .expect("a graceful stop does not wait for a followed stream");
    let rest = tokio::time::timeout(Duration::from_secs(1), reader)
        .await
        .expect("the stream is closed when the daemon stops")
        .unwrap()
        .unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "the chunked stream ends properly: {rest:?}"
    );
}

#[tokio::test]
async fn a_server_backup_restores_on_a_fresh_server_and_is_refused_where_apps_are() {
    let old = Daemon::start(false).await;
    let ctx = old.local();
    old.cli(&ctx, &["apps:create", "alpha"]).await.unwrap();
    old.cli(&ctx, &["config:set", "GREETING=ahoy", "-a", "alpha"])
        .await
        .unwrap();
    old.cli(&ctx, &["domains:add", "shop.example.test", "-a", "alpha"])
        .await
        .unwrap();
    let archive = old.dir.path().join("server.tar");
    let archive_arg = archive.to_str().unwrap();
    let wrote = old.cli(&ctx, &["backup", "-o", archive_arg]).await.unwrap();
    assert!(wrote.contains("entries match its manifest"), "{wrote}");
    assert!(!archive.with_extension("part").exists());

    let refused = old.cli(&ctx, &["restore", archive_arg]).await.unwrap_err();
    assert!(
        matches!(refused, CliError::Api { status: 409, .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("already has apps (alpha)"),
        "{refused}"
    );

    let new = Daemon::start(false).await;
    let fresh = new.local();
    let cut = new.dir.path().join("cut.tar");
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 2048]).unwrap();
    let damaged = new
        .cli(&fresh, &["restore", cut.to_str().unwrap()])
        .await
        .unwrap_err();
    assert!(
        matches!(damaged, CliError::Api { status: 422, .. }),
        "{damaged:?}"
    );
    assert_eq!(
        json(&new.cli(&fresh, &["apps", "--json"]).await.unwrap()),
        serde_json::json!([]),
        "a refused archive changes nothing"
    );

    let restored = new.cli(&fresh, &["restore", archive_arg]).await.unwrap();
    assert!(restored.contains("Restored 1 app(s)"), "{restored}");
    let apps = json(&new.cli(&fresh, &["apps", "--json"]).await.unwrap());
    assert_eq!(apps[0]["name"], "alpha");
    let config = json(
        &new.cli(&fresh, &["config", "-a", "alpha", "--json"])
            .await
            .unwrap(),
    );
    assert_eq!(config["GREETING"], "ahoy");
    let domains = new.cli(&fresh, &["domains", "-a", "alpha"]).await.unwrap();
    assert!(domains.contains("shop.example.test"), "{domains}");
    let leftovers: Vec<_> = std::fs::read_dir(new.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".restore-"))
        .collect();
    assert!(leftovers.is_empty(), "the staging folder is removed");
    new.stop().await;
    old.stop().await;
}

/// One HTTP/1.1 exchange on the dashboard socket with extra header lines.
async fn dashboard(d: &Daemon, method: &str, path: &str, headers: &str, form: &str) -> String {
    let mut stream = tokio::net::UnixStream::connect(d.dir.path().join("dashboard.sock"))
        .await
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split_once("\r\n\r\n").map_or(response, |(h, _)| h);
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn the_dashboard_needs_a_session_and_its_forms_their_csrf_token() {
    let d = Daemon::start(false).await;
    let ctx = d.local();
    d.cli(&ctx, &["apps:create", "hello"]).await.unwrap();
    let url = d.cli(&ctx, &["dashboard"]).await.unwrap();
    let link = url
        .trim()
        .strip_prefix("http://localhost:8080")
        .expect(&url);
    assert!(link.starts_with("/login?link="), "{url}");

    for path in ["/", "/apps/hello", "/apps/hello/settings"] {
        let refused = dashboard(&d, "GET", path, "", "").await;
        assert!(refused.starts_with("HTTP/1.1 303"), "{path}: {refused}");
        assert_eq!(header(&refused, "location"), Some("/login"), "{path}");
    }
    let stream = dashboard(
        &d,
        "GET",
        "/apps/hello/logs/events",
        "Accept: text/event-stream\r\n",
        "",
    )
    .await;
    assert!(stream.starts_with("HTTP/1.1 401"), "{stream}");
    let action = dashboard(&d, "POST", "/apps/hello/maintenance", "", "enabled=on").await;
    assert!(action.starts_with("HTTP/1.1 401"), "{action}");

    let login = dashboard(&d, "GET", link, "", "").await;
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let cookie = header(&login, "set-cookie").expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "not over TLS: {cookie}");
    let session = cookie.split(';').next().unwrap();
    let again = dashboard(&d, "GET", link, "", "").await;
    assert!(again.starts_with("HTTP/1.1 401"), "a used link: {again}");
    assert!(again.contains("used already"), "{again}");

    let with_session = format!("Cookie: {session}\r\n");
    let apps = dashboard(&d, "GET", "/", &with_session, "").await;
    assert!(apps.starts_with("HTTP/1.1 200"), "{apps}");
    assert!(apps.contains("href=\"/apps/hello\""), "{apps}");
    let csp = header(&apps, "content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    for page in [
        "",
        "/metrics",
        "/metrics?period=7d",
        "/activity",
        "/logs",
        "/settings",
    ] {
        let shown = dashboard(&d, "GET", &format!("/apps/hello{page}"), &with_session, "").await;
        assert!(shown.starts_with("HTTP/1.1 200"), "{page}: {shown}");
        assert!(shown.contains("<h1>"), "{page}: {shown}");
    }
    let missing = dashboard(&d, "GET", "/apps/nope", &with_session, "").await;
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.contains("nope"),
        "{missing}"
    );
    let settings = dashboard(&d, "GET", "/apps/hello/settings", &with_session, "").await;
    let csrf = settings
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the form");

    let forged = dashboard(
        &d,
        "POST",
        "/apps/hello/maintenance",
        &with_session,
        "enabled=on",
    )
    .await;
    assert!(forged.starts_with("HTTP/1.1 403"), "{forged}");
    let wrong = format!("csrf={}x&enabled=on", csrf);
    let forged = dashboard(&d, "POST", "/apps/hello/maintenance", &with_session, &wrong).await;
    assert!(forged.starts_with("HTTP/1.1 403"), "{forged}");
    let info = d
        .cli(&ctx, &["apps:info", "-a", "hello", "--json"])
        .await
        .unwrap();
    assert_eq!(
        json(&info)["maintenance"],
        false,
        "a refused form changes nothing"
    );

    let form = format!("csrf={csrf}&enabled=on");
    let done = dashboard(&d, "POST", "/apps/hello/maintenance", &with_session, &form).await;
    assert!(done.starts_with("HTTP/1.1 303"), "{done}");
    assert_eq!(
        header(&done, "location"),
        Some("/apps/hello/settings?notice=maintenance%20mode%20is%20on")
    );
    let info = d
        .cli(&ctx, &["apps:info", "-a", "hello", "--json"])
        .await
        .unwrap();
    assert_eq!(json(&info)["maintenance"], true);
    let activity = dashboard(&d, "GET", "/apps/hello/activity", &with_session, "").await;
    assert!(
        activity
            .contains("<tr class=\"event maintenance\"><td>Maintenance on</td><td>dashboard</td>"),
        "the activity page tells who turned maintenance on: {activity}"
    );
    let no_release = dashboard(
        &d,
        "GET",
        "/apps/hello/releases/9/output",
        &with_session,
        "",
    )
    .await;
    assert!(
        no_release.starts_with("HTTP/1.1 404") && no_release.contains("no release v9"),
        "{no_release}"
    );
    let form = format!("csrf={csrf}&process_type=web&quantity=lots");
    let bad = dashboard(&d, "POST", "/apps/hello/scale", &with_session, &form).await;
    let location = header(&bad, "location").unwrap();
    assert!(
        location.starts_with("/apps/hello?error="),
        "the API's error comes back: {location}"
    );

    let form = format!("csrf={csrf}");
    let out = dashboard(&d, "POST", "/logout", &with_session, &form).await;
    assert!(
        header(&out, "set-cookie").unwrap().contains("Max-Age=0"),
        "{out}"
    );
    let ended = dashboard(&d, "GET", "/", &with_session, "").await;
    assert!(
        ended.starts_with("HTTP/1.1 303"),
        "an ended session: {ended}"
    );
    d.stop().await;
}
