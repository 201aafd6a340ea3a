//! The keys command family (Redis's "generic" group): deletion, existence, types, expiry,
//! renaming, iteration, copying between databases, OBJECT introspection and SORT.

use std::cmp::Ordering;

use bytes::Bytes;
use slotkv_keyspace::{ExpireMode, Value, ValueType};

use crate::args::{int, is};
use crate::flags::*;
use crate::{cmd, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::Generic;
    vec![
        cmd("del", -2, WRITE, (1, -1, 1), g, del as DataFn).summary("Delete keys"),
        cmd("unlink", -2, WRITE | FAST, (1, -1, 1), g, unlink as DataFn)
            .since("4.0.0")
            .summary("Delete keys, reclaiming memory in the background"),
        cmd("exists", -2, READONLY | FAST, (1, -1, 1), g, exists as DataFn)
            .summary("Count how many of the given keys exist"),
        cmd("type", 2, READONLY | FAST, (1, 1, 1), g, type_cmd as DataFn)
            .summary("Name the type of the value at a key"),
        cmd("expire", -3, WRITE | FAST, (1, 1, 1), g, expire as DataFn)
            .summary("Set a key's time to live in seconds"),
        cmd("pexpire", -3, WRITE | FAST, (1, 1, 1), g, pexpire as DataFn)
            .since("2.6.0")
            .summary("Set a key's time to live in milliseconds"),
        cmd("expireat", -3, WRITE | FAST, (1, 1, 1), g, expireat as DataFn)
            .since("1.2.0")
            .summary("Set a key's expiry as a Unix time in seconds"),
        cmd("pexpireat", -3, WRITE | FAST, (1, 1, 1), g, pexpireat as DataFn)
            .since("2.6.0")
            .summary("Set a key's expiry as a Unix time in milliseconds"),
        cmd("ttl", 2, READONLY | FAST, (1, 1, 1), g, ttl as DataFn)
            .summary("Remaining time to live of a key, in seconds"),
        cmd("pttl", 2, READONLY | FAST, (1, 1, 1), g, pttl as DataFn)
            .since("2.6.0")
            .summary("Remaining time to live of a key, in milliseconds"),
        cmd(
            "expiretime",
            2,
            READONLY | FAST,
            (1, 1, 1),
            g,
            expiretime as DataFn,
        )
        .since("7.0.0")
        .summary("Expiry of a key as a Unix time in seconds"),
        cmd(
            "pexpiretime",
            2,
            READONLY | FAST,
            (1, 1, 1),
            g,
            pexpiretime as DataFn,
        )
        .since("7.0.0")
        .summary("Expiry of a key as a Unix time in milliseconds"),
        cmd("persist", 2, WRITE | FAST, (1, 1, 1), g, persist as DataFn)
            .since("2.2.0")
            .summary("Remove the expiry of a key"),
        cmd("rename", 3, WRITE, (1, 2, 1), g, rename as DataFn).summary("Rename a key"),
        cmd("renamenx", 3, WRITE | FAST, (1, 2, 1), g, renamenx as DataFn)
            .summary("Rename a key unless the new name exists"),
        cmd("keys", 2, READONLY, (0, 0, 0), g, keys as DataFn)
            .acl(&["@dangerous"])
            .summary("List the keys matching a pattern"),
        cmd("scan", -2, READONLY, (0, 0, 0), g, scan as DataFn)
            .since("2.8.0")
            .summary("Iterate over the keyspace incrementally"),
        cmd("randomkey", 1, READONLY, (0, 0, 0), g, randomkey as DataFn).summary("Return a random key"),
        cmd("touch", -2, READONLY | FAST, (1, -1, 1), g, touch as DataFn)
            .since("3.2.1")
            .summary("Update the access time of keys; count the ones that exist"),
        cmd("copy", -3, WRITE | DENYOOM, (1, 2, 1), g, copy as DataFn)
            .since("6.2.0")
            .summary("Copy the value of a key to another key"),
        cmd("move", 3, WRITE | FAST, (1, 1, 1), g, move_cmd as DataFn)
            .summary("Move a key to another database"),
        cmd("object", -2, 0, (0, 0, 0), g, object as DataFn)
            .since("2.2.3")
            .summary("Container for object introspection subcommands")
            .subs(vec![
                cmd(
                    "object|encoding",
                    3,
                    READONLY,
                    (2, 2, 1),
                    g,
                    object_encoding as DataFn,
                )
                .since("2.2.3")
                .summary("Internal encoding of the value at a key"),
                cmd("object|freq", 3, READONLY, (2, 2, 1), g, object_freq as DataFn)
                    .since("4.0.0")
                    .summary("Logarithmic access frequency counter of a key"),
                cmd(
                    "object|idletime",
                    3,
                    READONLY,
                    (2, 2, 1),
                    g,
                    object_idletime as DataFn,
                )
                .since("2.2.3")
                .summary("Seconds since a key was last accessed"),
                cmd(
                    "object|refcount",
                    3,
                    READONLY,
                    (2, 2, 1),
                    g,
                    object_refcount as DataFn,
                )
                .since("2.2.3")
                .summary("Reference count of the value at a key"),
                cmd(
                    "object|help",
                    2,
                    LOADING | STALE,
                    (0, 0, 0),
                    g,
                    object_help as DataFn,
                )
                .since("6.2.0")
                .summary("Describe the OBJECT subcommands"),
            ]),
        cmd("sort", -2, WRITE | DENYOOM, (1, 1, 1), g, sort as DataFn)
            .keys_fn(sort_keys)
            .acl(&["@set", "@sortedset", "@list", "@dangerous"])
            .summary("Sort the elements of a list, set or sorted set"),
        cmd("sort_ro", -2, READONLY, (1, 1, 1), g, sort_ro as DataFn)
            .since("7.0.0")
            .keys_fn(sort_ro_keys)
            .acl(&["@set", "@sortedset", "@list", "@dangerous"])
            .summary("Sort the elements of a list, set or sorted set without storing"),
    ]
}

fn num(n: i64) -> Bytes {
    Bytes::from(itoa::Buffer::new().format(n).to_owned())
}

/// Looks a key up for reading without updating its access time (Redis's
/// `LOOKUP_NOTOUCH`): expires it if due, counts the keyspace hit or miss.
fn exists_notouch(ctx: &mut Ctx<'_>, key: &[u8]) -> bool {
    let now = ctx.now_ms;
    let db = ctx.db();
    let found = db.exists(key, now);
    if found {
        db.hits += 1;
    } else {
        db.misses += 1;
    }
    found
}

/// Whether this node keeps logically expired keys until its master deletes them (a
/// replica): then a past expiry time is stored rather than deleting the key.
fn is_replica(ctx: &mut Ctx<'_>) -> bool {
    ctx.db().expire_mode != ExpireMode::Delete
}

// ---------------------------------------------------------------------------------------
// DEL UNLINK EXISTS TYPE TOUCH

fn del_generic(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    let mut n = 0;
    for k in &args[1..] {
        if db.delete(k, now) {
            n += 1;
        }
    }
    ctx.dirty += n;
    ctx.out.int(n as i64);
    Ok(())
}

fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    del_generic(ctx, args)
}

fn unlink(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    del_generic(ctx, args)
}

fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut n = 0;
    for k in &args[1..] {
        if exists_notouch(ctx, k) {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let name = if exists_notouch(ctx, &args[1]) {
        ctx.db()
            .peek(&args[1], now)
            .map_or("none", |v| v.value_type().name())
    } else {
        "none"
    };
    ctx.out.simple(name);
    Ok(())
}

fn touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut n = 0;
    for k in &args[1..] {
        if ctx.get(k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST

const EXP_NX: u8 = 1;
const EXP_XX: u8 = 2;
const EXP_GT: u8 = 4;
const EXP_LT: u8 = 8;

fn expire_flags(args: &[Bytes]) -> Result<u8, CmdError> {
    let mut f = 0;
    for a in args {
        f |= if is(a, "nx") {
            EXP_NX
        } else if is(a, "xx") {
            EXP_XX
        } else if is(a, "gt") {
            EXP_GT
        } else if is(a, "lt") {
            EXP_LT
        } else {
            return Err(CmdError::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(a)
            )));
        };
    }
    if f & EXP_NX != 0 && f & (EXP_XX | EXP_GT | EXP_LT) != 0 {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f & EXP_GT != 0 && f & EXP_LT != 0 {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// The four expire commands. `relative`: the time counts from now; `seconds`: the unit.
fn expire_generic(ctx: &mut Ctx<'_>, args: &[Bytes], name: &str, relative: bool, seconds: bool) -> CmdResult {
    let flags = expire_flags(&args[3..])?;
    let invalid = || CmdError::err(format!("invalid expire time in '{name}' command"));
    let mut when = int(&args[2])?;
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let base = if relative { ctx.now_ms } else { 0 };
    if when > i64::MAX - base {
        return Err(invalid());
    }
    when += base;

    let key = &args[1];
    if ctx.get_mut(key).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let current = ctx.db().expire_at(key);
    let refused = (flags & EXP_NX != 0 && current.is_some())
        || (flags & EXP_XX != 0 && current.is_none())
        || (flags & EXP_GT != 0 && current.is_none_or(|c| when <= c))
        || (flags & EXP_LT != 0 && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return Ok(());
    }

    if when <= ctx.now_ms && !is_replica(ctx) {
        ctx.db().remove(key);
        ctx.propagate(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
    } else {
        ctx.db().set_expire(key, when);
        if name != "pexpireat" {
            let mut p = Vec::with_capacity(args.len());
            p.push(Bytes::from_static(b"PEXPIREAT"));
            p.push(key.clone());
            p.push(num(when));
            p.extend(args[3..].iter().cloned());
            ctx.propagate(vec![p]);
        }
    }
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "expire", true, true)
}

fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "pexpire", true, false)
}

fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "expireat", false, true)
}

fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "pexpireat", false, false)
}

fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.get_mut(&args[1]).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    if ctx.db().persist(&args[1]) {
        ctx.dirty += 1;
        ctx.out.int(1);
    } else {
        ctx.out.int(0);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// TTL PTTL EXPIRETIME PEXPIRETIME

fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], millis: bool, absolute: bool) -> CmdResult {
    if !exists_notouch(ctx, key) {
        ctx.out.int(-2);
        return Ok(());
    }
    let Some(at) = ctx.db().expire_at(key) else {
        ctx.out.int(-1);
        return Ok(());
    };
    let t = if absolute {
        at
    } else {
        at.saturating_sub(ctx.now_ms)
    }
    .max(0);
    let reply = if millis {
        t
    } else {
        // Rounded to the nearest second, computed wide so that far-future times don't wrap.
        ((i128::from(t) + 500) / 1000) as i64
    };
    ctx.out.int(reply);
    Ok(())
}

fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], false, false)
}

fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], true, false)
}

fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], true, true)
}

// ---------------------------------------------------------------------------------------
// RENAME RENAMENX

fn rename_generic(ctx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    if ctx.get_mut(src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    let expire = db.expire_at(src);
    if db.get_mut(dst, now).is_some() {
        if nx {
            ctx.out.int(0);
            return Ok(());
        }
        db.remove(dst);
    }
    let Some(value) = db.remove(src) else {
        return Err(CmdError::NoSuchKey);
    };
    db.set(dst, value, now);
    if let Some(t) = expire {
        db.set_expire(dst, t);
    }
    ctx.dirty += 1;
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, true)
}

// ---------------------------------------------------------------------------------------
// KEYS SCAN RANDOMKEY

fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pattern = &args[1][..];
    let all = pattern == b"*";
    let now = ctx.now_ms;
    let db = &ctx.ks.dbs[ctx.db];
    let found: Vec<&[u8]> = db
        .iter(now)
        .map(|(k, _)| k)
        .filter(|k| all || slotkv_protocol::glob_match(pattern, k, false))
        .collect();
    ctx.out.array_len(found.len());
    for k in found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Parses a SCAN cursor with the rules of C's `strtoul` as Redis applies them: no leading
/// space, an optional sign (a minus negates modulo 2^64), decimal digits, nothing after them,
/// no overflow. An empty string is cursor 0.
pub(crate) fn parse_cursor(s: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    if s.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[1])?;
    let mut count: usize = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<Option<ValueType>> = None;
    let mut i = 2;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if is(&args[i], "count") && has_value {
            let n = int(&args[i + 1])?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&args[i], "match") && has_value {
            pattern = Some(&args[i + 1]).filter(|p| &p[..] != b"*").map(|p| &p[..]);
        } else if is(&args[i], "type") && has_value {
            // An unknown type name is not an error: nothing matches it.
            type_filter = Some(ValueType::from_name(&args[i + 1]));
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let now = ctx.now_ms;
    let (next, found) = ctx.db().scan(cursor, count, now, |k, v| {
        pattern.is_none_or(|p| slotkv_protocol::glob_match(p, k, false))
            && type_filter.is_none_or(|t| t == Some(v.value_type()))
    });
    ctx.out.array_len(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array_len(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let key = ctx.db().random_key(now, &mut rand::thread_rng());
    match key {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// COPY MOVE

/// Parses a database index as Redis's `getIntFromObjectOrReply` does, then checks it names
/// one of the configured databases.
fn db_index(ctx: &Ctx<'_>, arg: &[u8]) -> Result<usize, CmdError> {
    let n = int(arg)?;
    let n = i32::try_from(n)
        .map_err(|_| CmdError::err("value is out of range, value must between -2147483648 and 2147483647"))?;
    usize::try_from(n)
        .ok()
        .filter(|&i| i < ctx.ks.dbs.len())
        .ok_or_else(|| CmdError::err("DB index is out of range"))
}

fn same_object() -> CmdError {
    CmdError::err("source and destination objects are the same")
}

fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let mut dst_db = ctx.db;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            dst_db = db_index(ctx, &args[i + 1])?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (key, newkey) = (&args[1], &args[2]);
    if dst_db == ctx.db && key == newkey {
        return Err(same_object());
    }
    let Some(value) = ctx.get(key).cloned() else {
        ctx.out.int(0);
        return Ok(());
    };
    let expire = ctx.db().expire_at(key);
    let now = ctx.now_ms;
    let dst = &mut ctx.ks.dbs[dst_db];
    if dst.get_mut(newkey, now).is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        dst.remove(newkey);
    }
    dst.set(newkey, value, now);
    if let Some(t) = expire {
        dst.set_expire(newkey, t);
    }
    if dst_db != ctx.db {
        ctx.touch(dst_db, newkey);
    }
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

fn move_cmd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let dst_db = db_index(ctx, &args[2])?;
    if dst_db == ctx.db {
        return Err(same_object());
    }
    let key = &args[1];
    if ctx.get_mut(key).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let now = ctx.now_ms;
    let expire = ctx.db().expire_at(key);
    if ctx.ks.dbs[dst_db].get_mut(key, now).is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    let Some(value) = ctx.db().remove(key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let dst = &mut ctx.ks.dbs[dst_db];
    dst.set(key, value, now);
    if let Some(t) = expire {
        dst.set_expire(key, t);
    }
    ctx.touch(dst_db, key);
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// OBJECT

/// Called only for a subcommand the table doesn't know (the dispatcher resolves the known
/// ones itself).
fn object(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&b""[..], |a| &a[..]);
    let sub = &sub[..sub.len().min(128)];
    Err(CmdError::UnknownSubcommand(
        String::from_utf8_lossy(sub).into_owned(),
        "OBJECT".into(),
    ))
}

/// The value at `key` for OBJECT: no access-time update, `None` if missing or expired.
fn object_lookup<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c Value> {
    let now = ctx.now_ms;
    if !exists_notouch(ctx, key) {
        return None;
    }
    ctx.ks.dbs[ctx.db].peek(key, now)
}

fn object_encoding(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let limits = ctx.ks.limits;
    match object_lookup(ctx, &args[2]).map(|v| v.encoding(&limits)) {
        Some(e) => ctx.out.bulk(e.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Redis shares the objects for the integers 0..10000; their refcount reads as INT_MAX.
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object_refcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let limits = ctx.ks.limits;
    let rc = object_lookup(ctx, &args[2]).map(|v| match v {
        Value::Str(s) if v.encoding(&limits) == "int" => match slotkv_protocol::parse_i64(s) {
            Some(n) if (0..SHARED_INTEGERS).contains(&n) => SHARED_REFCOUNT,
            _ => 1,
        },
        _ => 1,
    });
    match rc {
        Some(n) => ctx.out.int(n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    if object_lookup(ctx, &args[2]).is_none() {
        ctx.out.null();
        return Ok(());
    }
    let idle = ctx.db().idle_seconds(&args[2], now).unwrap_or(0);
    ctx.out.int(i64::try_from(idle).unwrap_or(i64::MAX));
    Ok(())
}

fn object_freq(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if object_lookup(ctx, &args[2]).is_none() {
        ctx.out.null();
        return Ok(());
    }
    // Access frequency is only tracked under an LFU eviction policy, which slotkv doesn't
    // implement.
    Err(CmdError::err(
        "An LFU maxmemory policy is not selected, access frequency not tracked. Please note \
         that when switching between policies at runtime LRU and LFU data will take some \
         time to adjust.",
    ))
}

fn object_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Name the internal representation of the value stored at <key>.",
        "FREQ <key>",
        "    Report the logarithmic access frequency counter of <key> (LFU policies",
        "    only).",
        "IDLETIME <key>",
        "    Report roughly how many seconds have passed since <key> was last",
        "    accessed.",
        "REFCOUNT <key>",
        "    Report how many references point to the value stored at <key>.",
        "HELP",
        "    Print this help.",
    ];
    ctx.out.array_len(LINES.len());
    for l in LINES {
        ctx.out.simple(l);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SORT SORT_RO

/// Key positions of SORT: the sorted key, plus the destination of the last STORE. Options
/// are skipped with their arguments as Redis's key extraction does.
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut out = Vec::with_capacity(2);
    if args.len() > 1 {
        out.push(1);
    }
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "limit") {
            i += 2;
        } else if is(a, "get") || is(a, "by") {
            i += 1;
        } else if is(a, "store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    out.extend(store);
    out
}

fn sort_ro_keys(args: &[Bytes]) -> Vec<usize> {
    if args.len() > 1 {
        vec![1]
    } else {
        Vec::new()
    }
}

/// The part of `s` a C string function would see: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Parses a sort weight as C's `strtod` does and SORT accepts it: leading spaces allowed,
/// the whole (NUL-terminated) string consumed, no NaN, no overflow or underflow. Hex
/// floats (`0x1.8p3`) are accepted too.
fn sort_score(s: &[u8]) -> Option<f64> {
    let s = c_str(s);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let t = &s[start..];
    let (neg, body) = match t[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
        let v = hex_float(&body[2..])?;
        return Some(if neg { -v } else { v });
    }
    let text = std::str::from_utf8(t).ok()?;
    let lower = text.to_ascii_lowercase();
    let word = &lower[t.len() - body.len()..];
    if word == "inf" || word == "infinity" {
        return Some(if neg { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if !body.first().is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
        return None;
    }
    let v: f64 = text.parse().ok()?;
    if v.is_nan() || v.is_infinite() {
        return None;
    }
    if v != 0.0 && v.abs() < f64::MIN_POSITIVE {
        return None;
    }
    if v == 0.0 {
        let mantissa = lower.split('e').next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None;
        }
    }
    Some(v)
}

/// A C99 hex float after its `0x`: hex digits, an optional fraction, an optional binary
/// exponent `p[+-]N`. `None` if malformed or out of range.
fn hex_float(s: &[u8]) -> Option<f64> {
    let mut v = 0f64;
    let mut scale = 0i64;
    let mut digits = 0;
    let mut i = 0;
    let mut seen_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            v = v * 16.0 + f64::from(d);
            digits += 1;
            if seen_point {
                scale -= 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() {
        if s[i] | 0x20 != b'p' {
            return None;
        }
        let e = std::str::from_utf8(&s[i + 1..]).ok()?;
        let e: i64 = e.parse().ok()?;
        scale = scale.checked_add(e)?;
    }
    let v = v * 2f64.powi(i32::try_from(scale.clamp(-2000, 2000)).ok()?);
    if !v.is_finite() || (v != 0.0 && v.abs() < f64::MIN_POSITIVE) {
        return None;
    }
    Some(v)
}

/// Resolves a SORT BY/GET pattern for one element: `#` is the element itself; otherwise the
/// first `*` is replaced by the element and the key looked up, as a string, or as a hash
/// field when the pattern continues with `->field`.
fn lookup_by_pattern(ctx: &mut Ctx<'_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let visible = c_str(pattern);
    if visible == b"#" {
        return Some(elem.to_vec());
    }
    let star = visible.iter().position(|&b| b == b'*')?;
    let arrow = visible[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&f| f + 2 < visible.len());
    let (key_tail_end, field) = match arrow {
        Some(f) => (f, Some(&pattern[f + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_tail_end]);
    match (ctx.get(&key)?, field) {
        (Value::Str(s), None) => Some(s.clone()),
        (Value::Hash(h), Some(f)) => h.get(f).map(|v| v.to_vec()),
        _ => None,
    }
}

struct SortItem {
    elem: Box<[u8]>,
    score: f64,
    by: Option<Vec<u8>>,
}

impl SortItem {
    fn new(elem: &[u8]) -> Self {
        SortItem {
            elem: elem.into(),
            score: 0.0,
            by: None,
        }
    }
}

fn sort(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, true)
}

fn sort_generic(ctx: &mut Ctx<'_>, args: &[Bytes], readonly: bool) -> CmdResult {
    let mut desc = false;
    let mut alpha = false;
    let mut limit_start: i64 = 0;
    let mut limit_count: i64 = -1;
    let mut dontsort = false;
    let mut sortby: Option<&[u8]> = None;
    let mut storekey: Option<&Bytes> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is(a, "asc") {
            desc = false;
        } else if is(a, "desc") {
            desc = true;
        } else if is(a, "alpha") {
            alpha = true;
        } else if is(a, "limit") && left >= 2 {
            limit_start = int(&args[j + 1])?;
            limit_count = int(&args[j + 2])?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            storekey = Some(&args[j + 1]);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            sortby = Some(&args[j + 1]);
            // A pattern without '*' names no per-element key: keep the stored order. Like
            // Redis, a later BY with a pattern doesn't undo that.
            if !c_str(&args[j + 1]).contains(&b'*') {
                dontsort = true;
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            gets.push(&args[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }

    let limits = ctx.ks.limits;
    let key = &args[1];
    let kind = match ctx.get(key) {
        None => None,
        Some(Value::List(_)) => Some(ValueType::List),
        Some(Value::Set(_)) => Some(ValueType::Set),
        Some(Value::ZSet(_)) => Some(ValueType::ZSet),
        Some(_) => return Err(CmdError::WrongType),
    };
    // Without an order, a set's members come out in hash order; force a deterministic order
    // when the result is stored (and so replicated).
    if dontsort && kind == Some(ValueType::Set) && storekey.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    let now = ctx.now_ms;
    let value = ctx.ks.dbs[ctx.db].peek(key, now);
    let len = match value {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;

    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count - 1)
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let mut items: Vec<SortItem> = Vec::new();
    match value {
        Some(Value::List(l)) if dontsort && end >= start => {
            let n = (end - start + 1) as usize;
            let s = start as usize;
            if desc {
                items.extend(l.iter().rev().skip(s).take(n).map(|e| SortItem::new(e)));
            } else {
                items.extend(l.iter().skip(s).take(n).map(|e| SortItem::new(e)));
            }
            end -= start;
            start = 0;
        }
        Some(Value::List(l)) if !dontsort => items.extend(l.iter().map(|e| SortItem::new(e))),
        Some(v @ Value::Set(s)) => {
            items.extend(s.iter().map(|e| SortItem::new(e)));
            if v.encoding(&limits) == "intset" {
                // Small integer sets iterate in numeric order in Redis.
                items.sort_by_key(|it| slotkv_protocol::parse_i64(&it.elem).unwrap_or(0));
            }
        }
        Some(Value::ZSet(z)) if dontsort && end >= start => {
            let n = (end - start + 1) as usize;
            let s = start as usize;
            if desc {
                let from = z.len().saturating_sub(s + 1);
                items.extend(z.iter_rev_from(from).take(n).map(|(m, _)| SortItem::new(m)));
            } else {
                items.extend(z.iter_from(s).take(n).map(|(m, _)| SortItem::new(m)));
            }
            end -= start;
            start = 0;
        }
        Some(Value::ZSet(z)) if !dontsort => items.extend(z.iter().map(|(m, _)| SortItem::new(m))),
        _ => {}
    }

    if !dontsort {
        for it in &mut items {
            let by = match sortby {
                Some(p) => match lookup_by_pattern(ctx, p, &it.elem) {
                    Some(v) => Some(v),
                    None => continue,
                },
                None => None,
            };
            if alpha {
                it.by = by;
            } else {
                let src = by.as_deref().unwrap_or(&it.elem);
                it.score = sort_score(src)
                    .ok_or_else(|| CmdError::err("One or more scores can't be converted into double"))?;
            }
        }
        let by_pattern = sortby.is_some();
        items.sort_by(|a, b| {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by_pattern {
                match (&a.by, &b.by) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }

    let picked: &[SortItem] = if end >= start && start >= 0 {
        let s = start as usize;
        let e = (end as usize).min(items.len().saturating_sub(1));
        items.get(s..=e).unwrap_or(&[])
    } else {
        &[]
    };
    let per_item = if gets.is_empty() { 1 } else { gets.len() };
    let outputlen = picked.len() * per_item;

    match storekey {
        None => {
            ctx.out.array_len(outputlen);
            for it in picked {
                if gets.is_empty() {
                    ctx.out.bulk(&it.elem);
                }
                for g in &gets {
                    match lookup_by_pattern(ctx, g, &it.elem) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = slotkv_keyspace::ListValue::with_capacity(outputlen.min(4096));
            for it in picked {
                if gets.is_empty() {
                    list.push_back(it.elem.clone());
                }
                for g in &gets {
                    let v = lookup_by_pattern(ctx, g, &it.elem).unwrap_or_default();
                    list.push_back(v.into_boxed_slice());
                }
            }
            let db = ctx.db();
            if outputlen > 0 {
                db.set(dst, Value::List(Box::new(list)), now);
                ctx.dirty += outputlen as u64;
            } else if db.delete(dst, now) {
                ctx.dirty += 1;
            }
            ctx.out.int(outputlen as i64);
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;
    use slotkv_keyspace::{Value, ZSet};
    use slotkv_protocol::ProtocolVersion;

    use crate::testing::Harness;

    /// Splits a script line on spaces and decodes `\xNN` escapes in each word.
    fn words(line: &str) -> Vec<Vec<u8>> {
        line.split_whitespace()
            .map(|w| {
                let b = w.as_bytes();
                let mut out = Vec::with_capacity(b.len());
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
                        let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 4;
                    } else {
                        out.push(b[i]);
                        i += 1;
                    }
                }
                out
            })
            .collect()
    }

    /// Creates or extends a collection directly in the keyspace (the list, set, hash and
    /// sorted-set families live in other files).
    fn populate(h: &mut Harness, w: &[Vec<u8>]) {
        let db = &mut h.ks.dbs[h.db];
        let now = h.now_ms;
        let key = &w[1];
        let name = String::from_utf8_lossy(&w[0]).to_lowercase();
        let fresh = match name.as_str() {
            "rpush" => Value::new_list(),
            "sadd" => Value::new_set(),
            "zadd" => Value::new_zset(),
            "hset" => Value::new_hash(),
            _ => {
                let args: Vec<&[u8]> = w.iter().map(Vec::as_slice).collect();
                let r = h.run_args(&args);
                assert!(!r.starts_with('-'), "setup failed: {r}");
                return;
            }
        };
        let v = db.get_or_insert_with(key, now, || fresh);
        match v {
            Value::List(l) => l.extend(w[2..].iter().map(|e| e.clone().into_boxed_slice())),
            Value::Set(s) => s.extend(w[2..].iter().map(|e| e.clone().into_boxed_slice())),
            Value::ZSet(z) => {
                for p in w[2..].chunks(2) {
                    let score: f64 = std::str::from_utf8(&p[0]).unwrap().parse().unwrap();
                    ZSet::insert(z, &p[1], score);
                }
            }
            Value::Hash(hv) => {
                for p in w[2..].chunks(2) {
                    hv.insert(p[0].clone().into_boxed_slice(), p[1].clone().into_boxed_slice());
                }
            }
            // WRONGTYPE in Redis too: nothing happens.
            Value::Str(_) => {}
        }
    }

    /// Runs a script of `command => expected reply` lines (replies captured from Redis
    /// 7.0.15, `\r\n` written literally); `!command` lines only set data up; `select N`
    /// switches the database.
    pub(crate) fn script(text: &str) -> Harness {
        let mut h = Harness::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(setup) = line.strip_prefix('!') {
                populate(&mut h, &words(setup));
                continue;
            }
            let (cmd, want) = line.split_once(" => ").expect("line without =>");
            let want = want.replace("\\r\\n", "\r\n");
            let w = words(cmd);
            if w.len() == 2 && w[0] == b"select" {
                h.db = std::str::from_utf8(&w[1]).unwrap().parse().unwrap();
                assert_eq!(want, "+OK\r\n");
                continue;
            }
            let args: Vec<&[u8]> = w.iter().map(Vec::as_slice).collect();
            assert_eq!(h.run_args(&args), want, "command: {cmd}");
        }
        h
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn cmdline(s: &str) -> Vec<Bytes> {
        s.split_whitespace().map(b).collect()
    }
    #[test]
    fn redis_del_exists() {
        script(
            r#"
            !set a 1
            !set b 2
            !rpush l x y
            del a a nokey => :1\r\n
            exists a b b l nokey => :3\r\n
            unlink b nokey => :1\r\n
            exists b => :0\r\n
            type l => +list\r\n
            type nokey => +none\r\n
            !set s v
            type s => +string\r\n
            touch s s l nokey => :3\r\n
            del => -ERR wrong number of arguments for 'del' command\r\n
            exists => -ERR wrong number of arguments for 'exists' command\r\n
            del l s => :2\r\n
            exists l s => :0\r\n
            "#,
        );
    }

    #[test]
    fn redis_expire() {
        script(
            r#"
            !set k v
            expire k 10 nx xx => -ERR NX and XX, GT or LT options at the same time are not compatible\r\n
            expire k 10 NX gt => -ERR NX and XX, GT or LT options at the same time are not compatible\r\n
            expire k 10 xx nx => -ERR NX and XX, GT or LT options at the same time are not compatible\r\n
            expire k 10 gt lt => -ERR GT and LT options at the same time are not compatible\r\n
            expire k 10 LT GT => -ERR GT and LT options at the same time are not compatible\r\n
            expire k 10 foo => -ERR Unsupported option foo\r\n
            expire k 10 nx foo => -ERR Unsupported option foo\r\n
            expire k abc => -ERR value is not an integer or out of range\r\n
            expire k 10.5 => -ERR value is not an integer or out of range\r\n
            expire k 9223372036854775807 => -ERR invalid expire time in 'expire' command\r\n
            expire k -9223372036854775808 => -ERR invalid expire time in 'expire' command\r\n
            pexpire k 9223372036854775807 => -ERR invalid expire time in 'pexpire' command\r\n
            expire k 9223372036854775 => -ERR invalid expire time in 'expire' command\r\n
            expire nokey 10 => :0\r\n
            ttl k => :-1\r\n
            expire k 100 xx => :0\r\n
            expire k 100 gt => :0\r\n
            ttl k => :-1\r\n
            expire k 100 nx => :1\r\n
            ttl k => :100\r\n
            expire k 200 nx => :0\r\n
            expire k 50 gt => :0\r\n
            expire k 200 gt => :1\r\n
            ttl k => :200\r\n
            expire k 300 lt => :0\r\n
            expire k 100 lt => :1\r\n
            ttl k => :100\r\n
            expire k 1000 xx => :1\r\n
            ttl k => :1000\r\n
            persist k => :1\r\n
            persist k => :0\r\n
            ttl k => :-1\r\n
            expire k 100 lt => :1\r\n
            ttl k => :100\r\n
            persist nokey => :0\r\n
            expiretime nokey => :-2\r\n
            pexpiretime nokey => :-2\r\n
            ttl nokey => :-2\r\n
            pttl nokey => :-2\r\n
            !set j v
            expiretime j => :-1\r\n
            pexpiretime j => :-1\r\n
            pttl j => :-1\r\n
            pexpireat j 9223372036854775807 => :1\r\n
            pexpiretime j => :9223372036854775807\r\n
            expiretime j => :9223372036854776\r\n
            expireat j 9223372036854775 => :1\r\n
            pexpiretime j => :9223372036854775000\r\n
            expireat j 9223372036854776 => -ERR invalid expire time in 'expireat' command\r\n
            expire j 0 => :1\r\n
            exists j => :0\r\n
            !set j v
            pexpire j -5 => :1\r\n
            exists j => :0\r\n
            !set j v
            expireat j 1 => :1\r\n
            exists j => :0\r\n
            !set j v
            pexpireat j 100 gt => :0\r\n
            exists j => :1\r\n
            pexpireat j 100 xx => :0\r\n
            expire => -ERR wrong number of arguments for 'expire' command\r\n
            expire k => -ERR wrong number of arguments for 'expire' command\r\n
            ttl => -ERR wrong number of arguments for 'ttl' command\r\n
            ttl a b => -ERR wrong number of arguments for 'ttl' command\r\n
            persist a b => -ERR wrong number of arguments for 'persist' command\r\n
            "#,
        );
    }

    #[test]
    fn redis_rename() {
        script(
            r#"
            !set a 1
            rename nokey x => -ERR no such key\r\n
            renamenx nokey x => -ERR no such key\r\n
            rename nokey nokey => -ERR no such key\r\n
            rename a a => +OK\r\n
            renamenx a a => :0\r\n
            rename a b => +OK\r\n
            exists a b => :1\r\n
            get b => $1\r\n1\r\n
            !set c 3
            renamenx b c => :0\r\n
            renamenx b d => :1\r\n
            get d => $1\r\n1\r\n
            exists b => :0\r\n
            !rpush l x y
            rename l d => +OK\r\n
            type d => +list\r\n
            sort d by nosort => *2\r\n$1\r\nx\r\n$1\r\ny\r\n
            !set t v
            expire t 100 => :1\r\n
            rename t t2 => +OK\r\n
            ttl t2 => :100\r\n
            !set t3 w
            renamenx t2 t3 => :0\r\n
            ttl t2 => :100\r\n
            rename t2 t3 => +OK\r\n
            ttl t3 => :100\r\n
            get t3 => $1\r\nv\r\n
            expire d 50 => :1\r\n
            rename t3 d => +OK\r\n
            ttl d => :100\r\n
            get d => $1\r\nv\r\n
            "#,
        );
    }

    #[test]
    fn redis_copymove() {
        script(
            r#"
            !set k v
            !set other o
            move k 0 => -ERR source and destination objects are the same\r\n
            move k 16 => -ERR DB index is out of range\r\n
            move k -1 => -ERR DB index is out of range\r\n
            move k abc => -ERR value is not an integer or out of range\r\n
            move k 99999999999 => -ERR value is out of range, value must between -2147483648 and 2147483647\r\n
            move nokey 1 => :0\r\n
            copy k k => -ERR source and destination objects are the same\r\n
            copy k k2 db 16 => -ERR DB index is out of range\r\n
            copy k k2 db -1 => -ERR DB index is out of range\r\n
            copy k k2 db abc => -ERR value is not an integer or out of range\r\n
            copy k k2 db 4294967296 => -ERR value is out of range, value must between -2147483648 and 2147483647\r\n
            copy k k2 foo => -ERR syntax error\r\n
            copy k k2 db => -ERR syntax error\r\n
            copy k k2 replace db => -ERR syntax error\r\n
            copy nokey k2 => :0\r\n
            copy k k2 => :1\r\n
            copy k k2 => :0\r\n
            copy k other => :0\r\n
            copy k other replace => :1\r\n
            get other => $1\r\nv\r\n
            copy k k db 1 => :1\r\n
            expire k 100 => :1\r\n
            copy k k3 REPLACE => :1\r\n
            ttl k3 => :100\r\n
            move k 1 => :0\r\n
            exists k => :1\r\n
            move k 1 => :0\r\n
            select 1 => +OK\r\n
            get k => $1\r\nv\r\n
            ttl k => :-1\r\n
            get k2 => $-1\r\n
            select 0 => +OK\r\n
            !set k new
            move k 1 => :0\r\n
            get k => $3\r\nnew\r\n
            select 1 => +OK\r\n
            get k => $1\r\nv\r\n
            select 0 => +OK\r\n
            !rpush l a b
            copy l l2 => :1\r\n
            type l2 => +list\r\n
            sort l2 by nosort => *2\r\n$1\r\na\r\n$1\r\nb\r\n
            "#,
        );
    }

    #[test]
    fn redis_scan() {
        script(
            r#"
            !set key1 a
            scan abc => -ERR invalid cursor\r\n
            scan 18446744073709551616 => -ERR invalid cursor\r\n
            scan 1x => -ERR invalid cursor\r\n
            scan - => -ERR invalid cursor\r\n
            scan 0 count 0 => -ERR syntax error\r\n
            scan 0 count -1 => -ERR syntax error\r\n
            scan 0 count abc => -ERR value is not an integer or out of range\r\n
            scan 0 type foo => *2\r\n$1\r\n0\r\n*0\r\n
            scan 0 match => -ERR syntax error\r\n
            scan 0 count => -ERR syntax error\r\n
            scan 0 foo bar => -ERR syntax error\r\n
            scan 0 type STRING => *2\r\n$1\r\n0\r\n*1\r\n$4\r\nkey1\r\n
            scan 0 type list => *2\r\n$1\r\n0\r\n*0\r\n
            scan 0 match key* => *2\r\n$1\r\n0\r\n*1\r\n$4\r\nkey1\r\n
            scan 0 match nomatch* => *2\r\n$1\r\n0\r\n*0\r\n
            scan 0 count 1000 match * type string => *2\r\n$1\r\n0\r\n*1\r\n$4\r\nkey1\r\n
            keys * => *1\r\n$4\r\nkey1\r\n
            keys k?y[0-9] => *1\r\n$4\r\nkey1\r\n
            keys nomatch => *0\r\n
            randomkey => $4\r\nkey1\r\n
            keys => -ERR wrong number of arguments for 'keys' command\r\n
            "#,
        );
    }

    #[test]
    fn redis_object() {
        script(
            r#"
            !set n 100
            object refcount n => :2147483647\r\n
            !set n 10000
            object refcount n => :1\r\n
            !set n 9999
            object refcount n => :2147483647\r\n
            !set n 0
            object refcount n => :2147483647\r\n
            !set n -1
            object refcount n => :1\r\n
            !set n abc
            object refcount n => :1\r\n
            object encoding n => $6\r\nembstr\r\n
            !set n 12
            object encoding n => $3\r\nint\r\n
            !set n 0123
            object encoding n => $6\r\nembstr\r\n
            !set n aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            object encoding n => $6\r\nembstr\r\n
            !set n aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            object encoding n => $3\r\nraw\r\n
            !rpush l a
            object encoding l => $9\r\nquicklist\r\n
            !sadd s 1 2
            object encoding s => $6\r\nintset\r\n
            !sadd t a
            object encoding t => $9\r\nhashtable\r\n
            !zadd z 1 a
            object encoding z => $8\r\nlistpack\r\n
            !hset h f v
            object encoding h => $8\r\nlistpack\r\n
            object freq n => -ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n
            object freq nokey => $-1\r\n
            object idletime n => :0\r\n
            object idletime nokey => $-1\r\n
            object encoding nokey => $-1\r\n
            object refcount nokey => $-1\r\n
            object help extra => -ERR wrong number of arguments for 'object|help' command\r\n
            object encoding => -ERR wrong number of arguments for 'object|encoding' command\r\n
            object encoding a b => -ERR wrong number of arguments for 'object|encoding' command\r\n
            "#,
        );
    }

    #[test]
    fn redis_sort() {
        script(
            r#"
            !rpush l 3 1 2 10 a
            sort l => -ERR One or more scores can't be converted into double\r\n
            sort l alpha => *5\r\n$1\r\n1\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\na\r\n
            sort l by nosort => *5\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n$2\r\n10\r\n$1\r\na\r\n
            !rpush n 3 1 2 10 1.5 -inf 1e1 0x10 +5 .5
            sort n => *10\r\n$4\r\n-inf\r\n$2\r\n.5\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n+5\r\n$2\r\n10\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n
            sort n desc => *10\r\n$4\r\n0x10\r\n$3\r\n1e1\r\n$2\r\n10\r\n$2\r\n+5\r\n$1\r\n3\r\n$1\r\n2\r\n$3\r\n1.5\r\n$1\r\n1\r\n$2\r\n.5\r\n$4\r\n-inf\r\n
            sort n alpha => *10\r\n$2\r\n+5\r\n$4\r\n-inf\r\n$2\r\n.5\r\n$4\r\n0x10\r\n$1\r\n1\r\n$3\r\n1.5\r\n$2\r\n10\r\n$3\r\n1e1\r\n$1\r\n2\r\n$1\r\n3\r\n
            sort n alpha desc => *10\r\n$1\r\n3\r\n$1\r\n2\r\n$3\r\n1e1\r\n$2\r\n10\r\n$3\r\n1.5\r\n$1\r\n1\r\n$4\r\n0x10\r\n$2\r\n.5\r\n$4\r\n-inf\r\n$2\r\n+5\r\n
            sort n limit 1 2 => *2\r\n$2\r\n.5\r\n$1\r\n1\r\n
            sort n limit 1 => -ERR syntax error\r\n
            sort n limit a b => -ERR value is not an integer or out of range\r\n
            sort n limit 0 -1 => *10\r\n$4\r\n-inf\r\n$2\r\n.5\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n+5\r\n$2\r\n10\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n
            sort n limit -5 2 => *2\r\n$4\r\n-inf\r\n$2\r\n.5\r\n
            sort n limit 10 2 => *0\r\n
            sort n limit 100 2 => *0\r\n
            sort n limit 0 0 => *0\r\n
            sort n limit 2 9223372036854775807 => *8\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n+5\r\n$2\r\n10\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n
            sort n limit 9223372036854775807 9223372036854775807 => *0\r\n
            sort n by nosort => *10\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n$2\r\n10\r\n$3\r\n1.5\r\n$4\r\n-inf\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n$2\r\n+5\r\n$2\r\n.5\r\n
            sort n by nosort desc => *10\r\n$2\r\n.5\r\n$2\r\n+5\r\n$4\r\n0x10\r\n$3\r\n1e1\r\n$4\r\n-inf\r\n$3\r\n1.5\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n1\r\n$1\r\n3\r\n
            sort n by nosort limit 1 2 => *2\r\n$1\r\n1\r\n$1\r\n2\r\n
            sort n by nosort desc limit 1 2 => *2\r\n$2\r\n+5\r\n$4\r\n0x10\r\n
            sort n by nosort desc limit 8 100 => *2\r\n$1\r\n1\r\n$1\r\n3\r\n
            sort n by nosort limit 100 1 => *0\r\n
            !mset w_3 30 w_1 10 w_2 20 w_10 5 w_1.5 abc w_-inf 7
            sort n by w_* => -ERR One or more scores can't be converted into double\r\n
            sort n by w_* alpha => *10\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n$2\r\n+5\r\n$2\r\n.5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n$4\r\n-inf\r\n$3\r\n1.5\r\n
            sort n by w_* alpha desc => *10\r\n$3\r\n1.5\r\n$4\r\n-inf\r\n$2\r\n10\r\n$1\r\n3\r\n$1\r\n2\r\n$1\r\n1\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n$2\r\n+5\r\n$2\r\n.5\r\n
            sort n get # get w_* => *20\r\n$4\r\n-inf\r\n$1\r\n7\r\n$2\r\n.5\r\n$-1\r\n$1\r\n1\r\n$2\r\n10\r\n$3\r\n1.5\r\n$3\r\nabc\r\n$1\r\n2\r\n$2\r\n20\r\n$1\r\n3\r\n$2\r\n30\r\n$2\r\n+5\r\n$-1\r\n$2\r\n10\r\n$1\r\n5\r\n$3\r\n1e1\r\n$-1\r\n$4\r\n0x10\r\n$-1\r\n
            sort n get w_*->f => *10\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n
            !hset h_3 f x
            !hset h_1 f y
            sort n get h_*->f get h_*-> get h_* => *30\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$1\r\ny\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$1\r\nx\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n
            sort n by h_*->f alpha get # => *10\r\n$1\r\n2\r\n$2\r\n10\r\n$3\r\n1.5\r\n$4\r\n-inf\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n$2\r\n+5\r\n$2\r\n.5\r\n$1\r\n3\r\n$1\r\n1\r\n
            sort n by h_*->f get # => -ERR One or more scores can't be converted into double\r\n
            sort n store dst => :10\r\n
            sort dst by nosort => *10\r\n$4\r\n-inf\r\n$2\r\n.5\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n+5\r\n$2\r\n10\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n
            sort n by nosort get w_* store dst2 => :10\r\n
            sort dst2 by nosort => *10\r\n$2\r\n30\r\n$2\r\n10\r\n$2\r\n20\r\n$1\r\n5\r\n$3\r\nabc\r\n$1\r\n7\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n
            sort n limit 0 0 store dst2 => :0\r\n
            exists dst2 => :0\r\n
            !set dst3 x
            expire dst3 100 => :1\r\n
            sort n limit 0 1 store dst3 => :1\r\n
            ttl dst3 => :-1\r\n
            type dst3 => +list\r\n
            sort nokey store dst => :0\r\n
            exists dst => :0\r\n
            sort nokey => *0\r\n
            sort_ro n store dst => -ERR syntax error\r\n
            sort_ro n limit 0 2 => *2\r\n$4\r\n-inf\r\n$2\r\n.5\r\n
            sort_ro n by nosort get # => *10\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n$2\r\n10\r\n$3\r\n1.5\r\n$4\r\n-inf\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n$2\r\n+5\r\n$2\r\n.5\r\n
            !set s x
            sort s => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            sort_ro s => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            !hset hh a b
            sort hh => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            sort n foo => -ERR syntax error\r\n
            sort n by => -ERR syntax error\r\n
            sort n get => -ERR syntax error\r\n
            sort n store => -ERR syntax error\r\n
            !sadd st 5 3 9 1
            sort st by nosort => *4\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n5\r\n$1\r\n9\r\n
            sort st by nosort desc => *4\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n5\r\n$1\r\n9\r\n
            sort st by nosort limit 1 2 => *2\r\n$1\r\n3\r\n$1\r\n5\r\n
            sort st => *4\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n5\r\n$1\r\n9\r\n
            sort st desc limit 0 2 => *2\r\n$1\r\n9\r\n$1\r\n5\r\n
            !sadd st2 b a c
            sort st2 by nosort store x => :3\r\n
            sort x by nosort => *3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n
            sort st2 alpha => *3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n
            sort st2 alpha desc => *3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n
            sort st2 => -ERR One or more scores can't be converted into double\r\n
            !zadd z 3 a 1 b 2 c
            sort z by nosort => *3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n
            sort z by nosort desc => *3\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nb\r\n
            sort z by nosort desc limit 0 2 => *2\r\n$1\r\na\r\n$1\r\nc\r\n
            sort z by nosort limit 1 5 => *2\r\n$1\r\nc\r\n$1\r\na\r\n
            sort z by nosort desc limit 1 5 => *2\r\n$1\r\nc\r\n$1\r\nb\r\n
            sort z alpha => *3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n
            sort z => -ERR One or more scores can't be converted into double\r\n
            sort n limit 0 1 limit 1 1 => *1\r\n$2\r\n.5\r\n
            sort n asc desc asc => *10\r\n$4\r\n-inf\r\n$2\r\n.5\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n+5\r\n$2\r\n10\r\n$3\r\n1e1\r\n$4\r\n0x10\r\n
            !rpush e1 b a
            !mset wb 2 wa 2
            sort e1 by w* => *2\r\n$1\r\na\r\n$1\r\nb\r\n
            sort e1 by w* desc => *2\r\n$1\r\nb\r\n$1\r\na\r\n
            sort => -ERR wrong number of arguments for 'sort' command\r\n
            "#,
        );
    }

    fn props(h: &Harness) -> Vec<String> {
        h.propagated
            .iter()
            .map(|c| {
                c.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn expire_propagation() {
        let mut h = Harness::new();
        let now = h.now_ms;
        h.run("SET k v");
        h.propagated.clear();
        assert_eq!(h.run("EXPIRE k 10"), ":1\r\n");
        assert_eq!(h.run("PEXPIRE k 20000 GT"), ":1\r\n");
        assert_eq!(h.run("EXPIREAT k 1800000000"), ":1\r\n");
        assert_eq!(h.run("PEXPIREAT k 1800000000001"), ":1\r\n");
        assert_eq!(h.run("EXPIRE k 10 NX"), ":0\r\n");
        assert_eq!(
            props(&h),
            vec![
                format!("PEXPIREAT k {}", now + 10_000),
                format!("PEXPIREAT k {} GT", now + 20_000),
                "PEXPIREAT k 1800000000000".to_string(),
                "PEXPIREAT k 1800000000001".to_string(),
            ]
        );
        h.propagated.clear();
        assert_eq!(h.run("PEXPIRE k 0"), ":1\r\n");
        assert_eq!(props(&h), vec!["DEL k"]);
        assert_eq!(h.run("EXISTS k"), ":0\r\n");
        // Nothing to do: nothing propagated.
        h.propagated.clear();
        assert_eq!(h.run("EXPIRE k 10"), ":0\r\n");
        assert_eq!(h.run("PERSIST k"), ":0\r\n");
        assert_eq!(h.run("DEL k"), ":0\r\n");
        assert!(h.propagated.is_empty());
    }

    #[test]
    fn replica_keeps_past_expiry() {
        let mut h = Harness::new();
        h.run("SET k v");
        h.ks.set_expire_mode(slotkv_keyspace::ExpireMode::HideOnly);
        assert_eq!(h.run("EXPIREAT k 1"), ":1\r\n");
        assert_eq!(h.ks.dbs[0].len(), 1);
        assert_eq!(h.ks.dbs[0].expire_at(b"k"), Some(1000));
        assert_eq!(h.run("EXISTS k"), ":0\r\n");
    }

    #[test]
    fn ttl_follows_the_clock() {
        let mut h = Harness::new();
        h.run("SET k v");
        assert_eq!(h.run("PEXPIRE k 10500"), ":1\r\n");
        assert_eq!(h.run("PTTL k"), ":10500\r\n");
        assert_eq!(h.run("TTL k"), ":11\r\n");
        h.now_ms += 1000;
        assert_eq!(h.run("PTTL k"), ":9500\r\n");
        assert_eq!(h.run("TTL k"), ":10\r\n");
        let at = h.now_ms + 9500;
        assert_eq!(h.run("PEXPIRETIME k"), format!(":{at}\r\n"));
        assert_eq!(h.run("EXPIRETIME k"), format!(":{}\r\n", (at + 500) / 1000));
        h.now_ms += 9500;
        assert_eq!(h.run("TTL k"), ":-2\r\n");
        assert_eq!(h.run("TYPE k"), "+none\r\n");
        // The lazily expired key is queued for a DEL.
        assert_eq!(h.ks.dbs[0].expired.len(), 1);
    }

    #[test]
    fn introspection_does_not_touch() {
        let mut h = Harness::new();
        h.run("SET k v");
        h.now_ms += 10_000;
        for c in ["TTL k", "PTTL k", "TYPE k", "EXISTS k", "OBJECT ENCODING k"] {
            h.run(c);
        }
        assert_eq!(h.run("OBJECT IDLETIME k"), ":10\r\n");
        h.run("TOUCH k");
        assert_eq!(h.run("OBJECT IDLETIME k"), ":0\r\n");
        h.now_ms += 5_000;
        h.run("GET k");
        assert_eq!(h.run("OBJECT IDLETIME k"), ":0\r\n");
    }

    #[test]
    fn resp3_nulls() {
        let mut h = Harness::new();
        h.version = ProtocolVersion::Resp3;
        assert_eq!(h.run("OBJECT ENCODING nokey"), "_\r\n");
        assert_eq!(h.run("RANDOMKEY"), "_\r\n");
        assert_eq!(h.run("SORT nokey"), "*0\r\n");
        h.run("SET k v");
        assert_eq!(h.run("TYPE k"), "+string\r\n");
        assert_eq!(h.run("SCAN 0"), "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n");
    }

    #[test]
    fn object_container_and_help() {
        let mut h = Harness::new();
        let help = h.run("OBJECT HELP");
        assert!(
            help.starts_with("*13\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n")
        );
        assert!(help.contains("+ENCODING <key>\r\n") && help.contains("+HELP\r\n"));
        // The container itself only sees unknown subcommands.
        let mut out = slotkv_protocol::ReplyWriter::new(ProtocolVersion::Resp2);
        let mut ctx = crate::Ctx::new(&mut h.ks, 0, &mut out, 0);
        let e = super::object(&mut ctx, &cmdline("OBJECT foo")).unwrap_err();
        assert_eq!(e.to_string(), "ERR unknown subcommand 'foo'. Try OBJECT HELP.");
    }

    #[test]
    fn table_metadata_matches_redis() {
        let table = crate::data_commands();
        let find = |n: &str| table.iter().find(|c| c.name == n).unwrap();
        let sort = find("sort");
        assert_eq!(sort.flag_names(), vec!["write", "denyoom", "movablekeys"]);
        assert_eq!(sort.key_positions(&cmdline("SORT k STORE d")), vec![1, 3]);
        assert_eq!(
            sort.key_positions(&cmdline("SORT k BY x GET y STORE d LIMIT 0 1")),
            vec![1, 7]
        );
        assert_eq!(sort.key_positions(&cmdline("SORT k STORE")), vec![1]);
        assert_eq!(sort.key_positions(&cmdline("SORT k LIMIT STORE a")), vec![1]);
        assert_eq!(
            sort.key_positions(&cmdline("SORT k GET STORE STORE d")),
            vec![1, 5]
        );
        assert_eq!(sort.key_positions(&cmdline("SORT k STORE a STORE b")), vec![1, 5]);
        let ro = find("sort_ro");
        assert_eq!(ro.flag_names(), vec!["readonly", "movablekeys"]);
        assert_eq!(ro.key_positions(&cmdline("SORT_RO k BY x GET y")), vec![1]);
        assert_eq!(
            find("keys").acl_categories(),
            vec!["@keyspace", "@read", "@slow", "@dangerous"]
        );
        let object = find("object");
        assert_eq!(object.arity, -2);
        assert_eq!(object.subcommands.len(), 5);
        assert_eq!(find("copy").key_positions(&cmdline("COPY a b DB 1")), vec![1, 2]);
        assert_eq!(find("del").key_positions(&cmdline("DEL a b c")), vec![1, 2, 3]);
    }

    #[test]
    fn scan_walks_everything() {
        let mut h = Harness::new();
        for i in 0..100 {
            h.run(&format!("SET key:{i} v"));
        }
        h.ks.dbs[0].set(b"list", Value::new_list(), h.now_ms);
        if let Some(Value::List(l)) = h.ks.dbs[0].get_mut(b"list", h.now_ms) {
            l.push_back(b"x".to_vec().into_boxed_slice());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut rounds = 0;
        loop {
            let r = h.run(&format!("SCAN {cursor} COUNT 7 MATCH key:* TYPE string"));
            let parts: Vec<&str> = r.split("\r\n").collect();
            cursor = parts[2].to_string();
            for w in parts[4..].iter().filter(|p| p.starts_with("key:")) {
                seen.insert(w.to_string());
            }
            rounds += 1;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
        assert!(rounds > 10);
        assert_eq!(
            h.run("SCAN 0 COUNT 1000 TYPE list"),
            "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlist\r\n"
        );
        // Expired keys are skipped and removed along the way.
        h.run("PEXPIRE key:1 1");
        h.now_ms += 5;
        let r = h.run("SCAN 0 COUNT 1000");
        assert!(r.starts_with("*2\r\n$1\r\n0\r\n*100\r\n"), "{r}");
        assert!(!r.contains("key:1\r\n"));
        // A huge COUNT allocates nothing beyond the table.
        assert!(h
            .run("SCAN 0 COUNT 9223372036854775807")
            .starts_with("*2\r\n$1\r\n0\r\n*100\r\n"));
        let keys = h.run("KEYS key:1?");
        assert!(keys.starts_with("*10\r\n"), "{keys}");
        assert_eq!(h.run_args(&[b"SCAN", b" 1"]), "-ERR invalid cursor\r\n");
    }

    #[test]
    fn cursor_parsing() {
        use super::parse_cursor;
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert!(parse_cursor(b"18446744073709551616").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"1 ").is_err());
        assert!(parse_cursor(b"-").is_err());
    }

    #[test]
    fn sort_scores_like_strtod() {
        use super::sort_score;
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  12"), Some(12.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"-0X1f"), Some(-31.0));
        assert_eq!(sort_score(b"0x1p3"), Some(8.0));
        assert_eq!(sort_score(b"0x.8"), Some(0.5));
        assert_eq!(sort_score(b"0x1.8P-1"), Some(0.75));
        assert_eq!(sort_score(b"1e1"), Some(10.0));
        assert_eq!(sort_score(b".5"), Some(0.5));
        assert_eq!(sort_score(b"+5"), Some(5.0));
        assert_eq!(sort_score(b"-INF"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"12\0junk"), Some(12.0));
        for bad in [
            &b"nan"[..],
            b"1e400",
            b"1e-400",
            b"12 ",
            b" ",
            b"0x",
            b"abc",
            b"1,5",
            b"e5",
        ] {
            assert_eq!(sort_score(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn sort_store_and_propagation() {
        let mut h = script(
            r#"
            !rpush l 3 1 2
            sort l store dst => :3\r\n
            sort dst by nosort => *3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n
            "#,
        );
        assert_eq!(props(&h), vec!["sort l store dst"]);
        h.propagated.clear();
        assert_eq!(h.run("SORT nokey STORE nothing"), ":0\r\n");
        assert!(h.propagated.is_empty());
        assert_eq!(h.run("SORT nokey STORE dst"), ":0\r\n");
        assert_eq!(props(&h), vec!["SORT nokey STORE dst"]);
        assert_eq!(h.run("SORT_RO l"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
    }

    #[test]
    fn sort_by_nosort_is_sticky() {
        script(
            r#"
            !rpush n 3 1 2
            !mset w_3 3 w_1 2 w_2 1
            sort n by nosort by w_* => *3\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n
            sort n by w_* by nosort => *3\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n
            sort n by w_* => *3\r\n$1\r\n2\r\n$1\r\n1\r\n$1\r\n3\r\n
            "#,
        );
    }

    #[test]
    fn sort_binary_patterns() {
        let mut h = Harness::new();
        populate(&mut h, &words("rpush l a b"));
        h.run("SET w_a 2");
        h.run("SET w_b 1");
        // A NUL ends the pattern for the '*' search, as in C.
        assert_eq!(
            h.run_args(&[b"SORT", b"l", b"BY", b"w_\0*"]),
            "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(h.run("SORT l BY w_*"), "*2\r\n$1\r\nb\r\n$1\r\na\r\n");
        assert_eq!(
            h.run("SORT l BY w_* GET # GET w_*"),
            "*4\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n2\r\n"
        );
    }

    #[test]
    fn copy_and_move_across_databases() {
        let mut h = Harness::new();
        h.run("SET k v");
        h.run("EXPIRE k 100");
        let mut out = slotkv_protocol::ReplyWriter::new(ProtocolVersion::Resp2);
        let now = h.now_ms;
        let mut ctx = crate::Ctx::new(&mut h.ks, 0, &mut out, now);
        super::copy(&mut ctx, &cmdline("COPY k k2 DB 3")).unwrap();
        assert_eq!(ctx.touched_extra, vec![(3, b"k2".to_vec().into_boxed_slice())]);
        assert_eq!(ctx.dirty, 1);
        let mut ctx = crate::Ctx::new(&mut h.ks, 0, &mut out, now);
        super::move_cmd(&mut ctx, &cmdline("MOVE k 5")).unwrap();
        assert_eq!(ctx.touched_extra, vec![(5, b"k".to_vec().into_boxed_slice())]);
        assert_eq!(String::from_utf8_lossy(&out.buf), ":1\r\n:1\r\n");
        assert_eq!(h.ks.dbs[3].expire_at(b"k2"), Some(now + 100_000));
        assert_eq!(h.ks.dbs[5].expire_at(b"k"), Some(now + 100_000));
        assert_eq!(h.ks.dbs[0].len(), 0);
        // A copy is deep: changing it leaves the source alone.
        h.db = 5;
        h.run("APPEND k x");
        assert_eq!(h.run("GET k"), "$2\r\nvx\r\n");
        h.db = 3;
        assert_eq!(h.run("GET k2"), "$1\r\nv\r\n");
    }

    #[test]
    fn rename_propagates_only_real_changes() {
        let mut h = Harness::new();
        h.run("SET a 1");
        h.propagated.clear();
        assert_eq!(h.run("RENAME a a"), "+OK\r\n");
        assert_eq!(h.run("RENAMENX a a"), ":0\r\n");
        assert!(h.propagated.is_empty());
        assert_eq!(h.run("RENAME a b"), "+OK\r\n");
        assert_eq!(props(&h), vec!["RENAME a b"]);
        // An expired source is gone.
        h.run("PEXPIRE b 1");
        h.now_ms += 1;
        assert_eq!(h.run("RENAME b c"), "-ERR no such key\r\n");
    }

    /// Differential testing aid: runs the commands in the file named by `SLOTKV_REPLAY`
    /// (one per line, `!` setup lines allowed) and writes each reply, `\r\n` escaped, to
    /// `SLOTKV_REPLAY.out`.
    #[test]
    #[ignore]
    fn replay_file() {
        let Ok(path) = std::env::var("SLOTKV_REPLAY") else {
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let mut h = Harness::new();
        if let Some(now) = std::env::var("SLOTKV_NOW").ok().and_then(|n| n.parse().ok()) {
            h.now_ms = now;
        }
        let mut out = String::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let w = words(line.trim_start_matches('!'));
            if line.starts_with('!') {
                populate(&mut h, &w);
                continue;
            }
            if w.len() == 2 && w[0] == b"select" {
                h.db = std::str::from_utf8(&w[1]).unwrap().parse().unwrap();
                out.push_str("+OK\\r\\n\n");
                continue;
            }
            let args: Vec<&[u8]> = w.iter().map(Vec::as_slice).collect();
            out.push_str(&h.run_args(&args).replace("\r\n", "\\r\\n"));
            out.push('\n');
        }
        std::fs::write(format!("{path}.out"), out).unwrap();
    }
}
