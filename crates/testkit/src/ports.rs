//! Free TCP ports on 127.0.0.1 for servers started by tests.
//!
//! Ports are picked at random *below* the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`), so that a port we hand out cannot be taken a
//! moment later as the source port of some outgoing connection (our own test clients make
//! many). A port is checked by binding it, and never handed out twice by one test process.
//! Another process can still take it before the server binds: [`crate::ServerProcess`]
//! retries on a new port when that happens.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Redis Cluster's bus port is the client port plus this.
pub const CLUSTER_BUS_PORT_OFFSET: u16 = 10000;

/// Lowest port we ever hand out (well clear of the registered services below it).
const MIN_PORT: u16 = 10000;
const ATTEMPTS: usize = 500;

/// Ports already handed out by this process: parallel tests in one binary never share one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static RNG_STATE: AtomicU64 = AtomicU64::new(0);

/// A port on 127.0.0.1 that was free a moment ago and was not handed out before by this
/// process.
pub fn free_port() -> u16 {
    find(0).unwrap_or_else(|| panic!("no free port found in {ATTEMPTS} attempts"))
}

/// A port P such that both P and P + 10000 (the Redis Cluster bus port) are free on
/// 127.0.0.1.
pub fn free_cluster_port() -> u16 {
    find(CLUSTER_BUS_PORT_OFFSET)
        .unwrap_or_else(|| panic!("no free port pair (P, P+10000) found in {ATTEMPTS} attempts"))
}

/// True if `port` can be bound on 127.0.0.1 right now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Finds P with P and (if `offset` > 0) P + offset free.
fn find(offset: u16) -> Option<u16> {
    let (lo, hi) = candidate_range(offset);
    for _ in 0..ATTEMPTS {
        let port = if lo < hi {
            lo + (next_random() % u64::from(hi - lo)) as u16
        } else {
            // No room below the ephemeral range: let the kernel choose.
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .ok()?
                .local_addr()
                .ok()?
                .port()
        };
        let Some(bus) = port.checked_add(offset) else {
            continue;
        };
        if !claim(port) {
            continue;
        }
        if port_is_free(port) && (offset == 0 || port_is_free(bus)) {
            if offset > 0 && !claim(bus) {
                continue;
            }
            return Some(port);
        }
    }
    None
}

/// `[lo, hi)` for P: P (and P + offset) stay below the ephemeral range.
fn candidate_range(offset: u16) -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let hi = ephemeral_low.saturating_sub(offset);
    (MIN_PORT, hi)
}

/// Records `port` as handed out; false if it already was.
fn claim(port: u16) -> bool {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert_with(HashSet::new).insert(port)
}

/// xorshift64*, seeded from the clock and the pid: different test processes start at
/// different places, which is all we need.
fn next_random() -> u64 {
    let mut x = RNG_STATE.load(Ordering::Relaxed);
    if x == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        x = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    RNG_STATE.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable_and_unique() {
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        // Whether a port is still free a moment later depends on every other process on the
        // machine (tests run in parallel), so only require that free ports are, as a rule,
        // bindable: most of a handful of fresh ones must be.
        let bindable = (0..8).filter(|_| port_is_free(free_port())).count();
        assert!(bindable >= 6, "only {bindable} of 8 fresh ports were bindable");
    }

    #[test]
    fn cluster_port_has_free_bus_port() {
        // As above: other processes may take a port at any moment, so one fresh pair out of
        // a few must be free on both ports.
        let ok = (0..5).any(|_| {
            let p = free_cluster_port();
            port_is_free(p) && port_is_free(p + CLUSTER_BUS_PORT_OFFSET)
        });
        assert!(ok, "no fresh cluster port had a free bus port");
    }
}
