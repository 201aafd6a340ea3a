//! DUMP payloads against a real redis-server 7.0: payloads it makes decode here to the same
//! data, payloads made here RESTORE there to the same data, and both sides reject the same
//! broken footers.

mod common;

use std::collections::BTreeSet;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use slotkv_keyspace::Value;
use slotkv_persistence::{crc64, dump_payload, restore_payload, PersistenceError};

#[test]
fn payloads_from_real_redis_decode_to_the_same_data() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start_in(tempfile::tempdir().unwrap(), &["--enable-debug-command", "yes"]);
    let mut c = server.conn();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (name, value) in sample_values() {
        create(&mut c, name.as_bytes(), &value);
        keys.push(name.into_bytes());
    }
    // Quicklist nodes compressed in memory (DUMP writes them as LZF blobs as they are).
    c.ok(&["CONFIG", "SET", "list-compress-depth", "1"]);
    c.ok(&["CONFIG", "SET", "list-max-listpack-size", "4"]);
    create(
        &mut c,
        b"l:compressed",
        &list((0..200).map(|i| b(format!("compress-me-{}", i % 3).repeat(10)))),
    );
    c.ok(&["CONFIG", "SET", "list-compress-depth", "0"]);
    c.ok(&["CONFIG", "SET", "list-max-listpack-size", "-2"]);
    keys.push(b("l:compressed"));
    // Plain quicklist nodes (normally only for elements of 1 GB and more).
    c.ok(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"]);
    create(
        &mut c,
        b"l:plain",
        &list([b("small"), b("p".repeat(300)), noise(500, 9), b("end")]),
    );
    c.ok(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1073741824"]);
    keys.push(b("l:plain"));

    let mut types = BTreeSet::new();
    for key in &keys {
        let payload = c.ok(&[b"DUMP".as_slice(), key]).bulk();
        types.insert(payload[0]);
        let value =
            restore_payload(&payload).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(key)));
        let want = fetch(&mut c, key).expect("key exists");
        assert_eq!(canon(&value), want, "{}", String::from_utf8_lossy(key));
    }
    // STRING, SET, HASH, ZSET_2, INTSET, HASH_LISTPACK, ZSET_LISTPACK, QUICKLIST_2.
    for ty in [0u8, 2, 4, 5, 11, 16, 17, 18] {
        assert!(types.contains(&ty), "no payload of type {ty} seen: {types:?}");
    }
}

#[test]
fn simple_payloads_are_byte_identical_to_redis() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let mut c = server.conn();
    let values: Vec<(String, Value)> = sample_values()
        .into_iter()
        .filter(|(n, _)| {
            [
                "s:raw",
                "s:empty",
                "s:int8",
                "s:int16",
                "s:int32",
                "s:i64max",
                "s:binary",
                "set:intset",
            ]
            .contains(&n.as_str())
        })
        .chain([
            ("h:tiny".to_string(), hash([(b("a"), b("1")), (b("b"), b("2"))])),
            ("l:tiny".to_string(), list([b("x"), b("7"), b("-3")])),
            ("z:tiny".to_string(), zset([(b("a"), 1.0), (b("b"), -2.0)])),
        ])
        .collect();
    assert_eq!(values.len(), 11);
    for (name, value) in values {
        create(&mut c, name.as_bytes(), &value);
        let theirs = c.ok(&[b"DUMP", name.as_bytes()]).bulk();
        assert_eq!(dump_payload(&value), theirs, "{name}");
    }
}

#[test]
fn payloads_made_here_restore_in_real_redis() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let mut c = server.conn();
    for (name, value) in sample_values() {
        let payload = dump_payload(&value);
        let r = c.cmd(&[b"RESTORE".as_slice(), name.as_bytes(), b"0", &payload]);
        assert_eq!(r, Reply::Status("OK".into()), "{name}");
        assert_eq!(fetch(&mut c, name.as_bytes()), Some(canon(&value)), "{name}");
        // And the payload Redis makes from it decodes back to the same thing here.
        let again = c.ok(&[b"DUMP", name.as_bytes()]).bulk();
        assert_eq!(canon(&restore_payload(&again).unwrap()), canon(&value), "{name}");
    }
    // RESTORE with TTL and REPLACE works the same on our payloads.
    let p = dump_payload(&Value::Str(b("v")));
    c.ok(&[b"RESTORE".as_slice(), b"ttl", b"100000", &p]);
    let pttl = c.ok(&["PTTL", "ttl"]).int();
    assert!(pttl > 90_000 && pttl <= 100_000, "{pttl}");
}

#[test]
fn broken_footers_are_rejected_like_redis() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let mut c = server.conn();
    c.ok(&["SET", "k", "hello"]);
    let good = c.ok(&["DUMP", "k"]).bulk();
    let n = good.len();

    let mut zero_crc = good.clone();
    zero_crc[n - 8..].fill(0);
    let mut bad_crc = good.clone();
    bad_crc[n - 1] ^= 1;
    let mut v11 = good[..n - 8].to_vec();
    v11[n - 10] = 11;
    let crc = crc64(0, &v11);
    v11.extend_from_slice(&crc.to_le_bytes());
    let short = good[..9].to_vec();

    for (what, p) in [
        ("zero crc", zero_crc),
        ("bad crc", bad_crc),
        ("version 11", v11),
        ("short", short),
    ] {
        let theirs = c.cmd(&[b"RESTORE".as_slice(), b"x", b"0", &p]);
        let ours = restore_payload(&p).expect_err(what);
        assert!(matches!(ours, PersistenceError::PayloadFooter), "{what}: {ours}");
        assert_eq!(theirs, Reply::Error(ours.restore_reply().into()), "{what}");
    }

    // Bad contents behind a valid footer: both say "Bad data format". (A value cut short
    // is not a good probe: Redis reads on into the footer bytes and may accept it.)
    for body in [vec![99u8, 0], vec![11u8, 3, 9, 9, 9], vec![16u8, 0]] {
        let mut p = body.clone();
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64(0, &p);
        p.extend_from_slice(&crc.to_le_bytes());
        let theirs = c.cmd(&[b"RESTORE".as_slice(), b"x", b"0", &p]);
        let ours = restore_payload(&p).expect_err("bad body");
        assert_eq!(
            theirs,
            Reply::Error(ours.restore_reply().into()),
            "{body:?}: {ours}"
        );
    }
}

fn elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (-300i64..300).prop_map(|i| i.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..40),
        "[a-c]{0,100}".prop_map(String::into_bytes),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("not nan", |s| !s.is_nan()),
        (-1000i32..1000).prop_map(f64::from),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

pub fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        elem().prop_map(Value::Str),
        proptest::collection::vec(elem(), 1..400).prop_map(list),
        proptest::collection::vec((elem(), elem()), 1..200).prop_map(hash),
        proptest::collection::vec(elem(), 1..200).prop_map(set),
        proptest::collection::vec(any::<i64>().prop_map(|i| i.to_string().into_bytes()), 1..700)
            .prop_map(set),
        proptest::collection::vec((elem(), score()), 1..200).prop_map(zset),
    ]
}

#[test]
fn random_values_restore_in_real_redis() {
    if !redis_available() {
        return;
    }
    let server = RedisServer::start();
    let c = std::cell::RefCell::new(server.conn());
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    runner
        .run(&value(), |v| {
            let p = dump_payload(&v);
            let mut c = c.borrow_mut();
            let r = c.cmd(&[b"RESTORE".as_slice(), b"k", b"0", &p, b"REPLACE"]);
            prop_assert_eq!(r, Reply::Status("OK".into()));
            prop_assert_eq!(fetch(&mut c, b"k"), Some(canon(&v)));
            Ok(())
        })
        .unwrap();
}
