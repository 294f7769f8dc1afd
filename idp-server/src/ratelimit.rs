//! Per-subject limits counted atomically in the ephemeral store (one
//! increment with a TTL, so parallel requests on any replica cannot exceed
//! them). Every counter of the server goes through [`Limit`]: the budgets of
//! anonymous state, the phone page, code sends, password attempts and
//! activation-code requests (the agents' console keeps its own lockout
//! counter, which audits the attempt that crosses it).

use std::time::Duration;

use crate::app::Core;
use crate::ephemeral::{Counter, EphemeralError, EphemeralStore, keys};

/// At most `max` events per `window` for one subject.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Names the refusals in the metrics, and the counter's keys
    /// (`rl:{name}:{subject}`) unless the caller gives its own
    /// ([`Limit::hit_key`]).
    pub name: &'static str,
    pub max: i64,
    pub window: Duration,
}

/// One event counted under `key`: the count it brought the counter to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

impl Limit {
    /// Counts one event for `subject`: `Some(seconds to wait)` once the
    /// limit is passed (a refusal, counted in the metrics by the limit's name).
    pub async fn hit(&self, core: &Core, subject: &str) -> Result<Option<u64>, EphemeralError> {
        self.hit_key(core, keys::rate_limit(self.name, subject))
            .await
    }

    /// [`Limit::hit`] under a key of the caller's (counters whose keys were
    /// named before `rl:{name}:`, kept as they are in `ephemeral::keys`).
    pub async fn hit_key(&self, core: &Core, key: String) -> Result<Option<u64>, EphemeralError> {
        let count = self.count(core, key).await?;
        if !self.passed(&count) {
            return Ok(None);
        }
        self.refuse(core, &count).await.map(Some)
    }

    /// [`Limit::hit_key`] of several limits in turn, in one round trip: each
    /// counts the event only if none before it was passed. Returns the index
    /// of the limit passed (its refusal recorded) and the seconds to wait.
    pub async fn hit_in_turn(
        core: &Core,
        hits: &[(Limit, String)],
    ) -> Result<Option<(usize, u64)>, EphemeralError> {
        let counters: Vec<Counter<'_>> = hits
            .iter()
            .map(|(limit, key)| Counter {
                key,
                window: limit.window,
                max: limit.max,
            })
            .collect();
        let counts = core.ephemeral.incr_in_turn(&counters).await?;
        for (index, ((limit, key), count)) in hits.iter().zip(counts).enumerate() {
            let count = Count {
                key: key.clone(),
                count,
            };
            if limit.passed(&count) {
                return Ok(Some((index, limit.refuse(core, &count).await?)));
            }
        }
        Ok(None)
    }

    /// Counts one event without deciding: for limits judged together
    /// (per address and per account), where only one refusal is recorded.
    pub async fn count(&self, core: &Core, key: String) -> Result<Count, EphemeralError> {
        let count = core.ephemeral.incr(&key, self.window).await?;
        Ok(Count { key, count })
    }

    /// True once `count` is over the limit.
    pub fn passed(&self, count: &Count) -> bool {
        count.count > self.max
    }

    /// Records a refusal and returns the seconds until the counter expires.
    pub async fn refuse(&self, core: &Core, count: &Count) -> Result<u64, EphemeralError> {
        core.metrics.rate_limited(self.name);
        let wait = core.ephemeral.ttl(&count.key).await?.unwrap_or(self.window);
        Ok(wait.as_secs().max(1))
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
