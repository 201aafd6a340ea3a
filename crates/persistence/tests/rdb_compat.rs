//! RDB files against real Redis 7.0: files written here pass `redis-check-rdb` and load in
//! redis-server with the same data and TTLs; files saved by redis-server load here with the
//! same data and TTLs; broken files give errors, never panics.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use slotkv_keyspace::{Keyspace, Value};
use slotkv_persistence::{read_rdb, read_rdb_with, write_rdb, PersistenceError, RdbLoadOptions, RdbOptions};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Per database, the sorted (key, value, expire time) of every live key.
type Snapshot = Vec<Vec<(Vec<u8>, Canon, Option<i64>)>>;

/// The snapshot of a keyspace.
fn snapshot_ks(ks: &Keyspace, now: i64) -> Snapshot {
    ks.dbs
        .iter()
        .map(|db| {
            let mut v: Vec<_> = db
                .iter_with_expiry(now)
                .map(|(k, v, e)| (k.to_vec(), canon(v), e))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        })
        .collect()
}

/// The same, read from a real server.
fn snapshot_server(c: &mut Conn, dbs: usize) -> Snapshot {
    let mut out = Vec::new();
    for i in 0..dbs {
        c.ok(&["SELECT", &i.to_string()]);
        let mut keys: Vec<Vec<u8>> = c
            .ok(&["KEYS", "*"])
            .array()
            .into_iter()
            .map(Reply::bulk)
            .collect();
        keys.sort();
        let mut v = Vec::new();
        for k in keys {
            let canon = fetch(c, &k).expect("key");
            let t = c.ok(&[b"PEXPIRETIME".as_slice(), &k]).int();
            v.push((k, canon, (t >= 0).then_some(t)));
        }
        out.push(v);
    }
    c.ok(&["SELECT", "0"]);
    out
}

fn sample_keyspace(now: i64) -> Keyspace {
    let mut ks = Keyspace::new(16);
    for (name, value) in sample_values() {
        ks.db(0).set(name.as_bytes(), value, now);
    }
    let db5 = ks.db(5);
    db5.set(b"ttl:str", Value::Str(b("v")), now);
    db5.set_expire(b"ttl:str", now + 3_600_000);
    db5.set(b"ttl:list", list([b("a"), b("b")]), now);
    db5.set_expire(b"ttl:list", now + 7_200_123);
    db5.set(b"gone", Value::Str(b("expired already")), now);
    db5.set_expire(b"gone", now - 1);
    db5.set(b"plain", hash([(b("f"), b("v"))]), now);
    ks.db(15).set(b"last-db", Value::Str(b("x")), now);
    ks
}

#[test]
fn files_written_here_load_in_real_redis() {
    if !redis_available() {
        return;
    }
    for opts in [
        RdbOptions::default(),
        RdbOptions {
            compression: false,
            checksum: true,
        },
        RdbOptions {
            compression: true,
            checksum: false,
        },
    ] {
        let now = now_ms();
        let ks = sample_keyspace(now);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.rdb");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        write_rdb(&mut file, &ks, now, &opts).unwrap();
        drop(file);

        let (ok, out) = check_rdb(&path);
        assert!(ok, "{opts:?}: redis-check-rdb says:\n{out}");

        let server = RedisServer::start_in(dir, &["--dbfilename", "dump.rdb"]);
        let mut c = server.conn();
        let theirs = snapshot_server(&mut c, 16);
        let ours = snapshot_ks(&ks, now);
        assert_eq!(
            theirs.iter().map(Vec::len).sum::<usize>(),
            sample_values().len() + 4
        );
        assert_eq!(theirs, ours, "{opts:?}");

        // And what the server saves again reads back here to the same thing.
        c.ok(&["SAVE"]);
        let mut back = Keyspace::new(16);
        let stats = read_rdb(
            std::fs::File::open(server.path("dump.rdb")).unwrap(),
            &mut back,
            now,
        )
        .unwrap();
        assert_eq!(snapshot_ks(&back, now), ours);
        assert_eq!(stats.keys_loaded as usize, sample_values().len() + 4);
    }
}

fn populate_real(c: &mut Conn, now: i64) -> usize {
    let mut n = 0;
    for (name, value) in sample_values() {
        create(c, name.as_bytes(), &value);
        n += 1;
    }
    c.ok(&["CONFIG", "SET", "list-compress-depth", "1"]);
    c.ok(&["CONFIG", "SET", "list-max-listpack-size", "4"]);
    create(
        c,
        b"l:compressed",
        &list((0..200).map(|i| b(format!("compress-me-{}", i % 3).repeat(10)))),
    );
    c.ok(&["CONFIG", "SET", "list-compress-depth", "0"]);
    c.ok(&["CONFIG", "SET", "list-max-listpack-size", "-2"]);
    n += 1;
    c.ok(&["SELECT", "3"]);
    for i in 0..50 {
        let k = format!("ttl:{i}");
        c.ok(&["SET", &k, &i.to_string()]);
        // Half expire within the hour, half in a day.
        let when = now + if i % 2 == 0 { 1_800_000 } else { 86_400_000 } + i;
        c.ok(&["PEXPIREAT", &k, &when.to_string()]);
        n += 1;
    }
    c.ok(&["HSET", "h", "a", "1"]);
    n += 1;
    c.ok(&["SELECT", "0"]);
    c.ok(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 1 end)",
    ]);
    n
}

#[test]
fn files_saved_by_real_redis_load_here() {
    if !redis_available() {
        return;
    }
    for (compression, checksum) in [("yes", "yes"), ("no", "no")] {
        let server = RedisServer::start_in(
            tempfile::tempdir().unwrap(),
            &["--rdbcompression", compression, "--rdbchecksum", checksum],
        );
        let mut c = server.conn();
        let now = now_ms();
        let total = populate_real(&mut c, now);
        let theirs = snapshot_server(&mut c, 16);
        c.ok(&["SAVE"]);
        let bytes = std::fs::read(server.path("dump.rdb")).unwrap();

        let mut ks = Keyspace::new(16);
        let stats = read_rdb(bytes.as_slice(), &mut ks, now).unwrap();
        assert_eq!(stats.version, 10);
        assert_eq!(stats.keys_loaded as usize, total);
        assert_eq!(stats.expired_skipped, 0);
        assert_eq!(stats.aux_field("redis-ver"), Some(b"7.0.15".as_slice()));
        assert_eq!(stats.functions.len(), 1);
        assert!(stats.functions[0].starts_with(b"#!lua name=mylib"));
        assert_eq!(stats.checksum.is_some(), checksum == "yes");
        assert_eq!(stats.bytes as usize, bytes.len());
        assert_eq!(snapshot_ks(&ks, now), theirs, "rdbcompression {compression}");

        // Loaded an hour later, the keys that expire within the hour are skipped.
        let mut later = Keyspace::new(16);
        let stats = read_rdb(bytes.as_slice(), &mut later, now + 3_600_000).unwrap();
        assert_eq!(stats.expired_skipped, 25);
        assert_eq!(stats.keys_loaded as usize, total - 25);
        assert_eq!(later.dbs[3].len(), 26);
        // A replica keeps them (and waits for the master's DEL).
        let mut replica = Keyspace::new(16);
        let opts = RdbLoadOptions { keep_expired: true };
        let stats = read_rdb_with(bytes.as_slice(), &mut replica, now + 3_600_000, &opts).unwrap();
        assert_eq!((stats.keys_loaded as usize, stats.expired_skipped), (total, 0));
        assert_eq!(replica.dbs[3].len(), 51);
    }
}

#[test]
fn broken_files_give_errors_not_panics() {
    if !redis_available() {
        return;
    }
    // A smaller data set so that every truncation point can be tried.
    let save = |extra: &[&str]| {
        let server = RedisServer::start_in(tempfile::tempdir().unwrap(), extra);
        let mut c = server.conn();
        for (name, value) in sample_values() {
            if !["big", "noise", "000", "512", "513"]
                .iter()
                .any(|s| name.contains(s))
            {
                create(&mut c, name.as_bytes(), &value);
            }
        }
        c.ok(&["PEXPIRE", "s:raw", "100000000"]);
        c.ok(&["SAVE"]);
        std::fs::read(server.path("dump.rdb")).unwrap()
    };
    let good = save(&[]);
    let now = now_ms();
    read_rdb(good.as_slice(), &mut Keyspace::new(16), now).unwrap();

    // Every truncation is an error that names an offset inside the file.
    let step = (good.len() / 3000).max(1);
    for cut in (0..good.len()).step_by(step).chain(good.len() - 20..good.len()) {
        let err = read_rdb(&good[..cut], &mut Keyspace::new(16), now).expect_err("truncated");
        match err {
            // A cut inside the magic is reported as a bad header.
            PersistenceError::BadMagic => assert!(cut < 9),
            // Otherwise: the data ends, exactly where it was cut.
            PersistenceError::Truncated { offset } => assert_eq!(offset, cut as u64),
            other => panic!("cut {cut}: {other}"),
        }
    }

    // Any flipped byte is caught (by the decoder, or by the checksum at the end).
    let mut x = 12345u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x as usize) % good.len();
        let mut bad = good.clone();
        bad[i] ^= 1 << ((x >> 60) % 8);
        assert!(
            read_rdb(bad.as_slice(), &mut Keyspace::new(16), now).is_err(),
            "flip at {i}"
        );
    }

    // Without a checksum, corruption may go unnoticed, but it never panics.
    let unchecked = save(&["--rdbchecksum", "no"]);
    let step = (unchecked.len() / 3000).max(1);
    for i in (0..unchecked.len()).step_by(step) {
        let mut bad = unchecked.clone();
        bad[i] = bad[i].wrapping_add(0x55);
        let _ = read_rdb(bad.as_slice(), &mut Keyspace::new(16), now);
    }
}

fn rdb_with(body: &[u8]) -> Vec<u8> {
    let mut f = b"REDIS0010".to_vec();
    f.extend_from_slice(body);
    f.push(0xFF);
    let crc = slotkv_persistence::crc64(0, &f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

#[test]
fn specific_errors() {
    let now = 1_000;
    let load = |f: &[u8], dbs: usize| read_rdb(f, &mut Keyspace::new(dbs), now);
    assert!(matches!(
        load(b"RODIS0010\xff", 16),
        Err(PersistenceError::BadMagic)
    ));
    assert!(matches!(
        load(b"REDIS0013\xff", 16),
        Err(PersistenceError::Version(13))
    ));
    assert!(matches!(load(b"RED", 16), Err(PersistenceError::BadMagic)));
    // SELECTDB 20 with 16 databases.
    let e = load(&rdb_with(&[0xFE, 20]), 16).unwrap_err();
    assert!(
        matches!(
            e,
            PersistenceError::DbIndex {
                index: 20,
                offset: 9,
                ..
            }
        ),
        "{e}"
    );
    // The same key twice.
    let e = load(&rdb_with(&[0, 1, b'k', 1, b'v', 0, 1, b'k', 1, b'w']), 16).unwrap_err();
    assert!(
        matches!(
            e,
            PersistenceError::DuplicateKey {
                db: 0,
                offset: 15,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("offset 15"), "{e}");
    // Module aux data.
    let e = load(&rdb_with(&[0xF7, 1, 2, 3]), 16).unwrap_err();
    assert!(
        matches!(e, PersistenceError::Unsupported { offset: 9, .. }),
        "{e}"
    );
    // A stream value.
    let e = load(&rdb_with(&[15, 1, b'k', 0]), 16).unwrap_err();
    assert!(matches!(e, PersistenceError::Unsupported { .. }), "{e}");
    // Wrong checksum.
    let mut f = rdb_with(&[0, 1, b'k', 1, b'v']);
    let n = f.len();
    f[n - 1] ^= 0xff;
    let e = load(&f, 16).unwrap_err();
    assert!(matches!(e, PersistenceError::Checksum { offset: 15, .. }), "{e}");
    // Zero checksum: not verified.
    f[n - 8..].fill(0);
    let stats = load(&f, 16).unwrap();
    assert_eq!((stats.keys_loaded, stats.checksum), (1, None));
    // Empty collections are skipped, old second-resolution expiry, SLOT_INFO, IDLE and FREQ
    // are understood; an expired key is skipped.
    let mut body = vec![0xF4, 1, 2, 3, 0xF8, 5, 0xF9, 7];
    body.extend_from_slice(&[18, 1, b'e', 0]); // empty quicklist
    body.push(0xFD);
    body.extend_from_slice(&100u32.to_le_bytes()); // 100 s = 100000 ms, in the future
    body.extend_from_slice(&[0, 1, b'a', 1, b'1']);
    body.push(0xFC);
    body.extend_from_slice(&999i64.to_le_bytes()); // expired at now=1000
    body.extend_from_slice(&[0, 1, b'b', 1, b'2']);
    let mut ks = Keyspace::new(1);
    let stats = read_rdb(rdb_with(&body).as_slice(), &mut ks, now).unwrap();
    assert_eq!(
        (stats.keys_loaded, stats.expired_skipped, stats.empty_skipped),
        (1, 1, 1)
    );
    assert_eq!(ks.dbs[0].expire_at(b"a"), Some(100_000));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn elem() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..30),
            "[ab]{0,60}".prop_map(String::into_bytes),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            elem().prop_map(Value::Str),
            proptest::collection::vec(elem(), 1..50).prop_map(list),
            proptest::collection::vec((elem(), elem()), 1..50).prop_map(hash),
            proptest::collection::vec(elem(), 1..50).prop_map(set),
            proptest::collection::vec((elem(), -1e6f64..1e6), 1..50).prop_map(zset),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn keyspace_round_trip(
            entries in proptest::collection::vec((0usize..4, elem(), value(), proptest::option::of(-10i64..10)), 0..40),
            compression in any::<bool>(),
            checksum in any::<bool>(),
        ) {
            let now = 1_700_000_000_000i64;
            let mut ks = Keyspace::new(4);
            for (db, key, value, ttl) in entries {
                ks.db(db).set(&key, value, now);
                if let Some(t) = ttl {
                    ks.db(db).set_expire(&key, now + t * 1000);
                }
            }
            let mut file = Vec::new();
            write_rdb(&mut file, &ks, now, &RdbOptions { compression, checksum }).unwrap();
            let mut back = Keyspace::new(4);
            let stats = read_rdb(file.as_slice(), &mut back, now).unwrap();
            prop_assert_eq!(stats.expired_skipped, 0);
            prop_assert_eq!(snapshot_ks(&back, now), snapshot_ks(&ks, now));
            prop_assert_eq!(stats.bytes as usize, file.len());
        }
    }
}

/// Timing of a large save and load (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn perf_smoke() {
    let now = 1_700_000_000_000i64;
    let mut ks = Keyspace::new(1);
    for i in 0..1_000_000u32 {
        ks.db(0).set(
            format!("key:{i}").as_bytes(),
            Value::Str(b(format!("value-{i}"))),
            now,
        );
    }
    for i in 0..10_000u32 {
        ks.db(0).set(
            format!("hash:{i}").as_bytes(),
            hash((0..100).map(|f| (b(format!("f{f}")), b(i.to_string())))),
            now,
        );
    }
    let t = std::time::Instant::now();
    let mut file = Vec::new();
    write_rdb(&mut file, &ks, now, &RdbOptions::default()).unwrap();
    eprintln!("write: {} bytes in {:?}", file.len(), t.elapsed());
    let t = std::time::Instant::now();
    let mut back = Keyspace::new(1);
    let stats = read_rdb(file.as_slice(), &mut back, now).unwrap();
    eprintln!("read: {} keys in {:?}", stats.keys_loaded, t.elapsed());
}
