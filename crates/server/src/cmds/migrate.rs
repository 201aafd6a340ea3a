//! MIGRATE: moves keys to another node (slot migration, `redis-cli --cluster reshard`).
//!
//! Redis runs MIGRATE synchronously with the whole server stopped. Here the work is cut in
//! three so that the core lock is never held across network I/O:
//!
//! 1. [`migrate`] (the handler, under the core lock) parses the arguments, serializes each
//!    present key (DUMP payload + remaining TTL), marks the keys *in flight* in
//!    [`CoreRest::migrating_keys`] and hands a [`MigrateJob`] to the connection task
//!    through [`Action::Migrate`]; it writes no reply.
//! 2. [`transfer`] (the connection task, no lock) sends `[AUTH] [SELECT] RESTORE-ASKING...`
//!    pipelined on a cached connection and reads one reply per command.
//! 3. [`finish`] (under the lock again) deletes the keys the target acknowledged (unless
//!    COPY), propagates them as one DEL, clears the in-flight marks, wakes the writers that
//!    waited, and writes the reply.
//!
//! Inside MULTI/EXEC the transaction cannot be cut in two, so there MIGRATE runs the same
//! transfer to its end while the server waits, as Redis does.
//!
//! While a key is in flight, commands that may write it wait (see [`in_flight_conflict`]):
//! they are parked like a blocked client and run again once MIGRATE is done, exactly as
//! if they had arrived after it, as in Redis. Reads are served from the local copy, which
//! is the value being transferred. So a key is never lost (deleted only after the
//! target's OK) and never diverges (no write lands between the dump and the delete).
//!
//! On the target, [`predecode_restores`] decodes large RESTORE payloads on a blocking
//! thread before the connection task takes the lock, so that RESTORE only inserts the value
//! under it and the event loop keeps serving the other clients meanwhile.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slotkv_client::{Connection, Frame};
use slotkv_commands::args::{int, is};
use slotkv_commands::{flags as cf, CmdError, CmdResult};
use slotkv_keyspace::{Key, Value};
use slotkv_protocol::{encode_command, ReplyWriter};

use super::*;
use crate::exec::{reply_error, signal_key, Action, ConnState, SrvCtx};
use crate::shared::{Core, CoreRest, Shared};
use crate::table::{Handler, Spec, SrvFn};

/// How long an idle cached connection to a target is kept (Redis: 10 s).
pub const SOCKET_CACHE_TTL: Duration = Duration::from_secs(10);
/// At most this many cached target connections (Redis: 64).
pub const SOCKET_CACHE_MAX: usize = 64;

pub(crate) fn specs() -> Vec<Spec> {
    vec![cmd(
        "migrate",
        -6,
        WRITE,
        (3, 3, 1),
        Group::Generic,
        Handler::Srv(migrate as SrvFn),
    )
    .keys_fn(migrate_keys)
    .since("2.6.0")
    .acl(&["@dangerous"])
    .complexity("This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.")
    .summary("Atomically transfer a key from a Redis instance to another one.")]
}

/// Key positions: the key at 3, or every argument after `KEYS` when the key is empty.
/// Option arguments (the AUTH password, the AUTH2 user and password) are skipped, so a
/// password spelled "keys" is not taken for the keyword.
pub fn migrate_keys(args: &[Bytes]) -> Vec<usize> {
    let mut i = 6;
    while i < args.len() {
        let a = &args[i];
        if is(a, "keys") {
            if args[3].is_empty() {
                return (i + 1..args.len()).collect();
            }
            break;
        } else if is(a, "auth") {
            i += 1;
        } else if is(a, "auth2") {
            i += 2;
        }
        i += 1;
    }
    vec![3]
}

/// What the connection task has to do for one MIGRATE, prepared under the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateJob {
    pub host: String,
    pub port: String,
    pub target_db: i64,
    pub timeout: Duration,
    pub copy: bool,
    pub replace: bool,
    /// AUTH password, or AUTH2 user and password.
    pub auth: Option<(Option<Bytes>, Bytes)>,
    /// RESTORE-ASKING (cluster mode) or RESTORE.
    pub asking: bool,
    /// The database the keys are taken from.
    pub source_db: usize,
    /// The keys with their remaining TTL (0 = none) and DUMP payload.
    pub keys: Vec<(Bytes, i64, Vec<u8>)>,
}

struct Options {
    copy: bool,
    replace: bool,
    auth: Option<(Option<Bytes>, Bytes)>,
    /// Positions of the keys to move.
    keys: Vec<usize>,
    timeout_ms: i64,
    db: i64,
}

fn parse(args: &[Bytes]) -> Result<Options, CmdError> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: vec![3],
        timeout_ms: 0,
        db: 0,
    };
    let mut j = 6;
    while j < args.len() {
        let a = &args[j];
        let more = args.len() - 1 - j;
        if is(a, "copy") {
            o.copy = true;
        } else if is(a, "replace") {
            o.replace = true;
        } else if is(a, "auth") {
            if more < 1 {
                return Err(CmdError::Syntax);
            }
            o.auth = Some((None, args[j + 1].clone()));
            j += 1;
        } else if is(a, "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            o.auth = Some((Some(args[j + 1].clone()), args[j + 2].clone()));
            j += 2;
        } else if is(a, "keys") {
            if !args[3].is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            o.keys = (j + 1..args.len()).collect();
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    o.timeout_ms = int(&args[5])?;
    o.db = int(&args[4])?;
    if o.timeout_ms <= 0 {
        o.timeout_ms = 1000;
    }
    Ok(o)
}

fn migrate(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let o = parse(args)?;
    let now = s.data.now_ms;
    let db = s.data.db;
    let mut keys = Vec::with_capacity(o.keys.len());
    for &p in &o.keys {
        let key = &args[p];
        let Some(value) = s.data.ks.dbs[db].get(key, now) else {
            continue;
        };
        if keys.iter().any(|(k, _, _): &(Bytes, i64, Vec<u8>)| k == key) {
            continue;
        }
        let payload = slotkv_persistence::dump_payload(value);
        let ttl = match s.data.ks.dbs[db].expire_at(key) {
            Some(at) => (at - now).max(1),
            None => 0,
        };
        keys.push((key.clone(), ttl, payload));
    }
    if keys.is_empty() {
        s.data.out.simple("NOKEY");
        return Ok(());
    }
    for (k, _, _) in &keys {
        *s.rest.migrating_keys.entry((db, Key::from(&k[..]))).or_insert(0) += 1;
    }
    let job = MigrateJob {
        host: String::from_utf8_lossy(&args[1]).into_owned(),
        port: String::from_utf8_lossy(&args[2]).into_owned(),
        target_db: o.db,
        timeout: Duration::from_millis(o.timeout_ms as u64),
        copy: o.copy,
        replace: o.replace,
        auth: o.auth,
        asking: s.shared.cluster.get().is_some(),
        source_db: db,
        keys,
    };
    if s.data.can_block {
        s.conn.action = Some(Action::Migrate(Box::new(job)));
        return Ok(());
    }
    // Inside EXEC the transaction cannot be cut in two: the transfer runs to its end here,
    // with the lock held and this event loop waiting, as redis-server's MIGRATE always does.
    let outcome = transfer_blocking(&job);
    let (dropped, error) = apply_outcome(s.data.ks, s.rest, &job, &outcome);
    drop(dropped);
    match error {
        Some(e) => Err(e),
        None => {
            s.data.out.ok();
            Ok(())
        }
    }
}

/// [`transfer`] on a fresh connection, on a thread of its own (this thread's event loop is
/// the one being held up, so neither it nor the cached connections it drives can be used).
fn transfer_blocking(job: &MigrateJob) -> Outcome {
    let n = job.keys.len();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                Some(rt.block_on(transfer(None, job)))
            })
            .join()
            .ok()
            .flatten()
            .unwrap_or_else(|| Outcome::failed(n, IoStage::Connect))
    })
}

/// When a command must wait for a MIGRATE in flight: the in-flight keys it may write
/// (for EXEC, those of the queued commands). `None` when it can run now.
pub fn in_flight_conflict(
    rest: &CoreRest,
    shared: &Shared,
    conn: &ConnState,
    spec: &Spec,
    args: &[Bytes],
) -> Option<Vec<Bytes>> {
    let mut hit = Vec::new();
    let mut check = |sp: &Spec, a: &[Bytes]| {
        if sp.has(cf::READONLY) {
            return;
        }
        for p in sp.key_positions(a) {
            if let Some(k) = a.get(p) {
                if rest.migrating_keys.contains_key(&(conn.db, Key::from(&k[..]))) {
                    hit.push(k.clone());
                }
            }
        }
    };
    if spec.name == "exec" {
        if let Some(m) = &conn.multi {
            for q in &m.queued {
                if let Ok(sp) = shared.table.resolve(q) {
                    check(sp, q);
                }
            }
        }
    } else {
        check(spec, args);
    }
    (!hit.is_empty()).then_some(hit)
}

/// RESTORE payloads at least this large are decoded before the core lock is taken.
pub const PREDECODE_MIN_BYTES: usize = 64 * 1024;

/// Decodes the large RESTORE / RESTORE-ASKING payloads among `pending` that are not decoded
/// yet into [`ConnState::predecoded`], on a blocking thread (neither the core lock nor the
/// event loop is held); RESTORE then takes the value decoded from its own payload argument
/// (the same bytes, not merely equal ones) and replies exactly as if it had decoded it.
pub async fn predecode_restores(pending: &std::collections::VecDeque<Vec<Bytes>>, conn: &mut ConnState) {
    if !conn.authenticated {
        // Nothing is decoded for a client that may not run RESTORE (an unauthenticated
        // client's requests are parsed one at a time, so AUTH comes first).
        return;
    }
    let mut todo: Vec<Bytes> = Vec::new();
    for args in pending {
        let Some(payload) = args.get(3) else {
            continue;
        };
        if payload.len() < PREDECODE_MIN_BYTES
            || !(is(&args[0], "restore") || is(&args[0], "restore-asking"))
            || conn
                .predecoded
                .iter()
                .any(|(p, _)| slotkv_commands::same_bytes(p, payload))
            || todo.iter().any(|p| slotkv_commands::same_bytes(p, payload))
        {
            continue;
        }
        todo.push(payload.clone());
    }
    if todo.is_empty() {
        return;
    }
    let decode = move || {
        todo.into_iter()
            .map(|p| {
                let value = slotkv_persistence::restore_payload(&p);
                (p, value)
            })
            .collect::<Vec<_>>()
    };
    // If the blocking pool is gone (shutdown), RESTORE decodes under the lock as before.
    if let Ok(done) = tokio::task::spawn_blocking(decode).await {
        conn.predecoded.extend(done);
    }
}

/// A connection to a target kept between MIGRATEs.
pub struct CachedSocket {
    conn: Connection,
    /// The database selected on it (`None`: unknown, SELECT next time).
    last_db: Option<i64>,
    last_use: Instant,
}

/// Target connections by `host:port`. Taken out while in use, so two MIGRATEs to the same
/// target never share one.
pub type SocketCache = HashMap<String, CachedSocket>;

/// Drops cached connections idle for longer than [`SOCKET_CACHE_TTL`] (from the cron).
pub fn expire_sockets(shared: &Shared) {
    shared
        .migrate_sockets
        .lock()
        .retain(|_, c| c.last_use.elapsed() < SOCKET_CACHE_TTL);
}

/// Where a transfer failed on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoStage {
    Connect,
    Write,
    Read,
}

/// The result of [`transfer`].
#[derive(Debug, Default)]
pub struct Outcome {
    /// Per key: the target restored it.
    pub acked: Vec<bool>,
    /// The first error the target replied with.
    pub target_error: Option<String>,
    pub io_error: Option<IoStage>,
}

async fn connect(job: &MigrateJob) -> Result<CachedSocket, IoStage> {
    let port: u16 = job.port.parse().map_err(|_| IoStage::Connect)?;
    match tokio::time::timeout(job.timeout, Connection::connect(&job.host, port)).await {
        Ok(Ok(conn)) => Ok(CachedSocket {
            conn,
            last_db: None,
            last_use: Instant::now(),
        }),
        // Redis's asynchronous connect reports a refused connection when it writes.
        Ok(Err(slotkv_client::ClientError::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(IoStage::Write)
        }
        _ => Err(IoStage::Connect),
    }
}

async fn read_reply(sock: &mut CachedSocket, timeout: Duration) -> Result<Frame, bool> {
    match tokio::time::timeout(timeout, sock.conn.read_frame()).await {
        Ok(Ok(f)) => Ok(f),
        Ok(Err(_)) => Err(false),
        Err(_) => Err(true),
    }
}

/// Sends the keys to the target and reads its replies. Runs without the core lock (but
/// for MIGRATE inside EXEC, see [`transfer_blocking`]); reuses and keeps connections in
/// `cache` when given. Retries once on a fresh connection when a cached one turns out dead before anything
/// was processed, as Redis does.
pub async fn transfer(cache: Option<&parking_lot::Mutex<SocketCache>>, job: &MigrateJob) -> Outcome {
    let name = format!("{}:{}", job.host, job.port);
    let n = job.keys.len();
    let mut may_retry = true;
    loop {
        let cached = cache.and_then(|c| c.lock().remove(&name));
        let mut sock = match cached {
            Some(c) if c.last_use.elapsed() < SOCKET_CACHE_TTL => c,
            _ => match connect(job).await {
                Ok(c) => c,
                Err(IoStage::Write) if may_retry => {
                    may_retry = false;
                    continue;
                }
                Err(stage) => return Outcome::failed(n, stage),
            },
        };
        let select = sock.last_db != Some(job.target_db);
        let mut buf = Vec::new();
        if let Some((user, pass)) = &job.auth {
            match user {
                Some(u) => encode_command(&mut buf, &[&b"AUTH"[..], u, pass]),
                None => encode_command(&mut buf, &[&b"AUTH"[..], pass]),
            }
        }
        if select {
            let mut b = itoa::Buffer::new();
            encode_command(&mut buf, &[&b"SELECT"[..], b.format(job.target_db).as_bytes()]);
        }
        let name_arg: &[u8] = if job.asking { b"RESTORE-ASKING" } else { b"RESTORE" };
        for (key, ttl, payload) in &job.keys {
            let mut b = itoa::Buffer::new();
            let ttl = b.format(*ttl).as_bytes().to_vec();
            if job.replace {
                encode_command(&mut buf, &[name_arg, key, &ttl, payload, b"REPLACE"]);
            } else {
                encode_command(&mut buf, &[name_arg, key, &ttl, payload]);
            }
        }
        match tokio::time::timeout(job.timeout, sock.conn.write_raw(&buf)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) if may_retry => {
                may_retry = false;
                continue;
            }
            _ => return Outcome::failed(n, IoStage::Write),
        }
        drop(buf);
        let mut pre_error: Option<String> = None;
        let mut pre_failed: Option<bool> = None;
        for wanted in [job.auth.is_some(), select] {
            if !wanted || pre_failed.is_some() {
                continue;
            }
            match read_reply(&mut sock, job.timeout).await {
                Ok(Frame::Error(e)) => {
                    pre_error.get_or_insert(e);
                }
                Ok(_) => {}
                Err(timed_out) => pre_failed = Some(timed_out),
            }
        }
        if let Some(timed_out) = pre_failed {
            if may_retry && !timed_out {
                may_retry = false;
                continue;
            }
            return Outcome::failed(n, IoStage::Read);
        }
        let mut out = Outcome {
            acked: vec![false; n],
            target_error: None,
            io_error: None,
        };
        let mut read_failed = None;
        for j in 0..n {
            match read_reply(&mut sock, job.timeout).await {
                Ok(reply) => {
                    let err = match (&pre_error, &reply) {
                        (Some(e), _) | (None, Frame::Error(e)) => Some(e.clone()),
                        _ => None,
                    };
                    match err {
                        Some(e) => {
                            out.target_error.get_or_insert(e);
                        }
                        None => out.acked[j] = true,
                    }
                }
                Err(timed_out) => {
                    read_failed = Some((j, timed_out));
                    break;
                }
            }
        }
        match read_failed {
            Some((0, false)) if out.target_error.is_none() && may_retry => {
                may_retry = false;
                continue;
            }
            Some(_) => {
                if out.target_error.is_none() {
                    out.io_error = Some(IoStage::Read);
                }
                return out;
            }
            None => {}
        }
        sock.last_db = if out.target_error.is_none() {
            Some(job.target_db)
        } else {
            None
        };
        sock.last_use = Instant::now();
        let Some(cache) = cache else {
            return out;
        };
        let mut cache = cache.lock();
        if cache.len() >= SOCKET_CACHE_MAX {
            if let Some(k) = cache.keys().next().cloned() {
                cache.remove(&k);
            }
        }
        cache.insert(name, sock);
        return out;
    }
}

impl Outcome {
    fn failed(n: usize, stage: IoStage) -> Outcome {
        Outcome {
            acked: vec![false; n],
            target_error: None,
            io_error: Some(stage),
        }
    }
}

/// Applies the outcome under the core lock: deletes the acknowledged keys (unless COPY),
/// propagates them as one DEL, releases the in-flight marks and writes the reply. Returns
/// the removed values so that the caller frees them after releasing the lock.
pub fn finish(core: &mut Core, job: &MigrateJob, outcome: &Outcome, out: &mut ReplyWriter) -> Vec<Value> {
    let Core { ks, rest } = core;
    let (dropped, error) = apply_outcome(ks, rest, job, outcome);
    match error {
        Some(e) => {
            rest.cmdstats.entry("migrate").or_default().failed += 1;
            reply_error(rest, out, &e);
        }
        None => out.ok(),
    }
    dropped
}

/// The key side of [`finish`]: deletes and propagates the acknowledged keys, clears the
/// in-flight marks; returns the removed values and the error MIGRATE answers, if any.
fn apply_outcome(
    ks: &mut slotkv_keyspace::Keyspace,
    rest: &mut CoreRest,
    job: &MigrateJob,
    outcome: &Outcome,
) -> (Vec<Value>, Option<CmdError>) {
    let db = job.source_db;
    let mut dropped = Vec::new();
    let mut del: Vec<Bytes> = Vec::new();
    for (i, (key, _, _)) in job.keys.iter().enumerate() {
        let k = Key::from(&key[..]);
        if let Some(n) = rest.migrating_keys.get_mut(&(db, k.clone())) {
            *n -= 1;
            if *n == 0 {
                rest.migrating_keys.remove(&(db, k.clone()));
            }
        }
        if job.copy || !outcome.acked.get(i).copied().unwrap_or(false) {
            // Kept: writers that waited for it run now.
            if let Some(waiters) = rest.blocked.remove(&(db, k)) {
                for w in waiters {
                    w.notify.notify_one();
                }
            }
            continue;
        }
        if let Some(v) = ks.dbs[db].remove(key) {
            dropped.push(v);
            del.push(key.clone());
        }
        signal_key(rest, db, key);
    }
    if !del.is_empty() {
        rest.dirty += del.len() as u64;
        del.insert(0, Bytes::from_static(b"DEL"));
        rest.repl.feed(db, &del);
        crate::aof::flush_pending(rest);
    }
    let error = if let Some(e) = &outcome.target_error {
        Some(CmdError::err(format!("Target instance replied with error: {e}")))
    } else {
        outcome.io_error.map(|stage| {
            CmdError::Raw(
                match stage {
                    IoStage::Connect => "IOERR error or timeout connecting to the client",
                    IoStage::Write => "IOERR error or timeout writing to target instance",
                    IoStage::Read => "IOERR error or timeout reading to target instance",
                }
                .into(),
            )
        })
    };
    (dropped, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<Bytes> {
        s.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect()
    }

    #[test]
    fn key_positions() {
        assert_eq!(
            migrate_keys(&args(&["migrate", "h", "1", "k", "0", "1"])),
            vec![3]
        );
        assert_eq!(
            migrate_keys(&args(&["migrate", "h", "1", "", "0", "1", "KEYS", "a", "b"])),
            vec![7, 8]
        );
        // A password spelled "keys" is not the keyword.
        assert_eq!(
            migrate_keys(&args(&[
                "migrate", "h", "1", "", "0", "1", "auth", "keys", "keys", "x", "y"
            ])),
            vec![9, 10]
        );
        assert_eq!(
            migrate_keys(&args(&[
                "migrate", "h", "1", "", "0", "1", "auth2", "keys", "keys", "keys", "x"
            ])),
            vec![10]
        );
        assert_eq!(
            migrate_keys(&args(&["migrate", "h", "1", "k", "0", "1", "keys", "x"])),
            vec![3]
        );
    }

    #[test]
    fn option_errors() {
        let err = |a: &[&str]| parse(&args(a)).err().map(|e| e.to_string());
        assert_eq!(
            err(&["migrate", "h", "1", "k", "0", "1", "foo"]).unwrap(),
            "ERR syntax error"
        );
        assert_eq!(
            err(&["migrate", "h", "1", "k", "0", "1", "auth"]).unwrap(),
            "ERR syntax error"
        );
        assert_eq!(
            err(&["migrate", "h", "1", "k", "0", "1", "auth2", "u"]).unwrap(),
            "ERR syntax error"
        );
        assert_eq!(
            err(&["migrate", "h", "1", "k", "0", "1", "keys", "a"]).unwrap(),
            "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
        );
        // Options are checked before the numbers, the timeout before the db.
        assert_eq!(
            err(&["migrate", "h", "1", "k", "x", "y", "foo"]).unwrap(),
            "ERR syntax error"
        );
        assert_eq!(
            err(&["migrate", "h", "1", "k", "x", "1"]).unwrap(),
            "ERR value is not an integer or out of range"
        );
        let o = parse(&args(&[
            "migrate", "h", "1", "", "3", "0", "copy", "REPLACE", "keys", "a", "b",
        ]))
        .unwrap();
        assert!(o.copy && o.replace);
        assert_eq!((o.db, o.timeout_ms, o.keys), (3, 1000, vec![9, 10]));
    }
}
