//! Failover with real processes (the tutorial's steps 4–5, and CLUSTER FAILOVER): a master
//! is killed with SIGKILL or stopped with SIGTERM, its replica is elected and serves the
//! slots, the old master is restarted from its own folder and comes back as a replica of
//! the new one; a manual failover swaps a master and its replica. Every wait is bounded
//! polling. The cluster helpers here are shared with `faults`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::{bulk_text, info_field, start_node_with_timeout};
use slotkv_testkit::{wait_until, Reply, ServerProcess, Signal, TestClient};

pub(super) const NODE_TIMEOUT_MS: u64 = 2000;

/// One line of CLUSTER NODES.
#[derive(Debug, Clone)]
pub(super) struct NodeLine {
    pub id: String,
    /// The node's address (0.0.0.0:port while it has none).
    pub addr: SocketAddr,
    pub flags: Vec<String>,
    pub master: String,
    pub slots: Vec<String>,
}

impl NodeLine {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

pub(super) fn cluster_nodes(c: &mut TestClient) -> Vec<NodeLine> {
    let text = match c.try_cmd(&["CLUSTER", "NODES"]) {
        Ok(r) => bulk_text(r),
        Err(_) => return Vec::new(),
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() < 8 {
                return None;
            }
            let (ip, port) = f[1].split('@').next()?.rsplit_once(':')?;
            let ip = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            Some(NodeLine {
                id: f[0].to_string(),
                addr: SocketAddr::new(ip, port.parse().ok()?),
                flags: f[2].split(',').map(str::to_string).collect(),
                master: f[3].to_string(),
                slots: f[8..].iter().map(|s| s.to_string()).collect(),
            })
        })
        .collect()
}

/// Six nodes with a short node timeout, joined by `redis-cli --cluster create` with one
/// replica per master; returns once every node reports cluster_state:ok.
pub(super) fn six_node_cluster(base: &std::path::Path) -> Vec<ServerProcess> {
    create_six_node_cluster(
        (0..6)
            .map(|_| start_node_with_timeout(base, NODE_TIMEOUT_MS))
            .collect(),
    )
}

/// Joins six started nodes with `redis-cli --cluster create` (one replica per master, at
/// the nodes' own addresses) and returns them once every node reports cluster_state:ok.
pub(super) fn create_six_node_cluster(nodes: Vec<ServerProcess>) -> Vec<ServerProcess> {
    redis_cli_create(&nodes, 1);
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
                    && cluster_nodes(&mut c).iter().filter(|l| l.has("slave")).count() == 3
            }),
            "node {} never settled:\n{}",
            n.addr(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
    nodes
}

/// `redis-cli --cluster create` of `nodes` (at their own addresses) with `replicas` replicas
/// per master.
pub(super) fn redis_cli_create(nodes: &[ServerProcess], replicas: usize) {
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    args.extend(nodes.iter().map(|n| n.addr().to_string()));
    args.extend([
        "--cluster-replicas".into(),
        replicas.to_string(),
        "--cluster-yes".into(),
    ]);
    let out = std::process::Command::new(slotkv_testkit::redis_cli_path())
        .args(&args)
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "create failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Index of the master serving `key` and of its replica.
pub(super) fn master_and_replica_of(nodes: &[ServerProcess], key: &str) -> (usize, usize) {
    let mut c = nodes[0].client();
    let lines = cluster_nodes(&mut c);
    let master = nodes
        .iter()
        .position(|n| matches!(n.client().cmd(&["GET", key]), Reply::Nil | Reply::Bulk(_)))
        .expect("some node serves the key");
    let master_id = lines
        .iter()
        .find(|l| l.addr == nodes[master].addr())
        .expect("master line")
        .id
        .clone();
    let replica_addr = lines
        .iter()
        .find(|l| l.master == master_id)
        .expect("the master has a replica")
        .addr;
    let replica = nodes
        .iter()
        .position(|n| n.addr() == replica_addr)
        .expect("known address");
    (master, replica)
}

pub(super) fn myid(n: &ServerProcess) -> String {
    bulk_text(n.client().cmd(&["CLUSTER", "MYID"]))
}

/// Waits until the replica's link to its master is up (ROLE says "connected").
pub(super) fn wait_replica_synced(rc: &mut TestClient) {
    assert!(
        wait_until(Duration::from_secs(20), || {
            matches!(rc.cmd(&["ROLE"]), Reply::Array(v) if v.get(3) == Some(&Reply::Bulk(b"connected".to_vec())))
        }),
        "the replica never synced: {:?}",
        rc.cmd(&["ROLE"])
    );
}

#[test]
fn killed_master_is_replaced_by_its_replica_and_rejoins_as_replica() {
    stopped_master_is_replaced_by_its_replica_and_rejoins_as_replica(Signal::Kill);
}

#[test]
fn terminated_master_is_replaced_by_its_replica_and_rejoins_as_replica() {
    stopped_master_is_replaced_by_its_replica_and_rejoins_as_replica(Signal::Term);
}

/// Steps 4-5 of the tutorial: the master of "foo" goes away by `signal` (SIGKILL: a crash;
/// SIGTERM: a clean shutdown, which in cluster mode triggers no failover by itself), its
/// replica is elected, the data acknowledged by WAIT survives, and the old master restarted
/// from its folder follows the new one.
fn stopped_master_is_replaced_by_its_replica_and_rejoins_as_replica(signal: Signal) {
    let base = tempfile::tempdir().expect("tempdir");
    let mut nodes = six_node_cluster(base.path());
    let FooShard {
        m,
        r,
        old_id,
        new_id,
        slots_of_old,
    } = foo_shard_with_acknowledged_write(&nodes);
    let mut rc = nodes[r].client();

    nodes[m].kill(signal).expect("signal the master");
    let killed = Instant::now();
    if signal == Signal::Term {
        let status = nodes[m].wait_exit(Duration::from_secs(15));
        assert!(
            status.is_some_and(|s| s.success()),
            "the master did not exit cleanly on SIGTERM: {status:?}\n{}",
            nodes[m].log_text()
        );
    }
    wait_write_accepted(&mut rc, "{foo}after");
    let failover = killed.elapsed();
    eprintln!("failover: {signal:?} -> first successful write on the promoted replica took {failover:?}");
    assert_failover_seen(&nodes, m, &old_id, &new_id, &slots_of_old);
    assert_eq!(rc.cmd(&["GET", "foo"]), Reply::Bulk(b"before".to_vec()));

    // Step 5: the old master restarts from its folder and follows the new master.
    nodes[m].restart();
    assert_rejoined_as_replica(&nodes, &old_id, &new_id);
    let mut oc = nodes[m].client();
    assert_eq!(rc.cmd(&["SET", "{foo}again", "2"]), Reply::Status("OK".into()));
    assert_follows_new_master(
        &mut oc,
        &[("{foo}again", "2"), ("{foo}after", "1"), ("foo", "before")],
    );
}

/// The master serving "foo" and its replica, once "foo" = "before" was written on the
/// master and acknowledged by the replica.
pub(super) struct FooShard {
    pub m: usize,
    pub r: usize,
    pub old_id: String,
    pub new_id: String,
    /// The master's slot ranges as CLUSTER NODES shows them.
    pub slots_of_old: Vec<String>,
}

pub(super) fn foo_shard_with_acknowledged_write(nodes: &[ServerProcess]) -> FooShard {
    let (m, r) = master_and_replica_of(nodes, "foo");
    let (old_id, new_id) = (myid(&nodes[m]), myid(&nodes[r]));
    // The replica's link to its master is up before the data that must survive is written.
    wait_replica_synced(&mut nodes[r].client());
    let mut mc = nodes[m].client();
    assert_eq!(mc.cmd(&["SET", "foo", "before"]), Reply::Status("OK".into()));
    // As in the tutorial: WAIT 1 0 blocks until the replica has the write (bounded by the
    // test client's read timeout).
    assert_eq!(
        mc.cmd(&["WAIT", "1", "0"]),
        Reply::Int(1),
        "the write reached the replica"
    );
    let slots_of_old = slots_of(&cluster_nodes(&mut mc), &old_id);
    FooShard {
        m,
        r,
        old_id,
        new_id,
        slots_of_old,
    }
}

/// The slot ranges of node `id` in CLUSTER NODES lines.
pub(super) fn slots_of(lines: &[NodeLine], id: &str) -> Vec<String> {
    lines
        .iter()
        .find(|l| l.id == id)
        .map(|l| l.slots.clone())
        .unwrap_or_else(|| panic!("no line for node {id}"))
}

/// Waits until the promoted replica behind `rc` takes a write of `key` (a key of the slots
/// of the master it replaced).
pub(super) fn wait_write_accepted(rc: &mut TestClient, key: &str) {
    assert!(
        wait_until(Duration::from_secs(30), || {
            matches!(rc.try_cmd(&["SET", key, "1"]), Ok(Reply::Status(s)) if s == "OK")
        }),
        "the replica never accepted a write:\n{}",
        bulk_text(rc.cmd(&["CLUSTER", "NODES"]))
    );
}

/// Every node but `skip` (the old master) shows the old master failed and without slots,
/// the new one serving `slots_of_old`, and cluster_state:ok.
pub(super) fn assert_failover_seen(
    nodes: &[ServerProcess],
    skip: usize,
    old_id: &str,
    new_id: &str,
    slots_of_old: &[String],
) {
    for (i, n) in nodes.iter().enumerate().filter(|(i, _)| *i != skip) {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                let lines = cluster_nodes(&mut c);
                let old_ok = lines
                    .iter()
                    .any(|l| l.id == old_id && l.has("master") && l.has("fail") && l.slots.is_empty());
                let new_ok = lines
                    .iter()
                    .any(|l| l.id == new_id && l.has("master") && l.slots == slots_of_old);
                old_ok
                    && new_ok
                    && info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
            }),
            "node {i} ({}) does not show the failover:\n{}",
            n.addr(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
}

/// Every node shows the old master as a replica of the new one, with no failure flag, and
/// reports cluster_state:ok.
pub(super) fn assert_rejoined_as_replica(nodes: &[ServerProcess], old_id: &str, new_id: &str) {
    for n in nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(30), || {
                cluster_nodes(&mut c).iter().any(|l| {
                    l.id == old_id
                        && l.has("slave")
                        && !l.has("fail")
                        && !l.has("fail?")
                        && l.master == new_id
                }) && info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
            }),
            "node {} does not show the old master as a replica of the new one:\n{}\n{}",
            n.addr(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"])),
            bulk_text(c.cmd(&["CLUSTER", "INFO"]))
        );
    }
}

/// The old master (behind `oc`) redirects writes to the new one and, as its replica, holds
/// each `(key, value)` of `expected` once resynchronised.
pub(super) fn assert_follows_new_master(oc: &mut TestClient, expected: &[(&str, &str)]) {
    match oc.cmd(&["SET", expected[0].0, "x"]) {
        Reply::Error(e) => assert!(
            e.starts_with("MOVED "),
            "{e}:\n{}\n{}",
            bulk_text(oc.cmd(&["CLUSTER", "INFO"])),
            bulk_text(oc.cmd(&["CLUSTER", "NODES"]))
        ),
        other => panic!("the old master still accepts writes: {other:?}"),
    }
    assert!(
        wait_until(Duration::from_secs(20), || {
            oc.cmd(&["READONLY"]);
            expected
                .iter()
                .all(|(k, v)| oc.try_cmd(&["GET", k]).ok() == Some(Reply::Bulk(v.as_bytes().to_vec())))
        }),
        "the old master did not resync from the new one:\n{}",
        bulk_text(oc.cmd(&["INFO", "replication"]))
    );
}

#[test]
fn cluster_failover_on_a_replica_swaps_roles() {
    let base = tempfile::tempdir().expect("tempdir");
    let nodes = six_node_cluster(base.path());
    let (m, r) = master_and_replica_of(&nodes, "bar");
    let (old_id, new_id) = (myid(&nodes[m]), myid(&nodes[r]));
    let mut mc = nodes[m].client();
    assert_eq!(
        mc.cmd(&["CLUSTER", "FAILOVER"]),
        Reply::Error("ERR You should send CLUSTER FAILOVER to a replica".into())
    );
    let mut rc = nodes[r].client();
    assert_eq!(
        rc.cmd(&["CLUSTER", "FAILOVER", "NOW"]),
        Reply::Error("ERR syntax error".into())
    );
    let started = Instant::now();
    assert_eq!(rc.cmd(&["CLUSTER", "FAILOVER"]), Reply::Status("OK".into()));
    for n in nodes.iter() {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                let lines = cluster_nodes(&mut c);
                lines
                    .iter()
                    .any(|l| l.id == new_id && l.has("master") && !l.slots.is_empty())
                    && lines
                        .iter()
                        .any(|l| l.id == old_id && l.has("slave") && l.master == new_id && !l.has("fail"))
            }),
            "node {} does not show the swapped roles:\n{}",
            n.port(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
    eprintln!(
        "manual failover: CLUSTER FAILOVER -> roles swapped everywhere in {:?}",
        started.elapsed()
    );
    assert_eq!(rc.cmd(&["SET", "bar", "1"]), Reply::Status("OK".into()));
    match mc.cmd(&["SET", "bar", "2"]) {
        Reply::Error(e) => assert!(e.starts_with("MOVED "), "{e}"),
        other => panic!("the old master still accepts writes: {other:?}"),
    }
    assert_eq!(
        info_field(&mut rc, &["CLUSTER", "INFO"], "cluster_state").as_deref(),
        Some("ok")
    );
}

/// Failover across implementations: three redis-server 7.0 and three slotkv nodes in one
/// cluster. A master of each kind is killed in turn; its replica (of the other kind) must
/// win votes from masters of both kinds, and every survivor must agree on the result.
#[test]
fn mixed_cluster_fails_over_both_ways() {
    use slotkv_testkit::ServerBinary;
    let base = tempfile::tempdir().expect("tempdir");
    let mut nodes: Vec<ServerProcess> = (0..6)
        .map(|i: usize| {
            let bin = if i.is_multiple_of(2) {
                ServerBinary::Redis
            } else {
                super::slotkv()
            };
            // A longer timeout than the other tests: under a loaded machine 2 s lets
            // redis-server and slotkv nodes time each other out spuriously.
            super::start_node_of(bin, base.path(), 5000)
        })
        .collect();
    for n in &nodes {
        // Replication between the two kinds is not what is tested here: data age must not
        // stop a replica that never synced.
        n.client()
            .cmd_ok(&["CONFIG", "SET", "cluster-replica-validity-factor", "0"]);
        n.client()
            .cmd_ok(&["CONFIG", "SET", "cluster-allow-replica-migration", "no"]);
    }
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    // redis-cli pairs the masters (the first three) with the replicas in a rotated order;
    // this order gives a redis master a slotkv replica and a slotkv master a redis one.
    args.extend(
        [0, 1, 2, 3, 5, 4]
            .iter()
            .map(|&i| format!("127.0.0.1:{}", nodes[i].port())),
    );
    args.extend(["--cluster-replicas".into(), "1".into(), "--cluster-yes".into()]);
    let out = std::process::Command::new(slotkv_testkit::redis_cli_path())
        .args(&args)
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(30), || {
                info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
                    && cluster_nodes(&mut c).iter().filter(|l| l.has("slave")).count() == 3
            }),
            "node {} never settled:\n{}",
            n.port(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
    let is_redis = |i: usize| i.is_multiple_of(2);
    let idx = |addr: SocketAddr| nodes.iter().position(|n| n.addr() == addr).expect("address");
    // Make sure a slotkv master has a redis replica: move a redis replica there if needed.
    let lines = cluster_nodes(&mut nodes[0].client());
    let master_of = |l: &NodeLine| lines.iter().find(|m| m.id == l.master).map(|m| idx(m.addr));
    let has_mixed = |want_redis_master: bool| {
        lines.iter().filter(|l| l.has("slave")).any(|r| {
            master_of(r)
                .is_some_and(|m| is_redis(m) == want_redis_master && is_redis(idx(r.addr)) != is_redis(m))
        })
    };
    if !has_mixed(false) {
        let redis_replica = lines
            .iter()
            .find(|r| r.has("slave") && is_redis(idx(r.addr)) && master_of(r).is_some_and(is_redis));
        let slotkv_master = lines.iter().find(|m| m.has("master") && !is_redis(idx(m.addr)));
        if let (Some(r), Some(m)) = (redis_replica, slotkv_master) {
            let (r, m_id) = (idx(r.addr), m.id.clone());
            nodes[r].client().cmd_ok(&["CLUSTER", "REPLICATE", &m_id]);
            let r_id = myid(&nodes[r]);
            for n in &nodes {
                let mut c = n.client();
                assert!(
                    wait_until(Duration::from_secs(20), || {
                        cluster_nodes(&mut c)
                            .iter()
                            .any(|l| l.id == r_id && l.master == m_id)
                    }),
                    "node {} never saw the moved replica",
                    n.port()
                );
            }
        }
    }
    let lines = cluster_nodes(&mut nodes[0].client());
    // Pairs (master, replica) where the two are of different kinds.
    let mut pairs: Vec<(usize, usize)> = lines
        .iter()
        .filter(|l| l.has("slave"))
        .map(|r| {
            let m = lines.iter().find(|l| l.id == r.master).expect("master line");
            (idx(m.addr), idx(r.addr))
        })
        .filter(|(m, r)| is_redis(*m) != is_redis(*r))
        .collect();
    pairs.sort_by_key(|(m, _)| !is_redis(*m));
    eprintln!("mixed pairs (master, replica), even = redis: {pairs:?}");
    let mut tested = (false, false);
    let mut dead = Vec::new();
    for (m, r) in pairs {
        if (is_redis(m) && tested.0) || (!is_redis(m) && tested.1) {
            continue;
        }
        let new_id = myid(&nodes[r]);
        let old_id = myid(&nodes[m]);
        // A master can have more than one replica (the step above may move one there); the
        // best-ranked one wins the election, as in Redis, so any of them may be promoted.
        let candidates: Vec<String> = lines
            .iter()
            .filter(|l| l.master == old_id)
            .map(|l| l.id.clone())
            .collect();
        nodes[m].kill(slotkv_testkit::Signal::Kill).expect("SIGKILL");
        dead.push(m);
        for (i, n) in nodes.iter().enumerate() {
            if dead.contains(&i) {
                continue;
            }
            let mut c = n.client();
            assert!(
                wait_until(Duration::from_secs(30), || {
                    let lines = cluster_nodes(&mut c);
                    lines
                        .iter()
                        .any(|l| candidates.contains(&l.id) && l.has("master") && !l.slots.is_empty())
                        && lines.iter().any(|l| l.id == old_id && l.has("fail"))
                        && info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
                }),
                "{} node {} does not show {}'s replica {new_id} promoted:\n{}\n{}",
                if is_redis(i) { "redis" } else { "slotkv" },
                n.port(),
                if is_redis(m) { "redis" } else { "slotkv" },
                bulk_text(c.cmd(&["CLUSTER", "NODES"])),
                bulk_text(c.cmd(&["CLUSTER", "INFO"]))
            );
        }
        if is_redis(m) {
            tested.0 = true;
        } else {
            tested.1 = true;
        }
    }
    assert!(tested.0 || tested.1, "no mixed master/replica pair to test");
    eprintln!(
        "mixed failover: redis master -> slotkv replica tested: {}, slotkv master -> redis replica tested: {}",
        tested.0, tested.1
    );
}
