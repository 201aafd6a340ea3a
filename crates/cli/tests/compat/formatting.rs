//! Reply rendering in tty (FAKETTY / --no-raw), raw (pipe / --raw) and --csv modes.

use crate::harness::{compare, compare_args, Invocation, Server};

const FIXTURE: &[&[&str]] = &[
    &["SET", "s", "hello world"],
    &["SET", "q", "a\"b\\c\nd\r\t\x07\x08\x01 é ~"],
    &["SET", "empty", ""],
    &["RPUSH", "l", "a", "b", "", "1"],
    &["HSET", "h", "f1", "v1", "f2", "2"],
    &["ZADD", "z", "1.5", "a", "2", "b"],
    &["SADD", "st", "x"],
    &["SET", "n", "41"],
];

/// Commands whose replies cover every RESP2 shape.
const COMMANDS: &[&[&str]] = &[
    &["GET", "s"],
    &["GET", "q"],
    &["GET", "empty"],
    &["GET", "missing"],
    &["INCR", "n"],
    &["SET", "k", "v"],
    &["PING"],
    &["LRANGE", "l", "0", "-1"],
    &["LRANGE", "missing", "0", "-1"],
    &["HGETALL", "h"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["SMEMBERS", "st"],
    &["NOSUCHCOMMAND", "x"],
    &["GET"],
    &["LPUSH", "s", "x"],
    &[
        "EVAL",
        "return {1,{2,{'a','b'}},{},'x',{1,2,3,4,5,6,7,8,9,10,11},{false}}",
        "0",
    ],
    &["EVAL", "return {1,2,3,4,5,6,7,8,9,10,11,12}", "0"],
    &["MGET", "s", "missing", "q"],
    &["EVAL", "return redis.error_reply('MYERR custom')", "0"],
    &["EVAL", "return redis.status_reply('FINE')", "0"],
];

fn for_all(server: &Server, extra: &[&str], tty: bool) {
    for cmd in COMMANDS {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend_from_slice(cmd);
        let mut inv = Invocation::new(&args);
        if tty {
            inv = inv.tty();
        }
        compare(server, FIXTURE, inv);
    }
}

#[test]
fn tty_mode() {
    let s = Server::start();
    for_all(&s, &[], true);
}

#[test]
fn no_raw_forces_tty_mode() {
    let s = Server::start();
    for_all(&s, &["--no-raw"], false);
}

#[test]
fn raw_mode_on_a_pipe() {
    let s = Server::start();
    for_all(&s, &[], false);
}

#[test]
fn raw_flag_on_a_tty() {
    let s = Server::start();
    for_all(&s, &["--raw"], true);
}

#[test]
fn csv_mode() {
    let s = Server::start();
    for_all(&s, &["--csv"], false);
}

#[test]
fn delimiters() {
    let s = Server::start();
    compare_args(&s, FIXTURE, &["-d", "|", "LRANGE", "l", "0", "-1"]);
    compare(&s, FIXTURE, Invocation::new(&["-D", "#", "-r", "2", "GET", "s"]));
}

#[test]
fn literal_expectations() {
    // Independent of the reference client: the shapes the brief names.
    let s = Server::start();
    let r = compare(&s, FIXTURE, Invocation::new(&["GET", "q"]).tty());
    assert_eq!(r.stdout, "\"a\\\"b\\\\c\\nd\\r\\t\\a\\b\\x01 \\xc3\\xa9 ~\"\n");
    let r = compare(&s, FIXTURE, Invocation::new(&["GET", "missing"]).tty());
    assert_eq!(r.stdout, "(nil)\n");
    let r = compare(
        &s,
        FIXTURE,
        Invocation::new(&["LRANGE", "missing", "0", "-1"]).tty(),
    );
    assert_eq!(r.stdout, "(empty array)\n");
    let r = compare(
        &s,
        FIXTURE,
        Invocation::new(&["EVAL", "return {1,{2,{'a'}}}", "0"]).tty(),
    );
    assert_eq!(r.stdout, "1) (integer) 1\n2) 1) (integer) 2\n   2) 1) \"a\"\n");
    let r = compare(&s, FIXTURE, Invocation::new(&["NOSUCH"]).tty());
    assert!(
        r.stdout.starts_with("(error) ERR unknown command"),
        "{}",
        r.stdout
    );
    assert_eq!(r.code, Some(0));
    let r = compare(&s, FIXTURE, Invocation::new(&["NOSUCH"]));
    assert!(r.stdout.starts_with("ERR unknown command") && r.stdout.ends_with("\n\n"));
}

#[test]
fn info_is_printed_raw_even_on_a_tty() {
    let s = Server::start();
    // INFO's content changes between runs; check the shape instead of comparing.
    let ours = Invocation::new(&["-p", &s.port.to_string(), "INFO", "keyspace"])
        .tty()
        .run(crate::harness::slotkv_cli());
    assert!(ours.stdout.starts_with("# Keyspace\r\n"), "{:?}", ours.stdout);
    assert!(!ours.stdout.contains('"'));
}
