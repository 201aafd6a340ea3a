//! The bitmap command family: strings addressed bit by bit. Bit 0 is the most significant
//! bit of the first byte; reading past the end of a string reads zeros.

use bytes::Bytes;
use slotkv_keyspace::Value;

use crate::args::{int, is};
use crate::flags::*;
use crate::string::get_str;
use crate::{cmd, CmdError, CmdResult, CommandSpec, Ctx, DataFn, Group};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    let g = Group::Bitmap;
    vec![
        cmd("setbit", 4, WRITE | DENYOOM, (1, 1, 1), g, setbit as DataFn)
            .since("2.2.0")
            .summary("Set or clear one bit of a string"),
        cmd("getbit", 3, READONLY | FAST, (1, 1, 1), g, getbit as DataFn)
            .since("2.2.0")
            .summary("Read one bit of a string"),
        cmd("bitcount", -2, READONLY, (1, 1, 1), g, bitcount as DataFn)
            .since("2.6.0")
            .summary("Count the set bits of a string"),
        cmd("bitpos", -3, READONLY, (1, 1, 1), g, bitpos as DataFn)
            .since("2.8.7")
            .summary("Find the first set or clear bit of a string"),
        cmd("bitop", -4, WRITE | DENYOOM, (2, -1, 1), g, bitop as DataFn)
            .since("2.6.0")
            .summary("Combine strings bitwise into a destination key"),
        cmd("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), g, bitfield as DataFn)
            .since("3.2.0")
            .summary("Read, write and increment integers of any width inside a string"),
        cmd(
            "bitfield_ro",
            -2,
            READONLY | FAST,
            (1, 1, 1),
            g,
            bitfield_ro as DataFn,
        )
        .since("6.0.0")
        .summary("Read integers of any width inside a string"),
    ]
}

fn bad_offset() -> CmdError {
    CmdError::BitOffset
}

/// Parses a bit offset. With `hash_bits` (BITFIELD), `#N` means N times the field width.
/// Offsets must address a byte below `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, mult) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) if bits > 0 => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let n = slotkv_protocol::parse_i64(digits).ok_or_else(bad_offset)?;
    let n = n.checked_mul(mult).ok_or_else(bad_offset)?;
    if n < 0 || (n as u64 >> 3) >= ctx.max_bulk as u64 {
        return Err(bad_offset());
    }
    Ok(n as u64)
}

/// Reads the bit at `offset` (zero past the end).
#[inline]
fn bit_at(s: &[u8], offset: u64) -> u64 {
    let byte = usize::try_from(offset >> 3).unwrap_or(usize::MAX);
    match s.get(byte) {
        Some(b) => u64::from((b >> (7 - (offset & 7))) & 1),
        None => 0,
    }
}

/// The string at `key` for a bit write, created or zero-extended so that the byte holding
/// `max_bit` exists. Returns whether the key was created or grew.
fn string_for_write<'c>(
    ctx: &'c mut Ctx<'_>,
    key: &[u8],
    max_bit: u64,
) -> Result<(&'c mut Vec<u8>, bool), CmdError> {
    let need = usize::try_from(max_bit >> 3)
        .ok()
        .and_then(|b| b.checked_add(1))
        .ok_or(CmdError::StringTooLong)?;
    // Offsets are validated against proto-max-bulk-len already (as Redis does, a BITFIELD
    // write may end up to 8 bytes past it); this only guards the allocation.
    if need > ctx.max_bulk.saturating_add(8) {
        return Err(CmdError::StringTooLong);
    }
    // A write lookup: no keyspace hit/miss is counted.
    let existing = match ctx.get_mut(key) {
        None => None,
        Some(Value::Str(s)) => Some(s.len()),
        Some(_) => return Err(CmdError::WrongType),
    };
    let now = ctx.now_ms;
    let v = ctx.db().get_or_insert_with(key, now, || Value::Str(Vec::new()));
    let Value::Str(s) = v else {
        return Err(CmdError::WrongType);
    };
    let mut changed = existing.is_none();
    if s.len() < need {
        s.resize(need, 0);
        changed = true;
    }
    Ok((s, changed))
}

// ---------------------------------------------------------------------------------------
// SETBIT GETBIT

fn setbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    let bad_bit = || CmdError::err("bit is not an integer or out of range");
    let on = slotkv_protocol::parse_i64(&args[3]).ok_or_else(bad_bit)?;
    if on & !1 != 0 {
        return Err(bad_bit());
    }
    let (s, grew) = string_for_write(ctx, &args[1], offset)?;
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let old = s[byte] & mask != 0;
    let changed = grew || old != (on == 1);
    if on == 1 {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    if changed {
        ctx.dirty += 1;
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

fn getbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    let bit = get_str(ctx, &args[1])?.map_or(0, |s| bit_at(s, offset));
    ctx.out.int(bit as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// BITCOUNT BITPOS

/// Normalizes a start/end pair (negative = from the end) over `total` units into an
/// inclusive range; `None` when empty.
fn clamp_range(mut start: i64, mut end: i64, total: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start, end))
}

/// Parses the BYTE|BIT unit argument; true for BIT.
fn unit_is_bit(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Number of set bits in the inclusive bit range `[from, to]` of `s` (within bounds).
fn count_bits(s: &[u8], from: u64, to: u64) -> u64 {
    let (fb, tb) = ((from >> 3) as usize, (to >> 3) as usize);
    let head = 0xffu8 >> (from & 7);
    let tail = 0xffu8 << (7 - (to & 7));
    if fb == tb {
        return u64::from((s[fb] & head & tail).count_ones());
    }
    let edges = u64::from((s[fb] & head).count_ones()) + u64::from((s[tb] & tail).count_ones());
    edges + popcount(&s[fb + 1..tb])
}

/// Set bits in a byte slice, a word at a time.
fn popcount(s: &[u8]) -> u64 {
    let words = s.chunks_exact(8);
    let tail: u64 = words.remainder().iter().map(|b| u64::from(b.count_ones())).sum();
    words.fold(tail, |n, w| {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        n + u64::from(u64::from_ne_bytes(word).count_ones())
    })
}

fn bitcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(s) = get_str(ctx, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let len = s.len() as i64;
    let range = match args.len() {
        2 => (len > 0).then(|| (0, len * 8 - 1)),
        4 | 5 => {
            let start = int(&args[2])?;
            let end = int(&args[3])?;
            let bits = match args.get(4) {
                Some(u) => unit_is_bit(u)?,
                None => false,
            };
            let total = if bits { len * 8 } else { len };
            if start < 0 && end < 0 && start > end {
                None
            } else {
                clamp_range(start, end, total).map(|(a, b)| if bits { (a, b) } else { (a * 8, b * 8 + 7) })
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let n = range.map_or(0, |(a, b)| count_bits(s, a as u64, b as u64));
    ctx.out.int(n as i64);
    Ok(())
}

/// First bit equal to `bit` in the inclusive bit range `[from, to]` of `s` (within bounds).
fn find_bit(s: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
    let skip = if bit { 0x00 } else { 0xff };
    let mut pos = from;
    while pos <= to {
        let byte = (pos >> 3) as usize;
        if pos & 7 == 0 && pos + 7 <= to {
            // Whole byte inside the range: skip it fast when it can't match.
            if s[byte] == skip {
                pos += 8;
                continue;
            }
        }
        if (bit_at(s, pos) == 1) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

fn bitpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let bit = int(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let Some(s) = get_str(ctx, &args[1])? else {
        // A missing key is an endless run of zeros.
        ctx.out.int(if bit == 1 { -1 } else { 0 });
        return Ok(());
    };
    let len = s.len() as i64;
    let mut end_given = false;
    let range = match args.len() {
        3 => (len > 0).then(|| (0, len * 8 - 1)),
        4..=6 => {
            let start = int(&args[3])?;
            let bits = match args.get(5) {
                Some(u) => unit_is_bit(u)?,
                None => false,
            };
            let end = match args.get(4) {
                Some(e) => {
                    end_given = true;
                    int(e)?
                }
                None => i64::MAX,
            };
            let total = if bits { len * 8 } else { len };
            clamp_range(start, end, total).map(|(a, b)| if bits { (a, b) } else { (a * 8, b * 8 + 7) })
        }
        _ => return Err(CmdError::Syntax),
    };
    let Some((from, to)) = range else {
        ctx.out.int(-1);
        return Ok(());
    };
    let pos = match find_bit(s, from as u64, to as u64, bit == 1) {
        Some(p) => p as i64,
        // No 1 in range; for 0 with an open end, the string continues with zeros after
        // the last byte looked at.
        None if bit == 1 || end_given => -1,
        None => ((to >> 3) + 1) * 8,
    };
    ctx.out.int(pos);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// BITOP

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = if is(&args[1], "and") {
        BitOp::And
    } else if is(&args[1], "or") {
        BitOp::Or
    } else if is(&args[1], "xor") {
        BitOp::Xor
    } else if is(&args[1], "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let sources = &args[3..];
    // First pass: types and the result length (missing keys are empty strings).
    let mut maxlen = 0;
    for k in sources {
        if let Some(s) = get_str(ctx, k)? {
            maxlen = maxlen.max(s.len());
        }
    }
    let dest = &args[2];
    let now = ctx.now_ms;
    if maxlen == 0 {
        if ctx.db().delete(dest, now) {
            ctx.dirty += 1;
        }
        ctx.out.int(0);
        return Ok(());
    }
    let mut res = vec![0u8; maxlen];
    let db = &ctx.ks.dbs[ctx.db];
    for (i, k) in sources.iter().enumerate() {
        let src: &[u8] = match db.peek(k, now) {
            Some(Value::Str(s)) => s,
            _ => &[],
        };
        let byte = |j: usize| src.get(j).copied().unwrap_or(0);
        match (op, i) {
            (BitOp::Not, _) => res.iter_mut().enumerate().for_each(|(j, r)| *r = !byte(j)),
            (_, 0) => res.iter_mut().enumerate().for_each(|(j, r)| *r = byte(j)),
            (BitOp::And, _) => res.iter_mut().enumerate().for_each(|(j, r)| *r &= byte(j)),
            (BitOp::Or, _) => res.iter_mut().enumerate().for_each(|(j, r)| *r |= byte(j)),
            (BitOp::Xor, _) => res.iter_mut().enumerate().for_each(|(j, r)| *r ^= byte(j)),
        }
    }
    ctx.db().set(dest, Value::Str(res), now);
    ctx.dirty += 1;
    ctx.out.int(maxlen as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// BITFIELD BITFIELD_RO

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || {
        CmdError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported \
             but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let rest = &arg[1..];
    // The width is read as a C string: anything after a NUL is ignored.
    let rest = match rest.iter().position(|&b| b == 0) {
        Some(i) => &rest[..i],
        None => rest,
    };
    let bits = slotkv_protocol::parse_i64(rest).ok_or_else(err)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

/// Reads `bits` bits at `offset` as an unsigned big-endian integer (zeros past the end).
fn get_field(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |v, i| (v << 1) | bit_at(s, offset + i))
}

/// Writes the low `bits` bits of `v` at `offset` (the string is long enough).
fn set_field(s: &mut [u8], offset: u64, bits: u32, v: u64) {
    for i in 0..u64::from(bits) {
        let pos = offset + i;
        let byte = (pos >> 3) as usize;
        let mask = 1u8 << (7 - (pos & 7));
        if (v >> (u64::from(bits) - 1 - i)) & 1 == 1 {
            s[byte] |= mask;
        } else {
            s[byte] &= !mask;
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Adds `incr` to `base` within a field of `bits` bits. Returns the field's new bits and
/// whether the sum overflowed (the bits then follow the overflow policy; FAIL leaves them
/// unused).
fn field_add(signed: bool, bits: u32, base: i128, incr: i64, ow: Overflow) -> (u64, bool) {
    let (min, max): (i128, i128) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    let exact = base + i128::from(incr);
    let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    if (min..=max).contains(&exact) {
        return (exact as u64 & mask, false);
    }
    let v = match ow {
        Overflow::Sat if exact > max => max as u64,
        Overflow::Sat => min as u64,
        // Two's complement truncation to the field width.
        _ => exact as u64,
    };
    (v & mask, true)
}

fn bitfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, args: &[Bytes], ro_command: bool) -> CmdResult {
    let mut ops: Vec<Field> = Vec::with_capacity((args.len() / 3).min(64));
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        let op = if is(a, "get") && left >= 2 {
            FieldOp::Get
        } else if is(a, "set") && left >= 3 {
            FieldOp::Set
        } else if is(a, "incrby") && left >= 3 {
            FieldOp::IncrBy
        } else if is(a, "overflow") && left >= 1 {
            let t = &args[j + 1];
            overflow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(ctx, &args[j + 2], Some(bits))?;
        let mut value = 0;
        if op != FieldOp::Get {
            let last = offset + u64::from(bits) - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
            value = int(&args[j + 3])?;
        }
        ops.push(Field {
            op,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    let key = &args[1];
    let Some(highest) = highest_write else {
        // Only reads: a missing key reads as zeros.
        let now = ctx.now_ms;
        let s: &[u8] = match ctx.ks.dbs[ctx.db].get(key, now) {
            None => &[],
            Some(Value::Str(s)) => s,
            Some(_) => return Err(CmdError::WrongType),
        };
        ctx.out.array_len(ops.len());
        for f in &ops {
            let v = get_field(s, f.offset, f.bits);
            ctx.out.int(if f.signed {
                sign_extend(v, f.bits)
            } else {
                v as i64
            });
        }
        return Ok(());
    };
    if ro_command {
        return Err(CmdError::err("BITFIELD_RO only supports the GET subcommand"));
    }
    let mut changes = 0u64;
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    let (s, _) = string_for_write(ctx, key, highest)?;
    for f in &ops {
        let old = get_field(s, f.offset, f.bits);
        let as_int = |v: u64| {
            if f.signed {
                sign_extend(v, f.bits)
            } else {
                v as i64
            }
        };
        match f.op {
            FieldOp::Get => replies.push(Some(as_int(old))),
            FieldOp::Set | FieldOp::IncrBy => {
                let (new, over) = if f.op == FieldOp::Set {
                    // Unsigned fields see the value as C's uint64_t cast would.
                    let base = if f.signed {
                        i128::from(f.value)
                    } else {
                        i128::from(f.value as u64)
                    };
                    field_add(f.signed, f.bits, base, 0, f.overflow)
                } else {
                    let base = if f.signed {
                        i128::from(sign_extend(old, f.bits))
                    } else {
                        i128::from(old)
                    };
                    field_add(f.signed, f.bits, base, f.value, f.overflow)
                };
                if over && f.overflow == Overflow::Fail {
                    replies.push(None);
                } else {
                    set_field(s, f.offset, f.bits, new);
                    replies.push(Some(as_int(if f.op == FieldOp::Set { old } else { new })));
                }
                changes += 1;
            }
        }
    }
    ctx.dirty += changes;
    ctx.out.array_len(replies.len());
    for r in replies {
        match r {
            Some(n) => ctx.out.int(n),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::keys::tests::script;

    #[test]
    fn redis_setbit() {
        script(
            r#"
            setbit b 7 1 => :0\r\n
            setbit b 7 1 => :1\r\n
            setbit b 7 0 => :1\r\n
            getbit b 7 => :0\r\n
            strlen b => :1\r\n
            setbit b -1 1 => -ERR bit offset is not an integer or out of range\r\n
            setbit b 4294967296 0 => -ERR bit offset is not an integer or out of range\r\n
            setbit b 1 2 => -ERR bit is not an integer or out of range\r\n
            setbit b 1 -1 => -ERR bit is not an integer or out of range\r\n
            setbit b 1 abc => -ERR bit is not an integer or out of range\r\n
            setbit b abc 1 => -ERR bit offset is not an integer or out of range\r\n
            setbit b 1.5 1 => -ERR bit offset is not an integer or out of range\r\n
            setbit b 01 1 => -ERR bit offset is not an integer or out of range\r\n
            getbit b 100 => :0\r\n
            getbit nokey 1 => :0\r\n
            getbit b -1 => -ERR bit offset is not an integer or out of range\r\n
            getbit b abc => -ERR bit offset is not an integer or out of range\r\n
            getbit b 4294967296 => -ERR bit offset is not an integer or out of range\r\n
            getbit b 4294967295 => :0\r\n
            !set n 12345
            getbit n 2 => :1\r\n
            getbit n 3 => :1\r\n
            setbit n 0 1 => :0\r\n
            getbit n 0 => :1\r\n
            !rpush l a
            setbit l 0 1 => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            getbit l 0 => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            setbit l abc 1 => -ERR bit offset is not an integer or out of range\r\n
            getbit l abc => -ERR bit offset is not an integer or out of range\r\n
            !set e x
            expire e 100 => :1\r\n
            setbit e 100 1 => :0\r\n
            ttl e => :100\r\n
            strlen e => :13\r\n
            "#,
        );
    }

    #[test]
    fn redis_bitcount() {
        script(
            r#"
            !set s foobar
            bitcount s => :26\r\n
            bitcount s 0 0 => :4\r\n
            bitcount s 1 1 => :6\r\n
            bitcount s 1 1 BIT => :1\r\n
            bitcount s 1 1 byte => :6\r\n
            bitcount s 5 30 BIT => :17\r\n
            bitcount s 5 30 bit foo => -ERR syntax error\r\n
            bitcount s 0 => -ERR syntax error\r\n
            bitcount s 0 1 foo => -ERR syntax error\r\n
            bitcount s 0 1 2 3 => -ERR syntax error\r\n
            bitcount nokey 0 => :0\r\n
            bitcount nokey a b => :0\r\n
            bitcount s a b => -ERR value is not an integer or out of range\r\n
            bitcount s 0 b => -ERR value is not an integer or out of range\r\n
            bitcount s -1 -2 => :0\r\n
            bitcount s -2 -1 => :7\r\n
            bitcount s -100 -1 => :26\r\n
            bitcount s -100 -1 bit => :26\r\n
            bitcount s 0 -1 bit => :26\r\n
            bitcount s 3 2 => :0\r\n
            bitcount s 100 200 => :0\r\n
            bitcount s -9223372036854775808 9223372036854775807 => :26\r\n
            bitcount s -9223372036854775808 9223372036854775807 bit => :26\r\n
            bitcount s 9 9 bit => :1\r\n
            bitcount s 47 47 bit => :0\r\n
            bitcount s 46 47 bit => :1\r\n
            !set e ""
            bitcount e => :4\r\n
            bitcount e 0 -1 => :4\r\n
            bitcount e 0 -1 bit => :4\r\n
            !rpush l a
            bitcount l => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            bitcount l 0 => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            !set num 12345
            bitcount num => :17\r\n
            bitpos s 1 => :1\r\n
            bitpos s 0 => :0\r\n
            bitpos s 2 => -ERR The bit argument must be 1 or 0.\r\n
            bitpos s a => -ERR value is not an integer or out of range\r\n
            bitpos nokey 0 => :0\r\n
            bitpos nokey 1 => :-1\r\n
            bitpos nokey 2 => -ERR The bit argument must be 1 or 0.\r\n
            bitpos nokey 0 abc => :0\r\n
            bitpos s 0 abc => -ERR value is not an integer or out of range\r\n
            bitpos s 0 1 bit => -ERR value is not an integer or out of range\r\n
            bitpos s 0 1 2 foo => -ERR syntax error\r\n
            bitpos s 1 0 1 2 3 => -ERR syntax error\r\n
            bitpos s 1 2 1 => :-1\r\n
            bitpos s 1 -1 => :41\r\n
            bitpos s 0 -1 => :40\r\n
            bitpos s 1 -100 => :1\r\n
            bitpos s 0 6 => :-1\r\n
            bitpos s 1 3 -1 bit => :5\r\n
            bitpos s 1 3 4 bit => :-1\r\n
            bitpos s 0 3 4 bit => :3\r\n
            bitpos s 0 0 0 bit => :0\r\n
            bitpos s 1 1 1 byte => :9\r\n
            bitpos s 1 10 47 bit => :10\r\n
            bitpos s 0 40 47 bit => :40\r\n
            bitpos e 0 => :0\r\n
            bitpos e 1 => :2\r\n
            bitpos e 0 0 => :0\r\n
            bitpos e 0 0 -1 => :0\r\n
            bitpos l 0 => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            bitpos num 1 => :2\r\n
            bitpos num 0 2 => :16\r\n
            "#,
        );
    }

    #[test]
    fn redis_bitop() {
        script(
            r#"
            !set a \xf0\x0f
            !set b \xff
            bitop and d a b => :2\r\n
            strlen d => :2\r\n
            bitcount d => :4\r\n
            getbit d 0 => :1\r\n
            getbit d 7 => :0\r\n
            getbit d 12 => :0\r\n
            bitop or d a b => :2\r\n
            bitcount d => :12\r\n
            bitop xor d a b nokey => :2\r\n
            bitcount d => :8\r\n
            bitpos d 1 => :4\r\n
            bitop not d a => :2\r\n
            bitpos d 1 => :4\r\n
            bitcount d => :8\r\n
            bitop NOT d b => :1\r\n
            bitcount d => :0\r\n
            bitop not d a b => -ERR BITOP NOT must be called with a single source key.\r\n
            bitop not d => -ERR wrong number of arguments for 'bitop' command\r\n
            bitop foo d a => -ERR syntax error\r\n
            bitop andx d a => -ERR syntax error\r\n
            bitop and d nokey nokey2 => :0\r\n
            exists d => :0\r\n
            !set d x
            expire d 100 => :1\r\n
            bitop or d a => :2\r\n
            ttl d => :-1\r\n
            !sadd s m
            bitop and d nokey s => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            bitop and d s => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            bitop or d a s => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            bitop not d nokey => :0\r\n
            exists d => :0\r\n
            bitop and a a b => :2\r\n
            strlen a => :2\r\n
            bitcount a => :4\r\n
            bitop xor x a => :2\r\n
            bitop and => -ERR wrong number of arguments for 'bitop' command\r\n
            bitop and d => -ERR wrong number of arguments for 'bitop' command\r\n
            "#,
        );
    }

    #[test]
    fn redis_bitfield() {
        script(
            r#"
            bitfield k => *0\r\n
            bitfield k get i8 0 => *1\r\n:0\r\n
            exists k => :0\r\n
            bitfield k set i8 0 -1 get u8 0 get i4 4 incrby u2 100 1 => *4\r\n:0\r\n:255\r\n:-1\r\n:1\r\n
            strlen k => :13\r\n
            bitfield k overflow sat set u8 0 -1 => *1\r\n:255\r\n
            bitfield k overflow wrap set u8 0 -1 set i8 8 200 get i8 8 => *3\r\n:255\r\n:0\r\n:-56\r\n
            bitfield k overflow sat set i8 8 200 set i8 16 -200 get i8 16 => *3\r\n:-56\r\n:0\r\n:-128\r\n
            bitfield k overflow fail incrby u8 0 10 incrby u8 0 -300 get u8 0 => *3\r\n$-1\r\n$-1\r\n:255\r\n
            bitfield k overflow sat incrby u8 0 -300 incrby i64 32 9223372036854775807 incrby i64 32 1 => *3\r\n:0\r\n:9223372036854775807\r\n:9223372036854775807\r\n
            bitfield k incrby i64 32 1 => *1\r\n:-9223372036854775808\r\n
            bitfield k overflow wrap incrby u63 200 -1 => *1\r\n:9223372036854775807\r\n
            bitfield k overflow sat incrby u63 200 1 => *1\r\n:9223372036854775807\r\n
            bitfield k overflow fail incrby u63 200 1 => *1\r\n$-1\r\n
            bitfield k overflow wrap incrby i64 32 -1 incrby i64 32 -9223372036854775808 => *2\r\n:9223372036854775807\r\n:-1\r\n
            bitfield k overflow sat incrby i64 32 -9223372036854775808 => *1\r\n:-9223372036854775808\r\n
            bitfield k overflow wrap set i64 32 -9223372036854775808 incrby i64 32 -1 => *2\r\n:-9223372036854775808\r\n:9223372036854775807\r\n
            bitfield k set u63 300 -1 get u63 300 => *2\r\n:0\r\n:9223372036854775807\r\n
            bitfield k overflow sat set u63 300 -1 get u63 300 => *2\r\n:9223372036854775807\r\n:9223372036854775807\r\n
            bitfield k overflow fail set u63 300 -1 get u63 300 => *2\r\n$-1\r\n:9223372036854775807\r\n
            bitfield k overflow fail set i3 0 3 set i3 0 4 set i3 0 -4 set i3 0 -5 get i3 0 => *5\r\n:0\r\n$-1\r\n:3\r\n$-1\r\n:-4\r\n
            bitfield k overflow wrap set i3 0 5 get i3 0 set u3 0 9 get u3 0 => *4\r\n:-4\r\n:-3\r\n:5\r\n:1\r\n
            bitfield k overflow sat set i3 0 5 get i3 0 set u3 0 9 get u3 0 set i1 0 -1 get i1 0 set i1 0 1 get i1 0 => *8\r\n:1\r\n:3\r\n:3\r\n:7\r\n:-1\r\n:-1\r\n:-1\r\n:0\r\n
            bitfield k get u1 0 get i1 0 get u64 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get u64 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get i65 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get u0 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get i0 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get I8 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get x8 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get i08 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get i 0 => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get i8 -1 => -ERR bit offset is not an integer or out of range\r\n
            bitfield k get i8 #2 => *1\r\n:-128\r\n
            bitfield k set i8 #1 5 get i8 #1 get u8 8 => *3\r\n:127\r\n:5\r\n:5\r\n
            bitfield k get i8 #-1 => -ERR bit offset is not an integer or out of range\r\n
            bitfield k get i8 #abc => -ERR bit offset is not an integer or out of range\r\n
            bitfield k get i8 ##1 => -ERR bit offset is not an integer or out of range\r\n
            bitfield k get i8 4294967296 => -ERR bit offset is not an integer or out of range\r\n
            bitfield k get i8 4294967295 => *1\r\n:0\r\n
            bitfield k get i8 #536870911 => *1\r\n:0\r\n
            bitfield k get i8 #536870912 => -ERR bit offset is not an integer or out of range\r\n
            bitfield k get u63 #68174084 => *1\r\n:0\r\n
            bitfield k get i2 #2147483648 => -ERR bit offset is not an integer or out of range\r\n
            bitfield k get i2 #2147483647 => *1\r\n:0\r\n
            bitfield k overflow foo get i8 0 => -ERR Invalid OVERFLOW type specified\r\n
            bitfield k overflow => -ERR syntax error\r\n
            bitfield k get i8 => -ERR syntax error\r\n
            bitfield k foo => -ERR syntax error\r\n
            bitfield k set i8 0 => -ERR syntax error\r\n
            bitfield k incrby i8 0 => -ERR syntax error\r\n
            bitfield k set i8 0 abc => -ERR value is not an integer or out of range\r\n
            bitfield k set x8 0 abc => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n
            bitfield k get i8 0 get => -ERR syntax error\r\n
            bitfield_ro k get i8 0 => *1\r\n:96\r\n
            bitfield_ro k set i8 0 1 => -ERR BITFIELD_RO only supports the GET subcommand\r\n
            bitfield_ro k incrby i8 0 1 => -ERR BITFIELD_RO only supports the GET subcommand\r\n
            bitfield_ro k set i8 0 abc => -ERR value is not an integer or out of range\r\n
            bitfield_ro k overflow fail get i8 0 => *1\r\n:96\r\n
            bitfield_ro k => *0\r\n
            bitfield_ro nokey get u8 0 => *1\r\n:0\r\n
            bitfield nokey2 overflow fail incrby i8 0 200 => *1\r\n$-1\r\n
            exists nokey2 => :1\r\n
            strlen nokey2 => :1\r\n
            !sadd zz a
            bitfield zz get i8 0 => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            bitfield zz set i8 0 1 => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            bitfield_ro zz get i8 0 => -WRONGTYPE Operation against a key holding the wrong kind of value\r\n
            !set e x
            expire e 100 => :1\r\n
            bitfield e set u8 100 1 => *1\r\n:0\r\n
            ttl e => :100\r\n
            strlen e => :14\r\n
            bitfield => -ERR wrong number of arguments for 'bitfield' command\r\n
            "#,
        );
    }

    use bytes::Bytes;
    use slotkv_keyspace::Value;
    use slotkv_protocol::{ProtocolVersion, ReplyWriter};

    use crate::testing::Harness;
    use crate::Ctx;

    fn args(s: &str) -> Vec<Bytes> {
        s.split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn raw(h: &mut Harness, key: &[u8]) -> Vec<u8> {
        match h.ks.dbs[h.db].peek(key, h.now_ms) {
            Some(Value::Str(s)) => s.clone(),
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn setbit_propagates_only_changes() {
        let mut h = Harness::new();
        assert_eq!(h.run("SETBIT k 7 1"), ":0\r\n");
        assert_eq!(h.run("SETBIT k 7 1"), ":1\r\n");
        assert_eq!(h.run("SETBIT k 3 0"), ":0\r\n");
        assert_eq!(h.propagated.len(), 1);
        // Growing the string is a change even when the bit written is 0.
        assert_eq!(h.run("SETBIT k 20 0"), ":0\r\n");
        assert_eq!(h.propagated.len(), 2);
        assert_eq!(raw(&mut h, b"k"), vec![1, 0, 0]);
        assert_eq!(h.run("SETBIT new 0 0"), ":0\r\n");
        assert_eq!(h.propagated.len(), 3);
        assert_eq!(raw(&mut h, b"new"), vec![0]);
    }

    #[test]
    fn bitop_bytes() {
        let mut h = Harness::new();
        h.run_args(&[b"SET", b"a", b"\xf0\x0f\x55"]);
        h.run_args(&[b"SET", b"b", b"\xff\x01"]);
        assert_eq!(h.run("BITOP AND d a b"), ":3\r\n");
        assert_eq!(raw(&mut h, b"d"), b"\xf0\x01\x00");
        assert_eq!(h.run("BITOP OR d a b"), ":3\r\n");
        assert_eq!(raw(&mut h, b"d"), b"\xff\x0f\x55");
        assert_eq!(h.run("BITOP XOR d a b a"), ":3\r\n");
        assert_eq!(raw(&mut h, b"d"), b"\xff\x01\x00");
        assert_eq!(h.run("BITOP NOT d a"), ":3\r\n");
        assert_eq!(raw(&mut h, b"d"), b"\x0f\xf0\xaa");
        assert_eq!(h.run("BITOP AND d a nokey"), ":3\r\n");
        assert_eq!(raw(&mut h, b"d"), b"\x00\x00\x00");
        h.propagated.clear();
        assert_eq!(h.run("BITOP OR nothing nokey"), ":0\r\n");
        assert!(h.propagated.is_empty());
    }

    #[test]
    fn bitfield_counts_changes_and_resp3_null() {
        let mut h = Harness::new();
        h.version = ProtocolVersion::Resp3;
        assert_eq!(
            h.run("BITFIELD k OVERFLOW FAIL INCRBY u2 0 7 SET u2 0 1 GET u2 0"),
            "*3\r\n_\r\n:0\r\n:1\r\n"
        );
        assert_eq!(h.propagated.len(), 1);
        h.propagated.clear();
        assert_eq!(h.run("BITFIELD k GET u2 0"), "*1\r\n:1\r\n");
        assert!(h.propagated.is_empty());
        let mut out = ReplyWriter::new(ProtocolVersion::Resp2);
        let mut ctx = Ctx::new(&mut h.ks, 0, &mut out, 0);
        super::bitfield(&mut ctx, &args("BITFIELD k SET u8 0 1 INCRBY u8 0 1 GET u8 0")).unwrap();
        assert_eq!(ctx.dirty, 2);
    }

    #[test]
    fn offsets_respect_proto_max_bulk_len() {
        let mut h = Harness::new();
        let mut out = ReplyWriter::new(ProtocolVersion::Resp2);
        let mut ctx = Ctx::new(&mut h.ks, 0, &mut out, 0);
        ctx.max_bulk = 4;
        let e = super::setbit(&mut ctx, &args("SETBIT k 32 1")).unwrap_err();
        assert_eq!(e.to_string(), "ERR bit offset is not an integer or out of range");
        super::setbit(&mut ctx, &args("SETBIT k 31 1")).unwrap();
        let e = super::getbit(&mut ctx, &args("GETBIT k 32")).unwrap_err();
        assert_eq!(e, crate::CmdError::BitOffset);
        // A field may end a few bytes past the limit, as in Redis.
        super::bitfield(&mut ctx, &args("BITFIELD k SET i64 31 -1")).unwrap();
        let e = super::bitfield(&mut ctx, &args("BITFIELD k SET i8 #4 1")).unwrap_err();
        assert_eq!(e, crate::CmdError::BitOffset);
        drop(ctx);
        assert_eq!(
            String::from_utf8_lossy(&out.buf),
            ":0\r\n*1\r\n:-9223372036854775808\r\n"
        );
        assert_eq!(raw(&mut h, b"k").len(), 12);
    }

    #[test]
    fn bitpos_and_bitcount_on_long_strings() {
        let mut h = Harness::new();
        let mut v = vec![0u8; 1000];
        v[700] = 0x10;
        h.ks.dbs[0].set(b"z", Value::Str(v), 0);
        assert_eq!(h.run("BITPOS z 1"), ":5603\r\n");
        assert_eq!(h.run("BITPOS z 1 701"), ":-1\r\n");
        assert_eq!(h.run("BITPOS z 0 5600 5610 BIT"), ":5600\r\n");
        assert_eq!(h.run("BITPOS z 1 5600 5610 BIT"), ":5603\r\n");
        assert_eq!(h.run("BITCOUNT z"), ":1\r\n");
        assert_eq!(h.run("BITCOUNT z 5604 -1 BIT"), ":0\r\n");
        h.ks.dbs[0].set(b"o", Value::Str(vec![0xff; 1000]), 0);
        assert_eq!(h.run("BITPOS o 0"), ":8000\r\n");
        assert_eq!(h.run("BITPOS o 0 10"), ":8000\r\n");
        assert_eq!(h.run("BITPOS o 0 10 -1"), ":-1\r\n");
        assert_eq!(h.run("BITCOUNT o 1 -2"), ":7984\r\n");
    }
}
