//! Where a download of a user's file may go: to addresses on the public internet only. A user
//! who can name a file's URL (a Smooch web client sets `mediaUrl` itself) could otherwise make
//! the function fetch its own Lambda Runtime API on 127.0.0.1, or a private network, and hand
//! the answer to an agent. The host of the channel's own API is trusted wherever it is, so local
//! runs and tests with fakes on loopback still work.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which hosts a client may reach.
#[derive(Debug, Clone)]
pub(crate) enum Destinations {
    /// An API the deployment configured: anywhere.
    Any,
    /// Users' files: public addresses, and the channel API's host.
    Public { trusted_host: Option<String> },
}

impl Destinations {
    /// Whether `url` may be asked for. Host names are checked again when resolved
    /// ([`PublicResolver`]); here only addresses written in the URL are.
    pub(crate) fn allow(&self, url: &Url) -> bool {
        let Self::Public { trusted_host } = self else { return true };
        let Some(host) = url.host_str() else { return false };
        if trusted_host.as_deref() == Some(host) {
            return true;
        }
        match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => is_public(ip),
            Err(_) => true,
        }
    }
}

/// Resolves host names to their public addresses only (all of them for the trusted host).
#[derive(Debug)]
pub(crate) struct PublicResolver {
    pub(crate) trusted_host: Option<String>,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let trusted = self.trusted_host.as_deref() == Some(host.as_str());
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| trusted || is_public(a.ip())).collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// An address on the public internet: not loopback, private, link-local, shared (carrier NAT),
/// documentation, benchmarking, multicast, broadcast or unspecified.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => is_public_v4(mapped),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_link_local_and_shared_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_url_with_a_private_address_is_refused_unless_it_is_the_trusted_host() {
        let public = Destinations::Public { trusted_host: Some("127.0.0.1".into()) };
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(public.allow(&url("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next")), "the trusted host");
        assert!(!public.allow(&url("http://[::1]:9001/")));
        assert!(!public.allow(&url("http://169.254.169.254/latest/meta-data/")));
        assert!(public.allow(&url("https://media.smooch.io/a.png")), "names are checked when resolved");
        assert!(Destinations::Any.allow(&url("http://10.0.0.1/")));
    }
}
