//! The verbs a Heroku user types daily: `apps:create` inside a checkout adds the git remote,
//! `git:remote`, `ps:wait`, `ps:type`, `domains:clear`, `logs -t`, `logs --source`, `open` and
//! what `config:set` prints; and the API from a laptop's account, over SSH or through skiff's
//! Caddy over TLS on `api_domain`.

use std::time::Duration;

use crate::harness::{assert_contains, wait_until, Container};

pub fn scenarios() -> Vec<crate::Scenario> {
    vec![
        crate::Scenario {
            name: "heroku_verbs_as_typed",
            run: heroku_verbs_as_typed,
        },
        crate::Scenario {
            name: "the_api_over_ssh",
            run: the_api_over_ssh,
        },
        crate::Scenario {
            name: "the_api_through_caddy_over_tls",
            run: the_api_through_caddy_over_tls,
        },
    ]
}

fn heroku_verbs_as_typed(c: &Container) {
    c.install_deb();
    c.ok("mkdir -p /root/habit && cd /root/habit && git init -q && printf 'web: python3 -m http.server $PORT\\n' > Procfile");
    let created = c.sh("cd /root/habit && skiff apps:create habit");
    assert!(created.success(), "{}", created.describe());
    assert_contains(
        &created.stderr,
        "Git remote skiff added: skiff@",
        "apps:create in a checkout",
    );
    let hostname = c.ok("cat /proc/sys/kernel/hostname");
    let url = c.ok("cd /root/habit && git remote get-url skiff");
    assert_eq!(url.trim(), format!("skiff@{}:habit", hostname.trim()));
    assert_contains(
        &c.ok("cd /root/habit && skiff apps:info"),
        "habit",
        "the app from the remote",
    );

    c.ok("cd /root/habit && skiff git:remote -a habit -r prod --host paas.example.com");
    let prod = c.ok("cd /root/habit && git remote get-url prod");
    assert_eq!(prod.trim(), "skiff@paas.example.com:habit");
    let outside = c.sh("cd /tmp && skiff git:remote -a habit");
    assert!(
        !outside.success() && outside.stderr.contains("not inside a git repository"),
        "{}",
        outside.describe()
    );

    c.ok("cd /root/habit && skiff deploy");
    assert_contains(
        &c.ok("cd /root/habit && skiff ps:wait --timeout 60s"),
        "is up on v1",
        "ps:wait",
    );
    let no_type = c.sh("cd /root/habit && skiff ps:wait --type clock --timeout 2s");
    assert!(
        !no_type.success() && no_type.stderr.contains("no process type clock"),
        "{}",
        no_type.describe()
    );

    c.ok("cd /root/habit && skiff ps:type web --memory 256M");
    let info = c.json("skiff apps:info -a habit --json");
    assert_eq!(info["formation"][0]["memory_bytes"], 256 << 20, "{info}");

    c.ok("skiff domains:add -a habit www.habit.test && skiff domains:add -a habit api.habit.test");
    let cleared = c.json("skiff domains:clear -a habit --json");
    assert_eq!(cleared["custom"], serde_json::json!([]), "{cleared}");
    let served = wait_until(Duration::from_secs(30), || {
        c.sh("curl -s -o /dev/null -w '%{http_code}' -H 'Host: www.habit.test' http://127.0.0.1/")
            .stdout
            == "404"
    });
    assert!(served, "a cleared domain is no longer routed");

    c.ok("curl -s -o /dev/null -H 'Host: habit.localhost' http://127.0.0.1/seen-by-logs-t");
    let tail = c.sh("cd /root/habit && timeout 5 skiff logs -t");
    assert_eq!(
        tail.status,
        Some(124),
        "logs -t follows until stopped: {}",
        tail.describe()
    );
    assert_contains(&tail.stdout, "/seen-by-logs-t", "logs -t");
    logs_by_source(c);

    assert_eq!(
        c.ok("cd /root/habit && skiff open").trim(),
        "http://habit.localhost/"
    );
    let opened = c.json("cd /root/habit && skiff open /admin --json");
    assert_eq!(opened["url"], "http://habit.localhost/admin");
    assert_eq!(opened["opened"], false, "no browser in this session");

    let set = c.ok("cd /root/habit && skiff config:set GREETING=hi FOO=bar");
    assert_contains(
        &set,
        "Setting FOO and GREETING and restarting habit... done, v2\nFOO:      bar\nGREETING: hi\n",
        "config:set as Heroku prints it",
    );
}

/// `logs --source` keeps one origin's lines: the app's own output, skiff's (systemd's) lines about
/// its dynos, or the router's; the request made above shows in the router's and in the app's.
fn logs_by_source(c: &Container) {
    let only = |source: &str, mark: &str, not: &str| {
        let lines = c.ok(&format!(
            "cd /root/habit && skiff logs -n 300 --source {source}"
        ));
        assert!(!lines.trim().is_empty(), "some {source} lines");
        for line in lines.lines() {
            assert_contains(line, mark, &format!("every line of --source {source}"));
            assert!(!line.contains(not), "--source {source} shows {line}");
        }
        lines
    };
    let router = only("router", " skiff[router]: ", " app[");
    assert_contains(&router, "/seen-by-logs-t", "the router's line");
    let app = only("app", " app[web.1]: ", " skiff");
    assert_contains(&app, "/seen-by-logs-t", "http.server's own line");
    let skiff = only("skiff", " skiff", " app[");
    assert_contains(
        &skiff,
        " skiff[web.1]: Started",
        "systemd's line about the dyno",
    );
    assert!(!skiff.contains("skiff[router]"), "{skiff}");
    let one_dyno = c.ok("cd /root/habit && skiff logs -s app -d web.1");
    assert_contains(&one_dyno, "app[web.1]", "one dyno's output");
    let refused = c.sh("cd /root/habit && skiff logs --source router --dyno web.1");
    assert!(
        !refused.success() && refused.stderr.contains("belong to no dyno"),
        "{}",
        refused.describe()
    );
    let unknown = c.sh("cd /root/habit && skiff logs --source heroku");
    assert!(
        !unknown.success() && unknown.stderr.contains("invalid value 'heroku'"),
        "{}",
        unknown.describe()
    );
}

/// `SKIFF_API=ssh://admin@localhost` from an account that cannot open the local socket: `apps`,
/// `logs -t` and an interactive `run` go through `ssh admin@localhost skiff api:relay`, where
/// admin is in group skiff; the same key for a user outside the group is refused.
fn the_api_over_ssh(c: &Container) {
    c.install_deb();
    c.ok("mkdir -p /root/far && cd /root/far && printf 'web: python3 -m http.server $PORT\\n' > Procfile && skiff apps:create far && skiff deploy -a far");
    c.ok("useradd -m -s /bin/bash laptop && useradd -m -s /bin/bash -G skiff admin && useradd -m -s /bin/bash outsider");
    c.ok("su laptop -c \"ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 && ssh-keyscan -t ed25519 localhost > ~/.ssh/known_hosts 2>/dev/null\"");
    for user in ["admin", "outsider"] {
        c.ok(&format!(
            "usermod -p '*' {user} && install -d -m 700 -o {user} -g {user} /home/{user}/.ssh && install -m 600 -o {user} -g {user} /home/laptop/.ssh/id_ed25519.pub /home/{user}/.ssh/authorized_keys"
        ));
    }
    let as_laptop = |command: &str| c.sh(&format!("su laptop -c \"cd /tmp && {command}\""));

    let local = as_laptop("skiff apps");
    assert!(
        !local.success() && local.stderr.contains("permission denied"),
        "laptop has no access to the local socket: {}",
        local.describe()
    );
    let apps = as_laptop("SKIFF_API=ssh://admin@localhost skiff apps");
    assert!(apps.success(), "{}", apps.describe());
    assert_contains(&apps.stdout, "far", "apps over ssh");

    let added = as_laptop("skiff remotes:add prod ssh://admin@localhost");
    assert!(added.success(), "{}", added.describe());
    assert_eq!(
        c.ok("stat -c %a /home/laptop/.config/skiff/remotes.toml /home/laptop/.config/skiff"),
        "600\n700\n",
        "the remotes file is the user's alone"
    );
    let named = as_laptop("skiff apps --server prod");
    assert_contains(&named.stdout, "far", "apps --server prod");
    let by_env = as_laptop("SKIFF_SERVER=prod skiff ps -a far");
    assert_contains(&by_env.stdout, "web.1", "ps with SKIFF_SERVER");

    c.ok("curl -s -o /dev/null -H 'Host: far.localhost' http://127.0.0.1/seen-over-ssh");
    let tail = as_laptop("SKIFF_API=ssh://admin@localhost timeout 8 skiff logs -a far -t");
    assert_eq!(
        tail.status,
        Some(124),
        "logs -t streams until stopped: {}",
        tail.describe()
    );
    assert_contains(&tail.stdout, "/seen-over-ssh", "logs -t over ssh");

    let run = as_laptop(
        "printf 'echo tty-\\$((6*7))\\nexit\\n' | SKIFF_API=ssh://admin@localhost script -qec 'skiff run -a far -- bash' /dev/null",
    );
    assert_contains(&run.stdout, "tty-42", "an interactive run over ssh");
    let whoami =
        as_laptop("SKIFF_API=ssh://admin@localhost skiff run -a far -- sh -c 'echo \\$DYNO'");
    assert!(
        whoami.stdout.trim().starts_with("run."),
        "{}",
        whoami.describe()
    );

    let refused = as_laptop("SKIFF_API=ssh://outsider@localhost skiff apps");
    assert!(!refused.success(), "{}", refused.describe());
    assert_contains(&refused.stderr, "permission denied", "outside group skiff");
    let unknown = as_laptop("SKIFF_API=ssh://nobody-here@localhost skiff apps");
    assert!(
        !unknown.success() && unknown.stderr.contains("ended before skiffd answered"),
        "{}",
        unknown.describe()
    );
}

/// `api_domain`: skiff's Caddy serves the API over TLS on that host, every request needing a
/// token; `apps`, `logs -t` and an attached `run` work through it from an account with no
/// access to the local socket, plain HTTP is redirected, and no token or a wrong one is refused.
fn the_api_through_caddy_over_tls(c: &Container) {
    c.install_deb();
    c.ok("printf 'tls = \"internal\"\\napi_domain = \"paas.test\"\\n' >> /etc/skiff/skiffd.toml && systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    c.ok("echo '127.0.0.1 paas.test' >> /etc/hosts");
    c.ok("mkdir -p /root/far && cd /root/far && printf 'web: python3 -m http.server $PORT\\n' > Procfile && skiff apps:create far && skiff deploy -a far");
    let token = c.ok("skiff tokens:create laptop --json");
    let token: serde_json::Value = serde_json::from_str(&token).expect("tokens:create --json");
    let token = token["token"].as_str().expect("a token").to_owned();
    c.ok("useradd -m -s /bin/bash laptop");
    // The laptop trusts the server's CA (skiff's Caddy's own, with tls = "internal").
    let ca = "/var/lib/skiff/caddy/pki/authorities/local/root.crt";
    assert!(
        wait_until(Duration::from_secs(30), || c
            .sh(&format!("test -s {ca}"))
            .success()),
        "Caddy made its CA"
    );
    c.ok(&format!(
        "cp {ca} /usr/local/share/ca-certificates/skiff-caddy.crt && update-ca-certificates > /dev/null"
    ));
    let as_laptop = |command: &str| {
        c.sh(&format!(
            "su laptop -c \"cd /tmp && SKIFF_API=https://paas.test SKIFF_TOKEN={token} {command}\""
        ))
    };
    let mut apps = as_laptop("skiff apps");
    let served = wait_until(Duration::from_secs(30), || {
        apps = as_laptop("skiff apps");
        apps.success()
    });
    assert!(served, "apps through Caddy: {}", apps.describe());
    assert_contains(&apps.stdout, "far", "apps over TLS");

    // Plain HTTP is redirected with tls on: the request goes over HTTPS to reach the dyno.
    c.ok("curl -s -o /dev/null --resolve far.localhost:443:127.0.0.1 https://far.localhost/seen-through-caddy");
    let tail = as_laptop("timeout 8 skiff logs -a far -t");
    assert_eq!(
        tail.status,
        Some(124),
        "logs -t streams: {}",
        tail.describe()
    );
    assert_contains(&tail.stdout, "/seen-through-caddy", "logs -t through Caddy");
    let run = as_laptop("skiff run -a far -- sh -c 'echo ran-\\$((6*7))'");
    assert_contains(&run.stdout, "ran-42", "an attached run through Caddy");

    let bare = c.sh("curl -s -o /dev/null -w '%{http_code}' https://paas.test/v1/apps");
    assert_eq!(bare.stdout, "401", "no token: {}", bare.describe());
    let wrong = c.sh("curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' https://paas.test/v1/apps");
    assert_eq!(wrong.stdout, "401", "a wrong token: {}", wrong.describe());
    let plain = c.curl("http://paas.test/v1/apps");
    assert!(
        (301..=308).contains(&plain.status),
        "plain HTTP is redirected to HTTPS, got {}",
        plain.status
    );
    assert_contains(
        &c.ok("journalctl -u skiffd --no-pager -q"),
        "refused a request with an invalid or revoked token",
        "skiffd says who was refused",
    );
    assert_eq!(
        c.ok("stat -c '%a %G' /run/skiff/api-proxied.sock").trim(),
        "660 caddy",
        "only Caddy reaches the proxied socket"
    );
}
