//! Who is on the other end of a connection, and how many of something
//! one of them holds.
//!
//! A client is counted by its network, not its exact address: an IPv4
//! address, or the /64 of an IPv6 address (one host usually holds a whole
//! /64, so counting per /128 would give it 2^64 budgets). An IPv4 address
//! mapped into IPv6 counts as the IPv4 address.
//!
//! [`Counts`] bounds what one key (a network, a caller) holds at once:
//! connections to the node, WebSockets. Each taken place is a
//! [`Counted`] guard, given back when it is dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// The client's address (set by the server loop on every request).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl PeerAddr {
    /// The network the client counts under.
    pub fn network(&self) -> IpAddr {
        network(self.0.ip())
    }
}

/// The network an address counts under: itself for IPv4 (and IPv4 mapped
/// into IPv6), its /64 for IPv6.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// How many places each key holds, bounded per key.
pub struct Counts<K: Eq + Hash + Clone + Send + 'static> {
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone + Send + 'static> Default for Counts<K> {
    fn default() -> Self {
        Self {
            held: Arc::default(),
        }
    }
}

/// One place held by a key; given back when dropped.
pub struct Counted<K: Eq + Hash + Clone + Send + 'static> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone + Send + 'static> Counts<K> {
    /// Takes a place for `key` if it holds fewer than `max` (0: no bound).
    pub fn take(&self, key: K, max: usize) -> Option<Counted<K>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(key.clone()).or_insert(0);
        if max > 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(Counted {
            key,
            held: self.held.clone(),
        })
    }

    /// How many places `key` holds.
    pub fn held(&self, key: &K) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(key).copied().unwrap_or(0)
    }
}

impl<K: Eq + Hash + Clone + Send + 'static> Drop for Counted<K> {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(other));
        assert_eq!(network(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(network(v4), v4);
    }

    #[test]
    fn a_key_holds_at_most_its_bound_and_gets_places_back_when_dropped() {
        let counts = Counts::<&str>::default();
        let first = counts.take("a", 2).expect("first");
        let second = counts.take("a", 2).expect("second");
        assert!(counts.take("a", 2).is_none(), "a third is over the bound");
        assert!(counts.take("b", 2).is_some(), "another key has its own");
        drop(first);
        assert_eq!(counts.held(&"a"), 1);
        let third = counts.take("a", 2).expect("a place given back is free");
        drop((second, third));
        assert_eq!(counts.held(&"a"), 0);
        let unbounded: Vec<_> = (0..100).map(|_| counts.take("c", 0).unwrap()).collect();
        assert_eq!(counts.held(&"c"), unbounded.len());
    }
}
