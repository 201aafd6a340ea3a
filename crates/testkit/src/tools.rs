//! Finding external programs (redis-server, redis-cli) and running them with a deadline.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::wait::wait_for;

/// How long [`run_redis_cli`] lets redis-cli run before killing it.
pub const REDIS_CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// `/usr/bin/<name>` if it exists, else the first `<name>` on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let usr = Path::new("/usr/bin").join(name);
    if usr.is_file() {
        return Some(usr);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Path of redis-cli; panics with an install hint if it is missing.
#[track_caller]
pub fn redis_cli_path() -> PathBuf {
    find_program("redis-cli")
        .unwrap_or_else(|| panic!("redis-cli not found (apt-get install redis-tools; .ci/run does this)"))
}

/// Runs `redis-cli -h 127.0.0.1 -p <port> <args...>` with no stdin and returns its output.
/// Panics if it cannot be started or runs longer than [`REDIS_CLI_TIMEOUT`].
#[track_caller]
pub fn run_redis_cli<S: AsRef<std::ffi::OsStr>>(port: u16, args: &[S]) -> Output {
    run_redis_cli_at(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), args)
}

/// [`run_redis_cli`] against any address: `redis-cli -h <ip> -p <port> <args...>`.
#[track_caller]
pub fn run_redis_cli_at<S: AsRef<std::ffi::OsStr>>(addr: SocketAddr, args: &[S]) -> Output {
    let mut cmd = Command::new(redis_cli_path());
    cmd.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args);
    run_with_timeout(&mut cmd, REDIS_CLI_TIMEOUT).unwrap_or_else(|e| panic!("redis-cli -h {addr}: {e}"))
}

/// Runs `cmd` with stdin closed and stdout/stderr captured; kills it and returns
/// `TimedOut` if it has not exited within `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_t = std::thread::spawn(move || drain(out.as_mut()));
    let err_t = std::thread::spawn(move || drain(err.as_mut()));
    let status: Option<ExitStatus> = wait_for(timeout, || child.try_wait().ok().flatten());
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("still running after {timeout:?}"),
        ));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Prints `SKIPPED: <reason>` to the process's stderr directly, not through `eprintln!`,
/// which libtest captures and shows only for failing tests: a test that cannot run here
/// says why in every run's output, then returns, instead of passing silently.
pub fn print_skipped(reason: &str) {
    use std::io::Write;
    let _ = writeln!(io::stderr().lock(), "SKIPPED: {reason}");
}

fn drain<R: Read>(r: Option<&mut R>) -> Vec<u8> {
    let mut v = Vec::new();
    if let Some(r) = r {
        let _ = r.read_to_end(&mut v);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_with_timeout_captures_and_kills() {
        let out = run_with_timeout(
            Command::new("sh").args(["-c", "echo hi; echo err >&2"]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"err\n");
        let e = run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
