//! Linux network namespaces for real network partitions between server processes.
//!
//! [`NetnsNetwork`] builds, for one test, a bridge in the root namespace holding a private
//! /24 (address .1) and one namespace per node, each joined to the bridge by a veth pair
//! and given its own address (.2, .3, ...). A server started under
//! [`NetnsNetwork::exec_prefix`] lives in its namespace and listens on its address; the
//! test, in the root namespace, reaches every node through the bridge. A partition is a
//! set of blackhole routes inside the namespaces, so it cuts every protocol between the
//! nodes (cluster bus, replication) but never the test's own connections to .1.
//!
//! Everything is driven with the `ip` program (iproute2) and removed again on drop, also
//! when the test panics; what a killed test process left behind is removed by the next
//! one. Needs root: [`NetnsNetwork::create`] says, with `ErrorKind::Unsupported`, when
//! namespaces cannot be used here, so that the caller can skip loudly.

use std::ffi::OsString;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::tools::{find_program, run_with_timeout};

/// Prefix of the namespace names; the test process's pid follows.
const NS_PREFIX: &str = "slotkv-";
/// Prefix of the interface names (15 characters at most in all): `skv<pid hex>-<n>b` for
/// the bridge, `skv<pid hex>-<n>h<i>` for the root end of node i's veth.
const LINK_PREFIX: &str = "skv";
/// The name of each node's interface inside its namespace.
const NS_LINK: &str = "eth0";
const IP_TIMEOUT: Duration = Duration::from_secs(10);
/// Networks created by this process so far: keeps names unique between tests.
static CREATED: AtomicU32 = AtomicU32::new(0);

struct Node {
    ns: String,
    host_link: String,
    ip: Ipv4Addr,
}

/// A bridge and one network namespace per node; see the module documentation.
pub struct NetnsNetwork {
    ip_cmd: PathBuf,
    bridge: String,
    nodes: Vec<Node>,
    /// Routes added by [`NetnsNetwork::isolate`]: (node whose namespace holds it, target).
    /// Behind a lock so that a test can hold closures that cut and heal at once.
    blackholes: Mutex<Vec<(usize, Ipv4Addr)>>,
}

impl NetnsNetwork {
    /// Creates a bridge and `count` namespaces (at most 100). An error of kind
    /// `Unsupported` means namespaces are not available here (not root, no `ip`), with the
    /// reason; any other error is a failure to set them up.
    pub fn create(count: usize) -> io::Result<NetnsNetwork> {
        assert!(count <= 100, "at most 100 namespaces");
        if !is_root() {
            return Err(io::Error::new(
                ErrorKind::Unsupported,
                "not running as root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN)",
            ));
        }
        let ip_cmd = ["/usr/sbin/ip", "/sbin/ip"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| find_program("ip"))
            .ok_or_else(|| {
                io::Error::new(
                    ErrorKind::Unsupported,
                    "the `ip` program (iproute2) is not installed",
                )
            })?;
        remove_leftovers(&ip_cmd);
        let pid = std::process::id();
        let n = CREATED.fetch_add(1, Ordering::Relaxed) % 256;
        let subnet = free_subnet(&ip_cmd, pid, n)?;
        let tag = format!("{LINK_PREFIX}{pid:x}-{n:x}");
        let mut net = NetnsNetwork {
            bridge: format!("{tag}b"),
            nodes: (0..count)
                .map(|i| Node {
                    ns: format!("{NS_PREFIX}{pid}-{n}-{i}"),
                    host_link: format!("{tag}h{i}"),
                    ip: host_ip(subnet, 2 + i as u8),
                })
                .collect(),
            ip_cmd,
            blackholes: Mutex::new(Vec::new()),
        };
        // From here on, `net`'s Drop removes whatever was created if a step fails.
        net.setup(subnet)?;
        Ok(net)
    }

    fn setup(&mut self, subnet: [u8; 3]) -> io::Result<()> {
        let gateway = format!("{}/24", host_ip(subnet, 1));
        let br = self.bridge.as_str();
        self.run(&["link", "add", br, "type", "bridge"])?;
        self.run(&["addr", "add", &gateway, "dev", br])?;
        self.run(&["link", "set", br, "up"])?;
        for node in &self.nodes {
            let (ns, host) = (node.ns.as_str(), node.host_link.as_str());
            let addr = format!("{}/24", node.ip);
            self.run(&["netns", "add", ns])?;
            self.run(&[
                "link", "add", host, "type", "veth", "peer", "name", NS_LINK, "netns", ns,
            ])?;
            self.run(&["link", "set", host, "master", br, "up"])?;
            self.run(&["-n", ns, "addr", "add", &addr, "dev", NS_LINK])?;
            self.run(&["-n", ns, "link", "set", NS_LINK, "up"])?;
            self.run(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Node `i`'s address (its namespace's only one besides loopback).
    pub fn ip(&self, i: usize) -> IpAddr {
        IpAddr::V4(self.nodes[i].ip)
    }

    /// `ip netns exec <namespace of node i>`: a wrapper that runs a program in node i's
    /// namespace (it execs the program, so the pid is the program's).
    pub fn exec_prefix(&self, i: usize) -> Vec<OsString> {
        vec![
            self.ip_cmd.clone().into_os_string(),
            "netns".into(),
            "exec".into(),
            self.nodes[i].ns.clone().into(),
        ]
    }

    /// Cuts node `i` off from every other node, both ways: a blackhole route to each of
    /// them in i's namespace and one to i in each of theirs. The root namespace (the
    /// test) still reaches everybody.
    pub fn isolate(&self, i: usize) -> io::Result<()> {
        let mut blackholes = self.blackholes.lock().unwrap_or_else(|e| e.into_inner());
        for j in (0..self.nodes.len()).filter(|&j| j != i) {
            for (holder, target) in [(i, j), (j, i)] {
                let to = format!("{}/32", self.nodes[target].ip);
                self.run(&["-n", &self.nodes[holder].ns, "route", "add", "blackhole", &to])?;
                blackholes.push((holder, self.nodes[target].ip));
            }
        }
        Ok(())
    }

    /// Removes every route [`NetnsNetwork::isolate`] added.
    pub fn heal(&self) -> io::Result<()> {
        let mut blackholes = self.blackholes.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((holder, target)) = blackholes.pop() {
            let to = format!("{target}/32");
            self.run(&["-n", &self.nodes[holder].ns, "route", "del", "blackhole", &to])?;
        }
        Ok(())
    }

    /// Runs `ip args...`; an error carries its stderr.
    fn run(&self, args: &[&str]) -> io::Result<()> {
        run_ip(&self.ip_cmd, args)
    }
}

impl Drop for NetnsNetwork {
    fn drop(&mut self) {
        // Deleting either end of a veth deletes both; a namespace whose processes are
        // still alive outlives `netns del`, so its veth is deleted from the root end.
        for node in &self.nodes {
            let _ = self.run(&["link", "del", &node.host_link]);
            let _ = self.run(&["netns", "del", &node.ns]);
        }
        let _ = self.run(&["link", "del", &self.bridge]);
    }
}

fn run_ip(ip_cmd: &Path, args: &[&str]) -> io::Result<()> {
    let out = run_with_timeout(Command::new(ip_cmd).args(args), IP_TIMEOUT)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn ip_output(ip_cmd: &Path, args: &[&str]) -> io::Result<String> {
    let out = run_with_timeout(Command::new(ip_cmd).args(args), IP_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn host_ip(subnet: [u8; 3], host: u8) -> Ipv4Addr {
    Ipv4Addr::new(subnet[0], subnet[1], subnet[2], host)
}

/// The effective uid, from /proc (no libc call needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// A 10.x.y.0/24 that no route of the root namespace covers more specifically than the
/// default route, derived from the pid so that concurrent test processes differ.
fn free_subnet(ip_cmd: &Path, pid: u32, n: u32) -> io::Result<[u8; 3]> {
    for attempt in 0..64u32 {
        let x = pid
            .wrapping_mul(2_654_435_761)
            .wrapping_add(n.wrapping_mul(97))
            .wrapping_add(attempt.wrapping_mul(7919));
        let subnet = [10, 128 + ((x >> 8) % 120) as u8, (x & 0xff) as u8];
        let prefix = format!("{}.{}.{}.0/24", subnet[0], subnet[1], subnet[2]);
        // Routes inside the /24, and routes containing it.
        let inside = ip_output(ip_cmd, &["-4", "route", "show", "root", &prefix])?;
        let around = ip_output(ip_cmd, &["-4", "route", "show", "match", &prefix])?;
        let clash = inside
            .lines()
            .chain(around.lines())
            .any(|l| !l.starts_with("default"));
        if !clash {
            return Ok(subnet);
        }
    }
    Err(io::Error::other(
        "no free 10.x.y.0/24 subnet for the test network",
    ))
}

/// Removes namespaces and interfaces named after a test process that no longer exists
/// (one killed before its Drop ran).
fn remove_leftovers(ip_cmd: &Path) {
    let dead = |pid: Option<u32>| pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
    if let Ok(list) = ip_output(ip_cmd, &["netns", "list"]) {
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let pid = ns
                .strip_prefix(NS_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse().ok());
            if dead(pid) {
                let _ = run_ip(ip_cmd, &["netns", "del", ns]);
            }
        }
    }
    if let Ok(list) = ip_output(ip_cmd, &["-o", "link", "show"]) {
        // Lines look like "7: skv1a2b-0h3@if2: <...> ...".
        for name in list
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
        {
            let pid = name
                .strip_prefix(LINK_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| u32::from_str_radix(p, 16).ok());
            if dead(pid) {
                let _ = run_ip(ip_cmd, &["link", "del", name]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{ServerBinary, ServerProcess};
    use crate::tools::{print_skipped, redis_cli_path};
    use std::net::{SocketAddr, TcpListener};

    /// redis-cli run inside node `from`'s namespace: did `to` answer PING?
    fn pings(net: &NetnsNetwork, from: usize, to: &ServerProcess) -> bool {
        let mut cmd = Command::new(&net.ip_cmd);
        cmd.args(["netns", "exec", &net.nodes[from].ns])
            .arg(redis_cli_path())
            .args([
                "-h",
                &to.addr().ip().to_string(),
                "-p",
                &to.port().to_string(),
                "PING",
            ]);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(30)).expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim() == "PONG"
    }

    /// Only as root: servers run inside the namespaces (with the pid the testkit holds),
    /// the test reaches them, `isolate` cuts node 0 from node 1 both ways but not from the
    /// test, `heal` restores it, and nothing is left after drop.
    #[test]
    fn namespaces_isolate_heal_and_are_removed() {
        let net = match NetnsNetwork::create(2) {
            Ok(net) => net,
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                print_skipped(&format!("netns::namespaces_isolate_heal_and_are_removed: {e}"));
                return;
            }
            Err(e) => panic!("creating network namespaces: {e}"),
        };
        let servers: Vec<ServerProcess> = (0..2)
            .map(|i| {
                let ip = net.ip(i).to_string();
                ServerProcess::builder(ServerBinary::Redis)
                    .wrapper(&net.exec_prefix(i))
                    .host(net.ip(i))
                    .args(&["--bind", &ip, "--protected-mode", "no"])
                    .start()
            })
            .collect();
        // The root namespace does not own the nodes' addresses.
        assert!(TcpListener::bind(SocketAddr::new(net.ip(0), 0)).is_err());
        assert!(pings(&net, 1, &servers[0]) && pings(&net, 0, &servers[1]));
        net.isolate(0).expect("isolate");
        assert!(!pings(&net, 1, &servers[0]) && !pings(&net, 0, &servers[1]));
        assert_eq!(servers[0].client().cmd(&["PING"]), crate::Reply::status("PONG"));
        net.heal().expect("heal");
        assert!(pings(&net, 1, &servers[0]) && pings(&net, 0, &servers[1]));

        let names: Vec<String> = net.nodes.iter().map(|n| n.ns.clone()).collect();
        let bridge = net.bridge.clone();
        let ip_cmd = net.ip_cmd.clone();
        drop(servers);
        drop(net);
        let list = ip_output(&ip_cmd, &["netns", "list"]).expect("ip netns list");
        assert!(names.iter().all(|n| !list.contains(n.as_str())), "{list}");
        let links = ip_output(&ip_cmd, &["-o", "link", "show"]).expect("ip link show");
        assert!(!links.contains(&bridge), "{links}");
    }
}
