//! The availability directives with real processes (issue 5): `cluster-require-full-coverage`
//! and `cluster-allow-reads-when-down` while a master without replica is dead,
//! `cluster-replica-no-failover` (no election, but `CLUSTER FAILOVER FORCE` still works),
//! `cluster-replica-validity-factor` (a replica cut from its master for too long does not
//! fail over; factor 0 lifts the rule) and replica migration with
//! `cluster-migration-barrier`. Every wait is bounded polling; "never happens" is checked by
//! polling for a few node timeouts.

use std::time::Duration;

use slotkv_testkit::{wait_until, Reply, ServerProcess, Signal, TestClient};

use super::failover::{
    assert_failover_seen, cluster_nodes, master_and_replica_of, myid, redis_cli_create, six_node_cluster,
    slots_of, wait_replica_synced, wait_write_accepted, FooShard, NODE_TIMEOUT_MS,
};
use super::{bulk_text, info_field, start_node_with_timeout};

/// How long a "never" is watched: a few node timeouts.
const WATCH: Duration = Duration::from_millis(3 * NODE_TIMEOUT_MS);

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

/// Three masters joined by `redis-cli --cluster create` without replicas, then one replica
/// per entry of `replicas_of` (the index of its master) joined with CLUSTER MEET and
/// CLUSTER REPLICATE. The nodes are returned masters first, then the replicas in order,
/// once every node reports cluster_state:ok and sees every replica of its master.
fn masters_with_replicas(base: &std::path::Path, replicas_of: &[usize]) -> Vec<ServerProcess> {
    let nodes: Vec<ServerProcess> = (0..3 + replicas_of.len())
        .map(|_| start_node_with_timeout(base, NODE_TIMEOUT_MS))
        .collect();
    redis_cli_create(&nodes[..3], 0);
    let ids: Vec<String> = nodes.iter().map(myid).collect();
    let seed = nodes[0].addr();
    for (i, &m) in replicas_of.iter().enumerate() {
        let mut c = nodes[3 + i].client();
        c.cmd_ok(&[
            "CLUSTER",
            "MEET",
            &seed.ip().to_string(),
            &seed.port().to_string(),
        ]);
        assert!(
            wait_until(Duration::from_secs(20), || {
                cluster_nodes(&mut c)
                    .iter()
                    .any(|l| l.id == ids[m] && l.has("master") && !l.slots.is_empty())
            }),
            "node {} never learnt master {m}",
            nodes[3 + i].addr()
        );
        c.cmd_ok(&["CLUSTER", "REPLICATE", &ids[m]]);
    }
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                let lines = cluster_nodes(&mut c);
                info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
                    && lines.len() == nodes.len()
                    && replicas_of.iter().enumerate().all(|(i, &m)| {
                        lines
                            .iter()
                            .any(|l| l.id == ids[3 + i] && l.has("slave") && l.master == ids[m])
                    })
            }),
            "node {} never settled:\n{}",
            n.addr(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
    for r in &nodes[3..] {
        wait_replica_synced(&mut r.client());
    }
    nodes
}

/// A six-node cluster, and the master serving `key` with its replica, their ids and the
/// master's slots.
fn cluster_and_shard_of(base: &std::path::Path, key: &str) -> (Vec<ServerProcess>, FooShard) {
    let nodes = six_node_cluster(base);
    let (m, r) = master_and_replica_of(&nodes, key);
    let (old_id, new_id) = (myid(&nodes[m]), myid(&nodes[r]));
    let slots_of_old = slots_of(&cluster_nodes(&mut nodes[0].client()), &old_id);
    let shard = FooShard {
        m,
        r,
        old_id,
        new_id,
        slots_of_old,
    };
    (nodes, shard)
}

/// Whether some node of `alive` shows node `id` as a master.
fn promoted_somewhere(nodes: &[ServerProcess], alive: &[usize], id: &str) -> bool {
    alive.iter().any(|&i| {
        cluster_nodes(&mut nodes[i].client())
            .iter()
            .any(|l| l.id == id && l.has("master"))
    })
}

/// A key whose slot the master `node` serves (it answers GET instead of MOVED).
fn key_served_by(node: &ServerProcess) -> String {
    let mut c = node.client();
    (0..1000)
        .map(|n| format!("k{n}"))
        .find(|k| matches!(c.cmd(&["GET", k]), Reply::Nil | Reply::Bulk(_)))
        .expect("a key served by the master")
}

/// Waits until every node of `alive` flags node `id` as FAIL.
fn wait_flagged_fail(nodes: &[ServerProcess], alive: &[usize], id: &str) {
    for &i in alive {
        let mut c = nodes[i].client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                cluster_nodes(&mut c).iter().any(|l| l.id == id && l.has("fail"))
            }),
            "node {} never flagged {id} FAIL:\n{}",
            nodes[i].addr(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
}

fn cluster_state(c: &mut TestClient) -> Option<String> {
    info_field(c, &["CLUSTER", "INFO"], "cluster_state")
}

fn config_set_all(nodes: &[ServerProcess], alive: &[usize], name: &str, value: &str) {
    for &i in alive {
        nodes[i].client().cmd_ok(&["CONFIG", "SET", name, value]);
    }
}

/// Replica migration, then a dead master without replica. Masters 0 (two replicas, 3 and
/// 4), 1 (one replica, 5) and 2 (none).
///
/// 1. `cluster-migration-barrier 2`: once replica 5 is dead, master 1 is orphaned, but
///    master 0 has only two replicas: none migrates; nor with the barrier back at 1 and
///    `cluster-allow-replica-migration no`. With both at their defaults exactly one
///    replica of master 0 moves to master 1 (CLUSTER NODES everywhere, and INFO
///    replication on the moved replica).
/// 2. `cluster-require-full-coverage yes`: master 2 is killed; once it is FAIL every node
///    answers `-CLUSTERDOWN The cluster is down` for keys of every slot.
/// 3. `cluster-allow-reads-when-down yes`: reads of a covered slot are served by its
///    master, writes get `-CLUSTERDOWN The cluster is down and only accepts read commands`.
/// 4. `cluster-require-full-coverage no`: the covered slots serve again; a key of the dead
///    master's slots is redirected to it (its slots are still assigned, to a failed node,
///    as in Redis 7.0), and once a node no longer assigns the slot (CLUSTER DELSLOTS) it
///    answers `-CLUSTERDOWN Hash slot not served`.
#[test]
fn migration_barrier_full_coverage_and_reads_when_down() {
    let base = tempfile::tempdir().expect("tempdir");
    let mut nodes = masters_with_replicas(base.path(), &[0, 0, 1]);
    let ids: Vec<String> = nodes.iter().map(myid).collect();

    // 1. Replica migration held back by the barrier, then allowed.
    let mut alive: Vec<usize> = vec![0, 1, 2, 3, 4];
    config_set_all(&nodes, &alive, "cluster-migration-barrier", "2");
    nodes[5].kill(Signal::Kill).expect("SIGKILL replica 5");
    wait_flagged_fail(&nodes, &alive, &ids[5]);
    let migrated = |nodes: &[ServerProcess]| {
        [3, 4].into_iter().find(|&r| {
            cluster_nodes(&mut nodes[r].client())
                .iter()
                .any(|l| l.id == ids[r] && l.master == ids[1])
        })
    };
    // Redis waits 5 s after a master is orphaned before a replica migrates.
    assert!(
        !wait_until(Duration::from_millis(5000 + NODE_TIMEOUT_MS), || migrated(&nodes)
            .is_some()),
        "a replica migrated despite cluster-migration-barrier 2"
    );
    // The orphan is old enough by now: only `cluster-allow-replica-migration no` holds the
    // replicas back.
    config_set_all(&nodes, &alive, "cluster-allow-replica-migration", "no");
    config_set_all(&nodes, &alive, "cluster-migration-barrier", "1");
    assert!(
        !wait_until(Duration::from_millis(2 * NODE_TIMEOUT_MS), || migrated(&nodes)
            .is_some()),
        "a replica migrated despite cluster-allow-replica-migration no"
    );
    config_set_all(&nodes, &alive, "cluster-allow-replica-migration", "yes");
    let mut moved = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            moved = migrated(&nodes);
            moved.is_some()
        }),
        "no replica migrated to the orphaned master:\n{}",
        bulk_text(nodes[0].client().cmd(&["CLUSTER", "NODES"]))
    );
    let moved = moved.expect("moved replica");
    let stayed = if moved == 3 { 4 } else { 3 };
    for &i in &alive {
        let mut c = nodes[i].client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                let lines = cluster_nodes(&mut c);
                lines
                    .iter()
                    .any(|l| l.id == ids[moved] && l.has("slave") && l.master == ids[1])
                    && lines
                        .iter()
                        .any(|l| l.id == ids[stayed] && l.has("slave") && l.master == ids[0])
            }),
            "node {} does not show replica {moved} under master 1:\n{}",
            nodes[i].addr(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
    let mut mc = nodes[moved].client();
    assert!(
        wait_until(Duration::from_secs(20), || {
            info_field(&mut mc, &["INFO", "replication"], "master_port") == Some(nodes[1].port().to_string())
                && info_field(&mut mc, &["INFO", "replication"], "master_link_status").as_deref()
                    == Some("up")
        }),
        "the moved replica does not replicate from master 1:\n{}",
        bulk_text(mc.cmd(&["INFO", "replication"]))
    );

    // 2. Master 2 has no replica: once it is FAIL the whole cluster is down.
    let keys: Vec<String> = nodes[..3].iter().map(key_served_by).collect();
    for (m, k) in keys.iter().enumerate().take(2) {
        nodes[m].client().cmd_ok(&["SET", k, "v"]);
    }
    let dead_slot = slotkv_keyslot::key_slot(keys[2].as_bytes()).get();
    nodes[2].kill(Signal::Kill).expect("SIGKILL master 2");
    alive.retain(|&i| i != 2);
    wait_flagged_fail(&nodes, &alive, &ids[2]);
    let down = err("CLUSTERDOWN The cluster is down");
    for &i in &alive {
        let mut c = nodes[i].client();
        assert!(
            wait_until(Duration::from_secs(10), || cluster_state(&mut c).as_deref()
                == Some("fail")),
            "node {} still reports cluster_state:ok",
            nodes[i].addr()
        );
        for k in &keys {
            assert_eq!(c.cmd(&["GET", k]), down, "GET {k} on node {}", nodes[i].addr());
            assert_eq!(
                c.cmd(&["SET", k, "w"]),
                down,
                "SET {k} on node {}",
                nodes[i].addr()
            );
        }
    }

    // 3. Reads when down: covered slots are read on their master, writes refused.
    config_set_all(&nodes, &alive, "cluster-allow-reads-when-down", "yes");
    for (m, k) in keys.iter().enumerate().take(2) {
        let mut c = nodes[m].client();
        assert_eq!(
            c.cmd(&["GET", k]),
            Reply::Bulk(b"v".to_vec()),
            "GET {k} on master {m}"
        );
        assert_eq!(
            c.cmd(&["SET", k, "w"]),
            err("CLUSTERDOWN The cluster is down and only accepts read commands"),
            "SET {k} on master {m}"
        );
    }
    config_set_all(&nodes, &alive, "cluster-allow-reads-when-down", "no");
    assert_eq!(nodes[0].client().cmd(&["GET", &keys[0]]), down);

    // 4. Without full coverage the covered slots serve again.
    config_set_all(&nodes, &alive, "cluster-require-full-coverage", "no");
    let dead_moved = format!("MOVED {dead_slot} {}", nodes[2].addr());
    for &i in &alive {
        let mut c = nodes[i].client();
        assert!(
            wait_until(Duration::from_secs(20), || cluster_state(&mut c).as_deref()
                == Some("ok")),
            "node {} never went back to cluster_state:ok",
            nodes[i].addr()
        );
        assert_eq!(
            c.cmd(&["GET", &keys[2]]),
            err(&dead_moved),
            "node {}",
            nodes[i].addr()
        );
    }
    for (m, k) in keys.iter().enumerate().take(2) {
        let mut c = nodes[m].client();
        assert_eq!(
            c.cmd(&["SET", k, "w"]),
            Reply::Status("OK".into()),
            "SET {k} on master {m}"
        );
        assert_eq!(c.cmd(&["GET", k]), Reply::Bulk(b"w".to_vec()));
    }
    let mut c = nodes[0].client();
    c.cmd_ok(&["CLUSTER", "DELSLOTS", &dead_slot.to_string()]);
    assert_eq!(c.cmd(&["GET", &keys[2]]), err("CLUSTERDOWN Hash slot not served"));
    assert_eq!(cluster_state(&mut c).as_deref(), Some("ok"));
}

/// `cluster-replica-no-failover yes`: the replica of a killed master is advertised with the
/// `nofailover` flag and never starts an election (the cluster stays down), yet
/// `CLUSTER FAILOVER FORCE` on it promotes it.
#[test]
fn replica_no_failover_waits_for_a_forced_failover() {
    let base = tempfile::tempdir().expect("tempdir");
    let (mut nodes, shard) = cluster_and_shard_of(base.path(), "foo");
    let (m, r, old_id, new_id) = (shard.m, shard.r, &shard.old_id, &shard.new_id);
    let mut rc = nodes[r].client();
    rc.cmd_ok(&["CONFIG", "SET", "cluster-replica-no-failover", "yes"]);
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(10), || {
                cluster_nodes(&mut c)
                    .iter()
                    .any(|l| l.id == *new_id && l.has("slave") && l.has("nofailover"))
            }),
            "node {} does not show the nofailover flag:\n{}",
            n.addr(),
            bulk_text(c.cmd(&["CLUSTER", "NODES"]))
        );
    }
    nodes[m].kill(Signal::Kill).expect("SIGKILL the master");
    let alive: Vec<usize> = (0..nodes.len()).filter(|&i| i != m).collect();
    wait_flagged_fail(&nodes, &alive, old_id);
    assert!(
        !wait_until(WATCH, || promoted_somewhere(&nodes, &alive, new_id)),
        "the nofailover replica was promoted"
    );
    assert_eq!(cluster_state(&mut rc).as_deref(), Some("fail"));
    assert_eq!(
        rc.cmd(&["CLUSTER", "FAILOVER"]),
        err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE")
    );
    assert_eq!(
        rc.cmd(&["CLUSTER", "FAILOVER", "FORCE"]),
        Reply::Status("OK".into())
    );
    wait_write_accepted(&mut rc, "{foo}forced");
    assert_failover_seen(&nodes, m, old_id, new_id, &shard.slots_of_old);
}

/// `cluster-replica-validity-factor`: with factor 1, `repl-ping-replica-period 1` and a
/// 2000 ms node timeout, a replica may fail over while its data age (time since the
/// master link went down, minus the node timeout) is at most 1000 + 2000 ms. The master
/// refuses the replica's reconnection (requirepass without masterauth) long enough that
/// this is exceeded before it is killed: the replica logs Redis's reason and is not
/// promoted. With factor 0 the rule is off and it is.
#[test]
fn replica_validity_factor_stops_a_stale_replica() {
    let base = tempfile::tempdir().expect("tempdir");
    let (mut nodes, shard) = cluster_and_shard_of(base.path(), "bar");
    let (m, r, old_id, new_id) = (shard.m, shard.r, &shard.old_id, &shard.new_id);
    let mut rc = nodes[r].client();
    wait_replica_synced(&mut rc);
    rc.cmd_ok(&["CONFIG", "SET", "cluster-replica-validity-factor", "1"]);
    rc.cmd_ok(&["CONFIG", "SET", "repl-ping-replica-period", "1"]);

    // Cut the replication link only: the bus keeps the master healthy meanwhile.
    let mut mc = nodes[m].client();
    mc.cmd_ok(&["CONFIG", "SET", "requirepass", "no-replica-knows-this"]);
    assert_eq!(mc.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), Reply::Int(1));
    let limit_s = (1000 + NODE_TIMEOUT_MS + NODE_TIMEOUT_MS) / 1000;
    assert!(
        wait_until(Duration::from_secs(20), || {
            info_field(&mut rc, &["INFO", "replication"], "master_link_status").as_deref() == Some("down")
                && info_field(
                    &mut rc,
                    &["INFO", "replication"],
                    "master_link_down_since_seconds",
                )
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s > limit_s)
        }),
        "the replication link did not stay down:\n{}",
        bulk_text(rc.cmd(&["INFO", "replication"]))
    );
    assert_eq!(cluster_state(&mut rc).as_deref(), Some("ok"));

    nodes[m].kill(Signal::Kill).expect("SIGKILL the master");
    let alive: Vec<usize> = (0..nodes.len()).filter(|&i| i != m).collect();
    wait_flagged_fail(&nodes, &alive, old_id);
    let reason = "Disconnected from master for longer than allowed";
    assert!(
        wait_until(Duration::from_secs(10), || nodes[r].log_text().contains(reason)),
        "the replica never logged the data age reason:\n{}",
        nodes[r].log_text()
    );
    assert!(
        !wait_until(WATCH, || promoted_somewhere(&nodes, &alive, new_id)),
        "the stale replica was promoted"
    );

    rc.cmd_ok(&["CONFIG", "SET", "cluster-replica-validity-factor", "0"]);
    wait_write_accepted(&mut rc, "{bar}after");
    assert_failover_seen(&nodes, m, old_id, new_id, &shard.slots_of_old);
}
