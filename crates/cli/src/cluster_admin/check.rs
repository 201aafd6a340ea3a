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
    check_cluster_fix(ctx, &mut c, false, true).ok
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
/// every slot (and, with `--cluster-search-multiple-owners`, no slot has two owners).
pub fn check_cluster(ctx: &Ctx, c: &mut Cluster, quiet: bool) -> bool {
    check_cluster_fix(ctx, c, quiet, false).ok
}

/// What a check found.
pub struct CheckReport {
    /// redis-cli's result: no problem left.
    pub ok: bool,
    /// How many problems went to redis-cli's error list (disagreement, each node's open
    /// slots, coverage): `backup` records it in nodes.json.
    pub errors: usize,
}

/// [`check_cluster`] with the count of problems found.
pub fn check_cluster_report(ctx: &Ctx, c: &mut Cluster, quiet: bool) -> CheckReport {
    check_cluster_fix(ctx, c, quiet, false)
}

fn check_cluster_fix(ctx: &Ctx, c: &mut Cluster, quiet: bool, fix: bool) -> CheckReport {
    let mut errors = 0;
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
        errors += 1;
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
            errors += 1;
            open.extend(n.migrating.keys().copied());
        }
        if !n.importing.is_empty() {
            let list: Vec<String> = n.importing.keys().map(|s| s.to_string()).collect();
            ctx.warn(&format!(
                "[WARNING] Node {} has slots in importing state {}.",
                n.addr(),
                list.join(",")
            ));
            errors += 1;
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
                    return CheckReport { ok: false, errors };
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
        errors += 1;
        ok &= fix;
        if fix {
            fix_uncovered(ctx, c, &covered);
        }
    }
    if ctx.cmd.search_multiple_owners {
        ok = check_multiple_owners(ctx, c, fix, ok);
    }
    CheckReport { ok, errors }
}

/// `--cluster-search-multiple-owners`: slots that several masters own, or hold keys in
/// without owning them. With `fix`, each is given to one owner. Returns the new result.
fn check_multiple_owners(ctx: &Ctx, c: &mut Cluster, fix: bool, mut ok: bool) -> bool {
    ctx.info(">>> Check for multiple slot owners...");
    let mut left = 0;
    for (slot, owners) in slot_owners(c) {
        if owners.len() < 2 {
            continue;
        }
        ok = false;
        ctx.err(&format!("[WARNING] Slot {slot} has {} owners:", owners.len()));
        for &i in &owners {
            ctx.err(&format!("    {}", c.nodes[i].addr()));
        }
        left += 1;
        if fix {
            ok = fix_multiple_owners(ctx, c, slot, &owners);
            if !ok {
                ctx.err(&format!("Failed to fix multiple owners for slot {slot}"));
                break;
            }
            left -= 1;
        }
    }
    if left == 0 {
        ctx.ok("[OK] No multiple owners found.");
    }
    ok
}

/// For every slot, the masters (in cluster order) that own it or hold keys in it. The key
/// counts are pipelined, one batch of CLUSTER COUNTKEYSINSLOT per master.
fn slot_owners(c: &mut Cluster) -> Vec<(u16, Vec<usize>)> {
    let mut owners: Vec<Vec<usize>> = vec![Vec::new(); SLOTS];
    for i in 0..c.nodes.len() {
        if !c.nodes[i].is_master() {
            continue;
        }
        let unowned: Vec<usize> = (0..SLOTS).filter(|&s| !c.nodes[i].slots[s]).collect();
        let cmds: Vec<Vec<String>> = unowned
            .iter()
            .map(|s| vec!["CLUSTER".into(), "COUNTKEYSINSLOT".into(), s.to_string()])
            .collect();
        let counts = c.nodes[i].link().pipeline(&cmds).unwrap_or_default();
        let mut with_keys = vec![false; SLOTS];
        for (s, reply) in unowned.iter().zip(&counts) {
            with_keys[*s] = matches!(reply, slotkv_protocol::Frame::Integer(n) if *n > 0);
        }
        for (s, list) in owners.iter_mut().enumerate() {
            if c.nodes[i].slots[s] || with_keys[s] {
                list.push(i);
            }
        }
    }
    owners
        .into_iter()
        .enumerate()
        .map(|(s, o)| (s as u16, o))
        .collect()
}

fn count_keys(c: &mut Cluster, i: usize, slot: u16) -> Option<i64> {
    match c.nodes[i]
        .link()
        .ok(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
    {
        Ok(slotkv_protocol::Frame::Integer(n)) => Some(n),
        _ => None,
    }
}

/// Makes `owner` the only owner of `slot` in one transaction (DELSLOTS, ADDSLOTS,
/// BUMPEPOCH, as redis-cli): only an ADDSLOTS failure counts.
fn set_slot_owner(ctx: &Ctx, c: &mut Cluster, owner: usize, slot: u16) -> bool {
    let s = slot.to_string();
    let link = c.nodes[owner].link();
    let queued = [
        vec!["MULTI"],
        vec!["CLUSTER", "DELSLOTS", &s],
        vec!["CLUSTER", "ADDSLOTS", &s],
        vec!["CLUSTER", "BUMPEPOCH"],
        vec!["EXEC"],
    ];
    let replies = match link.pipeline(&queued) {
        Ok(r) => r,
        Err(e) => {
            ctx.err(&format!(
                "Node {} replied with error:\n{}",
                c.nodes[owner].addr(),
                super::node::io_text(&e)
            ));
            return false;
        }
    };
    let addslots = match replies.last() {
        Some(slotkv_protocol::Frame::Array(items)) => items.get(1).cloned(),
        Some(other) => Some(other.clone()),
        None => None,
    };
    if let Some(slotkv_protocol::Frame::Error(e)) = addslots {
        ctx.err(&format!(
            "Node {} replied with error:\n{e}",
            c.nodes[owner].addr()
        ));
        return false;
    }
    true
}

/// Gives `slot` to the owner holding the most keys in it and moves the other owners' keys
/// there, in redis-cli's words. Two departures from redis-cli 7.0, which can lose keys or
/// fail here: every other master gives the slot up (DELSLOTS) and, if it holds keys, opens
/// it as importing from the owner *before* the owner claims it, so the claim arriving by
/// gossip cannot make it drop its keys and its MIGRATE is served locally instead of being
/// answered with -MOVED; the slot is closed (STABLE) once its keys have moved.
fn fix_multiple_owners(ctx: &Ctx, c: &mut Cluster, slot: u16, owners: &[usize]) -> bool {
    ctx.info(&format!(">>> Fixing multiple owners for slot {slot}..."));
    let mut owner: Option<(usize, i64)> = None;
    for &i in owners {
        if !c.nodes[i].is_master() {
            continue;
        }
        let Some(n) = count_keys(c, i, slot) else {
            owner = None;
            break;
        };
        if owner.is_none_or(|(_, most)| n > most) {
            owner = Some((i, n));
        }
    }
    let owner = owner.map_or(owners[0], |(i, _)| i);
    ctx.info(&format!(
        ">>> Setting slot {slot} owner: {}",
        c.nodes[owner].addr()
    ));
    let s = slot.to_string();
    let owner_name = c.nodes[owner].name.clone();
    let others: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| i != owner && c.nodes[i].is_master())
        .collect();
    let mut counts = Vec::new();
    for &i in &others {
        let Some(count) = count_keys(c, i, slot) else {
            return false;
        };
        let addr = c.nodes[i].addr();
        if let Err(e) = c.nodes[i].link().ok(&["CLUSTER", "DELSLOTS", &s]) {
            if !e.contains("unassigned") {
                ctx.err(&format!("Node {addr} replied with error:\n{e}"));
            }
        }
        if count > 0 {
            let _ = c.nodes[i]
                .link()
                .ok(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &owner_name]);
        }
        counts.push(count);
    }
    if !set_slot_owner(ctx, c, owner, slot) {
        return false;
    }
    let opts = super::reshard::MoveOpts {
        timeout: ctx.cmd.timeout.unwrap_or(60000),
        pipeline: ctx.cmd.pipeline.unwrap_or(10).max(1),
        replace: ctx.cmd.replace,
        fix: true,
    };
    for (&i, count) in others.iter().zip(counts) {
        let addr = c.nodes[i].addr();
        if let Err(e) = c.nodes[i]
            .link()
            .ok(&["CLUSTER", "SETSLOT", &s, "NODE", &owner_name])
        {
            ctx.err(&format!("Node {addr} replied with error:\n{e}"));
            return false;
        }
        if count > 0 {
            out!("Moving slot {slot} from {addr} to {}: ", c.nodes[owner].addr());
            let moved = super::reshard::migrate_keys(c, i, owner, slot, &opts, true);
            outln!();
            if let Err(e) = moved {
                ctx.err(&format!("Node {addr} replied with error:\n{e}"));
                return false;
            }
            let _ = c.nodes[i].link().ok(&["CLUSTER", "SETSLOT", &s, "STABLE"]);
        }
    }
    for (i, n) in c.nodes.iter_mut().enumerate() {
        let own = i == owner;
        if n.slots[slot as usize] != own && n.is_master() {
            n.slots[slot as usize] = own;
            if own {
                n.slots_count += 1;
            } else {
                n.slots_count -= 1;
            }
        }
    }
    true
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
