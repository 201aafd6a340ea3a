//! Server commands: keyspace-wide operations, introspection and administration.

use bytes::Bytes;
use slotkv_commands::args::{int, is};
use slotkv_commands::{CmdError, CmdResult};
use slotkv_protocol::ReplyWriter;

use super::*;
use crate::exec::{Action, SrvCtx};
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Server;
    let h = |f: SrvFn| Handler::Srv(f);
    vec![
        cmd("dbsize", 1, READONLY | FAST, (0, 0, 0), g, h(dbsize)).acl(&["@keyspace"]),
        cmd("flushdb", -1, WRITE, (0, 0, 0), g, h(flushdb)).acl(&["@keyspace", "@dangerous"]),
        cmd("flushall", -1, WRITE, (0, 0, 0), g, h(flushall)).acl(&["@keyspace", "@dangerous"]),
        cmd("time", 1, LOADING | STALE | FAST, (0, 0, 0), g, h(time)).since("2.6.0"),
        cmd(
            "shutdown",
            -1,
            ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(shutdown),
        ),
        cmd(
            "monitor",
            1,
            ADMIN | NOSCRIPT | LOADING | STALE,
            (0, 0, 0),
            g,
            h(monitor),
        ),
        cmd(
            "role",
            1,
            NOSCRIPT | LOADING | STALE | FAST,
            (0, 0, 0),
            g,
            h(role),
        )
        .since("2.8.12")
        .acl(&["@admin", "@dangerous"]),
        cmd("lastsave", 1, LOADING | STALE | FAST, (0, 0, 0), g, h(lastsave)).acl(&["@admin", "@dangerous"]),
        cmd("swapdb", 3, WRITE | FAST, (0, 0, 0), g, h(swapdb))
            .since("4.0.0")
            .acl(&["@keyspace", "@dangerous"]),
        cmd("wait", 3, NOSCRIPT, (0, 0, 0), Group::Connection, h(wait)).since("3.0.0"),
        cmd("slowlog", -2, 0, (0, 0, 0), g, h(super::config_cmd::container))
            .since("2.2.12")
            .subs(vec![
                cmd(
                    "slowlog|get",
                    -2,
                    ADMIN | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(slowlog_get),
                )
                .since("2.2.12"),
                cmd("slowlog|help", 2, LOADING | STALE, (0, 0, 0), g, h(slowlog_help)).since("6.2.0"),
                cmd(
                    "slowlog|len",
                    2,
                    ADMIN | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(slowlog_len),
                )
                .since("2.2.12"),
                cmd(
                    "slowlog|reset",
                    2,
                    ADMIN | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(slowlog_reset),
                )
                .since("2.2.12"),
            ]),
        cmd("latency", -2, 0, (0, 0, 0), g, h(super::config_cmd::container))
            .since("2.8.13")
            .subs(vec![
                cmd(
                    "latency|doctor",
                    2,
                    ADMIN | NOSCRIPT | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(latency_doctor),
                )
                .since("2.8.13"),
                cmd(
                    "latency|graph",
                    3,
                    ADMIN | NOSCRIPT | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(latency_graph),
                )
                .since("2.8.13"),
                cmd(
                    "latency|histogram",
                    -2,
                    ADMIN | NOSCRIPT | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(latency_histogram),
                )
                .since("7.0.0"),
                cmd("latency|help", 2, LOADING | STALE, (0, 0, 0), g, h(latency_help)).since("2.8.13"),
                cmd(
                    "latency|history",
                    3,
                    ADMIN | NOSCRIPT | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(latency_history),
                )
                .since("2.8.13"),
                cmd(
                    "latency|latest",
                    2,
                    ADMIN | NOSCRIPT | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(latency_latest),
                )
                .since("2.8.13"),
                cmd(
                    "latency|reset",
                    -2,
                    ADMIN | NOSCRIPT | LOADING | STALE,
                    (0, 0, 0),
                    g,
                    h(latency_reset),
                )
                .since("2.8.13"),
            ]),
        cmd("memory", -2, 0, (0, 0, 0), g, h(super::config_cmd::container))
            .since("4.0.0")
            .subs(vec![
                cmd("memory|doctor", 2, 0, (0, 0, 0), g, h(memory_doctor)).since("4.0.0"),
                cmd("memory|help", 2, LOADING | STALE, (0, 0, 0), g, h(memory_help)).since("4.0.0"),
                cmd("memory|malloc-stats", 2, 0, (0, 0, 0), g, h(memory_malloc_stats)).since("4.0.0"),
                cmd("memory|purge", 2, 0, (0, 0, 0), g, h(memory_purge)).since("4.0.0"),
                cmd("memory|stats", 2, 0, (0, 0, 0), g, h(memory_stats)).since("4.0.0"),
                cmd("memory|usage", -3, READONLY, (2, 2, 1), g, h(memory_usage)).since("4.0.0"),
            ]),
    ]
}

/// Writes a HELP reply: a header line, the lines, and the closing HELP line, as Redis's
/// `addReplyHelp` does.
pub fn help_reply(out: &mut ReplyWriter, name: &str, lines: &[&str]) {
    out.array_len(lines.len() + 3);
    out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// CLIENT SETNAME / HELLO SETNAME: no spaces or newlines.
pub fn validate_client_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn dbsize(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = s.data.db().len();
    s.data.out.int(n as i64);
    Ok(())
}

fn flush_mode(args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => Ok(()),
        2 if is(&args[1], "sync") || is(&args[1], "async") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let removed = s.data.db().clear();
    s.data.dirty += removed as u64 + 1;
    s.data.flushed = Some(Some(s.data.db));
    s.data.out.ok();
    Ok(())
}

fn flushall(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let mut removed = 0;
    for db in &mut s.data.ks.dbs {
        removed += db.clear();
    }
    s.data.dirty += removed as u64 + 1;
    s.data.flushed = Some(None);
    s.data.out.ok();
    Ok(())
}

fn time(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    s.data.out.array_len(2);
    s.data.out.bulk_int(now.as_secs() as i64);
    s.data.out.bulk_int(i64::from(now.subsec_micros()));
    Ok(())
}

fn shutdown(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let mut save = None;
    for a in &args[1..] {
        if is(a, "nosave") {
            save = Some(false);
        } else if is(a, "save") {
            save = Some(true);
        } else if is(a, "now") || is(a, "force") || is(a, "abort") {
            // No shutdown wait for replicas yet: NOW and FORCE change nothing.
        } else {
            return Err(CmdError::Syntax);
        }
    }
    tracing::warn!("User requested shutdown...");
    s.conn.action = Some(Action::Shutdown { save });
    Ok(())
}

fn monitor(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    if s.conn.multi.is_some() {
        return Err(CmdError::err("MONITOR isn't allowed for DENY BLOCKING client"));
    }
    if !s.conn.monitor {
        s.conn.monitor = true;
        s.conn
            .handle
            .is_monitor
            .store(true, std::sync::atomic::Ordering::Relaxed);
        s.shared.monitors.lock().insert(s.conn.id, s.conn.push_tx.clone());
        s.shared
            .monitor_count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    s.data.out.ok();
    Ok(())
}

fn role(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let out = &mut *s.data.out;
    out.array_len(3);
    out.bulk(b"master");
    out.int(0);
    out.array_len(0);
    Ok(())
}

fn lastsave(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.int(s.rest.last_save_s);
    Ok(())
}

fn swapdb(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let a = int(&args[1]).map_err(|_| CmdError::err("invalid first DB index"))?;
    let b = int(&args[2]).map_err(|_| CmdError::err("invalid second DB index"))?;
    if s.shared.config.read().get_bool("cluster-enabled") {
        return Err(CmdError::err("SWAPDB is not allowed in cluster mode"));
    }
    let n = s.data.ks.dbs.len() as i64;
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err(CmdError::err("DB index is out of range"));
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        // As Redis: a key watched in either database is modified if it exists in either
        // (physically, expired or not); a key absent from both stays absent.
        let dbs = &s.data.ks.dbs;
        for ((db, key), watchers) in s.rest.watched.iter() {
            let touched = (*db == a || *db == b)
                && (dbs[a].peek(key, i64::MIN).is_some() || dbs[b].peek(key, i64::MIN).is_some());
            if touched {
                for (_, flag) in watchers {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
        s.data.ks.dbs.swap(a, b);
        // Blocked clients re-check.
        let keys: Vec<_> = s
            .rest
            .blocked
            .keys()
            .filter(|(d, _)| *d == a || *d == b)
            .cloned()
            .collect();
        for k in keys {
            if let Some(waiters) = s.rest.blocked.remove(&k) {
                for w in waiters {
                    w.notify.notify_one();
                }
            }
        }
    }
    s.data.dirty += 1;
    s.data.out.ok();
    Ok(())
}

fn wait(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    int(&args[1])?;
    let timeout = slotkv_protocol::parse_i64(&args[2])
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    // No replicas: none can acknowledge anything.
    s.data.out.int(0);
    Ok(())
}

/// Writes one slow log entry in Redis 7.0's six-element format.
pub fn write_slowlog_entry(out: &mut ReplyWriter, e: &crate::shared::SlowlogEntry) {
    out.array_len(6);
    out.int(e.id as i64);
    out.int(e.time_s);
    out.int(e.duration_us as i64);
    out.array_len(e.args.len());
    for a in &e.args {
        out.bulk(a);
    }
    out.bulk(e.addr.as_bytes());
    out.bulk(e.name.as_bytes());
}

fn slowlog_get(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let count = match args.get(2) {
        None => 10,
        Some(a) => match slotkv_protocol::parse_i64(a) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(CmdError::err("count should be greater than or equal to -1")),
        },
    };
    let n = count.min(s.rest.slowlog.len());
    let out = &mut *s.data.out;
    out.array_len(n);
    for e in s.rest.slowlog.iter().take(n) {
        write_slowlog_entry(out, e);
    }
    Ok(())
}

fn slowlog_len(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.int(s.rest.slowlog.len() as i64);
    Ok(())
}

fn slowlog_reset(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.rest.slowlog.clear();
    s.data.out.ok();
    Ok(())
}

fn slowlog_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        s.data.out,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

fn latency_latest(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let mut events: Vec<_> = s
        .rest
        .latency
        .iter()
        .filter(|(_, e)| !e.history.is_empty())
        .collect();
    events.sort_by_key(|(n, _)| **n);
    let out = &mut *s.data.out;
    out.array_len(events.len());
    for (name, e) in events {
        let (ts, ms) = e.history.back().copied().unwrap_or((0, 0));
        out.array_len(4);
        out.bulk(name.as_bytes());
        out.int(ts);
        out.int(ms as i64);
        out.int(e.max_ms as i64);
    }
    Ok(())
}

fn latency_history(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&args[2]);
    let hist: Vec<(i64, u64)> = s
        .rest
        .latency
        .get(name.as_ref())
        .map(|e| e.history.iter().copied().collect())
        .unwrap_or_default();
    let out = &mut *s.data.out;
    out.array_len(hist.len());
    for (ts, ms) in hist {
        out.array_len(2);
        out.int(ts);
        out.int(ms as i64);
    }
    Ok(())
}

fn latency_reset(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let n = if args.len() == 2 {
        let n = s.rest.latency.len();
        s.rest.latency.clear();
        n
    } else {
        let mut n = 0;
        for a in &args[2..] {
            let name = String::from_utf8_lossy(a);
            if s.rest.latency.remove(name.as_ref()).is_some() {
                n += 1;
            }
        }
        n
    };
    s.data.out.int(n as i64);
    Ok(())
}

fn latency_doctor(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let threshold = s.shared.config.read().get_int("latency-monitor-threshold");
    let text = if threshold == 0 {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()
    } else if s.rest.latency.values().all(|e| e.history.is_empty()) {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".to_string()
    } else {
        let mut t = String::from("Latency spikes were observed for the following events:\n\n");
        let mut events: Vec<_> = s.rest.latency.iter().collect();
        events.sort_by_key(|(n, _)| **n);
        for (name, e) in events {
            let n = e.history.len().max(1) as u64;
            let avg = e.history.iter().map(|(_, ms)| ms).sum::<u64>() / n;
            t.push_str(&format!(
                "{name}: {} latency spikes (average {avg}ms, worst {}ms).\n",
                e.history.len(),
                e.max_ms
            ));
        }
        t
    };
    s.data.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn latency_graph(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&args[2]).into_owned();
    let Some(e) = s
        .rest
        .latency
        .get(name.as_str())
        .filter(|e| !e.history.is_empty())
    else {
        return Err(CmdError::err(format!("No samples available for event '{name}'")));
    };
    // A plain listing rather than Redis's ASCII sparkline.
    let mut text = format!(
        "{name} - high {} ms, low {} ms (all time high {} ms)\n",
        e.history.iter().map(|x| x.1).max().unwrap_or(0),
        e.history.iter().map(|x| x.1).min().unwrap_or(0),
        e.max_ms
    );
    for (ts, ms) in &e.history {
        text.push_str(&format!("{ts} {ms}\n"));
    }
    s.data.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn write_histogram(out: &mut ReplyWriter, st: &crate::shared::CmdStats) {
    out.map_len(2);
    out.bulk(b"calls");
    out.int(st.calls as i64);
    out.bulk(b"histogram_usec");
    let buckets = st.latency_hist.iter().filter(|n| **n > 0).count();
    out.map_len(buckets);
    let mut cumulative = 0u64;
    for (i, n) in st.latency_hist.iter().enumerate() {
        if *n > 0 {
            cumulative += n;
            out.int(1i64 << i);
            out.int(cumulative as i64);
        }
    }
}

fn latency_histogram(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let mut names: Vec<&'static str> = if args.len() == 2 {
        s.rest
            .cmdstats
            .iter()
            .filter(|(_, st)| st.calls > 0)
            .map(|(n, _)| *n)
            .collect()
    } else {
        let mut v = Vec::new();
        for a in &args[2..] {
            let lower = String::from_utf8_lossy(a).to_ascii_lowercase();
            if let Some((n, st)) = s.rest.cmdstats.get_key_value(lower.as_str()) {
                if st.calls > 0 && !v.contains(n) {
                    v.push(*n);
                }
            }
        }
        v
    };
    names.sort_unstable();
    let out = &mut *s.data.out;
    out.map_len(names.len());
    for n in names {
        out.bulk(n.as_bytes());
        if let Some(st) = s.rest.cmdstats.get(n) {
            write_histogram(out, st);
        }
    }
    Ok(())
}

fn latency_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        s.data.out,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

fn memory_usage(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let mut samples = 5usize;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "samples") && i + 1 < args.len() {
            let n = int(&args[i + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            samples = if n == 0 { usize::MAX } else { n as usize };
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = s.data.now_ms;
    let db = s.data.db;
    let usage = s.data.ks.dbs[db].memory_usage(&args[2], now, samples);
    match usage {
        Some(n) => s.data.out.int(n as i64),
        None => s.data.out.null(),
    }
    Ok(())
}

fn memory_stats(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let rss = super::info::rss_bytes();
    if rss > s.rest.used_memory_peak {
        s.rest.used_memory_peak = rss;
    }
    let peak = s.rest.used_memory_peak.max(1);
    let keys = s.data.ks.total_keys() as u64;
    let dbs: Vec<(usize, usize, usize)> = s
        .data
        .ks
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| (i, d.len(), d.expires_len()))
        .collect();
    let out = &mut *s.data.out;
    let ints: [(&str, u64); 10] = [
        ("peak.allocated", peak),
        ("total.allocated", rss),
        ("startup.allocated", 0),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ];
    out.map_len(ints.len() + dbs.len() + 9);
    for (k, v) in ints {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    }
    for (i, n, e) in dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map_len(2);
        out.bulk(b"overhead.hashtable.main");
        out.int((n * 24) as i64);
        out.bulk(b"overhead.hashtable.expires");
        out.int((e * 24) as i64);
    }
    out.bulk(b"overhead.total");
    out.int(0);
    out.bulk(b"keys.count");
    out.int(keys as i64);
    out.bulk(b"keys.bytes-per-key");
    out.int(rss.checked_div(keys).unwrap_or(0) as i64);
    out.bulk(b"dataset.bytes");
    out.int(rss as i64);
    out.bulk(b"dataset.percentage");
    out.double(100.0);
    out.bulk(b"peak.percentage");
    out.double(rss as f64 * 100.0 / peak as f64);
    out.bulk(b"allocator.allocated");
    out.int(rss as i64);
    out.bulk(b"allocator.resident");
    out.int(rss as i64);
    out.bulk(b"fragmentation");
    out.double(1.0);
    Ok(())
}

fn memory_doctor(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let text = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
    s.data.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn memory_malloc_stats(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data
        .out
        .verbatim("txt", b"Stats not supported for the current allocator");
    Ok(())
}

fn memory_purge(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    s.data.out.ok();
    Ok(())
}

fn memory_help(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        s.data.out,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowlog_entry_format() {
        let e = crate::shared::SlowlogEntry {
            id: 3,
            time_s: 1795618897,
            duration_us: 2,
            args: vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"a"),
                Bytes::from_static(b"b"),
            ],
            addr: "127.0.0.1:59814".into(),
            name: "foo".into(),
        };
        let mut out = ReplyWriter::default();
        write_slowlog_entry(&mut out, &e);
        assert_eq!(
            out.buf,
            b"*6\r\n:3\r\n:1795618897\r\n:2\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n$15\r\n127.0.0.1:59814\r\n$3\r\nfoo\r\n"
        );
    }

    #[test]
    fn help_layout() {
        let mut out = ReplyWriter::default();
        help_reply(&mut out, "X", &["A", "    a"]);
        assert_eq!(
            out.buf,
            b"*5\r\n+X <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+A\r\n+    a\r\n+HELP\r\n+    Prints this help.\r\n"
        );
    }

    /// Runs commands through the dispatcher on a node without sockets.
    pub(crate) struct Harness {
        pub shared: std::sync::Arc<crate::shared::Shared>,
        pub conn: crate::exec::ConnState,
        pub out: ReplyWriter,
    }

    impl Harness {
        pub fn new() -> Self {
            let args: Vec<String> = ["--enable-debug-command", "yes"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let (config, _) = slotkv_config::Config::from_args(&args).expect("config");
            let shared = crate::build_shared(config, 6379);
            let addr: std::net::SocketAddr = "127.0.0.1:5000".parse().expect("addr");
            let handle = std::sync::Arc::new(crate::shared::ClientHandle::new(
                1,
                addr,
                addr,
                0,
                crate::shared::ClientInfo {
                    resp: 2,
                    multi: -1,
                    ..Default::default()
                },
            ));
            shared.clients.lock().insert(1, handle.clone());
            let (push_tx, _) = tokio::sync::mpsc::unbounded_channel();
            let conn = crate::exec::ConnState {
                id: 1,
                handle,
                db: 0,
                authenticated: true,
                multi: None,
                watched: Vec::new(),
                watch_dirty: Default::default(),
                subs: Default::default(),
                push_tx,
                action: None,
                monitor: false,
                last_cmd: "NULL",
                readonly: false,
                asking: false,
                lib_name: String::new(),
                lib_ver: String::new(),
                reply: Default::default(),
                obey: false,
                predecoded: Vec::new(),
            };
            Self {
                shared,
                conn,
                out: ReplyWriter::default(),
            }
        }

        /// Runs one command (space-separated words) and returns its raw reply.
        pub fn run(&mut self, line: &str) -> String {
            let args: Vec<Bytes> = line
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            let mut core = self.shared.core.lock();
            crate::exec::call(
                &mut core,
                &mut self.conn,
                &self.shared,
                &mut self.out,
                &args,
                crate::log::now_ms(),
            );
            drop(core);
            let r = String::from_utf8_lossy(&self.out.buf).into_owned();
            self.out.buf.clear();
            r
        }
    }

    #[test]
    fn admin_commands_through_the_dispatcher() {
        let mut h = Harness::new();
        assert_eq!(h.run("ROLE"), "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
        assert_eq!(h.run("SWAPDB 0 x"), "-ERR invalid second DB index\r\n");
        assert_eq!(h.run("SWAPDB x 0"), "-ERR invalid first DB index\r\n");
        assert_eq!(h.run("SWAPDB 0 99"), "-ERR DB index is out of range\r\n");
        assert_eq!(h.run("WAIT 0 -1"), "-ERR timeout is negative\r\n");
        assert_eq!(h.run("WAIT 0 0"), ":0\r\n");
        assert_eq!(h.run("DEBUG DIGEST"), format!("+{}\r\n", "0".repeat(40)));
        assert_eq!(h.run("DEBUG POPULATE 3"), "+OK\r\n");
        assert_eq!(h.run("DBSIZE"), ":3\r\n");
        // Sized up front; a count no memory can hold is refused before any key is made
        // (redis-server 7.0 aborts instead; later versions answer the same).
        assert_eq!(
            h.run("DEBUG POPULATE 1000000000000000"),
            "-ERR OOM in dictTryExpand\r\n"
        );
        assert_eq!(h.run("DBSIZE"), ":3\r\n");
        let d1 = h.run("DEBUG DIGEST");
        assert_ne!(d1, format!("+{}\r\n", "0".repeat(40)));
        assert_eq!(h.run("SWAPDB 0 1"), "+OK\r\n");
        assert_eq!(h.run("DBSIZE"), ":0\r\n");
        assert_ne!(h.run("DEBUG DIGEST"), d1, "the db index is part of the digest");
        assert_eq!(h.run("SWAPDB 1 0"), "+OK\r\n");
        assert_eq!(h.run("DEBUG DIGEST"), d1);
        assert_eq!(h.run("MEMORY USAGE nosuch"), "$-1\r\n");
        assert!(h.run("MEMORY USAGE key:1").starts_with(':'));
        assert_eq!(h.run("MEMORY USAGE key:1 SAMPLES -1"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("SLOWLOG GET -2"),
            "-ERR count should be greater than or equal to -1\r\n"
        );
    }

    #[test]
    fn config_set_slowlog_and_resetstat() {
        let mut h = Harness::new();
        assert_eq!(h.run("CONFIG SET slowlog-log-slower-than 0"), "+OK\r\n");
        h.run("DBSIZE");
        assert!(h.run("SLOWLOG LEN").starts_with(':'));
        assert_ne!(h.run("SLOWLOG LEN"), ":0\r\n");
        assert_eq!(h.run("CONFIG SET slowlog-max-len 1"), "+OK\r\n");
        assert_eq!(h.run("CONFIG SET slowlog-log-slower-than -1"), "+OK\r\n");
        assert_eq!(h.run("SLOWLOG LEN"), ":1\r\n");
        assert_eq!(
            h.run("CONFIG SET hz"),
            "-ERR wrong number of arguments for 'config|set' command\r\n"
        );
        assert_eq!(h.run("CONFIG SET hz 10 maxmemory"), "-ERR syntax error\r\n");
        let info = h.run("INFO commandstats");
        assert!(info.contains("cmdstat_dbsize:calls=1,"), "{info}");
        assert!(h.run("INFO errorstats").contains("errorstat_ERR:count=2"));
        assert_eq!(h.run("CONFIG RESETSTAT"), "+OK\r\n");
        let info = h.run("INFO everything");
        assert!(!info.contains("cmdstat_dbsize"), "{info}");
        assert!(!info.contains("errorstat_ERR"), "{info}");
        assert!(info.contains("\r\n\r\n# Keyspace\r\n"));
        assert_eq!(h.run("SLOWLOG LEN"), ":1\r\n", "RESETSTAT keeps the slow log");
    }

    #[test]
    fn client_reply_modes() {
        let mut h = Harness::new();
        assert_eq!(h.run("CLIENT REPLY SKIP"), "");
        assert_eq!(h.run("PING"), "");
        assert_eq!(h.run("PING"), "+PONG\r\n");
        assert_eq!(h.run("CLIENT REPLY OFF"), "");
        assert_eq!(h.run("PING"), "");
        assert_eq!(h.run("CLIENT REPLY ON"), "+OK\r\n");
        assert_eq!(
            h.run("CLIENT SETNAME a b"),
            "-ERR wrong number of arguments for 'client|setname' command\r\n"
        );
        assert_eq!(h.run("CLIENT SETNAME me"), "+OK\r\n");
        let list = h.run("CLIENT LIST");
        assert!(
            list.contains("id=1 addr=127.0.0.1:5000 laddr=127.0.0.1:5000 fd=-1 name=me "),
            "{list}"
        );
        assert!(
            list.contains(" cmd=client|list user=default redir=-1 resp=2\n"),
            "{list}"
        );
        assert_eq!(h.run("CLIENT LIST ID abc"), "-ERR Invalid client ID\r\n");
        assert_eq!(h.run("CLIENT KILL 1.2.3.4:5"), "-ERR No such client\r\n");
        assert_eq!(h.run("CLIENT KILL ID 1"), ":0\r\n", "SKIPME defaults to yes");
        assert_eq!(h.run("CLIENT KILL 127.0.0.1:5000"), "+OK\r\n");
        assert_eq!(h.conn.action, Some(crate::exec::Action::Close));
    }
}
