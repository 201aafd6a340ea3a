//! RDB files: writing a whole keyspace in the format of Redis 7.0 (`REDIS0010`) and loading
//! files written by Redis (up to 7.0 fully; later versions as far as their contents are
//! types this server has).
//!
//! A file is the magic and version, AUX fields, optional function libraries, then per
//! database SELECTDB, RESIZEDB and the keys (each optionally preceded by an expire time
//! and LRU/LFU hints), EOF, and an 8-byte CRC-64 of everything before it (zero when the
//! writer had checksums off).

use std::io::{self, Read, Write};

use slotkv_keyspace::Keyspace;

use crate::codec::*;
use crate::crc64::crc64;
use crate::error::{PersistenceError, Result};
use crate::object::{read_value, write_value};

/// The version this writer claims in `redis-ver`, for tools that look at it.
pub const REDIS_VERSION_COMPAT: &str = "7.0.15";

/// Options for [`write_rdb`], as Redis's `rdbcompression` and `rdbchecksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdbOptions {
    pub compression: bool,
    pub checksum: bool,
}

impl Default for RdbOptions {
    fn default() -> Self {
        Self {
            compression: true,
            checksum: true,
        }
    }
}

/// Options for [`read_rdb_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RdbLoadOptions {
    /// Keep keys whose expire time has passed (a replica loading its master's snapshot
    /// does this and waits for the master's DEL); by default they are skipped, as on a
    /// master.
    pub keep_expired: bool,
}

/// What [`read_rdb`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RdbStats {
    /// RDB format version from the header.
    pub version: u32,
    /// Keys added to the keyspace.
    pub keys_loaded: u64,
    /// Keys not added because their expire time had passed.
    pub expired_skipped: u64,
    /// Keys not added because their value was an empty collection.
    pub empty_skipped: u64,
    /// AUX fields in file order (`redis-ver`, `ctime`, `repl-id`, ...).
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function library sources (FUNCTION2 opcodes), as stored.
    pub functions: Vec<Vec<u8>>,
    /// The checksum at the end of the file; `None` when it was zero (checksums off) or the
    /// version predates checksums.
    pub checksum: Option<u64>,
    /// Bytes read, checksum included.
    pub bytes: u64,
}

impl RdbStats {
    /// The value of an AUX field.
    pub fn aux_field(&self, name: &str) -> Option<&[u8]> {
        self.aux
            .iter()
            .find(|(k, _)| k.as_slice() == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

/// A writer that keeps the CRC-64 of what went through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: u64,
    enabled: bool,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        if self.enabled {
            self.crc = crc64(self.crc, data);
        }
        self.inner.write_all(data)
    }
}

fn aux(buf: &mut Vec<u8>, key: &str, value: &[u8]) {
    buf.push(OPCODE_AUX);
    write_string(buf, key.as_bytes(), false);
    write_string(buf, value, false);
}

/// Writes every live key of `ks` (keys whose expire time is at or before `now_ms` are left
/// out) as an RDB file Redis 7.0 loads. The writer is flushed at the end; wrapping a file
/// in a `BufWriter`, fsync and renaming into place are left to the caller. `used-mem` is
/// written as 0 (this crate does not know the process's memory use).
pub fn write_rdb<W: Write>(w: W, ks: &Keyspace, now_ms: i64, opts: &RdbOptions) -> io::Result<()> {
    write_rdb_with_aux(w, ks, now_ms, opts, &[])
}

/// [`write_rdb`] with extra AUX fields after the standard ones (a replica's `repl-id`,
/// `repl-offset` and `repl-stream-db`, which let it resynchronize partially after a
/// restart).
pub fn write_rdb_with_aux<W: Write>(
    w: W,
    ks: &Keyspace,
    now_ms: i64,
    opts: &RdbOptions,
    extra_aux: &[(String, Vec<u8>)],
) -> io::Result<()> {
    let mut out = CrcWriter {
        inner: w,
        crc: 0,
        enabled: opts.checksum,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    aux(&mut buf, "redis-ver", REDIS_VERSION_COMPAT.as_bytes());
    aux(&mut buf, "redis-bits", usize::BITS.to_string().as_bytes());
    aux(&mut buf, "ctime", (now_ms / 1000).to_string().as_bytes());
    aux(&mut buf, "used-mem", b"0");
    aux(&mut buf, "aof-base", b"0");
    for (k, v) in extra_aux {
        aux(&mut buf, k, v);
    }
    for (index, db) in ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        buf.push(OPCODE_SELECTDB);
        write_len(&mut buf, index as u64);
        // Sizing hints only; they may count keys that have expired but not been removed.
        buf.push(OPCODE_RESIZEDB);
        write_len(&mut buf, db.len() as u64);
        write_len(&mut buf, db.expires_len() as u64);
        for (key, value, expire) in db.iter_with_expiry(now_ms) {
            if let Some(when) = expire {
                buf.push(OPCODE_EXPIRETIME_MS);
                buf.extend_from_slice(&when.to_le_bytes());
            }
            write_value(&mut buf, Some(key), value, opts.compression);
            if buf.len() >= 1 << 16 {
                out.put(&buf)?;
                buf.clear();
            }
        }
    }
    buf.push(OPCODE_EOF);
    out.put(&buf)?;
    let crc = if opts.checksum { out.crc } else { 0 };
    out.inner.write_all(&crc.to_le_bytes())?;
    out.inner.flush()
}

fn parse_header<R: Read>(src: &mut StreamSource<R>) -> Result<u32> {
    let magic: [u8; 9] = src.read_array().map_err(|_| PersistenceError::BadMagic)?;
    if &magic[..5] != b"REDIS" || !magic[5..].iter().all(u8::is_ascii_digit) {
        return Err(PersistenceError::BadMagic);
    }
    let version = magic[5..].iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    if !(1..=12).contains(&version) {
        return Err(PersistenceError::Version(version));
    }
    Ok(version)
}

/// Loads an RDB file into `ks`, as a master does at startup: keys whose expire time is at
/// or before `now_ms` are skipped, as are empty collections. The keyspace is not cleared
/// first; a key that is already present (or appears twice) is an error.
///
/// Accepts RDB versions 1 to 12, AUX fields, FUNCTION2 (kept raw in the stats), SLOT_INFO,
/// IDLE/FREQ hints and old second-resolution expire times. Module AUX data, the pre-release
/// function format, streams and module values are `Unsupported`. The checksum is verified
/// unless it is zero. Errors carry the byte offset at which the problem was found.
///
/// The reader is buffered internally and may be read past the end of the RDB data (an AOF
/// with an RDB preamble goes on after it): [`RdbStats::bytes`] is where the RDB ended.
pub fn read_rdb<R: Read>(r: R, ks: &mut Keyspace, now_ms: i64) -> Result<RdbStats> {
    read_rdb_with(r, ks, now_ms, &RdbLoadOptions::default())
}

/// [`read_rdb`] with options.
pub fn read_rdb_with<R: Read>(
    r: R,
    ks: &mut Keyspace,
    now_ms: i64,
    opts: &RdbLoadOptions,
) -> Result<RdbStats> {
    let mut src = StreamSource::new(r);
    let mut stats = RdbStats {
        version: parse_header(&mut src)?,
        ..RdbStats::default()
    };
    let mut db_index = 0usize;
    let mut expire: Option<i64> = None;
    loop {
        let op_at = src.offset();
        let op = src.read_u8()?;
        match op {
            OPCODE_EOF => break,
            OPCODE_AUX => {
                let k = read_string(&mut src)?;
                let v = read_string(&mut src)?;
                stats.aux.push((k, v));
            }
            OPCODE_SELECTDB => {
                let index = read_len(&mut src)?;
                if index >= ks.dbs.len() as u64 {
                    return Err(PersistenceError::DbIndex {
                        offset: op_at,
                        index,
                        databases: ks.dbs.len(),
                    });
                }
                db_index = index as usize;
            }
            OPCODE_RESIZEDB => {
                read_len(&mut src)?;
                read_len(&mut src)?;
            }
            OPCODE_SLOT_INFO => {
                read_len(&mut src)?;
                read_len(&mut src)?;
                read_len(&mut src)?;
            }
            OPCODE_EXPIRETIME_MS => {
                expire = Some(i64::from_le_bytes(src.read_array()?));
            }
            OPCODE_EXPIRETIME => {
                expire = Some(i64::from(i32::from_le_bytes(src.read_array()?)) * 1000);
            }
            OPCODE_IDLE => {
                read_len(&mut src)?;
            }
            OPCODE_FREQ => {
                src.read_u8()?;
            }
            OPCODE_FUNCTION2 => {
                stats.functions.push(read_string(&mut src)?);
            }
            OPCODE_FUNCTION_PRE_GA => {
                return Err(PersistenceError::Unsupported {
                    offset: op_at,
                    what: "pre-release function format".into(),
                })
            }
            OPCODE_MODULE_AUX => {
                return Err(PersistenceError::Unsupported {
                    offset: op_at,
                    what: "module aux data".into(),
                })
            }
            ty => {
                let key_at = src.offset();
                let key = read_string(&mut src)?;
                let value = match read_value(&mut src, ty) {
                    Ok(v) => v,
                    Err(PersistenceError::EmptyValue { .. }) => {
                        stats.empty_skipped += 1;
                        expire = None;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let when = expire.take();
                let db = ks.db(db_index);
                if db.peek(&key, i64::MIN).is_some() {
                    return Err(PersistenceError::DuplicateKey {
                        offset: key_at,
                        db: db_index,
                        key: String::from_utf8_lossy(&key).into_owned(),
                    });
                }
                if !opts.keep_expired && when.is_some_and(|t| t <= now_ms) {
                    stats.expired_skipped += 1;
                    continue;
                }
                db.set(&key, value, now_ms);
                if let Some(t) = when {
                    db.set_expire(&key, t);
                }
                stats.keys_loaded += 1;
            }
        }
    }
    if stats.version >= 5 {
        let computed = src.crc();
        let at = src.offset();
        let stored = u64::from_le_bytes(src.read_array()?);
        if stored != 0 {
            if stored != computed {
                return Err(PersistenceError::Checksum {
                    offset: at,
                    stored,
                    computed,
                });
            }
            stats.checksum = Some(stored);
        }
    }
    stats.bytes = src.offset();
    Ok(stats)
}
