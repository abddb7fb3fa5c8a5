//! An app's private network as domain data: its slot in the `dyno_network` range and everything
//! that follows from the slot (namespace and veth names, addresses, the stable service address
//! the proxy dials), and whether its dynos reach the internet.
//!
//! Each slot is a /28 of the range: its first /29 is the app's dyno network (host end `.1`, the
//! namespace `.2`, the service address `.3`, which only the nftables rules answer), its second
//! /29 the app's build network (host end `.9`, the namespace `.10`). The range's last slot is no
//! app's: its first address is the **add-on address**, where skiff's Postgres and Redis servers
//! listen for the namespaces of the apps attached to them.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::{AppName, DynoName};

/// Addresses per slot (a /28).
const SLOT_SIZE: u32 = 16;
/// Prefix length of each of the two subnets of a slot.
pub const SUBNET_PREFIX: u8 = 29;
/// The proxy dials web dyno `web.N` of an app at its service address, port `SERVICE_PORT_BASE + N`.
pub const SERVICE_PORT_BASE: u16 = 10000;
/// The interface name inside every namespace.
pub const NAMESPACE_INTERFACE: &str = "eth0";
/// Every host-side veth skiff owns starts with this; the rules match them with `skiff*`.
pub const VETH_PREFIX: &str = "skiff";
/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// A private IPv4 range for apps' networks, written as CIDR (`10.213.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkRange {
    base: Ipv4Addr,
    prefix: u8,
}

impl NetworkRange {
    pub fn base(&self) -> Ipv4Addr {
        self.base
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// How many apps fit: one per slot, but for the last slot, which holds the add-on address.
    pub fn capacity(&self) -> u32 {
        self.slots() - 1
    }

    fn slots(&self) -> u32 {
        1 << (32 - u32::from(self.prefix)) >> 4
    }

    /// Where add-on servers listen: the first address of the range's last slot.
    pub fn addon_addr(&self) -> Ipv4Addr {
        self.address(NetworkSlot(self.slots() - 1), 1)
    }

    /// Whether this range shares an address with `net/prefix`.
    pub fn overlaps(&self, net: Ipv4Addr, prefix: u8) -> bool {
        let shorter = self.prefix.min(prefix);
        mask(self.base, shorter) == mask(net, shorter)
    }

    fn address(&self, slot: NetworkSlot, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + slot.0 * SLOT_SIZE + offset)
    }
}

fn mask(addr: Ipv4Addr, prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::from(addr) & (u32::MAX << (32 - u32::from(p))),
    }
}

impl FromStr for NetworkRange {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "dyno_network {raw:?} must be an IPv4 range like \"10.213.0.0/16\" (a /27 or wider, \
                 its base address aligned to its length) or \"host\""
            )
        };
        let (addr, prefix) = raw.trim().split_once('/').ok_or_else(err)?;
        let base: Ipv4Addr = addr.parse().map_err(|_| err())?;
        let prefix: u8 = prefix.parse().map_err(|_| err())?;
        if !(8..=27).contains(&prefix) || mask(base, prefix) != u32::from(base) {
            return Err(err());
        }
        Ok(Self { base, prefix })
    }
}

impl fmt::Display for NetworkRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// An app's index in the range, persisted with the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetworkSlot(u32);

impl NetworkSlot {
    pub fn new(index: u32) -> Self {
        Self(index)
    }

    pub fn index(self) -> u32 {
        self.0
    }

    /// The lowest slot not in `taken` below `capacity`, if any is free.
    pub fn lowest_free(taken: &[NetworkSlot], capacity: u32) -> Option<NetworkSlot> {
        (0..capacity)
            .map(NetworkSlot)
            .find(|slot| !taken.contains(slot))
    }
}

/// The two namespaces of an app: its dynos' (web, workers, one-offs, cron jobs, release phase)
/// and its builds' (which always reach the internet, to fetch dependencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NetworkKind {
    Dynos,
    Build,
}

/// One network namespace and the veth pair joining it to the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Namespace {
    pub name: String,
    pub host_veth: String,
    pub host_addr: Ipv4Addr,
    pub namespace_addr: Ipv4Addr,
    pub egress: bool,
}

impl Namespace {
    /// The file systemd joins with `NetworkNamespacePath=`.
    pub fn path(&self) -> String {
        format!("{NETNS_DIR}/{}", self.name)
    }
}

/// An app's network as the DB keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppNetwork {
    pub app: AppName,
    pub slot: NetworkSlot,
    /// Whether the app's dynos reach the internet.
    pub egress: bool,
}

/// The namespace name of `app`'s dynos or builds. A `.` never occurs in app names, so the two
/// kinds and different apps never collide.
pub fn namespace_name(app: &AppName, kind: NetworkKind) -> String {
    match kind {
        NetworkKind::Dynos => format!("skiff-{app}"),
        NetworkKind::Build => format!("skiff-{app}.build"),
    }
}

/// The app and kind a namespace name belongs to, if it is one of skiff's.
pub fn parse_namespace_name(name: &str) -> Option<(AppName, NetworkKind)> {
    let body = name.strip_prefix("skiff-")?;
    let (app, kind) = match body.strip_suffix(".build") {
        Some(app) => (app, NetworkKind::Build),
        None => (body, NetworkKind::Dynos),
    };
    AppName::parse(app).ok().map(|app| (app, kind))
}

impl AppNetwork {
    pub fn namespace(&self, range: &NetworkRange, kind: NetworkKind) -> Namespace {
        let (offset, veth, egress) = match kind {
            NetworkKind::Dynos => (0, format!("{VETH_PREFIX}{}", self.slot.0), self.egress),
            NetworkKind::Build => (8, format!("{VETH_PREFIX}{}b", self.slot.0), true),
        };
        Namespace {
            name: namespace_name(&self.app, kind),
            host_veth: veth,
            host_addr: range.address(self.slot, offset + 1),
            namespace_addr: range.address(self.slot, offset + 2),
            egress,
        }
    }

    /// Both namespaces of the app.
    pub fn namespaces(&self, range: &NetworkRange) -> [Namespace; 2] {
        [
            self.namespace(range, NetworkKind::Dynos),
            self.namespace(range, NetworkKind::Build),
        ]
    }
}

/// The stable address the proxy dials for an app's web dynos; the rules map its ports to the
/// routed dynos, so a deploy or restart changes the rules and never the proxy's config.
pub fn service_addr(range: &NetworkRange, slot: NetworkSlot) -> Ipv4Addr {
    range.address(slot, 3)
}

/// The service port of web dyno `dyno` (`web.2` → 10002).
pub fn service_port(dyno: &DynoName) -> u16 {
    let index = u16::try_from(dyno.index).unwrap_or(u16::MAX - SERVICE_PORT_BASE);
    SERVICE_PORT_BASE.saturating_add(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(raw: &str) -> NetworkRange {
        raw.parse().unwrap()
    }

    fn network(app: &str, slot: u32, egress: bool) -> AppNetwork {
        AppNetwork {
            app: AppName::parse(app).unwrap(),
            slot: NetworkSlot::new(slot),
            egress,
        }
    }

    #[test]
    fn ranges_parse_only_aligned_ipv4_cidrs_wide_enough_for_a_slot() {
        for (raw, ok) in [
            ("10.213.0.0/16", true),
            (" 172.29.0.0/24 ", true),
            ("10.0.0.0/8", true),
            ("10.213.0.32/27", true),
            ("10.213.0.16/28", false),
            ("10.213.0.1/16", false),
            ("10.213.0.0", false),
            ("10.213.0.0/x", false),
            ("fd00::/64", false),
            ("host", false),
            ("0.0.0.0/0", false),
        ] {
            assert_eq!(raw.parse::<NetworkRange>().is_ok(), ok, "{raw}");
        }
        let e = "10.213.0.1/16".parse::<NetworkRange>().unwrap_err();
        assert!(e.contains("dyno_network \"10.213.0.1/16\""), "{e}");
    }

    #[test]
    fn capacity_is_one_app_per_16_addresses_but_the_last_which_holds_add_ons() {
        assert_eq!(range("10.213.0.0/16").capacity(), 4095);
        assert_eq!(range("10.213.0.0/24").capacity(), 15);
        assert_eq!(range("10.213.0.0/27").capacity(), 1);
        assert_eq!(range("10.213.0.0/16").to_string(), "10.213.0.0/16");
        let addon = range("10.213.0.0/16").addon_addr();
        assert_eq!(addon, "10.213.255.241".parse::<Ipv4Addr>().unwrap());
        let last_app = network("last", 4094, false);
        for ns in last_app.namespaces(&range("10.213.0.0/16")) {
            assert!(ns.namespace_addr < addon && ns.host_addr < addon, "{ns:?}");
        }
        assert_eq!(
            range("10.213.0.0/27").addon_addr().to_string(),
            "10.213.0.17"
        );
    }

    #[test]
    fn overlap_is_any_shared_address() {
        let r = range("10.213.0.0/16");
        for (net, prefix, overlaps) in [
            ("10.213.5.0", 24, true),
            ("10.0.0.0", 8, true),
            ("10.214.0.0", 16, false),
            ("192.168.1.0", 24, false),
            ("10.213.255.255", 32, true),
            ("10.212.255.255", 32, false),
        ] {
            assert_eq!(
                r.overlaps(net.parse().unwrap(), prefix),
                overlaps,
                "{net}/{prefix}"
            );
        }
    }

    #[test]
    fn lowest_free_slot_fills_gaps_and_knows_when_full() {
        let s = NetworkSlot::new;
        assert_eq!(NetworkSlot::lowest_free(&[], 4), Some(s(0)));
        assert_eq!(NetworkSlot::lowest_free(&[s(0), s(2)], 4), Some(s(1)));
        assert_eq!(NetworkSlot::lowest_free(&[s(1), s(0)], 4), Some(s(2)));
        assert_eq!(NetworkSlot::lowest_free(&[s(0), s(1)], 2), None);
    }

    #[test]
    fn a_slot_gives_two_namespaces_in_its_own_16_addresses() {
        let r = range("10.213.0.0/16");
        let [dynos, build] = network("shop", 17, false).namespaces(&r);
        assert_eq!(
            dynos,
            Namespace {
                name: "skiff-shop".into(),
                host_veth: "skiff17".into(),
                host_addr: "10.213.1.17".parse().unwrap(),
                namespace_addr: "10.213.1.18".parse().unwrap(),
                egress: false,
            }
        );
        assert_eq!(
            build,
            Namespace {
                name: "skiff-shop.build".into(),
                host_veth: "skiff17b".into(),
                host_addr: "10.213.1.25".parse().unwrap(),
                namespace_addr: "10.213.1.26".parse().unwrap(),
                egress: true,
            }
        );
        assert_eq!(dynos.path(), "/run/netns/skiff-shop");
        assert_eq!(
            service_addr(&r, NetworkSlot::new(17)),
            "10.213.1.19".parse::<Ipv4Addr>().unwrap()
        );
        // The longest veth name fits Linux's 15 characters.
        let last = network("abc", r.capacity() - 1, true);
        assert!(last.namespace(&r, NetworkKind::Build).host_veth.len() <= 15);
    }

    #[test]
    fn namespace_names_round_trip_and_foreign_ones_are_not_ours() {
        let app = AppName::parse("my-app").unwrap();
        for kind in [NetworkKind::Dynos, NetworkKind::Build] {
            let name = namespace_name(&app, kind);
            assert_eq!(parse_namespace_name(&name), Some((app.clone(), kind)));
        }
        for foreign in [
            "docker",
            "skiff-",
            "skiff-Bad",
            "skiff-a.b.build",
            "cni-1234",
        ] {
            assert_eq!(parse_namespace_name(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn service_ports_follow_the_dyno_index() {
        assert_eq!(service_port(&DynoName::parse("web.1").unwrap()), 10001);
        assert_eq!(service_port(&DynoName::parse("web.100").unwrap()), 10100);
    }
}
