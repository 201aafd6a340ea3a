//! `create`: checks the given nodes, plans masters, slots and replicas (interleaving hosts so
//! that masters and their replicas land on different hosts where possible), asks, then
//! configures the nodes and joins them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::node::{info_field, Node, SLOTS};
use super::{check, parse_addr, wait_for_join, Cluster, Ctx};

/// Checks that a node is a cluster node with no keys and no peers, loading its identity.
fn prepare_node(ctx: &Ctx, n: &mut Node) -> bool {
    let info = n.link().text(&["INFO", "cluster"]).unwrap_or_default();
    if info_field(&info, "cluster_enabled").as_deref() != Some("1") {
        ctx.err(&format!(
            "[ERR] Node {} is not configured as a cluster node.",
            n.addr()
        ));
        return false;
    }
    if let Err(e) = n.load_self() {
        ctx.err(&format!("[ERR] Node {} {e}", n.addr()));
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

/// Connects to and checks every node named on the command line.
pub fn connect_all(ctx: &Ctx, addrs: &[String]) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    for a in addrs {
        let Some((ip, port, _)) = parse_addr(std::slice::from_ref(a)) else {
            eprintln!("Invalid address format: {a}");
            return None;
        };
        let mut n = ctx.connect_node(&ip, port)?;
        if !prepare_node(ctx, &mut n) {
            return None;
        }
        nodes.push(n);
    }
    Some(nodes)
}

pub fn create(ctx: &Ctx) -> bool {
    let Some(nodes) = connect_all(ctx, &ctx.cmd.args) else {
        return false;
    };
    create_with(ctx, nodes)
}

/// Plans, confirms and applies a new cluster made of `nodes`.
pub fn create_with(ctx: &Ctx, mut nodes: Vec<Node>) -> bool {
    let replicas = ctx.cmd.replicas.unwrap_or(0);
    let total = nodes.len();
    let masters_count = total / (replicas + 1);
    if masters_count < 3 {
        ctx.err(&format!(
            "*** ERROR: Invalid configuration for cluster creation.\n*** Redis Cluster requires at least 3 master nodes.\n*** This is not possible with {total} nodes and {replicas} replicas per node.\n*** At least {} nodes are required.",
            3 * (replicas + 1)
        ));
        return false;
    }
    ctx.info(&format!(
        ">>> Performing hash slots allocation on {total} nodes..."
    ));
    let order = interleave(&nodes);
    let (master_idx, rest) = order.split_at(masters_count);
    allocate_slots(&mut nodes, master_idx);
    let mut pool: Vec<usize> = rest.to_vec();
    // Rotating the leftovers tends to give better anti-affinity before optimizing.
    if !pool.is_empty() {
        pool.rotate_left(1);
    }
    assign_replicas(&mut nodes, master_idx, &mut pool, replicas);
    if replicas > 0 {
        optimize_anti_affinity(ctx, &mut nodes, master_idx);
    }
    for n in &nodes {
        outln!("{}", n.info(0));
    }
    if !ctx.confirm("Can I set the above configuration?") {
        return true;
    }
    for n in nodes.iter_mut().filter(|n| n.replicate.is_none()) {
        if let Err(e) = add_slots(n) {
            ctx.err(&format!("Node {} replied with error:\n{e}", n.addr()));
            return false;
        }
    }
    ctx.info(">>> Nodes configuration updated");
    ctx.info(">>> Assign a different config epoch to each node");
    for (i, n) in nodes.iter_mut().enumerate() {
        let _ = n
            .link()
            .ok(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]);
    }
    ctx.info(">>> Sending CLUSTER MEET messages to join the cluster");
    let (first_ip, first_port, first_bus) = (nodes[0].ip.clone(), nodes[0].port, nodes[0].bus_port);
    for n in nodes.iter_mut().skip(1) {
        let port = first_port.to_string();
        let mut args = vec!["CLUSTER", "MEET", first_ip.as_str(), port.as_str()];
        let bus;
        if let Some(b) = first_bus.filter(|b| u32::from(*b) != u32::from(first_port) + 10000) {
            bus = b.to_string();
            args.push(&bus);
        }
        if let Err(e) = n.link().ok(&args) {
            ctx.err(&format!("[ERR] Node {}: {e}", n.addr()));
            return false;
        }
    }
    let replica_plan: Vec<(usize, String)> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.replicate.clone().map(|m| (i, m)))
        .collect();
    for n in &mut nodes {
        n.replicate = None;
        n.dirty = false;
    }
    let first_addr = (nodes[0].ip.clone(), nodes[0].port);
    let mut cluster = Cluster {
        nodes,
        auth: ctx.auth.clone(),
    };
    std::thread::sleep(Duration::from_millis(300));
    wait_for_join(ctx, &mut cluster);
    for (i, master) in replica_plan {
        let n = &mut cluster.nodes[i];
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match n.link().ok(&["CLUSTER", "REPLICATE", &master]) {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    ctx.err(&format!("Node {} replied with error:\n{e}", n.addr()));
                    return false;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    let Some(mut c) = Cluster::load(ctx, &first_addr.0, first_addr.1) else {
        return false;
    };
    check::check_cluster(ctx, &mut c, false)
}

/// Node indexes with hosts interleaved: one from each host in turn, hosts in order of first
/// appearance.
fn interleave(nodes: &[Node]) -> Vec<usize> {
    let mut hosts: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match hosts.iter_mut().find(|(h, _)| *h == n.ip) {
            Some((_, v)) => v.push(i),
            None => hosts.push((n.ip.clone(), vec![i])),
        }
    }
    let mut out = Vec::with_capacity(nodes.len());
    let mut round = 0;
    while out.len() < nodes.len() {
        for (_, v) in &hosts {
            if let Some(i) = v.get(round) {
                out.push(*i);
            }
        }
        round += 1;
    }
    out
}

fn allocate_slots(nodes: &mut [Node], masters: &[usize]) {
    let per = SLOTS as f64 / masters.len() as f64;
    let mut first = 0usize;
    let mut cursor = 0f64;
    for (k, &m) in masters.iter().enumerate() {
        let mut last = (cursor + per - 1.0).round() as usize;
        if last > SLOTS - 1 || k == masters.len() - 1 {
            last = SLOTS - 1;
        }
        if last < first {
            last = first;
        }
        outln!("Master[{k}] -> Slots {first} - {last}");
        nodes[m].add_slots(first, last);
        nodes[m].dirty = true;
        first = last + 1;
        cursor += per;
    }
}

/// Gives each master `replicas` replicas, preferring a node on another host, then hands out
/// any nodes left over.
fn assign_replicas(nodes: &mut [Node], masters: &[usize], pool: &mut Vec<usize>, replicas: usize) {
    let mut extra = false;
    loop {
        for &m in masters {
            let mut assigned = 0;
            while assigned < replicas && !pool.is_empty() {
                let pick = match pool.iter().position(|&i| nodes[i].ip != nodes[m].ip) {
                    Some(p) => pool.remove(p),
                    None => pool.remove(0),
                };
                nodes[pick].replicate = Some(nodes[m].name.clone());
                nodes[pick].dirty = true;
                nodes[pick].flags = vec!["slave".into()];
                outln!("Adding replica {} to {}", nodes[pick].addr(), nodes[m].addr());
                assigned += 1;
            }
        }
        if extra || pool.is_empty() || replicas == 0 {
            break;
        }
        extra = true;
        outln!("Adding extra replicas...");
    }
}

/// Anti-affinity score: 10000 per replica on its master's host, 1 per replica sharing a host
/// with another replica of the same master. Returns the score and the offending replicas.
fn score(nodes: &[Node], masters: &[usize]) -> (u64, Vec<usize>) {
    let mut total = 0;
    let mut offenders = Vec::new();
    for &m in masters {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, r) in nodes.iter().enumerate() {
            if r.replicate.as_deref() != Some(nodes[m].name.as_str()) {
                continue;
            }
            let mut bad = false;
            if r.ip == nodes[m].ip {
                total += 10000;
                bad = true;
            }
            let c = seen.entry(r.ip.as_str()).or_insert(0);
            if *c > 0 {
                total += 1;
                bad = true;
            }
            *c += 1;
            if bad {
                offenders.push(i);
            }
        }
    }
    (total, offenders)
}

/// Swaps replicas between masters while that lowers the score (bounded iterations). Unlike
/// redis-cli, swaps that do not improve the score are not taken, so the plan is
/// reproducible.
fn optimize_anti_affinity(ctx: &Ctx, nodes: &mut [Node], masters: &[usize]) {
    // A plan that is already perfect is left alone, silently (as redis-cli does).
    if score(nodes, masters).0 == 0 {
        return;
    }
    ctx.info(">>> Trying to optimize slaves allocation for anti-affinity");
    let replicas: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].replicate.is_some())
        .collect();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut current, _) = score(nodes, masters);
    for _ in 0..500 * nodes.len() {
        let (s, offenders) = score(nodes, masters);
        current = s;
        if s == 0 || offenders.is_empty() || replicas.len() < 2 {
            break;
        }
        let a = offenders[rand(offenders.len())];
        let b = replicas[rand(replicas.len())];
        if a == b || nodes[a].replicate == nodes[b].replicate {
            continue;
        }
        let (ma, mb) = (nodes[a].replicate.take(), nodes[b].replicate.take());
        nodes[a].replicate = mb.clone();
        nodes[b].replicate = ma.clone();
        let (after, _) = score(nodes, masters);
        if after >= s {
            nodes[a].replicate = ma;
            nodes[b].replicate = mb;
        } else {
            current = after;
        }
    }
    if current == 0 {
        ctx.ok("[OK] Perfect anti-affinity obtained!");
    } else if current >= 10000 {
        ctx.warn("[WARNING] Some slaves are in the same host as their master");
    } else {
        ctx.warn("[WARNING] Some slaves of the same master are in the same host");
    }
}

/// ADDSLOTSRANGE for every range of the plan, ADDSLOTS where the server lacks it.
fn add_slots(n: &mut Node) -> Result<(), String> {
    let ranges = n.ranges();
    let mut args = vec!["CLUSTER".to_string(), "ADDSLOTSRANGE".to_string()];
    for (a, b) in &ranges {
        args.push(a.to_string());
        args.push(b.to_string());
    }
    match n.link().ok(&args) {
        Ok(_) => Ok(()),
        Err(e) if e.contains("nknown") => {
            let mut args = vec!["CLUSTER".to_string(), "ADDSLOTS".to_string()];
            for (a, b) in &ranges {
                args.extend((*a..=*b).map(|s| s.to_string()));
            }
            n.link().ok(&args).map(|_| ())
        }
        Err(e) => Err(e),
    }
}
