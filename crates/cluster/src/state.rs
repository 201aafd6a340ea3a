//! The cluster state of one node and the rules that change it, as a state machine without
//! I/O: [`ClusterState::handle`] takes a message received on a link, [`ClusterState::tick`]
//! runs the periodic work, both with the time as an argument, and both return
//! [`Effect`]s for the async shell (send, connect, save the config, change role, drop keys).

use std::collections::HashMap;

use rand::seq::SliceRandom;
use slotkv_keyslot::{Epoch, NodeId, Slot, SlotSet, SLOTS};

use crate::message::{flags, Body, GossipEntry, Header, Message, MsgType, PingExt};

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Open the outbound link to a node (its bus address).
    Connect { node: NodeId, ip: String, cport: u16 },
    /// Send on the node's outbound link.
    Send { node: NodeId, msg: Message },
    /// Send back on the link the input arrived on.
    Reply(Message),
    /// Close the node's outbound link (it will be reopened by a later Connect).
    DropLink { node: NodeId },
    /// A handshake node got its real id: re-key its link.
    Rename { from: NodeId, to: NodeId },
    /// Persist the cluster config (nodes.conf) now.
    SaveConfig,
    /// Replicate from this master.
    BecomeReplicaOf { master: NodeId, ip: String, port: u16 },
    /// Stop replicating (promotion).
    BecomeMaster,
    /// Deliver a PUBLISH (or, with `shard`, a sharded SPUBLISH) received from the bus to
    /// local subscribers.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
        shard: bool,
    },
    /// Slots this node lost while holding keys in them: the keys must go.
    DropSlotKeys(Vec<Slot>),
    /// Hold client writes until this unix ms (a master in a manual failover); 0 resumes
    /// them at once.
    PauseWrites { until: i64 },
}

/// Information about the link a message arrived on.
#[derive(Debug, Clone, Default)]
pub struct LinkInfo {
    /// The remote address of the connection.
    pub peer_ip: String,
    /// Our local address on the connection (to learn our own IP from a MEET).
    pub local_ip: String,
    /// Set for our outbound link to that node; `None` for inbound links.
    pub outbound: Option<NodeId>,
}

/// One node as this node sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub pport: u16,
    pub hostname: String,
    pub flags: u16,
    pub master: Option<NodeId>,
    pub config_epoch: Epoch,
    /// Unix ms of the unanswered PING (0 = none pending).
    pub ping_sent: i64,
    pub pong_received: i64,
    pub data_received: i64,
    /// Last message on our outbound link to this node (or when that link came up): a
    /// link whose PING goes unanswered is reconnected even while the node talks to us on
    /// its own link (a half-working connection must not hold the ping back forever).
    pub outbound_data: i64,
    pub ctime: i64,
    pub fail_time: i64,
    pub slots: SlotSet,
    pub repl_offset: u64,
    /// Masters that reported this node as PFAIL/FAIL, with the report time.
    pub fail_reports: Vec<(NodeId, i64)>,
    /// Whether the shell has an outbound link up.
    pub link_up: bool,
    /// When this node (as a voting master) last voted for a replica of this master.
    pub voted_time: i64,
    /// Since when this master (with slots, once it had replicas) has no working replica;
    /// 0 = it has one. Drives replica migration.
    pub orphaned_time: i64,
}

impl Node {
    pub fn new(id: NodeId, flags: u16, now: i64) -> Node {
        Node {
            id,
            ip: String::new(),
            port: 0,
            cport: 0,
            pport: 0,
            hostname: String::new(),
            flags,
            master: None,
            config_epoch: 0,
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            outbound_data: 0,
            ctime: now,
            fail_time: 0,
            slots: SlotSet::new(),
            repl_offset: 0,
            fail_reports: Vec::new(),
            link_up: false,
            voted_time: 0,
            orphaned_time: 0,
        }
    }

    pub fn is(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    pub fn is_master(&self) -> bool {
        self.is(flags::MASTER)
    }

    pub fn is_replica(&self) -> bool {
        self.is(flags::SLAVE)
    }

    pub fn failed(&self) -> bool {
        self.is(flags::FAIL)
    }

    /// `flags` as CLUSTER NODES prints them.
    pub fn flag_names(&self) -> String {
        let mut v = Vec::new();
        let names = [
            (flags::MYSELF, "myself"),
            (flags::MASTER, "master"),
            (flags::SLAVE, "slave"),
            (flags::PFAIL, "fail?"),
            (flags::FAIL, "fail"),
            (flags::HANDSHAKE, "handshake"),
            (flags::NOADDR, "noaddr"),
            (flags::NOFAILOVER, "nofailover"),
        ];
        for (f, n) in names {
            if self.is(f) {
                v.push(n);
            }
        }
        if v.is_empty() {
            "noflags".into()
        } else {
            v.join(",")
        }
    }
}

/// Settings that come from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node_timeout: i64,
    pub require_full_coverage: bool,
    pub announce_ip: String,
    pub announce_hostname: String,
    pub port: u16,
    pub cport: u16,
    pub replica_no_failover: bool,
    /// `cluster-replica-validity-factor`: 0 = a replica fails over however old its data.
    pub replica_validity_factor: i64,
    /// `repl-ping-replica-period` in ms (part of the data age allowance).
    pub repl_ping_period_ms: i64,
    /// `cluster-migration-barrier`: working replicas a master keeps before one may leave.
    pub migration_barrier: usize,
    /// `cluster-allow-replica-migration`.
    pub allow_replica_migration: bool,
}

impl Settings {
    /// How often each linked peer is pinged: a tenth of the node timeout, between 100 ms
    /// and 1 s. Redis waits half the node timeout; pinging sooner means a dead node's
    /// last answer is recent when it stops answering, so it is flagged PFAIL about one
    /// node timeout after it died rather than up to one and a half.
    pub fn heartbeat_ms(&self) -> i64 {
        (self.node_timeout / 10).clamp(100, 1000)
    }

    /// The fixed part of a replica's election delay, which lets the FAIL reach every
    /// master before the vote requests do; the random part is as long again. Redis uses
    /// 500 ms for any node timeout; the FAIL is broadcast to all nodes directly, so a
    /// twentieth of the node timeout (50–500 ms) is enough: Redis's figure from 10 s up.
    pub fn election_fixed_delay_ms(&self) -> i64 {
        (self.node_timeout / 20).clamp(50, 500)
    }

    /// Extra election delay per rank (replicas with more data go first): a quarter of
    /// the node timeout, 250 ms–1 s (Redis: 1 s).
    pub fn election_rank_step_ms(&self) -> i64 {
        (self.node_timeout / 4).clamp(250, 1000)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            node_timeout: 15000,
            require_full_coverage: true,
            announce_ip: String::new(),
            announce_hostname: String::new(),
            port: 6379,
            cport: 16379,
            replica_no_failover: false,
            replica_validity_factor: 10,
            repl_ping_period_ms: 10_000,
            migration_barrier: 1,
            allow_replica_migration: true,
        }
    }
}

/// Slot migration states (CLUSTER SETSLOT MIGRATING / IMPORTING).
#[derive(Debug, Clone, Default)]
pub struct SlotMigrations {
    pub migrating: HashMap<u16, NodeId>,
    pub importing: HashMap<u16, NodeId>,
}

/// Counters for CLUSTER INFO `cluster_stats_messages_*`.
#[derive(Debug, Clone, Default)]
pub struct MsgStats {
    pub sent: HashMap<&'static str, u64>,
    pub received: HashMap<&'static str, u64>,
}

pub fn type_name(t: MsgType) -> &'static str {
    match t {
        MsgType::Ping => "ping",
        MsgType::Pong => "pong",
        MsgType::Meet => "meet",
        MsgType::Fail => "fail",
        MsgType::Publish => "publish",
        MsgType::PublishShard => "publishshard",
        MsgType::FailoverAuthRequest => "auth-req",
        MsgType::FailoverAuthAck => "auth-ack",
        MsgType::Update => "update",
        MsgType::MfStart => "mfstart",
        MsgType::Module => "module",
        MsgType::Unknown(_) => "unknown",
    }
}

/// The whole cluster as this node sees it.
#[derive(Debug, Clone)]
pub struct ClusterState {
    pub myself: NodeId,
    pub nodes: HashMap<NodeId, Node>,
    /// Owner of each slot.
    pub owners: Vec<Option<NodeId>>,
    pub migrations: SlotMigrations,
    pub current_epoch: Epoch,
    pub last_vote_epoch: Epoch,
    pub state_ok: bool,
    /// Nodes forgotten with CLUSTER FORGET, and until when (ms) they are not re-added.
    pub blacklist: HashMap<NodeId, i64>,
    pub settings: Settings,
    pub stats: MsgStats,
    /// Replication offset of this node, for the headers we send.
    pub repl_offset: u64,
    /// Set by the shell each tick: when this replica last heard from its master on the
    /// replication link (link up: its last I/O; link down: when it went down). `None` when
    /// unknown; the last bus message from the master is used then.
    pub master_last_contact: Option<i64>,
    /// The replica's election in progress (see `failover`).
    pub election: crate::failover::Election,
    /// The manual failover in progress, on either side.
    pub manual: crate::failover::ManualFailover,
    /// DEBUG DROP-CLUSTER-PACKET-FILTER: received messages of this wire type are counted,
    /// then ignored. `None` (Redis's -1) drops nothing.
    pub drop_filter: Option<u16>,
    ticks: u64,
    /// When this node started (ms): a master stays `fail` for a moment after start-up, so
    /// that it learns the cluster's configuration before it accepts writes.
    started: i64,
    /// When this master last saw itself in a minority partition (ms).
    among_minority_since: Option<i64>,
}

/// A master waits this long after start-up before its cluster state may turn ok (ms).
const WRITABLE_DELAY: i64 = 2000;

impl ClusterState {
    /// A fresh single-node cluster: myself, a master with no slots.
    pub fn new(myself: NodeId, settings: Settings, now: i64) -> Self {
        let mut me = Node::new(myself, flags::MYSELF | flags::MASTER, now);
        me.port = settings.port;
        me.cport = settings.cport;
        me.ip = settings.announce_ip.clone();
        me.hostname = settings.announce_hostname.clone();
        let mut nodes = HashMap::new();
        nodes.insert(myself, me);
        ClusterState {
            myself,
            nodes,
            owners: vec![None; SLOTS],
            migrations: SlotMigrations::default(),
            current_epoch: 0,
            last_vote_epoch: 0,
            state_ok: false,
            blacklist: HashMap::new(),
            settings,
            stats: MsgStats::default(),
            repl_offset: 0,
            master_last_contact: None,
            election: Default::default(),
            started: now,
            among_minority_since: None,
            manual: Default::default(),
            drop_filter: None,
            ticks: 0,
        }
    }

    pub fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    pub(crate) fn me_mut(&mut self) -> &mut Node {
        self.nodes
            .get_mut(&self.myself)
            .expect("myself is always in the table")
    }

    /// The master whose slots this node serves (itself, or its master).
    pub fn my_master(&self) -> Option<NodeId> {
        let me = self.me();
        if me.is_master() {
            Some(self.myself)
        } else {
            me.master
        }
    }

    /// Assigns a slot (CLUSTER ADDSLOTS / SETSLOT NODE / gossip).
    pub fn assign_slot(&mut self, slot: Slot, owner: Option<NodeId>) {
        if let Some(old) = self.owners[slot.index()] {
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.remove(slot);
            }
        }
        self.owners[slot.index()] = owner;
        if let Some(o) = owner {
            if let Some(n) = self.nodes.get_mut(&o) {
                n.slots.insert(slot);
            }
        }
    }

    /// The owners table and the nodes' slot sets say the same (checked in debug builds,
    /// where the whole test suite runs with it).
    fn owners_match_slot_sets(&self) -> bool {
        let from_sets: usize = self.nodes.values().map(|n| n.slots.len()).sum();
        let mut from_owners = 0;
        for (s, owner) in self.owners.iter().enumerate() {
            let Some(id) = owner else { continue };
            match self.nodes.get(id) {
                Some(n) if n.slots.contains(Slot::new(s as u64).expect("slot")) => from_owners += 1,
                Some(_) => return false,
                None => {}
            }
        }
        from_sets == from_owners
    }

    /// Removes a node and everything that points at it.
    pub fn delete_node(&mut self, id: NodeId) {
        if id == self.myself {
            return;
        }
        if let Some(n) = self.nodes.remove(&id) {
            for s in n.slots.iter() {
                if self.owners[s.index()] == Some(id) {
                    self.owners[s.index()] = None;
                }
            }
        }
        for n in self.nodes.values_mut() {
            n.fail_reports.retain(|(r, _)| *r != id);
            if n.master == Some(id) {
                n.master = None;
            }
        }
        self.migrations.migrating.retain(|_, n| *n != id);
        self.migrations.importing.retain(|_, n| *n != id);
    }

    /// CLUSTER MEET: start a handshake with a node at ip:port@cport.
    pub fn meet(&mut self, ip: &str, port: u16, cport: u16, now: i64) -> bool {
        if self
            .nodes
            .values()
            .any(|n| n.is(flags::HANDSHAKE) && n.ip == ip && n.port == port && n.cport == cport)
        {
            return false;
        }
        let mut n = Node::new(NodeId::random(), flags::HANDSHAKE | flags::MEET, now);
        n.ip = ip.to_string();
        n.port = port;
        n.cport = cport;
        self.nodes.insert(n.id, n);
        true
    }

    pub(crate) fn header(&self, msg_type: MsgType) -> Header {
        let me = self.me();
        let (slots, config_epoch, slaveof) =
            match (me.is_replica(), me.master.and_then(|m| self.nodes.get(&m))) {
                (true, Some(m)) => (m.slots.clone(), m.config_epoch, Some(m.id)),
                (true, None) => (SlotSet::new(), me.config_epoch, me.master),
                _ => (me.slots.clone(), me.config_epoch, None),
            };
        Header {
            msg_type,
            port: me.port,
            pport: me.pport,
            cport: me.cport,
            current_epoch: self.current_epoch,
            config_epoch,
            offset: self.repl_offset,
            sender: self.myself,
            myslots: slots,
            slaveof,
            myip: self.settings.announce_ip.clone(),
            flags: me.flags,
            state_fail: !self.state_ok,
            mflags: [self.header_mflags(), 0, 0],
        }
    }

    fn gossip_entry(n: &Node) -> GossipEntry {
        GossipEntry {
            node: n.id,
            ping_sent: (n.ping_sent / 1000) as u32,
            pong_received: (n.pong_received / 1000) as u32,
            ip: n.ip.clone(),
            port: n.port,
            cport: n.cport,
            pport: n.pport,
            flags: n.flags,
        }
    }

    /// A PING/PONG/MEET with a gossip section about some random nodes, plus every node in
    /// PFAIL (so failure reports spread), as Redis builds them.
    pub fn build_ping(&mut self, msg_type: MsgType, to: Option<NodeId>) -> Message {
        let header = self.header(msg_type);
        let mut candidates: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && Some(n.id) != to && !n.is(flags::HANDSHAKE | flags::NOADDR))
            .collect();
        let wanted = (self.nodes.len() / 10).max(3).min(candidates.len());
        let mut rng = rand::thread_rng();
        candidates.shuffle(&mut rng);
        let mut entries: Vec<GossipEntry> = candidates
            .iter()
            .take(wanted)
            .map(|n| Self::gossip_entry(n))
            .collect();
        for n in self.nodes.values() {
            if n.is(flags::PFAIL) && n.id != self.myself && !entries.iter().any(|e| e.node == n.id) {
                entries.push(Self::gossip_entry(n));
            }
        }
        let mut extensions = Vec::new();
        if !self.settings.announce_hostname.is_empty() {
            extensions.push(PingExt::Hostname(self.settings.announce_hostname.clone()));
        }
        *self.stats.sent.entry(type_name(msg_type)).or_default() += 1;
        Message {
            header,
            body: Body::Gossip { entries, extensions },
        }
    }

    pub(crate) fn count(&mut self, t: MsgType, sent: bool) {
        let map = if sent {
            &mut self.stats.sent
        } else {
            &mut self.stats.received
        };
        *map.entry(type_name(t)).or_default() += 1;
    }

    /// Called by the shell when an outbound link to `node` is established: sends the
    /// first PING (or MEET).
    pub fn link_connected(&mut self, node: NodeId, now: i64) -> Vec<Effect> {
        let Some(n) = self.nodes.get_mut(&node) else {
            return Vec::new();
        };
        n.link_up = true;
        n.outbound_data = now;
        let meet = n.is(flags::MEET);
        if n.ping_sent == 0 {
            n.ping_sent = now;
        }
        n.flags &= !flags::MEET;
        let msg = self.build_ping(if meet { MsgType::Meet } else { MsgType::Ping }, Some(node));
        vec![Effect::Send { node, msg }]
    }

    /// Called by the shell when an outbound link goes down.
    pub fn link_lost(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(&node) {
            n.link_up = false;
        }
    }

    /// Processes one message from a link.
    pub fn handle(&mut self, msg: Message, link: &LinkInfo, now: i64) -> Vec<Effect> {
        let mut fx = Vec::new();
        let h = &msg.header;
        self.count(h.msg_type, false);
        if self.drop_filter == Some(h.msg_type.to_wire()) {
            // As Redis: the message counts as received, then nothing else happens.
            tracing::debug!("Dropping packet that matches debug drop filter");
            return fx;
        }
        let sender_known =
            self.nodes.get(&h.sender).is_some_and(|n| !n.is(flags::HANDSHAKE)) && h.sender != self.myself;
        if sender_known {
            if h.current_epoch > self.current_epoch {
                self.current_epoch = h.current_epoch;
                fx.push(Effect::SaveConfig);
            }
            let n = self.nodes.get_mut(&h.sender).expect("known sender");
            if h.config_epoch > n.config_epoch && h.slaveof.is_none() {
                n.config_epoch = h.config_epoch;
                fx.push(Effect::SaveConfig);
            }
            n.data_received = now;
            if link.outbound == Some(h.sender) {
                n.outbound_data = now;
            }
            n.repl_offset = h.offset;
            if matches!(h.msg_type, MsgType::Ping | MsgType::Meet | MsgType::Pong) {
                // `nofailover` is dynamic: the sender's latest word on it counts (the
                // other replicas' ranks leave such a replica out).
                n.flags = (n.flags & !flags::NOFAILOVER) | (h.flags & flags::NOFAILOVER);
            }
            self.note_master_paused(h, now);
        }
        match h.msg_type {
            MsgType::Ping | MsgType::Meet | MsgType::Pong => {
                self.handle_ping_family(&msg, link, sender_known, now, &mut fx)
            }
            MsgType::Fail => {
                if let (true, Body::Fail { node }) = (sender_known, &msg.body) {
                    if *node != self.myself {
                        if let Some(n) = self.nodes.get_mut(node) {
                            if !n.failed() {
                                n.flags = (n.flags | flags::FAIL) & !flags::PFAIL;
                                n.fail_time = now;
                                fx.push(Effect::SaveConfig);
                                if self.my_master() == Some(*node) {
                                    fx.extend(self.failover_step(now));
                                }
                            }
                        }
                    }
                }
            }
            MsgType::Publish | MsgType::PublishShard => {
                if let Body::Publish { channel, message } = &msg.body {
                    fx.push(Effect::Publish {
                        channel: channel.clone(),
                        message: message.clone(),
                        shard: h.msg_type == MsgType::PublishShard,
                    });
                }
            }
            MsgType::Update => {
                if let (
                    true,
                    Body::Update {
                        config_epoch,
                        node,
                        slots,
                    },
                ) = (sender_known, &msg.body)
                {
                    let known_epoch = self.nodes.get(node).map(|n| n.config_epoch);
                    if let Some(e) = known_epoch {
                        if *config_epoch > e {
                            if let Some(n) = self.nodes.get_mut(node) {
                                n.config_epoch = *config_epoch;
                                n.flags = (n.flags | flags::MASTER) & !flags::SLAVE;
                                n.master = None;
                            }
                            self.update_slots_from(*node, *config_epoch, slots, now, &mut fx);
                            fx.push(Effect::SaveConfig);
                        }
                    }
                }
            }
            // Failover messages from a node we do not know are ignored.
            MsgType::FailoverAuthRequest if sender_known => self.vote_if_allowed(h, now, &mut fx),
            MsgType::FailoverAuthAck if sender_known => {
                self.count_vote(h);
                fx.extend(self.failover_step(now));
            }
            MsgType::MfStart if sender_known => self.manual_failover_requested(h.sender, now, &mut fx),
            _ => {}
        }
        self.update_state(now);
        fx
    }

    fn handle_ping_family(
        &mut self,
        msg: &Message,
        link: &LinkInfo,
        sender_known: bool,
        now: i64,
        fx: &mut Vec<Effect>,
    ) {
        let h = &msg.header;
        if matches!(h.msg_type, MsgType::Ping | MsgType::Meet) {
            // Learn our own address from the first MEET, unless announced.
            if self.settings.announce_ip.is_empty() && self.me().ip.is_empty() && !link.local_ip.is_empty() {
                let ip = link.local_ip.clone();
                self.me_mut().ip = ip;
                fx.push(Effect::SaveConfig);
            }
            if !sender_known && h.msg_type == MsgType::Meet && !self.nodes.contains_key(&h.sender) {
                let mut n = Node::new(NodeId::random(), flags::HANDSHAKE, now);
                n.ip = if h.myip.is_empty() {
                    link.peer_ip.clone()
                } else {
                    h.myip.clone()
                };
                n.port = h.port;
                n.cport = h.cport;
                n.pport = h.pport;
                self.nodes.insert(n.id, n);
                fx.push(Effect::SaveConfig);
                if let Body::Gossip { entries, .. } = &msg.body {
                    self.process_gossip(entries, h.sender, now, fx);
                }
            }
            let pong = self.build_ping(MsgType::Pong, None);
            fx.push(Effect::Reply(pong));
        }

        // The node our outbound link points at; a completed handshake renames it, and the
        // PONG that completed it still counts as the answer to our PING (as in Redis).
        let mut outbound = link.outbound;
        if let Some(out) = link.outbound {
            let is_handshake = self.nodes.get(&out).is_some_and(|n| n.is(flags::HANDSHAKE));
            if is_handshake {
                if sender_known || self.nodes.contains_key(&h.sender) {
                    // We already know this node under its real id: the handshake node is a
                    // duplicate.
                    self.delete_node(out);
                    fx.push(Effect::DropLink { node: out });
                    fx.push(Effect::SaveConfig);
                    return;
                }
                // The handshake completed: the node gets its real id.
                if let Some(mut n) = self.nodes.remove(&out) {
                    n.id = h.sender;
                    n.flags &= !(flags::HANDSHAKE | flags::MEET);
                    n.flags |= if h.slaveof.is_some() {
                        flags::SLAVE
                    } else {
                        flags::MASTER
                    };
                    self.nodes.insert(h.sender, n);
                    outbound = Some(h.sender);
                    fx.push(Effect::Rename {
                        from: out,
                        to: h.sender,
                    });
                    fx.push(Effect::SaveConfig);
                }
            } else if out != h.sender && self.nodes.contains_key(&out) {
                // The node at that address changed id: forget the address, reconnect later.
                if let Some(n) = self.nodes.get_mut(&out) {
                    n.flags |= flags::NOADDR;
                    n.ip.clear();
                    n.port = 0;
                    n.cport = 0;
                }
                fx.push(Effect::DropLink { node: out });
                fx.push(Effect::SaveConfig);
                return;
            }
        }

        let sender_known =
            self.nodes.get(&h.sender).is_some_and(|n| !n.is(flags::HANDSHAKE)) && h.sender != self.myself;
        if !sender_known {
            return;
        }

        // Address updates from the node itself (inbound PING).
        if h.msg_type == MsgType::Ping && outbound.is_none() {
            let ip = if h.myip.is_empty() {
                link.peer_ip.clone()
            } else {
                h.myip.clone()
            };
            let n = self.nodes.get_mut(&h.sender).expect("known sender");
            if !ip.is_empty() && (n.ip != ip || n.port != h.port || n.cport != h.cport) && n.link_up {
                n.ip = ip;
                n.port = h.port;
                n.cport = h.cport;
                n.flags &= !flags::NOADDR;
                fx.push(Effect::DropLink { node: h.sender });
                fx.push(Effect::SaveConfig);
            }
        }

        if outbound == Some(h.sender) && h.msg_type == MsgType::Pong {
            let n = self.nodes.get_mut(&h.sender).expect("known sender");
            n.pong_received = now;
            n.ping_sent = 0;
            if n.is(flags::PFAIL) {
                n.flags &= !flags::PFAIL;
            } else if n.failed() {
                // A reachable replica or slotless master leaves FAIL at once; a master with
                // slots after a delay (nobody failed it over meanwhile).
                let clear = n.is_replica()
                    || n.slots.is_empty()
                    || now - n.fail_time > self.settings.node_timeout * 2 + 10_000;
                if clear {
                    n.flags &= !flags::FAIL;
                    fx.push(Effect::SaveConfig);
                }
            }
        }

        // Role.
        match h.slaveof {
            None => {
                let n = self.nodes.get_mut(&h.sender).expect("known sender");
                if n.is_replica() || !n.is_master() {
                    if n.is_replica() {
                        // A promoted replica: a migration target if it ends up alone.
                        n.flags |= flags::MIGRATE_TO;
                    }
                    n.flags = (n.flags | flags::MASTER) & !flags::SLAVE;
                    n.master = None;
                    fx.push(Effect::SaveConfig);
                }
            }
            Some(master) => {
                let was_master_with_slots = {
                    let n = &self.nodes[&h.sender];
                    n.is_master() && !n.slots.is_empty()
                };
                if was_master_with_slots {
                    let slots: Vec<Slot> = self.nodes[&h.sender].slots.iter().collect();
                    for s in slots {
                        if self.owners[s.index()] == Some(h.sender) {
                            self.assign_slot(s, None);
                        }
                    }
                }
                let n = self.nodes.get_mut(&h.sender).expect("known sender");
                if !n.is_replica() || n.master != Some(master) {
                    n.flags = (n.flags | flags::SLAVE) & !flags::MASTER;
                    n.master = Some(master);
                    fx.push(Effect::SaveConfig);
                }
                // A master that has had replicas is worth migrating a replica to if it
                // loses them all.
                if let Some(m) = self.nodes.get_mut(&master) {
                    m.flags |= flags::MIGRATE_TO;
                }
            }
        }

        // Slots claimed by a master.
        if h.slaveof.is_none() {
            let sender_slots = &self.nodes[&h.sender].slots;
            if *sender_slots != h.myslots {
                let slots = h.myslots.clone();
                self.update_slots_from(h.sender, h.config_epoch, &slots, now, fx);
            }
            // If we know a newer owner for a slot the sender claims, tell it.
            for s in h.myslots.iter() {
                let Some(owner) = self.owners[s.index()] else {
                    continue;
                };
                if owner == h.sender {
                    continue;
                }
                let owner_epoch = self.nodes.get(&owner).map_or(0, |n| n.config_epoch);
                if owner_epoch > h.config_epoch {
                    let slots = self.nodes[&owner].slots.clone();
                    let header = self.header(MsgType::Update);
                    self.count(MsgType::Update, true);
                    fx.push(Effect::Send {
                        node: h.sender,
                        msg: Message {
                            header,
                            body: Body::Update {
                                config_epoch: owner_epoch,
                                node: owner,
                                slots,
                            },
                        },
                    });
                    break;
                }
            }
            self.resolve_epoch_collision(h.sender, h.config_epoch, fx);
        }

        if let Body::Gossip { entries, extensions } = &msg.body {
            for ext in extensions {
                match ext {
                    PingExt::Hostname(name) => {
                        if let Some(n) = self.nodes.get_mut(&h.sender) {
                            n.hostname = name.clone();
                        }
                    }
                    PingExt::ForgottenNode { node, ttl_secs } if *node != self.myself => {
                        self.delete_node(*node);
                        self.blacklist.insert(*node, now + (*ttl_secs as i64) * 1000);
                        fx.push(Effect::DropLink { node: *node });
                    }
                    _ => {}
                }
            }
            self.process_gossip(entries, h.sender, now, fx);
        }
    }

    /// Slots claimed by `sender` with `epoch`: take the ones that are free or held by an
    /// older configuration. If this node's master loses all its slots to the sender, this
    /// node follows the sender.
    fn update_slots_from(
        &mut self,
        sender: NodeId,
        epoch: Epoch,
        slots: &SlotSet,
        _now: i64,
        fx: &mut Vec<Effect>,
    ) {
        let cur_master = self.my_master();
        let mut lost_own = Vec::new();
        let mut moved_from_my_master = false;
        for s in slots.iter() {
            let owner = self.owners[s.index()];
            if owner == Some(sender) || self.migrations.importing.contains_key(&s.get()) {
                continue;
            }
            let owner_epoch = owner
                .and_then(|o| self.nodes.get(&o))
                .map_or(0, |n| n.config_epoch);
            if owner.is_none() || owner_epoch < epoch {
                if owner == Some(self.myself) {
                    lost_own.push(s);
                }
                if owner.is_some() && owner == cur_master {
                    moved_from_my_master = true;
                }
                self.assign_slot(s, Some(sender));
                fx.push(Effect::SaveConfig);
            }
        }
        let master_empty = cur_master
            .and_then(|m| self.nodes.get(&m))
            .is_some_and(|m| m.slots.is_empty());
        if moved_from_my_master && master_empty && cur_master != Some(sender) {
            // Our slots went to a newer master: we become its replica.
            let (ip, port) = self
                .nodes
                .get(&sender)
                .map(|n| (n.ip.clone(), n.port))
                .unwrap_or_default();
            let me = self.me_mut();
            me.flags = (me.flags | flags::SLAVE) & !flags::MASTER;
            me.master = Some(sender);
            self.migrations = SlotMigrations::default();
            self.reset_manual_failover(fx);
            self.election = Default::default();
            fx.push(Effect::BecomeReplicaOf {
                master: sender,
                ip,
                port,
            });
        } else if !lost_own.is_empty() {
            fx.push(Effect::DropSlotKeys(lost_own));
        }
    }

    /// Two masters with the same config epoch: the one with the smaller id takes a new one.
    fn resolve_epoch_collision(&mut self, sender: NodeId, sender_epoch: Epoch, fx: &mut Vec<Effect>) {
        let me = self.me();
        // Only the node with the smaller id takes a new epoch.
        if me.is_master() && sender_epoch == me.config_epoch && self.myself < sender {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            fx.push(Effect::SaveConfig);
        }
    }

    fn process_gossip(&mut self, entries: &[GossipEntry], sender: NodeId, now: i64, fx: &mut Vec<Effect>) {
        let sender_is_master = self.nodes.get(&sender).is_some_and(|n| n.is_master());
        for g in entries {
            if g.node == self.myself {
                continue;
            }
            if let Some(n) = self.nodes.get_mut(&g.node) {
                if sender_is_master {
                    if g.flags & (flags::FAIL | flags::PFAIL) != 0 {
                        match n.fail_reports.iter_mut().find(|(r, _)| *r == sender) {
                            Some(r) => r.1 = now,
                            None => n.fail_reports.push((sender, now)),
                        }
                    } else {
                        n.fail_reports.retain(|(r, _)| *r != sender);
                    }
                }
                if g.flags & (flags::FAIL | flags::PFAIL) == 0
                    && n.ping_sent == 0
                    && n.fail_reports.is_empty()
                {
                    let pong = i64::from(g.pong_received) * 1000;
                    if pong <= now + 500 && pong > n.pong_received {
                        n.pong_received = pong;
                    }
                }
                if n.is(flags::NOADDR) && g.flags & flags::NOADDR == 0 && !g.ip.is_empty() {
                    n.ip = g.ip.clone();
                    n.port = g.port;
                    n.cport = g.cport;
                    n.flags &= !flags::NOADDR;
                }
            } else if g.flags & flags::NOADDR == 0
                && !g.ip.is_empty()
                && self.blacklist.get(&g.node).is_none_or(|&until| until < now)
                && self.meet(&g.ip, g.port, g.cport, now)
            {
                fx.push(Effect::SaveConfig);
            }
        }
        if sender_is_master {
            self.mark_failing_if_needed(now, fx);
        }
    }

    /// PFAIL → FAIL when a majority of masters reported it recently; broadcast the FAIL.
    fn mark_failing_if_needed(&mut self, now: i64, fx: &mut Vec<Effect>) {
        let validity = self.settings.node_timeout * 2;
        let needed = self.masters_with_slots() / 2 + 1;
        let me_master = self.me().is_master();
        let candidates: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.is(flags::PFAIL) && !n.failed())
            .map(|n| n.id)
            .collect();
        for id in candidates {
            let n = self.nodes.get_mut(&id).expect("candidate exists");
            n.fail_reports.retain(|(_, t)| now - *t <= validity);
            let reports = n.fail_reports.len() + usize::from(me_master);
            if reports >= needed {
                n.flags = (n.flags | flags::FAIL) & !flags::PFAIL;
                n.fail_time = now;
                let header = self.header(MsgType::Fail);
                let msg = Message {
                    header,
                    body: Body::Fail { node: id },
                };
                let targets: Vec<NodeId> = self
                    .nodes
                    .values()
                    .filter(|o| o.id != self.myself && !o.is(flags::HANDSHAKE))
                    .map(|o| o.id)
                    .collect();
                for node in targets {
                    self.count(MsgType::Fail, true);
                    fx.push(Effect::Send {
                        node,
                        msg: msg.clone(),
                    });
                }
                fx.push(Effect::SaveConfig);
                if self.my_master() == Some(id) && id != self.myself {
                    fx.extend(self.failover_step(now));
                }
            }
        }
    }

    pub fn masters_with_slots(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| n.is_master() && !n.slots.is_empty())
            .count()
    }

    /// Periodic work (every 100 ms): handshake timeouts, links, pings, PFAIL detection,
    /// the cluster state.
    pub fn tick(&mut self, now: i64) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.ticks += 1;
        let timeout = self.settings.node_timeout.max(1000);
        let handshake_timeout = timeout;
        let expired: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.is(flags::HANDSHAKE) && now - n.ctime > handshake_timeout)
            .map(|n| n.id)
            .collect();
        for id in expired {
            self.delete_node(id);
            fx.push(Effect::DropLink { node: id });
        }
        self.blacklist.retain(|_, until| *until > now);
        let myself = self.myself;
        for n in self.nodes.values_mut() {
            if n.id != myself && !n.link_up && !n.is(flags::NOADDR) && !n.ip.is_empty() && n.cport != 0 {
                // A reconnection attempt counts as a PING: a node we cannot even connect to
                // goes PFAIL after the node timeout like one that does not answer.
                if n.ping_sent == 0 && !n.is(flags::HANDSHAKE) {
                    n.ping_sent = now;
                }
                fx.push(Effect::Connect {
                    node: n.id,
                    ip: n.ip.clone(),
                    cport: n.cport,
                });
            }
        }
        // Once a second, PING the node we heard from least recently among a few random ones.
        if self.ticks.is_multiple_of(10) {
            let mut pool: Vec<&Node> = self
                .nodes
                .values()
                .filter(|n| n.id != self.myself && n.link_up && n.ping_sent == 0 && !n.is(flags::HANDSHAKE))
                .collect();
            pool.shuffle(&mut rand::thread_rng());
            if let Some(target) = pool.iter().take(5).min_by_key(|n| n.pong_received).map(|n| n.id) {
                fx.extend(self.send_ping(target, now));
            }
        }
        let ids: Vec<NodeId> = self
            .nodes
            .keys()
            .copied()
            .filter(|id| *id != self.myself)
            .collect();
        let mut new_pfail = false;
        for id in ids {
            let Some(n) = self.nodes.get(&id) else { continue };
            if n.is(flags::HANDSHAKE | flags::NOADDR) {
                continue;
            }
            let (link_up, ping_sent, pong, data) = (n.link_up, n.ping_sent, n.pong_received, n.outbound_data);
            if link_up && ping_sent != 0 && now - ping_sent > timeout / 2 && now - data > timeout / 2 {
                // The link looks stuck: reconnect it (the pending ping keeps counting).
                fx.push(Effect::DropLink { node: id });
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.link_up = false;
                }
            }
            if link_up && ping_sent == 0 && now - pong > self.settings.heartbeat_ms() {
                fx.extend(self.send_ping(id, now));
            }
            let n = self.nodes.get_mut(&id).expect("listed node");
            // Unreachable: a ping is pending and nothing answered for the node timeout
            // (counted from the last PONG, or from the ping if none ever came).
            let last_heard = if n.pong_received > 0 {
                n.pong_received
            } else {
                n.ping_sent
            };
            if n.ping_sent != 0
                && now - last_heard > self.settings.node_timeout
                && !n.is(flags::PFAIL | flags::FAIL)
            {
                n.flags |= flags::PFAIL;
                tracing::debug!("*** NODE {id} possibly failing");
                new_pfail = true;
            }
        }
        if new_pfail {
            // Tell everybody at once: the failure reports reach a majority of masters
            // without waiting for the next random gossip.
            let linked: Vec<NodeId> = self
                .nodes
                .values()
                .filter(|n| {
                    n.id != self.myself && n.link_up && !n.is(flags::HANDSHAKE | flags::PFAIL | flags::FAIL)
                })
                .map(|n| n.id)
                .collect();
            for id in linked {
                fx.extend(self.send_ping(id, now));
            }
        }
        self.mark_failing_if_needed(now, &mut fx);
        self.update_state(now);
        self.failover_tick(now, &mut fx);
        fx
    }

    fn send_ping(&mut self, node: NodeId, now: i64) -> Vec<Effect> {
        if let Some(n) = self.nodes.get_mut(&node) {
            if n.ping_sent == 0 {
                n.ping_sent = now;
            }
        }
        let msg = self.build_ping(MsgType::Ping, Some(node));
        vec![Effect::Send { node, msg }]
    }

    /// `cluster_state`: ok when every slot is served by a reachable master (with full
    /// coverage required) and this node is in the majority partition.
    pub fn update_state(&mut self, now: i64) {
        let me_master = self.me().is_master();
        if me_master && !self.state_ok && now - self.started < WRITABLE_DELAY {
            return;
        }
        let mut ok = true;
        debug_assert!(
            self.owners_match_slot_sets(),
            "owners table out of step with slot sets"
        );
        if self.settings.require_full_coverage {
            // Every slot has a live owner: counted from the nodes' slot sets (the owners
            // table is their inverse, kept so by `assign_slot`) rather than 16384 lookups.
            let mut covered = 0;
            for n in self.nodes.values().filter(|n| !n.slots.is_empty()) {
                if n.failed() {
                    ok = false;
                    break;
                }
                covered += n.slots.len();
            }
            if covered < SLOTS {
                ok = false;
            }
        }
        let size = self.masters_with_slots();
        let reachable = self
            .nodes
            .values()
            .filter(|n| n.is_master() && !n.slots.is_empty() && !n.is(flags::PFAIL | flags::FAIL))
            .count();
        if size == 0 || reachable < size / 2 + 1 {
            ok = false;
            self.among_minority_since = Some(now);
        }
        // A master back from a minority partition waits a little before it serves again:
        // long enough to hear that it may have been failed over meanwhile.
        let rejoin_delay = self.settings.node_timeout.clamp(500, 5000);
        let rejoining = self.among_minority_since.is_some_and(|t| now - t < rejoin_delay);
        if ok && !self.state_ok && me_master && rejoining {
            return;
        }
        self.state_ok = ok;
    }

    /// Gives this node a new config epoch without agreement from the others, unless its
    /// epoch is already the greatest one known (the greatest config epoch of any node, or
    /// the current epoch if that is greater): CLUSTER BUMPEPOCH, and SETSLOT NODE when an
    /// imported slot is taken over. An equal epoch held by another node is left to the
    /// collision resolution. Returns (bumped, epoch).
    pub fn bump_epoch(&mut self) -> (bool, Epoch) {
        let my = self.me().config_epoch;
        let max = self
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch);
        if my == 0 || my != max {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            (true, e)
        } else {
            (false, my)
        }
    }

    /// Makes this node a replica of `master` (CLUSTER REPLICATE).
    pub fn set_my_master(&mut self, master: NodeId) {
        for s in self.me().slots.iter().collect::<Vec<_>>() {
            self.assign_slot(s, None);
        }
        let me = self.me_mut();
        me.flags = (me.flags | flags::SLAVE) & !flags::MASTER;
        me.master = Some(master);
        self.migrations = SlotMigrations::default();
    }

    /// Replicas of a master.
    pub fn replicas_of(&self, master: NodeId) -> Vec<&Node> {
        let mut v: Vec<&Node> = self.nodes.values().filter(|n| n.master == Some(master)).collect();
        v.sort_by_key(|n| n.id);
        v
    }

    /// Builds a bus PUBLISH to send to every node, or with `shard` a PUBLISHSHARD to the
    /// other nodes of this node's shard (its master and the master's replicas).
    pub fn publish_message(&mut self, channel: &[u8], message: &[u8], shard: bool) -> Vec<Effect> {
        let header = self.header(if shard {
            MsgType::PublishShard
        } else {
            MsgType::Publish
        });
        let shard_master = self.my_master();
        let msg = Message {
            header,
            body: Body::Publish {
                channel: channel.to_vec(),
                message: message.to_vec(),
            },
        };
        let targets: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && n.link_up && !n.is(flags::HANDSHAKE))
            .filter(|n| {
                !shard || Some(n.id) == shard_master || (n.master.is_some() && n.master == shard_master)
            })
            .map(|n| n.id)
            .collect();
        for _ in &targets {
            self.count(msg.header.msg_type, true);
        }
        targets
            .into_iter()
            .map(|node| Effect::Send {
                node,
                msg: msg.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16) -> ClusterState {
        ClusterState::new(
            NodeId::random(),
            Settings {
                port,
                cport: port + 10000,
                node_timeout: 5000,
                ..Default::default()
            },
            0,
        )
    }

    /// Delivers every Send/Reply between two nodes until quiet.
    fn exchange(a: &mut ClusterState, b: &mut ClusterState, now: i64) {
        // a connects to b via MEET.
        let mut pending: Vec<(bool, Effect)> = Vec::new();
        for e in a.tick(now) {
            pending.push((true, e));
        }
        for e in b.tick(now) {
            pending.push((false, e));
        }
        let mut guard = 0;
        while let Some((from_a, e)) = pending.pop() {
            guard += 1;
            assert!(guard < 10_000, "messages never settle");
            let (src, dst) = if from_a {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            match e {
                Effect::Connect { node, .. } => {
                    for e2 in src.link_connected(node, now) {
                        pending.push((from_a, e2));
                    }
                }
                Effect::Send { node, msg } => {
                    let link = LinkInfo {
                        peer_ip: "127.0.0.1".into(),
                        local_ip: "127.0.0.1".into(),
                        outbound: None,
                    };
                    for reply in dst.handle(msg, &link, now) {
                        match reply {
                            Effect::Reply(m) => {
                                let back = LinkInfo {
                                    peer_ip: "127.0.0.1".into(),
                                    local_ip: "127.0.0.1".into(),
                                    outbound: Some(node),
                                };
                                for e3 in src.handle(m, &back, now) {
                                    if !matches!(e3, Effect::Reply(_) | Effect::SaveConfig) {
                                        pending.push((from_a, e3));
                                    }
                                }
                            }
                            Effect::SaveConfig => {}
                            other => pending.push((!from_a, other)),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Two masters with half the slots each (config epochs 1 and 2), met and gossiped.
    fn two_masters() -> (ClusterState, ClusterState) {
        let mut a = node(7000);
        let mut b = node(7001);
        for s in 0..8192 {
            a.assign_slot(Slot::new(s).unwrap(), Some(a.myself));
        }
        for s in 8192..16384 {
            b.assign_slot(Slot::new(s).unwrap(), Some(b.myself));
        }
        a.me_mut().config_epoch = 1;
        b.me_mut().config_epoch = 2;
        assert!(a.meet("127.0.0.1", 7001, 17001, 0));
        for t in 0..5 {
            exchange(&mut a, &mut b, 100 * t);
        }
        (a, b)
    }

    #[test]
    fn meet_handshake_and_slot_gossip() {
        let (mut a, mut b) = two_masters();
        assert!(a.nodes.contains_key(&b.myself), "a learned b's real id");
        assert!(b.nodes.contains_key(&a.myself), "b learned a's id");
        assert_eq!(a.owners[10000], Some(b.myself));
        assert_eq!(b.owners[0], Some(a.myself));
        // A master waits WRITABLE_DELAY after start-up before it may turn ok.
        a.update_state(1000);
        assert!(!a.state_ok);
        a.update_state(WRITABLE_DELAY);
        b.update_state(WRITABLE_DELAY);
        assert!(a.state_ok && b.state_ok);
    }

    #[test]
    fn a_master_back_from_a_minority_waits_the_rejoin_delay() {
        let (mut a, b) = two_masters();
        let t0 = 10_000;
        a.update_state(t0);
        assert!(a.state_ok);
        // b unreachable: a (one master of two) is in a minority.
        a.nodes.get_mut(&b.myself).unwrap().flags |= flags::PFAIL;
        a.update_state(t0 + 100);
        assert!(!a.state_ok);
        // b is back: a stays down for the rejoin delay (the node timeout, 500 ms–5 s).
        a.nodes.get_mut(&b.myself).unwrap().flags &= !flags::PFAIL;
        let delay = a.settings.node_timeout.clamp(500, 5000);
        a.update_state(t0 + 100 + delay - 1);
        assert!(!a.state_ok);
        a.update_state(t0 + 100 + delay);
        assert!(a.state_ok);
    }

    #[test]
    fn drop_filter_counts_then_ignores_that_type_only() {
        let mut a = node(7000);
        let mut b = node(7001);
        let link = LinkInfo {
            peer_ip: "127.0.0.1".into(),
            local_ip: "127.0.0.1".into(),
            outbound: None,
        };
        let meet = b.build_ping(MsgType::Meet, None);
        a.drop_filter = Some(MsgType::Meet.to_wire());
        assert!(
            a.handle(meet.clone(), &link, 0).is_empty(),
            "a dropped MEET has no effect"
        );
        assert_eq!(a.stats.received.get("meet"), Some(&1), "but it is counted");
        assert_eq!(a.nodes.len(), 1, "nor learned anything from it");
        a.drop_filter = Some(MsgType::Pong.to_wire());
        assert!(
            !a.handle(meet, &link, 0).is_empty(),
            "other types still go through"
        );
        assert_eq!(a.stats.received.get("meet"), Some(&2));
        assert_eq!(a.nodes.len(), 2);
    }

    #[test]
    fn bump_epoch_only_when_not_already_the_greatest() {
        let mut a = node(7000);
        let other = NodeId::random();
        a.nodes.insert(other, Node::new(other, flags::MASTER, 0));
        // Epoch 0 always bumps.
        assert_eq!(a.bump_epoch(), (true, 1));
        // Already the greatest: stays.
        assert_eq!(a.bump_epoch(), (false, 1));
        // Another node holds the same epoch: left to the collision resolution.
        a.nodes.get_mut(&other).unwrap().config_epoch = 1;
        assert_eq!(a.bump_epoch(), (false, 1));
        // A greater epoch elsewhere, or a greater current epoch: bump past it.
        a.nodes.get_mut(&other).unwrap().config_epoch = 5;
        a.current_epoch = 5;
        assert_eq!(a.bump_epoch(), (true, 6));
        a.current_epoch = 9;
        assert_eq!(a.bump_epoch(), (true, 10));
    }
}
