//! Client requests: RESP multibulk arrays of bulk strings, and inline commands.
//!
//! The parser is sans-IO and incremental: it consumes complete arguments from the buffer as
//! they arrive, so a huge multibulk is never re-scanned, and it never allocates more than the
//! bytes that actually arrived (counts and lengths from the client are checked against limits
//! before they size anything).

use bytes::{Buf, Bytes, BytesMut};

/// Redis's `proto-max-bulk-len` default: 512 MB.
pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// Redis's limit on the number of arguments in one multibulk request (`INT_MAX`).
pub const MAX_MULTIBULK_LEN: usize = i32::MAX as usize;
/// Before AUTH, Redis refuses requests of more arguments than this...
pub const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
/// ...and arguments longer than this, so that an unauthenticated client cannot make the
/// server buffer much.
pub const UNAUTH_MAX_BULK_LEN: i64 = 16 * 1024;
/// Redis's `PROTO_INLINE_MAX_SIZE`: an inline request (or a header line) longer than this is
/// refused.
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Never reserve more than this for the argument vector up front, whatever the client says.
const MAX_PREALLOC_ARGS: usize = 1024;

/// A protocol violation. The `Display` text is what Redis puts after `-ERR `; the connection
/// is closed after the reply, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("Protocol error: too big inline request")]
    InlineTooBig,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("Protocol error: too big mbulk count string")]
    MultibulkCountTooBig,
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: too big bulk count string")]
    BulkCountTooBig,
    #[error("Protocol error: expected '$', got '{0}'")]
    ExpectedDollar(char),
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

#[derive(Debug, Default)]
struct Pending {
    remaining: usize,
    args: Vec<Bytes>,
    /// Length of the bulk whose header was consumed but whose payload has not arrived.
    bulk_len: Option<usize>,
}

/// Incremental request parser; one per connection.
#[derive(Debug)]
pub struct RequestParser {
    max_bulk: usize,
    /// The client has not authenticated yet: Redis's smaller limits apply.
    unauthenticated: bool,
    pending: Option<Pending>,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BULK_LEN)
    }
}

impl RequestParser {
    pub fn new(max_bulk: usize) -> Self {
        Self {
            max_bulk,
            unauthenticated: false,
            pending: None,
        }
    }

    pub fn set_max_bulk(&mut self, max_bulk: usize) {
        self.max_bulk = max_bulk;
    }

    /// Applies (or lifts) the limits Redis puts on requests from a client that must still
    /// authenticate. The connection must not parse past an AUTH before running it, since
    /// the limits of the requests after it depend on its outcome.
    pub fn set_unauthenticated(&mut self, unauthenticated: bool) {
        self.unauthenticated = unauthenticated;
    }

    /// Bytes still needed to complete the bulk currently being read, if one is in progress
    /// (the connection uses it to reserve buffer space for big values).
    pub fn bulk_bytes_needed(&self, buffered: usize) -> Option<usize> {
        let need = self.pending.as_ref()?.bulk_len? + 2;
        Some(need.saturating_sub(buffered))
    }

    /// True when part of a request has been consumed and the rest has not arrived.
    pub fn in_progress(&self) -> bool {
        self.pending.is_some()
    }

    /// Returns the next complete request, `Ok(None)` if more bytes are needed. An empty
    /// argument vector is never returned (empty inline lines and `*0` are skipped).
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.pending.is_none() {
                if buf.is_empty() {
                    return Ok(None);
                }
                if buf[0] != b'*' {
                    match parse_inline(buf)? {
                        None => return Ok(None),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(args)),
                    }
                }
                let Some((count, used)) = read_line_number(buf, 1, ProtocolError::MultibulkCountTooBig)?
                else {
                    return Ok(None);
                };
                if count > MAX_MULTIBULK_LEN as i64 {
                    return Err(ProtocolError::InvalidMultibulkLength);
                }
                if self.unauthenticated && count > UNAUTH_MAX_MULTIBULK_LEN {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                buf.advance(used);
                if count <= 0 {
                    continue;
                }
                let count = count as usize;
                self.pending = Some(Pending {
                    remaining: count,
                    args: Vec::with_capacity(count.min(MAX_PREALLOC_ARGS)),
                    bulk_len: None,
                });
            }
            let Some(p) = self.pending.as_mut() else { continue };
            while p.remaining > 0 {
                let len = match p.bulk_len {
                    Some(len) => len,
                    None => {
                        if buf.is_empty() {
                            return Ok(None);
                        }
                        if buf[0] != b'$' {
                            return Err(ProtocolError::ExpectedDollar(buf[0] as char));
                        }
                        let Some((len, used)) = read_line_number(buf, 1, ProtocolError::BulkCountTooBig)?
                        else {
                            return Ok(None);
                        };
                        if len < 0 || len as u64 > self.max_bulk as u64 {
                            return Err(ProtocolError::InvalidBulkLength);
                        }
                        if self.unauthenticated && len > UNAUTH_MAX_BULK_LEN {
                            return Err(ProtocolError::UnauthenticatedBulkLength);
                        }
                        buf.advance(used);
                        p.bulk_len = Some(len as usize);
                        len as usize
                    }
                };
                if buf.len() < len + 2 {
                    return Ok(None);
                }
                let arg = buf.split_to(len).freeze();
                buf.advance(2);
                p.args.push(arg);
                p.bulk_len = None;
                p.remaining -= 1;
            }
            let done = self.pending.take().map(|p| p.args).unwrap_or_default();
            return Ok(Some(done));
        }
    }
}

/// Reads `<prefix><integer>\r\n` starting at `buf[skip..]`. Returns the number and the bytes
/// used, `None` if the line is incomplete.
fn read_line_number(
    buf: &[u8],
    skip: usize,
    too_big: ProtocolError,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\r', &buf[skip..]) else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(too_big);
        }
        return Ok(None);
    };
    let end = skip + nl;
    if end + 1 >= buf.len() {
        return Ok(None);
    }
    let digits = &buf[skip..end];
    let invalid = if matches!(too_big, ProtocolError::MultibulkCountTooBig) {
        ProtocolError::InvalidMultibulkLength
    } else {
        ProtocolError::InvalidBulkLength
    };
    let n = crate::parse_i64(digits).ok_or(invalid)?;
    Ok(Some((n, end + 2)))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_args(line).map(Some).ok_or(ProtocolError::UnbalancedQuotes)
}

/// Splits a line into arguments with the quoting rules of Redis's `sdssplitargs`: double
/// quotes with `\n \r \t \b \a \\ \" \xHH` escapes, single quotes with `\'`, and a closing
/// quote must be followed by a space or the end. `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    // A NUL ends the line, as it ends the C string Redis parses.
    let line = match memchr::memchr(0, line) {
        Some(end) => &line[..end],
        None => line,
    };
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_c_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(cur));
    }
}

/// C's `isspace`: space, \t, \n, \v, \f, \r.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = p.next(&mut buf)? {
            out.push(args);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\nset a \"b c\"\n").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(got[1], vec![Bytes::from("PING")]);
        assert_eq!(
            got[2],
            vec![Bytes::from("set"), Bytes::from("a"), Bytes::from("b c")]
        );
    }

    #[test]
    fn incremental_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\n0123456789\r\n";
        let mut p = RequestParser::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(a) = p.next(&mut buf).unwrap() {
                got = Some(a);
            }
        }
        let got = got.unwrap();
        assert_eq!(got[2], Bytes::from("0123456789"));
        assert!(buf.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_all(b"*abc\r\n").unwrap_err(),
            ProtocolError::InvalidMultibulkLength
        );
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n").unwrap_err(),
            ProtocolError::ExpectedDollar('+')
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err(),
            ProtocolError::InvalidBulkLength
        );
        assert_eq!(
            parse_all(b"*1\r\n$999999999999\r\n").unwrap_err(),
            ProtocolError::InvalidBulkLength
        );
        assert_eq!(
            parse_all(b"set a \"b\n").unwrap_err(),
            ProtocolError::UnbalancedQuotes
        );
        assert_eq!(
            parse_all(&vec![b'a'; MAX_INLINE_LEN + 10]).unwrap_err(),
            ProtocolError::InlineTooBig
        );
        // A huge announced count allocates nothing up front.
        assert!(parse_all(b"*1000000\r\n$1\r\na\r\n").unwrap().is_empty());
    }

    #[test]
    fn unauthenticated_limits() {
        let mut p = RequestParser::default();
        p.set_unauthenticated(true);
        let mut buf = BytesMut::from(&b"*10\r\n$16384\r\n"[..]);
        assert_eq!(p.next(&mut buf), Ok(None));
        let mut p = RequestParser::default();
        p.set_unauthenticated(true);
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            p.next(&mut buf),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        let mut p = RequestParser::default();
        p.set_unauthenticated(true);
        let mut buf = BytesMut::from(&b"*1\r\n$16385\r\n"[..]);
        assert_eq!(p.next(&mut buf), Err(ProtocolError::UnauthenticatedBulkLength));
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(&b"*11\r\n$16385\r\n"[..]);
        assert_eq!(p.next(&mut buf), Ok(None));
    }

    #[test]
    fn quoting() {
        let a = split_args(br#"a "x\x41\n" 'it\'s'"#).unwrap();
        assert_eq!(
            a,
            vec![Bytes::from("a"), Bytes::from("xA\n"), Bytes::from("it's")]
        );
        assert!(split_args(br#""a"b"#).is_none());
        assert_eq!(split_args(b"a\0b c").unwrap(), vec![Bytes::from("a")]);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any command encoded as a multibulk parses back to the same arguments, however
        /// the bytes are split across reads.
        #[test]
        fn multibulk_round_trip(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..16), split in 0usize..4096) {
            let mut wire = Vec::new();
            crate::encode_command(&mut wire, &args);
            let cut = split % (wire.len() + 1);
            let mut p = RequestParser::default();
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = p.next(&mut buf).unwrap();
            if got.is_none() {
                buf.extend_from_slice(&wire[cut..]);
                got = p.next(&mut buf).unwrap();
            }
            let got = got.unwrap();
            prop_assert_eq!(got.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), args);
            prop_assert!(buf.is_empty());
        }

        /// Arbitrary bytes never panic and never make the parser claim more than it got.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut p = RequestParser::default();
            let mut buf = BytesMut::from(&data[..]);
            for _ in 0..64 {
                match p.next(&mut buf) {
                    Ok(Some(_)) => continue,
                    _ => break,
                }
            }
            prop_assert!(buf.len() <= data.len());
        }
    }
}
