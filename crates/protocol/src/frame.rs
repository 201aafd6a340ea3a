//! Parsing of any RESP2/RESP3 reply into a [`Frame`] tree, for clients (CLI, replica link,
//! tests). Incomplete input is `Ok(None)`, never an error.
//!
//! Three pieces: [`parse_frame`] builds one [`Frame`] from the start of a buffer,
//! [`encode_frame`] writes a [`Frame`] back in RESP3 form, and [`FrameScanner`] finds where a
//! complete reply ends without building it, resumably, so a client receiving a huge reply in
//! many reads does not re-parse it from the start after every read.
//!
//! Lengths and counts announced by the peer never size an allocation directly: aggregates
//! reserve at most [`MAX_PREALLOC`] elements up front, bulk payloads are copied only once they
//! have fully arrived, and nesting deeper than [`MAX_DEPTH`] is refused.

use bytes::Bytes;

use crate::number::{format_double, parse_i64};

/// One RESP value as received by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    Null,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    Double(f64),
    Boolean(bool),
    BigNumber(String),
    Verbatim(String, Bytes),
}

/// A malformed reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("protocol error: {0}")]
    Invalid(String),
}

/// Deepest nesting of aggregates accepted (attributes included).
pub const MAX_DEPTH: usize = 128;
/// Most elements reserved up front for an aggregate, whatever count the peer announced.
pub const MAX_PREALLOC: usize = 1024;

fn invalid(msg: impl Into<String>) -> FrameError {
    FrameError::Invalid(msg.into())
}

/// Finds the header line starting at `pos`: returns (line content without type byte and
/// CRLF, index just after the LF). `None` when the CRLF has not arrived yet.
fn line_at(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(off) = memchr::memchr(b'\n', &buf[pos..]) else {
        return Ok(None);
    };
    let nl = pos + off;
    if nl == pos || buf[nl - 1] != b'\r' {
        return Err(invalid("line not terminated by CRLF"));
    }
    Ok(Some((&buf[pos + 1..nl - 1], nl + 1)))
}

fn header_int(line: &[u8]) -> Result<i64, FrameError> {
    parse_i64(line).ok_or_else(|| {
        invalid(format!(
            "bad length or integer {:?}",
            String::from_utf8_lossy(line)
        ))
    })
}

fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

fn parse_double(line: &[u8]) -> Result<f64, FrameError> {
    match line {
        b"inf" | b"+inf" => Ok(f64::INFINITY),
        b"-inf" => Ok(f64::NEG_INFINITY),
        b"nan" | b"-nan" => Ok(f64::NAN),
        _ => std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| invalid(format!("bad double {:?}", String::from_utf8_lossy(line)))),
    }
}

/// Parses one complete frame from the start of `buf`. Returns the frame and the number of
/// bytes it used, `Ok(None)` if `buf` holds only part of a frame. RESP3 attributes (`|`) are
/// parsed and dropped; the value they annotate is returned. `$-1`, `*-1` and `_` all give
/// [`Frame::Null`].
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    if pos >= buf.len() {
        return Ok(None);
    }
    if depth > MAX_DEPTH {
        return Err(invalid("reply nested too deeply"));
    }
    let kind = buf[pos];
    let Some((line, next)) = line_at(buf, pos)? else {
        return Ok(None);
    };
    let frame = match kind {
        b'+' => Frame::Simple(text(line)),
        b'-' => Frame::Error(text(line)),
        b':' => Frame::Integer(header_int(line)?),
        b'_' => {
            if !line.is_empty() {
                return Err(invalid("garbage after null"));
            }
            Frame::Null
        }
        b',' => Frame::Double(parse_double(line)?),
        b'#' => match line {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(invalid("bad boolean")),
        },
        b'(' => {
            let ok = !line.is_empty()
                && line
                    .iter()
                    .enumerate()
                    .all(|(i, &c)| c.is_ascii_digit() || (i == 0 && c == b'-'));
            if !ok {
                return Err(invalid("bad big number"));
            }
            Frame::BigNumber(text(line))
        }
        b'$' | b'=' | b'!' => {
            let len = header_int(line)?;
            if len == -1 && kind == b'$' {
                return Ok(Some((Frame::Null, next)));
            }
            let len = usize::try_from(len).map_err(|_| invalid("negative bulk length"))?;
            let end = next
                .checked_add(len)
                .and_then(|e| e.checked_add(2))
                .ok_or_else(|| invalid("bulk too long"))?;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(invalid("bulk payload not terminated by CRLF"));
            }
            let data = &buf[next..end - 2];
            let frame = match kind {
                b'$' => Frame::Bulk(Bytes::copy_from_slice(data)),
                b'!' => Frame::Error(text(data)),
                _ => {
                    if data.len() < 4 || data[3] != b':' {
                        return Err(invalid("verbatim string without format"));
                    }
                    Frame::Verbatim(text(&data[..3]), Bytes::copy_from_slice(&data[4..]))
                }
            };
            return Ok(Some((frame, end)));
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = header_int(line)?;
            if n == -1 {
                return Ok(Some((Frame::Null, next)));
            }
            let n = usize::try_from(n).map_err(|_| invalid("negative aggregate length"))?;
            let paired = kind == b'%' || kind == b'|';
            let count = if paired {
                n.checked_mul(2).ok_or_else(|| invalid("map too long"))?
            } else {
                n
            };
            let mut items = Vec::with_capacity(count.min(MAX_PREALLOC));
            let mut at = next;
            for _ in 0..count {
                let Some((item, used)) = parse_at(buf, at, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                at = used;
            }
            if kind == b'|' {
                // Attribute: drop it and return the value it annotates.
                return parse_at(buf, at, depth + 1);
            }
            let frame = match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            };
            return Ok(Some((frame, at)));
        }
        other => return Err(invalid(format!("unknown reply type byte {other:#04x}"))),
    };
    Ok(Some((frame, next)))
}

fn put_header(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `frame` in RESP3 form (the null is `_`). Simple strings and errors must not
/// contain CR or LF; a verbatim format must be 3 bytes. [`parse_frame`] gives back an equal
/// frame.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Simple(s) => {
            out.push(b'+');
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Frame::Error(s) => {
            out.push(b'-');
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Frame::Integer(n) => {
            out.push(b':');
            let mut b = itoa::Buffer::new();
            out.extend_from_slice(b.format(*n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Frame::Bulk(data) => {
            put_header(out, b'$', data.len());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Null => out.extend_from_slice(b"_\r\n"),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let prefix = match frame {
                Frame::Array(_) => b'*',
                Frame::Set(_) => b'~',
                _ => b'>',
            };
            put_header(out, prefix, items.len());
            for item in items {
                encode_frame(item, out);
            }
        }
        Frame::Map(pairs) => {
            put_header(out, b'%', pairs.len());
            for (k, v) in pairs {
                encode_frame(k, out);
                encode_frame(v, out);
            }
        }
        Frame::Double(v) => {
            out.push(b',');
            out.extend_from_slice(format_double(*v).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::BigNumber(s) => {
            out.push(b'(');
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Frame::Verbatim(format, data) => {
            put_header(out, b'=', format.len() + 1 + data.len());
            out.extend_from_slice(format.as_bytes());
            out.push(b':');
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Open {
    left: usize,
    attribute: bool,
}

/// Finds the end of one complete reply without building it, resuming where the previous
/// call stopped: feed it the same (growing) buffer after every read, and the total work is
/// linear in the reply size. Once it returns `Some(len)`, `parse_frame(&buf[..len])` cannot
/// return `Ok(None)`; the scanner is then reset for the next reply (which starts at `len`,
/// so the caller must consume those bytes before scanning again).
#[derive(Debug, Default, Clone)]
pub struct FrameScanner {
    pos: usize,
    stack: Vec<Open>,
}

impl FrameScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets any progress (after the caller discarded its buffer).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.stack.clear();
    }

    /// `Ok(Some(len))` when `buf[..len]` is one complete reply.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        loop {
            if self.pos >= buf.len() {
                return Ok(None);
            }
            let kind = buf[self.pos];
            let Some((line, next)) = line_at(buf, self.pos)? else {
                return Ok(None);
            };
            match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => self.pos = next,
                b'$' | b'=' | b'!' => {
                    let len = header_int(line)?;
                    if len == -1 && kind == b'$' {
                        self.pos = next;
                    } else {
                        let len = usize::try_from(len).map_err(|_| invalid("negative bulk length"))?;
                        let end = next.saturating_add(len).saturating_add(2);
                        if buf.len() < end {
                            return Ok(None);
                        }
                        self.pos = end;
                    }
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = header_int(line)?;
                    self.pos = next;
                    if n == -1 {
                        // null aggregate: a complete value
                    } else {
                        let n = usize::try_from(n).map_err(|_| invalid("negative aggregate length"))?;
                        let attribute = kind == b'|';
                        let left = if kind == b'%' || attribute {
                            n.saturating_mul(2)
                        } else {
                            n
                        };
                        if left > 0 || attribute {
                            if self.stack.len() >= MAX_DEPTH {
                                return Err(invalid("reply nested too deeply"));
                            }
                            if left > 0 {
                                self.stack.push(Open { left, attribute });
                            }
                            // An attribute is not a value: go on to the value it annotates.
                            continue;
                        }
                    }
                }
                other => return Err(invalid(format!("unknown reply type byte {other:#04x}"))),
            }
            // One value completed at self.pos: propagate to the enclosing aggregates.
            loop {
                let Some(top) = self.stack.last_mut() else {
                    let end = self.pos;
                    self.reset();
                    return Ok(Some(end));
                };
                top.left -= 1;
                if top.left > 0 {
                    break;
                }
                let closed = self.stack.pop().map(|o| o.attribute).unwrap_or(false);
                if closed {
                    // attribute finished; the annotated value is still to come
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &[u8]) -> Frame {
        let (f, used) = parse_frame(input).unwrap().unwrap();
        assert_eq!(used, input.len());
        f
    }

    #[test]
    fn resp2_types() {
        assert_eq!(parse_all(b"+OK\r\n"), Frame::Simple("OK".into()));
        assert_eq!(parse_all(b"-ERR no\r\n"), Frame::Error("ERR no".into()));
        assert_eq!(parse_all(b":-42\r\n"), Frame::Integer(-42));
        assert_eq!(
            parse_all(b"$3\r\na\r\n\r\n"),
            Frame::Bulk(Bytes::from_static(b"a\r\n"))
        );
        assert_eq!(parse_all(b"$0\r\n\r\n"), Frame::Bulk(Bytes::new()));
        assert_eq!(parse_all(b"$-1\r\n"), Frame::Null);
        assert_eq!(parse_all(b"*-1\r\n"), Frame::Null);
        assert_eq!(parse_all(b"*0\r\n"), Frame::Array(vec![]));
        assert_eq!(
            parse_all(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"),
            Frame::Array(vec![
                Frame::Integer(1),
                Frame::Array(vec![Frame::Bulk(Bytes::from_static(b"x"))])
            ])
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(parse_all(b"_\r\n"), Frame::Null);
        assert_eq!(parse_all(b",1.5\r\n"), Frame::Double(1.5));
        assert_eq!(parse_all(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
        assert_eq!(parse_all(b"#t\r\n"), Frame::Boolean(true));
        assert_eq!(
            parse_all(b"(-123456789012345678901234\r\n"),
            Frame::BigNumber("-123456789012345678901234".into())
        );
        assert_eq!(
            parse_all(b"=7\r\ntxt:abc\r\n"),
            Frame::Verbatim("txt".into(), Bytes::from_static(b"abc"))
        );
        assert_eq!(parse_all(b"!5\r\nERR x\r\n"), Frame::Error("ERR x".into()));
        assert_eq!(
            parse_all(b"%1\r\n+k\r\n:1\r\n"),
            Frame::Map(vec![(Frame::Simple("k".into()), Frame::Integer(1))])
        );
        assert_eq!(
            parse_all(b"~1\r\n#f\r\n"),
            Frame::Set(vec![Frame::Boolean(false)])
        );
        assert_eq!(
            parse_all(b">1\r\n+m\r\n"),
            Frame::Push(vec![Frame::Simple("m".into())])
        );
        // attribute before a value is dropped, also inside an aggregate
        assert_eq!(parse_all(b"|1\r\n+a\r\n:1\r\n:7\r\n"), Frame::Integer(7));
        assert_eq!(
            parse_all(b"*2\r\n|1\r\n+a\r\n:1\r\n:7\r\n:8\r\n"),
            Frame::Array(vec![Frame::Integer(7), Frame::Integer(8)])
        );
    }

    #[test]
    fn incomplete_is_none() {
        let full = b"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n,2.5\r\n|1\r\n+a\r\n+b\r\n:9\r\n";
        for i in 0..full.len() {
            assert_eq!(parse_frame(&full[..i]).unwrap(), None, "prefix {i}");
            assert_eq!(FrameScanner::new().scan(&full[..i]).unwrap(), None, "prefix {i}");
        }
        assert_eq!(parse_frame(full).unwrap().unwrap().1, full.len());
        assert_eq!(FrameScanner::new().scan(full).unwrap(), Some(full.len()));
    }

    #[test]
    fn malformed_is_error() {
        for bad in [
            &b"?x\r\n"[..],
            b"+OK\n",
            b":12a\r\n",
            b"$-2\r\n",
            b"$3\r\nabcde\r\n",
            b"*-2\r\n",
            b"#x\r\n",
            b",abc\r\n",
            b"=2\r\nab\r\n",
        ] {
            assert!(parse_frame(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        assert_eq!(parse_frame(b"*9223372036854775807\r\n:1\r\n").unwrap(), None);
        assert_eq!(parse_frame(b"$9223372036854775807\r\nab").unwrap(), None);
        assert_eq!(parse_frame(b"%9223372036854775807\r\n").unwrap(), None);
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = Vec::new();
        for _ in 0..(MAX_DEPTH + 10) {
            deep.extend_from_slice(b"*1\r\n");
        }
        deep.extend_from_slice(b":1\r\n");
        assert!(parse_frame(&deep).is_err());
        assert!(FrameScanner::new().scan(&deep).is_err());
    }

    #[test]
    fn scanner_resumes_and_resets() {
        let mut buf = Vec::new();
        buf.extend_from_slice(b"*2\r\n$5\r\nhel");
        let mut s = FrameScanner::new();
        assert_eq!(s.scan(&buf).unwrap(), None);
        buf.extend_from_slice(b"lo\r\n");
        assert_eq!(s.scan(&buf).unwrap(), None);
        buf.extend_from_slice(b":1\r\n+next\r\n");
        let end = s.scan(&buf).unwrap().unwrap();
        assert_eq!(&buf[end..], b"+next\r\n");
        let rest = buf[end..].to_vec();
        assert_eq!(s.scan(&rest).unwrap(), Some(rest.len()));
    }

    fn line_text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 _.:-]{0,20}"
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        let leaf = prop_oneof![
            line_text().prop_map(Frame::Simple),
            line_text().prop_map(Frame::Error),
            any::<i64>().prop_map(Frame::Integer),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Frame::Bulk(Bytes::from(v))),
            Just(Frame::Null),
            any::<f64>()
                .prop_filter("nan never equals itself", |v| !v.is_nan())
                .prop_map(Frame::Double),
            any::<bool>().prop_map(Frame::Boolean),
            "-?[1-9][0-9]{0,40}".prop_map(Frame::BigNumber),
            ("[a-z]{3}", proptest::collection::vec(any::<u8>(), 0..20))
                .prop_map(|(f, d)| Frame::Verbatim(f, Bytes::from(d))),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trip(frame in arb_frame()) {
            let mut out = Vec::new();
            encode_frame(&frame, &mut out);
            let (back, used) = parse_frame(&out).unwrap().unwrap();
            prop_assert_eq!(used, out.len());
            prop_assert_eq!(back, frame);
            prop_assert_eq!(FrameScanner::new().scan(&out).unwrap(), Some(out.len()));
            // every strict prefix is incomplete, for the parser and for a resumed scanner
            let mut scanner = FrameScanner::new();
            for cut in (0..out.len()).step_by(3) {
                prop_assert_eq!(parse_frame(&out[..cut]).unwrap(), None);
                prop_assert_eq!(scanner.scan(&out[..cut]).unwrap(), None);
            }
            prop_assert_eq!(scanner.scan(&out).unwrap(), Some(out.len()));
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_frame(&data);
            let _ = FrameScanner::new().scan(&data);
        }
    }
}
