//! The cluster bus message format (types only here; the codec is being written).

use slotkv_keyslot::{Epoch, NodeId, SlotSet};

/// Node flags as carried on the bus and printed by CLUSTER NODES.
pub mod flags {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Ping,
    Pong,
    Meet,
    Fail,
    Publish,
    PublishShard,
    FailoverAuthRequest,
    FailoverAuthAck,
    Update,
    MfStart,
    Module,
    Unknown(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub msg_type: MsgType,
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    pub current_epoch: Epoch,
    pub config_epoch: Epoch,
    pub offset: u64,
    pub sender: NodeId,
    pub myslots: SlotSet,
    pub slaveof: Option<NodeId>,
    pub myip: String,
    pub flags: u16,
    pub state_fail: bool,
    pub mflags: [u8; 3],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipEntry {
    pub node: NodeId,
    pub ping_sent: u32,
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub pport: u16,
    pub flags: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingExt {
    Hostname(String),
    ForgottenNode { node: NodeId, ttl_secs: u64 },
    ShardId([u8; 40]),
    Unknown { ext_type: u16, data: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Gossip {
        entries: Vec<GossipEntry>,
        extensions: Vec<PingExt>,
    },
    Fail {
        node: NodeId,
    },
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    Update {
        config_epoch: Epoch,
        node: NodeId,
        slots: SlotSet,
    },
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}
