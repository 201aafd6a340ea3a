//! The text forms of the cluster configuration: the lines `CLUSTER NODES` prints, and the
//! `nodes.conf` file (the same lines plus `vars currentEpoch N lastVoteEpoch M`), parsed
//! back at start-up. A damaged file is an error with its line number, never a silent reset.

use slotkv_keyslot::{NodeId, Slot};

use crate::message::flags;
use crate::state::{ClusterState, Node, Settings};

/// One line of CLUSTER NODES for `n` (without the trailing newline).
pub fn node_line(state: &ClusterState, n: &Node) -> String {
    let mut s = String::with_capacity(128);
    s.push_str(n.id.as_str());
    s.push(' ');
    s.push_str(&format!("{}:{}@{}", n.ip, n.port, n.cport));
    if !n.hostname.is_empty() {
        s.push(',');
        s.push_str(&n.hostname);
    }
    s.push(' ');
    s.push_str(&n.flag_names());
    s.push(' ');
    match n.master {
        Some(m) if n.is_replica() => s.push_str(m.as_str()),
        _ => s.push('-'),
    }
    let connected = n.id == state.myself || n.link_up;
    let (ping, pong) = if n.id == state.myself {
        (0, 0)
    } else {
        (n.ping_sent, n.pong_received)
    };
    s.push_str(&format!(
        " {} {} {} {}",
        ping,
        pong,
        n.config_epoch,
        if connected { "connected" } else { "disconnected" }
    ));
    let ranges = n.slots.ranges_string();
    if !ranges.is_empty() {
        s.push(' ');
        s.push_str(&ranges);
    }
    if n.id == state.myself {
        let mut mig: Vec<_> = state.migrations.migrating.iter().collect();
        mig.sort();
        for (slot, to) in mig {
            s.push_str(&format!(" [{slot}->-{to}]"));
        }
        let mut imp: Vec<_> = state.migrations.importing.iter().collect();
        imp.sort();
        for (slot, from) in imp {
            s.push_str(&format!(" [{slot}-<-{from}]"));
        }
    }
    s
}

/// CLUSTER NODES: every node but those still in handshake when `for_config`.
pub fn render_nodes(state: &ClusterState, for_config: bool) -> String {
    let mut nodes: Vec<&Node> = state.nodes.values().collect();
    // Myself first, then by id, for a stable order.
    nodes.sort_by_key(|n| (n.id != state.myself, n.id));
    let mut out = String::new();
    for n in nodes {
        if for_config && n.is(flags::HANDSHAKE) {
            continue;
        }
        out.push_str(&node_line(state, n));
        out.push('\n');
    }
    out
}

/// The content of nodes.conf.
pub fn render_config(state: &ClusterState) -> String {
    let mut s = render_nodes(state, true);
    s.push_str(&format!(
        "vars currentEpoch {} lastVoteEpoch {}\n",
        state.current_epoch, state.last_vote_epoch
    ));
    s
}

/// A problem in nodes.conf.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Unrecoverable error: corrupted cluster config file \"{file}\" at line {line}: {reason}")]
pub struct ConfigFileError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// Parses nodes.conf into a cluster state. `settings` supplies our ports (which win over
/// the file's for myself, as the config may have changed).
pub fn parse_config(
    text: &str,
    file: &str,
    settings: Settings,
    now: i64,
) -> Result<ClusterState, ConfigFileError> {
    let err = |line: usize, reason: &str| ConfigFileError {
        file: file.to_string(),
        line,
        reason: reason.to_string(),
    };
    let mut myself: Option<NodeId> = None;
    let mut nodes: Vec<Node> = Vec::new();
    let mut slots: Vec<(u16, NodeId)> = Vec::new();
    let mut migrating = Vec::new();
    let mut importing = Vec::new();
    let mut current_epoch = 0;
    let mut last_vote_epoch = 0;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split(' ').filter(|p| !p.is_empty()).collect();
        if parts[0] == "vars" {
            let mut j = 1;
            while j + 1 < parts.len() {
                let v: u64 = parts[j + 1].parse().map_err(|_| err(lineno, "bad vars value"))?;
                match parts[j] {
                    "currentEpoch" => current_epoch = v,
                    "lastVoteEpoch" => last_vote_epoch = v,
                    _ => {}
                }
                j += 2;
            }
            continue;
        }
        if parts.len() < 8 {
            return Err(err(lineno, "too few fields"));
        }
        let id = NodeId::parse(parts[0].as_bytes()).ok_or_else(|| err(lineno, "bad node id"))?;
        let mut n = Node::new(id, 0, now);
        // ip:port@cport[,hostname]
        let (addr, hostname) = match parts[1].split_once(',') {
            Some((a, h)) => (a, h),
            None => (parts[1], ""),
        };
        let (hostport, cport) = addr.split_once('@').ok_or_else(|| err(lineno, "bad address"))?;
        let (ip, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| err(lineno, "bad address"))?;
        n.ip = ip.to_string();
        n.port = port.parse().map_err(|_| err(lineno, "bad port"))?;
        n.cport = cport.parse().map_err(|_| err(lineno, "bad bus port"))?;
        n.hostname = hostname.to_string();
        for f in parts[2].split(',') {
            n.flags |= match f {
                "myself" => {
                    myself = Some(id);
                    flags::MYSELF
                }
                "master" => flags::MASTER,
                "slave" => flags::SLAVE,
                "fail?" => flags::PFAIL,
                "fail" => flags::FAIL,
                "handshake" => flags::HANDSHAKE,
                "noaddr" => flags::NOADDR,
                "nofailover" => flags::NOFAILOVER,
                "noflags" => 0,
                _ => return Err(err(lineno, "unknown flag")),
            };
        }
        if parts[3] != "-" {
            n.master = Some(NodeId::parse(parts[3].as_bytes()).ok_or_else(|| err(lineno, "bad master id"))?);
        }
        n.config_epoch = parts[6].parse().map_err(|_| err(lineno, "bad config epoch"))?;
        // Times and link states from the file are stale: start fresh.
        n.pong_received = now;
        for spec in &parts[8..] {
            if let Some(inner) = spec.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                if let Some((slot, to)) = inner.split_once("->-") {
                    let slot: u16 = slot.parse().map_err(|_| err(lineno, "bad slot"))?;
                    let to = NodeId::parse(to.as_bytes()).ok_or_else(|| err(lineno, "bad node id"))?;
                    migrating.push((slot, to));
                } else if let Some((slot, from)) = inner.split_once("-<-") {
                    let slot: u16 = slot.parse().map_err(|_| err(lineno, "bad slot"))?;
                    let from = NodeId::parse(from.as_bytes()).ok_or_else(|| err(lineno, "bad node id"))?;
                    importing.push((slot, from));
                } else {
                    return Err(err(lineno, "bad slot state"));
                }
                continue;
            }
            let (a, b) = match spec.split_once('-') {
                Some((a, b)) => (a, b),
                None => (*spec, *spec),
            };
            let a: u16 = a.parse().map_err(|_| err(lineno, "bad slot"))?;
            let b: u16 = b.parse().map_err(|_| err(lineno, "bad slot"))?;
            if a > b || Slot::new(u64::from(b)).is_none() {
                return Err(err(lineno, "bad slot range"));
            }
            for s in a..=b {
                slots.push((s, id));
            }
        }
        nodes.push(n);
    }
    let me = myself.ok_or_else(|| err(0, "no 'myself' node"))?;
    let mut state = ClusterState::new(me, settings.clone(), now);
    for mut n in nodes {
        if n.id == me {
            n.port = settings.port;
            n.cport = settings.cport;
            if !settings.announce_ip.is_empty() {
                n.ip = settings.announce_ip.clone();
            }
            n.flags |= flags::MYSELF;
        }
        state.nodes.insert(n.id, n);
    }
    for (s, id) in slots {
        if let Some(slot) = Slot::new(u64::from(s)) {
            state.assign_slot(slot, Some(id));
        }
    }
    for (s, id) in migrating {
        state.migrations.migrating.insert(s, id);
    }
    for (s, id) in importing {
        state.migrations.importing.insert(s, id);
    }
    state.current_epoch = current_epoch;
    state.last_vote_epoch = last_vote_epoch;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = "eefe3df3212d0842df85da7f5746cb3bb56eef9d 127.0.0.1:17201@27201 myself,master - 0 0 3 connected 0-2 5 [5->-35a6b5a8a0cf0267f20499c2a5476fbec288ed75]\n35a6b5a8a0cf0267f20499c2a5476fbec288ed75 127.0.0.1:17202@27202 master - 0 1795619734412 1 connected 3-4\n4a6b5a8a0cf0267f20499c2a5476fbec288ed755 127.0.0.1:17203@27203 slave 35a6b5a8a0cf0267f20499c2a5476fbec288ed75 0 1795619734412 1 connected\nvars currentEpoch 3 lastVoteEpoch 0\n";
        let settings = Settings {
            port: 17201,
            cport: 27201,
            ..Default::default()
        };
        let st = parse_config(text, "nodes.conf", settings, 5).unwrap();
        assert_eq!(st.current_epoch, 3);
        assert_eq!(st.me().slots.ranges_string(), "0-2 5");
        assert_eq!(st.migrations.migrating.len(), 1);
        let again = render_config(&st);
        assert!(again.starts_with("eefe3df3212d0842df85da7f5746cb3bb56eef9d 127.0.0.1:17201@27201 myself,master - 0 0 3 connected 0-2 5 [5->-35a6b5a8a0cf0267f20499c2a5476fbec288ed75]\n"));
        assert!(again.ends_with("vars currentEpoch 3 lastVoteEpoch 0\n"));
        let bad = parse_config("garbage line\n", "nodes.conf", Settings::default(), 0).unwrap_err();
        assert_eq!(bad.line, 1);
    }
}
