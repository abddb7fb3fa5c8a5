//! The host's IPv4 routes from `/proc/net/route` (pure parsing), to refuse a `dyno_network`
//! range that would shadow one of them.

use std::net::Ipv4Addr;

use crate::model::{NetworkRange, VETH_PREFIX};

/// One route: its interface and destination network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    pub interface: String,
    pub destination: Ipv4Addr,
    pub prefix: u8,
}

/// `/proc/net/route` prints addresses as the hex of their bytes read as a little-endian u32.
fn kernel_hex(raw: &str) -> Option<Ipv4Addr> {
    let value = u32::from_str_radix(raw, 16).ok()?;
    Some(Ipv4Addr::from(value.to_le_bytes()))
}

/// Routes in the file's text (the header and malformed lines are skipped).
pub fn parse_routes(text: &str) -> Vec<HostRoute> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = kernel_hex(fields.get(1)?)?;
            let mask = kernel_hex(fields.get(7)?)?;
            Some(HostRoute {
                interface: fields[0].to_owned(),
                destination,
                prefix: u32::from(mask).count_ones() as u8,
            })
        })
        .collect()
}

/// The first route other than the default one and skiff's own veths that shares addresses
/// with `range`.
pub fn overlapping_route<'a>(
    range: &NetworkRange,
    routes: &'a [HostRoute],
) -> Option<&'a HostRoute> {
    routes.iter().find(|r| {
        r.prefix > 0
            && !r.interface.starts_with(VETH_PREFIX)
            && range.overlaps(r.destination, r.prefix)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
skiff0\t0000D50A\t00000000\t0001\t0\t0\t0\tF8FFFFFF\t0\t0\t0
wg0\t0000D50A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
broken line
";

    #[test]
    fn routes_are_read_in_network_order() {
        let routes = parse_routes(ROUTES);
        assert_eq!(routes.len(), 4);
        assert_eq!(
            routes[1],
            HostRoute {
                interface: "eth0".into(),
                destination: "192.0.2.0".parse().unwrap(),
                prefix: 24,
            }
        );
        assert_eq!(
            routes[2].destination,
            "10.213.0.0".parse::<Ipv4Addr>().unwrap()
        );
        assert_eq!(routes[2].prefix, 29);
    }

    #[test]
    fn only_foreign_specific_routes_count_as_overlaps() {
        let routes = parse_routes(ROUTES);
        let range: NetworkRange = "10.213.0.0/16".parse().unwrap();
        assert_eq!(overlapping_route(&range, &routes).unwrap().interface, "wg0");
        let other: NetworkRange = "10.214.0.0/16".parse().unwrap();
        assert_eq!(overlapping_route(&other, &routes), None);
        let lan: NetworkRange = "192.0.0.0/16".parse().unwrap();
        assert_eq!(overlapping_route(&lan, &routes).unwrap().interface, "eth0");
    }
}
