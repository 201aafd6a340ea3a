//! `backup host:port <directory>`: as redis-cli 7.0, a `nodes.json` describing every node
//! (redis-cli's hand-written JSON, byte for byte) and, for each master, an RDB snapshot
//! fetched with SYNC into `redis-node-<ip>-<port>-<id>.rdb`.

use super::node::Node;
use super::{check, parse_addr, Cluster, Ctx};
use crate::rdb;

pub fn backup(ctx: &Ctx) -> bool {
    let Some((ip, port, _)) = parse_addr(&ctx.cmd.args[..1]) else {
        eprint!("{}", super::INVALID_HOST_ARG);
        return false;
    };
    let dir = ctx.cmd.args[1].clone();
    let Some(mut c) = Cluster::load(ctx, &ip, port) else {
        return false;
    };
    let report = check::check_cluster_report(ctx, &mut c, false);
    let errors = if report.ok { 0 } else { report.errors };
    let mut entries = Vec::new();
    for n in &mut c.nodes {
        entries.push(node_json(n, errors));
        if n.replicate.is_some() {
            continue;
        }
        ctx.info(&format!(">>> Node {} -> Saving RDB...", n.addr()));
        let Some(link) = n.link.take() else {
            continue;
        };
        let filename = rdb_filename(&dir, n);
        let fetch = rdb::Fetch {
            filename: &filename,
            standalone: false,
        };
        if let Err(e) = rdb::fetch(link, &fetch) {
            // redis-cli exits on the spot, with the message on stderr.
            eprintln!("{e}");
            return false;
        }
    }
    let json = format!("[\n{}\n]", entries.join(",\n"));
    let path = format!("{}nodes.json", with_slash(&dir));
    ctx.info(&format!("Saving cluster configuration to: {path}"));
    if std::fs::write(&path, json).is_err() {
        ctx.err(&format!("Could not save nodes to: {path}"));
        // redis-cli prints this one in the success colour.
        ctx.ok("[ERR] Failed to back cluster!");
        return false;
    }
    if !report.ok {
        ctx.warn(
            "*** Cluster seems to have some problems, please be aware of it if you're going to restore this backup.",
        );
    }
    ctx.ok(&format!("[OK] Backup created into: {dir}"));
    true
}

fn with_slash(dir: &str) -> String {
    if dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    }
}

/// Where a master's snapshot goes, named as redis-cli names it.
pub fn rdb_filename(dir: &str, n: &Node) -> String {
    format!("{}redis-node-{}-{}-{}.rdb", with_slash(dir), n.ip, n.port, n.name)
}

/// One node of nodes.json, in redis-cli's layout.
fn node_json(n: &Node, errors: usize) -> String {
    let replicate = match &n.replicate {
        Some(m) => format!("\"{m}\""),
        None => "null".into(),
    };
    let mut json = format!(
        "  {{\n    \"name\": \"{}\",\n    \"host\": \"{}\",\n    \"port\": {},\n    \"replicate\": {replicate},\n    \"slots\": [{}],\n    \"slots_count\": {},\n    \"flags\": \"{}\",\n    \"current_epoch\": {}",
        n.name,
        n.ip,
        n.port,
        n.slots_string().replace('-', ","),
        n.slots_count,
        n.flags.join(","),
        n.config_epoch
    );
    if errors > 0 {
        json.push_str(&format!(",\n    \"cluster_errors\": {errors}"));
    }
    let pairs = |m: &std::collections::BTreeMap<u16, String>| {
        m.iter()
            .map(|(slot, peer)| format!("\"{slot}\": \"{peer}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    if !n.migrating.is_empty() {
        json.push_str(&format!(",\n    \"migrating\": {{{}}}", pairs(&n.migrating)));
    }
    if !n.importing.is_empty() {
        json.push_str(&format!(",\n    \"importing\": {{{}}}", pairs(&n.importing)));
    }
    json.push_str("\n  }");
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_file_names_as_redis_cli() {
        let mut n = Node::new("127.0.0.1", 7000);
        n.name = "abc".into();
        n.flags = vec!["master".into()];
        n.add_slots(0, 5460);
        n.add_slots(6000, 6000);
        n.config_epoch = 3;
        n.migrating.insert(6000, "def".into());
        assert_eq!(
            node_json(&n, 2),
            "  {\n    \"name\": \"abc\",\n    \"host\": \"127.0.0.1\",\n    \"port\": 7000,\n    \"replicate\": null,\n    \"slots\": [[0,5460],[6000]],\n    \"slots_count\": 5462,\n    \"flags\": \"master\",\n    \"current_epoch\": 3,\n    \"cluster_errors\": 2,\n    \"migrating\": {\"6000\": \"def\"}\n  }"
        );
        assert_eq!(rdb_filename("/b", &n), "/b/redis-node-127.0.0.1-7000-abc.rdb");
        assert_eq!(rdb_filename("/b/", &n), "/b/redis-node-127.0.0.1-7000-abc.rdb");
    }
}
