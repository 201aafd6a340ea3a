//! Directive value types: how each kind of directive parses its arguments, validates them with
//! Redis 7.0's rules and error texts, and formats itself for CONFIG GET and CONFIG REWRITE.

use slotkv_protocol::{parse_f64, parse_i64};

/// How a numeric directive is written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFmt {
    /// A plain integer (`string2ll` rules).
    Plain,
    /// A memory size: `1000`, `1k`, `1kb`, `5gb`... reported in bytes.
    Memory,
    /// A memory size or a percentage `N%` (stored negated, as Redis does).
    MemoryOrPercent,
    /// An octal number (`unixsocketperm`).
    Octal,
}

/// A validator for string directives: returns Redis's error text on refusal.
pub type StrCheck = fn(&[u8]) -> Result<(), &'static str>;

/// The type of a directive.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// An integer with inclusive bounds.
    Num { min: i128, max: i128, fmt: NumFmt },
    /// One of a fixed set of names; several names may share a value (the first is reported).
    Enum(&'static [(&'static str, i64)]),
    /// A set of flags given as several names, `default` being none (shutdown-on-sig*).
    Flags(&'static [(&'static str, i64)]),
    /// A string; `null_if_empty` makes "" mean "unset" (CONFIG REWRITE then drops the line).
    Str {
        null_if_empty: bool,
        check: Option<StrCheck>,
    },
    /// `save <seconds> <changes> ...` or `save ""`.
    Save,
    /// `bind addr...` (up to 16).
    Bind,
    /// `client-output-buffer-limit <class> <hard> <soft> <seconds>...`.
    ClientOutputBufferLimit,
    /// `oom-score-adj-values <master> <replica> <bgchild>`.
    OomScoreAdjValues,
    /// `notify-keyspace-events <classes>`.
    NotifyKeyspaceEvents,
    /// `replicaof <host> <port>` or `replicaof no one`.
    ReplicaOf,
    /// `latency-tracking-info-percentiles <p>...`.
    Percentiles,
    /// `dir <path>`.
    Dir,
}

impl Kind {
    /// Whether the directive takes several arguments (Redis's MULTI_ARG_CONFIG): on CONFIG
    /// SET the value is split on single spaces.
    pub fn multi_arg(&self) -> bool {
        matches!(
            self,
            Kind::Flags(_)
                | Kind::Save
                | Kind::Bind
                | Kind::ClientOutputBufferLimit
                | Kind::OomScoreAdjValues
                | Kind::ReplicaOf
                | Kind::Percentiles
        )
    }
}

/// Output buffer limits of one client class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: i64,
}

/// Client classes of `client-output-buffer-limit`, in Redis's order.
pub const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// A directive's current value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Num(i128),
    Enum(i64),
    Flags(i64),
    /// `None` is Redis's NULL (unset) string.
    Str(Option<Vec<u8>>),
    Save(Vec<(i64, i64)>),
    Bind(Vec<Vec<u8>>),
    Obuf([ObufLimit; 3]),
    Oom([i64; 3]),
    Notify(u32),
    ReplicaOf(Option<(Vec<u8>, i64)>),
    Percentiles(Vec<f64>),
    Dir(Vec<u8>),
}

/// Redis's `memtoull`: digits then an optional unit among b, k, kb, m, mb, g, gb (any case);
/// k/m/g are powers of 1000, kb/mb/gb powers of 1024. Overflow saturates like `strtoull`.
pub fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits_end = s.iter().position(|c| !c.is_ascii_digit()).unwrap_or(s.len());
    let unit = s[digits_end..].to_ascii_lowercase();
    let mul: u64 = match unit.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let mut v: u64 = 0;
    for &c in &s[..digits_end] {
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    Some(v.wrapping_mul(mul))
}

/// C's `strtoll(s, &end, base)` followed by a `*end == '\0'` check: leading spaces and a sign
/// are accepted, an empty string is 0, overflow saturates. `None` when junk follows.
pub fn strtoll_full(s: &[u8], base: u32) -> Option<i64> {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || (b'\t'..=b'\r').contains(&s[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: i128 = 0;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(base) else {
            break;
        };
        v = (v * i128::from(base) + i128::from(d)).min(i128::from(i64::MAX) + 1);
        i += 1;
    }
    if i == start {
        // No digits: strtoll leaves the end pointer at the start of the string.
        return if s.is_empty() { Some(0) } else { None };
    }
    if i != s.len() {
        return None;
    }
    let v = if neg { -v } else { v };
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Parses a numeric directive's argument with the rules of Redis's `numericParseString` and
/// `numericBoundaryCheck`.
pub fn parse_num(arg: &[u8], min: i128, max: i128, fmt: NumFmt) -> Result<i128, String> {
    let mut parsed: Option<i128> = None;
    if matches!(fmt, NumFmt::Memory | NumFmt::MemoryOrPercent) {
        parsed = memtoull(arg).map(i128::from);
    }
    if parsed.is_none() && fmt == NumFmt::MemoryOrPercent && arg.len() > 1 && arg.last() == Some(&b'%') {
        if let Some(p) = parse_i64(&arg[..arg.len() - 1]) {
            if p >= 0 {
                parsed = Some(-i128::from(p));
            }
        }
    }
    if parsed.is_none() && fmt == NumFmt::Octal {
        parsed = strtoll_full_strict(arg, 8).map(i128::from);
    }
    if parsed.is_none() && fmt == NumFmt::Plain {
        parsed = parse_i64(arg).map(i128::from);
    }
    let Some(v) = parsed else {
        return Err(match fmt {
            NumFmt::MemoryOrPercent => "argument must be a memory or percent value",
            NumFmt::Memory => "argument must be a memory value",
            NumFmt::Octal => "argument couldn't be parsed as an octal number",
            NumFmt::Plain => "argument couldn't be parsed into an integer",
        }
        .to_string());
    };
    if fmt == NumFmt::MemoryOrPercent && v < 0 {
        if v < min {
            return Err(format!("percentage argument must be less or equal to {}", -min));
        }
        return Ok(v);
    }
    if v < min || v > max {
        return Err(if fmt == NumFmt::Octal {
            format!("argument must be between {min:o} and {max:o} inclusive")
        } else {
            format!("argument must be between {min} and {max} inclusive")
        });
    }
    Ok(v)
}

/// `strtoll` with overflow reported as an error (Redis checks `errno` for octal values).
fn strtoll_full_strict(s: &[u8], base: u32) -> Option<i64> {
    let v = strtoll_full(s, base)?;
    if v == i64::MAX || v == i64::MIN {
        return None;
    }
    Some(v)
}

/// Formats a numeric value for CONFIG GET.
pub fn format_num(v: i128, fmt: NumFmt) -> String {
    match fmt {
        NumFmt::MemoryOrPercent if v < 0 => format!("{}%", -v),
        NumFmt::Octal => format!("{v:o}"),
        _ => v.to_string(),
    }
}

/// Formats a memory size the way CONFIG REWRITE writes it (gb, mb, kb when exact).
pub fn format_memory_rewrite(v: i128) -> String {
    const GB: i128 = 1024 * 1024 * 1024;
    const MB: i128 = 1024 * 1024;
    const KB: i128 = 1024;
    if v != 0 && v % GB == 0 {
        format!("{}gb", v / GB)
    } else if v != 0 && v % MB == 0 {
        format!("{}mb", v / MB)
    } else if v != 0 && v % KB == 0 {
        format!("{}kb", v / KB)
    } else {
        v.to_string()
    }
}

/// Redis's `yesnotoi`.
pub fn parse_bool(arg: &[u8]) -> Result<bool, String> {
    if arg.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".to_string())
    }
}

fn enum_error(names: &[(&str, i64)]) -> String {
    let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    format!("argument(s) must be one of the following: {}", list.join(", "))
}

/// Looks an enum name up, case-insensitively.
pub fn parse_enum(arg: &[u8], names: &[(&str, i64)]) -> Result<i64, String> {
    names
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(arg))
        .map(|(_, v)| *v)
        .ok_or_else(|| enum_error(names))
}

/// The reported name of an enum value (the first name carrying it).
pub fn enum_name(v: i64, names: &[(&'static str, i64)]) -> &'static str {
    names
        .iter()
        .find(|(_, x)| *x == v)
        .map(|(n, _)| *n)
        .unwrap_or("unknown")
}

fn parse_flags(args: &[&[u8]], names: &[(&str, i64)]) -> Result<i64, String> {
    if args.is_empty() {
        return Err(enum_error(names));
    }
    let mut v = 0;
    for a in args {
        v |= parse_enum(a, names)?;
    }
    Ok(v)
}

fn format_flags(v: i64, names: &[(&'static str, i64)]) -> String {
    if v == 0 {
        return enum_name(0, names).to_string();
    }
    let parts: Vec<&str> = names
        .iter()
        .filter(|(_, f)| *f != 0 && v & f == *f)
        .map(|(n, _)| *n)
        .collect();
    parts.join(" ")
}

/// `save` arguments: pairs of seconds (>= 1) and changes (>= 0), or a single "" for none.
pub fn parse_save(args: &[&[u8]]) -> Result<Vec<(i64, i64)>, String> {
    // One argument holding all the pairs (`--save "3600 1"`, CONFIG SET) is split on
    // spaces, as Redis does.
    let split: Vec<&[u8]>;
    let args: &[&[u8]] = if args.len() == 1 && args[0].is_empty() {
        &[]
    } else if args.len() == 1 {
        split = args[0].split(|c| *c == b' ').filter(|p| !p.is_empty()).collect();
        &split
    } else {
        args
    };
    let err = || "Invalid save parameters".to_string();
    if args.len() % 2 == 1 {
        return Err(err());
    }
    let mut out = Vec::new();
    for pair in args.chunks(2) {
        let secs = strtoll_full(pair[0], 10).ok_or_else(err)?;
        let changes = strtoll_full(pair[1], 10).ok_or_else(err)?;
        if secs < 1 || changes < 0 {
            return Err(err());
        }
        out.push((secs, i64::from(changes as i32)));
    }
    Ok(out)
}

/// Client class by name as `getClientTypeByName` knows it; `master` is refused by the caller.
fn obuf_class(name: &[u8]) -> Option<usize> {
    let n = name.to_ascii_lowercase();
    match n.as_slice() {
        b"normal" => Some(0),
        b"slave" | b"replica" => Some(1),
        b"pubsub" => Some(2),
        _ => None,
    }
}

fn parse_obuf(args: &[&[u8]], current: &[ObufLimit; 3]) -> Result<[ObufLimit; 3], String> {
    if !args.chunks_exact(4).remainder().is_empty() {
        return Err("Wrong number of arguments in buffer limit configuration.".to_string());
    }
    let mut out = *current;
    for chunk in args.chunks(4) {
        let class = obuf_class(chunk[0])
            .ok_or_else(|| "Invalid client class specified in buffer limit configuration.".to_string())?;
        let hard = memtoull(chunk[1]);
        let soft = memtoull(chunk[2]);
        let secs = strtoll_full(chunk[3], 10);
        match (hard, soft, secs) {
            (Some(hard), Some(soft), Some(secs)) if secs >= 0 => {
                out[class] = ObufLimit {
                    hard,
                    soft,
                    soft_seconds: i64::from(secs as i32),
                };
            }
            _ => {
                return Err("Error in hard, soft or soft_seconds setting in buffer limit \
                            configuration."
                    .to_string())
            }
        }
    }
    Ok(out)
}

fn parse_oom(args: &[&[u8]]) -> Result<[i64; 3], String> {
    if args.len() != 3 {
        return Err("wrong number of arguments".to_string());
    }
    let mut out = [0i64; 3];
    for (i, a) in args.iter().enumerate() {
        match strtoll_full(a, 10) {
            Some(v) if (-2000..=2000).contains(&v) => out[i] = v,
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and \
                            2000."
                        .to_string(),
                )
            }
        }
    }
    Ok(out)
}

// Keyspace notification classes, with Redis's bit layout.
const N_KEYSPACE: u32 = 1 << 0;
const N_KEYEVENT: u32 = 1 << 1;
const N_GENERIC: u32 = 1 << 2;
const N_STRING: u32 = 1 << 3;
const N_LIST: u32 = 1 << 4;
const N_SET: u32 = 1 << 5;
const N_HASH: u32 = 1 << 6;
const N_ZSET: u32 = 1 << 7;
const N_EXPIRED: u32 = 1 << 8;
const N_EVICTED: u32 = 1 << 9;
const N_STREAM: u32 = 1 << 10;
const N_KEY_MISS: u32 = 1 << 11;
const N_MODULE: u32 = 1 << 12;
const N_NEW: u32 = 1 << 13;
const N_ALL: u32 =
    N_GENERIC | N_STRING | N_LIST | N_SET | N_HASH | N_ZSET | N_EXPIRED | N_EVICTED | N_STREAM | N_MODULE;

/// Parses `notify-keyspace-events` classes into flags.
pub fn parse_notify(arg: &[u8]) -> Result<u32, String> {
    let mut flags = 0;
    for &c in arg {
        flags |= match c {
            b'A' => N_ALL,
            b'g' => N_GENERIC,
            b'$' => N_STRING,
            b'l' => N_LIST,
            b's' => N_SET,
            b'h' => N_HASH,
            b'z' => N_ZSET,
            b'x' => N_EXPIRED,
            b'e' => N_EVICTED,
            b'K' => N_KEYSPACE,
            b'E' => N_KEYEVENT,
            b't' => N_STREAM,
            b'm' => N_KEY_MISS,
            b'd' => N_MODULE,
            b'n' => N_NEW,
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
        };
    }
    Ok(flags)
}

/// Formats notification flags as Redis reports them (`A` for all classes, then K, E, m).
pub fn format_notify(flags: u32) -> String {
    let mut s = String::new();
    if flags & N_ALL == N_ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (N_GENERIC, 'g'),
            (N_STRING, '$'),
            (N_LIST, 'l'),
            (N_SET, 's'),
            (N_HASH, 'h'),
            (N_ZSET, 'z'),
            (N_EXPIRED, 'x'),
            (N_EVICTED, 'e'),
            (N_STREAM, 't'),
            (N_MODULE, 'd'),
            (N_NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(N_KEYSPACE, 'K'), (N_KEYEVENT, 'E'), (N_KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Formats a percentile as `%f` with trailing zeros (and a trailing dot) removed.
pub fn format_percentile(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

fn parse_percentiles(args: &[&[u8]]) -> Result<Vec<f64>, String> {
    if args.len() == 1 && args[0].is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for a in args {
        let p = parse_f64(a)
            .filter(|p| p.is_finite())
            .ok_or_else(|| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
        if !(0.0..=100.0).contains(&p) {
            return Err("latency-tracking-info-percentiles parameters should sit between \
                        [0.0,100.0]"
                .to_string());
        }
        out.push(p);
    }
    Ok(out)
}

/// Parses the argument(s) of a directive of kind `kind` into a value. `current` is the value
/// being replaced (some kinds, like client-output-buffer-limit, only change what is given).
pub fn parse_value(kind: &Kind, args: &[&[u8]], current: Option<&Value>) -> Result<Value, String> {
    let one = || -> Result<&[u8], String> {
        if args.len() == 1 {
            Ok(args[0])
        } else {
            Err("wrong number of arguments".to_string())
        }
    };
    Ok(match kind {
        Kind::Bool => Value::Bool(parse_bool(one()?)?),
        Kind::Num { min, max, fmt } => Value::Num(parse_num(one()?, *min, *max, *fmt)?),
        Kind::Enum(names) => Value::Enum(parse_enum(one()?, names)?),
        Kind::Flags(names) => {
            let v = parse_flags(args, names)?;
            // save (1) and nosave (2) exclude each other.
            if v & 3 == 3 {
                return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".to_string());
            }
            Value::Flags(v)
        }
        Kind::Str { null_if_empty, check } => {
            let a = one()?;
            if let Some(check) = check {
                check(a).map_err(str::to_string)?;
            }
            if *null_if_empty && a.is_empty() {
                Value::Str(None)
            } else {
                Value::Str(Some(a.to_vec()))
            }
        }
        Kind::Save => Value::Save(parse_save(args)?),
        Kind::Bind => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".to_string());
            }
            if args.len() == 1 && args[0].is_empty() {
                Value::Bind(Vec::new())
            } else {
                Value::Bind(args.iter().map(|a| a.to_vec()).collect())
            }
        }
        Kind::ClientOutputBufferLimit => {
            let cur = match current {
                Some(Value::Obuf(c)) => *c,
                _ => default_obuf(),
            };
            Value::Obuf(parse_obuf(args, &cur)?)
        }
        Kind::OomScoreAdjValues => Value::Oom(parse_oom(args)?),
        Kind::NotifyKeyspaceEvents => Value::Notify(parse_notify(one()?)?),
        Kind::ReplicaOf => {
            if args.len() != 2 {
                return Err("wrong number of arguments".to_string());
            }
            if args[0].eq_ignore_ascii_case(b"no") && args[1].eq_ignore_ascii_case(b"one") {
                Value::ReplicaOf(None)
            } else {
                match strtoll_full(args[1], 10) {
                    Some(p) if !args[1].is_empty() && (0..=65535).contains(&p) => {
                        Value::ReplicaOf(Some((args[0].to_vec(), p)))
                    }
                    _ => return Err("Invalid master port".to_string()),
                }
            }
        }
        Kind::Percentiles => Value::Percentiles(parse_percentiles(args)?),
        Kind::Dir => Value::Dir(one()?.to_vec()),
    })
}

/// Redis's default client output buffer limits.
pub fn default_obuf() -> [ObufLimit; 3] {
    [
        ObufLimit {
            hard: 0,
            soft: 0,
            soft_seconds: 0,
        },
        ObufLimit {
            hard: 256 << 20,
            soft: 64 << 20,
            soft_seconds: 60,
        },
        ObufLimit {
            hard: 32 << 20,
            soft: 8 << 20,
            soft_seconds: 60,
        },
    ]
}

/// Formats a value for CONFIG GET.
pub fn format_value(kind: &Kind, v: &Value) -> Vec<u8> {
    match (kind, v) {
        (_, Value::Bool(b)) => {
            if *b {
                b"yes".to_vec()
            } else {
                b"no".to_vec()
            }
        }
        (Kind::Num { fmt, .. }, Value::Num(n)) => format_num(*n, *fmt).into_bytes(),
        (Kind::Enum(names), Value::Enum(e)) => enum_name(*e, names).as_bytes().to_vec(),
        (Kind::Flags(names), Value::Flags(f)) => format_flags(*f, names).into_bytes(),
        (_, Value::Str(s)) => s.clone().unwrap_or_default(),
        (_, Value::Save(pairs)) => pairs
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (_, Value::Bind(addrs)) => addrs.join(&b' '),
        (_, Value::Obuf(l)) => l
            .iter()
            .zip(OBUF_CLASSES)
            .map(|(l, c)| format!("{c} {} {} {}", l.hard, l.soft, l.soft_seconds))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (_, Value::Oom(v)) => v
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (_, Value::Notify(f)) => format_notify(*f).into_bytes(),
        (_, Value::ReplicaOf(r)) => match r {
            Some((h, p)) => {
                let mut out = h.clone();
                out.extend_from_slice(format!(" {p}").as_bytes());
                out
            }
            None => Vec::new(),
        },
        (_, Value::Percentiles(p)) => p
            .iter()
            .map(|x| format_percentile(*x))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (_, Value::Dir(d)) => d.clone(),
        (_, other) => format!("{other:?}").into_bytes(),
    }
}

/// Redis's `sdscatrepr`: a double-quoted string with C-style escapes.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtoull_units() {
        assert_eq!(memtoull(b"0"), Some(0));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"1k"), Some(1000));
        assert_eq!(memtoull(b"1KB"), Some(1024));
        assert_eq!(memtoull(b"1m"), Some(1_000_000));
        assert_eq!(memtoull(b"100mb"), Some(100 << 20));
        assert_eq!(memtoull(b"1g"), Some(1_000_000_000));
        assert_eq!(memtoull(b"1Gb"), Some(1 << 30));
        assert_eq!(memtoull(b"512b"), Some(512));
        assert_eq!(memtoull(b"-1"), None);
        assert_eq!(memtoull(b"1.5gb"), None);
        assert_eq!(memtoull(b" 1"), None);
        assert_eq!(memtoull(b"1 gb"), None);
        assert_eq!(memtoull(b"10xb"), None);
        assert_eq!(memtoull(b"18446744073709551616"), Some(u64::MAX));
    }

    #[test]
    fn strtoll_rules() {
        assert_eq!(strtoll_full(b"+5", 10), Some(5));
        assert_eq!(strtoll_full(b" 7", 10), Some(7));
        assert_eq!(strtoll_full(b"010", 10), Some(10));
        assert_eq!(strtoll_full(b"", 10), Some(0));
        assert_eq!(strtoll_full(b"5x", 10), None);
        assert_eq!(strtoll_full(b"x", 10), None);
        assert_eq!(strtoll_full(b"777", 8), Some(511));
        assert_eq!(strtoll_full(b"8", 8), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            parse_num(b"70000", 0, 65535, NumFmt::Plain).unwrap_err(),
            "argument must be between 0 and 65535 inclusive"
        );
        assert_eq!(
            parse_num(b"abc", 0, 65535, NumFmt::Plain).unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            parse_num(b"010", 0, 65535, NumFmt::Plain).unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            parse_num(b"+5", 0, 65535, NumFmt::Plain).unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            parse_num(b"64mb", 0, i64::MAX.into(), NumFmt::Memory),
            Ok(64 << 20)
        );
        assert_eq!(
            parse_num(b"-1", 0, i64::MAX.into(), NumFmt::Memory).unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            parse_num(b"10%", -100, i64::MAX.into(), NumFmt::MemoryOrPercent),
            Ok(-10)
        );
        assert_eq!(
            parse_num(b"200%", -100, i64::MAX.into(), NumFmt::MemoryOrPercent).unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        assert_eq!(
            parse_num(b"x%", -100, 5, NumFmt::MemoryOrPercent).unwrap_err(),
            "argument must be a memory or percent value"
        );
        assert_eq!(parse_num(b"700", 0, 0o777, NumFmt::Octal), Ok(0o700));
        assert_eq!(
            parse_num(b"999", 0, 0o777, NumFmt::Octal).unwrap_err(),
            "argument couldn't be parsed as an octal number"
        );
        assert_eq!(
            parse_num(b"1777", 0, 0o777, NumFmt::Octal).unwrap_err(),
            "argument must be between 0 and 777 inclusive"
        );
        assert_eq!(format_num(-10, NumFmt::MemoryOrPercent), "10%");
        assert_eq!(format_num(0o700, NumFmt::Octal), "700");
        assert_eq!(format_memory_rewrite(64 << 20), "64mb");
        assert_eq!(format_memory_rewrite(1 << 30), "1gb");
        assert_eq!(format_memory_rewrite(2048), "2kb");
        assert_eq!(format_memory_rewrite(1000), "1000");
        assert_eq!(format_memory_rewrite(0), "0");
    }

    #[test]
    fn save_params() {
        assert_eq!(
            parse_save(&[b"3600", b"1", b"300", b"100"]),
            Ok(vec![(3600, 1), (300, 100)])
        );
        assert_eq!(parse_save(&[b""]), Ok(vec![]));
        assert_eq!(parse_save(&[]), Ok(vec![]));
        assert_eq!(parse_save(&[b"10", b"+5"]), Ok(vec![(10, 5)]));
        for bad in [&[&b"10"[..]][..], &[b"0", b"1"], &[b"10", b"-1"], &[b"x", b"1"]] {
            assert_eq!(parse_save(bad).unwrap_err(), "Invalid save parameters");
        }
    }

    #[test]
    fn notify_round_trip() {
        assert_eq!(format_notify(parse_notify(b"KEA").unwrap()), "AKE");
        assert_eq!(format_notify(parse_notify(b"Kgxm$n").unwrap()), "g$xnKm");
        assert_eq!(format_notify(parse_notify(b"AKEmn").unwrap()), "AKEm");
        assert_eq!(format_notify(parse_notify(b"g$lshzxetdE").unwrap()), "AE");
        assert_eq!(format_notify(parse_notify(b"").unwrap()), "");
        assert!(parse_notify(b"Q").is_err());
    }

    #[test]
    fn percentiles_and_repr() {
        assert_eq!(format_percentile(50.0), "50");
        assert_eq!(format_percentile(99.9), "99.9");
        assert_eq!(format_percentile(99.9999), "99.9999");
        assert_eq!(repr(b"a\"b\\\n\x01"), "\"a\\\"b\\\\\\n\\x01\"");
    }
}
