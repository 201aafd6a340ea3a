//! A RESP2/RESP3 reply as a test sees it, and its parser.
//!
//! Deliberately independent of `slotkv-protocol`: tests check our server's bytes with a
//! parser that does not share its bugs. Distinctions that matter for byte-compatibility with
//! Redis are kept (null bulk vs null array, a double's exact text).

use std::fmt;

/// One reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`: the full text after the `-`.
    Error(String),
    /// `:1`
    Int(i64),
    /// `$3\r\nfoo`
    Bulk(Vec<u8>),
    /// `$-1` (RESP2) or `_` (RESP3).
    Nil,
    /// `*-1` (RESP2 null array).
    NilArray,
    /// `*N`
    Array(Vec<Reply>),
    /// `%N` (RESP3), pairs in wire order.
    Map(Vec<(Reply, Reply)>),
    /// `~N` (RESP3)
    Set(Vec<Reply>),
    /// `>N` (RESP3 out-of-band push).
    Push(Vec<Reply>),
    /// `,1.5` (RESP3), the exact text as sent.
    Double(String),
    /// `#t` / `#f` (RESP3)
    Bool(bool),
    /// `(123...` (RESP3)
    BigNumber(String),
    /// `=N\r\ntxt:...` (RESP3): format and text.
    Verbatim(String, Vec<u8>),
    /// `|N` (RESP3): attributes, then the reply they annotate.
    Attribute(Vec<(Reply, Reply)>, Box<Reply>),
}

/// Bytes that are not a valid reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid reply: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// Refuse absurd lengths instead of trusting them (this parses a server under test).
const MAX_LEN: i64 = 1 << 32;

impl Reply {
    /// Parses one reply from the start of `buf`: `Ok(None)` if it is incomplete, else the
    /// reply and the number of bytes it took.
    pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ParseError> {
        let mut pos = 0;
        match parse_at(buf, &mut pos)? {
            Some(r) => Ok(Some((r, pos))),
            None => Ok(None),
        }
    }

    /// True for `+OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Status(s) if s == "OK")
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Status, error, bulk, verbatim, double and big number text; `None` for the rest or
    /// for non-UTF-8 bulks.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Reply::Status(s) | Reply::Error(s) | Reply::Double(s) | Reply::BigNumber(s) => Some(s),
            Reply::Bulk(b) | Reply::Verbatim(_, b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The payload of a bulk or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Elements of an array, set or push.
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => Some(v),
            _ => None,
        }
    }

    /// A bulk reply built from text (handy in `assert_eq!`).
    pub fn bulk(s: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(s.as_ref().to_vec())
    }

    /// A status reply built from text.
    pub fn status(s: &str) -> Reply {
        Reply::Status(s.to_string())
    }
}

impl fmt::Display for Reply {
    /// redis-cli-like rendering, for assertion messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, open: &str, items: &[Reply], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, r) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{r}")?;
            }
            f.write_str(close)
        }
        fn pairs(f: &mut fmt::Formatter<'_>, items: &[(Reply, Reply)]) -> fmt::Result {
            f.write_str("{")?;
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
            }
            f.write_str("}")
        }
        match self {
            Reply::Status(s) => f.write_str(s),
            Reply::Error(s) => write!(f, "(error) {s}"),
            Reply::Int(n) => write!(f, "(integer) {n}"),
            Reply::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Reply::Nil | Reply::NilArray => f.write_str("(nil)"),
            Reply::Array(v) => list(f, "[", v, "]"),
            Reply::Set(v) => list(f, "~[", v, "]"),
            Reply::Push(v) => list(f, ">[", v, "]"),
            Reply::Map(m) => pairs(f, m),
            Reply::Double(s) => write!(f, "(double) {s}"),
            Reply::Bool(b) => write!(f, "({b})"),
            Reply::BigNumber(s) => write!(f, "(big number) {s}"),
            Reply::Verbatim(fmt_, b) => write!(f, "{fmt_}:{:?}", String::from_utf8_lossy(b)),
            Reply::Attribute(a, r) => {
                f.write_str("|")?;
                pairs(f, a)?;
                write!(f, " {r}")
            }
        }
    }
}

fn invalid(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

/// The line starting at `*pos` (after the type byte), without CRLF; advances past CRLF.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, ParseError> {
    let rest = &buf[*pos..];
    let Some(i) = rest.windows(2).position(|w| w == b"\r\n") else {
        if rest.len() > 64 * 1024 {
            return Err(invalid("line longer than 64 KiB without CRLF"));
        }
        return Ok(None);
    };
    *pos += i + 2;
    Ok(Some(&rest[..i]))
}

fn text(l: &[u8]) -> Result<String, ParseError> {
    String::from_utf8(l.to_vec())
        .map_err(|_| invalid(format!("non-UTF-8 line {:?}", String::from_utf8_lossy(l))))
}

fn number(l: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(l)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| invalid(format!("bad number {:?}", String::from_utf8_lossy(l))))
}

fn length(l: &[u8]) -> Result<Option<usize>, ParseError> {
    match number(l)? {
        -1 => Ok(None),
        n if (0..=MAX_LEN).contains(&n) => Ok(Some(n as usize)),
        n => Err(invalid(format!("bad length {n}"))),
    }
}

/// A `$`/`=`/`!` payload of `len` bytes plus CRLF.
fn payload<'a>(buf: &'a [u8], pos: &mut usize, len: usize) -> Result<Option<&'a [u8]>, ParseError> {
    let end = *pos + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(invalid("bulk payload not followed by CRLF"));
    }
    let data = &buf[*pos..end];
    *pos = end + 2;
    Ok(Some(data))
}

fn items(buf: &[u8], pos: &mut usize, n: usize) -> Result<Option<Vec<Reply>>, ParseError> {
    let mut v = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        match parse_at(buf, pos)? {
            Some(r) => v.push(r),
            None => return Ok(None),
        }
    }
    Ok(Some(v))
}

fn pairs(buf: &[u8], pos: &mut usize, n: usize) -> Result<Option<Vec<(Reply, Reply)>>, ParseError> {
    let mut v = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let Some(k) = parse_at(buf, pos)? else {
            return Ok(None);
        };
        let Some(val) = parse_at(buf, pos)? else {
            return Ok(None);
        };
        v.push((k, val));
    }
    Ok(Some(v))
}

/// Parses one reply at `*pos`, advancing it. On `Ok(None)` `*pos` is meaningless.
fn parse_at(buf: &[u8], pos: &mut usize) -> Result<Option<Reply>, ParseError> {
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(l) = line(buf, pos)? else { return Ok(None) };
    let reply = match kind {
        b'+' => Reply::Status(text(l)?),
        b'-' => Reply::Error(text(l)?),
        b':' => Reply::Int(number(l)?),
        b'_' if l.is_empty() => Reply::Nil,
        b',' => Reply::Double(text(l)?),
        b'#' => match l {
            b"t" => Reply::Bool(true),
            b"f" => Reply::Bool(false),
            _ => return Err(invalid("bad boolean")),
        },
        b'(' => Reply::BigNumber(text(l)?),
        b'$' => match length(l)? {
            None => Reply::Nil,
            Some(n) => match payload(buf, pos, n)? {
                Some(d) => Reply::Bulk(d.to_vec()),
                None => return Ok(None),
            },
        },
        b'!' => match length(l)? {
            None => return Err(invalid("null blob error")),
            Some(n) => match payload(buf, pos, n)? {
                Some(d) => Reply::Error(String::from_utf8_lossy(d).into_owned()),
                None => return Ok(None),
            },
        },
        b'=' => match length(l)? {
            Some(n) if n >= 4 => match payload(buf, pos, n)? {
                Some(d) if d[3] == b':' => {
                    Reply::Verbatim(String::from_utf8_lossy(&d[..3]).into_owned(), d[4..].to_vec())
                }
                Some(_) => return Err(invalid("verbatim string without format")),
                None => return Ok(None),
            },
            _ => return Err(invalid("bad verbatim length")),
        },
        b'*' | b'~' | b'>' => match length(l)? {
            None if kind == b'*' => Reply::NilArray,
            None => return Err(invalid("null set/push")),
            Some(n) => match items(buf, pos, n)? {
                None => return Ok(None),
                Some(v) if kind == b'*' => Reply::Array(v),
                Some(v) if kind == b'~' => Reply::Set(v),
                Some(v) => Reply::Push(v),
            },
        },
        b'%' | b'|' => {
            let Some(n) = length(l)? else {
                return Err(invalid("null map"));
            };
            let Some(m) = pairs(buf, pos, n)? else {
                return Ok(None);
            };
            if kind == b'%' {
                Reply::Map(m)
            } else {
                match parse_at(buf, pos)? {
                    Some(r) => Reply::Attribute(m, Box::new(r)),
                    None => return Ok(None),
                }
            }
        }
        other => return Err(invalid(format!("unknown reply type byte {:?}", other as char))),
    };
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(b: &[u8]) -> Reply {
        let (r, n) = Reply::parse(b).unwrap().unwrap();
        assert_eq!(n, b.len(), "consumed all of {:?}", String::from_utf8_lossy(b));
        r
    }

    #[test]
    fn resp2_types() {
        assert_eq!(one(b"+OK\r\n"), Reply::status("OK"));
        assert!(one(b"+OK\r\n").is_ok());
        assert_eq!(one(b"-ERR no\r\n"), Reply::Error("ERR no".into()));
        assert_eq!(one(b":-42\r\n"), Reply::Int(-42));
        assert_eq!(one(b"$3\r\nfoo\r\n"), Reply::bulk("foo"));
        assert_eq!(one(b"$0\r\n\r\n"), Reply::bulk(""));
        assert_eq!(one(b"$-1\r\n"), Reply::Nil);
        assert_eq!(one(b"*-1\r\n"), Reply::NilArray);
        assert_eq!(
            one(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"),
            Reply::Array(vec![Reply::bulk("a"), Reply::Array(vec![Reply::Int(1)])])
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(one(b"_\r\n"), Reply::Nil);
        assert_eq!(one(b",1.5\r\n"), Reply::Double("1.5".into()));
        assert_eq!(one(b"#t\r\n"), Reply::Bool(true));
        assert_eq!(one(b"(123\r\n"), Reply::BigNumber("123".into()));
        assert_eq!(
            one(b"=7\r\ntxt:abc\r\n"),
            Reply::Verbatim("txt".into(), b"abc".to_vec())
        );
        assert_eq!(one(b"!5\r\nERR x\r\n"), Reply::Error("ERR x".into()));
        assert_eq!(
            one(b"%1\r\n+a\r\n:1\r\n"),
            Reply::Map(vec![(Reply::status("a"), Reply::Int(1))])
        );
        assert_eq!(one(b"~1\r\n:1\r\n"), Reply::Set(vec![Reply::Int(1)]));
        assert_eq!(one(b">1\r\n:1\r\n"), Reply::Push(vec![Reply::Int(1)]));
        assert_eq!(
            one(b"|1\r\n+k\r\n+v\r\n:2\r\n"),
            Reply::Attribute(
                vec![(Reply::status("k"), Reply::status("v"))],
                Box::new(Reply::Int(2))
            )
        );
    }

    #[test]
    fn incomplete_is_none_at_every_split() {
        let full = b"*3\r\n$3\r\nfoo\r\n%1\r\n+a\r\n,2.5\r\n=7\r\ntxt:abc\r\n";
        for cut in 0..full.len() {
            assert_eq!(Reply::parse(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(Reply::parse(full).unwrap().is_some());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Reply::parse(b"?x\r\n").is_err());
        assert!(Reply::parse(b"$3\r\nfooX\r\n").is_err());
        assert!(Reply::parse(b":abc\r\n").is_err());
        assert!(Reply::parse(b"$-2\r\n").is_err());
    }

    #[test]
    fn parse_leaves_the_rest() {
        let (r, n) = Reply::parse(b"+OK\r\n:1\r\n").unwrap().unwrap();
        assert_eq!((r, n), (Reply::status("OK"), 5));
    }
}
