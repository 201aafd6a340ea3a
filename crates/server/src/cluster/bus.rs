//! The cluster bus transport: the listener for inbound links, outbound links to every
//! known node, framing with `slotkv_cluster::message::{encode, decode}`. A malformed,
//! truncated or oversized message closes that link and is logged; nothing else happens.
//! Peers isolated with DEBUG CLUSTER-ISOLATE get no link and their messages are discarded
//! here, before the state machine sees them.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use parking_lot::Mutex;
use slotkv_cluster::state::LinkInfo;
use slotkv_keyslot::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{apply_effects, ClusterShell};
use crate::log::now_ms;
use crate::shared::Shared;

/// Outbound link tasks by the node id they currently serve (renamed after a handshake).
fn link_names() -> &'static Mutex<HashMap<u64, NodeId>> {
    static NAMES: OnceLock<Mutex<HashMap<u64, NodeId>>> = OnceLock::new();
    NAMES.get_or_init(Mutex::default)
}

static NEXT_LINK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A handshake node got its real id: the outbound task follows it.
pub fn rename_link(from: NodeId, to: NodeId) {
    for id in link_names().lock().values_mut() {
        if *id == from {
            *id = to;
        }
    }
}

/// Removes an inbound link's registration, unless a newer link of that node replaced it.
fn forget_inbound(
    inbound: &mut HashMap<NodeId, Arc<tokio::sync::Notify>>,
    node: Option<NodeId>,
    close: &Arc<tokio::sync::Notify>,
) {
    if let Some(node) = node {
        if inbound.get(&node).is_some_and(|c| Arc::ptr_eq(c, close)) {
            inbound.remove(&node);
        }
    }
}

/// Accepts inbound links.
pub async fn listen(shared: Arc<Shared>, shell: Arc<ClusterShell>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let local = stream
                    .local_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let link = LinkInfo {
                    peer_ip: peer.ip().to_string(),
                    local_ip: local,
                    outbound: None,
                };
                tokio::spawn(run_link(shared.clone(), shell.clone(), stream, link, None));
            }
            Err(e) => {
                tracing::warn!("Error accepting cluster node connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Opens the outbound link to a node (once; later calls while connecting do nothing).
pub fn connect(shared: Arc<Shared>, shell: Arc<ClusterShell>, node: NodeId, ip: String, cport: u16) {
    if shell.is_isolated(&node) || !shell.connecting.lock().insert(node) {
        return;
    }
    tokio::spawn(async move {
        let addr = format!("{ip}:{cport}");
        let res =
            tokio::time::timeout(std::time::Duration::from_millis(1000), TcpStream::connect(&addr)).await;
        let stream = match res {
            Ok(Ok(s)) => s,
            _ => {
                shell.connecting.lock().remove(&node);
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let link_id = NEXT_LINK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        link_names().lock().insert(link_id, node);
        let link = LinkInfo {
            peer_ip: ip.clone(),
            local_ip: local,
            outbound: Some(node),
        };
        run_link(shared, shell.clone(), stream, link, Some(link_id)).await;
        if let Some(current) = link_names().lock().remove(&link_id) {
            shell.connecting.lock().remove(&current);
        }
        shell.connecting.lock().remove(&node);
    });
}

/// Runs one link: a writer fed by a channel, and a reader that decodes messages and hands
/// them to the state machine.
async fn run_link(
    shared: Arc<Shared>,
    shell: Arc<ClusterShell>,
    stream: TcpStream,
    mut link: LinkInfo,
    link_id: Option<u64>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let close = Arc::new(tokio::sync::Notify::new());
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    if let (Some(_), Some(node)) = (link_id, link.outbound) {
        shell.connecting.lock().remove(&node);
        shell.links.lock().insert(
            node,
            super::LinkHandle {
                tx: tx.clone(),
                close: close.clone(),
            },
        );
        let mut state = shell.state.lock();
        let fx = state.link_connected(node, now_ms());
        apply_effects(&shared, &shell, &mut state, fx, Some(&tx));
    }
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // The node this inbound link is registered for in `shell.inbound`.
    let mut inbound_of: Option<NodeId> = None;
    'read: loop {
        let read = tokio::select! {
            r = rd.read_buf(&mut buf) => r,
            _ = close.notified() => break,
        };
        match read {
            Ok(0) => {
                tracing::debug!(
                    "Cluster bus link to {} ({:?}) closed by peer",
                    link.peer_ip,
                    link.outbound
                );
                break;
            }
            Err(e) => {
                tracing::debug!(
                    "Cluster bus link to {} ({:?}) failed: {e}",
                    link.peer_ip,
                    link.outbound
                );
                break;
            }
            Ok(_) => {}
        }
        loop {
            match slotkv_cluster::message::decode(&buf) {
                Ok(Some((msg, used))) => {
                    let _ = buf.split_to(used);
                    if let Some(id) = link_id {
                        link.outbound = link_names().lock().get(&id).copied();
                    }
                    let sender = msg.header.sender;
                    if shell.is_isolated(&sender) || link.outbound.is_some_and(|n| shell.is_isolated(&n)) {
                        continue;
                    }
                    if link_id.is_none() {
                        // (Re-)register this link as the sender's inbound link: another link
                        // from the same sender that closed (a handshake duplicate) may have
                        // taken the entry away.
                        let mut inbound = shell.inbound.lock();
                        let registered = inbound_of == Some(sender)
                            && inbound.get(&sender).is_some_and(|c| Arc::ptr_eq(c, &close));
                        if !registered {
                            forget_inbound(&mut inbound, inbound_of, &close);
                            inbound.insert(sender, close.clone());
                            inbound_of = Some(sender);
                        }
                    }
                    let mut state = shell.state.lock();
                    let before_ok = state.state_ok;
                    let fx = state.handle(msg, &link, now_ms());
                    apply_effects(&shared, &shell, &mut state, fx, Some(&tx));
                    // A message can change cluster_state: routing must see it at once, not
                    // at the next cron tick (CLUSTER INFO would say ok while commands still
                    // get CLUSTERDOWN).
                    if super::log_state_change(&state, before_ok) {
                        shell.publish_view(&state);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("Closing cluster bus link from {}: {e}", link.peer_ip);
                    break 'read;
                }
            }
        }
    }
    writer.abort();
    forget_inbound(&mut shell.inbound.lock(), inbound_of, &close);
    // Forget this link (not a newer one to the same node).
    if let Some(id) = link_id {
        if let Some(node) = link_names().lock().get(&id).copied() {
            let mut state = shell.state.lock();
            let mut links = shell.links.lock();
            if links.get(&node).is_some_and(|l| Arc::ptr_eq(&l.close, &close)) {
                links.remove(&node);
                drop(links);
                state.link_lost(node);
            }
        }
    }
}
