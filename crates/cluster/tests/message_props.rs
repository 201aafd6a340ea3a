//! Property tests: every message round-trips through encode/decode, and decode never
//! panics on arbitrary or corrupted bytes.

use proptest::prelude::*;
use slotkv_cluster::message::{
    decode, encode, mflags, Body, GossipEntry, Header, Message, MsgType, PingExt, MIN_HEADER_LEN,
};
use slotkv_keyslot::{NodeId, Slot, SlotSet};

fn node_id() -> impl Strategy<Value = NodeId> {
    "[0-9a-f]{40}".prop_map(|s| NodeId::parse(s.as_bytes()).unwrap())
}

fn slot_set() -> impl Strategy<Value = SlotSet> {
    prop::collection::vec(0u16..16384, 0..64).prop_map(|v| {
        let mut s = SlotSet::new();
        for n in v {
            s.insert(Slot::new(n.into()).unwrap());
        }
        s
    })
}

/// Strings as they survive a fixed 46-byte NUL-terminated field.
fn ip() -> impl Strategy<Value = String> {
    "[0-9a-fA-F.:]{0,45}"
}

fn ext() -> impl Strategy<Value = PingExt> {
    prop_oneof![
        "[a-z0-9.-]{0,80}".prop_map(PingExt::Hostname),
        (node_id(), any::<u64>()).prop_map(|(node, ttl_secs)| PingExt::ForgottenNode { node, ttl_secs }),
        prop::array::uniform32(any::<u8>()).prop_map(|a| {
            let mut id = [b'0'; 40];
            id[..32].copy_from_slice(&a);
            PingExt::ShardId(id)
        }),
        (
            any::<u16>().prop_filter("known type", |t| ![0, 2, 3].contains(t)),
            prop::collection::vec(any::<u8>(), 0..5)
        )
            .prop_map(|(ext_type, words)| PingExt::Unknown {
                ext_type,
                data: words.iter().flat_map(|&b| [b; 8]).collect(),
            }),
    ]
}

fn gossip_entry() -> impl Strategy<Value = GossipEntry> {
    (
        node_id(),
        any::<(u32, u32)>(),
        ip(),
        any::<(u16, u16, u16, u16)>(),
    )
        .prop_map(
            |(node, (ping_sent, pong_received), ip, (port, cport, pport, flags))| GossipEntry {
                node,
                ping_sent,
                pong_received,
                ip,
                port,
                cport,
                pport,
                flags,
            },
        )
}

fn body_for(t: MsgType) -> BoxedStrategy<Body> {
    match t {
        MsgType::Ping | MsgType::Pong | MsgType::Meet => (
            prop::collection::vec(gossip_entry(), 0..6),
            prop::collection::vec(ext(), 0..5),
        )
            .prop_map(|(entries, extensions)| Body::Gossip { entries, extensions })
            .boxed(),
        MsgType::Fail => node_id().prop_map(|node| Body::Fail { node }).boxed(),
        MsgType::Publish | MsgType::PublishShard => (
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(channel, message)| Body::Publish { channel, message })
            .boxed(),
        MsgType::Update => (any::<u64>(), node_id(), slot_set())
            .prop_map(|(config_epoch, node, slots)| Body::Update {
                config_epoch,
                node,
                slots,
            })
            .boxed(),
        MsgType::FailoverAuthRequest | MsgType::FailoverAuthAck | MsgType::MfStart => {
            Just(Body::Empty).boxed()
        }
        MsgType::Module => (
            any::<u64>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..100),
        )
            .prop_map(|(module_id, module_type, payload)| Body::Module {
                module_id,
                module_type,
                payload,
            })
            .boxed(),
        MsgType::Unknown(_) => prop::collection::vec(any::<u8>(), 0..100)
            .prop_map(Body::Raw)
            .boxed(),
    }
}

fn message() -> impl Strategy<Value = Message> {
    let header = (
        prop_oneof![
            (0u16..=10).prop_map(MsgType::from_wire),
            (11u16..).prop_map(MsgType::Unknown)
        ],
        any::<(u16, u16, u16)>(),
        any::<(u64, u64, u64)>(),
        node_id(),
        slot_set(),
        prop::option::of(node_id()),
        ip(),
        any::<(u16, bool, [u8; 3])>(),
    )
        .prop_map(
            |(
                msg_type,
                (port, pport, cport),
                (current_epoch, config_epoch, offset),
                sender,
                myslots,
                slaveof,
                myip,
                (flags, state_fail, mflags),
            )| Header {
                msg_type,
                port,
                pport,
                cport,
                current_epoch,
                config_epoch,
                offset,
                sender,
                myslots,
                slaveof,
                myip,
                flags,
                state_fail,
                mflags,
            },
        );
    header.prop_flat_map(|h| {
        body_for(h.msg_type).prop_map(move |body| {
            let mut header = h.clone();
            // encode() sets EXT_DATA when it writes extensions; decode() reads them only when
            // it is set.
            if let Body::Gossip { extensions, .. } = &body {
                if extensions.is_empty() {
                    header.mflags[0] &= !mflags::EXT_DATA;
                } else {
                    header.mflags[0] |= mflags::EXT_DATA;
                }
            }
            Message { header, body }
        })
    })
}

proptest! {
    #[test]
    fn round_trip(m in message()) {
        let b = encode(&m);
        prop_assert_eq!(decode(&b), Ok(Some((m, b.len()))));
        // A prefix is never a message; with a following message, only the first is used.
        prop_assert_eq!(decode(&b[..b.len() - 1]), Ok(None));
        let mut two = b.clone();
        two.extend_from_slice(&b);
        prop_assert_eq!(decode(&two).unwrap().map(|(_, n)| n), Some(b.len()));
    }

    #[test]
    fn corrupted_messages_never_panic(m in message(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = encode(&m);
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        check(&b);
    }

    /// Edits aimed at the lengths, counts, flags and the body, where the checks are.
    #[test]
    fn corrupted_lengths_never_panic(m in message(), edits in prop::collection::vec((0usize..3, any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut b = encode(&m);
        for (region, i, v) in edits {
            let (lo, hi) = match region {
                0 => (4, 16),
                1 => (2214, MIN_HEADER_LEN),
                _ => (MIN_HEADER_LEN, b.len().max(MIN_HEADER_LEN + 1)),
            };
            let i = (lo + i.index(hi - lo)).min(b.len() - 1);
            b[i] = v;
        }
        check(&b);
        // Also with the length word set to the buffer's length (so the body checks run).
        let n = b.len() as u32;
        b[4..8].copy_from_slice(&n.to_be_bytes());
        check(&b);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut tail in prop::collection::vec(any::<u8>(), 0..3000), len in MIN_HEADER_LEN as u32..4000) {
        let mut b = b"RCmb".to_vec();
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[0, 1]);
        b.append(&mut tail);
        check(&b);
    }
}

/// Whatever decode makes of `b` must re-encode to something that decodes to itself.
fn check(b: &[u8]) {
    if let Ok(Some((m, used))) = decode(b) {
        assert!((MIN_HEADER_LEN..=b.len()).contains(&used));
        let e = encode(&m);
        let (m2, n) = decode(&e).unwrap().unwrap();
        assert_eq!(n, e.len());
        assert_eq!(encode(&m2), e);
    }
}
