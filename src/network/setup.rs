//! The `ip` commands that make one namespace and its veth pair exist (pure): what is missing is
//! created, what exists is left alone, so dynos already inside keep their network.

use crate::model::{Namespace, NAMESPACE_INTERFACE, SUBNET_PREFIX};
use crate::systemd::properties::HostCommand;

/// iproute2's `ip`, at the path both merged and unmerged Debian systems have.
pub const IP: &str = "/sbin/ip";

/// What of a namespace is there now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// `/run/netns/NAME` exists.
    pub namespace: bool,
    /// The host end of its veth pair exists.
    pub veth: bool,
}

impl Presence {
    pub fn complete(self) -> bool {
        self.namespace && self.veth
    }
}

fn ip(args: &[&str]) -> HostCommand {
    let mut argv = vec![IP.to_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    HostCommand {
        argv,
        ignore_failure: false,
    }
}

/// The interface that holds the add-on address: loopback, which every host has (a dummy
/// interface would need a kernel module a container cannot load). Packets from a namespace to
/// an address of the host are delivered locally whichever interface holds it.
pub const ADDON_LINK: &str = "lo";

/// The command that makes the add-on address exist: idempotent (`replace` adds the address or
/// keeps it).
pub fn addon_address_commands(addr: std::net::Ipv4Addr) -> Vec<HostCommand> {
    vec![ip(&[
        "addr",
        "replace",
        &format!("{addr}/32"),
        "dev",
        ADDON_LINK,
    ])]
}

/// Whether `/proc/net/fib_trie` (its text) lists `addr` as a local address of the host.
pub fn is_local_address(fib_trie: &str, addr: std::net::Ipv4Addr) -> bool {
    let entry = format!("|-- {addr}");
    let mut lines = fib_trie.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == entry
            && lines
                .next()
                .is_some_and(|next| next.ends_with("host LOCAL"))
        {
            return true;
        }
    }
    false
}

/// The commands that complete `ns` from what is `present` (none when it is complete).
pub fn setup_commands(ns: &Namespace, present: Presence) -> Vec<HostCommand> {
    let name = ns.name.as_str();
    let veth = ns.host_veth.as_str();
    let host_addr = format!("{}/{SUBNET_PREFIX}", ns.host_addr);
    let inner_addr = format!("{}/{SUBNET_PREFIX}", ns.namespace_addr);
    let gateway = ns.host_addr.to_string();
    let mut commands = Vec::new();
    if !present.namespace {
        if present.veth {
            // The host end of a namespace that is gone: its pair goes with it.
            commands.push(ip(&["link", "delete", veth]));
        }
        commands.push(ip(&["netns", "add", name]));
        commands.push(ip(&["-n", name, "link", "set", "lo", "up"]));
    }
    if !present.namespace || !present.veth {
        commands.extend([
            ip(&[
                "link",
                "add",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                NAMESPACE_INTERFACE,
                "netns",
                name,
            ]),
            ip(&["addr", "add", &host_addr, "dev", veth]),
            ip(&["link", "set", veth, "up"]),
            ip(&[
                "-n",
                name,
                "addr",
                "add",
                &inner_addr,
                "dev",
                NAMESPACE_INTERFACE,
            ]),
            ip(&["-n", name, "link", "set", NAMESPACE_INTERFACE, "up"]),
            ip(&["-n", name, "route", "add", "default", "via", &gateway]),
        ]);
    }
    commands
}

/// The commands that give the namespace at `old_path` a second name, `new_path` (for a renamed
/// app): a bind mount of the same namespace, so dynos inside keep their network and the veth, named
/// by slot, stays. The old name goes later like any stray namespace's, once no dyno holds it.
pub fn carry_over_commands(old_path: &str, new_path: &str) -> Vec<HostCommand> {
    vec![
        HostCommand {
            argv: vec!["/bin/touch".to_owned(), new_path.to_owned()],
            ignore_failure: false,
        },
        HostCommand {
            argv: vec![
                "/bin/mount".to_owned(),
                "--bind".to_owned(),
                old_path.to_owned(),
                new_path.to_owned(),
            ],
            ignore_failure: false,
        },
    ]
}

/// The command that removes a namespace (its veth pair goes with it once no process is
/// inside); it may find it gone already.
pub fn teardown_commands(name: &str) -> Vec<HostCommand> {
    vec![HostCommand {
        ignore_failure: true,
        ..ip(&["netns", "delete", name])
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace() -> Namespace {
        Namespace {
            name: "skiff-shop".into(),
            host_veth: "skiff3".into(),
            host_addr: "10.213.0.49".parse().unwrap(),
            namespace_addr: "10.213.0.50".parse().unwrap(),
            egress: true,
        }
    }

    fn lines(commands: &[HostCommand]) -> Vec<String> {
        commands
            .iter()
            .map(|c| {
                let line = c.argv[1..].join(" ");
                if c.ignore_failure {
                    format!("-{line}")
                } else {
                    line
                }
            })
            .collect()
    }

    const VETH: [&str; 6] = [
        "link add skiff3 type veth peer name eth0 netns skiff-shop",
        "addr add 10.213.0.49/29 dev skiff3",
        "link set skiff3 up",
        "-n skiff-shop addr add 10.213.0.50/29 dev eth0",
        "-n skiff-shop link set eth0 up",
        "-n skiff-shop route add default via 10.213.0.49",
    ];

    #[test]
    fn only_what_is_missing_is_made() {
        let nothing = Presence {
            namespace: false,
            veth: false,
        };
        let mut all = vec!["netns add skiff-shop", "-n skiff-shop link set lo up"];
        all.extend(VETH);
        for (present, expected) in [
            (nothing, all.clone()),
            (
                Presence {
                    namespace: true,
                    veth: false,
                },
                VETH.to_vec(),
            ),
            (
                Presence {
                    namespace: false,
                    veth: true,
                },
                [vec!["link delete skiff3"], all.clone()].concat(),
            ),
            (
                Presence {
                    namespace: true,
                    veth: true,
                },
                vec![],
            ),
        ] {
            let commands = setup_commands(&namespace(), present);
            assert_eq!(lines(&commands), expected, "{present:?}");
            assert!(commands
                .iter()
                .all(|c| c.argv[0] == IP && !c.ignore_failure));
            assert_eq!(present.complete(), expected.is_empty());
        }
    }

    #[test]
    fn a_carried_over_namespace_is_the_same_one_under_a_second_name() {
        let argv: Vec<Vec<String>> =
            carry_over_commands("/run/netns/skiff-shop", "/run/netns/skiff-store")
                .into_iter()
                .map(|c| {
                    assert!(!c.ignore_failure, "{c:?}");
                    c.argv
                })
                .collect();
        assert_eq!(
            argv,
            [
                vec!["/bin/touch", "/run/netns/skiff-store"],
                vec![
                    "/bin/mount",
                    "--bind",
                    "/run/netns/skiff-shop",
                    "/run/netns/skiff-store"
                ],
            ]
        );
    }

    #[test]
    fn teardown_tolerates_parts_already_gone() {
        assert_eq!(
            lines(&teardown_commands("skiff-shop")),
            ["-netns delete skiff-shop"]
        );
    }

    #[test]
    fn the_addon_address_is_one_idempotent_loopback_address() {
        let commands = addon_address_commands("10.213.255.241".parse().unwrap());
        let lines: Vec<String> = commands.iter().map(|c| c.argv.join(" ")).collect();
        assert_eq!(lines, ["/sbin/ip addr replace 10.213.255.241/32 dev lo"]);
        assert!(!commands[0].ignore_failure);
    }

    #[test]
    fn local_addresses_are_read_from_the_fib_trie() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.213.255.241\n        /32 host LOCAL\n\
                    \x20    |-- 10.213.0.1\n        /29 link UNICAST\n     |-- 127.0.0.1\n        /32 host LOCAL\n";
        assert!(is_local_address(trie, "10.213.255.241".parse().unwrap()));
        assert!(is_local_address(trie, "127.0.0.1".parse().unwrap()));
        assert!(
            !is_local_address(trie, "10.213.0.1".parse().unwrap()),
            "a route, not an address"
        );
        assert!(!is_local_address(trie, "10.213.255.24".parse().unwrap()));
    }
}
