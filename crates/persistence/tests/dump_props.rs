//! DUMP payload properties without a server: round trips, and hostile input never panics.

mod common;

use common::*;
use proptest::prelude::*;
use slotkv_keyspace::Value;
use slotkv_persistence::{crc64, decode_value, dump_payload, restore_payload, PersistenceError};

fn elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (-300i64..300).prop_map(|i| i.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..40),
        "[a-c]{0,100}".prop_map(String::into_bytes),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let score = prop_oneof![
        any::<f64>().prop_filter("not nan", |s| !s.is_nan()),
        (-1000i32..1000).prop_map(f64::from),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ];
    prop_oneof![
        elem().prop_map(Value::Str),
        proptest::collection::vec(elem(), 1..400).prop_map(list),
        proptest::collection::vec((elem(), elem()), 1..200).prop_map(hash),
        proptest::collection::vec(elem(), 1..200).prop_map(set),
        proptest::collection::vec(any::<i64>().prop_map(|i| i.to_string().into_bytes()), 1..700)
            .prop_map(set),
        proptest::collection::vec((elem(), score), 1..200).prop_map(zset),
    ]
}

fn with_footer(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn dump_restore_round_trip(v in value()) {
        let p = dump_payload(&v);
        let back = restore_payload(&p).unwrap();
        prop_assert_eq!(canon(&back), canon(&v));
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = restore_payload(&data);
        // Behind a valid footer the decoder itself sees the garbage.
        let _ = restore_payload(&with_footer(data));
    }

    #[test]
    fn typed_garbage_never_panics(ty in 0u8..25, data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut body = vec![ty];
        body.extend_from_slice(&data);
        let _ = restore_payload(&with_footer(body));
    }

    #[test]
    fn mutated_payloads_never_panic(
        v in value(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let p = dump_payload(&v);
        let mut body = p[..p.len() - 10].to_vec();
        // Every strict prefix of an intact payload is an error (a truncated value never
        // decodes as a shorter one). A mutated payload only has to not panic: an edit can
        // shrink a length so that a prefix is a complete, valid value.
        let n = cut.index(body.len());
        prop_assert!(decode_value(&body[..n]).is_err());
        for (i, b) in &edits {
            let i = i.index(body.len());
            body[i] = *b;
        }
        let _ = decode_value(&body);
        let _ = restore_payload(&with_footer(body.clone()));
        let _ = decode_value(&body[..n]);
    }
}

#[test]
fn empty_collections_and_unsupported_types() {
    // An empty list (quicklist with no nodes) is "Bad data format", as in Redis.
    let e = restore_payload(&with_footer(vec![18, 0])).unwrap_err();
    assert!(matches!(e, PersistenceError::EmptyValue { .. }), "{e}");
    assert_eq!(e.restore_reply(), "ERR Bad data format");
    for ty in [15u8, 19, 21, 6, 7] {
        let e = restore_payload(&with_footer(vec![ty, 0])).unwrap_err();
        assert!(matches!(e, PersistenceError::Unsupported { .. }), "{ty}: {e}");
    }
    let e = restore_payload(&with_footer(vec![99, 0])).unwrap_err();
    assert!(matches!(e, PersistenceError::Corrupt { .. }), "{e}");
}

#[test]
fn lying_lengths_do_not_allocate() {
    // A string claiming 2^63 bytes, an LZF string claiming a huge expansion, a list
    // claiming 2^60 elements: all fail fast with Truncated/Corrupt.
    let mut huge_str = vec![0u8, 0x81];
    huge_str.extend_from_slice(&(1u64 << 63).to_be_bytes());
    assert!(matches!(
        restore_payload(&with_footer(huge_str)),
        Err(PersistenceError::Truncated { .. })
    ));
    let mut lzf = vec![0u8, 0xC3, 2, 0x81];
    lzf.extend_from_slice(&(1u64 << 40).to_be_bytes());
    lzf.extend_from_slice(&[0, b'a']);
    assert!(restore_payload(&with_footer(lzf)).is_err());
    let mut many = vec![1u8, 0x81];
    many.extend_from_slice(&(1u64 << 60).to_be_bytes());
    many.push(0);
    assert!(matches!(
        restore_payload(&with_footer(many)),
        Err(PersistenceError::Truncated { .. })
    ));
}

#[test]
fn legacy_encodings_decode() {
    // Built by hand: ziplist list, ziplist hash, ziplist zset, zipmap hash, old ZSET with
    // text doubles, old LIST, quicklist v1.
    fn ziplist(items: &[&[u8]]) -> Vec<u8> {
        // Strings < 64 bytes, small ints as 0xFE i8 — enough for these tests.
        let mut buf = vec![0u8; 10];
        let mut prev = 0usize;
        let mut last = 10usize;
        for it in items {
            let start = buf.len();
            last = start;
            buf.push(prev as u8);
            match std::str::from_utf8(it).ok().and_then(|s| s.parse::<i8>().ok()) {
                Some(v) if v.to_string().as_bytes() == *it => {
                    buf.push(0xFE);
                    buf.push(v as u8);
                }
                _ => {
                    buf.push(it.len() as u8);
                    buf.extend_from_slice(it);
                }
            }
            prev = buf.len() - start;
        }
        buf.push(0xFF);
        let total = buf.len() as u32;
        buf[0..4].copy_from_slice(&total.to_le_bytes());
        buf[4..8].copy_from_slice(&(last as u32).to_le_bytes());
        buf[8..10].copy_from_slice(&(items.len() as u16).to_le_bytes());
        buf
    }
    fn blob(ty: u8, data: &[u8]) -> Vec<u8> {
        let mut body = vec![ty, data.len() as u8];
        body.extend_from_slice(data);
        with_footer(body)
    }
    let zl = ziplist(&[b"a", b"5", b"-3"]);
    assert_eq!(
        canon(&restore_payload(&blob(10, &zl)).unwrap()),
        canon(&list([b("a"), b("5"), b("-3")]))
    );
    let zl = ziplist(&[b"f", b"1", b"g", b"x"]);
    assert_eq!(
        canon(&restore_payload(&blob(13, &zl)).unwrap()),
        canon(&hash([(b("f"), b("1")), (b("g"), b("x"))]))
    );
    let zl = ziplist(&[b"m", b"1.5", b"n", b"-2"]);
    assert_eq!(
        canon(&restore_payload(&blob(12, &zl)).unwrap()),
        canon(&zset([(b("m"), 1.5), (b("n"), -2.0)]))
    );
    let zm = [1u8, 1, b'k', 2, 0, b'v', b'w', 0xFF];
    assert_eq!(
        canon(&restore_payload(&blob(9, &zm)).unwrap()),
        canon(&hash([(b("k"), b("vw"))]))
    );
    // Old ZSET: member, text double (254 = +inf).
    let p = with_footer(vec![3, 2, 1, b'a', 3, b'1', b'.', b'5', 1, b'b', 254]);
    assert_eq!(
        canon(&restore_payload(&p).unwrap()),
        canon(&zset([(b("a"), 1.5), (b("b"), f64::INFINITY)]))
    );
    let p = with_footer(vec![1, 2, 1, b'a', 0xC0, 7]);
    assert_eq!(
        canon(&restore_payload(&p).unwrap()),
        canon(&list([b("a"), b("7")]))
    );
    let zl1 = ziplist(&[b"a", b"b"]);
    let zl2 = ziplist(&[b"c"]);
    let mut body = vec![14, 2, zl1.len() as u8];
    body.extend_from_slice(&zl1);
    body.push(zl2.len() as u8);
    body.extend_from_slice(&zl2);
    assert_eq!(
        canon(&restore_payload(&with_footer(body)).unwrap()),
        canon(&list([b("a"), b("b"), b("c")]))
    );
    // Redis 7.2's listpack set: {"a", 5}.
    let lp = [12u8, 0, 0, 0, 2, 0, 0x81, b'a', 2, 5, 1, 0xFF];
    assert_eq!(
        canon(&restore_payload(&blob(20, &lp)).unwrap()),
        canon(&set([b("a"), b("5")]))
    );
    // Duplicates are corrupt.
    let zl = ziplist(&[b"f", b"1", b"f", b"2"]);
    assert!(restore_payload(&blob(13, &zl)).is_err());
}
