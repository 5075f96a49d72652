//! Which addresses webhooks and notice_url may reach: global unicast only (the semantics of
//! `Ipv4Addr::is_global` / `Ipv6Addr::is_global`, still unstable in std).
//!
//! IPv6 is an allow-list: only 2000::/3 (global unicast) minus its special-purpose blocks. The
//! forms that carry an IPv4 address (mapped, compatible, translated, NAT64, 6to4, Teredo) are
//! judged by the IPv4 address they lead to, so `[64:ff9b::7f00:1]` is loopback, not public.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 blocks that are not globally reachable unicast (IANA special-purpose registry, plus
/// multicast and the reserved 240/4 that includes broadcast): (network, prefix length).
const REFUSED_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // shared address space (carrier-grade NAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (cloud metadata lives here)
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking (fake-IP proxies use it)
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and 255.255.255.255
];

/// Whether an address may receive webhooks without `--allow-private-webhooks`.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_block(ip: u32, network: [u8; 4], prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    ip & mask == u32::from_be_bytes(network) & mask
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !REFUSED_V4.iter().any(|(network, prefix)| in_block(bits, *network, *prefix))
}

fn v4_of(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    match s {
        // IPv4-mapped ::ffff:a.b.c.d and IPv4-translated ::ffff:0:a.b.c.d.
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0, 0, 0, 0, 0xffff, 0, high, low] => {
            is_public_v4(v4_of(high, low))
        }
        // :: and ::1 are not IPv4-compatible addresses; they are refused below.
        [0, 0, 0, 0, 0, 0, 0, 0] | [0, 0, 0, 0, 0, 0, 0, 1] => false,
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
        [0, 0, 0, 0, 0, 0, high, low] => is_public_v4(v4_of(high, low)),
        // NAT64 well-known prefix 64:ff9b::/96 translates to the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => is_public_v4(v4_of(high, low)),
        // Teredo 2001:0::/32: the server's address, then the client's (bits inverted).
        [0x2001, 0, server_high, server_low, _, _, client_high, client_low] => {
            is_public_v4(v4_of(server_high, server_low))
                && is_public_v4(v4_of(!client_high, !client_low))
        }
        // 6to4 2002:a.b.c.d::/48 is relayed to the embedded IPv4 address.
        [0x2002, high, low, ..] => is_public_v4(v4_of(high, low)),
        _ => is_global_unicast_v6(s),
    }
}

/// 2000::/3 minus its blocks that are not globally reachable; everything outside 2000::/3 (ULA,
/// link-local, multicast, discard, the local-use NAT64 64:ff9b:1::/48, SRv6 SIDs...) is refused.
fn is_global_unicast_v6(s: [u16; 8]) -> bool {
    let in_global_unicast = (s[0] & 0xe000) == 0x2000;
    let ietf_assignments = s[0] == 0x2001 && s[1] < 0x0200; // 2001::/23 (Teredo handled above)
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0; // 3fff::/20
    in_global_unicast && !ietf_assignments && !documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) {
        assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
    }

    fn allowed(ip: &str) {
        assert!(is_public(ip.parse().unwrap()), "{ip} must be allowed");
    }

    #[test]
    fn ipv4_special_purpose_ranges_are_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "172.16.5.4",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.9",
            "192.0.2.10",
            "192.88.99.1",
            "192.168.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            refused(ip);
        }
    }

    #[test]
    fn ipv4_global_unicast_is_allowed_up_to_the_range_edges() {
        for ip in [
            "8.8.8.8",
            "52.78.100.19",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
        ] {
            allowed(ip);
        }
    }

    #[test]
    fn ipv6_embedding_an_ipv4_address_is_judged_by_that_address() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::7f00:1",
            "::169.254.169.254",
            "::ffff:0:7f00:1",
            "::ffff:0:198.18.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::192.0.2.1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            // Teredo with a private server or a client that is 127.0.0.1 (inverted bits).
            "2001:0:a00:1::8000:0",
            "2001:0:808:808::80ff:fffe",
        ] {
            refused(ip);
        }
        for ip in [
            "::ffff:8.8.8.8",
            "::808:808",
            "::ffff:0:808:808",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            // Teredo: server 8.8.8.8, client 1.1.1.1 (stored inverted as fefe:fefe).
            "2001:0:808:808::fefe:fefe",
        ] {
            allowed(ip);
        }
    }

    #[test]
    fn ipv6_outside_global_unicast_or_in_its_special_blocks_is_refused() {
        for ip in [
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "100::1",
            "64:ff9b:1::7f00:1",
            "64:ff9b:1::8.8.8.8",
            "5f00::1",
            "2001:db8::1",
            "3fff::1",
            "2001:2::1",
            "2001:1::1",
            "2001:10::1",
            "4000::1",
        ] {
            refused(ip);
        }
        for ip in ["2001:4860:4860::8888", "2404:6800:4004:80f::200e", "2600::1", "2a00:1450::1"] {
            allowed(ip);
        }
    }
}
