//! Where a webhook may point: the URL's shape, and the addresses its host resolves to.
//!
//! A webhook makes the server send requests on a user's behalf, so without a check it is a
//! way into the server's own network (SSRF). Unless the operator allows private targets,
//! every address a host resolves to must be a public unicast one; the check runs when the
//! hook is created (to refuse it with the reason) and again at every delivery, and the
//! delivery connects to exactly the addresses that passed, so a name that resolves
//! differently the second time (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest URL a hook may have.
pub const MAX_URL_BYTES: usize = 2048;

/// A parsed webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host as written (no brackets around an IPv6 literal), for TLS and resolving.
    pub host: String,
    pub port: u16,
    /// The `Host` header: host and, when not the scheme's default, port.
    pub authority: String,
    /// Path and query of the request line.
    pub path: String,
}

/// Parses a hook URL: `http://` or `https://`, a host, optionally a port, path and query; no
/// user name or password, no fragment.
///
/// # Errors
/// A one-line reason.
pub fn parse(url: &str) -> Result<Target, String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!("the URL is longer than {MAX_URL_BYTES} bytes"));
    }
    if url.contains('#') {
        return Err("the URL may not have a fragment (#…)".into());
    }
    let uri: hyper::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(format!("the URL's scheme is {other}; only http and https are allowed")),
        None => return Err(format!("{url:?} is not an absolute http:// or https:// URL")),
    };
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err("the URL may not hold a user name or password".into());
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    Ok(Target { https, host, port, authority: authority.as_str().to_string(), path })
}

/// Why `ip` may not be a webhook target unless private targets are allowed; `None` when it
/// is a public unicast address.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                return Some("a loopback address");
            }
            if v6.is_unspecified() {
                return Some("the unspecified address");
            }
            let seg = v6.segments();
            if seg[0] & 0xfe00 == 0xfc00 {
                return Some("a private (unique local) address");
            }
            if seg[0] & 0xffc0 == 0xfe80 {
                return Some("a link-local address");
            }
            if seg[0] & 0xff00 == 0xff00 {
                return Some("a multicast address");
            }
            // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d) and NAT64
            // (64:ff9b::a.b.c.d) reach the IPv4 address they carry.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            if seg[..6] == [0, 0, 0, 0, 0, 0] {
                return refused_v4(embedded_v4(v6));
            }
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return refused_v4(embedded_v4(v6));
            }
            None
        }
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() || a == 0 {
        Some("the unspecified (\"this network\") address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_broadcast() || ip.is_multicast() {
        Some("not a unicast address")
    } else {
        None
    }
}

/// The addresses to connect to for `t`: every address its host resolves to, each of which
/// must pass [`refused`] unless `allow_private`.
///
/// # Errors
/// A one-line reason: the name does not resolve, or an address is refused.
pub async fn resolve(t: &Target, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = match t.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, t.port)],
        Err(_) => tokio::net::lookup_host((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("{} does not resolve: {e}", t.host))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{} resolves to no address", t.host));
    }
    if !allow_private {
        for a in &addrs {
            if let Some(why) = refused(a.ip()) {
                return Err(format!(
                    "{} is {why}; webhooks may not call into the server's own network \
                     (the operator can allow it with --webhook-allow-private)",
                    if a.ip().to_string() == t.host {
                        t.host.clone()
                    } else {
                        format!("{} ({})", t.host, a.ip())
                    }
                ));
            }
        }
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_their_mapped_forms_are_refused() {
        for bad in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(refused(ip).is_some(), "{bad} should be refused");
        }
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert_eq!(refused(ip), None, "{good} should pass");
        }
    }

    #[test]
    fn urls_are_http_or_https_with_a_host_and_no_credentials() {
        let t = parse("https://hooks.example.com/in?x=1").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str(), t.authority.as_str()),
            (true, "hooks.example.com", 443, "/in?x=1", "hooks.example.com")
        );
        let t = parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str(), t.authority.as_str()),
            ("::1", 8080, "/", "[::1]:8080")
        );
        for bad in ["ftp://x/", "/relative", "http://user:pw@x/", "http://x/#frag", "not a url", "http:///p"]
        {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
