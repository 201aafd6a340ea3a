//! Ziplists (decoding only): the compact encoding of RDB files from Redis before 7.0, still
//! accepted by 7.0 for lists (inside quicklist v1 nodes), hashes and sorted sets.
//!
//! Layout: total bytes (u32 LE), offset of the last entry (u32 LE), count (u16 LE, 65535 =
//! "count it"), entries, `0xFF`. An entry is the previous entry's length (one byte, or
//! `0xFE` and a u32 LE), an encoding (strings: `00` 6-bit, `01` 14-bit big-endian, `10` +
//! u32 big-endian length; integers: `0xC0` i16, `0xD0` i32, `0xE0` i64, `0xF0` i24, `0xFE`
//! i8, `0xF1..=0xFD` the values 0..=12), then the data.

const HEADER: usize = 10;

fn int_text(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Decodes a ziplist into its elements (integers as decimal text), checking every bound,
/// the prevlen chain and the count.
pub fn decode(zl: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if zl.len() < HEADER + 1 {
        return Err(format!("ziplist of {} bytes is too short", zl.len()));
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if total != zl.len() {
        return Err(format!(
            "ziplist header says {total} bytes, blob has {}",
            zl.len()
        ));
    }
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let count = usize::from(u16::from_le_bytes([zl[8], zl[9]]));
    if zl[zl.len() - 1] != 0xFF {
        return Err("ziplist does not end with 0xFF".into());
    }
    let err = |p: usize, what: &str| format!("ziplist byte {p}: {what}");
    let get = |a: usize, n: usize| {
        zl.get(a..a.saturating_add(n))
            .ok_or_else(|| err(a, "entry past the end"))
    };
    let mut out = Vec::with_capacity(count.min(zl.len()));
    let mut p = HEADER;
    let mut prev_len = 0usize;
    let mut last_start = HEADER;
    loop {
        let b = *zl.get(p).ok_or_else(|| err(p, "entry past the end"))?;
        if b == 0xFF {
            break;
        }
        let start = p;
        let (prevlen, mut q) = if b < 0xFE {
            (usize::from(b), p + 1)
        } else if b == 0xFE {
            let d = get(p + 1, 4)?;
            (u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize, p + 5)
        } else {
            return Err(err(p, "bad prevlen"));
        };
        if prevlen != prev_len {
            return Err(err(p, "prevlen does not match the previous entry"));
        }
        let enc = *zl.get(q).ok_or_else(|| err(q, "entry past the end"))?;
        q += 1;
        let value = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                let s = get(q, n)?.to_vec();
                q += n;
                s
            }
            1 => {
                let d = get(q, 1)?;
                let n = (usize::from(enc & 0x3f) << 8) | usize::from(d[0]);
                let s = get(q + 1, n)?.to_vec();
                q += 1 + n;
                s
            }
            2 => {
                if enc != 0x80 {
                    return Err(err(q - 1, "bad string encoding"));
                }
                let d = get(q, 4)?;
                let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                let s = get(q + 4, n)?.to_vec();
                q += 4 + n;
                s
            }
            _ => {
                let (v, n) = match enc {
                    0xC0 => {
                        let d = get(q, 2)?;
                        (i64::from(i16::from_le_bytes([d[0], d[1]])), 2)
                    }
                    0xD0 => {
                        let d = get(q, 4)?;
                        (i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])), 4)
                    }
                    0xE0 => {
                        let d = get(q, 8)?;
                        let mut a = [0u8; 8];
                        a.copy_from_slice(d);
                        (i64::from_le_bytes(a), 8)
                    }
                    0xF0 => {
                        let d = get(q, 3)?;
                        (i64::from(i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8), 3)
                    }
                    0xFE => {
                        let d = get(q, 1)?;
                        (i64::from(d[0] as i8), 1)
                    }
                    0xF1..=0xFD => (i64::from(enc & 0x0f) - 1, 0),
                    _ => return Err(err(q - 1, &format!("unknown encoding {enc:#04x}"))),
                };
                q += n;
                int_text(v)
            }
        };
        if q >= zl.len() {
            return Err(err(start, "entry past the end"));
        }
        out.push(value);
        prev_len = q - start;
        last_start = start;
        p = q;
    }
    if p != zl.len() - 1 {
        return Err(err(p, "data after the terminator"));
    }
    if !out.is_empty() && tail != last_start {
        return Err(format!(
            "ziplist tail offset {tail} does not point at the last entry"
        ));
    }
    if count != usize::from(u16::MAX) && count != out.len() {
        return Err(format!(
            "ziplist header says {count} entries, found {}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ziplist encoder for tests (Redis 7.0 never writes ziplists).
    pub fn encode(items: &[&[u8]]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER];
        let mut prev = 0usize;
        let mut last = HEADER;
        for it in items {
            let start = buf.len();
            last = start;
            if prev < 254 {
                buf.push(prev as u8);
            } else {
                buf.push(0xFE);
                buf.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match slotkv_protocol::parse_i64(it) {
                Some(v @ 0..=12) => buf.push(0xF1 + v as u8),
                Some(v) if i8::try_from(v).is_ok() => {
                    buf.push(0xFE);
                    buf.push(v as u8);
                }
                Some(v) if i16::try_from(v).is_ok() => {
                    buf.push(0xC0);
                    buf.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Some(v) if (-8_388_608..8_388_608).contains(&v) => {
                    buf.push(0xF0);
                    buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Some(v) if i32::try_from(v).is_ok() => {
                    buf.push(0xD0);
                    buf.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Some(v) => {
                    buf.push(0xE0);
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                None => {
                    let n = it.len();
                    if n < 64 {
                        buf.push(n as u8);
                    } else if n < 16384 {
                        buf.push(0x40 | (n >> 8) as u8);
                        buf.push(n as u8);
                    } else {
                        buf.push(0x80);
                        buf.extend_from_slice(&(n as u32).to_be_bytes());
                    }
                    buf.extend_from_slice(it);
                }
            }
            prev = buf.len() - start;
        }
        buf.push(0xFF);
        let total = buf.len() as u32;
        buf[0..4].copy_from_slice(&total.to_le_bytes());
        buf[4..8].copy_from_slice(&(last as u32).to_le_bytes());
        buf[8..10].copy_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
        buf
    }

    #[test]
    fn round_trip() {
        let big = vec![b'q'; 300];
        let huge = vec![b'h'; 20000];
        let items: Vec<&[u8]> = vec![
            b"a",
            b"0",
            b"12",
            b"13",
            b"-1",
            b"200",
            b"-30000",
            b"100000",
            b"-8388608",
            b"3000000000",
            &big,
            &huge,
            b"x",
            b"",
        ];
        let zl = encode(&items);
        let got = decode(&zl).unwrap();
        assert_eq!(got, items.iter().map(|i| i.to_vec()).collect::<Vec<_>>());
    }

    proptest! {
        #[test]
        fn decode_never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if data.len() >= 10 {
                let n = data.len() as u32;
                data[0..4].copy_from_slice(&n.to_le_bytes());
            }
            let _ = decode(&data);
        }
    }
}
