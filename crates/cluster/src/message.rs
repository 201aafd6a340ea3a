//! The cluster bus message format, byte-compatible with Redis 7.0 (and tolerant of the
//! 7.2 ping extensions).
//!
//! Every message starts with a fixed 2256-byte header; integers are big endian. Offsets:
//!
//! | off  | size | field                                           |
//! |------|------|-------------------------------------------------|
//! | 0    | 4    | signature `RCmb`                                |
//! | 4    | 4    | totlen (whole message, header included)         |
//! | 8    | 2    | protocol version (1)                            |
//! | 10   | 2    | client port                                     |
//! | 12   | 2    | message type                                    |
//! | 14   | 2    | count (gossip entries in PING/PONG/MEET)        |
//! | 16   | 8    | currentEpoch                                    |
//! | 24   | 8    | configEpoch                                     |
//! | 32   | 8    | replication offset                              |
//! | 40   | 40   | sender node id                                  |
//! | 80   | 2048 | slot bitmap of the sender (or of its master)    |
//! | 2128 | 40   | master id, all zero for a master                |
//! | 2168 | 46   | sender ip, NUL terminated, all zero = "unknown" |
//! | 2214 | 2    | number of ping extensions                       |
//! | 2216 | 30   | reserved                                        |
//! | 2246 | 2    | plaintext port (when the client port is TLS)    |
//! | 2248 | 2    | cluster bus port                                |
//! | 2250 | 2    | node flags ([`flags`])                          |
//! | 2252 | 1    | cluster state (0 ok, 1 fail)                    |
//! | 2253 | 3    | message flags ([`mflags`])                      |
//! | 2256 | ...  | body                                            |
//!
//! Bodies: PING/PONG/MEET carry `count` 104-byte gossip entries, then (only when
//! `mflags[0]` has [`mflags::EXT_DATA`]) `extensions` ping extensions, each an 8-byte
//! header (u32 total length, u16 type, u16 padding) and data padded to a multiple of 8.
//! FAIL carries a node id; PUBLISH/PUBLISHSHARD two u32 lengths then channel and message;
//! UPDATE a configEpoch, a node id and a slot bitmap; MODULE a u64 module id, u32 length,
//! u8 type and the payload; FAILOVER_AUTH_REQUEST/ACK and MFSTART nothing. As in Redis, the
//! total length must match the body exactly.
//!
//! [`decode`] is sans-IO framing over untrusted bytes: it never panics and never allocates
//! more than the bytes it was given.

use slotkv_keyslot::{Epoch, NodeId, SlotSet, SLOTS};

/// Size of the fixed header (Redis's `CLUSTERMSG_MIN_LEN`).
pub const MIN_HEADER_LEN: usize = 2256;
/// Largest total length accepted from a peer (a PUBLISH can be large; a length above this
/// is garbage or hostile).
pub const MAX_MESSAGE_LEN: usize = 1 << 30;
/// Size of one gossip entry.
pub const GOSSIP_ENTRY_LEN: usize = 104;
/// Cluster bus protocol version.
pub const PROTO_VER: u16 = 1;
/// The four signature bytes.
pub const SIGNATURE: &[u8; 4] = b"RCmb";

const NAMELEN: usize = 40;
const IPLEN: usize = 46;
const SLOTS_LEN: usize = SLOTS / 8;
const EXT_HEADER_LEN: usize = 8;
const UPDATE_LEN: usize = 8 + NAMELEN + SLOTS_LEN;
const MODULE_HEADER_LEN: usize = 13;

/// Node flags as carried in the header and in gossip entries (Redis's `CLUSTER_NODE_*`).
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

/// Bits of `mflags[0]`.
pub mod mflags {
    /// The sending master is paused for a manual failover.
    pub const PAUSED: u8 = 1;
    /// Vote for this failover auth request even if the master is up.
    pub const FORCEACK: u8 = 2;
    /// PING/PONG/MEET: ping extensions follow the gossip entries.
    pub const EXT_DATA: u8 = 4;
}

/// Ping extension type numbers (0 is the only one Redis 7.0 sends; 1-3 are 7.2's).
pub mod ext_type {
    pub const HOSTNAME: u16 = 0;
    pub const HUMAN_NODENAME: u16 = 1;
    pub const FORGOTTEN_NODE: u16 = 2;
    pub const SHARD_ID: u16 = 3;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    Ping,
    Pong,
    Meet,
    Fail,
    Publish,
    FailoverAuthRequest,
    FailoverAuthAck,
    Update,
    MfStart,
    Module,
    PublishShard,
    Unknown(u16),
}

impl MsgType {
    pub fn from_wire(n: u16) -> MsgType {
        match n {
            0 => MsgType::Ping,
            1 => MsgType::Pong,
            2 => MsgType::Meet,
            3 => MsgType::Fail,
            4 => MsgType::Publish,
            5 => MsgType::FailoverAuthRequest,
            6 => MsgType::FailoverAuthAck,
            7 => MsgType::Update,
            8 => MsgType::MfStart,
            9 => MsgType::Module,
            10 => MsgType::PublishShard,
            n => MsgType::Unknown(n),
        }
    }

    pub fn to_wire(self) -> u16 {
        match self {
            MsgType::Ping => 0,
            MsgType::Pong => 1,
            MsgType::Meet => 2,
            MsgType::Fail => 3,
            MsgType::Publish => 4,
            MsgType::FailoverAuthRequest => 5,
            MsgType::FailoverAuthAck => 6,
            MsgType::Update => 7,
            MsgType::MfStart => 8,
            MsgType::Module => 9,
            MsgType::PublishShard => 10,
            MsgType::Unknown(n) => n,
        }
    }

    /// PING, PONG and MEET share one layout (gossip + extensions).
    pub fn is_gossip(self) -> bool {
        matches!(self, MsgType::Ping | MsgType::Pong | MsgType::Meet)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub msg_type: MsgType,
    /// Client port (the TLS port when TLS is on).
    pub port: u16,
    /// Plaintext client port when `port` is TLS, else 0.
    pub pport: u16,
    /// Cluster bus port.
    pub cport: u16,
    pub current_epoch: Epoch,
    pub config_epoch: Epoch,
    /// Replication offset.
    pub offset: u64,
    pub sender: NodeId,
    /// Slots of the sender if it is a master, of its master if it is a replica.
    pub myslots: SlotSet,
    /// `None` for a master (all-zero on the wire).
    pub slaveof: Option<NodeId>,
    /// The sender's own idea of its IP; "" (all zero on the wire) lets the receiver use the
    /// connection's peer address.
    pub myip: String,
    /// `flags::*` bits.
    pub flags: u16,
    /// Cluster state from the sender's point of view: true = fail.
    pub state_fail: bool,
    /// Message flags; see [`mflags`]. [`encode`] sets `EXT_DATA` when extensions are sent.
    pub mflags: [u8; 3],
}

impl Header {
    /// A header with zero epochs/ports/offset, no slots, master flag, no ip.
    pub fn new(msg_type: MsgType, sender: NodeId) -> Header {
        Header {
            msg_type,
            port: 0,
            pport: 0,
            cport: 0,
            current_epoch: 0,
            config_epoch: 0,
            offset: 0,
            sender,
            myslots: SlotSet::new(),
            slaveof: None,
            myip: String::new(),
            flags: flags::MASTER,
            state_fail: false,
            mflags: [0; 3],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipEntry {
    pub node: NodeId,
    /// Seconds (unix time) of the last ping sent, as the sender knows it.
    pub ping_sent: u32,
    /// Seconds (unix time) of the last pong received.
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub pport: u16,
    pub flags: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingExt {
    /// Type 0: the announced hostname (Redis 7.0+).
    Hostname(String),
    /// Type 2 (7.2): a node the sender forgot, not to be re-added for `ttl_secs`.
    ForgottenNode { node: NodeId, ttl_secs: u64 },
    /// Type 3 (7.2): the sender's shard id (40 bytes, hex in practice).
    ShardId([u8; 40]),
    /// Anything else (including 7.2's human node name, type 1): data as sent, padding
    /// included.
    Unknown { ext_type: u16, data: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// PING, PONG, MEET.
    Gossip {
        entries: Vec<GossipEntry>,
        extensions: Vec<PingExt>,
    },
    Fail {
        node: NodeId,
    },
    /// PUBLISH and PUBLISHSHARD.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    Update {
        config_epoch: Epoch,
        node: NodeId,
        slots: SlotSet,
    },
    /// FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK, MFSTART.
    Empty,
    Module {
        module_id: u64,
        module_type: u8,
        payload: Vec<u8>,
    },
    /// A type this crate does not know: the bytes after the header.
    Raw(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("bad signature (not RCmb)")]
    BadSignature,
    /// totlen below the header size, above [`MAX_MESSAGE_LEN`], or not the size the body
    /// needs.
    #[error("bad message length {0}")]
    BadLength(u32),
    /// The counted content (gossip entries, extensions, publish/module payload) does not fit
    /// in the message.
    #[error("message content exceeds its length")]
    Truncated,
    /// Redis ignores such messages; this crate refuses them.
    #[error("unsupported bus protocol version {0}")]
    BadVersion(u16),
    #[error("node id is not 40 hex characters")]
    BadNodeId,
    #[error("malformed ping extension")]
    BadExtension,
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A NUL-terminated string in a fixed field: at most `len - 1` bytes (cut at a character
/// boundary), zero filled.
fn put_cstr(out: &mut Vec<u8>, s: &str, len: usize) {
    let mut n = s.len().min(len - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    let b = &s.as_bytes()[..n];
    out.extend_from_slice(b);
    out.resize(out.len() + (len - b.len()), 0);
}

fn pad8(out: &mut Vec<u8>, start: usize) {
    let n = out.len() - start;
    out.resize(start + n.div_ceil(8) * 8, 0);
}

fn encode_ext(out: &mut Vec<u8>, ext: &PingExt) {
    let start = out.len();
    out.extend_from_slice(&[0; EXT_HEADER_LEN]);
    let t = match ext {
        PingExt::Hostname(h) => {
            // NUL terminated; a NUL inside the name would end it early anyway.
            out.extend_from_slice(h.as_bytes());
            out.push(0);
            ext_type::HOSTNAME
        }
        PingExt::ForgottenNode { node, ttl_secs } => {
            out.extend_from_slice(node.as_bytes());
            put_u64(out, *ttl_secs);
            ext_type::FORGOTTEN_NODE
        }
        PingExt::ShardId(id) => {
            out.extend_from_slice(id);
            ext_type::SHARD_ID
        }
        PingExt::Unknown { ext_type, data } => {
            out.extend_from_slice(data);
            *ext_type
        }
    };
    pad8(out, start);
    let len = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4..start + 6].copy_from_slice(&t.to_be_bytes());
}

/// Serialises a message. `count`, `extensions`, `totlen` and the `EXT_DATA` flag are
/// derived from the body. The body should match `header.msg_type` (a PING with a FAIL body
/// encodes, but no peer will accept it). At most 65535 gossip entries and extensions are
/// written.
pub fn encode(msg: &Message) -> Vec<u8> {
    let h = &msg.header;
    let mut out = Vec::with_capacity(MIN_HEADER_LEN + 256);
    let mut mf = h.mflags;
    let (count, nexts) = match &msg.body {
        Body::Gossip { entries, extensions } => {
            let n = extensions.len().min(u16::MAX as usize);
            if n > 0 {
                mf[0] |= mflags::EXT_DATA;
            }
            (entries.len().min(u16::MAX as usize) as u16, n as u16)
        }
        _ => (0, 0),
    };
    out.extend_from_slice(SIGNATURE);
    put_u32(&mut out, 0); // totlen, patched below
    put_u16(&mut out, PROTO_VER);
    put_u16(&mut out, h.port);
    put_u16(&mut out, h.msg_type.to_wire());
    put_u16(&mut out, count);
    put_u64(&mut out, h.current_epoch);
    put_u64(&mut out, h.config_epoch);
    put_u64(&mut out, h.offset);
    out.extend_from_slice(h.sender.as_bytes());
    out.extend_from_slice(h.myslots.as_bytes());
    match &h.slaveof {
        Some(m) => out.extend_from_slice(m.as_bytes()),
        None => out.extend_from_slice(&[0; NAMELEN]),
    }
    put_cstr(&mut out, &h.myip, IPLEN);
    put_u16(&mut out, nexts);
    out.extend_from_slice(&[0; 30]);
    put_u16(&mut out, h.pport);
    put_u16(&mut out, h.cport);
    put_u16(&mut out, h.flags);
    out.push(u8::from(h.state_fail));
    out.extend_from_slice(&mf);
    debug_assert_eq!(out.len(), MIN_HEADER_LEN);

    match &msg.body {
        Body::Gossip { entries, extensions } => {
            for e in entries.iter().take(count as usize) {
                out.extend_from_slice(e.node.as_bytes());
                put_u32(&mut out, e.ping_sent);
                put_u32(&mut out, e.pong_received);
                put_cstr(&mut out, &e.ip, IPLEN);
                put_u16(&mut out, e.port);
                put_u16(&mut out, e.cport);
                put_u16(&mut out, e.flags);
                put_u16(&mut out, e.pport);
                put_u16(&mut out, 0);
            }
            for x in extensions.iter().take(nexts as usize) {
                encode_ext(&mut out, x);
            }
        }
        Body::Fail { node } => out.extend_from_slice(node.as_bytes()),
        Body::Publish { channel, message } => {
            put_u32(&mut out, channel.len() as u32);
            put_u32(&mut out, message.len() as u32);
            out.extend_from_slice(channel);
            out.extend_from_slice(message);
        }
        Body::Update {
            config_epoch,
            node,
            slots,
        } => {
            put_u64(&mut out, *config_epoch);
            out.extend_from_slice(node.as_bytes());
            out.extend_from_slice(slots.as_bytes());
        }
        Body::Empty => {}
        Body::Module {
            module_id,
            module_type,
            payload,
        } => {
            put_u64(&mut out, *module_id);
            put_u32(&mut out, payload.len() as u32);
            out.push(*module_type);
            out.extend_from_slice(payload);
        }
        Body::Raw(data) => out.extend_from_slice(data),
    }
    let totlen = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[4..8].copy_from_slice(&totlen.to_be_bytes());
    out
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Bounds-checked big-endian reads over one message.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&self, at: usize, n: usize) -> Result<&'a [u8], BusError> {
        at.checked_add(n)
            .and_then(|end| self.buf.get(at..end))
            .ok_or(BusError::Truncated)
    }
    fn array<const N: usize>(&self, at: usize) -> Result<&'a [u8; N], BusError> {
        self.bytes(at, N)?.try_into().map_err(|_| BusError::Truncated)
    }
    fn u8(&self, at: usize) -> Result<u8, BusError> {
        Ok(self.array::<1>(at)?[0])
    }
    fn u16(&self, at: usize) -> Result<u16, BusError> {
        Ok(u16::from_be_bytes(*self.array(at)?))
    }
    fn u32(&self, at: usize) -> Result<u32, BusError> {
        Ok(u32::from_be_bytes(*self.array(at)?))
    }
    fn u64(&self, at: usize) -> Result<u64, BusError> {
        Ok(u64::from_be_bytes(*self.array(at)?))
    }
    fn node_id(&self, at: usize) -> Result<NodeId, BusError> {
        NodeId::from_wire(self.array(at)?).ok_or(BusError::BadNodeId)
    }
    fn slots(&self, at: usize) -> Result<SlotSet, BusError> {
        Ok(SlotSet::from_bytes(self.array(at)?))
    }
    fn cstr(&self, at: usize, n: usize) -> Result<String, BusError> {
        Ok(cstr(self.bytes(at, n)?))
    }
}

/// Bytes up to the first NUL (or all of them), as text.
fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Reads the total length of the message at the start of `buf`, once 8 bytes are there:
/// `Ok(None)` if fewer, an error if the signature or the length is unacceptable.
pub fn peek_len(buf: &[u8]) -> Result<Option<usize>, BusError> {
    if buf.len() < 8 {
        // Reject a wrong signature as early as it shows.
        let n = buf.len().min(4);
        if buf[..n] != SIGNATURE[..n] {
            return Err(BusError::BadSignature);
        }
        return Ok(None);
    }
    if &buf[..4] != SIGNATURE {
        return Err(BusError::BadSignature);
    }
    let totlen = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let len = totlen as usize;
    if !(MIN_HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(BusError::BadLength(totlen));
    }
    Ok(Some(len))
}

/// Decodes the message at the start of `buf`. `Ok(None)`: not all of it has arrived yet;
/// `Ok(Some((msg, used)))`: one message, `used` bytes long; `Err`: malformed, close the
/// link.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, BusError> {
    let Some(len) = peek_len(buf)? else {
        return Ok(None);
    };
    if buf.len() < len {
        return Ok(None);
    }
    decode_exact(&buf[..len]).map(|m| Some((m, len)))
}

/// Decodes exactly one whole message (`buf.len()` must be its totlen).
fn decode_exact(buf: &[u8]) -> Result<Message, BusError> {
    let r = Reader { buf };
    let totlen = buf.len();
    let ver = r.u16(8)?;
    if ver != PROTO_VER {
        return Err(BusError::BadVersion(ver));
    }
    let msg_type = MsgType::from_wire(r.u16(12)?);
    let count = r.u16(14)? as usize;
    let slaveof_raw: &[u8; NAMELEN] = r.array(2128)?;
    let slaveof = if NodeId::is_null_wire(slaveof_raw) {
        None
    } else {
        Some(NodeId::from_wire(slaveof_raw).ok_or(BusError::BadNodeId)?)
    };
    let header = Header {
        msg_type,
        port: r.u16(10)?,
        pport: r.u16(2246)?,
        cport: r.u16(2248)?,
        current_epoch: r.u64(16)?,
        config_epoch: r.u64(24)?,
        offset: r.u64(32)?,
        sender: r.node_id(40)?,
        myslots: r.slots(80)?,
        slaveof,
        myip: r.cstr(2168, IPLEN)?,
        flags: r.u16(2250)?,
        state_fail: r.u8(2252)? != 0,
        mflags: *r.array(2253)?,
    };
    let nexts = r.u16(2214)? as usize;
    let bad_len = || BusError::BadLength(totlen as u32);
    let at = MIN_HEADER_LEN;
    let body_len = totlen - at;
    let (body, used) = match msg_type {
        MsgType::Ping | MsgType::Pong | MsgType::Meet => {
            let gossip_len = count
                .checked_mul(GOSSIP_ENTRY_LEN)
                .filter(|&n| n <= body_len)
                .ok_or(BusError::Truncated)?;
            // Capacity bounded by the bytes present (checked just above).
            let mut entries = Vec::with_capacity(count);
            for i in 0..count {
                let p = at + i * GOSSIP_ENTRY_LEN;
                entries.push(GossipEntry {
                    node: r.node_id(p)?,
                    ping_sent: r.u32(p + 40)?,
                    pong_received: r.u32(p + 44)?,
                    ip: r.cstr(p + 48, IPLEN)?,
                    port: r.u16(p + 94)?,
                    cport: r.u16(p + 96)?,
                    flags: r.u16(p + 98)?,
                    pport: r.u16(p + 100)?,
                });
            }
            let mut p = at + gossip_len;
            let mut extensions = Vec::new();
            if header.mflags[0] & mflags::EXT_DATA != 0 {
                for _ in 0..nexts {
                    let (ext, n) = decode_ext(&r, p, totlen)?;
                    extensions.push(ext);
                    p += n;
                }
            }
            (Body::Gossip { entries, extensions }, p - at)
        }
        MsgType::Fail => (Body::Fail { node: r.node_id(at)? }, NAMELEN),
        MsgType::Publish | MsgType::PublishShard => {
            let clen = r.u32(at)? as usize;
            let mlen = r.u32(at + 4)? as usize;
            let need = 8usize
                .checked_add(clen)
                .and_then(|n| n.checked_add(mlen))
                .filter(|&n| n <= body_len)
                .ok_or(BusError::Truncated)?;
            (
                Body::Publish {
                    channel: r.bytes(at + 8, clen)?.to_vec(),
                    message: r.bytes(at + 8 + clen, mlen)?.to_vec(),
                },
                need,
            )
        }
        MsgType::Update => (
            Body::Update {
                config_epoch: r.u64(at)?,
                node: r.node_id(at + 8)?,
                slots: r.slots(at + 8 + NAMELEN)?,
            },
            UPDATE_LEN,
        ),
        MsgType::FailoverAuthRequest | MsgType::FailoverAuthAck | MsgType::MfStart => (Body::Empty, 0),
        MsgType::Module => {
            let module_id = r.u64(at)?;
            let plen = r.u32(at + 8)? as usize;
            let module_type = r.u8(at + 12)?;
            let need = MODULE_HEADER_LEN
                .checked_add(plen)
                .filter(|&n| n <= body_len)
                .ok_or(BusError::Truncated)?;
            (
                Body::Module {
                    module_id,
                    module_type,
                    payload: r.bytes(at + MODULE_HEADER_LEN, plen)?.to_vec(),
                },
                need,
            )
        }
        MsgType::Unknown(_) => (Body::Raw(buf[at..].to_vec()), body_len),
    };
    if used != body_len {
        return Err(bad_len());
    }
    Ok(Message { header, body })
}

/// One ping extension at `p`; returns it and its length on the wire.
fn decode_ext(r: &Reader<'_>, p: usize, totlen: usize) -> Result<(PingExt, usize), BusError> {
    let len = r.u32(p)? as usize;
    let t = r.u16(p + 4)?;
    if len < EXT_HEADER_LEN || len & 7 != 0 {
        return Err(BusError::BadExtension);
    }
    if len > totlen - p {
        return Err(BusError::Truncated);
    }
    let data = r.bytes(p + EXT_HEADER_LEN, len - EXT_HEADER_LEN)?;
    let ext = match t {
        ext_type::HOSTNAME => PingExt::Hostname(cstr(data)),
        ext_type::FORGOTTEN_NODE => {
            let id: &[u8; NAMELEN] = data
                .get(..NAMELEN)
                .and_then(|b| b.try_into().ok())
                .ok_or(BusError::BadExtension)?;
            let ttl: [u8; 8] = data
                .get(NAMELEN..NAMELEN + 8)
                .and_then(|b| b.try_into().ok())
                .ok_or(BusError::BadExtension)?;
            PingExt::ForgottenNode {
                node: NodeId::from_wire(id).ok_or(BusError::BadNodeId)?,
                ttl_secs: u64::from_be_bytes(ttl),
            }
        }
        ext_type::SHARD_ID => PingExt::ShardId(
            data.get(..NAMELEN)
                .and_then(|b| b.try_into().ok())
                .ok_or(BusError::BadExtension)?,
        ),
        ext_type => PingExt::Unknown {
            ext_type,
            data: data.to_vec(),
        },
    };
    Ok((ext, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotkv_keyslot::Slot;

    fn sample() -> Message {
        let mut h = Header::new(MsgType::Ping, NodeId::random());
        h.port = 7000;
        h.cport = 17000;
        h.current_epoch = 5;
        h.config_epoch = 3;
        h.myip = "127.0.0.1".into();
        for s in 0..=100 {
            h.myslots.insert(Slot::new(s).unwrap());
        }
        Message {
            header: h,
            body: Body::Gossip {
                entries: vec![GossipEntry {
                    node: NodeId::random(),
                    ping_sent: 1,
                    pong_received: 2,
                    ip: "10.0.0.1".into(),
                    port: 7001,
                    cport: 17001,
                    pport: 0,
                    flags: flags::MASTER,
                }],
                extensions: vec![PingExt::Hostname("host-a".into())],
            },
        }
    }

    #[test]
    fn layout_offsets() {
        let m = sample();
        let b = encode(&m);
        assert_eq!(&b[..4], b"RCmb");
        assert_eq!(b.len(), MIN_HEADER_LEN + GOSSIP_ENTRY_LEN + 16);
        assert_eq!(u32::from_be_bytes(b[4..8].try_into().unwrap()) as usize, b.len());
        assert_eq!(&b[8..10], &[0, 1]);
        assert_eq!(u16::from_be_bytes([b[10], b[11]]), 7000);
        assert_eq!(u16::from_be_bytes([b[14], b[15]]), 1);
        assert_eq!(&b[40..80], m.header.sender.as_bytes());
        assert_eq!(&b[2168..2177], b"127.0.0.1");
        assert_eq!(u16::from_be_bytes([b[2214], b[2215]]), 1);
        assert_eq!(u16::from_be_bytes([b[2248], b[2249]]), 17000);
        assert_eq!(b[2253], mflags::EXT_DATA);
        // The extension: length 16, type 0, "host-a\0" padded.
        let e = MIN_HEADER_LEN + GOSSIP_ENTRY_LEN;
        assert_eq!(&b[e..e + 8], &[0, 0, 0, 16, 0, 0, 0, 0]);
        assert_eq!(&b[e + 8..e + 16], b"host-a\0\0");
        let (d, used) = decode(&b).unwrap().unwrap();
        assert_eq!(used, b.len());
        let mut want = m;
        want.header.mflags[0] |= mflags::EXT_DATA;
        assert_eq!(d, want);
    }

    #[test]
    fn partial_input_needs_more() {
        let b = encode(&sample());
        for n in 0..b.len() {
            assert_eq!(decode(&b[..n]), Ok(None), "prefix {n}");
        }
        let mut two = b.clone();
        two.extend_from_slice(&b);
        let (_, used) = decode(&two).unwrap().unwrap();
        assert_eq!(used, b.len());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode(b"XCmb"), Err(BusError::BadSignature));
        assert_eq!(decode(b"RCmb\0\0\0\x10"), Err(BusError::BadLength(16)));
        assert_eq!(
            decode(b"RCmb\xff\xff\xff\xff"),
            Err(BusError::BadLength(u32::MAX))
        );
        let mut b = encode(&sample());
        b[15] = 200; // count too large for totlen
        assert_eq!(decode(&b), Err(BusError::Truncated));
        let mut b = encode(&sample());
        b[9] = 2;
        assert_eq!(decode(&b), Err(BusError::BadVersion(2)));
        let mut b = encode(&sample());
        b[40] = b'z';
        assert_eq!(decode(&b), Err(BusError::BadNodeId));
        // Trailing bytes inside totlen.
        let mut b = encode(&Message {
            header: Header::new(MsgType::FailoverAuthAck, NodeId::random()),
            body: Body::Empty,
        });
        b.extend_from_slice(&[0; 8]);
        let n = b.len() as u32;
        b[4..8].copy_from_slice(&n.to_be_bytes());
        assert_eq!(decode(&b), Err(BusError::BadLength(n)));
    }
}
