//! The sorted-set command family: ZADD and friends, rank/score/lex ranges (ZRANGE and its
//! older forms, ZRANGESTORE, the ZREMRANGEBY* commands), pops (including the blocking ones),
//! ZRANDMEMBER, the algebra (ZUNION/ZINTER/ZDIFF, their STORE forms, ZINTERCARD) and ZSCAN.

use bytes::Bytes;
use rand::Rng;
use slotkv_keyspace::{scan_step, Db, EncodingLimits, SetValue, Value, ZSet};
use slotkv_protocol::ReplyWriter;

use crate::args::{int, is};
use crate::flags::*;
use crate::set::{parse_cursor, parse_intercard_limit, parse_intercard_numkeys, rand_count, ScanOpts};
use crate::spec::keys_numkeys_at;
use crate::{cmd, BlockOn, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::SortedSet;
    let one = (1, 1, 1);
    vec![
        cmd("zadd", -4, WRITE | DENYOOM | FAST, one, g, zadd as DataFn)
            .since("1.2.0")
            .summary("Add one or more members to a sorted set, or update its score if it already exists"),
        cmd("zincrby", 4, WRITE | DENYOOM | FAST, one, g, zincrby as DataFn)
            .since("1.2.0")
            .summary("Increment the score of a member in a sorted set"),
        cmd("zrem", -3, WRITE | FAST, one, g, zrem as DataFn)
            .since("1.2.0")
            .summary("Remove one or more members from a sorted set"),
        cmd("zcard", 2, READONLY | FAST, one, g, zcard as DataFn)
            .since("1.2.0")
            .summary("Get the number of members in a sorted set"),
        cmd("zscore", 3, READONLY | FAST, one, g, zscore as DataFn)
            .since("1.2.0")
            .summary("Get the score associated with the given member in a sorted set"),
        cmd("zmscore", -3, READONLY | FAST, one, g, zmscore as DataFn)
            .since("6.2.0")
            .summary("Get the score associated with the given members in a sorted set"),
        cmd("zrank", 3, READONLY | FAST, one, g, zrank as DataFn)
            .since("2.0.0")
            .summary("Determine the index of a member in a sorted set"),
        cmd("zrevrank", 3, READONLY | FAST, one, g, zrevrank as DataFn)
            .since("2.0.0")
            .summary("Determine the index of a member in a sorted set, with scores ordered from high to low"),
        cmd("zcount", 4, READONLY | FAST, one, g, zcount as DataFn)
            .since("2.0.0")
            .summary("Count the members in a sorted set with scores within the given values"),
        cmd("zlexcount", 4, READONLY | FAST, one, g, zlexcount as DataFn)
            .since("2.8.9")
            .summary("Count the number of members in a sorted set between a given lexicographical range"),
        cmd("zrange", -4, READONLY, one, g, zrange as DataFn)
            .since("1.2.0")
            .summary("Return a range of members in a sorted set"),
        cmd("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), g, zrangestore as DataFn)
            .since("6.2.0")
            .summary("Store a range of members from sorted set into another key"),
        cmd("zrevrange", -4, READONLY, one, g, zrevrange as DataFn)
            .since("1.2.0")
            .summary("Return a range of members in a sorted set, by index, with scores ordered from high to low"),
        cmd("zrangebyscore", -4, READONLY, one, g, zrangebyscore as DataFn)
            .since("1.0.5")
            .summary("Return a range of members in a sorted set, by score"),
        cmd("zrevrangebyscore", -4, READONLY, one, g, zrevrangebyscore as DataFn)
            .since("2.2.0")
            .summary("Return a range of members in a sorted set, by score, with scores ordered from high to low"),
        cmd("zrangebylex", -4, READONLY, one, g, zrangebylex as DataFn)
            .since("2.8.9")
            .summary("Return a range of members in a sorted set, by lexicographical range"),
        cmd("zrevrangebylex", -4, READONLY, one, g, zrevrangebylex as DataFn)
            .since("2.8.9")
            .summary("Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings."),
        cmd("zremrangebyrank", 4, WRITE, one, g, zremrangebyrank as DataFn)
            .since("2.0.0")
            .summary("Remove all members in a sorted set within the given indexes"),
        cmd("zremrangebyscore", 4, WRITE, one, g, zremrangebyscore as DataFn)
            .since("1.2.0")
            .summary("Remove all members in a sorted set within the given scores"),
        cmd("zremrangebylex", 4, WRITE, one, g, zremrangebylex as DataFn)
            .since("2.8.9")
            .summary("Remove all members in a sorted set between the given lexicographical range"),
        cmd("zpopmin", -2, WRITE | FAST, one, g, zpopmin as DataFn)
            .since("5.0.0")
            .summary("Remove and return members with the lowest scores in a sorted set"),
        cmd("zpopmax", -2, WRITE | FAST, one, g, zpopmax as DataFn)
            .since("5.0.0")
            .summary("Remove and return members with the highest scores in a sorted set"),
        cmd("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), g, bzpopmin as DataFn)
            .since("5.0.0")
            .summary("Remove and return the member with the lowest score from one or more sorted sets, or block until one is available"),
        cmd("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), g, bzpopmax as DataFn)
            .since("5.0.0")
            .summary("Remove and return the member with the highest score from one or more sorted sets, or block until one is available"),
        cmd("zmpop", -4, WRITE, (0, 0, 0), g, zmpop as DataFn)
            .since("7.0.0")
            .keys_fn(keys_numkeys_1)
            .summary("Remove and return members with scores in a sorted set"),
        cmd("bzmpop", -5, WRITE | BLOCKING, (0, 0, 0), g, bzmpop as DataFn)
            .since("7.0.0")
            .keys_fn(keys_numkeys_2)
            .summary("Remove and return members with scores in a sorted set or block until one is available"),
        cmd("zrandmember", -2, READONLY, one, g, zrandmember as DataFn)
            .since("6.2.0")
            .summary("Get one or multiple random elements from a sorted set"),
        cmd("zunion", -3, READONLY, (0, 0, 0), g, zunion as DataFn)
            .since("6.2.0")
            .keys_fn(keys_numkeys_1)
            .summary("Add multiple sorted sets"),
        cmd("zinter", -3, READONLY, (0, 0, 0), g, zinter as DataFn)
            .since("6.2.0")
            .keys_fn(keys_numkeys_1)
            .summary("Intersect multiple sorted sets"),
        cmd("zdiff", -3, READONLY, (0, 0, 0), g, zdiff as DataFn)
            .since("6.2.0")
            .keys_fn(keys_numkeys_1)
            .summary("Subtract multiple sorted sets"),
        cmd("zunionstore", -4, WRITE | DENYOOM, one, g, zunionstore as DataFn)
            .since("2.0.0")
            .keys_fn(keys_dst_numkeys)
            .summary("Add multiple sorted sets and store the resulting sorted set in a new key"),
        cmd("zinterstore", -4, WRITE | DENYOOM, one, g, zinterstore as DataFn)
            .since("2.0.0")
            .keys_fn(keys_dst_numkeys)
            .summary("Intersect multiple sorted sets and store the resulting sorted set in a new key"),
        cmd("zdiffstore", -4, WRITE | DENYOOM, one, g, zdiffstore as DataFn)
            .since("6.2.0")
            .keys_fn(keys_dst_numkeys)
            .summary("Subtract multiple sorted sets and store the resulting sorted set in a new key"),
        cmd("zintercard", -3, READONLY, (0, 0, 0), g, zintercard as DataFn)
            .since("7.0.0")
            .keys_fn(keys_numkeys_1)
            .summary("Intersect multiple sorted sets and return the cardinality of the result"),
        cmd("zscan", -3, READONLY, one, g, zscan as DataFn)
            .since("2.8.0")
            .summary("Incrementally iterate sorted sets elements and associated scores"),
    ]
}

fn keys_numkeys_1(args: &[Bytes]) -> Vec<usize> {
    keys_numkeys_at(args, 1)
}

fn keys_numkeys_2(args: &[Bytes]) -> Vec<usize> {
    keys_numkeys_at(args, 2)
}

fn keys_dst_numkeys(args: &[Bytes]) -> Vec<usize> {
    let mut v = Vec::with_capacity(4);
    if args.len() > 1 {
        v.push(1);
    }
    v.extend(keys_numkeys_at(args, 2));
    v
}

// ---- lookups ----

fn read_z<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a ZSet>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn write_z<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a mut ZSet>, CmdError> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Parses a score, increment or weight the way Redis's `getDoubleFromObject` does: like
/// [`slotkv_protocol::parse_f64`], but a finite literal that overflows to infinity or
/// underflows to zero is refused (strtod's ERANGE).
fn strict_float(arg: &[u8]) -> Option<f64> {
    let v = slotkv_protocol::parse_f64(arg)?;
    let mantissa = arg.split(|c| *c == b'e' || *c == b'E').next().unwrap_or(arg);
    if (v.is_infinite() && !arg.iter().any(|c| c.eq_ignore_ascii_case(&b'i')))
        || (v == 0.0 && mantissa.iter().any(|c| (b'1'..=b'9').contains(c)))
    {
        return None;
    }
    Some(v)
}

fn float_arg(arg: &[u8]) -> Result<f64, CmdError> {
    strict_float(arg).ok_or(CmdError::NotFloat)
}

/// Whether Redis would hold this zset as a listpack (small, short members). Redis stores a
/// listpack score as text where -0 becomes 0, while its skiplist keeps the sign.
fn listpack_like(z: &ZSet, limits: &EncodingLimits) -> bool {
    !z.is_marked_skiplist()
        && z.len() <= limits.zset_max_listpack_entries
        && z.iter().all(|(m, _)| m.len() <= limits.zset_max_listpack_value)
}

/// -0 as a listpack stores it.
fn unsigned_zero(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// A freshly built destination (ZRANGESTORE, ZUNIONSTORE...): Redis ends up with a
/// listpack when the result is small, which drops the sign of -0 scores.
fn finish_store(mut z: ZSet, limits: &EncodingLimits) -> ZSet {
    if !listpack_like(&z, limits) {
        z.mark_skiplist();
        return z;
    }
    if !z.iter().any(|(_, s)| s == 0.0 && s.is_sign_negative()) {
        return z;
    }
    let mut out = ZSet::new();
    for (m, s) in z.iter() {
        out.insert(m, unsigned_zero(s));
    }
    out
}

fn nan_error() -> CmdError {
    CmdError::err("resulting score is not a number (NaN)")
}

// ---- reply helpers ----

/// Writes (member, score) pairs: with scores, RESP2 gets a flat array and RESP3 an array of
/// [member, double] pairs; without, an array of members.
fn emit(out: &mut ReplyWriter, items: &[(&[u8], f64)], withscores: bool) {
    if !withscores {
        out.array_len(items.len());
        for (m, _) in items {
            out.bulk(m);
        }
    } else if out.resp3() {
        out.array_len(items.len());
        for (m, s) in items {
            out.array_len(2);
            out.bulk(m);
            out.double(*s);
        }
    } else {
        out.array_len(items.len() * 2);
        for (m, s) in items {
            out.bulk(m);
            out.double(*s);
        }
    }
}

// ---- ranges ----

/// Parses a score bound as Redis's `strtod`-based parser does: `(` makes it exclusive, an
/// empty string is 0, leading whitespace is skipped, trailing garbage and NaN are refused.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (ex, s) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    if s.is_empty() {
        return Some((0.0, ex));
    }
    let t = s.trim_ascii_start();
    slotkv_protocol::parse_f64(t).map(|v| (v, ex))
}

#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<Self, CmdError> {
        let err = || CmdError::err("min or max is not a float");
        let (min, minex) = score_bound(min).ok_or_else(err)?;
        let (max, maxex) = score_bound(max).ok_or_else(err)?;
        Ok(Self {
            min,
            minex,
            max,
            maxex,
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum LexBound<'a> {
    NegInf,
    PosInf,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

fn lex_bound(arg: &[u8]) -> Option<LexBound<'_>> {
    match arg {
        b"+" => Some(LexBound::PosInf),
        b"-" => Some(LexBound::NegInf),
        [b'[', rest @ ..] => Some(LexBound::Incl(rest)),
        [b'(', rest @ ..] => Some(LexBound::Excl(rest)),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug)]
enum Range<'a> {
    Score(ScoreRange),
    Lex(LexBound<'a>, LexBound<'a>),
}

impl<'a> Range<'a> {
    fn lex(min: &'a [u8], max: &'a [u8]) -> Result<Self, CmdError> {
        let err = || CmdError::err("min or max not valid string range item");
        Ok(Range::Lex(
            lex_bound(min).ok_or_else(err)?,
            lex_bound(max).ok_or_else(err)?,
        ))
    }

    /// The ascending ranks `start..end` of the entries within the range (empty if
    /// `end <= start`). `rev` matters only for lex ranges over members with different
    /// scores, where Redis's result depends on the walking direction.
    fn ranks(&self, z: &ZSet, rev: bool) -> (usize, usize) {
        match *self {
            Range::Score(r) => (
                z.first_rank_by_score(r.min, !r.minex),
                z.first_rank_by_score(r.max, r.maxex),
            ),
            Range::Lex(min, max) => lex_ranks(z, min, max, rev),
        }
    }

    fn count(&self, z: &ZSet) -> usize {
        let (a, b) = self.ranks(z, false);
        b.saturating_sub(a)
    }
}

fn lex_gte_min(m: &[u8], min: LexBound<'_>) -> bool {
    match min {
        LexBound::NegInf => true,
        LexBound::PosInf => false,
        LexBound::Incl(v) => m >= v,
        LexBound::Excl(v) => m > v,
    }
}

fn lex_lte_max(m: &[u8], max: LexBound<'_>) -> bool {
    match max {
        LexBound::NegInf => false,
        LexBound::PosInf => true,
        LexBound::Incl(v) => m <= v,
        LexBound::Excl(v) => m < v,
    }
}

/// Sets up to this size are walked linearly, like Redis's listpack encoding, so that lex
/// ranges over members with different scores (undefined behaviour in the docs) select
/// exactly what Redis selects; bigger ones use binary search.
const LEX_LINEAR_MAX: usize = 128;

fn lex_ranks(z: &ZSet, min: LexBound<'_>, max: LexBound<'_>, rev: bool) -> (usize, usize) {
    let len = z.len();
    let (Some((first, _)), Some((last, _))) = (z.get_by_rank(0), z.get_by_rank(len.saturating_sub(1))) else {
        return (0, 0);
    };
    // Redis first checks that the range can overlap the set at all.
    if !lex_gte_min(last, min) || !lex_lte_max(first, max) {
        return (0, 0);
    }
    if len <= LEX_LINEAR_MAX {
        let members: Vec<&[u8]> = z.iter().map(|(m, _)| m).collect();
        if rev {
            let Some(end) = members.iter().rposition(|m| lex_lte_max(m, max)) else {
                return (0, 0);
            };
            let mut start = end + 1;
            while start > 0 && lex_gte_min(members[start - 1], min) {
                start -= 1;
            }
            return (start, end + 1);
        }
        let Some(start) = members.iter().position(|m| lex_gte_min(m, min)) else {
            return (0, 0);
        };
        let mut end = start;
        while end < len && lex_lte_max(members[end], max) {
            end += 1;
        }
        return (start, end);
    }
    let start = match min {
        LexBound::NegInf => 0,
        LexBound::PosInf => len,
        LexBound::Incl(m) => z.first_rank_by_lex(m, true),
        LexBound::Excl(m) => z.first_rank_by_lex(m, false),
    };
    let end = match max {
        LexBound::NegInf => 0,
        LexBound::PosInf => len,
        LexBound::Incl(m) => z.first_rank_by_lex(m, false),
        LexBound::Excl(m) => z.first_rank_by_lex(m, true),
    };
    (start, end)
}

// ---- ZADD / ZINCRBY ----

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else if is(a, "ch") {
            f.ch = true;
        } else if is(a, "incr") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if [f.gt, f.lt, f.nx].iter().filter(|&&b| b).count() > 1 {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|p| Ok((float_arg(&p[0])?, &p[1][..])))
        .collect::<Result<Vec<_>, CmdError>>()?;
    zadd_core(ctx, &args[1], f, &pairs)
}

fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let incr = float_arg(&args[2])?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_core(ctx, &args[1], f, &[(incr, &args[3][..])])
}

fn zadd_core(ctx: &mut Ctx<'_>, key: &[u8], f: AddFlags, pairs: &[(f64, &[u8])]) -> CmdResult {
    let now = ctx.now_ms;
    let limits = ctx.ks.limits;
    let db = &mut ctx.ks.dbs[ctx.db];
    // Which encoding Redis would be using decides whether a -0 score keeps its sign.
    let mut skiplist = match write_z(db, key, now)? {
        Some(z) => !listpack_like(z, &limits),
        None => {
            if f.xx {
                if f.incr {
                    ctx.out.null();
                } else {
                    ctx.out.int(0);
                }
                return Ok(());
            }
            db.set(key, Value::new_zset(), now);
            pairs.len() > limits.zset_max_listpack_entries
                || pairs
                    .iter()
                    .any(|(_, m)| m.len() > limits.zset_max_listpack_value)
        }
    };
    let Some(z) = write_z(db, key, now)? else {
        return Err(CmdError::WrongType);
    };
    if skiplist {
        z.mark_skiplist();
    }
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last = 0.0;
    let mut failed = false;
    for &(score, m) in pairs {
        match z.score(m) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    failed = true;
                    break;
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                processed += 1;
                last = new;
                if new != cur {
                    z.insert(m, if skiplist { new } else { unsigned_zero(new) });
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                if z.len() + 1 > limits.zset_max_listpack_entries || m.len() > limits.zset_max_listpack_value
                {
                    skiplist = true;
                    z.mark_skiplist();
                }
                z.insert(m, if skiplist { score } else { unsigned_zero(score) });
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    db.remove_if_empty(key);
    ctx.dirty += added + updated;
    if failed {
        return Err(nan_error());
    }
    if f.incr {
        if processed > 0 {
            ctx.out.double(last);
        } else {
            ctx.out.null();
        }
    } else if f.ch {
        ctx.out.int((added + updated) as i64);
    } else {
        ctx.out.int(added as i64);
    }
    Ok(())
}

// ---- simple reads and removals ----

fn zrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let mut removed = 0u64;
    if let Some(z) = write_z(db, &args[1], now)? {
        for m in &args[2..] {
            if z.remove(m) {
                removed += 1;
                if z.is_empty() {
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

fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let n = read_z(&mut ctx.ks.dbs[ctx.db], &args[1], now)?.map_or(0, ZSet::len);
    ctx.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    match read_z(&mut ctx.ks.dbs[ctx.db], &args[1], now)?.and_then(|z| z.score(&args[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let z = read_z(&mut ctx.ks.dbs[ctx.db], &args[1], now)?;
    ctx.out.array_len(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank_generic(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    let now = ctx.now_ms;
    let z = read_z(&mut ctx.ks.dbs[ctx.db], &args[1], now)?;
    match z.and_then(|z| z.rank(&args[2]).map(|r| if rev { z.len() - 1 - r } else { r })) {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, true)
}

fn count_generic(ctx: &mut Ctx<'_>, key: &[u8], range: Range<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let n = read_z(&mut ctx.ks.dbs[ctx.db], key, now)?.map_or(0, |z| range.count(z));
    ctx.out.int(n as i64);
    Ok(())
}

fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = Range::Score(ScoreRange::parse(&args[2], &args[3])?);
    count_generic(ctx, &args[1], r)
}

fn zlexcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = Range::lex(&args[2], &args[3])?;
    count_generic(ctx, &args[1], r)
}

fn remrange_generic(ctx: &mut Ctx<'_>, key: &[u8], pick: impl Fn(&ZSet) -> (usize, usize)) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let mut removed = 0;
    if let Some(z) = write_z(db, key, now)? {
        let (a, b) = pick(z);
        removed = z.remove_rank_range(a, b);
        db.remove_if_empty(key);
    }
    ctx.dirty += removed as u64;
    ctx.out.int(removed as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    remrange_generic(ctx, &args[1], |z| match crate::args::range(start, end, z.len()) {
        Some((a, b)) => (a, b + 1),
        None => (0, 0),
    })
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = Range::Score(ScoreRange::parse(&args[2], &args[3])?);
    remrange_generic(ctx, &args[1], |z| r.ranks(z, false))
}

fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = Range::lex(&args[2], &args[3])?;
    remrange_generic(ctx, &args[1], |z| r.ranks(z, false))
}

// ---- ZRANGE and its forms ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Auto,
    Fwd,
    Rev,
}

/// The shared implementation of ZRANGE, ZRANGESTORE, ZREVRANGE, Z[REV]RANGEBYSCORE and
/// Z[REV]RANGEBYLEX. `key_idx` is the source key; the two range arguments follow it.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    key_idx: usize,
    store: Option<&Bytes>,
    mut rtype: RangeType,
    mut dir: Dir,
) -> CmdResult {
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = key_idx + 3;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if store.is_none() && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = int(&args[j + 1])?;
            limit = int(&args[j + 2])?;
            j += 2;
        } else if dir == Dir::Auto && is(a, "rev") {
            dir = Dir::Rev;
        } else if rtype == RangeType::Auto && is(a, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && is(a, "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if dir == Dir::Auto {
        dir = Dir::Fwd;
    }
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&args[key_idx + 1], &args[key_idx + 2]);
    if dir == Dir::Rev && rtype != RangeType::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let rank_range = if rtype == RangeType::Rank {
        Some((int(lo)?, int(hi)?))
    } else {
        None
    };
    let range = match rtype {
        RangeType::Score => Some(Range::Score(ScoreRange::parse(lo, hi)?)),
        RangeType::Lex => Some(Range::lex(lo, hi)?),
        _ => None,
    };

    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let z = read_z(db, &args[key_idx], now)?;
    let items: Vec<(&[u8], f64)> = match z {
        None => Vec::new(),
        Some(z) => match (rank_range, range) {
            (Some((start, end)), _) => match crate::args::range(start, end, z.len()) {
                None => Vec::new(),
                Some((a, b)) => {
                    let n = b - a + 1;
                    if dir == Dir::Fwd {
                        z.iter_from(a).take(n).collect()
                    } else {
                        z.iter_rev_from(z.len() - 1 - a).take(n).collect()
                    }
                }
            },
            (None, Some(r)) => {
                let (a, b) = r.ranks(z, dir == Dir::Rev);
                let total = b.saturating_sub(a);
                if offset < 0 || offset as u64 >= total as u64 {
                    Vec::new()
                } else {
                    let off = offset as usize;
                    let avail = total - off;
                    let n = if limit < 0 {
                        avail
                    } else {
                        avail.min(usize::try_from(limit).unwrap_or(usize::MAX))
                    };
                    if dir == Dir::Fwd {
                        z.iter_from(a + off).take(n).collect()
                    } else {
                        z.iter_rev_from(b - 1 - off).take(n).collect()
                    }
                }
            }
            (None, None) => Vec::new(),
        },
    };
    match store {
        None => {
            emit(ctx.out, &items, withscores);
        }
        Some(dst) => {
            let n = items.len();
            // Redis creates the destination as a listpack unless the (known) length of a
            // rank range is already too big, then adds the entries in reply order,
            // converting to a skiplist on the first one that does not fit: -0 keeps its
            // sign only from there on.
            let limits = ctx.ks.limits;
            let mut skiplist = rank_range.is_some() && n > limits.zset_max_listpack_entries;
            let mut nz = ZSet::new();
            for (m, s) in &items {
                if !skiplist
                    && (nz.len() + 1 > limits.zset_max_listpack_entries
                        || m.len() > limits.zset_max_listpack_value)
                {
                    skiplist = true;
                }
                nz.insert(m, if skiplist { *s } else { unsigned_zero(*s) });
            }
            if skiplist {
                nz.mark_skiplist();
            }
            drop(items);
            let db = &mut ctx.ks.dbs[ctx.db];
            if n == 0 {
                if db.delete(dst, now) {
                    ctx.dirty += 1;
                }
            } else {
                db.set(dst, Value::ZSet(Box::new(nz)), now);
                ctx.dirty += 1;
            }
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Auto, Dir::Auto)
}

fn zrangestore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 2, Some(&args[1]), RangeType::Auto, Dir::Auto)
}

fn zrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Rank, Dir::Rev)
}

fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Dir::Fwd)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Dir::Rev)
}

fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Dir::Fwd)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Dir::Rev)
}

// ---- pops ----

fn pop_name(max: bool) -> Bytes {
    Bytes::from_static(if max { b"ZPOPMAX" } else { b"ZPOPMIN" })
}

/// Pops up to `count` entries from the zset at `key` (which must exist and be a zset).
fn pop_n(db: &mut Db, key: &[u8], now: i64, max: bool, count: usize) -> Vec<(Box<[u8]>, f64)> {
    let mut out = Vec::new();
    if let Ok(Some(z)) = write_z(db, key, now) {
        let n = count.min(z.len());
        out.reserve(n);
        for _ in 0..n {
            let rank = if max { z.len() - 1 } else { 0 };
            match z.remove_rank(rank) {
                Some(e) => out.push(e),
                None => break,
            }
        }
    }
    db.remove_if_empty(key);
    out
}

fn zpop_generic(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => match slotkv_protocol::parse_i64(a) {
            Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(CmdError::NotPositive),
        },
        None => None,
    };
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    if read_z(db, &args[1], now)?.is_none() || count == Some(0) {
        ctx.out.array_len(0);
        return Ok(());
    }
    let popped = pop_n(db, &args[1], now, max, count.unwrap_or(1));
    ctx.dirty += popped.len() as u64;
    let items: Vec<(&[u8], f64)> = popped.iter().map(|(m, s)| (&m[..], *s)).collect();
    if count.is_none() && ctx.out.resp3() {
        // Without a count, RESP3 still gets the flat [member, score] form.
        ctx.out.array_len(2);
        for (m, s) in &items {
            ctx.out.bulk(m);
            ctx.out.double(*s);
        }
    } else {
        emit(ctx.out, &items, true);
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, true)
}

/// The first of `keys` holding a zset (all zsets are non-empty), WRONGTYPE if the first
/// existing key holds another type.
fn first_zset(db: &mut Db, keys: &[Bytes], now: i64) -> Result<Option<usize>, CmdError> {
    for (i, k) in keys.iter().enumerate() {
        if read_z(db, k, now)?.is_some() {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn bzpop_generic(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    let deadline = crate::args::timeout_deadline(&args[args.len() - 1], ctx.now_ms)?;
    let keys = &args[1..args.len() - 1];
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let Some(i) = first_zset(db, keys, now)? else {
        if ctx.can_block {
            ctx.block = Some(BlockOn {
                keys: keys.to_vec(),
                deadline_ms: deadline,
            });
        } else {
            ctx.out.null_array();
        }
        return Ok(());
    };
    let key = &keys[i];
    let popped = pop_n(db, key, now, max, 1);
    let Some((m, s)) = popped.first() else {
        ctx.out.null_array();
        return Ok(());
    };
    ctx.out.array_len(3);
    ctx.out.bulk(key);
    ctx.out.bulk(m);
    ctx.out.double(*s);
    ctx.dirty += 1;
    ctx.propagate(vec![vec![pop_name(max), key.clone()]]);
    Ok(())
}

fn bzpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop_generic(ctx, args, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop_generic(ctx, args, true)
}

/// ZMPOP/BZMPOP: `numkeys key... MIN|MAX [COUNT count]` starting at `at`.
fn mpop_generic(ctx: &mut Ctx<'_>, args: &[Bytes], at: usize, deadline: Option<i64>) -> CmdResult {
    let numkeys = match slotkv_protocol::parse_i64(&args[at]) {
        Some(n) if n > 0 => n as u64,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let where_idx = (at as u64 + 1).saturating_add(numkeys);
    if where_idx >= args.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_idx = where_idx as usize;
    let max = if is(&args[where_idx], "min") {
        false
    } else if is(&args[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            match slotkv_protocol::parse_i64(&args[j]) {
                Some(n) if n > 0 => count = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(CmdError::err("count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    let keys = &args[at + 1..where_idx];
    let now = ctx.now_ms;
    let db = &mut ctx.ks.dbs[ctx.db];
    let Some(i) = first_zset(db, keys, now)? else {
        match deadline {
            Some(d) if ctx.can_block => {
                ctx.block = Some(BlockOn {
                    keys: keys.to_vec(),
                    deadline_ms: d,
                });
            }
            _ => ctx.out.null_array(),
        }
        return Ok(());
    };
    let key = &keys[i];
    let popped = pop_n(db, key, now, max, count);
    ctx.out.array_len(2);
    ctx.out.bulk(key);
    ctx.out.array_len(popped.len());
    for (m, s) in &popped {
        ctx.out.array_len(2);
        ctx.out.bulk(m);
        ctx.out.double(*s);
    }
    ctx.dirty += popped.len() as u64;
    let mut b = itoa::Buffer::new();
    ctx.propagate(vec![vec![
        pop_name(max),
        key.clone(),
        Bytes::copy_from_slice(b.format(popped.len()).as_bytes()),
    ]]);
    Ok(())
}

fn zmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    mpop_generic(ctx, args, 1, None)
}

fn bzmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let deadline = crate::args::timeout_deadline(&args[1], ctx.now_ms)?;
    mpop_generic(ctx, args, 2, Some(deadline))
}

// ---- ZRANDMEMBER ----

fn zrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(count_arg) = args.get(2) else {
        let now = ctx.now_ms;
        let z = read_z(&mut ctx.ks.dbs[ctx.db], &args[1], now)?;
        match z.and_then(|z| z.member_at_random(&mut rand::thread_rng())) {
            Some((m, _)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let count = rand_count(count_arg)?;
    if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = args.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::err("value is out of range"));
    }
    let now = ctx.now_ms;
    let Some(z) = read_z(&mut ctx.ks.dbs[ctx.db], &args[1], now)? else {
        ctx.out.array_len(0);
        return Ok(());
    };
    let mut rng = rand::thread_rng();
    if count == 0 {
        ctx.out.array_len(0);
    } else if count < 0 {
        let n = count.unsigned_abs() as usize;
        let pair = withscores && ctx.out.resp3();
        ctx.out.array_len(if withscores && !pair { n * 2 } else { n });
        for _ in 0..n {
            if let Some((m, s)) = z.get_by_rank(rng.gen_range(0..z.len())) {
                if pair {
                    ctx.out.array_len(2);
                }
                ctx.out.bulk(m);
                if withscores {
                    ctx.out.double(s);
                }
            }
        }
    } else if count as u64 >= z.len() as u64 {
        // The whole set, from the highest rank down, as Redis lists a small one.
        let items: Vec<(&[u8], f64)> = z.iter_rev_from(usize::MAX).collect();
        emit(ctx.out, &items, withscores);
    } else {
        let picks = rand::seq::index::sample(&mut rng, z.len(), count as usize);
        let items: Vec<(&[u8], f64)> = picks.into_iter().filter_map(|r| z.get_by_rank(r)).collect();
        emit(ctx.out, &items, withscores);
    }
    Ok(())
}

// ---- ZUNION / ZINTER / ZDIFF ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// An input of the algebra: a sorted set, or a plain set whose members score 1.
#[derive(Clone, Copy)]
enum Src<'a> {
    Z(&'a ZSet),
    S(&'a SetValue),
}

impl<'a> Src<'a> {
    fn len(&self) -> usize {
        match self {
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a> {
        match *self {
            Src::Z(z) => Box::new(z.iter()),
            Src::S(s) => Box::new(s.iter().map(|m| (m.as_ref(), 1.0))),
        }
    }
}

/// Type-checks `keys` (zsets and sets are accepted) and returns the inputs, missing keys as
/// `None`.
fn gather<'a>(db: &'a mut Db, keys: &[Bytes], now: i64) -> Result<Vec<Option<Src<'a>>>, CmdError> {
    for k in keys {
        match db.get(k, now) {
            None | Some(Value::ZSet(_)) | Some(Value::Set(_)) => {}
            Some(_) => return Err(CmdError::WrongType),
        }
    }
    let db: &'a Db = db;
    Ok(keys
        .iter()
        .map(|k| match db.peek(k, now) {
            Some(Value::ZSet(z)) => Some(Src::Z(z)),
            Some(Value::Set(s)) => Some(Src::S(s)),
            _ => None,
        })
        .collect())
}

fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn aggregate(acc: &mut f64, v: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *acc += v;
            if acc.is_nan() {
                *acc = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *acc {
                *acc = v;
            }
        }
        Aggregate::Max => {
            if v > *acc {
                *acc = v;
            }
        }
    }
}

fn compute(inputs: &[Option<Src<'_>>], weights: &[f64], agg: Aggregate, op: SetOp) -> ZSet {
    let mut out = ZSet::new();
    match op {
        SetOp::Diff => {
            let Some(Some(first)) = inputs.first() else {
                return out;
            };
            for (m, s) in first.iter() {
                if !inputs[1..].iter().flatten().any(|o| o.score(m).is_some()) {
                    out.insert(m, s);
                }
            }
        }
        SetOp::Inter => {
            if inputs.iter().any(|s| s.is_none_or(|s| s.len() == 0)) {
                return out;
            }
            // Smallest first, weights travelling with their sets, as Redis orders them.
            let mut srcs: Vec<(Src<'_>, f64)> = inputs
                .iter()
                .flatten()
                .copied()
                .zip(weights.iter().copied())
                .collect();
            srcs.sort_by_key(|(s, _)| s.len());
            let (first, w0) = srcs[0];
            'members: for (m, s) in first.iter() {
                let mut acc = weighted(s, w0);
                for (other, w) in &srcs[1..] {
                    // Only the first set's product is cleaned of NaN (inf * 0); later ones go
                    // into the aggregate as they are, as Redis does.
                    match other.score(m) {
                        Some(v) => aggregate(&mut acc, v * *w, agg),
                        None => continue 'members,
                    }
                }
                out.insert(m, acc);
            }
        }
        SetOp::Union => {
            let mut srcs: Vec<(Src<'_>, f64)> = inputs
                .iter()
                .zip(weights.iter().copied())
                .filter_map(|(s, w)| s.map(|s| (s, w)))
                .collect();
            srcs.sort_by_key(|(s, _)| s.len());
            let mut acc: std::collections::HashMap<&[u8], f64> = std::collections::HashMap::new();
            let mut order: Vec<&[u8]> = Vec::new();
            for (src, w) in &srcs {
                for (m, s) in src.iter() {
                    let v = weighted(s, *w);
                    match acc.get_mut(m) {
                        Some(a) => aggregate(a, v, agg),
                        None => {
                            acc.insert(m, v);
                            order.push(m);
                        }
                    }
                }
            }
            for m in order {
                out.insert(m, acc[m]);
            }
        }
    }
    out
}

/// ZUNION/ZINTER/ZDIFF and the STORE forms; `at` is the index of numkeys.
fn zsetop_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    at: usize,
    store: Option<&Bytes>,
    op: SetOp,
) -> CmdResult {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let numkeys = int(&args[at])?;
    if numkeys < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > (args.len() - at - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let numkeys = numkeys as usize;
    let keys = &args[at + 1..at + 1 + numkeys];
    let now = ctx.now_ms;
    // Keys are looked up and type-checked before the options are parsed, as Redis does.
    let inputs = gather(&mut ctx.ks.dbs[ctx.db], keys, now)?;
    let mut weights = vec![1.0; numkeys];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut j = at + 1 + numkeys;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if op != SetOp::Diff && is(a, "weights") && left >= numkeys {
            for (k, w) in weights.iter_mut().enumerate() {
                *w = strict_float(&args[j + 1 + k])
                    .ok_or_else(|| CmdError::err("weight value is not a float"))?;
            }
            j += numkeys;
        } else if op != SetOp::Diff && is(a, "aggregate") && left >= 1 {
            let v = &args[j + 1];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 1;
        } else if store.is_none() && is(a, "withscores") {
            withscores = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let result = compute(&inputs, &weights, agg, op);
    drop(inputs);
    let db = &mut ctx.ks.dbs[ctx.db];
    match store {
        None => {
            let items: Vec<(&[u8], f64)> = result.iter().collect();
            emit(ctx.out, &items, withscores);
        }
        Some(dst) => {
            let n = result.len();
            if n == 0 {
                if db.delete(dst, now) {
                    ctx.dirty += 1;
                }
            } else {
                let result = finish_store(result, &ctx.ks.limits);
                let db = &mut ctx.ks.dbs[ctx.db];
                db.set(dst, Value::ZSet(Box::new(result)), now);
                ctx.dirty += 1;
            }
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

fn zunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, 1, None, SetOp::Union)
}

fn zinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, 1, None, SetOp::Inter)
}

fn zdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, 1, None, SetOp::Diff)
}

fn zunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, 2, Some(&args[1]), SetOp::Union)
}

fn zinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, 2, Some(&args[1]), SetOp::Inter)
}

fn zdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, 2, Some(&args[1]), SetOp::Diff)
}

fn zintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = parse_intercard_numkeys(args, "zintercard")?;
    let now = ctx.now_ms;
    // Keys are type-checked before the options are parsed, as Redis does.
    let inputs = gather(&mut ctx.ks.dbs[ctx.db], &args[2..2 + numkeys], now)?;
    let limit = parse_intercard_limit(args, numkeys)?;
    let mut n = 0usize;
    if !inputs.iter().any(|s| s.is_none_or(|s| s.len() == 0)) {
        let mut srcs: Vec<Src<'_>> = inputs.iter().flatten().copied().collect();
        srcs.sort_by_key(Src::len);
        for (m, _) in srcs[0].iter() {
            if srcs[1..].iter().all(|o| o.score(m).is_some()) {
                n += 1;
                if limit != 0 && n >= limit {
                    break;
                }
            }
        }
    }
    ctx.out.int(n as i64);
    Ok(())
}

// ---- ZSCAN ----

fn zscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2])?;
    let now = ctx.now_ms;
    let limits = ctx.ks.limits;
    let Some(z) = read_z(&mut ctx.ks.dbs[ctx.db], &args[1], now)? else {
        ctx.out.array_len(2);
        ctx.out.bulk(b"0");
        ctx.out.array_len(0);
        return Ok(());
    };
    let opts = ScanOpts::parse(&args[3..])?;
    let small = !z.is_marked_skiplist()
        && z.len() <= limits.zset_max_listpack_entries
        && z.iter().all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
    let (mut items, next): (Vec<(&[u8], f64)>, u64) = if small {
        // Redis answers a listpack-encoded zset whole, in order, whatever the cursor.
        (z.iter().collect(), 0)
    } else {
        let (range, next) = scan_step(z.len(), cursor, opts.count);
        (range.rev().filter_map(|i| z.entry_at(i)).collect(), next)
    };
    items.retain(|(m, _)| opts.matches(m));
    ctx.out.array_len(2);
    let mut b = itoa::Buffer::new();
    ctx.out.bulk(b.format(next).as_bytes());
    ctx.out.array_len(items.len() * 2);
    for (m, s) in items {
        ctx.out.bulk(m);
        ctx.out.bulk(slotkv_protocol::format_double(s).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use slotkv_protocol::ProtocolVersion;

    use crate::set::replay;
    use crate::testing::Harness;

    /// Recorded from redis-server 7.0.15: scores, ranks, counts, every ZRANGE form and
    /// their errors, lex ranges, removals by range.
    const REDIS_Z1: &[(&str, &str)] = &[
        ("flushall", "+OK\r\n"),
        ("zadd z xx nx 1 a", "-ERR XX and NX options at the same time are not compatible\r\n"),
        ("zadd z gt lt 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
        ("zadd z gt nx 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
        ("zadd z lt nx 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
        ("zadd z incr 1 a 2 b", "-ERR INCR option supports a single increment-element pair\r\n"),
        ("zadd z 1 a 2", "-ERR syntax error\r\n"),
        ("zadd z nan a", "-ERR value is not a valid float\r\n"),
        ("zadd z abc a", "-ERR value is not a valid float\r\n"),
        ("zadd z incr 1", "-ERR syntax error\r\n"),
        ("zadd z 1 a 2 b 3 c", ":3\r\n"),
        ("zadd z incr inf a", "$3\r\ninf\r\n"),
        ("zadd z incr -inf a", "-ERR resulting score is not a number (NaN)\r\n"),
        ("zadd z incr 1 nokey_member", "$1\r\n1\r\n"),
        ("zadd z xx incr 1 newm", "$-1\r\n"),
        ("zadd z nx incr 1 a", "$-1\r\n"),
        ("zadd z gt incr -100 b", "$-1\r\n"),
        ("zadd z gt ch 5 b 0 c 1 d", ":2\r\n"),
        ("zadd z lt ch 10 b", ":0\r\n"),
        ("zadd z ch xx 7 b 8 e", ":1\r\n"),
        ("zadd z XX CH 7 b 8 e", ":0\r\n"),
        ("zadd z -0 f", ":1\r\n"),
        ("zscore z f", "$1\r\n0\r\n"),
        ("zincrby z abc a", "-ERR value is not a valid float\r\n"),
        ("zincrby z 1 b", "$1\r\n8\r\n"),
        ("zincrby z -inf a", "-ERR resulting score is not a number (NaN)\r\n"),
        ("zincrby z 1.5 nokey", "$3\r\n1.5\r\n"),
        ("zadd inf inf a", ":1\r\n"),
        ("zincrby inf -inf a", "-ERR resulting score is not a number (NaN)\r\n"),
        ("zadd inf incr -inf a", "-ERR resulting score is not a number (NaN)\r\n"),
        ("zrange z 0 -1 withscores", "*14\r\n$1\r\nf\r\n$1\r\n0\r\n$1\r\nd\r\n$1\r\n1\r\n$12\r\nnokey_member\r\n$1\r\n1\r\n$5\r\nnokey\r\n$3\r\n1.5\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n8\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zadd z 1.1 x", ":1\r\n"),
        ("zscore z x", "$18\r\n1.1000000000000001\r\n"),
        ("zscore z nomember", "$-1\r\n"),
        ("zscore nokey x", "$-1\r\n"),
        ("zmscore z x nomember", "*2\r\n$18\r\n1.1000000000000001\r\n$-1\r\n"),
        ("zmscore nokey x y", "*2\r\n$-1\r\n$-1\r\n"),
        ("zrank z x", ":3\r\n"),
        ("zrank z nomember", "$-1\r\n"),
        ("zrevrank z x", ":4\r\n"),
        ("zrevrank nokey x", "$-1\r\n"),
        ("zcount z -inf +inf", ":8\r\n"),
        ("zcount z (1 (5", ":3\r\n"),
        ("zcount z abc 1", "-ERR min or max is not a float\r\n"),
        ("zcount z ( 1", ":2\r\n"),
        ("zcount z 1 (", ":0\r\n"),
        ("zcount z \"(1 \" 5", "-ERR min or max is not a float\r\n"),
        ("zcount z 5 1", ":0\r\n"),
        ("zcount z \"\" 5", ":6\r\n"),
        ("zcount z \" 1\" 5", ":5\r\n"),
        ("zcount z \"(\" \"(+inf\"", ":6\r\n"),
        ("zcount z 1e1 100", ":0\r\n"),
        ("zcount nokey 1 2", ":0\r\n"),
        ("zcount nokey a 2", "-ERR min or max is not a float\r\n"),
        ("zlexcount z - +", ":8\r\n"),
        ("zlexcount z a b", "-ERR min or max not valid string range item\r\n"),
        ("zlexcount z [a (b", ":0\r\n"),
        ("zlexcount z + -", ":0\r\n"),
        ("zlexcount z - -", ":0\r\n"),
        ("zlexcount z +a -", "-ERR min or max not valid string range item\r\n"),
        ("zlexcount nokey - +", ":0\r\n"),
        ("zlexcount nokey a +", "-ERR min or max not valid string range item\r\n"),
        ("set str x", "+OK\r\n"),
        ("zadd str 1 a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zadd str abc a", "-ERR value is not a valid float\r\n"),
        ("zcard str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zcard nokey", ":0\r\n"),
        ("zcard z", ":8\r\n"),
        ("zrem nokey a", ":0\r\n"),
        ("zrem z a nope b", ":2\r\n"),
        ("zrem str a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zscore str a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zincrby str 1 a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("flushall", "+OK\r\n"),
        ("zadd z 1 a 2 b 3 c 4 d 5 e", ":5\r\n"),
        ("zrange z 0 -1 bylex", "-ERR min or max not valid string range item\r\n"),
        ("zrange z - + bylex withscores", "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
        ("zrange z 0 -1 limit 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
        ("zrange z 0 -1 limit 5 -1", "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zrange z 0 -1 rev withscores", "*10\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ("zrange z 0 1 rev rev", "-ERR syntax error\r\n"),
        ("zrange z 0 1 byscore bylex", "-ERR syntax error\r\n"),
        ("zrange z (1 +inf byscore limit 1 2 withscores", "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
        ("zrange z +inf (1 byscore rev limit 1 2 withscores", "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        ("zrange z +inf (1 byscore limit 1 2", "*0\r\n"),
        ("zrange z 0 10 byscore limit 0 -1", "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zrange z 0 10 byscore limit -1 2", "*0\r\n"),
        ("zrange z 0 10 byscore limit 1 0", "*0\r\n"),
        ("zrange z 0 10 byscore limit 4 10", "*1\r\n$1\r\ne\r\n"),
        ("zrange z 0 10 byscore limit 5 10", "*0\r\n"),
        ("zrange z 0 10 byscore rev", "*0\r\n"),
        ("zrange z 10 0 byscore rev limit 2 -5", "*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
        ("zrange z 0 -1 byscore limit 0", "-ERR syntax error\r\n"),
        ("zrange z 0 -1 byscore limit x 1", "-ERR value is not an integer or out of range\r\n"),
        ("zrange z a b", "-ERR value is not an integer or out of range\r\n"),
        ("zrange z 0 -1 foo", "-ERR syntax error\r\n"),
        ("zrange z 0 1 withscores withscores", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("zrange z 1 0", "*0\r\n"),
        ("zrange z -100 100", "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zrange z -2 -1", "*2\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zrange z -1 -2", "*0\r\n"),
        ("zrange z 9223372036854775807 -9223372036854775808", "*0\r\n"),
        ("zrange z -9223372036854775808 9223372036854775807", "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zrange z 2 2 rev", "*1\r\n$1\r\nc\r\n"),
        ("zrangebyscore z -inf +inf withscores limit 0 2", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("zrangebyscore z -inf +inf limit 0 2 withscores", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("zrangebyscore z -inf +inf bylex", "-ERR syntax error\r\n"),
        ("zrangebyscore z -inf +inf rev", "-ERR syntax error\r\n"),
        ("zrangebyscore z (2 (4", "*1\r\n$1\r\nc\r\n"),
        ("zrangebyscore z (2 (2", "*0\r\n"),
        ("zrangebyscore z 2 2", "*1\r\n$1\r\nb\r\n"),
        ("zrangebyscore z (2 2", "*0\r\n"),
        ("zrangebyscore z 3 2", "*0\r\n"),
        ("zrevrangebyscore z +inf -inf limit 1 1", "*1\r\n$1\r\nd\r\n"),
        ("zrevrangebyscore z -inf +inf", "*0\r\n"),
        ("zrevrangebyscore z (4 (2 withscores", "*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        ("zrevrange z 0 1 withscores", "*4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n"),
        ("zrevrange z 0 1 byscore", "-ERR syntax error\r\n"),
        ("zrevrange z 0 1 limit 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
        ("zrevrange z -1 -1", "*1\r\n$1\r\na\r\n"),
        ("zrangebylex z - + withscores", "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
        ("zrangebylex z - + limit 1 2", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        ("zrevrangebylex z + - limit 1 2", "*2\r\n$1\r\nd\r\n$1\r\nc\r\n"),
        ("zrangebylex z a +", "-ERR min or max not valid string range item\r\n"),
        ("zrangebylex nokey a +", "-ERR min or max not valid string range item\r\n"),
        ("zrangebylex nokey - +", "*0\r\n"),
        ("zrangestore dst z 0 -1 withscores", "-ERR syntax error\r\n"),
        ("zrangestore dst z 0 -1 rev", ":5\r\n"),
        ("zrange dst 0 -1", "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zrangestore dst z 0 10 byscore limit 1 1", ":1\r\n"),
        ("zrange dst 0 -1 withscores", "*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("zrangestore dst nokey 0 -1", ":0\r\n"),
        ("zrangestore dst z - + bylex limit 0 100", ":5\r\n"),
        ("set str v", "+OK\r\n"),
        ("zrangestore dst str 0 -1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zrangestore str z 0 0", ":1\r\n"),
        ("zrange z 0 -1 limit 0 1 bylex", "-ERR min or max not valid string range item\r\n"),
        ("zrange z (1 5 byscore limit 0 1 limit 1 1", "*1\r\n$1\r\nc\r\n"),
        ("zadd lex 0 a 0 b 0 c 0 d 0 e 0 f", ":6\r\n"),
        ("zrangebylex lex [b [d", "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        ("zrangebylex lex (b [d", "*2\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        ("zrangebylex lex (b (d", "*1\r\n$1\r\nc\r\n"),
        ("zrangebylex lex [d [b", "*0\r\n"),
        ("zrangebylex lex [b (b", "*0\r\n"),
        ("zrangebylex lex [b [b", "*1\r\n$1\r\nb\r\n"),
        ("zrangebylex lex ( (", "*0\r\n"),
        ("zrangebylex lex ( +", "*6\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"),
        ("zrangebylex lex [ +", "*6\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"),
        ("zrangebylex lex - [", "*0\r\n"),
        ("zrevrangebylex lex [d [b", "*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
        ("zrevrangebylex lex (d - limit 0 2", "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"),
        ("zrange lex [e [b bylex rev limit 1 5", "*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
        ("zlexcount lex [b (e", ":3\r\n"),
        ("zremrangebylex lex [b (c", ":1\r\n"),
        ("zrange lex 0 -1", "*5\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"),
        ("zremrangebylex lex - +", ":5\r\n"),
        ("zremrangebylex lex a b", "-ERR min or max not valid string range item\r\n"),
        ("zremrangebylex nokey a b", "-ERR min or max not valid string range item\r\n"),
        ("zremrangebyscore z abc 1", "-ERR min or max is not a float\r\n"),
        ("zremrangebyscore z (1 2", ":1\r\n"),
        ("zrange z 0 -1", "*4\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zremrangebyrank z a 1", "-ERR value is not an integer or out of range\r\n"),
        ("zremrangebyrank z 1 0", ":0\r\n"),
        ("zremrangebyrank z -1 -1", ":1\r\n"),
        ("zrange z 0 -1", "*3\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        ("zremrangebyrank z 0 100", ":3\r\n"),
        ("zremrangebyrank nokey 0 1", ":0\r\n"),
        ("zremrangebyscore nokey 0 1", ":0\r\n"),
    ];

    /// Recorded from redis-server 7.0.15: pops, ZMPOP, ZRANDMEMBER errors, the algebra,
    /// ZINTERCARD, ZSCAN, and RESP3 shapes.
    const REDIS_Z2: &[(&str, &str)] = &[
        ("flushall", "+OK\r\n"),
        ("zadd z 1 a 2 b 3 c 4 d 5 e 0 f", ":6\r\n"),
        ("zlexcount z [a (b", ":0\r\n"),
        ("zlexcount z - +", ":6\r\n"),
        ("zrangebylex z - [c", "*0\r\n"),
        ("zrevrangebylex z [c -", "*0\r\n"),
        ("zrangebylex z [b +", "*6\r\n$1\r\nf\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        ("zrevrangebylex z + [b", "*4\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
        ("zremrangebylex z [b +", ":6\r\n"),
        ("zrange z 0 -1", "*0\r\n"),
        ("flushall", "+OK\r\n"),
        ("zadd z 1 a 2 b 3 c 1.1 x", ":4\r\n"),
        ("zpopmin z -1", "-ERR value is out of range, must be positive\r\n"),
        ("zpopmin z abc", "-ERR value is out of range, must be positive\r\n"),
        ("zpopmin z 1 2", "-ERR syntax error\r\n"),
        ("zpopmin nokey", "*0\r\n"),
        ("zpopmin nokey 1", "*0\r\n"),
        ("zpopmin z 0", "*0\r\n"),
        ("zpopmin z", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ("zpopmax z 2", "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("zpopmax z 10", "*2\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n"),
        ("zcard z", ":0\r\n"),
        ("zadd z 1 a 2 b 3 c 1.1 x", ":4\r\n"),
        ("zmpop 0 z min", "-ERR numkeys should be greater than 0\r\n"),
        ("zmpop -1 z min", "-ERR numkeys should be greater than 0\r\n"),
        ("zmpop x z min", "-ERR numkeys should be greater than 0\r\n"),
        ("zmpop 2 z min", "-ERR syntax error\r\n"),
        ("zmpop 5 z min", "-ERR syntax error\r\n"),
        ("zmpop 1 z foo", "-ERR syntax error\r\n"),
        ("zmpop 1 z min count", "-ERR syntax error\r\n"),
        ("zmpop 1 z min count 1 count 2", "-ERR syntax error\r\n"),
        ("zmpop 1 z min count -1", "-ERR count should be greater than 0\r\n"),
        ("zmpop 1 z min count x", "-ERR count should be greater than 0\r\n"),
        ("zmpop 1 z min foo", "-ERR syntax error\r\n"),
        ("zmpop 1 z min", "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ("zmpop 1 nokey min", "*-1\r\n"),
        ("zmpop 2 nokey z MAX COUNT 2", "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("set str x", "+OK\r\n"),
        ("zmpop 2 str z MAX COUNT 2", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zmpop 2 nokey z MAX COUNT 2", "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n"),
        ("zmpop 2 z str MAX COUNT 10", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("bzpopmin nokey -1", "-ERR timeout is negative\r\n"),
        ("bzpopmin nokey abc", "-ERR timeout is not a float or out of range\r\n"),
        ("bzmpop abc 1 nokey min", "-ERR timeout is not a float or out of range\r\n"),
        ("bzmpop 0 0 nokey min", "-ERR numkeys should be greater than 0\r\n"),
        ("bzpopmin str 0", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zadd z 1 a 2 b", ":2\r\n"),
        ("bzpopmin nokey z 0", "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ("bzpopmax nokey z 0", "*3\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("zrandmember z -9223372036854775808", "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"),
        ("zrandmember z 4611686018427387904 withscores", "-ERR value is out of range\r\n"),
        ("zrandmember z -4611686018427387904 withscores", "-ERR value is out of range\r\n"),
        ("zrandmember z 3 withscores foo", "-ERR syntax error\r\n"),
        ("zrandmember z 3 foo", "-ERR syntax error\r\n"),
        ("zrandmember z abc", "-ERR value is not an integer or out of range\r\n"),
        ("zrandmember z abc foo", "-ERR value is not an integer or out of range\r\n"),
        ("zrandmember nokey", "$-1\r\n"),
        ("zrandmember nokey 3", "*0\r\n"),
        ("zrandmember nokey 3 withscores", "*0\r\n"),
        ("zrandmember str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zrandmember z 0", "*0\r\n"),
        ("zrandmember z 0 withscores", "*0\r\n"),
        ("zadd z 1 a 2 b 3 c 1.1 x", ":4\r\n"),
        ("zrandmember z 10 withscores", "*8\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ("zunion 0 z", "-ERR at least 1 input key is needed for 'zunion' command\r\n"),
        ("zunionstore dst 0 z", "-ERR at least 1 input key is needed for 'zunionstore' command\r\n"),
        ("zunion 2 z", "-ERR syntax error\r\n"),
        ("zunion x z", "-ERR value is not an integer or out of range\r\n"),
        ("zunion 1 z weights", "-ERR syntax error\r\n"),
        ("zunion 1 z weights abc", "-ERR weight value is not a float\r\n"),
        ("zunion 1 z weights 1 2", "-ERR syntax error\r\n"),
        ("zunion 1 z aggregate foo", "-ERR syntax error\r\n"),
        ("zunion 1 z aggregate", "-ERR syntax error\r\n"),
        ("zunion 1 z aggregate max withscores", "*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        ("zunion 1 z weights 2 withscores", "*8\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nx\r\n$18\r\n2.2000000000000002\r\n$1\r\nb\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n6\r\n"),
        ("zdiff 1 z weights 1", "-ERR syntax error\r\n"),
        ("zdiff 1 z aggregate sum", "-ERR syntax error\r\n"),
        ("zdiffstore d 1 z withscores", "-ERR syntax error\r\n"),
        ("zunionstore d 1 z withscores", "-ERR syntax error\r\n"),
        ("zintercard 0 z", "-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
        ("zintercard 2 z", "-ERR syntax error\r\n"),
        ("zintercard 1 z limit -1", "-ERR LIMIT can't be negative\r\n"),
        ("zintercard 1 z limit x", "-ERR LIMIT can't be negative\r\n"),
        ("zintercard x z", "-ERR value is not an integer or out of range\r\n"),
        ("zintercard 1 z", ":4\r\n"),
        ("zintercard 1 z limit 2", ":2\r\n"),
        ("zintercard 2 z nokey", ":0\r\n"),
        ("zintercard 2 z str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zadd z2 inf a 5 b", ":2\r\n"),
        ("zadd z3 -inf a 6 b", ":2\r\n"),
        ("zunion 2 z2 z3 withscores", "*4\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nb\r\n$2\r\n11\r\n"),
        ("zunion 2 z2 z3 weights 0 1 withscores", "*4\r\n$1\r\na\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n6\r\n"),
        ("zinter 2 z2 z3 withscores aggregate min", "*4\r\n$1\r\na\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n5\r\n"),
        ("zinter 2 z2 z3 withscores aggregate max", "*4\r\n$1\r\nb\r\n$1\r\n6\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zinter 2 z2 z3 withscores", "*4\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nb\r\n$2\r\n11\r\n"),
        ("sadd s a b c", ":3\r\n"),
        ("zinter 2 z2 s withscores", "*4\r\n$1\r\nb\r\n$1\r\n6\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zunion 3 z2 s z withscores", "*8\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n$1\r\nc\r\n$1\r\n4\r\n$1\r\nb\r\n$1\r\n8\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zunion 3 z2 s z weights 1 2 3 withscores aggregate max", "*8\r\n$1\r\nx\r\n$18\r\n3.3000000000000003\r\n$1\r\nb\r\n$1\r\n6\r\n$1\r\nc\r\n$1\r\n9\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zdiff 2 z z2 withscores", "*4\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        ("zdiff 2 z s", "*1\r\n$1\r\nx\r\n"),
        ("zdiff 2 nokey z", "*0\r\n"),
        ("zdiff 1 s withscores", "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n1\r\n"),
        ("zunion 2 z2 str withscores", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zunion 2 str nokey weights abc", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zinter 2 nokey str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ("zinter 2 nokey z2", "*0\r\n"),
        ("zinter 2 z2 z2 withscores", "*4\r\n$1\r\nb\r\n$2\r\n10\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zunionstore dst 2 z z2", ":4\r\n"),
        ("zrange dst 0 -1 withscores", "*8\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n7\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zinterstore dst 2 z z2", ":2\r\n"),
        ("zrange dst 0 -1 withscores", "*4\r\n$1\r\nb\r\n$1\r\n7\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zinterstore dst 2 z nokey", ":0\r\n"),
        ("zcard dst", ":0\r\n"),
        ("zdiffstore dst 2 z z2", ":2\r\n"),
        ("zrange dst 0 -1 withscores", "*4\r\n$1\r\nx\r\n$18\r\n1.1000000000000001\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        ("zunionstore str 1 z", ":4\r\n"),
        ("zrange str 0 -1", "*4\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        ("zinterstore z 2 z z2 weights 2 3", ":2\r\n"),
        ("zrange z 0 -1 withscores", "*4\r\n$1\r\nb\r\n$2\r\n19\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("zunion 2 z2 z3 aggregate sum weights 1 -1 withscores", "*4\r\n$1\r\nb\r\n$2\r\n-1\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        ("flushall", "+OK\r\n"),
        ("zadd z 1 a 2 b 1.1 c inf d -inf e", ":5\r\n"),
        ("zscan z 0", "*2\r\n$1\r\n0\r\n*10\r\n$1\r\ne\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$18\r\n1.1000000000000001\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nd\r\n$3\r\ninf\r\n"),
        ("zscan z 0 match a*", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ("zscan z 0 count 0", "-ERR syntax error\r\n"),
        ("zscan z abc", "-ERR invalid cursor\r\n"),
        ("zscan nokey 0", "*2\r\n$1\r\n0\r\n*0\r\n"),
        ("zscan z 0 count 1 match [ab]", "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        ("zscan str 0", "*2\r\n$1\r\n0\r\n*0\r\n"),
        ("hello 3", "HELLO"),
        ("zrange z 0 1 withscores", "*2\r\n*2\r\n$1\r\ne\r\n,-inf\r\n*2\r\n$1\r\na\r\n,1\r\n"),
        ("zrange z 0 1", "*2\r\n$1\r\ne\r\n$1\r\na\r\n"),
        ("zrangebyscore z 0 10 withscores limit 0 1", "*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
        ("zrevrangebyscore z 10 0 withscores limit 0 1", "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
        ("zscore z c", ",1.1000000000000001\r\n"),
        ("zmscore z c nokey", "*2\r\n,1.1000000000000001\r\n_\r\n"),
        ("zincrby z 1 a", ",2\r\n"),
        ("zadd z incr 1 a", ",3\r\n"),
        ("zadd z xx incr 1 nomember", "_\r\n"),
        ("zpopmin z", "*2\r\n$1\r\ne\r\n,-inf\r\n"),
        ("zpopmin z 1", "*1\r\n*2\r\n$1\r\nc\r\n,1.1000000000000001\r\n"),
        ("zpopmax z 2", "*2\r\n*2\r\n$1\r\nd\r\n,inf\r\n*2\r\n$1\r\na\r\n,3\r\n"),
        ("zpopmin nokey", "*0\r\n"),
        ("zpopmin nokey 2", "*0\r\n"),
        ("zadd z 1 a 2 b 3 c 1.5 x", ":3\r\n"),
        ("bzpopmin z 0", "*3\r\n$1\r\nz\r\n$1\r\na\r\n,1\r\n"),
        ("zmpop 1 z min count 2", "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nx\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
        ("zmpop 1 nokey min", "_\r\n"),
        ("zrandmember z 10 withscores", "*1\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        ("zunion 1 z withscores", "*1\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        ("zinter 1 z withscores", "*1\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        ("zdiff 1 z withscores", "*1\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        ("zscan z 0", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        ("zrange nokey 0 -1 withscores", "*0\r\n"),
        ("zrank z c", ":0\r\n"),
        ("hello 2", "HELLO"),
    ];

    /// Recorded from redis-server 7.0.15: a -0 score keeps its sign only in sets Redis
    /// holds as a skiplist (big ones, long members).
    const REDIS_NEG_ZERO: &[(&str, &str)] = &[
        ("flushall", "+OK\r\n"),
        ("zadd s -0 a", ":1\r\n"),
        ("zscore s a", "$1\r\n0\r\n"),
        ("zadd s incr -0 b", "$2\r\n-0\r\n"),
        ("zscore s b", "$1\r\n0\r\n"),
        ("zadd big 0 m0 1 m1 2 m2 3 m3 4 m4 5 m5 6 m6 7 m7 8 m8 9 m9 10 m10 11 m11 12 m12 13 m13 14 m14 15 m15 16 m16 17 m17 18 m18 19 m19 20 m20 21 m21 22 m22 23 m23 24 m24 25 m25 26 m26 27 m27 28 m28 29 m29 30 m30 31 m31 32 m32 33 m33 34 m34 35 m35 36 m36 37 m37 38 m38 39 m39 40 m40 41 m41 42 m42 43 m43 44 m44 45 m45 46 m46 47 m47 48 m48 49 m49 50 m50 51 m51 52 m52 53 m53 54 m54 55 m55 56 m56 57 m57 58 m58 59 m59 60 m60 61 m61 62 m62 63 m63 64 m64 65 m65 66 m66 67 m67 68 m68 69 m69 70 m70 71 m71 72 m72 73 m73 74 m74 75 m75 76 m76 77 m77 78 m78 79 m79 80 m80 81 m81 82 m82 83 m83 84 m84 85 m85 86 m86 87 m87 88 m88 89 m89 90 m90 91 m91 92 m92 93 m93 94 m94 95 m95 96 m96 97 m97 98 m98 99 m99 100 m100 101 m101 102 m102 103 m103 104 m104 105 m105 106 m106 107 m107 108 m108 109 m109 110 m110 111 m111 112 m112 113 m113 114 m114 115 m115 116 m116 117 m117 118 m118 119 m119 120 m120 121 m121 122 m122 123 m123 124 m124 125 m125 126 m126 127 m127 128 m128 129 m129 130 m130 131 m131 132 m132 133 m133 134 m134 135 m135 136 m136 137 m137 138 m138 139 m139 140 m140 141 m141 142 m142 143 m143 144 m144 145 m145 146 m146 147 m147 148 m148 149 m149 150 m150 151 m151 152 m152 153 m153 154 m154 155 m155 156 m156 157 m157 158 m158 159 m159 160 m160 161 m161 162 m162 163 m163 164 m164 165 m165 166 m166 167 m167 168 m168 169 m169 170 m170 171 m171 172 m172 173 m173 174 m174 175 m175 176 m176 177 m177 178 m178 179 m179 180 m180 181 m181 182 m182 183 m183 184 m184 185 m185 186 m186 187 m187 188 m188 189 m189 190 m190 191 m191 192 m192 193 m193 194 m194 195 m195 196 m196 197 m197 198 m198 199 m199", ":200\r\n"),
        ("zadd big -0 x", ":1\r\n"),
        ("zscore big x", "$2\r\n-0\r\n"),
        ("zadd big incr -0 y", "$2\r\n-0\r\n"),
        ("zrange big 0 3 withscores", "*8\r\n$2\r\nm0\r\n$1\r\n0\r\n$1\r\nx\r\n$2\r\n-0\r\n$1\r\ny\r\n$2\r\n-0\r\n$2\r\nm1\r\n$1\r\n1\r\n"),
        ("zrem big m0 m1 m2 m3 m4 m5 m6 m7 m8 m9 m10 m11 m12 m13 m14 m15 m16 m17 m18 m19 m20 m21 m22 m23 m24 m25 m26 m27 m28 m29 m30 m31 m32 m33 m34 m35 m36 m37 m38 m39 m40 m41 m42 m43 m44 m45 m46 m47 m48 m49 m50 m51 m52 m53 m54 m55 m56 m57 m58 m59 m60 m61 m62 m63 m64 m65 m66 m67 m68 m69 m70 m71 m72 m73 m74 m75 m76 m77 m78 m79 m80 m81 m82 m83 m84 m85 m86 m87 m88 m89 m90 m91 m92 m93 m94 m95 m96 m97 m98 m99 m100 m101 m102 m103 m104 m105 m106 m107 m108 m109 m110 m111 m112 m113 m114 m115 m116 m117 m118 m119 m120 m121 m122 m123 m124 m125 m126 m127 m128 m129 m130 m131 m132 m133 m134 m135 m136 m137 m138 m139 m140 m141 m142 m143 m144 m145 m146 m147 m148 m149 m150 m151 m152 m153 m154 m155 m156 m157 m158 m159 m160 m161 m162 m163 m164 m165 m166 m167 m168 m169 m170 m171 m172 m173 m174 m175 m176 m177 m178 m179 m180 m181 m182 m183 m184 m185 m186 m187 m188 m189 m190 m191 m192 m193 m194 m195 m196 m197 m198", ":199\r\n"),
        ("zrange big 0 -1 withscores", "*6\r\n$1\r\nx\r\n$2\r\n-0\r\n$1\r\ny\r\n$2\r\n-0\r\n$4\r\nm199\r\n$3\r\n199\r\n"),
        ("zadd big 0 x", ":0\r\n"),
        ("zscore big x", "$2\r\n-0\r\n"),
        ("zadd t 0 a 1 b", ":2\r\n"),
        ("zunionstore u 1 t weights -1", ":2\r\n"),
        ("zrange u 0 -1 withscores", "*4\r\n$1\r\nb\r\n$2\r\n-1\r\n$1\r\na\r\n$1\r\n0\r\n"),
        ("zadd long -0 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ":1\r\n"),
        ("zrange long 0 -1 withscores", "*2\r\n$70\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n$2\r\n-0\r\n"),
    ];

    #[test]
    fn negative_zero_follows_the_encoding() {
        replay(REDIS_NEG_ZERO);
    }

    /// Recorded from redis-server 7.0.15: inf * 0 and inf + -inf in the algebra.
    const REDIS_NAN: &[(&str, &str)] = &[
        ("flushall", "+OK\r\n"),
        ("zadd za inf x 1 y", ":2\r\n"),
        ("zadd zb 3 x", ":1\r\n"),
        (
            "zinter 2 za zb weights 0 1 withscores",
            "*2\r\n$1\r\nx\r\n$1\r\n0\r\n",
        ),
        (
            "zinter 2 za zb weights 0 1 aggregate min withscores",
            "*2\r\n$1\r\nx\r\n$1\r\n3\r\n",
        ),
        (
            "zinter 2 za zb weights 0 1 aggregate max withscores",
            "*2\r\n$1\r\nx\r\n$1\r\n3\r\n",
        ),
        (
            "zinter 2 zb za weights 1 0 withscores",
            "*2\r\n$1\r\nx\r\n$1\r\n0\r\n",
        ),
        (
            "zunion 2 za zb weights 0 1 withscores",
            "*4\r\n$1\r\ny\r\n$1\r\n0\r\n$1\r\nx\r\n$1\r\n3\r\n",
        ),
        ("zadd zc -inf x", ":1\r\n"),
        ("zinter 2 za zc withscores", "*2\r\n$1\r\nx\r\n$1\r\n0\r\n"),
        (
            "zunion 2 za zc withscores",
            "*4\r\n$1\r\nx\r\n$1\r\n0\r\n$1\r\ny\r\n$1\r\n1\r\n",
        ),
        (
            "zinter 2 za zc aggregate max withscores",
            "*2\r\n$1\r\nx\r\n$3\r\ninf\r\n",
        ),
    ];

    #[test]
    fn algebra_nan_rules() {
        replay(REDIS_NAN);
    }

    /// Recorded from redis-server 7.0.15: which error wins when several apply (syntax,
    /// ranges, counts, types), and ZADD flag combinations.
    const REDIS_ERROR_ORDER: &[(&str, &str)] = &[
        ("flushall", "+OK\r\n"),
        ("set str x", "+OK\r\n"),
        ("zadd z 1 a 2 b", ":2\r\n"),
        (
            "zadd str nx xx 1 a",
            "-ERR XX and NX options at the same time are not compatible\r\n",
        ),
        ("zadd str 1 a 2", "-ERR syntax error\r\n"),
        (
            "zrangestore dst z 0 -1 limit 0 1",
            "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n",
        ),
        (
            "zinter 1 z weights 1 weights 2 withscores",
            "*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n4\r\n",
        ),
        (
            "zunion 1 z aggregate sum aggregate max withscores",
            "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
        ),
        ("sintercard 1 str limit -1", "-ERR LIMIT can't be negative\r\n"),
        (
            "zintercard 1 str limit -1",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "zintercard 1 str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("zrandmember str 3 foo", "-ERR syntax error\r\n"),
        (
            "zrandmember str 3",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("zpopmin str 1 2", "-ERR syntax error\r\n"),
        (
            "zpopmin str -1",
            "-ERR value is out of range, must be positive\r\n",
        ),
        (
            "zpopmin str 1",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "zmpop 1 str min count 0",
            "-ERR count should be greater than 0\r\n",
        ),
        (
            "zmpop 1 str min",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("zscan str abc", "-ERR invalid cursor\r\n"),
        (
            "sscan str 0 count 0",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "zscan str 0 count 0",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("zscan z 0 count 0", "-ERR syntax error\r\n"),
        ("zcount str abc 1", "-ERR min or max is not a float\r\n"),
        (
            "zrank str a",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("zrangebyscore str (1 2 limit", "-ERR syntax error\r\n"),
        (
            "zrangebyscore str (1 2",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "zrangebylex str - +",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "zremrangebyrank str x 1",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "zremrangebyrank str 0 1",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "zremrangebylex str - +",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "zremrangebyscore str 0 1",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("zunionstore str 1 z", ":2\r\n"),
        (
            "zrange str 0 -1 withscores",
            "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
        ),
        ("zdiff 1 str", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
        ("zdiffstore dst 2 z str", ":0\r\n"),
        ("zinterstore dst 2 nokey str", ":0\r\n"),
        ("zmscore str a", "*1\r\n$1\r\n1\r\n"),
        ("zmscore z a b c", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"),
        ("zincrby str x a", "-ERR value is not a valid float\r\n"),
        ("zadd z ch incr 5 a", "$1\r\n6\r\n"),
        ("zadd z incr ch 5 a", "$2\r\n11\r\n"),
        ("zadd z 1 a 2 b nx", "-ERR syntax error\r\n"),
        (
            "zadd z NX GT 1 a",
            "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n",
        ),
        ("zadd z XX 5 a 6 new", ":0\r\n"),
        (
            "zrange z 0 -1 withscores",
            "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n5\r\n",
        ),
        ("zadd z LT CH 1 a 10 b 0 c", ":2\r\n"),
        (
            "zrange z 0 -1 withscores",
            "*6\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
        ),
        ("zadd z GT CH 2 a 1 b 7 d", ":2\r\n"),
        (
            "zrange z 0 -1 withscores",
            "*8\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nd\r\n$1\r\n7\r\n",
        ),
        (
            "spop str 0",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "srandmember str 0",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "srandmember str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sinterstore dst2 str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sunionstore dst2 str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "smismember str a",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        ("sadd s 1 2 3 a", ":4\r\n"),
        (
            "sinter s str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sunion str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "sdiff nokey str",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
    ];

    #[test]
    fn error_precedence() {
        replay(REDIS_ERROR_ORDER);
    }

    #[test]
    fn matches_redis_transcript_ranges() {
        replay(REDIS_Z1);
    }

    #[test]
    fn matches_redis_transcript_pops_algebra_resp3() {
        replay(REDIS_Z2);
    }
    fn run_ctx(
        h: &mut Harness,
        line: &str,
        can_block: bool,
    ) -> (String, Option<crate::BlockOn>, Option<Vec<Vec<bytes::Bytes>>>) {
        let args: Vec<bytes::Bytes> = line
            .split_whitespace()
            .map(|a| bytes::Bytes::from(a.to_string()))
            .collect();
        let name = line.split_whitespace().next().unwrap().to_lowercase();
        let spec = crate::data_commands()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap();
        let mut out = slotkv_protocol::ReplyWriter::new(h.version);
        let mut ctx = crate::Ctx::new(&mut h.ks, 0, &mut out, h.now_ms);
        ctx.can_block = can_block;
        (spec.handler)(&mut ctx, &args).unwrap();
        let block = ctx.block.take();
        let prop = ctx.propagate_as.take();
        (String::from_utf8(out.buf).unwrap(), block, prop)
    }

    #[test]
    fn out_of_range_floats_are_refused() {
        // Recorded from redis-server 7.0.15.
        replay(&[
            ("zadd zz 1e400 a", "-ERR value is not a valid float\r\n"),
            ("zadd zz 1e-400 a", "-ERR value is not a valid float\r\n"),
            ("zadd zz -1e400 a", "-ERR value is not a valid float\r\n"),
            ("zadd zz 4e-320 a", ":1\r\n"),
            ("zadd zz 1.5e3 a", ":0\r\n"),
            ("zincrby zz 1e400 a", "-ERR value is not a valid float\r\n"),
            ("zcount zz 1e400 1e500", ":0\r\n"),
            ("zunion 1 zz weights 1e400", "-ERR weight value is not a float\r\n"),
            ("zadd zz +5 b", ":1\r\n"),
            ("zadd zz .5 c", ":1\r\n"),
            ("zadd zz 5. d", ":1\r\n"),
            ("zadd zz \" 5\" e", "-ERR value is not a valid float\r\n"),
            ("zadd zz Infinity f", ":1\r\n"),
            ("zadd zz -INF g", ":1\r\n"),
            ("zadd zz 0e5 h", ":1\r\n"),
            (
                "zrange zz 0 -1 withscores",
                "*14\r\n$1\r\ng\r\n$4\r\n-inf\r\n$1\r\nh\r\n$1\r\n0\r\n$1\r\nc\r\n$3\r\n0.5\r\n$1\r\nb\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n5\r\n$1\r\na\r\n$4\r\n1500\r\n$1\r\nf\r\n$3\r\ninf\r\n",
            ),
        ]);
    }

    #[test]
    fn blocking_pops() {
        let mut h = Harness::new();
        let (r, block, _) = run_ctx(&mut h, "BZPOPMIN a b 1.5", true);
        assert_eq!(r, "");
        let block = block.unwrap();
        assert_eq!(block.keys, ["a", "b"]);
        assert_eq!(block.deadline_ms, h.now_ms + 1500);
        let (r, block, _) = run_ctx(&mut h, "BZPOPMAX a 0", false);
        assert_eq!((r.as_str(), block), ("*-1\r\n", None));
        let (r, block, _) = run_ctx(&mut h, "BZMPOP 0 2 a b MIN", true);
        assert_eq!(r, "");
        assert_eq!(block.unwrap().deadline_ms, 0);
        let (r, _, _) = run_ctx(&mut h, "BZMPOP 0 2 a b MIN", false);
        assert_eq!(r, "*-1\r\n");
        h.version = ProtocolVersion::Resp3;
        let (r, _, _) = run_ctx(&mut h, "BZMPOP 0 2 a b MIN", false);
        assert_eq!(r, "_\r\n");
        h.version = ProtocolVersion::Resp2;

        h.run("ZADD b 1 x 2 y 3 z");
        let (r, block, prop) = run_ctx(&mut h, "BZPOPMAX a b 0", true);
        assert_eq!(r, "*3\r\n$1\r\nb\r\n$1\r\nz\r\n$1\r\n3\r\n");
        assert!(block.is_none());
        assert_eq!(prop.unwrap(), vec![vec!["ZPOPMAX", "b"]]);
        let (r, _, prop) = run_ctx(&mut h, "BZMPOP 0 2 a b MIN COUNT 5", false);
        assert_eq!(
            r,
            "*2\r\n$1\r\nb\r\n*2\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n"
        );
        assert_eq!(prop.unwrap(), vec![vec!["ZPOPMIN", "b", "2"]]);
        assert_eq!(h.run("ZCARD b"), ":0\r\n");
        assert!(h.ks.dbs[0].is_empty());
        // Timeout errors come before anything else.
        assert_eq!(h.run("BZPOPMIN a -1"), "-ERR timeout is negative\r\n");
        assert_eq!(
            h.run("BZMPOP x 1 a MIN"),
            "-ERR timeout is not a float or out of range\r\n"
        );
        h.run("SET str x");
        assert_eq!(
            h.run("BZPOPMIN str a 0"),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
    }

    #[test]
    fn propagation() {
        let mut h = Harness::new();
        h.run("ZADD z 1 a 2 b 3 c 4 d");
        h.propagated.clear();
        h.run("ZADD z 1 a");
        h.run("ZADD z NX 5 a");
        h.run("ZREM z nope");
        h.run("ZPOPMIN nokey");
        h.run("ZPOPMIN z 0");
        h.run("ZREMRANGEBYSCORE z 100 200");
        h.run("ZUNIONSTORE dst 1 nokey");
        h.run("ZMPOP 1 nokey MIN");
        assert!(h.propagated.is_empty(), "{:?}", h.propagated);
        h.run("ZPOPMIN z");
        assert_eq!(h.propagated.pop().unwrap(), vec!["ZPOPMIN", "z"]);
        h.run("ZMPOP 1 z MAX COUNT 10");
        assert_eq!(h.propagated.pop().unwrap(), vec!["ZPOPMAX", "z", "3"]);
        h.run("ZADD z 1 a");
        h.run("ZMPOP 1 z MIN");
        assert_eq!(h.propagated.pop().unwrap(), vec!["ZPOPMIN", "z", "1"]);
        h.run("ZADD z 1 a 2 b");
        h.propagated.clear();
        h.run("ZINCRBY z 1 a");
        h.run("ZRANGESTORE dst z 0 -1");
        h.run("ZRANGESTORE dst z 5 10");
        assert_eq!(h.propagated.len(), 3);
    }

    #[test]
    fn random_members() {
        let mut h = Harness::new();
        h.run("ZADD z 1 a 2 b 3 c");
        assert!(h.run("ZRANDMEMBER z").starts_with("$1\r\n"));
        let r = h.run("ZRANDMEMBER z 2 WITHSCORES");
        assert!(r.starts_with("*4\r\n"), "{r}");
        let r = h.run("ZRANDMEMBER z -5 WITHSCORES");
        assert!(r.starts_with("*10\r\n"), "{r}");
        assert_eq!(h.run("ZRANDMEMBER z -5").matches("$1\r\n").count(), 5);
        h.version = ProtocolVersion::Resp3;
        let r = h.run("ZRANDMEMBER z -2 WITHSCORES");
        assert!(r.starts_with("*2\r\n*2\r\n$1\r\n"), "{r}");
        let r = h.run("ZRANDMEMBER z 2 WITHSCORES");
        assert!(r.starts_with("*2\r\n*2\r\n$1\r\n"), "{r}");
        assert_eq!(
            h.run("ZRANDMEMBER z 3"),
            "*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"
        );
    }

    #[test]
    fn big_sets_use_the_indexed_paths() {
        let mut h = Harness::new();
        let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"big".to_vec()];
        for i in 0..1000 {
            args.push(b"0".to_vec());
            args.push(format!("m{i:04}").into_bytes());
        }
        let a: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        assert_eq!(h.run_args(&a), ":1000\r\n");
        assert_eq!(h.run("ZLEXCOUNT big [m0100 (m0200"), ":100\r\n");
        assert_eq!(
            h.run("ZRANGEBYLEX big (m0997 +"),
            "*2\r\n$5\r\nm0998\r\n$5\r\nm0999\r\n"
        );
        assert_eq!(h.run("ZREVRANGEBYLEX big + - LIMIT 1 1"), "*1\r\n$5\r\nm0998\r\n");
        assert_eq!(h.run("ZRANK big m0500"), ":500\r\n");
        assert_eq!(h.run("ZREVRANK big m0500"), ":499\r\n");
        assert_eq!(h.run("ZREMRANGEBYLEX big - (m0500"), ":500\r\n");
        assert_eq!(h.run("ZRANGE big 0 0"), "*1\r\n$5\r\nm0500\r\n");
        assert_eq!(h.run("ZREMRANGEBYRANK big 0 -101"), ":400\r\n");
        assert_eq!(h.run("ZCARD big"), ":100\r\n");
        // ZSCAN over a set too big for the one-shot reply walks with a cursor.
        let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"s".to_vec()];
        for i in 0..300 {
            args.push(i.to_string().into_bytes());
            args.push(format!("k{i}").into_bytes());
        }
        let a: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        h.run_args(&a);
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashMap::new();
        let mut steps = 0;
        loop {
            let r = h.run(&format!("ZSCAN s {cursor} COUNT 20"));
            let lines: Vec<&str> = r.split("\r\n").collect();
            cursor = lines[2].to_string();
            let items: Vec<&str> = lines[4..]
                .iter()
                .copied()
                .filter(|l| !l.starts_with('$') && !l.is_empty())
                .collect();
            for p in items.chunks(2) {
                seen.insert(p[0].to_string(), p[1].to_string());
            }
            steps += 1;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(steps, 15);
        assert_eq!(seen.len(), 300);
        assert_eq!(seen["k42"], "42");
    }

    #[test]
    fn table_metadata() {
        let t = crate::data_commands();
        let get = |n: &str| t.iter().find(|c| c.name == n).unwrap();
        let b = |v: &[&str]| {
            v.iter()
                .map(|s| bytes::Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            get("zunionstore").key_positions(&b(&["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"])),
            [1, 3, 4]
        );
        assert_eq!(
            get("zunion").key_positions(&b(&["zunion", "2", "a", "b"])),
            [2, 3]
        );
        assert_eq!(get("zmpop").key_positions(&b(&["zmpop", "1", "a", "MIN"])), [2]);
        assert_eq!(
            get("bzmpop").key_positions(&b(&["bzmpop", "0", "2", "a", "b", "MIN"])),
            [3, 4]
        );
        assert_eq!(
            get("bzpopmin").key_positions(&b(&["bzpopmin", "a", "b", "0"])),
            [1, 2]
        );
        assert_eq!(
            get("zrangestore").key_positions(&b(&["zrangestore", "d", "s", "0", "1"])),
            [1, 2]
        );
        assert_eq!(
            get("bzpopmin").flag_names(),
            ["write", "noscript", "blocking", "fast",]
        );
        assert_eq!(get("bzmpop").flag_names(), ["write", "blocking", "movablekeys"]);
        assert_eq!(
            get("zunionstore").flag_names(),
            ["write", "denyoom", "movablekeys"]
        );
        let mut cats = get("zadd").acl_categories();
        cats.sort_unstable();
        assert_eq!(cats, ["@fast", "@sortedset", "@write"]);
        for (name, arity) in [
            ("zadd", -4),
            ("zrangestore", -5),
            ("bzmpop", -5),
            ("zmpop", -4),
            ("zintercard", -3),
            ("zscan", -3),
            ("zremrangebylex", 4),
        ] {
            assert_eq!(get(name).arity, arity, "{name}");
        }
    }
}

#[cfg(test)]
mod diff {
    /// Replays `$SLOTKV_DIFF` (one command per line, redis-cli quoting) and prints the
    /// replies, to compare against a real server (`HELLO 2|3` switches the protocol).
    #[test]
    #[ignore]
    fn replay() {
        let Ok(path) = std::env::var("SLOTKV_DIFF") else {
            return;
        };
        let mut h = crate::testing::Harness::new();
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let args = slotkv_protocol::split_args(line.as_bytes()).unwrap();
            let reply = if args[0].eq_ignore_ascii_case(b"hello") {
                h.version = if &args[1][..] == b"3" {
                    slotkv_protocol::ProtocolVersion::Resp3
                } else {
                    slotkv_protocol::ProtocolVersion::Resp2
                };
                "HELLO".to_string()
            } else if args[0].eq_ignore_ascii_case(b"flushall") {
                h.ks = slotkv_keyspace::Keyspace::new(16);
                "+OK\r\n".to_string()
            } else {
                let a: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
                h.run_args(&a)
            };
            println!("{line} => {}", reply.replace('\r', "\\r").replace('\n', "\\n"));
        }
    }

    /// Prints `name arity flags first last step acl` for the set and zset commands, to
    /// compare with `COMMAND INFO` of a real server.
    #[test]
    #[ignore]
    fn dump_table() {
        for c in crate::data_commands() {
            if matches!(c.group, crate::Group::Set | crate::Group::SortedSet) {
                println!(
                    "META {} {} {} {} {} {} {}",
                    c.name,
                    c.arity,
                    c.flag_names().join(","),
                    c.first_key,
                    c.last_key,
                    c.step,
                    c.acl_categories().join(",")
                );
            }
        }
    }
}
