//! The testkit's own end-to-end tests, against the reference redis-server (so they pass
//! before slotkv-server exists and prove the fixtures, not our server).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use slotkv_testkit::{
    assert_eventually, is_timeout, run_redis_cli, wait_until, write_file, Reply, ServerBinary, ServerProcess,
    Signal, TestClient, READY_LINE,
};

fn redis(extra: &[&str]) -> ServerProcess {
    ServerProcess::start(ServerBinary::Redis, extra)
}

fn info_field(c: &mut TestClient, section: &str, field: &str) -> String {
    let info = c.cmd(&["INFO", section]);
    let text = info.as_str().expect("INFO is a bulk string").to_string();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

#[test]
fn start_answers_ping_and_commands() {
    let s = redis(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    c.cmd_ok(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
    assert!(c.cmd(&["NOSUCHCOMMAND"]).is_error());
    assert_eq!(info_field(&mut c, "server", "process_id"), s.pid().to_string());
    assert_eq!(info_field(&mut c, "server", "tcp_port"), s.port().to_string());
    assert_eq!(s.addr().port(), s.port());
    assert!(s.log_text().contains(READY_LINE), "{}", s.log_text());
    assert!(s.log_path().starts_with(s.dir()));
    // Test defaults: no persistence.
    let save = c.cmd(&["CONFIG", "GET", "save"]);
    assert_eq!(save, Reply::Array(vec![Reply::bulk("save"), Reply::bulk("")]));
    let aof = c.cmd(&["CONFIG", "GET", "appendonly"]);
    assert_eq!(
        aof,
        Reply::Array(vec![Reply::bulk("appendonly"), Reply::bulk("no")])
    );
}

#[test]
fn servers_get_distinct_ports_and_dirs() {
    let a = redis(&[]);
    let b = redis(&[]);
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    a.client().cmd_ok(&["SET", "k", "a"]);
    assert_eq!(b.client().cmd(&["GET", "k"]), Reply::Nil);
}

#[test]
fn sigkill_is_seen_by_wait_exit() {
    let mut s = redis(&[]);
    assert!(s.is_running());
    s.kill(Signal::Kill).unwrap();
    let status = s.wait_exit(Duration::from_secs(5)).expect("exits after SIGKILL");
    assert_eq!(status.signal(), Some(9));
    assert!(!s.is_running());
    assert!(s.kill(Signal::Term).is_err(), "no signal to a reaped pid");
    assert!(TestClient::try_connect(s.addr()).is_err());
}

#[test]
fn sigterm_exits_cleanly() {
    let mut s = redis(&[]);
    s.kill(Signal::Term).unwrap();
    let status = s.wait_exit(Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigstop_pauses_and_sigcont_resumes() {
    let mut s = redis(&[]);
    let mut c = s.client();
    s.kill(Signal::Stop).unwrap();
    c.set_timeout(Duration::from_millis(200)).unwrap();
    let err = c.try_cmd(&["PING"]).unwrap_err();
    assert!(is_timeout(&err), "{err:?}");
    s.kill(Signal::Cont).unwrap();
    c.set_timeout(Duration::from_secs(10)).unwrap();
    // The PING sent while paused is answered once the server runs again.
    assert_eq!(c.read_reply(), Reply::status("PONG"));
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
}

#[test]
fn restart_keeps_port_dir_and_extra_args() {
    let mut s = redis(&["--appendonly", "yes"]);
    let (port, dir, pid) = (s.port(), s.dir().to_path_buf(), s.pid());
    s.client().cmd_ok(&["SET", "k", "kept"]);
    s.restart();
    assert_eq!((s.port(), s.dir()), (port, dir.as_path()));
    assert_ne!(s.pid(), pid);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["GET", "k"]),
        Reply::bulk("kept"),
        "AOF reloaded from the same dir"
    );
    assert_eq!(info_field(&mut c, "server", "process_id"), s.pid().to_string());
    assert_eq!(s.log_text().matches(READY_LINE).count(), 2);
}

#[test]
fn restart_after_crash() {
    let mut s = redis(&[]);
    s.client().cmd_ok(&["SET", "k", "v"]);
    s.kill(Signal::Kill).unwrap();
    s.wait_exit(Duration::from_secs(5)).expect("killed");
    s.restart();
    assert_eq!(
        s.client().cmd(&["GET", "k"]),
        Reply::Nil,
        "no persistence by default"
    );
}

#[test]
fn restart_of_a_paused_server() {
    let mut s = redis(&[]);
    s.kill(Signal::Stop).unwrap();
    s.restart();
    assert_eq!(s.client().cmd(&["PING"]), Reply::status("PONG"));
}

#[test]
fn drop_kills_the_process() {
    let s = redis(&[]);
    let pid = s.pid();
    let dir = s.dir().to_path_buf();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(s);
    // Reaped in drop: the pid is gone at once (barring reuse, which takes far longer).
    assert!(!Path::new(&format!("/proc/{pid}/status")).exists());
    assert!(!dir.exists(), "temp dir removed after a passing test");
}

#[test]
fn start_in_a_given_dir_with_a_config_file() {
    let base = tempfile::tempdir().unwrap();
    let conf = write_file(base.path(), "node.conf", "maxmemory-policy allkeys-lru\nhz 17\n").unwrap();
    let dir = base.path().join("node1");
    let s = ServerProcess::builder(ServerBinary::Redis)
        .dir(&dir)
        .config_file(&conf)
        .args(&["--hz", "19"])
        .start();
    assert_eq!(s.dir(), dir);
    let mut c = s.client();
    let policy = c.cmd(&["CONFIG", "GET", "maxmemory-policy"]);
    assert_eq!(policy.as_array().unwrap()[1], Reply::bulk("allkeys-lru"));
    let hz = c.cmd(&["CONFIG", "GET", "hz"]);
    assert_eq!(
        hz.as_array().unwrap()[1],
        Reply::bulk("19"),
        "command line overrides the file"
    );
    drop(c);
    drop(s);
    assert!(dir.join("server.log").exists(), "a given dir is kept");
}

#[test]
fn start_in_helper() {
    let base = tempfile::tempdir().unwrap();
    let s = ServerProcess::start_in(ServerBinary::Redis, base.path(), &["--databases", "3"]);
    assert_eq!(s.dir(), base.path());
    assert!(s.client().cmd(&["SELECT", "3"]).is_error());
}

#[test]
fn a_port_held_by_another_server_is_detected() {
    let other = redis(&[]);
    let start = Instant::now();
    let err = ServerProcess::builder(ServerBinary::Redis)
        .port(other.port())
        .start_timeout(Duration::from_secs(8))
        .try_start()
        .unwrap_err();
    assert!(err.to_string().contains("port already in use"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "detected, not timed out"
    );
    assert_eq!(other.client().cmd(&["PING"]), Reply::status("PONG"));
}

#[test]
fn a_failed_start_reports_the_log() {
    let err = ServerProcess::builder(ServerBinary::Redis)
        .args(&["--no-such-directive", "1"])
        .try_start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("exited during startup"), "{err}");
    assert!(err.contains("no-such-directive"), "log tail included: {err}");
}

#[test]
fn missing_binary_is_a_clear_error() {
    let err = ServerBinary::Path("/nonexistent/slotkv-server".into())
        .resolve()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let err = ServerProcess::builder(ServerBinary::Path("/nonexistent/x".into()))
        .try_start()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn pipelining_and_resp3() {
    let s = redis(&[]);
    let mut c = s.client();
    for i in 0..3 {
        c.send(&["INCR", "n"]).unwrap();
        let _ = i;
    }
    let got: Vec<Reply> = (0..3).map(|_| c.read_reply()).collect();
    assert_eq!(got, vec![Reply::Int(1), Reply::Int(2), Reply::Int(3)]);
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    c.cmd(&["HSET", "h", "f", "v"]);
    assert_eq!(
        c.cmd(&["HGETALL", "h"]),
        Reply::Map(vec![(Reply::bulk("f"), Reply::bulk("v"))])
    );
    assert_eq!(c.cmd(&["GET", "nope"]), Reply::Nil);
    assert_eq!(c.cmd(&["INCRBYFLOAT", "fl", "1.5"]), Reply::bulk("1.5"));
    let binary: &[&[u8]] = &[b"SET", b"bin", b"\x00\r\n\xff"];
    c.cmd_ok(binary);
    assert_eq!(c.cmd(&["GET", "bin"]).as_bytes(), Some(&b"\x00\r\n\xff"[..]));
}

#[test]
fn raw_bytes_for_protocol_errors() {
    let s = redis(&[]);
    let mut c = s.client();
    assert_eq!(c.raw(b"PING\r\n"), b"+PONG\r\n");
    let got = c.raw(b"*1\r\nfoo\r\n");
    assert_eq!(got, b"-ERR Protocol error: expected '$', got 'f'\r\n");
    assert!(c.read_until_closed(Duration::from_secs(5)).is_empty());
}

#[test]
fn redis_cli_wrapper() {
    let s = redis(&[]);
    let out = run_redis_cli(s.port(), &["SET", "a", "1"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n");
    let out = s.cli(&["GET", "a"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
}

#[test]
fn bounded_waits_against_a_server() {
    let s = redis(&[]);
    let mut writer = s.client();
    let mut reader = s.client();
    writer.cmd(&["SET", "k", "v", "PX", "30"]);
    assert_eventually(Duration::from_secs(5), "k expires", || {
        reader.cmd(&["EXISTS", "k"]) == Reply::Int(0)
    });
    assert!(!wait_until(Duration::from_millis(20), || reader
        .cmd(&["EXISTS", "k"])
        == Reply::Int(1)));
}

#[test]
fn slotkv_binary_from_env() {
    // The only test in this binary that touches SLOTKV_SERVER_BIN (std serialises env
    // access, and no other test here starts ServerBinary::Slotkv).
    let redis = ServerBinary::Redis.resolve().unwrap();
    std::env::set_var("SLOTKV_SERVER_BIN", &redis);
    let resolved = ServerBinary::Slotkv.resolve();
    let s = ServerProcess::start(ServerBinary::Slotkv, &[]);
    std::env::remove_var("SLOTKV_SERVER_BIN");
    assert_eq!(resolved.unwrap(), redis);
    assert_eq!(s.client().cmd(&["PING"]), Reply::status("PONG"));
}
