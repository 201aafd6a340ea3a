//! Start-up and shutdown of the real binary: configuration sources, fatal config errors,
//! listening errors, the log lines tools wait for, signals, daemonizing with a pidfile.

use std::fs;
use std::net::TcpListener;
use std::time::Duration;

use slotkv_testkit::{
    free_cluster_port, is_timeout, wait_until, write_file, Reply, ServerProcess, Signal, TestClient,
    READY_LINE,
};

use crate::util::*;

/// Redis's fatal config error text: the first lines after the leading newline, without the
/// `(source: ...)` line slotkv adds.
fn fatal_lines(text: &str) -> Vec<String> {
    let start = text
        .find("*** FATAL CONFIG FILE ERROR")
        .unwrap_or_else(|| panic!("no fatal config error in:\n{text}"));
    text[start..].lines().take(4).map(str::to_string).collect()
}

#[test]
fn default_port_is_6379() {
    // Without --port the server tries 6379. Binding an address no interface has (TEST-NET-1)
    // fails before anything listens, so the error names the default port without ever
    // touching 6379.
    let dir = tempfile::tempdir().unwrap();
    let out = run_to_exit(dir.path(), &["--bind", "192.0.2.1"]);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Failed listening on port 6379 (tcp)"), "{text}");
}

#[test]
fn config_file_with_port_override() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_file(
        dir.path(),
        "slotkv.conf",
        "# a comment\nport 1\nmaxmemory-policy allkeys-lru\nhz 20\n",
    )
    .unwrap();
    let s = ServerProcess::builder(slotkv()).config_file(&conf).start();
    let mut c = s.client();
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    let log = s.log_text();
    assert!(
        log.contains(&format!("Configuration loaded from {}", conf.display())),
        "{log}"
    );
    assert!(log.contains(&format!("Port: {}", s.port())), "{log}");
}

#[test]
fn stock_redis_conf_loads_with_warnings() {
    let stock = include_str!("../../../config/tests/fixtures/redis-7.0.conf");
    let port = free_cluster_port();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for line in stock.lines() {
        let l = match line.split_whitespace().next() {
            Some("port") => format!("port {port}"),
            Some("daemonize") => "daemonize no".into(),
            Some("logfile") => "logfile \"\"".into(),
            Some("pidfile") => format!("pidfile {}/redis.pid", dir.path().display()),
            Some("dir") => format!("dir {}", dir.path().display()),
            Some("#") if line.trim() == "# cluster-enabled yes" => "cluster-enabled yes".into(),
            _ => line.to_string(),
        };
        text.push_str(&l);
        text.push('\n');
    }
    assert!(text.contains("\ncluster-enabled yes\n"));
    let conf = write_file(dir.path(), "redis.conf", &text).unwrap();
    let s = ServerProcess::builder(slotkv())
        .dir(dir.path())
        .config_file(&conf)
        .port(port)
        .start();
    assert_eq!(s.client().cmd(&["PING"]), Reply::status("PONG"));
    let log = s.log_text();
    assert!(log.contains("Running mode=cluster"), "{log}");
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("is accepted but not implemented"))
        .collect();
    assert!(
        !warnings.is_empty(),
        "no warning for unimplemented directives:\n{log}"
    );
    // One line per directive, each naming it and its line in the file.
    let mut names: Vec<&str> = warnings
        .iter()
        .map(|l| l.split('\'').nth(1).expect("directive name in quotes"))
        .collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "a directive warned twice: {warnings:#?}");
    for w in &warnings {
        assert!(w.contains(" # ") && w.contains(", line "), "{w}");
    }
}

/// A bad line in a config file: slotkv and redis-server both refuse to start, with the same
/// fatal error text.
fn assert_fatal_like_redis(conf_text: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_file(dir.path(), "bad.conf", conf_text).unwrap();
    let conf = conf.to_str().unwrap();
    let ours = run_to_exit(dir.path(), &[conf]);
    let ours_text = output_text(&ours);
    assert!(!ours.status.success(), "{ours_text}");
    let lines = fatal_lines(&ours_text);
    let expect: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
    assert_eq!(lines, expect, "{ours_text}");
    let redis = slotkv_testkit::run_with_timeout(
        std::process::Command::new(slotkv_testkit::find_program("redis-server").expect("redis-server"))
            .arg(conf)
            .current_dir(dir.path()),
        Duration::from_secs(15),
    )
    .unwrap();
    assert!(!redis.status.success());
    assert_eq!(fatal_lines(&output_text(&redis)), lines);
}

#[test]
fn typo_directive_is_fatal() {
    assert_fatal_like_redis(
        "port 7000\nmaxmemroy 10mb\n",
        &[
            "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***",
            "Reading the configuration file, at line 2",
            ">>> 'maxmemroy 10mb'",
            "Bad directive or wrong number of arguments",
        ],
    );
}

#[test]
fn bad_value_is_fatal() {
    assert_fatal_like_redis(
        "# comment\n\nappendonly maybe\n",
        &[
            "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***",
            "Reading the configuration file, at line 3",
            ">>> 'appendonly maybe'",
            "argument must be 'yes' or 'no'",
        ],
    );
}

#[test]
fn port_in_use_fails_to_start() {
    let holder = TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run_to_exit(dir.path(), &["--port", &port, "--save", ""]);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("Failed listening on port {port} (tcp), aborting.")),
        "{text}"
    );
    drop(holder);
}

#[test]
fn log_has_pid_and_ready_line() {
    let s = start(&[]);
    let log = s.log_text();
    assert!(log.contains(&format!("PID: {}", s.pid())), "{log}");
    assert!(log.contains(READY_LINE), "{log}");
    // Redis's log line format: `pid:role dd Mon yyyy hh:mm:ss.mmm <mark> message`.
    let ready = log.lines().find(|l| l.contains(READY_LINE)).unwrap();
    assert!(ready.starts_with(&format!("{}:M ", s.pid())), "{ready}");
}

fn assert_clean_exit_on(sig: Signal) {
    let mut s = start(&[]);
    let mut c = s.client();
    c.cmd_ok(&["SET", "k", "v"]);
    s.kill(sig).unwrap();
    let status = s
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after {sig:?}"));
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", s.log_text());
    let log = s.log_text();
    assert!(log.contains("ready to exit, bye bye"), "{log}");
}

#[test]
fn sigterm_exits_cleanly() {
    assert_clean_exit_on(Signal::Term);
}

#[test]
fn sigint_exits_cleanly() {
    assert_clean_exit_on(Signal::Int);
}

#[test]
fn sigstop_then_sigcont_still_serves() {
    let mut s = start(&[]);
    let mut c = s.client();
    c.cmd_ok(&["SET", "k", "before"]);
    s.kill(Signal::Stop).unwrap();
    c.set_timeout(Duration::from_millis(200)).unwrap();
    c.send(&["GET", "k"]).unwrap();
    let e = c.try_read_reply().expect_err("a stopped server answered");
    assert!(is_timeout(&e), "{e}");
    s.kill(Signal::Cont).unwrap();
    c.set_timeout(Duration::from_secs(10)).unwrap();
    // The request sent while it was stopped is answered once it runs again.
    assert_eq!(c.read_reply(), bulk("before"));
    assert_eq!(s.client().cmd(&["PING"]), Reply::status("PONG"));
}

/// Kills a daemonized server (not our child) if the test fails half-way.
struct DaemonGuard(Option<i32>);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

/// A process that has exited, whether or not something reaped it yet.
fn pid_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

#[test]
fn daemonize_writes_pidfile_and_shutdown_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_cluster_port();
    let pidfile = dir.path().join("slotkv.pid");
    let logfile = dir.path().join("slotkv.log");
    let conf = write_file(
        dir.path(),
        "d.conf",
        &format!(
            "daemonize yes\nport {port}\npidfile {}\nlogfile {}\nsave \"\"\n",
            pidfile.display(),
            logfile.display()
        ),
    )
    .unwrap();
    let out = run_to_exit(dir.path(), &[conf.to_str().unwrap()]);
    assert!(out.status.success(), "parent: {}", output_text(&out));
    let mut guard = DaemonGuard(None);
    let pid = slotkv_testkit::wait_for(Duration::from_secs(10), || {
        fs::read_to_string(&pidfile).ok()?.trim().parse::<i32>().ok()
    })
    .unwrap_or_else(|| {
        panic!(
            "no pidfile; log:\n{}",
            fs::read_to_string(&logfile).unwrap_or_default()
        )
    });
    guard.0 = Some(pid);
    assert!(!pid_gone(pid), "pid {pid} from the pidfile is not running");
    let mut c = slotkv_testkit::wait_for(Duration::from_secs(10), || {
        TestClient::try_connect(([127, 0, 0, 1], port).into()).ok()
    })
    .expect("daemon does not accept connections");
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    let log = fs::read_to_string(&logfile).unwrap();
    assert!(log.contains(&format!("PID: {pid}")), "{log}");
    c.send(&["SHUTDOWN", "NOSAVE"]).unwrap();
    let closed = c.read_until_closed(Duration::from_secs(10));
    assert!(
        closed.is_empty(),
        "SHUTDOWN replied {:?}",
        String::from_utf8_lossy(&closed)
    );
    assert!(
        wait_until(Duration::from_secs(10), || pid_gone(pid)),
        "daemon still running after SHUTDOWN NOSAVE"
    );
    guard.0 = None;
    assert!(
        wait_until(Duration::from_secs(5), || !pidfile.exists()),
        "pidfile left behind"
    );
}

#[test]
fn shutdown_nosave_stops_with_exit_0() {
    let mut s = start(&[]);
    let mut c = s.client();
    c.send(&["SHUTDOWN", "NOSAVE"]).unwrap();
    assert!(c.read_until_closed(Duration::from_secs(10)).is_empty());
    let status = s
        .wait_exit(Duration::from_secs(10))
        .expect("still running after SHUTDOWN");
    assert_eq!(status.code(), Some(0));
}
