//! Intsets: the encoding of small all-integer sets. Encoder and validating decoder.
//!
//! Layout: element width in bytes (u32 LE: 2, 4 or 8), count (u32 LE), then the values in
//! strictly ascending order, little-endian, all of that width.

/// Encodes integers (any order, no duplicates expected) as an intset.
pub fn encode(values: &mut [i64]) -> Vec<u8> {
    values.sort_unstable();
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values.iter() {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Decodes an intset into decimal texts, checking the width, size and strict ordering.
pub fn decode(blob: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if blob.len() < 8 {
        return Err(format!("intset of {} bytes is too short", blob.len()));
    }
    let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("intset element width {width}"));
    }
    let count = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if (blob.len() - 8) as u64 != count as u64 * width as u64 {
        return Err(format!(
            "intset of {count} x {width} bytes in a {}-byte blob",
            blob.len()
        ));
    }
    let mut out = Vec::with_capacity(count);
    let mut prev: Option<i64> = None;
    let mut buf = itoa::Buffer::new();
    for chunk in blob[8..].chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
            4 => i64::from(i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(chunk);
                i64::from_le_bytes(a)
            }
        };
        if prev.is_some_and(|p| p >= v) {
            return Err("intset values not in strictly ascending order".into());
        }
        prev = Some(v);
        out.push(buf.format(v).as_bytes().to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        for (vals, width) in [
            (vec![3i64, -2, 1], 2u32),
            (vec![70000, 1], 4),
            (vec![i64::MIN, 0, i64::MAX], 8),
        ] {
            let mut v = vals.clone();
            let blob = encode(&mut v);
            assert_eq!(u32::from_le_bytes(blob[0..4].try_into().unwrap()), width);
            let mut sorted = vals.clone();
            sorted.sort();
            let want: Vec<Vec<u8>> = sorted.iter().map(|x| x.to_string().into_bytes()).collect();
            assert_eq!(decode(&blob).unwrap(), want);
        }
        assert!(decode(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0]).is_err());
        assert!(decode(&[3, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode(&[2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
