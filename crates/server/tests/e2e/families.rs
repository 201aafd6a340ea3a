//! The list, hash, set and sorted set families over the wire (compared with redis-server), blocking pops
//! woken by another connection or timing out, and WRONGTYPE.

use std::time::{Duration, Instant};

use slotkv_testkit::{encode, Reply};

use crate::protocol::assert_same_replies;
use crate::util::*;

#[test]
fn blpop_woken_by_lpush_from_another_connection() {
    let s = shared();
    let mut waiter = s.client();
    waiter.send(&["BLPOP", "bl:q", "bl:other", "10"]).unwrap();
    // The waiter must be blocked before the push, or the test proves nothing.
    let mut c = s.client();
    slotkv_testkit::assert_eventually(Duration::from_secs(5), "client blocked", || {
        c.cmd(&["INFO", "clients"])
            .as_str()
            .is_some_and(|t| t.contains("blocked_clients:1"))
    });
    let started = Instant::now();
    assert_eq!(c.cmd(&["LPUSH", "bl:q", "job"]), int(1));
    assert_eq!(waiter.read_reply(), Reply::Array(vec![bulk("bl:q"), bulk("job")]));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(c.cmd(&["LLEN", "bl:q"]), int(0));
}

#[test]
fn blpop_timeout_returns_nil() {
    let s = shared();
    let mut c = s.client();
    let started = Instant::now();
    assert_eq!(c.raw(&encode(&["BLPOP", "bl:never", "0.2"])), b"*-1\r\n");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // RESP3: the null type.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.raw(&encode(&["BLPOP", "bl:never", "0.1"])), b"_\r\n");
}

#[test]
fn lists_match_redis() {
    assert_same_replies(&[
        &["RPUSH", "ls:a", "a", "b", "c"],
        &["LPUSH", "ls:a", "z"],
        &["LRANGE", "ls:a", "0", "-1"],
        &["LLEN", "ls:a"],
        &["LINDEX", "ls:a", "-1"],
        &["LPOP", "ls:a"],
        &["RPOP", "ls:a", "2"],
        &["LINSERT", "ls:a", "BEFORE", "a", "x"],
        &["LSET", "ls:a", "0", "y"],
        &["LREM", "ls:a", "0", "a"],
        &["LRANGE", "ls:a", "0", "-1"],
        &["LMOVE", "ls:a", "ls:b", "LEFT", "RIGHT"],
        &["LPOS", "ls:b", "y"],
        &["SET", "ls:str", "v"],
        &["LPUSH", "ls:str", "x"],
        &["LPOP", "ls:none"],
    ]);
}

#[test]
fn hashes_match_redis() {
    assert_same_replies(&[
        &["HSET", "hs:a", "f1", "v1", "f2", "v2"],
        &["HGET", "hs:a", "f1"],
        &["HMGET", "hs:a", "f1", "nope"],
        &["HLEN", "hs:a"],
        &["HEXISTS", "hs:a", "f2"],
        &["HINCRBY", "hs:a", "n", "5"],
        &["HINCRBYFLOAT", "hs:a", "n", "0.5"],
        &["HDEL", "hs:a", "f1", "nope"],
        &["HSETNX", "hs:a", "f2", "x"],
        &["HSTRLEN", "hs:a", "f2"],
        &["HGET", "hs:none", "f"],
        &["SET", "hs:str", "v"],
        &["HGET", "hs:str", "f"],
    ]);
}

#[test]
fn wrongtype_error_text() {
    let s = shared();
    let mut c = s.client();
    c.cmd(&["LPUSH", "wt:list", "a"]);
    assert_eq!(
        c.cmd(&["GET", "wt:list"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        c.raw(&encode(&["INCR", "wt:list"])),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn blocking_pops_in_pipelines_and_transactions_match_redis() {
    assert_same_on_both(&[], |s| {
        let mut a = s.client();
        let mut b = s.client();
        let mut out = Vec::new();
        // A pipeline with a blocking pop in the middle: the requests after it wait for it.
        a.write_raw(
            &[
                encode(&["SET", "before", "1"]),
                encode(&["BLPOP", "q", "10"]),
                encode(&["GET", "before"]),
            ]
            .concat(),
        )
        .unwrap();
        out.push(a.read_reply());
        assert_eventually_blocked(&mut b, 1);
        out.push(b.cmd(&["RPUSH", "q", "x", "y"]));
        out.push(a.read_reply());
        out.push(a.read_reply());
        out.push(b.cmd(&["LRANGE", "q", "0", "-1"]));
        // Inside MULTI a blocking pop never blocks: nil on an empty list.
        out.push(a.cmd(&["MULTI"]));
        out.push(a.cmd(&["BLPOP", "empty", "0"]));
        out.push(a.cmd(&["BRPOP", "q", "0"]));
        out.push(a.cmd(&["EXEC"]));
        // Two waiters on one key are served in arrival order.
        let mut c = s.client();
        a.send(&["BRPOP", "fifo", "10"]).unwrap();
        assert_eventually_blocked(&mut b, 1);
        c.send(&["BRPOP", "fifo", "10"]).unwrap();
        assert_eventually_blocked(&mut b, 2);
        out.push(b.cmd(&["LPUSH", "fifo", "first"]));
        out.push(a.read_reply());
        out.push(b.cmd(&["LPUSH", "fifo", "second"]));
        out.push(c.read_reply());
        // BLMOVE wakes up too, and a wrong type reports WRONGTYPE to the waiter.
        a.send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "10"]).unwrap();
        assert_eventually_blocked(&mut b, 1);
        out.push(b.cmd(&["RPUSH", "src", "m"]));
        out.push(a.read_reply());
        out.push(b.cmd(&["LRANGE", "dst", "0", "-1"]));
        out
    });
}

/// Waits until INFO says `n` clients are blocked.
#[track_caller]
fn assert_eventually_blocked(c: &mut slotkv_testkit::TestClient, n: usize) {
    let want = format!("blocked_clients:{n}\r");
    slotkv_testkit::assert_eventually(Duration::from_secs(5), &want, || {
        c.cmd(&["INFO", "clients"])
            .as_str()
            .is_some_and(|t| t.contains(&want))
    });
}

#[test]
fn more_lists_and_hashes_match_redis() {
    assert_same_replies(&[
        &["RPUSH", "lh:l", "1", "2", "3", "4", "5", "6"],
        &["LTRIM", "lh:l", "1", "-2"],
        &["LRANGE", "lh:l", "-100", "100"],
        &["LRANGE", "lh:l", "3", "1"],
        &["RPOPLPUSH", "lh:l", "lh:l"],
        &["LRANGE", "lh:l", "0", "-1"],
        &["LPUSHX", "lh:none", "x"],
        &["LINDEX", "lh:l", "100"],
        &["LSET", "lh:none", "0", "x"],
        &["LSET", "lh:l", "100", "x"],
        &["LPOS", "lh:l", "3", "RANK", "-1", "COUNT", "0"],
        &["LMPOP", "2", "lh:none", "lh:l", "RIGHT", "COUNT", "2"],
        &["LPOP", "lh:l", "0"],
        &["HSET", "lh:h", "b", "2", "a", "1", "c", "3"],
        &["HGETALL", "lh:h"],
        &["HKEYS", "lh:h"],
        &["HVALS", "lh:h"],
        &["HRANDFIELD", "lh:none"],
        &["HINCRBY", "lh:h", "a", "notint"],
        &["HINCRBYFLOAT", "lh:h", "a", "1.1"],
        &["HSET", "lh:h", "a"],
        &["HGETALL", "lh:none"],
    ]);
}

#[test]
fn sets_match_redis() {
    assert_same_replies(&[
        &["SADD", "st:a", "1", "2", "3"],
        &["SADD", "st:a", "3", "4"],
        &["SCARD", "st:a"],
        &["SISMEMBER", "st:a", "2"],
        &["SMISMEMBER", "st:a", "2", "9"],
        &["SREM", "st:a", "1", "9"],
        &["SADD", "st:b", "3", "4", "5"],
        &["SINTERCARD", "2", "st:a", "st:b"],
        &["SMOVE", "st:a", "st:b", "2"],
        &["SCARD", "st:b"],
        &["SET", "st:str", "v"],
        &["SADD", "st:str", "x"],
    ]);
}

#[test]
fn zsets_match_redis() {
    assert_same_replies(&[
        &["ZADD", "zs:a", "1", "one", "2.5", "two", "3", "three"],
        &["ZSCORE", "zs:a", "two"],
        &["ZRANGE", "zs:a", "0", "-1", "WITHSCORES"],
        &["ZRANK", "zs:a", "three"],
        &["ZINCRBY", "zs:a", "0.5", "one"],
        &["ZRANGEBYSCORE", "zs:a", "(1", "+inf"],
        &["ZREM", "zs:a", "one", "nope"],
        &["ZCARD", "zs:a"],
        &["ZCOUNT", "zs:a", "-inf", "+inf"],
        &["ZADD", "zs:a", "NX", "XX", "1", "x"],
        &["ZADD", "zs:a", "nan", "x"],
    ]);
}

#[test]
fn zsets_in_resp3_match_redis() {
    assert_same_on_both(&[], |s| {
        let mut c = s.client();
        c.cmd(&["HELLO", "3"]);
        [
            &["ZADD", "z", "1.5", "a", "-inf", "b", "10", "c"][..],
            &["ZSCORE", "z", "a"],
            &["ZSCORE", "z", "b"],
            &["ZSCORE", "z", "nope"],
            &["ZINCRBY", "z", "0.1", "a"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            &["ZMSCORE", "z", "a", "nope"],
            &["ZPOPMIN", "z"],
            &["ZRANDMEMBER", "nope"],
            &["ZADD", "z", "INCR", "1", "c"],
        ]
        .iter()
        .map(|cmd| c.cmd(cmd))
        .collect()
    });
}
