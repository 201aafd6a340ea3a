//! Fault injection with real processes. The bus hooks (DEBUG DROP-CLUSTER-PACKET-FILTER and
//! CLUSTERLINK KILL, as in Redis 7.0, and slotkv's own CLUSTER-ISOLATE) answer like Redis
//! and do what they say; a master cut off from every other node by a bus partition stops
//! taking writes after the node timeout while the majority promotes its replica, and
//! rejoins as a replica once healed (the scenario, `isolated_master_fails_over_and_heals`, is
//! shared with `netns`, which cuts the network instead of the bus); counters incremented under `WAIT 1` by several clients
//! through a kill -9 failover lose no acknowledged increment (in the spirit of Redis's
//! consistency-test.rb). Figures are printed; run with `--nocapture` to see them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slotkv_keyslot::key_slot;
use slotkv_testkit::{run_redis_cli_at, wait_until, Reply, ServerBinary, ServerProcess, Signal, TestClient};

use super::failover::{
    assert_failover_seen, assert_follows_new_master, assert_rejoined_as_replica, cluster_nodes,
    foo_shard_with_acknowledged_write, master_and_replica_of, myid, six_node_cluster, slots_of,
    wait_replica_synced, wait_write_accepted, FooShard, NodeLine, NODE_TIMEOUT_MS,
};
use super::{bulk_text, info_field, slotkv, start_node_of};
use slotkv_testkit::ClusterClient;

fn status(s: &str) -> Reply {
    Reply::Status(s.into())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

/// The hooks' replies, error cases included, are Redis 7.0's (each case is sent to a
/// redis-server and a slotkv node, cluster mode and not). Cases where redis-server 7.0
/// crashes (a missing link, `DEBUG CLUSTERLINK` alone) or answers twice (an unknown
/// direction: the error, then +OK) are checked on slotkv alone.
#[test]
fn bus_debug_hooks_reply_like_redis() {
    let base = tempfile::tempdir().expect("tempdir");
    let redis_cluster = start_node_of(ServerBinary::Redis, base.path(), 5000);
    let slotkv_cluster = start_node_of(slotkv(), base.path(), 5000);
    let redis_plain = ServerProcess::start(ServerBinary::Redis, &["--enable-debug-command", "yes"]);
    let slotkv_plain = ServerProcess::start(slotkv(), &["--enable-debug-command", "yes"]);
    let unknown_sub = |sub: &str| {
        err(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try DEBUG HELP."
        ))
    };
    let zeros = "0".repeat(40);
    let cluster_cases: Vec<(Vec<&str>, Reply)> = vec![
        (vec!["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "1"], status("OK")),
        (vec!["DEBUG", "drop-cluster-packet-filter", "-1"], status("OK")),
        (
            vec!["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "x"],
            err("ERR value is not an integer or out of range"),
        ),
        (
            vec!["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "1", "2"],
            unknown_sub("DROP-CLUSTER-PACKET-FILTER"),
        ),
        (
            vec!["DEBUG", "CLUSTERLINK", "KILL", "to", "abc"],
            err("ERR Unknown node abc"),
        ),
        (
            vec!["DEBUG", "clusterlink", "kill", "from", &zeros],
            err(&format!("ERR Unknown node {zeros}")),
        ),
        // The node is checked before the direction.
        (
            vec!["DEBUG", "CLUSTERLINK", "KILL", "sideways", "abc"],
            err("ERR Unknown node abc"),
        ),
        (vec!["DEBUG", "CLUSTERLINK", "KILL"], unknown_sub("CLUSTERLINK")),
        (
            vec!["DEBUG", "CLUSTERLINK", "STOP", "to", "abc"],
            unknown_sub("CLUSTERLINK"),
        ),
    ];
    let plain_cases: Vec<(Vec<&str>, Reply)> = vec![
        (vec!["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "3"], status("OK")),
        (
            vec!["DEBUG", "CLUSTERLINK", "KILL", "all", "abc"],
            err("ERR Debug option only available for cluster mode enabled setup!"),
        ),
    ];
    for (cases, redis, ours) in [
        (&cluster_cases, &redis_cluster, &slotkv_cluster),
        (&plain_cases, &redis_plain, &slotkv_plain),
    ] {
        let (mut rc, mut sc) = (redis.client(), ours.client());
        for (args, expected) in cases {
            assert_eq!(&rc.cmd(args), expected, "redis-server: {args:?}");
            assert_eq!(&sc.cmd(args), expected, "slotkv: {args:?}");
        }
    }
    let help = format!("{:?}", slotkv_cluster.client().cmd(&["DEBUG", "HELP"]));
    for sub in [
        "DROP-CLUSTER-PACKET-FILTER",
        "CLUSTERLINK KILL",
        "CLUSTER-ISOLATE",
    ] {
        assert!(help.contains(sub), "DEBUG HELP lists {sub}: {help}");
    }

    // slotkv only.
    let me = myid(&slotkv_cluster);
    let mut c = slotkv_cluster.client();
    assert_eq!(
        c.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "sideways", &me]),
        err("ERR Unknown direction sideways")
    );
    assert_eq!(
        c.cmd(&["PING"]),
        status("PONG"),
        "exactly one reply to the bad direction"
    );
    assert_eq!(c.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "all", &me]), status("OK"));
    assert_eq!(c.cmd(&["DEBUG", "CLUSTERLINK"]), unknown_sub("CLUSTERLINK"));
    assert_eq!(
        c.cmd(&["DEBUG", "CLUSTER-ISOLATE", "abc"]),
        err("ERR Unknown node abc")
    );
    assert_eq!(c.cmd(&["DEBUG", "CLUSTER-ISOLATE", &me]), status("OK"));
    assert_eq!(c.cmd(&["DEBUG", "CLUSTER-ISOLATE", "none"]), status("OK"));
    assert_eq!(
        c.cmd(&["DEBUG", "CLUSTER-ISOLATE"]),
        unknown_sub("CLUSTER-ISOLATE")
    );
    assert_eq!(
        slotkv_plain.client().cmd(&["DEBUG", "CLUSTER-ISOLATE", "NONE"]),
        err("ERR Debug option only available for cluster mode enabled setup!")
    );
}

fn stat(c: &mut TestClient, field: &str) -> u64 {
    info_field(c, &["CLUSTER", "INFO"], field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether `slot` is in one of CLUSTER NODES' slot fields ("5", "0-5460"; importing and
/// migrating markers are not ranges).
fn slot_in(ranges: &[String], slot: u16) -> bool {
    ranges.iter().any(|r| match r.split_once('-') {
        Some((a, b)) => {
            a.parse::<u16>().is_ok_and(|a| a <= slot) && b.parse::<u16>().is_ok_and(|b| b >= slot)
        }
        None => r.parse::<u16>() == Ok(slot),
    })
}

/// The real redis-cli's verdict: every node agrees on one owner per slot, all covered.
pub(super) fn assert_cluster_check_clean(addr: SocketAddr) {
    let out = run_redis_cli_at(addr, &["--cluster", "check", &addr.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[OK] All nodes agree about slots configuration.")
            && text.contains("[OK] All 16384 slots covered."),
        "{text}"
    );
}

/// A bus partition made with DEBUG CLUSTER-ISOLATE: the master of "foo" is cut off from
/// all five other nodes (its replica stays with the majority), while clients still reach
/// every node. The minority master refuses writes after about the node timeout, the
/// majority elects the replica, and once the partition heals the old master follows the
/// new one and every node agrees again. The drop filter and CLUSTERLINK KILL are checked
/// on the same cluster first.
#[test]
fn bus_partition_fails_over_the_isolated_master_and_heals() {
    let base = tempfile::tempdir().expect("tempdir");
    let nodes = six_node_cluster(base.path());
    let ids: Vec<String> = nodes.iter().map(myid).collect();

    // DROP-CLUSTER-PACKET-FILTER 4 (PUBLISH) on x: a publish from y arrives (it is
    // counted) but is not delivered; with the filter off the next one is.
    let (x, y) = (0, 1);
    let mut sub = nodes[x].client();
    assert!(matches!(
        sub.cmd(&["SUBSCRIBE", "ch"]),
        Reply::Array(_) | Reply::Push(_)
    ));
    let mut xc = nodes[x].client();
    let mut yc = nodes[y].client();
    xc.cmd_ok(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "4"]);
    let before = stat(&mut xc, "cluster_stats_messages_publish_received");
    let sent_before = stat(&mut yc, "cluster_stats_messages_publish_sent");
    yc.cmd(&["PUBLISH", "ch", "dropped"]);
    // Sent to every linked peer, and counted as sent (once per peer).
    let sent = stat(&mut yc, "cluster_stats_messages_publish_sent") - sent_before;
    assert!((1..=5).contains(&sent), "publish_sent grew by {sent}");
    assert!(
        wait_until(Duration::from_secs(10), || stat(
            &mut xc,
            "cluster_stats_messages_publish_received"
        ) > before),
        "the filtered PUBLISH never arrived"
    );
    xc.cmd_ok(&["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "-1"]);
    yc.cmd(&["PUBLISH", "ch", "delivered"]);
    let message = |r: Reply| match r {
        Reply::Array(v) | Reply::Push(v) => v.get(2).cloned(),
        _ => None,
    };
    assert_eq!(
        message(sub.read_reply()),
        Some(Reply::Bulk(b"delivered".to_vec()))
    );
    // CLUSTERLINK KILL ALL: both links to y close and come back; bus traffic flows again
    // (a PUBLISH sent while y has no link to x is lost, as in Redis, so y repeats it).
    assert_eq!(
        xc.cmd(&["DEBUG", "CLUSTERLINK", "KILL", "ALL", &ids[y]]),
        status("OK")
    );
    sub.set_timeout(Duration::from_millis(200)).expect("timeout");
    assert!(
        wait_until(Duration::from_secs(10), || {
            yc.cmd(&["PUBLISH", "ch", "after-kill"]);
            message(sub.try_read_reply().unwrap_or(Reply::Nil)) == Some(Reply::Bulk(b"after-kill".to_vec()))
        }),
        "no bus PUBLISH from y reached x after its links were killed"
    );
    drop(sub);

    let shard = foo_shard_with_acknowledged_write(&nodes);
    let mut mc = nodes[shard.m].client();
    println!(
        "partition method: DEBUG CLUSTER-ISOLATE on the minority node (cluster bus only; \
         network namespaces are not used)"
    );
    let mut isolate: Vec<&str> = vec!["DEBUG", "CLUSTER-ISOLATE"];
    isolate.extend(ids.iter().filter(|id| **id != shard.old_id).map(String::as_str));
    let figures = isolated_master_fails_over_and_heals(
        &nodes,
        &shard,
        || {
            let reply = nodes[shard.m].client().cmd(&isolate);
            assert_eq!(reply, status("OK"), "could not partition the cluster: {reply:?}");
        },
        || {
            let reply = nodes[shard.m].client().cmd(&["DEBUG", "CLUSTER-ISOLATE", "NONE"]);
            assert_eq!(reply, status("OK"), "could not heal the partition: {reply:?}");
        },
    );
    // The hook cuts the bus only: the replica kept replicating from the isolated master
    // until its promotion, so what the minority accepted may have survived.
    let survived = present_keys(&mut mc, &figures.minority_writes).len();
    println!(
        "{figures}; {survived} of the {} writes the minority master accepted survived the \
         resync",
        figures.minority_writes.len()
    );
}

/// What [`isolated_master_fails_over_and_heals`] measured.
pub(super) struct PartitionFigures {
    /// From the cut to the isolated master's first CLUSTERDOWN.
    pub refused_after: Duration,
    /// From the cut to the promoted replica's first accepted write.
    pub promoted_after: Duration,
    /// From the heal until every node shows the old master as a replica and is ok.
    pub converged_after: Duration,
    /// Keys the isolated master accepted (SET) between the cut and its refusal.
    pub minority_writes: Vec<String>,
}

impl std::fmt::Display for PartitionFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "partition: isolated master refused writes {:?} after the cut, replica promoted \
             after {:?}; healed cluster converged in {:?}",
            self.refused_after, self.promoted_after, self.converged_after
        )
    }
}

/// The partition scenario shared by the bus-hook and network-namespace tests: `cut` isolates
/// the master of "foo" (`shard.m`) from every other node (its replica stays with the
/// majority; the test still reaches every node). The isolated master keeps taking writes
/// for a while, then refuses them with CLUSTERDOWN; the majority promotes the replica, which
/// serves the acknowledged "foo". After `heal` every node shows the old master as a replica
/// of the new one, `redis-cli --cluster check` is clean and the old master has resynced.
pub(super) fn isolated_master_fails_over_and_heals(
    nodes: &[ServerProcess],
    shard: &FooShard,
    cut: impl FnOnce(),
    heal: impl FnOnce(),
) -> PartitionFigures {
    let FooShard {
        m,
        r,
        old_id,
        new_id,
        slots_of_old,
    } = shard;
    let (m, r) = (*m, *r);
    let mut mc = nodes[m].client();
    let mut rc = nodes[r].client();
    cut();
    let cut_at = Instant::now();
    // Within the node timeout the minority master still takes writes, as Redis's does.
    let mut minority_writes = vec!["{foo}minority:0".to_string()];
    assert_eq!(mc.cmd(&["SET", &minority_writes[0], "1"]), status("OK"));
    assert!(
        wait_until(Duration::from_secs(15), || {
            let key = format!("{{foo}}minority:{}", minority_writes.len());
            match mc.cmd(&["SET", &key, "1"]) {
                Reply::Status(s) if s == "OK" => {
                    minority_writes.push(key);
                    false
                }
                Reply::Error(e) => e.starts_with("CLUSTERDOWN"),
                _ => false,
            }
        }),
        "the isolated master kept accepting writes:\n{}",
        bulk_text(mc.cmd(&["CLUSTER", "NODES"]))
    );
    let refused_after = cut_at.elapsed();
    assert!(
        refused_after >= Duration::from_millis(NODE_TIMEOUT_MS / 4),
        "the isolated master refused writes too early: {refused_after:?}"
    );
    wait_write_accepted(&mut rc, "{foo}after");
    let promoted_after = cut_at.elapsed();
    assert_failover_seen(nodes, m, old_id, new_id, slots_of_old);
    assert_eq!(rc.cmd(&["GET", "foo"]), Reply::Bulk(b"before".to_vec()));
    assert!(matches!(
        mc.cmd(&["GET", "foo"]),
        Reply::Error(e) if e.starts_with("CLUSTERDOWN")
    ));

    heal();
    let healed = Instant::now();
    assert_rejoined_as_replica(nodes, old_id, new_id);
    let converged_after = healed.elapsed();
    assert_cluster_check_clean(nodes[m].addr());
    assert_follows_new_master(&mut mc, &[("{foo}after", "1"), ("foo", "before")]);
    PartitionFigures {
        refused_after,
        promoted_after,
        converged_after,
        minority_writes,
    }
}

/// Those of `keys` that the node behind `c` holds (reads are allowed on a replica).
pub(super) fn present_keys(c: &mut TestClient, keys: &[String]) -> Vec<String> {
    c.cmd_ok(&["READONLY"]);
    keys.iter()
        .filter(|k| matches!(c.cmd(&["GET", k.as_str()]), Reply::Bulk(_)))
        .cloned()
        .collect()
}

/// What one client task of the consistency test saw.
#[derive(Default)]
struct ClientLog {
    /// Increments acknowledged per key: INCR answered and WAIT 1 returned >= 1.
    acked: HashMap<String, u64>,
    /// When an INCR on a key of the victim's slots was answered (a successful write there).
    victim_writes: Vec<Instant>,
    /// When any increment was acknowledged.
    acks: Vec<Instant>,
    unacked: u64,
    failed: u64,
}

/// Longest time between two consecutive instants (sorted) within [from, to].
fn longest_gap(mut times: Vec<Instant>, from: Instant, to: Instant) -> Duration {
    times.sort();
    let mut last = from;
    let mut gap = Duration::ZERO;
    for t in times.into_iter().filter(|t| *t >= from && *t <= to).chain([to]) {
        gap = gap.max(t - last);
        last = t;
    }
    gap
}

/// Several clients increment counters spread over all slots, each INCR followed by
/// `WAIT 1`; a master is killed with SIGKILL mid-run and the clients keep going through
/// the failover (and the old master's return as a replica). No acknowledged increment may
/// be missing from the final counters.
#[test]
fn acknowledged_writes_survive_a_master_crash() {
    const CLIENTS: usize = 4;
    const KEYS_PER_CLIENT: usize = 50;
    let base = tempfile::tempdir().expect("tempdir");
    let mut nodes = six_node_cluster(base.path());
    let lines: Vec<NodeLine> = cluster_nodes(&mut nodes[0].client());
    for l in lines.iter().filter(|l| l.has("slave")) {
        let n = nodes.iter().find(|n| n.addr() == l.addr).expect("replica node");
        wait_replica_synced(&mut n.client());
    }
    let (m, r) = master_and_replica_of(&nodes, "foo");
    let (old_id, new_id) = (myid(&nodes[m]), myid(&nodes[r]));
    let victim_slots = slots_of(&lines, &old_id);
    let seeds: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicU64::new(0));
    let victim_acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (stop, acked_total, victim_acked) = (stop.clone(), acked_total.clone(), victim_acked.clone());
            let seeds = seeds.clone();
            let keys: Vec<(String, bool)> = (0..KEYS_PER_CLIENT)
                .map(|i| {
                    let k = format!("counter:{t}:{i}");
                    let victim = slot_in(&victim_slots, key_slot(k.as_bytes()).get());
                    (k, victim)
                })
                .collect();
            std::thread::spawn(move || {
                let mut cc = ClusterClient::with_seeds(seeds);
                cc.set_timeout(Duration::from_secs(3));
                let mut log = ClientLog::default();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (key, victim) = &keys[i % keys.len()];
                    i += 1;
                    match cc.try_cmd(&["INCR", key]) {
                        Ok(Reply::Int(_)) => {
                            if *victim {
                                log.victim_writes.push(Instant::now());
                            }
                            match cc.try_cmd_on_last(&["WAIT", "1", "500"]) {
                                Ok(Reply::Int(n)) if n >= 1 => {
                                    *log.acked.entry(key.clone()).or_default() += 1;
                                    log.acks.push(Instant::now());
                                    acked_total.fetch_add(1, Ordering::Relaxed);
                                    if *victim {
                                        victim_acked.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                                _ => log.unacked += 1,
                            }
                        }
                        _ => {
                            log.failed += 1;
                            // Back off a little: the node is down or the cluster is failing
                            // over; retrying in a tight loop would only burn the CPU.
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
                log
            })
        })
        .collect();

    let progressed = |counter: &AtomicU64, from: u64, by: u64| {
        wait_until(Duration::from_secs(30), || {
            counter.load(Ordering::Relaxed) >= from + by
        })
    };
    assert!(
        progressed(&victim_acked, 0, 200) && progressed(&acked_total, 0, 500),
        "too few acknowledged writes before the crash"
    );
    nodes[m].kill(Signal::Kill).expect("SIGKILL");
    let killed = Instant::now();
    let mut rc = nodes[r].client();
    assert!(
        wait_until(Duration::from_secs(30), || {
            cluster_nodes(&mut rc)
                .iter()
                .any(|l| l.id == new_id && l.has("myself") && l.has("master") && !l.slots.is_empty())
        }),
        "the replica was never promoted:\n{}",
        bulk_text(rc.cmd(&["CLUSTER", "NODES"]))
    );
    let promoted = Instant::now();
    // The old master comes back as a replica of the new one, so WAIT 1 can succeed again
    // for the victim's slots.
    nodes[m].restart();
    assert_rejoined_as_replica(&nodes, &old_id, &new_id);
    wait_replica_synced(&mut nodes[m].client());
    let victim_before = victim_acked.load(Ordering::Relaxed);
    let total_before = acked_total.load(Ordering::Relaxed);
    assert!(
        progressed(&victim_acked, victim_before, 200) && progressed(&acked_total, total_before, 500),
        "acknowledged writes did not resume after the failover"
    );
    stop.store(true, Ordering::Relaxed);
    let ended = Instant::now();
    let logs: Vec<ClientLog> = clients
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();

    // Compare each counter with its acknowledged increments.
    let mut check = ClusterClient::with_seeds(seeds);
    let (mut acked, mut lost, mut lost_keys, mut extra) = (0u64, 0u64, 0usize, 0u64);
    for log in &logs {
        for (key, &n) in &log.acked {
            let value = match check.cmd(&["GET", key]) {
                Reply::Bulk(b) => String::from_utf8_lossy(&b).parse::<u64>().expect("a counter"),
                Reply::Nil => 0,
                other => panic!("GET {key}: {other:?}"),
            };
            acked += n;
            if value < n {
                lost += n - value;
                lost_keys += 1;
            } else {
                extra += value - n;
            }
        }
    }
    let unacked: u64 = logs.iter().map(|l| l.unacked).sum();
    let failed: u64 = logs.iter().map(|l| l.failed).sum();
    let victim_gap = longest_gap(
        logs.iter()
            .flat_map(|l| l.victim_writes.iter().copied())
            .collect(),
        killed,
        ended,
    );
    let any_gap = longest_gap(
        logs.iter().flat_map(|l| l.acks.iter().copied()).collect(),
        started,
        ended,
    );
    println!(
        "consistency: {CLIENTS} clients, {} keys, {:?} run; acknowledged writes {acked}, lost \
         writes {lost} (on {lost_keys} keys), unacknowledged or failed attempts {unacked} + \
         {failed}, present but unacknowledged increments {extra}",
        CLIENTS * KEYS_PER_CLIENT,
        ended - started
    );
    println!(
        "consistency: unavailable window for the killed master's slots (longest gap without \
         a successful write) {victim_gap:?}; replica promoted {:?} after the kill; longest \
         gap without any acknowledged write {any_gap:?}",
        promoted - killed
    );
    assert!(acked > 0);
    assert_eq!(lost, 0, "acknowledged increments were lost");
}
