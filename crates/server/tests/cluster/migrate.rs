//! Slot migration with real processes: three slotkv masters joined by the real
//! `redis-cli --cluster create`, then (1) a slot moved by hand (SETSLOT IMPORTING /
//! MIGRATING, GETKEYSINSLOT, MIGRATE, SETSLOT NODE) with the ASK / TRYAGAIN / ASKING /
//! MOVED replies checked at every step, (2) the real `redis-cli --cluster reshard` of 100
//! slots full of keys while a client keeps writing and reading, (3) MIGRATE between
//! slotkv and redis-server in both directions, and (4) a hash of 1,000,000 fields moved
//! while other clients keep pinging both nodes, and kept whole when the target dies
//! mid-transfer.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slotkv_keyslot::key_slot;
use slotkv_testkit::{run_with_timeout, wait_until, Reply, ServerBinary, ServerProcess, Signal, TestClient};

use super::{bulk_text, info_field, start_node};
use slotkv_testkit::ClusterClient;

const CLI_TIMEOUT: Duration = Duration::from_secs(120);

fn cli(args: &[String]) -> (bool, String) {
    let out = run_with_timeout(
        Command::new(slotkv_testkit::redis_cli_path()).args(args),
        CLI_TIMEOUT,
    )
    .expect("redis-cli");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Three masters, no replicas, every node at cluster_state:ok.
fn three_masters(dir: &std::path::Path) -> Vec<ServerProcess> {
    let nodes: Vec<ServerProcess> = (0..3).map(|_| start_node(dir)).collect();
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
    args.push("--cluster-yes".into());
    let (ok, text) = cli(&args);
    assert!(ok, "create failed:\n{text}");
    // Known bus issue (not migration): right after create, a node sometimes never gets the
    // PONG to its first PING to a peer, marks it PFAIL after cluster-node-timeout and the
    // cluster goes down for a while. Start only once every node has been ok past one
    // node timeout, so the migration tests test migration.
    let created = std::time::Instant::now();
    let settled = wait_until(Duration::from_secs(60), || {
        created.elapsed() > Duration::from_millis(5500)
            && nodes.iter().all(|n| {
                let mut c = n.client();
                info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
            })
    });
    assert!(settled, "the new cluster did not settle");
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
                    && info_field(&mut c, &["CLUSTER", "INFO"], "cluster_known_nodes").as_deref() == Some("3")
            }),
            "node {} never reached cluster_state:ok",
            n.port()
        );
    }
    nodes
}

fn myid(n: &ServerProcess) -> String {
    bulk_text(n.client().cmd(&["CLUSTER", "MYID"]))
}

/// `redis-cli --cluster check` reports no problem (retried while gossip settles).
fn assert_check_clean(port: u16) {
    let mut last = String::new();
    let clean = wait_until(Duration::from_secs(30), || {
        let (ok, text) = cli(&["--cluster".into(), "check".into(), format!("127.0.0.1:{port}")]);
        last = text;
        ok && last.contains("[OK] All nodes agree about slots configuration.")
            && last.contains("[OK] All 16384 slots covered.")
            && !last.contains("[WARNING]")
            && !last.contains("[ERR]")
    });
    assert!(clean, "cluster check not clean:\n{last}");
}

fn epoch(c: &mut TestClient, field: &str) -> u64 {
    info_field(c, &["CLUSTER", "INFO"], field)
        .and_then(|v| v.parse().ok())
        .expect("epoch field")
}

#[test]
fn manual_slot_migration_ask_tryagain_asking() {
    let base = tempfile::tempdir().expect("tempdir");
    let mut nodes = three_masters(base.path());
    let slot = key_slot(b"{mig}").get();
    // The node serving the slot (the first one after create: slots 0-5460 ... by range).
    let owner_idx = (0..3)
        .find(|&i| nodes[i].client().cmd(&["GET", "{mig}x"]) == Reply::Nil)
        .expect("an owner");
    let (src, dst, third) = (owner_idx, (owner_idx + 1) % 3, (owner_idx + 2) % 3);
    let (src_id, dst_id) = (myid(&nodes[src]), myid(&nodes[dst]));
    let (src_addr, dst_addr) = (
        format!("127.0.0.1:{}", nodes[src].port()),
        format!("127.0.0.1:{}", nodes[dst].port()),
    );
    let key = |i: usize| format!("{{mig}}k{i}");
    {
        let mut s = nodes[src].client();
        for i in 0..20 {
            s.cmd_ok(&["SET", &key(i), &format!("v{i}")]);
        }
    }

    // Transactions are routed as a whole at EXEC: commands of two slots, even both served
    // here, get CROSSSLOT; one queued before its slot moves gets MOVED (and is discarded).
    let mut t = nodes[src].client();
    let other = (0..1000)
        .map(|i| format!("{{t{i}}}"))
        .find(|k| key_slot(k.as_bytes()).get() != slot && t.cmd(&["GET", k]) == Reply::Nil)
        .expect("another key served by the source");
    t.cmd_ok(&["MULTI"]);
    assert_eq!(t.cmd(&["SET", &key(0), "x"]), Reply::Status("QUEUED".into()));
    assert_eq!(t.cmd(&["SET", &other, "x"]), Reply::Status("QUEUED".into()));
    assert_eq!(
        t.cmd(&["EXEC"]),
        Reply::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
    assert_eq!(
        t.cmd(&["GET", &key(0)]),
        Reply::bulk("v0"),
        "the transaction was discarded"
    );
    t.cmd_ok(&["MULTI"]);
    assert_eq!(t.cmd(&["SET", &key(0), "late"]), Reply::Status("QUEUED".into()));

    // Open the slot on both sides.
    nodes[dst]
        .client()
        .cmd_ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "IMPORTING", &src_id]);
    nodes[src]
        .client()
        .cmd_ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "MIGRATING", &dst_id]);
    assert!(
        bulk_text(nodes[src].client().cmd(&["CLUSTER", "NODES"])).contains(&format!("[{slot}->-{dst_id}]"))
    );
    // The importing state survives a restart (nodes.conf `[slot-<-id]`); the target holds
    // no key yet, so nothing is lost by restarting it without persistence.
    nodes[dst].restart();
    let mut d = nodes[dst].client();
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut d, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
    }));
    assert!(bulk_text(d.cmd(&["CLUSTER", "NODES"])).contains(&format!("[{slot}-<-{src_id}]")));

    let mut s = nodes[src].client();
    // Source: present keys are served, missing ones are asked for on the target.
    assert_eq!(s.cmd(&["GET", &key(0)]), Reply::bulk("v0"));
    assert_eq!(
        s.cmd(&["GET", "{mig}missing"]),
        Reply::Error(format!("ASK {slot} {dst_addr}"))
    );
    // Target: only with ASKING; otherwise MOVED to the owner.
    assert_eq!(
        d.cmd(&["GET", &key(0)]),
        Reply::Error(format!("MOVED {slot} {src_addr}"))
    );
    d.cmd_ok(&["ASKING"]);
    assert_eq!(d.cmd(&["GET", "{mig}missing"]), Reply::Nil);
    // ASKING lasts one command.
    assert_eq!(
        d.cmd(&["GET", "{mig}missing"]),
        Reply::Error(format!("MOVED {slot} {src_addr}"))
    );

    // One key moves.
    let dport = nodes[dst].port().to_string();
    assert_eq!(
        s.cmd(&["MIGRATE", "127.0.0.1", &dport, &key(0), "0", "5000"]),
        Reply::status("OK")
    );
    assert_eq!(
        s.cmd(&["MIGRATE", "127.0.0.1", &dport, &key(0), "0", "5000"]),
        Reply::status("NOKEY")
    );
    assert_eq!(
        s.cmd(&["GET", &key(0)]),
        Reply::Error(format!("ASK {slot} {dst_addr}"))
    );
    // Some keys here, some gone: TRYAGAIN on the source.
    assert_eq!(
        s.cmd(&["MGET", &key(0), &key(1)]),
        Reply::Error("TRYAGAIN Multiple keys request during rehashing of slot".into())
    );
    // All present: served.
    assert_eq!(
        s.cmd(&["MGET", &key(1), &key(2)]),
        Reply::Array(vec![Reply::bulk("v1"), Reply::bulk("v2")])
    );
    // Target with ASKING: multi-key with a missing key is TRYAGAIN, the moved key is served.
    d.cmd_ok(&["ASKING"]);
    assert_eq!(
        d.cmd(&["MGET", &key(0), &key(1)]),
        Reply::Error("TRYAGAIN Multiple keys request during rehashing of slot".into())
    );
    d.cmd_ok(&["ASKING"]);
    assert_eq!(d.cmd(&["GET", &key(0)]), Reply::bulk("v0"));
    // The same key twice is one key.
    d.cmd_ok(&["ASKING"]);
    assert_eq!(
        d.cmd(&["MGET", &key(0), &key(0)]),
        Reply::Array(vec![Reply::bulk("v0"), Reply::bulk("v0")])
    );
    // ASKING holds for a whole transaction.
    d.cmd_ok(&["ASKING"]);
    d.cmd_ok(&["MULTI"]);
    assert_eq!(d.cmd(&["GET", &key(0)]), Reply::status("QUEUED"));
    assert_eq!(d.cmd(&["EXEC"]), Reply::Array(vec![Reply::bulk("v0")]));
    assert_eq!(
        d.cmd(&["GET", &key(0)]),
        Reply::Error(format!("MOVED {slot} {src_addr}"))
    );

    // The rest, in one MIGRATE ... KEYS, as redis-cli does.
    let keys = match s.cmd(&["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "100"]) {
        Reply::Array(v) => v
            .into_iter()
            .map(|r| String::from_utf8(r.as_bytes().expect("bulk").to_vec()).expect("utf8"))
            .collect::<Vec<_>>(),
        other => panic!("GETKEYSINSLOT: {other:?}"),
    };
    assert_eq!(keys.len(), 19);
    let mut args: Vec<String> = ["MIGRATE", "127.0.0.1", &dport, "", "0", "5000", "REPLACE", "KEYS"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(keys);
    assert_eq!(s.cmd(&args), Reply::status("OK"));
    assert_eq!(
        s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        Reply::Int(0)
    );
    assert_eq!(
        d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        Reply::Int(20)
    );

    // Close the slot: the target takes it with a new config epoch, then the others learn.
    let before = epoch(&mut d, "cluster_my_epoch");
    d.cmd_ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &dst_id]);
    let after = epoch(&mut d, "cluster_my_epoch");
    assert!(after > before, "config epoch not bumped: {before} -> {after}");
    assert_eq!(after, epoch(&mut d, "cluster_current_epoch"));
    assert!(!bulk_text(d.cmd(&["CLUSTER", "NODES"])).contains("-<-"));
    s.cmd_ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &dst_id]);
    assert!(!bulk_text(s.cmd(&["CLUSTER", "NODES"])).contains("->-"));
    nodes[third]
        .client()
        .cmd_ok(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &dst_id]);
    for i in 0..20 {
        assert_eq!(d.cmd(&["GET", &key(i)]), Reply::bulk(format!("v{i}")));
    }
    // The transaction queued on the source before the move: MOVED at EXEC, nothing ran,
    // and the client is out of MULTI.
    assert_eq!(t.cmd(&["EXEC"]), Reply::Error(format!("MOVED {slot} {dst_addr}")));
    assert_eq!(d.cmd(&["GET", &key(0)]), Reply::bulk("v0"));
    assert_eq!(t.cmd(&["GET", &other]), Reply::Nil);
    assert_eq!(
        s.cmd(&["GET", &key(3)]),
        Reply::Error(format!("MOVED {slot} {dst_addr}"))
    );
    assert_check_clean(nodes[0].port());
}

#[test]
fn reshard_with_redis_cli_under_load() {
    let base = tempfile::tempdir().expect("tempdir");
    let nodes = three_masters(base.path());
    // The first node of `create` gets slots 0-5460; reshard moves its first 100 slots.
    let from = myid(&nodes[0]);
    let to = myid(&nodes[1]);
    let addr0 = format!("127.0.0.1:{}", nodes[0].port());
    let moving: Vec<String> = (0..)
        .map(|i| format!("key:{i}"))
        .filter(|k| key_slot(k.as_bytes()).get() < 100)
        .take(2000)
        .collect();
    let mut setup = ClusterClient::new(addr0.clone());
    for k in &moving {
        assert_eq!(setup.cmd(&["SET", k, "0"]), Reply::status("OK"));
    }
    // A bigger value too (20,000 fields), in the slot of the first key.
    let big = format!("{{{}}}h", moving[0]);
    let mut c0 = nodes[0].client();
    for chunk in 0..20 {
        let mut args = vec!["HSET".to_string(), big.clone()];
        for f in 0..1000 {
            args.push(format!("f{chunk}-{f}"));
            args.push("x".repeat(20));
        }
        assert_eq!(c0.cmd(&args), Reply::Int(1000));
    }

    // Start from a settled cluster (every node agrees, no open slot).
    assert_check_clean(nodes[0].port());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let moving = moving.clone();
        let addr0 = addr0.clone();
        std::thread::spawn(move || {
            let mut c = ClusterClient::new(addr0);
            let mut expected: HashMap<String, String> = HashMap::new();
            let mut round = 0u64;
            let mut mismatches = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                for k in moving.iter().step_by(7) {
                    let v = format!("r{round}");
                    let r = c.cmd(&["SET", k, &v]);
                    if r != Reply::status("OK") {
                        mismatches.push(format!("SET {k}: {r:?}"));
                        continue;
                    }
                    expected.insert(k.clone(), v.clone());
                    let got = c.cmd(&["GET", k]);
                    if got != Reply::bulk(&v) {
                        mismatches.push(format!("GET {k}: {got:?}, wanted {v}"));
                    }
                }
            }
            (expected, mismatches, c.unexpected, c.redirects, round)
        })
    };

    let (ok, text) = cli(&[
        "--cluster".into(),
        "reshard".into(),
        addr0.clone(),
        "--cluster-from".into(),
        from,
        "--cluster-to".into(),
        to.clone(),
        "--cluster-slots".into(),
        "100".into(),
        "--cluster-yes".into(),
    ]);
    stop.store(true, Ordering::SeqCst);
    let (expected, mismatches, unexpected, redirects, rounds) = writer.join().expect("writer");
    if !ok {
        let views: Vec<String> = nodes
            .iter()
            .map(|n| {
                let mut c = n.client();
                format!(
                    "{}:\n{}{}",
                    n.port(),
                    bulk_text(c.cmd(&["CLUSTER", "INFO"])),
                    bulk_text(c.cmd(&["CLUSTER", "NODES"]))
                )
            })
            .collect();
        panic!("reshard failed:\n{text}\n{}", views.join("\n"));
    }
    assert!(unexpected.is_empty(), "unexpected errors: {unexpected:?}");
    assert!(mismatches.is_empty(), "lost or wrong values: {mismatches:?}");
    assert!(
        rounds >= 1 && redirects > 0,
        "the writer saw no redirect ({rounds} rounds)"
    );

    // Every key is there with its last value, now on the target.
    let mut check = ClusterClient::new(addr0.clone());
    for k in &moving {
        let want = expected.get(k).cloned().unwrap_or_else(|| "0".into());
        assert_eq!(check.cmd(&["GET", k]), Reply::bulk(&want), "key {k}");
    }
    let mut c1 = nodes[1].client();
    assert_eq!(
        c1.cmd(&["GET", &moving[1]]),
        Reply::bulk(expected.get(&moving[1]).cloned().unwrap_or_else(|| "0".into()))
    );
    assert_eq!(check.cmd(&["HLEN", &big]), Reply::Int(20_000));
    assert!(check.unexpected.is_empty(), "{:?}", check.unexpected);
    let total: i64 = (0..100)
        .map(|s| {
            c1.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()])
                .as_int()
                .unwrap_or(0)
        })
        .sum();
    assert!(total >= 2000, "target holds {total} keys of the moved slots");
    assert_check_clean(nodes[0].port());
}

/// MIGRATE queued in MULTI runs within EXEC, as in Redis: the EXEC replies are
/// redis-server's, the key moves, and a failed transfer fails only its own command.
#[test]
fn migrate_inside_multi_matches_redis() {
    let closed = slotkv_testkit::free_port().to_string();
    for source_bin in [super::slotkv(), ServerBinary::Redis] {
        let source = ServerProcess::start(source_bin, &[]);
        let target = ServerProcess::start(super::slotkv(), &[]);
        let tport = target.port().to_string();
        let mut c = source.client();
        c.cmd_ok(&["SET", "other", "x"]);
        assert_eq!(c.cmd(&["MULTI"]), Reply::status("OK"));
        for args in [
            vec!["SET", "k", "v"],
            vec!["MIGRATE", "127.0.0.1", &tport, "k", "0", "5000"],
            vec!["EXISTS", "k"],
            vec!["MIGRATE", "127.0.0.1", &tport, "k", "0", "5000"],
            vec!["MIGRATE", "127.0.0.1", &closed, "other", "0", "500"],
            vec!["GET", "other"],
        ] {
            assert_eq!(c.cmd(&args), Reply::status("QUEUED"));
        }
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::Array(vec![
                Reply::status("OK"),
                Reply::status("OK"),
                Reply::Int(0),
                Reply::status("NOKEY"),
                Reply::Error("IOERR error or timeout writing to target instance".into()),
                Reply::bulk("x"),
            ])
        );
        assert_eq!(target.client().cmd(&["GET", "k"]), Reply::bulk("v"));
        assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
    }
}

#[test]
fn migrate_between_slotkv_and_redis_server() {
    let ours = ServerProcess::start(super::slotkv(), &[]);
    let redis = ServerProcess::start(ServerBinary::Redis, &[]);
    let mut a = ours.client();
    let mut r = redis.client();
    assert_eq!(a.cmd(&["RPUSH", "list", "a", "b", "c"]), Reply::Int(3));
    a.cmd_ok(&["SET", "s", "hello", "PX", "100000"]);
    a.cmd(&["HSET", "h", "f", "v"]);
    a.cmd(&["ZADD", "z", "1.5", "m"]);
    a.cmd(&["SADD", "set", "x", "y"]);
    let rport = redis.port().to_string();
    assert_eq!(
        a.cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &rport,
            "",
            "2",
            "5000",
            "KEYS",
            "list",
            "s",
            "h",
            "z",
            "set",
            "nokey"
        ]),
        Reply::status("OK")
    );
    assert_eq!(a.cmd(&["DBSIZE"]), Reply::Int(0));
    r.cmd_ok(&["SELECT", "2"]);
    assert_eq!(
        r.cmd(&["LRANGE", "list", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b"), Reply::bulk("c")])
    );
    assert_eq!(r.cmd(&["GET", "s"]), Reply::bulk("hello"));
    let ttl = r.cmd(&["PTTL", "s"]).as_int().expect("pttl");
    assert!(ttl > 90_000 && ttl <= 100_000, "{ttl}");
    assert_eq!(r.cmd(&["HGET", "h", "f"]), Reply::bulk("v"));
    assert_eq!(r.cmd(&["ZSCORE", "z", "m"]), Reply::bulk("1.5"));
    // A key already there: the target's error is relayed and the local key kept.
    a.cmd_ok(&["SET", "s", "again"]);
    assert_eq!(
        a.cmd(&["MIGRATE", "127.0.0.1", &rport, "s", "2", "5000"]),
        Reply::Error(
            "ERR Target instance replied with error: BUSYKEY Target key name already exists.".into()
        )
    );
    assert_eq!(a.cmd(&["GET", "s"]), Reply::bulk("again"));
    assert_eq!(
        a.cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &rport,
            "s",
            "2",
            "5000",
            "COPY",
            "REPLACE"
        ]),
        Reply::status("OK")
    );
    assert_eq!(a.cmd(&["GET", "s"]), Reply::bulk("again"));
    assert_eq!(r.cmd(&["GET", "s"]), Reply::bulk("again"));

    // And back, redis-server to slotkv.
    let aport = ours.port().to_string();
    assert_eq!(
        r.cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &aport,
            "",
            "0",
            "5000",
            "KEYS",
            "list",
            "h",
            "z",
            "set"
        ]),
        Reply::status("OK")
    );
    assert_eq!(
        a.cmd(&["LRANGE", "list", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b"), Reply::bulk("c")])
    );
    assert_eq!(a.cmd(&["SCARD", "set"]), Reply::Int(2));
    assert_eq!(a.cmd(&["ZSCORE", "z", "m"]), Reply::bulk("1.5"));

    // Network errors with Redis's texts; the key stays.
    let closed = slotkv_testkit::free_port().to_string();
    assert_eq!(
        a.cmd(&["MIGRATE", "127.0.0.1", &closed, "list", "0", "500"]),
        Reply::Error("IOERR error or timeout writing to target instance".into())
    );
    assert_eq!(
        a.cmd(&["MIGRATE", "no-such-host.invalid", "1", "list", "0", "500"]),
        Reply::Error("IOERR error or timeout connecting to the client".into())
    );
    assert_eq!(a.cmd(&["LLEN", "list"]), Reply::Int(3));
    // The same replies from redis-server itself.
    r.cmd_ok(&["SELECT", "0"]);
    r.cmd_ok(&["SET", "probe", "1"]);
    assert_eq!(
        r.cmd(&["MIGRATE", "127.0.0.1", &closed, "probe", "0", "500"]),
        Reply::Error("IOERR error or timeout writing to target instance".into())
    );
    assert_eq!(
        r.cmd(&["MIGRATE", "127.0.0.1", &aport, "probe", "0", "500", "KEYS", "x"]),
        a.cmd(&["MIGRATE", "127.0.0.1", &rport, "probe", "0", "500", "KEYS", "x"])
    );
    assert_eq!(
        a.cmd(&["COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "1", "AUTH", "keys", "KEYS", "x", "y"]),
        r.cmd(&["COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "1", "AUTH", "keys", "KEYS", "x", "y"])
    );
    assert_eq!(
        a.cmd(&["INFO", "stats"])
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).contains("migrate_cached_sockets:1")),
        Some(true)
    );
}

/// Fields of the big hash. The test build is optimized, so the full 1,000,000 of the issue
/// fits in the test's time (under a second to fill, about one to move).
const BIG_FIELDS: usize = 1_000_000;

/// Fills `key` with `fields` fields `f<i>` = `v<i>`, 1000 per HSET, 50 HSETs per pipeline.
fn fill_big_hash(c: &mut TestClient, key: &str, fields: usize) {
    let per_cmd = 1000;
    let cmds: Vec<usize> = (0..fields).step_by(per_cmd).collect();
    for batch in cmds.chunks(50) {
        for &start in batch {
            let mut args = vec!["HSET".to_string(), key.to_string()];
            for f in start..(start + per_cmd).min(fields) {
                args.push(format!("f{f}"));
                args.push(format!("v{f}"));
            }
            c.send(&args).expect("send HSET");
        }
        for _ in batch {
            assert!(matches!(c.read_reply(), Reply::Int(_)));
        }
    }
    assert_eq!(c.cmd(&["HLEN", key]), Reply::Int(fields as i64));
}

fn digest_value(c: &mut TestClient, key: &str) -> Reply {
    c.cmd(&["DEBUG", "DIGEST-VALUE", key])
}

/// A client on `port` doing PING and GET `probe` back to back until `stop`; returns the
/// longest time one of them took.
fn poll_longest_gap(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let mut c = TestClient::connect(port);
        c.set_timeout(Duration::from_secs(60)).expect("timeout");
        let mut longest = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            for cmd in [&["PING"][..], &["GET", "probe"][..]] {
                let t = Instant::now();
                let r = c.cmd(cmd);
                assert!(!matches!(r, Reply::Error(_)), "{cmd:?}: {r:?}");
                longest = longest.max(t.elapsed());
            }
        }
        longest
    })
}

#[test]
fn big_hash_migrates_whole_while_both_nodes_keep_answering() {
    let src = ServerProcess::start(super::slotkv(), &["--enable-debug-command", "yes"]);
    let dst = ServerProcess::start(super::slotkv(), &["--enable-debug-command", "yes"]);
    let mut s = src.client();
    s.set_timeout(Duration::from_secs(60)).expect("timeout");
    let t = Instant::now();
    fill_big_hash(&mut s, "big", BIG_FIELDS);
    println!("filled {BIG_FIELDS} fields in {:?}", t.elapsed());
    let digest = digest_value(&mut s, "big");
    s.cmd_ok(&["SET", "probe", "p"]);
    dst.client().cmd_ok(&["SET", "probe", "p"]);

    let stop = Arc::new(AtomicBool::new(false));
    let on_src = poll_longest_gap(src.port(), stop.clone());
    let on_dst = poll_longest_gap(dst.port(), stop.clone());
    let t = Instant::now();
    let dport = dst.port().to_string();
    let reply = s.cmd(&["MIGRATE", "127.0.0.1", &dport, "", "0", "60000", "KEYS", "big"]);
    let took = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (gap_src, gap_dst) = (on_src.join().expect("poller"), on_dst.join().expect("poller"));
    println!(
        "MIGRATE of {BIG_FIELDS} fields: {took:?}; longest PING/GET on the source {gap_src:?}, on the target {gap_dst:?}"
    );
    assert_eq!(reply, Reply::status("OK"));
    let mut d = dst.client();
    d.set_timeout(Duration::from_secs(60)).expect("timeout");
    assert_eq!(d.cmd(&["HLEN", "big"]), Reply::Int(BIG_FIELDS as i64));
    assert_eq!(digest_value(&mut d, "big"), digest);
    assert_eq!(d.cmd(&["HGET", "big", "f999999"]), Reply::bulk("v999999"));
    assert_eq!(s.cmd(&["EXISTS", "big"]), Reply::Int(0));
}

/// Whether some established connection to `port` on this host has unread bytes queued
/// (from /proc/net/tcp: the receive queue of the socket whose local port is `port`).
fn unread_bytes_queued_at(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local_port = f
            .get(1)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        let rx = f
            .get(4)
            .and_then(|q| q.split(':').nth(1))
            .and_then(|q| u64::from_str_radix(q, 16).ok());
        f.get(3) == Some(&"01") && local_port == Some(port) && rx.unwrap_or(0) > 0
    })
}

#[test]
fn big_hash_stays_whole_on_the_source_when_the_target_dies_mid_transfer() {
    let src = ServerProcess::start(super::slotkv(), &["--enable-debug-command", "yes"]);
    let mut dst = ServerProcess::start(super::slotkv(), &[]);
    let mut s = src.client();
    s.set_timeout(Duration::from_secs(60)).expect("timeout");
    fill_big_hash(&mut s, "big", BIG_FIELDS);
    let digest = digest_value(&mut s, "big");

    // The target is frozen: the kernel accepts the connection and queues what it can of
    // the payload (tens of MB, far more than the socket buffers), nothing is restored.
    dst.kill(Signal::Stop).expect("SIGSTOP");
    let dport = dst.port().to_string();
    let mut m = src.client();
    m.set_timeout(Duration::from_secs(60)).expect("timeout");
    m.send(&["MIGRATE", "127.0.0.1", &dport, "", "0", "30000", "KEYS", "big"])
        .expect("send MIGRATE");
    assert!(
        wait_until(Duration::from_secs(30), || unread_bytes_queued_at(dst.port())),
        "the payload never reached the target's socket"
    );
    // Mid-transfer: the source is still answering, and the key is still there.
    assert_eq!(s.cmd(&["HLEN", "big"]), Reply::Int(BIG_FIELDS as i64));
    dst.kill(Signal::Kill).expect("SIGKILL");
    let reply = m.read_reply();
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("IOERR")),
        "MIGRATE to a dead target: {reply:?}"
    );
    assert_eq!(s.cmd(&["HLEN", "big"]), Reply::Int(BIG_FIELDS as i64));
    assert_eq!(digest_value(&mut s, "big"), digest);
    // No longer in flight: a write on it runs at once.
    assert_eq!(s.cmd(&["HSET", "big", "after", "1"]), Reply::Int(1));
}
