//! DUMP/RESTORE payloads: a serialized value (type byte + RDB encoding), the RDB version
//! as two bytes little-endian, and the CRC-64 of everything before it as eight bytes
//! little-endian. The format `DUMP`, `RESTORE`, `MIGRATE` and cluster resharding move keys
//! with, between slotkv and real Redis in both directions.

use slotkv_keyspace::Value;

use crate::codec::{SliceSource, Source, RDB_VERSION};
use crate::crc64::crc64;
use crate::error::{PersistenceError, Result};
use crate::object::{read_value, write_value};

/// Serializes `value` as `DUMP` does in Redis 7.0 (with `rdbcompression yes`).
pub fn dump_payload(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, None, value, true);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the footer of a payload as Redis 7.0's RESTORE does (at least 10 bytes, RDB
/// version at most 10, CRC-64 matching; a zeroed CRC is *not* accepted, as in Redis) and
/// returns the serialized value without the footer.
pub fn verify_payload(payload: &[u8]) -> Result<&[u8]> {
    if payload.len() < 10 {
        return Err(PersistenceError::PayloadFooter);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(PersistenceError::PayloadFooter);
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&footer[2..]);
    if crc64(0, &payload[..payload.len() - 8]) != u64::from_le_bytes(stored) {
        return Err(PersistenceError::PayloadFooter);
    }
    Ok(body)
}

/// Decodes a payload made by `DUMP` (of Redis 7.0 or earlier, or of slotkv).
///
/// Errors: [`PersistenceError::PayloadFooter`] for a bad footer; `Corrupt`, `Truncated`,
/// `EmptyValue` for bad contents; `Unsupported` for streams and module types.
/// [`PersistenceError::restore_reply`] gives the error line RESTORE should send.
pub fn restore_payload(payload: &[u8]) -> Result<Value> {
    let body = verify_payload(payload)?;
    decode_value(body)
}

/// Decodes a serialized value (type byte + value) with no footer; the whole input must be
/// used.
pub fn decode_value(body: &[u8]) -> Result<Value> {
    let mut src = SliceSource::new(body);
    let ty = src.read_u8()?;
    let value = read_value(&mut src, ty)?;
    if src.remaining() != 0 {
        return Err(PersistenceError::corrupt(
            src.offset(),
            "trailing bytes after the value",
        ));
    }
    Ok(value)
}
