//! skiff's one nftables table, rendered from the DB (pure): every app's namespace reaches the
//! internet (masqueraded) when its egress is on, never another app's namespace nor the host's
//! own services (only the proxy's ports, as from anywhere); nothing from outside opens a
//! connection into a namespace; a namespace reaches the add-on servers of its app's add-ons at
//! the add-on address, and no other; and the proxy's connections to an app's service address are
//! mapped to the routed web dynos, so traffic switches here and the proxy's config stays.

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::model::{Namespace, VETH_PREFIX};

/// The table's family and name: `nft list table inet skiff`.
pub const TABLE: &str = "inet skiff";

/// One routed web dyno behind its app's service address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceRoute {
    pub service_addr: Ipv4Addr,
    pub service_port: u16,
    pub dyno_addr: Ipv4Addr,
    pub dyno_port: u16,
}

/// A namespace allowed to reach one add-on server at the add-on address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddonGrant {
    pub host_veth: String,
    pub from: Ipv4Addr,
    pub addon_addr: Ipv4Addr,
    pub port: u16,
}

/// Everything the table is rendered from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    pub namespaces: Vec<Namespace>,
    /// Every app's service address, routed or not: unmapped ports are refused at once.
    pub service_addrs: Vec<Ipv4Addr>,
    pub routes: Vec<ServiceRoute>,
    /// The proxy's HTTP and HTTPS ports on the host, which namespaces may reach.
    pub proxy_ports: Vec<u16>,
    /// The add-on servers each namespace may reach: those of the add-ons its app is attached to.
    pub addon_grants: Vec<AddonGrant>,
}

fn set<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("{{ {} }}", items.join(", "))
}

/// The nft script that replaces the table atomically (one transaction: create it if missing,
/// delete it, define it anew).
pub fn render(rules: &RuleSet) -> String {
    let mut out = format!("table {TABLE} {{}}\ndelete table {TABLE}\n");
    out.push_str(&render_table(rules));
    out
}

fn render_table(rules: &RuleSet) -> String {
    let any = format!("\"{VETH_PREFIX}*\"");
    let mut routes: Vec<&ServiceRoute> = rules.routes.iter().collect();
    routes.sort();
    // By the host end of the veth, which a process inside cannot change.
    let mut egress: Vec<String> = rules
        .namespaces
        .iter()
        .filter(|n| n.egress)
        .map(|n| format!("\"{}\"", n.host_veth))
        .collect();
    egress.sort();
    let mut t = format!("table {TABLE} {{\n");
    t.push_str(
        "  map service_routes {\n    type ipv4_addr . inet_service : ipv4_addr . inet_service\n",
    );
    if !routes.is_empty() {
        let elements = routes.iter().map(|r| {
            format!(
                "{} . {} : {} . {}",
                r.service_addr, r.service_port, r.dyno_addr, r.dyno_port
            )
        });
        let _ = writeln!(t, "    elements = {}", set(elements));
    }
    t.push_str("  }\n");
    t.push_str("  chain service_nat {\n    type nat hook output priority -100; policy accept;\n    dnat ip to ip daddr . tcp dport map @service_routes\n  }\n");
    t.push_str(
        "  chain service_refuse {\n    type filter hook output priority 0; policy accept;\n",
    );
    if !rules.service_addrs.is_empty() {
        let mut addrs = rules.service_addrs.clone();
        addrs.sort();
        let _ = writeln!(t, "    ip daddr {} reject with tcp reset", set(addrs));
    }
    t.push_str("  }\n");
    t.push_str(
        "  chain egress_nat {\n    type nat hook postrouting priority 100; policy accept;\n",
    );
    if !egress.is_empty() {
        let _ = writeln!(
            t,
            "    iifname {} oifname != {any} masquerade",
            set(&egress)
        );
    }
    t.push_str("  }\n");
    let _ = write!(
        t,
        "  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    \
         iifname {any} oifname {any} drop\n    \
         oifname {any} ct state established,related accept\n    \
         oifname {any} drop\n    \
         iifname {any} ip daddr 169.254.0.0/16 drop\n"
    );
    if !egress.is_empty() {
        let _ = writeln!(t, "    iifname {} accept", set(&egress));
    }
    let _ = writeln!(t, "    iifname {any} drop\n  }}");
    render_input(&mut t, rules);
    t.push_str("}\n");
    t
}

/// The input chain: what a namespace may reach on the host (the proxy, its add-on servers).
fn render_input(t: &mut String, rules: &RuleSet) {
    let any = format!("\"{VETH_PREFIX}*\"");
    let _ = write!(
        *t,
        "  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
         iifname {any} ct state established,related accept\n"
    );
    if !rules.proxy_ports.is_empty() {
        let _ = writeln!(
            *t,
            "    iifname {any} tcp dport {} accept",
            set(&rules.proxy_ports)
        );
    }
    let mut grants = rules.addon_grants.clone();
    grants.sort();
    grants.dedup();
    for g in grants {
        // By the host end of the veth and the source address together: a process inside can
        // change neither its packets' interface nor (past the rp filter) pass as another app.
        let _ = writeln!(
            *t,
            "    iifname \"{}\" ip saddr {} ip daddr {} tcp dport {} accept",
            g.host_veth, g.from, g.addon_addr, g.port
        );
    }
    let _ = writeln!(t, "    iifname {any} drop\n  }}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, veth: &str, addr: &str, egress: bool) -> Namespace {
        Namespace {
            name: name.into(),
            host_veth: veth.into(),
            host_addr: "10.213.0.1".parse().unwrap(),
            namespace_addr: addr.parse().unwrap(),
            egress,
        }
    }

    fn grant(veth: &str, from: &str, port: u16) -> AddonGrant {
        AddonGrant {
            host_veth: veth.into(),
            from: from.parse().unwrap(),
            addon_addr: "10.213.255.241".parse().unwrap(),
            port,
        }
    }

    fn route(service: &str, port: u16, dyno: &str, dyno_port: u16) -> ServiceRoute {
        ServiceRoute {
            service_addr: service.parse().unwrap(),
            service_port: port,
            dyno_addr: dyno.parse().unwrap(),
            dyno_port,
        }
    }

    #[test]
    fn two_apps_one_without_egress() {
        let rules = RuleSet {
            namespaces: vec![
                ns("skiff-shop", "skiff0", "10.213.0.2", true),
                ns("skiff-shop.build", "skiff0b", "10.213.0.10", true),
                ns("skiff-blog", "skiff1", "10.213.0.18", false),
            ],
            service_addrs: vec![
                "10.213.0.19".parse().unwrap(),
                "10.213.0.3".parse().unwrap(),
            ],
            routes: vec![
                route("10.213.0.3", 10002, "10.213.0.2", 20001),
                route("10.213.0.3", 10001, "10.213.0.2", 20000),
            ],
            proxy_ports: vec![80, 443],
            addon_grants: vec![
                grant("skiff1", "10.213.0.18", 6379),
                grant("skiff0", "10.213.0.2", 5433),
                grant("skiff1", "10.213.0.18", 5433),
            ],
        };
        let expected = r#"table inet skiff {}
delete table inet skiff
table inet skiff {
  map service_routes {
    type ipv4_addr . inet_service : ipv4_addr . inet_service
    elements = { 10.213.0.3 . 10001 : 10.213.0.2 . 20000, 10.213.0.3 . 10002 : 10.213.0.2 . 20001 }
  }
  chain service_nat {
    type nat hook output priority -100; policy accept;
    dnat ip to ip daddr . tcp dport map @service_routes
  }
  chain service_refuse {
    type filter hook output priority 0; policy accept;
    ip daddr { 10.213.0.3, 10.213.0.19 } reject with tcp reset
  }
  chain egress_nat {
    type nat hook postrouting priority 100; policy accept;
    iifname { "skiff0", "skiff0b" } oifname != "skiff*" masquerade
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "skiff*" oifname "skiff*" drop
    oifname "skiff*" ct state established,related accept
    oifname "skiff*" drop
    iifname "skiff*" ip daddr 169.254.0.0/16 drop
    iifname { "skiff0", "skiff0b" } accept
    iifname "skiff*" drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "skiff*" ct state established,related accept
    iifname "skiff*" tcp dport { 80, 443 } accept
    iifname "skiff0" ip saddr 10.213.0.2 ip daddr 10.213.255.241 tcp dport 5433 accept
    iifname "skiff1" ip saddr 10.213.0.18 ip daddr 10.213.255.241 tcp dport 5433 accept
    iifname "skiff1" ip saddr 10.213.0.18 ip daddr 10.213.255.241 tcp dport 6379 accept
    iifname "skiff*" drop
  }
}
"#;
        assert_eq!(render(&rules), expected);
    }

    #[test]
    fn without_apps_the_table_only_closes_namespaces_off() {
        let text = render(&RuleSet::default());
        assert!(!text.contains("elements"), "{text}");
        assert!(!text.contains("masquerade"), "{text}");
        assert!(!text.contains("reject"), "{text}");
        assert!(text.contains("iifname \"skiff*\" drop"), "{text}");
        assert!(!text.contains("{  }"), "no empty set: {text}");
    }

    #[test]
    fn an_app_without_egress_is_neither_masqueraded_nor_forwarded() {
        let rules = RuleSet {
            namespaces: vec![ns("skiff-blog", "skiff1", "10.213.0.18", false)],
            ..RuleSet::default()
        };
        let text = render(&rules);
        assert!(!text.contains("\"skiff1\""), "{text}");
        assert!(
            text.contains("    iifname \"skiff*\" drop\n  }\n  chain input"),
            "{text}"
        );
    }
}
