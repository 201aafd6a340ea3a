//! `--cluster import`, `backup`, `watch`, `check`/`fix --cluster-search-multiple-owners`,
//! and `reshard`/`rebalance`, against clusters of real slotkv-server processes (and, where
//! the output is compared, the same run of the reference redis-cli). Nodes come from
//! slotkv-testkit; the cluster is formed with slotkv-cli's own `--cluster create`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use slotkv_testkit::{
    assert_eventually, wait_until, ClusterClient, Reply, ServerBinary, ServerProcess, TestClient,
};

use crate::cluster_admin::{run, scratch, slotkv, Out};
use crate::harness::{reference_cli, slotkv_cli};

const WAIT: Duration = Duration::from_secs(20);

fn cluster_node(bin: ServerBinary) -> ServerProcess {
    ServerProcess::start(
        bin,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
        ],
    )
}

fn addr(n: &ServerProcess) -> String {
    format!("127.0.0.1:{}", n.port())
}

fn text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Status(s) | Reply::Error(s) => s,
        Reply::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn int(c: &mut TestClient, args: &[&str]) -> i64 {
    match c.cmd(args) {
        Reply::Int(i) => i,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn myid(n: &ServerProcess) -> String {
    text(n.client().cmd(&["CLUSTER", "MYID"]))
}

/// `n` nodes of `bin`, joined by `slotkv-cli --cluster create` (3 masters or more, no
/// replicas), every node reporting cluster_state:ok.
fn cluster(bin: ServerBinary, n: usize) -> Vec<ServerProcess> {
    let nodes: Vec<ServerProcess> = (0..n).map(|_| cluster_node(bin.clone())).collect();
    let addrs: Vec<String> = nodes.iter().map(addr).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.push("--cluster-yes");
    let out = slotkv(&args);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    wait_ok(&nodes);
    nodes
}

fn wait_ok(nodes: &[ServerProcess]) {
    for n in nodes {
        let mut c = n.client();
        assert_eventually(WAIT, "cluster_state:ok", || {
            text(c.cmd(&["CLUSTER", "INFO"])).contains("cluster_state:ok")
        });
    }
}

/// `slotkv-cli --cluster add-node <node> <entry> --cluster-slave --cluster-master-id <id>`.
fn add_replica(entry: &str, node: &ServerProcess, master_id: &str) {
    let out = slotkv(&[
        "--cluster",
        "add-node",
        &addr(node),
        entry,
        "--cluster-slave",
        "--cluster-master-id",
        master_id,
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
}

fn masters_dbsize(nodes: &[ServerProcess]) -> i64 {
    nodes.iter().map(|n| int(&mut n.client(), &["DBSIZE"])).sum()
}

/// Fills a standalone server with `n` keys of every core type, some with a TTL.
fn fill_source(c: &mut TestClient, n: usize) {
    for i in 0..n {
        let k = format!("key:{i}");
        let r = match i % 5 {
            0 => c.cmd(&["SET", &k, &format!("v{i}")]),
            1 => c.cmd(&["RPUSH", &k, "a", "b", &i.to_string()]),
            2 => c.cmd(&["HSET", &k, "f", &i.to_string()]),
            3 => c.cmd(&["SADD", &k, "x", "y"]),
            _ => c.cmd(&["ZADD", &k, "1", "m"]),
        };
        assert!(!r.is_error(), "{r:?}");
        if i % 7 == 0 {
            assert_eq!(c.cmd(&["EXPIRE", &k, "1000"]), Reply::Int(1));
        }
    }
}

fn import(entry: &str, source: &ServerProcess, extra: &[&str]) -> Out {
    let from = addr(source);
    let mut args = vec!["--cluster", "import", entry, "--cluster-from", &from];
    args.extend(extra);
    slotkv(&args)
}

/// The per-key lines of an import, sorted (SCAN order may differ between two runs).
fn migrating_lines(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("Migrating "))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn import_from_standalone_slotkv_and_redis_servers() {
    let nodes = cluster(ServerBinary::Slotkv, 3);
    let entry = addr(&nodes[0]);
    const KEYS: usize = 150;

    // From a standalone slotkv-server, copying: the source keeps its keys.
    let source = ServerProcess::start(ServerBinary::Slotkv, &[]);
    let mut sc = source.client();
    fill_source(&mut sc, KEYS);
    let out = import(&entry, &source, &["--cluster-copy"]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.starts_with(&format!(
            ">>> Importing data from {} to cluster {entry}\n>>> Performing Cluster Check (using node {entry})\n",
            addr(&source)
        )),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains(&format!("*** Importing {KEYS} keys from DB 0\n")));
    let lines = migrating_lines(&out.stdout);
    assert_eq!(lines.len(), KEYS, "{}", out.stdout);
    assert!(lines.iter().all(|l| l.ends_with(": OK")), "{lines:?}");
    assert_eq!(masters_dbsize(&nodes), KEYS as i64);
    assert_eq!(int(&mut sc, &["DBSIZE"]), KEYS as i64);
    let mut w = ClusterClient::new(addr(&nodes[0]));
    assert_eq!(text(w.cmd(&["GET", "key:5"])), "v5");
    assert_eq!(text(w.cmd(&["LINDEX", "key:6", "2"])), "6");
    assert_eq!(text(w.cmd(&["TYPE", "key:9"])), "zset");
    let ttl = w.cmd(&["TTL", "key:7"]).as_int().unwrap();
    assert!((1..=1000).contains(&ttl), "{ttl}");

    // Again without --cluster-replace: the first key is busy, as redis-cli reports it.
    let out = import(&entry, &source, &["--cluster-copy"]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout.ends_with(&format!(
            ": Source {} replied with error:\nERR Target instance replied with error: BUSYKEY Target key name already exists.\n",
            addr(&source)
        )),
        "{}",
        out.stdout
    );

    // With --cluster-replace (and without --cluster-copy): new values win, the source empties.
    assert!(sc.cmd(&["SET", "key:5", "new"]).is_ok());
    let out = import(&entry, &source, &["--cluster-replace"]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert_eq!(text(w.cmd(&["GET", "key:5"])), "new");
    assert_eq!(int(&mut sc, &["DBSIZE"]), 0);
    assert_eq!(masters_dbsize(&nodes), KEYS as i64);

    // From a standalone redis-server: the same lines as redis-cli's, which moves the keys.
    let redis = ServerProcess::start(ServerBinary::Redis, &[]);
    let mut rc = redis.client();
    for i in 0..40 {
        assert!(rc.cmd(&["SET", &format!("r:{i}"), "x"]).is_ok());
    }
    let from = addr(&redis);
    let args = [
        "--cluster",
        "import",
        &entry,
        "--cluster-from",
        &from,
        "--cluster-copy",
    ];
    let theirs = run(&reference_cli(), &args, "dumb", &[]);
    assert_eq!(theirs.code, Some(0), "{}", theirs.stdout);
    for k in 0..40 {
        assert_eq!(w.cmd(&["DEL", &format!("r:{k}")]), Reply::Int(1));
    }
    let ours = slotkv(&["--cluster", "import", &entry, "--cluster-from", &from]);
    assert_eq!(ours.code, Some(0), "{}", ours.stdout);
    assert_eq!(migrating_lines(&ours.stdout), migrating_lines(&theirs.stdout));
    let head = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("Migrating "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(head(&ours.stdout), head(&theirs.stdout));
    assert_eq!(int(&mut rc, &["DBSIZE"]), 0);
    assert_eq!(masters_dbsize(&nodes), KEYS as i64 + 40);
    assert_eq!(text(w.cmd(&["GET", "r:39"])), "x");

    // A cluster node as the source is refused.
    let out = slotkv(&["--cluster", "import", &entry, "--cluster-from", &addr(&nodes[1])]);
    assert_eq!(out.code, Some(1));
    assert!(out
        .stdout
        .ends_with("[ERR] The source node should not be a cluster node.\n"));
}

#[test]
fn backup_of_a_slotkv_cluster_matches_redis_cli_and_loads() {
    let nodes = cluster(ServerBinary::Slotkv, 3);
    let entry = addr(&nodes[0]);
    let mut w = ClusterClient::new(addr(&nodes[0]));
    for i in 0..300 {
        assert!(w.cmd(&["SET", &format!("b:{i}"), &i.to_string()]).is_ok());
    }
    assert!(w.cmd(&["RPUSH", "b:list", "1", "2", "3"]).as_int().is_some());
    let ours_dir = scratch("backup-ours");
    let theirs_dir = scratch("backup-theirs");
    let ours = slotkv(&["--cluster", "backup", &entry, ours_dir.to_str().unwrap()]);
    let theirs = run(
        &reference_cli(),
        &["--cluster", "backup", &entry, theirs_dir.to_str().unwrap()],
        "dumb",
        &[],
    );
    assert_eq!(ours.code, Some(0), "{}", ours.stdout);
    assert_eq!(theirs.code, Some(0), "{}", theirs.stdout);
    assert_eq!(
        ours.stdout.replace(ours_dir.to_str().unwrap(), "DIR"),
        theirs.stdout.replace(theirs_dir.to_str().unwrap(), "DIR")
    );
    assert!(ours
        .stdout
        .ends_with(&format!("[OK] Backup created into: {}\n", ours_dir.display())));
    let json = std::fs::read_to_string(ours_dir.join("nodes.json")).unwrap();
    assert_eq!(
        json,
        std::fs::read_to_string(theirs_dir.join("nodes.json")).unwrap()
    );
    let mut total = 0;
    for (i, n) in nodes.iter().enumerate() {
        let id = myid(n);
        assert!(json.contains(&format!("\"name\": \"{id}\"")), "{json}");
        let file = ours_dir.join(format!("redis-node-127.0.0.1-{}-{id}.rdb", n.port()));
        assert!(file.is_file(), "{} missing", file.display());
        let keys = int(&mut n.client(), &["DBSIZE"]);
        // Each snapshot loads: into slotkv-server, and one of them into redis-server too.
        let bins = if i == 0 {
            vec![ServerBinary::Slotkv, ServerBinary::Redis]
        } else {
            vec![ServerBinary::Slotkv]
        };
        for bin in bins {
            let loaded = load_rdb(bin.clone(), &file);
            assert_eq!(loaded.dbsize(), keys, "{bin:?} {}", file.display());
        }
        total += keys;
    }
    assert_eq!(total, 301);

    // A directory that does not exist: redis-cli's error, exit status 1.
    let missing = ours_dir.join("missing");
    let out = slotkv(&["--cluster", "backup", &entry, missing.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let _ = std::fs::remove_dir_all(&ours_dir);
    let _ = std::fs::remove_dir_all(&theirs_dir);
}

/// A standalone server started on a copy of an RDB file as its dump.rdb; the copy's
/// directory goes with it.
struct Loaded(ServerProcess, PathBuf);

impl Loaded {
    fn dbsize(&self) -> i64 {
        int(&mut self.0.client(), &["DBSIZE"])
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn load_rdb(bin: ServerBinary, rdb: &Path) -> Loaded {
    let dir = scratch("load");
    std::fs::copy(rdb, dir.join("dump.rdb")).unwrap();
    Loaded(ServerProcess::builder(bin).dir(&dir).start(), dir)
}

#[test]
fn rdb_option_writes_a_loadable_snapshot() {
    let source = ServerProcess::start(ServerBinary::Slotkv, &[]);
    let mut c = source.client();
    fill_source(&mut c, 50);
    let dir = scratch("rdb");
    let file = dir.join("x.rdb");
    let port = source.port().to_string();
    let out = Command::new(slotkv_cli())
        .args(["-p", &port, "--rdb", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(
        stderr,
        format!(
            "sending REPLCONF capa eof\nsending REPLCONF rdb-only 1\nSYNC sent to master, writing {size} bytes to '{}'\nTransfer finished with success.\n",
            file.display()
        )
    );
    assert_eq!(load_rdb(ServerBinary::Redis, &file).dbsize(), 50);
    // A diskless redis-server answers with an EOF mark, which must not end up in the file.
    let redis = ServerProcess::start(ServerBinary::Redis, &["--repl-diskless-sync-delay", "0"]);
    let mut rc = redis.client();
    fill_source(&mut rc, 20);
    let out = Command::new(slotkv_cli())
        .args(["-p", &redis.port().to_string(), "--rdb", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).ends_with(&format!(
            "Transfer finished with success after {} bytes\n",
            out.stdout.len()
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&file, &out.stdout).unwrap();
    assert_eq!(load_rdb(ServerBinary::Slotkv, &file).dbsize(), 20);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The slots a node says it owns.
fn slots_of(n: &ServerProcess) -> Vec<u16> {
    let nodes = text(n.client().cmd(&["CLUSTER", "NODES"]));
    let me = nodes.lines().find(|l| l.contains("myself")).expect("myself line");
    me.split_whitespace()
        .skip(8)
        .filter(|r| !r.starts_with('['))
        .flat_map(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap()
        })
        .collect()
}

/// Puts keys of `slot` (via the hash tag `tag`) on `holder`, which does not own the slot:
/// the slot opened as importing, ASKING writes, closed again (as Redis's own tests do).
fn keys_in_non_owner(holder: &ServerProcess, owner_id: &str, slot: &str, tag: &str, n: usize) {
    let mut c = holder.client();
    assert!(c
        .cmd(&["CLUSTER", "SETSLOT", slot, "IMPORTING", owner_id])
        .is_ok());
    for i in 0..n {
        assert!(c.cmd(&["ASKING"]).is_ok());
        assert!(c.cmd(&["SET", &format!("{{{tag}}}:{i}"), "x"]).is_ok());
    }
    assert!(c.cmd(&["CLUSTER", "SETSLOT", slot, "STABLE"]).is_ok());
    assert_eq!(int(&mut c, &["CLUSTER", "COUNTKEYSINSLOT", slot]), n as i64);
}

fn multiple_owners_found_and_fixed(bin: ServerBinary) {
    let nodes = cluster(bin, 3);
    let entry = addr(&nodes[0]);
    // "a" hashes to slot 15495, owned by the third master; the second holds more of its
    // keys, so the fix gives the slot to the second.
    let mut owner = nodes[2].client();
    assert_eq!(text(owner.cmd(&["CLUSTER", "KEYSLOT", "a"])), "15495");
    assert!(owner.cmd(&["SET", "{a}:owner", "1"]).is_ok());
    keys_in_non_owner(&nodes[1], &myid(&nodes[2]), "15495", "a", 3);

    let args = ["--cluster", "check", &entry, "--cluster-search-multiple-owners"];
    let ours = slotkv(&args);
    let theirs = run(&reference_cli(), &args, "dumb", &[]);
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!((ours.code, theirs.code), (Some(1), Some(1)));
    assert!(
        ours.stdout.ends_with(&format!(
            ">>> Check for multiple slot owners...\n[WARNING] Slot 15495 has 2 owners:\n    {}\n    {}\n",
            addr(&nodes[2]),
            addr(&nodes[1])
        )) || ours.stdout.ends_with(&format!(
            ">>> Check for multiple slot owners...\n[WARNING] Slot 15495 has 2 owners:\n    {}\n    {}\n",
            addr(&nodes[1]),
            addr(&nodes[2])
        )),
        "{}",
        ours.stdout
    );
    // A plain check does not look for them.
    assert_eq!(slotkv(&["--cluster", "check", &entry]).code, Some(0));

    let fix = slotkv(&["--cluster", "fix", &entry, "--cluster-search-multiple-owners"]);
    assert_eq!(fix.code, Some(0), "{}", fix.stdout);
    assert!(
        fix.stdout.contains(&format!(
            ">>> Fixing multiple owners for slot 15495...\n>>> Setting slot 15495 owner: {}\nMoving slot 15495 from {} to {}: .\n[OK] No multiple owners found.\n",
            addr(&nodes[1]),
            addr(&nodes[2]),
            addr(&nodes[1])
        )),
        "{}",
        fix.stdout
    );
    let mut new_owner = nodes[1].client();
    assert_eq!(int(&mut new_owner, &["CLUSTER", "COUNTKEYSINSLOT", "15495"]), 4);
    assert_eq!(int(&mut owner, &["CLUSTER", "COUNTKEYSINSLOT", "15495"]), 0);
    assert_eq!(text(new_owner.cmd(&["GET", "{a}:owner"])), "1");
    // Every node agrees on the new owner, and the check is clean.
    let moved = Reply::Error(format!("MOVED 15495 127.0.0.1:{}", nodes[1].port()));
    for n in nodes.iter().filter(|n| n.port() != nodes[1].port()) {
        let mut c = n.client();
        assert_eventually(WAIT, "the new owner everywhere", || {
            c.cmd(&["GET", "{a}:owner"]) == moved
        });
    }
    assert_eventually(WAIT, "a clean check", || {
        let out = slotkv(&args);
        out.code == Some(0) && out.stdout.ends_with("[OK] No multiple owners found.\n")
    });
}

#[test]
fn multiple_owners_on_slotkv_nodes() {
    multiple_owners_found_and_fixed(ServerBinary::Slotkv);
}

#[test]
fn multiple_owners_on_redis_nodes() {
    multiple_owners_found_and_fixed(ServerBinary::Redis);
}

#[test]
fn watch_shows_every_node_and_a_failover() {
    let mut nodes = cluster(ServerBinary::Slotkv, 3);
    let entry = addr(&nodes[0]);
    // A replica of the third master.
    nodes.push(cluster_node(ServerBinary::Slotkv));
    let master_id = myid(&nodes[2]);
    add_replica(&entry, &nodes[3], &master_id);
    let replica_id = myid(&nodes[3]);
    // Every node (its master above all, which must accept the manual failover below)
    // knows it as a replica.
    for n in &nodes {
        let mut c = n.client();
        assert_eventually(WAIT, "the replica seen by every node", || {
            text(c.cmd(&["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.starts_with(&replica_id) && l.contains(&format!("slave {master_id}")))
        });
    }

    let out = slotkv(&[
        "--cluster",
        "watch",
        &entry,
        "--interval",
        "0.1",
        "--cluster-iterations",
        "2",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("slotkv-cli --cluster watch ").count(),
        2,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("| refresh 2 at "), "{}", out.stdout);
    assert!(!out.stdout.contains('\x1b'), "no ANSI when stdout is not a tty");
    let first = out.stdout.split("\n\n").next().unwrap();
    for n in &nodes[..3] {
        let id = myid(n);
        let row = first
            .lines()
            .find(|l| l.starts_with(&id[..8]))
            .unwrap_or_else(|| panic!("no row for {id}:\n{first}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..4], [addr(n).as_str(), "master", "-"], "{row}");
        assert_eq!(cols[6], "connected", "{row}");
    }
    let row = first.lines().find(|l| l.starts_with(&replica_id[..8])).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols[1..5],
        [addr(&nodes[3]).as_str(), "replica", &master_id[..8], "-"],
        "{row}"
    );
    assert!(
        first.contains("3 masters, 1 replicas | 16384/16384 slots covered"),
        "{first}"
    );

    // A failover while watching shows up as an event line.
    let log_dir = scratch("watch");
    let log = log_dir.join("out.txt");
    let mut child = Command::new(slotkv_cli())
        .args([
            "--cluster",
            "watch",
            &entry,
            "--interval",
            "0.1",
            "--cluster-iterations",
            "300",
        ])
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eventually(WAIT, "the first refresh", || read().contains("| refresh 1 at "));
    // A manual failover needs the replica in sync with its master (else it times out).
    let mut rc = nodes[3].client();
    assert_eventually(WAIT, "the replica's link to its master", || {
        text(rc.cmd(&["INFO", "replication"])).contains("master_link_status:up")
    });
    assert!(rc.cmd(&["CLUSTER", "FAILOVER"]).is_ok());
    let expected = format!(
        "failover: {} {} is now a master (was a replica of {})",
        &replica_id[..8],
        addr(&nodes[3]),
        &master_id[..8]
    );
    let seen = wait_until(WAIT, || read().contains(&expected));
    let _ = child.kill();
    let _ = child.wait();
    let text = read();
    let _ = std::fs::remove_dir_all(&log_dir);
    assert!(seen, "no failover event in:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("event: [") && l.ends_with(&expected)),
        "{text}"
    );
}

#[test]
fn reshard_and_rebalance_on_slotkv_nodes() {
    let mut nodes = cluster(ServerBinary::Slotkv, 3);
    let entry = addr(&nodes[0]);
    let mut w = ClusterClient::new(addr(&nodes[0]));
    for i in 0..400 {
        assert!(w.cmd(&["SET", &format!("k:{i}"), &i.to_string()]).is_ok());
    }
    nodes.push(cluster_node(ServerBinary::Slotkv));
    let out = slotkv(&["--cluster", "add-node", &addr(&nodes[3]), &entry]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    wait_ok(&nodes);
    let new_id = myid(&nodes[3]);
    // Known by its id, not only as a handshake (which cluster_known_nodes counts too).
    for n in &nodes {
        let mut c = n.client();
        assert_eventually(WAIT, "every node knows the new one", || {
            text(c.cmd(&["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.starts_with(&new_id) && !l.contains("handshake"))
        });
    }
    // Slots from every old master to the new one...
    let out = slotkv(&[
        "--cluster",
        "reshard",
        &entry,
        "--cluster-from",
        "all",
        "--cluster-to",
        &new_id,
        "--cluster-slots",
        "60",
        "--cluster-yes",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains("\nReady to move 60 slots.\n"),
        "{}",
        out.stdout
    );
    let taken = slots_of(&nodes[3]);
    // redis-cli's plan rounds each source's share, so it can come out a slot short.
    assert!((58..=60).contains(&taken.len()), "{taken:?}");
    for old in &nodes[..3] {
        let mut c = old.client();
        for s in &taken {
            assert_eq!(int(&mut c, &["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()]), 0);
        }
    }
    assert_eq!(masters_dbsize(&nodes), 400);
    assert_eventually(WAIT, "a clean check after reshard", || {
        slotkv(&["--cluster", "check", &entry]).code == Some(0)
    });

    // ...then a rebalance that gives it a small share (each slot move costs a few
    // SETSLOTs, so the test keeps the number of moves low).
    let weight = format!("{new_id}=0.025");
    let out = slotkv(&["--cluster", "rebalance", &entry, "--cluster-weight", &weight]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(">>> Rebalancing across 4 nodes. Total weight = 3.02\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("to {}\n#", addr(&nodes[3]))),
        "{}",
        out.stdout
    );
    assert_eventually(WAIT, "a clean check after rebalance", || {
        slotkv(&["--cluster", "check", &entry]).code == Some(0)
    });
    let new_slots = slots_of(&nodes[3]).len();
    assert!((130..=140).contains(&new_slots), "{new_slots} slots");
    assert_eq!(masters_dbsize(&nodes), 400);
    for i in (0..400).step_by(37) {
        assert_eq!(text(w.cmd(&["GET", &format!("k:{i}")])), i.to_string());
    }
}

/// Issue 6: slotkv-cli reshards slots full of keys while a client keeps writing and
/// reading them; the client sees only redirects, never loses a write, and every key ends on
/// the new owner with its last value.
#[test]
fn reshard_with_slotkv_cli_under_load() {
    let nodes = cluster(ServerBinary::Slotkv, 3);
    let entry = addr(&nodes[0]);
    let (from, to) = (myid(&nodes[0]), myid(&nodes[1]));
    // `create` gives the first node slots 0-5460; the reshard moves its first 100.
    let moving: Vec<String> = (0..)
        .map(|i| format!("key:{i}"))
        .filter(|k| slotkv_keyslot::key_slot(k.as_bytes()).get() < 100)
        .take(3000)
        .collect();
    let mut setup = ClusterClient::new(addr(&nodes[0]));
    for k in &moving {
        assert_eq!(setup.cmd(&["SET", k, "0"]), Reply::status("OK"));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let moving = moving.clone();
        let mut w = ClusterClient::new(addr(&nodes[0]));
        std::thread::spawn(move || {
            let mut expected: HashMap<String, String> = HashMap::new();
            let mut wrong = Vec::new();
            let mut round = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                round += 1;
                for k in moving.iter().step_by(11) {
                    let v = format!("r{round}");
                    match w.cmd(&["SET", k, &v]) {
                        Reply::Status(ok) if ok == "OK" => {}
                        other => {
                            wrong.push(format!("SET {k}: {other:?}"));
                            continue;
                        }
                    }
                    expected.insert(k.clone(), v.clone());
                    let got = w.cmd(&["GET", k]);
                    if got != Reply::bulk(&v) {
                        wrong.push(format!("GET {k}: {got:?}, wanted {v}"));
                    }
                }
            }
            (expected, wrong, w.redirects, round)
        })
    };
    let out = slotkv(&[
        "--cluster",
        "reshard",
        &entry,
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        "100",
        "--cluster-yes",
    ]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (expected, wrong, redirects, rounds) = writer.join().expect("writer");
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(wrong.is_empty(), "lost or wrong values: {wrong:?}");
    assert!(rounds >= 1 && redirects > 0, "no redirect seen ({rounds} rounds)");
    let mut target = nodes[1].client();
    for k in &moving {
        let want = expected.get(k).cloned().unwrap_or_else(|| "0".into());
        assert_eq!(
            target.cmd(&["GET", k]),
            Reply::bulk(&want),
            "key {k} on the target"
        );
    }
    let mut source = nodes[0].client();
    for s in 0..100 {
        assert_eq!(
            int(&mut source, &["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()]),
            0
        );
    }
    assert_eq!(masters_dbsize(&nodes), moving.len() as i64);
    assert_eventually(WAIT, "a clean check after reshard", || {
        slotkv(&["--cluster", "check", &entry]).code == Some(0)
    });
}

/// Issue 6's lifecycle on slotkv nodes with our CLI: an empty master gets its share from
/// `rebalance --cluster-use-empty-masters`, a replica is added then removed with
/// `del-node`, the master is emptied by `reshard` and removed, and a slot left open by a
/// reshard killed halfway (some keys moved, some not) is repaired by `fix`. Every key
/// survives each step and `check` is clean after each.
#[test]
fn rebalance_del_node_and_fix_on_slotkv_nodes() {
    let mut nodes = cluster(ServerBinary::Slotkv, 3);
    let entry = addr(&nodes[0]);
    let mut w = ClusterClient::new(addr(&nodes[0]));
    for i in 0..300 {
        assert!(w.cmd(&["SET", &format!("k:{i}"), &i.to_string()]).is_ok());
    }
    let clean = |why: &str| {
        assert_eventually(WAIT, why, || {
            slotkv(&["--cluster", "check", &entry]).code == Some(0)
        });
    };
    // del-node resets the removed node (CLUSTER RESET SOFT; redis-cli 7.0 does not shut
    // it down): it knows only itself.
    let alone = |n: &ServerProcess| {
        let mut c = n.client();
        assert_eventually(WAIT, "the removed node is reset", || {
            text(c.cmd(&["CLUSTER", "NODES"])).lines().count() == 1
        });
    };
    let knows = |nodes: &[ServerProcess], id: &str| {
        for n in nodes {
            let mut c = n.client();
            assert_eventually(WAIT, "every node knows the new one", || {
                text(c.cmd(&["CLUSTER", "NODES"]))
                    .lines()
                    .any(|l| l.starts_with(id) && !l.contains("handshake"))
            });
        }
    };

    // An empty master, then rebalance with --cluster-use-empty-masters. Weights keep the
    // number of moves small: the new master's share is 1/31 of the slots.
    nodes.push(cluster_node(ServerBinary::Slotkv));
    let out = slotkv(&["--cluster", "add-node", &addr(&nodes[3]), &entry]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let new_id = myid(&nodes[3]);
    knows(&nodes, &new_id);
    wait_ok(&nodes);
    let weights: Vec<String> = nodes[..3].iter().map(|n| format!("{}=10", myid(n))).collect();
    let mut args = vec![
        "--cluster",
        "rebalance",
        entry.as_str(),
        "--cluster-use-empty-masters",
        "--cluster-weight",
    ];
    args.extend(weights.iter().map(String::as_str));
    let out = slotkv(&args);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let share = slots_of(&nodes[3]).len();
    assert!(
        (500..=560).contains(&share),
        "the empty master got {share} slots:\n{}",
        out.stdout
    );
    assert_eq!(masters_dbsize(&nodes), 300);
    clean("a clean check after rebalance");

    // A replica of it, added and removed again.
    nodes.push(cluster_node(ServerBinary::Slotkv));
    add_replica(&entry, &nodes[4], &new_id);
    let replica_id = myid(&nodes[4]);
    knows(&nodes, &replica_id);
    let mut r = nodes[4].client();
    assert_eventually(WAIT, "the replica follows the new master", || {
        text(r.cmd(&["CLUSTER", "NODES"]))
            .lines()
            .any(|l| l.starts_with(&replica_id) && l.contains("slave") && l.contains(&new_id))
    });
    let out = slotkv(&["--cluster", "del-node", &entry, &replica_id]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    alone(&nodes[4]);
    for n in &nodes[..4] {
        let mut c = n.client();
        assert_eventually(WAIT, "the replica is forgotten", || {
            !text(c.cmd(&["CLUSTER", "NODES"])).contains(&replica_id)
        });
    }
    nodes.pop();

    // Empty the new master with reshard, then remove it.
    let count = slots_of(&nodes[3]).len().to_string();
    let first_id = myid(&nodes[0]);
    let out = slotkv(&[
        "--cluster",
        "reshard",
        &entry,
        "--cluster-from",
        &new_id,
        "--cluster-to",
        &first_id,
        "--cluster-slots",
        &count,
        "--cluster-yes",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(slots_of(&nodes[3]).is_empty());
    // Every key is on the other masters now. (The emptied master may already have become
    // a replica of the node that took its last slot, and hold a copy of that node's keys.)
    assert_eq!(masters_dbsize(&nodes[..3]), 300);
    clean("a clean check after emptying the master");
    let out = slotkv(&["--cluster", "del-node", &entry, &new_id]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    alone(&nodes[3]);
    nodes.pop();
    assert_eq!(masters_dbsize(&nodes), 300);
    clean("a clean check after del-node");

    // A reshard killed halfway: the slot of "{open}" is open on both sides and half of its
    // keys are already on the target. `fix` finishes the move.
    for i in 0..20 {
        assert!(w.cmd(&["SET", &format!("{{open}}{i}"), "v"]).is_ok());
    }
    let slot = slotkv_keyslot::key_slot(b"{open}").get().to_string();
    let owner = (0..3)
        .find(|&i| slots_of(&nodes[i]).contains(&slot.parse().unwrap()))
        .expect("an owner");
    let target = (owner + 1) % 3;
    let (owner_id, target_id) = (myid(&nodes[owner]), myid(&nodes[target]));
    let mut t = nodes[target].client();
    let mut o = nodes[owner].client();
    t.cmd_ok(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &owner_id]);
    o.cmd_ok(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target_id]);
    let half: Vec<String> = (0..10).map(|i| format!("{{open}}{i}")).collect();
    let mut migrate = vec![
        "MIGRATE".to_string(),
        "127.0.0.1".into(),
        nodes[target].port().to_string(),
    ];
    migrate.extend(["".into(), "0".into(), "5000".into(), "KEYS".into()]);
    migrate.extend(half);
    assert_eq!(o.cmd(&migrate), Reply::Status("OK".into()));
    assert_ne!(
        slotkv(&["--cluster", "check", &entry]).code,
        Some(0),
        "the open slot is reported"
    );
    let out = slotkv(&["--cluster", "fix", &entry]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    clean("a clean check after fix");
    assert_eq!(masters_dbsize(&nodes), 320);
    for i in 0..20 {
        assert_eq!(
            w.cmd(&["GET", &format!("{{open}}{i}")]),
            Reply::Bulk(b"v".to_vec())
        );
    }
}
