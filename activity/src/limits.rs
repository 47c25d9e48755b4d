//! Rate limits (GCRA via governor): a burst, then a steady rate; a caller over a limit gets 429
//! with `Retry-After`.
//!
//! Verified callers are limited per Discord user. The token exchange runs before anyone is
//! verified, so it is limited per client address and, all addresses together, below what
//! Discord tolerates of refused tokens (10,000 invalid requests in 10 minutes ban the server's
//! address); per user only once Discord has said whose token it is. A caller can spend only
//! its own address's share, never a guild's or a member's.

use crate::error::ApiError;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;

/// A steady rate and the burst allowed on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    pub const fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        Self { per_minute, burst }
    }

    fn quota(self) -> Quota {
        Quota::per_minute(self.per_minute).allow_burst(self.burst)
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

pub struct Limits {
    users: Keyed<String>,
    addresses: Keyed<IpAddr>,
    exchanges: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
    clock: DefaultClock,
}

impl Limits {
    /// `user` per verified user, `address` per client address and `exchanges` for all
    /// unverified token exchanges together.
    pub fn new(user: Rate, address: Rate, exchanges: Rate) -> Self {
        fn keyed<K: Clone + Hash + Eq>(rate: Rate, clock: &DefaultClock) -> Keyed<K> {
            RateLimiter::new(
                rate.quota(),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            )
        }
        let clock = DefaultClock::default();
        Self {
            users: keyed(user, &clock),
            addresses: keyed(address, &clock),
            exchanges: RateLimiter::direct_with_clock(exchanges.quota(), clock.clone()),
            clock,
        }
    }

    fn refused(&self, not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
        ApiError::rate_limited(not_until.wait_time_from(self.clock.now()))
    }

    fn check_key<K: Clone + Hash + Eq>(&self, limiter: &Keyed<K>, key: &K) -> Result<(), ApiError> {
        limiter.check_key(key).map_err(|n| self.refused(n))
    }

    /// Counts one request of the verified user `key`; refuses it when over the quota.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.check_key(&self.users, &key.to_string())
    }

    /// Counts one unverified token exchange from `client`: its address first, so an address
    /// over its own quota spends nothing of everyone's.
    pub fn check_exchange(&self, client: IpAddr) -> Result<(), ApiError> {
        self.check_key(&self.addresses, &address_key(client))?;
        self.exchanges.check().map_err(|n| self.refused(n))
    }

    /// Drops the state of keys that are back to a full quota, so memory follows active callers.
    pub fn forget_idle(&self) {
        self.users.retain_recent();
        self.addresses.retain_recent();
    }
}

/// The key of an address: IPv6 by its /64, which one subscriber usually holds whole.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        v4 => v4,
    }
}

/// The client's address. With no trusted proxy (`hops` 0) it is the peer's; behind `hops`
/// proxies that each append the address they received from to `X-Forwarded-For`, it is the
/// `hops`-th entry from the right: what the outermost proxy saw. Entries further left are the
/// client's own claims and are never used. A request with fewer entries, or one that does not
/// parse, did not come through the proxies, and counts as its peer.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, hops: usize) -> IpAddr {
    if hops == 0 {
        return peer.ip();
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|i| {
            let entry = entries[i];
            entry
                .parse::<IpAddr>()
                .ok()
                .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        })
        .unwrap_or(peer.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", v.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let peer: SocketAddr = "10.0.0.7:40000".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let claimed = headers(&["6.6.6.6, 203.0.113.9"]);
        assert_eq!(client_address(peer, &claimed, 0), ip("10.0.0.7"));
        assert_eq!(client_address(peer, &claimed, 1), ip("203.0.113.9"));
        assert_eq!(client_address(peer, &claimed, 2), ip("6.6.6.6"));
        // Fewer entries than proxies, or garbage: the peer.
        assert_eq!(client_address(peer, &claimed, 3), ip("10.0.0.7"));
        assert_eq!(
            client_address(peer, &headers(&["nonsense"]), 1),
            ip("10.0.0.7")
        );
        assert_eq!(client_address(peer, &HeaderMap::new(), 1), ip("10.0.0.7"));
        // Several headers are one list; ports are dropped.
        let split = headers(&["6.6.6.6", "[2001:db8::1]:443"]);
        assert_eq!(client_address(peer, &split, 1), ip("2001:db8::1"));
    }

    #[test]
    fn ipv6_addresses_share_their_64_bit_prefix() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn one_address_over_its_quota_leaves_the_others_theirs() {
        let one = NonZeroU32::new(1).unwrap();
        let limits = Limits::new(
            Rate::new(one, one),
            Rate::new(one, NonZeroU32::new(2).unwrap()),
            Rate::new(one, NonZeroU32::new(4).unwrap()),
        );
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert!(limits.check_exchange(a).is_ok());
        assert!(limits.check_exchange(a).is_ok());
        for _ in 0..5 {
            assert!(limits.check_exchange(a).is_err());
        }
        // The refusals spent nothing of the global quota.
        assert!(limits.check_exchange(b).is_ok());
        assert!(limits.check_exchange(b).is_ok());
        let c = "192.0.2.3".parse().unwrap();
        assert!(
            limits.check_exchange(c).is_err(),
            "the global quota is spent"
        );
    }
}
