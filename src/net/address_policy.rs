//! Which network addresses Chasqui may connect to on a tenant's behalf (business webhooks): a
//! pure classification of IP addresses and host names, and the operator's allow-list. No I/O;
//! the resolver in [`super::guard`] applies it to what DNS answers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// What kind of address an IP is, as far as reaching it from a tenant's URL matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Routable on the public internet.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 169.254.0.0/16 (cloud metadata lives here), fe80::/10.
    LinkLocal,
    /// RFC 1918, carrier-grade NAT 100.64.0.0/10, site-local fec0::/10, local-use NAT64.
    Private,
    /// fc00::/7.
    UniqueLocal,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 0.0.0.0/8, :: (connecting to them reaches this host).
    Unspecified,
    /// Documentation, benchmarking, protocol-assignment, broadcast and other special-purpose
    /// ranges that no receiver on the internet has.
    Reserved,
}

/// Classifies `ip`. An IPv6 address that embeds an IPv4 one (IPv4-mapped, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) is classified by the IPv4 address it leads to.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (169, 254, _) => AddressClass::LinkLocal,
        (10, _, _) | (192, 168, _) => AddressClass::Private,
        (172, 16..=31, _) => AddressClass::Private,
        // Shared address space (RFC 6598): the carrier's or the operator's own network.
        (100, 64..=127, _) => AddressClass::Private,
        (224..=239, _, _) => AddressClass::Multicast,
        // 240.0.0.0/4 (future use) and 255.255.255.255 (broadcast).
        (240..=255, _, _) => AddressClass::Reserved,
        // IETF protocol assignments (192.0.0.0/24, NAT64 discovery among them), the
        // documentation nets, the deprecated 6to4 relay anycast and benchmarking (198.18/15).
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (192, 88, 99) => {
            AddressClass::Reserved
        }
        (198, 18..=19, _) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => AddressClass::Unspecified,
        [0, 0, 0, 0, 0, 0, 0, 1] => AddressClass::Loopback,
        // IPv4-compatible (::a.b.c.d, deprecated): never a real receiver.
        [0, 0, 0, 0, 0, 0, _, _] => AddressClass::Reserved,
        _ if s[0] & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        _ if s[0] & 0xffc0 == 0xfec0 => AddressClass::Private,
        _ if s[0] & 0xfe00 == 0xfc00 => AddressClass::UniqueLocal,
        _ if s[0] & 0xff00 == 0xff00 => AddressClass::Multicast,
        // Local-use NAT64 (RFC 8215): translates into the operator's own IPv4 network.
        [0x64, 0xff9b, 1, ..] => AddressClass::Private,
        // Discard-only (100::/64), Teredo (2001::/32), documentation (2001:db8::/32, 3fff::/20).
        [0x100, 0, 0, 0, ..] | [0x2001, 0, ..] | [0x2001, 0xdb8, ..] => AddressClass::Reserved,
        _ if s[0] == 0x3fff && s[1] & 0xf000 == 0 => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

/// The IPv4 address an IPv6 one leads to, for the forms that embed one: IPv4-mapped
/// (`::ffff:a.b.c.d`), well-known NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// What a URL's host is, before any DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// An IP literal (the `url` crate has already turned `2130706433`, `0x7f000001` and
    /// `0177.0.0.1` into dotted form).
    Ip(IpAddr),
    /// `localhost` or a name under `.localhost`, which resolve to loopback (RFC 6761).
    Localhost,
    /// A name DNS must resolve.
    Name(String),
}

/// Reads a host as `url::Url::host_str` gives it (IPv6 in brackets).
pub fn host_kind(host: &str) -> HostKind {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return HostKind::Ip(ip);
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        HostKind::Localhost
    } else {
        HostKind::Name(name)
    }
}

/// Why an address or URL is not reachable under the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The address is of a class the policy refuses and no allow-list entry covers it.
    #[error("the address is {0:?}, which business webhooks may not reach")]
    Forbidden(AddressClass),
    /// DNS answered only refused addresses.
    #[error("the host resolves only to addresses business webhooks may not reach")]
    NoPermittedAddress,
}

/// The rule for addresses Chasqui connects to on a tenant's behalf: public addresses, plus the
/// operator's `allow_private` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    /// Public addresses plus `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// The allow-list.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allow
    }

    /// Whether Chasqui may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let class = classify(ip);
        if class == AddressClass::Public || self.allows(ip) {
            return Ok(());
        }
        Err(Refusal::Forbidden(class))
    }

    /// Whether an allow-list entry covers `ip`, or the IPv4 address it embeds (so
    /// `127.0.0.0/8` covers `::ffff:127.0.0.1` too).
    fn allows(&self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allow
            .iter()
            .any(|net| net.contains(&ip) || v4.is_some_and(|v4| net.contains(&v4)))
    }

    /// The verdict on a host that needs no DNS (an IP literal or `localhost`); `None` for a name
    /// DNS must resolve.
    pub fn check_host(&self, host: &HostKind) -> Option<Result<(), Refusal>> {
        match host {
            HostKind::Ip(ip) => Some(self.check(*ip)),
            // One allowed loopback is enough: the resolver filter drops the other.
            HostKind::Localhost => Some(
                self.check(IpAddr::V4(Ipv4Addr::LOCALHOST))
                    .or_else(|_| self.check(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            ),
            HostKind::Name(_) => None,
        }
    }
}

/// Parses one `allow_private` entry: a CIDR range, or a bare address (a range of one).
pub fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        // `10.1.2.3/24` means the network it is in.
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is not a CIDR range (e.g. 10.1.2.0/24) or an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn internal_addresses_are_classified() {
        use AddressClass::*;
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("::1", Loopback),
            ("169.254.169.254", LinkLocal),
            ("fe80::1", LinkLocal),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.0.1", Private),
            ("100.64.0.1", Private),
            ("fec0::1", Private),
            ("64:ff9b:1::a00:1", Private),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("ff02::1", Multicast),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("::", Unspecified),
            ("255.255.255.255", Reserved),
            ("240.0.0.1", Reserved),
            ("192.0.2.1", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.0.170", Reserved),
            ("2001:db8::1", Reserved),
            ("3fff::1", Reserved),
            ("2001::1", Reserved),
            ("::7f00:1", Reserved),
            ("100::1", Reserved),
        ];
        for (addr, class) in cases {
            assert_eq!(classify(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn embedded_ipv4_is_classified_by_where_it_leads() {
        assert_eq!(classify(ip("::ffff:127.0.0.1")), AddressClass::Loopback);
        assert_eq!(
            classify(ip("::ffff:169.254.169.254")),
            AddressClass::LinkLocal
        );
        assert_eq!(classify(ip("::ffff:10.0.0.1")), AddressClass::Private);
        assert_eq!(classify(ip("64:ff9b::10.0.0.1")), AddressClass::Private);
        assert_eq!(classify(ip("64:ff9b::7f00:1")), AddressClass::Loopback);
        assert_eq!(classify(ip("2002:c0a8:0001::1")), AddressClass::Private);
        assert_eq!(classify(ip("2002:7f00:1::")), AddressClass::Loopback);
        assert_eq!(classify(ip("::ffff:8.8.8.8")), AddressClass::Public);
        assert_eq!(classify(ip("64:ff9b::8.8.8.8")), AddressClass::Public);
    }

    #[test]
    fn public_addresses_are_public() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(classify(ip(addr)), AddressClass::Public, "{addr}");
        }
    }

    #[test]
    fn hosts_are_read_as_the_url_crate_normalises_them() {
        for (url, want) in [
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f000001/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1"),
            ("http://[::1]:8080/x", "::1"),
        ] {
            let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            let host = host_kind(parsed.host_str().unwrap_or(""));
            assert_eq!(host, HostKind::Ip(ip(want)), "{url}");
        }
        assert_eq!(host_kind("LocalHost."), HostKind::Localhost);
        assert_eq!(host_kind("api.localhost"), HostKind::Localhost);
        assert_eq!(
            host_kind("hooks.example.com"),
            HostKind::Name("hooks.example.com".into())
        );
    }

    #[test]
    fn the_default_policy_refuses_every_internal_class() {
        let policy = AddressPolicy::default();
        assert!(policy.check(ip("8.8.8.8")).is_ok());
        for addr in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "169.254.169.254",
            "::ffff:10.0.0.1",
        ] {
            assert!(policy.check(ip(addr)).is_err(), "{addr}");
        }
        assert!(matches!(
            policy.check_host(&HostKind::Localhost),
            Some(Err(Refusal::Forbidden(AddressClass::Loopback)))
        ));
        assert_eq!(policy.check_host(&HostKind::Name("x.com".into())), None);
    }

    #[test]
    fn allowed_ranges_let_exactly_their_addresses_through() {
        let policy = AddressPolicy::new(vec![
            parse_range("10.1.2.0/24").expect("range"),
            parse_range("127.0.0.1").expect("bare address"),
        ]);
        assert!(policy.check(ip("10.1.2.77")).is_ok());
        assert!(policy.check(ip("::ffff:10.1.2.77")).is_ok());
        assert!(policy.check(ip("10.1.3.1")).is_err());
        assert!(policy.check(ip("127.0.0.1")).is_ok());
        assert!(policy.check(ip("127.0.0.2")).is_err());
        assert!(policy.check(ip("::1")).is_err());
        // One loopback allowed is enough for `localhost`: the resolver filter drops the other.
        assert_eq!(policy.check_host(&HostKind::Localhost), Some(Ok(())));
    }

    #[test]
    fn ranges_parse_with_or_without_a_prefix() {
        assert_eq!(
            parse_range("10.1.2.3/24").map(|n| n.to_string()),
            Ok("10.1.2.0/24".into())
        );
        assert_eq!(
            parse_range(" ::1 ").map(|n| n.to_string()),
            Ok("::1/128".into())
        );
        assert!(parse_range("10.1.2.0/33").is_err());
        assert!(parse_range("intranet").is_err());
    }
}
