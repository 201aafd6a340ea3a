//! HOT PATH. One task per client connection: read, parse every complete request in the
//! buffer, run the whole batch under one acquisition of the core lock, write the replies.
//! Also the waiting side of blocking commands and the delivery of pushed messages
//! (pub/sub, MONITOR). No lock is held across an await.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use slotkv_protocol::{ProtocolError, ReplyWriter, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use crate::exec::{self, Action, ConnState};
use crate::log::now_ms;
use crate::shared::{ClientHandle, ClientInfo, PushMsg, Shared, Waiter};

const READ_CHUNK: usize = 16 * 1024;

/// Serves one client until it disconnects, is killed, or the server stops.
pub async fn serve(shared: Arc<Shared>, stream: TcpStream, addr: SocketAddr, laddr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let now = now_ms();
    let handle = Arc::new(ClientHandle::new(
        id,
        addr,
        laddr,
        now,
        ClientInfo {
            last_active_ms: now,
            resp: 2,
            multi: -1,
            ..Default::default()
        },
    ));
    shared.clients.lock().insert(id, handle.clone());
    shared.stats.connected_clients.fetch_add(1, Ordering::Relaxed);
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    let authenticated = shared.config.read().get_str("requirepass").is_empty();
    let max_bulk = shared.config.read().get_int("proto-max-bulk-len").max(1) as usize;
    let mut conn = ConnState {
        id,
        handle: handle.clone(),
        db: 0,
        authenticated,
        multi: None,
        watched: Vec::new(),
        watch_dirty: Arc::new(AtomicBool::new(false)),
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
    let mut session = Session {
        shared: &shared,
        stream,
        inbuf: BytesMut::with_capacity(READ_CHUNK),
        parser: RequestParser::new(max_bulk),
        out: ReplyWriter::default(),
        pending: VecDeque::new(),
        push_rx,
        wake: Arc::new(Notify::new()),
        block_deadline: None,
    };
    session.run(&mut conn).await;
    cleanup(&shared, &mut conn);
}

struct Session<'a> {
    shared: &'a Shared,
    stream: TcpStream,
    inbuf: BytesMut,
    parser: RequestParser,
    out: ReplyWriter,
    /// Parsed requests not yet executed (after a blocking command, in order).
    pending: VecDeque<Vec<Bytes>>,
    push_rx: mpsc::UnboundedReceiver<PushMsg>,
    /// Notified when a key this client is blocked on is written.
    wake: Arc<Notify>,
    /// Deadline of the blocking command at the head of `pending` (kept across retries).
    block_deadline: Option<i64>,
}

enum Step {
    Continue,
    Close,
    /// The connection became a replica's feed, from this offset.
    ReplicaStream(u64),
}

impl Session<'_> {
    async fn run(&mut self, conn: &mut ConnState) {
        loop {
            // Wait for input, a pushed message, or a kill.
            tokio::select! {
                biased;
                _ = conn.handle.kill.notified() => return,
                msg = self.push_rx.recv() => {
                    if let Some(msg) = msg {
                        self.encode_push(msg);
                        while let Ok(m) = self.push_rx.try_recv() {
                            self.encode_push(m);
                        }
                    }
                }
                r = read_more(&mut self.stream, &mut self.inbuf, &self.parser) => {
                    match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            self.shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                }
            }
            loop {
                // Before AUTH, Redis's tighter request limits apply, and whether they still
                // do after a request depends on running it: parse one request at a time.
                let unauth = !conn.authenticated;
                self.parser.set_unauthenticated(unauth);
                let proto_err = self.parse_pending(unauth);
                let parsed = !self.pending.is_empty();
                match self.run_pending(conn).await {
                    Step::Continue => {}
                    Step::Close => {
                        let _ = self.flush().await;
                        return;
                    }
                    Step::ReplicaStream(from) => {
                        if self.flush().await.is_ok() {
                            let inbuf = std::mem::take(&mut self.inbuf);
                            crate::replication::master::serve_replica(
                                self.shared,
                                &mut self.stream,
                                inbuf,
                                conn,
                                from,
                            )
                            .await;
                        }
                        return;
                    }
                }
                if let Some(e) = proto_err {
                    self.out.error(&format!("ERR {e}"));
                    let _ = self.flush().await;
                    return;
                }
                if !(unauth && parsed && !self.inbuf.is_empty()) {
                    break;
                }
            }
            if self.flush().await.is_err() {
                return;
            }
        }
    }

    /// Parses every complete request in the input buffer (only the first if `one`).
    fn parse_pending(&mut self, one: bool) -> Option<ProtocolError> {
        loop {
            match self.parser.next(&mut self.inbuf) {
                Ok(Some(args)) => {
                    self.pending.push_back(args);
                    if one {
                        return None;
                    }
                }
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    /// Executes pending requests; handles blocking (which may wait) and close requests.
    async fn run_pending(&mut self, conn: &mut ConnState) -> Step {
        while !self.pending.is_empty() {
            let now = now_ms();
            let mut paused = false;
            // Large RESTORE payloads (MIGRATE's) are decoded first, without the lock.
            crate::cmds::migrate::predecode_restores(&self.pending, conn).await;
            let action = {
                let mut core = self.shared.core.lock();
                // While clients are paused keys do not expire: reads hide an expired key
                // but leave it (and propagate no DEL), as Redis does.
                let hold_expiry = self.shared.pause.any(now)
                    && core.ks.dbs[0].expire_mode == slotkv_keyspace::ExpireMode::Delete;
                if hold_expiry {
                    core.ks.set_expire_mode(slotkv_keyspace::ExpireMode::HideOnly);
                }
                let mut action = None;
                while let Some(args) = self.pending.pop_front() {
                    if crate::pause::must_wait(self.shared, conn, &args, now) {
                        // CLIENT PAUSE or a manual failover holds it: wait and retry (below).
                        self.pending.push_front(args);
                        paused = true;
                        break;
                    }
                    // A command that blocked and is run again after a wake-up.
                    let retry = self.block_deadline.is_some();
                    if retry {
                        conn.handle.info.lock().reprocessing = true;
                    }
                    exec::call(&mut core, conn, self.shared, &mut self.out, &args, now);
                    if retry {
                        conn.handle.info.lock().reprocessing = false;
                    }
                    if let Some(a) = conn.action.take() {
                        if let Action::Block(b) = &a {
                            let deadline = *self.block_deadline.get_or_insert(b.deadline_ms);
                            if deadline != 0 && deadline <= now {
                                // Timed out while being retried.
                                self.block_deadline = None;
                                self.out.null_array();
                                continue;
                            }
                            for k in &b.keys {
                                core.rest
                                    .blocked
                                    .entry((conn.db, k.as_ref().into()))
                                    .or_default()
                                    .push(Waiter {
                                        client_id: conn.id,
                                        notify: self.wake.clone(),
                                    });
                            }
                            self.pending.push_front(args);
                        } else {
                            self.block_deadline = None;
                        }
                        action = Some(a);
                        break;
                    }
                    self.block_deadline = None;
                }
                if hold_expiry {
                    core.ks.set_expire_mode(slotkv_keyspace::ExpireMode::Delete);
                }
                // The batch's writes reach the AOF before any of its replies is sent.
                crate::aof::flush_pending(&mut core.rest);
                action
            };
            // Values decoded for requests that did not use them are freed off the event loop.
            if !conn.predecoded.is_empty() {
                let unused = std::mem::take(&mut conn.predecoded);
                tokio::task::spawn_blocking(move || drop(unused));
            }
            self.update_info(conn);
            if paused && action.is_none() {
                if self.flush().await.is_err() {
                    return Step::Close;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            match action {
                None => {}
                Some(Action::Close) => return Step::Close,
                Some(Action::Shutdown { save }) => {
                    if crate::persist::final_save(self.shared, save).is_ok() {
                        crate::request_shutdown(self.shared, save);
                        return Step::Close;
                    }
                    self.out.error("ERR Errors trying to SHUTDOWN. Check logs.");
                }
                Some(Action::None) => {}
                Some(Action::Migrate(job)) => {
                    // The network part runs without the lock; a disconnect of this client
                    // does not interrupt it, so the outcome is always applied.
                    let outcome =
                        crate::cmds::migrate::transfer(Some(&self.shared.migrate_sockets), &job).await;
                    let dropped = {
                        let mut core = self.shared.core.lock();
                        crate::cmds::migrate::finish(&mut core, &job, &outcome, &mut self.out)
                    };
                    // Large values are freed after the lock is released, off the event loop.
                    if !dropped.is_empty() {
                        tokio::task::spawn_blocking(move || drop(dropped));
                    }
                }
                Some(Action::StartReplicaStream { from }) => return Step::ReplicaStream(from),
                Some(Action::WaitReplicas {
                    offset,
                    num,
                    deadline_ms,
                }) => {
                    if self.flush().await.is_err() {
                        return Step::Close;
                    }
                    let n = crate::replication::wait_for_acks(
                        self.shared,
                        &conn.handle,
                        offset,
                        num,
                        deadline_ms,
                    )
                    .await;
                    self.out.int(n as i64);
                }
                Some(Action::Block(b)) => {
                    if self.flush().await.is_err() {
                        return Step::Close;
                    }
                    if let Step::Close = self.wait_blocked(conn, &b).await {
                        return Step::Close;
                    }
                }
            }
        }
        Step::Continue
    }

    /// Waits until a key the client is blocked on is written, the deadline passes, the
    /// client disconnects or is killed. On timeout the blocked request gets its null reply.
    async fn wait_blocked(&mut self, conn: &mut ConnState, b: &slotkv_commands::BlockOn) -> Step {
        self.shared.stats.blocked_clients.fetch_add(1, Ordering::Relaxed);
        conn.handle.unblock.store(0, Ordering::SeqCst);
        conn.handle.blocked.store(true, Ordering::SeqCst);
        let deadline = self.block_deadline.unwrap_or(b.deadline_ms);
        let step = loop {
            let sleep_for = if deadline == 0 {
                Duration::from_secs(3600 * 24 * 365)
            } else {
                Duration::from_millis((deadline - now_ms()).max(0) as u64)
            };
            tokio::select! {
                biased;
                _ = conn.handle.kill.notified() => break Step::Close,
                _ = self.wake.notified() => break Step::Continue,
                _ = conn.handle.unblock_notify.notified() => {
                    // CLIENT UNBLOCK from another client (a stale wake-up is ignored).
                    let how = conn.handle.unblock.swap(0, Ordering::SeqCst);
                    if how == 0 {
                        continue;
                    }
                    self.pending.pop_front();
                    self.block_deadline = None;
                    if how == crate::shared::UNBLOCK_ERROR {
                        self.out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                    } else {
                        self.out.null_array();
                    }
                    break Step::Continue;
                }
                _ = tokio::time::sleep(sleep_for) => {
                    // Timed out: answer the blocked request and drop it.
                    self.pending.pop_front();
                    self.block_deadline = None;
                    self.out.null_array();
                    break Step::Continue;
                }
                r = read_more(&mut self.stream, &mut self.inbuf, &self.parser) => {
                    match r {
                        Ok(0) | Err(_) => break Step::Close,
                        Ok(_) => {
                            // More pipelined requests: queue them behind the blocked one.
                            if let Some(e) = self.parse_pending(false) {
                                self.out.error(&format!("ERR {e}"));
                                break Step::Close;
                            }
                        }
                    }
                }
            }
        };
        conn.handle.blocked.store(false, Ordering::SeqCst);
        self.shared.stats.blocked_clients.fetch_sub(1, Ordering::Relaxed);
        unregister_waiter(self.shared, conn);
        step
    }

    fn encode_push(&mut self, msg: PushMsg) {
        match msg {
            PushMsg::Message {
                pattern: None,
                channel,
                payload,
            } => {
                self.out.push_len(3);
                self.out.bulk(b"message");
                self.out.bulk(&channel);
                self.out.bulk(&payload);
            }
            PushMsg::Message {
                pattern: Some(p),
                channel,
                payload,
            } => {
                self.out.push_len(4);
                self.out.bulk(b"pmessage");
                self.out.bulk(&p);
                self.out.bulk(&channel);
                self.out.bulk(&payload);
            }
            PushMsg::ShardMessage { channel, payload } => {
                self.out.push_len(3);
                self.out.bulk(b"smessage");
                self.out.bulk(&channel);
                self.out.bulk(&payload);
            }
            PushMsg::Monitor(line) => {
                self.out.raw(b"+");
                self.out.raw(&line);
                self.out.raw(b"\r\n");
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.buf.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.out.buf).await?;
        self.shared
            .stats
            .net_output_bytes
            .fetch_add(self.out.buf.len() as u64, Ordering::Relaxed);
        self.out.buf.clear();
        if self.out.buf.capacity() > 1 << 20 {
            self.out.buf.shrink_to(READ_CHUNK);
        }
        Ok(())
    }

    fn update_info(&self, conn: &ConnState) {
        let mut info = conn.handle.info.lock();
        info.db = conn.db;
        info.last_cmd = conn.last_cmd;
        info.last_active_ms = now_ms();
        info.resp = if self.out.resp3() { 3 } else { 2 };
        info.sub = conn.subs.channels.len();
        info.psub = conn.subs.patterns.len();
        info.multi = conn.multi.as_ref().map_or(-1, |m| m.queued.len() as i64);
        info.qbuf = self.inbuf.len();
    }
}

/// Reads more bytes, reserving room for the bulk being received (bounded by the bytes
/// that are actually coming, never by a client-declared length alone).
async fn read_more(
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    parser: &RequestParser,
) -> std::io::Result<usize> {
    let want = parser
        .bulk_bytes_needed(inbuf.len())
        .unwrap_or(0)
        .clamp(READ_CHUNK, 1 << 20);
    if inbuf.capacity() - inbuf.len() < READ_CHUNK {
        inbuf.reserve(want);
    }
    stream.read_buf(inbuf).await
}

fn unregister_waiter(shared: &Shared, conn: &ConnState) {
    let mut core = shared.core.lock();
    core.rest.blocked.retain(|_, waiters| {
        waiters.retain(|w| w.client_id != conn.id);
        !waiters.is_empty()
    });
}

/// Forgets everything the server holds about a departing client.
fn cleanup(shared: &Shared, conn: &mut ConnState) {
    {
        let mut core = shared.core.lock();
        crate::cmds::multi::unwatch_all(&mut core.rest, conn);
        crate::cmds::pubsub::unsubscribe_all(&mut core.rest, conn);
        crate::replication::on_disconnect(&mut core.rest, conn.id);
        if !core.rest.blocked.is_empty() {
            core.rest.blocked.retain(|_, waiters| {
                waiters.retain(|w| w.client_id != conn.id);
                !waiters.is_empty()
            });
        }
    }
    if conn.monitor && shared.monitors.lock().remove(&conn.id).is_some() {
        shared.monitor_count.fetch_sub(1, Ordering::Relaxed);
    }
    shared.clients.lock().remove(&conn.id);
    shared.stats.connected_clients.fetch_sub(1, Ordering::Relaxed);
}
