//! The cluster shell of a node: owns the [`ClusterState`] (behind its own mutex), the bus
//! links, the nodes.conf file and its lock, and publishes an immutable [`ClusterView`]
//! (through `arc-swap`) that the command path reads without locking to route commands.
//! The rules themselves live in `slotkv-cluster`; this module only does I/O and applies
//! the effects the state machine returns.

pub mod bus;
pub mod route;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use slotkv_cluster::message::flags;
use slotkv_cluster::state::{ClusterState, Effect, Settings};
use slotkv_keyslot::{NodeId, Slot, SLOTS};
use tokio::sync::mpsc;

use crate::log::now_ms;
use crate::shared::Shared;

/// Where a slot is served, as the routing code needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOwner {
    pub id: NodeId,
    pub addr: String,
}

/// An immutable snapshot of what routing needs, swapped whenever the state changes.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub myself: NodeId,
    /// The master whose slots this node serves (itself, or its master if a replica).
    pub my_master: Option<NodeId>,
    pub is_replica: bool,
    /// Index into `owners_table` per slot (u16::MAX = unassigned).
    pub slot_owner: Vec<u16>,
    pub owners_table: Vec<SlotOwner>,
    pub state_ok: bool,
    pub migrating: HashMap<u16, SlotOwner>,
    pub importing: HashMap<u16, NodeId>,
}

impl ClusterView {
    fn build(state: &ClusterState) -> ClusterView {
        let mut owners_table: Vec<SlotOwner> = Vec::new();
        let mut slot_owner = vec![u16::MAX; SLOTS];
        let owner_of = |id: &NodeId, n: &slotkv_cluster::state::Node| SlotOwner {
            id: *id,
            addr: format!("{}:{}", n.ip, n.port),
        };
        // From each node's slot set (the owners table is its inverse, kept so by
        // `assign_slot`): a few ranges per node instead of 16384 owner lookups, on every
        // slot change of a reshard.
        for (id, n) in &state.nodes {
            if n.slots.is_empty() {
                continue;
            }
            let i = owners_table.len() as u16;
            owners_table.push(owner_of(id, n));
            for (a, b) in n.slots.ranges() {
                slot_owner[a as usize..=b as usize].fill(i);
            }
        }
        let me = state.me();
        ClusterView {
            myself: state.myself,
            my_master: state.my_master(),
            is_replica: me.is_replica(),
            slot_owner,
            owners_table,
            state_ok: state.state_ok,
            migrating: state
                .migrations
                .migrating
                .iter()
                .filter_map(|(s, id)| Some((*s, owner_of(id, state.nodes.get(id)?))))
                .collect(),
            importing: state.migrations.importing.clone(),
        }
    }

    #[inline]
    pub fn owner(&self, slot: u16) -> Option<&SlotOwner> {
        match self.slot_owner.get(slot as usize) {
            Some(&i) if i != u16::MAX => self.owners_table.get(i as usize),
            _ => None,
        }
    }
}

/// An outbound link as the shell holds it.
pub struct LinkHandle {
    pub tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Notified to close the connection (a dropped link must really go away: Redis keeps
    /// one inbound link per node and closes older duplicates).
    pub close: Arc<tokio::sync::Notify>,
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        self.close.notify_one();
    }
}

/// The cluster side of a node.
pub struct ClusterShell {
    pub state: Mutex<ClusterState>,
    pub view: ArcSwap<ClusterView>,
    /// Outbound links: node → the link's sender of encoded messages and its close switch.
    pub links: Mutex<HashMap<NodeId, LinkHandle>>,
    /// Outbound connections being attempted.
    pub connecting: Mutex<std::collections::HashSet<NodeId>>,
    pub config_file: PathBuf,
    /// Keeps the advisory lock on nodes.conf for the life of the process.
    _lock: std::fs::File,
    /// The nodes.conf text last written, so an unchanged configuration is not rewritten.
    last_saved: Mutex<Option<String>>,
    pub bus_port: u16,
    /// Inbound links by the node that last spoke on them, so that DEBUG CLUSTERLINK KILL
    /// FROM can close one. Written by each inbound link task (`bus::run_link`).
    pub inbound: Mutex<HashMap<NodeId, Arc<tokio::sync::Notify>>>,
    /// DEBUG CLUSTER-ISOLATE: peers this node is cut off from on the bus, for partition
    /// tests. Nothing is sent to them, no link to them is opened, and whatever they send is
    /// discarded unread. Written only by that command; read by every link task.
    pub isolated: parking_lot::RwLock<std::collections::HashSet<NodeId>>,
}

/// Errors starting the cluster side.
#[derive(Debug, thiserror::Error)]
pub enum ClusterStartError {
    #[error("Sorry, the cluster configuration file {0} is already used by a different Redis Cluster node. Please make sure that different nodes use different cluster configuration files.")]
    Locked(String),
    #[error("{0}")]
    Config(String),
    #[error("Can't open {0}: {1}")]
    Io(String, std::io::Error),
}

fn lock_file(path: &std::path::Path) -> Result<std::fs::File, ClusterStartError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|e| ClusterStartError::Io(path.display().to_string(), e))?;
    if !crate::fork::try_lock_exclusive(&f) {
        return Err(ClusterStartError::Locked(path.display().to_string()));
    }
    Ok(f)
}

/// Settings of the state machine from the configuration.
pub fn settings_from(shared_config: &slotkv_config::Config, port: u16, bus_port: u16) -> Settings {
    Settings {
        node_timeout: shared_config.get_int("cluster-node-timeout").max(1),
        require_full_coverage: shared_config.get_bool("cluster-require-full-coverage"),
        announce_ip: shared_config.get_str("cluster-announce-ip"),
        announce_hostname: shared_config.get_str("cluster-announce-hostname"),
        port: match shared_config.get_int("cluster-announce-port") {
            0 => port,
            p => p as u16,
        },
        cport: match shared_config.get_int("cluster-announce-bus-port") {
            0 => bus_port,
            p => p as u16,
        },
        replica_no_failover: shared_config.get_bool("cluster-replica-no-failover"),
        replica_validity_factor: shared_config.get_int("cluster-replica-validity-factor"),
        repl_ping_period_ms: shared_config
            .get_int("repl-ping-replica-period")
            .saturating_mul(1000),
        migration_barrier: shared_config.get_int("cluster-migration-barrier").max(0) as usize,
        allow_replica_migration: shared_config.get_bool("cluster-allow-replica-migration"),
    }
}

/// Settings that CONFIG SET may change at run time, re-read by the cron.
fn refresh_settings(config: &slotkv_config::Config, s: &mut Settings) {
    s.node_timeout = config.get_int("cluster-node-timeout").max(1);
    s.require_full_coverage = config.get_bool("cluster-require-full-coverage");
    s.replica_no_failover = config.get_bool("cluster-replica-no-failover");
    s.replica_validity_factor = config.get_int("cluster-replica-validity-factor");
    s.repl_ping_period_ms = config.get_int("repl-ping-replica-period").saturating_mul(1000);
    s.migration_barrier = config.get_int("cluster-migration-barrier").max(0) as usize;
    s.allow_replica_migration = config.get_bool("cluster-allow-replica-migration");
}

impl ClusterShell {
    /// Loads nodes.conf (or creates a fresh single-node configuration) and locks it.
    pub fn open(config: &slotkv_config::Config, port: u16) -> Result<ClusterShell, ClusterStartError> {
        let bus_port = match config.get_int("cluster-port") {
            0 => port.wrapping_add(10000),
            p => p as u16,
        };
        let file = PathBuf::from(config.get_str("cluster-config-file"));
        let settings = settings_from(config, port, bus_port);
        let lock = lock_file(&file)?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| ClusterStartError::Io(file.display().to_string(), e))?;
        let now = now_ms();
        let state = if text.trim().is_empty() {
            let st = ClusterState::new(NodeId::random(), settings, now);
            tracing::info!("No cluster configuration found, I'm {}", st.myself);
            st
        } else {
            let st =
                slotkv_cluster::nodes_conf::parse_config(&text, &file.display().to_string(), settings, now)
                    .map_err(|e| ClusterStartError::Config(e.to_string()))?;
            tracing::info!("Node configuration loaded, I'm {:.40}", st.myself.as_str());
            st
        };
        let view = ArcSwap::from_pointee(ClusterView::build(&state));
        let shell = ClusterShell {
            state: Mutex::new(state),
            view,
            links: Mutex::default(),
            connecting: Mutex::default(),
            config_file: file,
            _lock: lock,
            last_saved: Mutex::new(None),
            bus_port,
            inbound: Mutex::default(),
            isolated: parking_lot::RwLock::default(),
        };
        shell.save(&shell.state.lock());
        Ok(shell)
    }

    /// Writes nodes.conf atomically: temp file, fsync, rename.
    pub fn save(&self, state: &ClusterState) {
        self.write_config(state, true);
    }

    /// Saves nodes.conf atomically but without waiting for the disk: for the slot
    /// migration states of CLUSTER SETSLOT MIGRATING/IMPORTING/STABLE, which Redis also
    /// writes without fsync (a reshard sets them for every slot it moves). The process may
    /// crash at any point without harm; an OS crash may lose the last such change.
    pub fn save_unsynced(&self, state: &ClusterState) {
        self.write_config(state, false);
    }

    fn write_config(&self, state: &ClusterState, sync: bool) {
        let text = slotkv_cluster::nodes_conf::render_config(state);
        let mut last = self.last_saved.lock();
        if last.as_deref() == Some(text.as_str()) {
            return;
        }
        match write_config_atomically(&self.config_file, &text, sync) {
            Ok(()) => *last = Some(text),
            Err(e) => tracing::warn!(
                "Could not save the cluster configuration {}: {e}",
                self.config_file.display()
            ),
        }
    }

    /// Publishes a new routing view.
    pub fn publish_view(&self, state: &ClusterState) {
        self.view.store(Arc::new(ClusterView::build(state)));
    }

    /// Sends a message on a node's outbound link, if it is up (and the node is not
    /// isolated).
    pub fn send(&self, node: NodeId, bytes: Vec<u8>) {
        if self.is_isolated(&node) {
            return;
        }
        if let Some(link) = self.links.lock().get(&node) {
            let _ = link.tx.send(bytes);
        }
    }

    /// Whether DEBUG CLUSTER-ISOLATE cut this node off from `node`.
    pub fn is_isolated(&self, node: &NodeId) -> bool {
        let isolated = self.isolated.read();
        !isolated.is_empty() && isolated.contains(node)
    }

    /// Closes the outbound link to `node` (`to`) and/or the inbound link from it (`from`);
    /// they come back as usual unless the node is isolated. A link that is not up is left
    /// alone. The caller holds the state lock.
    pub fn kill_links(&self, state: &mut ClusterState, node: NodeId, to: bool, from: bool) {
        if to {
            // Dropping the handle closes the connection; its task then finds the link
            // already forgotten, so the state is told here.
            if self.links.lock().remove(&node).is_some() {
                state.link_lost(node);
            }
        }
        if from {
            if let Some(close) = self.inbound.lock().remove(&node) {
                close.notify_one();
            }
        }
    }

    /// Replaces the set of isolated peers and closes the links to and from the new ones.
    /// The caller holds the state lock.
    pub fn set_isolated(&self, state: &mut ClusterState, nodes: std::collections::HashSet<NodeId>) {
        // Set first: a link that comes up meanwhile is then already filtered.
        *self.isolated.write() = nodes.clone();
        for node in nodes {
            self.kill_links(state, node, true, true);
        }
    }
}

/// Replaces `file` with `text` so that, whatever happens, the name holds either the old or
/// the new content, complete. A spare file beside it (`<name>.swap`, the previous version
/// after each save) is rewritten in place and synced, then swapped with `file` in one
/// atomic rename (RENAME_EXCHANGE): one data sync per save, no new inode to commit, about
/// half the cost of a fresh temp file + fsync + rename, which is the fallback where the
/// exchange is not supported (or `file` does not exist yet). Unsynced (as Redis writes
/// nodes.conf for SETSLOT), nothing waits for the disk: a process crash loses nothing, an
/// OS crash may lose or tear the last unsynced version.
fn write_config_atomically(file: &std::path::Path, text: &str, sync: bool) -> std::io::Result<()> {
    use std::io::Write;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spare = file.with_file_name(format!("{name}.swap"));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&spare)?;
        f.write_all(text.as_bytes())?;
        f.set_len(text.len() as u64)?;
        if sync {
            f.sync_data()?;
        }
    }
    if exchange_files(&spare, file).is_ok() {
        return Ok(());
    }
    std::fs::rename(&spare, file)
}

/// `renameat2(a, b, RENAME_EXCHANGE)`: atomically swaps the two names.
fn exchange_files(a: &std::path::Path, b: &std::path::Path) -> std::io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE).map_err(std::io::Error::from)
}

/// Up to `max` keys of hash slot `slot` in `db` (expired ones not yet removed included):
/// from the slot index, or by a scan where the database has none.
pub fn keys_in_slot(db: &slotkv_keyspace::Db, slot: Slot, max: usize) -> Vec<&[u8]> {
    db.keys_in_slot(slot, max).unwrap_or_else(|| {
        db.iter(i64::MIN)
            .map(|(k, _)| k)
            .filter(|k| slotkv_keyslot::key_slot(k) == slot)
            .take(max)
            .collect()
    })
}

/// Applies the effects of the state machine. `reply` sends on the link the input came from.
pub fn apply_effects(
    shared: &Arc<Shared>,
    shell: &Arc<ClusterShell>,
    state: &mut ClusterState,
    effects: Vec<Effect>,
    reply: Option<&mpsc::UnboundedSender<Vec<u8>>>,
) {
    let mut save = false;
    let mut changed = false;
    for e in effects {
        match e {
            Effect::Connect { node, ip, cport } => {
                bus::connect(shared.clone(), shell.clone(), node, ip, cport)
            }
            Effect::Send { node, msg } => shell.send(node, slotkv_cluster::message::encode(&msg)),
            Effect::Reply(msg) => {
                if let Some(tx) = reply {
                    let _ = tx.send(slotkv_cluster::message::encode(&msg));
                }
            }
            Effect::DropLink { node } => {
                shell.links.lock().remove(&node);
                state.link_lost(node);
            }
            Effect::Rename { from, to } => {
                let mut links = shell.links.lock();
                if let Some(tx) = links.remove(&from) {
                    links.insert(to, tx);
                }
                bus::rename_link(from, to);
                changed = true;
            }
            Effect::SaveConfig => {
                save = true;
                changed = true;
            }
            Effect::BecomeReplicaOf { master, ip, port } => {
                tracing::info!(
                    "Configuration change detected. Reconfiguring myself as a replica of {master}"
                );
                crate::cluster::route::start_replication(shared, Some((ip, port)));
                save = true;
                changed = true;
            }
            Effect::BecomeMaster => {
                crate::cluster::route::start_replication(shared, None);
                save = true;
                changed = true;
            }
            Effect::Publish {
                channel,
                message,
                shard,
            } => {
                // Not under the cluster-state lock: commands take the core lock first and
                // the state lock second, so this must not nest them the other way round.
                let shared = shared.clone();
                tokio::spawn(async move {
                    let core = shared.core.lock();
                    let (channel, message) = (bytes::Bytes::from(channel), bytes::Bytes::from(message));
                    if shard {
                        crate::cmds::pubsub::publish_shard_local(&core.rest, &channel, &message);
                    } else {
                        crate::cmds::pubsub::publish_local(&core.rest, &channel, &message);
                    }
                });
            }
            Effect::PauseWrites { until } => shared.pause.set_failover(until),
            Effect::DropSlotKeys(slots) => {
                // Commands take the core lock before the cluster state lock (CLUSTER
                // SETSLOT, ...), and this runs under the state lock: take the core lock on
                // a task of its own, never nested, or the two orders deadlock.
                let slots: std::collections::HashSet<u16> = slots.iter().map(|s| s.get()).collect();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut core = shared.core.lock();
                    let db = &core.ks.dbs[0];
                    let keys: Vec<slotkv_keyspace::Key> = slots
                        .iter()
                        .filter_map(|s| Slot::new(u64::from(*s)))
                        .flat_map(|s| keys_in_slot(db, s, usize::MAX))
                        .map(Into::<slotkv_keyspace::Key>::into)
                        .collect();
                    for k in keys {
                        core.ks.dbs[0].remove(&k);
                    }
                });
            }
        }
    }
    if save {
        shell.save(state);
    }
    if changed || save {
        shell.publish_view(state);
    }
    let _ = flags::MASTER;
}

/// Logs a change of `cluster_state` (ok/fail) made by the last step of the state machine.
/// Returns whether it changed.
pub fn log_state_change(state: &ClusterState, before_ok: bool) -> bool {
    if state.state_ok == before_ok {
        return false;
    }
    tracing::info!(
        "Cluster state changed: {}",
        if state.state_ok { "ok" } else { "fail" }
    );
    true
}

/// Periodic cluster work (every 100 ms).
pub async fn cron(shared: Arc<Shared>, shell: Arc<ClusterShell>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let wakeup = shell.state.lock().election_wakeup();
        if let Some(at) = wakeup.filter(|at| *at > now_ms()) {
            // A replica's election may start before the next tick: wake up for it.
            let until =
                tokio::time::Instant::now() + std::time::Duration::from_millis((at - now_ms()).max(0) as u64);
            tokio::select! {
                _ = interval.tick() => {}
                _ = tokio::time::sleep_until(until) => {
                    let mut state = shell.state.lock();
                    let fx = state.failover_step(now_ms());
                    apply_effects(&shared, &shell, &mut state, fx, None);
                    shell.publish_view(&state);
                    continue;
                }
            }
        } else {
            interval.tick().await;
        }
        let (offset, last_contact) = {
            let core = shared.core.lock();
            let last = core.rest.replication.master.as_ref().and_then(|m| {
                let t = if m.state == crate::replication::LinkState::Connected {
                    m.last_io_ms
                } else {
                    m.down_since_ms
                };
                (t > 0).then_some(t)
            });
            (core.rest.repl.offset, last)
        };
        let mut settings = shell.state.lock().settings.clone();
        refresh_settings(&shared.config.read(), &mut settings);
        let mut state = shell.state.lock();
        state.settings = settings;
        state.repl_offset = offset;
        state.master_last_contact = last_contact;
        let before_ok = state.state_ok;
        let fx = state.tick(now_ms());
        log_state_change(&state, before_ok);
        apply_effects(&shared, &shell, &mut state, fx, None);
        shell.publish_view(&state);
    }
}
