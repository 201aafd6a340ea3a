//! slotkv-cli: a drop-in for the everyday use of `redis-cli` 7.0.
//!
//! `main.rs` only parses [`Opts`] and calls [`run`]. [`run`] turns the options into a
//! [`Session`], then either runs the one-shot command given on the command line or enters the
//! read-eval-print loop (a prompt with history when stdin is a terminal, one command per
//! line otherwise). Reply rendering lives in [`format`]. Other modes of the binary (e.g. a
//! `--cluster <subcommand>`, in [`cluster_admin`]) branch off in `run`.

pub mod cluster_admin;
pub mod format;
pub mod opts;
pub mod rdb;
mod repl;
mod uri;

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use slotkv_client::{ClientError, Connection, Frame};

use format::OutputMode;
pub use opts::{Opts, OutputFlag};

const AUTH_WARNING: &str =
    "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.";

/// Runs the CLI with parsed options; returns the process exit code.
pub fn run(opts: Opts) -> i32 {
    if let Some(cmd) = opts.cluster_admin.clone() {
        let password = opts
            .password
            .clone()
            .or_else(|| opts.pass.clone())
            .or_else(|| std::env::var("REDISCLI_AUTH").ok());
        if (opts.password.is_some() || opts.pass.is_some()) && !opts.no_auth_warning {
            eprintln!("{AUTH_WARNING}");
        }
        let auth = cluster_admin::Auth {
            user: opts.user.clone(),
            password,
        };
        return cluster_admin::run(cmd, auth);
    }
    let mut session = match Session::from_opts(&opts) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    if let Some(filename) = &opts.rdb {
        return session.get_rdb(filename);
    }
    if opts.command.is_empty() {
        return repl::run(&mut session);
    }
    // A failed AUTH/SELECT/HELLO is reported, and the command still runs (as redis-cli).
    if session.connect(false, false) == Connect::Failed {
        return 1;
    }
    let mut args: Vec<Vec<u8>> = opts.command.iter().map(|a| os_bytes(a)).collect();
    if opts.stdin_last_arg {
        let mut data = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut data) {
            eprintln!("Error reading stdin: {e}");
            return 1;
        }
        args.push(data);
    }
    let repeat = opts.repeat.unwrap_or(1);
    if session.issue_command_repeat(&args, repeat) {
        0
    } else {
        1
    }
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    s.to_string_lossy().as_bytes().to_vec()
}

/// Outcome of [`Session::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connect {
    Ok,
    /// Connected, but AUTH, SELECT or HELLO got an error reply (the rest was skipped).
    HandshakeFailed,
    Failed,
}

/// Connection state and settings, the counterpart of redis-cli's `config` + `context`.
pub struct Session {
    rt: tokio::runtime::Runtime,
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    resp3: bool,
    /// Database asked for (`-n`, `SELECT`); `db` is the one the connection is on.
    input_db: i64,
    db: i64,
    pre_multi_db: i64,
    in_multi: bool,
    conn: Option<Connection>,
    mode: OutputMode,
    mb_delim: Vec<u8>,
    cmd_delim: Vec<u8>,
    cluster: bool,
    errcode: bool,
    interactive: bool,
    interval: Option<Duration>,
    reissue: bool,
    send_asking: bool,
    shutdown: bool,
    last_was_error: bool,
    last_was_nil: bool,
}

impl Session {
    fn from_opts(opts: &Opts) -> Result<Self, String> {
        let mut host = opts.host.clone();
        let mut port = opts.port;
        let mut user = opts.user.clone();
        let mut password = opts.password.clone().or_else(|| opts.pass.clone());
        let mut db = opts.db.unwrap_or(0);
        let mut warn = password.is_some();
        if let Some(u) = &opts.uri {
            let parsed = uri::parse(u)?;
            if let Some(h) = parsed.host {
                host = h;
            }
            if let Some(p) = parsed.port {
                port = p;
            }
            if parsed.user.is_some() {
                user = parsed.user;
            }
            if parsed.password.is_some() {
                password = parsed.password;
                warn = true;
            }
            if let Some(d) = parsed.db {
                db = d;
            }
        }
        if password.is_none() {
            password = std::env::var("REDISCLI_AUTH").ok();
        }
        if warn && !opts.no_auth_warning {
            eprintln!("{AUTH_WARNING}");
        }
        let stdout_tty = std::io::stdout().is_terminal() || std::env::var_os("FAKETTY").is_some();
        let mode = match opts.output_flag() {
            Some(OutputFlag::Csv) => OutputMode::Csv,
            Some(OutputFlag::NoRaw) => OutputMode::Standard,
            Some(OutputFlag::Raw) => OutputMode::Raw,
            None if stdout_tty => OutputMode::Standard,
            None => OutputMode::Raw,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("Could not start the runtime: {e}"))?;
        Ok(Self {
            rt,
            host,
            port,
            user,
            password,
            resp3: opts.resp3 && !opts.resp2,
            input_db: db,
            db: 0,
            pre_multi_db: 0,
            in_multi: false,
            conn: None,
            mode,
            mb_delim: opts
                .bulk_delim
                .clone()
                .unwrap_or_else(|| "\n".into())
                .into_bytes(),
            cmd_delim: opts.cmd_delim.clone().unwrap_or_else(|| "\n".into()).into_bytes(),
            cluster: opts.cluster,
            errcode: opts.errcode,
            interactive: false,
            interval: opts
                .interval
                .filter(|i| *i > 0.0)
                .and_then(|i| Duration::try_from_secs_f64(i).ok()),
            reissue: false,
            send_asking: false,
            shutdown: false,
            last_was_error: false,
            last_was_nil: false,
        })
    }

    /// `--rdb <filename>`: fetches a snapshot with SYNC (see [`rdb`]); the exit code.
    fn get_rdb(&self, filename: &str) -> i32 {
        let auth = cluster_admin::Auth {
            user: self.user.clone(),
            password: self.password.clone(),
        };
        let link = match cluster_admin::node::Link::connect_checked(&self.host, self.port, &auth) {
            Ok(l) => l,
            Err(cluster_admin::node::ConnectError::Io(e)) => {
                eprintln!("Could not connect to Redis at {}:{}: {e}", self.host, self.port);
                return 1;
            }
            Err(cluster_admin::node::ConnectError::Auth(e)) => {
                eprintln!("AUTH failed: {e}");
                return 1;
            }
        };
        let fetch = rdb::Fetch {
            filename,
            standalone: true,
        };
        match rdb::fetch(link, &fetch) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e}");
                1
            }
        }
    }

    /// The interactive prompt, e.g. `127.0.0.1:6379[2](TX)> `.
    pub fn prompt(&self) -> String {
        if self.conn.is_none() {
            return "not connected> ".into();
        }
        prompt_for(&self.host, self.port, self.db, self.in_multi)
    }

    /// Connects (again when `force`), then AUTH, SELECT and HELLO 3 as configured, stopping
    /// at the first error reply. Prints redis-cli's messages on failure (unless `quiet`).
    fn connect(&mut self, force: bool, quiet: bool) -> Connect {
        if self.conn.is_some() && !force {
            return Connect::Ok;
        }
        // A new connection starts on db 0 outside MULTI. (redis-cli 7.0 resets this only when
        // replacing a live connection, so after a dropped one it believes it is still on the
        // old db and skips the SELECT; we always re-select.)
        self.conn = None;
        self.db = 0;
        self.in_multi = false;
        let conn = match self.rt.block_on(Connection::connect(&self.host, self.port)) {
            Ok(c) => c,
            Err(e) => {
                if !quiet {
                    eprintln!(
                        "Could not connect to Redis at {}:{}: {}",
                        self.host,
                        self.port,
                        errstr(&e)
                    );
                }
                return Connect::Failed;
            }
        };
        self.conn = Some(conn);
        if let Some(pass) = self.password.clone() {
            let mut args = vec!["AUTH".to_string()];
            args.extend(self.user.clone());
            args.push(pass);
            match self.handshake(&args) {
                Ok(Frame::Error(e)) => {
                    eprintln!("AUTH failed: {e}");
                    return Connect::HandshakeFailed;
                }
                Ok(_) => {}
                Err(_) => {
                    eprintln!("\nI/O error");
                    self.conn = None;
                    return Connect::Failed;
                }
            }
        }
        match self.select() {
            Connect::Ok => {}
            other => return other,
        }
        if self.resp3 {
            match self.handshake(&["HELLO".into(), "3".into()]) {
                Ok(Frame::Error(e)) => {
                    eprintln!("HELLO 3 failed: {e}");
                    return Connect::HandshakeFailed;
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("Error: {}", errstr(&e));
                    self.conn = None;
                    return Connect::Failed;
                }
            }
        }
        Connect::Ok
    }

    fn handshake(&mut self, args: &[String]) -> Result<Frame, ClientError> {
        let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
        self.rt.block_on(conn.send(args))
    }

    /// SELECTs the requested database if the connection is on another one.
    fn select(&mut self) -> Connect {
        if self.input_db == self.db {
            return Connect::Ok;
        }
        let n = self.input_db;
        match self.handshake(&["SELECT".into(), n.to_string()]) {
            Ok(Frame::Error(e)) => {
                eprintln!("SELECT {n} failed: {e}");
                Connect::HandshakeFailed
            }
            Ok(_) => {
                self.db = n;
                Connect::Ok
            }
            Err(e) => {
                eprintln!("Error: {}", errstr(&e));
                self.conn = None;
                Connect::Failed
            }
        }
    }

    /// redis-cli's `issueCommandRepeat`: (re)connects as needed, runs the command `repeat`
    /// times (forever if negative) and follows cluster redirections.
    fn issue_command_repeat(&mut self, args: &[Vec<u8>], repeat: i64) -> bool {
        if args.is_empty() {
            return true;
        }
        if eq(&args[0], "help") || eq(&args[0], "?") {
            self.write_out(repl::HELP.as_bytes());
            return true;
        }
        loop {
            if (self.reissue || self.conn.is_none()) && self.connect(true, false) != Connect::Ok {
                self.reissue = false;
                return false;
            }
            self.reissue = false;
            if self.send_asking {
                self.send_asking = false;
                if let Err(e) = self.handshake(&["ASKING".into()]) {
                    eprintln!("Error: {}", errstr(&e));
                    self.conn = None;
                    return false;
                }
            }
            if let Err(e) = self.send_command(args, repeat) {
                eprintln!("Error: {}", errstr(&e));
                self.conn = None;
                return false;
            }
            if self.cluster && self.reissue {
                continue;
            }
            return true;
        }
    }

    fn send_command(&mut self, args: &[Vec<u8>], mut repeat: i64) -> Result<(), ClientError> {
        let cmd = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let sub = args
            .get(1)
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default();
        let argc = args.len();
        let verbatim = verbatim_command(&cmd, &sub, argc);
        if cmd == "shutdown" {
            self.shutdown = true;
        }
        let monitor = cmd == "monitor";
        let pubsub = matches!(cmd.as_str(), "subscribe" | "psubscribe" | "ssubscribe");
        while repeat != 0 {
            if repeat > 0 {
                repeat -= 1;
            }
            let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
            self.rt.block_on(conn.write_command(args))?;
            if monitor {
                loop {
                    self.read_reply(verbatim, true)?;
                    if self.last_was_error || self.conn.is_none() {
                        return Ok(());
                    }
                }
            }
            if pubsub {
                if self.mode != OutputMode::Raw {
                    self.write_out(b"Reading messages... (press Ctrl-C to quit)\n");
                }
                loop {
                    self.read_reply(verbatim, true)?;
                    if self.last_was_error || self.conn.is_none() {
                        break;
                    }
                }
                continue;
            }
            self.read_reply(verbatim, false)?;
            self.after_reply(&cmd, args);
            if self.reissue || self.conn.is_none() {
                break;
            }
            if let Some(i) = self.interval {
                std::thread::sleep(i);
            }
        }
        Ok(())
    }

    /// Bookkeeping redis-cli does after a reply: database number, MULTI state.
    fn after_reply(&mut self, cmd: &str, args: &[Vec<u8>]) {
        let argc = args.len();
        let ok = !self.last_was_error;
        match cmd {
            "select" if argc == 2 && ok => {
                let n = atoi(&args[1]);
                self.db = n;
                self.input_db = n;
            }
            "multi" if argc == 1 && ok => {
                self.in_multi = true;
                self.pre_multi_db = self.db;
            }
            "exec" if argc == 1 && self.in_multi => {
                self.in_multi = false;
                if self.last_was_error || self.last_was_nil {
                    self.db = self.pre_multi_db;
                    self.input_db = self.pre_multi_db;
                }
            }
            "discard" if argc == 1 && ok => {
                self.in_multi = false;
                self.db = self.pre_multi_db;
                self.input_db = self.pre_multi_db;
            }
            "reset" if argc == 1 && ok => {
                self.in_multi = false;
                self.db = 0;
                self.input_db = 0;
                self.resp3 = false;
            }
            _ => {}
        }
    }

    /// Reads one reply and prints it (`cliReadReply`). In RESP3, pushes that arrive before a
    /// normal reply are printed as they come, unless `pushes_are_replies` (SUBSCRIBE,
    /// MONITOR).
    fn read_reply(&mut self, verbatim: bool, pushes_are_replies: bool) -> Result<(), ClientError> {
        let frame = loop {
            let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
            let frame = match self.rt.block_on(conn.read_frame()) {
                Ok(f) => f,
                Err(e) => {
                    if self.shutdown {
                        self.conn = None;
                        return Ok(());
                    }
                    return Err(e);
                }
            };
            if matches!(frame, Frame::Push(_)) && !pushes_are_replies {
                // Out-of-band pushes (client tracking) are shown in the human form only.
                if self.mode == OutputMode::Standard {
                    match format::invalidate_tty(&frame) {
                        Some(line) => self.write_out(&line),
                        None => self.print_frame(&frame, false),
                    }
                }
                continue;
            }
            break frame;
        };
        self.last_was_error = matches!(frame, Frame::Error(_));
        self.last_was_nil = matches!(frame, Frame::Null);
        if let Frame::Error(msg) = &frame {
            if self.cluster && (msg.starts_with("MOVED ") || msg.starts_with("ASK ")) {
                if let Some((slot, host, port)) = parse_redirect(msg) {
                    if msg.starts_with("ASK ") {
                        self.send_asking = true;
                    }
                    self.host = host;
                    self.port = port;
                    if self.interactive {
                        self.write_out(
                            format!(
                                "-> Redirected to slot [{slot}] located at {}:{}\n",
                                self.host, self.port
                            )
                            .as_bytes(),
                        );
                    }
                    self.reissue = true;
                    return Ok(());
                }
            }
            if !self.interactive && self.errcode {
                self.flush_out();
                eprintln!("{msg}");
                std::process::exit(1);
            }
        }
        self.print_frame(&frame, verbatim);
        Ok(())
    }

    fn print_frame(&mut self, frame: &Frame, verbatim: bool) {
        match format::reply(frame, self.mode, verbatim, &self.mb_delim, &self.cmd_delim) {
            Ok(out) => self.write_out(&out),
            Err(format::UnknownType(t)) => {
                self.flush_out();
                eprintln!("Unknown reply type: {t}");
                std::process::exit(1);
            }
        }
    }

    fn write_out(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        if out.write_all(bytes).and_then(|_| out.flush()).is_err() {
            // Reader went away (e.g. `| head`): redis-cli dies of SIGPIPE here.
            std::process::exit(1);
        }
    }

    fn flush_out(&mut self) {
        let _ = std::io::stdout().flush();
    }
}

/// redis-cli's prompt for a connected session: `host:port`, `[db]` unless 0, `(TX)` inside
/// MULTI; IPv6 addresses in brackets.
fn prompt_for(host: &str, port: u16, db: i64, in_multi: bool) -> String {
    let mut p = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    if db != 0 {
        p.push_str(&format!("[{db}]"));
    }
    if in_multi {
        p.push_str("(TX)");
    }
    p.push_str("> ");
    p
}

/// Commands whose replies redis-cli prints raw even on a terminal.
fn verbatim_command(cmd: &str, sub: &str, argc: usize) -> bool {
    match cmd {
        "info" | "lolwut" => true,
        "debug" => argc >= 2 && matches!(sub, "htstats" | "htstats-key" | "client-eviction"),
        "memory" => argc >= 2 && matches!(sub, "malloc-stats" | "doctor"),
        "cluster" => argc == 2 && matches!(sub, "nodes" | "info"),
        "client" => argc >= 2 && matches!(sub, "list" | "info"),
        "latency" => (argc == 3 && sub == "graph") || (argc == 2 && sub == "doctor"),
        "proxy" => argc >= 2 && sub == "info",
        _ => false,
    }
}

/// `MOVED 3999 127.0.0.1:6381` → (3999, "127.0.0.1", 6381).
fn parse_redirect(msg: &str) -> Option<(i64, String, u16)> {
    let mut parts = msg.split(' ');
    let _kind = parts.next()?;
    let slot = parts.next()?.parse().ok()?;
    let (host, port) = parts.next()?.rsplit_once(':')?;
    Some((slot, host.to_string(), port.parse().ok()?))
}

fn eq(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// C's `atoi`: leading digits, 0 if none.
fn atoi(s: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(s);
    let t = text.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n: i64 = digits
        .bytes()
        .take_while(|c| c.is_ascii_digit())
        .fold(0i64, |acc, c| {
            acc.wrapping_mul(10).wrapping_add(i64::from(c - b'0'))
        });
    if neg {
        -n
    } else {
        n
    }
}

/// hiredis-style error text: the OS message without Rust's " (os error N)" suffix.
fn errstr(e: &ClientError) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects() {
        assert_eq!(
            parse_redirect("MOVED 3999 127.0.0.1:6381"),
            Some((3999, "127.0.0.1".into(), 6381))
        );
        assert_eq!(parse_redirect("ASK 1 ::1:7000"), Some((1, "::1".into(), 7000)));
        assert_eq!(parse_redirect("MOVED x"), None);
    }

    #[test]
    fn prompts() {
        assert_eq!(prompt_for("127.0.0.1", 6379, 0, false), "127.0.0.1:6379> ");
        assert_eq!(prompt_for("127.0.0.1", 6379, 2, true), "127.0.0.1:6379[2](TX)> ");
        assert_eq!(prompt_for("::1", 7000, 0, false), "[::1]:7000> ");
    }

    #[test]
    fn c_atoi() {
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b" -3"), -3);
        assert_eq!(atoi(b"x"), 0);
    }
}
