//! The error type of this crate: what went wrong and, for decoding, at which byte offset.

use std::io;

/// Errors from decoding payloads and RDB files (and I/O while reading them).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// A DUMP payload is too short, from a newer RDB version, or its CRC does not match.
    #[error("DUMP payload version or checksum are wrong")]
    PayloadFooter,
    /// The data ends in the middle of something.
    #[error("unexpected end of data at offset {offset}")]
    Truncated { offset: u64 },
    /// The bytes at `offset` are not valid for what is expected there.
    #[error("bad data at offset {offset}: {reason}")]
    Corrupt { offset: u64, reason: String },
    /// A collection with no elements (Redis never stores one; RDB loading skips such keys).
    #[error("empty collection at offset {offset}")]
    EmptyValue { offset: u64 },
    /// Valid Redis data this server cannot hold (streams, module types, module aux data).
    #[error("unsupported {what} at offset {offset}")]
    Unsupported { offset: u64, what: String },
    /// The file does not start with `REDIS` and four digits.
    #[error("not an RDB file: bad magic at offset 0")]
    BadMagic,
    /// The RDB version is outside what this loader understands.
    #[error("can't handle RDB format version {0}")]
    Version(u32),
    /// The checksum at the end of an RDB file is wrong.
    #[error(
        "RDB checksum mismatch at offset {offset}: file has {stored:#018x}, data gives {computed:#018x}"
    )]
    Checksum { offset: u64, stored: u64, computed: u64 },
    /// SELECTDB names a database this keyspace does not have.
    #[error("SELECTDB {index} at offset {offset}: only {databases} databases configured")]
    DbIndex {
        offset: u64,
        index: u64,
        databases: usize,
    },
    /// The same key appears twice in one database.
    #[error("duplicate key {key:?} in DB {db} at offset {offset}")]
    DuplicateKey { offset: u64, db: usize, key: String },
    /// An I/O error from the underlying reader.
    #[error("I/O error at offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
}

impl PersistenceError {
    pub(crate) fn corrupt(offset: u64, reason: impl Into<String>) -> Self {
        PersistenceError::Corrupt {
            offset,
            reason: reason.into(),
        }
    }

    /// The error line (without the leading `-`) Redis 7.0's RESTORE replies with for this
    /// failure: `ERR DUMP payload version or checksum are wrong` for a bad footer and
    /// `ERR Bad data format` for anything wrong inside the payload.
    pub fn restore_reply(&self) -> &'static str {
        match self {
            PersistenceError::PayloadFooter => "ERR DUMP payload version or checksum are wrong",
            _ => "ERR Bad data format",
        }
    }

    /// Byte offset the error refers to, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            PersistenceError::Truncated { offset }
            | PersistenceError::Corrupt { offset, .. }
            | PersistenceError::EmptyValue { offset }
            | PersistenceError::Unsupported { offset, .. }
            | PersistenceError::Checksum { offset, .. }
            | PersistenceError::DbIndex { offset, .. }
            | PersistenceError::DuplicateKey { offset, .. }
            | PersistenceError::Io { offset, .. } => Some(*offset),
            PersistenceError::BadMagic => Some(0),
            PersistenceError::PayloadFooter | PersistenceError::Version(_) => None,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, PersistenceError>;
