//! Tarball intake: an upload whose symlinks only escape the tree when resolved through each
//! other (a lexical check would pass them) is refused by the deploy, writes nothing outside its
//! build directory and makes no release.

use crate::harness::{assert_contains, Container};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "intake_chained_link_escape",
        run: intake_chained_link_escape,
    }]
}

/// Nine `..` from the unpacked tree (`/var/lib/skiff/apps/APP/builds/ID/app`) reach `/`:
/// `chain.tar` climbs through `y -> .` and then writes through its link; in `reroute.tar` the
/// link `a` stays inside until the later `b -> .` re-routes it.
const CHAIN_CALLS: &str = r#"up = "/".join(["y"] * 9 + [".."] * 9)
proc = ("Procfile", "file", None)
tar("/root/chain.tar", [proc, ("y", "link", "."), ("x", "link", up),
    ("x/tmp/chain-evil", "file", None), ("x/var/lib/skiff/chain-evil", "file", None)])
tar("/root/reroute.tar", [proc, ("a", "link", up.replace("y", "b")), ("b", "link", ".")])
EOF
python3 /root/mkchain.py"#;

fn intake_chained_link_escape(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create chain");
    c.ok(&format!(
        "cat > /root/mkchain.py <<'EOF'\n{}{CHAIN_CALLS}",
        crate::deploys::TAR_PY
    ));
    for (tarball, message) in [
        ("chain", r#"symlink "x" points outside the app"#),
        ("reroute", r#"symlink "a" points outside the app"#),
    ] {
        let out = c.sh(&format!(
            "skiff deploy --tar /root/{tarball}.tar -a chain 2>&1"
        ));
        assert!(!out.success(), "{tarball}.tar was accepted: {}", out.stdout);
        assert_contains(&out.stdout, message, tarball);
    }
    let leaked = c.sh(
        "ls -d /tmp/chain-evil /var/lib/skiff/chain-evil 2>/dev/null; \
         find /tmp /var/lib/skiff /root /etc -name '*-evil' 2>/dev/null",
    );
    assert!(
        leaked.stdout.trim().is_empty(),
        "files written outside the build directory: {}",
        leaked.stdout
    );
    let builds = c.sh("ls -A /var/lib/skiff/apps/chain/builds 2>/dev/null");
    assert!(
        builds.stdout.trim().is_empty(),
        "a refused upload leaves no build workspace: {}",
        builds.stdout
    );
    let releases = c.json("skiff releases -a chain --json");
    assert!(
        releases.as_array().is_some_and(Vec::is_empty),
        "refused uploads make no release: {releases}"
    );
}
