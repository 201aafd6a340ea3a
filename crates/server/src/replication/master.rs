//! The master's side of one attached replica: after PSYNC/SYNC answered (and the RDB
//! went out with the reply), the connection becomes a feed. It writes the stream from the
//! backlog as it grows and reads the replica's `REPLCONF ACK`s. A replica that falls out of
//! the backlog is dropped; it reconnects and resynchronizes.
//!
//! For a full resync the snapshot is written by a forked child to a file; until it is done
//! the sender sends a newline every second (the replica's keepalive) and moves the stream
//! from the backlog into its own buffer, then sends `$<len>`, the file and the buffer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use slotkv_commands::args::is;
use slotkv_keyspace::Keyspace;
use slotkv_persistence::{write_rdb, RdbOptions};
use slotkv_protocol::RequestParser;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::exec::ConnState;
use crate::log::now_ms;
use crate::shared::Shared;

/// A child process writing a replica's snapshot to `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotChild {
    pub pid: i32,
    pub path: PathBuf,
}

/// Most stream bytes buffered for a replica while its snapshot is written (Redis's
/// default `client-output-buffer-limit replica` hard limit).
const MAX_SYNC_BUFFER: usize = 256 << 20;

/// Runs in the forked child: writes the snapshot file.
pub fn write_snapshot(ks: &Keyspace, path: &Path, opts: &RdbOptions) -> bool {
    let Ok(f) = std::fs::File::create(path) else {
        return false;
    };
    let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
    write_rdb(&mut w, ks, crate::log::now_ms(), opts).is_ok()
}

/// Streams to a replica from offset `next` until it disconnects, is killed, or lags out
/// of the backlog.
pub async fn serve_replica(
    shared: &Shared,
    stream: &mut TcpStream,
    mut inbuf: BytesMut,
    conn: &ConnState,
    mut next: u64,
) {
    let (grown, snapshot) = {
        let mut core = shared.core.lock();
        let snapshot = core
            .rest
            .replication
            .replicas
            .get_mut(&conn.id)
            .and_then(|r| r.snapshot.take());
        (core.rest.repl.grown.clone(), snapshot)
    };
    if let Some(child) = snapshot {
        let result = send_snapshot(shared, stream, conn, &child, next).await;
        if crate::fork::poll_child(child.pid).is_none() {
            crate::fork::kill_child(child.pid);
        }
        let _ = std::fs::remove_file(&child.path);
        match result {
            Ok(n) => next = n,
            Err(why) => {
                tracing::warn!("Full resync of replica {} failed: {why}", conn.handle.addr);
                return;
            }
        }
        // The replica was loading until now: its ack clock starts here.
        if let Some(r) = shared.core.lock().rest.replication.replicas.get_mut(&conn.id) {
            r.ack_ms = now_ms();
        }
    }
    let timeout_ms = shared.config.read().get_int("repl-timeout").max(1) * 1000;
    let mut parser = RequestParser::new(1 << 20);
    loop {
        let notified = grown.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (chunk, last_ack_ms) = {
            let core = shared.core.lock();
            let last_ack = core.rest.replication.replicas.get(&conn.id).map_or(0, |r| {
                if r.pre_psync {
                    i64::MAX
                } else {
                    r.ack_ms
                }
            });
            match core.rest.repl.copy_from(next) {
                Some(c) => (c, last_ack),
                None => {
                    tracing::warn!(
                        "Replica {} fell out of the backlog (needs offset {next}); closing its link",
                        conn.handle.addr
                    );
                    return;
                }
            }
        };
        if last_ack_ms != i64::MAX && now_ms() - last_ack_ms > timeout_ms {
            tracing::warn!(
                "Disconnecting timedout replica (streaming sync): {}",
                conn.handle.addr
            );
            return;
        }
        if !chunk.is_empty() {
            tokio::select! {
                r = stream.write_all(&chunk) => {
                    if r.is_err() {
                        return;
                    }
                    shared
                        .stats
                        .net_output_bytes
                        .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    next += chunk.len() as u64;
                }
                _ = conn.handle.kill.notified() => return,
            }
        }
        // Take what the replica sent (ACKs) without waiting, even under a steady stream.
        loop {
            match stream.try_read_buf(&mut inbuf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
        }
        if !inbuf.is_empty() && !handle_input(shared, conn, &mut parser, &mut inbuf) {
            return;
        }
        if !chunk.is_empty() {
            continue;
        }
        tokio::select! {
            biased;
            _ = conn.handle.kill.notified() => return,
            _ = &mut notified => {}
            r = stream.readable() => {
                if r.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(1000)) => {}
        }
    }
}

/// Waits for the snapshot child while buffering the stream, then sends `$<len>`, the
/// snapshot and the buffered stream. Returns the next offset to send.
async fn send_snapshot(
    shared: &Shared,
    wr: &mut TcpStream,
    conn: &ConnState,
    child: &SnapshotChild,
    mut next: u64,
) -> Result<u64, String> {
    let grown = shared.core.lock().rest.repl.grown.clone();
    let mut pending: Vec<u8> = Vec::new();
    let mut last_keepalive = Instant::now();
    loop {
        let notified = grown.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let core = shared.core.lock();
            let chunk = core
                .rest
                .repl
                .copy_from(next)
                .ok_or("the stream outran the backlog during the snapshot")?;
            next += chunk.len() as u64;
            pending.extend_from_slice(&chunk);
        }
        if pending.len() > MAX_SYNC_BUFFER {
            return Err("the stream buffered during the snapshot is over the limit".into());
        }
        match crate::fork::poll_child(child.pid) {
            Some(true) => break,
            Some(false) => return Err("the snapshot child failed".into()),
            None => {}
        }
        if last_keepalive.elapsed() >= Duration::from_secs(1) {
            last_keepalive = Instant::now();
            wr.write_all(b"\n").await.map_err(|e| e.to_string())?;
        }
        tokio::select! {
            _ = conn.handle.kill.notified() => return Err("killed".into()),
            _ = &mut notified => {}
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    let mut file = tokio::fs::File::open(&child.path)
        .await
        .map_err(|e| e.to_string())?;
    let len = file.metadata().await.map_err(|e| e.to_string())?.len();
    tracing::info!(
        "Synchronization with replica {} started: {len} bytes of RDB",
        conn.handle.addr
    );
    wr.write_all(format!("${len}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let sent = tokio::io::copy(&mut file, wr).await.map_err(|e| e.to_string())?;
    if sent != len {
        return Err("the snapshot file changed while being sent".into());
    }
    wr.write_all(&pending).await.map_err(|e| e.to_string())?;
    Ok(next)
}

/// Processes what the replica sent: ACKs (and PINGs of old replicas) only. Returns false
/// on a protocol error.
fn handle_input(shared: &Shared, conn: &ConnState, parser: &mut RequestParser, inbuf: &mut BytesMut) -> bool {
    loop {
        match parser.next(inbuf) {
            Ok(Some(args)) => {
                if args.len() >= 3 && is(&args[0], "replconf") && is(&args[1], "ack") {
                    let off = std::str::from_utf8(&args[2])
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok());
                    if let Some(off) = off {
                        let mut core = shared.core.lock();
                        let st = &mut core.rest.replication;
                        if let Some(r) = st.replicas.get_mut(&conn.id) {
                            r.ack_offset = r.ack_offset.max(off);
                            r.ack_ms = now_ms();
                        }
                        st.acked.notify_waiters();
                    }
                }
            }
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}
