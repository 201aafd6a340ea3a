//! Test harness: a server under test on a free port, and runners for slotkv-cli and the
//! reference redis-cli.
//!
//! The server binary is `$SLOTKV_TEST_SERVER` (default `redis-server`); it is started with
//! redis-server's command line (`--port P --save "" --appendonly no ...`). The reference
//! client is `$SLOTKV_REFERENCE_CLI` (default `redis-cli`).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use slotkv_client::{Connection, Frame};

const STARTUP_DEADLINE: Duration = Duration::from_secs(15);
/// Any single CLI run taking longer than this is a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(20);

pub fn server_binary() -> String {
    std::env::var("SLOTKV_TEST_SERVER").unwrap_or_else(|_| "redis-server".into())
}

pub fn reference_cli() -> String {
    std::env::var("SLOTKV_REFERENCE_CLI").unwrap_or_else(|_| "redis-cli".into())
}

pub fn slotkv_cli() -> &'static str {
    env!("CARGO_BIN_EXE_slotkv-cli")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().unwrap().port()
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "slotkv-cli-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server, killed on drop.
pub struct Server {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts the server with extra redis-server style arguments; retries on another port if
    /// the chosen one was taken in between.
    pub fn start_with(extra: &[&str]) -> Server {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let dir = scratch_dir();
            let mut cmd = Command::new(server_binary());
            cmd.current_dir(&dir)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_binary()));
            let mut server = Server { port, child, dir };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("server did not start: {last_err}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("server exited early: {status}"));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                if s.write_all(b"PING\r\n").is_ok() {
                    // +PONG, or -NOAUTH from a server started with --requirepass
                    let mut buf = [0u8; 7];
                    if std::io::Read::read_exact(&mut s, &mut buf).is_ok()
                        && (&buf == b"+PONG\r\n" || buf.starts_with(b"-NOAUTH"))
                    {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err("no PONG before the deadline".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs commands through slotkv-client (test setup), returning the replies.
    pub fn exec(&self, commands: &[&[&str]]) -> Vec<Frame> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = Connection::connect("127.0.0.1", self.port)
                .await
                .expect("connect for setup");
            c.send_many(commands).await.expect("setup commands")
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a CLI run produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code(),
        }
    }
}

/// One CLI invocation: arguments, optional stdin bytes, extra environment.
#[derive(Clone, Default)]
pub struct Invocation<'a> {
    pub args: Vec<String>,
    pub stdin: Option<&'a [u8]>,
    pub env: Vec<(&'a str, &'a str)>,
}

impl<'a> Invocation<'a> {
    pub fn new(args: &[&str]) -> Self {
        Invocation {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn stdin(mut self, data: &'a [u8]) -> Self {
        self.stdin = Some(data);
        self
    }

    /// Formatted (tty) output although stdout is a pipe, as redis-cli does with FAKETTY.
    pub fn tty(mut self) -> Self {
        self.env.push(("FAKETTY", "1"));
        self
    }

    pub fn run(&self, program: &str) -> Run {
        let mut cmd = Command::new(program);
        cmd.args(&self.args)
            .env_remove("FAKETTY")
            .env_remove("REDISCLI_AUTH")
            .env("HOME", std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        if let Some(data) = self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(RUN_DEADLINE) {
            Ok(out) => out.expect("wait for cli").into(),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("{program} {:?} did not finish", self.args);
            }
        }
    }
}

/// Runs the same invocation with redis-cli and slotkv-cli against `port`, resetting the
/// data with `setup` before each, and asserts identical stdout, stderr and exit code.
pub fn compare(server: &Server, setup: &[&[&str]], inv: Invocation) -> Run {
    let mut inv = inv;
    inv.args.splice(0..0, ["-p".to_string(), server.port.to_string()]);
    let mut outputs = Vec::new();
    for program in [reference_cli(), slotkv_cli().to_string()] {
        server.exec(&[&["FLUSHALL"]]);
        if !setup.is_empty() {
            server.exec(setup);
        }
        outputs.push(inv.run(&program));
    }
    let ours = outputs.pop().unwrap();
    let theirs = outputs.pop().unwrap();
    assert_eq!(
        ours, theirs,
        "slotkv-cli (left) differs from redis-cli (right) for {:?}",
        inv.args
    );
    ours
}

/// Shorthand: compare one-shot invocations with the given arguments.
pub fn compare_args(server: &Server, setup: &[&[&str]], args: &[&str]) -> Run {
    compare(server, setup, Invocation::new(args))
}
