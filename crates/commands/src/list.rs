//! The list command family, blocking variants included.
//!
//! Blocking commands serve data exactly like their non-blocking forms and are propagated as
//! those forms; when nothing is available they ask the server to block (or, when blocking is
//! not allowed, reply as if the timeout had expired).

use bytes::Bytes;
use slotkv_keyspace::{Elem, ListValue, Value};

use crate::args::{int, is};
use crate::flags::*;
use crate::spec::keys_numkeys_at;
use crate::{cmd, BlockOn, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::List;
    vec![
        cmd("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), g, lpush as DataFn)
            .summary("Prepend elements to a list"),
        cmd("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), g, rpush as DataFn)
            .summary("Append elements to a list"),
        cmd(
            "lpushx",
            -3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            lpushx as DataFn,
        )
        .since("2.2.0")
        .summary("Prepend elements to an existing list"),
        cmd(
            "rpushx",
            -3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            rpushx as DataFn,
        )
        .since("2.2.0")
        .summary("Append elements to an existing list"),
        cmd("lpop", -2, WRITE | FAST, (1, 1, 1), g, lpop as DataFn)
            .summary("Remove and return elements from the head of a list"),
        cmd("rpop", -2, WRITE | FAST, (1, 1, 1), g, rpop as DataFn)
            .summary("Remove and return elements from the tail of a list"),
        cmd("llen", 2, READONLY | FAST, (1, 1, 1), g, llen as DataFn).summary("Length of a list"),
        cmd("lrange", 4, READONLY, (1, 1, 1), g, lrange as DataFn).summary("A range of elements of a list"),
        cmd("lindex", 3, READONLY, (1, 1, 1), g, lindex as DataFn)
            .summary("The element at an index of a list"),
        cmd("lset", 4, WRITE | DENYOOM, (1, 1, 1), g, lset as DataFn)
            .summary("Replace the element at an index of a list"),
        cmd("linsert", 5, WRITE | DENYOOM, (1, 1, 1), g, linsert as DataFn)
            .since("2.2.0")
            .summary("Insert an element next to a pivot element of a list"),
        cmd("lrem", 4, WRITE, (1, 1, 1), g, lrem as DataFn)
            .summary("Remove occurrences of an element from a list"),
        cmd("ltrim", 4, WRITE, (1, 1, 1), g, ltrim as DataFn).summary("Keep only a range of a list"),
        cmd("lpos", -3, READONLY, (1, 1, 1), g, lpos as DataFn)
            .since("6.0.6")
            .summary("Positions of matching elements of a list"),
        cmd("lmove", 5, WRITE | DENYOOM, (1, 2, 1), g, lmove as DataFn)
            .since("6.2.0")
            .summary("Move an element from one list to another"),
        cmd("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), g, rpoplpush as DataFn)
            .since("1.2.0")
            .summary("Move the last element of a list to the head of another"),
        cmd("lmpop", -4, WRITE, (0, 0, 0), g, lmpop as DataFn)
            .keys_fn(lmpop_keys)
            .since("7.0.0")
            .summary("Pop elements from the first non-empty list of several"),
        cmd(
            "blpop",
            -3,
            WRITE | NOSCRIPT | BLOCKING,
            (1, -2, 1),
            g,
            blpop as DataFn,
        )
        .since("2.0.0")
        .summary("Pop from the head of the first non-empty list, or block"),
        cmd(
            "brpop",
            -3,
            WRITE | NOSCRIPT | BLOCKING,
            (1, -2, 1),
            g,
            brpop as DataFn,
        )
        .since("2.0.0")
        .summary("Pop from the tail of the first non-empty list, or block"),
        cmd(
            "blmove",
            6,
            WRITE | DENYOOM | NOSCRIPT | BLOCKING,
            (1, 2, 1),
            g,
            blmove as DataFn,
        )
        .since("6.2.0")
        .summary("Move an element from one list to another, or block"),
        cmd(
            "brpoplpush",
            4,
            WRITE | DENYOOM | NOSCRIPT | BLOCKING,
            (1, 2, 1),
            g,
            brpoplpush as DataFn,
        )
        .since("2.2.0")
        .summary("Move the last element of a list to the head of another, or block"),
        cmd("blmpop", -5, WRITE | BLOCKING, (0, 0, 0), g, blmpop as DataFn)
            .keys_fn(blmpop_keys)
            .since("7.0.0")
            .summary("Pop elements from the first non-empty list of several, or block"),
    ]
}

fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    keys_numkeys_at(args, 1)
}

fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    keys_numkeys_at(args, 2)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    fn parse(arg: &[u8]) -> Result<End, CmdError> {
        if is(arg, "left") {
            Ok(End::Left)
        } else if is(arg, "right") {
            Ok(End::Right)
        } else {
            Err(CmdError::Syntax)
        }
    }

    fn pop_name(self) -> &'static [u8] {
        match self {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        }
    }
}

fn pop(l: &mut ListValue, end: End) -> Option<Elem> {
    match end {
        End::Left => l.pop_front(),
        End::Right => l.pop_back(),
    }
}

fn push(l: &mut ListValue, end: End, e: Elem) {
    match end {
        End::Left => l.push_front(e),
        End::Right => l.push_back(e),
    }
}

/// The list at `key`: `None` if missing, WRONGTYPE if another type. For read-only commands;
/// writers use [`get_list_mut`] (write lookups don't count as keyspace hits or misses).
fn get_list<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c ListValue>, CmdError> {
    match ctx.get(key) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Like [`get_list`], also handing out the reply writer (to stream elements without copies).
fn list_and_out<'c>(
    ctx: &'c mut Ctx<'_>,
    key: &[u8],
) -> Result<(Option<&'c ListValue>, &'c mut slotkv_protocol::ReplyWriter), CmdError> {
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    match ctx.ks.dbs[ctx.db].get(key, now) {
        None => Ok((None, out)),
        Some(Value::List(l)) => Ok((Some(l), out)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn get_list_mut<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c mut ListValue>, CmdError> {
    match ctx.get_mut(key) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The list at `key`, created if missing (the type must have been checked already).
fn list_or_create<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<&'c mut ListValue, CmdError> {
    let now = ctx.now_ms;
    match ctx.db().get_or_insert_with(key, now, Value::new_list) {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

fn push_generic(ctx: &mut Ctx<'_>, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let key = &args[1];
    let exists = get_list_mut(ctx, key)?.is_some();
    if only_existing && !exists {
        ctx.out.int(0);
        return Ok(());
    }
    let l = list_or_create(ctx, key)?;
    for a in &args[2..] {
        push(l, end, a.as_ref().into());
    }
    let len = l.len();
    ctx.dirty += (args.len() - 2) as u64;
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Right, true)
}

/// Pops up to `count` elements and deletes the key if the list became empty.
fn pop_many(ctx: &mut Ctx<'_>, key: &[u8], end: End, count: u64) -> Result<Vec<Elem>, CmdError> {
    let Some(l) = get_list_mut(ctx, key)? else {
        return Ok(Vec::new());
    };
    let n = (count.min(l.len() as u64)) as usize;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(e) = pop(l, end) {
            v.push(e);
        }
    }
    ctx.db().remove_if_empty(key);
    ctx.dirty += v.len() as u64;
    Ok(v)
}

fn pop_cmd(ctx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity(
            String::from_utf8_lossy(&args[0]).to_lowercase(),
        ));
    }
    let count = match args.get(2) {
        Some(a) => match slotkv_protocol::parse_i64(a) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return Err(CmdError::NotPositive),
        },
        None => None,
    };
    let key = &args[1];
    if get_list_mut(ctx, key)?.is_none() {
        if count.is_some() {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    match count {
        None => {
            let v = pop_many(ctx, key, end, 1)?;
            match v.first() {
                Some(e) => ctx.out.bulk(e),
                None => ctx.out.null(),
            }
        }
        Some(n) => {
            let v = pop_many(ctx, key, end, n)?;
            ctx.out.array_len(v.len());
            for e in &v {
                ctx.out.bulk(e);
            }
        }
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_cmd(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_cmd(ctx, args, End::Right)
}

fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = get_list(ctx, &args[1])?.map_or(0, ListValue::len);
    ctx.out.int(n as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    let (l, out) = list_and_out(ctx, &args[1])?;
    let Some(l) = l else {
        out.array_len(0);
        return Ok(());
    };
    match crate::args::range(start, end, l.len()) {
        None => out.array_len(0),
        Some((s, e)) => {
            out.array_len(e - s + 1);
            for x in l.range(s..=e) {
                out.bulk(x);
            }
        }
    }
    Ok(())
}

/// Resolves a possibly negative index into a position.
fn index_of(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { len.checked_add(index)? } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (l, out) = list_and_out(ctx, &args[1])?;
    let Some(l) = l else {
        out.null();
        return Ok(());
    };
    let index = int(&args[2])?;
    match index_of(index, l.len()).and_then(|i| l.get(i)) {
        Some(e) => out.bulk(e),
        None => out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(l) = get_list_mut(ctx, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = int(&args[2])?;
    let i = index_of(index, l.len()).ok_or(CmdError::IndexOutOfRange)?;
    l[i] = args[3].as_ref().into();
    ctx.dirty += 1;
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let Some(l) = get_list_mut(ctx, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(pos) = l.iter().position(|e| e.as_ref() == args[3].as_ref()) else {
        ctx.out.int(-1);
        return Ok(());
    };
    l.insert(if after { pos + 1 } else { pos }, args[4].as_ref().into());
    let len = l.len();
    ctx.dirty += 1;
    ctx.out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = int(&args[2])?;
    let key = &args[1];
    let Some(l) = get_list_mut(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let target = args[3].as_ref();
    let limit = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let mut removed = 0u64;
    // One pass that rebuilds the list: linear however many elements go.
    let old = std::mem::take(l);
    let mut kept = ListValue::with_capacity(old.len());
    if count >= 0 {
        for e in old {
            if removed < limit && e.as_ref() == target {
                removed += 1;
            } else {
                kept.push_back(e);
            }
        }
    } else {
        for e in old.into_iter().rev() {
            if removed < limit && e.as_ref() == target {
                removed += 1;
            } else {
                kept.push_front(e);
            }
        }
    }
    *l = kept;
    if removed > 0 {
        ctx.db().remove_if_empty(key);
        ctx.dirty += removed;
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    let key = &args[1];
    let Some(l) = get_list_mut(ctx, key)? else {
        ctx.out.ok();
        return Ok(());
    };
    let len = l.len();
    let removed = match crate::args::range(start, end, len) {
        None => {
            l.clear();
            len
        }
        Some((s, e)) => {
            l.truncate(e + 1);
            l.drain(..s);
            len - (e + 1 - s)
        }
    };
    if removed > 0 {
        ctx.db().remove_if_empty(key);
        ctx.dirty += removed as u64;
    }
    ctx.out.ok();
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        let opt = &args[i];
        if is(opt, "rank") && more {
            i += 1;
            rank = int(&args[i])?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(opt, "count") && more {
            i += 1;
            match slotkv_protocol::parse_i64(&args[i]) {
                Some(n) if n >= 0 => count = Some(n as u64),
                _ => return Err(CmdError::err("COUNT can't be negative")),
            }
        } else if is(opt, "maxlen") && more {
            i += 1;
            match slotkv_protocol::parse_i64(&args[i]) {
                Some(n) if n >= 0 => maxlen = n as u64,
                _ => return Err(CmdError::err("MAXLEN can't be negative")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some(l) = get_list(ctx, &args[1])? else {
        if count.is_some() {
            ctx.out.array_len(0);
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    let from_tail = rank < 0;
    // Redis negates the rank; i64::MIN stays negative, which makes every match qualify and
    // the COUNT limit unreachable. Reproduced here without the overflow.
    let (skip, unlimited) = if rank == i64::MIN {
        (0, true)
    } else {
        (rank.unsigned_abs() - 1, false)
    };
    let want = match count {
        None => 1,
        Some(0) => u64::MAX,
        Some(_) if unlimited => u64::MAX,
        Some(n) => n,
    };
    let target = args[2].as_ref();
    let len = l.len();
    let limit = if maxlen == 0 {
        len
    } else {
        (maxlen.min(len as u64)) as usize
    };
    let mut found: Vec<usize> = Vec::new();
    let mut matches = 0u64;
    for step in 0..limit {
        let idx = if from_tail { len - 1 - step } else { step };
        if l[idx].as_ref() == target {
            matches += 1;
            if matches > skip {
                found.push(idx);
                if found.len() as u64 >= want {
                    break;
                }
            }
        }
    }
    if count.is_some() {
        ctx.out.array_len(found.len());
        for p in found {
            ctx.out.int(p as i64);
        }
    } else {
        match found.first() {
            Some(&p) => ctx.out.int(p as i64),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Moves one element; `Ok(None)` when the source is missing. Type errors leave both lists
/// untouched.
fn move_one(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> Result<Option<Elem>, CmdError> {
    if get_list_mut(ctx, src)?.is_none() {
        return Ok(None);
    }
    get_list_mut(ctx, dst)?;
    let Some(l) = get_list_mut(ctx, src)? else {
        return Ok(None);
    };
    let Some(e) = pop(l, from) else {
        return Ok(None);
    };
    let d = list_or_create(ctx, dst)?;
    push(d, to, e.clone());
    ctx.db().remove_if_empty(src);
    ctx.dirty += 1;
    Ok(Some(e))
}

fn lmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    match move_one(ctx, &args[1], &args[2], from, to)? {
        Some(e) => ctx.out.bulk(&e),
        None => ctx.out.null(),
    }
    Ok(())
}

fn rpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match move_one(ctx, &args[1], &args[2], End::Right, End::Left)? {
        Some(e) => ctx.out.bulk(&e),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` starting at `at` (the numkeys position).
struct MpopArgs {
    keys: std::ops::Range<usize>,
    end: End,
    count: u64,
}

fn parse_mpop(args: &[Bytes], at: usize) -> Result<MpopArgs, CmdError> {
    let numkeys = match slotkv_protocol::parse_i64(&args[at]) {
        Some(n) if n > 0 => n as u64,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let where_idx = (at as u64 + 1).saturating_add(numkeys);
    if where_idx >= args.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_idx = where_idx as usize;
    let end = End::parse(&args[where_idx])?;
    let mut count = None;
    let mut i = where_idx + 1;
    while i < args.len() {
        if count.is_none() && is(&args[i], "count") && i + 1 < args.len() {
            i += 1;
            match slotkv_protocol::parse_i64(&args[i]) {
                Some(n) if n > 0 => count = Some(n as u64),
                _ => return Err(CmdError::err("count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(MpopArgs {
        keys: at + 1..where_idx,
        end,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first non-empty list; `Ok(false)` (nothing written) if all are empty.
fn mpop_serve(ctx: &mut Ctx<'_>, args: &[Bytes], p: &MpopArgs) -> Result<bool, CmdError> {
    for k in p.keys.clone() {
        let key = &args[k];
        if get_list_mut(ctx, key)?.is_none() {
            continue;
        }
        let v = pop_many(ctx, key, p.end, p.count)?;
        ctx.out.array_len(2);
        ctx.out.bulk(key);
        ctx.out.array_len(v.len());
        for e in &v {
            ctx.out.bulk(e);
        }
        ctx.propagate(vec![vec![
            Bytes::from_static(p.end.pop_name()),
            key.clone(),
            Bytes::from(v.len().to_string()),
        ]]);
        return Ok(true);
    }
    Ok(false)
}

fn lmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = parse_mpop(args, 1)?;
    if !mpop_serve(ctx, args, &p)? {
        ctx.out.null_array();
    }
    Ok(())
}

/// A blocking timeout as Redis 7.0 parses it: seconds as a float; values too large for
/// milliseconds in a long long wrap negative there, so they are reported as negative.
fn timeout(arg: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    if let Some(secs) = slotkv_protocol::parse_f64(arg) {
        let ms = (secs * 1000.0).ceil();
        if secs * 1000.0 >= i64::MAX as f64 {
            return Err(CmdError::TimeoutNegative);
        }
        if ms > (i64::MAX / 2) as f64 {
            // Absurdly long but valid: block (practically) forever.
            return Ok(0);
        }
        if secs < 0.0 && ms == 0.0 {
            // Less than a millisecond below zero rounds up to 0 there: block forever.
            return Ok(0);
        }
        if secs == 0.0 && !arg.starts_with(b"-") {
            // Too small for a double but not for a long double: rounds up to 1 ms.
            let mantissa = arg.split(|&c| c == b'e' || c == b'E').next().unwrap_or(b"");
            if mantissa.iter().any(|&c| (b'1'..=b'9').contains(&c)) {
                return Ok(now_ms + 1);
            }
        }
    }
    crate::args::timeout_deadline(arg, now_ms)
}

/// Nothing to serve: block, or reply as a timeout when blocking is not allowed.
fn block_or_null(ctx: &mut Ctx<'_>, keys: Vec<Bytes>, deadline_ms: i64, bulk_null: bool) {
    if ctx.can_block {
        ctx.block = Some(BlockOn { keys, deadline_ms });
    } else if bulk_null {
        ctx.out.null();
    } else {
        ctx.out.null_array();
    }
}

fn bpop(ctx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    let deadline = timeout(&args[args.len() - 1], ctx.now_ms)?;
    let keys = &args[1..args.len() - 1];
    for key in keys {
        if get_list_mut(ctx, key)?.is_none() {
            continue;
        }
        let v = pop_many(ctx, key, end, 1)?;
        if let Some(e) = v.first() {
            ctx.out.array_len(2);
            ctx.out.bulk(key);
            ctx.out.bulk(e);
            ctx.propagate(vec![vec![Bytes::from_static(end.pop_name()), key.clone()]]);
            return Ok(());
        }
    }
    block_or_null(ctx, keys.to_vec(), deadline, false);
    Ok(())
}

fn blpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Right)
}

fn bmove(ctx: &mut Ctx<'_>, args: &[Bytes], from: End, to: End, deadline: i64) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    match move_one(ctx, src, dst, from, to)? {
        Some(e) => {
            ctx.out.bulk(&e);
            let name: &'static [u8] = if args.len() == 4 { b"RPOPLPUSH" } else { b"LMOVE" };
            let mut p = vec![Bytes::from_static(name), src.clone(), dst.clone()];
            if args.len() == 6 {
                p.push(args[3].clone());
                p.push(args[4].clone());
            }
            ctx.propagate(vec![p]);
        }
        None => block_or_null(ctx, vec![src.clone()], deadline, true),
    }
    Ok(())
}

fn blmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    let deadline = timeout(&args[5], ctx.now_ms)?;
    bmove(ctx, args, from, to, deadline)
}

fn brpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let deadline = timeout(&args[3], ctx.now_ms)?;
    bmove(ctx, args, End::Right, End::Left, deadline)
}

fn blmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis validates every other argument before the timeout.
    let p = parse_mpop(args, 2)?;
    let deadline = timeout(&args[1], ctx.now_ms)?;
    if !mpop_serve(ctx, args, &p)? {
        let keys = args[p.keys.clone()].to_vec();
        block_or_null(ctx, keys, deadline, false);
    }
    Ok(())
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
