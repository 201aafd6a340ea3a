//! `up` and `down`: a local cluster of slotkv-server processes laid out as in the tutorial,
//! one folder per node (`D/<port>/redis-<port>.conf`), daemonized, stopped through their
//! ports or pidfiles. `up` needs nothing but the two slotkv binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::node::{info_field, Link, NodeLine};
use super::{create, Ctx};

const DEFAULT_DIR: &str = "./slotkv-cluster";
const START_DEADLINE: Duration = Duration::from_secs(15);
const STATE_DEADLINE: Duration = Duration::from_secs(60);

/// `SLOTKV_SERVER_BIN`, else `slotkv-server` next to this executable, else on `PATH`.
fn server_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SLOTKV_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join("slotkv-server");
        if p.is_file() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("slotkv-server"))
        .find(|p| p.is_file())
}

fn base_dir(ctx: &Ctx) -> PathBuf {
    let d = PathBuf::from(ctx.cmd.dir.clone().unwrap_or_else(|| DEFAULT_DIR.into()));
    let abs = if d.is_absolute() {
        d
    } else {
        std::env::current_dir().map(|c| c.join(&d)).unwrap_or(d)
    };
    abs.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn ping(ctx: &Ctx, port: u16) -> bool {
    match Link::connect("127.0.0.1", port, &ctx.auth) {
        Ok(mut l) => {
            l.set_timeout(Some(Duration::from_secs(2)));
            l.text(&["PING"]).is_ok()
        }
        Err(_) => false,
    }
}

fn config_text(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "# slotkv-cli --cluster up: node {port}\n\
         port {port}\n\
         bind 127.0.0.1\n\
         dir {d}\n\
         cluster-enabled yes\n\
         cluster-config-file nodes-{port}.conf\n\
         cluster-node-timeout 5000\n\
         appendonly yes\n\
         daemonize yes\n\
         pidfile {d}/redis-{port}.pid\n\
         logfile {d}/redis-{port}.log\n"
    )
}

pub fn up(ctx: &Ctx) -> bool {
    let masters = ctx
        .cmd
        .args
        .first()
        .map(|a| crate::atoi(a.as_bytes()).max(0) as usize)
        .unwrap_or(3);
    let replicas = ctx.cmd.replicas.unwrap_or(1);
    let base = ctx.cmd.port.unwrap_or(7000);
    let total = masters * (1 + replicas);
    if masters < 3 {
        ctx.err("[ERR] A cluster needs at least 3 masters.");
        return false;
    }
    if u32::from(base) + total as u32 + 10000 > 65535 {
        ctx.err("[ERR] Ports out of range: the bus ports (port + 10000) must fit.");
        return false;
    }
    let Some(bin) = server_binary() else {
        ctx.err("[ERR] slotkv-server not found next to slotkv-cli, on PATH or in SLOTKV_SERVER_BIN.");
        return false;
    };
    let root = base_dir(ctx);
    let ports: Vec<u16> = (0..total).map(|i| base + i as u16).collect();
    if let Some(p) = ports.iter().find(|p| ping(ctx, **p)) {
        ctx.err(&format!(
            "[ERR] Something already answers on port {p}: run `slotkv-cli --cluster down` first, or pick another --port."
        ));
        return false;
    }
    // A folder left by an earlier `up` keeps its cluster: restart it as it was.
    let resume = ports
        .iter()
        .all(|p| root.join(p.to_string()).join(format!("nodes-{p}.conf")).is_file());
    ctx.info(&format!(
        ">>> Starting {total} slotkv-server nodes in {} ({})",
        root.display(),
        bin.display()
    ));
    if resume {
        ctx.info(">>> Every node has its nodes-<port>.conf: restarting the existing cluster");
    }
    for &p in &ports {
        let dir = root.join(p.to_string());
        if !resume {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Err(e) = std::fs::create_dir_all(&dir) {
            ctx.err(&format!("[ERR] Cannot create {}: {e}", dir.display()));
            return false;
        }
        let conf = format!("redis-{p}.conf");
        if let Err(e) = std::fs::write(dir.join(&conf), config_text(&dir, p)) {
            ctx.err(&format!("[ERR] Cannot write {conf}: {e}"));
            return false;
        }
        let status = Command::new(&bin)
            .arg(format!("./{conf}"))
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                ctx.err(&format!(
                    "[ERR] slotkv-server for port {p} exited with {s}; see {}",
                    dir.join(format!("redis-{p}.log")).display()
                ));
                return false;
            }
            Err(e) => {
                ctx.err(&format!("[ERR] Cannot run {}: {e}", bin.display()));
                return false;
            }
        }
    }
    for &p in &ports {
        let deadline = Instant::now() + START_DEADLINE;
        while !ping(ctx, p) {
            if Instant::now() >= deadline {
                ctx.err(&format!(
                    "[ERR] Node 127.0.0.1:{p} did not answer PING within {}s; see {}",
                    START_DEADLINE.as_secs(),
                    root.join(p.to_string()).join(format!("redis-{p}.log")).display()
                ));
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !resume {
        let mut cmd = ctx.cmd.clone();
        cmd.yes = true;
        cmd.replicas = Some(replicas);
        let cctx = Ctx::new(cmd, ctx.auth.clone());
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let Some(nodes) = create::connect_all(&cctx, &addrs) else {
            return false;
        };
        if !create::create_with(&cctx, nodes) {
            return false;
        }
    }
    ctx.info(">>> Waiting for cluster_state:ok on every node");
    let deadline = Instant::now() + STATE_DEADLINE;
    for &p in &ports {
        loop {
            let ok = Link::connect("127.0.0.1", p, &ctx.auth)
                .ok()
                .and_then(|mut l| l.text(&["CLUSTER", "INFO"]).ok())
                .and_then(|i| info_field(&i, "cluster_state"))
                .is_some_and(|s| s == "ok");
            if ok {
                break;
            }
            if Instant::now() >= deadline {
                ctx.err(&format!(
                    "[ERR] Node 127.0.0.1:{p} did not reach cluster_state:ok within {}s",
                    STATE_DEADLINE.as_secs()
                ));
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    print_topology(ctx, &ports);
    ctx.ok(&format!(
        "[OK] Cluster up: {total} nodes on 127.0.0.1:{}-{}. Stop it with: slotkv-cli --cluster down{}",
        ports[0],
        ports[ports.len() - 1],
        ctx.cmd
            .dir
            .as_ref()
            .map(|d| format!(" --dir {d}"))
            .unwrap_or_default()
    ));
    true
}

/// One line per node, by port: address, id, role, and slots or master, each from the
/// node's own view (gossip may not have told the first node about every replica yet).
fn print_topology(ctx: &Ctx, ports: &[u16]) {
    let mut lines: Vec<NodeLine> = ports
        .iter()
        .filter_map(|p| {
            let text = Link::connect("127.0.0.1", *p, &ctx.auth)
                .and_then(|mut l| l.text(&["CLUSTER", "NODES"]))
                .ok()?;
            text.lines().filter_map(NodeLine::parse).find(|l| l.myself)
        })
        .collect();
    lines.sort_by_key(|l| l.port);
    let addr_of = |id: &str| {
        lines
            .iter()
            .find(|l| l.name == id)
            .map(|l| format!("{}:{}", l.ip, l.port))
            .unwrap_or_else(|| id.to_string())
    };
    for l in &lines {
        let addr = format!("{}:{}", l.ip, l.port);
        match &l.master {
            Some(m) => outln!("{addr}  {}  replica of {}", l.name, addr_of(m)),
            None => {
                let mut bits = vec![false; super::node::SLOTS];
                for s in &l.slots {
                    bits[*s as usize] = true;
                }
                let ranges: Vec<String> = super::node::slot_ranges(&bits)
                    .iter()
                    .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
                    .collect();
                outln!("{addr}  {}  master  slots {}", l.name, ranges.join(","));
            }
        }
    }
}

pub fn down(ctx: &Ctx) -> bool {
    let root = base_dir(ctx);
    let Ok(entries) = std::fs::read_dir(&root) else {
        outln!("No cluster in {}", root.display());
        return true;
    };
    let mut ports: Vec<u16> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|p: &u16| root.join(p.to_string()).join(format!("redis-{p}.conf")).is_file())
        .collect();
    ports.sort_unstable();
    let mut ok = true;
    for p in ports {
        let dir = root.join(p.to_string());
        let pidfile = dir.join(format!("redis-{p}.pid"));
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let mut stopped = false;
        if let Ok(mut l) = Link::connect("127.0.0.1", p, &ctx.auth) {
            l.set_timeout(Some(Duration::from_secs(5)));
            // SHUTDOWN closes the connection without a reply when it works.
            let _ = l.cmd(&["SHUTDOWN", "NOSAVE"]);
            stopped = true;
        } else if let Some(pid) = pid.filter(|p| *p > 0 && alive(*p)) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            stopped = true;
        }
        if !stopped {
            outln!("127.0.0.1:{p} is not running");
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while ping(ctx, p) || pid.is_some_and(alive) {
            if Instant::now() >= deadline {
                if let Some(pid) = pid {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if ping(ctx, p) {
            ctx.err(&format!("[ERR] 127.0.0.1:{p} did not stop"));
            ok = false;
        } else {
            let _ = std::fs::remove_file(&pidfile);
            outln!("Stopped 127.0.0.1:{p}");
        }
    }
    ok
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}
