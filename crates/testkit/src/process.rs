//! Real server processes for end-to-end tests: slotkv-server or redis-server on a free
//! port, in a fresh directory, with its output in a log file.
//!
//! Owns the child process for its whole life: [`ServerProcess`] is the only thing that
//! reaps it (so a pid we signal is never a recycled one) and its `Drop` kills it. Readiness
//! is bounded polling with PING; ownership of the port is checked (INFO's `process_id`, or
//! the "Ready to accept connections" log line) so that a test never talks to some other
//! server that happened to hold the port.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal;
use nix::unistd::Pid;

use crate::client::TestClient;
use crate::ports::free_cluster_port;
use crate::reply::Reply;
use crate::tools::{find_program, run_redis_cli_at};
use crate::wait::wait_for;

/// How long a server gets to answer PING after it is spawned.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`ServerProcess::stop`] waits after SIGTERM before it sends SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Starts on a port another process took in the meantime are retried this many times.
const START_ATTEMPTS: usize = 3;
/// The log line both redis-server and slotkv-server print once they listen.
pub const READY_LINE: &str = "Ready to accept connections";

/// Which server program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerBinary {
    /// Our `slotkv-server`: `$SLOTKV_SERVER_BIN` if set, else the one cargo built next to
    /// the running test executable (`<target>/<profile>/slotkv-server`). Tests in the
    /// server crate itself can use `Path(env!("CARGO_BIN_EXE_slotkv-server").into())`.
    Slotkv,
    /// The reference `redis-server`: `$REDIS_SERVER_BIN` if set, else `/usr/bin/redis-server`
    /// or the first on `PATH`.
    Redis,
    /// Any program that takes redis-server's command line.
    Path(PathBuf),
}

impl ServerBinary {
    /// The executable to run, or `NotFound` with a hint.
    pub fn resolve(&self) -> io::Result<PathBuf> {
        match self {
            ServerBinary::Slotkv => {
                if let Some(p) = env_path("SLOTKV_SERVER_BIN") {
                    return existing(p, "SLOTKV_SERVER_BIN");
                }
                let exe = std::env::current_exe()?;
                exe.ancestors()
                    .skip(1)
                    .map(|d| d.join("slotkv-server"))
                    .find(|p| p.is_file())
                    .ok_or_else(|| {
                        not_found(format!(
                            "slotkv-server not found next to {} or its parent directories: run \
                             `cargo build --workspace` first (scripts/test does), or set SLOTKV_SERVER_BIN",
                            exe.display()
                        ))
                    })
            }
            ServerBinary::Redis => {
                if let Some(p) = env_path("REDIS_SERVER_BIN") {
                    return existing(p, "REDIS_SERVER_BIN");
                }
                find_program("redis-server").ok_or_else(|| {
                    not_found(
                        "redis-server not found: apt-get install redis-server (.ci/run does this)".into(),
                    )
                })
            }
            ServerBinary::Path(p) => existing(p.clone(), "ServerBinary::Path"),
        }
    }

    /// Arguments every test server gets before the caller's: no snapshots, no AOF. The
    /// caller's arguments come later, so they override these.
    pub fn default_args(&self) -> &'static [&'static str] {
        &["--save", "", "--appendonly", "no"]
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn existing(p: PathBuf, from: &str) -> io::Result<PathBuf> {
    if p.is_file() {
        Ok(p)
    } else {
        Err(not_found(format!("{} (from {from}) does not exist", p.display())))
    }
}

fn not_found(msg: String) -> io::Error {
    io::Error::new(ErrorKind::NotFound, msg)
}

/// Signals a test may send to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL: crash without any cleanup.
    Kill,
    /// SIGTERM: graceful shutdown (Redis saves if configured to).
    Term,
    /// SIGINT
    Int,
    /// SIGSTOP: freeze (a "paused" node); resume with `Cont`.
    Stop,
    /// SIGCONT
    Cont,
}

impl Signal {
    fn to_nix(self) -> signal::Signal {
        match self {
            Signal::Kill => signal::Signal::SIGKILL,
            Signal::Term => signal::Signal::SIGTERM,
            Signal::Int => signal::Signal::SIGINT,
            Signal::Stop => signal::Signal::SIGSTOP,
            Signal::Cont => signal::Signal::SIGCONT,
        }
    }
}

/// Where the server runs: a temp dir we own (deleted on drop unless a test failed) or a
/// directory the caller owns.
#[derive(Debug)]
enum Dir {
    Temp(tempfile::TempDir),
    Given(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(t) => t.path(),
            Dir::Given(p) => p,
        }
    }
}

/// How to start a server; see [`ServerProcess::builder`].
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    binary: ServerBinary,
    dir: Option<PathBuf>,
    config_file: Option<PathBuf>,
    args: Vec<OsString>,
    port: Option<u16>,
    start_timeout: Duration,
    /// Ports to try before asking for free ones (lets unit tests force a collision).
    first_ports: Vec<u16>,
    wrapper: Vec<OsString>,
    host: IpAddr,
}

impl ServerBuilder {
    /// Run in `dir` (created if missing, kept afterwards) instead of a fresh temp dir.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Pass `path` as the config file (the first argument).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Append command-line arguments (`"--maxmemory", "1mb"`); they override the defaults.
    /// Do not pass `--port`: use [`ServerBuilder::port`].
    pub fn args<S: AsRef<OsStr>>(mut self, args: &[S]) -> Self {
        self.args.extend(args.iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Use exactly this port (no retry on another port if it is taken). By default a free
    /// port P with P+10000 free too is chosen, and a collision is retried on a new port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Run the server through `prefix` (e.g. `ip netns exec NS`): the command becomes
    /// `prefix... <binary> <args...>`. The prefix must exec the server rather than fork it,
    /// so that the pid we hold and signal is the server's (the start checks INFO's
    /// `process_id` against it).
    pub fn wrapper<S: AsRef<OsStr>>(mut self, prefix: &[S]) -> Self {
        self.wrapper = prefix.iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Reach the server at `ip` instead of 127.0.0.1 (it must listen there, e.g. with
    /// `bind`); [`ServerProcess::addr`], `client` and `cli` use it.
    pub fn host(mut self, ip: IpAddr) -> Self {
        self.host = ip;
        self
    }

    /// How long the server gets to answer PING (default 10 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Starts the server; panics with its log if it does not come up.
    #[track_caller]
    pub fn start(self) -> ServerProcess {
        self.try_start()
            .unwrap_or_else(|e| panic!("starting server: {e}"))
    }

    /// Starts the server. The error message includes the tail of the server's log.
    pub fn try_start(self) -> io::Result<ServerProcess> {
        let binary = self.binary.resolve()?;
        let mut dir = match &self.dir {
            Some(d) => {
                fs::create_dir_all(d)?;
                Dir::Given(d.clone())
            }
            None => Dir::Temp(tempfile::Builder::new().prefix("slotkv-test-").tempdir()?),
        };
        let log_path = dir.path().join("server.log");
        let mut args: Vec<OsString> = self.binary.default_args().iter().map(OsString::from).collect();
        args.extend(self.args.iter().cloned());
        let mut last_err = None;
        for attempt in 1..=START_ATTEMPTS {
            let port = match self.port {
                Some(p) => p,
                None if attempt <= self.first_ports.len() => self.first_ports[attempt - 1],
                None => free_cluster_port(),
            };
            let launch = Launch {
                wrapper: &self.wrapper,
                binary: &binary,
                dir: dir.path(),
                log_path: &log_path,
                port,
                config_file: self.config_file.as_deref(),
                args: &args,
            };
            let (child, log_start) = launch.spawn()?;
            let mut proc = ServerProcess {
                wrapper: self.wrapper.clone(),
                binary: binary.clone(),
                config_file: self.config_file.clone(),
                args: args.clone(),
                host: self.host,
                port,
                dir: Some(dir),
                log_path: log_path.clone(),
                child,
                exit: None,
                log_start,
                start_timeout: self.start_timeout,
            };
            match proc.wait_ready() {
                Ok(()) => return Ok(proc),
                Err(StartError::PortInUse) if self.port.is_none() && attempt < START_ATTEMPTS => {
                    proc.kill_and_reap();
                    let _ = append_log(&log_path, &format!("testkit: port {port} was taken, retrying"));
                    last_err = Some(format!("port {port} taken"));
                    dir = proc.dir.take().expect("dir is set until drop");
                }
                Err(e) => {
                    proc.kill_and_reap();
                    let msg = format!(
                        "{} on port {port} (attempt {attempt}): {e}\n--- {} (tail) ---\n{}",
                        binary.display(),
                        log_path.display(),
                        tail(&proc.log_text(), 40)
                    );
                    // The message carries the log tail, so the temp dir can go.
                    return Err(io::Error::other(msg));
                }
            }
        }
        Err(io::Error::other(format!(
            "could not start server: {}",
            last_err.unwrap_or_default()
        )))
    }
}

/// Why a start attempt failed.
#[derive(Debug)]
enum StartError {
    /// Another process holds the port (or the bus port).
    PortInUse,
    Exited(ExitStatus),
    TimedOut(Duration),
    Io(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::PortInUse => f.write_str("port already in use"),
            StartError::Exited(s) => write!(f, "exited during startup: {s}"),
            StartError::TimedOut(d) => write!(f, "did not answer PING within {d:?}"),
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Everything one spawn of the server needs.
struct Launch<'a> {
    wrapper: &'a [OsString],
    binary: &'a Path,
    dir: &'a Path,
    log_path: &'a Path,
    port: u16,
    config_file: Option<&'a Path>,
    args: &'a [OsString],
}

impl Launch<'_> {
    /// Spawns the process; returns it and the length of the log before it started.
    fn spawn(&self) -> io::Result<(Child, u64)> {
        let log = OpenOptions::new().create(true).append(true).open(self.log_path)?;
        let mut cmd = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(self.binary);
                c
            }
            None => Command::new(self.binary),
        };
        // The config file, if any, must be the first argument.
        cmd.args(self.config_file)
            .arg("--port")
            .arg(self.port.to_string())
            .args(self.args);
        cmd.current_dir(self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .env("RUST_BACKTRACE", "1");
        append_log(self.log_path, &format!("testkit: starting {cmd:?}"))?;
        let log_start = fs::metadata(self.log_path)?.len();
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("spawning {}: {e}", self.binary.display())))?;
        Ok((child, log_start))
    }
}

fn append_log(log_path: &Path, line: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(log_path)?;
    writeln!(f, "=== {line}")
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// A running server process; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    /// Program and arguments the server runs under (empty: run it directly).
    wrapper: Vec<OsString>,
    binary: PathBuf,
    config_file: Option<PathBuf>,
    /// Everything after `--port P`: the defaults, then the caller's.
    args: Vec<OsString>,
    /// Where clients reach it (127.0.0.1 unless [`ServerBuilder::host`] said otherwise).
    host: IpAddr,
    port: u16,
    /// `None` only transiently, while a failed attempt hands the dir to the next one.
    dir: Option<Dir>,
    log_path: PathBuf,
    child: Child,
    /// Set once the child has been reaped; after that its pid must not be signalled.
    exit: Option<ExitStatus>,
    /// Length of the log file when the current process was spawned: what it printed starts
    /// there.
    log_start: u64,
    start_timeout: Duration,
}

impl ServerProcess {
    /// Starts `binary` on a free port in a fresh temp dir with the default test arguments
    /// plus `extra_args`; panics (with the server's log) if it does not answer PING within
    /// 10 s.
    #[track_caller]
    pub fn start(binary: ServerBinary, extra_args: &[&str]) -> ServerProcess {
        Self::builder(binary).args(extra_args).start()
    }

    /// Like [`ServerProcess::start`], running in `dir` (which is kept afterwards).
    #[track_caller]
    pub fn start_in(binary: ServerBinary, dir: &Path, extra_args: &[&str]) -> ServerProcess {
        Self::builder(binary).dir(dir).args(extra_args).start()
    }

    /// All the options: dir, config file, fixed port, start timeout, wrapper command, host.
    pub fn builder(binary: ServerBinary) -> ServerBuilder {
        ServerBuilder {
            binary,
            dir: None,
            config_file: None,
            args: Vec::new(),
            port: None,
            start_timeout: DEFAULT_START_TIMEOUT,
            first_ports: Vec::new(),
            wrapper: Vec::new(),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster bus port, P + 10000 (free when the port was chosen).
    pub fn bus_port(&self) -> u16 {
        self.port + crate::ports::CLUSTER_BUS_PORT_OFFSET
    }

    /// `<host>:<port>`: `127.0.0.1:<port>` unless the builder set another host.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.port))
    }

    /// Pid of the current process (changes on restart).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The working directory (data files, `server.log`).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map(Dir::path).expect("dir is set until drop")
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the server printed so far (all runs, with `=== testkit:` markers between).
    pub fn log_text(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// A new client connection.
    #[track_caller]
    pub fn client(&self) -> TestClient {
        let addr = self.addr();
        TestClient::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// `redis-cli -h <host> -p <port> args...`
    #[track_caller]
    pub fn cli<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_redis_cli_at(self.addr(), args)
    }

    /// Sends `sig` to the server. Fails if it has already exited (and been reaped).
    pub fn kill(&mut self, sig: Signal) -> io::Result<()> {
        if !self.is_running() {
            return Err(io::Error::new(ErrorKind::NotFound, "server process has exited"));
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        signal::kill(pid, sig.to_nix()).map_err(io::Error::from)
    }

    /// True until the process has exited. (A SIGSTOPped process is running.)
    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    /// Waits up to `timeout` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_for(timeout, || self.poll_exit())
    }

    /// Graceful stop: SIGTERM, then SIGKILL if it is still running after 10 s. Returns the
    /// exit status.
    pub fn stop(&mut self) -> ExitStatus {
        if self.is_running() {
            // A stopped process queues SIGTERM until continued.
            let _ = self.kill(Signal::Cont);
            let _ = self.kill(Signal::Term);
            if let Some(s) = self.wait_exit(STOP_TIMEOUT) {
                return s;
            }
            let _ = append_log(
                &self.log_path,
                "testkit: no exit 10 s after SIGTERM, sending SIGKILL",
            );
        }
        self.kill_and_reap()
    }

    /// Stops the server if it is running (as [`ServerProcess::stop`]) and starts it again
    /// with the same binary, directory, port and arguments; panics if it does not come back.
    #[track_caller]
    pub fn restart(&mut self) {
        if let Err(e) = self.try_restart() {
            panic!("restarting server on port {}: {e}", self.port);
        }
    }

    pub fn try_restart(&mut self) -> io::Result<()> {
        self.stop();
        let deadline = Instant::now() + self.start_timeout;
        loop {
            (self.child, self.log_start) = Launch {
                wrapper: &self.wrapper,
                binary: &self.binary,
                dir: self.dir(),
                log_path: &self.log_path,
                port: self.port,
                config_file: self.config_file.as_deref(),
                args: &self.args,
            }
            .spawn()?;
            self.exit = None;
            match self.wait_ready() {
                Ok(()) => return Ok(()),
                // The old process's sockets can linger briefly; the port is ours, so retry.
                Err(StartError::PortInUse) if Instant::now() < deadline => {
                    self.kill_and_reap();
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    self.kill_and_reap();
                    return Err(io::Error::other(format!(
                        "{e}\n--- {} (tail) ---\n{}",
                        self.log_path.display(),
                        tail(&self.log_text(), 40)
                    )));
                }
            }
        }
    }

    /// Keeps the working directory after drop (it is otherwise deleted when it is a temp
    /// dir and the test passed) and returns its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        match self.dir.take() {
            Some(Dir::Temp(t)) => {
                let p = t.keep();
                self.dir = Some(Dir::Given(p.clone()));
                p
            }
            Some(d) => {
                let p = d.path().to_path_buf();
                self.dir = Some(d);
                p
            }
            None => PathBuf::new(),
        }
    }

    /// What the current process printed (the log since it was spawned).
    fn current_log(&self) -> String {
        let bytes = fs::read(&self.log_path).unwrap_or_default();
        let start = (self.log_start as usize).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    fn kill_and_reap(&mut self) -> ExitStatus {
        if let Some(s) = self.poll_exit() {
            return s;
        }
        let _ = self.child.kill();
        let status = match self.child.wait() {
            Ok(s) => s,
            // Only possible if someone else reaped it; nothing left to wait for.
            Err(_) => std::os::unix::process::ExitStatusExt::from_raw(9),
        };
        self.exit = Some(status);
        status
    }

    /// Polls until the server answers PING on our port and the answer comes from our
    /// process.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + self.start_timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(status) = self.poll_exit() {
                return Err(if self.current_log().contains("Address already in use") {
                    StartError::PortInUse
                } else {
                    StartError::Exited(status)
                });
            }
            match self.probe() {
                Ok(Probe::Ours) => return Ok(()),
                Ok(Probe::Foreign) => return Err(StartError::PortInUse),
                Ok(Probe::NotYet) => {}
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(StartError::Io(e)),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StartError::TimedOut(self.start_timeout));
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn probe(&mut self) -> io::Result<Probe> {
        let mut c = TestClient::try_connect(self.addr())?;
        c.set_timeout(Duration::from_secs(2))?;
        match c.try_cmd(&["PING"])? {
            Reply::Status(s) if s == "PONG" => {}
            // `requirepass` is set: the server is up but INFO is refused too, so its own
            // log line is the proof that it is our process on the port.
            Reply::Error(e) if e.starts_with("NOAUTH") => {
                return Ok(if self.current_log().contains(READY_LINE) && self.is_running() {
                    Probe::Ours
                } else {
                    Probe::NotYet
                });
            }
            // -LOADING and friends: up, but not ready yet.
            _ => return Ok(Probe::NotYet),
        }
        let info = c.try_cmd(&["INFO", "server"])?;
        let pid = info.as_str().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("process_id:"))
                .and_then(|v| v.trim().parse::<u32>().ok())
        });
        match pid {
            Some(p) if p == self.child.id() => Ok(Probe::Ours),
            Some(_) => Ok(Probe::Foreign),
            // No INFO (yet) in this server: its own log line is the proof it bound the port.
            None if self.current_log().contains(READY_LINE) && self.is_running() => Ok(Probe::Ours),
            None => Ok(Probe::NotYet),
        }
    }
}

enum Probe {
    Ours,
    Foreign,
    NotYet,
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
            | ErrorKind::BrokenPipe
            | ErrorKind::WouldBlock
            | ErrorKind::TimedOut
    )
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_and_reap();
        if std::thread::panicking() || std::env::var_os("SLOTKV_TEST_KEEP_DIRS").is_some() {
            let dir = self.keep_dir();
            // Captured by the test harness and shown with the failure.
            eprintln!(
                "server on port {} kept its dir {} ; log tail:\n{}",
                self.port,
                dir.display(),
                tail(&self.log_text(), 30)
            );
        }
    }
}

/// Writes `contents` to `dir/name` (e.g. a config file) and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> io::Result<PathBuf> {
    let p = dir.join(name);
    let mut f = File::create(&p)?;
    f.write_all(contents.as_bytes())?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_retried_on_another() {
        let holder = ServerProcess::start(ServerBinary::Redis, &[]);
        let mut b = ServerProcess::builder(ServerBinary::Redis);
        b.first_ports = vec![holder.port()];
        let s = b.start();
        assert_ne!(s.port(), holder.port());
        assert!(s
            .log_text()
            .contains(&format!("port {} was taken, retrying", holder.port())));
        assert_eq!(s.log_text().matches(READY_LINE).count(), 1);
        let mut c = s.client();
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    }
}
