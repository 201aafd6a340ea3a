//! Messages captured from a real redis-server 7.0.15 (see `redis_interop.rs`, which writes
//! them with `SLOTKV_WRITE_BUS_FIXTURES=1`), decoded without a server.

use slotkv_cluster::message::{decode, encode, flags, mflags, Body, MsgType, PingExt, MIN_HEADER_LEN};

fn load(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn meet_from_redis_7_0() {
    let raw = load("redis7-meet.bin");
    let (m, used) = decode(&raw).unwrap().unwrap();
    assert_eq!(used, raw.len());
    let h = &m.header;
    assert_eq!(h.msg_type, MsgType::Meet);
    assert_eq!(h.flags, flags::MASTER | flags::MYSELF);
    assert_eq!(h.cport, h.port + 10000);
    assert_eq!(h.pport, 0);
    assert_eq!(h.myip, "");
    assert_eq!(h.slaveof, None);
    assert!(h.myslots.is_empty());
    assert_eq!(h.mflags, [mflags::EXT_DATA, 0, 0]);
    let Body::Gossip { extensions, .. } = &m.body else {
        panic!("{:?}", m.body)
    };
    assert_eq!(extensions, &[PingExt::Hostname("redis-a".into())]);
    // The hostname extension as 7.0 sizes it: 8-byte header + "redis-a\0", padded to 16.
    assert_eq!(&raw[raw.len() - 16..raw.len() - 8], &[0, 0, 0, 16, 0, 0, 0, 0]);
    assert_eq!(encode(&m), raw);
    // Every strict prefix is "need more".
    for n in [0, 1, 4, 8, MIN_HEADER_LEN - 1, MIN_HEADER_LEN, raw.len() - 1] {
        assert_eq!(decode(&raw[..n]), Ok(None), "prefix {n}");
    }
}

#[test]
fn ping_and_pong_from_redis_7_0() {
    for name in ["redis7-ping.bin", "redis7-pong.bin"] {
        let raw = load(name);
        let (m, used) = decode(&raw).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert!(m.header.msg_type.is_gossip());
        let Body::Gossip { entries, extensions } = &m.body else {
            panic!("{:?}", m.body)
        };
        assert!(!entries.is_empty(), "{name}: no gossip");
        for e in entries {
            assert_eq!(e.ip, "127.0.0.1");
            // Entries are about redis-server B (cport = port + 10000) or the fake node.
            assert!(e.port != 0 && e.cport != 0, "{name}: {e:?}");
            assert_eq!(e.flags & flags::MASTER, flags::MASTER, "{name}: {e:?}");
        }
        assert_eq!(extensions, &[PingExt::Hostname("redis-a".into())]);
        assert_eq!(encode(&m), raw, "{name}");
    }
}
