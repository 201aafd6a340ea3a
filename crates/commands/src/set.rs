//! The set command family: membership, random pops and samples, the algebra (SINTER,
//! SUNION, SDIFF and their STORE forms) and SSCAN.
//!
//! Redis keeps small all-integer sets as a sorted `intset` and answers SMEMBERS, SSCAN and
//! the algebra replies in numeric order for them; we mirror that order whenever a set would
//! be intset-encoded (all members integers, at most `set-max-intset-entries`). Bigger sets
//! come back in table order, which is as arbitrary as Redis's hash order.

use bytes::Bytes;
use rand::Rng;
use slotkv_keyspace::{scan_step, Db, EncodingLimits, SetValue, Value};

use crate::args::{int, is};
use crate::flags::*;
use crate::spec::keys_numkeys_at;
use crate::{cmd, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::Set;
    vec![
        cmd("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), g, sadd as DataFn)
            .summary("Add one or more members to a set"),
        cmd("srem", -3, WRITE | FAST, (1, 1, 1), g, srem as DataFn)
            .summary("Remove one or more members from a set"),
        cmd("scard", 2, READONLY | FAST, (1, 1, 1), g, scard as DataFn)
            .summary("Get the number of members in a set"),
        cmd("sismember", 3, READONLY | FAST, (1, 1, 1), g, sismember as DataFn)
            .summary("Determine if a given value is a member of a set"),
        cmd(
            "smismember",
            -3,
            READONLY | FAST,
            (1, 1, 1),
            g,
            smismember as DataFn,
        )
        .since("6.2.0")
        .summary("Returns the membership associated with the given elements for a set"),
        cmd("smembers", 2, READONLY, (1, 1, 1), g, smembers as DataFn)
            .summary("Get all the members in a set"),
        cmd("srandmember", -2, READONLY, (1, 1, 1), g, srandmember as DataFn)
            .summary("Get one or multiple random members from a set"),
        cmd("spop", -2, WRITE | FAST, (1, 1, 1), g, spop as DataFn)
            .summary("Remove and return one or multiple random members from a set"),
        cmd("smove", 4, WRITE | FAST, (1, 2, 1), g, smove as DataFn)
            .summary("Move a member from one set to another"),
        cmd("sinter", -2, READONLY, (1, -1, 1), g, sinter as DataFn).summary("Intersect multiple sets"),
        cmd("sintercard", -3, READONLY, (0, 0, 0), g, sintercard as DataFn)
            .since("7.0.0")
            .keys_fn(keys_numkeys_1)
            .summary("Intersect multiple sets and return the cardinality of the result"),
        cmd(
            "sinterstore",
            -3,
            WRITE | DENYOOM,
            (1, -1, 1),
            g,
            sinterstore as DataFn,
        )
        .summary("Intersect multiple sets and store the resulting set in a key"),
        cmd("sunion", -2, READONLY, (1, -1, 1), g, sunion as DataFn).summary("Add multiple sets"),
        cmd(
            "sunionstore",
            -3,
            WRITE | DENYOOM,
            (1, -1, 1),
            g,
            sunionstore as DataFn,
        )
        .summary("Add multiple sets and store the resulting set in a key"),
        cmd("sdiff", -2, READONLY, (1, -1, 1), g, sdiff as DataFn).summary("Subtract multiple sets"),
        cmd(
            "sdiffstore",
            -3,
            WRITE | DENYOOM,
            (1, -1, 1),
            g,
            sdiffstore as DataFn,
        )
        .summary("Subtract multiple sets and store the resulting set in a key"),
        cmd("sscan", -3, READONLY, (1, 1, 1), g, sscan as DataFn)
            .since("2.8.0")
            .summary("Incrementally iterate Set elements"),
    ]
}

fn keys_numkeys_1(args: &[Bytes]) -> Vec<usize> {
    keys_numkeys_at(args, 1)
}

/// The set at `key` for reading (lazy expiry applied), WRONGTYPE for another type.
fn read_set<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a SetValue>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The set at `key` for writing, WRONGTYPE for another type.
fn write_set<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a mut SetValue>, CmdError> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Whether Redis would keep these members as an intset (and so reply in numeric order).
fn intset_order(members: &[&[u8]], limits: &EncodingLimits) -> Option<Vec<i64>> {
    if members.len() > limits.set_max_intset_entries {
        return None;
    }
    members.iter().map(|m| slotkv_protocol::parse_i64(m)).collect()
}

/// Sorts `members` numerically when they would form an intset.
fn redis_order(members: &mut Vec<&[u8]>, limits: &EncodingLimits) {
    if let Some(nums) = intset_order(members, limits) {
        let mut pairs: Vec<(i64, &[u8])> = nums.into_iter().zip(members.iter().copied()).collect();
        pairs.sort_unstable_by_key(|p| p.0);
        *members = pairs.into_iter().map(|p| p.1).collect();
    }
}

fn sadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let v = ctx.db().get_or_insert_with(&args[1], now, Value::new_set);
    let Value::Set(s) = v else {
        return Err(CmdError::WrongType);
    };
    let mut added = 0;
    for m in &args[2..] {
        if s.insert(m.as_ref().into()) {
            added += 1;
        }
    }
    ctx.dirty += added;
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let mut removed = 0;
    if let Some(s) = write_set(db, &args[1], now)? {
        for m in &args[2..] {
            if s.swap_remove(m.as_ref()) {
                removed += 1;
                if s.is_empty() {
                    break;
                }
            }
        }
        db.remove_if_empty(&args[1]);
    }
    ctx.dirty += removed;
    ctx.out.int(removed as i64);
    Ok(())
}

fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let n = read_set(&mut ctx.ks.dbs[ctx.db], &args[1], now)?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let found =
        read_set(&mut ctx.ks.dbs[ctx.db], &args[1], now)?.is_some_and(|s| s.contains(args[2].as_ref()));
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let set = read_set(&mut ctx.ks.dbs[ctx.db], &args[1], now)?;
    ctx.out.array_len(args.len() - 2);
    for m in &args[2..] {
        ctx.out.int(set.is_some_and(|s| s.contains(m.as_ref())) as i64);
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let limits = ctx.ks.limits;
    let Some(set) = read_set(&mut ctx.ks.dbs[ctx.db], &args[1], now)? else {
        ctx.out.set_len(0);
        return Ok(());
    };
    let mut members: Vec<&[u8]> = set.iter().map(|m| m.as_ref()).collect();
    redis_order(&mut members, &limits);
    ctx.out.set_len(members.len());
    for m in members {
        ctx.out.bulk(m);
    }
    Ok(())
}

/// Parses the count of SRANDMEMBER/ZRANDMEMBER (any i64 but `i64::MIN`).
pub(crate) fn rand_count(arg: &[u8]) -> Result<i64, CmdError> {
    let n = int(arg)?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => Some(rand_count(a)?),
        None => None,
    };
    let now = ctx.now_ms;
    let set = read_set(&mut ctx.ks.dbs[ctx.db], &args[1], now)?;
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        match set {
            Some(s) if !s.is_empty() => {
                let i = rng.gen_range(0..s.len());
                ctx.out.bulk(&s[i]);
            }
            _ => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(s) = set.filter(|s| !s.is_empty() && count != 0) else {
        ctx.out.array_len(0);
        return Ok(());
    };
    if count < 0 {
        // With repetitions: exactly |count| picks.
        let n = count.unsigned_abs();
        ctx.out.array_len(n as usize);
        for _ in 0..n {
            ctx.out.bulk(&s[rng.gen_range(0..s.len())]);
        }
        return Ok(());
    }
    let count = count as u64;
    if count >= s.len() as u64 {
        let limits = ctx.ks.limits;
        let mut members: Vec<&[u8]> = s.iter().map(|m| m.as_ref()).collect();
        redis_order(&mut members, &limits);
        ctx.out.array_len(members.len());
        for m in members {
            ctx.out.bulk(m);
        }
        return Ok(());
    }
    let picks = rand::seq::index::sample(&mut rng, s.len(), count as usize);
    ctx.out.array_len(picks.len());
    for i in picks {
        ctx.out.bulk(&s[i]);
    }
    Ok(())
}

fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => match slotkv_protocol::parse_i64(a) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return Err(CmdError::NotPositive),
        },
        None => None,
    };
    let key = &args[1];
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let Some(s) = write_set(db, key, now)? else {
        match count {
            Some(_) => ctx.out.set_len(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        let i = rng.gen_range(0..s.len());
        let m = s.swap_remove_index(i).unwrap_or_default();
        db.remove_if_empty(key);
        ctx.dirty += 1;
        ctx.propagate(vec![vec![
            Bytes::from_static(b"SREM"),
            key.clone(),
            Bytes::from(m.to_vec()),
        ]]);
        ctx.out.bulk(&m);
        return Ok(());
    };
    if count == 0 {
        ctx.out.set_len(0);
        return Ok(());
    }
    if count >= s.len() as u64 {
        // The whole set goes: reply with it and propagate a DEL.
        let limits = ctx.ks.limits;
        let mut members: Vec<&[u8]> = s.iter().map(|m| m.as_ref()).collect();
        redis_order(&mut members, &limits);
        ctx.out.set_len(members.len());
        for m in &members {
            ctx.out.bulk(m);
        }
        ctx.dirty += members.len() as u64;
        db.remove(key);
        ctx.propagate(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
        return Ok(());
    }
    let count = count as usize;
    let mut popped = Vec::with_capacity(count);
    for _ in 0..count {
        let i = rng.gen_range(0..s.len());
        if let Some(m) = s.swap_remove_index(i) {
            popped.push(m);
        }
    }
    ctx.out.set_len(popped.len());
    let mut prop = Vec::with_capacity(popped.len());
    for m in popped {
        ctx.out.bulk(&m);
        prop.push(vec![
            Bytes::from_static(b"SREM"),
            key.clone(),
            Bytes::from(m.into_vec()),
        ]);
    }
    ctx.dirty += prop.len() as u64;
    ctx.propagate(prop);
    Ok(())
}

fn smove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    match db.get(src, now) {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(Value::Set(_)) => {}
        Some(_) => return Err(CmdError::WrongType),
    }
    let dst_is_set = match db.get(dst, now) {
        None => false,
        Some(Value::Set(_)) => true,
        Some(_) => return Err(CmdError::WrongType),
    };
    let Some(s) = write_set(db, src, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if src == dst {
        let found = s.contains(member.as_ref());
        ctx.out.int(found as i64);
        return Ok(());
    }
    if !s.swap_remove(member.as_ref()) {
        ctx.out.int(0);
        return Ok(());
    }
    db.remove_if_empty(src);
    if !dst_is_set {
        db.set(dst, Value::new_set(), now);
    }
    if let Some(Value::Set(d)) = db.get_mut(dst, now) {
        d.insert(member.as_ref().into());
    }
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

/// The sets named by `keys` (missing keys as `None`), after checking every key's type.
fn gather<'a>(db: &'a mut Db, keys: &[Bytes], now: i64) -> Result<Vec<Option<&'a SetValue>>, CmdError> {
    for k in keys {
        read_set(db, k, now)?;
    }
    let db: &'a Db = db;
    Ok(keys
        .iter()
        .map(|k| match db.peek(k, now) {
            Some(Value::Set(s)) => Some(&**s),
            _ => None,
        })
        .collect())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes the result of an algebra operation over the (type-checked) sets.
fn compute<'a>(sets: &[Option<&'a SetValue>], op: Op, limit: usize) -> Vec<&'a [u8]> {
    match op {
        Op::Inter => {
            if sets.iter().any(|s| s.is_none_or(|s| s.is_empty())) {
                return Vec::new();
            }
            let mut sets: Vec<&SetValue> = sets.iter().flatten().copied().collect();
            sets.sort_by_key(|s| s.len());
            let mut out = Vec::new();
            for m in sets[0].iter() {
                if sets[1..].iter().all(|s| s.contains(m)) {
                    out.push(m.as_ref());
                    if limit != 0 && out.len() >= limit {
                        break;
                    }
                }
            }
            out
        }
        Op::Union => {
            let mut seen = std::collections::HashSet::<&[u8]>::new();
            let mut out = Vec::new();
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    if seen.insert(m.as_ref()) {
                        out.push(m.as_ref());
                    }
                }
            }
            out
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Vec::new();
            };
            first
                .iter()
                .filter(|m| !sets[1..].iter().flatten().any(|s| s.contains(*m)))
                .map(|m| m.as_ref())
                .collect()
        }
    }
}

fn algebra(ctx: &mut Ctx<'_>, keys: &[Bytes], op: Op) -> CmdResult {
    let now = ctx.now_ms;
    let limits = ctx.ks.limits;
    let sets = gather(&mut ctx.ks.dbs[ctx.db], keys, now)?;
    let mut members = compute(&sets, op, 0);
    redis_order(&mut members, &limits);
    ctx.out.set_len(members.len());
    for m in members {
        ctx.out.bulk(m);
    }
    Ok(())
}

fn algebra_store(ctx: &mut Ctx<'_>, dst: &Bytes, keys: &[Bytes], op: Op) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let sets = gather(db, keys, now)?;
    let result: SetValue = compute(&sets, op, 0).into_iter().map(Box::from).collect();
    let n = result.len();
    if n == 0 {
        if db.delete(dst, now) {
            ctx.dirty += 1;
        }
    } else {
        db.set(dst, Value::Set(Box::new(result)), now);
        ctx.dirty += 1;
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, &args[1..], Op::Inter)
}

fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, &args[1..], Op::Union)
}

fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, &args[1..], Op::Diff)
}

fn sinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra_store(ctx, &args[1], &args[2..], Op::Inter)
}

fn sunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra_store(ctx, &args[1], &args[2..], Op::Union)
}

fn sdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra_store(ctx, &args[1], &args[2..], Op::Diff)
}

/// Parses `numkeys key... [LIMIT n]` for SINTERCARD/ZINTERCARD: the key count (errors
/// worded per command) and then the LIMIT (0 = none).
pub(crate) fn parse_intercard(args: &[Bytes], name: &str) -> Result<(usize, usize), CmdError> {
    let numkeys = parse_intercard_numkeys(args, name)?;
    Ok((numkeys, parse_intercard_limit(args, numkeys)?))
}

/// The `numkeys` of SINTERCARD/ZINTERCARD, checked against the arguments present.
pub(crate) fn parse_intercard_numkeys(args: &[Bytes], name: &str) -> Result<usize, CmdError> {
    let numkeys = if name == "sintercard" {
        match slotkv_protocol::parse_i64(&args[1]) {
            Some(n) if n > 0 => n,
            _ => return Err(CmdError::err("numkeys should be greater than 0")),
        }
    } else {
        let n = int(&args[1])?;
        if n <= 0 {
            return Err(CmdError::err(format!(
                "at least 1 input key is needed for '{name}' command"
            )));
        }
        n
    };
    if numkeys as u64 > (args.len() - 2) as u64 {
        return Err(if name == "sintercard" {
            CmdError::err("Number of keys can't be greater than number of args")
        } else {
            CmdError::Syntax
        });
    }
    Ok(numkeys as usize)
}

/// The options after the keys of SINTERCARD/ZINTERCARD: `[LIMIT n]` (0 = no limit).
pub(crate) fn parse_intercard_limit(args: &[Bytes], numkeys: usize) -> Result<usize, CmdError> {
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if is(&args[i], "limit") && i + 1 < args.len() {
            match slotkv_protocol::parse_i64(&args[i + 1]) {
                Some(n) if n >= 0 => limit = usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(CmdError::err("LIMIT can't be negative")),
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(limit)
}

fn sintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (numkeys, limit) = parse_intercard(args, "sintercard")?;
    let now = ctx.now_ms;
    let sets = gather(&mut ctx.ks.dbs[ctx.db], &args[2..2 + numkeys], now)?;
    let n = compute(&sets, Op::Inter, limit).len();
    ctx.out.int(n as i64);
    Ok(())
}

/// Parses a SCAN-family cursor as Redis's `strtoull` does: optional sign (a minus wraps),
/// digits, nothing else; an empty string is 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let bad = || CmdError::err("invalid cursor");
    if arg.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(bad());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// MATCH and COUNT of SSCAN/ZSCAN (and HSCAN).
pub(crate) struct ScanOpts {
    pub pattern: Option<Bytes>,
    pub count: usize,
}

impl ScanOpts {
    pub fn parse(args: &[Bytes]) -> Result<Self, CmdError> {
        let mut o = ScanOpts {
            pattern: None,
            count: 10,
        };
        let mut i = 0;
        while i < args.len() {
            let Some(v) = args.get(i + 1) else {
                return Err(CmdError::Syntax);
            };
            if is(&args[i], "count") {
                let n = int(v)?;
                if n < 1 {
                    return Err(CmdError::Syntax);
                }
                o.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if is(&args[i], "match") {
                o.pattern = (v.as_ref() != b"*").then(|| v.clone());
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        Ok(o)
    }

    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| slotkv_protocol::glob_match(p, item, false))
    }
}

fn sscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2])?;
    let now = ctx.now_ms;
    let limits = ctx.ks.limits;
    let Some(s) = read_set(&mut ctx.ks.dbs[ctx.db], &args[1], now)? else {
        ctx.out.array_len(2);
        ctx.out.bulk(b"0");
        ctx.out.array_len(0);
        return Ok(());
    };
    let opts = ScanOpts::parse(&args[3..])?;
    let all: Vec<&[u8]> = s.iter().map(|m| m.as_ref()).collect();
    let (mut items, next) = if intset_order(&all, &limits).is_some() {
        // A small integer set is answered whole, in order, whatever the cursor.
        let mut all = all;
        redis_order(&mut all, &limits);
        (all, 0)
    } else {
        let (range, next) = scan_step(s.len(), cursor, opts.count);
        (range.rev().map(|i| s[i].as_ref()).collect(), next)
    };
    items.retain(|m| opts.matches(m));
    ctx.out.array_len(2);
    let mut b = itoa::Buffer::new();
    ctx.out.bulk(b.format(next).as_bytes());
    ctx.out.array_len(items.len());
    for m in items {
        ctx.out.bulk(m);
    }
    Ok(())
}

/// Replays a transcript recorded against Redis 7.0.15 (command line, exact reply) through
/// the harness. `hello 2|3` switches the protocol; `flushall` empties the keyspace.
#[cfg(test)]
pub(crate) fn replay(cases: &[(&str, &str)]) {
    let mut h = crate::testing::Harness::new();
    for (line, expected) in cases {
        let args = slotkv_protocol::split_args(line.as_bytes()).expect("valid line");
        if args[0].eq_ignore_ascii_case(b"hello") {
            h.version = if &args[1][..] == b"3" {
                slotkv_protocol::ProtocolVersion::Resp3
            } else {
                slotkv_protocol::ProtocolVersion::Resp2
            };
            continue;
        }
        if args[0].eq_ignore_ascii_case(b"flushall") {
            h.ks = slotkv_keyspace::Keyspace::new(16);
            continue;
        }
        let a: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        assert_eq!(h.run_args(&a), *expected, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use slotkv_protocol::ProtocolVersion;

    use crate::testing::Harness;

    /// Recorded from redis-server 7.0.15.
    const REDIS_S1: &[(&str, &str)] = &[
        ("flushall", "+OK\r\n"),
        ("sadd s a b c", ":3\r\n"),
        ("spop s 0", "*0\r\n"),
        ("spop s -1", "-ERR value is out of range, must be positive\r\n"),
        ("spop nokey 2", "*0\r\n"),
        ("spop nokey", "$-1\r\n"),
        ("srandmember nokey", "$-1\r\n"),
        ("srandmember nokey 3", "*0\r\n"),
        ("srandmember nokey -3", "*0\r\n"),
        ("smove nokey s2 a", ":0\r\n"),
        ("set str x", "+OK\r\n"),
        (
            "smove s str zz",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "smove str s a",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("smove nokey str a", ":0\r\n"),
        ("smove s s a", ":1\r\n"),
        ("smove s s zz", ":0\r\n"),
        ("sintercard 0 s", "-ERR numkeys should be greater than 0\r\n"),
        ("sintercard 1 s limit -1", "-ERR LIMIT can't be negative\r\n"),
        (
            "sintercard 2 s",
            "-ERR Number of keys can't be greater than number of args\r\n",
        ),
        ("sintercard x s", "-ERR numkeys should be greater than 0\r\n"),
        ("sintercard 1 s limit 0 limit 1", ":1\r\n"),
        ("sintercard 1 s foo", "-ERR syntax error\r\n"),
        ("sintercard 1 s limit", "-ERR syntax error\r\n"),
        (
            "sintercard 1 str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sinter s nokey str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sinter nokey str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sinter str nokey",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sunion s str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sdiff s str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sdiffstore d s str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("sinterstore d nokey", ":0\r\n"),
        ("sscan s abc", "-ERR invalid cursor\r\n"),
        ("sscan s 0 count 0", "-ERR syntax error\r\n"),
        ("sscan s 0 count -1", "-ERR syntax error\r\n"),
        (
            "sscan s 0 count x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("sscan s 0 match", "-ERR syntax error\r\n"),
        ("sscan s 0 foo bar", "-ERR syntax error\r\n"),
        ("sscan s 18446744073709551616", "-ERR invalid cursor\r\n"),
        ("sscan s +", "-ERR invalid cursor\r\n"),
        (
            "sscan str 0",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("sscan nokey 0 count 0", "*2\r\n$1\r\n0\r\n*0\r\n"),
        ("smismember nokey a", "*1\r\n:0\r\n"),
        ("smismember s a b", "*2\r\n:1\r\n:1\r\n"),
        (
            "sismember str a",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "scard str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sadd str a",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "srem str a",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "smembers str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "srandmember str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "spop str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("sadd is 3 1 2 -5 10", ":5\r\n"),
        (
            "smembers is",
            "*5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
        ),
        (
            "sscan is 5 count 1",
            "*2\r\n$1\r\n0\r\n*5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
        ),
        (
            "sscan is 0 match 1*",
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\n1\r\n$2\r\n10\r\n",
        ),
        ("sadd a 1 2 3 4", ":4\r\n"),
        ("sadd b 3 4 5", ":3\r\n"),
        ("sadd c x 4", ":2\r\n"),
        ("sinter a b", "*2\r\n$1\r\n3\r\n$1\r\n4\r\n"),
        ("sinter a b c", "*1\r\n$1\r\n4\r\n"),
        (
            "sunion a b",
            "*5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n",
        ),
        ("sdiff a b", "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("sdiff a nokey c", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"),
        ("sdiff nokey a", "*0\r\n"),
        ("sinterstore str a b", ":2\r\n"),
        ("smembers str", "*2\r\n$1\r\n3\r\n$1\r\n4\r\n"),
        ("sunionstore u a b c", ":6\r\n"),
        ("sdiffstore u a b", ":2\r\n"),
        ("smembers u", "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("sdiffstore u a a", ":0\r\n"),
        ("scard u", ":0\r\n"),
        ("sunionstore a a b", ":5\r\n"),
        (
            "smembers a",
            "*5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n",
        ),
        ("srem a 1 2 3 4 5 6", ":5\r\n"),
        ("scard a", ":0\r\n"),
        ("hello 3", "HELLO"),
        (
            "smembers is",
            "~5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
        ),
        ("smembers nokey", "~0\r\n"),
        (
            "sinter is",
            "~5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n",
        ),
        ("sunion nokey", "~0\r\n"),
        ("sdiff b b", "~0\r\n"),
        ("spop nokey 1", "~0\r\n"),
        ("srandmember is 1 2", "-ERR syntax error\r\n"),
        ("hello 2", "HELLO"),
    ];

    #[test]
    fn matches_redis_transcript() {
        super::replay(REDIS_S1);
    }

    fn members(reply: &str) -> Vec<String> {
        let mut v: Vec<String> = reply
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.starts_with('$') && !l.starts_with('*') && !l.is_empty())
            .map(String::from)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn add_remove_card_membership() {
        let mut h = Harness::new();
        assert_eq!(h.run("SADD s a b c a"), ":3\r\n");
        assert_eq!(h.run("SADD s a"), ":0\r\n");
        assert_eq!(h.propagated.len(), 1);
        assert_eq!(h.run("SCARD s"), ":3\r\n");
        assert_eq!(h.run("SCARD nokey"), ":0\r\n");
        assert_eq!(h.run("SISMEMBER s a"), ":1\r\n");
        assert_eq!(h.run("SISMEMBER s z"), ":0\r\n");
        assert_eq!(h.run("SISMEMBER nokey z"), ":0\r\n");
        assert_eq!(h.run("SMISMEMBER s a z"), "*2\r\n:1\r\n:0\r\n");
        assert_eq!(h.run("SMISMEMBER nokey a"), "*1\r\n:0\r\n");
        assert_eq!(h.run("SREM s a z"), ":1\r\n");
        assert_eq!(h.run("SREM s z"), ":0\r\n");
        assert_eq!(h.run("SREM s b c"), ":2\r\n");
        assert_eq!(h.run("SCARD s"), ":0\r\n");
        assert!(h.ks.dbs[0].is_empty());
        assert_eq!(
            h.run("SADD s"),
            "-ERR wrong number of arguments for 'sadd' command\r\n"
        );
        h.run("SET str x");
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        for c in [
            "SADD str a",
            "SREM str a",
            "SCARD str",
            "SISMEMBER str a",
            "SMISMEMBER str a",
            "SMEMBERS str",
            "SRANDMEMBER str",
            "SPOP str",
            "SSCAN str 0",
        ] {
            assert_eq!(h.run(c), wrong, "{c}");
        }
    }

    #[test]
    fn smembers_orders_like_redis() {
        let mut h = Harness::new();
        h.run("SADD is 3 1 2 -5 10");
        assert_eq!(
            h.run("SMEMBERS is"),
            "*5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"
        );
        assert_eq!(h.run("SMEMBERS nokey"), "*0\r\n");
        h.version = ProtocolVersion::Resp3;
        assert_eq!(h.run("SMEMBERS nokey"), "~0\r\n");
        assert_eq!(h.run("SMEMBERS is").lines().next(), Some("~5"));
        assert_eq!(
            h.run("SINTER is"),
            "~5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"
        );
        assert_eq!(h.run("SRANDMEMBER is 1").lines().next(), Some("*1"));
    }

    #[test]
    fn srandmember_and_spop() {
        let mut h = Harness::new();
        h.run("SADD s a b c");
        assert_eq!(h.run("SRANDMEMBER nokey"), "$-1\r\n");
        assert_eq!(h.run("SRANDMEMBER nokey 3"), "*0\r\n");
        assert_eq!(h.run("SRANDMEMBER nokey -3"), "*0\r\n");
        assert_eq!(h.run("SRANDMEMBER s 0"), "*0\r\n");
        assert_eq!(h.run("SRANDMEMBER s 1 2"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("SRANDMEMBER s abc"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            h.run("SRANDMEMBER s -9223372036854775808"),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
        );
        assert_eq!(members(&h.run("SRANDMEMBER s 10")), ["a", "b", "c"]);
        let r = h.run("SRANDMEMBER s 2");
        let m = members(&r);
        assert_eq!(m.len(), 2);
        assert_ne!(m[0], m[1]);
        assert_eq!(h.run("SRANDMEMBER s -7").matches("$1").count(), 7);
        assert!(h.run("SRANDMEMBER s").starts_with("$1\r\n"));

        assert_eq!(
            h.run("SPOP s -1"),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(
            h.run("SPOP s abc"),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(h.run("SPOP s 1 2"), "-ERR syntax error\r\n");
        assert_eq!(h.run("SPOP nokey"), "$-1\r\n");
        assert_eq!(h.run("SPOP nokey 2"), "*0\r\n");
        h.propagated.clear();
        assert_eq!(h.run("SPOP s 0"), "*0\r\n");
        assert!(h.propagated.is_empty());
        let r = h.run("SPOP s");
        let popped = r.lines().nth(1).unwrap().to_string();
        assert_eq!(h.propagated, vec![vec!["SREM", "s", popped.as_str()]]);
        h.run("SADD s a b c d e");
        h.propagated.clear();
        assert_eq!(h.run("SPOP s 2").lines().next(), Some("*2"));
        assert_eq!(h.propagated.len(), 2);
        assert!(h
            .propagated
            .iter()
            .all(|c| c[0] == "SREM" && c[1] == "s" && c.len() == 3));
        h.propagated.clear();
        assert_eq!(h.run("SPOP s 10").lines().next(), Some("*3"));
        assert_eq!(h.propagated, vec![vec!["DEL", "s"]]);
        assert_eq!(h.run("SCARD s"), ":0\r\n");
        h.version = ProtocolVersion::Resp3;
        assert_eq!(h.run("SPOP nokey 1"), "~0\r\n");
        h.run("SADD s a");
        assert_eq!(h.run("SPOP s 1"), "~1\r\n$1\r\na\r\n");
    }

    #[test]
    fn smove() {
        let mut h = Harness::new();
        h.run("SET str x");
        assert_eq!(h.run("SMOVE nokey s2 a"), ":0\r\n");
        assert_eq!(h.run("SMOVE nokey str a"), ":0\r\n");
        h.run("SADD s a b");
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        assert_eq!(h.run("SMOVE s str zz"), wrong);
        assert_eq!(h.run("SMOVE str s a"), wrong);
        assert_eq!(h.run("SMOVE s s a"), ":1\r\n");
        assert_eq!(h.run("SMOVE s s z"), ":0\r\n");
        assert_eq!(h.run("SMOVE s d z"), ":0\r\n");
        h.propagated.clear();
        assert_eq!(h.run("SMOVE s d a"), ":1\r\n");
        assert_eq!(h.propagated.len(), 1);
        assert_eq!(h.run("SMOVE s d b"), ":1\r\n");
        assert_eq!(h.run("SCARD s"), ":0\r\n");
        assert!(!h.ks.dbs[0].exists(b"s", 0));
        assert_eq!(members(&h.run("SMEMBERS d")), ["a", "b"]);
        h.run("SADD s a");
        assert_eq!(h.run("SMOVE s d a"), ":1\r\n");
        assert_eq!(h.run("SCARD d"), ":2\r\n");
    }

    #[test]
    fn algebra() {
        let mut h = Harness::new();
        h.run("SADD a 1 2 3 4");
        h.run("SADD b 3 4 5");
        h.run("SADD c x 4");
        h.run("SET str x");
        assert_eq!(h.run("SINTER a b"), "*2\r\n$1\r\n3\r\n$1\r\n4\r\n");
        assert_eq!(h.run("SINTER a b c"), "*1\r\n$1\r\n4\r\n");
        assert_eq!(h.run("SINTER a nokey"), "*0\r\n");
        assert_eq!(
            h.run("SUNION a b"),
            "*5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n"
        );
        assert_eq!(members(&h.run("SUNION a c nokey")), ["1", "2", "3", "4", "x"]);
        assert_eq!(h.run("SDIFF a b"), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
        assert_eq!(h.run("SDIFF nokey a"), "*0\r\n");
        assert_eq!(
            h.run("SDIFF a nokey c"),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        assert_eq!(h.run("SINTER nokey str"), wrong);
        assert_eq!(h.run("SINTER str nokey"), wrong);
        assert_eq!(h.run("SUNION a str"), wrong);
        assert_eq!(h.run("SDIFF a str"), wrong);
        assert_eq!(h.run("SINTERSTORE d nokey str"), wrong);

        h.propagated.clear();
        assert_eq!(h.run("SINTERSTORE d nokey"), ":0\r\n");
        assert!(h.propagated.is_empty());
        assert_eq!(h.run("SINTERSTORE str a b"), ":2\r\n");
        assert_eq!(h.run("SMEMBERS str"), "*2\r\n$1\r\n3\r\n$1\r\n4\r\n");
        assert_eq!(h.run("SUNIONSTORE u a b c"), ":6\r\n");
        assert_eq!(h.run("SDIFFSTORE u a b"), ":2\r\n");
        assert_eq!(h.run("SMEMBERS u"), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
        h.propagated.clear();
        assert_eq!(h.run("SDIFFSTORE u a a"), ":0\r\n");
        assert_eq!(h.propagated.len(), 1);
        assert_eq!(h.run("SCARD u"), ":0\r\n");
        // The destination may be one of the sources.
        assert_eq!(h.run("SUNIONSTORE a a b"), ":5\r\n");

        assert_eq!(h.run("SINTERCARD 2 a b"), ":3\r\n");
        assert_eq!(h.run("SINTERCARD 2 a b LIMIT 1"), ":1\r\n");
        assert_eq!(h.run("SINTERCARD 2 a b LIMIT 0"), ":3\r\n");
        assert_eq!(h.run("SINTERCARD 1 a limit 0 limit 2"), ":2\r\n");
        assert_eq!(h.run("SINTERCARD 2 a nokey"), ":0\r\n");
        assert_eq!(
            h.run("SINTERCARD 0 a"),
            "-ERR numkeys should be greater than 0\r\n"
        );
        assert_eq!(
            h.run("SINTERCARD x a"),
            "-ERR numkeys should be greater than 0\r\n"
        );
        assert_eq!(
            h.run("SINTERCARD 2 a"),
            "-ERR Number of keys can't be greater than number of args\r\n"
        );
        assert_eq!(
            h.run("SINTERCARD 1 a LIMIT -1"),
            "-ERR LIMIT can't be negative\r\n"
        );
        assert_eq!(
            h.run("SINTERCARD 1 a LIMIT x"),
            "-ERR LIMIT can't be negative\r\n"
        );
        assert_eq!(h.run("SINTERCARD 1 a LIMIT"), "-ERR syntax error\r\n");
        assert_eq!(h.run("SINTERCARD 1 a foo"), "-ERR syntax error\r\n");
        h.run("SET str2 x");
        assert_eq!(h.run("SINTERCARD 1 str2"), wrong);
        h.version = ProtocolVersion::Resp3;
        assert_eq!(h.run("SUNION nokey"), "~0\r\n");
        assert_eq!(h.run("SDIFF b a"), "~0\r\n");
    }

    #[test]
    fn sscan() {
        let mut h = Harness::new();
        h.run("SADD s a b c");
        assert_eq!(h.run("SSCAN nokey 0 count 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(h.run("SSCAN s 0 count 0"), "-ERR syntax error\r\n");
        assert_eq!(h.run("SSCAN s 0 count -1"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("SSCAN s 0 count x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(h.run("SSCAN s 0 match"), "-ERR syntax error\r\n");
        assert_eq!(h.run("SSCAN s 0 foo bar"), "-ERR syntax error\r\n");
        assert_eq!(h.run("SSCAN s abc"), "-ERR invalid cursor\r\n");
        assert_eq!(h.run("SSCAN s 18446744073709551616"), "-ERR invalid cursor\r\n");
        assert_eq!(h.run("SSCAN s +"), "-ERR invalid cursor\r\n");
        assert_eq!(members(&h.run("SSCAN s 0")), ["0", "a", "b", "c"]);
        assert_eq!(members(&h.run("SSCAN s +0 MATCH a")), ["0", "a"]);
        h.run("SADD is 3 1 2 -5 10");
        assert_eq!(
            h.run("SSCAN is 5 COUNT 1"),
            "*2\r\n$1\r\n0\r\n*5\r\n$2\r\n-5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"
        );
        // A big set is walked in steps; every member shows up once the cursor returns to 0.
        for i in 0..300 {
            h.run(&format!("SADD big m{i}"));
        }
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        loop {
            let r = h.run(&format!("SSCAN big {cursor} COUNT 7 MATCH m*"));
            let lines: Vec<&str> = r.split("\r\n").collect();
            cursor = lines[2].to_string();
            for l in lines.iter().skip(5).step_by(2) {
                if !l.is_empty() {
                    seen.insert(l.to_string());
                }
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn table_metadata() {
        let t = crate::data_commands();
        let get = |n: &str| t.iter().find(|c| c.name == n).unwrap();
        assert_eq!(
            get("smove").key_positions(&["smove", "a", "b", "m"].map(bytes::Bytes::from)),
            [1, 2]
        );
        let args = ["sintercard", "2", "a", "b", "LIMIT", "1"].map(bytes::Bytes::from);
        assert_eq!(get("sintercard").key_positions(&args), [2, 3]);
        assert_eq!(get("sintercard").flag_names(), ["readonly", "movablekeys"]);
        assert_eq!(get("sadd").flag_names(), ["write", "denyoom", "fast"]);
    }
}
