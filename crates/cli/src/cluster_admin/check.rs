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
    check_cluster_fix(ctx, &mut c, false, true)
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
        outln!(
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
    outln!("{:.2} keys per slot on average.", keys as f64 / SLOTS as f64);
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
            outln!("{}", n.info(0));
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
        // In fix mode a repaired slot is not a failure (redis-cli exits 0 then).
        ok &= fix;
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
        ok &= fix;
        if fix {
            fix_uncovered(ctx, c, &covered);
        }
    }
    ok
}

/// Fixes an open slot, in redis-cli's four cases: an interrupted migration is finished
/// (1), keys opened elsewhere go back to the owner (2), a migration to one of several
/// importing nodes is finished and the others closed (3), a lone migrating slot is closed
/// (4).
fn fix_open_slot(ctx: &Ctx, c: &mut Cluster, slot: u16) -> bool {
    ctx.info(&format!(">>> Fixing open slot {slot}"));
    let s = slot.to_string();
    let owner = c.masters().find(|(_, n)| n.slots[slot as usize]).map(|(i, _)| i);
    let keys_in = |c: &mut Cluster, i: usize| -> i64 {
        match c.nodes[i].link().ok(&["CLUSTER", "COUNTKEYSINSLOT", &s]) {
            Ok(slotkv_protocol::Frame::Integer(n)) => n,
            _ => 0,
        }
    };
    let mut migrating = Vec::new();
    let mut importing = Vec::new();
    for i in 0..c.nodes.len() {
        if !c.nodes[i].is_master() {
            continue;
        }
        if c.nodes[i].migrating.contains_key(&slot) {
            migrating.push(i);
        } else if c.nodes[i].importing.contains_key(&slot) {
            importing.push(i);
        } else if Some(i) != owner && keys_in(c, i) > 0 {
            ctx.warn(&format!(
                "*** Found keys about slot {slot} in non-owner node {}!",
                c.nodes[i].addr()
            ));
            importing.push(i);
        }
    }
    let names = |c: &Cluster, v: &[usize]| v.iter().map(|i| c.nodes[*i].addr()).collect::<Vec<_>>().join(",");
    if !migrating.is_empty() {
        outln!("Set as migrating in: {}", names(c, &migrating));
    }
    if !importing.is_empty() {
        outln!("Set as importing in: {}", names(c, &importing));
    }
    let Some(owner) = owner else {
        ctx.err(&format!(
            "[ERR] Slot {slot} has no owner: slotkv-cli can't fix this slot yet."
        ));
        return false;
    };
    let mut opts = super::reshard::MoveOpts {
        timeout: ctx.cmd.timeout.unwrap_or(60000),
        pipeline: ctx.cmd.pipeline.unwrap_or(10).max(1),
        replace: true,
        fix: false,
    };
    if migrating.len() == 1 && importing.len() == 1 {
        let (src, dst) = (migrating[0], importing[0]);
        ctx.info(&format!(
            ">>> Case 1: Moving slot {slot} from {} to {}",
            c.nodes[src].addr(),
            c.nodes[dst].addr()
        ));
        out!(
            "Moving slot {slot} from {} to {}: ",
            c.nodes[src].addr(),
            c.nodes[dst].addr()
        );
        let r = super::reshard::move_slot(ctx, c, src, dst, slot, &opts, true);
        outln!();
        if let Err(e) = r {
            ctx.err(&format!("[ERR] {e}"));
            return false;
        }
        return true;
    }
    if migrating.is_empty() && !importing.is_empty() {
        ctx.info(&format!(
            ">>> Case 2: Moving all the {slot} slot keys to its owner {}",
            c.nodes[owner].addr()
        ));
        opts.fix = true;
        for i in importing {
            if i == owner {
                continue;
            }
            out!(
                "Moving slot {slot} from {} to {}: ",
                c.nodes[i].addr(),
                c.nodes[owner].addr()
            );
            let r = super::reshard::migrate_keys(c, i, owner, slot, &opts, true);
            outln!();
            if let Err(e) = r {
                ctx.err(&format!("[ERR] {e}"));
                return false;
            }
            ctx.info(&format!(">>> Setting {slot} as STABLE in {}", c.nodes[i].addr()));
            let _ = c.nodes[i].link().ok(&["CLUSTER", "SETSLOT", &s, "STABLE"]);
            c.nodes[i].importing.remove(&slot);
        }
        return true;
    }
    if migrating.len() == 1 && importing.len() > 1 {
        let src = migrating[0];
        let target = c.nodes[src].migrating.get(&slot).cloned().unwrap_or_default();
        let dst = importing.iter().copied().find(|&i| c.nodes[i].name == target);
        ctx.info(&format!(
            ">>> Case 3: Closing slot {slot} on the importing nodes{}",
            if dst.is_some() { " but the target" } else { "" }
        ));
        for &i in &importing {
            if Some(i) != dst {
                let _ = c.nodes[i].link().ok(&["CLUSTER", "SETSLOT", &s, "STABLE"]);
            }
        }
        match dst {
            Some(dst) => {
                if let Err(e) = super::reshard::move_slot(ctx, c, src, dst, slot, &opts, false) {
                    ctx.err(&format!("[ERR] {e}"));
                    return false;
                }
            }
            None => {
                let _ = c.nodes[src].link().ok(&["CLUSTER", "SETSLOT", &s, "STABLE"]);
            }
        }
        return true;
    }
    if migrating.len() == 1
        && importing.is_empty()
        && (migrating[0] == owner || keys_in(c, migrating[0]) == 0)
    {
        let m = migrating[0];
        ctx.info(&format!(
            ">>> Case 4: Closing slot {slot} on {}",
            c.nodes[m].addr()
        ));
        if let Err(e) = c.nodes[m].link().ok(&["CLUSTER", "SETSLOT", &s, "STABLE"]) {
            ctx.err(&format!("[ERR] {e}"));
            return false;
        }
        c.nodes[m].migrating.remove(&slot);
        return true;
    }
    ctx.err(&format!(
        "[ERR] Sorry, slotkv-cli can't fix this slot yet (work in progress). Slot is set as migrating in {}, as importing in {}, owner is {}",
        names(c, &migrating),
        names(c, &importing),
        c.nodes[owner].addr()
    ));
    false
}

/// Assigns uncovered slots: to the node holding keys in it, else to a random master.
fn fix_uncovered(ctx: &Ctx, c: &mut Cluster, covered: &[bool]) {
    let missing: Vec<usize> = (0..SLOTS).filter(|s| !covered[*s]).collect();
    ctx.info(">>> Fixing slots coverage...");
    outln!(
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
            outln!(">>> Covering slot {s} with {}", c.nodes[m].addr());
            let _ = c.nodes[m].link().ok(&["CLUSTER", "ADDSLOTS", &s.to_string()]);
            let _ = c.nodes[m].link().ok(&["CLUSTER", "BUMPEPOCH"]);
        }
    }
}
