//! Where a webhook may be sent: `http`/`https` URLs on public addresses.
//! A URL naming a loopback, private, link-local (cloud metadata), shared,
//! multicast or unspecified address is refused when the subscription is
//! made; a host name is resolved again at every delivery and a name that
//! leads to such an address is not connected to (the client's resolver
//! itself drops them, so a DNS answer that changes between the check and
//! the connection cannot slip through). `WEBHOOK_ALLOW_PRIVATE_NETWORKS`
//! turns both checks off, for development and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// The longest URL taken.
const MAX_URL: usize = 2048;

/// Reads a subscription's URL; why not, for the client.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    if text.len() > MAX_URL {
        return Err(format!("must be at most {MAX_URL} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be http or https".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold credentials".into());
    }
    let Some(host) = url.host() else {
        return Err("must name a host".into());
    };
    if allow_private {
        return Ok(url);
    }
    let refused = match host {
        url::Host::Ipv4(ip) => forbidden(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => forbidden(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal")
        }
    };
    if refused {
        return Err("must not be a loopback, private, link-local or metadata address".into());
    }
    Ok(url)
}

/// Whether the URL's host is an address (not a name) that may not be
/// reached: checked again before each delivery, since the resolver is not
/// asked for an address given as such.
pub fn literal_forbidden(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => forbidden(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => forbidden(IpAddr::V6(ip)),
        _ => false,
    }
}

/// Addresses a webhook never goes to.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => v4_forbidden(ip),
        IpAddr::V6(ip) => {
            if embedded_v4(ip).into_iter().any(v4_forbidden) {
                return true;
            }
            let [first, second, ..] = ip.segments();
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                // fc00::/7 unique local (AWS's metadata is fd00:ec2::254).
                || (first & 0xfe00) == 0xfc00
                // fe80::/10 link-local, fec0::/10 (old) site-local.
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // 64:ff9b::/96 and 64:ff9b:1::/48: NAT64 of any IPv4 address.
                || (first == 0x64 && second == 0xff9b)
        }
    }
}

/// The IPv4 addresses an IPv6 address carries, and reaches through a
/// translator or tunnel: IPv4-compatible `::a.b.c.d`, mapped
/// `::ffff:a.b.c.d`, translated `::ffff:0:a.b.c.d`, 6to4 `2002:AABB:CCDD::`
/// and Teredo `2001:0:S:S::C:C` (the server's address and the client's,
/// inverted).
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    let mut found = Vec::new();
    if s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff) {
        found.push(v4(s[6], s[7]));
    }
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        found.push(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        found.push(v4(s[1], s[2]));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        found.push(v4(s[2], s[3]));
        found.push(v4(!s[6], !s[7]));
    }
    found
}

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64/10 shared address space (carrier NAT).
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0/24 protocol assignments.
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        // 198.18/15 benchmarking.
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

/// The client's resolver: the system's, without forbidden addresses. A
/// name with none left is an error (the attempt fails and is retried).
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| !forbidden(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_link_local_and_metadata_addresses_are_refused() {
        for url in [
            "http://127.0.0.1/hook",
            "http://127.1.2.3:8080/",
            "http://10.0.0.5/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[::169.254.169.254]/",
            "http://[::ffff:0:10.0.0.1]/",
            "http://[::ffff:0:7f00:1]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[2002:c0a8:0101::]/",
            "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://localhost:8080/",
            "http://metadata.google.internal/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url} when allowed");
        }
    }

    #[test]
    fn public_http_and_https_urls_are_taken_and_other_schemes_are_not() {
        for url in [
            "https://hooks.example.com/in",
            "http://93.184.216.34:8080/x",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert!(check_url(url, true).is_err(), "{url}");
        }
    }

    #[test]
    fn public_addresses_are_not_forbidden() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "2002:5db8:d822::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
        assert!(forbidden(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)));
    }
}
