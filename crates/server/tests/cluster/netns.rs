//! A real network partition (issue 5): six slotkv nodes, each in its own Linux network
//! namespace (testkit's `NetnsNetwork`), joined by `redis-cli --cluster create` at their
//! namespace addresses. Blackhole routes cut the master of "foo" off from the five other
//! nodes, which stops the cluster bus *and* replication, unlike the DEBUG CLUSTER-ISOLATE
//! hook of `faults`; the test, in the root namespace, still reaches every node. The scenario
//! and its checks are `faults::isolated_master_fails_over_and_heals`. Needs root; without
//! namespaces the test prints `SKIPPED: ...` and returns.

use std::io::ErrorKind;

use slotkv_testkit::{print_skipped, NetnsNetwork, ServerProcess};

use super::failover::{create_six_node_cluster, foo_shard_with_acknowledged_write, NODE_TIMEOUT_MS};
use super::faults::{isolated_master_fails_over_and_heals, present_keys};
use super::{cluster_node, slotkv};

/// Node `i` of `net`: slotkv-server run in its namespace, listening on and announcing the
/// namespace's address.
fn start_node_in(net: &NetnsNetwork, i: usize, dir: &std::path::Path) -> ServerProcess {
    let ip = net.ip(i);
    let conf = format!("bind {ip}\ncluster-announce-ip {ip}\nprotected-mode no\n");
    cluster_node(slotkv(), dir, NODE_TIMEOUT_MS, &conf)
        .wrapper(&net.exec_prefix(i))
        .host(ip)
        .start()
}

/// The isolated master refuses writes after about the node timeout, the majority promotes
/// its replica (which has the write acknowledged by `WAIT 1 0` before the cut), and after
/// the heal the old master follows the new one and every node agrees. The writes the old
/// master took alone before it refused never reached anybody: they are gone after its
/// resync, and the test says how many there were.
#[test]
fn network_partition_fails_over_the_isolated_master_and_heals() {
    // Declared before the nodes so that it is dropped (and the namespaces removed) after
    // the servers are killed.
    let net = match NetnsNetwork::create(6) {
        Ok(net) => net,
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            print_skipped(&format!(
                "network_partition_fails_over_the_isolated_master_and_heals: network \
                 namespaces are not available: {e}"
            ));
            return;
        }
        Err(e) => panic!("setting up the network namespaces: {e}"),
    };
    let base = tempfile::tempdir().expect("tempdir");
    let nodes = create_six_node_cluster((0..6).map(|i| start_node_in(&net, i, base.path())).collect());
    let shard = foo_shard_with_acknowledged_write(&nodes);
    let m = shard.m;
    let victim = nodes[m].addr();
    println!(
        "partition method: network namespaces (one per node; blackhole routes between {victim} \
         and the five other nodes, both ways: cluster bus and replication are cut)"
    );
    let figures = isolated_master_fails_over_and_heals(
        &nodes,
        &shard,
        || net.isolate(m).expect("partition the network"),
        || net.heal().expect("heal the network"),
    );
    // Replication was cut with the bus: nothing the old master accepted alone reached its
    // replica, so its resync from the new master dropped all of it.
    let minority = &figures.minority_writes;
    let on_new = present_keys(&mut nodes[shard.r].client(), minority);
    let on_old = present_keys(&mut nodes[m].client(), minority);
    assert!(
        on_new.is_empty() && on_old.is_empty(),
        "writes taken by the isolated master survived a partition that cut replication: \
         {on_new:?} on the new master, {on_old:?} on the old one"
    );
    println!(
        "{figures}; the isolated master accepted {} writes alone before refusing, all dropped \
         when it resynced from the new master (expected)",
        minority.len()
    );
}
