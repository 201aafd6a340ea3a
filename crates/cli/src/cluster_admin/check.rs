//! `check`, `info` and `fix`: the cluster summary, the consistency/open-slot/coverage
//! checks shared by every subcommand that changes the cluster, and the repairs `fix` makes.

use std::collections::{BTreeMap, BTreeSet};

use super::node::SLOTS;
use super::{parse_addr, Cluster, Ctx};

/// Loads the cluster named by the first positional argument.
pub fn load_from_args(ctx: &Ctx) -> Option<Cluster> {
    let (ip, port, _) = parse_addr(&ctx.cmd.args)?;
    Cluster::load(ctx, &ip, port)
}

pub fn info_cmd(ctx: &Ctx) -> bool {
    let Some(mut c) = load_from_args(ctx) else {
        return false;
    };
    show_info(ctx, &mut c);
    true
}

pub fn check_cmd(ctx: &Ctx) -> bool {
    let Some(mut c) = load_from_args(ctx) else {
        return false;
    };
    show_info(ctx, &mut c);
    check_cluster(ctx, &mut c, false)
}

pub fn fix_cmd(ctx: &Ctx) -> bool {
    let Some(mut c) = load_from_args(ctx) else {
        return false;
    };
    show_info(ctx, &mut c);
    let ok = check_cluster_fix(ctx, &mut c, false, true);
    if !ok {
        return false;
    }
    true
}

/// The per-master summary that opens `info` and `check`.
pub fn show_info(ctx: &Ctx, c: &mut Cluster) {
    let mut masters = 0;
    let mut keys = 0i64;
    for n in c.nodes.iter_mut().filter(|n| n.is_master()) {
        let dbsize = match n.link().ok(&["DBSIZE"]) {
            Ok(slotkv_protocol::Frame::Integer(i)) => i,
            _ => 0,
        };
        let short: String = n.name.chars().take(8).collect();
        println!(
            "{} ({}...) -> {} keys | {} slots | {} slaves.",
            n.addr(),
            short,
            dbsize,
            n.slots_count,
            n.replicas_count
        );
        masters += 1;
        keys += dbsize;
    }
    ctx.ok(&format!("[OK] {keys} keys in {masters} masters."));
    println!("{:.2} keys per slot on average.", keys as f64 / SLOTS as f64);
}

/// The cluster check; true when the cluster is consistent, has no open slot and covers
/// every slot.
pub fn check_cluster(ctx: &Ctx, c: &mut Cluster, quiet: bool) -> bool {
    check_cluster_fix(ctx, c, quiet, false)
}

fn check_cluster_fix(ctx: &Ctx, c: &mut Cluster, quiet: bool, fix: bool) -> bool {
    let entry = c.nodes[0].addr();
    ctx.info(&format!(">>> Performing Cluster Check (using node {entry})"));
    if !quiet {
        for n in &c.nodes {
            println!("{}", n.info(0));
        }
    }
    let mut ok = true;
    if c.is_config_consistent() {
        ctx.ok("[OK] All nodes agree about slots configuration.");
    } else {
        ctx.err("[ERR] Nodes don't agree about configuration!");
        ok = false;
    }
    ctx.info(">>> Check for open slots...");
    let mut open = BTreeSet::new();
    for n in &c.nodes {
        if !n.migrating.is_empty() {
            let list: Vec<String> = n.migrating.keys().map(|s| s.to_string()).collect();
            ctx.warn(&format!(
                "[WARNING] Node {} has slots in migrating state {}.",
                n.addr(),
                list.join(",")
            ));
            open.extend(n.migrating.keys().copied());
        }
        if !n.importing.is_empty() {
            let list: Vec<String> = n.importing.keys().map(|s| s.to_string()).collect();
            ctx.warn(&format!(
                "[WARNING] Node {} has slots in importing state {}.",
                n.addr(),
                list.join(",")
            ));
            open.extend(n.importing.keys().copied());
        }
    }
    if !open.is_empty() {
        ok = false;
        let list: Vec<String> = open.iter().map(|s| s.to_string()).collect();
        ctx.warn(&format!(
            "[WARNING] The following slots are open: {}.",
            list.join(",")
        ));
        if fix {
            for slot in &open {
                if !fix_open_slot(ctx, c, *slot) {
                    return false;
                }
            }
        }
    }
    ctx.info(">>> Check slots coverage...");
    let mut covered = vec![false; SLOTS];
    for n in c.nodes.iter().filter(|n| n.is_master()) {
        for (s, set) in n.slots.iter().enumerate() {
            covered[s] |= set;
        }
    }
    let count = covered.iter().filter(|c| **c).count();
    if count == SLOTS {
        ctx.ok(&format!("[OK] All {SLOTS} slots covered."));
    } else {
        ctx.err(&format!("[ERR] Not all {SLOTS} slots are covered by nodes.\n"));
        ok = false;
        if fix {
            fix_uncovered(ctx, c, &covered);
        }
    }
    ok
}

/// Fixes an open slot: finds its owner, moves any keys left elsewhere to it, and makes the
/// slot stable everywhere (the common cases of redis-cli's fix).
fn fix_open_slot(ctx: &Ctx, c: &mut Cluster, slot: u16) -> bool {
    ctx.info(&format!(">>> Fixing open slot {slot}"));
    let owner = c.masters().find(|(_, n)| n.slots[slot as usize]).map(|(i, _)| i);
    let migrating: Vec<usize> = c
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.migrating.contains_key(&slot))
        .map(|(i, _)| i)
        .collect();
    let importing: Vec<usize> = c
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.importing.contains_key(&slot))
        .map(|(i, _)| i)
        .collect();
    if !migrating.is_empty() {
        let names: Vec<String> = migrating.iter().map(|i| c.nodes[*i].addr()).collect();
        println!("Set as migrating in: {}", names.join(","));
    }
    if !importing.is_empty() {
        let names: Vec<String> = importing.iter().map(|i| c.nodes[*i].addr()).collect();
        println!("Set as importing in: {}", names.join(","));
    }
    let Some(owner) = owner else {
        ctx.err(&format!("[ERR] Slot {slot} has no owner: fix not supported here"));
        return false;
    };
    let opts = super::reshard::MoveOpts {
        timeout: 60000,
        pipeline: 10,
        replace: true,
        fix: true,
    };
    if migrating.len() == 1 && importing.len() == 1 && migrating[0] == owner {
        // Case 1: an interrupted migration; finish it.
        let dst = importing[0];
        ctx.info(&format!(
            ">>> Case 1: Moving slot {slot} from {} to {}",
            c.nodes[owner].addr(),
            c.nodes[dst].addr()
        ));
        return super::reshard::move_slot(ctx, c, owner, dst, slot, &opts, true).is_ok();
    }
    // Otherwise move every key found elsewhere to the owner and close the slot.
    ctx.info(&format!(
        ">>> Case 2: Moving all the {slot} slot keys to its owner {}",
        c.nodes[owner].addr()
    ));
    for i in importing
        .iter()
        .chain(migrating.iter())
        .copied()
        .collect::<BTreeSet<_>>()
    {
        if i == owner {
            continue;
        }
        print!(
            "Moving slot {slot} from {} to {}: ",
            c.nodes[i].addr(),
            c.nodes[owner].addr()
        );
        let (src, dst) = (i, owner);
        if let Err(e) = super::reshard::migrate_keys(c, src, dst, slot, &opts, true) {
            println!();
            ctx.err(&format!("[ERR] {e}"));
            return false;
        }
        println!();
        let addr = c.nodes[i].addr();
        ctx.info(&format!(">>> Setting {slot} as STABLE in {addr}"));
        let _ = c.nodes[i]
            .link()
            .ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "STABLE"]);
    }
    let s = slot.to_string();
    for n in &mut c.nodes {
        let _ = n.link().ok(&["CLUSTER", "SETSLOT", &s, "STABLE"]);
        n.migrating.remove(&slot);
        n.importing.remove(&slot);
    }
    true
}

/// Assigns uncovered slots: to the node holding keys in it, else to a random master.
fn fix_uncovered(ctx: &Ctx, c: &mut Cluster, covered: &[bool]) {
    let missing: Vec<usize> = (0..SLOTS).filter(|s| !covered[*s]).collect();
    ctx.info(">>> Fixing slots coverage...");
    println!(
        "List of not covered slots: {}",
        missing
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    if !ctx.confirm("Fix these slots by covering with a random node?") {
        return;
    }
    let masters: Vec<usize> = c.masters().map(|(i, _)| i).collect();
    if masters.is_empty() {
        return;
    }
    let mut by_owner: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (k, s) in missing.iter().enumerate() {
        let holder = masters.iter().copied().find(|&m| {
            matches!(
                c.nodes[m].link().ok(&["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()]),
                Ok(slotkv_protocol::Frame::Integer(n)) if n > 0
            )
        });
        let m = holder.unwrap_or(masters[k % masters.len()]);
        by_owner.entry(m).or_default().push(*s);
    }
    for (m, slots) in by_owner {
        for s in slots {
            println!(">>> Covering slot {s} with {}", c.nodes[m].addr());
            let _ = c.nodes[m].link().ok(&["CLUSTER", "ADDSLOTS", &s.to_string()]);
            let _ = c.nodes[m].link().ok(&["CLUSTER", "BUMPEPOCH"]);
        }
    }
}
