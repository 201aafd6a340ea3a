//! Reply encoding for the protocol version a connection negotiated with `HELLO`.
//!
//! Handlers write straight into the connection's output buffer through [`ReplyWriter`]: no
//! intermediate reply tree, no copy of a value into a temporary. RESP3-only types degrade to
//! their RESP2 forms exactly as Redis does (maps become flat arrays, doubles bulk strings,
//! booleans integers, the null type `$-1` or `*-1`).

/// RESP version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolVersion {
    #[default]
    Resp2,
    Resp3,
}

/// Appends encoded replies to a byte buffer.
#[derive(Debug, Default)]
pub struct ReplyWriter {
    pub buf: Vec<u8>,
    pub version: ProtocolVersion,
}

impl ReplyWriter {
    pub fn new(version: ProtocolVersion) -> Self {
        Self {
            buf: Vec::with_capacity(16 * 1024),
            version,
        }
    }

    #[inline]
    pub fn resp3(&self) -> bool {
        self.version == ProtocolVersion::Resp3
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply; `s` must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `msg` is the full text after `-` (e.g. `ERR syntax error`). CR/LF in
    /// the message are replaced by spaces, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        for &c in msg.as_bytes() {
            self.buf.push(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (e.g. GET of an integer-encoded value).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string (`$-1`, RESP3 `_`).
    #[inline]
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1`, RESP3 `_`), e.g. BLPOP's timeout or EXEC aborted by WATCH.
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array_len(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs (RESP2: a flat array of `2n`).
    pub fn map_len(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` elements (RESP2: an array).
    pub fn set_len(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A push message of `n` elements (RESP2: an array), for pub/sub and invalidation.
    pub fn push_len(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double, formatted as Redis 7.0 does (`%.17g`, `inf`, `-inf`); RESP2 as a bulk string.
    pub fn double(&mut self, v: f64) {
        let s = crate::format_double(v);
        if self.resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean (RESP2: integer 1/0).
    pub fn boolean(&mut self, v: bool) {
        if self.resp3() {
            self.buf.extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A verbatim string with a three-letter format such as `txt` (RESP2: a bulk string).
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3() {
            self.header(b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Raw pre-encoded bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything written after `mark` (used to discard a partial reply).
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }
}

/// Encodes a command as a RESP array of bulk strings (for the replication stream, the AOF,
/// MONITOR-free clients).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(b.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_forms() {
        let mut w = ReplyWriter::new(ProtocolVersion::Resp2);
        w.map_len(1);
        w.bulk(b"a");
        w.double(1.5);
        w.null();
        w.boolean(true);
        assert_eq!(w.buf, b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n");
        let mut w = ReplyWriter::new(ProtocolVersion::Resp3);
        w.map_len(1);
        w.double(1.5);
        w.null();
        w.boolean(false);
        assert_eq!(w.buf, b"%1\r\n,1.5\r\n_\r\n#f\r\n");
    }
}
