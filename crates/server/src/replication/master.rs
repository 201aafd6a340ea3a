//! The master's side of one attached replica: after PSYNC/SYNC answered (and the RDB
//! went out with the reply), the connection becomes a feed. It writes the stream from the
//! backlog as it grows and reads the replica's `REPLCONF ACK`s. A replica that falls out of
//! the backlog is dropped; it reconnects and resynchronizes.

use bytes::BytesMut;
use slotkv_commands::args::is;
use slotkv_protocol::RequestParser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::exec::ConnState;
use crate::log::now_ms;
use crate::shared::Shared;

/// Streams to a replica from offset `next` until it disconnects, is killed, or lags out
/// of the backlog.
pub async fn serve_replica(
    shared: &Shared,
    stream: &mut TcpStream,
    mut inbuf: BytesMut,
    conn: &ConnState,
    mut next: u64,
) {
    let grown = shared.core.lock().rest.repl.grown.clone();
    let (mut rd, mut wr) = stream.split();
    let mut parser = RequestParser::new(1 << 20);
    loop {
        let notified = grown.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let chunk = {
            let core = shared.core.lock();
            match core.rest.repl.copy_from(next) {
                Some(c) => c,
                None => {
                    tracing::warn!(
                        "Replica {} fell out of the backlog (needs offset {next}); closing its link",
                        conn.handle.addr
                    );
                    return;
                }
            }
        };
        if !chunk.is_empty() {
            tokio::select! {
                r = wr.write_all(&chunk) => {
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
            // Acks may be waiting: read them without blocking before writing more.
            if !inbuf.is_empty() && !handle_input(shared, conn, &mut parser, &mut inbuf) {
                return;
            }
            continue;
        }
        tokio::select! {
            biased;
            _ = conn.handle.kill.notified() => return,
            _ = &mut notified => {}
            r = rd.read_buf(&mut inbuf) => {
                match r {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if !handle_input(shared, conn, &mut parser, &mut inbuf) {
                            return;
                        }
                    }
                }
            }
        }
    }
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
