//! State survives what admins do to the daemon: restarts and reinstalls of the package.

use std::time::Duration;

use crate::apps::list_apps;
use crate::harness::{Container, DEB_MOUNT};
use crate::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "state_survives_restart",
            run: state_survives_restart,
        },
        Scenario {
            name: "state_survives_reinstall",
            run: state_survives_reinstall,
        },
    ]
}

fn main_pid(c: &Container) -> String {
    c.ok("systemctl show skiffd -p MainPID --value")
        .trim()
        .to_string()
}

fn state_survives_restart(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create keeper");
    let before = main_pid(c);

    c.ok("systemctl restart skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    let after = main_pid(c);
    assert_ne!(
        before, after,
        "skiffd's MainPID did not change across a restart"
    );
    assert_eq!(
        list_apps(c),
        vec!["keeper".to_string()],
        "apps after `systemctl restart skiffd`"
    );

    // A stop/start (socket file removed and recreated) works as well.
    c.ok("systemctl stop skiffd");
    c.ok("systemctl start skiffd");
    c.wait_active("skiffd", Duration::from_secs(30));
    assert_eq!(
        list_apps(c),
        vec!["keeper".to_string()],
        "apps after stop + start"
    );
    let sock = c.ok("stat -c '%a %U %G' /run/skiff/api.sock");
    assert_eq!(sock.trim(), "660 root skiff", "socket after stop + start");
}

fn state_survives_reinstall(c: &Container) {
    c.install_deb();
    c.ok("skiff apps:create keeper");
    c.ok("echo '# local edit kept across upgrades' >> /etc/skiff/skiffd.toml");

    c.ok(&format!("DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall {DEB_MOUNT}/skiff_*.deb 2>&1"));
    c.wait_active("skiffd", Duration::from_secs(30));
    assert_eq!(
        list_apps(c),
        vec!["keeper".to_string()],
        "apps after reinstalling the .deb"
    );
    let conf = c.ok("cat /etc/skiff/skiffd.toml");
    assert!(
        conf.contains("# local edit kept across upgrades"),
        "reinstall overwrote the conffile:\n{conf}"
    );

    // Removing (not purging) keeps the state too, and installing again brings it back.
    c.ok("DEBIAN_FRONTEND=noninteractive apt-get remove -y skiff 2>&1");
    c.ok("test -f /var/lib/skiff/skiff.db");
    c.install_deb();
    assert_eq!(
        list_apps(c),
        vec!["keeper".to_string()],
        "apps after remove + install"
    );
}
