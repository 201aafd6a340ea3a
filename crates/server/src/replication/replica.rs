//! The link to our master: connect, handshake (driving `handshake::Handshake`), load the
//! snapshot of a full resync, then apply the master's stream through the normal
//! dispatcher as the "master client" (replies discarded), relay the applied bytes into our
//! own backlog (chained replicas, and our offset), answer `REPLCONF GETACK` and send
//! `REPLCONF ACK <offset>` every second. On any failure the link is retried every second
//! with a PSYNC from our offset.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use slotkv_commands::args::is;
use slotkv_persistence::{read_rdb_with, RdbLoadOptions};
use slotkv_protocol::{encode_command, ReplyWriter, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::handshake::{Handshake, HandshakeConfig, HsStep};
use super::LinkState;
use crate::exec::{self, ConnState};
use crate::log::now_ms;
use crate::shared::Shared;

type LinkResult<T> = Result<T, String>;

/// Runs the link of generation `gen` until the manager aborts it.
pub async fn run_link(shared: Arc<Shared>, host: String, port: u16, gen: u64) {
    loop {
        tracing::info!("Connecting to MASTER {host}:{port}");
        if let Err(e) = link_once(&shared, &host, port, gen).await {
            tracing::warn!("Replication link to {host}:{port}: {e}");
        }
        set_state(&shared, gen, LinkState::Connect);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
}

/// Updates the link state if we are still the current link.
fn set_state(shared: &Shared, gen: u64, state: LinkState) {
    let mut core = shared.core.lock();
    let st = &mut core.rest.replication;
    if st.link_gen != gen {
        return;
    }
    if let Some(m) = st.master.as_mut() {
        if m.state == LinkState::Connected && state != LinkState::Connected {
            m.down_since_ms = now_ms();
            st.master_client_id = None;
        }
        m.state = state;
    }
}

fn touch(shared: &Shared, gen: u64) {
    let mut core = shared.core.lock();
    let st = &mut core.rest.replication;
    if st.link_gen == gen {
        if let Some(m) = st.master.as_mut() {
            m.last_io_ms = now_ms();
        }
    }
}

struct Link {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Link {
    async fn fill(&mut self) -> LinkResult<()> {
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err("Timeout reading from the MASTER".into()),
            Ok(Ok(0)) => Err("Connection closed by the MASTER".into()),
            Ok(Err(e)) => Err(format!("Error reading from the MASTER: {e}")),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// One CRLF (or LF) terminated line, without the terminator.
    async fn line(&mut self) -> LinkResult<Vec<u8>> {
        loop {
            if let Some(nl) = memchr_nl(&self.buf) {
                let mut line = self.buf.split_to(nl + 1).to_vec();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > 64 * 1024 {
                return Err("Reply line too long from the MASTER".into());
            }
            self.fill().await?;
        }
    }

    async fn send(&mut self, args: &[Vec<u8>]) -> LinkResult<()> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| format!("Error writing to the MASTER: {e}"))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

async fn link_once(shared: &Arc<Shared>, host: &str, port: u16, gen: u64) -> LinkResult<()> {
    set_state(shared, gen, LinkState::Connecting);
    let (timeout_ms, user, pass) = {
        let c = shared.config.read();
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        (
            c.get_int("repl-timeout").max(1) * 1000,
            nonempty(c.get_str("masteruser")),
            nonempty(c.get_str("masterauth")),
        )
    };
    let timeout = Duration::from_millis(timeout_ms as u64);
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| "Timeout connecting to the MASTER".to_string())?
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut link = Link {
        stream,
        buf: BytesMut::with_capacity(16 * 1024),
        timeout,
    };
    // Like Redis, always offer our history (a fresh node's is empty and the master answers
    // with a full resync).
    let psync_from = {
        let core = shared.core.lock();
        Some((core.rest.replication.replid.clone(), core.rest.repl.offset + 1))
    };
    let listening_port = {
        let announced = shared.config.read().get_int("replica-announce-port");
        if announced > 0 {
            announced as u16
        } else {
            shared.port
        }
    };
    let config = HandshakeConfig {
        masteruser: user,
        masterauth: pass,
        listening_port,
        announce_ip: Some(shared.config.read().get_str("replica-announce-ip").to_string())
            .filter(|ip| !ip.is_empty()),
        psync_from,
        timeout_ms,
    };
    let (mut hs, mut step) = Handshake::start(config, now_ms());
    loop {
        match step {
            HsStep::Send(args) => {
                link.send(&args).await?;
                let line = loop {
                    let l = link.line().await?;
                    // Masters may send newlines as keepalives.
                    if !l.is_empty() {
                        break l;
                    }
                };
                if let Some(fail) = hs.tick(now_ms()) {
                    step = fail;
                    continue;
                }
                step = hs.on_reply(&line, now_ms());
            }
            HsStep::FullResync { replid, offset } => {
                tracing::info!("Full resync from master: {replid}:{offset}");
                set_state(shared, gen, LinkState::Sync);
                let rdb = receive_rdb(&mut link).await?;
                load_snapshot(shared, gen, &rdb, replid, offset)?;
                break;
            }
            HsStep::Continue { replid } => {
                tracing::info!("Successful partial resynchronization with master.");
                let mut core = shared.core.lock();
                let core = &mut *core;
                let offset = core.rest.repl.offset;
                let st = &mut core.rest.replication;
                if st.link_gen != gen {
                    return Err("REPLICAOF changed during the handshake".into());
                }
                if let Some(new_id) = replid {
                    if new_id != st.replid {
                        tracing::info!("Master replication ID changed to {new_id}");
                        st.shift_replid(new_id, offset);
                        st.disconnect_replicas();
                    }
                }
                break;
            }
            HsStep::RetryLater(why) | HsStep::Fail(why) => return Err(why),
        }
    }
    set_state(shared, gen, LinkState::Connected);
    touch(shared, gen);
    tracing::info!(
        "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization or finished the full sync."
    );
    stream_loop(shared, gen, link).await
}

/// Reads the snapshot after `+FULLRESYNC`: `$<len>\r\n<bytes>` or, for diskless masters,
/// `$EOF:<40 byte mark>\r\n<bytes><mark>`. Newlines before it are keepalives.
async fn receive_rdb(link: &mut Link) -> LinkResult<Vec<u8>> {
    let header = loop {
        let l = link.line().await?;
        if !l.is_empty() {
            break l;
        }
    };
    if header.first() == Some(&b'-') {
        return Err(format!(
            "MASTER aborted replication with an error: {}",
            String::from_utf8_lossy(&header)
        ));
    }
    if header.first() != Some(&b'$') {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$': {}",
            String::from_utf8_lossy(&header)
        ));
    }
    // The whole snapshot is kept in memory for now (loading it is a single step).
    if let Some(mark) = header.strip_prefix(b"$EOF:") {
        if mark.len() != 40 {
            return Err("Bad EOF mark from the MASTER".into());
        }
        let mark = mark.to_vec();
        let mut data: Vec<u8> = Vec::new();
        loop {
            let searched = data.len().saturating_sub(mark.len() - 1);
            data.extend_from_slice(&link.buf);
            link.buf.clear();
            if let Some(at) = find(&data[searched..], &mark) {
                // Anything after the mark is already the stream.
                let end = searched + at;
                link.buf.extend_from_slice(&data[end + mark.len()..]);
                data.truncate(end);
                return Ok(data);
            }
            link.fill().await?;
        }
    }
    let len: usize = std::str::from_utf8(&header[1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "Bad RDB length from the MASTER".to_string())?;
    let mut data: Vec<u8> = Vec::with_capacity(len.min(64 << 20));
    loop {
        let take = (len - data.len()).min(link.buf.len());
        data.extend_from_slice(&link.buf[..take]);
        link.buf.advance(take);
        if data.len() == len {
            return Ok(data);
        }
        link.fill().await?;
    }
}

/// Replaces the dataset with the snapshot and adopts the master's history.
fn load_snapshot(shared: &Shared, gen: u64, rdb: &[u8], replid: String, offset: u64) -> LinkResult<()> {
    let mut core = shared.core.lock();
    let core = &mut *core;
    if core.rest.replication.link_gen != gen {
        return Err("REPLICAOF changed during the sync".into());
    }
    for db in core.ks.dbs.iter_mut() {
        db.clear();
    }
    exec::signal_flush(&mut core.rest, None);
    let loaded = read_rdb_with(
        rdb,
        &mut core.ks,
        now_ms(),
        &RdbLoadOptions { keep_expired: true },
    );
    let st = &mut core.rest.replication;
    st.replid = replid;
    st.replid2 = super::psync::NO_REPLID.to_string();
    st.second_offset = -1;
    // The master starts the stream after a snapshot with a SELECT.
    st.master_db = 0;
    // Our own replicas follow a history that just ended.
    st.disconnect_replicas();
    let repl = &mut core.rest.repl;
    repl.enabled = true;
    repl.backlog.clear();
    repl.offset = offset;
    repl.reset_selected_db();
    match loaded {
        Ok(stats) => {
            if core.rest.aof.enabled {
                // The append-only file describes the old dataset: start it over from this one.
                if let Err(e) = crate::aof::start_rewrite(shared, &core.ks, &mut core.rest) {
                    tracing::warn!("Can't rewrite the AOF after the full sync: {e}");
                }
            }
            tracing::info!(
                "MASTER <-> REPLICA sync: Finished with success ({} keys loaded)",
                stats.keys_loaded
            );
            Ok(())
        }
        Err(e) => {
            // Start over from an empty dataset on the next attempt.
            for db in core.ks.dbs.iter_mut() {
                db.clear();
            }
            core.rest.repl.offset = 0;
            Err(format!(
                "Failed trying to load the MASTER synchronization DB from socket: {e}"
            ))
        }
    }
}

/// The "master client": runs the master's commands with its own client id, which the
/// read-only check lets through.
fn master_conn(shared: &Shared) -> ConnState {
    let mut conn = ConnState::internal(shared);
    conn.id = shared
        .next_client_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    conn
}

fn ack_command(offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(
        &mut out,
        &[&b"REPLCONF"[..], b"ACK", offset.to_string().as_bytes()],
    );
    out
}

/// Applies the master's stream until the link fails.
async fn stream_loop(shared: &Arc<Shared>, gen: u64, mut link: Link) -> LinkResult<()> {
    let mut conn = master_conn(shared);
    {
        let mut core = shared.core.lock();
        if core.rest.replication.link_gen != gen {
            return Err("REPLICAOF changed".into());
        }
        core.rest.replication.master_client_id = Some(conn.id);
        conn.db = core.rest.replication.master_db;
    }
    let max_bulk = shared.config.read().get_int("proto-max-bulk-len").max(1) as usize;
    let mut parser = RequestParser::new(max_bulk);
    let mut sink = ReplyWriter::default();
    // Bytes received and not yet applied (what gets relayed once a command completes).
    let mut unapplied: Vec<u8> = link.buf.to_vec();
    let mut consumed = 0usize;
    // Bytes at the front of `unapplied` already applied inside an open MULTI: like Redis,
    // the offset (and the relay to our replicas) moves only at transaction boundaries, so
    // a link lost mid-transaction resumes from before its MULTI.
    let mut held = 0usize;
    let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                r = tokio::time::timeout(link.timeout, link.stream.read_buf(&mut link.buf)) => {
                    let n = match r {
                        Err(_) => return Err("MASTER timeout: no data nor PING received".into()),
                        Ok(Ok(0)) => return Err("Connection with master lost.".into()),
                        Ok(Err(e)) => return Err(format!("Connection with master lost: {e}")),
                        Ok(Ok(n)) => n,
                    };
                    unapplied.extend_from_slice(&link.buf[link.buf.len() - n..]);
                    touch(shared, gen);
                }
                _ = ack_tick.tick() => {
                    let off = shared.core.lock().rest.repl.offset;
                    link.stream.write_all(&ack_command(off)).await.map_err(|e| e.to_string())?;
                    continue;
                }
            }
        }
        first = false;
        let mut cmds: Vec<(Vec<Bytes>, usize)> = Vec::new();
        loop {
            let before = link.buf.len();
            let r = parser.next(&mut link.buf);
            consumed += before - link.buf.len();
            match r {
                Ok(Some(args)) => {
                    cmds.push((args, consumed));
                    consumed = 0;
                }
                Ok(None) => break,
                Err(e) => return Err(format!("Protocol error from MASTER: {e}")),
            }
        }
        if cmds.is_empty() {
            continue;
        }
        let mut send_ack = None;
        {
            let now = now_ms();
            let mut core = shared.core.lock();
            let core = &mut *core;
            if core.rest.replication.link_gen != gen {
                return Err("REPLICAOF changed".into());
            }
            // Keys the master has not expired yet are live for its commands.
            core.ks.set_expire_mode(slotkv_keyspace::ExpireMode::Keep);
            let mut start = held;
            let mut relayed = 0usize;
            for (args, len) in &cmds {
                let is_replconf = is(&args[0], "replconf");
                if is_replconf {
                    if args.len() >= 2 && is(&args[1], "getack") {
                        send_ack = Some(());
                    }
                } else {
                    // `relay_only` keeps the dispatcher from re-encoding the command:
                    // the master's bytes are relayed verbatim below.
                    exec::call(core, &mut conn, shared, &mut sink, args, now);
                    conn.action = None;
                    if sink.buf.first() == Some(&b'-') && conn.multi.is_none() {
                        // The dataset may now differ from the master's: say so.
                        let end = sink.buf.len().saturating_sub(2).clamp(1, 200);
                        tracing::warn!(
                            "== CRITICAL == This replica is sending an error to its master: '{}' after processing the command '{}'",
                            String::from_utf8_lossy(&sink.buf[1..end]),
                            String::from_utf8_lossy(&args[0])
                        );
                    }
                    sink.buf.clear();
                }
                start += len;
                if conn.multi.is_none() {
                    core.rest.repl.append_raw(&unapplied[relayed..start]);
                    relayed = start;
                }
            }
            unapplied.drain(..relayed);
            held = start - relayed;
            core.rest.replication.master_db = conn.db;
            core.ks.set_expire_mode(slotkv_keyspace::ExpireMode::HideOnly);
        }
        if send_ack.is_some() {
            let off = shared.core.lock().rest.repl.offset;
            link.stream
                .write_all(&ack_command(off))
                .await
                .map_err(|e| format!("Error writing to the MASTER: {e}"))?;
        }
    }
}
