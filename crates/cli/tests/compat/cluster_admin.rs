//! `--cluster`: slotkv-cli's cluster manager against real redis-server 7.0 cluster nodes
//! (output compared with redis-cli's), and `up`/`down` against slotkv-server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{reference_cli, slotkv_cli};

/// Any one cluster-manager run taking longer than this is a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

pub(crate) fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "slotkv-cli-cluster-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bindable(port: u32) -> bool {
    port <= 65535 && TcpListener::bind(("127.0.0.1", port as u16)).is_ok()
}

/// A free port whose bus port (port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if bindable(u32::from(p) + 10000) {
            return p;
        }
    }
}

/// `n` consecutive free ports, each with a free bus port.
fn free_port_run(n: u16) -> u16 {
    for _ in 0..200 {
        let base = free_cluster_port();
        if (0..n).all(|i| {
            let p = u32::from(base) + u32::from(i);
            bindable(p) && bindable(p + 10000)
        }) {
            return base;
        }
    }
    panic!("no run of {n} free ports");
}

/// A minimal blocking client for setup and assertions.
struct Client(TcpStream);

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client(s)
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        let mut out = Vec::new();
        slotkv_protocol::encode_command(&mut out, args);
        self.0.write_all(&out).unwrap();
        let mut buf = Vec::new();
        loop {
            if let Ok(Some((frame, _))) = slotkv_protocol::parse_frame(&buf) {
                return match frame {
                    slotkv_protocol::Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                    slotkv_protocol::Frame::Simple(s) | slotkv_protocol::Frame::Error(s) => s,
                    slotkv_protocol::Frame::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
            }
            let mut chunk = [0u8; 4096];
            let n = self.0.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A redis-server cluster node, killed on drop.
struct Node {
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl Node {
    fn start() -> Node {
        for _ in 0..5 {
            let port = free_cluster_port();
            let dir = scratch("redis");
            let child = Command::new("redis-server")
                .current_dir(&dir)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .args([
                    "--cluster-node-timeout",
                    "5000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed");
            let mut node = Node { port, child, dir };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = node.child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return node;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = node.child.kill();
        }
        panic!("redis-server did not start");
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }

    fn id(&self) -> String {
        self.client().cmd(&["CLUSTER", "MYID"])
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) struct Out {
    pub(crate) stdout: String,
    pub(crate) code: Option<i32>,
}

/// Runs a CLI with a deadline; `term` is the TERM it sees (it decides colours).
pub(crate) fn run(program: &str, args: &[&str], term: &str, env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("TERM", term)
        .env_remove("REDISCLI_AUTH")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + RUN_DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} {args:?} did not finish within {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        stdout: reader.join().unwrap(),
        code: status.code(),
    }
}

pub(crate) fn slotkv(args: &[&str]) -> Out {
    run(slotkv_cli(), args, "dumb", &[])
}

/// Runs both CLIs until their outputs agree (gossip may still be settling), bounded.
fn assert_same(args: &[&str], term: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let theirs = run(&reference_cli(), args, term, &[]);
        let ours = run(slotkv_cli(), args, term, &[]);
        if theirs.stdout == ours.stdout && theirs.code == ours.code {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "--cluster {args:?} differs\n--- redis-cli ({:?})\n{}\n--- slotkv-cli ({:?})\n{}",
                theirs.code, theirs.stdout, ours.code, ours.stdout
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create(nodes: &[Node], replicas: &str) -> Out {
    let addrs: Vec<String> = nodes.iter().map(Node::addr).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", replicas, "--cluster-yes"]);
    slotkv(&args)
}

#[test]
fn create_check_info_call_match_redis_cli() {
    let nodes: Vec<Node> = (0..6).map(|_| Node::start()).collect();
    let out = create(&nodes, "1");
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let a = |i: usize| nodes[i].addr();
    let expected_head = format!(
        ">>> Performing hash slots allocation on 6 nodes...\n\
         Master[0] -> Slots 0 - 5460\n\
         Master[1] -> Slots 5461 - 10922\n\
         Master[2] -> Slots 10923 - 16383\n\
         Adding replica {} to {}\n\
         Adding replica {} to {}\n\
         Adding replica {} to {}\n\
         >>> Trying to optimize slaves allocation for anti-affinity\n\
         [WARNING] Some slaves are in the same host as their master\n",
        a(4),
        a(0),
        a(5),
        a(1),
        a(3),
        a(2)
    );
    assert!(out.stdout.starts_with(&expected_head), "{}", out.stdout);
    for line in [
        ">>> Nodes configuration updated\n",
        ">>> Assign a different config epoch to each node\n",
        ">>> Sending CLUSTER MEET messages to join the cluster\n",
        "Waiting for the cluster to join\n",
        "[OK] All nodes agree about slots configuration.\n",
        "[OK] All 16384 slots covered.\n",
    ] {
        assert!(out.stdout.contains(line), "missing {line:?} in\n{}", out.stdout);
    }
    // The tutorial's placement: the 5th node replicates the 1st, and so on.
    assert_eq!(
        nodes[4]
            .client()
            .cmd(&["CLUSTER", "NODES"])
            .lines()
            .find(|l| l.contains("myself"))
            .unwrap()
            .split(' ')
            .nth(3)
            .unwrap(),
        nodes[0].id()
    );
    wait_until("cluster_state:ok", || {
        nodes
            .iter()
            .all(|n| n.client().cmd(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    });
    nodes[0].client().cmd(&["SET", "{a}x", "1"]);
    let entry = nodes[0].addr();
    assert_same(&["--cluster", "check", &entry], "dumb");
    assert_same(&["--cluster", "check", &entry], "xterm-256color");
    assert_same(&["--cluster", "info", &entry], "xterm");
    assert_same(&["--cluster", "call", &entry, "DBSIZE"], "xterm");
    assert_same(
        &[
            "--cluster",
            "call",
            &entry,
            "CLUSTER",
            "MYID",
            "--cluster-only-replicas",
        ],
        "dumb",
    );
    assert_same(&["--cluster", "call", &entry, "NOSUCHCOMMAND"], "dumb");
    assert_same(&["--cluster", "nosuch", &entry], "dumb");
    assert_same(&["--cluster", "del-node", &entry, "0123"], "dumb");
    // fix: the same open slot, repaired once by each CLI, gives the same report.
    let (id0, id1) = (nodes[0].id(), nodes[1].id());
    let opens: [(&Node, &str, &str); 2] = [(&nodes[0], "MIGRATING", &id1), (&nodes[1], "IMPORTING", &id0)];
    for (node, state, peer) in opens {
        let open = || assert_eq!(node.client().cmd(&["CLUSTER", "SETSLOT", "7", state, peer]), "OK");
        open();
        let theirs = run(&reference_cli(), &["--cluster", "fix", &entry], "dumb", &[]);
        open();
        let ours = slotkv(&["--cluster", "fix", &entry]);
        assert_eq!(theirs.stdout, ours.stdout, "fix of a slot left {state}");
        assert_eq!(theirs.code, ours.code);
        assert!(!node.client().cmd(&["CLUSTER", "NODES"]).contains("[7-"));
    }
    // A node that is already part of a cluster is refused, as redis-cli does.
    let again = create(&nodes[..3], "0");
    assert_eq!(again.code, Some(1));
    assert!(again.stdout.contains("is not empty."), "{}", again.stdout);
}

#[test]
fn add_node_reshard_del_node() {
    let nodes: Vec<Node> = (0..5).map(|_| Node::start()).collect();
    let out = create(&nodes[..3], "0");
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let entry = nodes[0].addr();
    // A new empty master...
    let out = slotkv(&["--cluster", "add-node", &nodes[3].addr(), &entry]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stdout.contains(&format!(
        ">>> Send CLUSTER MEET to node {} to make it join the cluster.\n",
        nodes[3].addr()
    )));
    assert!(
        out.stdout.ends_with("[OK] New node added correctly.\n"),
        "{}",
        out.stdout
    );
    let new_id = nodes[3].id();
    // redis-cli does not wait for the new node to be gossiped around either.
    wait_until("every node to know 4 nodes", || {
        nodes[..4].iter().all(|n| {
            n.client()
                .cmd(&["CLUSTER", "INFO"])
                .contains("cluster_known_nodes:4")
        })
    });
    // ...and a replica of it, chosen by id.
    let out = slotkv(&[
        "--cluster",
        "add-node",
        &nodes[4].addr(),
        &entry,
        "--cluster-slave",
        "--cluster-master-id",
        &new_id,
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stdout.contains(&format!(
        ">>> Configure node as replica of {}.\n",
        nodes[3].addr()
    )));
    wait_until("every node to know 5 nodes", || {
        nodes.iter().all(|n| {
            n.client()
                .cmd(&["CLUSTER", "INFO"])
                .contains("cluster_known_nodes:5")
        })
    });
    wait_until("the replica to be seen everywhere", || {
        nodes[..4].iter().all(|n| {
            n.client()
                .cmd(&["CLUSTER", "NODES"])
                .lines()
                .any(|l| l.contains(&format!("slave {new_id}")))
        })
    });
    wait_until("cluster_state:ok everywhere", || {
        nodes
            .iter()
            .all(|n| n.client().cmd(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    });
    // Keys in the first 100 slots of the first master, which the reshard moves.
    let mut c0 = nodes[0].client();
    let mut moved = Vec::new();
    for i in 0..2000 {
        let key = format!("key:{i}");
        let slot: u32 = c0.cmd(&["CLUSTER", "KEYSLOT", &key]).parse().unwrap();
        if slot < 100 {
            assert_eq!(c0.cmd(&["SET", &key, &i.to_string()]), "OK");
            moved.push(key);
        }
    }
    assert!(!moved.is_empty());
    let first_id = nodes[0].id();
    let out = slotkv(&[
        "--cluster",
        "reshard",
        &entry,
        "--cluster-from",
        &first_id,
        "--cluster-to",
        &new_id,
        "--cluster-slots",
        "100",
        "--cluster-yes",
        "--cluster-pipeline",
        "3",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains("\nReady to move 100 slots.\n"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains(&format!("    Moving slot 99 from {first_id}\n")));
    assert!(out.stdout.contains(&format!(
        "Moving slot 0 from {} to {}: ",
        nodes[0].addr(),
        nodes[3].addr()
    )));
    let mut c3 = nodes[3].client();
    assert_eq!(c3.cmd(&["DBSIZE"]), moved.len().to_string());
    for k in &moved {
        assert!(c3.cmd(&["GET", k]).chars().all(|c| c.is_ascii_digit()), "{k}");
    }
    assert_same(&["--cluster", "check", &entry], "dumb");
    // A master with slots cannot be removed; its replica can.
    let out = slotkv(&["--cluster", "del-node", &entry, &new_id]);
    assert_eq!(out.code, Some(1));
    assert!(out
        .stdout
        .contains("is not empty! Reshard data away and try again."));
    let replica_id = nodes[4].id();
    let out = slotkv(&["--cluster", "del-node", &entry, &replica_id]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert_eq!(
        out.stdout,
        format!(
            ">>> Removing node {replica_id} from cluster {entry}\n\
             >>> Sending CLUSTER FORGET messages to the cluster...\n\
             >>> Sending CLUSTER RESET SOFT to the deleted node.\n"
        )
    );
    wait_until("the replica to be forgotten", || {
        !nodes[0].client().cmd(&["CLUSTER", "NODES"]).contains(&replica_id)
    });
    let out = slotkv(&["--cluster", "check", &entry]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
}

/// The slotkv-server binary: `SLOTKV_SERVER_BIN`, else next to slotkv-cli in the target dir.
fn slotkv_server() -> PathBuf {
    if let Some(p) = std::env::var_os("SLOTKV_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(slotkv_cli()).with_file_name("slotkv-server");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build -p slotkv-server` first (scripts/test does)",
        p.display()
    );
    p
}

/// Stops the cluster of `up` even when an assertion fails.
struct Down<'a>(&'a str);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = slotkv(&["--cluster", "down", "--dir", self.0]);
    }
}

#[test]
fn up_and_down_with_slotkv_server() {
    let server = slotkv_server();
    let dir = scratch("up");
    let dir_s = dir.to_str().unwrap().to_string();
    let base = free_port_run(6);
    let base_s = base.to_string();
    let _down = Down(&dir_s);
    let out = run(
        slotkv_cli(),
        &[
            "--cluster",
            "up",
            "3",
            "--replicas",
            "1",
            "--port",
            &base_s,
            "--dir",
            &dir_s,
        ],
        "dumb",
        &[("SLOTKV_SERVER_BIN", server.to_str().unwrap())],
    );
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains("[OK] All 16384 slots covered.\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("[OK] Cluster up: 6 nodes"), "{}", out.stdout);
    for i in 0..6 {
        let p = base + i;
        let conf = std::fs::read_to_string(dir.join(p.to_string()).join(format!("redis-{p}.conf"))).unwrap();
        assert!(conf.contains(&format!("port {p}\n")));
        assert!(conf.contains(&format!("cluster-config-file nodes-{p}.conf\n")));
        assert!(conf.contains("cluster-enabled yes\n"));
        assert!(conf.contains("appendonly yes\n"));
        let info = Client::connect(p).cmd(&["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_state:ok"), "{p}: {info}");
    }
    assert_eq!(out.stdout.matches("  replica of ").count(), 3, "{}", out.stdout);
    let out = slotkv(&["--cluster", "down", "--dir", &dir_s]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("Stopped 127.0.0.1:").count(),
        6,
        "{}",
        out.stdout
    );
    for i in 0..6 {
        let p = base + i;
        wait_until("the node to stop", || {
            TcpStream::connect(("127.0.0.1", p)).is_err()
        });
    }
    // Idempotent.
    let out = slotkv(&["--cluster", "down", "--dir", &dir_s]);
    assert_eq!(out.code, Some(0));
    assert!(!out.stdout.contains("Stopped"));
    let _ = std::fs::remove_dir_all(&dir);
}
