//! Reply rendering, byte for byte as redis-cli 7.0 prints it: the human ("tty") form with
//! quoting and numbered nested lists, the raw form used when stdout is not a terminal, and
//! `--csv`.

use slotkv_protocol::{format_double, Frame};

/// An output mode, chosen from the options and whether stdout is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Standard,
    Raw,
    Csv,
}

/// A reply type redis-cli cannot print: it reports it and exits 1. Only RESP3 big numbers
/// (hiredis type 13) reach this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownType(pub u8);

/// hiredis's type number, for the "Unknown reply type" message.
const BIGNUM_TYPE: u8 = 13;

/// Appends `data` quoted and escaped the way `sdscatrepr` does.
pub fn repr(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    for &c in data {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
            }
        }
    }
    out.push(b'"');
}

fn double_text(v: f64) -> String {
    format_double(v)
}

fn is_multiline(f: &Frame) -> bool {
    match f {
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => match items.len() {
            0 => false,
            1 => is_multiline(&items[0]),
            _ => true,
        },
        Frame::Map(pairs) => match pairs.len() {
            0 => false,
            1 => is_multiline(&pairs[0].1),
            _ => true,
        },
        _ => false,
    }
}

/// The human form (`cliFormatReplyTTY`), with `prefix` the indentation of nested lines.
pub fn tty(out: &mut Vec<u8>, f: &Frame, prefix: &str) -> Result<(), UnknownType> {
    match f {
        Frame::Error(e) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(s) => {
            out.extend_from_slice(s.as_bytes());
            out.push(b'\n');
        }
        Frame::Integer(n) => {
            out.extend_from_slice(format!("(integer) {n}\n").as_bytes());
        }
        Frame::Double(v) => {
            out.extend_from_slice(format!("(double) {}\n", double_text(*v)).as_bytes());
        }
        Frame::Bulk(b) => {
            repr(out, b);
            out.push(b'\n');
        }
        Frame::Verbatim(_, b) => {
            out.extend_from_slice(b);
            out.push(b'\n');
        }
        Frame::Null => out.extend_from_slice(b"(nil)\n"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Frame::BigNumber(_) => return Err(UnknownType(BIGNUM_TYPE)),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            if items.is_empty() {
                out.extend_from_slice(match f {
                    Frame::Array(_) => &b"(empty array)\n"[..],
                    Frame::Set(_) => b"(empty set)\n",
                    _ => b"(empty push)\n",
                });
                return Ok(());
            }
            let sep = if matches!(f, Frame::Set(_)) { '~' } else { ')' };
            let width = items.len().to_string().len();
            let child_prefix = format!("{prefix}{}", " ".repeat(width + 2));
            for (i, item) in items.iter().enumerate() {
                let lead = if i == 0 { "" } else { prefix };
                out.extend_from_slice(format!("{lead}{:>width$}{sep} ", i + 1).as_bytes());
                tty(out, item, &child_prefix)?;
            }
        }
        Frame::Map(pairs) => {
            if pairs.is_empty() {
                out.extend_from_slice(b"(empty hash)\n");
                return Ok(());
            }
            let width = pairs.len().to_string().len();
            let child_prefix = format!("{prefix}{}", " ".repeat(width + 2));
            for (i, (k, v)) in pairs.iter().enumerate() {
                let lead = if i == 0 { "" } else { prefix };
                out.extend_from_slice(format!("{lead}{:>width$}# ", i + 1).as_bytes());
                tty(out, k, &child_prefix)?;
                out.pop(); // the key's newline
                out.extend_from_slice(b" => ");
                if is_multiline(v) {
                    out.push(b'\n');
                    out.extend_from_slice(child_prefix.as_bytes());
                }
                tty(out, v, &child_prefix)?;
            }
        }
    }
    Ok(())
}

/// A client-tracking invalidation push in the human form, `-> invalidate: 'k1', 'k2'`;
/// `None` for any other frame.
pub fn invalidate_tty(f: &Frame) -> Option<Vec<u8>> {
    let Frame::Push(items) = f else { return None };
    let [Frame::Bulk(kind), Frame::Array(keys)] = items.as_slice() else {
        return None;
    };
    if !kind.starts_with(b"invalidate") {
        return None;
    }
    let mut out = b"-> invalidate: ".to_vec();
    for (i, key) in keys.iter().enumerate() {
        let Frame::Bulk(k) = key else { return None };
        out.push(b'\'');
        // printed with %s: stops at a NUL byte
        out.extend(k.iter().take_while(|&&c| c != 0));
        out.push(b'\'');
        if i + 1 < keys.len() {
            out.extend_from_slice(b", ");
        }
    }
    out.push(b'\n');
    Some(out)
}

/// The raw form (`cliFormatReplyRaw`): values as they are, aggregate elements separated by
/// `delim`, map keys and values by a space. No final newline.
pub fn raw(out: &mut Vec<u8>, f: &Frame, delim: &[u8]) -> Result<(), UnknownType> {
    match f {
        Frame::Null => {}
        Frame::Error(e) => {
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(s) => out.extend_from_slice(s.as_bytes()),
        Frame::Bulk(b) | Frame::Verbatim(_, b) => out.extend_from_slice(b),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(v) => out.extend_from_slice(double_text(*v).as_bytes()),
        Frame::BigNumber(_) => return Err(UnknownType(BIGNUM_TYPE)),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw(out, item, delim)?;
            }
        }
        Frame::Map(pairs) => {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw(out, k, delim)?;
                out.push(b' ');
                raw(out, v, delim)?;
            }
        }
    }
    Ok(())
}

/// The `--csv` form (`cliFormatReplyCSV`); maps are flattened. No final newline.
pub fn csv(out: &mut Vec<u8>, f: &Frame) -> Result<(), UnknownType> {
    match f {
        Frame::Error(e) => {
            out.extend_from_slice(b"ERROR,");
            repr(out, e.as_bytes());
        }
        Frame::Simple(s) => repr(out, s.as_bytes()),
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(v) => out.extend_from_slice(double_text(*v).as_bytes()),
        Frame::Bulk(b) | Frame::Verbatim(_, b) => repr(out, b),
        Frame::Null => out.extend_from_slice(b"NULL"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Frame::BigNumber(_) => return Err(UnknownType(BIGNUM_TYPE)),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv(out, item)?;
            }
        }
        Frame::Map(pairs) => {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv(out, k)?;
                out.push(b',');
                csv(out, v)?;
            }
        }
    }
    Ok(())
}

/// A whole reply as redis-cli writes it to stdout in `mode`. `verbatim` is redis-cli's
/// "raw output" for commands such as INFO: raw form without the trailing delimiter, in every
/// mode.
pub fn reply(
    f: &Frame,
    mode: OutputMode,
    verbatim: bool,
    mb_delim: &[u8],
    cmd_delim: &[u8],
) -> Result<Vec<u8>, UnknownType> {
    let mut out = Vec::new();
    if verbatim {
        raw(&mut out, f, mb_delim)?;
        return Ok(out);
    }
    match mode {
        OutputMode::Standard => tty(&mut out, f, "")?,
        OutputMode::Raw => {
            raw(&mut out, f, mb_delim)?;
            out.extend_from_slice(cmd_delim);
        }
        OutputMode::Csv => {
            csv(&mut out, f)?;
            out.push(b'\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn b(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn tty_str(f: &Frame) -> String {
        String::from_utf8(reply(f, OutputMode::Standard, false, b"\n", b"\n").unwrap()).unwrap()
    }

    #[test]
    fn quoting() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\nd\x01\xc3\xa9\x07\x08\t\r");
        assert_eq!(out, b"\"a\\\"b\\\\c\\nd\\x01\\xc3\\xa9\\a\\b\\t\\r\"");
    }

    #[test]
    fn nested_indentation() {
        let ints: Vec<Frame> = (1..=11).map(Frame::Integer).collect();
        let f = Frame::Array(vec![
            Frame::Integer(1),
            Frame::Array(vec![Frame::Integer(2), Frame::Array(vec![b("a"), b("b")])]),
            Frame::Array(vec![]),
            Frame::Array(ints),
        ]);
        let s = tty_str(&f);
        assert!(s.starts_with(
            "1) (integer) 1\n2) 1) (integer) 2\n   2) 1) \"a\"\n      2) \"b\"\n3) (empty array)\n4)  1) (integer) 1\n"
        ));
        assert!(s.ends_with("    9) (integer) 9\n   10) (integer) 10\n   11) (integer) 11\n"));
    }

    #[test]
    fn maps() {
        let f = Frame::Map(vec![
            (b("a"), Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])),
            (b("b"), Frame::Map(vec![(b("x"), Frame::Integer(1))])),
        ]);
        assert_eq!(
            tty_str(&f),
            "1# \"a\" => \n   1) (integer) 1\n   2) (integer) 2\n2# \"b\" => 1# \"x\" => (integer) 1\n"
        );
        let mut out = Vec::new();
        raw(&mut out, &f, b"\n").unwrap();
        assert_eq!(out, b"a 1\n2\nb x 1");
    }
}
