//! Client pauses: `CLIENT PAUSE <ms> [WRITE|ALL]`, `CLIENT UNPAUSE`, and the write pause a
//! master holds for a manual failover. Owns the pause deadlines; the connection loop asks
//! [`must_wait`] before running each command and holds it back while it is paused. While
//! any pause is on, active expiry stands still, so the data set is as static as the
//! clients see it (Redis does the same).

use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;

use crate::exec::ConnState;
use crate::shared::Shared;

/// Pause deadlines (unix ms; 0 or past = not paused).
#[derive(Debug, Default)]
pub struct ClientPause {
    /// `CLIENT PAUSE ... ALL`: every command waits.
    all_until: AtomicI64,
    /// `CLIENT PAUSE ... WRITE`: commands that write or may replicate wait.
    write_until: AtomicI64,
    /// A master's write pause during a manual failover (CLUSTER FAILOVER).
    failover_until: AtomicI64,
}

impl ClientPause {
    /// `CLIENT PAUSE`: a pause never gets shorter by pausing again; a later WRITE pause
    /// does not weaken an ALL pause that is still on.
    pub fn pause(&self, all: bool, until: i64) {
        let slot = if all { &self.all_until } else { &self.write_until };
        slot.fetch_max(until, Ordering::Relaxed);
    }

    /// `CLIENT UNPAUSE` (the manual failover's own pause is left alone).
    pub fn unpause(&self) {
        self.all_until.store(0, Ordering::Relaxed);
        self.write_until.store(0, Ordering::Relaxed);
    }

    /// Sets (or with 0 ends) the manual failover's write pause.
    pub fn set_failover(&self, until: i64) {
        self.failover_until.store(until, Ordering::Relaxed);
    }

    fn writes_until(&self) -> i64 {
        self.write_until
            .load(Ordering::Relaxed)
            .max(self.failover_until.load(Ordering::Relaxed))
    }

    /// Whether any pause is on (active expiry stands still meanwhile).
    pub fn any(&self, now: i64) -> bool {
        self.all_until.load(Ordering::Relaxed) > now || self.writes_until() > now
    }
}

/// Whether this client's next command must wait for a pause to end. Inside MULTI the
/// commands are only queued; EXEC waits if anything queued writes.
pub fn must_wait(shared: &Shared, conn: &ConnState, args: &[Bytes], now: i64) -> bool {
    let p = &shared.pause;
    if p.all_until.load(Ordering::Relaxed) > now {
        return true;
    }
    if p.writes_until() <= now {
        return false;
    }
    let Ok(spec) = shared.table.resolve(args) else {
        return false;
    };
    let replicates = |spec: &crate::table::Spec| {
        spec.has(slotkv_commands::flags::WRITE) || spec.has(slotkv_commands::flags::MAY_REPLICATE)
    };
    match &conn.multi {
        Some(m) if spec.name == "exec" => m
            .queued
            .iter()
            .any(|q| shared.table.resolve(q).is_ok_and(replicates)),
        Some(_) => false,
        None => replicates(spec),
    }
}
