//! Zipmaps (decoding only): the small-hash encoding of RDB files from Redis before 2.6,
//! which Redis 7.0 still loads.
//!
//! Layout: a count byte (254+ = "count it"), then entries of key length, key, value
//! length, a "free" byte, the value and that many unused bytes, then `0xFF`. Lengths are
//! one byte below 254, else `0xFE` and a u32 (little-endian, as written on x86).

fn read_len(zm: &[u8], p: &mut usize) -> Result<usize, String> {
    let b = *zm
        .get(*p)
        .ok_or_else(|| format!("zipmap byte {p}: past the end"))?;
    *p += 1;
    match b {
        0..=253 => Ok(usize::from(b)),
        254 => {
            let d = zm
                .get(*p..*p + 4)
                .ok_or_else(|| format!("zipmap byte {p}: past the end"))?;
            *p += 4;
            Ok(u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize)
        }
        _ => Err(format!("zipmap byte {}: unexpected end marker", *p - 1)),
    }
}

fn take<'a>(zm: &'a [u8], p: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let s = zm
        .get(*p..p.saturating_add(n))
        .ok_or_else(|| format!("zipmap byte {p}: {n} bytes past the end"))?;
    *p += n;
    Ok(s)
}

/// Field/value pairs in stored order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Decodes a zipmap into (field, value) pairs.
pub fn decode(zm: &[u8]) -> Result<Pairs, String> {
    let first = *zm.first().ok_or("empty zipmap")?;
    let mut p = 1usize;
    let mut out = Vec::with_capacity(usize::from(first).min(zm.len()));
    loop {
        match zm.get(p) {
            None => return Err("zipmap without terminator".into()),
            Some(0xFF) => break,
            Some(_) => {}
        }
        let klen = read_len(zm, &mut p)?;
        let key = take(zm, &mut p, klen)?.to_vec();
        let vlen = read_len(zm, &mut p)?;
        let free = usize::from(*take(zm, &mut p, 1)?.first().unwrap_or(&0));
        let val = take(zm, &mut p, vlen)?.to_vec();
        take(zm, &mut p, free)?;
        out.push((key, val));
    }
    if p != zm.len() - 1 {
        return Err(format!("zipmap byte {p}: data after the terminator"));
    }
    if first < 254 && usize::from(first) != out.len() {
        return Err(format!("zipmap header says {first} entries, found {}", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        // {"a": "xy", "key": ""} with one free byte after "xy".
        let zm = [2, 1, b'a', 2, 1, b'x', b'y', 0, 3, b'k', b'e', b'y', 0, 0, 0xFF];
        assert_eq!(
            decode(&zm).unwrap(),
            vec![(b"a".to_vec(), b"xy".to_vec()), (b"key".to_vec(), vec![])]
        );
        assert!(decode(&zm[..zm.len() - 1]).is_err());
        assert!(decode(&[]).is_err());
        assert!(decode(&[1, 0xFF]).is_err());
    }
}
