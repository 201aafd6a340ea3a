//! Interop with a real redis-server 7.0 in cluster mode: a fake node made of this crate's
//! encoder and decoder joins a Redis cluster, and Redis's own view (`CLUSTER NODES`,
//! `CLUSTER SLOTS`) shows that it accepted our bytes.
//!
//! Set `SLOTKV_WRITE_BUS_FIXTURES=1` to (re)write the captured messages in
//! `tests/fixtures/` (used by `fixtures.rs`, which needs no redis-server).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use slotkv_cluster::message::{decode, encode, flags, Body, Header, Message, MsgType, PingExt};
use slotkv_keyslot::{NodeId, Slot, SlotSet};
use slotkv_testkit::{free_port, wait_for, ServerBinary, ServerProcess, TestClient};

const WAIT: Duration = Duration::from_secs(20);

/// What the fake node advertises; shared with its connection threads.
#[derive(Clone)]
struct FakeState {
    id: NodeId,
    port: u16,
    cport: u16,
    current_epoch: u64,
    config_epoch: u64,
    slots: SlotSet,
    hostname: Option<String>,
    /// Sent after the hostname in every PING/PONG.
    extra_exts: Vec<PingExt>,
}

impl FakeState {
    fn message(&self, t: MsgType) -> Message {
        let mut h = Header::new(t, self.id);
        h.port = self.port;
        h.cport = self.cport;
        h.current_epoch = self.current_epoch;
        h.config_epoch = self.config_epoch;
        h.myslots = self.slots.clone();
        // Left empty on purpose: Redis must use the connection's peer address.
        h.myip = String::new();
        h.flags = flags::MASTER;
        Message {
            header: h,
            body: Body::Gossip {
                entries: vec![],
                extensions: self
                    .hostname
                    .iter()
                    .map(|n| PingExt::Hostname(n.clone()))
                    .chain(self.extra_exts.iter().cloned())
                    .collect(),
            },
        }
    }
}

/// A received message, its raw bytes, and whether it came on a link Redis opened to us.
type Received = (Message, Vec<u8>, bool);

/// A cluster node made of a bus listener and threads that answer every PING/MEET with a
/// PONG built from the shared state, and report everything they receive.
struct FakeNode {
    state: Arc<Mutex<FakeState>>,
    rx: Receiver<Received>,
    tx: Sender<Received>,
    stop: Arc<AtomicBool>,
    _client_port: TcpListener,
}

impl FakeNode {
    fn start() -> FakeNode {
        // Hold the client port so nothing else takes it; nobody connects to it.
        let client_port = TcpListener::bind((Ipv4Addr::LOCALHOST, free_port())).unwrap();
        let bus = TcpListener::bind((Ipv4Addr::LOCALHOST, free_port())).unwrap();
        let mut slots = SlotSet::new();
        for s in 0..=100 {
            slots.insert(Slot::new(s).unwrap());
        }
        let state = Arc::new(Mutex::new(FakeState {
            id: NodeId::random(),
            port: client_port.local_addr().unwrap().port(),
            cport: bus.local_addr().unwrap().port(),
            current_epoch: 1,
            config_epoch: 1,
            slots,
            hostname: Some("fake-node".into()),
            extra_exts: vec![],
        }));
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        bus.set_nonblocking(true).unwrap();
        {
            let (state, tx, stop) = (state.clone(), tx.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match bus.accept() {
                        Ok((conn, _)) => {
                            conn.set_nonblocking(false).unwrap();
                            let (state, tx, stop) = (state.clone(), tx.clone(), stop.clone());
                            thread::spawn(move || serve(conn, state, tx, stop, true));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => return,
                    }
                }
            });
        }
        FakeNode {
            state,
            rx,
            tx,
            stop,
            _client_port: client_port,
        }
    }

    fn id(&self) -> NodeId {
        self.state.lock().unwrap().id
    }

    /// Opens a link to `bus_port` and sends a PING on it every 100 ms (plus whatever
    /// `extra` is given once, after the first PING); replies are reported as not inbound.
    fn connect(&self, bus_port: u16, extra: Vec<Vec<u8>>) -> Arc<Mutex<TcpStream>> {
        let conn = TcpStream::connect((Ipv4Addr::LOCALHOST, bus_port)).unwrap();
        let writer = Arc::new(Mutex::new(conn.try_clone().unwrap()));
        let (state, tx, stop) = (self.state.clone(), self.tx.clone(), self.stop.clone());
        thread::spawn(move || serve(conn, state, tx, stop, false));
        let (state, stop, w) = (self.state.clone(), self.stop.clone(), writer.clone());
        thread::spawn(move || {
            let mut extra = Some(extra);
            while !stop.load(Ordering::Relaxed) {
                let ping = encode(&state.lock().unwrap().message(MsgType::Ping));
                if w.lock().unwrap().write_all(&ping).is_err() {
                    return;
                }
                for m in extra.take().into_iter().flatten() {
                    let _ = w.lock().unwrap().write_all(&m);
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        writer
    }

    /// The next received message matching `pred`, within the deadline.
    fn expect(&self, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(r) if pred(&r) => return r,
                Ok(_) => {}
                Err(_) => panic!("no {what} received within {WAIT:?}"),
            }
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads messages off one link; answers PING and MEET with a PONG.
fn serve(
    mut conn: TcpStream,
    state: Arc<Mutex<FakeState>>,
    tx: Sender<Received>,
    stop: Arc<AtomicBool>,
    inbound: bool,
) {
    conn.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    while !stop.load(Ordering::Relaxed) {
        match conn.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        loop {
            match decode(&buf) {
                Ok(Some((msg, used))) => {
                    let raw = buf.drain(..used).collect::<Vec<u8>>();
                    if matches!(msg.header.msg_type, MsgType::Ping | MsgType::Meet) {
                        let pong = encode(&state.lock().unwrap().message(MsgType::Pong));
                        if conn.write_all(&pong).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send((msg, raw, inbound));
                }
                Ok(None) => break,
                Err(e) => panic!("redis sent bytes we cannot decode: {e:?}"),
            }
        }
    }
}

fn start_redis(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
    args.extend_from_slice(extra);
    ServerProcess::start(ServerBinary::Redis, &args)
}

fn text(c: &mut TestClient, args: &[&str]) -> String {
    let r = c.cmd(args);
    match r.as_bytes() {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => panic!("{args:?} replied {r}"),
    }
}

/// The `CLUSTER NODES` line of `id`, split into fields.
fn nodes_line(c: &mut TestClient, id: &NodeId) -> Option<Vec<String>> {
    text(c, &["CLUSTER", "NODES"])
        .lines()
        .find(|l| l.starts_with(id.as_str()))
        .map(|l| l.split(' ').map(String::from).collect())
}

/// Waits until `id`'s CLUSTER NODES line satisfies `ok`; returns it.
#[track_caller]
fn wait_line(c: &mut TestClient, id: &NodeId, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut last = None;
    wait_for(WAIT, || {
        let l = nodes_line(c, id);
        last = l.clone();
        l.filter(|l| ok(l))
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: last CLUSTER NODES line for {id}: {last:?}\nfull:\n{}",
            text(c, &["CLUSTER", "NODES"])
        )
    })
}

fn write_fixture(name: &str, bytes: &[u8]) {
    if std::env::var_os("SLOTKV_WRITE_BUS_FIXTURES").is_some() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::write(&p, bytes).unwrap();
    }
}

#[test]
fn redis_accepts_a_fake_node_built_from_our_bytes() {
    // Two real nodes first, so that Redis's messages carry gossip entries; A announces a
    // hostname, so they carry the hostname extension too.
    let a = start_redis(&["--cluster-announce-hostname", "redis-a"]);
    let b = start_redis(&[]);
    let mut ca = a.client();
    let mut cb = b.client();
    let a_id = NodeId::parse(text(&mut ca, &["CLUSTER", "MYID"]).as_bytes()).unwrap();
    let b_id = NodeId::parse(text(&mut cb, &["CLUSTER", "MYID"]).as_bytes()).unwrap();
    ca.cmd_ok(&["CLUSTER", "MEET", "127.0.0.1", &b.port().to_string()]);
    wait_line(&mut ca, &b_id, "A and B connected", |l| {
        !l[2].contains("handshake") && l[7] == "connected"
    });

    // A meets the fake node.
    let fake = FakeNode::start();
    let me = fake.id();
    let (my_port, my_cport) = {
        let s = fake.state.lock().unwrap();
        (s.port, s.cport)
    };
    ca.cmd_ok(&[
        "CLUSTER",
        "MEET",
        "127.0.0.1",
        &my_port.to_string(),
        &my_cport.to_string(),
    ]);
    let (meet, raw, inbound) = fake.expect("MEET from A", |(m, _, _)| {
        m.header.msg_type == MsgType::Meet && m.header.sender == a_id
    });
    assert!(inbound);
    write_fixture("redis7-meet.bin", &raw);
    let h = &meet.header;
    assert_eq!(h.port, a.port());
    assert_eq!(h.cport, a.bus_port());
    assert_eq!(h.pport, 0);
    assert_eq!(
        h.flags,
        flags::MASTER | flags::MYSELF,
        "Redis sends its own flags, MYSELF included"
    );
    assert_eq!(h.slaveof, None);
    assert!(h.myslots.is_empty());
    assert_eq!(h.myip, "", "without cluster-announce-ip Redis leaves myip zeroed");
    let Body::Gossip { entries, extensions } = &meet.body else {
        panic!("MEET body {:?}", meet.body)
    };
    // Redis picks gossip entries at random (and skips nodes in handshake): with one other
    // node it may or may not have picked B.
    assert!(entries.iter().all(|e| e.node == b_id), "{entries:?}");
    assert_eq!(extensions, &[PingExt::Hostname("redis-a".into())]);
    // Re-encoding what we decoded gives Redis's bytes back.
    assert_eq!(encode(&meet), raw, "re-encoded MEET differs from Redis's bytes");

    // Our PONG (sent by the fake on that link) ends A's handshake; our own link carries
    // PINGs with our slots.
    fake.connect(a.bus_port(), vec![]);
    let line = wait_line(&mut ca, &me, "fake node accepted by A", |l| {
        !l[2].contains("handshake") && l[7] == "connected" && l.len() > 8
    });
    assert_eq!(line[1], format!("127.0.0.1:{my_port}@{my_cport},fake-node"));
    assert_eq!(line[2], "master");
    assert_eq!(line[3], "-");
    assert_eq!(line[6], "1", "config epoch");
    assert_eq!(line[8], "0-100");
    let (pong, raw, _) = fake.expect("PONG from A on our link", |(m, _, inbound)| {
        !inbound && m.header.msg_type == MsgType::Pong
    });
    write_fixture("redis7-pong.bin", &raw);
    assert_eq!(pong.header.sender, a_id);
    assert!(pong.header.current_epoch >= 1, "A adopted our current epoch");

    // CLUSTER SLOTS on A: 0-100 served by us.
    let slots = ca.cmd(&["CLUSTER", "SLOTS"]);
    let ranges = slots.as_array().unwrap();
    let ours = ranges
        .iter()
        .map(|r| r.as_array().unwrap())
        .find(|r| r[0].as_int() == Some(0))
        .unwrap_or_else(|| panic!("no range from 0 in {slots}"));
    assert_eq!(ours[1].as_int(), Some(100));
    let node = ours[2].as_array().unwrap();
    assert_eq!(node[0].as_str(), Some("127.0.0.1"));
    assert_eq!(node[1].as_int(), Some(i64::from(my_port)));
    assert_eq!(node[2].as_bytes(), Some(me.as_bytes().as_slice()));

    // B learns about us from A's gossip, opens its own link and accepts our PONG too.
    let line = wait_line(&mut cb, &me, "fake node accepted by B via gossip", |l| {
        !l[2].contains("handshake") && l[7] == "connected" && l.len() > 8
    });
    assert_eq!(line[8], "0-100");
    let (ping, raw, _) = fake.expect("PING from A with gossip", |(m, _, inbound)| {
        *inbound
            && m.header.msg_type == MsgType::Ping
            && m.header.sender == a_id
            && matches!(&m.body, Body::Gossip { entries, .. } if !entries.is_empty())
    });
    write_fixture("redis7-ping.bin", &raw);
    assert_eq!(encode(&ping), raw);
    let Body::Gossip { entries, .. } = &ping.body else {
        unreachable!()
    };
    for e in entries {
        let (port, cport) = if e.node == b_id {
            (b.port(), b.bus_port())
        } else {
            // A gossips about us to us as well.
            assert_eq!(e.node, me, "gossip about an unknown node");
            (my_port, my_cport)
        };
        assert_eq!(
            (e.ip.as_str(), e.port, e.cport, e.pport),
            ("127.0.0.1", port, cport, 0)
        );
        assert_eq!(e.flags & (flags::MASTER | flags::HANDSHAKE), flags::MASTER);
    }
}

#[test]
fn redis_applies_our_fail_and_update() {
    let a = start_redis(&[]);
    let b = start_redis(&[]);
    let mut ca = a.client();
    let mut cb = b.client();
    let b_id = NodeId::parse(text(&mut cb, &["CLUSTER", "MYID"]).as_bytes()).unwrap();
    // B serves some slots, so that a FAIL about it sticks.
    cb.cmd_ok(&["CLUSTER", "ADDSLOTSRANGE", "1000", "1999"]);
    ca.cmd_ok(&["CLUSTER", "MEET", "127.0.0.1", &b.port().to_string()]);
    wait_line(&mut ca, &b_id, "A and B connected", |l| {
        !l[2].contains("handshake")
            && l[7] == "connected"
            && l.get(8).map(String::as_str) == Some("1000-1999")
    });

    let fake = FakeNode::start();
    let me = fake.id();
    let (my_port, my_cport) = {
        let s = fake.state.lock().unwrap();
        (s.port, s.cport)
    };
    ca.cmd_ok(&[
        "CLUSTER",
        "MEET",
        "127.0.0.1",
        &my_port.to_string(),
        &my_cport.to_string(),
    ]);
    let link = fake.connect(a.bus_port(), vec![]);
    wait_line(&mut ca, &me, "fake node accepted", |l| {
        !l[2].contains("handshake") && l[7] == "connected"
    });

    // FAIL about B, from us (a known master): A flags B as failed.
    let mut fail = fake.state.lock().unwrap().message(MsgType::Fail);
    fail.body = Body::Fail { node: b_id };
    link.lock().unwrap().write_all(&encode(&fail)).unwrap();
    wait_line(&mut ca, &b_id, "B marked fail by our FAIL", |l| {
        l[2].split(',').any(|f| f == "fail")
    });

    // UPDATE: our node now owns 0-200 at config epoch 2. The fake's state moves along so
    // its next PINGs agree.
    let mut slots = SlotSet::new();
    for s in 0..=200 {
        slots.insert(Slot::new(s).unwrap());
    }
    let mut update = fake.state.lock().unwrap().message(MsgType::Update);
    update.body = Body::Update {
        config_epoch: 2,
        node: me,
        slots: slots.clone(),
    };
    {
        let mut s = fake.state.lock().unwrap();
        s.slots = slots;
        s.config_epoch = 2;
        s.current_epoch = 2;
    }
    link.lock().unwrap().write_all(&encode(&update)).unwrap();
    let line = wait_line(&mut ca, &me, "slots from UPDATE", |l| {
        l.get(8).map(String::as_str) == Some("0-200")
    });
    assert_eq!(line[6], "2");
}

/// Unknown (7.2) ping extensions in our messages do not make 7.0 drop them: a fake node
/// that sends all of them in every PING and PONG is accepted and keeps its link.
#[test]
fn redis_7_0_tolerates_7_2_extensions() {
    let a = start_redis(&[]);
    let mut ca = a.client();
    let fake = FakeNode::start();
    let me = fake.id();
    let (my_port, my_cport) = {
        let mut s = fake.state.lock().unwrap();
        s.hostname = Some("ext-test".into());
        s.extra_exts = vec![
            PingExt::ForgottenNode {
                node: NodeId::random(),
                ttl_secs: 60,
            },
            PingExt::ShardId(*NodeId::random().as_bytes()),
            PingExt::Unknown {
                ext_type: 99,
                data: vec![1; 16],
            },
        ];
        (s.port, s.cport)
    };
    ca.cmd_ok(&[
        "CLUSTER",
        "MEET",
        "127.0.0.1",
        &my_port.to_string(),
        &my_cport.to_string(),
    ]);
    fake.connect(a.bus_port(), vec![]);
    let line = wait_line(&mut ca, &me, "fake node accepted", |l| {
        !l[2].contains("handshake") && l[7] == "connected" && l.len() > 8
    });
    assert_eq!(line[1], format!("127.0.0.1:{my_port}@{my_cport},ext-test"));
    assert_eq!(line[8], "0-100");
    // A keeps answering our PINGs on our link.
    for _ in 0..3 {
        fake.expect("PONG from A", |(m, _, inbound)| {
            !inbound && m.header.msg_type == MsgType::Pong
        });
    }
    // 7.0 knows only the hostname extension: it skips the others, with a warning in its
    // log for each one in every message.
    let log = a.log_text();
    assert!(log.contains("unknown extension type 2"), "{log}");
    assert!(log.contains("unknown extension type 3"), "{log}");
    assert!(!log.contains("Bad message length"), "{log}");
}
