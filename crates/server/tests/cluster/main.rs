//! Cluster mode with real processes: six slotkv nodes, each from its own config file, joined
//! by the real `redis-cli --cluster create --cluster-replicas 1`, then the tutorial's checks
//! (steps 1–3): every node reports `cluster_state:ok` and agrees on the topology, MOVED
//! redirects, READONLY on replicas, and `redis-cli -c` following redirects.

mod directives;
mod faults;
mod migrate;
mod netns;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use slotkv_testkit::{free_cluster_port, wait_until, Reply, ServerBinary, ServerProcess, TestClient};

fn slotkv() -> ServerBinary {
    ServerBinary::Path(PathBuf::from(env!("CARGO_BIN_EXE_slotkv-server")))
}

fn info_field(c: &mut TestClient, cmd: &[&str], field: &str) -> Option<String> {
    let text = match c.try_cmd(cmd).ok()? {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        _ => return None,
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

mod failover;

fn start_node(dir: &std::path::Path) -> ServerProcess {
    start_node_of(slotkv(), dir, 5000)
}

fn start_node_with_timeout(dir: &std::path::Path, node_timeout_ms: u64) -> ServerProcess {
    start_node_of(slotkv(), dir, node_timeout_ms)
}

fn start_node_of(binary: ServerBinary, dir: &std::path::Path, node_timeout_ms: u64) -> ServerProcess {
    cluster_node(binary, dir, node_timeout_ms, "").start()
}

/// A cluster node's builder: its own folder under `dir` and config file, as in the
/// tutorial, with `extra_conf` appended to the file; DEBUG is enabled for the fault hooks
/// (`faults`).
fn cluster_node(
    binary: ServerBinary,
    dir: &std::path::Path,
    node_timeout_ms: u64,
    extra_conf: &str,
) -> slotkv_testkit::ServerBuilder {
    let port = free_cluster_port();
    let node_dir = dir.join(port.to_string());
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let conf = node_dir.join(format!("redis-{port}.conf"));
    std::fs::write(
        &conf,
        format!("port {port}\ncluster-enabled yes\ncluster-config-file nodes-{port}.conf\ncluster-node-timeout {node_timeout_ms}\nappendonly no\nsave \"\"\nenable-debug-command yes\n{extra_conf}"),
    )
    .expect("config");
    ServerProcess::builder(binary)
        .dir(&node_dir)
        .config_file(&conf)
        .port(port)
}

fn bulk_text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => format!("{other:?}"),
    }
}

#[test]
fn tutorial_create_with_replicas_and_redirects() {
    let base = tempfile::tempdir().expect("tempdir");
    let nodes: Vec<ServerProcess> = (0..6).map(|_| start_node(base.path())).collect();
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
    args.extend(["--cluster-replicas".into(), "1".into(), "--cluster-yes".into()]);
    let out = Command::new(slotkv_testkit::redis_cli_path())
        .args(&args)
        .output()
        .expect("redis-cli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "create failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("[OK] All 16384 slots covered."), "{stdout}");

    // Every node reaches cluster_state:ok and knows all six nodes.
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(20), || {
                info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
                    && info_field(&mut c, &["CLUSTER", "INFO"], "cluster_known_nodes").as_deref() == Some("6")
            }),
            "node {} never reached cluster_state:ok:\n{}",
            n.port(),
            bulk_text(c.cmd(&["CLUSTER", "INFO"]))
        );
    }
    // Three masters with slots, three replicas, on every node's view.
    for n in &nodes {
        let mut c = n.client();
        assert!(wait_until(Duration::from_secs(20), || {
            let text = bulk_text(c.cmd(&["CLUSTER", "NODES"]));
            text.lines().filter(|l| l.contains("slave")).count() == 3
                && text.lines().filter(|l| l.contains("master")).count() == 3
        }));
    }
    let check = Command::new(slotkv_testkit::redis_cli_path())
        .args(["--cluster", "check", &format!("127.0.0.1:{}", nodes[0].port())])
        .output()
        .expect("redis-cli check");
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check_out.contains("[OK] All nodes agree about slots configuration."),
        "{check_out}"
    );
    assert!(check_out.contains("[OK] All 16384 slots covered."), "{check_out}");

    // MOVED: find a node that does not own 'aaa' (slot 10439).
    let mut redirected = false;
    for n in &nodes {
        let mut c = n.client();
        match c.cmd(&["SET", "aaa", "dd"]) {
            Reply::Error(e) if e.starts_with("MOVED 10439 127.0.0.1:") => redirected = true,
            Reply::Status(s) if s == "OK" => {}
            other => panic!("unexpected reply to SET on {}: {other:?}", n.port()),
        }
    }
    assert!(redirected, "no node answered MOVED");
    // redis-cli -c follows the redirect.
    let out = Command::new(slotkv_testkit::redis_cli_path())
        .args(["-c", "-p", &nodes[0].port().to_string(), "get", "aaa"])
        .output()
        .expect("redis-cli -c");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "dd");
    // On the replica of the owner of 'aaa': MOVED, then after READONLY the read is served
    // locally (tutorial step 3), with the value replicated from the master.
    let owner_id = nodes
        .iter()
        .find_map(|n| {
            let text = bulk_text(n.client().cmd(&["CLUSTER", "NODES"]));
            text.lines()
                .find(|l| {
                    l.contains("myself") && l.contains("master") && {
                        let f: Vec<&str> = l.split(' ').collect();
                        f[8..].iter().any(|r| match r.split_once('-') {
                            Some((a, b)) => {
                                a.parse::<u32>().is_ok_and(|a| a <= 10439)
                                    && b.parse::<u32>().is_ok_and(|b| b >= 10439)
                            }
                            None => *r == "10439",
                        })
                    }
                })
                .map(|l| l.split(' ').next().unwrap_or("").to_string())
        })
        .expect("an owner of slot 10439");
    let replica = nodes
        .iter()
        .find(|n| {
            let text = bulk_text(n.client().cmd(&["CLUSTER", "NODES"]));
            text.lines()
                .any(|l| l.contains("myself") && l.contains("slave") && l.contains(&owner_id))
        })
        .expect("a replica of the owner");
    let mut rc = replica.client();
    assert!(matches!(rc.cmd(&["GET", "aaa"]), Reply::Error(e) if e.starts_with("MOVED 10439")));
    rc.cmd_ok(&["READONLY"]);
    assert!(wait_until(Duration::from_secs(10), || rc.cmd(&["GET", "aaa"])
        == Reply::Bulk(b"dd".to_vec())));
    assert!(matches!(rc.cmd(&["SET", "aaa", "x"]), Reply::Error(e) if e.starts_with("MOVED 10439")));

    // CROSSSLOT.
    let mut c = nodes[0].client();
    assert_eq!(
        c.cmd(&["MSET", "a", "1", "b", "2"]),
        Reply::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
    assert_eq!(
        c.cmd(&["SELECT", "1"]),
        Reply::Error("ERR SELECT is not allowed in cluster mode".into())
    );
}

/// Slot ranges per node id as one node sees them (from CLUSTER NODES).
fn topology(c: &mut TestClient) -> Vec<(String, String, String)> {
    let text = bulk_text(c.cmd(&["CLUSTER", "NODES"]));
    let mut v: Vec<(String, String, String)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let role = if f[2].contains("master") {
                "master"
            } else {
                "slave"
            };
            (f[0].to_string(), role.to_string(), f[8..].join(" "))
        })
        .collect();
    v.sort();
    v
}

/// The mixed-cluster interop test: three redis-server 7.0 nodes and three slotkv nodes
/// created as one cluster; every node, of either kind, sees the same roles and slots and
/// no failure flags.
#[test]
fn mixed_cluster_with_redis_nodes_agrees() {
    let base = tempfile::tempdir().expect("tempdir");
    let mut nodes = Vec::new();
    for i in 0..6 {
        let bin = if i % 2 == 0 { ServerBinary::Redis } else { slotkv() };
        nodes.push(start_node_of(bin, base.path(), 5000));
    }
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
    args.extend(["--cluster-replicas".into(), "1".into(), "--cluster-yes".into()]);
    let out = Command::new(slotkv_testkit::redis_cli_path())
        .args(&args)
        .output()
        .expect("redis-cli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "create failed:\n{stdout}");
    let agreed = wait_until(Duration::from_secs(30), || {
        let mut views = Vec::new();
        for n in &nodes {
            let mut c = n.client();
            if info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() != Some("ok") {
                return false;
            }
            let text = bulk_text(c.cmd(&["CLUSTER", "NODES"]));
            if text.lines().count() != 6
                || text.contains("fail")
                || text.contains("handshake")
                || text.contains("disconnected")
            {
                return false;
            }
            views.push(topology(&mut c));
        }
        views.windows(2).all(|w| w[0] == w[1])
    });
    let mut dump = String::new();
    for n in &nodes {
        dump.push_str(&format!(
            "--- {}\n{}",
            n.port(),
            bulk_text(n.client().cmd(&["CLUSTER", "NODES"]))
        ));
    }
    assert!(agreed, "nodes never agreed:\n{dump}");
    let check = Command::new(slotkv_testkit::redis_cli_path())
        .args(["--cluster", "check", &format!("127.0.0.1:{}", nodes[1].port())])
        .output()
        .expect("redis-cli check");
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check_out.contains("[OK] All nodes agree about slots configuration."),
        "{check_out}"
    );
}

/// A restart of every node at once: same ids, same slots, same roles, cluster_state:ok.
#[test]
fn whole_cluster_restart_keeps_identity() {
    let base = tempfile::tempdir().expect("tempdir");
    let mut nodes: Vec<ServerProcess> = (0..3).map(|_| start_node(base.path())).collect();
    failover::redis_cli_create(&nodes, 0);
    for n in &nodes {
        let mut c = n.client();
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
        }));
    }
    let before: Vec<_> = nodes.iter().map(|n| topology(&mut n.client())).collect();
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| bulk_text(n.client().cmd(&["CLUSTER", "MYID"])))
        .collect();
    for n in &mut nodes {
        n.stop();
    }
    for n in &mut nodes {
        n.restart();
    }
    for (i, n) in nodes.iter().enumerate() {
        let mut c = n.client();
        assert_eq!(bulk_text(c.cmd(&["CLUSTER", "MYID"])), ids[i]);
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
                && !bulk_text(c.cmd(&["CLUSTER", "NODES"])).contains("disconnected")
        }));
        assert_eq!(topology(&mut c), before[i]);
    }
}

/// Real cluster clients: redis-py's RedisCluster, the `redis` crate's cluster client and
/// `redis-benchmark --cluster`.
#[test]
fn cluster_clients_redis_py_redis_rs_and_benchmark() {
    let base = tempfile::tempdir().expect("tempdir");
    let nodes: Vec<ServerProcess> = (0..3).map(|_| start_node(base.path())).collect();
    failover::redis_cli_create(&nodes, 0);
    for n in &nodes {
        let mut c = n.client();
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(&mut c, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
        }));
    }
    let script = r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
for i in range(200):
    rc.set(f"k{i}", i)
assert sum(int(rc.get(f"k{i}")) for i in range(200)) == sum(range(200))
p = rc.pipeline()
for i in range(20):
    p.incr(f"c{i}")
assert p.execute() == [1] * 20
assert rc.mget_nonatomic([f"k{i}" for i in range(3)]) == [b"0", b"1", b"2"]
print("ok")
"#;
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(nodes[0].port().to_string())
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        "ok",
        "redis-py failed: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    // CLUSTER LINKS lists the link to and the link from every peer, as Redis 7.0 does.
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_until(Duration::from_secs(10), || {
                let Reply::Array(links) = c.cmd(&["CLUSTER", "LINKS"]) else {
                    return false;
                };
                let dirs: Vec<String> = links
                    .iter()
                    .filter_map(|l| match l {
                        Reply::Array(kv) => kv.get(1).and_then(|d| d.as_str()).map(String::from),
                        _ => None,
                    })
                    .collect();
                dirs.len() == 4 && dirs.iter().filter(|d| *d == "to").count() == 2
            }),
            "CLUSTER LINKS on {}: {}",
            n.port(),
            c.cmd(&["CLUSTER", "LINKS"])
        );
    }
    redis_rs_cluster_client(&nodes);
    let bench = Command::new(slotkv_testkit::find_program("redis-benchmark").expect("redis-benchmark"))
        .args([
            "--cluster",
            "-p",
            &nodes[0].port().to_string(),
            "-t",
            "set,get",
            "-n",
            "2000",
            "-q",
        ])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&bench.stdout).to_string() + &String::from_utf8_lossy(&bench.stderr);
    assert!(bench.status.success(), "{text}");
    assert!(text.contains("SET:") && text.contains("GET:"), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
}

/// The `redis` crate's cluster client: discovers the slots from one seed node, routes
/// keys to their masters, follows MOVED after a slot changes hands, pipelines per node.
fn redis_rs_cluster_client(nodes: &[ServerProcess]) {
    use redis::Commands;
    let seed = format!("redis://127.0.0.1:{}/", nodes[1].port());
    let client = redis::cluster::ClusterClient::new(vec![seed]).expect("cluster client");
    let mut con = client.get_connection().expect("cluster connection");
    for i in 0..300 {
        let _: () = con
            .set(format!("rs{i}"), i)
            .expect("SET through the cluster client");
    }
    let total: i64 = (0..300)
        .map(|i| con.get::<_, i64>(format!("rs{i}")).expect("GET"))
        .sum();
    assert_eq!(total, (0..300).sum::<i64>());
    // Every master got its share, each key on the node that owns its slot.
    let mut per_node = Vec::new();
    for n in nodes {
        let mut c = n.client();
        let Reply::Int(keys) = c.cmd(&["DBSIZE"]) else {
            panic!("DBSIZE")
        };
        per_node.push(keys);
    }
    assert!(per_node.iter().all(|k| *k > 0), "keys per node: {per_node:?}");
    // Multi-key commands within one slot (hash tags).
    let _: () = redis::cmd("MSET")
        .arg("{rs}a")
        .arg("1")
        .arg("{rs}b")
        .arg("2")
        .query(&mut con)
        .expect("MSET in one slot");
    let both: Vec<String> = con.mget(&["{rs}a", "{rs}b"]).expect("MGET in one slot");
    assert_eq!(both, ["1", "2"]);
    // Move the slot of "{rs}a" to another master behind the client's back: the client
    // gets MOVED and follows it.
    let slot = slotkv_keyslot::key_slot(b"{rs}a");
    let owner = nodes
        .iter()
        .position(|n| {
            let mut c = n.client();
            matches!(
                c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
                Reply::Int(2)
            )
        })
        .expect("owner of the slot");
    let target = (owner + 1) % nodes.len();
    let target_id = bulk_text(nodes[target].client().cmd(&["CLUSTER", "MYID"]));
    let mut src = nodes[owner].client();
    let mut dst = nodes[target].client();
    let owner_id = bulk_text(src.cmd(&["CLUSTER", "MYID"]));
    let s = slot.to_string();
    dst.cmd(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &owner_id]);
    src.cmd(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &target_id]);
    let port = nodes[target].port().to_string();
    let migrated = src.cmd(&[
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "5000",
        "KEYS",
        "{rs}a",
        "{rs}b",
    ]);
    assert_eq!(migrated, Reply::Status("OK".into()));
    for c in [&mut dst, &mut src] {
        c.cmd(&["CLUSTER", "SETSLOT", &s, "NODE", &target_id]);
    }
    let after: Vec<String> = con.mget(&["{rs}a", "{rs}b"]).expect("MGET after the slot moved");
    assert_eq!(after, ["1", "2"]);
    let _: () = con.set("{rs}a", "3").expect("SET after MOVED");
    assert_eq!(dst.cmd(&["GET", "{rs}a"]), Reply::Bulk(b"3".to_vec()));
    // A pipeline over keys of every node.
    let mut pipe = redis::cluster::cluster_pipe();
    for i in 0..30 {
        pipe.incr(format!("rsc{i}"), 1);
    }
    let counts: Vec<i64> = pipe.query(&mut con).expect("cluster pipeline");
    assert_eq!(counts, vec![1; 30]);
}
