//! Installing and purging the package: the unit, the socket, the database, the system user, the manual pages and
//! completions, the files left behind.

use std::time::Duration;

use crate::harness::{assert_contains, wait_until, Container, DEB_MOUNT};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "install_active_notify",
            run: install_active_notify,
        },
        Scenario {
            name: "remove_stops_what_skiff_runs",
            run: remove_stops_what_skiff_runs,
        },
        Scenario {
            name: "install_manuals_and_completions",
            run: install_manuals_and_completions,
        },
    ]
}

/// Purging runs last: it is the end of the package's life.
pub fn purge_scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "purge_removes_state",
        run: purge_removes_state,
    }]
}

fn install_active_notify(c: &Container) {
    c.install_deb();

    let show = c.ok("systemctl show skiffd -p Type -p ActiveState -p SubState");
    for want in ["Type=notify", "ActiveState=active", "SubState=running"] {
        assert!(
            show.lines().any(|l| l.trim() == want),
            "skiffd unit: expected {want}, got:\n{show}"
        );
    }
    let enabled = c.sh("systemctl is-enabled skiffd").stdout;
    assert_eq!(
        enabled.trim(),
        "enabled",
        "skiffd should be enabled at boot"
    );

    let kind = c.ok("stat -c %F /run/skiff/api.sock");
    assert_eq!(
        kind.trim(),
        "socket",
        "/run/skiff/api.sock should be a socket"
    );
    let sock = c.ok("stat -c '%a %U %G' /run/skiff/api.sock");
    assert_eq!(
        sock.trim(),
        "660 root skiff",
        "mode/owner/group of /run/skiff/api.sock"
    );

    let db = c.ok("stat -c '%F|%a %U' /var/lib/skiff/skiff.db");
    assert_eq!(
        db.trim(),
        "regular file|600 root",
        "type, mode and owner of /var/lib/skiff/skiff.db"
    );

    let pw = c.ok("getent passwd skiff");
    assert!(pw.starts_with("skiff:"), "getent passwd skiff: {pw}");
    let gr = c.ok("getent group skiff");
    assert!(gr.starts_with("skiff:"), "getent group skiff: {gr}");

    // skiffd keeps only a few capabilities: never CAP_SYS_ADMIN, and nothing outside its bounding set.
    let status = c.ok("cat /proc/$(systemctl show skiffd -p MainPID --value)/status");
    let cap = |name: &str| -> u64 {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in skiffd's /proc status"));
        u64::from_str_radix(line.trim(), 16).unwrap_or_else(|e| panic!("{name} {line}: {e}"))
    };
    let (bnd, prm, eff) = (cap("CapBnd:"), cap("CapPrm:"), cap("CapEff:"));
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(
        bnd & CAP_SYS_ADMIN,
        0,
        "skiffd's bounding set has CAP_SYS_ADMIN: {bnd:#x}"
    );
    assert_eq!(
        prm & !bnd,
        0,
        "skiffd permits capabilities outside its bounding set: {prm:#x} vs {bnd:#x}"
    );
    assert_eq!(
        eff & !prm,
        0,
        "skiffd's effective set exceeds its permitted set: {eff:#x} vs {prm:#x}"
    );
    assert!(
        bnd.count_ones() <= 8,
        "skiffd keeps {} capabilities ({bnd:#x})",
        bnd.count_ones()
    );

    // The CLI is on PATH and reports the packaged version.
    let deb_name = c.ok(&format!("basename {DEB_MOUNT}/skiff_*.deb"));
    let version = deb_name
        .trim()
        .split('_')
        .nth(1)
        .expect("skiff_<version>_<arch>.deb")
        .to_string();
    let v = c.ok("skiff version");
    assert_contains(
        &v,
        &version,
        "`skiff version` should print the package version",
    );
}

/// Units of skiff's apps that systemd has loaded and not stopped: dynos, one-offs, builds, timers.
fn app_units(c: &Container) -> Vec<String> {
    c.ok("systemctl list-units 'skiff-*' --all --plain --no-legend --state=active,activating,reloading | cut -d' ' -f1")
        .lines()
        .map(str::to_owned)
        .filter(|u| !u.is_empty() && u != "skiff-caddy.service")
        .collect()
}

/// `apt-get remove` stops every dyno, one-off and timer and keeps the state; installing the
/// package again brings the app back from its database alone.
fn remove_stops_what_skiff_runs(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create keep");
    c.ok(
        "mkdir -p /root/keep && cd /root/keep && printf 'worker: sleep infinity\\n' > Procfile && \
         printf '{\"cron\": [{\"command\": \"true\", \"schedule\": \"@daily\"}]}' > app.json",
    );
    assert_contains(
        &c.ok("cd /root/keep && skiff deploy -a keep 2>&1"),
        "Released v1 of keep",
        "deploy",
    );
    c.ok("skiff ps:scale worker=1 -a keep");
    c.ok("skiff run:detached -a keep -- sleep 600");
    wait_until(Duration::from_secs(30), || {
        app_units(c)
            .iter()
            .any(|u| u == "skiff-keep.worker.1.v1.service")
    });
    let before = app_units(c);
    for want in [
        "skiff-keep.worker.1.v1.service",
        "skiff-keep.cron-1.v1.timer",
        "skiff-keep.run-1.service",
    ] {
        assert!(
            before.iter().any(|u| u == want),
            "{want} should run before the removal: {before:?}"
        );
    }

    c.ok("DEBIAN_FRONTEND=noninteractive apt-get remove -y skiff 2>&1");
    let after = app_units(c);
    assert!(
        after.is_empty(),
        "units of skiff still running after `apt-get remove skiff`: {after:?}"
    );
    c.ok("test -e /var/lib/skiff/skiff.db && test -e /etc/skiff/skiffd.toml");

    c.install_deb();
    let back = wait_until(Duration::from_secs(30), || {
        let units = app_units(c);
        units.iter().any(|u| u == "skiff-keep.worker.1.v1.service")
            && units.iter().any(|u| u == "skiff-keep.cron-1.v1.timer")
    });
    assert!(
        back,
        "reinstalling skiff did not start the app again: {:?}",
        app_units(c)
    );
}

fn purge_removes_state(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create doomed");
    c.ok("test -e /var/lib/skiff/skiff.db && test -e /etc/skiff/skiffd.toml");

    c.ok("DEBIAN_FRONTEND=noninteractive apt-get purge -y skiff 2>&1");

    for gone in [
        "/var/lib/skiff",
        "/etc/skiff",
        "/usr/bin/skiffd",
        "/usr/bin/skiff",
        "/run/skiff/api.sock",
    ] {
        let o = c.sh(&format!("test -e {gone} || test -L {gone}"));
        assert!(
            !o.success(),
            "{gone} should be gone after `apt-get purge skiff`; ls: {}",
            c.sh(&format!("ls -la {gone}")).stdout
        );
    }
    let active = c.sh("systemctl is-active skiffd").stdout;
    assert_ne!(
        active.trim(),
        "active",
        "skiffd is still active after purge"
    );
    let status = c.sh("dpkg-query -W -f '${db:Status-Abbrev}' skiff 2>&1");
    assert!(
        !status.success() || !status.stdout.starts_with("ii") && !status.stdout.starts_with("rc"),
        "dpkg still knows skiff after purge: {}",
        status.stdout
    );
}

/// Types `line` and two tabs into an interactive bash (on a pseudo-terminal, with Debian's
/// bash-completion loaded as a user's ~/.bashrc does) and prints what bash shows.
const TAB_PY: &str = r#"import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "dumb"
    os.execvp("bash", ["bash", "--rcfile", "/root/completion.rc", "-i"])
def read(secs):
    out, end = b"", time.time() + secs
    while time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out
read(1)
os.write(fd, sys.argv[1].encode() + b"\t\t")
sys.stdout.write(read(2).decode(errors="replace"))
os.write(fd, b"\x15exit\n")
read(0.5)
"#;

fn install_manuals_and_completions(c: &Container) {
    c.install_deb();
    let skiff = c.ok("MANWIDTH=100 man skiff 2>&1");
    for want in [
        "skiff - Drive skiff",
        "ps:scale",
        "apps:create",
        "alerts:add",
    ] {
        assert_contains(&skiff, want, "man skiff");
    }
    let verb = c.ok("MANWIDTH=100 man skiff-ps:scale 2>&1");
    assert_contains(&verb, "skiff-ps:scale", "man skiff-ps:scale");
    let daemon = c.ok("MANWIDTH=100 man 8 skiffd 2>&1");
    for want in [
        "skiffd - The skiff PaaS daemon",
        "--check-config",
        "/etc/skiff/skiffd.toml",
    ] {
        assert_contains(&daemon, want, "man skiffd");
    }
    c.ok(&format!(
        "cat > /root/completion.rc <<'EOF'\nPS1='$ '\n. /usr/share/bash-completion/bash_completion\nEOF\ncat > /root/tab.py <<'EOF'\n{TAB_PY}EOF"
    ));
    let verbs = c.ok("python3 /root/tab.py 'skiff ps:'");
    for want in ["scale", "restart", "resize", "stop"] {
        assert!(
            verbs.contains(want),
            "skiff ps:<TAB><TAB> lists {want}: {verbs:?}"
        );
    }
    let one = c.ok("python3 /root/tab.py 'skiff apps:cr'");
    assert!(
        one.contains("skiff apps:create "),
        "skiff apps:cr<TAB> completes: {one:?}"
    );
    let flag = c.ok("python3 /root/tab.py 'skiff ps:scale --ap'");
    assert!(flag.contains("--app "), "a verb's flags complete: {flag:?}");
    // zsh and fish find theirs where Debian's packages put completions.
    c.ok("test -s /usr/share/zsh/vendor-completions/_skiff && test -s /usr/share/fish/vendor_completions.d/skiff.fish");
}
