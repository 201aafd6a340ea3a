//! Test support: a real redis-server on a free port, a minimal RESP client, canonical
//! forms of values for comparison, and value generators.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slotkv_keyspace::{HashValue, ListValue, SetValue, Value, ZSet};

// ---------------------------------------------------------------------------------------
// redis-server

pub struct RedisServer {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

/// True if `redis-server` can be run here. Tests that need it fail loudly without it
/// unless SLOTKV_SKIP_REDIS=1 is set.
pub fn redis_available() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("SLOTKV_SKIP_REDIS").is_none() {
        panic!("redis-server not found (set SLOTKV_SKIP_REDIS=1 to skip these tests)");
    }
    ok
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl RedisServer {
    /// Starts a server with no persistence, in a fresh directory.
    pub fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), &[])
    }

    /// Starts a server in `dir` with extra config arguments (`--name value` pairs).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("redis-server");
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            let mut child = cmd.spawn().expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("redis-server exited: {status}");
                    break;
                }
                if let Ok(mut c) = Conn::connect(port) {
                    if let Ok(Reply::Status(s)) = c.try_cmd(&[b"PING"]) {
                        if s == "PONG" {
                            return RedisServer { child, port, dir };
                        }
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = "redis-server did not answer PING within 10s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start redis-server: {last_err}");
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.port).expect("connect to redis-server")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `redis-check-rdb` on a file; returns (success, output).
pub fn check_rdb(path: &Path) -> (bool, String) {
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("run redis-check-rdb");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("RDB looks OK"), text)
}

// ---------------------------------------------------------------------------------------
// RESP client

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn bulk(self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b,
            other => panic!("expected bulk, got {other:?}"),
        }
    }
    pub fn int(self) -> i64 {
        match self {
            Reply::Int(i) => i,
            other => panic!("expected integer, got {other:?}"),
        }
    }
    pub fn array(self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) => a,
            other => panic!("expected array, got {other:?}"),
        }
    }
    pub fn status(self) -> String {
        match self {
            Reply::Status(s) => s,
            other => panic!("expected status, got {other:?}"),
        }
    }
}

pub struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    pub fn connect(port: u16) -> std::io::Result<Self> {
        let w = TcpStream::connect(("127.0.0.1", port))?;
        w.set_read_timeout(Some(Duration::from_secs(30)))?;
        let r = BufReader::new(w.try_clone()?);
        Ok(Conn { w, r })
    }

    pub fn try_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Reply> {
        let mut out = Vec::new();
        slotkv_protocol::encode_command(&mut out, args);
        self.w.write_all(&out)?;
        self.read_reply()
    }

    /// Sends a command; panics on I/O errors (not on error replies).
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        self.try_cmd(args).expect("redis I/O")
    }

    /// Sends a command that must not fail.
    pub fn ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let r = self.cmd(args);
        if let Reply::Error(e) = &r {
            let shown: Vec<String> = args
                .iter()
                .take(3)
                .map(|a| String::from_utf8_lossy(a.as_ref()).into())
                .collect();
            panic!("{shown:?} failed: {e}");
        }
        r
    }

    fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line)?;
        if line.len() < 2 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        line.truncate(line.len() - 2);
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    fn read_reply(&mut self) -> std::io::Result<Reply> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at(1);
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad reply line {line:?}"),
            )
        };
        Ok(match kind {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Reply::Bulk(Some(b))
                }
            }
            "*" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        v.push(self.read_reply()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            _ => return Err(bad()),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Canonical forms

/// A value in a form that compares equal exactly when the data is the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Canon {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Set(Vec<Vec<u8>>),
    /// Members in rank order with score bits (-0 folded into 0).
    ZSet(Vec<(Vec<u8>, u64)>),
}

fn score_bits(s: f64) -> u64 {
    if s == 0.0 {
        0
    } else {
        s.to_bits()
    }
}

pub fn canon(v: &Value) -> Canon {
    match v {
        Value::Str(s) => Canon::Str(s.clone()),
        Value::List(l) => Canon::List(l.iter().map(|e| e.to_vec()).collect()),
        Value::Hash(h) => {
            let mut p: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            p.sort();
            Canon::Hash(p)
        }
        Value::Set(s) => {
            let mut m: Vec<_> = s.iter().map(|e| e.to_vec()).collect();
            m.sort();
            Canon::Set(m)
        }
        Value::ZSet(z) => {
            let mut m: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            // Redis orders -0 and 0 as equal scores (then by member).
            m.sort_by(|a, b| {
                let (x, y) = (
                    if a.1 == 0.0 { 0.0 } else { a.1 },
                    if b.1 == 0.0 { 0.0 } else { b.1 },
                );
                x.total_cmp(&y).then_with(|| a.0.cmp(&b.0))
            });
            Canon::ZSet(m.into_iter().map(|(m, s)| (m, score_bits(s))).collect())
        }
    }
}

fn bulks(r: Reply) -> Vec<Vec<u8>> {
    r.array().into_iter().map(Reply::bulk).collect()
}

/// Reads a key back from a real server into canonical form.
pub fn fetch(c: &mut Conn, key: &[u8]) -> Option<Canon> {
    let ty = c.ok(&[b"TYPE".as_slice(), key]).status();
    Some(match ty.as_str() {
        "none" => return None,
        "string" => Canon::Str(c.ok(&[b"GET".as_slice(), key]).bulk()),
        "list" => Canon::List(bulks(c.ok(&[b"LRANGE".as_slice(), key, b"0", b"-1"]))),
        "hash" => {
            let flat = bulks(c.ok(&[b"HGETALL".as_slice(), key]));
            let mut p: Vec<_> = flat.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
            p.sort();
            Canon::Hash(p)
        }
        "set" => {
            let mut m = bulks(c.ok(&[b"SMEMBERS".as_slice(), key]));
            m.sort();
            Canon::Set(m)
        }
        "zset" => {
            let flat = bulks(c.ok(&[b"ZRANGE".as_slice(), key, b"0", b"-1", b"WITHSCORES"]));
            Canon::ZSet(
                flat.chunks(2)
                    .map(|c| {
                        let s = slotkv_protocol::parse_f64(&c[1]).expect("score");
                        (c[0].clone(), score_bits(s))
                    })
                    .collect(),
            )
        }
        other => panic!("unexpected type {other}"),
    })
}

/// Creates `value` on the server with ordinary commands (so Redis picks its encodings).
pub fn create(c: &mut Conn, key: &[u8], value: &Value) {
    c.cmd(&[b"DEL".as_slice(), key]);
    let batch = |c: &mut Conn, cmd: &[u8], items: Vec<Vec<u8>>, per: usize| {
        for chunk in items.chunks(per * 500) {
            let mut args: Vec<&[u8]> = vec![cmd, key];
            args.extend(chunk.iter().map(Vec::as_slice));
            c.ok(&args);
        }
    };
    match value {
        Value::Str(s) => {
            c.ok(&[b"SET".as_slice(), key, s]);
        }
        Value::List(l) => batch(c, b"RPUSH", l.iter().map(|e| e.to_vec()).collect(), 1),
        Value::Hash(h) => batch(
            c,
            b"HSET",
            h.iter().flat_map(|(f, v)| [f.to_vec(), v.to_vec()]).collect(),
            2,
        ),
        Value::Set(s) => batch(c, b"SADD", s.iter().map(|e| e.to_vec()).collect(), 1),
        Value::ZSet(z) => batch(
            c,
            b"ZADD",
            z.iter()
                .flat_map(|(m, s)| [slotkv_protocol::format_double(s).into_bytes(), m.to_vec()])
                .collect(),
            2,
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Building values

pub fn list<I: IntoIterator<Item = Vec<u8>>>(items: I) -> Value {
    Value::List(Box::new(
        items
            .into_iter()
            .map(Vec::into_boxed_slice)
            .collect::<ListValue>(),
    ))
}

pub fn hash<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(items: I) -> Value {
    let mut h = HashValue::default();
    for (f, v) in items {
        h.insert(f.into_boxed_slice(), v.into_boxed_slice());
    }
    Value::Hash(Box::new(h))
}

pub fn set<I: IntoIterator<Item = Vec<u8>>>(items: I) -> Value {
    let mut s = SetValue::default();
    for m in items {
        s.insert(m.into_boxed_slice());
    }
    Value::Set(Box::new(s))
}

pub fn zset<I: IntoIterator<Item = (Vec<u8>, f64)>>(items: I) -> Value {
    let mut z = ZSet::new();
    for (m, s) in items {
        z.insert(&m, s);
    }
    Value::ZSet(Box::new(z))
}

pub fn b(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

/// Deterministic bytes that LZF cannot compress.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Values of every type in every encoding this crate writes, including large ones.
pub fn sample_values() -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = vec![
        ("s:raw".into(), Value::Str(b("hello"))),
        ("s:empty".into(), Value::Str(vec![])),
        ("s:int8".into(), Value::Str(b("-100"))),
        ("s:int16".into(), Value::Str(b("30000"))),
        ("s:int32".into(), Value::Str(b("-2000000000"))),
        ("s:i64max".into(), Value::Str(b(i64::MAX.to_string()))),
        ("s:i64min".into(), Value::Str(b(i64::MIN.to_string()))),
        ("s:leading0".into(), Value::Str(b("007"))),
        ("s:float".into(), Value::Str(b("3.14"))),
        ("s:lzf".into(), Value::Str(b("abcdefgh".repeat(40)))),
        ("s:big-lzf".into(), Value::Str(b("0123456789".repeat(100_000)))),
        ("s:noise".into(), Value::Str(noise(50_000, 1))),
        // Repeats at the largest LZF distance (8192) and just past it; a long run.
        ("s:lzf-far".into(), Value::Str(noise(8192, 3).repeat(3))),
        ("s:lzf-too-far".into(), Value::Str(noise(8193, 4).repeat(3))),
        ("s:lzf-run".into(), Value::Str(vec![b'z'; 100_000])),
        ("s:binary".into(), Value::Str((0..=255u8).collect())),
    ];
    let edge_ints = [
        0i64,
        12,
        13,
        127,
        128,
        -1,
        -4096,
        4095,
        4096,
        -32768,
        32767,
        8_388_607,
        -8_388_608,
        2_147_483_647,
        -2_147_483_648,
        i64::MAX,
        i64::MIN,
    ];
    v.push((
        "l:small".into(),
        list([
            b("a"),
            b("1"),
            b("-5"),
            b(""),
            b("x".repeat(100)),
            b("3000000000"),
        ]),
    ));
    v.push(("l:ints".into(), list(edge_ints.iter().map(|i| b(i.to_string())))));
    v.push((
        "l:1000".into(),
        list((0..1000).map(|i| {
            if i % 2 == 0 {
                b(i.to_string())
            } else {
                b(format!("item-{i}"))
            }
        })),
    ));
    v.push((
        "l:bigelems".into(),
        list([
            b("head"),
            noise(10_000, 2),
            b("mid"),
            b("y".repeat(70_000)),
            b("tail"),
        ]),
    ));
    v.push(("l:20000".into(), list((0..20_000).map(|i| b(format!("e{i}"))))));
    v.push((
        "h:small".into(),
        hash([(b("f1"), b("v1")), (b("n"), b("42")), (b("neg"), b("-7"))]),
    ));
    v.push((
        "h:1000".into(),
        hash((0..1000).map(|i| (b(format!("field:{i}")), b(i.to_string())))),
    ));
    v.push((
        "h:longval".into(),
        hash([(b("a"), b("v".repeat(65))), (b("b"), b("c"))]),
    ));
    v.push(("h:129".into(), hash((0..129).map(|i| (b(i.to_string()), b("x"))))));
    v.push(("set:intset".into(), set([b("1"), b("2"), b("3"), b("-5")])));
    v.push((
        "set:intset64".into(),
        set(edge_ints.iter().map(|i| b(i.to_string()))),
    ));
    v.push(("set:strings".into(), set([b("a"), b("b"), b("c"), b("1")])));
    v.push((
        "set:512ints".into(),
        set((0..512).map(|i| b((i * 1000).to_string()))),
    ));
    v.push(("set:513ints".into(), set((0..513).map(|i| b(i.to_string())))));
    v.push(("set:1000strs".into(), set((0..1000).map(|i| b(format!("m{i}"))))));
    v.push((
        "z:small".into(),
        zset([
            (b("a"), 1.0),
            (b("b"), -2.5),
            (b("inf"), f64::INFINITY),
            (b("-inf"), f64::NEG_INFINITY),
            (b("tenth"), 0.1),
            (b("huge"), 1e300),
            (b("tiny"), -3.5e-300),
            (b("frac"), 3.000_000_000_000_000_4),
            (b("big-int"), 1e16),
            (b("12"), 12.0),
        ]),
    ));
    v.push((
        "z:1000".into(),
        zset((0..1000).map(|i| (b(format!("m{i}")), f64::from(i) / 7.0))),
    ));
    v.push((
        "z:longmember".into(),
        zset([
            (b("m".repeat(65)), f64::INFINITY),
            (b("x"), f64::NEG_INFINITY),
            (b("y"), 0.5),
        ]),
    ));
    v.push((
        "z:129".into(),
        zset((0..129).map(|i| (b(i.to_string()), f64::from(i)))),
    ));
    v
}
