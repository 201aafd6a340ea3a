//! `reshard` and `rebalance`: slot plans, and moving one slot with its keys
//! (SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT + MIGRATE ... KEYS, SETSLOT NODE).

use std::io::Write;

use slotkv_protocol::Frame;

use super::node::SLOTS;
use super::{check, parse_addr, Cluster, Ctx};

/// How keys are moved.
pub struct MoveOpts {
    /// MIGRATE timeout, ms.
    pub timeout: u64,
    /// Keys fetched and migrated per round.
    pub pipeline: usize,
    /// MIGRATE ... REPLACE when the target already has a key.
    pub replace: bool,
    /// `fix` mode: a busy key is always replaced.
    pub fix: bool,
}

impl MoveOpts {
    fn from_ctx(ctx: &Ctx) -> MoveOpts {
        MoveOpts {
            timeout: ctx.cmd.timeout.unwrap_or(60000),
            pipeline: ctx.cmd.pipeline.unwrap_or(10).max(1),
            replace: ctx.cmd.replace,
            fix: false,
        }
    }
}

/// Keys asked for with one GETKEYSINSLOT: up to this many, in batches of
/// `--cluster-pipeline` keys that go out as MIGRATE commands back to back.
const KEYS_PER_FETCH: usize = 1000;

/// Moves every key of `slot` from `src` to `dst` (the slot must already be open on both).
///
/// Like redis-cli, each MIGRATE carries `pipeline` keys; unlike it, the keys of several
/// MIGRATEs are fetched at once and those MIGRATEs are pipelined, which saves two round
/// trips per batch. A fetch that comes back short was the rest of the slot: while the slot
/// is MIGRATING, the source creates no new keys in it (they are redirected with ASK), so
/// no further GETKEYSINSLOT is needed — except in `fix` mode, where the slot may be open
/// for writes on the source.
pub fn migrate_keys(
    c: &mut Cluster,
    src: usize,
    dst: usize,
    slot: u16,
    opts: &MoveOpts,
    dots: bool,
) -> Result<(), String> {
    let fetch = opts
        .pipeline
        .saturating_mul(16)
        .min(KEYS_PER_FETCH)
        .max(opts.pipeline);
    let (slot_arg, fetch_arg) = (slot.to_string(), fetch.to_string());
    loop {
        let keys: Vec<Vec<u8>> =
            match c.nodes[src]
                .link()
                .ok(&["CLUSTER", "GETKEYSINSLOT", &slot_arg, &fetch_arg])?
            {
                Frame::Array(a) => a
                    .iter()
                    .filter_map(|k| match k {
                        Frame::Bulk(b) => Some(b.to_vec()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
        if keys.is_empty() {
            return Ok(());
        }
        let batches: Vec<&[Vec<u8>]> = keys.chunks(opts.pipeline).collect();
        let mut busy = Vec::new();
        {
            let commands: Vec<Vec<Vec<u8>>> = batches
                .iter()
                .map(|b| migrate_command(c, dst, b, opts.timeout, opts.replace))
                .collect();
            let replies = c.nodes[src]
                .link()
                .pipeline(&commands)
                .map_err(|e| format!("Calling MIGRATE: {}", super::node::io_text(&e)))?;
            for (i, reply) in replies.into_iter().enumerate() {
                if let Frame::Error(e) = reply {
                    if e.contains("BUSYKEY") && !opts.replace && opts.fix {
                        busy.push(i);
                    } else {
                        return Err(format!("Calling MIGRATE: {e}"));
                    }
                }
            }
        }
        // In fix mode a key that exists on both sides is overwritten with the source's.
        for i in busy {
            let command = migrate_command(c, dst, batches[i], opts.timeout, true);
            c.nodes[src]
                .link()
                .ok(&command)
                .map_err(|e| format!("Calling MIGRATE: {e}"))?;
        }
        if dots {
            out!("{}", ".".repeat(keys.len()));
            let _ = std::io::stdout().flush();
        }
        if keys.len() < fetch && !opts.fix {
            return Ok(());
        }
    }
}

/// `MIGRATE <dst> "" 0 <timeout> [REPLACE] [AUTH ...] KEYS <keys>`.
fn migrate_command(c: &Cluster, dst: usize, keys: &[Vec<u8>], timeout: u64, replace: bool) -> Vec<Vec<u8>> {
    let mut args: Vec<Vec<u8>> = vec![
        b"MIGRATE".to_vec(),
        c.nodes[dst].ip.clone().into_bytes(),
        c.nodes[dst].port.to_string().into_bytes(),
        Vec::new(),
        b"0".to_vec(),
        timeout.to_string().into_bytes(),
    ];
    if replace {
        args.push(b"REPLACE".to_vec());
    }
    if let Some(pass) = &c.auth.password {
        match &c.auth.user {
            Some(u) => {
                args.push(b"AUTH2".to_vec());
                args.push(u.clone().into_bytes());
            }
            None => args.push(b"AUTH".to_vec()),
        }
        args.push(pass.clone().into_bytes());
    }
    args.push(b"KEYS".to_vec());
    args.extend(keys.iter().cloned());
    args
}

/// Moves one slot from `src` to `dst`, keys included, then records the new owner on both
/// nodes and on every other master.
pub fn move_slot(
    ctx: &Ctx,
    c: &mut Cluster,
    src: usize,
    dst: usize,
    slot: u16,
    opts: &MoveOpts,
    dots: bool,
) -> Result<(), String> {
    let _ = ctx;
    let s = slot.to_string();
    let (src_name, dst_name) = (c.nodes[src].name.clone(), c.nodes[dst].name.clone());
    if !opts.fix {
        c.nodes[dst]
            .link()
            .ok(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &src_name])?;
        c.nodes[src]
            .link()
            .ok(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &dst_name])?;
    }
    migrate_keys(c, src, dst, slot, opts, dots)?;
    c.nodes[dst]
        .link()
        .ok(&["CLUSTER", "SETSLOT", &s, "NODE", &dst_name])?;
    // Then the source and every other master, all at once: the target already owns the
    // slot with a new epoch, so the order among the rest does not matter.
    let others: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| i != src && i != dst && c.nodes[i].is_master())
        .collect();
    let setslot_node = ["CLUSTER", "SETSLOT", &s, "NODE", &dst_name];
    let src_sent = c.nodes[src].link().send(&setslot_node);
    let sent: Vec<bool> = others
        .iter()
        .map(|&i| c.nodes[i].link().send(&setslot_node).is_ok())
        .collect();
    let src_reply = match src_sent {
        Ok(()) => c.nodes[src].link().recv(),
        Err(e) => Err(e),
    };
    for (&i, sent) in others.iter().zip(sent) {
        if sent {
            let _ = c.nodes[i].link().recv();
        }
    }
    match src_reply {
        // A source that just gave away its last slot may already have turned itself into
        // a replica of the target (cluster-allow-replica-migration): redis-cli 7.0 accepts
        // that refusal from the source, and so do we.
        Ok(Frame::Error(e)) if e.starts_with("ERR Please use SETSLOT only with masters.") => {}
        Ok(Frame::Error(e)) => return Err(e),
        Ok(_) => {}
        Err(e) => return Err(super::node::io_text(&e)),
    }
    c.nodes[src].slots[slot as usize] = false;
    c.nodes[src].slots_count -= 1;
    c.nodes[dst].slots[slot as usize] = true;
    c.nodes[dst].slots_count += 1;
    Ok(())
}

/// Which slots come from which source: each source gives its share of `count` in
/// proportion to its slots (the biggest source rounds up), lowest slots first.
fn plan(c: &Cluster, sources: &[usize], count: usize) -> Vec<(u16, usize)> {
    let mut srcs = sources.to_vec();
    srcs.sort_by_key(|&i| std::cmp::Reverse(c.nodes[i].slots_count));
    let total: usize = srcs.iter().map(|&i| c.nodes[i].slots_count).sum();
    let mut out = Vec::new();
    if total == 0 {
        return out;
    }
    for (k, &i) in srcs.iter().enumerate() {
        let share = count as f64 * c.nodes[i].slots_count as f64 / total as f64;
        let n = if k == 0 { share.ceil() } else { share.floor() } as usize;
        out.extend(
            (0..SLOTS)
                .filter(|&s| c.nodes[i].slots[s])
                .take(n)
                .map(|s| (s as u16, i)),
        );
    }
    out.truncate(count);
    out
}

fn prompt(question: &str) -> Option<String> {
    out!("{question}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

pub fn reshard_cmd(ctx: &Ctx) -> bool {
    let Some((ip, port, _)) = parse_addr(&ctx.cmd.args) else {
        return false;
    };
    let Some(mut c) = Cluster::load(ctx, &ip, port) else {
        return false;
    };
    if !check::check_cluster(ctx, &mut c, false) {
        ctx.err("*** Please fix your cluster problems before resharding");
        return false;
    }
    let count = match ctx.cmd.slots {
        Some(n) => n,
        None => loop {
            let Some(a) = prompt("How many slots do you want to move (from 1 to 16384)? ") else {
                return false;
            };
            let n = crate::atoi(a.as_bytes());
            if (1..=SLOTS as i64).contains(&n) {
                break n as usize;
            }
        },
    };
    let target = loop {
        let id = match &ctx.cmd.to {
            Some(t) => t.clone(),
            None => match prompt("What is the receiving node ID? ") {
                Some(t) => t,
                None => return false,
            },
        };
        match c.find_prefix(&id).filter(|&i| c.nodes[i].is_master()) {
            Some(i) => break i,
            None => {
                ctx.err(&format!(
                    "*** The specified node ({id}) is not known or not a master, please retry."
                ));
                if ctx.cmd.to.is_some() {
                    return false;
                }
            }
        }
    };
    let mut sources = Vec::new();
    let from_list: Vec<String> = match &ctx.cmd.from {
        Some(f) => f.split(',').map(str::to_string).collect(),
        None => {
            outln!("Please enter all the source node IDs.");
            outln!("  Type 'all' to use all the nodes as source nodes for the hash slots.");
            outln!("  Type 'done' once you entered all the source nodes IDs.");
            let mut v = Vec::new();
            loop {
                let Some(a) = prompt(&format!("Source node #{}: ", v.len() + 1)) else {
                    return false;
                };
                if a == "done" {
                    break;
                }
                let all = a == "all";
                v.push(a);
                if all {
                    break;
                }
            }
            v
        }
    };
    if from_list.iter().any(|f| f == "all") {
        sources = c
            .masters()
            .filter(|(i, _)| *i != target)
            .map(|(i, _)| i)
            .collect();
    } else {
        for id in &from_list {
            match c.find_prefix(id).filter(|&i| c.nodes[i].is_master()) {
                Some(i) if i == target => {
                    ctx.err("*** It is not possible to use the target node as source node.");
                    return false;
                }
                Some(i) => sources.push(i),
                None => {
                    ctx.err(&format!(
                        "*** The specified node ({id}) is not known or is not a master, please retry."
                    ));
                    return false;
                }
            }
        }
    }
    if sources.is_empty() {
        ctx.err("*** No source nodes given, operation aborted.");
        return false;
    }
    outln!("\nReady to move {count} slots.");
    outln!("  Source nodes:");
    for &s in &sources {
        outln!("{}", c.nodes[s].info(4));
    }
    outln!("  Destination node:");
    outln!("{}", c.nodes[target].info(4));
    outln!("  Resharding plan:");
    let moves = plan(&c, &sources, count);
    for (slot, src) in &moves {
        outln!("    Moving slot {slot} from {}", c.nodes[*src].name);
    }
    if !ctx.cmd.yes {
        let Some(a) = prompt("Do you want to proceed with the proposed reshard plan (yes/no)? ") else {
            return false;
        };
        if a != "yes" {
            return false;
        }
    }
    let opts = MoveOpts::from_ctx(ctx);
    let bar = super::progress(moves.len() as u64, "slots");
    for (slot, src) in moves {
        let line = format!(
            "Moving slot {slot} from {} to {}: ",
            c.nodes[src].addr(),
            c.nodes[target].addr()
        );
        bar.suspend(|| {
            out!("{line}");
            let _ = std::io::stdout().flush();
        });
        let r = bar.suspend(|| move_slot(ctx, &mut c, src, target, slot, &opts, true));
        outln!();
        if let Err(e) = r {
            bar.abandon();
            ctx.err(&format!("[ERR] {e}"));
            return false;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    true
}

pub fn rebalance_cmd(ctx: &Ctx) -> bool {
    let Some((ip, port, _)) = parse_addr(&ctx.cmd.args) else {
        return false;
    };
    let Some(mut c) = Cluster::load(ctx, &ip, port) else {
        return false;
    };
    if !check::check_cluster(ctx, &mut c, true) {
        ctx.err("*** Please fix your cluster problems before rebalancing");
        return false;
    }
    let mut weights: Vec<f64> = vec![1.0; c.nodes.len()];
    for w in &ctx.cmd.weights {
        let Some((name, val)) = w.split_once('=') else {
            continue;
        };
        match c.find_prefix(name).filter(|&i| c.nodes[i].is_master()) {
            Some(i) => weights[i] = val.parse().unwrap_or(0.0),
            None => {
                ctx.err(&format!("*** No such master node {name}"));
                return false;
            }
        }
    }
    let involved: Vec<usize> = c
        .masters()
        .filter(|(_, n)| n.slots_count > 0 || ctx.cmd.use_empty_masters)
        .map(|(i, _)| i)
        .collect();
    let total_weight: f64 = involved.iter().map(|&i| weights[i]).sum();
    if total_weight <= 0.0 {
        return true;
    }
    let threshold = ctx.cmd.threshold.unwrap_or(2.0);
    let mut balance: Vec<i64> = vec![0; c.nodes.len()];
    let mut over = false;
    for &i in &involved {
        let expected = (SLOTS as f64 / total_weight * weights[i]) as i64;
        balance[i] = c.nodes[i].slots_count as i64 - expected;
        if threshold > 0.0 {
            if weights[i] <= 0.0 {
                if c.nodes[i].slots_count > 0 {
                    over = true;
                }
            } else {
                let pct = ((expected - c.nodes[i].slots_count as i64) as f64 / expected as f64 * 100.0).abs();
                if pct > threshold {
                    over = true;
                }
            }
        }
    }
    if !over {
        ctx.warn(&format!(
            "*** No rebalancing needed! All nodes are within the {threshold:.2}% threshold."
        ));
        return true;
    }
    // Rounding can leave the balances summing above zero: take it from the receivers.
    let mut total: i64 = involved.iter().map(|&i| balance[i]).sum();
    while total > 0 {
        for &i in &involved {
            if balance[i] < 0 && total > 0 {
                balance[i] -= 1;
                total -= 1;
            }
        }
    }
    let mut order = involved.clone();
    order.sort_by_key(|&i| balance[i]);
    ctx.info(&format!(
        ">>> Rebalancing across {} nodes. Total weight = {total_weight:.2}",
        order.len()
    ));
    let opts = MoveOpts::from_ctx(ctx);
    let (mut d, mut s) = (0usize, order.len().saturating_sub(1));
    while d < s {
        let (dst, src) = (order[d], order[s]);
        let n = balance[dst].unsigned_abs().min(balance[src].unsigned_abs()) as usize;
        if n > 0 {
            outln!(
                "Moving {n} slots from {} to {}",
                c.nodes[src].addr(),
                c.nodes[dst].addr()
            );
            let moves = plan(&c, &[src], n);
            for (slot, from) in moves {
                if !ctx.cmd.simulate {
                    if let Err(e) = move_slot(ctx, &mut c, from, dst, slot, &opts, false) {
                        outln!();
                        ctx.err(&format!("[ERR] {e}"));
                        return false;
                    }
                }
                out!("#");
                let _ = std::io::stdout().flush();
            }
            outln!();
        }
        balance[dst] += n as i64;
        balance[src] -= n as i64;
        if balance[dst] == 0 {
            d += 1;
        }
        if balance[src] == 0 {
            s = s.saturating_sub(1);
        }
    }
    true
}
