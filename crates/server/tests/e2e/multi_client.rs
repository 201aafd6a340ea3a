//! Scenarios with several clients of one server, run on slotkv and on redis-server with
//! the replies compared: WATCH against other clients, databases and flushes, transactions
//! that select or publish, SWAPDB under WATCH, sharded pub/sub, connection limits and idle
//! timeouts.

use std::time::Duration;

use slotkv_testkit::{assert_eventually, Reply};

use crate::util::*;

/// A transaction of one PING on `a`; its EXEC reply says whether a watched key changed.
fn tx(a: &mut slotkv_testkit::TestClient, out: &mut Vec<Reply>) {
    out.push(a.cmd(&["MULTI"]));
    out.push(a.cmd(&["PING"]));
    out.push(a.cmd(&["EXEC"]));
}

#[test]
fn watch_across_clients_dbs_and_flushes() {
    assert_same_on_both(&[], |s| {
        let mut a = s.client();
        let mut b = s.client();
        let mut out = Vec::new();
        // The same key name in another database is another key.
        out.push(a.cmd(&["WATCH", "k"]));
        out.push(b.cmd(&["SELECT", "1"]));
        out.push(b.cmd(&["SET", "k", "x"]));
        tx(&mut a, &mut out);
        // FLUSHALL of a database holding the watched key.
        out.push(a.cmd(&["SET", "k", "v"]));
        out.push(a.cmd(&["WATCH", "k"]));
        out.push(b.cmd(&["FLUSHALL"]));
        tx(&mut a, &mut out);
        // FLUSHDB of the watched key's database, where the key does not exist.
        out.push(a.cmd(&["SET", "other", "v"]));
        out.push(a.cmd(&["WATCH", "absent"]));
        out.push(b.cmd(&["SELECT", "0"]));
        out.push(b.cmd(&["FLUSHDB"]));
        tx(&mut a, &mut out);
        // The watching client's own write counts too.
        out.push(a.cmd(&["WATCH", "k"]));
        out.push(a.cmd(&["SET", "k", "mine"]));
        tx(&mut a, &mut out);
        // A write that changes nothing does not.
        out.push(a.cmd(&["WATCH", "nothing"]));
        out.push(b.cmd(&["DEL", "nothing"]));
        out.push(b.cmd(&["GETDEL", "nothing"]));
        tx(&mut a, &mut out);
        // EXEC aborted in RESP3.
        out.push(
            a.cmd(&["HELLO", "3"])
                .as_str()
                .map(|_| Reply::Nil)
                .unwrap_or(Reply::Nil),
        );
        out.push(a.cmd(&["WATCH", "k"]));
        out.push(b.cmd(&["SET", "k", "other"]));
        tx(&mut a, &mut out);
        out
    });
}

#[test]
fn transactions_that_select_and_publish() {
    assert_same_on_both(&[], |s| {
        let mut a = s.client();
        let mut sub = s.client();
        let mut out = vec![sub.cmd(&["SUBSCRIBE", "ch"])];
        for cmd in [
            &["MULTI"][..],
            &["SELECT", "2"],
            &["SET", "k", "in2"],
            &["PUBLISH", "ch", "from-tx"],
            &["EXEC"],
            &["GET", "k"],
            &["SELECT", "0"],
            &["GET", "k"],
            &["MULTI"],
            &["WATCH", "k"],
            &["SUBSCRIBE", "x"],
            &["MULTI"],
            &["EXEC"],
        ] {
            out.push(a.cmd(cmd));
        }
        out.push(sub.read_reply());
        out
    });
}

#[test]
fn maxclients_refuses_extra_connections() {
    assert_same_on_both(&["--maxclients", "2"], |s| {
        let mut a = s.client();
        let mut b = s.client();
        let mut out = vec![a.cmd(&["PING"]), b.cmd(&["PING"])];
        let mut c = s.client();
        let got = c.read_until_closed(Duration::from_secs(10));
        out.push(Reply::Bulk(got));
        drop(b);
        // The freed slot is usable again (once the server has noticed the close).
        assert_eventually(Duration::from_secs(5), "a slot frees up", || {
            let mut d = s.client();
            d.try_cmd(&["PING"]).is_ok_and(|r| r == Reply::status("PONG"))
        });
        out.push(a.cmd(&["PING"]));
        out
    });
}

#[test]
fn idle_timeout_closes_clients_but_not_subscribers() {
    let s = start(&["--timeout", "1", "--hz", "50"]);
    let mut idle = s.client();
    let mut sub = s.client();
    idle.cmd(&["PING"]);
    sub.cmd(&["SUBSCRIBE", "ch"]);
    assert!(idle.read_until_closed(Duration::from_secs(10)).is_empty());
    // The subscriber outlived the idle client (same idle time) and still gets messages.
    assert_eq!(s.client().cmd(&["PUBLISH", "ch", "m"]), int(1));
    assert_eq!(
        sub.read_reply(),
        Reply::Array(vec![bulk("message"), bulk("ch"), bulk("m")])
    );
}

#[test]
fn monitor_feed_matches_redis() {
    // The part of each MONITOR line after `[db addr]`: what was run, as Redis shows it
    // (arguments quoted, secrets redacted, transactions in order).
    assert_same_on_both(&["--requirepass", "pw"], |s| {
        let mut mon = s.client();
        mon.cmd_ok(&["AUTH", "pw"]);
        mon.cmd_ok(&["MONITOR"]);
        let mut c = s.client();
        let script: &[&[&str]] = &[
            &["AUTH", "wrong"],
            &["AUTH", "pw"],
            &["HELLO", "2", "AUTH", "default", "pw"],
            &["SET", "k", "with space\n"],
            &["MULTI"],
            &["INCR", "n"],
            &["GET", "k"],
            &["EXEC"],
            &["SELECT", "3"],
            &["PING"],
            &["NOSUCHCMD"],
            &["GET"],
            &["ECHO", "end"],
        ];
        for cmd in script {
            c.cmd(cmd);
        }
        let mut out = Vec::new();
        loop {
            let Reply::Status(line) = mon.read_reply() else {
                panic!("MONITOR sent a non-status reply");
            };
            let what = line.split_once("] ").map(|(_, w)| w.to_string()).unwrap_or(line);
            let done = what == "\"ECHO\" \"end\"";
            out.push(Reply::Status(what));
            if done {
                return out;
            }
        }
    });
}

#[test]
fn blocked_command_is_shown_and_counted_once() {
    assert_same_on_both(&[], |s| {
        let mut mon = s.client();
        mon.cmd_ok(&["MONITOR"]);
        let mut waiter = s.client();
        let mut c = s.client();
        waiter.send(&["BLPOP", "q", "10"]).unwrap();
        assert_eventually(Duration::from_secs(5), "client blocked", || {
            c.cmd(&["INFO", "clients"])
                .as_str()
                .is_some_and(|t| t.contains("blocked_clients:1\r"))
        });
        let mut out = vec![c.cmd(&["LPUSH", "q", "x"]), waiter.read_reply()];
        c.cmd(&["ECHO", "end"]);
        loop {
            let Reply::Status(line) = mon.read_reply() else {
                panic!("MONITOR sent a non-status reply");
            };
            let what = line.split_once("] ").map(|(_, w)| w.to_string()).unwrap_or(line);
            let done = what == "\"ECHO\" \"end\"";
            if !what.starts_with("\"INFO\"") {
                out.push(Reply::Status(what));
            }
            if done {
                break;
            }
        }
        let stats = c.cmd(&["INFO", "commandstats"]);
        let calls = stats
            .as_str()
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_blpop:calls="))
            .map(|v| v.split(',').next().unwrap().to_string());
        out.push(Reply::Status(format!("blpop calls={calls:?}")));
        out
    });
}

#[test]
fn pubsub_introspection_and_resp3_unsubscribe_match_redis() {
    assert_same_on_both(&[], |s| {
        let mut a = s.client();
        let mut b = s.client();
        let mut c = s.client();
        let mut out = vec![a.cmd(&["SUBSCRIBE", "news"]), b.cmd(&["PSUBSCRIBE", "n*"])];
        out.push(c.cmd(&["PUBSUB", "CHANNELS"]));
        out.push(c.cmd(&["PUBSUB", "CHANNELS", "x*"]));
        out.push(c.cmd(&["PUBSUB", "NUMPAT"]));
        out.push(c.cmd(&["PUBSUB", "NUMSUB", "news", "none"]));
        out.push(c.cmd(&["PUBLISH", "news", "m"]));
        out.push(a.read_reply());
        out.push(b.read_reply());
        // RESP3: unsubscribing from nothing still answers, as a push.
        c.cmd(&["HELLO", "3"]);
        out.push(c.cmd(&["UNSUBSCRIBE"]));
        out.push(c.cmd(&["PUNSUBSCRIBE"]));
        out.push(c.cmd(&["PUBSUB", "SHARDCHANNELS"]));
        out
    });
}

/// SWAPDB modifies a watched key only if it exists in either database, as in Redis.
#[test]
fn swapdb_and_watch_match_redis() {
    assert_same_on_both(&[], |s| {
        let mut a = s.client();
        let mut b = s.client();
        let mut out = Vec::new();
        // Neither database holds the watched key: nothing changes for it.
        out.push(a.cmd(&["WATCH", "w"]));
        out.push(b.cmd(&["SET", "x", "1"]));
        out.push(b.cmd(&["SWAPDB", "0", "1"]));
        tx(&mut a, &mut out);
        // The other database holds it: it appears.
        out.push(b.cmd(&["SELECT", "1"]));
        out.push(b.cmd(&["SET", "w", "1"]));
        out.push(a.cmd(&["WATCH", "w"]));
        out.push(b.cmd(&["SWAPDB", "0", "1"]));
        tx(&mut a, &mut out);
        out
    });
}

/// Sharded pub/sub on a standalone server (SSUBSCRIBE, SPUBLISH, SUNSUBSCRIBE, PUBSUB
/// SHARDCHANNELS/SHARDNUMSUB).
#[test]
fn sharded_pubsub_matches_redis() {
    assert_same_on_both(&[], |s| {
        let mut a = s.client();
        let mut c = s.client();
        vec![
            a.cmd(&["SSUBSCRIBE", "shard"]),
            c.cmd(&["PUBSUB", "SHARDCHANNELS"]),
            c.cmd(&["PUBSUB", "SHARDNUMSUB", "shard"]),
            c.cmd(&["SPUBLISH", "shard", "m"]),
            a.read_reply(),
            a.cmd(&["SUNSUBSCRIBE"]),
        ]
    });
}
