//! HOT PATH. Cluster routing of a keyed command against the current [`ClusterView`]: serve
//! it here, or answer MOVED / ASK / TRYAGAIN / CROSSSLOT / CLUSTERDOWN exactly as Redis
//! does. One lock-free read of the view per command.

use std::sync::Arc;

use bytes::Bytes;
use slotkv_commands::{flags, CmdError};
use slotkv_keyslot::key_slot;

use crate::exec::ConnState;
use crate::shared::{Core, Shared};
use crate::table::Spec;

/// Decides whether this node serves the command. `Ok(())` = execute here. EXEC is routed
/// as one request made of every queued command's keys, as Redis does: a transaction whose
/// keys moved since they were queued gets MOVED/ASK/TRYAGAIN, one spanning slots CROSSSLOT.
pub fn check(
    shared: &Shared,
    core: &mut Core,
    conn: &ConnState,
    spec: &Spec,
    args: &[Bytes],
) -> Result<(), CmdError> {
    if shared.cluster.get().is_none() {
        return Ok(());
    }
    if spec.name == "exec" {
        let Some(m) = &conn.multi else {
            return Ok(());
        };
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut is_write = false;
        for q in &m.queued {
            if let Ok(qs) = shared.table.resolve(q) {
                is_write |= qs.has(flags::WRITE);
                keys.extend(qs.key_positions(q).into_iter().map(|p| &q[p][..]));
            }
        }
        let request = Request {
            keys,
            is_write,
            shard_pubsub: false,
            migrate: false,
            asking_command: false,
        };
        return route(shared, core, conn, &request);
    }
    let request = Request {
        keys: spec
            .key_positions(args)
            .into_iter()
            .map(|p| &args[p][..])
            .collect(),
        is_write: spec.has(flags::WRITE),
        shard_pubsub: matches!(spec.name, "ssubscribe" | "sunsubscribe" | "spublish"),
        migrate: spec.name == "migrate",
        asking_command: spec.has(flags::ASKING),
    };
    route(shared, core, conn, &request)
}

/// What routing needs to know of a request (one command, or a whole transaction).
struct Request<'a> {
    keys: Vec<&'a [u8]>,
    is_write: bool,
    /// SSUBSCRIBE / SUNSUBSCRIBE / SPUBLISH: shard channels, not keys.
    shard_pubsub: bool,
    /// MIGRATE, which moves keys freely while their slot is open.
    migrate: bool,
    /// A command that acts as if ASKING was sent (RESTORE-ASKING).
    asking_command: bool,
}

fn route(shared: &Shared, core: &mut Core, conn: &ConnState, request: &Request<'_>) -> Result<(), CmdError> {
    let Some(shell) = shared.cluster.get() else {
        return Ok(());
    };
    let positions = &request.keys;
    if positions.is_empty() {
        return Ok(());
    }
    let view = shell.view.load();
    // All keys in one slot; `multiple_keys` only counts distinct keys (Redis's rule for
    // TRYAGAIN on the importing side).
    let first = positions[0];
    let slot = key_slot(first).get();
    let mut multiple_keys = false;
    for &k in &positions[1..] {
        if k != first {
            if key_slot(k).get() != slot {
                return Err(CmdError::Raw(
                    "CROSSSLOT Keys in request don't hash to the same slot".into(),
                ));
            }
            multiple_keys = true;
        }
    }
    let (is_write, shard_pubsub) = (request.is_write, request.shard_pubsub);
    let Some(owner) = view.owner(slot) else {
        return Err(CmdError::Raw("CLUSTERDOWN Hash slot not served".into()));
    };
    let migrating_to = if owner.id == view.myself {
        view.migrating.get(&slot)
    } else {
        None
    };
    let importing = view.importing.contains_key(&slot);
    let (mut missing, mut existing) = (0usize, 0usize);
    // Shard channels are not keys: they stay served here until the slot is closed.
    if (migrating_to.is_some() || importing) && !shard_pubsub {
        let now = crate::log::now_ms();
        let db = &mut core.ks.dbs[0];
        for &k in positions {
            if db.exists(k, now) {
                existing += 1;
            } else {
                missing += 1;
            }
        }
    }
    let pubsub_when_down = shard_pubsub
        && shared
            .config
            .read()
            .get_bool("cluster-allow-pubsubshard-when-down");
    if !view.state_ok && !pubsub_when_down {
        let reads_ok = shared.config.read().get_bool("cluster-allow-reads-when-down");
        if !reads_ok {
            return Err(CmdError::Raw("CLUSTERDOWN The cluster is down".into()));
        }
        if is_write {
            return Err(CmdError::Raw(
                "CLUSTERDOWN The cluster is down and only accepts read commands".into(),
            ));
        }
    }
    // MIGRATE moves keys freely while the slot is open, in either direction.
    if (migrating_to.is_some() || importing) && request.migrate {
        return Ok(());
    }
    if let Some(target) = migrating_to {
        // Keys still here are served here; missing ones are asked for on the target.
        if missing > 0 {
            if existing > 0 {
                return Err(tryagain());
            }
            return Err(CmdError::Raw(format!("ASK {slot} {}", target.addr)));
        }
    }
    if importing && (conn.asking || request.asking_command) {
        if multiple_keys && missing > 0 {
            return Err(tryagain());
        }
        return Ok(());
    }
    if owner.id == view.myself {
        return Ok(());
    }
    if (conn.readonly || shard_pubsub) && !is_write && view.is_replica && view.my_master == Some(owner.id) {
        return Ok(());
    }
    Err(CmdError::Raw(format!("MOVED {slot} {}", owner.addr)))
}

fn tryagain() -> CmdError {
    CmdError::Raw("TRYAGAIN Multiple keys request during rehashing of slot".into())
}

/// Points replication at a master (`Some((ip, port))`) or stops it (`None`), as the
/// cluster decided. Calls the replication layer directly: REPLICAOF itself is refused in
/// cluster mode, as in Redis. Runs on a task because callers may hold the core lock.
pub fn start_replication(shared: &Arc<Shared>, target: Option<(String, u16)>) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut core = shared.core.lock();
        let core = &mut *core;
        match target {
            Some((ip, port)) => {
                let same = core
                    .rest
                    .replication
                    .master
                    .as_ref()
                    .is_some_and(|m| m.host == ip && m.port == port);
                if !same {
                    tracing::info!("Connecting to MASTER {ip}:{port}");
                    crate::replication::set_master(&mut core.ks, &mut core.rest, ip, port);
                }
            }
            None => {
                if core.rest.replication.is_replica() {
                    crate::replication::promote(&mut core.ks, &mut core.rest);
                    tracing::info!("Stopped replication: this node is now a master");
                }
            }
        }
    });
}
