//! `-3`: maps, sets, doubles, booleans, verbatim strings, the null, and big numbers.

use crate::harness::{compare, Invocation, Server};

const FIXTURE: &[&[&str]] = &[
    &["HSET", "h", "f1", "v1", "f2", "2"],
    &[
        "HSET", "big", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6",
    ],
    &[
        "HSET", "big", "g", "1", "h", "2", "i", "3", "j", "4", "k", "5", "l", "6",
    ],
    &["ZADD", "z", "1.5", "a", "0.1", "b"],
    &["SADD", "st", "x", "y"],
];

const COMMANDS: &[&[&str]] = &[
    &["HGETALL", "h"],
    &["HGETALL", "big"],
    &["HGETALL", "missing"],
    &["SMEMBERS", "missing"],
    &["ZSCORE", "z", "a"],
    &["ZSCORE", "z", "b"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["GET", "missing"],
    &["EVAL", "redis.setresp(3); return true", "0"],
    &["EVAL", "redis.setresp(3); return false", "0"],
    &["EVAL", "redis.setresp(3); return {double=3.25}", "0"],
    &[
        "EVAL",
        "redis.setresp(3); return {map={a={1,2}, b={map={x=1}}, c={}}}",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return {1,{map={a=1,b=2}},{set={a=true}}}",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return {verbatim_string={format='txt', string='hi\\nthere'}}",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return {big_number='1234567890123456789012'}",
        "0",
    ],
];

fn for_all(extra: &[&str], tty: bool) {
    let s = Server::start();
    for cmd in COMMANDS {
        let mut args: Vec<&str> = vec!["-3"];
        args.extend_from_slice(extra);
        args.extend_from_slice(cmd);
        let mut inv = Invocation::new(&args);
        if tty {
            inv = inv.tty();
        }
        compare(&s, FIXTURE, inv);
    }
}

#[test]
fn resp3_tty() {
    for_all(&[], true);
}

#[test]
fn resp3_raw() {
    for_all(&[], false);
}

#[test]
fn resp3_csv() {
    for_all(&["--csv"], false);
}

#[test]
fn resp3_map_literal() {
    let s = Server::start();
    let r = compare(&s, FIXTURE, Invocation::new(&["-3", "HGETALL", "h"]).tty());
    assert_eq!(r.stdout, "1# \"f1\" => \"v1\"\n2# \"f2\" => \"2\"\n");
    let r = compare(&s, FIXTURE, Invocation::new(&["-3", "SMEMBERS", "st"]).tty());
    assert!(r.stdout.starts_with("1~ "), "{}", r.stdout);
    let r = compare(&s, FIXTURE, Invocation::new(&["-3", "ZSCORE", "z", "a"]).tty());
    assert_eq!(r.stdout, "(double) 1.5\n");
}
