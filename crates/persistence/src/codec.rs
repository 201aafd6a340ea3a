//! The RDB primitives shared by DUMP payloads and RDB files: type and opcode numbers,
//! length encoding, string encoding (raw, small integers, LZF), doubles; and the byte
//! sources the decoders read from (a slice, or a stream that also keeps a running CRC).
//!
//! Length encoding, by the two top bits of the first byte: `00` six-bit length, `01`
//! fourteen-bit length (big-endian with the next byte), `10` followed by a 32-bit (`0x80`)
//! or 64-bit (`0x81`) big-endian length, `11` a special string encoding in the low six
//! bits: 0/1/2 little-endian 8/16/32-bit integer, 3 LZF (compressed length, original
//! length, data).

use std::io::{self, Read};

use crate::crc64::crc64;
use crate::error::{PersistenceError, Result};
use crate::lzf;

pub const RDB_VERSION: u16 = 10;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
pub const TYPE_STREAM_LISTPACKS_3: u8 = 21;

pub const OPCODE_SLOT_INFO: u8 = 244;
pub const OPCODE_FUNCTION2: u8 = 245;
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

/// Quicklist (v2) node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Largest amount preallocated on the word of a length read from the data.
pub const PREALLOC_CAP: usize = 4096;

// ---------------------------------------------------------------------------------------
// Writing

pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes a string the way Redis does: as a small integer when it is the canonical
/// decimal form of one that fits 32 bits, LZF-compressed when `compress` is set, it is
/// longer than 20 bytes and compression saves more than 4 bytes, raw otherwise.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = slotkv_protocol::parse_i64(s) {
            if let Ok(v) = i8::try_from(v) {
                out.push(0xC0 | ENC_INT8);
                out.push(v as u8);
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                out.push(0xC0 | ENC_INT16);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                out.push(0xC0 | ENC_INT32);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            if !c.is_empty() {
                out.push(0xC0 | ENC_LZF);
                write_len(out, c.len() as u64);
                write_len(out, s.len() as u64);
                out.extend_from_slice(&c);
                return;
            }
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

pub fn write_binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A score as text, the way it goes into listpacks and old-style zsets: integral values
/// as integers (so listpacks store them as integers), others in a form `strtod` reads back
/// exactly.
pub fn score_to_text(v: f64) -> Vec<u8> {
    if v.is_infinite() {
        return if v > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        };
    }
    if v.fract() == 0.0 && v.abs() < 4_503_599_627_370_496.0 {
        return itoa::Buffer::new().format(v as i64).as_bytes().to_vec();
    }
    ryu::Buffer::new().format_finite(v).as_bytes().to_vec()
}

/// Parses a score written as text (listpacks, ziplists, old zsets). NaN is refused.
pub fn text_to_score(s: &[u8]) -> Option<f64> {
    let v = slotkv_protocol::parse_f64(s)?;
    (!v.is_nan()).then_some(v)
}

// ---------------------------------------------------------------------------------------
// Reading

/// Where decoders get bytes from. Every read is bounds-checked; lengths read from the data
/// are never trusted for allocation beyond what has actually been read.
pub trait Source {
    /// Offset of the next byte, from the start of the payload or file.
    fn offset(&self) -> u64;
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()>;
    /// Reads `len` bytes into a new buffer that grows with the data actually present.
    fn read_vec(&mut self, len: u64) -> Result<Vec<u8>>;

    fn read_u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.read_exact(&mut b)?;
        Ok(b)
    }
}

/// Decoding from a byte slice (DUMP payloads).
pub struct SliceSource<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
}

impl Source for SliceSource<'_> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() > self.remaining() {
            return Err(PersistenceError::Truncated {
                offset: self.data.len() as u64,
            });
        }
        buf.copy_from_slice(&self.data[self.pos..self.pos + buf.len()]);
        self.pos += buf.len();
        Ok(())
    }

    fn read_vec(&mut self, len: u64) -> Result<Vec<u8>> {
        if len > self.remaining() as u64 {
            return Err(PersistenceError::Truncated {
                offset: self.data.len() as u64,
            });
        }
        let len = len as usize;
        let v = self.data[self.pos..self.pos + len].to_vec();
        self.pos += len;
        Ok(v)
    }
}

/// Decoding from a stream (RDB files), keeping the CRC-64 of everything consumed.
pub struct StreamSource<R: Read> {
    inner: io::BufReader<R>,
    pos: u64,
    crc: u64,
}

impl<R: Read> StreamSource<R> {
    pub fn new(r: R) -> Self {
        Self {
            inner: io::BufReader::with_capacity(1 << 16, r),
            pos: 0,
            crc: 0,
        }
    }

    /// CRC-64 of all bytes consumed so far.
    pub fn crc(&self) -> u64 {
        self.crc
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn offset(&self) -> u64 {
        self.pos
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => {
                    self.crc = crc64(self.crc, &buf[..filled]);
                    self.pos += filled as u64;
                    return Err(PersistenceError::Truncated { offset: self.pos });
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pos += filled as u64;
                    return Err(PersistenceError::Io {
                        offset: self.pos,
                        source: e,
                    });
                }
            }
        }
        self.pos += buf.len() as u64;
        self.crc = crc64(self.crc, buf);
        Ok(())
    }

    fn read_vec(&mut self, len: u64) -> Result<Vec<u8>> {
        const DIRECT: u64 = 1 << 16;
        if len <= DIRECT {
            // Small enough to allocate up front whatever the data says.
            let mut v = vec![0u8; len as usize];
            self.read_exact(&mut v)?;
            return Ok(v);
        }
        // Large: grow with the data actually read, so a lying length costs nothing.
        let mut v = Vec::with_capacity(DIRECT as usize);
        let n = (&mut self.inner)
            .take(len)
            .read_to_end(&mut v)
            .map_err(|e| PersistenceError::Io {
                offset: self.pos,
                source: e,
            })?;
        self.crc = crc64(self.crc, &v);
        self.pos += n as u64;
        if (n as u64) < len {
            return Err(PersistenceError::Truncated { offset: self.pos });
        }
        Ok(v)
    }
}

/// A length, or the special-encoding number of an encoded string.
pub enum Len {
    Plain(u64),
    Encoded(u8),
}

pub fn read_len_or_enc<S: Source>(src: &mut S) -> Result<Len> {
    let first = src.read_u8()?;
    Ok(match first >> 6 {
        0 => Len::Plain(u64::from(first & 0x3f)),
        1 => {
            let next = src.read_u8()?;
            Len::Plain((u64::from(first & 0x3f) << 8) | u64::from(next))
        }
        2 => match first {
            0x80 => Len::Plain(u64::from(u32::from_be_bytes(src.read_array()?))),
            0x81 => Len::Plain(u64::from_be_bytes(src.read_array()?)),
            _ => {
                return Err(PersistenceError::corrupt(
                    src.offset() - 1,
                    format!("bad length byte {first:#04x}"),
                ))
            }
        },
        _ => Len::Encoded(first & 0x3f),
    })
}

/// Reads a plain length (an encoded-string marker here is an error).
pub fn read_len<S: Source>(src: &mut S) -> Result<u64> {
    match read_len_or_enc(src)? {
        Len::Plain(n) => Ok(n),
        Len::Encoded(_) => Err(PersistenceError::corrupt(
            src.offset() - 1,
            "expected a length, found a string encoding",
        )),
    }
}

pub fn read_string<S: Source>(src: &mut S) -> Result<Vec<u8>> {
    let start = src.offset();
    match read_len_or_enc(src)? {
        Len::Plain(n) => src.read_vec(n),
        Len::Encoded(ENC_INT8) => {
            let v = src.read_u8()? as i8;
            Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
        }
        Len::Encoded(ENC_INT16) => {
            let v = i16::from_le_bytes(src.read_array()?);
            Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
        }
        Len::Encoded(ENC_INT32) => {
            let v = i32::from_le_bytes(src.read_array()?);
            Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
        }
        Len::Encoded(ENC_LZF) => {
            let clen = read_len(src)?;
            let len = read_len(src)?;
            let data_at = src.offset();
            let compressed = src.read_vec(clen)?;
            let len =
                usize::try_from(len).map_err(|_| PersistenceError::corrupt(start, "LZF length too large"))?;
            lzf::decompress(&compressed, len).map_err(|e| PersistenceError::corrupt(data_at, e.to_string()))
        }
        Len::Encoded(other) => Err(PersistenceError::corrupt(
            start,
            format!("unknown string encoding {other}"),
        )),
    }
}

/// The text double of old `ZSET` values: a length byte (253 NaN, 254 +inf, 255 -inf)
/// then that many ASCII bytes.
pub fn read_text_double<S: Source>(src: &mut S) -> Result<f64> {
    let start = src.offset();
    let n = src.read_u8()?;
    match n {
        253 => Err(PersistenceError::corrupt(start, "NaN score")),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        _ => {
            let mut buf = [0u8; 255];
            let buf = &mut buf[..usize::from(n)];
            src.read_exact(buf)?;
            text_to_score(buf).ok_or_else(|| PersistenceError::corrupt(start, "bad double"))
        }
    }
}

pub fn read_binary_double<S: Source>(src: &mut S) -> Result<f64> {
    Ok(f64::from_le_bytes(src.read_array()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_len(n: u64) {
        let mut out = Vec::new();
        write_len(&mut out, n);
        let mut src = SliceSource::new(&out);
        assert_eq!(read_len(&mut src).unwrap(), n);
        assert_eq!(src.remaining(), 0);
    }

    #[test]
    fn lengths() {
        for n in [
            0,
            1,
            63,
            64,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            roundtrip_len(n);
        }
        let mut out = Vec::new();
        write_len(&mut out, 300);
        assert_eq!(out, [0x41, 0x2c]);
    }

    #[test]
    fn string_encodings() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"12", &[0xC0, 12]),
            (b"-1", &[0xC0, 0xff]),
            (b"300", &[0xC1, 0x2c, 0x01]),
            (b"70000", &[0xC2, 0x70, 0x11, 0x01, 0x00]),
            (b"012", &[3, b'0', b'1', b'2']),
            (b"", &[0]),
        ];
        for (s, enc) in cases {
            let mut out = Vec::new();
            write_string(&mut out, s, true);
            assert_eq!(&out, enc, "{:?}", String::from_utf8_lossy(s));
            assert_eq!(read_string(&mut SliceSource::new(&out)).unwrap(), *s);
        }
        let long = vec![b'x'; 1000];
        let mut out = Vec::new();
        write_string(&mut out, &long, true);
        assert_eq!(out[0], 0xC3);
        assert!(out.len() < 100);
        assert_eq!(read_string(&mut SliceSource::new(&out)).unwrap(), long);
    }

    #[test]
    fn scores_as_text() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -5.0,
            0.1,
            1e300,
            -2.5e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e16,
        ] {
            let t = score_to_text(v);
            let back = text_to_score(&t).unwrap();
            assert_eq!(
                back.to_bits(),
                v.to_bits(),
                "{v} -> {}",
                String::from_utf8_lossy(&t)
            );
        }
    }
}
