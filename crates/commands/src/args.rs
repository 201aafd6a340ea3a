//! Argument parsing shared by the handlers, with Redis's error texts.

use crate::CmdError;

/// Parses an integer argument (`ERR value is not an integer or out of range`).
#[inline]
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    slotkv_protocol::parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Parses a non-negative integer that must fit the range; `NotInteger` otherwise.
pub fn uint(arg: &[u8]) -> Result<u64, CmdError> {
    match int(arg)? {
        n if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::NotInteger),
    }
}

/// Parses a float argument (`ERR value is not a valid float`).
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    slotkv_protocol::parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// Case-insensitive keyword comparison.
#[inline]
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Parses a blocking timeout in seconds (float allowed) into an absolute deadline in ms
/// (0 = forever), with Redis's errors.
pub fn timeout_deadline(arg: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    let secs = slotkv_protocol::parse_f64(arg).ok_or(CmdError::TimeoutNotFloat)?;
    if secs < 0.0 {
        return Err(CmdError::TimeoutNegative);
    }
    if !secs.is_finite() || secs * 1000.0 > (i64::MAX / 2) as f64 {
        return Err(CmdError::TimeoutNotFloat);
    }
    let ms = (secs * 1000.0).ceil() as i64;
    Ok(if ms == 0 { 0 } else { now_ms + ms })
}

/// Normalizes a Redis range `start..=end` with negative indexes over `len` items. Returns
/// `None` for an empty range.
pub fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}
