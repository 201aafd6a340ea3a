//! `import host:port --cluster-from host:port`: copies or moves every key of database 0 of a
//! standalone server into the cluster, one MIGRATE per key to the master owning the key's
//! slot, with redis-cli's messages on stdout and a progress bar (with ETA) on a terminal's
//! stderr.

use std::io::{IsTerminal, Write};

use slotkv_protocol::Frame;

use super::node::{frame_text, info_field, Link, SLOTS};
use super::{check, parse_addr, Auth, Cluster, Ctx};

/// How many keys one SCAN asks for (redis-cli's COUNT).
const SCAN_COUNT: &str = "1000";

pub fn import(ctx: &Ctx) -> bool {
    let Some((ip, port, _)) = parse_addr(&ctx.cmd.args) else {
        eprint!("{}", super::INVALID_HOST_ARG);
        return false;
    };
    let Some(from) = &ctx.cmd.from else {
        eprintln!("[ERR] Option '--cluster-from' is required for subcommand 'import'.");
        return false;
    };
    let Some((src_ip, src_port, _)) = parse_addr(std::slice::from_ref(from)) else {
        eprintln!(
            "[ERR] Invalid --cluster-from host. You need to pass a valid address (ie. 120.0.0.1:7000)."
        );
        return false;
    };
    // redis-cli asks while parsing its options, before anything is printed.
    let from_pass = if ctx.cmd.from_askpass {
        match ask_password("Please input import source node password: ") {
            Some(p) => Some(p),
            None => return false,
        }
    } else {
        ctx.cmd.from_pass.clone()
    };
    ctx.info(&format!(
        ">>> Importing data from {src_ip}:{src_port} to cluster {ip}:{port}"
    ));
    let Some(mut c) = Cluster::load(ctx, &ip, port) else {
        return false;
    };
    if !check::check_cluster(ctx, &mut c, false) {
        return false;
    }
    let src_auth = Auth {
        user: ctx.cmd.from_user.clone(),
        password: from_pass,
    };
    let mut src = match Link::connect_checked(&src_ip, src_port, &src_auth) {
        Ok(l) => l,
        Err(super::node::ConnectError::Io(e)) => {
            eprintln!("Could not connect to Redis at {src_ip}:{src_port}: {e}.");
            return false;
        }
        Err(super::node::ConnectError::Auth(e)) => {
            eprintln!("AUTH failed: {e}");
            return false;
        }
    };
    let source_error = |e: &str| {
        ctx.err(&format!("Source {src_ip}:{src_port} replied with error:\n{e}"));
    };
    let info = match src.text(&["INFO"]) {
        Ok(i) => i,
        Err(e) => {
            source_error(&e);
            return false;
        }
    };
    if info_field(&info, "cluster_enabled").is_some_and(|v| v != "0") {
        ctx.err("[ERR] The source node should not be a cluster node.");
        return false;
    }
    let size = match src.ok(&["DBSIZE"]) {
        Ok(Frame::Integer(n)) => n,
        Ok(_) => 0,
        Err(e) => {
            source_error(&e);
            return false;
        }
    };
    ctx.warn(&format!("*** Importing {size} keys from DB 0"));
    let owners = slot_owners(&c);
    let timeout = ctx.cmd.timeout.unwrap_or(60000).to_string();
    src.set_timeout(None);
    let bar = super::progress(size.max(0) as u64, "keys");
    let mut cursor = "0".to_string();
    loop {
        let reply = match src.ok(&["SCAN", &cursor, "COUNT", SCAN_COUNT]) {
            Ok(r) => r,
            Err(e) => {
                bar.abandon();
                source_error(&e);
                return false;
            }
        };
        let (next, keys) = match scan_reply(reply) {
            Some(v) => v,
            None => {
                bar.abandon();
                source_error("unexpected SCAN reply");
                return false;
            }
        };
        for key in keys {
            let slot = slotkv_keyslot::key_slot(&key).get();
            let Some(target) = owners[slot as usize] else {
                bar.abandon();
                ctx.err(&format!("[ERR] Slot {slot} is not covered by any node."));
                return false;
            };
            let (tip, tport) = (c.nodes[target].ip.clone(), c.nodes[target].port.to_string());
            let line = format!("Migrating {} to {tip}:{tport}: ", String::from_utf8_lossy(&key));
            bar.suspend(|| {
                out!("{line}");
                let _ = std::io::stdout().flush();
            });
            let args = migrate_args(
                &tip,
                &tport,
                &key,
                &timeout,
                &c.auth,
                ctx.cmd.copy,
                ctx.cmd.replace,
            );
            match src.cmd(&args) {
                Ok(Frame::Error(e)) => {
                    bar.abandon();
                    source_error(&e);
                    return false;
                }
                Ok(_) => bar.suspend(|| ctx.ok("OK")),
                Err(e) => {
                    bar.abandon();
                    source_error(&super::node::io_text(&e));
                    return false;
                }
            }
            bar.inc(1);
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    bar.finish_and_clear();
    true
}

/// For every slot, the index of the master serving it (the first one, as redis-cli).
fn slot_owners(c: &Cluster) -> Vec<Option<usize>> {
    let mut owners = vec![None; SLOTS];
    for (s, owner) in owners.iter_mut().enumerate() {
        *owner = c
            .nodes
            .iter()
            .position(|n| n.is_master() && n.slots_count > 0 && n.slots[s]);
    }
    owners
}

/// `MIGRATE host port key 0 timeout [AUTH pass | AUTH2 user pass] [COPY] [REPLACE]`, in
/// redis-cli's order.
fn migrate_args(
    host: &str,
    port: &str,
    key: &[u8],
    timeout: &str,
    auth: &Auth,
    copy: bool,
    replace: bool,
) -> Vec<Vec<u8>> {
    let mut args: Vec<Vec<u8>> = vec![
        b"MIGRATE".to_vec(),
        host.as_bytes().to_vec(),
        port.as_bytes().to_vec(),
        key.to_vec(),
        b"0".to_vec(),
        timeout.as_bytes().to_vec(),
    ];
    if let Some(pass) = &auth.password {
        match &auth.user {
            Some(u) => args.extend([b"AUTH2".to_vec(), u.as_bytes().to_vec()]),
            None => args.push(b"AUTH".to_vec()),
        }
        args.push(pass.as_bytes().to_vec());
    }
    if copy {
        args.push(b"COPY".to_vec());
    }
    if replace {
        args.push(b"REPLACE".to_vec());
    }
    args
}

/// `[cursor, [key...]]`.
fn scan_reply(reply: Frame) -> Option<(String, Vec<Vec<u8>>)> {
    let Frame::Array(mut parts) = reply else {
        return None;
    };
    if parts.len() < 2 {
        return None;
    }
    let keys = match parts.pop()? {
        Frame::Array(keys) => keys
            .into_iter()
            .filter_map(|k| match k {
                Frame::Bulk(b) => Some(b.to_vec()),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    let cursor = frame_text(&parts.pop()?);
    Some((cursor, keys))
}

/// Reads a password from stdin: without echo on a terminal (the prompt then goes to
/// stdout), a plain line otherwise.
pub fn ask_password(prompt: &str) -> Option<String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        out!("{prompt}");
    }
    let _echo = tty.then(EchoOff::new).flatten();
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    if tty {
        outln!();
    }
    match read {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// Terminal echo switched off until dropped.
struct EchoOff(nix::sys::termios::Termios);

impl EchoOff {
    fn new() -> Option<EchoOff> {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(EchoOff(saved))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_arguments_in_redis_cli_order() {
        let auth = Auth {
            user: Some("u".into()),
            password: Some("p".into()),
        };
        let args = migrate_args("h", "1", b"k", "60000", &auth, true, true);
        let text: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert_eq!(
            text,
            ["MIGRATE", "h", "1", "k", "0", "60000", "AUTH2", "u", "p", "COPY", "REPLACE"]
        );
        let plain = migrate_args("h", "1", b"k", "5", &Auth::default(), false, false);
        assert_eq!(plain.len(), 6);
    }

    #[test]
    fn scan_replies() {
        let reply = Frame::Array(vec![
            Frame::Bulk(bytes::Bytes::from_static(b"17")),
            Frame::Array(vec![Frame::Bulk(bytes::Bytes::from_static(b"a"))]),
        ]);
        assert_eq!(scan_reply(reply), Some(("17".to_string(), vec![b"a".to_vec()])));
        assert_eq!(scan_reply(Frame::Null), None);
    }
}
