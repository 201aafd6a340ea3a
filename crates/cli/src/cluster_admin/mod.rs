//! `slotkv-cli --cluster <subcommand>`: redis-cli's cluster manager (create, check, info,
//! fix, reshard, rebalance, add-node, del-node, call, set-timeout, import, backup), plus
//! slotkv's own `up`/`down`, which start and stop a local cluster of slotkv-server
//! processes, and `watch`, a live view of the cluster.
//!
//! Argument handling follows redis-cli: `--cluster <cmd>` is followed by the subcommand's
//! positional arguments (up to the next `-` argument); the `--cluster-*` options may appear
//! anywhere. Everything prints to stdout in redis-cli's words, coloured only when `TERM`
//! names an xterm, as redis-cli does. This module talks to nodes only through
//! [`node::Link`]; it never touches the interactive [`crate::Session`].

/// `print!` that ends the process quietly when stdout is closed (`| head`), as SIGPIPE
/// ends redis-cli.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::cluster_admin::write_out(format_args!($($t)*))
    };
}

/// `println!` with [`out!`]'s handling of a closed stdout.
macro_rules! outln {
    () => {
        $crate::cluster_admin::write_out(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::cluster_admin::write_out(format_args!("{}\n", format_args!($($t)*)))
    };
}

mod backup;
mod check;
mod create;
mod import;
mod local;
pub mod node;
mod ops;
mod reshard;
mod watch;

use std::ffi::OsString;

use node::{Link, Node, NodeLine};

/// Writes to stdout and flushes; exits when the reader has gone away.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out.write_fmt(args).and_then(|_| out.flush()).is_err() {
        std::process::exit(1);
    }
}

/// redis-cli's message for a node address it cannot parse.
pub const INVALID_HOST_ARG: &str = "[ERR] Invalid arguments: you need to pass either a valid address (ie. 120.0.0.1:7000) or space separated IP and port (ie. 120.0.0.1 7000)\n";

/// Credentials used on every node connection (`-a`, `--user`, `REDISCLI_AUTH`).
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
}

/// A parsed `--cluster` invocation.
#[derive(Debug, Clone, Default)]
pub struct ClusterCommand {
    pub name: String,
    pub args: Vec<String>,
    pub replicas: Option<usize>,
    pub yes: bool,
    pub from: Option<String>,
    pub to: Option<String>,
    pub slots: Option<usize>,
    pub timeout: Option<u64>,
    pub pipeline: Option<usize>,
    pub weights: Vec<String>,
    pub use_empty_masters: bool,
    pub threshold: Option<f64>,
    pub replace: bool,
    pub simulate: bool,
    pub slave: bool,
    pub master_id: Option<String>,
    pub only_masters: bool,
    pub only_replicas: bool,
    pub fix_with_unreachable_masters: bool,
    pub search_multiple_owners: bool,
    /// `import`: keep the keys on the source (MIGRATE ... COPY).
    pub copy: bool,
    /// `import`: credentials for the source server.
    pub from_user: Option<String>,
    pub from_pass: Option<String>,
    pub from_askpass: bool,
    /// `watch`: seconds between refreshes, and how many refreshes before exiting.
    pub interval: Option<f64>,
    pub iterations: Option<u64>,
    /// `up`: base port and directory.
    pub port: Option<u16>,
    pub dir: Option<String>,
}

/// Options that take one value.
const VALUE_OPTS: &[&str] = &[
    "--cluster-replicas",
    "--cluster-from",
    "--cluster-to",
    "--cluster-slots",
    "--cluster-timeout",
    "--cluster-pipeline",
    "--cluster-threshold",
    "--cluster-master-id",
    "--cluster-from-user",
    "--cluster-from-pass",
    "--cluster-interval",
    "--cluster-iterations",
];

/// Takes `--cluster` and its options out of a command line; the rest goes to the ordinary
/// option parser. `Some(Err)` is a usage error to print before exiting with status 1.
pub fn extract(args: Vec<OsString>) -> (Vec<OsString>, Option<Result<ClusterCommand, String>>) {
    let Some(at) = args.iter().position(|a| a == "--cluster") else {
        return (args, None);
    };
    let strs: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    if at + 1 >= strs.len() {
        return (args, None);
    }
    let mut cmd = ClusterCommand {
        name: strs[at + 1].clone(),
        ..Default::default()
    };
    let up = matches!(cmd.name.as_str(), "up" | "down");
    let watch = cmd.name == "watch";
    let mut rest: Vec<OsString> = args[..at].to_vec();
    let mut i = at + 2;
    while i < strs.len() && !strs[i].starts_with('-') {
        cmd.args.push(strs[i].clone());
        i += 1;
    }
    let mut err = None;
    while i < strs.len() {
        let a = strs[i].as_str();
        let value = strs.get(i + 1).cloned();
        let takes = VALUE_OPTS.contains(&a)
            || (up && matches!(a, "--replicas" | "--port" | "--dir"))
            || (watch && a == "--interval");
        if takes {
            let Some(v) = value else {
                err = Some(format!("Unrecognized option or bad number of args for: '{a}'"));
                break;
            };
            match a {
                "--cluster-replicas" | "--replicas" => cmd.replicas = Some(atoi(&v).max(0) as usize),
                "--cluster-from" => cmd.from = Some(v),
                "--cluster-to" => cmd.to = Some(v),
                "--cluster-slots" => cmd.slots = Some(atoi(&v).max(0) as usize),
                "--cluster-timeout" => cmd.timeout = Some(atoi(&v).max(0) as u64),
                "--cluster-pipeline" => cmd.pipeline = Some(atoi(&v).max(0) as usize),
                "--cluster-threshold" => cmd.threshold = v.parse().ok(),
                "--cluster-master-id" => cmd.master_id = Some(v),
                "--cluster-from-user" => cmd.from_user = Some(v),
                "--cluster-from-pass" => cmd.from_pass = Some(v),
                "--cluster-interval" | "--interval" => cmd.interval = v.parse().ok(),
                "--cluster-iterations" => cmd.iterations = v.parse().ok(),
                "--port" => cmd.port = v.parse().ok(),
                "--dir" => cmd.dir = Some(v),
                _ => {}
            }
            i += 2;
            continue;
        }
        match a {
            "--cluster-yes" => cmd.yes = true,
            "--cluster-use-empty-masters" => cmd.use_empty_masters = true,
            "--cluster-replace" => cmd.replace = true,
            "--cluster-simulate" => cmd.simulate = true,
            "--cluster-slave" | "--cluster-replica" => cmd.slave = true,
            "--cluster-only-masters" => cmd.only_masters = true,
            "--cluster-only-replicas" => cmd.only_replicas = true,
            "--cluster-fix-with-unreachable-masters" => cmd.fix_with_unreachable_masters = true,
            "--cluster-search-multiple-owners" => cmd.search_multiple_owners = true,
            "--cluster-copy" => cmd.copy = true,
            "--cluster-from-askpass" => cmd.from_askpass = true,
            "--cluster-weight" => {
                i += 1;
                while i < strs.len() && !strs[i].starts_with("--") {
                    cmd.weights.push(strs[i].clone());
                    i += 1;
                }
                continue;
            }
            _ => {
                // Not ours: an ordinary option (and its value, if any) for the main parser.
                rest.push(args[i].clone());
                i += 1;
                while i < strs.len() && !strs[i].starts_with('-') {
                    rest.push(args[i].clone());
                    i += 1;
                }
                continue;
            }
        }
        i += 1;
    }
    (rest, Some(err.map_or(Ok(cmd), Err)))
}

fn atoi(s: &str) -> i64 {
    crate::atoi(s.as_bytes())
}

/// How a line is coloured.
#[derive(Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Err,
    Ok,
}

/// Shared state of one `--cluster` run.
pub struct Ctx {
    pub cmd: ClusterCommand,
    pub auth: Auth,
    color: bool,
}

impl Ctx {
    pub fn new(cmd: ClusterCommand, auth: Auth) -> Ctx {
        let color = std::env::var("TERM").is_ok_and(|t| t.contains("xterm"));
        Ctx { cmd, auth, color }
    }

    /// Prints `msg` (which carries its own newline) in the level's colour.
    pub fn log(&self, level: Level, msg: &str) {
        let code = match level {
            Level::Info => "29;1",
            Level::Warn => "33;1",
            Level::Err => "31;1",
            Level::Ok => "32;1",
        };
        if self.color {
            write_out(format_args!("\x1b[{code}m{msg}\x1b[0m"));
        } else {
            write_out(format_args!("{msg}"));
        }
    }

    pub fn info(&self, msg: &str) {
        self.log(Level::Info, &format!("{msg}\n"));
    }
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, &format!("{msg}\n"));
    }
    pub fn err(&self, msg: &str) {
        self.log(Level::Err, &format!("{msg}\n"));
    }
    pub fn ok(&self, msg: &str) {
        self.log(Level::Ok, &format!("{msg}\n"));
    }

    /// Connects to a node given on the command line, printing redis-cli's error.
    pub fn connect_node(&self, ip: &str, port: u16) -> Option<Node> {
        let mut n = Node::new(ip, port);
        match Link::connect_checked(ip, port, &self.auth) {
            Ok(l) => {
                n.link = Some(l);
                Some(n)
            }
            Err(node::ConnectError::Io(e)) => {
                eprintln!("Could not connect to Redis at {ip}:{port}: {e}");
                None
            }
            Err(node::ConnectError::Auth(e)) => {
                self.err(&format!("Node {ip}:{port} replied with error:\n{e}"));
                None
            }
        }
    }

    /// Asks the user unless `--cluster-yes`.
    pub fn confirm(&self, question: &str) -> bool {
        use std::io::Write;
        if self.cmd.yes {
            return true;
        }
        out!("{question} (type 'yes' to accept): ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() {
            return false;
        }
        line.trim_end_matches(['\r', '\n']) == "yes"
    }
}

/// Splits `host:port` (the last colon separates, so IPv6 works) or `host port`.
pub fn parse_addr(args: &[String]) -> Option<(String, u16, usize)> {
    let first = args.first()?;
    if let Some((h, p)) = first.rsplit_once(':') {
        return Some((h.to_string(), p.parse().ok()?, 1));
    }
    let port = args.get(1)?.parse().ok()?;
    Some((first.clone(), port, 2))
}

/// The cluster as seen from one entry node, entry first, then the others in its
/// CLUSTER NODES order.
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Passed on to MIGRATE.
    pub auth: Auth,
}

impl Cluster {
    /// Loads the cluster through `ip:port`. Nodes flagged `fail`/`noaddr`, and nodes that
    /// cannot be reached, are left out (with redis-cli's message for the latter).
    pub fn load(ctx: &Ctx, ip: &str, port: u16) -> Option<Cluster> {
        let mut entry = ctx.connect_node(ip, port)?;
        let others = match entry.load_self() {
            Ok(o) => o,
            Err(e) => {
                ctx.err(&format!("[ERR] Node {ip}:{port} {e}"));
                return None;
            }
        };
        if !entry.flags.is_empty() && entry.name.is_empty() {
            return None;
        }
        let mut nodes = vec![entry];
        for line in others {
            if line
                .flags
                .iter()
                .any(|f| f == "noaddr" || f == "fail" || f == "handshake")
            {
                continue;
            }
            let mut n = Node::new(&line.ip, line.port);
            if let Err(e) = n.connect(&ctx.auth) {
                ctx.err(&format!("[ERR] Node {}:{}: {e}", line.ip, line.port));
                continue;
            }
            if n.load_self().is_err() {
                apply_line(&mut n, &line);
            }
            nodes.push(n);
        }
        let mut c = Cluster {
            nodes,
            auth: ctx.auth.clone(),
        };
        c.count_replicas();
        Some(c)
    }

    pub fn count_replicas(&mut self) {
        let masters: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for (i, name) in masters.iter().enumerate() {
            let count = self
                .nodes
                .iter()
                .filter(|n| n.replicate.as_deref() == Some(name.as_str()))
                .count();
            self.nodes[i].replicas_count = count;
        }
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Nodes whose id starts with `prefix` (a full id is the usual case).
    pub fn find_prefix(&self, prefix: &str) -> Option<usize> {
        let lower = prefix.to_ascii_lowercase();
        self.find(&lower)
            .or_else(|| self.nodes.iter().position(|n| n.name.starts_with(&lower)))
    }

    pub fn masters(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.is_master())
    }

    /// Whether every node reports the same slot ownership.
    pub fn is_config_consistent(&mut self) -> bool {
        let mut first: Option<String> = None;
        for n in &mut self.nodes {
            let Some(link) = n.link.as_mut() else {
                continue;
            };
            let Some(sig) = node::config_signature(link) else {
                return false;
            };
            match &first {
                None => first = Some(sig),
                Some(f) if *f != sig => return false,
                _ => {}
            }
        }
        true
    }
}

fn apply_line(n: &mut Node, line: &NodeLine) {
    n.name = line.name.clone();
    n.flags = line.flags.clone();
    n.replicate = line.master.clone();
    n.bus_port = line.bus_port;
    n.config_epoch = line.config_epoch;
    n.set_slots(&line.slots);
}

/// Runs a `--cluster` command; returns the exit code.
pub fn run(cmd: ClusterCommand, auth: Auth) -> i32 {
    let ctx = Ctx::new(cmd, auth);
    let name = ctx.cmd.name.to_ascii_lowercase();
    let argc = ctx.cmd.args.len();
    let arity: (usize, Option<usize>) = match name.as_str() {
        "create" => (2, None),
        "check" | "info" | "fix" | "reshard" | "rebalance" => (1, Some(2)),
        "add-node" => (2, Some(2)),
        "del-node" => (2, Some(2)),
        "call" => (2, None),
        "set-timeout" => (2, Some(2)),
        "import" => (1, Some(1)),
        "backup" => (2, Some(2)),
        "watch" => (1, Some(2)),
        "up" => (0, Some(1)),
        "down" => (0, Some(0)),
        "help" => (0, None),
        _ => {
            eprintln!("Unknown --cluster subcommand");
            return 1;
        }
    };
    if argc < arity.0 || arity.1.is_some_and(|max| argc > max) {
        eprintln!("[ERR] Wrong number of arguments for specified --cluster sub command");
        return 1;
    }
    let ok = match name.as_str() {
        "create" => create::create(&ctx),
        "check" => check::check_cmd(&ctx),
        "info" => check::info_cmd(&ctx),
        "fix" => check::fix_cmd(&ctx),
        "reshard" => reshard::reshard_cmd(&ctx),
        "rebalance" => reshard::rebalance_cmd(&ctx),
        "add-node" => ops::add_node(&ctx),
        "del-node" => ops::del_node(&ctx),
        "call" => ops::call(&ctx),
        "set-timeout" => ops::set_timeout(&ctx),
        "import" => import::import(&ctx),
        "backup" => backup::backup(&ctx),
        "watch" => watch::watch(&ctx),
        "up" => local::up(&ctx),
        "down" => local::down(&ctx),
        _ => {
            // redis-cli exits with status 1 after its help, too.
            out!("{}", HELP);
            false
        }
    };
    if ok {
        0
    } else {
        1
    }
}

/// Waits for every node to agree on the slots, printing a dot per second as redis-cli does.
pub fn wait_for_join(ctx: &Ctx, cluster: &mut Cluster) {
    use std::io::Write;
    let _ = ctx;
    outln!("Waiting for the cluster to join");
    let start = std::time::Instant::now();
    let mut dots = 0u64;
    loop {
        if cluster.is_config_consistent() {
            break;
        }
        let due = start.elapsed().as_secs() + 1;
        while dots < due {
            out!(".");
            dots += 1;
        }
        let _ = std::io::stdout().flush();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    outln!();
}

/// A progress bar with ETA on stderr, drawn only when stderr is a terminal (stdout stays
/// byte-identical to redis-cli's). `unit` names what is counted ("slots", "keys").
pub fn progress(len: u64, unit: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        let template = format!("{{bar:40}} {{pos}}/{{len}} {unit}, {{elapsed}} elapsed, ETA {{eta}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
    }
    bar
}

/// Reconnects to one node by address (used after a plan changes roles).
pub fn link_to(ctx: &Ctx, ip: &str, port: u16) -> Result<Link, String> {
    Link::connect(ip, port, &ctx.auth)
}

const HELP: &str = "Cluster Manager Commands:
  create         host1:port1 ... hostN:portN
                 --cluster-replicas <arg>
  check          <host:port> or <host> <port> - separated by either colon or space
                 --cluster-search-multiple-owners
  info           <host:port> or <host> <port> - separated by either colon or space
  fix            <host:port> or <host> <port> - separated by either colon or space
                 --cluster-search-multiple-owners
                 --cluster-fix-with-unreachable-masters
  reshard        <host:port> or <host> <port> - separated by either colon or space
                 --cluster-from <arg>
                 --cluster-to <arg>
                 --cluster-slots <arg>
                 --cluster-yes
                 --cluster-timeout <arg>
                 --cluster-pipeline <arg>
                 --cluster-replace
  rebalance      <host:port> or <host> <port> - separated by either colon or space
                 --cluster-weight <node1=w1...nodeN=wN>
                 --cluster-use-empty-masters
                 --cluster-timeout <arg>
                 --cluster-simulate
                 --cluster-pipeline <arg>
                 --cluster-threshold <arg>
                 --cluster-replace
  add-node       new_host:new_port existing_host:existing_port
                 --cluster-slave
                 --cluster-master-id <arg>
  del-node       host:port node_id
  call           host:port command arg arg .. arg
                 --cluster-only-masters
                 --cluster-only-replicas
  set-timeout    host:port milliseconds
  import         host:port
                 --cluster-from <arg>
                 --cluster-from-user <arg>
                 --cluster-from-pass <arg>
                 --cluster-from-askpass
                 --cluster-copy
                 --cluster-replace
  backup         host:port backup_directory
  watch          host:port (slotkv: a live view of the nodes, refreshed every second)
                 --interval <arg> (seconds between refreshes, default 1)
                 --cluster-iterations <arg> (exit after this many refreshes)
  up             [masters, default 3] (slotkv: start a local cluster of slotkv-server)
                 --replicas <arg> (default 1)
                 --port <arg> (first port, default 7000)
                 --dir <arg> (default ./slotkv-cluster)
  down           (slotkv: stop the local cluster started by up)
                 --dir <arg> (default ./slotkv-cluster)
  help           

For check, fix, reshard, del-node, set-timeout, info, rebalance, call, import, backup you can specify the host and port of any working node in the cluster.

Cluster Manager Options:
  --cluster-yes  Automatic yes to cluster commands prompts

";

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn extract_splits_cluster_arguments_like_redis_cli() {
        let (rest, cmd) = extract(os(&[
            "cli",
            "-a",
            "pw",
            "--cluster",
            "create",
            "h:1",
            "h:2",
            "--cluster-replicas",
            "1",
            "--cluster-yes",
            "--user",
            "u",
        ]));
        let cmd = cmd.unwrap().unwrap();
        assert_eq!(cmd.name, "create");
        assert_eq!(cmd.args, vec!["h:1", "h:2"]);
        assert_eq!(cmd.replicas, Some(1));
        assert!(cmd.yes);
        assert_eq!(rest, os(&["cli", "-a", "pw", "--user", "u"]));
        let (_, cmd) = extract(os(&[
            "cli",
            "--cluster",
            "up",
            "4",
            "--port",
            "8000",
            "--dir",
            "d",
        ]));
        let cmd = cmd.unwrap().unwrap();
        assert_eq!((cmd.port, cmd.dir.as_deref()), (Some(8000), Some("d")));
        assert_eq!(cmd.args, vec!["4"]);
        let (rest, cmd) = extract(os(&["cli", "get", "k"]));
        assert!(cmd.is_none());
        assert_eq!(rest.len(), 3);
        let (_, cmd) = extract(os(&["cli", "--cluster", "reshard", "h:1", "--cluster-from"]));
        assert!(cmd.unwrap().is_err());
    }

    #[test]
    fn addresses() {
        let a = |v: &[&str]| parse_addr(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(a(&["h:7000"]), Some(("h".into(), 7000, 1)));
        assert_eq!(a(&["h", "7000"]), Some(("h".into(), 7000, 2)));
        assert_eq!(a(&["::1:7000"]), Some(("::1".into(), 7000, 1)));
        assert_eq!(a(&["h:x"]), None);
    }
}
