//! The cluster manager's view of one node: a blocking RESP link, and what `CLUSTER NODES`
//! says about the node (slots, role, open slots). Owns no policy: the subcommands decide
//! what to ask and what to print.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use slotkv_protocol::{encode_command, parse_frame, Frame};

use super::Auth;

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// One blocking RESP2 connection.
pub struct Link {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Link {
    /// Connects and authenticates; see [`Link::connect_checked`] for which step failed.
    pub fn connect(host: &str, port: u16, auth: &Auth) -> Result<Link, String> {
        Self::connect_checked(host, port, auth).map_err(|e| match e {
            ConnectError::Io(m) | ConnectError::Auth(m) => m,
        })
    }

    /// Connects and authenticates.
    pub fn connect_checked(host: &str, port: u16, auth: &Auth) -> Result<Link, ConnectError> {
        Self::connect_within(host, port, auth, None)
    }

    /// Connects and authenticates; with a `timeout`, connecting and every later read and
    /// write are bounded by it.
    pub fn connect_within(
        host: &str,
        port: u16,
        auth: &Auth,
        timeout: Option<Duration>,
    ) -> Result<Link, ConnectError> {
        let stream = match timeout {
            None => TcpStream::connect((host, port)),
            Some(t) => connect_timeout(host, port, t),
        }
        .map_err(|e| ConnectError::Io(io_text(&e)))?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(timeout);
        let _ = stream.set_write_timeout(timeout);
        let mut link = Link {
            stream,
            buf: Vec::new(),
        };
        if let Some(pass) = &auth.password {
            let mut args = vec!["AUTH".to_string()];
            args.extend(auth.user.clone());
            args.push(pass.clone());
            match link.cmd(&args) {
                Ok(Frame::Error(e)) => return Err(ConnectError::Auth(e)),
                Ok(_) => {}
                Err(e) => return Err(ConnectError::Io(io_text(&e))),
            }
        }
        Ok(link)
    }

    /// Bounds every read and write (for MIGRATE-sized waits the caller raises it).
    pub fn set_timeout(&self, t: Option<Duration>) {
        let _ = self.stream.set_read_timeout(t);
        let _ = self.stream.set_write_timeout(t);
    }

    /// Sends one command and reads its reply (error replies are `Ok(Frame::Error)`).
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Frame> {
        self.send(args)?;
        self.read_frame()
    }

    /// Sends one command without waiting for its reply; [`Link::recv`] reads it later, so
    /// that one command can be in flight on several links at once.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        self.stream.write_all(&out)
    }

    /// Reads the reply to the oldest command sent with [`Link::send`] (error replies are
    /// `Ok(Frame::Error)`, as with [`Link::cmd`]).
    pub fn recv(&mut self) -> io::Result<Frame> {
        self.read_frame()
    }

    fn read_frame(&mut self) -> io::Result<Frame> {
        loop {
            match parse_frame(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends all `commands` and reads their replies, a batch at a time (so neither side's
    /// socket buffer fills up while the other waits).
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, commands: &[Vec<A>]) -> io::Result<Vec<Frame>> {
        const BATCH: usize = 512;
        let mut replies = Vec::with_capacity(commands.len());
        for batch in commands.chunks(BATCH) {
            let mut out = Vec::new();
            for c in batch {
                encode_command(&mut out, c);
            }
            self.stream.write_all(&out)?;
            for _ in batch {
                replies.push(self.read_frame()?);
            }
        }
        Ok(replies)
    }

    /// The socket and the bytes already read from it but not parsed (for protocols that
    /// leave RESP, like the payload after `SYNC`).
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.buf)
    }

    /// Runs a command whose reply is text (bulk or status); error replies become `Err`.
    pub fn text<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<String, String> {
        match self.cmd(args) {
            Ok(Frame::Error(e)) => Err(e),
            Ok(f) => Ok(frame_text(&f)),
            Err(e) => Err(io_text(&e)),
        }
    }

    /// Runs a command that must not fail; the error text is the server's.
    pub fn ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, String> {
        match self.cmd(args) {
            Ok(Frame::Error(e)) => Err(e),
            Ok(f) => Ok(f),
            Err(e) => Err(io_text(&e)),
        }
    }
}

fn connect_timeout(host: &str, port: u16, t: Duration) -> io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "Name or service not known");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, t) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Why [`Link::connect_checked`] failed.
#[derive(Debug)]
pub enum ConnectError {
    /// Connecting failed (redis-cli: "Could not connect to Redis at ...").
    Io(String),
    /// AUTH got an error reply (redis-cli: "Node ... replied with error: ...").
    Auth(String),
}

/// `strerror`-like text for connection failures, as redis-cli prints them.
pub fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "Connection timed out".into(),
        io::ErrorKind::UnexpectedEof => "Server closed the connection".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// The text of a bulk/status reply (empty for anything else but numbers).
pub fn frame_text(f: &Frame) -> String {
    match f {
        Frame::Simple(s) | Frame::Error(s) | Frame::BigNumber(s) => s.clone(),
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Integer(i) => i.to_string(),
        _ => String::new(),
    }
}

/// A `field:value` from an INFO-style reply.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim_end().to_string())
    })
}

/// A cluster node as the manager sees it.
pub struct Node {
    pub ip: String,
    pub port: u16,
    pub bus_port: Option<u16>,
    pub name: String,
    /// CLUSTER NODES flags, `myself` removed.
    pub flags: Vec<String>,
    /// The master's id, for a replica.
    pub replicate: Option<String>,
    pub slots: Vec<bool>,
    pub slots_count: usize,
    pub migrating: BTreeMap<u16, String>,
    pub importing: BTreeMap<u16, String>,
    pub replicas_count: usize,
    /// The config epoch CLUSTER NODES reports (redis-cli calls it `current_epoch`).
    pub config_epoch: u64,
    /// Changed in memory and not yet sent to the node (create's plan).
    pub dirty: bool,
    pub link: Option<Link>,
}

impl Node {
    pub fn new(ip: &str, port: u16) -> Node {
        Node {
            ip: ip.to_string(),
            port,
            bus_port: None,
            name: String::new(),
            flags: Vec::new(),
            replicate: None,
            slots: vec![false; SLOTS],
            slots_count: 0,
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            replicas_count: 0,
            config_epoch: 0,
            dirty: false,
            link: None,
        }
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn is_master(&self) -> bool {
        !self.flags.iter().any(|f| f == "slave")
    }

    pub fn connect(&mut self, auth: &Auth) -> Result<(), String> {
        if self.link.is_none() {
            self.link = Some(Link::connect(&self.ip, self.port, auth)?);
        }
        Ok(())
    }

    pub fn link(&mut self) -> &mut Link {
        self.link.as_mut().expect("node connected before use")
    }

    /// Fills this node from its own `myself` line of CLUSTER NODES; returns the other lines.
    pub fn load_self(&mut self) -> Result<Vec<NodeLine>, String> {
        let text = self.link().text(&["CLUSTER", "NODES"])?;
        let mut others = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some(parsed) = NodeLine::parse(line) else {
                continue;
            };
            if parsed.myself {
                self.name = parsed.name.clone();
                self.flags = parsed.flags.clone();
                self.replicate = parsed.master.clone();
                self.bus_port = parsed.bus_port;
                self.config_epoch = parsed.config_epoch;
                self.set_slots(&parsed.slots);
                self.migrating = parsed.migrating.clone();
                self.importing = parsed.importing.clone();
            } else {
                others.push(parsed);
            }
        }
        Ok(others)
    }

    pub fn set_slots(&mut self, slots: &[u16]) {
        self.slots = vec![false; SLOTS];
        for &s in slots {
            self.slots[s as usize] = true;
        }
        self.slots_count = slots.len();
    }

    pub fn add_slots(&mut self, first: usize, last: usize) {
        for s in first..=last {
            if !self.slots[s] {
                self.slots[s] = true;
                self.slots_count += 1;
            }
        }
    }

    /// The node's slots as ranges.
    pub fn ranges(&self) -> Vec<(usize, usize)> {
        slot_ranges(&self.slots)
    }

    /// redis-cli's `[0-5460],[5462]` form.
    pub fn slots_string(&self) -> String {
        self.ranges()
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    format!("[{a}]")
                } else {
                    format!("[{a}-{b}]")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `M:`/`S:` block printed by create, check, reshard.
    pub fn info(&self, indent: usize) -> String {
        let sp = " ".repeat(indent);
        let mut out;
        if self.dirty && self.replicate.is_some() {
            out = format!("{sp}S: {} {}", self.name, self.addr());
        } else {
            let role = if self.is_master() { "M" } else { "S" };
            out = format!(
                "{sp}{role}: {} {}\n{sp}   slots:{} ({} slots) {}",
                self.name,
                self.addr(),
                self.slots_string(),
                self.slots_count,
                self.flags.join(",")
            );
        }
        if let Some(m) = &self.replicate {
            out.push_str(&format!("\n{sp}   replicates {m}"));
        } else if self.replicas_count > 0 {
            out.push_str(&format!("\n{sp}   {} additional replica(s)", self.replicas_count));
        }
        out
    }
}

/// Contiguous runs of set slots.
pub fn slot_ranges(slots: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &set) in slots.iter().enumerate() {
        match (set, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, slots.len() - 1));
    }
    out
}

/// One parsed line of CLUSTER NODES.
#[derive(Debug, Clone)]
pub struct NodeLine {
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub bus_port: Option<u16>,
    pub myself: bool,
    /// Flags without `myself`.
    pub flags: Vec<String>,
    pub master: Option<String>,
    /// The node's config epoch.
    pub config_epoch: u64,
    /// `connected` or `disconnected`, as the reporting node sees its link.
    pub link_state: String,
    pub slots: Vec<u16>,
    pub migrating: BTreeMap<u16, String>,
    pub importing: BTreeMap<u16, String>,
}

impl NodeLine {
    pub fn parse(line: &str) -> Option<NodeLine> {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            return None;
        }
        let addr = f[1].split(',').next().unwrap_or("");
        let (hostport, bus) = match addr.split_once('@') {
            Some((a, b)) => (a, b.parse().ok()),
            None => (addr, None),
        };
        let (ip, port) = hostport.rsplit_once(':')?;
        let port = port.parse().ok()?;
        let all_flags: Vec<&str> = f[2].split(',').collect();
        let myself = all_flags.contains(&"myself");
        let flags = all_flags
            .iter()
            .filter(|x| **x != "myself")
            .map(|x| x.to_string())
            .collect();
        let master = (f[3] != "-").then(|| f[3].to_string());
        let mut slots = Vec::new();
        let mut migrating = BTreeMap::new();
        let mut importing = BTreeMap::new();
        for s in &f[8..] {
            if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                if let Some((slot, to)) = inner.split_once("->-") {
                    if let Ok(slot) = slot.parse() {
                        migrating.insert(slot, to.to_string());
                    }
                } else if let Some((slot, from)) = inner.split_once("-<-") {
                    if let Ok(slot) = slot.parse() {
                        importing.insert(slot, from.to_string());
                    }
                }
                continue;
            }
            let (a, b) = match s.split_once('-') {
                Some((a, b)) => (a.parse::<u16>().ok(), b.parse::<u16>().ok()),
                None => (s.parse().ok(), s.parse().ok()),
            };
            if let (Some(a), Some(b)) = (a, b) {
                if a <= b && (b as usize) < SLOTS {
                    slots.extend(a..=b);
                }
            }
        }
        Some(NodeLine {
            name: f[0].to_string(),
            ip: ip.to_string(),
            port,
            bus_port: bus,
            myself,
            flags,
            master,
            config_epoch: f[6].parse().unwrap_or(0),
            link_state: f[7].to_string(),
            slots,
            migrating,
            importing,
        })
    }
}

/// What every node must agree on: who owns which slots, as one sortable string.
pub fn config_signature(link: &mut Link) -> Option<String> {
    let text = link.text(&["CLUSTER", "NODES"]).ok()?;
    let mut parts: Vec<String> = text
        .lines()
        .filter_map(NodeLine::parse)
        .filter(|n| !n.slots.is_empty())
        .map(|n| {
            let mut bits = vec![false; SLOTS];
            for s in &n.slots {
                bits[*s as usize] = true;
            }
            let r: Vec<String> = slot_ranges(&bits)
                .iter()
                .map(|(a, b)| format!("{a}-{b}"))
                .collect();
            format!("{}:{}", n.name, r.join(","))
        })
        .collect();
    parts.sort();
    Some(parts.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_cluster_nodes_line_with_open_slots() {
        let l = NodeLine::parse(
            "abc 127.0.0.1:7000@17000,host myself,master - 0 0 1 connected 0-2 5 [6->-def] [7-<-ghi]",
        )
        .unwrap();
        assert!(l.myself);
        assert_eq!(l.flags, vec!["master"]);
        assert_eq!(
            (l.ip.as_str(), l.port, l.bus_port),
            ("127.0.0.1", 7000, Some(17000))
        );
        assert_eq!(l.slots, vec![0, 1, 2, 5]);
        assert_eq!(l.migrating.get(&6).map(String::as_str), Some("def"));
        assert_eq!(l.importing.get(&7).map(String::as_str), Some("ghi"));
        let r = NodeLine::parse("x 127.0.0.1:7003@17003 slave abc 0 0 1 connected").unwrap();
        assert_eq!(r.master.as_deref(), Some("abc"));
        assert!(NodeLine::parse("garbage").is_none());
    }

    #[test]
    fn slots_string_as_redis_cli() {
        let mut n = Node::new("h", 1);
        n.add_slots(0, 5460);
        n.add_slots(6000, 6000);
        assert_eq!(n.slots_string(), "[0-5460],[6000]");
        assert_eq!(n.slots_count, 5462);
        assert_eq!(slot_ranges(&[true; 4]), vec![(0, 3)]);
    }
}
