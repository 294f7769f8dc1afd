//! Per-subject limits counted atomically in the ephemeral store (one
//! increment with a TTL, so parallel requests on any replica cannot exceed
//! them).

use std::time::Duration;

use crate::app::Core;
use crate::ephemeral::{EphemeralError, EphemeralStore};

/// At most `max` events per `window` for one subject.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Names the counter's keys (`rl:{name}:{subject}`).
    pub name: &'static str,
    pub max: i64,
    pub window: Duration,
}

impl Limit {
    /// Counts one event for `subject`: `Some(seconds to wait)` once the
    /// limit is passed (a refusal, counted in the metrics by the limit's name).
    pub async fn hit(&self, core: &Core, subject: &str) -> Result<Option<u64>, EphemeralError> {
        let eph = &core.ephemeral;
        let key = format!("rl:{}:{subject}", self.name);
        if eph.incr(&key, self.window).await? <= self.max {
            return Ok(None);
        }
        core.metrics.rate_limited(self.name);
        let wait = eph.ttl(&key).await?.unwrap_or(self.window);
        Ok(Some(wait.as_secs().max(1)))
    }
}

/// The unit a per-address limit counts: an IPv4 address, an IPv6 /64 (which
/// one subscriber usually has whole).
pub fn address_bucket(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_canonical().to_string(),
        _ => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::address_bucket;

    #[test]
    fn addresses_count_by_ipv4_address_or_ipv6_64() {
        assert_eq!(address_bucket("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_bucket("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_bucket("2001:db8:1:2:ffff::9"),
            address_bucket("2001:db8:1:2::1")
        );
        assert_ne!(
            address_bucket("2001:db8:1:3::1"),
            address_bucket("2001:db8:1:2::1")
        );
        assert_eq!(address_bucket("::ffff:203.0.113.7"), "203.0.113.7");
    }
}
