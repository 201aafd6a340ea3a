//! LZF compression, the format Redis uses for compressed strings in RDB files and DUMP
//! payloads (`rdbcompression yes`).
//!
//! The stream is a sequence of items, each starting with a control byte `c`:
//! - `c < 32`: a literal run of `c + 1` bytes follows;
//! - otherwise a back-reference: length `(c >> 5) + 2` (when `c >> 5 == 7` the next byte is
//!   added to the length), distance `((c & 31) << 8 | next byte) + 1` back in the output.

const HASH_BITS: u32 = 14;
const MAX_LITERAL: usize = 32;
const MAX_OFFSET: usize = 1 << 13;
const MAX_MATCH: usize = 264; // (7 + 255) + 2

fn hash3(a: u8, b: u8, c: u8) -> usize {
    let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
}

fn flush_literals(out: &mut Vec<u8>, lit: &[u8]) {
    for chunk in lit.chunks(MAX_LITERAL) {
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
}

/// Compresses `input`; `None` if the result would be longer than `max_out` bytes.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max_out.min(n));
    let mut table = vec![u32::MAX; 1 << HASH_BITS];
    let mut ip = 0usize;
    let mut lit_start = 0usize;
    while ip + 2 < n {
        let h = hash3(input[ip], input[ip + 1], input[ip + 2]);
        let cand = table[h];
        table[h] = ip as u32;
        if cand != u32::MAX {
            let r = cand as usize;
            let dist = ip - r - 1;
            if dist < MAX_OFFSET && input[r..r + 3] == input[ip..ip + 3] {
                let max_len = (n - ip).min(MAX_MATCH);
                let mut len = 3;
                while len < max_len && input[r + len] == input[ip + len] {
                    len += 1;
                }
                flush_literals(&mut out, &input[lit_start..ip]);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (dist >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (dist >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((dist & 0xff) as u8);
                if out.len() > max_out {
                    return None;
                }
                // Index the positions inside the match too (cheap, improves ratio).
                let end = ip + len;
                let mut p = ip + 1;
                while p < end && p + 2 < n {
                    table[hash3(input[p], input[p + 1], input[p + 2])] = p as u32;
                    p += 1;
                }
                ip = end;
                lit_start = ip;
                continue;
            }
        }
        ip += 1;
        if ip - lit_start > 4 * MAX_LITERAL {
            // Keep the early-exit check meaningful for incompressible data.
            if out.len() + (ip - lit_start) > max_out + MAX_LITERAL {
                return None;
            }
        }
    }
    flush_literals(&mut out, &input[lit_start..]);
    (out.len() <= max_out).then_some(out)
}

/// Why decompression failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzfError {
    Truncated,
    BadBackReference,
    TooLong,
    WrongLength,
}

impl std::fmt::Display for LzfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LzfError::Truncated => "LZF data truncated",
            LzfError::BadBackReference => "LZF back-reference before the start of the output",
            LzfError::TooLong => "LZF data expands past the declared length",
            LzfError::WrongLength => "LZF data expands to less than the declared length",
        })
    }
}

/// Decompresses `input`, which must expand to exactly `expected_len` bytes. The output
/// grows with the data actually decoded, so a lying `expected_len` costs nothing.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    let mut out: Vec<u8> = Vec::with_capacity(expected_len.min(input.len().saturating_mul(4)).min(1 << 20));
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run).ok_or(LzfError::Truncated)?;
            if out.len() + run > expected_len {
                return Err(LzfError::TooLong);
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
                ip += 1;
            }
            len += 2;
            let low = usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
            ip += 1;
            let dist = ((ctrl & 0x1f) << 8 | low) + 1;
            if dist > out.len() {
                return Err(LzfError::BadBackReference);
            }
            if out.len() + len > expected_len {
                return Err(LzfError::TooLong);
            }
            let start = out.len() - dist;
            if dist >= len {
                out.extend_from_within(start..start + len);
            } else {
                for i in 0..len {
                    let b = out[start + i];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != expected_len {
        return Err(LzfError::WrongLength);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compresses_repetitive_data() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(20);
        let c = compress(&data, data.len()).expect("compressible");
        assert!(c.len() < data.len() / 5);
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        let zeros = vec![0u8; 100_000];
        let c = compress(&zeros, zeros.len()).unwrap();
        assert_eq!(decompress(&c, zeros.len()).unwrap(), zeros);
    }

    #[test]
    fn incompressible_gives_none() {
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(compress(&data, data.len() - 4).is_none());
    }

    #[test]
    fn decompress_rejects_garbage() {
        assert_eq!(decompress(&[0x20, 0x00], 3), Err(LzfError::BadBackReference));
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x00, b'a'], 2), Err(LzfError::WrongLength));
        assert_eq!(decompress(&[0x01, b'a', b'b'], 1), Err(LzfError::TooLong));
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000)) {
            if let Some(c) = compress(&data, data.len() + data.len() / 16 + 64) {
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            }
        }

        #[test]
        fn decompress_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..5000) {
            let _ = decompress(&data, len);
        }
    }
}
