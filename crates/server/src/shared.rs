//! State shared by every connection of a node, and who guards what.
//!
//! - [`Core`] sits behind one mutex (`Shared::core`): the keyspace and everything a command
//!   reads or changes together with it (WATCH and blocking registries, pub/sub
//!   subscriptions, statistics, slow log). A connection takes the lock once per pipelined
//!   batch, runs the batch, and releases it before any I/O: the lock is never held across
//!   an await.
//! - The client registry has its own lock: it is touched on connect, disconnect and by
//!   CLIENT LIST/KILL, never on the command path.
//! - The configuration is behind an `RwLock`; commands read it rarely (CONFIG, INFO, AUTH).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use slotkv_config::Config;
use slotkv_keyspace::{Key, Keyspace};
use tokio::sync::{mpsc, Notify};

use crate::table::CommandTable;

/// A message pushed to a connection outside the request/reply flow.
#[derive(Debug, Clone)]
pub enum PushMsg {
    /// A pub/sub message on `channel` (matched by `pattern` for PSUBSCRIBE).
    Message {
        pattern: Option<Bytes>,
        channel: Bytes,
        payload: Bytes,
    },
    /// A sharded pub/sub message (SPUBLISH), delivered as `smessage`.
    ShardMessage { channel: Bytes, payload: Bytes },
    /// A MONITOR line, already formatted (without the leading `+`).
    Monitor(Bytes),
}

pub type PushSender = mpsc::UnboundedSender<PushMsg>;

/// One slow log entry.
#[derive(Debug, Clone)]
pub struct SlowlogEntry {
    pub id: u64,
    pub time_s: i64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: String,
}

/// Per-command counters for INFO commandstats.
#[derive(Debug, Default, Clone)]
pub struct CmdStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Latency histogram: bucket `i` counts calls that took at most `2^i` µs (the last
    /// bucket takes everything longer).
    pub latency_hist: [u64; LATENCY_BUCKETS],
}

/// Buckets of [`CmdStats::latency_hist`].
pub const LATENCY_BUCKETS: usize = 32;

impl CmdStats {
    /// Counts one call of `us` microseconds in the latency histogram.
    #[inline]
    pub fn record_latency(&mut self, us: u64) {
        let b = if us <= 1 {
            0
        } else {
            (64 - (us - 1).leading_zeros()) as usize
        };
        self.latency_hist[b.min(LATENCY_BUCKETS - 1)] += 1;
    }
}

/// A latency spike record for LATENCY LATEST/HISTORY.
#[derive(Debug, Default, Clone)]
pub struct LatencyEvent {
    pub history: VecDeque<(i64, u64)>,
    pub max_ms: u64,
}

/// A client waiting for keys (BLPOP and friends).
#[derive(Debug, Clone)]
pub struct Waiter {
    pub client_id: u64,
    pub notify: Arc<Notify>,
}

/// A client watching a key: its id and the flag EXEC checks.
pub type Watcher = (u64, Arc<AtomicBool>);

/// Everything that lives under the core lock besides the keyspace.
#[derive(Default)]
pub struct CoreRest {
    /// WATCHed keys → the flags of the clients watching them.
    pub watched: HashMap<(usize, Key), Vec<Watcher>>,
    /// Keys with blocked clients → the waiters, in arrival order.
    pub blocked: HashMap<(usize, Key), Vec<Waiter>>,
    /// Channel → subscribers.
    pub channels: HashMap<Bytes, HashMap<u64, PushSender>>,
    /// Pattern → subscribers.
    pub patterns: HashMap<Bytes, HashMap<u64, PushSender>>,
    /// Shard channel → subscribers (SSUBSCRIBE).
    pub shard_channels: HashMap<Bytes, HashMap<u64, PushSender>>,
    /// Changes since the last save (`rdb_changes_since_last_save`).
    pub dirty: u64,
    pub last_save_s: i64,
    /// Per-command statistics, updated after every command (ahash: cheap for short names).
    pub cmdstats: HashMap<&'static str, CmdStats, ahash::RandomState>,
    pub errorstats: HashMap<String, u64>,
    pub slowlog: VecDeque<SlowlogEntry>,
    pub slowlog_next_id: u64,
    pub latency: HashMap<&'static str, LatencyEvent>,
    pub total_commands: u64,
    /// Cached from the config (`slowlog-log-slower-than`, `slowlog-max-len`).
    pub slowlog_threshold_us: i64,
    pub slowlog_max_len: usize,
    /// The write stream for replicas and the AOF.
    pub repl: crate::propagate::ReplFeed,
    /// Role, replication ids, attached replicas (see `replication`).
    pub replication: crate::replication::ReplState,
    /// Background save state.
    pub save: crate::persist::SaveState,
    /// The append-only file.
    pub aof: crate::aof::AofState,
    /// Peak of the memory figure INFO reports (`used_memory_peak`).
    pub used_memory_peak: u64,
    /// Cached `latency-monitor-threshold` (ms; 0 disables the latency monitor).
    pub latency_threshold_ms: i64,
    /// Keys a MIGRATE is transferring, (db, key) → number of MIGRATEs: commands that may
    /// write them wait until the transfer is over (`cmds::migrate`).
    pub migrating_keys: HashMap<(usize, Key), u32>,
}

impl CoreRest {
    /// Records a latency spike of `ms` for `event` at `time_s`, like Redis's
    /// `latencyAddSample`: one sample per second (the worst), at most 160 kept.
    pub fn add_latency_sample(&mut self, event: &'static str, time_s: i64, ms: u64) {
        const MAX_SAMPLES: usize = 160;
        let e = self.latency.entry(event).or_default();
        e.max_ms = e.max_ms.max(ms);
        if let Some(last) = e.history.back_mut() {
            if last.0 == time_s {
                last.1 = last.1.max(ms);
                return;
            }
        }
        e.history.push_back((time_s, ms));
        while e.history.len() > MAX_SAMPLES {
            e.history.pop_front();
        }
    }
}

/// The state guarded by the core lock.
pub struct Core {
    pub ks: Keyspace,
    pub rest: CoreRest,
}

/// Connection-visible facts about a client, updated by its connection once per batch.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub name: String,
    pub db: usize,
    pub last_cmd: &'static str,
    pub last_active_ms: i64,
    pub resp: u8,
    pub sub: usize,
    pub psub: usize,
    pub multi: i64,
    pub flags: String,
    pub qbuf: usize,
    /// The connection is running again a command that blocked (woken up): MONITOR has
    /// already shown it.
    pub reprocessing: bool,
}

/// A connected client as the registry sees it.
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created_ms: i64,
    pub info: Mutex<ClientInfo>,
    pub kill: Notify,
    pub killed: AtomicBool,
    /// Skipped by `CLIENT KILL ... SKIPME yes` and friends.
    pub is_monitor: AtomicBool,
    /// Set while the client waits in a blocking command (CLIENT UNBLOCK may end it).
    pub blocked: AtomicBool,
    /// A pending CLIENT UNBLOCK: 0 none, [`UNBLOCK_TIMEOUT`] or [`UNBLOCK_ERROR`].
    pub unblock: std::sync::atomic::AtomicU8,
    pub unblock_notify: Notify,
}

/// CLIENT UNBLOCK <id> TIMEOUT: the blocked command answers as if it timed out.
pub const UNBLOCK_TIMEOUT: u8 = 1;
/// CLIENT UNBLOCK <id> ERROR: the blocked command answers -UNBLOCKED.
pub const UNBLOCK_ERROR: u8 = 2;

impl ClientHandle {
    /// A client connected from `addr` to our `laddr`, not killed, monitoring or blocked.
    pub fn new(
        id: u64,
        addr: SocketAddr,
        laddr: SocketAddr,
        created_ms: i64,
        info: ClientInfo,
    ) -> ClientHandle {
        ClientHandle {
            id,
            addr,
            laddr,
            created_ms,
            info: Mutex::new(info),
            kill: Notify::new(),
            killed: AtomicBool::new(false),
            is_monitor: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            unblock: Default::default(),
            unblock_notify: Notify::new(),
        }
    }

    /// CLIENT UNBLOCK: ends the client's blocking wait; false if it is not blocked.
    pub fn request_unblock(&self, how: u8) -> bool {
        if !self.blocked.load(Ordering::SeqCst) {
            return false;
        }
        self.unblock.store(how, Ordering::SeqCst);
        self.unblock_notify.notify_one();
        true
    }

    pub fn request_kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill.notify_one();
    }
}

/// Server-wide counters that are updated without the core lock.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub connected_clients: AtomicUsize,
    pub blocked_clients: AtomicUsize,
    pub pubsub_clients: AtomicUsize,
    /// Samples of (ms, total commands) for instantaneous_ops_per_sec.
    pub ops_per_sec: AtomicU64,
}

/// Everything a connection task holds a reference to.
pub struct Shared {
    pub core: Mutex<Core>,
    pub config: RwLock<Config>,
    pub table: CommandTable,
    pub clients: Mutex<HashMap<u64, Arc<ClientHandle>>>,
    pub monitors: Mutex<HashMap<u64, PushSender>>,
    pub monitor_count: AtomicUsize,
    pub next_client_id: AtomicU64,
    pub stats: Stats,
    pub started: Instant,
    pub started_ms: i64,
    pub run_id: String,
    pub port: u16,
    pub shutdown: Notify,
    pub shutdown_requested: AtomicBool,
    /// Active expiry switch (DEBUG SET-ACTIVE-EXPIRE).
    pub active_expire: AtomicBool,
    /// CLIENT PAUSE and the manual failover's write pause.
    pub pause: crate::pause::ClientPause,
    /// Whether the config file path is known (CONFIG REWRITE).
    pub executable: String,
    /// The cluster side, when `cluster-enabled yes`.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::ClusterShell>>,
    /// Idle MIGRATE connections to targets, by `host:port`; taken out while in use, so
    /// this lock is held only to take or return one (`cmds::migrate`).
    pub migrate_sockets: Mutex<crate::cmds::migrate::SocketCache>,
    /// A weak handle to this very value, for work that must outlive a borrowed call.
    pub weak_self: std::sync::OnceLock<std::sync::Weak<Shared>>,
}

impl Shared {
    /// An owning handle to the shared state.
    pub fn self_arc(&self) -> Arc<Shared> {
        self.weak_self
            .get()
            .and_then(std::sync::Weak::upgrade)
            .expect("shared state is alive while used")
    }

    /// Snapshot of all client handles.
    pub fn client_list(&self) -> Vec<Arc<ClientHandle>> {
        let mut v: Vec<_> = self.clients.lock().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Random 40-hex-character run id.
pub fn random_hex40() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Channels and patterns a connection is subscribed to.
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    pub shard_channels: HashSet<Bytes>,
}

impl Subscriptions {
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}
