//! Who may talk to skiffd: the socket's group, the optional TCP listener with bearer tokens, and config checking.

use crate::apps::list_apps;
use crate::harness::{app_names, assert_contains, parse_json, shell_quote, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "access_socket_group_only",
            run: access_socket_group_only,
        },
        Scenario {
            name: "access_tcp_bearer_tokens",
            run: access_tcp_bearer_tokens,
        },
        Scenario {
            name: "config_rejects_unknown_key",
            run: config_rejects_unknown_key,
        },
    ]
}

fn access_socket_group_only(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create visible");

    c.ok("useradd -m mallory");
    let o = c.as_user("mallory", "skiff apps");
    assert!(
        !o.success(),
        "a user outside group skiff could list apps: {}",
        o.describe()
    );
    assert_contains(&o.stderr, "permission denied", "`skiff apps` as mallory");
    assert!(
        !o.stdout.contains("visible"),
        "mallory saw app names: {}",
        o.stdout
    );
    // Not through the CLI either: the socket itself refuses.
    let raw = c.as_user(
        "mallory",
        "curl -sS --unix-socket /run/skiff/api.sock http://localhost/v1/apps",
    );
    assert!(
        !raw.success(),
        "mallory reached the API socket with curl: {}",
        raw.describe()
    );
    assert!(
        !raw.stdout.contains("visible"),
        "mallory read apps over the socket: {}",
        raw.stdout
    );

    c.ok("useradd -m -G skiff ops");
    let o = c.as_user("ops", "skiff apps --json");
    assert!(
        o.success(),
        "a member of group skiff should be able to use skiff: {}",
        o.describe()
    );
    let names = app_names(&parse_json(&o.stdout, "`skiff apps --json` as ops"));
    assert_eq!(names, vec!["visible".to_string()]);
    let o = c.as_user("ops", "skiff apps:create opsapp");
    assert!(
        o.success(),
        "ops should be able to create an app: {}",
        o.describe()
    );
    assert!(list_apps(c).contains(&"opsapp".to_string()));
}

/// HTTP status code of `curl URL` over TCP with optional extra args.
fn tcp_status(c: &Container, extra: &str) -> String {
    c.ok(&format!("curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 {extra} http://127.0.0.1:7070/v1/apps"))
        .trim()
        .to_string()
}

fn bearer(token: &str) -> String {
    format!(
        "-H {}",
        shell_quote(&format!("Authorization: Bearer {token}"))
    )
}

fn access_tcp_bearer_tokens(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create remote1");
    // Off by default.
    let o = c.sh("curl -s -o /dev/null --max-time 5 http://127.0.0.1:7070/v1/apps");
    assert!(
        !o.success(),
        "something answers on 127.0.0.1:7070 before the TCP listener is configured"
    );

    c.ok(r#"echo 'listen_tcp = "127.0.0.1:7070"' >> /etc/skiff/skiffd.toml"#);
    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", std::time::Duration::from_secs(30));
    let up = crate::harness::wait_until(std::time::Duration::from_secs(15), || {
        c.sh("curl -s -o /dev/null --max-time 2 http://127.0.0.1:7070/v1/apps")
            .success()
    });
    assert!(
        up,
        "nothing listens on 127.0.0.1:7070 after setting listen_tcp and restarting skiffd"
    );

    assert_eq!(tcp_status(c, ""), "401", "no token over TCP");
    assert_eq!(
        tcp_status(c, &bearer("wrong")),
        "401",
        "a wrong token over TCP"
    );
    let r = c.curl("-H 'Authorization: Bearer wrong' http://127.0.0.1:7070/v1/apps");
    assert_eq!(r.status, 401);
    let e = r.json();
    assert!(
        e["error"]["message"].is_string(),
        "401 body should be the error shape: {}",
        r.body
    );

    let created = c.json("skiff tokens:create ci --json");
    assert_eq!(
        created["name"], "ci",
        "`skiff tokens:create ci --json`: {created}"
    );
    let token = created["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no `token` string in {created}"))
        .to_string();
    assert!(
        token.len() >= 20,
        "token looks too short to be secret: {token:?}"
    );

    // Stored hashed: the secret appears neither in listings nor anywhere under /var/lib/skiff.
    let list = c.ok("skiff tokens --json");
    assert_contains(&list, "ci", "`skiff tokens --json` should list ci");
    assert!(
        !list.contains(&token),
        "`skiff tokens --json` shows the secret: {list}"
    );
    let grep = c.sh(&format!(
        "grep -rlF -- {} /var/lib/skiff /etc/skiff",
        shell_quote(&token)
    ));
    assert!(
        grep.stdout.trim().is_empty(),
        "the plain token is stored in: {}",
        grep.stdout
    );

    assert_eq!(
        tcp_status(c, &bearer(&token)),
        "200",
        "the new token over TCP"
    );
    c.ok("useradd -m mallory");
    let remote = format!(
        "SKIFF_API=http://127.0.0.1:7070 SKIFF_TOKEN={} ",
        shell_quote(&token)
    );
    let o = c.sh(&format!("{remote} runuser -u mallory -- skiff apps --json"));
    assert!(
        o.success(),
        "remote CLI with a token should work for any user: {}",
        o.describe()
    );
    let names = app_names(&parse_json(&o.stdout, "remote `skiff apps --json`"));
    assert_eq!(names, vec!["remote1".to_string()]);

    c.ok("skiff tokens:revoke ci");
    assert_eq!(
        tcp_status(c, &bearer(&token)),
        "401",
        "a revoked token over TCP"
    );
    let o = c.sh(&format!("{remote} runuser -u mallory -- skiff apps --json"));
    assert!(
        !o.success(),
        "remote CLI with a revoked token still works: {}",
        o.describe()
    );
    let list = c.ok("skiff tokens --json");
    assert!(
        !list.contains("\"ci\""),
        "revoked token still listed: {list}"
    );
}

fn config_rejects_unknown_key(c: &Container) {
    c.install_deb();
    // The shipped config passes, so a failure below is about the bad key.
    let o = c.sh("skiffd --check-config");
    assert!(
        o.success(),
        "`skiffd --check-config` fails on the shipped config: {}",
        o.describe()
    );

    c.ok("cp /etc/skiff/skiffd.toml /root/skiffd.toml.orig");
    c.ok("echo 'bogus_key = 1' >> /etc/skiff/skiffd.toml");
    let o = c.sh("skiffd --check-config");
    assert!(
        !o.success(),
        "`skiffd --check-config` accepted an unknown key: {}",
        o.describe()
    );
    assert_contains(
        &format!("{}{}", o.stderr, o.stdout),
        "bogus_key",
        "the error should name the unknown key",
    );

    // The running daemon is unaffected; a restart with the bad file fails instead of ignoring the key.
    c.wait_active("skiffd", std::time::Duration::from_secs(5));
    let o = c.sh("systemctl restart skiffd");
    let state = c.sh("systemctl is-active skiffd").stdout;
    assert!(
        !o.success() || state.trim() != "active",
        "skiffd started with an unknown key in its config (restart: {}, state: {state})",
        o.describe()
    );
    c.ok("cp /root/skiffd.toml.orig /etc/skiff/skiffd.toml");
    c.ok("systemctl reset-failed skiffd; systemctl restart skiffd");
    c.wait_active("skiffd", std::time::Duration::from_secs(30));
}
