//! Real clients against the real binary: redis-cli (one-shot and piped stdin, compared
//! with its output against redis-server), redis-py, the `redis` crate (sync), and
//! redis-benchmark.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use slotkv_testkit::{redis_cli_path, run_with_timeout, write_file};

use crate::util::*;

/// A script of deterministic commands (fresh servers: DBSIZE is exact).
const CLI_SCRIPT: &str = r#"PING
SET cli:k hello
GET cli:k
GET cli:missing
APPEND cli:k " world"
GET cli:k
GETRANGE cli:k 0 4
SETRANGE cli:k 0 J
INCR cli:n
INCRBY cli:n 10
INCRBYFLOAT cli:n 0.5
MSET cli:a 1 cli:b 2
MGET cli:a cli:b cli:none
SET cli:k v EX notanint
INCR cli:k
NOSUCHCMD x y
ECHO "multi word\tvalue"
SET cli:bin "\x00\x01\xff"
GET cli:bin
RPUSH cli:l a b "c d"
LRANGE cli:l 0 -1
LPOP cli:l 5
HSET cli:h f1 v1 f2 v2
HGETALL cli:h
HGET cli:h nope
SADD cli:s 3 1 2
SMEMBERS cli:s
ZADD cli:z 1 one 2.5 two
ZRANGE cli:z 0 -1 WITHSCORES
ZSCORE cli:z two
TYPE cli:z
TTL cli:z
EXPIRE cli:z 100
PERSIST cli:z
MULTI
INCR cli:n
LPUSH cli:l x
EXEC
SUBSCRIBE
GET cli:l
DBSIZE
SELECT 2
DBSIZE
FLUSHALL
DBSIZE
"#;

fn cli_piped(port: u16, script: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "{} -h 127.0.0.1 -p {port} {} < {}",
        redis_cli_path().display(),
        extra.join(" "),
        script.display()
    ));
    run_with_timeout(&mut cmd, Duration::from_secs(30)).unwrap()
}

#[test]
fn redis_cli_piped_stdin_matches_redis() {
    let s = start(&[]);
    let r = start_redis(&[]);
    let dir = tempfile::tempdir().unwrap();
    let script = write_file(dir.path(), "script.txt", CLI_SCRIPT).unwrap();
    for extra in [&[][..], &["--no-raw"][..]] {
        let ours = cli_piped(s.port(), &script, extra);
        let theirs = cli_piped(r.port(), &script, extra);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "redis-cli {extra:?} output differs (left slotkv, right redis-server)"
        );
        assert_eq!(ours.status.code(), theirs.status.code());
        // Reset both for the next round.
        s.cli(&["FLUSHALL"]);
        r.cli(&["FLUSHALL"]);
    }
}

#[test]
fn redis_cli_one_shot_matches_redis() {
    let s = start(&[]);
    let r = start_redis(&[]);
    let runs: &[&[&str]] = &[
        &["SET", "one:k", "v"],
        &["GET", "one:k"],
        &["GET", "one:none"],
        &["--no-raw", "GET", "one:none"],
        &["MSET", "one:a", "1", "one:b", "2"],
        &["--no-raw", "MGET", "one:a", "one:b", "one:c"],
        &["INCR", "one:k"],
        &["--no-raw", "INCR", "one:a"],
        &["NOSUCH"],
        &["-n", "1", "DBSIZE"],
        &["-3", "GET", "one:none"],
        &["PING"],
    ];
    for args in runs {
        let ours = s.cli(args);
        let theirs = r.cli(args);
        assert_eq!(
            (String::from_utf8_lossy(&ours.stdout), ours.status.code()),
            (String::from_utf8_lossy(&theirs.stdout), theirs.status.code()),
            "redis-cli {args:?} (left slotkv, right redis-server)"
        );
    }
}

#[test]
fn redis_py_smoke() {
    let s = shared();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/py/smoke.py");
    let out = run_with_timeout(
        Command::new("python3").arg(&script).arg(s.port().to_string()),
        Duration::from_secs(60),
    )
    .unwrap();
    let text = output_text(&out);
    assert!(out.status.success() && text.contains("ALL OK"), "{text}");
}

#[test]
fn redis_crate_sync_smoke() {
    use redis::Commands;
    let s = shared();
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", s.port())).unwrap();
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _: () = con.set("rs:k", "v").unwrap();
    let v: Option<String> = con.get("rs:k").unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let none: Option<String> = con.get("rs:none").unwrap();
    assert_eq!(none, None);
    let n: i64 = con.incr("rs:n", 5).unwrap();
    assert_eq!(n, 5);
    let e = con.incr::<_, _, i64>("rs:k", 1).unwrap_err();
    assert_eq!(e.detail(), Some("value is not an integer or out of range"));

    let (a, b, c): (i64, i64, Option<String>) = redis::pipe()
        .incr("rs:p", 1)
        .incr("rs:p", 1)
        .get("rs:nothing")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b, c), (1, 2, None));

    let (x, y): (String, i64) = redis::pipe()
        .atomic()
        .set("rs:tx", "10")
        .ignore()
        .get("rs:tx")
        .incr("rs:tx", 1)
        .query(&mut con)
        .unwrap();
    assert_eq!((x.as_str(), y), ("10", 11));

    // A transaction with WATCH that someone else breaks: EXEC returns nil.
    let mut other = client.get_connection().unwrap();
    let _: () = redis::cmd("WATCH").arg("rs:tx").query(&mut con).unwrap();
    let _: () = other.set("rs:tx", "changed").unwrap();
    let r: Option<(String,)> = redis::pipe()
        .atomic()
        .set("rs:tx", "mine")
        .ignore()
        .get("rs:tx")
        .query(&mut con)
        .unwrap();
    assert_eq!(r, None);

    let mut sub_con = client.get_connection().unwrap();
    let mut pubsub = sub_con.as_pubsub();
    pubsub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    pubsub.subscribe("rs:chan").unwrap();
    pubsub.psubscribe("rs:pat.*").unwrap();
    let receivers: i64 = other.publish("rs:chan", "hello").unwrap();
    assert_eq!(receivers, 1);
    let _: i64 = other.publish("rs:pat.1", "world").unwrap();
    let m = pubsub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "rs:chan");
    assert_eq!(m.get_payload::<String>().unwrap(), "hello");
    let m = pubsub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "rs:pat.1");
    assert_eq!(m.get_pattern::<String>().unwrap(), "rs:pat.*");
    assert_eq!(m.get_payload::<String>().unwrap(), "world");
}

#[test]
fn redis_benchmark_runs_cleanly() {
    let s = start(&[]);
    let bench = slotkv_testkit::find_program("redis-benchmark").expect("redis-benchmark");
    let port = s.port().to_string();
    let out = run_with_timeout(
        Command::new(bench).args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "set,get,incr,lpush,lpop,sadd,hset,zadd,lrange",
            "-n",
            "2000",
            "-q",
        ]),
        Duration::from_secs(90),
    )
    .unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("rps="))
        .collect();
    for l in &lines {
        assert!(
            l.contains("requests per second"),
            "unexpected line {l:?} in:\n{text}"
        );
    }
    for t in [
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "LPOP",
        "SADD",
        "HSET",
        "ZADD",
        "LRANGE_100",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{t}: ")) || l.starts_with(&format!("{t} ("))),
            "no {t} result in:\n{text}"
        );
    }
}
