//! How often one client address or one account may try a password: keyed
//! GCRA limiters (governor), with memory bounded however many keys come.
//!
//! A key whose bucket has filled up again is forgotten (`retain_recent`), so
//! the map holds only keys that tried recently; past `max_keys` every new
//! attempt is refused until keys expire, so an attacker with many addresses
//! or emails can slow logins down but cannot grow the process.

use std::{
    hash::{BuildHasher, Hash},
    net::IpAddr,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};

/// How often the map is swept of expired keys at most, once it is full.
const SWEEP_WHEN_FULL_EVERY: Duration = Duration::from_secs(1);
/// Swept at least once per this many checks, full or not.
const SWEEP_EVERY_CHECKS: u64 = 512;

pub struct Throttle<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    /// The time to refill one attempt: what a refused caller waits at least.
    period: Duration,
    max_keys: usize,
    sweep: Mutex<(u64, Instant)>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// `burst` attempts at once, then one more every `period`.
    pub fn new(burst: u32, period: Duration, max_keys: usize) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let period = period.max(Duration::from_millis(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            limiter: DefaultKeyedRateLimiter::dashmap(quota),
            period,
            max_keys,
            sweep: Mutex::new((0, Instant::now())),
        }
    }

    /// `burst` attempts, refilled evenly over a minute.
    pub fn per_minute(burst: u32, max_keys: usize) -> Self {
        Self::new(burst, Duration::from_secs(60) / burst.max(1), max_keys)
    }

    /// `burst` attempts, refilled evenly over an hour.
    pub fn per_hour(burst: u32, max_keys: usize) -> Self {
        Self::new(burst, Duration::from_secs(3600) / burst.max(1), max_keys)
    }

    /// Takes one attempt for `key`, or says how long until the next is allowed.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.over_capacity() {
            return Err(self.period);
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// How many keys are remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Sweeps now and then; true when the map is still full after that.
    fn over_capacity(&self) -> bool {
        let full = self.limiter.len() >= self.max_keys;
        let due = {
            let mut s = self.sweep.lock().unwrap_or_else(|p| p.into_inner());
            s.0 += 1;
            let due = s.0.is_multiple_of(SWEEP_EVERY_CHECKS)
                || (full && s.1.elapsed() >= SWEEP_WHEN_FULL_EVERY);
            if due {
                s.1 = Instant::now();
            }
            due
        };
        if due {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.len() >= self.max_keys
    }
}

/// The address of the client behind `peer`. A peer in `trusted` (a reverse
/// proxy such as Traefik) forwards for someone else: then the client is the
/// rightmost `X-Forwarded-For` entry that is not itself a trusted proxy, as
/// entries left of that are whatever the client chose to send.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(|entry| entry.trim().parse::<IpAddr>().ok());
    let mut client = peer;
    for hop in hops.rev() {
        // Something that is no address: nothing left of it can be trusted.
        let Some(ip) = hop else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The key of a client address: IPv4 as is, IPv6 by its /64 (one host
/// usually has a whole /64 to pick addresses from).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The key of an account: a keyed hash of the normalised email, so that a
/// flood of long made-up emails costs eight bytes a key.
pub struct AccountKeys(std::collections::hash_map::RandomState);

impl AccountKeys {
    pub fn new() -> Self {
        Self(std::collections::hash_map::RandomState::new())
    }

    pub fn key(&self, email: &str) -> u64 {
        self.0.hash_one(email)
    }
}

impl Default for AccountKeys {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let t = Throttle::new(3, Duration::from_secs(10), 100);
        for _ in 0..3 {
            assert!(t.check(&"a").is_ok());
        }
        let wait = t.check(&"a").unwrap_err();
        assert!(
            wait > Duration::from_secs(8) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(t.check(&"b").is_ok());
    }

    #[test]
    fn expired_keys_are_forgotten_and_the_map_stays_bounded() {
        let t = Throttle::new(1, Duration::from_millis(1), 50);
        for i in 0..2000u32 {
            let _ = t.check(&i);
            assert!(t.len() <= 50, "{} keys after {i}", t.len());
        }
    }

    #[test]
    fn a_full_map_refuses_new_attempts() {
        let t = Throttle::new(5, Duration::from_secs(3600), 10);
        for i in 0..10u32 {
            assert!(t.check(&i).is_ok());
        }
        assert!(t.check(&99).is_err());
        assert_eq!(t.len(), 10);
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.42.0.0/16".parse().unwrap()];
        // A client that is not a proxy cannot claim another address.
        assert_eq!(
            client_address(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // Behind the proxy: the rightmost untrusted hop, whatever the client
        // put in front of it.
        assert_eq!(
            client_address(ip("10.42.0.7"), &["1.2.3.4, 198.51.100.5"], &trusted),
            ip("198.51.100.5")
        );
        assert_eq!(
            client_address(
                ip("10.42.0.7"),
                &["1.2.3.4", "198.51.100.5, 10.42.1.1"],
                &trusted
            ),
            ip("198.51.100.5")
        );
        // Garbage stops the walk; no header at all leaves the proxy's address.
        assert_eq!(
            client_address(ip("10.42.0.7"), &["1.2.3.4, junk, 10.42.1.1"], &trusted),
            ip("10.42.1.1")
        );
        assert_eq!(
            client_address(ip("10.42.0.7"), &[], &trusted),
            ip("10.42.0.7")
        );
        // Nothing trusted (the default): the peer, always.
        assert_eq!(
            client_address(ip("10.42.0.7"), &["198.51.100.5"], &[]),
            ip("10.42.0.7")
        );
    }

    #[test]
    fn ipv6_hosts_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(address_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
