//! Server administration over the wire: CONFIG GET/SET (compared with redis-server) with
//! config files, CLIENT SETNAME/GETNAME/LIST/KILL.

use std::time::Duration;

use slotkv_testkit::{write_file, Reply, ServerProcess};

use crate::util::*;

/// `CONFIG GET name` → the value.
#[track_caller]
pub fn config_get(c: &mut slotkv_testkit::TestClient, name: &str) -> String {
    match c.cmd(&["CONFIG", "GET", name]) {
        Reply::Array(v) if v.len() == 2 => v[1].as_str().unwrap_or_default().to_string(),
        other => panic!("CONFIG GET {name} replied {other}"),
    }
}

#[test]
fn config_file_values_and_port_override_via_config_get() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_file(
        dir.path(),
        "slotkv.conf",
        "port 1\nmaxmemory-policy allkeys-lru\nhz 20\n",
    )
    .unwrap();
    let s = ServerProcess::builder(slotkv()).config_file(&conf).start();
    let mut c = s.client();
    assert_eq!(config_get(&mut c, "port"), s.port().to_string());
    assert_eq!(config_get(&mut c, "maxmemory-policy"), "allkeys-lru");
    assert_eq!(config_get(&mut c, "hz"), "20");
    // Untouched directives keep Redis's defaults.
    assert_eq!(config_get(&mut c, "databases"), "16");
    assert_eq!(config_get(&mut c, "timeout"), "0");
}

#[test]
fn config_get_set_match_redis() {
    // A server of its own: other tests must not see these settings.
    let script: &[&[&str]] = &[
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "SET", "maxmemory", "10mb"],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["CONFIG", "SET", "hz", "notanumber"],
        &["CONFIG", "SET", "nosuchparam", "1"],
        &["CONFIG", "SET", "appendonly"],
        &["CONFIG", "GET", "slowlog-max-len"],
        &["CONFIG", "SET", "daemonize", "yes"],
    ];
    assert_same_on_both(&[], |s| {
        let mut c = s.client();
        script.iter().map(|cmd| c.cmd(cmd)).collect()
    });
}

#[test]
fn client_setname_getname_list_kill() {
    let s = start(&[]);
    let mut a = s.client();
    let mut b = s.client();
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
    a.cmd_ok(&["CLIENT", "SETNAME", "alpha"]);
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), bulk("alpha"));
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "has space"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    b.cmd_ok(&["CLIENT", "SETNAME", "beta"]);
    let b_id = b.cmd(&["CLIENT", "ID"]).as_int().unwrap();
    let list = a.cmd(&["CLIENT", "LIST"]);
    let text = list.as_str().unwrap().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" name=alpha ") && l.contains(" cmd=client|list")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("id={b_id} ")) && l.contains(" name=beta ")),
        "{text}"
    );
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &b_id.to_string()]), int(1));
    assert!(b.read_until_closed(Duration::from_secs(5)).is_empty());
    let b_addr = b.stream().local_addr().unwrap().to_string();
    assert_eq!(a.cmd(&["CLIENT", "KILL", &b_addr]), err("ERR No such client"));
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", "999999"]), int(0));
    let text = a.cmd(&["CLIENT", "LIST"]).as_str().unwrap().to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// A pattern's matches come in the server's own order (a hash table's, in Redis); clients
/// read them as pairs.
#[test]
fn config_get_pattern_matches_redis_as_pairs() {
    fn pairs(r: Reply) -> Vec<(Reply, Reply)> {
        let Reply::Array(v) = r else {
            panic!("CONFIG GET replied {r}")
        };
        let mut p: Vec<(Reply, Reply)> = v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
        p.sort_by_key(|(k, _)| k.as_str().unwrap_or_default().to_string());
        p
    }
    let s = start(&[]);
    let r = start_redis(&[]);
    for pattern in ["slowlog-*", "*max-*-entries*", "maxmemory*"] {
        let ours = pairs(s.client().cmd(&["CONFIG", "GET", pattern]));
        let theirs = pairs(r.client().cmd(&["CONFIG", "GET", pattern]));
        assert_eq!(ours, theirs, "CONFIG GET {pattern}");
    }
}

#[test]
fn config_defaults_match_redis() {
    assert_same_on_both(&[], |s| {
        let mut c = s.client();
        [
            "databases",
            "timeout",
            "tcp-keepalive",
            "maxclients",
            "maxmemory",
            "maxmemory-policy",
            "hz",
            "appendfsync",
            "proto-max-bulk-len",
            "client-query-buffer-limit",
            "slowlog-max-len",
            "notify-keyspace-events",
            "list-max-listpack-size",
            "hash-max-listpack-entries",
            "lua-time-limit",
            "cluster-node-timeout",
        ]
        .iter()
        .map(|name| c.cmd(&["CONFIG", "GET", name]))
        .collect()
    });
}

/// Whether a reply arrives within `wait` (a command held by a pause does not answer).
fn replied_within(c: &mut slotkv_testkit::TestClient, wait: Duration) -> Option<Reply> {
    c.set_timeout(wait).unwrap();
    let r = c.try_read_reply().ok();
    c.set_timeout(Duration::from_secs(10)).unwrap();
    r
}

#[test]
fn client_pause_holds_writes_or_everything_until_unpause() {
    let s = start(&["--enable-debug-command", "yes"]);
    let mut admin = s.client();
    let mut writer = s.client();
    let mut reader = s.client();
    let short = Duration::from_millis(300);
    admin.cmd_ok(&["SET", "k", "0"]);

    // WRITE: reads go on, writes wait for CLIENT UNPAUSE.
    admin.cmd_ok(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    assert_eq!(reader.cmd(&["GET", "k"]), Reply::Bulk(b"0".to_vec()));
    writer.send(&["SET", "k", "1"]).unwrap();
    assert_eq!(
        replied_within(&mut writer, short),
        None,
        "a write ran during a WRITE pause"
    );
    assert_eq!(reader.cmd(&["GET", "k"]), Reply::Bulk(b"0".to_vec()));
    // PUBLISH may replicate: it waits too.
    reader.send(&["PUBLISH", "ch", "m"]).unwrap();
    assert_eq!(
        replied_within(&mut reader, short),
        None,
        "PUBLISH ran during a WRITE pause"
    );
    admin.cmd_ok(&["CLIENT", "UNPAUSE"]);
    assert_eq!(writer.read_reply(), Reply::Status("OK".into()));
    assert_eq!(reader.read_reply(), Reply::Int(0));
    assert_eq!(reader.cmd(&["GET", "k"]), Reply::Bulk(b"1".to_vec()));

    // MULTI: commands are queued; EXEC waits only if something queued writes.
    admin.cmd_ok(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    writer.cmd_ok(&["MULTI"]);
    assert_eq!(writer.cmd(&["GET", "k"]), Reply::Status("QUEUED".into()));
    assert!(matches!(writer.cmd(&["EXEC"]), Reply::Array(v) if v.len() == 1));
    writer.cmd_ok(&["MULTI"]);
    assert_eq!(writer.cmd(&["INCR", "k"]), Reply::Status("QUEUED".into()));
    writer.send(&["EXEC"]).unwrap();
    assert_eq!(
        replied_within(&mut writer, short),
        None,
        "EXEC of a write ran during a WRITE pause"
    );
    admin.cmd_ok(&["CLIENT", "UNPAUSE"]);
    assert_eq!(writer.read_reply(), Reply::Array(vec![Reply::Int(2)]));

    // Keys do not expire while paused; they do once the pause is over.
    admin.cmd_ok(&["SET", "ttl", "x", "PX", "50"]);
    admin.cmd_ok(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    let mut keys = s.client();
    assert!(
        !slotkv_testkit::wait_until(short, || keys.cmd(&["DBSIZE"]) != Reply::Int(2)),
        "a key expired actively during the pause"
    );
    // A read hides the expired key without deleting it (nothing to propagate).
    assert_eq!(keys.cmd(&["GET", "ttl"]), Reply::Nil);
    assert_eq!(keys.cmd(&["DBSIZE"]), Reply::Int(2));
    admin.cmd_ok(&["CLIENT", "UNPAUSE"]);
    assert!(slotkv_testkit::wait_until(Duration::from_secs(5), || keys
        .cmd(&["DBSIZE"])
        == Reply::Int(1)));

    // ALL: every command waits, until the pause times out.
    admin.cmd_ok(&["CLIENT", "PAUSE", "700", "ALL"]);
    let started = std::time::Instant::now();
    assert_eq!(reader.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "PING ran during an ALL pause"
    );

    // Errors as Redis gives them.
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "x"]),
        Reply::Error("ERR timeout is not an integer or out of range".into())
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "10", "READ"]),
        Reply::Error("ERR CLIENT PAUSE mode must be WRITE or ALL".into())
    );
}

#[test]
fn client_unblock_ends_a_blocking_pop_with_a_timeout_or_an_error() {
    let s = start(&[]);
    let mut admin = s.client();
    let mut waiter = s.client();
    let Reply::Int(id) = waiter.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    let id = id.to_string();
    let blocked = |admin: &mut slotkv_testkit::TestClient| {
        slotkv_testkit::wait_until(
            Duration::from_secs(5),
            || matches!(admin.cmd(&["INFO", "clients"]), Reply::Bulk(b) if String::from_utf8_lossy(&b).contains("blocked_clients:1")),
        )
    };
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id]),
        Reply::Int(0),
        "not blocked yet"
    );
    waiter.send(&["BLPOP", "nolist", "0"]).unwrap();
    assert!(blocked(&mut admin));
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    assert_eq!(waiter.read_reply(), Reply::NilArray);
    waiter.send(&["BLPOP", "nolist", "0"]).unwrap();
    assert!(blocked(&mut admin));
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), Reply::Int(1));
    assert_eq!(
        waiter.read_reply(),
        Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    // The client works normally afterwards, and a stale unblock does not leak into the
    // next blocking call.
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(0));
    admin.cmd(&["RPUSH", "l", "x"]);
    assert_eq!(
        waiter.cmd(&["BLPOP", "l", "1"]),
        Reply::Array(vec![Reply::Bulk(b"l".to_vec()), Reply::Bulk(b"x".to_vec())])
    );
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", "999999"]), Reply::Int(0));
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "NOW"]),
        Reply::Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into())
    );
}
