//! The wire protocol against the real binary: pipelining, inline commands, RESP3, big
//! bulks, protocol errors (compared byte for byte with redis-server), clients that vanish
//! mid-command, and the error texts every command path shares.

use std::io::Write;
use std::time::Duration;

use slotkv_testkit::{encode, Reply, ServerProcess};

use crate::util::*;

#[test]
fn pipelining_10k_commands_in_one_write() {
    let s = shared();
    let mut c = s.client();
    const N: usize = 10_000;
    let mut bytes = Vec::new();
    for i in 0..N {
        if i % 2 == 0 {
            bytes.extend_from_slice(&encode(&["INCR", "pipe:counter"]));
        } else {
            bytes.extend_from_slice(&encode(&["SET", &format!("pipe:k:{i}"), &i.to_string()]));
        }
    }
    // Write from another thread: the replies come back while we are still writing, and
    // neither side may block the other.
    let mut w = c.stream().try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&bytes));
    for i in 0..N {
        let r = c.read_reply();
        if i % 2 == 0 {
            assert_eq!(r, int(i as i64 / 2 + 1), "reply {i}");
        } else {
            assert_eq!(r, ok(), "reply {i}");
        }
    }
    writer.join().unwrap().unwrap();
    assert_eq!(c.cmd(&["GET", "pipe:k:9999"]), bulk("9999"));
}

#[test]
fn inline_commands() {
    let s = shared();
    let mut c = s.client();
    assert_eq!(c.raw(b"PING\r\n"), b"+PONG\r\n");
    assert_eq!(c.raw(b"set inline:k \"hello world\"\n"), b"+OK\r\n");
    assert_eq!(c.raw(b"GET inline:k\r\n"), b"$11\r\nhello world\r\n");
    assert_eq!(c.raw(b"\r\n\r\nECHO 'it\\'s'\r\n"), b"$4\r\nit's\r\n");
    // Inline and multibulk mixed in one write.
    assert_eq!(c.raw(b"PING\r\n*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n+PONG\r\n");
}

#[test]
fn resp3_via_hello() {
    let s = shared();
    let mut c = s.client();
    let hello = c.cmd(&["HELLO", "3"]);
    let Reply::Map(pairs) = &hello else {
        panic!("HELLO 3 replied {hello}");
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == &bulk(k))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("server"), Some(bulk("redis")));
    assert_eq!(get("version"), Some(bulk("7.0.15")));
    assert_eq!(get("proto"), Some(int(3)));
    assert_eq!(get("mode"), Some(bulk("standalone")));
    // The null type on the wire, not RESP2's `$-1`.
    assert_eq!(c.raw(&encode(&["GET", "resp3:missing"])), b"_\r\n");
    c.cmd_ok(&["SET", "resp3:k", "v"]);
    assert_eq!(c.cmd(&["GET", "resp3:k"]), bulk("v"));
    // Doubles, maps and sets in their RESP3 types.
    c.cmd(&["ZADD", "resp3:z", "1.5", "a"]);
    assert_eq!(c.raw(&encode(&["ZSCORE", "resp3:z", "a"])), b",1.5\r\n");
    c.cmd(&["HSET", "resp3:h", "f", "v"]);
    assert_eq!(
        c.raw(&encode(&["HGETALL", "resp3:h"])),
        b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    c.cmd(&["SADD", "resp3:s", "m"]);
    assert_eq!(c.raw(&encode(&["SMEMBERS", "resp3:s"])), b"~1\r\n$1\r\nm\r\n");
    // Back to RESP2: a flat array, and `$-1`.
    let hello2 = c.cmd(&["HELLO", "2"]);
    assert!(matches!(&hello2, Reply::Array(v) if v.len() == 14), "{hello2}");
    assert_eq!(c.raw(&encode(&["GET", "resp3:missing"])), b"$-1\r\n");
    assert_eq!(
        c.cmd(&["HELLO", "4"]),
        err("NOPROTO unsupported protocol version")
    );
}

#[test]
fn bulk_string_of_64mb_round_trips() {
    let s = shared();
    let mut c = s.client();
    c.set_timeout(Duration::from_secs(60)).unwrap();
    let value: Vec<u8> = (0..64 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let args: [&[u8]; 3] = [b"SET", b"big:64mb", &value];
    assert_eq!(c.cmd(&args), ok());
    assert_eq!(c.cmd(&["STRLEN", "big:64mb"]), int(64 * 1024 * 1024));
    let got = c.cmd(&["GET", "big:64mb"]);
    assert!(got.as_bytes() == Some(&value[..]), "GET returned something else");
    c.cmd(&["DEL", "big:64mb"]);
}

/// Sends `bytes` on a fresh connection and returns everything the server sent before it
/// closed the connection.
fn reply_then_close(s: &ServerProcess, bytes: &[u8]) -> Vec<u8> {
    let mut c = s.client();
    c.write_raw(bytes).unwrap();
    c.read_until_closed(Duration::from_secs(10))
}

#[test]
fn malformed_protocol_errors_match_redis_and_close() {
    let s = shared();
    let redis = start_redis(&[]);
    // A bystander connected the whole time must not notice anything.
    let mut bystander = s.client();
    bystander.cmd_ok(&["SET", "proto:bystander", "1"]);
    let cases: &[(&[u8], &[u8])] = &[
        (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n+x\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
        // One byte over the default proto-max-bulk-len (512mb).
        (
            b"*1\r\n$536870913\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"SET a \"b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        // Requests before the bad one in the same write are answered first.
        (
            b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*x\r\n",
            b"+PONG\r\n$2\r\nhi\r\n-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (input, expected) in cases {
        let ours = reply_then_close(&s, input);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(expected),
            "slotkv, input {:?}",
            String::from_utf8_lossy(input)
        );
        let theirs = reply_then_close(&redis, input);
        assert_eq!(
            String::from_utf8_lossy(&theirs),
            String::from_utf8_lossy(expected),
            "redis-server, input {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            bystander
                .cmd(&["INCR", "proto:bystander"])
                .as_int()
                .map(|n| n > 1),
            Some(true)
        );
    }
}

#[test]
fn big_bulk_length_over_configured_limit() {
    let s = start(&["--proto-max-bulk-len", "1mb"]);
    assert_eq!(
        reply_then_close(&s, b"*2\r\n$3\r\nGET\r\n$1048577\r\n"),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    let mut c = s.client();
    let at_limit = vec![b'x'; 1024 * 1024];
    let args: [&[u8]; 3] = [b"SET", b"k", &at_limit];
    assert_eq!(c.cmd(&args), ok());
}

#[test]
fn client_vanishing_mid_command_does_not_affect_others() {
    let s = shared();
    let mut other = s.client();
    other.cmd_ok(&["SET", "vanish:other", "1"]);
    {
        let mut c = s.client();
        // Half a SET: the header and part of the value.
        c.write_raw(b"*3\r\n$3\r\nSET\r\n$10\r\nvanish:key\r\n$100\r\nabc")
            .unwrap();
        c.stream().shutdown(std::net::Shutdown::Both).unwrap();
    }
    {
        // A blocked pipelined reader that disappears without reading its replies.
        let mut c = s.client();
        let mut bytes = Vec::new();
        for _ in 0..1000 {
            bytes.extend_from_slice(&encode(&["GET", "vanish:other"]));
        }
        c.write_raw(&bytes).unwrap();
    }
    assert_eq!(other.cmd(&["GET", "vanish:key"]), Reply::Nil);
    assert_eq!(other.cmd(&["INCR", "vanish:other"]), int(2));
    assert_eq!(s.client().cmd(&["PING"]), Reply::status("PONG"));
}

/// The same requests against slotkv and redis-server give the same replies.
#[track_caller]
pub fn assert_same_replies(cmds: &[&[&str]]) {
    let s = shared();
    let redis = start_redis(&[]);
    let mut ours = s.client();
    let mut theirs = redis.client();
    for cmd in cmds {
        let a = ours.cmd(cmd);
        let b = theirs.cmd(cmd);
        assert_eq!(a, b, "{cmd:?}: slotkv {a} vs redis-server {b}");
    }
}

#[test]
fn error_texts_match_redis() {
    assert_same_replies(&[
        &["NOSUCHCMD", "a", "b"],
        &["nosuchcmd"],
        &["GET"],
        &["SET", "errtext:k"],
        &["PING", "a", "b"],
        &["SET", "errtext:k", "v", "EX", "notanumber"],
        &["SET", "errtext:k", "v", "EX", "0"],
        &["SET", "errtext:k", "v", "NX", "XX"],
        &["INCR", "errtext:k"],
        &["SELECT", "100"],
        &["SELECT", "x"],
        &["PUBSUB", "NOSUCH"],
        &["ECHO"],
        &["MULTI"],
        &["MULTI"],
        &["DISCARD"],
        &["EXEC"],
        &["DISCARD"],
        &["AUTH", "x"],
        &["HELLO", "x"],
        &["HELLO", "3", "NOSUCHOPT"],
    ]);
}

/// Sends `input` then a PING on one connection and collects the replies until the PONG
/// (the connection survived) or the close (it did not).
fn replies_until_pong_or_close(s: &ServerProcess, input: &[u8]) -> (Vec<Reply>, bool) {
    let mut c = s.client();
    let mut bytes = input.to_vec();
    bytes.extend_from_slice(&encode(&["PING"]));
    c.write_raw(&bytes).unwrap();
    let mut replies = Vec::new();
    loop {
        match c.try_read_reply() {
            Ok(r) if r == Reply::status("PONG") => return (replies, false),
            Ok(r) => replies.push(r),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return (replies, true),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (replies, true),
            Err(e) => panic!("reading replies: {e}"),
        }
    }
}

#[track_caller]
fn assert_protocol_cases_match(ours: &ServerProcess, theirs: &ServerProcess, cases: &[&[u8]]) {
    for input in cases {
        let a = replies_until_pong_or_close(ours, input);
        let b = replies_until_pong_or_close(theirs, input);
        let shown = String::from_utf8_lossy(&input[..input.len().min(80)]);
        assert_eq!(
            a, b,
            "input {shown:?}: left slotkv, right redis-server (replies, closed)"
        );
    }
}

#[test]
fn protocol_edge_cases_match_redis() {
    let s = shared();
    let r = start_redis(&[]);
    let long_count = format!("*1\r\n${}\r\n", "1".repeat(70_000));
    let long_mbulk = format!("*{}\r\n", "1".repeat(70_000));
    let mut big_inline = vec![b'a'; 70_000];
    big_inline.push(b' ');
    let cases: &[&[u8]] = &[
        b"*0\r\n",
        b"*-1\r\n",
        b"*-10\r\n",
        b"\r\n",
        b"   \r\n",
        b"*1\r\n$0\r\n\r\n",
        b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
        b"*1\r\n$4\r\nPINGxx",
        b"*3000000000\r\n",
        b"*1500000000\r\n",
        b"*1\r\n$\r\n",
        b"*\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n$1\r\n",
        b"ECHO \"a\\x41\\tb\"\r\n",
        b"ECHO \"a\"b\r\n",
        b"ECHO 'a\r\n",
        b"\"\"\r\n",
        b"PING\r\nQUIT\r\nECHO never\r\n",
        b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
        long_count.as_bytes(),
        long_mbulk.as_bytes(),
        &big_inline,
    ];
    assert_protocol_cases_match(&s, &r, cases);
}

#[test]
fn unauthenticated_protocol_limits_match_redis() {
    // Redis refuses big requests before AUTH (a cheap DoS guard).
    let s = start(&["--requirepass", "pw"]);
    let r = start_redis(&["--requirepass", "pw"]);
    let big_bulk = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n", 20_000);
    let cases: &[&[u8]] = &[
        b"*11\r\n",
        b"*10\r\n",
        big_bulk.as_bytes(),
        b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*20\r\n",
    ];
    assert_protocol_cases_match(&s, &r, cases);
}

#[test]
fn quit_and_reset() {
    assert_same_replies(&[
        &["SELECT", "3"],
        &["MULTI"],
        &["RESET"],
        &["EXEC"],
        &["SUBSCRIBE", "reset:ch"],
        &["RESET"],
        &["GET", "reset:none"],
    ]);
    let s = shared();
    let mut c = s.client();
    c.cmd(&["HELLO", "3"]);
    c.cmd_ok(&["SELECT", "4"]);
    assert_eq!(c.cmd(&["RESET"]), Reply::status("RESET"));
    // Back to RESP2 and db 0.
    assert_eq!(c.raw(&encode(&["GET", "reset:none"])), b"$-1\r\n");
    c.write_raw(&encode(&["QUIT"])).unwrap();
    assert_eq!(c.read_until_closed(Duration::from_secs(5)), b"+OK\r\n");
}
