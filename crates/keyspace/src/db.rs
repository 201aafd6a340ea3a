//! One numbered database and the set of them.
//!
//! A `Db` is the main table (key → value) plus the expiry table (key → Unix ms), like
//! Redis's two dicts. Expired keys are removed lazily when touched (on a master) and by
//! [`Db::active_expire_cycle`]; the removed names are queued in `expired` so that the server
//! can propagate them as DEL to replicas and the AOF.

use rand::Rng;

use crate::table::{OutOfMemory, Table};
use crate::{scan_step, EncodingLimits, Key, ScanCursor, Value, ValueType};

/// What happens when a read finds a logically expired key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireMode {
    /// Delete it (and queue a DEL for propagation): masters.
    #[default]
    Delete,
    /// Hide it but keep it until the master's DEL arrives: replicas.
    HideOnly,
    /// Treat it as live: a replica applying its master's stream, where keys expire only
    /// by the master's DELs (Redis's `expireIfNeeded` for the master client).
    Keep,
}

/// One database.
#[derive(Debug, Default)]
pub struct Db {
    /// Key → value; each key's stamp is its last access, in seconds (wrapping), for OBJECT
    /// IDLETIME.
    map: Table<Value>,
    /// Key → expiry time in Unix ms, only for keys that have one (empty costs nothing).
    expires: Table<i64>,
    /// Keys removed because they expired, waiting to be propagated as DEL.
    pub expired: Vec<Key>,
    /// Count of keys expired since start (INFO stats `expired_keys`).
    pub expired_total: u64,
    pub expire_mode: ExpireMode,
    /// Keyspace hits/misses (INFO stats).
    pub hits: u64,
    pub misses: u64,
}

fn lru_now(now_ms: i64) -> u32 {
    (now_ms / 1000) as u32
}

impl Db {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys, including logically expired ones not yet removed (like DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    fn is_expired(&self, key: &[u8], now_ms: i64) -> bool {
        !self.expires.is_empty()
            && self.expire_mode != ExpireMode::Keep
            && matches!(self.expires.get(key), Some(e) if e.value <= now_ms)
    }

    /// Applies lazy expiry to `key`; returns true if the key is (logically) gone.
    fn expire_if_needed(&mut self, key: &[u8], now_ms: i64) -> bool {
        if !self.is_expired(key, now_ms) {
            return false;
        }
        if self.expire_mode == ExpireMode::Delete {
            self.delete_expired(key);
        }
        true
    }

    fn delete_expired(&mut self, key: &[u8]) {
        if let Some(slot) = self.map.swap_remove(key) {
            self.expires.swap_remove(key);
            self.expired.push(slot.key.into_key());
            self.expired_total += 1;
        }
    }

    /// Looks a key up for reading; `None` if missing or expired. Updates the access time.
    pub fn get(&mut self, key: &[u8], now_ms: i64) -> Option<&Value> {
        if self.expire_if_needed(key, now_ms) {
            self.misses += 1;
            return None;
        }
        match self.map.get_mut(key) {
            Some(e) => {
                self.hits += 1;
                e.key.set_stamp(lru_now(now_ms));
                Some(&e.value)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Looks a key up for writing; `None` if missing or expired.
    pub fn get_mut(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Value> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        let e = self.map.get_mut(key)?;
        e.key.set_stamp(lru_now(now_ms));
        Some(&mut e.value)
    }

    /// Reads without touching the access time or expiring (OBJECT, DEBUG, persistence).
    pub fn peek(&self, key: &[u8], now_ms: i64) -> Option<&Value> {
        if self.is_expired(key, now_ms) {
            return None;
        }
        self.map.get(key).map(|e| &e.value)
    }

    /// Seconds since the last access (OBJECT IDLETIME).
    pub fn idle_seconds(&self, key: &[u8], now_ms: i64) -> Option<u64> {
        let e = self.map.get(key)?;
        Some(u64::from(lru_now(now_ms).wrapping_sub(e.key.stamp())))
    }

    pub fn exists(&mut self, key: &[u8], now_ms: i64) -> bool {
        !self.expire_if_needed(key, now_ms) && self.map.contains_key(key)
    }

    /// Sets a key's value, dropping any TTL (plain SET semantics).
    pub fn set(&mut self, key: &[u8], value: Value, now_ms: i64) {
        if !self.expires.is_empty() {
            self.expires.swap_remove(key);
        }
        self.set_keep_ttl(key, value, now_ms);
    }

    /// Sets a key's value and keeps its TTL if it has one (and it has not expired).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value, now_ms: i64) {
        self.expire_if_needed(key, now_ms);
        let lru = lru_now(now_ms);
        match self.map.get_mut(key) {
            Some(e) => {
                e.value = value;
                e.key.set_stamp(lru);
            }
            None => {
                self.map.insert_new(key, lru, value);
            }
        }
    }

    /// Returns the value at `key`, creating it with `make` if missing (or expired).
    pub fn get_or_insert_with(
        &mut self,
        key: &[u8],
        now_ms: i64,
        make: impl FnOnce() -> Value,
    ) -> &mut Value {
        self.expire_if_needed(key, now_ms);
        let lru = lru_now(now_ms);
        let idx = match self.map.index_of(key) {
            Some(i) => i,
            None => self.map.insert_new(key, lru, make()),
        };
        let e = self.map.get_index_mut(idx).expect("index just looked up");
        e.key.set_stamp(lru);
        &mut e.value
    }

    /// Removes a key (expired or not). Returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let e = self.map.swap_remove(key)?;
        if !self.expires.is_empty() {
            self.expires.swap_remove(key);
        }
        Some(e.value)
    }

    /// Removes a key that is not logically expired; returns whether it existed.
    pub fn delete(&mut self, key: &[u8], now_ms: i64) -> bool {
        if self.expire_if_needed(key, now_ms) {
            return false;
        }
        self.remove(key).is_some()
    }

    /// Deletes the key if its value is an empty collection (Redis never keeps those).
    pub fn remove_if_empty(&mut self, key: &[u8]) -> bool {
        if matches!(self.map.get(key), Some(e) if e.value.is_empty_collection()) {
            self.remove(key);
            true
        } else {
            false
        }
    }

    /// Expiry time in Unix ms, if the key has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).map(|e| e.value)
    }

    /// Sets the expiry time of an existing key. Returns false if the key is missing.
    pub fn set_expire(&mut self, key: &[u8], when_ms: i64) -> bool {
        if !self.map.contains_key(key) {
            return false;
        }
        self.expires.insert(key, when_ms);
        true
    }

    /// Drops the TTL of a key. Returns true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expires.swap_remove(key).is_some()
    }

    pub fn type_of(&mut self, key: &[u8], now_ms: i64) -> Option<ValueType> {
        self.get(key, now_ms).map(Value::value_type)
    }

    pub fn encoding_of(&self, key: &[u8], now_ms: i64, limits: &EncodingLimits) -> Option<&'static str> {
        self.peek(key, now_ms).map(|v| v.encoding(limits))
    }

    /// A random live key (RANDOMKEY).
    pub fn random_key(&mut self, now_ms: i64, rng: &mut impl Rng) -> Option<Key> {
        for _ in 0..100 {
            if self.map.is_empty() {
                return None;
            }
            let i = rng.gen_range(0..self.map.len());
            let key: Key = self.map.get_index(i)?.key.bytes().into();
            if !self.expire_if_needed(&key, now_ms) {
                return Some(key);
            }
        }
        // Mostly-expired database: fall back to any key, as Redis eventually does.
        self.map.get_index(0).map(|e| e.key.bytes().into())
    }

    /// One SCAN step. `filter` decides which live keys are returned.
    pub fn scan(
        &mut self,
        cursor: ScanCursor,
        count: usize,
        now_ms: i64,
        mut filter: impl FnMut(&[u8], &Value) -> bool,
    ) -> (ScanCursor, Vec<Key>) {
        let (range, next) = scan_step(self.map.len(), cursor, count);
        let mut out = Vec::with_capacity(range.len());
        let mut expired = Vec::new();
        for i in range.rev() {
            let Some(e) = self.map.get_index(i) else {
                continue;
            };
            let k = e.key.bytes();
            if self.is_expired(k, now_ms) {
                expired.push(Key::from(k));
                continue;
            }
            if filter(k, &e.value) {
                out.push(k.into());
            }
        }
        for k in expired {
            self.expire_if_needed(&k, now_ms);
        }
        (next, out)
    }

    /// Live keys (KEYS, persistence); logically expired ones are skipped, not removed.
    pub fn iter(&self, now_ms: i64) -> impl Iterator<Item = (&[u8], &Value)> + '_ {
        self.map
            .iter()
            .map(|e| (e.key.bytes(), &e.value))
            .filter(move |(k, _)| !self.is_expired(k, now_ms))
    }

    /// Live keys with their expiry (persistence, DEBUG DIGEST).
    pub fn iter_with_expiry(&self, now_ms: i64) -> impl Iterator<Item = (&[u8], &Value, Option<i64>)> + '_ {
        self.iter(now_ms).map(|(k, v)| (k, v, self.expire_at(k)))
    }

    /// Makes room for `additional` more keys (DEBUG POPULATE, loading), so that the tables
    /// are sized once instead of grown step by step; `Err` if the memory cannot be had.
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), OutOfMemory> {
        self.map.try_reserve(additional)
    }

    /// Estimated bytes `key` and its value use (MEMORY USAGE): its slot and share of the
    /// index, a key too long to be held inline, and the value. `None` if missing or expired.
    pub fn memory_usage(&self, key: &[u8], now_ms: i64, samples: usize) -> Option<usize> {
        if self.is_expired(key, now_ms) {
            return None;
        }
        let e = self.map.get(key)?;
        Some(self.map.per_key_overhead() + e.key.heap_bytes() + e.value.memory_usage(samples))
    }

    /// Removes every key; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.map.len();
        let by_slot = self.map.has_slot_index();
        self.map = Table::default();
        if by_slot {
            self.map.enable_slot_index();
        }
        self.expires = Table::default();
        n
    }

    /// Keeps the keys by cluster hash slot from now on (cluster mode): counting or listing
    /// a slot's keys no longer scans the database.
    pub fn enable_slot_index(&mut self) {
        self.map.enable_slot_index();
    }

    /// Keys in hash slot `slot`, including logically expired ones not yet removed (as
    /// Redis counts them); `None` without the slot index.
    pub fn count_keys_in_slot(&self, slot: slotkv_keyslot::Slot) -> Option<usize> {
        self.map.slot_positions(slot).map(<[u32]>::len)
    }

    /// Up to `max` keys of hash slot `slot`; `None` without the slot index.
    pub fn keys_in_slot(&self, slot: slotkv_keyslot::Slot, max: usize) -> Option<Vec<&[u8]>> {
        let positions = self.map.slot_positions(slot)?;
        Some(
            positions
                .iter()
                .take(max)
                .filter_map(|&p| self.map.get_index(p as usize).map(|s| s.key.bytes()))
                .collect(),
        )
    }

    /// One round of active expiry: samples up to `samples` keys with a TTL, removes the
    /// expired ones, and repeats while more than a quarter of a sample had expired and the
    /// round budget allows. Returns how many keys were removed.
    pub fn active_expire_cycle(
        &mut self,
        now_ms: i64,
        samples: usize,
        max_rounds: usize,
        rng: &mut impl Rng,
    ) -> usize {
        if self.expire_mode != ExpireMode::Delete {
            return 0;
        }
        let mut removed = 0;
        for _ in 0..max_rounds {
            if self.expires.is_empty() {
                break;
            }
            let n = samples.min(self.expires.len());
            let mut hit = 0;
            for _ in 0..n {
                if self.expires.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..self.expires.len());
                let Some(e) = self.expires.get_index(i) else {
                    break;
                };
                if e.value <= now_ms {
                    let k = Key::from(e.key.bytes());
                    self.delete_expired(&k);
                    hit += 1;
                }
            }
            removed += hit;
            if hit * 4 <= n {
                break;
            }
        }
        removed
    }

    /// Sum of remaining TTLs of a sample, for INFO keyspace `avg_ttl`.
    pub fn avg_ttl(&self, now_ms: i64) -> i64 {
        let n = self.expires.len().min(64);
        if n == 0 {
            return 0;
        }
        let sum: i64 = self
            .expires
            .iter()
            .take(n)
            .map(|e| (e.value - now_ms).max(0))
            .sum();
        sum / n as i64
    }
}

/// All databases of a node.
#[derive(Debug)]
pub struct Keyspace {
    pub dbs: Vec<Db>,
    pub limits: EncodingLimits,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        Self {
            dbs: (0..databases.max(1)).map(|_| Db::new()).collect(),
            limits: EncodingLimits::default(),
        }
    }

    pub fn db(&mut self, index: usize) -> &mut Db {
        &mut self.dbs[index]
    }

    pub fn set_expire_mode(&mut self, mode: ExpireMode) {
        for db in &mut self.dbs {
            db.expire_mode = mode;
        }
    }

    /// Total keys in all databases.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_mode_sees_expired_keys_as_live() {
        let mut db = Db::new();
        db.set(b"a", Value::Str(b"1".to_vec()), 0);
        assert!(db.set_expire(b"a", 100));
        db.expire_mode = ExpireMode::Keep;
        assert!(db.get(b"a", 200).is_some());
        assert!(db.delete(b"a", 200));
        assert!(db.expired.is_empty());
        assert_eq!(db.len(), 0);
    }

    #[test]
    fn lazy_expiry_queues_del() {
        let mut db = Db::new();
        db.set(b"a", Value::Str(b"1".to_vec()), 0);
        assert!(db.set_expire(b"a", 100));
        assert!(db.get(b"a", 50).is_some());
        assert!(db.get(b"a", 100).is_none());
        assert_eq!(db.expired.len(), 1);
        assert_eq!(db.len(), 0);
    }

    #[test]
    fn replica_hides_but_keeps() {
        let mut db = Db::new();
        db.expire_mode = ExpireMode::HideOnly;
        db.set(b"a", Value::Str(b"1".to_vec()), 0);
        db.set_expire(b"a", 100);
        assert!(db.get(b"a", 200).is_none());
        assert_eq!(db.len(), 1);
        assert!(db.expired.is_empty());
    }

    #[test]
    fn scan_survives_deletions() {
        let mut db = Db::new();
        for i in 0..1000 {
            db.set(format!("k{i}").as_bytes(), Value::Str(vec![]), 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let (next, keys) = db.scan(cursor, 10, 0, |_, _| true);
            seen.extend(keys);
            // Delete keys with odd numbers as we go; even ones must all be seen.
            step += 1;
            let victim = format!("k{}", step * 2 + 1);
            db.remove(victim.as_bytes());
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in (0..1000).step_by(2) {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }

    #[test]
    fn active_expiry_removes() {
        let mut db = Db::new();
        let mut rng = rand::thread_rng();
        for i in 0..100 {
            let k = format!("k{i}");
            db.set(k.as_bytes(), Value::Str(vec![]), 0);
            db.set_expire(k.as_bytes(), 10);
        }
        let mut total = 0;
        for _ in 0..100 {
            total += db.active_expire_cycle(20, 20, 16, &mut rng);
        }
        assert_eq!(total, 100);
        assert_eq!(db.len(), 0);
    }
}
