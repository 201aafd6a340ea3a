//! Differential test against a real redis-server 7.0.15 (redis-server and redis-cli must be
//! on PATH; `.ci/run` installs them). It runs the same CONFIG SET commands on both and compares replies
//! and the whole CONFIG GET * afterwards.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use slotkv_config::Config;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn start() -> Server {
    let port = 20000 + (std::process::id() % 20000) as u16;
    let dir = std::env::temp_dir().join(format!("slotkv-diff-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    for _ in 0..50 {
        if cli(port, &["ping"]) == "PONG" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port }
}

#[test]

fn config_set_and_get_match_redis() {
    let server = start();
    let mut ours = Config::from_args(&[
        "--port".into(),
        server.port.to_string(),
        "--save".into(),
        "".into(),
    ])
    .unwrap()
    .0;
    let cases: &[&[&str]] = &[
        &["maxmemory", "1gb"],
        &["maxmemory", "5K"],
        &["maxmemory", "12MB"],
        &["maxmemory", "-5"],
        &["maxmemory", "1 gb"],
        &["maxmemory-clients", "0%"],
        &["maxmemory-clients", "100%"],
        &["maxmemory-clients", "101%"],
        &["maxmemory-clients", "5mb"],
        &["hz", "0"],
        &["hz", "800"],
        &["hz", "-1"],
        &["timeout", "2147483648"],
        &["slowlog-log-slower-than", "-1"],
        &["slowlog-max-len", "9223372036854775808"],
        &["loglevel", "Debug"],
        &["maxmemory-policy", "ALLKEYS-LRU"],
        &["oom-score-adj", "relative"],
        &["oom-score-adj-values", "100 200 300"],
        &["oom-score-adj-values", "-2001 0 0"],
        &["oom-score-adj-values", "1 2"],
        &["save", "1 1 2 2"],
        &["save", "1 1 2"],
        &["save", ""],
        &["save", "5  1"],
        &["notify-keyspace-events", "Kx"],
        &["notify-keyspace-events", "AKEmn"],
        &["notify-keyspace-events", "z$"],
        &["client-output-buffer-limit", "normal 1kb 2kb 3 replica 4 5 6"],
        &["client-output-buffer-limit", "pubsub 1 2"],
        &["client-output-buffer-limit", "PUBSUB 1 2 3"],
        &["latency-tracking-info-percentiles", "0 100 50.5"],
        &["latency-tracking-info-percentiles", ""],
        &["latency-tracking-info-percentiles", "x"],
        &["shutdown-on-sigterm", "save now force"],
        &["shutdown-on-sigterm", "default"],
        &["proc-title-template", "{title} {port}"],
        &["cluster-announce-hostname", "node-1.example.com"],
        &["cluster-announce-hostname", "bad host"],
        &["cluster-announce-ip", "10.0.0.1"],
        &["cluster-announce-ip", ""],
        &["cluster-node-timeout", "5000"],
        &["cluster-replica-validity-factor", "0"],
        &["cluster-slave-validity-factor", "-1"],
        &["cluster-preferred-endpoint-type", "hostname"],
        &["cluster-link-sendbuf-limit", "1mb"],
        &["cluster-allow-reads-when-down", "YES"],
        &["cluster-config-file", "x.conf"],
        &["cluster-port", "1"],
        &["cluster-enabled", "no"],
        &["appendfilename", "x.aof"],
        &["requirepass", ""],
        &["masterauth", "secret"],
        &["masteruser", ""],
        &["replica-announce-ip", "1.2.3.4"],
        &["slave-announce-port", "70000"],
        &["min-slaves-to-write", "1"],
        &["lua-time-limit", "100"],
        &["hash-max-ziplist-entries", "1"],
        &["list-max-ziplist-size", "-1"],
        &["active-defrag-cycle-min", "0"],
        &["active-defrag-cycle-max", "99"],
        &["maxmemory-eviction-tenacity", "101"],
        &["tracking-table-max-keys", "0"],
        &["proto-max-bulk-len", "1000"],
        &["proto-max-bulk-len", "2mb"],
        &["client-query-buffer-limit", "1gb"],
        &["repl-backlog-size", "0"],
        &["repl-backlog-size", "10mb"],
        &["auto-aof-rewrite-min-size", "1gb"],
        &["ignore-warnings", "ARM64-COW-BUG"],
        &["acl-pubsub-default", "allchannels"],
        &["sanitize-dump-payload", "clients"],
        &["tls-auth-clients", "optional"],
        &["tls-port", "x"],
        &["key-load-delay", "5"],
        &["nosuch", "1"],
        &["maxmemory", "1", "maxmemory", "2"],
        &["maxmemory", "7", "port", "x"],
        &["maxmemory", "8", "daemonize", "yes"],
        &["slave-read-only", "no", "replica-read-only", "yes"],
        &["protected-mode", "no"],
        &["propagation-error-behavior", "panic-on-replicas"],
        &["replica-ignore-disk-write-errors", "yes"],
        &["socket-mark-id", "1"],
        &["io-threads", "2"],
        &["list-compress-depth", "1"],
        &["stream-node-max-bytes", "1kb"],
        &["zset-max-ziplist-value", "1k"],
    ];
    let mut mismatches = Vec::new();
    for case in cases {
        let mut args = vec!["config", "set"];
        args.extend_from_slice(case);
        let real = cli(server.port, &args);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = case
            .chunks(2)
            .map(|p| (p[0].as_bytes().to_vec(), p[1].as_bytes().to_vec()))
            .collect();
        let mine = match ours.set(&pairs) {
            Ok(_) => "OK".to_string(),
            Err(e) => e,
        };
        if real != mine {
            mismatches.push(format!("{case:?}: redis {real:?} / slotkv {mine:?}"));
        }
    }
    let real_all = cli(server.port, &["config", "get", "*"]);
    let lines: Vec<&str> = real_all.split('\n').collect();
    let mut real_map: Vec<(String, String)> = lines
        .chunks(2)
        .map(|kv| (kv[0].to_string(), kv.get(1).unwrap_or(&"").to_string()))
        .collect();
    real_map.sort();
    let mut our_map = ours.get_matching(b"*");
    our_map.sort();
    for (r, o) in real_map.iter().zip(&our_map) {
        if r != o && r.0 != "dir" {
            mismatches.push(format!("CONFIG GET: redis {r:?} / slotkv {o:?}"));
        }
    }
    assert_eq!(real_map.len(), our_map.len());
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// Loads bad (and a few good) config files in both and compares redis-server's fatal message
/// with ours (minus our extra "(source: ...)" line).
#[test]

fn config_file_errors_match_redis() {
    let dir = std::env::temp_dir().join(format!("slotkv-diff-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines = [
        "foo bar",
        "port 1 2",
        "daemonize maybe",
        "port 010",
        "port -1",
        "maxmemory 1.5gb",
        "maxmemory-clients -1%",
        "save 10 x",
        "save 1",
        "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
        "client-output-buffer-limit master 1 2 3",
        "client-output-buffer-limit normal 1 2 x",
        "oom-score-adj-values 1 2 x",
        "notify-keyspace-events KEAq",
        "replicaof host 65536",
        "replicaof host",
        "slaveof no",
        "appendfilename a/b",
        "appenddirname \"\"",
        "appenddirname a/b",
        "cluster-announce-hostname -_-",
        "shutdown-on-sigterm now save nosave",
        "shutdown-on-sigterm later",
        "latency-tracking-info-percentiles 1 x",
        "proc-title-template {nope}",
        "unixsocketperm 1000",
        "enable-debug-command maybe",
        "sentinel monitor x",
        "x.y",
        "rename-command a",
        "loadmodule",
        "user",
        "databases 0",
        "io-threads 129",
        "list-max-ziplist-entries 1 2",
        "lua-replicate-commands",
        "hz x",
        "tcp-backlog -1",
        "'unbalanced",
        "port \"6379\"x",
    ];
    let mut mismatches = Vec::new();
    for line in lines {
        let path = dir.join("t.conf");
        let text = format!("# test\nport 0\n{line}\n");
        std::fs::write(&path, &text).unwrap();
        let out = Command::new("timeout")
            .args(["1", "redis-server", path.to_str().unwrap()])
            .output()
            .expect("redis-server");
        let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
        let mine = match Config::from_file_text(&text, path.to_str().unwrap()) {
            Ok(_) => String::new(),
            Err(e) => {
                let s = e.to_string();
                s[..s.rfind("\n(source:").unwrap_or(s.len())].to_string()
            }
        };
        let real = if stderr.contains("FATAL CONFIG FILE ERROR") {
            stderr
        } else {
            String::new()
        };
        if real != mine {
            mismatches.push(format!("{line:?}:\n  redis:  {real:?}\n  slotkv: {mine:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
