//! Master-replica replication, wire-compatible with Redis 7.0.
//!
//! - [`ReplState`] (under the core lock, `CoreRest::replication`): our role, replication
//!   ids, the replicas attached to us with their acknowledged offsets, sync counters.
//!   The stream itself and its backlog live in `propagate::ReplFeed` (`CoreRest::repl`).
//! - `psync` decides between `+CONTINUE` and `+FULLRESYNC`; `handshake` is the replica's
//!   side of the handshake. Both are pure.
//! - `master` is the async shell serving one attached replica; `replica` is the link to
//!   our master. [`run_manager`] starts and stops the link and sends the master's PINGs.
//! - The commands: REPLCONF, PSYNC, SYNC, REPLICAOF/SLAVEOF, ROLE, WAIT.
//!
//! Nothing here holds the core lock across an await.

pub mod handshake;
pub mod master;
pub mod psync;
pub mod replica;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use slotkv_commands::args::is;
use slotkv_commands::{CmdError, CmdResult};
use slotkv_keyspace::ExpireMode;
use slotkv_persistence::{write_rdb, RdbOptions};
use slotkv_protocol::encode_command;
use tokio::sync::Notify;

use crate::cmds::*;
use crate::exec::{Action, SrvCtx};
use crate::log::now_ms;
use crate::shared::{random_hex40, ClientHandle, CoreRest, Shared};
use crate::table::{Handler, Spec, SrvFn};
use psync::{BacklogView, PsyncDecision, ReplIds, NO_REPLID};

/// State of the link to our master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting to (re)connect.
    Connect,
    /// TCP connection and handshake in progress.
    Connecting,
    /// Receiving the RDB snapshot.
    Sync,
    /// Streaming.
    Connected,
}

impl LinkState {
    /// The name ROLE uses.
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// We are a replica of this master.
#[derive(Debug, Clone)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Last time we heard from the master (ms), 0 if never.
    pub last_io_ms: i64,
    /// Since when the link is down (ms).
    pub down_since_ms: i64,
}

/// A replica attached to us (registered at its first REPLCONF or PSYNC).
#[derive(Clone)]
pub struct ReplicaInfo {
    pub handle: Arc<ClientHandle>,
    pub ip: String,
    pub listening_port: u16,
    pub capa_psync2: bool,
    /// Streaming (after PSYNC); before that it is still in its handshake.
    pub online: bool,
    pub ack_offset: u64,
    pub ack_ms: i64,
    /// Attached with SYNC (pre-PSYNC protocol): it never sends ACKs, so it never times out.
    pub pre_psync: bool,
    /// The child writing this replica's snapshot (full resync in progress).
    pub snapshot: Option<master::SnapshotChild>,
}

/// Replication state under the core lock.
pub struct ReplState {
    pub replid: String,
    pub replid2: String,
    pub second_offset: i64,
    /// `Some` while we are a replica.
    pub master: Option<MasterLink>,
    /// Bumped on every REPLICAOF: the running link task stops when it sees a newer one.
    pub link_gen: u64,
    /// Wakes the manager (REPLICAOF changed the target).
    pub link_changed: Arc<Notify>,
    /// Attached replicas by client id.
    pub replicas: BTreeMap<u64, ReplicaInfo>,
    /// Woken on every REPLCONF ACK (WAIT).
    pub acked: Arc<Notify>,
    /// Client id of the link to our master (its writes pass the read-only check).
    pub master_client_id: Option<u64>,
    /// Database selected by our master's stream at our offset: a partial resync continues
    /// the stream without a new SELECT (Redis keeps it in the cached master client).
    pub master_db: usize,
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    last_ping_ms: i64,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (seconds); both non-zero = on.
    pub min_replicas: (usize, i64),
}

impl Default for ReplState {
    fn default() -> Self {
        Self {
            replid: random_hex40(),
            replid2: NO_REPLID.to_string(),
            second_offset: -1,
            master: None,
            link_gen: 0,
            link_changed: Arc::new(Notify::new()),
            replicas: BTreeMap::new(),
            acked: Arc::new(Notify::new()),
            master_client_id: None,
            master_db: 0,
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            last_ping_ms: 0,
            min_replicas: (0, 10),
        }
    }
}

impl ReplState {
    pub fn is_replica(&self) -> bool {
        self.master.is_some()
    }

    fn ids(&self) -> ReplIds {
        ReplIds {
            replid: self.replid.clone(),
            replid2: self.replid2.clone(),
            second_offset: self.second_offset,
        }
    }

    /// A new history starts here: the current id becomes the previous one, valid up to
    /// `offset` (Redis's `shiftReplicationId`).
    pub fn shift_replid(&mut self, new_id: String, offset: u64) {
        self.replid2 = std::mem::replace(&mut self.replid, new_id);
        self.second_offset = offset as i64 + 1;
    }

    /// Closes the links of every attached replica (they reconnect and PSYNC again).
    pub fn disconnect_replicas(&mut self) {
        for r in self.replicas.values() {
            r.handle.request_kill();
        }
    }

    /// Reads `min-replicas-to-write` / `min-replicas-max-lag` (start-up, CONFIG SET).
    pub fn set_min_replicas(&mut self, config: &slotkv_config::Config) {
        self.min_replicas = (
            config.get_int("min-replicas-to-write").max(0) as usize,
            config.get_int("min-replicas-max-lag").max(0),
        );
    }

    /// Whether the min-replicas check is on (both settings non-zero).
    fn min_replicas_on(&self) -> bool {
        self.min_replicas.0 > 0 && self.min_replicas.1 > 0
    }

    /// Online replicas whose last ACK is at most `min-replicas-max-lag` seconds old.
    pub fn good_replicas(&self, now_ms: i64) -> usize {
        let max_lag = self.min_replicas.1;
        self.replicas
            .values()
            .filter(|r| r.online && now_ms / 1000 - r.ack_ms / 1000 <= max_lag)
            .count()
    }

    /// A master with `min-replicas-to-write` set refuses writes while it has fewer good
    /// replicas than that (replicas never refuse on this ground).
    pub fn too_few_good_replicas(&self, now_ms: i64) -> bool {
        self.min_replicas_on() && !self.is_replica() && self.good_replicas(now_ms) < self.min_replicas.0
    }

    /// Online replicas whose acknowledged offset reached `offset`.
    pub fn acked_at_least(&self, offset: u64) -> usize {
        self.replicas
            .values()
            .filter(|r| r.online && r.ack_offset >= offset)
            .count()
    }
}

/// Whether a write from this client must be refused (`replica-read-only`).
pub fn refuse_write(rest: &CoreRest, shared: &Shared, client_id: u64) -> bool {
    rest.replication.is_replica()
        && rest.replication.master_client_id != Some(client_id)
        && shared.config.read().get_bool("replica-read-only")
}

pub const READONLY_ERR: &str = "READONLY You can't write against a read only replica.";
pub const NOREPLICAS_ERR: &str = "NOREPLICAS Not enough good replicas to write.";

/// REPLCONF, PSYNC, SYNC, REPLICAOF, SLAVEOF, ROLE, WAIT.
pub fn specs() -> Vec<Spec> {
    let g = Group::Server;
    let h = |f: SrvFn| Handler::Srv(f);
    vec![
        cmd(
            "replconf",
            -1,
            ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
            (0, 0, 0),
            g,
            h(replconf),
        )
        .since("3.0.0"),
        cmd(
            "psync",
            -3,
            NO_ASYNC_LOADING | ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING,
            (0, 0, 0),
            g,
            h(psync),
        )
        .since("2.8.0"),
        cmd(
            "sync",
            1,
            NO_ASYNC_LOADING | ADMIN | NOSCRIPT | NO_MULTI,
            (0, 0, 0),
            g,
            h(sync),
        ),
        cmd(
            "replicaof",
            3,
            NO_ASYNC_LOADING | ADMIN | NOSCRIPT | STALE,
            (0, 0, 0),
            g,
            h(replicaof),
        )
        .since("5.0.0"),
        cmd(
            "slaveof",
            3,
            NO_ASYNC_LOADING | ADMIN | NOSCRIPT | STALE,
            (0, 0, 0),
            g,
            h(replicaof),
        ),
        cmd(
            "role",
            1,
            NOSCRIPT | LOADING | STALE | FAST,
            (0, 0, 0),
            g,
            h(role),
        )
        .since("2.8.12"),
        cmd("wait", 3, NOSCRIPT, (0, 0, 0), Group::Generic, h(wait)).since("3.0.0"),
    ]
}

fn parse_i64(a: &[u8]) -> Option<i64> {
    std::str::from_utf8(a).ok()?.parse().ok()
}

fn replica_entry<'a>(s: &'a mut SrvCtx<'_>) -> &'a mut ReplicaInfo {
    let conn = &*s.conn;
    s.rest
        .replication
        .replicas
        .entry(conn.id)
        .or_insert_with(|| ReplicaInfo {
            handle: conn.handle.clone(),
            ip: conn.handle.addr.ip().to_string(),
            listening_port: 0,
            capa_psync2: false,
            online: false,
            ack_offset: 0,
            ack_ms: 0,
            pre_psync: false,
            snapshot: None,
        })
}

fn replconf(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() & 1 == 0 {
        return Err(CmdError::Syntax);
    }
    let now = s.data.now_ms;
    for pair in args[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "listening-port") {
            let port = parse_i64(val)
                .filter(|p| (0..=65535).contains(p))
                .ok_or(CmdError::NotInteger)?;
            replica_entry(s).listening_port = port as u16;
        } else if is(opt, "ip-address") {
            replica_entry(s).ip = String::from_utf8_lossy(val).into_owned();
        } else if is(opt, "capa") {
            if is(val, "psync2") {
                replica_entry(s).capa_psync2 = true;
            }
        } else if is(opt, "ack") {
            // Replicas do not expect a reply to ACK.
            if let Some(off) = parse_i64(val) {
                if let Some(r) = s.rest.replication.replicas.get_mut(&s.conn.id) {
                    r.ack_offset = r.ack_offset.max(off.max(0) as u64);
                    r.ack_ms = now;
                    s.rest.replication.acked.notify_waiters();
                }
            }
            return Ok(());
        } else if is(opt, "getack") || is(opt, "rdb-only") || is(opt, "rdb-filter-only") {
            // GETACK is only meaningful from a master, on the replication link.
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    s.data.out.ok();
    Ok(())
}

fn check_can_serve_sync(s: &SrvCtx<'_>) -> CmdResult {
    if let Some(m) = &s.rest.replication.master {
        if m.state != LinkState::Connected {
            return Err(CmdError::Raw(
                "NOMASTERLINK Can't SYNC while not connected with my master".into(),
            ));
        }
    }
    Ok(())
}

fn psync(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    check_can_serve_sync(s)?;
    let repl = &s.rest.repl;
    let view = BacklogView {
        active: repl.enabled,
        first: repl.backlog_start(),
        offset: repl.offset,
    };
    match psync::decide(&s.rest.replication.ids(), view, &args[1], &args[2]) {
        PsyncDecision::Continue { from } => {
            let psync2 = replica_entry(s).capa_psync2;
            let st = &mut s.rest.replication;
            st.sync_partial_ok += 1;
            let line = if psync2 {
                format!("+CONTINUE {}\r\n", st.replid)
            } else {
                "+CONTINUE\r\n".to_string()
            };
            s.data.out.raw(line.as_bytes());
            tracing::info!(
                "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                s.conn.handle.addr,
                s.rest.repl.offset + 1 - from,
                from
            );
            start_stream(s, from);
        }
        PsyncDecision::Full { partial_err } => {
            if partial_err {
                s.rest.replication.sync_partial_err += 1;
            }
            full_sync(s, true)?;
        }
    }
    Ok(())
}

fn sync(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    check_can_serve_sync(s)?;
    replica_entry(s).pre_psync = true;
    full_sync(s, false)
}

/// Starts a full resynchronization: a forked child writes the snapshot to a file (the
/// parent goes on serving; the replica's sender task waits for it and buffers the stream
/// meanwhile). If fork fails, the snapshot is serialized here, under the core lock, into
/// the reply. Either way the stream continues right after the snapshot's offset.
fn full_sync(s: &mut SrvCtx<'_>, fullresync_line: bool) -> CmdResult {
    let now = s.data.now_ms;
    let opts = {
        let c = s.shared.config.read();
        RdbOptions {
            compression: c.get_bool("rdbcompression"),
            checksum: c.get_bool("rdbchecksum"),
        }
    };
    let repl = &mut s.rest.repl;
    repl.enabled = true;
    // The replica starts without a selected database: the next write re-selects.
    repl.reset_selected_db();
    let offset = repl.offset;
    s.rest.replication.sync_full += 1;
    if fullresync_line {
        let line = format!("+FULLRESYNC {} {}\r\n", s.rest.replication.replid, offset);
        s.data.out.raw(line.as_bytes());
    }
    let path = std::path::PathBuf::from(format!("temp-repl-sync-{}-{}.rdb", std::process::id(), s.conn.id));
    let ks: &slotkv_keyspace::Keyspace = s.data.ks;
    let child_path = path.clone();
    match crate::fork::spawn_child(move || master::write_snapshot(ks, &child_path, &opts)) {
        Ok(pid) => {
            tracing::info!(
                "Replica {} asks for synchronization; full resync at offset {offset}, snapshot by pid {pid}",
                s.conn.handle.addr
            );
            replica_entry(s).snapshot = Some(master::SnapshotChild { pid, path });
        }
        Err(e) => {
            tracing::warn!("Can't fork for the replica's snapshot ({e}); writing it in the foreground");
            let mut rdb = Vec::new();
            write_rdb(&mut rdb, ks, now, &opts)
                .map_err(|e| CmdError::err(format!("Can't produce the RDB snapshot: {e}")))?;
            tracing::info!(
                "Replica {} asks for synchronization; full resync at offset {offset} with {} bytes of RDB",
                s.conn.handle.addr,
                rdb.len()
            );
            s.data.out.raw(format!("${}\r\n", rdb.len()).as_bytes());
            s.data.out.raw(&rdb);
        }
    }
    start_stream(s, offset + 1);
    Ok(())
}

fn start_stream(s: &mut SrvCtx<'_>, from: u64) {
    let now = s.data.now_ms;
    let r = replica_entry(s);
    r.online = true;
    r.ack_ms = now;
    s.conn.action = Some(Action::StartReplicaStream { from });
}

fn replicaof(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if s.shared.config.read().get_bool("cluster-enabled") {
        return Err(CmdError::err("REPLICAOF not allowed in cluster mode."));
    }
    if is(&args[1], "no") && is(&args[2], "one") {
        if s.rest.replication.is_replica() {
            promote(s.data.ks, s.rest);
            tracing::warn!("MASTER MODE enabled (user request from '{}')", s.conn.handle.addr);
        }
        s.data.out.ok();
        return Ok(());
    }
    let port = parse_i64(&args[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or(CmdError::NotInteger)? as u16;
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    if let Some(m) = &s.rest.replication.master {
        if m.host.eq_ignore_ascii_case(&host) && m.port == port {
            s.data.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    set_master(s.data.ks, s.rest, host.clone(), port);
    tracing::info!(
        "REPLICAOF {host}:{port} enabled (user request from '{}')",
        s.conn.handle.addr
    );
    s.data.out.ok();
    Ok(())
}

/// Becomes a replica of `host:port`.
pub fn set_master(ks: &mut slotkv_keyspace::Keyspace, rest: &mut CoreRest, host: String, port: u16) {
    let st = &mut rest.replication;
    st.master = Some(MasterLink {
        host,
        port,
        state: LinkState::Connect,
        last_io_ms: 0,
        down_since_ms: 0,
    });
    st.link_gen += 1;
    st.master_client_id = None;
    st.disconnect_replicas();
    st.link_changed.notify_one();
    ks.set_expire_mode(ExpireMode::HideOnly);
    // A replica keeps a backlog of its master's stream (for its own replicas, and for
    // its offset).
    rest.repl.enabled = true;
    rest.repl.relay_only = true;
}

/// REPLICAOF NO ONE: a new history starts, the old one stays valid up to our offset so
/// that the other replicas of our old master can continue from us.
pub fn promote(ks: &mut slotkv_keyspace::Keyspace, rest: &mut CoreRest) {
    let offset = rest.repl.offset;
    let st = &mut rest.replication;
    st.shift_replid(random_hex40(), offset);
    st.master = None;
    st.master_client_id = None;
    st.link_gen += 1;
    st.link_changed.notify_one();
    st.disconnect_replicas();
    rest.repl.relay_only = false;
    rest.repl.reset_selected_db();
    ks.set_expire_mode(ExpireMode::Delete);
    tracing::info!(
        "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
        rest.replication.replid2,
        rest.replication.second_offset,
        rest.replication.replid
    );
}

fn role(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let st = &s.rest.replication;
    let out = &mut *s.data.out;
    match &st.master {
        None => {
            out.array_len(3);
            out.bulk(b"master");
            out.int(s.rest.repl.offset as i64);
            let online: Vec<_> = st.replicas.values().filter(|r| r.online).collect();
            out.array_len(online.len());
            for r in online {
                out.array_len(3);
                out.bulk(r.ip.as_bytes());
                out.bulk(r.listening_port.to_string().as_bytes());
                out.bulk(r.ack_offset.to_string().as_bytes());
            }
        }
        Some(m) => {
            out.array_len(5);
            out.bulk(b"slave");
            out.bulk(m.host.as_bytes());
            out.int(m.port as i64);
            out.bulk(m.state.role_name().as_bytes());
            let off = if m.state == LinkState::Connected {
                s.rest.repl.offset as i64
            } else {
                -1
            };
            out.int(off);
        }
    }
    Ok(())
}

fn wait(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    if s.rest.replication.is_replica() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let num = parse_i64(&args[1]).ok_or(CmdError::NotInteger)?;
    let timeout = parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let offset = s.rest.repl.offset;
    let acked = s.rest.replication.acked_at_least(offset);
    if acked as i64 >= num || s.conn.multi.is_some() {
        s.data.out.int(acked as i64);
        return Ok(());
    }
    request_acks(s.rest);
    let deadline_ms = if timeout == 0 { 0 } else { s.data.now_ms + timeout };
    s.conn.action = Some(Action::WaitReplicas {
        offset,
        num: num.max(0) as usize,
        deadline_ms,
    });
    Ok(())
}

/// Puts `REPLCONF GETACK *` in the stream: every replica answers with its offset.
pub fn request_acks(rest: &mut CoreRest) {
    if rest.repl.enabled && !rest.replication.replicas.is_empty() {
        let mut buf = Vec::new();
        encode_command(&mut buf, &[&b"REPLCONF"[..], b"GETACK", b"*"]);
        rest.repl.append_raw(&buf);
    }
}

/// Blocks a WAIT until `num` replicas acknowledged `offset`, the deadline (0: none) or a
/// kill; returns how many did.
pub async fn wait_for_acks(
    shared: &Shared,
    handle: &ClientHandle,
    offset: u64,
    num: usize,
    deadline_ms: i64,
) -> usize {
    let acked = shared.core.lock().rest.replication.acked.clone();
    loop {
        let notified = acked.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let n = shared.core.lock().rest.replication.acked_at_least(offset);
        if n >= num {
            return n;
        }
        let sleep_for = if deadline_ms == 0 {
            Duration::from_secs(3600)
        } else {
            let left = deadline_ms - now_ms();
            if left <= 0 {
                return n;
            }
            Duration::from_millis(left as u64)
        };
        tokio::select! {
            _ = notified => {}
            _ = handle.kill.notified() => return n,
            _ = tokio::time::sleep(sleep_for) => {}
        }
    }
}

/// Forgets a departing client if it was a replica.
pub fn on_disconnect(rest: &mut CoreRest, client_id: u64) {
    if let Some(r) = rest.replication.replicas.remove(&client_id) {
        if let Some(child) = r.snapshot {
            // The link closed before its sender started: nobody else will reap it.
            if crate::fork::poll_child(child.pid).is_none() {
                crate::fork::kill_child(child.pid);
            }
            let _ = std::fs::remove_file(&child.path);
        }
        rest.replication.acked.notify_waiters();
    }
}

/// The body of INFO's `# Replication` section (lines end with CRLF, without the
/// `# Replication` header).
pub fn info_replication(shared: &Shared, rest: &CoreRest) -> String {
    let st = &rest.replication;
    let repl = &rest.repl;
    let now = now_ms();
    let mut s = String::new();
    match &st.master {
        None => s.push_str("role:master\r\n"),
        Some(m) => {
            let up = m.state == LinkState::Connected;
            let _ = write!(
                s,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
                m.host,
                m.port,
                if up { "up" } else { "down" },
                if m.last_io_ms > 0 { (now - m.last_io_ms) / 1000 } else { -1 },
                u8::from(m.state == LinkState::Sync),
                repl.offset,
                repl.offset,
            );
            if !up {
                // -1 until the link was up once, as Redis shows it.
                let since = if m.down_since_ms == 0 {
                    -1
                } else {
                    (now - m.down_since_ms).max(0) / 1000
                };
                let _ = write!(s, "master_link_down_since_seconds:{since}\r\n");
            }
            let c = shared.config.read();
            let _ = write!(
                s,
                "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
                c.get_int("replica-priority"),
                u8::from(c.get_bool("replica-read-only")),
                u8::from(c.get_bool("replica-announced")),
            );
        }
    }
    let online: Vec<_> = st.replicas.values().filter(|r| r.online).collect();
    let _ = write!(s, "connected_slaves:{}\r\n", online.len());
    if st.min_replicas_on() {
        let _ = write!(s, "min_slaves_good_slaves:{}\r\n", st.good_replicas(now));
    }
    for (i, r) in online.iter().enumerate() {
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state=online,offset={},lag={}\r\n",
            r.ip,
            r.listening_port,
            r.ack_offset,
            (now - r.ack_ms).max(0) / 1000
        );
    }
    let (first, histlen) = if repl.enabled {
        (repl.backlog_start(), repl.backlog.len())
    } else {
        (0, 0)
    };
    let _ = write!(
        s,
        "master_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        st.replid,
        st.replid2,
        repl.offset,
        st.second_offset,
        u8::from(repl.enabled),
        repl.backlog_size,
        first,
        histlen
    );
    s
}

/// `sync_full`, `sync_partial_ok`, `sync_partial_err` for INFO stats.
pub fn sync_stats(rest: &CoreRest) -> (u64, u64, u64) {
    let st = &rest.replication;
    (st.sync_full, st.sync_partial_ok, st.sync_partial_err)
}

/// AUX fields saved in RDB files while a stream exists: where the data stands in the
/// replication history (`repl-stream-db`, `repl-id`, `repl-offset`, as Redis writes them).
pub fn rdb_aux(rest: &CoreRest) -> Vec<(String, Vec<u8>)> {
    if !rest.repl.enabled {
        return Vec::new();
    }
    let st = &rest.replication;
    let db = if st.is_replica() { st.master_db } else { 0 };
    vec![
        ("repl-stream-db".into(), db.to_string().into_bytes()),
        ("repl-id".into(), st.replid.clone().into_bytes()),
        ("repl-offset".into(), rest.repl.offset.to_string().into_bytes()),
    ]
}

/// At start-up, a node configured as a replica takes its replication id and offset from
/// the RDB file it loaded, so that its first PSYNC can continue where it stopped.
pub fn restore_from_rdb(shared: &Shared, rest: &mut CoreRest, stats: &slotkv_persistence::RdbStats) {
    if shared.config.read().replicaof().is_none() {
        return;
    }
    let field = |name: &str| stats.aux_field(name).and_then(|v| std::str::from_utf8(v).ok());
    let (Some(id), Some(offset)) = (
        field("repl-id"),
        field("repl-offset").and_then(|o| o.parse::<u64>().ok()),
    ) else {
        return;
    };
    if id.len() != 40 {
        return;
    }
    let db = field("repl-stream-db")
        .and_then(|d| d.parse::<usize>().ok())
        .unwrap_or(0);
    tracing::info!(
        "Using the replication ID/offset from the RDB file to try a partial resynchronization: {id}:{offset}"
    );
    rest.replication.replid = id.to_string();
    rest.replication.replid2 = NO_REPLID.to_string();
    rest.replication.second_offset = -1;
    rest.replication.master_db = db;
    rest.repl.enabled = true;
    rest.repl.backlog.clear();
    rest.repl.offset = offset;
}

/// DEBUG CHANGE-REPL-ID: a new replication id, and no previous one (Redis's
/// `changeReplicationId` + `clearReplicationId2`).
pub fn change_replid(rest: &mut CoreRest) {
    let st = &mut rest.replication;
    st.replid = random_hex40();
    st.replid2 = NO_REPLID.to_string();
    st.second_offset = -1;
}

/// Applies `replicaof` from the configuration, then runs forever: starts and stops the
/// link to our master as REPLICAOF changes it, and puts a PING in the stream every
/// `repl-ping-replica-period` seconds while replicas are attached.
pub async fn run_manager(shared: Arc<Shared>) {
    let changed = {
        let target = shared.config.read().replicaof();
        let mut core = shared.core.lock();
        let core = &mut *core;
        let backlog = shared.config.read().get_int("repl-backlog-size").max(1) as usize;
        core.rest.repl.backlog_size = backlog.max(16 * 1024);
        if let Some((host, port)) = target {
            set_master(&mut core.ks, &mut core.rest, host, port);
        }
        core.rest.replication.link_changed.clone()
    };
    let mut running: Option<(u64, tokio::task::JoinHandle<()>)> = None;
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (target, gen) = {
            let mut core = shared.core.lock();
            let core = &mut *core;
            let now = now_ms();
            let period = shared.config.read().get_int("repl-ping-replica-period").max(1) * 1000;
            let st = &mut core.rest.replication;
            if st.master.is_none() && !st.replicas.is_empty() && now - st.last_ping_ms >= period {
                st.last_ping_ms = now;
                let mut buf = Vec::new();
                encode_command(&mut buf, &[&b"PING"[..]]);
                core.rest.repl.append_raw(&buf);
            }
            let st = &core.rest.replication;
            (st.master.as_ref().map(|m| (m.host.clone(), m.port)), st.link_gen)
        };
        let stale = running.as_ref().is_some_and(|(g, _)| *g != gen);
        if stale {
            if let Some((_, task)) = running.take() {
                task.abort();
            }
        }
        if running.is_none() {
            if let Some((host, port)) = target {
                let task = tokio::spawn(replica::run_link(shared.clone(), host, port, gen));
                running = Some((gen, task));
            }
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(Duration::from_millis(1000)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().map(|l| l.split(':').next().unwrap_or("")).collect()
    }

    #[test]
    fn info_replication_fields_in_redis_order() {
        let shared = crate::build_shared(slotkv_config::Config::default(), 0);
        let mut core = shared.core.lock();
        let core = &mut *core;
        let master = info_replication(&shared, &core.rest);
        assert_eq!(
            lines(&master),
            [
                "role",
                "connected_slaves",
                "master_failover_state",
                "master_replid",
                "master_replid2",
                "master_repl_offset",
                "second_repl_offset",
                "repl_backlog_active",
                "repl_backlog_size",
                "repl_backlog_first_byte_offset",
                "repl_backlog_histlen"
            ]
        );
        assert!(master.ends_with("\r\n"));
        set_master(&mut core.ks, &mut core.rest, "10.0.0.1".into(), 6379);
        let replica = info_replication(&shared, &core.rest);
        assert_eq!(
            lines(&replica)[..12],
            [
                "role",
                "master_host",
                "master_port",
                "master_link_status",
                "master_last_io_seconds_ago",
                "master_sync_in_progress",
                "slave_read_repl_offset",
                "slave_repl_offset",
                "master_link_down_since_seconds",
                "slave_priority",
                "slave_read_only",
                "replica_announced"
            ]
        );
        assert!(replica.contains("master_link_status:down\r\n"));
        assert!(replica.contains("master_link_down_since_seconds:-1\r\n"));
        // Promotion keeps the old history as replid2, valid up to offset + 1.
        core.rest.repl.offset = 41;
        let old = core.rest.replication.replid.clone();
        promote(&mut core.ks, &mut core.rest);
        assert_eq!(core.rest.replication.replid2, old);
        assert_eq!(core.rest.replication.second_offset, 42);
        assert_ne!(core.rest.replication.replid, old);
        assert!(!core.rest.repl.relay_only);
    }
}
