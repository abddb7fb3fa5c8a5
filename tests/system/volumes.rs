//! Volumes: a directory every web dyno, one-off and redeploy of an app shares, kept across
//! skiffd restarts, hidden from other apps, refused when badly asked for, and deleted when
//! destroyed — through the CLI, curl to each dyno, `skiff run` and the host's own view of it.

use std::time::Duration;

use crate::apps::cli_error;
use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "volumes_shared_and_kept",
            run: volumes_shared_and_kept,
        },
        Scenario {
            name: "volumes_isolation_and_bad_input",
            run: volumes_isolation_and_bad_input,
        },
    ]
}

/// `GET /append/NAME` appends `VERSION DYNO` to /data/NAME; `GET /read/NAME` answers its lines
/// (404 when it is not there, 500 with the error when /data cannot be read).
const APP_PY: &str = r#"import http.server, os, socketserver
VERSION = open("version").read().strip()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        kind, _, name = self.path.strip("/").partition("/")
        path = os.path.join("/data", name)
        try:
            if kind == "append":
                with open(path, "a") as f:
                    f.write(VERSION + " " + os.environ["DYNO"] + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            body, status = open(path).read(), 200
        except FileNotFoundError:
            body, status = "missing\n", 404
        except OSError as e:
            body, status = repr(e) + "\n", 500
        body = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Writes the app at /root/APP with `version` VERSION and deploys it.
fn deploy_files_app(c: &Container, app: &str, version: &str) {
    c.ok(&format!(
        "mkdir -p /root/{app} && cd /root/{app} && cat > app.py <<'EOF'\n{APP_PY}EOF\n\
         echo {version} > version && printf 'web: python3 app.py\\n' > Procfile"
    ));
    let out = c.ok(&format!("cd /root/{app} && skiff deploy -a {app} 2>&1"));
    assert_contains(&out, "Released v", "skiff deploy");
}

/// Each web dyno's port, by dyno name, once `count` of them are up on release `release` and
/// answer HTTP.
#[track_caller]
fn web_ports(c: &Container, app: &str, count: usize, release: u64) -> Vec<(String, u64)> {
    let addr = c.dyno_addr(app);
    let mut ports = Vec::new();
    let up = wait_until(Duration::from_secs(60), || {
        let rows = c.json(&format!("skiff ps -a {app} --json"));
        ports = rows
            .as_array()
            .expect("ps --json is an array")
            .iter()
            .filter(|r| {
                r["state"] == "up"
                    && r["release"].as_u64() == Some(release)
                    && r["name"].as_str().is_some_and(|n| n.starts_with("web."))
            })
            .filter_map(|r| Some((r["name"].as_str()?.to_owned(), r["port"].as_u64()?)))
            .collect();
        ports.sort();
        // Up is the unit running; the app may not listen yet.
        ports.len() == count
            && ports.iter().all(|(_, port)| {
                c.sh(&format!(
                    "curl -s -o /dev/null --max-time 5 http://{addr}:{port}/read/-"
                ))
                .success()
            })
    });
    assert!(
        up,
        "{count} web dynos of {app} up on v{release}: {}",
        c.sh(&format!("skiff ps -a {app}")).describe()
    );
    ports
}

/// `GET PATH` straight to one dyno: (status, body).
fn dyno_get(c: &Container, addr: &str, port: u64, path: &str) -> (u16, String) {
    let http = c.curl(&format!("http://{addr}:{port}{path}"));
    (http.status, http.body)
}

fn volumes_shared_and_kept(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create files");
    deploy_files_app(c, "files", "one");
    c.ok("skiff ps:scale web=2 -a files");
    web_ports(c, "files", 2, 1);

    let out = c.ok("skiff volumes:create data --mount /data --size 1M -a files");
    assert_contains(
        &out,
        "Created volume data at /data for files",
        "volumes:create",
    );
    assert_contains(&out, "Release v2", "volumes:create makes a release");
    let ports = web_ports(c, "files", 2, 2);
    let addr = c.dyno_addr("files");
    let (web1, web2) = (ports[0].1, ports[1].1);

    // web.1 creates the file, web.2 appends to it: two dynos with their own dynamic users share
    // it through the volume's group.
    let (status, body) = dyno_get(c, &addr, web1, "/append/log");
    assert_eq!(
        (status, body.as_str()),
        (200, "one web.1\n"),
        "web.1 writes"
    );
    let (status, body) = dyno_get(c, &addr, web2, "/append/log");
    assert_eq!(
        (status, body.as_str()),
        (200, "one web.1\none web.2\n"),
        "web.2 reads what web.1 wrote and appends to it"
    );
    let run = c.ok("skiff run -a files -- sh -c 'cat /data/log && echo run >> /data/log'");
    assert_eq!(
        run, "one web.1\none web.2\n",
        "a one-off dyno sees the volume"
    );

    // On the host: the volume's directory, its group and the modes that let the next dyno in.
    let host = "/var/lib/skiff/apps/files/volumes/data";
    assert_eq!(
        c.ok(&format!("stat -c '%U:%G %a' {host}")).trim(),
        "root:skiff-volumes 2770",
        "the volume's directory"
    );
    let file = c.ok(&format!("stat -c '%G %a' {host}/log"));
    assert_eq!(file.trim(), "skiff-volumes 660", "a file a dyno made");

    let volumes = c.json("skiff volumes -a files --json");
    assert_eq!(volumes[0]["name"], "data", "{volumes}");
    assert_eq!(volumes[0]["mount"], "/data", "{volumes}");
    assert_eq!(volumes[0]["size"], 1 << 20, "{volumes}: 1M is a MiB");
    assert!(volumes[0]["used"].as_u64().unwrap_or(0) > 0, "{volumes}");
    assert_eq!(volumes[0]["over_size"], false, "{volumes}");
    let info = c.ok("skiff apps:info -a files");
    assert_contains(&info, "data at /data", "apps:info lists the volume");

    // A redeploy and a restart of skiffd keep the files; the new release's dynos write on.
    deploy_files_app(c, "files", "two");
    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    let ports = web_ports(c, "files", 2, 3);
    let (status, body) = dyno_get(c, &addr, ports[1].1, "/append/log");
    assert_eq!(
        (status, body.as_str()),
        (200, "one web.1\none web.2\nrun\ntwo web.2\n"),
        "after a redeploy and a skiffd restart"
    );
    let proxied = c.curl("-H 'Host: files.localhost' http://127.0.0.1/read/log");
    assert_eq!(proxied.status, 200, "through the proxy: {proxied:?}");
    assert_contains(&proxied.body, "two web.2", "through the proxy");

    // Over its size it is reported, not cut off.
    c.ok("skiff run -a files -- sh -c 'head -c 1500000 /dev/zero > /data/big'");
    let volumes = c.json("skiff volumes -a files --json");
    assert_eq!(volumes[0]["over_size"], true, "{volumes}");
    assert_contains(
        &c.ok("skiff volumes -a files"),
        "(over)",
        "volumes shows the volume over its size",
    );

    // Destroying it needs the app's name, makes a release without it, and deletes the files.
    let refused = cli_error(c, "skiff volumes:destroy data -a files");
    assert_contains(&refused, "--confirm files", "destroy without confirmation");
    assert!(
        c.sh(&format!("test -f {host}/log")).success(),
        "nothing deleted"
    );
    let out = c.ok("skiff volumes:destroy data --confirm files -a files");
    assert_contains(&out, "Destroyed volume data of files", "volumes:destroy");
    assert_contains(&out, "Release v4", "volumes:destroy makes a release");
    let ports = web_ports(c, "files", 2, 4);
    let gone = wait_until(Duration::from_secs(30), || {
        !c.sh(&format!("test -e {host}")).success()
    });
    assert!(
        gone,
        "the volume's directory is deleted once no dyno binds it"
    );
    let (status, body) = dyno_get(c, &addr, ports[0].1, "/read/log");
    assert_eq!(status, 404, "the new release has no volume: {body}");
    assert_eq!(
        c.json("skiff volumes -a files --json"),
        serde_json::json!([])
    );
}

fn volumes_isolation_and_bad_input(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create files");
    c.ok("skiff apps:create other");
    deploy_files_app(c, "files", "one");
    deploy_files_app(c, "other", "one");
    c.ok("skiff volumes:create data --mount /data -a files");
    c.ok("skiff run -a files -- sh -c 'echo secret > /data/s'");

    // Another app neither has /data nor reaches the volume's directory on the host.
    let probe = c.sh(
        "skiff run -a other -- sh -c 'cat /data/s; ls /var/lib/skiff/apps/files/volumes/data/'",
    );
    assert!(
        !probe.success(),
        "other reads nothing: {}",
        probe.describe()
    );
    assert!(
        !probe.stdout.contains("secret"),
        "other app sees the volume: {}",
        probe.describe()
    );
    let other = c.json("skiff volumes -a other --json");
    assert_eq!(other, serde_json::json!([]), "other has no volumes");

    // Bad input is refused with a reason and changes nothing: no release, no volume.
    let versions = || -> Vec<u64> {
        let releases = c.json("skiff releases -a files --json");
        releases
            .as_array()
            .expect("releases --json is an array")
            .iter()
            .filter_map(|r| r["version"].as_u64())
            .collect()
    };
    let before = versions();
    for (cmd, why) in [
        ("volumes:create etc --mount /etc", "/etc"),
        ("volumes:create rel --mount data", "absolute"),
        ("volumes:create app --mount /app/x", "/app"),
        ("volumes:create dup --mount /data", "/data"),
        ("volumes:create inner --mount /data/inner", "/data"),
        ("volumes:create data --mount /other", "data"),
        ("volumes:create Bad_Name --mount /b", "name"),
        ("volumes:create big --mount /big --size lots", "size"),
        ("volumes:destroy nope --confirm files", "nope"),
        ("volumes:destroy data --confirm other", "--confirm files"),
    ] {
        let err = cli_error(c, &format!("skiff {cmd} -a files"));
        assert_contains(&err, why, cmd);
    }
    assert_eq!(versions(), before, "refused changes make no release");
    let volumes = c.json("skiff volumes -a files --json");
    assert_eq!(volumes.as_array().map(Vec::len), Some(1), "{volumes}");
    assert_eq!(
        c.ok("skiff run -a files -- cat /data/s").trim(),
        "secret",
        "the volume is untouched"
    );
    let err = cli_error(c, "skiff volumes:create data --mount /data -a nosuch");
    assert_contains(&err, "nosuch", "an unknown app");
}
