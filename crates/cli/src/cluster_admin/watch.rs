//! `watch host:port` (slotkv only, not in redis-cli): a live view of the cluster. Every
//! interval (1 s by default, `--interval <secs>`) it asks one reachable node for CLUSTER
//! NODES and CLUSTER INFO and every node for INFO stats/keyspace, then prints one row per
//! node and an event line for each change since the previous refresh (failover or other
//! role change, FAIL/PFAIL, links, slots, nodes joining or leaving).
//!
//! On a terminal the screen is redrawn in place with plain ANSI (home + clear); otherwise
//! each refresh is appended as plain text. It runs until Ctrl-C (the default SIGINT
//! action: nothing here changes the terminal's modes), or for `--cluster-iterations N`
//! refreshes. It only reads: no command it sends changes the cluster.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::IsTerminal;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slotkv_protocol::Frame;

use super::node::{frame_text, info_field, slot_ranges, Link, NodeLine, SLOTS};
use super::{parse_addr, Ctx};

/// Connect/read bound for every node, so a paused node cannot stall the view.
const NODE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Events kept on screen in terminal mode.
const EVENTS_SHOWN: usize = 10;
/// A slot list longer than this is cut.
const SLOTS_WIDTH: usize = 32;

pub fn watch(ctx: &Ctx) -> bool {
    let Some((ip, port, _)) = parse_addr(&ctx.cmd.args) else {
        eprint!("{}", super::INVALID_HOST_ARG);
        return false;
    };
    let interval = ctx
        .cmd
        .interval
        .filter(|i| i.is_finite() && *i > 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64);
    let tty = std::io::stdout().is_terminal();
    let entry = format!("{ip}:{port}");
    let mut watcher = Watcher {
        auth: ctx.auth.clone(),
        links: HashMap::new(),
        seeds: vec![(ip, port)],
    };
    let mut prev: Option<Snapshot> = None;
    let mut recent: VecDeque<String> = VecDeque::new();
    let mut refresh = 0u64;
    loop {
        refresh += 1;
        let snap = watcher.snapshot();
        let events = match (&prev, &snap) {
            (Some(p), Ok(s)) => diff(p, s),
            (Some(_), Err(e)) => vec![format!("cluster unreachable: {e}")],
            _ => Vec::new(),
        };
        let stamp = clock();
        let events: Vec<String> = events.into_iter().map(|e| format!("[{stamp}] {e}")).collect();
        for e in &events {
            recent.push_back(e.clone());
            if recent.len() > EVENTS_SHOWN {
                recent.pop_front();
            }
        }
        let header = format!(
            "slotkv-cli --cluster watch {entry} | refresh {refresh} at {stamp} every {}s | Ctrl-C to quit",
            trim_float(interval.as_secs_f64())
        );
        let body = match &snap {
            Ok(s) => render(s),
            Err(e) => format!("Could not reach the cluster: {e}\n"),
        };
        if tty {
            let mut screen = format!("\x1b[H\x1b[2J{header}\n\n{body}");
            if !recent.is_empty() {
                screen.push_str("\nEvents:\n");
                for e in &recent {
                    screen.push_str(&format!("  {e}\n"));
                }
            }
            out!("{screen}");
        } else {
            let mut text = format!("{header}\n{body}");
            for e in &events {
                text.push_str(&format!("event: {e}\n"));
            }
            out!("{text}\n");
        }
        if let Ok(s) = &snap {
            watcher.remember(s);
        }
        if snap.is_ok() {
            prev = snap.ok();
        }
        if ctx.cmd.iterations.is_some_and(|n| refresh >= n) {
            return true;
        }
        std::thread::sleep(interval);
    }
}

/// Connections kept across refreshes, and the addresses to ask for the topology.
struct Watcher {
    auth: super::Auth,
    links: HashMap<(String, u16), Link>,
    /// The entry node first, then every node seen last time (so the view survives the
    /// entry node's failure).
    seeds: Vec<(String, u16)>,
}

impl Watcher {
    /// Runs `args` on the node at `addr`, reconnecting when needed; a failed link is
    /// dropped.
    fn call(&mut self, addr: &(String, u16), cmds: &[Vec<&str>]) -> Result<Vec<Frame>, String> {
        if !self.links.contains_key(addr) {
            let link = Link::connect_within(&addr.0, addr.1, &self.auth, Some(NODE_TIMEOUT)).map_err(
                |e| match e {
                    super::node::ConnectError::Io(m) | super::node::ConnectError::Auth(m) => m,
                },
            )?;
            self.links.insert(addr.clone(), link);
        }
        let link = self.links.get_mut(addr).ok_or("no link")?;
        match link.pipeline(cmds) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.links.remove(addr);
                Err(super::node::io_text(&e))
            }
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot, String> {
        let mut last_err = String::from("no node to ask");
        for seed in self.seeds.clone() {
            let replies = match self.call(&seed, &[vec!["CLUSTER", "NODES"], vec!["CLUSTER", "INFO"]]) {
                Ok(r) => r,
                Err(e) => {
                    last_err = format!("{}:{}: {e}", seed.0, seed.1);
                    continue;
                }
            };
            if let Some(Frame::Error(e)) = replies.first() {
                last_err = format!("{}:{}: {e}", seed.0, seed.1);
                continue;
            }
            let nodes_text = replies.first().map(frame_text).unwrap_or_default();
            let info_text = replies.get(1).map(frame_text).unwrap_or_default();
            let lines: Vec<NodeLine> = nodes_text.lines().filter_map(NodeLine::parse).collect();
            let mut rows = Vec::new();
            for l in lines {
                let stats = self.node_stats(&(l.ip.clone(), l.port));
                rows.push(Row::new(l, stats));
            }
            return Ok(Snapshot {
                via: format!("{}:{}", seed.0, seed.1),
                state: info_field(&info_text, "cluster_state").unwrap_or_else(|| "?".into()),
                rows,
            });
        }
        Err(last_err)
    }

    /// Keys and ops/s of one node, `None` when it cannot be asked.
    fn node_stats(&mut self, addr: &(String, u16)) -> Option<(u64, u64)> {
        if addr.1 == 0 {
            return None;
        }
        let replies = self
            .call(addr, &[vec!["INFO", "stats"], vec!["INFO", "keyspace"]])
            .ok()?;
        let stats = frame_text(replies.first()?);
        let keyspace = frame_text(replies.get(1)?);
        let ops = info_field(&stats, "instantaneous_ops_per_sec")?.parse().ok()?;
        Some((keyspace_keys(&keyspace), ops))
    }

    fn remember(&mut self, s: &Snapshot) {
        let entry = self.seeds[0].clone();
        let mut seeds = vec![entry.clone()];
        for r in &s.rows {
            let a = (r.ip.clone(), r.port);
            if a != entry && r.port != 0 {
                seeds.push(a);
            }
        }
        self.seeds = seeds;
        let keep: Vec<(String, u16)> = self.seeds.clone();
        self.links.retain(|a, _| keep.contains(a));
    }
}

/// Sum of `keys=` over the `dbN:` lines of INFO keyspace.
fn keyspace_keys(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("db"))
        .filter_map(|l| {
            l.split([':', ','])
                .find_map(|f| f.strip_prefix("keys="))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// One refresh's view of the cluster.
struct Snapshot {
    /// The node that answered CLUSTER NODES.
    via: String,
    state: String,
    rows: Vec<Row>,
}

/// One node as the view shows it.
#[derive(Clone)]
struct Row {
    id: String,
    ip: String,
    port: u16,
    master: Option<String>,
    slots: Vec<bool>,
    slot_count: usize,
    link: String,
    /// fail, pfail, handshake, noaddr, nofailover (role and `myself` are shown elsewhere).
    flags: Vec<String>,
    /// Keys and ops/s, `None` when the node did not answer.
    stats: Option<(u64, u64)>,
}

impl Row {
    fn new(l: NodeLine, stats: Option<(u64, u64)>) -> Row {
        let mut slots = vec![false; SLOTS];
        for s in &l.slots {
            slots[*s as usize] = true;
        }
        Row {
            id: l.name,
            ip: l.ip,
            port: l.port,
            master: l.master,
            slot_count: l.slots.len(),
            slots,
            // CLUSTER NODES reports `connected` for the reporting node itself.
            link: l.link_state,
            flags: l
                .flags
                .into_iter()
                .filter(|f| f != "master" && f != "slave" && f != "noflags")
                .collect(),
            stats,
        }
    }

    fn is_master(&self) -> bool {
        self.master.is_none()
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    fn short(&self) -> String {
        short(&self.id)
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn slots_text(&self) -> String {
        let text = slot_ranges(&self.slots)
            .iter()
            .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect::<Vec<_>>()
            .join(",");
        if text.is_empty() {
            "-".into()
        } else if text.len() > SLOTS_WIDTH {
            format!("{}...", &text[..SLOTS_WIDTH - 3])
        } else {
            text
        }
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Masters ordered by their first slot (slotless ones by address), each followed by its
/// replicas; replicas of unknown masters last.
fn ordered(rows: &[Row]) -> Vec<&Row> {
    let mut masters: Vec<&Row> = rows.iter().filter(|r| r.is_master()).collect();
    masters.sort_by_key(|r| {
        (
            r.slots.iter().position(|s| *s).unwrap_or(SLOTS),
            r.ip.clone(),
            r.port,
        )
    });
    let mut out = Vec::new();
    for m in &masters {
        out.push(*m);
        let mut replicas: Vec<&Row> = rows
            .iter()
            .filter(|r| r.master.as_deref() == Some(m.id.as_str()))
            .collect();
        replicas.sort_by_key(|r| (r.ip.clone(), r.port));
        out.extend(replicas);
    }
    for r in rows {
        if !out.iter().any(|o| o.id == r.id) {
            out.push(r);
        }
    }
    out
}

/// The table and the summary line.
fn render(s: &Snapshot) -> String {
    let head = [
        "ID", "ADDRESS", "ROLE", "MASTER", "SLOTS", "COUNT", "LINK", "FLAGS", "KEYS", "OPS/S",
    ];
    let mut table: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    for r in ordered(&s.rows) {
        let (keys, ops) = match r.stats {
            Some((k, o)) => (k.to_string(), o.to_string()),
            None => ("?".into(), "?".into()),
        };
        table.push(vec![
            r.short(),
            r.addr(),
            if r.is_master() { "master" } else { "replica" }.into(),
            r.master.as_deref().map_or("-".into(), short),
            r.slots_text(),
            r.slot_count.to_string(),
            if r.stats.is_none() && r.link == "connected" {
                "unreachable".into()
            } else {
                r.link.clone()
            },
            if r.flags.is_empty() {
                "-".into()
            } else {
                r.flags.join(",")
            },
            keys,
            ops,
        ]);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|c| table.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let masters = s.rows.iter().filter(|r| r.is_master()).count();
    let mut covered = vec![false; SLOTS];
    for r in s.rows.iter().filter(|r| r.is_master()) {
        for (c, set) in covered.iter_mut().zip(&r.slots) {
            *c |= set;
        }
    }
    let covered = covered.iter().filter(|c| **c).count();
    let keys: u64 = s
        .rows
        .iter()
        .filter(|r| r.is_master())
        .filter_map(|r| r.stats.map(|x| x.0))
        .sum();
    let ops: u64 = s.rows.iter().filter_map(|r| r.stats.map(|x| x.1)).sum();
    out.push_str(&format!(
        "cluster_state:{} (via {}) | {} masters, {} replicas | {covered}/{SLOTS} slots covered | {keys} keys | {ops} ops/s\n",
        s.state,
        s.via,
        masters,
        s.rows.len() - masters
    ));
    out
}

/// What changed between two refreshes, one line each.
fn diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let old: BTreeMap<&str, &Row> = before.rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let new: BTreeMap<&str, &Row> = after.rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut events = Vec::new();
    if before.state != after.state {
        events.push(format!("cluster_state {} -> {}", before.state, after.state));
    }
    for r in ordered(&after.rows) {
        let name = format!("{} {}", r.short(), r.addr());
        let Some(o) = old.get(r.id.as_str()) else {
            events.push(format!("node {name} joined"));
            continue;
        };
        match (o.is_master(), r.is_master()) {
            (false, true) => events.push(format!(
                "failover: {name} is now a master (was a replica of {})",
                o.master.as_deref().map_or("?".into(), short)
            )),
            (true, false) => events.push(format!(
                "role change: {name} is now a replica of {} (was a master)",
                r.master.as_deref().map_or("?".into(), short)
            )),
            (false, false) if o.master != r.master => events.push(format!(
                "{name} now replicates {} (was {})",
                r.master.as_deref().map_or("?".into(), short),
                o.master.as_deref().map_or("?".into(), short)
            )),
            _ => {}
        }
        for flag in ["fail", "pfail"] {
            let label = flag.to_ascii_uppercase();
            match (o.has(flag), r.has(flag)) {
                (false, true) => events.push(format!("{name} flagged {label}")),
                (true, false) => events.push(format!("{name} no longer {label}")),
                _ => {}
            }
        }
        if o.link != r.link {
            events.push(format!("link to {name}: {} -> {}", o.link, r.link));
        }
        match (o.stats.is_some(), r.stats.is_some()) {
            (true, false) => events.push(format!("{name} does not answer")),
            (false, true) => events.push(format!("{name} answers again")),
            _ => {}
        }
        if o.slot_count != r.slot_count && (o.is_master() || r.is_master()) {
            events.push(format!("{name} slots {} -> {}", o.slot_count, r.slot_count));
        }
    }
    for o in before.rows.iter().filter(|o| !new.contains_key(o.id.as_str())) {
        events.push(format!("node {} {} left", o.short(), o.addr()));
    }
    events
}

/// Wall-clock time of day, UTC, `HH:MM:SS`.
fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(lines: &[&str], stats: Option<(u64, u64)>) -> Snapshot {
        Snapshot {
            via: "127.0.0.1:1".into(),
            state: "ok".into(),
            rows: lines
                .iter()
                .map(|l| Row::new(NodeLine::parse(l).unwrap(), stats))
                .collect(),
        }
    }

    const A: &str = "aaaaaaaa11111111111111111111111111111111";
    const B: &str = "bbbbbbbb22222222222222222222222222222222";

    #[test]
    fn table_rows_and_summary() {
        let s = snap(
            &[
                &format!("{A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383"),
                &format!("{B} 127.0.0.1:7001@17001 slave {A} 0 0 1 connected"),
            ],
            Some((5, 2)),
        );
        let text = render(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID        ADDRESS"), "{text}");
        assert!(
            lines[1].starts_with("aaaaaaaa  127.0.0.1:7000  master   -"),
            "{text}"
        );
        assert!(lines[1].contains("0-16383"), "{text}");
        assert!(
            lines[2].starts_with("bbbbbbbb  127.0.0.1:7001  replica  aaaaaaaa"),
            "{text}"
        );
        assert!(
            lines[3].contains("1 masters, 1 replicas | 16384/16384 slots covered | 5 keys | 4 ops/s"),
            "{text}"
        );
    }

    #[test]
    fn failover_and_flags_are_events() {
        let before = snap(
            &[
                &format!("{A} 127.0.0.1:7000@17000 master - 0 0 1 connected 0-16383"),
                &format!("{B} 127.0.0.1:7001@17001 myself,slave {A} 0 0 1 connected"),
            ],
            Some((0, 0)),
        );
        let after = snap(
            &[
                &format!("{A} 127.0.0.1:7000@17000 master,fail - 0 0 1 disconnected"),
                &format!("{B} 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 0-16383"),
            ],
            Some((0, 0)),
        );
        let events = diff(&before, &after);
        assert!(
            events.contains(
                &"failover: bbbbbbbb 127.0.0.1:7001 is now a master (was a replica of aaaaaaaa)".to_string()
            ),
            "{events:?}"
        );
        assert!(
            events.contains(&"aaaaaaaa 127.0.0.1:7000 flagged FAIL".to_string()),
            "{events:?}"
        );
        assert!(
            events.iter().any(|e| e.contains("connected -> disconnected")),
            "{events:?}"
        );
        assert!(
            events.iter().any(|e| e.contains("slots 16384 -> 0")),
            "{events:?}"
        );
        assert!(diff(&before, &before).is_empty());
    }

    #[test]
    fn keyspace_sums_databases() {
        assert_eq!(
            keyspace_keys(
                "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb2:keys=4,expires=1,avg_ttl=9\r\n"
            ),
            7
        );
        assert_eq!(keyspace_keys("# Keyspace\r\n"), 0);
    }
}
