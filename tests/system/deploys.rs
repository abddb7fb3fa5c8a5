//! Deploys: git push over SSH with a real pip build, cached rebuilds, failing builds, rollback,
//! config vars as secrets, the release phase, app.json, Node and buildpack builds, unsafe
//! tarballs and slug retention — through git, the CLI, curl and systemctl.

use std::time::{Duration, Instant};

use crate::dynos::ps;
use crate::harness::{assert_contains, wait_until, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "deploys_git_push_python",
            run: deploys_git_push_python,
        },
        Scenario {
            name: "deploys_release_phase_and_app_json",
            run: deploys_release_phase_and_app_json,
        },
        Scenario {
            name: "deploys_node_and_buildpack",
            run: deploys_node_and_buildpack,
        },
        Scenario {
            name: "deploys_unsafe_tarballs_and_retention",
            run: deploys_unsafe_tarballs_and_retention,
        },
    ]
}

const SSH: &str = "GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes'";

/// A web app that needs `six` from PyPI; `/env` shows SECRET_TOKEN.
fn python_app(version: &str) -> String {
    format!(
        r#"import http.server, os, socketserver, six
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/env":
            body = os.environ.get("SECRET_TOKEN", "unset")
        else:
            body = "{version} six=" + six.__version__
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#
    )
}

/// Curls `path` on the app's running web dynos until one answers with `needle`.
#[track_caller]
fn wait_served(c: &Container, app: &str, path: &str, needle: &str) -> String {
    let mut last = String::new();
    let addr = c.dyno_addr(app);
    let ok = wait_until(Duration::from_secs(60), || {
        for (name, state, _, port) in ps(c, app) {
            if let (true, "up", Some(port)) = (name.starts_with("web."), state.as_str(), port) {
                let out = c.sh(&format!("curl -s --max-time 2 http://{addr}:{port}{path}"));
                last = out.stdout.clone();
                if last.contains(needle) {
                    return true;
                }
            }
        }
        false
    });
    assert!(
        ok,
        "{app}{path} never served {needle:?}; last answer: {last:?}"
    );
    last
}

fn releases(c: &Container, app: &str) -> Vec<serde_json::Value> {
    c.json(&format!("skiff releases -a {app} --json"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `git push skiff main` in /root/APP; returns (success, output, seconds).
fn push(c: &Container, app: &str) -> (bool, String, f64) {
    let started = Instant::now();
    let out = c.sh(&format!("cd /root/{app} && {SSH} git push skiff main 2>&1"));
    (out.success(), out.stdout, started.elapsed().as_secs_f64())
}

fn commit(c: &Container, app: &str, message: &str) {
    c.ok(&format!(
        "cd /root/{app} && git add -A && git -c user.name=dev -c user.email=dev@example.org commit -q -m '{message}'"
    ));
}

fn deploys_git_push_python(c: &Container) {
    c.install_deb();
    c.ok("mkdir -p /root/.ssh && ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519");
    let added = c.ok("skiff keys:add /root/.ssh/id_ed25519.pub");
    assert_contains(&added, "SHA256:", "keys:add");
    assert_contains(&c.ok("skiff keys"), "ssh-ed25519", "keys lists the key");
    let keys_file = c.ok("stat -c '%U %a' /var/lib/skiff/home/.ssh/authorized_keys");
    assert_eq!(
        keys_file.trim(),
        "skiff 600",
        "authorized_keys belongs to the git user"
    );
    assert_contains(
        &c.ok("cat /var/lib/skiff/home/.ssh/authorized_keys"),
        "restrict,command=\"/usr/bin/skiff git-shell SHA256:",
        "forced command",
    );

    c.ok("mkdir -p /root/pyapp && cd /root/pyapp && git init -q -b main && git remote add skiff skiff@localhost:pyapp");
    c.ok(&format!(
        "cd /root/pyapp && cat > app.py <<'EOF'\n{}EOF\nprintf 'six==1.16.0\\n' > requirements.txt && printf 'web: python app.py\\n' > Procfile",
        python_app("v1")
    ));
    commit(c, "pyapp", "v1");
    let (ok, out, _) = push(c, "pyapp");
    assert!(!ok, "a push to an app that does not exist fails");
    assert_contains(&out, "skiff apps:create pyapp", "the refusal has a hint");
    let shell = c.sh("ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes skiff@localhost id 2>&1");
    assert!(
        !shell.success(),
        "the git user got a shell: {}",
        shell.describe()
    );
    assert_contains(
        &shell.stdout,
        "skiff only accepts git here",
        "ssh without git",
    );

    c.ok("skiff apps:create pyapp");
    let (ok, first_out, first_secs) = push(c, "pyapp");
    assert!(ok, "first push: {first_out}");
    for stage in [
        "-----> Python app detected",
        "-----> Installing requirements with pip",
        "Successfully installed six-1.16.0",
        "-----> Released v1",
    ] {
        assert_contains(&first_out, stage, "first push output");
    }
    wait_served(c, "pyapp", "/", "v1 six=1.16.0");
    let journal = c.ok("journalctl SKIFF_APP=pyapp --no-pager -o cat");
    assert_contains(
        &journal,
        "Installing requirements with pip",
        "build lines are in journald",
    );

    c.ok(&format!(
        "cd /root/pyapp && cat > app.py <<'EOF'\n{}EOF",
        python_app("v2")
    ));
    commit(c, "pyapp", "v2");
    let (ok, second_out, second_secs) = push(c, "pyapp");
    assert!(ok, "second push: {second_out}");
    assert_contains(
        &second_out,
        "Restoring .venv from the build cache",
        "second push",
    );
    wait_served(c, "pyapp", "/", "v2 six=1.16.0");
    c.note(&format!(
        "python build: first push {first_secs:.1} s, second push (cached) {second_secs:.1} s"
    ));

    c.ok("cd /root/pyapp && printf 'six==1.16.0\\nskiff-no-such-package-4f2a==1.0\\n' > requirements.txt");
    commit(c, "pyapp", "broken requirements");
    let (ok, bad_out, _) = push(c, "pyapp");
    assert!(!ok, "a failing build fails the push: {bad_out}");
    assert_contains(
        &bad_out,
        "the build exited with status 1",
        "failed push output",
    );
    assert_contains(
        &bad_out,
        "pre-receive hook declined",
        "git rejects the push",
    );
    assert_eq!(
        releases(c, "pyapp").len(),
        2,
        "a failed build makes no release"
    );
    wait_served(c, "pyapp", "/", "v2 six=1.16.0");

    let back = c.ok("skiff rollback v1 -a pyapp");
    assert_contains(&back, "Rollback to v1", "rollback");
    wait_served(c, "pyapp", "/", "v1 six=1.16.0");

    let secret = "s3cr3t-Value-9c1e";
    c.ok(&format!("skiff config:set SECRET_TOKEN={secret} -a pyapp"));
    assert_eq!(
        c.ok("skiff config:get SECRET_TOKEN -a pyapp").trim(),
        secret
    );
    wait_served(c, "pyapp", "/env", secret);
    let shown = c.as_user("nobody", "systemctl show 'skiff-pyapp*' --no-pager");
    assert!(
        shown.success(),
        "systemctl show as nobody: {}",
        shown.describe()
    );
    assert_contains(
        &shown.stdout,
        "EnvironmentFiles=",
        "systemctl show sees the units",
    );
    assert!(
        !shown.stdout.contains(secret),
        "the secret is in a unit property"
    );
    let found = c.as_user(
        "nobody",
        &format!("grep -rlsF {secret} /run /var/lib /etc /tmp /var/tmp /var/log; echo done"),
    );
    assert_eq!(
        found.stdout.trim(),
        "done",
        "files other users can read hold the secret"
    );
    let list = releases(c, "pyapp");
    assert_eq!(list[0]["description"], "Set SECRET_TOKEN config var");
}

fn deploys_release_phase_and_app_json(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create rel");
    let app_py = r#"import http.server, os, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = open("/app/version").read().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"#;
    let app_json = r#"{"env": {"SECRET_KEY": {"generator": "secret"}, "MODE": "demo"},
 "formation": {"web": {"quantity": 2}},
 "scripts": {"postdeploy": "echo postdeploy ran as $DYNO"}}"#;
    c.ok(&format!(
        "mkdir -p /root/rel && cd /root/rel && cat > app.py <<'EOF'\n{app_py}EOF\ncat > app.json <<'EOF'\n{app_json}\nEOF\necho first > version && printf 'web: python3 app.py\\nrelease: echo release phase of $DYNO with MODE=$MODE\\n' > Procfile"
    ));
    let out = c.ok("cd /root/rel && skiff deploy -a rel");
    assert_contains(&out, "-----> Running the release command", "deploy output");
    assert_contains(
        &out,
        "release phase of release.1 with MODE=demo",
        "release output streams",
    );
    assert_contains(&out, "postdeploy ran as postdeploy.1", "postdeploy output");
    let config = c.json("skiff config -a rel --json");
    assert_eq!(config["MODE"], "demo", "app.json env defaults");
    assert_eq!(
        config["SECRET_KEY"].as_str().map(str::len),
        Some(64),
        "generated secret"
    );
    wait_served(c, "rel", "/", "first");
    let webs = ps(c, "rel")
        .iter()
        .filter(|r| r.0.starts_with("web."))
        .count();
    assert_eq!(webs, 2, "app.json formation");
    assert!(
        !ps(c, "rel").iter().any(|r| r.0.starts_with("release")),
        "the release phase is not a dyno"
    );

    c.ok("cd /root/rel && echo second > version && printf 'web: python3 app.py\\nrelease: echo about to fail; exit 3\\n' > Procfile");
    let failed = c.sh("cd /root/rel && skiff deploy -a rel 2>&1");
    assert!(
        !failed.success(),
        "a failing release command fails the deploy"
    );
    assert_contains(&failed.stdout, "about to fail", "release output");
    assert_contains(
        &failed.stdout,
        "the release command exited with status 3; the previous release stays live",
        "deploy error",
    );
    assert_eq!(releases(c, "rel").len(), 1, "no release was made");
    std::thread::sleep(Duration::from_secs(1));
    wait_served(c, "rel", "/", "first");
    assert!(
        c.ok("ls /var/lib/skiff/apps/rel/builds").trim().is_empty(),
        "the failed build's workspace is gone"
    );
}

fn deploys_node_and_buildpack(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create nodeapp");
    let server = r#"const http = require("http");
const isNumber = require("is-number");
http.createServer((req, res) => res.end("node isNumber(5)=" + isNumber(5)))
  .listen(process.env.PORT, "0.0.0.0");
"#;
    c.ok(&format!(
        "mkdir -p /root/nodeapp && cd /root/nodeapp && cat > server.js <<'EOF'\n{server}EOF\nprintf '%s' '{{\"name\":\"nodeapp\",\"version\":\"1.0.0\",\"dependencies\":{{\"is-number\":\"7.0.0\"}}}}' > package.json && printf 'web: node server.js\\n' > Procfile"
    ));
    let out = c.ok("cd /root/nodeapp && skiff deploy -a nodeapp");
    assert_contains(&out, "-----> Node.js app detected", "node build");
    assert_contains(&out, "npm install", "node build");
    wait_served(c, "nodeapp", "/", "node isNumber(5)=true");

    c.ok("mkdir -p /srv/bp/bin");
    c.ok("printf '#!/bin/sh\\necho HelloPack\\n' > /srv/bp/bin/detect");
    c.ok(r#"cat > /srv/bp/bin/compile <<'EOF'
#!/bin/sh
set -e
echo "compiling in $1 with greeting $(cat "$3/GREETING")"
echo "built by HelloPack, greeting $(cat "$3/GREETING"), cache runs $(ls "$2" | wc -l)" > "$1/built.txt"
touch "$2/run-$(date +%s%N)"
EOF"#);
    c.ok(r#"cat > /srv/bp/bin/release <<'EOF'
#!/bin/sh
cat <<'YAML'
---
default_process_types:
  web: python3 -m http.server $PORT --bind 0.0.0.0 --directory /app
YAML
EOF"#);
    c.ok("chmod +x /srv/bp/bin/*");
    c.ok("skiff apps:create packed");
    c.ok("skiff config:set BUILDPACK_URL=/srv/bp GREETING=hi -a packed");
    c.ok("mkdir -p /root/packed && echo hello > /root/packed/hello.txt");
    let out = c.ok("cd /root/packed && skiff deploy -a packed");
    assert_contains(&out, "-----> HelloPack app detected", "buildpack detect");
    assert_contains(
        &out,
        "compiling in /app with greeting hi",
        "buildpack compile output",
    );
    assert_contains(
        &out,
        "Process types: web",
        "bin/release default process types",
    );
    wait_served(
        c,
        "packed",
        "/built.txt",
        "built by HelloPack, greeting hi, cache runs 0",
    );
    c.ok("cd /root/packed && skiff deploy -a packed");
    wait_served(c, "packed", "/built.txt", "cache runs 1");
    buildpacks_set_on_the_app(c);
}

/// `buildpacks:*` edit the app's own list, which comes before BUILDPACK_URL; clearing it hands
/// the build back to BUILDPACK_URL; `releases:output` shows a deploy's whole output.
fn buildpacks_set_on_the_app(c: &Container) {
    c.ok("cp -a /srv/bp /srv/bp2 && sed -i 's/HelloPack/OtherPack/' /srv/bp2/bin/detect /srv/bp2/bin/compile");
    assert_contains(
        &c.ok("skiff buildpacks -a packed"),
        "packed has no buildpacks set",
        "no list yet",
    );
    assert_contains(
        &c.ok("skiff buildpacks:set /srv/bp2 -a packed"),
        "Buildpack set. Next release on packed will use /srv/bp2.",
        "buildpacks:set",
    );
    c.ok("skiff buildpacks:add https://example.org/never.git#v1 -i 1 -a packed");
    assert_contains(
        &c.ok("skiff buildpacks -a packed"),
        "=== packed Buildpack URLs\n1. https://example.org/never.git#v1\n2. /srv/bp2\n",
        "buildpacks in order",
    );
    for (command, message) in [
        (
            "buildpacks:add heroku/python",
            "invalid buildpack \"heroku/python\"",
        ),
        (
            "buildpacks:add /srv/bp2",
            "buildpack /srv/bp2 is listed twice",
        ),
        (
            "buildpacks:set /srv/bp",
            "say which one to replace with -i N",
        ),
        ("buildpacks:remove -i 5", "there is no buildpack 5"),
    ] {
        let refused = c.sh(&format!("skiff {command} -a packed"));
        assert!(
            !refused.success() && refused.stderr.contains(message),
            "{command}: {}",
            refused.describe()
        );
    }
    c.ok("skiff buildpacks:remove https://example.org/never.git#v1 -a packed");
    let listed = c.json("skiff buildpacks -a packed --json");
    assert_eq!(
        listed["buildpacks"],
        serde_json::json!(["/srv/bp2"]),
        "{listed}"
    );

    let out = c.ok("cd /root/packed && skiff deploy -a packed");
    assert_contains(
        &out,
        "-----> OtherPack app detected",
        "the app's buildpack first",
    );
    wait_served(c, "packed", "/built.txt", "built by OtherPack");
    let output = c.ok("skiff releases:output v3 -a packed");
    for line in [
        "-----> OtherPack app detected",
        "compiling in /app with greeting hi",
        "-----> Process types: web",
    ] {
        assert_contains(&output, line, "releases:output v3");
    }

    assert_contains(
        &c.ok("skiff buildpacks:clear -a packed"),
        "Buildpacks cleared. Next release on packed will detect what to build.",
        "buildpacks:clear",
    );
    c.ok("cd /root/packed && skiff deploy -a packed");
    wait_served(c, "packed", "/built.txt", "built by HelloPack");
}

/// A Python `tar(path, members)` that writes a tarball of `(name, "file"|"link", target)`
/// members exactly as given, unsafe ones included; scenarios append their own calls.
pub(crate) const TAR_PY: &str = r#"import io, tarfile
def tar(path, members):
    with tarfile.open(path, "w") as t:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, target
                t.addfile(info)
            else:
                data = b"evil\n"
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
"#;

fn deploys_unsafe_tarballs_and_retention(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create tarapp");
    let make_tarballs = format!("cat > /root/mktar.py <<'EOF'\n{TAR_PY}")
        + r#"tar("/root/dotdot.tar", [("Procfile", "file", None), ("../../../../tmp/dotdot-evil", "file", None)])
tar("/root/absolute.tar", [("Procfile", "file", None), ("/tmp/absolute-evil", "file", None)])
tar("/root/symlink.tar", [("Procfile", "file", None), ("etc", "link", "/etc"), ("etc/symlink-evil", "file", None)])
tar("/root/outside.tar", [("Procfile", "file", None), ("escape", "link", "../../../../etc/passwd")])
EOF
python3 /root/mktar.py"#;
    c.ok(&make_tarballs);
    for (tarball, message) in [
        ("dotdot", "unsafe path"),
        ("absolute", "unsafe path"),
        ("symlink", "points outside the app"),
        ("outside", "points outside the app"),
    ] {
        let out = c.sh(&format!(
            "skiff deploy --tar /root/{tarball}.tar -a tarapp 2>&1"
        ));
        assert!(!out.success(), "{tarball}.tar was accepted: {}", out.stdout);
        assert_contains(&out.stdout, message, tarball);
    }
    let leaked = c.sh("ls /tmp/dotdot-evil /tmp/absolute-evil /etc/symlink-evil /var/lib/skiff/dotdot-evil 2>/dev/null; find /var/lib/skiff -name '*-evil'");
    assert!(
        leaked.stdout.trim().is_empty(),
        "files written outside: {}",
        leaked.stdout
    );
    assert!(
        releases(c, "tarapp").is_empty(),
        "refused uploads make no release"
    );

    c.ok("printf 'keep_releases = 2\\n' > /etc/skiff/skiffd.toml && systemctl restart skiffd");
    c.wait_active("skiffd.service", Duration::from_secs(30));
    c.ok("skiff apps:create ret && mkdir -p /root/ret");
    for n in 1..=4 {
        c.ok(&format!(
            "cd /root/ret && echo {n} > n && printf 'worker: sleep infinity\\n' > Procfile && skiff deploy -a ret"
        ));
    }
    let slugs = c.ok("ls /var/lib/skiff/apps/ret/slugs");
    assert_eq!(
        slugs.split_whitespace().collect::<Vec<_>>(),
        ["v3", "v4"],
        "retention keeps 2"
    );
    let gone = c.sh("skiff rollback v1 -a ret 2>&1");
    assert!(!gone.success(), "rolling back to a removed slug fails");
    assert_contains(
        &gone.stdout,
        "removed by the retention policy",
        "rollback error",
    );
    c.ok("skiff rollback v3 -a ret");
    assert_eq!(releases(c, "ret")[0]["description"], "Rollback to v3");
}
