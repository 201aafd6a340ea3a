//! HOT PATH. Running one command under the core lock: resolve, check (auth, transaction
//! and subscriber context), execute, then apply the effects every command has in common
//! (WATCH invalidation, waking blocked clients, expired-key bookkeeping, statistics, slow
//! log, MONITOR feed). Keep allocation and logging out of the common case.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use slotkv_commands::{flags, BlockOn, CmdError, Ctx};
use slotkv_keyspace::{Key, Keyspace};
use slotkv_protocol::ReplyWriter;

use crate::shared::{ClientHandle, Core, CoreRest, PushMsg, PushSender, Shared, SlowlogEntry, Subscriptions};
use crate::table::{Handler, Spec};

/// Something the connection task must do after the current command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Flush the reply and close (QUIT, CLIENT KILL of itself, protocol errors).
    Close,
    /// Wait for keys, then run the command again.
    Block(BlockOn),
    /// PSYNC/SYNC answered: the connection becomes a replication feed from offset `from`.
    StartReplicaStream { from: u64 },
    /// WAIT: block until `num` replicas acknowledged `offset` or the deadline (0: none).
    WaitReplicas {
        offset: u64,
        num: usize,
        deadline_ms: i64,
    },
    /// Stop the server (SHUTDOWN); `save` is the NOSAVE/SAVE override.
    Shutdown { save: Option<bool> },
    /// Transfer keys to another node outside the lock, then finish under it and reply
    /// (MIGRATE; see `cmds::migrate`).
    Migrate(Box<crate::cmds::migrate::MigrateJob>),
    /// Sleep outside the lock? No: DEBUG SLEEP sleeps inside, like Redis; this is for
    /// `CLIENT PAUSE`-style waits in the future.
    None,
}

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct MultiState {
    pub queued: Vec<Vec<Bytes>>,
    /// A queued command was refused (unknown, wrong arity): EXEC aborts.
    pub errored: bool,
}

/// Per-connection state that commands can read and change.
pub struct ConnState {
    pub id: u64,
    pub handle: Arc<ClientHandle>,
    pub db: usize,
    pub authenticated: bool,
    pub multi: Option<MultiState>,
    pub watched: Vec<(usize, Key)>,
    pub watch_dirty: Arc<AtomicBool>,
    pub subs: Subscriptions,
    pub push_tx: PushSender,
    pub action: Option<Action>,
    pub monitor: bool,
    /// Name of the last command, for CLIENT LIST `cmd=`.
    pub last_cmd: &'static str,
    /// Cluster READONLY flag (takes effect in cluster mode).
    pub readonly: bool,
    pub asking: bool,
    pub lib_name: String,
    pub lib_ver: String,
    /// CLIENT REPLY ON/OFF/SKIP state.
    pub reply: crate::cmds::client::ReplyMode,
    /// The server's own client (AOF loading, the master's stream on a replica): never
    /// redirected by the cluster, like Redis's `mustObeyClient`.
    pub obey: bool,
    /// Large RESTORE payloads of the pending requests, decoded before the core lock was
    /// taken ([`crate::cmds::migrate::predecode_restores`]); emptied after each batch.
    pub predecoded: Vec<slotkv_commands::Predecoded>,
}

impl ConnState {
    /// A connection state for commands the server runs on its own behalf (loading the AOF,
    /// applying a master's stream): authenticated, database 0, not in the client registry.
    pub fn internal(shared: &Shared) -> ConnState {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let handle = Arc::new(ClientHandle::new(0, addr, addr, 0, Default::default()));
        let (push_tx, _) = tokio::sync::mpsc::unbounded_channel();
        let _ = shared;
        ConnState {
            id: 0,
            handle,
            db: 0,
            authenticated: true,
            multi: None,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            subs: Subscriptions::default(),
            push_tx,
            action: None,
            monitor: false,
            last_cmd: "NULL",
            readonly: false,
            asking: false,
            lib_name: String::new(),
            lib_ver: String::new(),
            reply: Default::default(),
            obey: true,
            predecoded: Vec::new(),
        }
    }

    pub fn in_subscribe_mode(&self) -> bool {
        self.subs.count() > 0
    }
}

/// What a server-level handler gets.
pub struct SrvCtx<'a> {
    pub data: Ctx<'a>,
    pub rest: &'a mut CoreRest,
    pub conn: &'a mut ConnState,
    pub shared: &'a Shared,
}

/// Commands that run immediately even inside MULTI.
fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// Commands allowed in RESP2 subscriber context.
fn allowed_in_subscribe(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Runs one request from a client, writing exactly one reply (or none, if it blocks).
pub fn call(
    core: &mut Core,
    conn: &mut ConnState,
    shared: &Shared,
    out: &mut ReplyWriter,
    args: &[Bytes],
    now_ms: i64,
) {
    let mark = out.len();
    call_inner(core, conn, shared, out, args, now_ms);
    // ASKING lasts for one command, or for a whole transaction (Redis's resetClient).
    if conn.asking && conn.multi.is_none() && !args[0].eq_ignore_ascii_case(b"asking") {
        conn.asking = false;
    }
    if !conn.reply.is_on() {
        conn.reply.after_command(out, mark);
    }
}

fn call_inner(
    core: &mut Core,
    conn: &mut ConnState,
    shared: &Shared,
    out: &mut ReplyWriter,
    args: &[Bytes],
    now_ms: i64,
) {
    let spec = match shared.table.resolve(args) {
        Ok(s) => s,
        Err(e) => {
            if let Some(m) = conn.multi.as_mut() {
                m.errored = true;
            }
            if let Some(top) = shared.table.lookup(&args[0]) {
                core.rest.cmdstats.entry(top.name).or_default().rejected += 1;
            }
            reply_error(&mut core.rest, out, &e);
            return;
        }
    };
    if !conn.authenticated && !spec.has(flags::NO_AUTH) {
        reply_error(
            &mut core.rest,
            out,
            &CmdError::Raw("NOAUTH Authentication required.".into()),
        );
        return;
    }
    if !conn.obey && shared.cluster.get().is_some() {
        if let Err(e) = crate::cluster::route::check(shared, core, conn, spec, args) {
            if spec.name == "exec" {
                // A redirected transaction is discarded (Redis's discardTransaction).
                if conn.multi.take().is_some() {
                    crate::cmds::multi::unwatch_all(&mut core.rest, conn);
                }
            } else if let Some(m) = conn.multi.as_mut() {
                m.errored = true;
            }
            reply_error(&mut core.rest, out, &e);
            return;
        }
    }
    if conn.in_subscribe_mode()
        && !out.resp3()
        && !allowed_in_subscribe(spec.name.split('|').next().unwrap_or(""))
    {
        let e = CmdError::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        ));
        reply_error(&mut core.rest, out, &e);
        return;
    }
    if spec.has(flags::WRITE) {
        // A write a replica or a master short of good replicas refuses (in MULTI the
        // transaction then aborts at EXEC).
        let refused = if crate::replication::refuse_write(&core.rest, shared, conn.id) {
            Some(crate::replication::READONLY_ERR)
        } else if !conn.obey && core.rest.replication.too_few_good_replicas(now_ms) {
            Some(crate::replication::NOREPLICAS_ERR)
        } else {
            None
        };
        if let Some(e) = refused {
            if let Some(m) = conn.multi.as_mut() {
                m.errored = true;
            }
            reply_error(&mut core.rest, out, &CmdError::Raw(e.into()));
            return;
        }
    }
    if conn.multi.is_some() && !runs_inside_multi(spec.name) {
        if let Some(m) = conn.multi.as_mut() {
            m.queued.push(args.to_vec());
        }
        out.simple("QUEUED");
        return;
    }
    if !core.rest.migrating_keys.is_empty() {
        // A MIGRATE is transferring keys this command may write: run it after the
        // transfer, as if it had arrived after MIGRATE.
        if let Some(keys) = crate::cmds::migrate::in_flight_conflict(&core.rest, shared, conn, spec, args) {
            conn.action = Some(Action::Block(BlockOn { keys, deadline_ms: 0 }));
            return;
        }
    }
    execute(
        &mut core.ks,
        &mut core.rest,
        conn,
        shared,
        out,
        spec,
        args,
        now_ms,
        true,
    );
}

/// Executes a resolved command and applies its common effects. `can_block` is false inside
/// EXEC.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    ks: &mut Keyspace,
    rest: &mut CoreRest,
    conn: &mut ConnState,
    shared: &Shared,
    out: &mut ReplyWriter,
    spec: &Spec,
    args: &[Bytes],
    now_ms: i64,
    can_block: bool,
) {
    conn.last_cmd = spec.name;
    let mark = out.len();
    // Timed with the TSC (quanta): two clock reads per command were ~8% of a pipelined
    // GET's time with clock_gettime.
    let started = quanta::Instant::now();
    let db = conn.db;
    let mut ctx = Ctx::new(ks, db, out, now_ms);
    ctx.can_block = can_block;
    if !conn.predecoded.is_empty() && spec.name.starts_with("restore") && args.len() > 3 {
        if let Some(i) = conn
            .predecoded
            .iter()
            .position(|(p, _)| slotkv_commands::same_bytes(p, &args[3]))
        {
            ctx.predecoded = Some(conn.predecoded.swap_remove(i));
        }
    }
    let present = watched_present(ctx.ks, rest, spec);
    let result = match spec.handler {
        Handler::Data(f) => f(&mut ctx, args),
        Handler::Srv(f) => {
            let mut s = SrvCtx {
                data: ctx,
                rest,
                conn,
                shared,
            };
            let r = f(&mut s, args);
            ctx = s.data;
            r
        }
    };
    let elapsed_us = (quanta::Instant::now() - started).as_micros() as u64;
    let unused = ctx.predecoded.take();
    let dirty = ctx.dirty;
    let block = ctx.block.take();
    let touched = std::mem::take(&mut ctx.touched_extra);
    let flushed = ctx.flushed.take();
    let propagate_as = ctx.propagate_as.take();
    let db = ctx.db;
    drop(ctx);
    if let Some(unused) = unused {
        // Not used (BUSYKEY, a syntax error): freed by the connection task after the lock.
        conn.predecoded.push(unused);
    }
    // After the command, as Redis 7.0 does: EXEC is shown after the commands it ran.
    if shared.monitor_count.load(Ordering::Relaxed) > 0
        && !spec.has(flags::ADMIN)
        && !spec.has(flags::SKIP_MONITOR)
        && !conn.handle.info.lock().reprocessing
    {
        feed_monitors(shared, conn, db, spec.name, args, now_ms);
    }

    let stats = rest.cmdstats.entry(spec.name).or_default();
    // A command that blocks is counted once, when it completes (Redis skips blocked calls).
    if block.is_none() {
        stats.calls += 1;
        stats.usec += elapsed_us;
        stats.record_latency(elapsed_us);
        rest.total_commands += 1;
    }
    if let Err(e) = &result {
        stats.failed += 1;
        out.truncate(mark);
        reply_error(rest, out, e);
    }
    if let Some(b) = block {
        conn.action = Some(Action::Block(b));
    }
    if dirty > 0 {
        rest.dirty += dirty;
        if !rest.watched.is_empty() || !rest.blocked.is_empty() {
            for pos in spec.key_positions(args) {
                signal_key(rest, db, &args[pos]);
            }
        }
        if rest.repl.enabled {
            match &propagate_as {
                Some(cmds) => {
                    for c in cmds {
                        rest.repl.feed(db, c);
                    }
                }
                None => rest.repl.feed(db, args),
            }
        }
    }
    for (d, k) in &touched {
        signal_key(rest, *d, k);
    }
    if let Some(which) = flushed {
        signal_flushed_keys(rest, which, &present);
    }
    let expired = std::mem::take(&mut ks.dbs[db].expired);
    for key in expired {
        signal_key(rest, db, &key);
        rest.repl.feed(db, &crate::propagate::del_command(&key));
    }
    let threshold = rest.slowlog_threshold_us;
    if threshold >= 0 && elapsed_us >= threshold as u64 && !spec.has(flags::SKIP_SLOWLOG) {
        record_slowlog(rest, conn, args, now_ms, elapsed_us);
    }
    if rest.latency_threshold_ms > 0 && elapsed_us >= rest.latency_threshold_ms as u64 * 1000 {
        let event = if spec.has(flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        rest.add_latency_sample(event, now_ms / 1000, elapsed_us / 1000);
    }
}

/// Renders an error reply and counts it in `errorstats` (the one place errors are
/// rendered).
pub fn reply_error(rest: &mut CoreRest, out: &mut ReplyWriter, e: &CmdError) {
    let text = e.to_string();
    let code = text.split(' ').next().unwrap_or("ERR");
    match rest.errorstats.get_mut(code) {
        Some(n) => *n += 1,
        None => {
            rest.errorstats.insert(code.to_string(), 1);
        }
    }
    out.error(&text);
}

/// A key was modified: invalidate WATCHes on it and wake clients blocked on it.
#[inline]
pub fn signal_key(rest: &mut CoreRest, db: usize, key: &[u8]) {
    if !rest.watched.is_empty() {
        if let Some(watchers) = rest.watched.get(&(db, Key::from(key))) {
            for (_, flag) in watchers {
                flag.store(true, Ordering::SeqCst);
            }
        }
    }
    if !rest.blocked.is_empty() {
        if let Some(waiters) = rest.blocked.remove(&(db, Key::from(key))) {
            for w in waiters {
                w.notify.notify_one();
            }
        }
    }
}

/// The watched keys present in the keyspace, taken before a command that may flush: as in
/// Redis (`touchAllWatchedKeysInDb`), a flush modifies only the watched keys that existed.
/// Empty when nobody watches anything (the common case costs one check).
fn watched_present(ks: &Keyspace, rest: &CoreRest, spec: &Spec) -> Vec<(usize, Key)> {
    if rest.watched.is_empty() || !matches!(spec.name, "flushdb" | "flushall") {
        return Vec::new();
    }
    rest.watched
        .keys()
        // Physically present, even if logically expired: Redis looks in the dict.
        .filter(|(db, key)| ks.dbs.get(*db).is_some_and(|d| d.peek(key, i64::MIN).is_some()))
        .cloned()
        .collect()
}

/// Every watched key of the database(s) is modified (a replica's full sync replaces the
/// whole dataset).
pub fn signal_flush(rest: &mut CoreRest, which: Option<usize>) {
    for ((db, _), watchers) in rest.watched.iter() {
        if which.is_none_or(|d| d == *db) {
            for (_, flag) in watchers {
                flag.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// FLUSHDB/FLUSHALL: the watched keys of the flushed databases that existed (`present`,
/// from [`watched_present`]) are modified.
fn signal_flushed_keys(rest: &mut CoreRest, which: Option<usize>, present: &[(usize, Key)]) {
    for k in present {
        if which.is_none_or(|d| d == k.0) {
            if let Some(watchers) = rest.watched.get(k) {
                for (_, flag) in watchers {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

fn record_slowlog(rest: &mut CoreRest, conn: &ConnState, args: &[Bytes], now_ms: i64, us: u64) {
    const MAX_ARGS: usize = 32;
    const MAX_ARG_LEN: usize = 128;
    let mut logged: Vec<Bytes> = Vec::with_capacity(args.len().min(MAX_ARGS));
    for (i, a) in args.iter().enumerate() {
        if i == MAX_ARGS - 1 && args.len() > MAX_ARGS {
            logged.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - MAX_ARGS + 1
            )));
            break;
        }
        if a.len() > MAX_ARG_LEN {
            let mut v = a[..MAX_ARG_LEN].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
            logged.push(Bytes::from(v));
        } else {
            logged.push(a.clone());
        }
    }
    let entry = SlowlogEntry {
        id: rest.slowlog_next_id,
        time_s: now_ms / 1000,
        duration_us: us,
        args: logged,
        addr: conn.handle.addr.to_string(),
        name: conn.handle.info.lock().name.clone(),
    };
    rest.slowlog_next_id += 1;
    rest.slowlog.push_front(entry);
    while rest.slowlog.len() > rest.slowlog_max_len {
        rest.slowlog.pop_back();
    }
}

/// Which arguments MONITOR must not show (Redis's `redactClientCommandArgument`): every
/// argument of AUTH, the user and password after HELLO's AUTH, MIGRATE's AUTH password and
/// AUTH2 user and password.
fn secret_args(name: &str, args: &[Bytes]) -> Vec<bool> {
    let mut secret = vec![false; args.len()];
    match name {
        "auth" => secret.iter_mut().skip(1).for_each(|s| *s = true),
        "hello" | "migrate" => {
            let mut i = 1;
            while i < args.len() {
                // MIGRATE's arguments after KEYS are key names, whatever they say.
                if name == "migrate" && args[i].eq_ignore_ascii_case(b"keys") {
                    break;
                }
                let n = if args[i].eq_ignore_ascii_case(b"auth") {
                    if name == "hello" {
                        2
                    } else {
                        1
                    }
                } else if name == "migrate" && args[i].eq_ignore_ascii_case(b"auth2") {
                    2
                } else {
                    0
                };
                for s in secret.iter_mut().skip(i + 1).take(n) {
                    *s = true;
                }
                i += 1 + n;
            }
        }
        _ => {}
    }
    secret
}

/// MONITOR line: `1700000000.123456 [0 127.0.0.1:5555] "set" "k" "v"`, with secrets
/// shown as `"(redacted)"`.
fn feed_monitors(shared: &Shared, conn: &ConnState, db: usize, name: &str, args: &[Bytes], now_ms: i64) {
    let mut line = format!(
        "{}.{:06} [{} {}]",
        now_ms / 1000,
        (now_ms % 1000) * 1000,
        db,
        conn.handle.addr
    );
    let secret = secret_args(name, args);
    for (a, hide) in args.iter().zip(secret) {
        line.push(' ');
        if hide {
            line.push_str("\"(redacted)\"");
        } else {
            line.push_str(&quote_repr(a));
        }
    }
    let msg = PushMsg::Monitor(Bytes::from(line));
    for (_, tx) in shared.monitors.lock().iter() {
        let _ = tx.send(msg.clone());
    }
}

/// Redis's `sdscatrepr`: a double-quoted, escaped representation.
pub fn quote_repr(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn monitor_redacts_secrets_like_redis() {
        assert_eq!(
            secret_args("auth", &args(&["AUTH", "u", "p"])),
            [false, true, true]
        );
        assert_eq!(
            secret_args("hello", &args(&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "n"])),
            [false, false, false, true, true, false, false]
        );
        assert_eq!(
            secret_args(
                "migrate",
                &args(&["MIGRATE", "h", "1", "", "0", "5", "KEYS", "auth", "k"])
            ),
            [false; 9]
        );
        assert_eq!(
            secret_args(
                "migrate",
                &args(&["MIGRATE", "h", "1", "k", "0", "5", "AUTH2", "u", "p"])
            ),
            [false, false, false, false, false, false, false, true, true]
        );
        assert_eq!(
            secret_args("set", &args(&["SET", "auth", "x"])),
            [false, false, false]
        );
    }
}
