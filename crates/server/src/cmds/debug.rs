//! DEBUG: testing and inspection helpers, guarded by `enable-debug-command`.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use slotkv_commands::{CmdError, CmdResult};
use slotkv_keyspace::{Keyspace, Value};
use slotkv_protocol::ReplyWriter;

use super::*;
use crate::exec::SrvCtx;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let h = |f: SrvFn| Handler::Srv(f);
    vec![cmd(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        h(debug),
    )
    .summary("A container for debugging commands")
    .complexity("Depends on subcommand.")]
}

const REFUSED: &str = "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Largest value DEBUG POPULATE creates per key.
const MAX_POPULATE_SIZE: u64 = 512 * 1024 * 1024;

fn allowed(s: &SrvCtx<'_>) -> bool {
    let mode = s.shared.config.read().get_str("enable-debug-command");
    match mode.as_str() {
        "yes" => true,
        "local" => {
            let ip = s.conn.handle.addr.ip();
            ip.is_loopback()
                || matches!(ip, std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))
        }
        _ => false,
    }
}

fn debug(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if !allowed(s) {
        return Err(CmdError::err(REFUSED));
    }
    let sub = args[1].to_ascii_lowercase();
    let n = args.len();
    match (sub.as_slice(), n) {
        (b"help", 2) => help(s.data.out),
        (b"sleep", 3) => {
            let secs = slotkv_protocol::parse_f64(&args[2]).unwrap_or(0.0);
            let secs = if secs.is_finite() {
                secs.clamp(0.0, 1e7)
            } else {
                0.0
            };
            // Like Redis, the whole server stops: the core lock is held while sleeping.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            s.data.out.ok();
        }
        (b"set-active-expire", 3) => {
            let on = slotkv_protocol::parse_i64(&args[2]).unwrap_or(0) != 0;
            s.shared.active_expire.store(on, Ordering::Relaxed);
            s.data.out.ok();
        }
        (b"digest", 2) => {
            let d = dataset_digest(s.data.ks, s.data.now_ms);
            s.data.out.simple(&hex(&d));
        }
        (b"digest-value", _) => {
            let now = s.data.now_ms;
            let db = s.data.db;
            let digests: Vec<[u8; 20]> = args[2..]
                .iter()
                .map(|k| s.data.ks.dbs[db].peek(k, now).map_or([0u8; 20], value_digest))
                .collect();
            s.data.out.array_len(digests.len());
            for d in digests {
                s.data.out.simple(&hex(&d));
            }
        }
        (b"populate", 3..=5) => populate(s, args)?,
        (b"object", 3) => object(s, &args[2])?,
        (b"protocol", 3) => protocol(s.data.out, &args[2])?,
        (b"change-repl-id", 2) => {
            crate::replication::change_replid(s.rest);
            s.data.out.ok();
        }
        (b"quicklist-packed-threshold", 3) => {
            let v = slotkv_protocol::parse_i64(&args[2]).unwrap_or(-1);
            if !(0..=(1i64 << 32)).contains(&v) {
                return Err(CmdError::err(
                    "argument must be a memory value bigger than 1 and smaller than 4gb",
                ));
            }
            s.data.out.ok();
        }
        (b"log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
            s.data.out.ok();
        }
        (b"error", 3) => return Err(CmdError::Raw(String::from_utf8_lossy(&args[2]).into_owned())),
        (b"drop-cluster-packet-filter", 3) => {
            let t = slotkv_protocol::parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
            if let Some(shell) = s.shared.cluster.get() {
                // Redis compares the 16-bit type with the value: -1 (or anything that is
                // not a type number) matches nothing.
                shell.state.lock().drop_filter = u16::try_from(t).ok();
            }
            s.data.out.ok();
        }
        (b"clusterlink", 5) if args[2].eq_ignore_ascii_case(b"kill") => clusterlink_kill(s, args)?,
        (b"cluster-isolate", 3..) => cluster_isolate(s, &args[2..])?,
        (b"reload", _) => {
            crate::persist::reload(s.shared, s.data.ks, s.rest).map_err(CmdError::Raw)?;
            s.data.out.ok();
        }
        _ => {
            return Err(CmdError::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&args[1])
            )))
        }
    }
    Ok(())
}

fn help(out: &mut ReplyWriter) {
    super::server::help_reply(
        out,
        "DEBUG",
        &[
            "CHANGE-REPL-ID",
            "    Change the replication IDs of the instance.",
            "    Dangerous: should be used only for testing the replication subsystem.",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "DROP-CLUSTER-PACKET-FILTER <packet-type>",
            "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "CLUSTERLINK KILL <to|from|all> <node-id>",
            "    Kills the link based on the direction to/from (both) with the provided node.",
            "CLUSTER-ISOLATE <node-id> [<node-id> ...] | NONE",
            "    (slotkv) Cut this node off from the given nodes on the cluster bus: send them",
            "    nothing, open no link to them, discard what they send. Replaces the previous",
            "    set; NONE clears it. Client and replication connections are not affected.",
        ],
    );
}

/// The cluster shell, or Redis's error for a cluster-only DEBUG subcommand.
fn cluster_shell(s: &SrvCtx<'_>) -> Result<std::sync::Arc<crate::cluster::ClusterShell>, CmdError> {
    s.shared
        .cluster
        .get()
        .cloned()
        .ok_or_else(|| CmdError::err("Debug option only available for cluster mode enabled setup!"))
}

/// DEBUG CLUSTERLINK KILL <to|from|all> <node-id>. Redis 7.0 checks the node before the
/// direction, and after "Unknown direction" it also sends +OK (two replies to one
/// command, which desynchronises clients); slotkv sends the error only.
fn clusterlink_kill(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let shell = cluster_shell(s)?;
    let mut state = shell.state.lock();
    let node = super::cluster::lookup(&state, &args[4])?;
    let dir = args[3].to_ascii_lowercase();
    let (to, from) = match dir.as_slice() {
        b"to" => (true, false),
        b"from" => (false, true),
        b"all" => (true, true),
        _ => {
            return Err(CmdError::err(format!(
                "Unknown direction {}",
                String::from_utf8_lossy(&args[3])
            )))
        }
    };
    shell.kill_links(&mut state, node, to, from);
    s.data.out.ok();
    Ok(())
}

/// DEBUG CLUSTER-ISOLATE <node-id> [<node-id> ...] | NONE (slotkv only): every id must be
/// a known node; the new set replaces the old one.
fn cluster_isolate(s: &mut SrvCtx<'_>, ids: &[Bytes]) -> CmdResult {
    let shell = cluster_shell(s)?;
    let mut state = shell.state.lock();
    let nodes = if ids.len() == 1 && ids[0].eq_ignore_ascii_case(b"none") {
        std::collections::HashSet::new()
    } else {
        ids.iter()
            .map(|id| super::cluster::lookup(&state, id))
            .collect::<Result<_, _>>()?
    };
    tracing::warn!(
        "DEBUG CLUSTER-ISOLATE: cut off from {} node(s) on the cluster bus",
        nodes.len()
    );
    shell.set_isolated(&mut state, nodes);
    s.data.out.ok();
    Ok(())
}

fn positive(arg: &[u8]) -> Result<u64, CmdError> {
    match slotkv_protocol::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::NotPositive),
    }
}

/// The value DEBUG POPULATE stores for key number `i`.
pub fn populate_value(i: u64, size: u64) -> Vec<u8> {
    let mut v = format!("value:{i}").into_bytes();
    if size > 0 {
        v.resize(size as usize, 0);
    }
    v
}

fn populate(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let count = positive(&args[2])?;
    let prefix: &[u8] = args.get(3).map_or(&b"key"[..], |p| &p[..]);
    let size = match args.get(4) {
        Some(a) => positive(a)?,
        None => 0,
    };
    if size > MAX_POPULATE_SIZE {
        return Err(CmdError::err("DEBUG POPULATE size is too large"));
    }
    let now = s.data.now_ms;
    let db = s.data.db();
    // Sized once up front, as Redis does, rather than grown (and copied) step by step.
    let additional = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .saturating_sub(db.len());
    if db.try_reserve(additional).is_err() {
        return Err(CmdError::err("OOM in dictTryExpand"));
    }
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for i in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(i.to_string().as_bytes());
        if db.peek(&key, now).is_some() {
            continue;
        }
        db.set(&key, Value::Str(populate_value(i, size)), now);
    }
    s.data.out.ok();
    Ok(())
}

/// An approximation of the RDB-serialised length of a value.
fn serialized_len(v: &Value) -> usize {
    match v {
        Value::Str(b) => {
            if b.len() <= 11 && slotkv_protocol::parse_i64(b).is_some() {
                2
            } else {
                b.len() + 1
            }
        }
        Value::List(l) => 4 + l.iter().map(|e| e.len() + 1).sum::<usize>(),
        Value::Hash(h) => 4 + h.iter().map(|(f, v)| f.len() + v.len() + 2).sum::<usize>(),
        Value::Set(st) => 4 + st.iter().map(|m| m.len() + 1).sum::<usize>(),
        Value::ZSet(z) => 4 + z.iter().map(|(m, _)| m.len() + 9).sum::<usize>(),
    }
}

/// The DEBUG OBJECT line for a value.
pub fn object_line(v: &Value, encoding: &str, lru: u64, idle: u64) -> String {
    // A stable pseudo-address: Rust values have no meaningful address to show.
    let addr = 0x7f00_0000_0000u64 | (std::ptr::from_ref(v) as usize as u64 & 0xff_ffff_fff0);
    let mut line = format!(
        "Value at:0x{addr:x} refcount:1 encoding:{encoding} serializedlength:{} lru:{lru} lru_seconds_idle:{idle}",
        serialized_len(v)
    );
    if let Value::List(l) = v {
        let bytes: usize = l.iter().map(|e| e.len() + 1).sum();
        let nodes = l.len().div_ceil(128).max(1);
        line.push_str(&format!(
            " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{}",
            l.len() as f64 / nodes as f64,
            bytes + 7 * nodes
        ));
    }
    line
}

fn object(s: &mut SrvCtx<'_>, key: &[u8]) -> CmdResult {
    let now = s.data.now_ms;
    let limits = s.data.ks.limits;
    let db = &s.data.ks.dbs[s.data.db];
    let Some(v) = db.peek(key, now) else {
        return Err(CmdError::NoSuchKey);
    };
    let idle = db.idle_seconds(key, now).unwrap_or(0);
    let lru = ((now / 1000) as u64).wrapping_sub(idle) & ((1 << 24) - 1);
    let line = object_line(v, v.encoding(&limits), lru, idle);
    s.data.out.simple(&line);
    Ok(())
}

fn protocol(out: &mut ReplyWriter, what: &[u8]) -> CmdResult {
    let r3 = out.resp3();
    match what.to_ascii_lowercase().as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        b"double" => out.raw(if r3 { b",3.141\r\n" } else { b"$5\r\n3.141\r\n" }),
        b"bignum" => {
            if r3 {
                out.raw(b"(1234567999999999999999999999999999999\r\n");
            } else {
                out.bulk(b"1234567999999999999999999999999999999");
            }
        }
        b"null" => out.null(),
        b"array" => {
            out.array_len(3);
            for i in 0..3 {
                out.int(i);
            }
        }
        b"set" => {
            out.set_len(3);
            for i in 0..3 {
                out.int(i);
            }
        }
        b"map" => {
            out.map_len(3);
            for i in 0..3 {
                out.int(i);
                out.boolean(i == 1);
            }
        }
        b"attrib" => {
            if r3 {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array_len(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !r3 {
                return Err(CmdError::err("RESP2 is not supported by this command"));
            }
            out.push_len(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"verbatim" => out.verbatim("txt", b"This is a verbatim\nstring"),
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        _ => {
            return Err(CmdError::err(
                "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

fn hex(d: &[u8; 20]) -> String {
    let mut s = String::with_capacity(40);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = sha1_smol::Sha1::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.digest().bytes()
}

fn xor_into(acc: &mut [u8; 20], d: &[u8; 20]) {
    for (a, b) in acc.iter_mut().zip(d) {
        *a ^= b;
    }
}

/// Digest of one value: independent of the internal order of hashes and sets.
pub fn value_digest(v: &Value) -> [u8; 20] {
    match v {
        Value::Str(b) => sha1(&[b"string", b]),
        Value::List(l) => {
            let mut h = sha1_smol::Sha1::new();
            h.update(b"list");
            for e in l.iter() {
                h.update(&(e.len() as u64).to_le_bytes());
                h.update(e);
            }
            h.digest().bytes()
        }
        Value::Set(st) => {
            let mut acc = [0u8; 20];
            for m in st.iter() {
                xor_into(&mut acc, &sha1(&[m]));
            }
            sha1(&[b"set", &acc])
        }
        Value::Hash(hm) => {
            let mut acc = [0u8; 20];
            for (f, val) in hm.iter() {
                xor_into(&mut acc, &sha1(&[f, val]));
            }
            sha1(&[b"hash", &acc])
        }
        Value::ZSet(z) => {
            let mut h = sha1_smol::Sha1::new();
            h.update(b"zset");
            for (m, score) in z.iter() {
                h.update(&(m.len() as u64).to_le_bytes());
                h.update(m);
                h.update(&score.to_bits().to_le_bytes());
            }
            h.digest().bytes()
        }
    }
}

/// DEBUG DIGEST: all zeros for an empty dataset, else the XOR over every key of a digest
/// of (db, key, value, expire), so the result does not depend on iteration order.
pub fn dataset_digest(ks: &Keyspace, now_ms: i64) -> [u8; 20] {
    let mut acc = [0u8; 20];
    for (i, db) in ks.dbs.iter().enumerate() {
        let dbid = (i as u64).to_le_bytes();
        for (k, v, exp) in db.iter_with_expiry(now_ms) {
            let vd = value_digest(v);
            let e = exp.unwrap_or(-1).to_le_bytes();
            xor_into(&mut acc, &sha1(&[&dbid, k, &vd, &e]));
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_empty_is_zero_and_order_independent() {
        let mut a = Keyspace::new(2);
        assert_eq!(hex(&dataset_digest(&a, 0)), "0".repeat(40));
        let mut b = Keyspace::new(2);
        a.dbs[0].set(b"x", Value::Str(b"1".to_vec()), 0);
        a.dbs[0].set(b"y", Value::Str(b"2".to_vec()), 0);
        b.dbs[0].set(b"y", Value::Str(b"2".to_vec()), 0);
        b.dbs[0].set(b"x", Value::Str(b"1".to_vec()), 0);
        assert_eq!(dataset_digest(&a, 0), dataset_digest(&b, 0));
        assert_ne!(dataset_digest(&a, 0), [0u8; 20]);
        b.dbs[0].set_expire(b"x", 1000);
        assert_ne!(dataset_digest(&a, 0), dataset_digest(&b, 0));
        // Same key in another db differs.
        let mut c = Keyspace::new(2);
        c.dbs[1].set(b"x", Value::Str(b"1".to_vec()), 0);
        c.dbs[1].set(b"y", Value::Str(b"2".to_vec()), 0);
        assert_ne!(dataset_digest(&a, 0), dataset_digest(&c, 0));
    }

    #[test]
    fn set_digest_ignores_insertion_order() {
        let mut s1 = slotkv_keyspace::SetValue::default();
        s1.insert(b"a".to_vec().into_boxed_slice());
        s1.insert(b"b".to_vec().into_boxed_slice());
        let mut s2 = slotkv_keyspace::SetValue::default();
        s2.insert(b"b".to_vec().into_boxed_slice());
        s2.insert(b"a".to_vec().into_boxed_slice());
        assert_eq!(
            value_digest(&Value::Set(Box::new(s1))),
            value_digest(&Value::Set(Box::new(s2)))
        );
    }

    #[test]
    fn populate_values() {
        assert_eq!(populate_value(3, 0), b"value:3");
        assert_eq!(populate_value(3, 2), b"va");
        let v = populate_value(0, 10);
        assert_eq!(&v[..7], b"value:0");
        assert_eq!(&v[7..], &[0, 0, 0]);
    }
}
