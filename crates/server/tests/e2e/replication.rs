//! Replication end to end, with real processes: slotkv master → slotkv replica, chained
//! replicas, promotion, partial resynchronization after a dropped link, and interop with
//! redis-server 7.0 in both directions.
//!
//! Links are dropped with a small in-test TCP proxy (`Proxy::cut`), never with sleeps.
//! Progress is observed with ROLE (both servers), INFO (redis-server) and the master's log
//! (slotkv, until INFO lands).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slotkv_testkit::{assert_eventually, Reply, ServerBinary, ServerProcess, TestClient};

const WAIT: Duration = Duration::from_secs(20);

fn slotkv(args: &[&str]) -> ServerProcess {
    ServerProcess::start(
        ServerBinary::Path(env!("CARGO_BIN_EXE_slotkv-server").into()),
        args,
    )
}

fn redis(args: &[&str]) -> ServerProcess {
    // No diskless-sync delay: the full sync starts at once.
    let mut all = vec!["--repl-diskless-sync-delay", "0"];
    all.extend_from_slice(args);
    ServerProcess::start(ServerBinary::Redis, &all)
}

fn get(c: &mut TestClient, key: &str) -> Option<String> {
    match c.cmd(&["GET", key]) {
        Reply::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Reply::Nil => None,
        other => panic!("GET {key}: {other:?}"),
    }
}

fn role(c: &mut TestClient) -> Vec<Reply> {
    c.cmd(&["ROLE"]).as_array().expect("ROLE is an array").to_vec()
}

/// The replica's link state in ROLE (`connected`, `connect`, ...).
fn link_state(c: &mut TestClient) -> String {
    let r = role(c);
    assert_eq!(r[0], Reply::bulk("slave"), "not a replica: {r:?}");
    r[3].as_str().unwrap_or_default().to_string()
}

fn master_offset(c: &mut TestClient) -> i64 {
    let r = role(c);
    match r[0].as_str() {
        Some("master") => r[1].as_int().expect("offset"),
        _ => r[4].as_int().expect("offset"),
    }
}

fn info_field(c: &mut TestClient, section: &str, field: &str) -> Option<String> {
    let text = match c.cmd(&["INFO", section]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO: {other:?}"),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

fn replicaof(replica: &ServerProcess, port: u16) {
    let mut c = replica.client();
    let reply = c.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]);
    assert!(reply.is_ok(), "REPLICAOF: {reply:?}");
    assert_eventually(WAIT, "replica link up", || link_state(&mut c) == "connected");
}

fn wait_value(c: &mut TestClient, key: &str, want: Option<&str>) {
    assert_eventually(WAIT, &format!("{key} = {want:?} on the replica"), || {
        get(c, key).as_deref() == want
    });
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

const SLOTKV_FULL: &str = "asks for synchronization; full resync";
const SLOTKV_PARTIAL: &str = "Partial resynchronization request from";

/// A TCP proxy to a server whose connections can be cut, and new ones refused for a while.
struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    refuse: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let refuse = Arc::new(AtomicBool::new(false));
        let (c2, r2) = (conns.clone(), refuse.clone());
        std::thread::spawn(move || {
            for down in listener.incoming() {
                let Ok(down) = down else { continue };
                if r2.load(Ordering::SeqCst) {
                    let _ = down.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(up) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let pairs = [
                    (down.try_clone(), up.try_clone()),
                    (up.try_clone(), down.try_clone()),
                ];
                {
                    let mut list = c2.lock().expect("proxy lock");
                    list.extend(down.try_clone());
                    list.extend(up.try_clone());
                }
                for (from, to) in pairs {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = pipe(&mut from, &mut to);
                            let _ = to.shutdown(Shutdown::Both);
                        });
                    }
                }
            }
        });
        Proxy { port, conns, refuse }
    }

    /// Closes every proxied connection; new ones are refused until `resume`.
    fn cut(&self) {
        self.refuse.store(true, Ordering::SeqCst);
        for s in self.conns.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn resume(&self) {
        self.refuse.store(false, Ordering::SeqCst);
    }
}

fn pipe(from: &mut TcpStream, to: &mut TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

#[test]
fn slotkv_master_to_slotkv_replica() {
    let master = slotkv(&[]);
    let replica = slotkv(&[]);
    let mut m = master.client();
    let mut r = replica.client();
    for i in 0..100 {
        m.cmd_ok(&["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    m.cmd_ok(&["SELECT", "3"]);
    m.cmd_ok(&["SET", "in3", "x"]);
    m.cmd_ok(&["SELECT", "0"]);

    replicaof(&replica, master.port());
    // Full sync of what existed.
    wait_value(&mut r, "k99", Some("v99"));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(100));
    r.cmd_ok(&["SELECT", "3"]);
    assert_eq!(get(&mut r, "in3").as_deref(), Some("x"));
    r.cmd_ok(&["SELECT", "0"]);
    assert_eq!(count(&master.log_text(), SLOTKV_FULL), 1);

    // The live stream, transactions included.
    m.cmd_ok(&["SET", "live", "1"]);
    assert_eq!(m.cmd(&["INCR", "live"]), Reply::Int(2));
    m.cmd_ok(&["MULTI"]);
    m.cmd(&["SET", "tx1", "a"]);
    m.cmd(&["SET", "tx2", "b"]);
    m.cmd(&["EXEC"]);
    wait_value(&mut r, "tx2", Some("b"));
    assert_eq!(get(&mut r, "live").as_deref(), Some("2"));

    // WAIT counts the replica once it acknowledged.
    m.cmd_ok(&["SET", "waited", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Reply::Int(1));
    assert_eq!(m.cmd(&["WAIT", "2", "100"]), Reply::Int(1));

    // Expiry: the master's DEL removes the key on the replica (which only hides it).
    m.cmd_ok(&["SET", "short", "1", "PX", "50"]);
    wait_value(&mut r, "short", None);
    assert_eventually(WAIT, "expired key deleted on the replica", || {
        r.cmd(&["DBSIZE"]) == m.cmd(&["DBSIZE"])
    });

    // Read-only replica.
    assert_eq!(
        r.cmd(&["SET", "x", "1"]),
        Reply::Error("READONLY You can't write against a read only replica.".into())
    );
    assert!(
        r.cmd(&["WAIT", "1", "0"]).is_error(),
        "WAIT is refused on replicas"
    );

    // ROLE on both sides.
    let mr = role(&mut m);
    assert_eq!(mr[0], Reply::bulk("master"));
    let replicas = mr[2].as_array().expect("replicas").to_vec();
    assert_eq!(replicas.len(), 1);
    assert_eq!(
        replicas[0].as_array().expect("entry")[1],
        Reply::bulk(replica.port().to_string())
    );
    assert_eventually(WAIT, "replica offset reaches the master's", || {
        master_offset(&mut r) == master_offset(&mut m)
    });
    let rr = role(&mut r);
    assert_eq!(rr[1], Reply::bulk("127.0.0.1"));
    assert_eq!(rr[2], Reply::Int(master.port() as i64));
}

#[test]
fn dropped_link_resyncs_partially() {
    let master = slotkv(&[]);
    let replica = slotkv(&[]);
    let proxy = Proxy::start(master.port());
    let mut m = master.client();
    let mut r = replica.client();
    m.cmd_ok(&["SET", "before", "1"]);
    replicaof(&replica, proxy.port);
    wait_value(&mut r, "before", Some("1"));
    // The stream is in database 5 when the link drops: it continues there without a
    // new SELECT.
    m.cmd_ok(&["SELECT", "5"]);
    m.cmd_ok(&["SET", "in5", "1"]);
    r.cmd_ok(&["SELECT", "5"]);
    wait_value(&mut r, "in5", Some("1"));

    proxy.cut();
    assert_eventually(WAIT, "link down", || link_state(&mut r) != "connected");
    m.cmd_ok(&["SET", "during", "2"]);
    m.cmd_ok(&["SET", "in5", "changed"]);
    proxy.resume();

    wait_value(&mut r, "during", Some("2"));
    wait_value(&mut r, "in5", Some("changed"));
    r.cmd_ok(&["SELECT", "0"]);
    assert_eq!(get(&mut r, "during"), None);
    let log = master.log_text();
    assert_eq!(count(&log, SLOTKV_FULL), 1, "{log}");
    assert_eq!(count(&log, SLOTKV_PARTIAL), 1, "{log}");
    m.cmd_ok(&["SET", "after", "3"]);
    r.cmd_ok(&["SELECT", "5"]);
    wait_value(&mut r, "after", Some("3"));
}

#[test]
fn chained_replica() {
    let master = slotkv(&[]);
    // A writable middle replica: its own writes stay local, the chain relays only the
    // master's stream.
    let middle = slotkv(&["--replica-read-only", "no"]);
    let leaf = slotkv(&[]);
    let mut m = master.client();
    m.cmd_ok(&["SET", "a", "1"]);
    replicaof(&middle, master.port());
    replicaof(&leaf, middle.port());
    let mut l = leaf.client();
    wait_value(&mut l, "a", Some("1"));
    middle.client().cmd_ok(&["SET", "local", "x"]);
    m.cmd_ok(&["SET", "b", "2"]);
    m.cmd_ok(&["SELECT", "5"]);
    m.cmd_ok(&["SET", "c", "3"]);
    wait_value(&mut l, "b", Some("2"));
    l.cmd_ok(&["SELECT", "5"]);
    wait_value(&mut l, "c", Some("3"));
    let mut mid = middle.client();
    assert_eventually(WAIT, "offsets agree along the chain", || {
        let o = master_offset(&mut m);
        master_offset(&mut mid) == o && master_offset(&mut l) == o
    });
    assert_eq!(get(&mut mid, "local").as_deref(), Some("x"));
    l.cmd_ok(&["SELECT", "0"]);
    assert_eq!(get(&mut l, "local"), None);
}

#[test]
fn replicaof_in_config_with_masterauth() {
    let master = slotkv(&["--requirepass", "s3cret"]);
    let mut m = master.client();
    m.cmd_ok(&["AUTH", "s3cret"]);
    m.cmd_ok(&["SET", "a", "1"]);
    let port = master.port().to_string();
    let replica = slotkv(&["--replicaof", "127.0.0.1", &port, "--masterauth", "s3cret"]);
    let mut r = replica.client();
    assert_eventually(WAIT, "replica link up", || link_state(&mut r) == "connected");
    wait_value(&mut r, "a", Some("1"));
    m.cmd_ok(&["SET", "b", "2"]);
    wait_value(&mut r, "b", Some("2"));
    // The snapshot file of the full resync is gone.
    let leftovers: Vec<_> = std::fs::read_dir(master.dir())
        .expect("master dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-repl-sync"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn replica_with_a_wrong_password_stays_down() {
    let master = slotkv(&["--requirepass", "s3cret"]);
    let replica = slotkv(&["--masterauth", "wrong"]);
    let mut r = replica.client();
    r.cmd_ok(&["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    assert_eventually(WAIT, "the AUTH failure is logged", || {
        replica.log_text().contains("Unable to AUTH to MASTER")
    });
    assert_ne!(link_state(&mut r), "connected");
}

#[test]
fn sync_command_sends_a_bare_snapshot() {
    let master = slotkv(&[]);
    let mut m = master.client();
    m.cmd_ok(&["SET", "a", "1"]);
    let mut s = TcpStream::connect(master.addr()).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(b"SYNC\r\n").expect("send SYNC");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(5).any(|w| w == b"REDIS") {
        let n = s.read(&mut buf).expect("read the snapshot");
        assert!(n > 0, "closed early: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let body = text.trim_start_matches('\n');
    assert!(body.starts_with('$'), "{text:?}");
    assert!(body.contains("\r\nREDIS0010"), "{text:?}");
}

#[test]
fn promotion_and_partial_resync_of_the_other_replica() {
    // No PINGs from the master during the test: both replicas stop at the same offset.
    let mut master = slotkv(&["--repl-ping-replica-period", "3600"]);
    let r1 = slotkv(&[]);
    let r2 = slotkv(&[]);
    let mut m = master.client();
    m.cmd_ok(&["SET", "a", "1"]);
    replicaof(&r1, master.port());
    replicaof(&r2, master.port());
    m.cmd_ok(&["SET", "b", "2"]);
    let (mut c1, mut c2) = (r1.client(), r2.client());
    assert_eventually(WAIT, "both replicas caught up", || {
        let o = master_offset(&mut m);
        master_offset(&mut c1) == o && master_offset(&mut c2) == o
    });
    master.stop();

    assert!(c1.cmd(&["REPLICAOF", "NO", "ONE"]).is_ok());
    assert_eq!(role(&mut c1)[0], Reply::bulk("master"));
    c1.cmd_ok(&["SET", "c", "3"]);
    replicaof(&r2, r1.port());
    wait_value(&mut c2, "c", Some("3"));
    assert_eq!(get(&mut c2, "a").as_deref(), Some("1"));
    let log = r1.log_text();
    assert_eq!(count(&log, SLOTKV_PARTIAL), 1, "{log}");
    assert_eq!(count(&log, SLOTKV_FULL), 0, "{log}");
}

#[test]
fn interop_slotkv_replica_of_redis_master() {
    let master = redis(&[]);
    let replica = slotkv(&[]);
    let proxy = Proxy::start(master.port());
    let mut m = master.client();
    let mut r = replica.client();
    for i in 0..50 {
        m.cmd_ok(&["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    m.cmd(&["HSET", "h", "f", "v"]);
    m.cmd_ok(&["SET", "ttl", "x", "EX", "1000"]);

    replicaof(&replica, proxy.port);
    wait_value(&mut r, "k49", Some("v49"));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(52));
    m.cmd_ok(&["SET", "live", "1"]);
    wait_value(&mut r, "live", Some("1"));
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Reply::Int(1));
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("1"));

    proxy.cut();
    assert_eventually(WAIT, "link down", || link_state(&mut r) != "connected");
    m.cmd_ok(&["SET", "during", "2"]);
    proxy.resume();
    wait_value(&mut r, "during", Some("2"));
    assert_eq!(
        info_field(&mut m, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("1"));
    assert_eventually(WAIT, "offsets agree", || {
        master_offset(&mut r) == master_offset(&mut m)
    });
}

#[test]
fn interop_redis_replica_of_slotkv_master() {
    let master = slotkv(&[]);
    let replica = redis(&[]);
    let proxy = Proxy::start(master.port());
    let mut m = master.client();
    let mut r = replica.client();
    for i in 0..50 {
        m.cmd_ok(&["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    m.cmd_ok(&["SET", "ttl", "x", "EX", "1000"]);

    replicaof(&replica, proxy.port);
    wait_value(&mut r, "k49", Some("v49"));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(51));
    assert!(matches!(r.cmd(&["TTL", "ttl"]), Reply::Int(t) if t > 900));
    m.cmd_ok(&["SET", "live", "1"]);
    m.cmd_ok(&["SET", "short", "1", "PX", "50"]);
    wait_value(&mut r, "live", Some("1"));
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Reply::Int(1));
    assert_eventually(WAIT, "expired key deleted on the replica", || {
        r.cmd(&["DBSIZE"]) == Reply::Int(52)
    });

    proxy.cut();
    assert_eventually(WAIT, "link down", || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("down")
    });
    m.cmd_ok(&["SET", "during", "2"]);
    proxy.resume();
    wait_value(&mut r, "during", Some("2"));
    let log = master.log_text();
    assert_eq!(count(&log, SLOTKV_FULL), 1, "{log}");
    assert_eq!(count(&log, SLOTKV_PARTIAL), 1, "{log}");
    assert_eventually(WAIT, "offsets agree", || {
        info_field(&mut r, "replication", "master_repl_offset") == Some(master_offset(&mut m).to_string())
    });
}

/// Writes `SET w<i> <i>` in pipelined batches until `stop`; returns how many.
fn write_load(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut c = TestClient::connect(port);
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) {
            for _ in 0..100 {
                c.send(&["SET", &format!("w{i}"), &i.to_string()]).expect("send");
                i += 1;
            }
            for _ in 0..100 {
                assert!(c.read_reply().is_ok());
            }
        }
        i
    })
}

#[test]
fn full_sync_under_write_load_converges() {
    let master = slotkv(&[]);
    let replica = slotkv(&[]);
    let mut m = master.client();
    for i in 0..2000 {
        m.send(&["SET", &format!("pre{i}"), &"x".repeat(100)])
            .expect("send");
    }
    for _ in 0..2000 {
        assert!(m.read_reply().is_ok());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(master.port(), stop.clone());
    replicaof(&replica, master.port());
    let mut r = replica.client();
    // Let some of the load go through the live stream too.
    assert_eventually(WAIT, "writes reach the replica", || {
        r.cmd(&["DBSIZE"]).as_int().unwrap_or(0) > 3000
    });
    stop.store(true, Ordering::SeqCst);
    let written = load.join().expect("load thread");
    assert_eventually(WAIT, "offsets agree", || {
        master_offset(&mut r) == master_offset(&mut m)
    });
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(2000 + written as i64));
    let last = (written - 1).to_string();
    assert_eq!(get(&mut r, &format!("w{last}")), Some(last));
}

#[test]
fn replica_out_of_the_backlog_resyncs_fully() {
    let master = slotkv(&["--repl-backlog-size", "16kb"]);
    let replica = slotkv(&[]);
    let proxy = Proxy::start(master.port());
    let mut m = master.client();
    replicaof(&replica, proxy.port);
    let mut r = replica.client();
    proxy.cut();
    assert_eventually(WAIT, "link down", || link_state(&mut r) != "connected");
    // Far more than the backlog holds.
    let big = "y".repeat(1000);
    for i in 0..100 {
        m.cmd_ok(&["SET", &format!("b{i}"), &big]);
    }
    proxy.resume();
    wait_value(&mut r, "b99", Some(&big));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(100));
    let log = master.log_text();
    assert_eq!(count(&log, SLOTKV_FULL), 2, "{log}");
    assert_eq!(count(&log, SLOTKV_PARTIAL), 0, "{log}");
}

/// Larger snapshots from redis-server, with both framings: `$EOF:` (diskless, the 7.0
/// default) and `$<len>` (disk-based).
#[test]
fn interop_large_snapshots_from_redis_in_both_framings() {
    for diskless in ["yes", "no"] {
        let master = redis(&["--repl-diskless-sync", diskless]);
        let replica = slotkv(&[]);
        let mut m = master.client();
        let value = "v".repeat(200);
        for i in 0..5000 {
            m.send(&["SET", &format!("k{i}"), &value]).expect("send");
        }
        for _ in 0..5000 {
            assert!(m.read_reply().is_ok());
        }
        replicaof(&replica, master.port());
        let mut r = replica.client();
        assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(5000), "diskless {diskless}");
        assert_eq!(get(&mut r, "k4999").as_deref(), Some(value.as_str()));
        m.cmd_ok(&["SET", "after", "1"]);
        wait_value(&mut r, "after", Some("1"));
    }
}

#[test]
fn restarted_replica_resyncs_partially_from_its_rdb() {
    let master = slotkv(&[]);
    let port = master.port().to_string();
    let mut replica = slotkv(&["--replicaof", "127.0.0.1", &port, "--save", "3600 1"]);
    let mut m = master.client();
    m.cmd_ok(&["SET", "a", "1"]);
    m.cmd_ok(&["SELECT", "2"]);
    m.cmd_ok(&["SET", "in2", "1"]);
    let mut r = replica.client();
    r.cmd_ok(&["SELECT", "2"]);
    wait_value(&mut r, "in2", Some("1"));
    assert_eventually(WAIT, "replica caught up", || {
        master_offset(&mut r) == master_offset(&mut m)
    });
    drop(r);
    // SIGTERM with a save point: the final snapshot records the replication position.
    replica.stop();
    m.cmd_ok(&["SET", "in2", "while-down"]);
    replica.restart();
    let mut r = replica.client();
    r.cmd_ok(&["SELECT", "2"]);
    wait_value(&mut r, "in2", Some("while-down"));
    r.cmd_ok(&["SELECT", "0"]);
    assert_eq!(get(&mut r, "a").as_deref(), Some("1"));
    let log = master.log_text();
    assert_eq!(count(&log, SLOTKV_FULL), 1, "{log}");
    assert_eq!(count(&log, SLOTKV_PARTIAL), 1, "{log}");
}

#[test]
fn interop_restarts_resync_partially_both_ways() {
    // A redis-server replica of slotkv, restarted.
    let master = slotkv(&[]);
    let port = master.port().to_string();
    let mut replica = redis(&["--replicaof", "127.0.0.1", &port, "--save", "3600 1"]);
    let mut m = master.client();
    m.cmd_ok(&["SET", "a", "1"]);
    let mut r = replica.client();
    wait_value(&mut r, "a", Some("1"));
    drop(r);
    replica.stop();
    m.cmd_ok(&["SET", "a", "2"]);
    replica.restart();
    let mut r = replica.client();
    wait_value(&mut r, "a", Some("2"));
    let log = master.log_text();
    assert_eq!(count(&log, SLOTKV_FULL), 1, "{log}");
    assert_eq!(count(&log, SLOTKV_PARTIAL), 1, "{log}");

    // A slotkv replica of redis-server, restarted.
    let master = redis(&[]);
    let port = master.port().to_string();
    let mut replica = slotkv(&["--replicaof", "127.0.0.1", &port, "--save", "3600 1"]);
    let mut m = master.client();
    m.cmd_ok(&["SET", "b", "1"]);
    let mut r = replica.client();
    wait_value(&mut r, "b", Some("1"));
    assert_eventually(WAIT, "replica caught up", || {
        master_offset(&mut r) == master_offset(&mut m)
    });
    drop(r);
    replica.stop();
    m.cmd_ok(&["SET", "b", "2"]);
    replica.restart();
    let mut r = replica.client();
    wait_value(&mut r, "b", Some("2"));
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("1"));
    assert_eq!(
        info_field(&mut m, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );
}

/// A scripted master: reads one command from the replica.
fn read_command(s: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<String> {
    loop {
        if let Ok(Some((reply, used))) = Reply::parse(buf) {
            buf.drain(..used);
            let items = reply.as_array().expect("a command").to_vec();
            return items
                .iter()
                .map(|a| String::from_utf8_lossy(a.as_bytes().expect("bulk")).into_owned())
                .collect();
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).expect("read from the replica");
        assert!(n > 0, "replica closed the link");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The next connection, within the test's wait bound, with reads bounded too.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let s = slotkv_testkit::wait_for(WAIT, || listener.accept().ok().map(|(s, _)| s))
        .expect("the replica did not connect");
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

/// The offset of a `REPLCONF ACK <offset>`, 0 for anything else.
fn acked(cmd: &[String]) -> usize {
    match cmd {
        [c, a, off, ..] if c.eq_ignore_ascii_case("replconf") && a.eq_ignore_ascii_case("ack") => {
            off.parse().unwrap_or(0)
        }
        _ => 0,
    }
}

/// Answers the handshake up to PSYNC; returns PSYNC's arguments.
fn scripted_handshake(s: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<String> {
    loop {
        let cmd = read_command(s, buf);
        match cmd[0].to_ascii_uppercase().as_str() {
            "PING" => s.write_all(b"+PONG\r\n").expect("write"),
            "REPLCONF" => s.write_all(b"+OK\r\n").expect("write"),
            "PSYNC" => return cmd,
            other => panic!("unexpected {other} in the handshake"),
        }
    }
}

#[test]
fn link_lost_inside_a_transaction_resumes_before_multi() {
    const ID: &str = "1234567890123456789012345678901234567890";
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let before = slotkv_testkit::encode(&["SELECT", "0"])
        .into_iter()
        .chain(slotkv_testkit::encode(&["SET", "a", "1"]))
        .collect::<Vec<u8>>();
    let tx: Vec<u8> = [
        slotkv_testkit::encode(&["MULTI"]),
        slotkv_testkit::encode(&["SET", "b", "2"]),
        slotkv_testkit::encode(&["SET", "c", "3"]),
        slotkv_testkit::encode(&["EXEC"]),
    ]
    .concat();
    let cut_at = tx.len() - slotkv_testkit::encode(&["EXEC"]).len();
    let expected_offset = before.len() + 1;
    let master = std::thread::spawn(move || {
        // First link: full sync, then the stream breaks inside MULTI.
        let mut s = accept_within(&listener);
        let mut buf = Vec::new();
        let psync = scripted_handshake(&mut s, &mut buf);
        assert_eq!(psync[0].to_ascii_uppercase(), "PSYNC");
        let mut rdb = b"REDIS0010\xff".to_vec();
        rdb.extend_from_slice(&[0u8; 8]);
        s.write_all(format!("+FULLRESYNC {ID} 0\r\n${}\r\n", rdb.len()).as_bytes())
            .expect("write");
        s.write_all(&rdb).expect("write");
        s.write_all(&before).expect("write");
        s.write_all(&tx[..cut_at]).expect("write");
        // Wait for an ACK covering `before` so that the cut happens after it was applied.
        while acked(&read_command(&mut s, &mut buf)) < before.len() {}
        drop(s);
        // Second link: the replica must ask for the stream from before MULTI.
        let mut s = accept_within(&listener);
        let mut buf = Vec::new();
        let psync = scripted_handshake(&mut s, &mut buf);
        s.write_all(format!("+CONTINUE {ID}\r\n").as_bytes())
            .expect("write");
        s.write_all(&tx).expect("write");
        // Keep the link open until the replica acknowledged everything.
        let total = before.len() + tx.len();
        while acked(&read_command(&mut s, &mut buf)) < total {}
        psync
    });
    let replica = slotkv(&[]);
    let mut r = replica.client();
    r.cmd_ok(&["REPLICAOF", "127.0.0.1", &port.to_string()]);
    let psync = master.join().expect("scripted master");
    assert_eq!(psync, ["PSYNC", ID, &expected_offset.to_string()]);
    assert_eq!(get(&mut r, "a").as_deref(), Some("1"));
    assert_eq!(get(&mut r, "b").as_deref(), Some("2"));
    assert_eq!(get(&mut r, "c").as_deref(), Some("3"));
}

/// `min-replicas-to-write` / `min-replicas-max-lag` on slotkv and on redis-server alike:
/// writes are refused with -NOREPLICAS until enough replicas acknowledge recently.
#[test]
fn min_replicas_to_write_refuses_writes_without_good_replicas() {
    for server in ["slotkv", "redis"] {
        let start = |args: &[&str]| {
            if server == "slotkv" {
                slotkv(args)
            } else {
                redis(args)
            }
        };
        let master = start(&["--min-replicas-to-write", "1", "--min-replicas-max-lag", "10"]);
        let mut m = master.client();
        let refused = Reply::Error("NOREPLICAS Not enough good replicas to write.".into());
        assert_eq!(m.cmd(&["SET", "k", "1"]), refused, "{server}");
        assert_eq!(m.cmd(&["GET", "k"]), Reply::Nil, "{server}: reads are served");
        // Inside MULTI the write is refused when queued, and EXEC aborts.
        m.cmd_ok(&["MULTI"]);
        assert_eq!(m.cmd(&["SET", "k", "1"]), refused, "{server}");
        assert!(
            matches!(m.cmd(&["EXEC"]), Reply::Error(e) if e.starts_with("EXECABORT")),
            "{server}"
        );
        assert_eq!(
            info_field(&mut m, "replication", "min_slaves_good_slaves").as_deref(),
            Some("0")
        );

        let replica = start(&[]);
        replicaof(&replica, master.port());
        assert_eventually(WAIT, "a good replica", || {
            info_field(&mut m, "replication", "min_slaves_good_slaves").as_deref() == Some("1")
        });
        m.cmd_ok(&["SET", "k", "1"]);
        // Off when either setting is 0.
        m.cmd_ok(&["CONFIG", "SET", "min-replicas-to-write", "2"]);
        assert_eq!(m.cmd(&["SET", "k", "2"]), refused, "{server}");
        m.cmd_ok(&["CONFIG", "SET", "min-slaves-max-lag", "0"]);
        m.cmd_ok(&["SET", "k", "2"]);
        assert_eq!(info_field(&mut m, "replication", "min_slaves_good_slaves"), None);
        m.cmd_ok(&[
            "CONFIG",
            "SET",
            "min-replicas-max-lag",
            "10",
            "min-replicas-to-write",
            "1",
        ]);
        // The replica goes away: writes are refused again.
        drop(replica);
        assert_eventually(WAIT, "writes refused once the replica is gone", || {
            m.cmd(&["SET", "k", "3"]) == refused
        });
    }
}

/// `replica-announce-ip` / `replica-announce-port`: the master lists the replica under
/// the announced address (as redis-server does for a slotkv replica and vice versa).
#[test]
fn replica_announces_its_address() {
    for (master_kind, replica_kind) in [("slotkv", "slotkv"), ("redis", "slotkv"), ("slotkv", "redis")] {
        let start = |kind: &str, args: &[&str]| {
            if kind == "slotkv" {
                slotkv(args)
            } else {
                redis(args)
            }
        };
        let master = start(master_kind, &[]);
        let replica = start(
            replica_kind,
            &[
                "--replica-announce-ip",
                "10.9.8.7",
                "--replica-announce-port",
                "4242",
            ],
        );
        replicaof(&replica, master.port());
        let mut m = master.client();
        assert_eventually(WAIT, "the announced address in INFO replication", || {
            info_field(&mut m, "replication", "slave0")
                .is_some_and(|v| v.starts_with("ip=10.9.8.7,port=4242,state=online"))
        });
    }
}

/// `CLIENT LIST TYPE replica` and `CLIENT KILL TYPE replica` on a master find its replica
/// (flag `S`), as on redis-server 7.0; the replica reconnects.
#[test]
fn client_kill_type_replica_drops_the_replica_link() {
    for master in [slotkv(&[]), redis(&[])] {
        let replica = slotkv(&[]);
        replicaof(&replica, master.port());
        let mut m = master.client();
        let listed = match m.cmd(&["CLIENT", "LIST", "TYPE", "replica"]) {
            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("CLIENT LIST: {other:?}"),
        };
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert!(listed.contains(" flags=S "), "{listed}");
        assert_eq!(m.cmd(&["CLIENT", "KILL", "TYPE", "normal"]), Reply::Int(0));
        assert_eq!(m.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), Reply::Int(1));
        let mut r = replica.client();
        assert_eventually(WAIT, "the replica reconnected", || {
            info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("1")
                && link_state(&mut r) == "connected"
        });
    }
}
