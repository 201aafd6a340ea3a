//! CLUSTER and the connection flags of cluster mode (READONLY, READWRITE, ASKING). The
//! cluster rules are in `slotkv-cluster`; these handlers validate arguments with Redis's
//! error texts, change the state under its lock, save nodes.conf and publish the view.

use std::sync::Arc;

use bytes::Bytes;
use slotkv_cluster::message::flags as nflags;
use slotkv_cluster::state::{ClusterState, Node};
use slotkv_commands::args::{int, is};
use slotkv_commands::{CmdError, CmdResult};
use slotkv_keyslot::{key_slot, NodeId, Slot};
use slotkv_protocol::ReplyWriter;

use super::*;
use crate::cluster::ClusterShell;
use crate::exec::SrvCtx;
use crate::log::now_ms;
use crate::table::{Handler, Spec, SrvFn};

pub(crate) fn specs() -> Vec<Spec> {
    let g = Group::Cluster;
    let h = |f: SrvFn| Handler::Srv(f);
    let sub = |name: &'static str, arity: i32, fl: u32, f: SrvFn| {
        cmd(name, arity, fl, (0, 0, 0), g, h(f)).since("3.0.0")
    };
    let admin = NOSCRIPT | ADMIN | STALE;
    vec![
        cmd("cluster", -2, 0, (0, 0, 0), g, h(help))
            .since("3.0.0")
            .subs(vec![
                sub("cluster|info", 2, LOADING | STALE, info),
                sub("cluster|nodes", 2, LOADING | STALE, nodes),
                sub("cluster|myid", 2, LOADING | STALE, myid),
                sub("cluster|myshardid", 2, LOADING | STALE, myshardid).since("7.2.0"),
                sub("cluster|slots", 2, LOADING | STALE, slots),
                sub("cluster|shards", 2, LOADING | STALE, shards).since("7.0.0"),
                sub("cluster|meet", -4, admin, meet),
                sub("cluster|forget", 3, admin, forget),
                sub("cluster|reset", -2, admin | NOSCRIPT, reset),
                sub("cluster|addslots", -3, admin, addslots),
                sub("cluster|addslotsrange", -4, admin, addslotsrange).since("7.0.0"),
                sub("cluster|delslots", -3, admin, delslots),
                sub("cluster|delslotsrange", -4, admin, delslotsrange).since("7.0.0"),
                sub("cluster|flushslots", 2, admin, flushslots),
                sub("cluster|replicate", 3, admin, replicate),
                sub("cluster|replicas", 3, admin, replicas).since("5.0.0"),
                sub("cluster|slaves", 3, admin, replicas),
                sub("cluster|keyslot", 3, STALE, keyslot),
                sub("cluster|countkeysinslot", 3, STALE, countkeysinslot),
                sub("cluster|getkeysinslot", 4, STALE, getkeysinslot),
                sub("cluster|count-failure-reports", 3, admin, count_failure_reports),
                sub("cluster|set-config-epoch", 3, admin, set_config_epoch),
                sub("cluster|bumpepoch", 2, admin, bumpepoch),
                sub("cluster|saveconfig", 2, admin, saveconfig),
                sub("cluster|links", 2, STALE, links).since("7.0.0"),
                sub("cluster|setslot", -4, admin, setslot),
                sub("cluster|failover", -2, admin, failover),
                sub("cluster|help", 2, LOADING | STALE, help),
            ]),
        cmd("readonly", 1, FAST | LOADING | STALE, (0, 0, 0), g, h(readonly)),
        cmd("readwrite", 1, FAST | LOADING | STALE, (0, 0, 0), g, h(readwrite)),
        cmd("asking", 1, FAST, (0, 0, 0), g, h(asking)),
    ]
}

fn disabled() -> CmdError {
    CmdError::err("This instance has cluster support disabled")
}

fn shell(s: &SrvCtx<'_>) -> Result<Arc<ClusterShell>, CmdError> {
    s.shared.cluster.get().cloned().ok_or_else(disabled)
}

/// Saves (synced) and republishes after a change made by a command.
fn changed(shell: &ClusterShell, st: &mut ClusterState) {
    saved_and_published(shell, st, true);
}

/// A slot migration state or owner changed by SETSLOT (MIGRATING/IMPORTING/STABLE, or NODE
/// without an epoch bump): saved without waiting for the disk, as Redis does.
fn migration_state_changed(shell: &ClusterShell, st: &mut ClusterState) {
    saved_and_published(shell, st, false);
}

fn saved_and_published(shell: &ClusterShell, st: &mut ClusterState, sync: bool) {
    st.update_state(now_ms());
    if sync {
        shell.save(st);
    } else {
        shell.save_unsynced(st);
    }
    shell.publish_view(st);
}

fn readonly(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    shell(s)?;
    s.conn.readonly = true;
    s.data.out.ok();
    Ok(())
}

fn readwrite(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    shell(s)?;
    s.conn.readonly = false;
    s.data.out.ok();
    Ok(())
}

fn asking(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    shell(s)?;
    s.conn.asking = true;
    s.data.out.ok();
    Ok(())
}

fn text_reply(out: &mut ReplyWriter, text: &str) {
    out.verbatim("txt", text.as_bytes());
}

fn info(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let st = sh.state.lock();
    s.data.out.verbatim("txt", cluster_info_text(&st).as_bytes());
    Ok(())
}

/// The body of CLUSTER INFO.
pub fn cluster_info_text(st: &ClusterState) -> String {
    let mut assigned = 0;
    let mut pfail = 0;
    let mut fail = 0;
    for owner in st.owners.iter().flatten() {
        assigned += 1;
        match st.nodes.get(owner) {
            Some(n) if n.is(nflags::FAIL) => fail += 1,
            Some(n) if n.is(nflags::PFAIL) => pfail += 1,
            _ => {}
        }
    }
    let me = st.me();
    let my_epoch = match (me.is_replica(), me.master.and_then(|m| st.nodes.get(&m))) {
        (true, Some(m)) => m.config_epoch,
        _ => me.config_epoch,
    };
    let mut o = String::new();
    o.push_str(&format!(
        "cluster_state:{}\r\n",
        if st.state_ok { "ok" } else { "fail" }
    ));
    o.push_str(&format!("cluster_slots_assigned:{assigned}\r\n"));
    o.push_str(&format!("cluster_slots_ok:{}\r\n", assigned - pfail - fail));
    o.push_str(&format!("cluster_slots_pfail:{pfail}\r\n"));
    o.push_str(&format!("cluster_slots_fail:{fail}\r\n"));
    o.push_str(&format!("cluster_known_nodes:{}\r\n", st.nodes.len()));
    o.push_str(&format!("cluster_size:{}\r\n", st.masters_with_slots()));
    o.push_str(&format!("cluster_current_epoch:{}\r\n", st.current_epoch));
    o.push_str(&format!("cluster_my_epoch:{my_epoch}\r\n"));
    const TYPES: [&str; 11] = [
        "ping",
        "pong",
        "meet",
        "fail",
        "publish",
        "publishshard",
        "auth-req",
        "auth-ack",
        "update",
        "mfstart",
        "module",
    ];
    let mut total = 0;
    for t in TYPES {
        if let Some(&n) = st.stats.sent.get(t) {
            if n > 0 {
                o.push_str(&format!("cluster_stats_messages_{t}_sent:{n}\r\n"));
                total += n;
            }
        }
    }
    o.push_str(&format!("cluster_stats_messages_sent:{total}\r\n"));
    let mut total = 0;
    for t in TYPES {
        if let Some(&n) = st.stats.received.get(t) {
            if n > 0 {
                o.push_str(&format!("cluster_stats_messages_{t}_received:{n}\r\n"));
                total += n;
            }
        }
    }
    o.push_str(&format!("cluster_stats_messages_received:{total}\r\n"));
    o.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    o
}

fn nodes(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let text = slotkv_cluster::nodes_conf::render_nodes(&sh.state.lock(), false);
    text_reply(s.data.out, &text);
    Ok(())
}

fn myid(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let id = sh.state.lock().myself;
    s.data.out.bulk(id.as_str().as_bytes());
    Ok(())
}

fn myshardid(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    // A shard is a master and its replicas: we name it after the master's id.
    let sh = shell(s)?;
    let st = sh.state.lock();
    let id = st.my_master().unwrap_or(st.myself);
    s.data.out.bulk(id.as_str().as_bytes());
    Ok(())
}

fn node_endpoint(out: &mut ReplyWriter, n: &Node) {
    out.array_len(4);
    out.bulk(n.ip.as_bytes());
    out.int(i64::from(n.port));
    out.bulk(n.id.as_str().as_bytes());
    if n.hostname.is_empty() {
        out.map_len(0);
    } else {
        out.map_len(1);
        out.bulk(b"hostname");
        out.bulk(n.hostname.as_bytes());
    }
}

fn slots(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let st = sh.state.lock();
    let mut masters: Vec<&Node> = st
        .nodes
        .values()
        .filter(|n| n.is_master() && !n.slots.is_empty())
        .collect();
    masters.sort_by_key(|n| n.slots.ranges().first().map(|r| r.0));
    let mut entries = Vec::new();
    for m in &masters {
        for (a, b) in m.slots.ranges() {
            entries.push((a, b, *m));
        }
    }
    entries.sort_by_key(|e| e.0);
    let out = &mut *s.data.out;
    out.array_len(entries.len());
    for (a, b, m) in entries {
        let replicas: Vec<&Node> = st.replicas_of(m.id).into_iter().filter(|r| !r.failed()).collect();
        out.array_len(3 + replicas.len());
        out.int(i64::from(a));
        out.int(i64::from(b));
        node_endpoint(out, m);
        for r in replicas {
            node_endpoint(out, r);
        }
    }
    Ok(())
}

fn shard_node(out: &mut ReplyWriter, n: &Node, st: &ClusterState) {
    let fields = 7 + usize::from(!n.hostname.is_empty());
    out.map_len(fields);
    out.bulk(b"id");
    out.bulk(n.id.as_str().as_bytes());
    out.bulk(b"port");
    out.int(i64::from(n.port));
    out.bulk(b"ip");
    out.bulk(n.ip.as_bytes());
    out.bulk(b"endpoint");
    out.bulk(n.ip.as_bytes());
    if !n.hostname.is_empty() {
        out.bulk(b"hostname");
        out.bulk(n.hostname.as_bytes());
    }
    out.bulk(b"role");
    out.bulk(if n.is_master() { b"master" } else { b"replica" });
    out.bulk(b"replication-offset");
    out.int(if n.id == st.myself {
        st.repl_offset as i64
    } else {
        n.repl_offset as i64
    });
    out.bulk(b"health");
    out.bulk(if n.failed() {
        b"fail".as_slice()
    } else if n.id != st.myself && n.ping_sent != 0 && !n.link_up {
        b"loading".as_slice()
    } else {
        b"online".as_slice()
    });
}

fn shards(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let st = sh.state.lock();
    let mut masters: Vec<&Node> = st.nodes.values().filter(|n| n.is_master()).collect();
    masters.sort_by_key(|n| n.id);
    let out = &mut *s.data.out;
    out.array_len(masters.len());
    for m in masters {
        out.map_len(2);
        out.bulk(b"slots");
        let ranges = m.slots.ranges();
        out.array_len(ranges.len() * 2);
        for (a, b) in ranges {
            out.int(i64::from(a));
            out.int(i64::from(b));
        }
        out.bulk(b"nodes");
        let replicas = st.replicas_of(m.id);
        out.array_len(1 + replicas.len());
        shard_node(out, m, &st);
        for r in replicas {
            shard_node(out, r, &st);
        }
    }
    Ok(())
}

fn meet(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    if args.len() > 5 {
        return Err(CmdError::WrongArity("cluster|meet".into()));
    }
    let ip = String::from_utf8_lossy(&args[2]).into_owned();
    let port = int(&args[3]).map_err(|_| {
        CmdError::err(format!(
            "Invalid base port specified: {}",
            String::from_utf8_lossy(&args[3])
        ))
    })?;
    let cport = match args.get(4) {
        Some(a) => int(a).map_err(|_| {
            CmdError::err(format!(
                "Invalid bus port specified: {}",
                String::from_utf8_lossy(a)
            ))
        })?,
        None => port + 10000,
    };
    let valid_ip = ip.parse::<std::net::IpAddr>().is_ok();
    if !valid_ip || !(0..=65535).contains(&port) || !(0..=65535).contains(&cport) {
        return Err(CmdError::err(format!(
            "Invalid node address specified: {ip}:{}",
            String::from_utf8_lossy(&args[3])
        )));
    }
    let mut st = sh.state.lock();
    st.meet(&ip, port as u16, cport as u16, now_ms());
    changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

pub(crate) fn lookup(st: &ClusterState, arg: &[u8]) -> Result<NodeId, CmdError> {
    NodeId::parse(arg)
        .filter(|id| st.nodes.contains_key(id))
        .ok_or_else(|| CmdError::err(format!("Unknown node {}", String::from_utf8_lossy(arg))))
}

/// Like [`lookup`], with SETSLOT MIGRATING/IMPORTING's wording.
fn known(st: &ClusterState, arg: &[u8]) -> Result<NodeId, CmdError> {
    lookup(st, arg).map_err(|_| {
        CmdError::err(format!(
            "I don't know about node {}",
            String::from_utf8_lossy(arg)
        ))
    })
}

fn forget(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let mut st = sh.state.lock();
    let id = lookup(&st, &args[2])?;
    if id == st.myself {
        return Err(CmdError::err("I tried hard but I can't forget myself..."));
    }
    if st.me().is_replica() && st.me().master == Some(id) {
        return Err(CmdError::err("Can't forget my master!"));
    }
    st.delete_node(id);
    st.blacklist.insert(id, now_ms() + 60_000);
    sh.links.lock().remove(&id);
    changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

fn reset(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let hard = match args.get(2) {
        None => false,
        Some(a) if is(a, "hard") => true,
        Some(a) if is(a, "soft") => false,
        _ => return Err(CmdError::Syntax),
    };
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let mut st = sh.state.lock();
    if st.me().is_master() && s.data.ks.total_keys() > 0 {
        return Err(CmdError::err(
            "CLUSTER RESET can't be called with master nodes containing keys",
        ));
    }
    let was_replica = st.me().is_replica();
    let others: Vec<NodeId> = st.nodes.keys().copied().filter(|id| *id != st.myself).collect();
    for id in others {
        st.delete_node(id);
    }
    for i in 0..slotkv_keyslot::SLOTS {
        if let Some(slot) = Slot::new(i as u64) {
            st.assign_slot(slot, None);
        }
    }
    st.migrations = Default::default();
    let myself = st.myself;
    if let Some(me) = st.nodes.get_mut(&myself) {
        me.flags = nflags::MYSELF | nflags::MASTER;
        me.master = None;
    }
    if hard {
        st.current_epoch = 0;
        st.last_vote_epoch = 0;
        let new_id = NodeId::random();
        if let Some(mut me) = st.nodes.remove(&myself) {
            me.id = new_id;
            me.config_epoch = 0;
            st.nodes.insert(new_id, me);
        }
        st.myself = new_id;
    }
    sh.links.lock().clear();
    changed(&sh, &mut st);
    drop(st);
    if was_replica {
        for db in &mut s.data.ks.dbs {
            db.clear();
        }
        crate::cluster::route::start_replication(&shared_arc(s), None);
    }
    s.data.out.ok();
    Ok(())
}

/// The shared state as an `Arc` (handlers get a reference; spawned work needs ownership).
fn shared_arc(s: &SrvCtx<'_>) -> Arc<crate::shared::Shared> {
    s.shared.self_arc()
}

fn parse_slot(a: &[u8]) -> Result<Slot, CmdError> {
    Slot::parse(a).ok_or_else(|| CmdError::err("Invalid or out of range slot"))
}

fn slots_from_args(args: &[Bytes], ranges: bool) -> Result<Vec<Slot>, CmdError> {
    let mut out = Vec::new();
    if ranges {
        if !args.len().is_multiple_of(2) {
            let name = format!(
                "cluster|{}",
                String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
            );
            return Err(CmdError::WrongArity(name));
        }
        for pair in args[2..].chunks(2) {
            let a = parse_slot(&pair[0])?;
            let b = parse_slot(&pair[1])?;
            if a > b {
                return Err(CmdError::err(format!(
                    "start slot number {a} is greater than end slot number {b}"
                )));
            }
            for i in a.get()..=b.get() {
                out.extend(Slot::new(u64::from(i)));
            }
        }
    } else {
        for a in &args[2..] {
            out.push(parse_slot(a)?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for s in &out {
        if !seen.insert(*s) {
            return Err(CmdError::err(format!("Slot {s} specified multiple times")));
        }
    }
    Ok(out)
}

fn add_slots(s: &mut SrvCtx<'_>, args: &[Bytes], ranges: bool) -> CmdResult {
    let sh = shell(s)?;
    let list = slots_from_args(args, ranges)?;
    let mut st = sh.state.lock();
    if st.me().is_replica() {
        return Err(CmdError::err("Please use SETSLOT only with masters."));
    }
    for slot in &list {
        if st.owners[slot.index()].is_some() {
            return Err(CmdError::err(format!("Slot {slot} is already busy")));
        }
    }
    let me = st.myself;
    for slot in list {
        st.migrations.importing.remove(&slot.get());
        st.assign_slot(slot, Some(me));
    }
    changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

fn addslots(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    add_slots(s, args, false)
}

fn addslotsrange(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    add_slots(s, args, true)
}

fn del_slots(s: &mut SrvCtx<'_>, args: &[Bytes], ranges: bool) -> CmdResult {
    let sh = shell(s)?;
    let list = slots_from_args(args, ranges)?;
    let mut st = sh.state.lock();
    for slot in &list {
        if st.owners[slot.index()].is_none() {
            return Err(CmdError::err(format!("Slot {slot} is already unassigned")));
        }
    }
    for slot in list {
        st.assign_slot(slot, None);
    }
    changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

fn delslots(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    del_slots(s, args, false)
}

fn delslotsrange(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    del_slots(s, args, true)
}

fn flushslots(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    if !s.data.ks.dbs[0].is_empty() {
        return Err(CmdError::err("DB must be empty to perform CLUSTER FLUSHSLOTS."));
    }
    let mut st = sh.state.lock();
    let mine: Vec<Slot> = st.me().slots.iter().collect();
    for slot in mine {
        st.assign_slot(slot, None);
    }
    changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

fn replicate(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let mut st = sh.state.lock();
    let id = lookup(&st, &args[2])?;
    if id == st.myself {
        return Err(CmdError::err("Can't replicate myself"));
    }
    if st.nodes[&id].is_replica() {
        return Err(CmdError::err("I can only replicate a master, not a replica."));
    }
    if st.me().is_master() && (!st.me().slots.is_empty() || !s.data.ks.dbs[0].is_empty()) {
        return Err(CmdError::err(
            "To set a master the node must be empty and without assigned slots.",
        ));
    }
    st.set_my_master(id);
    let (ip, port) = (st.nodes[&id].ip.clone(), st.nodes[&id].port);
    changed(&sh, &mut st);
    drop(st);
    crate::cluster::route::start_replication(&shared_arc(s), Some((ip, port)));
    s.data.out.ok();
    Ok(())
}

fn replicas(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let st = sh.state.lock();
    let id = lookup(&st, &args[2])?;
    if st.nodes[&id].is_replica() {
        return Err(CmdError::err("The specified node is not a master"));
    }
    let list = st.replicas_of(id);
    s.data.out.array_len(list.len());
    for r in list {
        let line = slotkv_cluster::nodes_conf::node_line(&st, r);
        s.data.out.bulk(line.as_bytes());
    }
    Ok(())
}

fn keyslot(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    shell(s)?;
    s.data.out.int(i64::from(key_slot(&args[2]).get()));
    Ok(())
}

fn slot_arg(a: &[u8]) -> Result<Slot, CmdError> {
    int(a)
        .ok()
        .and_then(|n| Slot::new(n as u64).filter(|_| n >= 0))
        .ok_or_else(|| CmdError::err("Invalid slot"))
}

fn countkeysinslot(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    shell(s)?;
    let slot = slot_arg(&args[2])?;
    let n = crate::cluster::keys_in_slot(&s.data.ks.dbs[0], slot, usize::MAX).len();
    s.data.out.int(n as i64);
    Ok(())
}

fn getkeysinslot(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    shell(s)?;
    let bad = || CmdError::err("Invalid slot or number of keys");
    let slot = int(&args[2])
        .ok()
        .filter(|n| (0..16384).contains(n))
        .ok_or_else(bad)?;
    let count = int(&args[3]).ok().filter(|n| *n >= 0).ok_or_else(bad)? as usize;
    let slot = Slot::new(slot as u64).ok_or_else(bad)?;
    let keys = crate::cluster::keys_in_slot(&s.data.ks.dbs[0], slot, count);
    s.data.out.array_len(keys.len());
    for k in keys {
        s.data.out.bulk(k);
    }
    Ok(())
}

fn count_failure_reports(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let st = sh.state.lock();
    let id = lookup(&st, &args[2])?;
    s.data.out.int(st.nodes[&id].fail_reports.len() as i64);
    Ok(())
}

fn set_config_epoch(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let epoch = int(&args[2]).map_err(|_| CmdError::NotInteger)?;
    if epoch < 0 {
        return Err(CmdError::err(format!("Invalid config epoch specified: {epoch}")));
    }
    let mut st = sh.state.lock();
    if st.nodes.len() > 1 {
        return Err(CmdError::err(
            "The user can assign a config epoch only when the node does not know any other node.",
        ));
    }
    if st.me().config_epoch != 0 {
        return Err(CmdError::err("Node config epoch is already non-zero"));
    }
    let myself = st.myself;
    if let Some(me) = st.nodes.get_mut(&myself) {
        me.config_epoch = epoch as u64;
    }
    if st.current_epoch < epoch as u64 {
        st.current_epoch = epoch as u64;
    }
    changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

fn bumpepoch(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let mut st = sh.state.lock();
    let (bumped, epoch) = st.bump_epoch();
    changed(&sh, &mut st);
    s.data
        .out
        .simple(&format!("{} {epoch}", if bumped { "BUMPED" } else { "STILL" }));
    Ok(())
}

fn saveconfig(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let st = sh.state.lock();
    sh.save(&st);
    s.data.out.ok();
    Ok(())
}

fn links(s: &mut SrvCtx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let st = sh.state.lock();
    let inbound: std::collections::HashSet<NodeId> = sh.inbound.lock().keys().copied().collect();
    let mut peers: Vec<&Node> = st.nodes.values().filter(|n| n.id != st.myself).collect();
    peers.sort_by_key(|n| n.id);
    // Per node, the link to it then the link from it, as Redis lists them.
    let links: Vec<(&Node, &str)> = peers
        .into_iter()
        .flat_map(|n| {
            let to = n.link_up.then_some((n, "to"));
            let from = inbound.contains(&n.id).then_some((n, "from"));
            to.into_iter().chain(from)
        })
        .collect();
    let out = &mut *s.data.out;
    out.array_len(links.len());
    for (n, direction) in links {
        out.map_len(6);
        out.bulk(b"direction");
        out.bulk(direction.as_bytes());
        out.bulk(b"node");
        out.bulk(n.id.as_str().as_bytes());
        out.bulk(b"create-time");
        out.int(n.ctime);
        out.bulk(b"events");
        out.bulk(b"r");
        out.bulk(b"send-buffer-allocated");
        out.int(0);
        out.bulk(b"send-buffer-used");
        out.int(0);
    }
    Ok(())
}

fn setslot(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = shell(s)?;
    let slot = parse_slot(&args[2])?;
    let mut st = sh.state.lock();
    if st.me().is_replica() {
        return Err(CmdError::err("Please use SETSLOT only with masters."));
    }
    let me = st.myself;
    let action = &args[3];
    if is(action, "migrating") && args.len() == 5 {
        if st.owners[slot.index()] != Some(me) {
            return Err(CmdError::err(format!("I'm not the owner of hash slot {slot}")));
        }
        let id = known(&st, &args[4])?;
        if st.nodes[&id].is_replica() {
            return Err(CmdError::err("Target node is not a master"));
        }
        st.migrations.migrating.insert(slot.get(), id);
    } else if is(action, "importing") && args.len() == 5 {
        if st.owners[slot.index()] == Some(me) {
            return Err(CmdError::err(format!(
                "I'm already the owner of hash slot {slot}"
            )));
        }
        let id = known(&st, &args[4])?;
        if st.nodes[&id].is_replica() {
            return Err(CmdError::err("Target node is not a master"));
        }
        st.migrations.importing.insert(slot.get(), id);
    } else if is(action, "stable") && args.len() == 4 {
        st.migrations.migrating.remove(&slot.get());
        st.migrations.importing.remove(&slot.get());
    } else if is(action, "node") && args.len() == 5 {
        let id = lookup(&st, &args[4])?;
        if st.nodes[&id].is_replica() {
            return Err(CmdError::err("Target node is not a master"));
        }
        let keys_in_slot = !crate::cluster::keys_in_slot(&s.data.ks.dbs[0], slot, 1).is_empty();
        let slot_was_mine = st.owners[slot.index()] == Some(me);
        if slot_was_mine && id != me && keys_in_slot {
            return Err(CmdError::err(format!(
                "Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
            )));
        }
        // A migrating slot without keys left is closed by assigning it.
        if !keys_in_slot {
            st.migrations.migrating.remove(&slot.get());
        }
        st.assign_slot(slot, Some(id));
        let allow_migration = s.shared.config.read().get_bool("cluster-allow-replica-migration");
        if slot_was_mine && id != me && st.me().slots.is_empty() && allow_migration {
            // A master left without slots follows the node that took its last one.
            tracing::warn!("Configuration change detected. Reconfiguring myself as a replica of {id}");
            st.set_my_master(id);
            let (ip, port) = (st.nodes[&id].ip.clone(), st.nodes[&id].port);
            changed(&sh, &mut st);
            drop(st);
            crate::cluster::route::start_replication(&shared_arc(s), Some((ip, port)));
            s.data.out.ok();
            return Ok(());
        }
        if id == me && st.migrations.importing.remove(&slot.get()).is_some() {
            // The slot was migrated by hand: take a new config epoch so that this claim
            // wins over the old owner's everywhere, and tell everyone right away.
            // Only a new epoch waits for the disk (as in Redis): once this node holds the
            // greatest epoch, the next imported slots keep it and are saved unsynced.
            if st.bump_epoch().0 {
                tracing::warn!("configEpoch updated after importing slot");
                changed(&sh, &mut st);
            } else {
                migration_state_changed(&sh, &mut st);
            }
            broadcast_pong(&sh, &mut st);
            s.data.out.ok();
            return Ok(());
        }
    } else {
        return Err(CmdError::err(
            "Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
        ));
    }
    // Migration states, and an ownership change without a new epoch or role: unsynced, as
    // Redis does (an epoch bump and the role change above are synced).
    migration_state_changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

/// Sends a PONG with our new configuration to every node we have a link to.
fn broadcast_pong(sh: &ClusterShell, st: &mut ClusterState) {
    let targets: Vec<NodeId> = sh.links.lock().keys().copied().collect();
    for id in targets {
        let msg = st.build_ping(slotkv_cluster::message::MsgType::Pong, Some(id));
        sh.send(id, slotkv_cluster::message::encode(&msg));
    }
}

fn failover(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    use slotkv_cluster::failover::ManualMode;
    let sh = shell(s)?;
    let mode = match args.get(2) {
        None => ManualMode::Default,
        Some(a) if is(a, "force") => ManualMode::Force,
        Some(a) if is(a, "takeover") => ManualMode::Takeover,
        Some(_) => return Err(CmdError::Syntax),
    };
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let mut st = sh.state.lock();
    let fx = st
        .start_manual_failover(mode, now_ms())
        .map_err(|e| CmdError::err(e.to_string()))?;
    crate::cluster::apply_effects(&shared_arc(s), &sh, &mut st, fx, None);
    changed(&sh, &mut st);
    s.data.out.ok();
    Ok(())
}

fn help(s: &mut SrvCtx<'_>, args: &[Bytes]) -> CmdResult {
    shell(s)?;
    if args.len() == 1 || !is(&args[1], "help") {
        return Err(CmdError::WrongArity("cluster".into()));
    }
    super::server::help_reply(
        s.data.out,
        "CLUSTER",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "BUMPEPOCH",
            "COUNT-FAILURE-REPORTS <node-id>",
            "COUNTKEYSINSLOT <slot>",
            "DELSLOTS <slot> [<slot> ...]",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "FAILOVER [FORCE|TAKEOVER]",
            "FLUSHSLOTS",
            "FORGET <node-id>",
            "GETKEYSINSLOT <slot> <count>",
            "INFO",
            "KEYSLOT <key>",
            "LINKS",
            "MEET <ip> <port> [<bus-port>]",
            "MYID",
            "NODES",
            "REPLICATE <node-id>",
            "RESET [HARD|SOFT]",
            "SET-CONFIG-EPOCH <epoch>",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "REPLICAS <node-id>",
            "SAVECONFIG",
            "SHARDS",
            "SLOTS",
        ],
    );
    Ok(())
}
