//! Failover, as rules over [`ClusterState`] without I/O: a replica's election when its
//! master is FAIL (delay by rank, data age, votes from a majority of masters, promotion),
//! the masters' side of the vote, and manual failover (`CLUSTER FAILOVER` with its
//! coordinated, FORCE and TAKEOVER forms, MFSTART and the paused master).
//!
//! Owns the election and manual failover state; never touches links or the keyspace:
//! everything it wants done comes back as [`Effect`]s. Time is always an argument.

use std::collections::HashSet;

use rand::Rng;
use slotkv_keyslot::{Epoch, NodeId, Slot};

use crate::message::{flags, mflags, Body, Header, Message, MsgType};
use crate::state::{ClusterState, Effect};

/// How long a manual failover may take before it is given up (ms).
pub const MANUAL_FAILOVER_TIMEOUT: i64 = 5000;
/// A master pauses its writes for this many manual failover timeouts at most.
const MANUAL_FAILOVER_PAUSE_MULT: i64 = 2;

/// A replica's election attempt.
#[derive(Debug, Clone, Default)]
pub struct Election {
    /// When the vote request may go out (unix ms); 0 = no attempt yet. A new attempt may
    /// start once twice the auth timeout has passed since.
    pub auth_time: i64,
    /// Whether the FAILOVER_AUTH_REQUEST of this attempt was sent.
    pub sent: bool,
    /// This replica's rank among its master's replicas by replication offset (0 = best).
    pub rank: usize,
    /// The epoch this attempt asked votes for.
    pub epoch: Epoch,
    /// Masters that granted their vote for `epoch`.
    pub voters: HashSet<NodeId>,
    /// The last reason the replica could not fail over, to log it once.
    pub cant_reason: Option<CantFailover>,
}

/// Why a replica of a failed master does not (yet) fail over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CantFailover {
    DataAge,
    WaitingDelay,
    Expired,
    WaitingVotes,
}

/// The manual failover in progress (both sides use `end`).
#[derive(Debug, Clone, Default)]
pub struct ManualFailover {
    /// Deadline (unix ms) of the manual failover in progress; 0 = none.
    pub end: i64,
    /// Master side: the replica that asked (we are paused for it).
    pub replica: Option<NodeId>,
    /// Replica side: the paused master's replication offset (None until it told us).
    pub master_offset: Option<u64>,
    /// Replica side: the election may start (offsets match, or FORCE).
    pub can_start: bool,
}

/// The forms of `CLUSTER FAILOVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualMode {
    /// Coordinated with the master: it pauses, we catch up, then the election.
    Default,
    /// Election without the master's agreement.
    Force,
    /// No election: take a new epoch and the slots.
    Takeover,
}

/// Why `CLUSTER FAILOVER` was refused; `Display` is Redis's text after `ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualFailoverError {
    #[error("You should send CLUSTER FAILOVER to a replica")]
    NotReplica,
    #[error("I'm a replica but my master is unknown to me")]
    MasterUnknown,
    #[error("Master is down or failed, please use CLUSTER FAILOVER FORCE")]
    MasterDown,
}

impl ClusterState {
    /// `mflags[0]` of the headers we send: PAUSED while a master in a manual failover.
    pub(crate) fn header_mflags(&self) -> u8 {
        if self.manual.end != 0 && self.me().is_master() {
            mflags::PAUSED
        } else {
            0
        }
    }

    /// How long votes are waited for: twice the node timeout, at least 2 s.
    pub fn auth_timeout(&self) -> i64 {
        (self.settings.node_timeout * 2).max(2000)
    }

    /// Replica side: our master told us (PAUSED flag) the offset it stopped at.
    pub(crate) fn note_master_paused(&mut self, h: &Header, _now: i64) {
        let me = self.me();
        if self.manual.end == 0
            || !me.is_replica()
            || me.master != Some(h.sender)
            || h.slaveof.is_some()
            || h.mflags[0] & mflags::PAUSED == 0
        {
            return;
        }
        // The latest offset counts: a paused master may still add to its stream (its own
        // PINGs to replicas), which must not hold the failover back.
        if self.manual.master_offset.is_none() {
            tracing::info!(
                "Received replication offset for paused master manual failover: {}",
                h.offset
            );
        }
        self.manual.master_offset = Some(h.offset);
    }

    /// Ends any manual failover in progress; a paused master resumes writes.
    pub(crate) fn reset_manual_failover(&mut self, fx: &mut Vec<Effect>) {
        if self.manual.end != 0 && self.manual.replica.is_some() {
            fx.push(Effect::PauseWrites { until: 0 });
        }
        self.manual = ManualFailover::default();
    }

    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]` on this node.
    pub fn start_manual_failover(
        &mut self,
        mode: ManualMode,
        now: i64,
    ) -> Result<Vec<Effect>, ManualFailoverError> {
        let me = self.me();
        if me.is_master() {
            return Err(ManualFailoverError::NotReplica);
        }
        let Some(master) = me.master.filter(|m| self.nodes.contains_key(m)) else {
            return Err(ManualFailoverError::MasterUnknown);
        };
        let m = &self.nodes[&master];
        if mode == ManualMode::Default && (m.failed() || !m.link_up) {
            return Err(ManualFailoverError::MasterDown);
        }
        let mut fx = Vec::new();
        self.reset_manual_failover(&mut fx);
        self.manual.end = now + MANUAL_FAILOVER_TIMEOUT;
        match mode {
            ManualMode::Takeover => {
                tracing::info!("Taking over the master (user request).");
                // A new epoch without agreement: ours is then the newest configuration.
                self.current_epoch += 1;
                let e = self.current_epoch;
                self.me_mut().config_epoch = e;
                self.replace_my_master(now, &mut fx);
            }
            ManualMode::Force => {
                tracing::info!("Forced failover user request accepted.");
                self.manual.can_start = true;
                self.election.auth_time = 0;
            }
            ManualMode::Default => {
                tracing::info!("Manual failover user request accepted.");
                self.election.auth_time = 0;
                let header = self.header(MsgType::MfStart);
                self.count(MsgType::MfStart, true);
                fx.push(Effect::Send {
                    node: master,
                    msg: Message {
                        header,
                        body: Body::Empty,
                    },
                });
            }
        }
        fx.push(Effect::SaveConfig);
        Ok(fx)
    }

    /// Master side of MFSTART: one of our replicas wants to take over; pause writes and
    /// tell it our offset.
    pub(crate) fn manual_failover_requested(&mut self, sender: NodeId, now: i64, fx: &mut Vec<Effect>) {
        let ours = self
            .nodes
            .get(&sender)
            .is_some_and(|n| n.master == Some(self.myself));
        if !self.me().is_master() || !ours {
            return;
        }
        self.reset_manual_failover(fx);
        self.manual.end = now + MANUAL_FAILOVER_TIMEOUT;
        self.manual.replica = Some(sender);
        tracing::info!("Manual failover requested by replica {sender}.");
        fx.push(Effect::PauseWrites {
            until: now + MANUAL_FAILOVER_TIMEOUT * MANUAL_FAILOVER_PAUSE_MULT,
        });
        // The PING carries PAUSED and our offset.
        fx.extend(self.ping_now(sender, now));
    }

    fn ping_now(&mut self, node: NodeId, now: i64) -> Vec<Effect> {
        if let Some(n) = self.nodes.get_mut(&node) {
            if n.ping_sent == 0 {
                n.ping_sent = now;
            }
        }
        let msg = self.build_ping(MsgType::Ping, Some(node));
        vec![Effect::Send { node, msg }]
    }

    /// Master side of FAILOVER_AUTH_REQUEST: grant the vote if every rule allows it.
    pub(crate) fn vote_if_allowed(&mut self, h: &Header, now: i64, fx: &mut Vec<Effect>) {
        let me = self.me();
        if !me.is_master() || me.slots.is_empty() {
            return;
        }
        let requester = h.sender;
        let force = h.mflags[0] & mflags::FORCEACK != 0;
        // `handle` already raised our current epoch to the request's if it was greater.
        if h.current_epoch < self.current_epoch {
            tracing::warn!(
                "Failover auth denied to {requester}: reqEpoch ({}) < curEpoch({})",
                h.current_epoch,
                self.current_epoch
            );
            return;
        }
        if self.last_vote_epoch == self.current_epoch {
            tracing::warn!(
                "Failover auth denied to {requester}: already voted for epoch {}",
                self.current_epoch
            );
            return;
        }
        let Some(master) = h.slaveof.filter(|m| *m != requester) else {
            tracing::warn!("Failover auth denied to {requester}: it is a master node");
            return;
        };
        let Some(m) = self.nodes.get(&master) else {
            tracing::warn!("Failover auth denied to {requester}: I don't know its master");
            return;
        };
        if !m.failed() && !force {
            tracing::warn!("Failover auth denied to {requester}: its master is up");
            return;
        }
        let window = self.settings.node_timeout * 2;
        if m.voted_time != 0 && now - m.voted_time < window {
            tracing::warn!(
                "Failover auth denied to {requester}: can't vote about this master before {} milliseconds",
                window - (now - m.voted_time)
            );
            return;
        }
        // Every slot it claims must not be held by a newer configuration.
        for s in h.myslots.iter() {
            let owner_epoch = self.owners[s.index()]
                .and_then(|o| self.nodes.get(&o))
                .map_or(0, |n| n.config_epoch);
            if owner_epoch > h.config_epoch {
                tracing::warn!(
                    "Failover auth denied to {requester}: slot {s} epoch ({owner_epoch}) > reqEpoch ({})",
                    h.config_epoch
                );
                return;
            }
        }
        self.last_vote_epoch = self.current_epoch;
        if let Some(m) = self.nodes.get_mut(&master) {
            m.voted_time = now;
        }
        let header = self.header(MsgType::FailoverAuthAck);
        self.count(MsgType::FailoverAuthAck, true);
        fx.push(Effect::Send {
            node: requester,
            msg: Message {
                header,
                body: Body::Empty,
            },
        });
        fx.push(Effect::SaveConfig);
        tracing::info!(
            "Failover auth granted to {requester} for epoch {}",
            self.current_epoch
        );
    }

    /// Replica side of FAILOVER_AUTH_ACK.
    pub(crate) fn count_vote(&mut self, h: &Header) {
        let counts = self
            .nodes
            .get(&h.sender)
            .is_some_and(|n| n.is_master() && !n.slots.is_empty());
        if counts && self.election.sent && self.election.epoch != 0 && h.current_epoch >= self.election.epoch
        {
            self.election.voters.insert(h.sender);
        }
    }

    /// This replica's rank among its master's replicas by replication offset.
    fn my_rank(&self, master: NodeId) -> usize {
        let mine = self.repl_offset;
        self.nodes
            .values()
            .filter(|n| {
                n.id != self.myself
                    && n.master == Some(master)
                    && n.is_replica()
                    && !n.is(flags::NOFAILOVER)
                    && n.repl_offset > mine
            })
            .count()
    }

    /// When the pending election may send its vote requests (unix ms), so the caller
    /// can wake up then instead of at its next periodic tick.
    pub fn election_wakeup(&self) -> Option<i64> {
        (self.election.auth_time != 0 && !self.election.sent).then_some(self.election.auth_time)
    }

    /// Moves the replica's election on at once (a FAIL of our master or a vote just
    /// arrived, or the election delay is over), instead of at the next periodic tick.
    pub fn failover_step(&mut self, now: i64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.me().is_replica() {
            self.replica_failover(now, &mut fx);
        }
        fx
    }

    /// Periodic failover work: manual failover timeouts and progress, the replica's
    /// election, the paused master's pings to its replica.
    pub(crate) fn failover_tick(&mut self, now: i64, fx: &mut Vec<Effect>) {
        // `cluster-replica-no-failover` is advertised (others leave us out of the rank).
        let no_failover = self.settings.replica_no_failover && self.me().is_replica();
        if no_failover != self.me().is(flags::NOFAILOVER) {
            let me = self.me_mut();
            me.flags ^= flags::NOFAILOVER;
            fx.push(Effect::SaveConfig);
        }
        if self.manual.end != 0 && now > self.manual.end {
            tracing::warn!("Manual failover timed out.");
            self.reset_manual_failover(fx);
        }
        self.update_orphans(now);
        if self.me().is_master() {
            if let (true, Some(r)) = (self.manual.end != 0, self.manual.replica) {
                if self.nodes.get(&r).is_some_and(|n| n.link_up) {
                    let msg = self.build_ping(MsgType::Ping, Some(r));
                    fx.push(Effect::Send { node: r, msg });
                }
            }
            return;
        }
        if self.manual.end != 0 && !self.manual.can_start {
            if let Some(off) = self.manual.master_offset {
                if self.repl_offset >= off {
                    self.manual.can_start = true;
                    tracing::info!("All master replication stream processed, manual failover can start.");
                }
            }
        }
        self.replica_failover(now, fx);
        self.replica_migration(now, fx);
    }

    /// Working (not FAIL) replicas of a master.
    fn ok_replicas(&self, master: NodeId) -> usize {
        self.nodes
            .values()
            .filter(|n| n.master == Some(master) && n.is_replica() && !n.failed())
            .count()
    }

    /// Masters with slots that had replicas and have no working one left, and since when.
    fn update_orphans(&mut self, now: i64) {
        let counts: Vec<(NodeId, bool)> = self
            .nodes
            .values()
            .filter(|n| n.is_master())
            .map(|n| (n.id, self.ok_replicas(n.id) == 0))
            .collect();
        for (id, alone) in counts {
            if let Some(n) = self.nodes.get_mut(&id) {
                let orphan = alone && !n.slots.is_empty() && n.is(flags::MIGRATE_TO) && !n.failed();
                if !orphan {
                    n.orphaned_time = 0;
                } else if n.orphaned_time == 0 {
                    n.orphaned_time = now;
                }
            }
        }
    }

    /// Replica migration: when a master is left without working replicas, one replica of
    /// the master with the most replicas (above `cluster-migration-barrier`) moves to it —
    /// the one with the smallest id, so only one moves.
    fn replica_migration(&mut self, now: i64, fx: &mut Vec<Effect>) {
        const MIGRATION_DELAY: i64 = 5000;
        let me = self.me();
        let Some(my_master) = me.master.filter(|_| me.is_replica()) else {
            return;
        };
        if !self.settings.allow_replica_migration || !self.state_ok || self.manual.end != 0 {
            return;
        }
        if self
            .nodes
            .get(&my_master)
            .is_none_or(|m| m.failed() || m.slots.is_empty())
        {
            return;
        }
        let Some(target) = self
            .nodes
            .values()
            .filter(|n| n.is_master() && n.orphaned_time != 0)
            .min_by_key(|n| n.id)
            .map(|n| (n.id, n.orphaned_time))
        else {
            return;
        };
        let max_replicas = self
            .nodes
            .values()
            .filter(|n| n.is_master())
            .map(|n| self.ok_replicas(n.id))
            .max()
            .unwrap_or(0);
        let mine = self.ok_replicas(my_master);
        if max_replicas < 2 || mine != max_replicas || mine <= self.settings.migration_barrier {
            return;
        }
        let candidate = self
            .nodes
            .values()
            .filter(|n| n.master == Some(my_master) && n.is_replica() && !n.failed())
            .map(|n| n.id)
            .min();
        if candidate != Some(self.myself) || now - target.1 <= MIGRATION_DELAY {
            return;
        }
        let (id, ip, port) = {
            let t = &self.nodes[&target.0];
            (t.id, t.ip.clone(), t.port)
        };
        tracing::info!("Migrating to orphaned master {id}");
        self.set_my_master(id);
        self.election = Election::default();
        fx.push(Effect::BecomeReplicaOf { master: id, ip, port });
        fx.push(Effect::SaveConfig);
    }

    fn log_cant(&mut self, reason: CantFailover) {
        if self.election.cant_reason == Some(reason) {
            return;
        }
        self.election.cant_reason = Some(reason);
        let text = match reason {
            CantFailover::DataAge => "Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option.",
            CantFailover::WaitingDelay => "Waiting the delay before I can start a new failover.",
            CantFailover::Expired => "Failover attempt expired.",
            CantFailover::WaitingVotes => "Waiting for votes, but majority still not reached.",
        };
        tracing::info!("Currently unable to failover: {text}");
    }

    /// The replica's election (Redis's order of checks).
    fn replica_failover(&mut self, now: i64, fx: &mut Vec<Effect>) {
        let manual = self.manual.end != 0 && self.manual.can_start;
        let me = self.me();
        let Some(master) = me.master else { return };
        let Some(m) = self.nodes.get(&master) else { return };
        if !me.is_replica() || (!m.failed() && !manual) || m.slots.is_empty() {
            self.election.cant_reason = None;
            return;
        }
        if self.settings.replica_no_failover && !manual {
            return;
        }
        let timeout = self.settings.node_timeout;
        let auth_timeout = self.auth_timeout();
        let auth_retry = auth_timeout * 2;

        // Data age: how long since we last heard from the master, minus the time it took
        // to notice the failure.
        let since = self.master_last_contact.unwrap_or(m.data_received);
        let mut data_age = now - since;
        if data_age > timeout {
            data_age -= timeout;
        }
        let factor = self.settings.replica_validity_factor;
        if factor != 0 && !manual && data_age > self.settings.repl_ping_period_ms + timeout * factor {
            self.log_cant(CantFailover::DataAge);
            return;
        }

        if self.election.auth_time == 0 || now - self.election.auth_time > auth_retry {
            // A new attempt: wait for the FAIL to spread, better replicas go first.
            let rank = self.my_rank(master);
            let (fixed, step) = (
                self.settings.election_fixed_delay_ms(),
                self.settings.election_rank_step_ms(),
            );
            let mut at = now + fixed + rand::thread_rng().gen_range(0..fixed);
            at += rank as i64 * step;
            let (rank, at) = if self.manual.end != 0 {
                (0, now)
            } else {
                (rank, at)
            };
            self.election = Election {
                auth_time: at,
                rank,
                ..Default::default()
            };
            tracing::info!(
                "Start of election delayed for {} milliseconds (rank #{rank}, offset {}).",
                at - now,
                self.repl_offset
            );
            // Let the other replicas of our master know our offset.
            let siblings: Vec<NodeId> = self
                .nodes
                .values()
                .filter(|n| n.id != self.myself && n.master == Some(master) && n.link_up)
                .map(|n| n.id)
                .collect();
            for s in siblings {
                let msg = self.build_ping(MsgType::Pong, Some(s));
                fx.push(Effect::Send { node: s, msg });
            }
            return;
        }
        if !self.election.sent && self.manual.end == 0 {
            // Offsets may have changed since: a worse rank waits longer.
            let rank = self.my_rank(master);
            if rank > self.election.rank {
                let added = (rank - self.election.rank) as i64 * self.settings.election_rank_step_ms();
                self.election.auth_time += added;
                self.election.rank = rank;
                tracing::info!("Replica rank updated to #{rank}, added {added} milliseconds of delay.");
            }
        }
        if now < self.election.auth_time {
            self.log_cant(CantFailover::WaitingDelay);
            return;
        }
        if now - self.election.auth_time > auth_timeout {
            self.log_cant(CantFailover::Expired);
            return;
        }
        if !self.election.sent {
            self.current_epoch += 1;
            self.election.epoch = self.current_epoch;
            self.election.sent = true;
            tracing::info!("Starting a failover election for epoch {}.", self.current_epoch);
            fx.extend(self.request_votes());
            fx.push(Effect::SaveConfig);
            return;
        }
        let needed = self.masters_with_slots() / 2 + 1;
        if self.election.voters.len() >= needed {
            tracing::info!("Failover election won: I'm the new master.");
            if self.me().config_epoch < self.election.epoch {
                let e = self.election.epoch;
                self.me_mut().config_epoch = e;
                tracing::info!("configEpoch set to {e} after successful failover");
            }
            self.replace_my_master(now, fx);
        } else {
            self.log_cant(CantFailover::WaitingVotes);
        }
    }

    /// FAILOVER_AUTH_REQUEST to every node (only masters with slots answer).
    fn request_votes(&mut self) -> Vec<Effect> {
        let mut header = self.header(MsgType::FailoverAuthRequest);
        if self.manual.end != 0 {
            header.mflags[0] |= mflags::FORCEACK;
        }
        let msg = Message {
            header,
            body: Body::Empty,
        };
        let targets: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && !n.is(flags::HANDSHAKE | flags::NOADDR))
            .map(|n| n.id)
            .collect();
        let mut fx = Vec::new();
        for node in targets {
            self.count(MsgType::FailoverAuthRequest, true);
            fx.push(Effect::Send {
                node,
                msg: msg.clone(),
            });
        }
        fx
    }

    /// Promotion: this replica becomes a master, takes all its master's slots, and tells
    /// everybody at once with a PONG.
    pub(crate) fn replace_my_master(&mut self, now: i64, fx: &mut Vec<Effect>) {
        let me = self.me();
        let Some(old) = me.master else { return };
        let myself = self.myself;
        let me = self.me_mut();
        me.flags = (me.flags | flags::MASTER) & !(flags::SLAVE | flags::NOFAILOVER);
        me.master = None;
        let slots: Vec<Slot> = self
            .nodes
            .get(&old)
            .map(|n| n.slots.iter().collect())
            .unwrap_or_default();
        for s in slots {
            self.assign_slot(s, Some(myself));
        }
        self.migrations = Default::default();
        self.election = Election::default();
        self.reset_manual_failover(fx);
        self.update_state(now);
        fx.push(Effect::BecomeMaster);
        fx.push(Effect::SaveConfig);
        let all: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.id != myself && n.link_up && !n.is(flags::HANDSHAKE))
            .map(|n| n.id)
            .collect();
        for node in all {
            let msg = self.build_ping(MsgType::Pong, Some(node));
            fx.push(Effect::Send { node, msg });
        }
    }
}

#[cfg(test)]
mod tests {
    //! Simulated clusters: every node is a `ClusterState`, messages are delivered in
    //! memory, time advances by ticks, and faults are values (a node down, a pair cut).

    use std::collections::{HashSet, VecDeque};

    use slotkv_keyslot::{NodeId, Slot};

    use super::*;
    use crate::state::{LinkInfo, Node, Settings};

    const TIMEOUT: i64 = 2000;

    struct Sim {
        nodes: Vec<ClusterState>,
        down: HashSet<usize>,
        cut: HashSet<(usize, usize)>,
        now: i64,
        /// Role changes the shells were asked for: (node index, effect).
        roles: Vec<(usize, Effect)>,
        paused: Vec<(usize, i64)>,
    }

    impl Sim {
        /// Three masters (0, 1, 2) with a third of the slots each, and one replica for
        /// each (3 → 0, 4 → 1, 5 → 2), every node knowing every other.
        fn six() -> Sim {
            Sim::with_replicas(&[0, 1, 2])
        }

        /// Three masters, and one replica per entry, of the master at that index.
        fn with_replicas(of: &[usize]) -> Sim {
            let ids: Vec<NodeId> = (0..3 + of.len()).map(|_| NodeId::random()).collect();
            let ranges = [(0u64, 5460u64), (5461, 10922), (10923, 16383)];
            let mut nodes = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let settings = Settings {
                    port: 7000 + i as u16,
                    cport: 17000 + i as u16,
                    node_timeout: TIMEOUT,
                    announce_ip: "127.0.0.1".into(),
                    ..Default::default()
                };
                let mut st = ClusterState::new(*id, settings, 0);
                for (j, other) in ids.iter().enumerate() {
                    let role = if j < 3 { flags::MASTER } else { flags::SLAVE };
                    if j != i {
                        let mut n = Node::new(*other, role, 0);
                        n.ip = "127.0.0.1".into();
                        n.port = 7000 + j as u16;
                        n.cport = 17000 + j as u16;
                        st.nodes.insert(*other, n);
                    }
                    let n = st.nodes.get_mut(other).unwrap();
                    n.flags = (n.flags & flags::MYSELF) | role;
                    if j >= 3 {
                        n.master = Some(ids[of[j - 3]]);
                    } else {
                        n.config_epoch = j as u64 + 1;
                    }
                }
                for (m, (a, b)) in ranges.iter().enumerate() {
                    for s in *a..=*b {
                        st.assign_slot(Slot::new(s).unwrap(), Some(ids[m]));
                    }
                }
                st.current_epoch = 3;
                nodes.push(st);
            }
            let mut sim = Sim {
                nodes,
                down: HashSet::new(),
                cut: HashSet::new(),
                now: 0,
                roles: Vec::new(),
                paused: Vec::new(),
            };
            sim.run(20);
            for st in &sim.nodes {
                assert!(st.state_ok, "cluster formed");
            }
            sim
        }

        fn id(&self, i: usize) -> NodeId {
            self.nodes[i].myself
        }

        fn index(&self, id: NodeId) -> Option<usize> {
            self.nodes.iter().position(|n| n.myself == id)
        }

        fn reachable(&self, a: usize, b: usize) -> bool {
            !self.down.contains(&a)
                && !self.down.contains(&b)
                && !self.cut.contains(&(a, b))
                && !self.cut.contains(&(b, a))
        }

        fn kill(&mut self, i: usize) {
            self.down.insert(i);
            let id = self.id(i);
            for st in &mut self.nodes {
                st.link_lost(id);
            }
        }

        /// The node comes back with the state it had (its nodes.conf), links down.
        fn restart(&mut self, i: usize) {
            self.down.remove(&i);
            let st = &mut self.nodes[i];
            for n in st.nodes.values_mut() {
                n.link_up = false;
                n.ping_sent = 0;
                n.pong_received = self.now;
            }
        }

        fn partition(&mut self, i: usize) {
            let id = self.id(i);
            for j in 0..self.nodes.len() {
                if j != i {
                    self.cut.insert((i, j));
                    let other = self.id(j);
                    self.nodes[j].link_lost(id);
                    self.nodes[i].link_lost(other);
                }
            }
        }

        fn deliver(&mut self, origin: usize, fx: Vec<Effect>) {
            let mut queue: VecDeque<(usize, Effect)> = fx.into_iter().map(|e| (origin, e)).collect();
            let mut guard = 0;
            while let Some((from, e)) = queue.pop_front() {
                guard += 1;
                assert!(guard < 100_000, "messages never settle");
                match e {
                    Effect::Connect { node, .. } => {
                        if let Some(t) = self.index(node) {
                            if self.reachable(from, t) {
                                let out = self.nodes[from].link_connected(node, self.now);
                                queue.extend(out.into_iter().map(|e| (from, e)));
                            }
                        }
                    }
                    Effect::Send { node, msg } => {
                        let Some(t) = self.index(node) else { continue };
                        if !self.reachable(from, t) {
                            continue;
                        }
                        let link = LinkInfo {
                            peer_ip: "127.0.0.1".into(),
                            local_ip: "127.0.0.1".into(),
                            outbound: None,
                        };
                        let now = self.now;
                        for r in self.nodes[t].handle(msg, &link, now) {
                            match r {
                                Effect::Reply(m) => {
                                    let back = LinkInfo {
                                        peer_ip: "127.0.0.1".into(),
                                        local_ip: "127.0.0.1".into(),
                                        outbound: Some(node),
                                    };
                                    let out = self.nodes[from].handle(m, &back, now);
                                    queue.extend(out.into_iter().map(|e| (from, e)));
                                }
                                other => queue.push_back((t, other)),
                            }
                        }
                    }
                    Effect::DropLink { node } => self.nodes[from].link_lost(node),
                    e @ (Effect::BecomeMaster | Effect::BecomeReplicaOf { .. }) => self.roles.push((from, e)),
                    Effect::PauseWrites { until } => self.paused.push((from, until)),
                    _ => {}
                }
            }
        }

        fn step(&mut self) {
            self.now += 100;
            for i in 0..self.nodes.len() {
                if !self.down.contains(&i) {
                    let fx = self.nodes[i].tick(self.now);
                    self.deliver(i, fx);
                }
            }
        }

        fn run(&mut self, ticks: usize) {
            for _ in 0..ticks {
                self.step();
            }
        }

        /// Steps until `f` holds; the number of ms it took, or None after `max_ms`.
        fn run_until(&mut self, max_ms: i64, f: impl Fn(&Sim) -> bool) -> Option<i64> {
            let start = self.now;
            while self.now - start <= max_ms {
                if f(self) {
                    return Some(self.now - start);
                }
                self.step();
            }
            None
        }

        fn dump(&self) -> String {
            let mut o = format!("now {}\n", self.now);
            for (i, st) in self.nodes.iter().enumerate() {
                o += &format!(
                    "node {i} (down {}) cur {} vote {} state_ok {} election {:?} manual {:?}\n",
                    self.down.contains(&i),
                    st.current_epoch,
                    st.last_vote_epoch,
                    st.state_ok,
                    st.election,
                    st.manual
                );
                for (j, other) in self.nodes.iter().enumerate() {
                    let n = &st.nodes[&other.myself];
                    o += &format!(
                        "   {j}: {} epoch {} slots {} link {} ping_sent {} pong {} reports {}\n",
                        n.flag_names(),
                        n.config_epoch,
                        n.slots.len(),
                        n.link_up,
                        n.ping_sent,
                        n.pong_received,
                        n.fail_reports.len()
                    );
                }
            }
            o
        }

        fn alive(&self) -> impl Iterator<Item = &ClusterState> {
            self.nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.down.contains(i))
                .map(|(_, n)| n)
        }
    }

    fn slot(n: u64) -> usize {
        Slot::new(n).unwrap().index()
    }

    #[test]
    fn replica_of_a_killed_master_is_elected_and_the_old_master_rejoins_as_its_replica() {
        let mut sim = Sim::six();
        let (old, new) = (sim.id(1), sim.id(4));
        sim.kill(1);
        let took = sim
            .run_until(20_000, |s| {
                s.alive().all(|st| {
                    st.owners[slot(6000)] == Some(new)
                        && st.nodes[&new].is_master()
                        && st.nodes[&old].failed()
                        && st.state_ok
                })
            })
            .unwrap_or_else(|| panic!("the replica takes over everywhere\n{}", sim.dump()));
        // Detection (node timeout) + FAIL + election delay (at most 1 s for rank 0).
        assert!(took <= TIMEOUT + 2000, "took {took} ms");
        let promoted = &sim.nodes[4];
        assert!(promoted.me().is_master() && promoted.me().master.is_none());
        assert_eq!(promoted.me().slots.len(), 5462);
        let epoch = promoted.me().config_epoch;
        assert!(epoch > 3, "a new config epoch: {epoch}");
        assert!(sim.alive().all(|st| st.nodes[&new].config_epoch == epoch));
        assert!(sim.roles.contains(&(4, Effect::BecomeMaster)));
        // Exactly one vote per master for that epoch.
        for m in [0, 2] {
            assert_eq!(sim.nodes[m].last_vote_epoch, epoch);
        }

        // The old master comes back with its stale configuration and follows the new one.
        sim.restart(1);
        sim.run_until(10_000, |s| {
            s.nodes[1].me().is_replica()
                && s.nodes[1].me().master == Some(new)
                && s.alive()
                    .all(|st| st.nodes[&old].master == Some(new) && !st.nodes[&old].failed())
        })
        .expect("the old master becomes a replica of the new one");
        assert!(sim
            .roles
            .iter()
            .any(|(i, e)| *i == 1 && matches!(e, Effect::BecomeReplicaOf { master, .. } if *master == new)));
        assert!(sim.nodes[1].me().slots.is_empty());
        assert!(sim.alive().all(|st| st.state_ok));
    }

    #[test]
    fn election_delay_grows_with_rank() {
        let sim = Sim::six();
        let (master, other) = (sim.id(0), sim.id(5));
        let mut st = sim.nodes[3].clone();
        // A second replica of the same master that is ahead of us.
        let o = st.nodes.get_mut(&other).unwrap();
        o.master = Some(master);
        o.repl_offset = 200;
        st.repl_offset = 100;
        assert_eq!(st.my_rank(master), 1);
        let now = sim.now;
        let m = st.nodes.get_mut(&master).unwrap();
        m.flags |= flags::FAIL;
        m.data_received = now;
        let mut fx = Vec::new();
        st.replica_failover(now, &mut fx);
        assert_eq!(st.election.rank, 1);
        let delay = st.election.auth_time - now;
        let (fixed, step) = (
            st.settings.election_fixed_delay_ms(),
            st.settings.election_rank_step_ms(),
        );
        assert!((fixed + step..2 * fixed + step).contains(&delay), "delay {delay}");
        // Once ahead, the rank does not improve the delay (only a worse rank adds to it).
        st.repl_offset = 300;
        st.nodes.get_mut(&other).unwrap().repl_offset = 400;
        st.nodes.get_mut(&sim.id(4)).unwrap().master = Some(master);
        st.nodes.get_mut(&sim.id(4)).unwrap().repl_offset = 500;
        st.replica_failover(now + 100, &mut fx);
        assert_eq!(st.election.rank, 2);
        assert_eq!(st.election.auth_time - now, delay + step);
        // Nothing was sent to the masters before the delay.
        assert!(!st.election.sent);
    }

    #[test]
    fn stale_data_or_no_failover_setting_prevent_the_election() {
        let sim = Sim::six();
        let master = sim.id(0);
        let mut st = sim.nodes[3].clone();
        let now = 1_000_000;
        let m = st.nodes.get_mut(&master).unwrap();
        m.flags |= flags::FAIL;
        m.data_received = now - (TIMEOUT * 10 + 10_000 + TIMEOUT + 1);
        let mut fx = Vec::new();
        st.replica_failover(now, &mut fx);
        assert_eq!(st.election.auth_time, 0, "data too old");
        assert_eq!(st.election.cant_reason, Some(CantFailover::DataAge));
        st.settings.replica_validity_factor = 0;
        st.replica_failover(now, &mut fx);
        assert!(st.election.auth_time > now, "factor 0 disables the check");
        let mut st = sim.nodes[3].clone();
        st.settings.replica_no_failover = true;
        st.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
        st.replica_failover(now, &mut fx);
        assert_eq!(st.election.auth_time, 0);
        st.failover_tick(now, &mut fx);
        assert!(st.me().is(flags::NOFAILOVER), "advertised");
        assert_eq!(st.election.auth_time, 0);
    }

    #[test]
    fn no_failover_flag_follows_the_replicas_setting_on_every_node() {
        let mut sim = Sim::six();
        let r = sim.id(3);
        let everywhere =
            |s: &Sim, on: bool| s.nodes.iter().all(|st| st.nodes[&r].is(flags::NOFAILOVER) == on);
        sim.nodes[3].settings.replica_no_failover = true;
        assert!(
            sim.run_until(10_000, |s| everywhere(s, true)).is_some(),
            "{}",
            sim.dump()
        );
        sim.nodes[3].settings.replica_no_failover = false;
        assert!(
            sim.run_until(10_000, |s| everywhere(s, false)).is_some(),
            "{}",
            sim.dump()
        );
    }

    fn auth_request(from: &ClusterState) -> Message {
        Message {
            header: from.header(MsgType::FailoverAuthRequest),
            body: Body::Empty,
        }
    }

    fn inbound() -> LinkInfo {
        LinkInfo {
            peer_ip: "127.0.0.1".into(),
            local_ip: "127.0.0.1".into(),
            outbound: None,
        }
    }

    fn acks(fx: &[Effect]) -> usize {
        fx.iter()
            .filter(
                |e| matches!(e, Effect::Send { msg, .. } if msg.header.msg_type == MsgType::FailoverAuthAck),
            )
            .count()
    }

    #[test]
    fn masters_vote_once_per_epoch_and_only_for_a_failed_master() {
        let sim = Sim::six();
        let now = sim.now + 10_000;
        let mut voter = sim.nodes[0].clone();
        let mut r4 = sim.nodes[4].clone();
        r4.current_epoch = 4;
        // Master 1 is up: no vote.
        assert_eq!(acks(&voter.handle(auth_request(&r4), &inbound(), now)), 0);
        voter.nodes.get_mut(&sim.id(1)).unwrap().flags |= flags::FAIL;
        assert_eq!(acks(&voter.handle(auth_request(&r4), &inbound(), now)), 1);
        assert_eq!(voter.last_vote_epoch, 4);
        // Same epoch again: no second vote.
        assert_eq!(acks(&voter.handle(auth_request(&r4), &inbound(), now)), 0);
        // A newer epoch, but within 2 × node timeout for the same master: refused.
        r4.current_epoch = 5;
        assert_eq!(acks(&voter.handle(auth_request(&r4), &inbound(), now + 100)), 0);
        // After the window it votes again.
        r4.current_epoch = 6;
        let later = now + TIMEOUT * 2 + 1;
        assert_eq!(acks(&voter.handle(auth_request(&r4), &inbound(), later)), 1);
        // A request from an older epoch than ours is ignored.
        voter.current_epoch = 10;
        r4.current_epoch = 9;
        voter.nodes.get_mut(&sim.id(1)).unwrap().voted_time = 0;
        assert_eq!(acks(&voter.handle(auth_request(&r4), &inbound(), later * 2)), 0);
        // A replica does not vote.
        let mut replica = sim.nodes[3].clone();
        replica.nodes.get_mut(&sim.id(1)).unwrap().flags |= flags::FAIL;
        r4.current_epoch = 20;
        assert_eq!(acks(&replica.handle(auth_request(&r4), &inbound(), now)), 0);
    }

    #[test]
    fn a_vote_is_refused_when_a_claimed_slot_has_a_newer_owner() {
        let sim = Sim::six();
        let mut voter = sim.nodes[0].clone();
        voter.nodes.get_mut(&sim.id(1)).unwrap().flags |= flags::FAIL;
        // Master 2 owns slot 6000 with a newer epoch than replica 4's master (2).
        let m2 = sim.id(2);
        voter.assign_slot(Slot::new(6000).unwrap(), Some(m2));
        let mut r4 = sim.nodes[4].clone();
        r4.current_epoch = 7;
        assert_eq!(acks(&voter.handle(auth_request(&r4), &inbound(), 50_000)), 0);
    }

    #[test]
    fn untrusted_auth_messages_from_unknown_nodes_are_ignored() {
        let sim = Sim::six();
        let mut voter = sim.nodes[0].clone();
        voter.nodes.get_mut(&sim.id(1)).unwrap().flags |= flags::FAIL;
        let mut stranger = sim.nodes[4].clone();
        stranger.myself = NodeId::random();
        let me = stranger.nodes.remove(&sim.id(4)).unwrap();
        stranger.nodes.insert(
            stranger.myself,
            Node {
                id: stranger.myself,
                ..me
            },
        );
        stranger.current_epoch = 9;
        assert_eq!(
            acks(&voter.handle(auth_request(&stranger), &inbound(), 50_000)),
            0
        );
        assert_eq!(voter.last_vote_epoch, 0);
        // An ACK from an unknown node does not count; one from a replica neither.
        let mut r = sim.nodes[3].clone();
        r.election.sent = true;
        r.election.epoch = 4;
        let mut ack = Message {
            header: stranger.header(MsgType::FailoverAuthAck),
            body: Body::Empty,
        };
        r.handle(ack.clone(), &inbound(), 50_000);
        ack.header = sim.nodes[5].header(MsgType::FailoverAuthAck);
        ack.header.current_epoch = 9;
        r.handle(ack, &inbound(), 50_000);
        assert!(r.election.voters.is_empty());
        // MFSTART from a node that is not our replica does nothing.
        let mut m0 = sim.nodes[0].clone();
        let mf = Message {
            header: sim.nodes[4].header(MsgType::MfStart),
            body: Body::Empty,
        };
        let fx = m0.handle(mf, &inbound(), 50_000);
        assert!(!fx.iter().any(|e| matches!(e, Effect::PauseWrites { .. })));
        assert_eq!(m0.manual.end, 0);
    }

    #[test]
    fn manual_failover_swaps_roles_through_a_paused_master() {
        let mut sim = Sim::six();
        let (m0, r3) = (sim.id(0), sim.id(3));
        for st in &mut sim.nodes {
            st.repl_offset = 1234;
        }
        assert_eq!(
            sim.nodes[0].start_manual_failover(ManualMode::Default, sim.now),
            Err(ManualFailoverError::NotReplica)
        );
        let now = sim.now;
        let fx = sim.nodes[3]
            .start_manual_failover(ManualMode::Default, now)
            .unwrap();
        sim.deliver(3, fx);
        assert!(sim.paused.iter().any(|(i, until)| *i == 0 && *until > now));
        assert_eq!(sim.nodes[3].manual.master_offset, Some(1234));
        sim.run_until(3000, |s| {
            s.nodes.iter().all(|st| {
                st.owners[slot(0)] == Some(r3)
                    && st.nodes[&r3].is_master()
                    && st.nodes[&m0].master == Some(r3)
            })
        })
        .unwrap_or_else(|| panic!("roles swap\n{}", sim.dump()));
        assert!(sim.nodes[0].me().is_replica());
        assert_eq!(sim.paused.last(), Some(&(0, 0)), "the old master resumed writes");
        assert_eq!(sim.nodes[0].manual.end, 0);
        assert!(sim.nodes.iter().all(|st| st.state_ok && !st.nodes[&m0].failed()));
    }

    #[test]
    fn manual_failover_waits_for_the_offset_and_times_out() {
        let mut sim = Sim::six();
        sim.nodes[0].repl_offset = 500;
        sim.nodes[3].repl_offset = 400;
        let fx = sim.nodes[3]
            .start_manual_failover(ManualMode::Default, sim.now)
            .unwrap();
        sim.deliver(3, fx);
        sim.run(20);
        assert!(
            sim.nodes[3].me().is_replica(),
            "behind the master: no election yet"
        );
        assert!(!sim.nodes[3].manual.can_start);
        sim.run(40);
        assert_eq!(sim.nodes[3].manual.end, 0, "timed out");
        assert_eq!(sim.nodes[0].manual.end, 0);
        assert_eq!(sim.paused.last(), Some(&(0, 0)));
        assert!(sim.nodes[0].me().is_master());
    }

    #[test]
    fn forced_failover_and_takeover_with_the_master_down() {
        let mut sim = Sim::six();
        let r3 = sim.id(3);
        sim.kill(0);
        sim.run(2);
        assert_eq!(
            sim.nodes[3].start_manual_failover(ManualMode::Default, sim.now),
            Err(ManualFailoverError::MasterDown)
        );
        let fx = sim.nodes[3]
            .start_manual_failover(ManualMode::Force, sim.now)
            .unwrap();
        sim.deliver(3, fx);
        sim.run_until(3000, |s| s.alive().all(|st| st.owners[slot(0)] == Some(r3)))
            .expect("FORCE wins an election although the master is not failed yet");

        let mut sim = Sim::six();
        let r5 = sim.id(5);
        let now = sim.now;
        let fx = sim.nodes[5]
            .start_manual_failover(ManualMode::Takeover, now)
            .unwrap();
        assert!(sim.nodes[5].me().is_master());
        assert_eq!(sim.nodes[5].me().config_epoch, 4);
        sim.deliver(5, fx);
        sim.run(5);
        assert!(sim.nodes.iter().all(|st| st.owners[slot(16000)] == Some(r5)));
        assert!(sim.nodes[2].me().is_replica() && sim.nodes[2].me().master == Some(r5));
        // No votes were asked for.
        assert!(sim.nodes.iter().all(|st| st.last_vote_epoch == 0));

        let mut st = sim.nodes[0].clone();
        st.me_mut().flags = flags::MYSELF | flags::SLAVE;
        st.me_mut().master = None;
        assert_eq!(
            st.start_manual_failover(ManualMode::Force, 0),
            Err(ManualFailoverError::MasterUnknown)
        );
    }

    #[test]
    fn a_master_cut_off_from_the_majority_stops_serving() {
        let mut sim = Sim::six();
        sim.partition(0);
        sim.run_until(TIMEOUT + 1000, |s| !s.nodes[0].state_ok)
            .expect("the minority master turns its state to fail");
        // Meanwhile the majority fails it over.
        let r3 = sim.id(3);
        sim.run_until(10_000, |s| {
            (1..6).all(|i| s.nodes[i].owners[slot(0)] == Some(r3) && s.nodes[i].state_ok)
        })
        .expect("the majority side fails over");
        assert!(!sim.nodes[0].state_ok);
        // Healed: the old master learns it lost its slots and follows the new master.
        sim.cut.clear();
        sim.run_until(10_000, |s| {
            s.nodes[0].me().master == Some(r3) && s.nodes[0].state_ok
        })
        .expect("healed");
    }

    #[test]
    fn a_spare_replica_migrates_to_an_orphaned_master() {
        // Master 0 has two replicas (3 and 6); master 2 has one (5).
        let mut sim = Sim::with_replicas(&[0, 1, 2, 0]);
        let m2 = sim.id(2);
        let spare = if sim.id(3) < sim.id(6) { 3 } else { 6 };
        let stays = 9 - spare;
        sim.kill(5);
        sim.run_until(20_000, |s| {
            s.alive().all(|st| st.nodes[&s.id(spare)].master == Some(m2))
        })
        .unwrap_or_else(|| panic!("the spare replica migrates\n{}", sim.dump()));
        assert!(sim.nodes[spare].me().is_replica());
        assert!(sim.roles.iter().any(
            |(i, e)| *i == spare && matches!(e, Effect::BecomeReplicaOf { master, .. } if *master == m2)
        ));
        assert_eq!(sim.nodes[stays].me().master, Some(sim.id(0)), "only one migrates");
        // With a barrier of 2, master 0's two replicas both stay.
        let mut sim = Sim::with_replicas(&[0, 1, 2, 0]);
        for st in &mut sim.nodes {
            st.settings.migration_barrier = 2;
        }
        sim.kill(5);
        sim.run(150);
        assert_eq!(sim.nodes[3].me().master, Some(sim.id(0)));
        assert_eq!(sim.nodes[6].me().master, Some(sim.id(0)));
    }
}
