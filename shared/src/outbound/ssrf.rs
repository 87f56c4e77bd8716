//! Server-side request forgery guard, applied when a delivery is sent (after DNS resolution,
//! so a public name pointing at a private address is refused too): loopback, private,
//! link-local (cloud metadata at 169.254.169.254), unspecified, multicast, shared, documentation
//! and unique-local addresses are refused unless the operator allow-lists a range
//! (`DELIVERY_ALLOWED_CIDRS`, e.g. `127.0.0.0/8` for the local stack).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Parses a comma-separated list of CIDR ranges.
    pub fn parse(ranges: &str) -> Result<Self, String> {
        let allowed = ranges
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| {
                r.parse::<IpNet>()
                    .map_err(|e| format!("DELIVERY_ALLOWED_CIDRS: {r}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    pub fn permits(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        self.allowed.iter().any(|range| range.contains(&address)) || is_public(address)
    }
}

fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// The error a refused destination fails with.
#[derive(Debug)]
pub struct DestinationRefused(pub String);

impl std::fmt::Display for DestinationRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "destination refused: {}", self.0)
    }
}

impl std::error::Error for DestinationRefused {}

/// A DNS resolver for the delivery client that drops refused addresses, so the connection is
/// made only to an address that was checked.
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved.into_iter().filter(|a| policy.permits(a.ip())).collect();
            if permitted.is_empty() {
                return Err(Box::new(DestinationRefused(format!(
                    "{host} resolves only to non-public addresses"
                ))) as _);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused_unless_allow_listed() {
        let strict = AddressPolicy::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!strict.permits(refused.parse().unwrap()), "{refused}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(strict.permits(public.parse().unwrap()), "{public}");
        }
        let local = AddressPolicy::parse("127.0.0.0/8, ::1/128").unwrap();
        assert!(local.permits("127.0.0.1".parse().unwrap()));
        assert!(local.permits("::1".parse().unwrap()));
        assert!(!local.permits("169.254.169.254".parse().unwrap()));
        assert!(AddressPolicy::parse("not-a-range").is_err());
    }
}
