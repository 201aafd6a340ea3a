//! Listpacks: the compact encoding Redis 7.0 uses for small hashes and sorted sets and for
//! the nodes of lists. Encoder and validating decoder.
//!
//! Layout: total bytes (u32 LE), element count (u16 LE, 65535 = "count it"), entries, and
//! a `0xFF` terminator. Each entry is an encoding byte (with the value or length in it or
//! in the following bytes), the data, then "backlen": the size of encoding + data written
//! in 7-bit groups so that it can be read from its last byte backwards.

const HEADER: usize = 6;
const EOF: u8 = 0xFF;

/// Builds a listpack entry by entry.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// The encoded size of `s` as one entry, backlen included.
pub fn entry_size(s: &[u8]) -> usize {
    let l = match slotkv_protocol::parse_i64(s) {
        Some(v) => int_size(v),
        None => str_header(s.len()) + s.len(),
    };
    l + backlen_size(l)
}

fn int_size(v: i64) -> usize {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32_768..=32_767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    }
}

fn str_header(len: usize) -> usize {
    if len < 64 {
        1
    } else if len < 4096 {
        2
    } else {
        5
    }
}

impl ListpackWriter {
    pub fn new() -> Self {
        Self {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Bytes so far, header included, terminator not.
    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends an element; integers in canonical form are stored as integers.
    pub fn push(&mut self, s: &[u8]) {
        let start = self.buf.len();
        match slotkv_protocol::parse_i64(s) {
            Some(v) => self.push_int(v),
            None => {
                let n = s.len();
                if n < 64 {
                    self.buf.push(0x80 | n as u8);
                } else if n < 4096 {
                    self.buf.push(0xE0 | (n >> 8) as u8);
                    self.buf.push(n as u8);
                } else {
                    self.buf.push(0xF0);
                    self.buf.extend_from_slice(&(n as u32).to_le_bytes());
                }
                self.buf.extend_from_slice(s);
            }
        }
        let l = self.buf.len() - start;
        self.push_backlen(l);
        self.count += 1;
    }

    fn push_int(&mut self, v: i64) {
        let b = &mut self.buf;
        match int_size(v) {
            1 => b.push(v as u8),
            2 => {
                let u = (v as u16) & 0x1fff;
                b.push(0xC0 | (u >> 8) as u8);
                b.push(u as u8);
            }
            3 => {
                b.push(0xF1);
                b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            4 => {
                b.push(0xF2);
                b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            5 => {
                b.push(0xF3);
                b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                b.push(0xF4);
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    fn push_backlen(&mut self, l: usize) {
        let n = backlen_size(l);
        // Most significant group first; every byte but the first has the high bit set.
        for i in (0..n).rev() {
            let group = ((l >> (7 * i)) & 0x7f) as u8;
            self.buf.push(if i == n - 1 { group } else { group | 0x80 });
        }
    }

    /// Terminates and returns the listpack bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

fn int_text(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Decodes a listpack into its elements (integers as decimal text). Checks the header,
/// every entry's bounds and backlen, the count, and that the terminator is the last byte.
pub fn decode(lp: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if lp.len() < HEADER + 1 {
        return Err(format!("listpack of {} bytes is too short", lp.len()));
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return Err(format!(
            "listpack header says {total} bytes, blob has {}",
            lp.len()
        ));
    }
    let count = usize::from(u16::from_le_bytes([lp[4], lp[5]]));
    if lp[lp.len() - 1] != EOF {
        return Err("listpack does not end with 0xFF".into());
    }
    let mut out = Vec::with_capacity(count.min(lp.len()));
    let mut p = HEADER;
    let err = |p: usize, what: &str| format!("listpack byte {p}: {what}");
    loop {
        let b = *lp.get(p).ok_or_else(|| err(p, "entry past the end"))?;
        if b == EOF {
            break;
        }
        let start = p;
        let need = |n: usize| -> Result<&[u8], String> {
            lp.get(start + 1..start + 1 + n)
                .ok_or_else(|| err(start, "entry past the end"))
        };
        let (value, len): (Vec<u8>, usize) = if b & 0x80 == 0 {
            (int_text(i64::from(b)), 1)
        } else if b & 0xC0 == 0x80 {
            let n = usize::from(b & 0x3f);
            (need(n)?.to_vec(), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let d = need(1)?;
            let u = (u16::from(b & 0x1f) << 8) | u16::from(d[0]);
            // Sign-extend 13 bits.
            let v = ((u << 3) as i16) >> 3;
            (int_text(i64::from(v)), 2)
        } else if b & 0xF0 == 0xE0 {
            let d = need(1)?;
            let n = (usize::from(b & 0x0f) << 8) | usize::from(d[0]);
            let s = lp
                .get(start + 2..start + 2 + n)
                .ok_or_else(|| err(start, "string past the end"))?;
            (s.to_vec(), 2 + n)
        } else {
            match b {
                0xF0 => {
                    let d = need(4)?;
                    let n = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
                    let s = lp
                        .get(start + 5..start.saturating_add(5).saturating_add(n))
                        .ok_or_else(|| err(start, "string past the end"))?;
                    (s.to_vec(), 5 + n)
                }
                0xF1 => {
                    let d = need(2)?;
                    (int_text(i64::from(i16::from_le_bytes([d[0], d[1]]))), 3)
                }
                0xF2 => {
                    let d = need(3)?;
                    let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
                    (int_text(i64::from(v)), 4)
                }
                0xF3 => {
                    let d = need(4)?;
                    (
                        int_text(i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]]))),
                        5,
                    )
                }
                0xF4 => {
                    let d = need(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(d);
                    (int_text(i64::from_le_bytes(a)), 9)
                }
                _ => return Err(err(start, &format!("unknown encoding {b:#04x}"))),
            }
        };
        let bl = backlen_size(len);
        let end = start + len + bl;
        if end >= lp.len() {
            return Err(err(start, "entry past the end"));
        }
        // Verify the backlen by reading it backwards, as a reverse iteration would.
        let mut v = 0usize;
        let mut shift = 0;
        let mut q = end - 1;
        loop {
            let c = lp[q];
            v |= usize::from(c & 0x7f) << shift;
            if c & 0x80 == 0 || q == start + len {
                break;
            }
            shift += 7;
            q -= 1;
        }
        if v != len || q != start + len {
            return Err(err(start, "bad backlen"));
        }
        out.push(value);
        p = end;
    }
    if p != lp.len() - 1 {
        return Err(err(p, "data after the terminator"));
    }
    if count != usize::from(u16::MAX) && count != out.len() {
        return Err(format!(
            "listpack header says {count} entries, found {}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let mut w = ListpackWriter::new();
        w.push(b"a");
        w.push(b"5");
        w.push(b"-1");
        let lp = w.finish();
        assert_eq!(lp, [15, 0, 0, 0, 3, 0, 0x81, b'a', 2, 5, 1, 0xDF, 0xFF, 2, 0xFF]);
        assert_eq!(
            decode(&lp).unwrap(),
            vec![b"a".to_vec(), b"5".to_vec(), b"-1".to_vec()]
        );
    }

    #[test]
    fn all_sizes_round_trip() {
        let mut items: Vec<Vec<u8>> = vec![];
        for v in [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            2_147_483_647,
            -2_147_483_648,
            2_147_483_648,
            i64::MAX,
            i64::MIN,
        ] {
            items.push(v.to_string().into_bytes());
        }
        for n in [0, 1, 63, 64, 127, 128, 4095, 4096, 20_000] {
            items.push(vec![b'z'; n]);
        }
        items.push(b"-0".to_vec());
        items.push(b"007".to_vec());
        let mut w = ListpackWriter::new();
        let mut expect_size = HEADER + 1;
        for i in &items {
            w.push(i);
            expect_size += entry_size(i);
        }
        let lp = w.finish();
        assert_eq!(lp.len(), expect_size);
        assert_eq!(decode(&lp).unwrap(), items);
    }

    proptest! {
        #[test]
        fn decode_never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if data.len() >= 6 {
                let n = data.len() as u32;
                data[0..4].copy_from_slice(&n.to_le_bytes());
            }
            let _ = decode(&data);
        }
    }
}
