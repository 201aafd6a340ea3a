//! The data: numbered databases of keys holding Redis values, with expiry times.
//!
//! Owns the in-memory layout (hash maps, expiry index, per-type structures) and the rules
//! that are independent of any command: lazy expiry on access, the active expiry cycle,
//! SCAN cursors, random sampling, OBJECT ENCODING names. Time is always passed in as Unix
//! milliseconds; nothing here reads the clock, does I/O or knows about clients.

mod db;
mod scan;
mod table;
mod value;
pub mod zset;

pub use db::{Db, ExpireMode, Keyspace};
pub use scan::{scan_step, ScanCursor};
pub use table::OutOfMemory;
pub use value::{Elem, HashValue, Key, ListValue, SetValue, Value, ValueType};
pub use zset::ZSet;

/// Thresholds that decide which encoding name OBJECT ENCODING reports, mirroring Redis 7.0's
/// defaults (`hash-max-listpack-entries` and friends).
#[derive(Debug, Clone, Copy)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        Self {
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}
