//! Redis 7.0 byte formats for data at rest and in transit.
//!
//! Owns the serialization of [`slotkv_keyspace::Value`]s in the RDB encodings: DUMP/RESTORE
//! payloads ([`dump_payload`], [`restore_payload`]), used by `DUMP`, `RESTORE`, `MIGRATE`
//! and cluster resharding between slotkv and real Redis, and whole RDB files
//! ([`write_rdb`], [`read_rdb`]) for `SAVE`/`BGSAVE`, startup loading and full resyncs.
//! What is written is what Redis 7.0 writes (listpacks, intsets, quicklist v2, LZF, small
//! integers); what is read is every encoding Redis 7.0 can load. Decoding treats its input
//! as untrusted: every read is bounds-checked, no allocation is sized from an unchecked
//! length, and nothing panics.
//!
//! No networking, no clock and no file naming here: callers pass bytes, readers, writers
//! and the current time.

mod codec;
mod crc64;
mod dump;
mod error;
mod intset;
mod listpack;
mod lzf;
mod object;
mod rdb;
mod ziplist;
mod zipmap;

pub use codec::RDB_VERSION;
pub use crc64::crc64;
pub use dump::{decode_value, dump_payload, restore_payload, verify_payload};
pub use error::PersistenceError;
pub use rdb::{
    read_rdb, read_rdb_with, write_rdb, write_rdb_with_aux, RdbLoadOptions, RdbOptions, RdbStats,
    REDIS_VERSION_COMPAT,
};
