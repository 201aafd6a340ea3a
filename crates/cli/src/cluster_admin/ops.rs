//! `add-node`, `del-node`, `call` and `set-timeout`.

use std::time::{Duration, Instant};

use slotkv_protocol::Frame;

use super::node::{info_field, Node};
use super::{check, parse_addr, wait_for_join, Cluster, Ctx};

pub fn add_node(ctx: &Ctx) -> bool {
    let args = &ctx.cmd.args;
    let (Some((new_ip, new_port, _)), Some((ref_ip, ref_port, _))) = (
        parse_addr(std::slice::from_ref(&args[0])),
        parse_addr(std::slice::from_ref(&args[1])),
    ) else {
        eprintln!("Invalid arguments: address must be ip:port");
        return false;
    };
    ctx.info(&format!(
        ">>> Adding node {new_ip}:{new_port} to cluster {ref_ip}:{ref_port}"
    ));
    let Some(mut c) = Cluster::load(ctx, &ref_ip, ref_port) else {
        return false;
    };
    check::check_cluster(ctx, &mut c, false);
    let mut master: Option<usize> = None;
    if ctx.cmd.slave {
        if let Some(id) = &ctx.cmd.master_id {
            match c.find_prefix(id).filter(|&i| c.nodes[i].is_master()) {
                Some(i) => master = Some(i),
                None => {
                    ctx.err(&format!("[ERR] No such master ID {id}"));
                    return false;
                }
            }
        } else {
            master = c.masters().min_by_key(|(_, n)| n.replicas_count).map(|(i, _)| i);
            match master {
                Some(i) => outln!("Automatically selected master {}", c.nodes[i].addr()),
                None => {
                    ctx.err("[ERR] Can't find any master to attach the replica to");
                    return false;
                }
            }
        }
    }
    let Some(mut new) = ctx.connect_node(&new_ip, new_port) else {
        return false;
    };
    if !prepare_new(ctx, &mut new) {
        return false;
    }
    if !ctx.cmd.slave && !copy_functions(ctx, &mut c.nodes[0], &mut new) {
        return false;
    }
    ctx.info(&format!(
        ">>> Send CLUSTER MEET to node {} to make it join the cluster.",
        new.addr()
    ));
    let entry = &c.nodes[0];
    let port = entry.port.to_string();
    let mut meet = vec!["CLUSTER".to_string(), "MEET".into(), entry.ip.clone(), port];
    if let Some(b) = entry
        .bus_port
        .filter(|b| u32::from(*b) != u32::from(entry.port) + 10000)
    {
        meet.push(b.to_string());
    }
    if let Err(e) = new.link().ok(&meet) {
        ctx.err(&format!("[ERR] Node {}: {e}", new.addr()));
        return false;
    }
    if let Some(m) = master {
        let master_addr = c.nodes[m].addr();
        let master_name = c.nodes[m].name.clone();
        // As redis-cli, the wait covers the existing nodes; the REPLICATE below retries
        // (bounded) until the new node has heard of its master.
        wait_for_join(ctx, &mut c);
        ctx.info(&format!(">>> Configure node as replica of {master_addr}."));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match new.link().ok(&["CLUSTER", "REPLICATE", &master_name]) {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    ctx.err(&format!("Node {} replied with error:\n{e}", new.addr()));
                    return false;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    ctx.ok("[OK] New node added correctly.");
    true
}

/// The new node must be an empty cluster node.
fn prepare_new(ctx: &Ctx, n: &mut Node) -> bool {
    let info = n.link().text(&["INFO", "cluster"]).unwrap_or_default();
    if info_field(&info, "cluster_enabled").as_deref() != Some("1") {
        ctx.err(&format!(
            "[ERR] Node {} is not configured as a cluster node.",
            n.addr()
        ));
        return false;
    }
    if n.load_self().is_err() {
        return false;
    }
    let keyspace = n.link().text(&["INFO", "keyspace"]).unwrap_or_default();
    let cinfo = n.link().text(&["CLUSTER", "INFO"]).unwrap_or_default();
    let known = info_field(&cinfo, "cluster_known_nodes");
    if keyspace.lines().any(|l| l.starts_with("db0:")) || known.as_deref().is_some_and(|k| k != "1") {
        ctx.err(&format!(
            "[ERR] Node {} is not empty. Either the node already knows other nodes (check with CLUSTER NODES) or contains some key in database 0.",
            n.addr()
        ));
        return false;
    }
    true
}

/// Copies the cluster's functions to a new master, as redis-cli 7 does; skipped silently
/// when the cluster does not know FUNCTION.
fn copy_functions(ctx: &Ctx, entry: &mut Node, new: &mut Node) -> bool {
    let dump = match entry.link().cmd(&["FUNCTION", "DUMP"]) {
        Ok(Frame::Bulk(b)) => b,
        _ => return true,
    };
    ctx.info(">>> Getting functions from cluster");
    ctx.info(&format!(
        ">>> Send FUNCTION LIST to {} to verify there is no functions in it",
        new.addr()
    ));
    match new.link().cmd(&["FUNCTION", "LIST"]) {
        Ok(Frame::Array(a)) if a.is_empty() => {}
        Ok(Frame::Array(_)) => {
            ctx.err(&format!(
                "[ERR] Node {} is not empty (contains functions).",
                new.addr()
            ));
            return false;
        }
        _ => return true,
    }
    ctx.info(&format!(">>> Send FUNCTION RESTORE to {}", new.addr()));
    let args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &dump];
    if let Ok(Frame::Error(e)) = new.link().cmd(&args) {
        ctx.err(&format!("[ERR] Failed to load functions to {}: {e}", new.addr()));
        return false;
    }
    true
}

pub fn del_node(ctx: &Ctx) -> bool {
    let Some((ip, port, used)) = parse_addr(&ctx.cmd.args) else {
        return false;
    };
    let Some(id) = ctx.cmd.args.get(used).cloned() else {
        eprintln!("[ERR] Wrong number of arguments for specified --cluster sub command");
        return false;
    };
    ctx.info(&format!(">>> Removing node {id} from cluster {ip}:{port}"));
    let Some(mut c) = Cluster::load(ctx, &ip, port) else {
        return false;
    };
    let Some(del) = c.find(&id.to_ascii_lowercase()) else {
        ctx.err(&format!("[ERR] No such node ID {id}"));
        return false;
    };
    if c.nodes[del].slots_count > 0 {
        ctx.err(&format!(
            "[ERR] Node {} is not empty! Reshard data away and try again.",
            c.nodes[del].addr()
        ));
        return false;
    }
    ctx.info(">>> Sending CLUSTER FORGET messages to the cluster...");
    let del_name = c.nodes[del].name.clone();
    for i in 0..c.nodes.len() {
        if i == del {
            continue;
        }
        if c.nodes[i].replicate.as_deref() == Some(del_name.as_str()) {
            // Its master goes away: attach it to the master with the fewest replicas.
            let target = c
                .masters()
                .filter(|(j, _)| *j != del)
                .min_by_key(|(_, n)| n.replicas_count)
                .map(|(j, _)| j);
            if let Some(t) = target {
                let (addr, taddr, tname) = (c.nodes[i].addr(), c.nodes[t].addr(), c.nodes[t].name.clone());
                ctx.info(&format!(">>> {addr} as replica of {taddr}"));
                if let Err(e) = c.nodes[i].link().ok(&["CLUSTER", "REPLICATE", &tname]) {
                    ctx.err(&format!("Node {addr} replied with error:\n{e}"));
                    return false;
                }
                c.nodes[t].replicas_count += 1;
            }
        }
        if let Err(e) = c.nodes[i].link().ok(&["CLUSTER", "FORGET", &del_name]) {
            ctx.err(&format!("Node {} replied with error:\n{e}", c.nodes[i].addr()));
            return false;
        }
    }
    ctx.info(">>> Sending CLUSTER RESET SOFT to the deleted node.");
    if let Err(e) = c.nodes[del].link().ok(&["CLUSTER", "RESET", "SOFT"]) {
        ctx.err(&format!("Node {} replied with error:\n{e}", c.nodes[del].addr()));
        return false;
    }
    true
}

pub fn call(ctx: &Ctx) -> bool {
    let Some((ip, port, used)) = parse_addr(&ctx.cmd.args) else {
        return false;
    };
    let command: Vec<String> = ctx.cmd.args[used..].to_vec();
    let Some(mut c) = Cluster::load(ctx, &ip, port) else {
        return false;
    };
    ctx.log(super::Level::Info, ">>> Calling");
    outln!(" {}", command.join(" "));
    for n in &mut c.nodes {
        if ctx.cmd.only_masters && !n.is_master() {
            continue;
        }
        if ctx.cmd.only_replicas && n.is_master() {
            continue;
        }
        let addr = n.addr();
        match n.link().cmd(&command) {
            Ok(f) => outln!("{addr}: {}", raw(&f)),
            Err(_) => outln!("{addr}: Failed!"),
        }
    }
    true
}

/// redis-cli's raw reply rendering (what `call` prints).
fn raw(f: &Frame) -> String {
    match f {
        Frame::Error(e) => format!("{e}\n"),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            items.iter().map(raw).collect::<Vec<_>>().join("\n")
        }
        Frame::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| [raw(k), raw(v)])
            .collect::<Vec<_>>()
            .join("\n"),
        Frame::Null => String::new(),
        Frame::Double(d) => d.to_string(),
        Frame::Boolean(b) => if *b { "(true)" } else { "(false)" }.into(),
        other => super::node::frame_text(other),
    }
}

pub fn set_timeout(ctx: &Ctx) -> bool {
    let Some((ip, port, used)) = parse_addr(&ctx.cmd.args) else {
        return false;
    };
    let ms = ctx
        .cmd
        .args
        .get(used)
        .map(|s| crate::atoi(s.as_bytes()))
        .unwrap_or(0);
    if ms < 100 {
        eprintln!("Setting a node timeout of less than 100 milliseconds is a bad idea.");
        return false;
    }
    let Some(mut c) = Cluster::load(ctx, &ip, port) else {
        return false;
    };
    ctx.info(">>> Reconfiguring node timeout in every cluster node...");
    let (mut ok, mut err) = (0, 0);
    let value = ms.to_string();
    for n in &mut c.nodes {
        let addr = n.addr();
        let r = n
            .link()
            .ok(&["CONFIG", "SET", "cluster-node-timeout", &value])
            .and_then(|_| n.link().ok(&["CONFIG", "REWRITE"]));
        match r {
            Ok(_) => {
                ctx.warn(&format!("*** New timeout set for {addr}"));
                ok += 1;
            }
            Err(e) => {
                ctx.err(&format!("ERR setting node-timeout for {addr}: {e}"));
                err += 1;
            }
        }
    }
    ctx.info(&format!(">>> New node timeout set. {ok} OK, {err} ERR."));
    true
}
