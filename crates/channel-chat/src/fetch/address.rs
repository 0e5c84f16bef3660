//! Which IP addresses attachment downloads may connect to.
//!
//! Two classes are refused:
//! - [`AddressClass::Internal`]: loopback, private (RFC 1918), shared
//!   address space (CGNAT, `100.64.0.0/10`), benchmarking, IPv6 unique-local
//!   and site-local: refused unless the operator sets
//!   `channels.chat.attachment_url_allow_private_networks` (for file hosts
//!   inside the operator's own network);
//! - [`AddressClass::Never`]: unspecified, broadcast, multicast, link-local
//!   (where the cloud metadata services live: `169.254.169.254`,
//!   `fd00:ec2::254`, ...), the metadata addresses outside link-local
//!   (`100.100.100.200`), documentation and reserved ranges: never fetched,
//!   whatever the configuration (no file server lives there, and the
//!   metadata services hand out credentials).
//!
//! IPv6 addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible,
//! NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the embedded one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A refused address's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Allowed: a public unicast address.
    Public,
    /// Loopback and private networks: allowed only when configured.
    Internal,
    /// Never fetched.
    Never,
}

/// Cloud metadata addresses outside the link-local ranges.
const METADATA_V4: [Ipv4Addr; 1] = [Ipv4Addr::new(100, 100, 100, 200)];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// The class of `ip`.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    const NEVER: [([u8; 4], u32); 10] = [
        ([0, 0, 0, 0], 8),      // "this network", unspecified
        ([169, 254, 0, 0], 16), // link-local, cloud metadata
        ([192, 0, 0, 0], 24),   // IETF protocol assignments
        ([192, 0, 2, 0], 24),   // documentation
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([192, 88, 99, 0], 24), // 6to4 relay anycast
        ([224, 0, 0, 0], 4),    // multicast
        ([240, 0, 0, 0], 4),    // reserved, broadcast
        ([255, 255, 255, 255], 32),
    ];
    const INTERNAL: [([u8; 4], u32); 6] = [
        ([127, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([100, 64, 0, 0], 10), // shared address space (CGNAT)
        ([198, 18, 0, 0], 15), // benchmarking
    ];
    if METADATA_V4.contains(&ip) || NEVER.iter().any(|(net, len)| in_v4(ip, *net, *len)) {
        AddressClass::Never
    } else if INTERNAL.iter().any(|(net, len)| in_v4(ip, *net, *len)) {
        AddressClass::Internal
    } else {
        AddressClass::Public
    }
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let never = ip.is_unspecified()
        || METADATA_V6.contains(&ip)
        || in_v6(ip, Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8) // multicast
        || in_v6(ip, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10) // link-local
        || in_v6(ip, Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0), 32) // documentation
        || in_v6(ip, Ipv6Addr::new(0x0100, 0, 0, 0, 0, 0, 0, 0), 64) // discard-only
        || in_v6(ip, Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23); // IETF protocol assignments
    let internal = ip.is_loopback()
        || in_v6(ip, Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7) // unique-local
        || in_v6(ip, Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10); // site-local (deprecated)
    if never {
        AddressClass::Never
    } else if internal {
        AddressClass::Internal
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    // IPv4-compatible `::a.b.c.d` (deprecated), not `::` and `::1`.
    if bits >> 32 == 0 && bits > 1 {
        return Some(low32);
    }
    if in_v6(ip, Ipv6Addr::new(0x0064, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some(low32);
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        let cases = [
            ("93.184.215.14", AddressClass::Public),
            ("8.8.8.8", AddressClass::Public),
            ("2606:4700::1111", AddressClass::Public),
            ("127.0.0.1", AddressClass::Internal),
            ("127.255.0.9", AddressClass::Internal),
            ("10.1.2.3", AddressClass::Internal),
            ("172.16.0.1", AddressClass::Internal),
            ("172.31.255.255", AddressClass::Internal),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.1.1", AddressClass::Internal),
            ("100.64.0.1", AddressClass::Internal),
            ("100.127.255.254", AddressClass::Internal),
            ("100.128.0.1", AddressClass::Public),
            ("198.18.0.1", AddressClass::Internal),
            ("::1", AddressClass::Internal),
            ("fd12:3456::1", AddressClass::Internal),
            ("fc00::1", AddressClass::Internal),
            ("::ffff:127.0.0.1", AddressClass::Internal),
            ("::ffff:10.0.0.1", AddressClass::Internal),
            ("64:ff9b::a00:1", AddressClass::Internal),
            ("2002:7f00:1::", AddressClass::Internal),
            ("0.0.0.0", AddressClass::Never),
            ("::", AddressClass::Never),
            ("169.254.169.254", AddressClass::Never),
            ("169.254.170.2", AddressClass::Never),
            ("100.100.100.200", AddressClass::Never),
            ("fd00:ec2::254", AddressClass::Never),
            ("fe80::1", AddressClass::Never),
            ("::ffff:169.254.169.254", AddressClass::Never),
            ("224.0.0.1", AddressClass::Never),
            ("239.255.255.250", AddressClass::Never),
            ("ff02::1", AddressClass::Never),
            ("255.255.255.255", AddressClass::Never),
            ("240.0.0.1", AddressClass::Never),
            ("192.0.2.1", AddressClass::Never),
            ("2001:db8::1", AddressClass::Never),
        ];
        for (text, class) in cases {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), class, "{text}");
        }
    }
}
