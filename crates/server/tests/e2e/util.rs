//! Fixtures shared by the end-to-end modules: the binary under test, one shared server for
//! tests whose state does not matter, and small helpers for one-off processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use slotkv_testkit::{run_with_timeout, Reply, ServerBinary, ServerProcess};

/// The `slotkv-server` cargo built for this test binary.
pub fn slotkv_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_slotkv-server"))
}

pub fn slotkv() -> ServerBinary {
    ServerBinary::Path(slotkv_bin())
}

/// A dedicated slotkv server with `args` (for tests whose config differs).
#[track_caller]
pub fn start(args: &[&str]) -> ServerProcess {
    ServerProcess::start(slotkv(), args)
}

/// A real redis-server, for side-by-side comparisons.
#[track_caller]
pub fn start_redis(args: &[&str]) -> ServerProcess {
    ServerProcess::start(ServerBinary::Redis, args)
}

/// The server shared by every test that only needs distinct key names. It lives as long
/// as some test holds it (a static would never be dropped, and its process would outlive
/// the test binary); a later test that finds it gone starts a new one.
pub fn shared() -> Arc<ServerProcess> {
    static SHARED: Mutex<Weak<ServerProcess>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = slot.upgrade() {
        return s;
    }
    let s = Arc::new(start(&[]));
    *slot = Arc::downgrade(&s);
    s
}

/// Runs the server binary to completion (start-up failures, `daemonize yes`) with a
/// deadline; panics if it is still running after 15 s.
#[track_caller]
pub fn run_to_exit(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(slotkv_bin());
    cmd.args(args).current_dir(dir);
    run_with_timeout(&mut cmd, Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("slotkv-server {args:?}: {e}"))
}

/// stdout and stderr of a finished process, as text.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn bulk(s: &str) -> Reply {
    Reply::bulk(s)
}

pub fn ok() -> Reply {
    Reply::status("OK")
}

pub fn int(n: i64) -> Reply {
    Reply::Int(n)
}

pub fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}

/// Runs the same scenario (which may use several clients) on a fresh slotkv and a fresh
/// redis-server started with `args`, and asserts that it saw the same replies.
#[track_caller]
pub fn assert_same_on_both(args: &[&str], scenario: impl Fn(&ServerProcess) -> Vec<Reply>) {
    let ours = scenario(&start(args));
    let theirs = scenario(&start_redis(args));
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "reply #{i}: slotkv {a} vs redis-server {b}");
    }
}
