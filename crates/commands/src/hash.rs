//! The hash command family.

use bytes::Bytes;
use rand::Rng;
use slotkv_keyspace::{scan_step, HashValue, Value};
use slotkv_protocol::ReplyWriter;

use crate::args::{int, is};
use crate::flags::*;
use crate::{cmd, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::Hash;
    vec![
        cmd("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), g, hset as DataFn)
            .since("2.0.0")
            .summary("Set fields of a hash"),
        cmd(
            "hsetnx",
            4,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            hsetnx as DataFn,
        )
        .since("2.0.0")
        .summary("Set a hash field only if it does not exist"),
        cmd("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), g, hmset as DataFn)
            .since("2.0.0")
            .summary("Set fields of a hash (deprecated form of HSET)"),
        cmd("hget", 3, READONLY | FAST, (1, 1, 1), g, hget as DataFn)
            .since("2.0.0")
            .summary("Value of a hash field"),
        cmd("hmget", -3, READONLY | FAST, (1, 1, 1), g, hmget as DataFn)
            .since("2.0.0")
            .summary("Values of several hash fields"),
        cmd("hdel", -3, WRITE | FAST, (1, 1, 1), g, hdel as DataFn)
            .since("2.0.0")
            .summary("Delete hash fields"),
        cmd("hlen", 2, READONLY | FAST, (1, 1, 1), g, hlen as DataFn)
            .since("2.0.0")
            .summary("Number of fields of a hash"),
        cmd("hstrlen", 3, READONLY | FAST, (1, 1, 1), g, hstrlen as DataFn)
            .since("3.2.0")
            .summary("Length of the value of a hash field"),
        cmd(
            "hincrby",
            4,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            hincrby as DataFn,
        )
        .since("2.0.0")
        .summary("Add an integer to a hash field"),
        cmd(
            "hincrbyfloat",
            4,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            g,
            hincrbyfloat as DataFn,
        )
        .since("2.6.0")
        .summary("Add a float to a hash field"),
        cmd("hexists", 3, READONLY | FAST, (1, 1, 1), g, hexists as DataFn)
            .since("2.0.0")
            .summary("Whether a hash field exists"),
        cmd("hkeys", 2, READONLY, (1, 1, 1), g, hkeys as DataFn)
            .since("2.0.0")
            .summary("All field names of a hash"),
        cmd("hvals", 2, READONLY, (1, 1, 1), g, hvals as DataFn)
            .since("2.0.0")
            .summary("All values of a hash"),
        cmd("hgetall", 2, READONLY, (1, 1, 1), g, hgetall as DataFn)
            .since("2.0.0")
            .summary("All fields and values of a hash"),
        cmd("hrandfield", -2, READONLY, (1, 1, 1), g, hrandfield as DataFn)
            .since("6.2.0")
            .summary("Random fields of a hash"),
        cmd("hscan", -3, READONLY, (1, 1, 1), g, hscan as DataFn)
            .since("2.8.0")
            .summary("Iterate over the fields of a hash"),
    ]
}

/// Largest number of elements a negative HRANDFIELD count may ask for. Redis has no such
/// limit and builds the reply until memory runs out; we refuse instead.
const MAX_RANDOM_REPEATS: u64 = 1 << 24;

/// The hash at `key` plus the reply writer: `None` if missing, WRONGTYPE if another type.
fn hash_and_out<'c>(
    ctx: &'c mut Ctx<'_>,
    key: &[u8],
) -> Result<(Option<&'c HashValue>, &'c mut ReplyWriter), CmdError> {
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    match ctx.ks.dbs[ctx.db].get(key, now) {
        None => Ok((None, out)),
        Some(Value::Hash(h)) => Ok((Some(h), out)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn get_hash<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c HashValue>, CmdError> {
    Ok(hash_and_out(ctx, key)?.0)
}

/// The hash at `key` for writing (write lookups don't count as keyspace hits or misses).
fn get_hash_mut<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c mut HashValue>, CmdError> {
    match ctx.get_mut(key) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The hash at `key`, created if missing; WRONGTYPE (and nothing created) if another type.
fn hash_or_create<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<&'c mut HashValue, CmdError> {
    get_hash_mut(ctx, key)?;
    let now = ctx.now_ms;
    match ctx.db().get_or_insert_with(key, now, Value::new_hash) {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

fn set_pairs(ctx: &mut Ctx<'_>, args: &[Bytes], name: &str) -> Result<i64, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name.into()));
    }
    let h = hash_or_create(ctx, &args[1])?;
    let mut created = 0;
    for fv in args[2..].chunks(2) {
        let v: Box<[u8]> = fv[1].as_ref().into();
        match h.get_mut(fv[0].as_ref()) {
            Some(old) => *old = v,
            None => {
                h.insert(fv[0].as_ref().into(), v);
                created += 1;
            }
        }
    }
    ctx.dirty += (args.len() as u64 - 2) / 2;
    Ok(created)
}

fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = set_pairs(ctx, args, "hset")?;
    ctx.out.int(n);
    Ok(())
}

fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_pairs(ctx, args, "hmset")?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if get_hash_mut(ctx, &args[1])?.is_some_and(|h| h.contains_key(args[2].as_ref())) {
        ctx.out.int(0);
        return Ok(());
    }
    let h = hash_or_create(ctx, &args[1])?;
    h.insert(args[2].as_ref().into(), args[3].as_ref().into());
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (h, out) = hash_and_out(ctx, &args[1])?;
    match h.and_then(|h| h.get(args[2].as_ref())) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (h, out) = hash_and_out(ctx, &args[1])?;
    out.array_len(args.len() - 2);
    for f in &args[2..] {
        match h.and_then(|h| h.get(f.as_ref())) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let now = ctx.now_ms;
    let small_limit = ctx.ks.limits.hash_max_listpack_entries;
    let mut deleted = 0;
    match ctx.db().get_mut(key, now) {
        None => {}
        Some(Value::Hash(h)) => {
            for f in &args[2..] {
                // Small hashes keep their order, as Redis's listpacks do; big ones (whose
                // order Redis doesn't define) use the O(1) removal HSCAN's cursor relies on.
                let removed = if h.len() <= small_limit {
                    h.shift_remove(f.as_ref())
                } else {
                    h.swap_remove(f.as_ref())
                };
                if removed.is_some() {
                    deleted += 1;
                    if h.is_empty() {
                        break;
                    }
                }
            }
        }
        Some(_) => return Err(CmdError::WrongType),
    }
    if deleted > 0 {
        ctx.db().remove_if_empty(key);
        ctx.dirty += deleted;
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = get_hash(ctx, &args[1])?.map_or(0, HashValue::len);
    ctx.out.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = get_hash(ctx, &args[1])?
        .and_then(|h| h.get(args[2].as_ref()))
        .map_or(0, |v| v.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let found = get_hash(ctx, &args[1])?.is_some_and(|h| h.contains_key(args[2].as_ref()));
    ctx.out.int(i64::from(found));
    Ok(())
}

fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let delta = int(&args[3])?;
    let h = hash_or_create(ctx, &args[1])?;
    let cur = match h.get(args[2].as_ref()) {
        None => 0,
        Some(v) => {
            slotkv_protocol::parse_i64(v).ok_or_else(|| CmdError::err("hash value is not an integer"))?
        }
    };
    let new = cur.checked_add(delta).ok_or(CmdError::Overflow)?;
    let mut b = itoa::Buffer::new();
    h.insert(args[2].as_ref().into(), b.format(new).as_bytes().into());
    ctx.dirty += 1;
    ctx.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let delta = ldouble::parse(&args[3]).ok_or(CmdError::NotFloat)?;
    if !delta.is_finite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let h = hash_or_create(ctx, &args[1])?;
    let cur = match h.get(args[2].as_ref()) {
        None => ldouble::LDouble::ZERO,
        Some(v) => ldouble::parse(v).ok_or_else(|| CmdError::err("hash value is not a float"))?,
    };
    let new = cur.add(delta);
    if !new.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = new.to_human_string();
    h.insert(args[2].as_ref().into(), text.as_bytes().into());
    ctx.dirty += 1;
    // The result, not the increment, goes to replicas and the AOF.
    ctx.propagate(vec![vec![
        Bytes::from_static(b"HSET"),
        args[1].clone(),
        args[2].clone(),
        Bytes::from(text.clone()),
    ]]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

#[derive(Clone, Copy)]
enum Part {
    Keys,
    Vals,
    Both,
}

fn getall(ctx: &mut Ctx<'_>, args: &[Bytes], part: Part) -> CmdResult {
    let (h, out) = hash_and_out(ctx, &args[1])?;
    let n = h.map_or(0, HashValue::len);
    match part {
        Part::Both => out.map_len(n),
        _ => out.array_len(n),
    }
    for (f, v) in h.into_iter().flatten() {
        match part {
            Part::Keys => out.bulk(f),
            Part::Vals => out.bulk(v),
            Part::Both => {
                out.bulk(f);
                out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    getall(ctx, args, Part::Keys)
}

fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    getall(ctx, args, Part::Vals)
}

fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    getall(ctx, args, Part::Both)
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        let (h, out) = hash_and_out(ctx, &args[1])?;
        match h {
            Some(h) if !h.is_empty() => {
                let i = rand::thread_rng().gen_range(0..h.len());
                match h.get_index(i) {
                    Some((f, _)) => out.bulk(f),
                    None => out.null(),
                }
            }
            _ => out.null(),
        }
        return Ok(());
    }
    let count = int(&args[2])?;
    if count == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match args.len() {
        3 => false,
        4 if is(&args[3], "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && count.unsigned_abs() > (i64::MAX / 2) as u64 {
        return Err(CmdError::err("value is out of range"));
    }
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_REPEATS {
        // Only refuse when there is something to repeat (an empty reply costs nothing).
        if get_hash(ctx, &args[1])?.is_some() {
            return Err(CmdError::err("value is out of range"));
        }
    }
    let (h, out) = hash_and_out(ctx, &args[1])?;
    let Some(h) = h else {
        out.array_len(0);
        return Ok(());
    };
    let resp3 = out.resp3();
    let emit = |out: &mut ReplyWriter, i: usize| {
        if let Some((f, v)) = h.get_index(i) {
            if withvalues {
                if resp3 {
                    out.array_len(2);
                }
                out.bulk(f);
                out.bulk(v);
            } else {
                out.bulk(f);
            }
        }
    };
    let header = |out: &mut ReplyWriter, n: usize| {
        out.array_len(if withvalues && !resp3 { n * 2 } else { n });
    };
    let len = h.len();
    let mut rng = rand::thread_rng();
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        header(out, n);
        for _ in 0..n {
            emit(out, rng.gen_range(0..len));
        }
    } else if count as u64 >= len as u64 {
        header(out, len);
        for i in 0..len {
            emit(out, i);
        }
    } else {
        let n = count as usize;
        header(out, n);
        for i in rand::seq::index::sample(&mut rng, len, n) {
            emit(out, i);
        }
    }
    Ok(())
}

/// Parses a SCAN cursor as Redis does with `strtoul`: optional sign (a minus negates modulo
/// 2^64), decimal digits, nothing else; overflow is an error.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2]).ok_or_else(|| CmdError::err("invalid cursor"))?;
    let limits = ctx.ks.limits;
    let (h, out) = hash_and_out(ctx, &args[1])?;
    let Some(h) = h else {
        out.array_len(2);
        out.bulk(b"0");
        out.array_len(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "count") && more {
            let n = int(&args[i + 1])?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&args[i], "match") && more {
            pattern = Some(&args[i + 1]);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    if pattern == Some(b"*") {
        pattern = None;
    }
    // Small (listpack-encoded in Redis) hashes are returned whole, with cursor 0.
    let small = h.len() <= limits.hash_max_listpack_entries
        && h.iter().all(|(f, v)| {
            f.len() <= limits.hash_max_listpack_value && v.len() <= limits.hash_max_listpack_value
        });
    let (positions, next): (Vec<usize>, u64) = if small {
        ((0..h.len()).collect(), 0)
    } else {
        let (r, n) = scan_step(h.len(), cursor, count);
        (r.rev().collect(), n)
    };
    let matched: Vec<usize> = positions
        .into_iter()
        .filter(|&p| match (pattern, h.get_index(p)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(pat), Some((f, _))) => slotkv_protocol::glob_match(pat, f, false),
        })
        .collect();
    out.array_len(2);
    let mut b = itoa::Buffer::new();
    out.bulk(b.format(next).as_bytes());
    out.array_len(matched.len() * 2);
    for p in matched {
        if let Some((f, v)) = h.get_index(p) {
            out.bulk(f);
            out.bulk(v);
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;

/// Redis computes HINCRBYFLOAT in C `long double` (x87 80-bit extended: 64-bit mantissa)
/// and prints it with `%.17Lf`, trailing zeros removed. This is a software version of exactly
/// that: correctly rounded parsing (like `strtold`), correctly rounded addition, and exact
/// decimal printing, using a small big-integer helper.
pub(crate) mod ldouble {
    use std::cmp::Ordering;

    /// Strings this long or longer are refused, as Redis refuses them.
    const MAX_CHARS: usize = 5 * 1024;
    /// Largest exponent of the lowest mantissa bit (values < 2^16384).
    const MAX_EXP: i64 = 16384 - 64;
    /// Below this a value is flushed to zero (the extended format's smallest subnormal).
    const MIN_EXP: i64 = -16445;

    /// Unsigned big integer, little-endian 64-bit limbs, no trailing zero limbs.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Big(Vec<u64>);

    impl Big {
        fn from_u128(v: u128) -> Big {
            let mut b = Big(vec![v as u64, (v >> 64) as u64]);
            b.trim();
            b
        }
        fn trim(&mut self) {
            while self.0.last() == Some(&0) {
                self.0.pop();
            }
        }
        fn is_zero(&self) -> bool {
            self.0.is_empty()
        }
        fn bits(&self) -> u64 {
            match self.0.last() {
                None => 0,
                Some(&top) => 64 * (self.0.len() as u64 - 1) + (64 - u64::from(top.leading_zeros())),
            }
        }
        fn bit(&self, i: u64) -> bool {
            let limb = (i / 64) as usize;
            limb < self.0.len() && (self.0[limb] >> (i % 64)) & 1 == 1
        }
        /// Whether any bit below `i` is set.
        fn any_below(&self, i: u64) -> bool {
            let full = (i / 64) as usize;
            if self.0.iter().take(full).any(|&l| l != 0) {
                return true;
            }
            let rem = i % 64;
            rem > 0 && full < self.0.len() && self.0[full] & ((1u64 << rem) - 1) != 0
        }
        fn mul_small(&mut self, m: u64) {
            let mut carry: u128 = 0;
            for l in &mut self.0 {
                let v = u128::from(*l) * u128::from(m) + carry;
                *l = v as u64;
                carry = v >> 64;
            }
            if carry > 0 {
                self.0.push(carry as u64);
            }
        }
        fn add_small(&mut self, a: u64) {
            let mut carry = a;
            for l in &mut self.0 {
                let (v, o) = l.overflowing_add(carry);
                *l = v;
                if !o {
                    return;
                }
                carry = 1;
            }
            if carry > 0 {
                self.0.push(carry);
            }
        }
        fn mul_pow10(&mut self, mut n: u64) {
            while n >= 19 {
                self.mul_small(10u64.pow(19));
                n -= 19;
            }
            if n > 0 {
                self.mul_small(10u64.pow(n as u32));
            }
        }
        fn shl(&self, n: u64) -> Big {
            if self.is_zero() {
                return self.clone();
            }
            let limbs = (n / 64) as usize;
            let sh = n % 64;
            let mut v = vec![0u64; limbs];
            let mut carry = 0u64;
            for &l in &self.0 {
                if sh == 0 {
                    v.push(l);
                } else {
                    v.push((l << sh) | carry);
                    carry = l >> (64 - sh);
                }
            }
            if carry > 0 {
                v.push(carry);
            }
            let mut b = Big(v);
            b.trim();
            b
        }
        fn shr(&self, n: u64) -> Big {
            let limbs = (n / 64) as usize;
            if limbs >= self.0.len() {
                return Big(Vec::new());
            }
            let sh = n % 64;
            let src = &self.0[limbs..];
            let mut v = Vec::with_capacity(src.len());
            for i in 0..src.len() {
                let lo = src[i] >> sh;
                let hi = if sh > 0 && i + 1 < src.len() {
                    src[i + 1] << (64 - sh)
                } else {
                    0
                };
                v.push(lo | hi);
            }
            let mut b = Big(v);
            b.trim();
            b
        }
        fn low_u128(&self) -> u128 {
            let a = self.0.first().copied().unwrap_or(0);
            let b = self.0.get(1).copied().unwrap_or(0);
            u128::from(a) | (u128::from(b) << 64)
        }
        fn cmp_big(&self, o: &Big) -> Ordering {
            self.0
                .len()
                .cmp(&o.0.len())
                .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
        }
        /// self -= o (requires self >= o).
        fn sub_assign(&mut self, o: &Big) {
            let mut borrow = false;
            for i in 0..self.0.len() {
                let b = o.0.get(i).copied().unwrap_or(0);
                let (v1, o1) = self.0[i].overflowing_sub(b);
                let (v2, o2) = v1.overflowing_sub(u64::from(borrow));
                self.0[i] = v2;
                borrow = o1 || o2;
            }
            self.trim();
        }
        fn add(&self, o: &Big) -> Big {
            let n = self.0.len().max(o.0.len());
            let mut v = Vec::with_capacity(n + 1);
            let mut carry = 0u128;
            for i in 0..n {
                let s = u128::from(self.0.get(i).copied().unwrap_or(0))
                    + u128::from(o.0.get(i).copied().unwrap_or(0))
                    + carry;
                v.push(s as u64);
                carry = s >> 64;
            }
            if carry > 0 {
                v.push(carry as u64);
            }
            let mut b = Big(v);
            b.trim();
            b
        }
        /// Divides by a small number in place, returning the remainder.
        fn div_small(&mut self, d: u64) -> u64 {
            let mut rem: u128 = 0;
            for l in self.0.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*l);
                *l = (cur / u128::from(d)) as u64;
                rem = cur % u128::from(d);
            }
            self.trim();
            rem as u64
        }
        fn to_decimal(&self) -> String {
            if self.is_zero() {
                return "0".into();
            }
            let mut n = self.clone();
            let mut chunks = Vec::new();
            while !n.is_zero() {
                chunks.push(n.div_small(1_000_000_000));
            }
            let mut s = chunks.pop().unwrap_or(0).to_string();
            for c in chunks.iter().rev() {
                s.push_str(&format!("{c:09}"));
            }
            s
        }
    }

    /// A finite extended-precision value `mant * 2^exp` (or an infinity).
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct LDouble {
        neg: bool,
        mant: u64,
        exp: i64,
        inf: bool,
    }

    impl LDouble {
        pub const ZERO: LDouble = LDouble {
            neg: false,
            mant: 0,
            exp: 0,
            inf: false,
        };

        pub fn is_finite(self) -> bool {
            !self.inf
        }

        /// Rounds `n * 2^exp` (plus a sticky "something below" flag) to 64 bits, ties to even,
        /// with gradual underflow below the smallest normal exponent.
        fn round(neg: bool, n: &Big, exp: i64, sticky: bool) -> LDouble {
            if n.is_zero() {
                return LDouble { neg, ..LDouble::ZERO };
            }
            let bits = n.bits() as i64;
            // Bits to drop: enough to fit 64 bits, and enough to keep the exponent in range.
            let shift = (bits - 64).max(MIN_EXP - exp).max(0) as u64;
            let (mut mant, mut exp) = if shift == 0 {
                (n.low_u128() as u64, exp)
            } else {
                let kept = n.shr(shift);
                let mut m = if kept.bits() > 64 {
                    u64::MAX
                } else {
                    kept.low_u128() as u64
                };
                let half = n.bit(shift - 1);
                let rest = sticky || n.any_below(shift - 1);
                let mut e = exp + shift as i64;
                if half && (rest || m & 1 == 1) {
                    let (v, o) = m.overflowing_add(1);
                    m = v;
                    if o {
                        m = 1 << 63;
                        e += 1;
                    }
                }
                (m, e)
            };
            if mant == 0 {
                return LDouble { neg, ..LDouble::ZERO };
            }
            // Normalize (top bit set) as far as the exponent range allows.
            let lz = i64::from(mant.leading_zeros()).min(exp - MIN_EXP).max(0);
            mant <<= lz;
            exp -= lz;
            if exp > MAX_EXP {
                return LDouble {
                    neg,
                    mant: 0,
                    exp: 0,
                    inf: true,
                };
            }
            LDouble {
                neg,
                mant,
                exp,
                inf: false,
            }
        }

        pub fn add(self, o: LDouble) -> LDouble {
            if self.inf || o.inf {
                let inf = LDouble {
                    neg: if self.inf { self.neg } else { o.neg },
                    mant: 0,
                    exp: 0,
                    inf: true,
                };
                // inf + -inf is NaN; both report as not finite.
                return inf;
            }
            if self.mant == 0 {
                return if o.mant == 0 { LDouble::ZERO } else { o };
            }
            if o.mant == 0 {
                return self;
            }
            let (hi, lo) = if self.exp >= o.exp { (self, o) } else { (o, self) };
            let diff = (hi.exp - lo.exp) as u64;
            if diff > 200 {
                // Far below half an ulp of the larger operand: no effect when rounding to
                // nearest (the larger mantissa is normalized).
                return hi;
            }
            let a = Big::from_u128(u128::from(hi.mant)).shl(diff);
            let b = Big::from_u128(u128::from(lo.mant));
            if hi.neg == lo.neg {
                LDouble::round(hi.neg, &a.add(&b), lo.exp, false)
            } else {
                match a.cmp_big(&b) {
                    Ordering::Equal => LDouble::ZERO,
                    Ordering::Greater => {
                        let mut r = a;
                        r.sub_assign(&b);
                        LDouble::round(hi.neg, &r, lo.exp, false)
                    }
                    Ordering::Less => {
                        let mut r = b;
                        r.sub_assign(&a);
                        LDouble::round(lo.neg, &r, lo.exp, false)
                    }
                }
            }
        }

        /// `%.17Lf` with trailing zeros (and a trailing dot) removed; `-0` becomes `0`.
        pub fn to_human_string(self) -> String {
            if self.inf {
                return if self.neg { "-inf".into() } else { "inf".into() };
            }
            let n = Big::from_u128(u128::from(self.mant));
            let (int_part, frac) = if self.exp >= 0 {
                (n.shl(self.exp as u64), 0u64)
            } else {
                let s = (-self.exp) as u64;
                let mut int_part = n.shr(s);
                // The fraction bits, scaled by 10^17 and rounded half to even.
                let mut f = n.clone();
                f.sub_assign(&int_part.shl(s));
                f.mul_pow10(17);
                let digits_big = f.shr(s);
                let mut digits = digits_big.low_u128() as u64;
                let half = s > 0 && f.bit(s - 1);
                let rest = s > 1 && f.any_below(s - 1);
                if half && (rest || digits & 1 == 1) {
                    digits += 1;
                }
                if digits >= 100_000_000_000_000_000 {
                    digits -= 100_000_000_000_000_000;
                    int_part.add_small(1);
                }
                (int_part, digits)
            };
            let mut s = String::new();
            if self.neg {
                s.push('-');
            }
            s.push_str(&int_part.to_decimal());
            s.push_str(&format!(".{frac:017}"));
            let t = s.trim_end_matches('0').trim_end_matches('.');
            if t == "-0" {
                "0".into()
            } else {
                t.into()
            }
        }
    }

    /// Parses like Redis's `string2ld` (`strtold`, no spaces, no NaN, no overflow or
    /// underflow to zero). Hexadecimal floats are not supported.
    pub fn parse(s: &[u8]) -> Option<LDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Some(LDouble {
                neg,
                mant: 0,
                exp: 0,
                inf: true,
            });
        }
        let mut i = 0;
        let mut digits = Big(Vec::new());
        let mut any_digit = false;
        let mut exp10: i64 = 0;
        let mut seen_dot = false;
        while i < body.len() {
            let c = body[i];
            if c.is_ascii_digit() {
                any_digit = true;
                digits.mul_small(10);
                digits.add_small(u64::from(c - b'0'));
                if seen_dot {
                    exp10 -= 1;
                }
            } else if c == b'.' && !seen_dot {
                seen_dot = true;
            } else {
                break;
            }
            i += 1;
        }
        if !any_digit {
            return None;
        }
        if i < body.len() {
            if body[i] != b'e' && body[i] != b'E' {
                return None;
            }
            i += 1;
            let (eneg, rest) = match body.get(i) {
                Some(b'-') => (true, &body[i + 1..]),
                Some(b'+') => (false, &body[i + 1..]),
                _ => (false, &body[i..]),
            };
            if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let mut e: i64 = 0;
            for &c in rest {
                e = (e * 10 + i64::from(c - b'0')).min(1_000_000);
            }
            exp10 += if eneg { -e } else { e };
        }
        if digits.is_zero() {
            return Some(LDouble { neg, ..LDouble::ZERO });
        }
        // Rough magnitude check before any big arithmetic: log10(value) ~ nd + exp10.
        let nd = digits.to_decimal().len() as i64;
        if nd + exp10 > 4934 {
            return None;
        }
        if nd + exp10 < -4952 {
            return None;
        }
        let v = if exp10 >= 0 {
            let mut n = digits;
            n.mul_pow10(exp10 as u64);
            LDouble::round(neg, &n, 0, false)
        } else {
            let mut m = Big::from_u128(1);
            m.mul_pow10((-exp10) as u64);
            let s = (66 + m.bits()).saturating_sub(digits.bits());
            let mut r = digits.shl(s);
            let mut q: u128 = 0;
            for bit in (0..=68u64).rev() {
                let t = m.shl(bit);
                if r.cmp_big(&t) != Ordering::Less {
                    r.sub_assign(&t);
                    q |= 1u128 << bit;
                }
            }
            LDouble::round(neg, &Big::from_u128(q), -(s as i64), !r.is_zero())
        };
        if v.inf || v.mant == 0 {
            // Out of range: strtold reports ERANGE, which Redis refuses.
            return None;
        }
        Some(v)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn sum(a: &str, b: &str) -> String {
            parse(a.as_bytes())
                .unwrap()
                .add(parse(b.as_bytes()).unwrap())
                .to_human_string()
        }

        #[test]
        fn matches_x87_long_double() {
            // Replies of Redis 7.0.15 on x86-64.
            assert_eq!(sum("1.1", "0.1"), "1.2");
            assert_eq!(sum("0", "1.5"), "1.5");
            assert_eq!(sum("1.5", "1e3"), "1001.5");
            assert_eq!(sum("1001.5", "-1001.5"), "0");
            assert_eq!(sum("0", "1.23456789012345678"), "1.23456789012345678");
            assert_eq!(sum("5000", "3.0e-5"), "5000.0000300000000002");
            assert_eq!(sum("9223372036854775802", "0.1"), "9223372036854775802");
            assert_eq!(sum("1", "0.1"), "1.1");
            assert_eq!(
                sum("1e308", "1e308"),
                "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"
            );
        }

        #[test]
        fn parsing_rules() {
            for bad in [
                "", " 1", "1 ", "abc", "1e", "e5", ".", "nan", "1e5000", "1e-5000", "1e-4952", "--1", "0x10",
            ] {
                assert!(parse(bad.as_bytes()).is_none(), "{bad}");
            }
            for good in ["1.", ".5", "+3", "-0", "1E3", "1e+3", "inf", "-Infinity"] {
                assert!(parse(good.as_bytes()).is_some(), "{good}");
            }
            assert!(!parse(b"inf").unwrap().add(LDouble::ZERO).is_finite());
            assert!(parse(&vec![b'1'; 5200]).is_none());
            // Subnormal in the extended format: accepted, and prints as 0.
            assert_eq!(sum("-3", "1e-4940"), "-3");
            assert_eq!(sum("0", "1e-4940"), "0");
            assert_eq!(sum("0", "-1e-4940"), "0");
        }
    }
}
