//! The string family: GET/SET and their variants, counters, ranges.

use bytes::Bytes;
use slotkv_keyspace::Value;

use crate::args::{int, is};
use crate::flags::*;
use crate::{cmd, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::String;
    vec![
        cmd("get", 2, READONLY | FAST, (1, 1, 1), g, get as DataFn).summary("Get the value of a key"),
        cmd("set", -3, WRITE | DENYOOM, (1, 1, 1), g, set as DataFn).summary("Set the string value of a key"),
        cmd("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), g, setnx as DataFn),
        cmd("setex", 4, WRITE | DENYOOM, (1, 1, 1), g, setex as DataFn).since("2.0.0"),
        cmd("psetex", 4, WRITE | DENYOOM, (1, 1, 1), g, psetex as DataFn).since("2.6.0"),
        cmd(
            "getset",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            getset as DataFn,
        ),
        cmd("getdel", 2, WRITE | FAST, (1, 1, 1), g, getdel as DataFn).since("6.2.0"),
        cmd("getex", -2, WRITE | FAST, (1, 1, 1), g, getex as DataFn).since("6.2.0"),
        cmd("mget", -2, READONLY | FAST, (1, -1, 1), g, mget as DataFn),
        cmd("mset", -3, WRITE | DENYOOM, (1, -1, 2), g, mset as DataFn).since("1.0.1"),
        cmd("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), g, msetnx as DataFn).since("1.0.1"),
        cmd(
            "append",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            append as DataFn,
        )
        .since("2.0.0"),
        cmd("strlen", 2, READONLY | FAST, (1, 1, 1), g, strlen as DataFn).since("2.2.0"),
        cmd("getrange", 4, READONLY, (1, 1, 1), g, getrange as DataFn).since("2.4.0"),
        cmd("substr", 4, READONLY, (1, 1, 1), g, getrange as DataFn),
        cmd("setrange", 4, WRITE | DENYOOM, (1, 1, 1), g, setrange as DataFn).since("2.2.0"),
        cmd("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), g, incr as DataFn),
        cmd("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), g, decr as DataFn),
        cmd(
            "incrby",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            incrby as DataFn,
        ),
        cmd(
            "decrby",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            decrby as DataFn,
        ),
        cmd(
            "incrbyfloat",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            incrbyfloat as DataFn,
        )
        .since("2.6.0"),
        cmd("lcs", -3, READONLY, (1, 2, 1), g, lcs as DataFn).since("7.0.0"),
    ]
}

/// The string at `key`, `None` if missing, WRONGTYPE if another type.
pub(crate) fn get_str<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c Vec<u8>>, CmdError> {
    match ctx.get(key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    match db.get(&args[1], now) {
        None => ctx.out.null(),
        Some(Value::Str(s)) => ctx.out.bulk(s),
        Some(_) => return Err(CmdError::WrongType),
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    None,
    Nx,
    Xx,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    None,
    KeepTtl,
    /// Absolute Unix ms.
    At(i64),
    Persist,
}

/// Parses EX/PX/EXAT/PXAT values into an absolute time, with the `invalid expire time`
/// error naming the command.
fn expire_arg(name: &str, unit_ms: i64, absolute: bool, arg: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    let invalid = || CmdError::err(format!("invalid expire time in '{name}' command"));
    let n = int(arg)?;
    if n <= 0 {
        return Err(invalid());
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if absolute {
        Ok(ms)
    } else {
        ms.checked_add(now_ms).ok_or_else(invalid)
    }
}

fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut cond = Cond::None;
    let mut expiry = Expiry::None;
    let mut want_get = false;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        if is(a, "nx") && cond == Cond::None {
            cond = Cond::Nx;
        } else if is(a, "xx") && cond == Cond::None {
            cond = Cond::Xx;
        } else if is(a, "get") {
            want_get = true;
        } else if is(a, "keepttl") && expiry == Expiry::None {
            expiry = Expiry::KeepTtl;
        } else if expiry == Expiry::None
            && next.is_some()
            && (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
        {
            let unit = if is(a, "ex") || is(a, "exat") { 1000 } else { 1 };
            let absolute = is(a, "exat") || is(a, "pxat");
            let v = next.ok_or(CmdError::Syntax)?;
            expiry = Expiry::At(expire_arg("set", unit, absolute, v, ctx.now_ms)?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let key = &args[1];
    let old = if want_get {
        get_str(ctx, key)?.cloned()
    } else {
        None
    };
    let exists = if cond == Cond::None {
        false
    } else if want_get {
        old.is_some() || ctx.get(key).is_some()
    } else {
        let now = ctx.now_ms;
        ctx.db().exists(key, now)
    };
    let allowed = match cond {
        Cond::None => true,
        Cond::Nx => !exists,
        Cond::Xx => exists,
    };
    if allowed {
        let now = ctx.now_ms;
        let value = Value::Str(args[2].to_vec());
        let db = ctx.db();
        match expiry {
            Expiry::KeepTtl => db.set_keep_ttl(key, value, now),
            _ => db.set(key, value, now),
        }
        if let Expiry::At(when) = expiry {
            db.set_expire(key, when);
            // Relative and second-based expiries propagate as absolute milliseconds so that
            // replicas and the AOF agree on the deadline.
            let mut p = vec![Bytes::from_static(b"SET"), key.clone(), args[2].clone()];
            p.push(Bytes::from_static(b"PXAT"));
            p.push(Bytes::from(when.to_string()));
            ctx.propagate(vec![p]);
        }
        ctx.dirty += 1;
    }
    if want_get {
        match old {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    } else if allowed {
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    if db.exists(&args[1], now) {
        ctx.out.int(0);
    } else {
        db.set(&args[1], Value::Str(args[2].to_vec()), now);
        ctx.dirty += 1;
        ctx.out.int(1);
    }
    Ok(())
}

fn setex_generic(ctx: &mut Ctx<'_>, args: &[Bytes], name: &str, unit: i64) -> CmdResult {
    let when = expire_arg(name, unit, false, &args[2], ctx.now_ms)?;
    let now = ctx.now_ms;
    let db = ctx.db();
    db.set(&args[1], Value::Str(args[3].to_vec()), now);
    db.set_expire(&args[1], when);
    ctx.dirty += 1;
    ctx.propagate(vec![vec![
        Bytes::from_static(b"SET"),
        args[1].clone(),
        args[3].clone(),
        Bytes::from_static(b"PXAT"),
        Bytes::from(when.to_string()),
    ]]);
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setex_generic(ctx, args, "setex", 1000)
}

fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setex_generic(ctx, args, "psetex", 1)
}

fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let old = get_str(ctx, &args[1])?.cloned();
    let now = ctx.now_ms;
    ctx.db().set(&args[1], Value::Str(args[2].to_vec()), now);
    ctx.dirty += 1;
    match old {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if get_str(ctx, &args[1])?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    if let Some(Value::Str(v)) = ctx.db().remove(&args[1]) {
        ctx.out.bulk(&v);
        ctx.dirty += 1;
        ctx.propagate(vec![vec![Bytes::from_static(b"DEL"), args[1].clone()]]);
    }
    Ok(())
}

fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut expiry = Expiry::None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "persist") && expiry == Expiry::None {
            expiry = Expiry::Persist;
        } else if expiry == Expiry::None
            && i + 1 < args.len()
            && (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
        {
            let unit = if is(a, "ex") || is(a, "exat") { 1000 } else { 1 };
            let absolute = is(a, "exat") || is(a, "pxat");
            expiry = Expiry::At(expire_arg("getex", unit, absolute, &args[i + 1], ctx.now_ms)?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some(v) = get_str(ctx, &args[1])?.cloned() else {
        ctx.out.null();
        return Ok(());
    };
    let key = &args[1];
    match expiry {
        Expiry::At(when) if when <= ctx.now_ms => {
            ctx.db().remove(key);
            ctx.dirty += 1;
            ctx.propagate(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
        }
        Expiry::At(when) => {
            ctx.db().set_expire(key, when);
            ctx.dirty += 1;
            ctx.propagate(vec![vec![
                Bytes::from_static(b"PEXPIREAT"),
                key.clone(),
                Bytes::from(when.to_string()),
            ]]);
        }
        Expiry::Persist if ctx.db().persist(key) => {
            ctx.dirty += 1;
            ctx.propagate(vec![vec![Bytes::from_static(b"PERSIST"), key.clone()]]);
        }
        _ => {}
    }
    ctx.out.bulk(&v);
    Ok(())
}

fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ctx.out.array_len(args.len() - 1);
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    for k in &args[1..] {
        match db.get(k, now) {
            Some(Value::Str(s)) => ctx.out.bulk(s),
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("mset".into()));
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    for kv in args[1..].chunks(2) {
        db.set(&kv[0], Value::Str(kv[1].to_vec()), now);
    }
    ctx.dirty += (args.len() as u64 - 1) / 2;
    ctx.out.ok();
    Ok(())
}

fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("msetnx".into()));
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    if args[1..].chunks(2).any(|kv| db.exists(&kv[0], now)) {
        ctx.out.int(0);
        return Ok(());
    }
    for kv in args[1..].chunks(2) {
        db.set(&kv[0], Value::Str(kv[1].to_vec()), now);
    }
    ctx.dirty += (args.len() as u64 - 1) / 2;
    ctx.out.int(1);
    Ok(())
}

fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cur_len = get_str(ctx, &args[1])?.map_or(0, Vec::len);
    ctx.check_len(cur_len + args[2].len())?;
    let now = ctx.now_ms;
    let v = ctx
        .db()
        .get_or_insert_with(&args[1], now, || Value::Str(Vec::new()));
    let Value::Str(s) = v else {
        return Err(CmdError::WrongType);
    };
    s.extend_from_slice(&args[2]);
    let len = s.len();
    ctx.dirty += 1;
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = get_str(ctx, &args[1])?.map_or(0, Vec::len);
    ctx.out.int(n as i64);
    Ok(())
}

fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    let Some(s) = get_str(ctx, &args[1])? else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    let mut a = if start < 0 { (len + start).max(0) } else { start };
    let mut b = if end < 0 { (len + end).max(0) } else { end };
    if b >= len {
        b = len - 1;
    }
    if a < 0 {
        a = 0;
    }
    if len == 0 || a > b {
        ctx.out.bulk(b"");
        return Ok(());
    }
    let piece = s[a as usize..=b as usize].to_vec();
    ctx.out.bulk(&piece);
    Ok(())
}

fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = int(&args[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let value = &args[3];
    let existing = get_str(ctx, &args[1])?.map(Vec::len);
    match existing {
        None if value.is_empty() => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(len) if value.is_empty() => {
            ctx.out.int(len as i64);
            return Ok(());
        }
        _ => {}
    }
    ctx.check_len(offset.saturating_add(value.len()))?;
    let now = ctx.now_ms;
    let v = ctx
        .db()
        .get_or_insert_with(&args[1], now, || Value::Str(Vec::new()));
    let Value::Str(s) = v else {
        return Err(CmdError::WrongType);
    };
    let end = offset + value.len();
    if s.len() < end {
        s.resize(end, 0);
    }
    s[offset..end].copy_from_slice(value);
    let len = s.len();
    ctx.dirty += 1;
    ctx.out.int(len as i64);
    Ok(())
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CmdResult {
    // One lookup; an existing counter is rewritten in place (its buffer reused).
    let mut b = itoa::Buffer::new();
    let updated = match ctx.get_mut(key) {
        Some(Value::Str(s)) => {
            let cur = slotkv_protocol::parse_i64(s).ok_or(CmdError::NotInteger)?;
            let new = cur.checked_add(delta).ok_or(CmdError::Overflow)?;
            s.clear();
            s.extend_from_slice(b.format(new).as_bytes());
            Some(new)
        }
        Some(_) => return Err(CmdError::WrongType),
        None => None,
    };
    let new = match updated {
        Some(new) => new,
        None => {
            let now = ctx.now_ms;
            let text = b.format(delta).as_bytes().to_vec();
            ctx.db().set_keep_ttl(key, Value::Str(text), now);
            delta
        }
    };
    ctx.dirty += 1;
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], int(&args[2])?)
}

fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let d = int(&args[2])?;
    let d = d
        .checked_neg()
        .ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_by(ctx, &args[1], d)
}

fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis computes in 80-bit long double and prints 17 decimals without trailing zeros;
    // `hash::ldouble` reproduces that exactly.
    use crate::hash::ldouble;
    let delta = ldouble::parse(&args[2]).ok_or(CmdError::NotFloat)?;
    let cur = match get_str(ctx, &args[1])? {
        None => ldouble::LDouble::ZERO,
        Some(s) => ldouble::parse(s).ok_or(CmdError::NotFloat)?,
    };
    let new = cur.add(delta);
    if !delta.is_finite() || !new.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = new.to_human_string();
    let now = ctx.now_ms;
    ctx.db()
        .set_keep_ttl(&args[1], Value::Str(text.clone().into_bytes()), now);
    ctx.dirty += 1;
    // Floats are propagated as the resulting value so replicas don't depend on rounding.
    ctx.propagate(vec![vec![
        Bytes::from_static(b"SET"),
        args[1].clone(),
        Bytes::from(text.clone()),
        Bytes::from_static(b"KEEPTTL"),
    ]]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut want_len = false;
    let mut want_idx = false;
    let mut min_len = 0i64;
    let mut with_match_len = false;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is(a, "len") {
            want_len = true;
        } else if is(a, "idx") {
            want_idx = true;
        } else if is(a, "withmatchlen") {
            with_match_len = true;
        } else if is(a, "minmatchlen") && i + 1 < args.len() {
            min_len = int(&args[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if want_len && want_idx {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let a = get_str(ctx, &args[1])?.cloned().unwrap_or_default();
    let b = get_str(ctx, &args[2])?.cloned().unwrap_or_default();
    if (a.len() as u64).saturating_mul(b.len() as u64 + 1) > 1 << 31 {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // Dynamic programming table of LCS lengths for suffixes.
    let (n, m) = (a.len(), b.len());
    let w = m + 1;
    let mut t = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i * w + j] = if a[i] == b[j] {
                t[(i + 1) * w + j + 1] + 1
            } else {
                t[(i + 1) * w + j].max(t[i * w + j + 1])
            };
        }
    }
    let total = t[0] as i64;
    if want_len {
        ctx.out.int(total);
        return Ok(());
    }
    // Walk the table to recover the sequence and the matching ranges.
    let mut seq = Vec::with_capacity(total as usize);
    let mut matches: Vec<((usize, usize), (usize, usize))> = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut cur: Option<((usize, usize), (usize, usize))> = None;
    while i < n && j < m {
        if a[i] == b[j] {
            seq.push(a[i]);
            cur = match cur {
                Some(((s1, e1), (s2, e2))) if e1 + 1 == i && e2 + 1 == j => Some(((s1, i), (s2, j))),
                other => {
                    if let Some(r) = other {
                        matches.push(r);
                    }
                    Some(((i, i), (j, j)))
                }
            };
            i += 1;
            j += 1;
        } else if t[(i + 1) * w + j] >= t[i * w + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    if let Some(r) = cur {
        matches.push(r);
    }
    if !want_idx {
        ctx.out.bulk(&seq);
        return Ok(());
    }
    // Redis reports matches from the end of the strings backwards.
    let kept: Vec<_> = matches
        .into_iter()
        .rev()
        .filter(|((s, e), _)| (e - s + 1) as i64 >= min_len)
        .collect();
    ctx.out.map_len(2);
    ctx.out.bulk(b"matches");
    ctx.out.array_len(kept.len());
    for ((s1, e1), (s2, e2)) in kept {
        ctx.out.array_len(if with_match_len { 3 } else { 2 });
        ctx.out.array_len(2);
        ctx.out.int(s1 as i64);
        ctx.out.int(e1 as i64);
        ctx.out.array_len(2);
        ctx.out.int(s2 as i64);
        ctx.out.int(e2 as i64);
        if with_match_len {
            ctx.out.int((e1 - s1 + 1) as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::Harness;

    #[test]
    fn set_get_options() {
        let mut h = Harness::new();
        assert_eq!(h.run("SET k v"), "+OK\r\n");
        assert_eq!(h.run("GET k"), "$1\r\nv\r\n");
        assert_eq!(h.run("SET k w NX"), "$-1\r\n");
        assert_eq!(h.run("SET k w XX GET"), "$1\r\nv\r\n");
        assert_eq!(h.run("SET k w NX XX"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("SET k w EX 0"),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            h.run("SET k w EX abc"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(h.run("GET nokey"), "$-1\r\n");
        assert_eq!(h.run("SET k v EX 10"), "+OK\r\n");
        let last = h.propagated.last().unwrap();
        assert_eq!(&last[3][..], b"PXAT");
        h.now_ms += 10_000;
        assert_eq!(h.run("GET k"), "$-1\r\n");
    }

    #[test]
    fn counters() {
        let mut h = Harness::new();
        assert_eq!(h.run("INCR c"), ":1\r\n");
        assert_eq!(h.run("INCRBY c 10"), ":11\r\n");
        assert_eq!(h.run("DECRBY c 20"), ":-9\r\n");
        assert_eq!(h.run("SET c 9223372036854775807"), "+OK\r\n");
        assert_eq!(h.run("INCR c"), "-ERR increment or decrement would overflow\r\n");
        assert_eq!(h.run("SET f 10.5"), "+OK\r\n");
        assert_eq!(h.run("INCRBYFLOAT f 0.1"), "$4\r\n10.6\r\n");
        // Exactly what redis-server 7.0 answers (long double arithmetic).
        assert_eq!(h.run("INCRBYFLOAT f 5.0e3"), "$22\r\n5010.60000000000000009\r\n");
        assert_eq!(h.run("SET g 1.1"), "+OK\r\n");
        assert_eq!(h.run("INCRBYFLOAT g 0.1"), "$3\r\n1.2\r\n");
        assert_eq!(h.run("SET s abc"), "+OK\r\n");
        assert_eq!(
            h.run("INCR s"),
            "-ERR value is not an integer or out of range\r\n"
        );
        h.run("RPUSH l a");
    }

    #[test]
    fn ranges_and_append() {
        let mut h = Harness::new();
        assert_eq!(h.run("APPEND s Hello"), ":5\r\n");
        assert_eq!(h.run("APPEND s World"), ":10\r\n");
        assert_eq!(h.run("GETRANGE s 0 4"), "$5\r\nHello\r\n");
        assert_eq!(h.run("GETRANGE s -3 -1"), "$3\r\nrld\r\n");
        assert_eq!(h.run("GETRANGE s 5 1"), "$0\r\n\r\n");
        assert_eq!(h.run("SETRANGE s 12 x"), ":13\r\n");
        assert_eq!(h.run("STRLEN s"), ":13\r\n");
        assert_eq!(h.run("SETRANGE s -1 x"), "-ERR offset is out of range\r\n");
        assert_eq!(h.run("MSET a 1 b 2"), "+OK\r\n");
        assert_eq!(
            h.run("MSET a 1 b"),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        assert_eq!(h.run("MGET a b zz"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
        assert_eq!(h.run("MSETNX a 1 new 2"), ":0\r\n");
        assert_eq!(h.run("GETDEL a"), "$1\r\n1\r\n");
        assert_eq!(h.run("GETDEL a"), "$-1\r\n");
    }

    #[test]
    fn lcs_matches_redis_examples() {
        let mut h = Harness::new();
        h.run("MSET key1 ohmytext key2 mynewtext");
        assert_eq!(h.run("LCS key1 key2"), "$6\r\nmytext\r\n");
        assert_eq!(h.run("LCS key1 key2 LEN"), ":6\r\n");
        assert_eq!(
            h.run("LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN"),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
    }
}
