//! Commands over the wire: strings and expiry, transactions, pub/sub, MONITOR, AUTH,
//! databases, flushing, scripting stubs, and DUMP/RESTORE interop with redis-server.

use std::time::Duration;

use slotkv_testkit::{assert_eventually, encode, Reply, TestClient};

use crate::protocol::assert_same_replies;
use crate::util::*;

#[test]
fn strings_match_redis() {
    assert_same_replies(&[
        &["SET", "str:a", "hello"],
        &["GET", "str:a"],
        &["APPEND", "str:a", " world"],
        &["STRLEN", "str:a"],
        &["GETRANGE", "str:a", "0", "4"],
        &["GETRANGE", "str:a", "-5", "-1"],
        &["SETRANGE", "str:a", "6", "WORLD"],
        &["GET", "str:a"],
        &["SETNX", "str:a", "x"],
        &["SET", "str:a", "y", "NX"],
        &["SET", "str:a", "y", "XX", "GET"],
        &["GETDEL", "str:a"],
        &["GET", "str:a"],
        &["SET", "str:n", "10"],
        &["INCR", "str:n"],
        &["INCRBY", "str:n", "-20"],
        &["DECR", "str:n"],
        &["DECRBY", "str:n", "5"],
        &["INCRBYFLOAT", "str:n", "1.5"],
        &["INCRBYFLOAT", "str:n", "1e3"],
        &["SET", "str:max", "9223372036854775807"],
        &["INCR", "str:max"],
        &["MSET", "str:m1", "1", "str:m2", "2"],
        &["MGET", "str:m1", "str:m2", "str:none"],
        &["MSETNX", "str:m1", "x", "str:m3", "3"],
        &["MGET", "str:m1", "str:m3"],
        &["SET", "str:lcs1", "ohmytext"],
        &["SET", "str:lcs2", "mynewtext"],
        &["LCS", "str:lcs1", "str:lcs2"],
        &["LCS", "str:lcs1", "str:lcs2", "LEN"],
        &["SET", "str:e", "v", "EX", "100"],
        &["GETEX", "str:e", "PERSIST"],
        &["SETEX", "str:e", "-1", "v"],
        &["PSETEX", "str:e", "0", "v"],
        &["ECHO", "hi there"],
        &["PING", "msg"],
    ]);
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let s = shared();
    let mut c = s.client();
    // A database no other test uses, so DBSIZE counts only these keys.
    c.cmd_ok(&["SELECT", "5"]);
    for i in 0..50 {
        c.cmd_ok(&["SET", &format!("exp:{i}"), "v", "PX", "100"]);
    }
    c.cmd_ok(&["SET", "exp:kept", "v", "EX", "1000"]);
    c.cmd_ok(&["SET", "exp:forever", "v"]);
    assert_eq!(c.cmd(&["DBSIZE"]), int(52));
    // Nobody reads the keys: only the periodic cycle can remove them.
    assert_eventually(Duration::from_secs(5), "active expiry empties the db", || {
        c.cmd(&["DBSIZE"]) == int(2)
    });
    assert_eq!(c.cmd(&["GET", "exp:kept"]), bulk("v"));
}

#[test]
fn keys_and_expiry_match_redis() {
    assert_same_replies(&[
        &["SET", "kx:a", "1"],
        &["EXISTS", "kx:a", "kx:a", "kx:none"],
        &["TYPE", "kx:a"],
        &["TTL", "kx:a"],
        &["EXPIRE", "kx:a", "1000"],
        &["EXPIRE", "kx:a", "1000", "NX"],
        &["PERSIST", "kx:a"],
        &["TTL", "kx:a"],
        &["TTL", "kx:none"],
        &["PEXPIRE", "kx:a", "0"],
        &["EXISTS", "kx:a"],
        &["SET", "kx:b", "2"],
        &["RENAME", "kx:b", "kx:c"],
        &["RENAME", "kx:none", "kx:d"],
        &["RENAMENX", "kx:c", "kx:c"],
        &["COPY", "kx:c", "kx:e"],
        &["GET", "kx:e"],
        &["DEL", "kx:c", "kx:e", "kx:none"],
        &["UNLINK", "kx:c"],
        &["SET", "kx:t", "v"],
        &["TOUCH", "kx:t", "kx:none"],
        &["OBJECT", "ENCODING", "kx:t"],
        &["EXPIRETIME", "kx:t"],
    ]);
}

#[test]
fn lazy_expiry_on_access() {
    let s = start(&["--hz", "1"]);
    let mut c = s.client();
    c.cmd_ok(&["SET", "lazy", "v", "PX", "30"]);
    assert_eventually(Duration::from_secs(5), "GET stops seeing the key", || {
        c.cmd(&["GET", "lazy"]) == Reply::Nil
    });
}

#[test]
fn multi_exec_discard() {
    let s = shared();
    let mut c = s.client();
    c.cmd_ok(&["MULTI"]);
    assert_eq!(c.cmd(&["SET", "tx:a", "1"]), Reply::status("QUEUED"));
    assert_eq!(c.cmd(&["INCR", "tx:a"]), Reply::status("QUEUED"));
    assert_eq!(c.cmd(&["GET", "tx:a"]), Reply::status("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![ok(), int(2), bulk("2")]));
    c.cmd_ok(&["MULTI"]);
    c.cmd(&["SET", "tx:a", "discarded"]);
    c.cmd_ok(&["DISCARD"]);
    assert_eq!(c.cmd(&["GET", "tx:a"]), bulk("2"));
    // A runtime error inside EXEC does not abort the rest.
    c.cmd_ok(&["MULTI"]);
    c.cmd(&["INCR", "tx:a"]);
    c.cmd(&["SET", "tx:a", "x", "EX", "bad"]);
    c.cmd(&["INCR", "tx:a"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![
            int(3),
            err("ERR value is not an integer or out of range"),
            int(4)
        ])
    );
}

#[test]
fn exec_aborted_when_watched_key_changes() {
    let s = shared();
    let mut c = s.client();
    let mut other = s.client();
    c.cmd_ok(&["SET", "tx:w", "0"]);
    c.cmd_ok(&["WATCH", "tx:w"]);
    other.cmd_ok(&["SET", "tx:w", "changed"]);
    c.cmd_ok(&["MULTI"]);
    c.cmd(&["SET", "tx:w", "mine"]);
    // The null array, exactly.
    assert_eq!(c.raw(&encode(&["EXEC"])), b"*-1\r\n");
    assert_eq!(c.cmd(&["GET", "tx:w"]), bulk("changed"));
    // WATCH is cleared by EXEC: the next transaction goes through.
    c.cmd_ok(&["MULTI"]);
    c.cmd(&["SET", "tx:w", "mine"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![ok()]));
    // UNWATCH forgets the keys: a later change does not abort.
    c.cmd_ok(&["SET", "tx:w2", "v"]);
    c.cmd_ok(&["WATCH", "tx:w2", "tx:w"]);
    c.cmd_ok(&["UNWATCH"]);
    other.cmd_ok(&["SET", "tx:w", "again"]);
    c.cmd_ok(&["MULTI"]);
    c.cmd(&["GET", "tx:w2"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![bulk("v")]));
}

#[test]
fn execabort_after_queued_error() {
    assert_same_replies(&[
        &["SET", "tx:abort", "before"],
        &["MULTI"],
        &["SET", "tx:abort", "after"],
        &["NOSUCHCOMMAND"],
        &["GET"],
        &["EXEC"],
        &["GET", "tx:abort"],
        &["MULTI"],
        &["WATCH", "tx:abort"],
        &["EXEC"],
    ]);
}

#[test]
fn pubsub_counts_and_messages() {
    let s = shared();
    let mut sub = s.client();
    let mut publisher = s.client();
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "ps:a", "ps:b"]),
        Reply::Array(vec![bulk("subscribe"), bulk("ps:a"), int(1)])
    );
    assert_eq!(
        sub.read_reply(),
        Reply::Array(vec![bulk("subscribe"), bulk("ps:b"), int(2)])
    );
    assert_eq!(
        sub.cmd(&["PSUBSCRIBE", "ps:news.*"]),
        Reply::Array(vec![bulk("psubscribe"), bulk("ps:news.*"), int(3)])
    );
    assert_eq!(publisher.cmd(&["PUBLISH", "ps:a", "hello"]), int(1));
    assert_eq!(publisher.cmd(&["PUBLISH", "ps:news.today", "x"]), int(1));
    assert_eq!(publisher.cmd(&["PUBLISH", "ps:nobody", "x"]), int(0));
    assert_eq!(
        sub.read_reply(),
        Reply::Array(vec![bulk("message"), bulk("ps:a"), bulk("hello")])
    );
    assert_eq!(
        sub.read_reply(),
        Reply::Array(vec![
            bulk("pmessage"),
            bulk("ps:news.*"),
            bulk("ps:news.today"),
            bulk("x")
        ])
    );
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "ps:a", "ps:zzz"]),
        Reply::Array(vec![bulk("ps:a"), int(1), bulk("ps:zzz"), int(0)])
    );
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE", "ps:a"]),
        Reply::Array(vec![bulk("unsubscribe"), bulk("ps:a"), int(2)])
    );
    assert_eq!(publisher.cmd(&["PUBLISH", "ps:a", "gone"]), int(0));
    assert_eq!(
        sub.cmd(&["PUNSUBSCRIBE"]),
        Reply::Array(vec![bulk("punsubscribe"), bulk("ps:news.*"), int(1)])
    );
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE"]),
        Reply::Array(vec![bulk("unsubscribe"), bulk("ps:b"), int(0)])
    );
    // Out of subscriber context: ordinary commands work again.
    assert_eq!(sub.cmd(&["GET", "ps:none"]), Reply::Nil);
}

#[test]
fn resp2_subscriber_context_matches_redis() {
    assert_same_replies(&[
        &["SUBSCRIBE", "psctx:a"],
        &["GET", "psctx:k"],
        &["SET", "psctx:k", "v"],
        &["PING"],
        &["PING", "hi"],
        &["PSUBSCRIBE", "psctx:*"],
        &["PUNSUBSCRIBE", "psctx:*"],
        &["UNSUBSCRIBE", "psctx:a"],
        &["PING"],
        &["UNSUBSCRIBE"],
    ]);
}

#[test]
fn resp3_pubsub_uses_push() {
    let s = shared();
    let mut sub = s.client();
    sub.cmd(&["HELLO", "3"]);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "ps3:ch"]),
        Reply::Push(vec![bulk("subscribe"), bulk("ps3:ch"), int(1)])
    );
    // RESP3 clients may run any command while subscribed.
    assert_eq!(sub.cmd(&["GET", "ps3:none"]), Reply::Nil);
    assert_eq!(sub.cmd(&["PING"]), Reply::status("PONG"));
    assert_eq!(s.client().cmd(&["PUBLISH", "ps3:ch", "pushed"]), int(1));
    assert_eq!(
        sub.read_reply(),
        Reply::Push(vec![bulk("message"), bulk("ps3:ch"), bulk("pushed")])
    );
}

#[test]
fn monitor_shows_commands() {
    let s = start(&[]);
    let mut mon = s.client();
    mon.cmd_ok(&["MONITOR"]);
    let mut c = s.client();
    c.cmd_ok(&["SELECT", "2"]);
    c.cmd_ok(&["SET", "mon:k", "a b\"\n"]);
    let port = c.stream().local_addr().unwrap().port();
    let line = loop {
        let Reply::Status(line) = mon.read_reply() else {
            panic!("MONITOR sent a non-status line");
        };
        if line.contains("mon:k") {
            break line;
        }
    };
    // `<secs>.<micros> [<db> <addr>] "arg" ...`
    let (ts, rest) = line.split_once(' ').unwrap();
    let (secs, micros) = ts.split_once('.').unwrap();
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
    assert_eq!(
        rest,
        format!("[2 127.0.0.1:{port}] \"SET\" \"mon:k\" \"a b\\\"\\n\""),
        "{line}"
    );
}

#[test]
fn auth_and_requirepass_match_redis() {
    let s = start(&["--requirepass", "s3cret"]);
    let r = start_redis(&["--requirepass", "s3cret"]);
    let script: &[&[&str]] = &[
        &["GET", "k"],
        &["PING"],
        &["AUTH", "wrong"],
        &["AUTH", "nouser", "s3cret"],
        &["HELLO", "3"],
        &["AUTH", "s3cret"],
        &["SET", "k", "v"],
        &["AUTH", "default", "s3cret"],
        &["GET", "k"],
    ];
    let (mut a, mut b) = (s.client(), r.client());
    for cmd in script {
        assert_eq!(a.cmd(cmd), b.cmd(cmd), "{cmd:?}");
    }
    assert_eq!(
        s.client().cmd(&["GET", "k"]),
        err("NOAUTH Authentication required.")
    );
    assert_eq!(
        s.client().cmd(&["AUTH", "x"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    // HELLO with AUTH authenticates and switches protocol in one go.
    let mut h = s.client();
    assert!(matches!(
        h.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]),
        Reply::Map(_)
    ));
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v"));
}

#[test]
fn select_and_databases() {
    let s = start(&["--databases", "4"]);
    let mut c = s.client();
    c.cmd_ok(&["SET", "k", "db0"]);
    c.cmd_ok(&["SELECT", "3"]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    c.cmd_ok(&["SET", "k", "db3"]);
    assert_eq!(c.cmd(&["SELECT", "4"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("db3"));
    // Each connection starts in db 0.
    assert_eq!(s.client().cmd(&["GET", "k"]), bulk("db0"));
}

#[test]
fn dbsize_flushdb_flushall() {
    let s = start(&[]);
    let mut c = s.client();
    for i in 0..10 {
        c.cmd_ok(&["SET", &format!("k{i}"), "v"]);
    }
    c.cmd_ok(&["SELECT", "1"]);
    c.cmd_ok(&["SET", "a", "1"]);
    c.cmd_ok(&["SET", "b", "1"]);
    assert_eq!(c.cmd(&["DBSIZE"]), int(2));
    c.cmd_ok(&["FLUSHDB"]);
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    c.cmd_ok(&["SELECT", "0"]);
    assert_eq!(c.cmd(&["DBSIZE"]), int(10));
    c.cmd_ok(&["SELECT", "1"]);
    c.cmd_ok(&["SET", "a", "1"]);
    c.cmd_ok(&["FLUSHALL", "SYNC"]);
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    c.cmd_ok(&["SELECT", "0"]);
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    assert_eq!(c.cmd(&["FLUSHALL", "NOW"]), err("ERR syntax error"));
}

#[test]
fn function_dump_restore_of_empty_set_interops() {
    let s = shared();
    let r = start_redis(&[]);
    let mut ours = s.client();
    let mut theirs = r.client();
    let our_dump = ours.cmd(&["FUNCTION", "DUMP"]);
    let their_dump = theirs.cmd(&["FUNCTION", "DUMP"]);
    assert_eq!(our_dump, their_dump);
    let payload = our_dump.as_bytes().unwrap().to_vec();
    let restore = |c: &mut TestClient, p: &[u8]| {
        let args: [&[u8]; 3] = [b"FUNCTION", b"RESTORE", p];
        c.cmd(&args)
    };
    assert_eq!(restore(&mut theirs, &payload), ok());
    assert_eq!(restore(&mut ours, &payload), ok());
    assert_eq!(ours.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
}

#[test]
fn eval_answers_a_clear_error() {
    let s = shared();
    let mut c = s.client();
    let r = c.cmd(&["EVAL", "return 1", "0"]);
    let Reply::Error(text) = &r else {
        panic!("EVAL replied {r}");
    };
    assert!(
        text.starts_with("ERR ") && text.contains("not supported"),
        "{text}"
    );
    // The connection is still usable.
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
}

fn dump(c: &mut TestClient, key: &str) -> Vec<u8> {
    match c.cmd(&["DUMP", key]) {
        Reply::Bulk(b) => b,
        other => panic!("DUMP {key} replied {other}"),
    }
}

fn restore(c: &mut TestClient, key: &str, ttl: &str, payload: &[u8]) -> Reply {
    let args: [&[u8]; 4] = [b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
    c.cmd(&args)
}

/// RESTORE payloads of 64 KB and more are decoded before the core lock is taken (MIGRATE of
/// big keys); the replies must be those of redis-server all the same, also for a payload that
/// does not decode, a key that exists, pipelined duplicates and a transaction.
#[test]
fn large_restore_payloads_reply_as_redis() {
    let s = shared();
    let r = start_redis(&[]);
    let mut ours = s.client();
    let mut theirs = r.client();
    let mut args = vec!["HSET".to_string(), "lr:src".to_string()];
    for f in 0..20_000 {
        args.push(format!("field{f}"));
        args.push(format!("value{f}"));
    }
    theirs.cmd(&args);
    let payload = dump(&mut theirs, "lr:src");
    assert!(payload.len() > 64 * 1024, "{}", payload.len());
    let mut corrupt = payload.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x55;
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["DEL", "lr:a", "lr:b"]);
    }
    let both = |ours: &mut TestClient, theirs: &mut TestClient, args: &[&[u8]]| {
        let (a, b) = (ours.cmd(args), theirs.cmd(args));
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(args[0]));
        a
    };
    assert_eq!(
        both(&mut ours, &mut theirs, &[b"RESTORE", b"lr:a", b"0", &payload]),
        ok()
    );
    both(&mut ours, &mut theirs, &[b"RESTORE", b"lr:a", b"0", &payload]);
    both(&mut ours, &mut theirs, &[b"RESTORE", b"lr:b", b"0", &corrupt]);
    both(
        &mut ours,
        &mut theirs,
        &[b"RESTORE", b"lr:a", b"0", &payload, b"REPLACE"],
    );
    both(
        &mut ours,
        &mut theirs,
        &[b"RESTORE", b"lr:a", b"0", &payload, b"NOSUCHOPTION"],
    );
    assert_eq!(ours.cmd(&["HLEN", "lr:a"]), Reply::Int(20_000));
    assert_eq!(ours.cmd(&["EXISTS", "lr:b"]), Reply::Int(0));
    // Pipelined: the same key twice (the second is BUSYKEY), then in a transaction.
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["DEL", "lr:a"]);
    }
    let pipeline = |c: &mut TestClient| -> Vec<Reply> {
        let cmds: [&[&[u8]]; 5] = [
            &[b"RESTORE", b"lr:a", b"0", &payload],
            &[b"RESTORE", b"lr:a", b"0", &payload],
            &[b"MULTI"],
            &[b"RESTORE", b"lr:b", b"0", &payload],
            &[b"EXEC"],
        ];
        for cmd in cmds {
            c.send(cmd).expect("send");
        }
        (0..cmds.len()).map(|_| c.read_reply()).collect()
    };
    assert_eq!(pipeline(&mut ours), pipeline(&mut theirs));
    assert_eq!(ours.cmd(&["HLEN", "lr:b"]), Reply::Int(20_000));
    assert_eq!(ours.cmd(&["HGET", "lr:a", "field19999"]), bulk("value19999"));
}

#[test]
fn dump_restore_interop_with_redis() {
    let s = shared();
    let r = start_redis(&["--enable-debug-command", "yes"]);
    let mut ours = s.client();
    let mut theirs = r.client();
    // Strings written by slotkv, restored by redis-server, and back.
    let long = "abcdefgh".repeat(1000);
    for (key, value) in [
        ("dr:plain", "hello"),
        ("dr:int", "12345"),
        ("dr:neg", "-7"),
        ("dr:long", long.as_str()),
        ("dr:empty", ""),
    ] {
        ours.cmd_ok(&["SET", key, value]);
        let payload = dump(&mut ours, key);
        assert_eq!(restore(&mut theirs, key, "0", &payload), ok(), "{key}");
        assert_eq!(theirs.cmd(&["GET", key]), bulk(value), "{key}");
        let back = dump(&mut theirs, key);
        assert_eq!(
            restore(&mut ours, key, "0", &back),
            err("BUSYKEY Target key name already exists.")
        );
        let args: [&[u8]; 5] = [b"RESTORE", key.as_bytes(), b"0", &back, b"REPLACE"];
        assert_eq!(ours.cmd(&args), ok());
        assert_eq!(ours.cmd(&["GET", key]), bulk(value), "{key}");
    }
    // Every other type, built by redis-server, goes through slotkv unchanged.
    theirs.cmd(&["RPUSH", "dr:list", "a", "b", "c"]);
    theirs.cmd(&["HSET", "dr:hash", "f1", "v1", "f2", "v2"]);
    theirs.cmd(&["SADD", "dr:set", "1", "2", "3"]);
    theirs.cmd(&["SADD", "dr:sset", "x", "y"]);
    theirs.cmd(&["ZADD", "dr:zset", "1.5", "a", "2", "b"]);
    for key in ["dr:list", "dr:hash", "dr:set", "dr:sset", "dr:zset"] {
        let payload = dump(&mut theirs, key);
        assert_eq!(restore(&mut ours, key, "0", &payload), ok(), "{key}");
        let again = dump(&mut ours, key);
        let copy = format!("{key}:copy");
        assert_eq!(restore(&mut theirs, &copy, "0", &again), ok(), "{key}");
        assert_eq!(
            theirs.cmd(&["DEBUG", "DIGEST-VALUE", key]),
            theirs.cmd(&["DEBUG", "DIGEST-VALUE", &copy]),
            "{key} changed on its way through slotkv"
        );
    }
    // A TTL given to RESTORE is kept.
    let payload = dump(&mut theirs, "dr:list");
    assert_eq!(restore(&mut ours, "dr:ttl", "100000", &payload), ok());
    assert_eq!(
        restore(&mut ours, "dr:bad", "0", b"garbage!!!!"),
        err("ERR DUMP payload version or checksum are wrong")
    );
}
