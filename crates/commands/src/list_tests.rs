//! Expected replies were captured from Redis 7.0.15.

use bytes::Bytes;
use slotkv_protocol::ProtocolVersion;

use crate::testing::Harness;
use crate::BlockOn;

const WT: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

fn check(h: &mut Harness, cases: &[(&str, &str)]) {
    for (cmd, want) in cases {
        assert_eq!(h.run(cmd), *want, "command: {cmd}");
    }
}

fn last_prop(h: &Harness) -> String {
    let v: Vec<String> = h
        .propagated
        .last()
        .unwrap()
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    v.join(" ")
}

#[test]
fn push_pop_len() {
    let mut h = Harness::new();
    h.run("SET s x");
    check(
        &mut h,
        &[
            ("LPUSH l a b c", ":3\r\n"),
            ("RPUSH l d e", ":5\r\n"),
            (
                "LRANGE l 0 -1",
                "*5\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n",
            ),
            ("LPUSHX nokey a", ":0\r\n"),
            ("RPUSHX l f", ":6\r\n"),
            ("LPOP nokey", "$-1\r\n"),
            ("LPOP nokey 2", "*-1\r\n"),
            ("LPOP l 0", "*0\r\n"),
            ("LPOP nokey 0", "*-1\r\n"),
            ("LPOP l -1", "-ERR value is out of range, must be positive\r\n"),
            ("LPOP l abc", "-ERR value is out of range, must be positive\r\n"),
            ("LPOP l 2", "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"),
            ("RPOP l 1", "*1\r\n$1\r\nf\r\n"),
            ("RPOP l", "$1\r\ne\r\n"),
            ("LPOP l 100", "*2\r\n$1\r\na\r\n$1\r\nd\r\n"),
            ("LLEN l", ":0\r\n"),
            (
                "LPOP l a b",
                "-ERR wrong number of arguments for 'lpop' command\r\n",
            ),
            ("LPOP s", WT),
            ("LPOP s 0", WT),
            ("LPOP s abc", "-ERR value is out of range, must be positive\r\n"),
            ("LPUSH s a", WT),
            ("LPUSHX s a", WT),
            ("RPUSHX s a", WT),
            ("LLEN s", WT),
            ("LLEN nokey", ":0\r\n"),
            ("LPOP l 9223372036854775807", "*-1\r\n"),
        ],
    );
    assert!(h.ks.dbs[0].peek(b"l", h.now_ms).is_none());
    assert!(h.ks.dbs[0].peek(b"nokey", h.now_ms).is_none());
    assert!(h.ks.dbs[0].peek(b"s", h.now_ms).is_some());
}

#[test]
fn pop_resp3_nulls() {
    let mut h = Harness::new();
    h.version = ProtocolVersion::Resp3;
    check(
        &mut h,
        &[
            ("LPOP nokey", "_\r\n"),
            ("LPOP nokey 1", "_\r\n"),
            ("LMPOP 1 nokey LEFT", "_\r\n"),
            ("LINDEX nokey 0", "_\r\n"),
            ("LPOS nokey a", "_\r\n"),
            ("RPUSH a 1 2", ":2\r\n"),
            ("LMPOP 1 a LEFT", "*2\r\n$1\r\na\r\n*1\r\n$1\r\n1\r\n"),
            ("LPOP a 1", "*1\r\n$1\r\n2\r\n"),
        ],
    );
}

#[test]
fn range_index_set_insert() {
    let mut h = Harness::new();
    h.run("SET s x");
    let all5 = "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n";
    check(
        &mut h,
        &[
            ("RPUSH l a b c d e", ":5\r\n"),
            ("LRANGE l 0 -1", all5),
            ("LRANGE l -100 100", all5),
            ("LRANGE l 3 1", "*0\r\n"),
            ("LRANGE l 1 2", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
            ("LRANGE l 9223372036854775807 -9223372036854775808", "*0\r\n"),
            ("LRANGE l -9223372036854775808 9223372036854775807", all5),
            ("LRANGE l a 1", "-ERR value is not an integer or out of range\r\n"),
            (
                "LRANGE nokey a b",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("LRANGE s a b", "-ERR value is not an integer or out of range\r\n"),
            ("LRANGE nokey 0 -1", "*0\r\n"),
            ("LRANGE s 0 -1", WT),
            ("LINDEX l 0", "$1\r\na\r\n"),
            ("LINDEX l -1", "$1\r\ne\r\n"),
            ("LINDEX l 10", "$-1\r\n"),
            ("LINDEX l -9223372036854775808", "$-1\r\n"),
            ("LINDEX l 9223372036854775807", "$-1\r\n"),
            ("LINDEX l x", "-ERR value is not an integer or out of range\r\n"),
            ("LINDEX nokey 0", "$-1\r\n"),
            ("LINDEX s 0", WT),
            ("LINDEX s x", WT),
            ("LSET l 0 z", "+OK\r\n"),
            ("LSET l 10 z", "-ERR index out of range\r\n"),
            ("LSET l -6 z", "-ERR index out of range\r\n"),
            ("LSET l -9223372036854775808 z", "-ERR index out of range\r\n"),
            ("LSET nokey 0 z", "-ERR no such key\r\n"),
            ("LSET nokey x z", "-ERR no such key\r\n"),
            ("LSET s 0 z", WT),
            ("LSET s x z", WT),
            ("LSET l x z", "-ERR value is not an integer or out of range\r\n"),
            ("LINSERT l BEFORE z y", ":6\r\n"),
            ("LINSERT l AFTER e f", ":7\r\n"),
            ("LINSERT l after nope f", ":-1\r\n"),
            ("LINSERT l middle e f", "-ERR syntax error\r\n"),
            ("LINSERT nokey before a b", ":0\r\n"),
            ("LINSERT nokey middle a b", "-ERR syntax error\r\n"),
            ("LINSERT s middle a b", "-ERR syntax error\r\n"),
            ("LINSERT s before a b", WT),
            (
                "LRANGE l 0 -1",
                "*7\r\n$1\r\ny\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n",
            ),
        ],
    );
    assert!(h.ks.dbs[0].peek(b"nokey", h.now_ms).is_none());
}

#[test]
fn lrem_ltrim() {
    let mut h = Harness::new();
    h.run("SET s x");
    check(
        &mut h,
        &[
            ("RPUSH l a b a c a d a", ":7\r\n"),
            ("LREM l 2 a", ":2\r\n"),
            (
                "LRANGE l 0 -1",
                "*5\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\na\r\n",
            ),
            ("LREM l -1 a", ":1\r\n"),
            (
                "LRANGE l 0 -1",
                "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nd\r\n",
            ),
            ("LREM l 0 a", ":1\r\n"),
            ("LREM l x a", "-ERR value is not an integer or out of range\r\n"),
            (
                "LREM nokey x a",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("LREM nokey 0 a", ":0\r\n"),
            ("LREM s 0 a", WT),
            ("LREM l -9223372036854775808 b", ":1\r\n"),
            ("LREM l 0 c", ":1\r\n"),
            ("LREM l 0 d", ":1\r\n"),
            ("LLEN l", ":0\r\n"),
            ("RPUSH l a b c d e", ":5\r\n"),
            ("LTRIM l 1 -2", "+OK\r\n"),
            ("LRANGE l 0 -1", "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
            ("LTRIM l 5 10", "+OK\r\n"),
            ("LLEN l", ":0\r\n"),
            ("LTRIM nokey 0 1", "+OK\r\n"),
            ("LTRIM s 0 1", WT),
            ("LTRIM l x 1", "-ERR value is not an integer or out of range\r\n"),
            (
                "LTRIM nokey x 1",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("RPUSH l a b c d e", ":5\r\n"),
            ("LTRIM l -9223372036854775808 9223372036854775807", "+OK\r\n"),
            ("LLEN l", ":5\r\n"),
            ("LTRIM l 9223372036854775807 -9223372036854775808", "+OK\r\n"),
        ],
    );
    assert!(h.ks.dbs[0].peek(b"l", h.now_ms).is_none());
    // No-op LREM/LTRIM are not propagated.
    h.run("RPUSH m a");
    let n = h.propagated.len();
    h.run("LREM m 0 zz");
    h.run("LTRIM m 0 -1");
    assert_eq!(h.propagated.len(), n);
}

#[test]
fn lpos() {
    let mut h = Harness::new();
    h.run("SET s x");
    let rank0 = "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n";
    check(
        &mut h,
        &[
            ("RPUSH l a b c 1 2 3 c c", ":8\r\n"),
            ("LPOS l c", ":2\r\n"),
            ("LPOS l c RANK 2", ":6\r\n"),
            ("LPOS l c RANK -1", ":7\r\n"),
            ("LPOS l c RANK -3", ":2\r\n"),
            ("LPOS l c RANK -4", "$-1\r\n"),
            ("LPOS l c RANK 0", rank0),
            ("LPOS l c COUNT 2", "*2\r\n:2\r\n:6\r\n"),
            ("LPOS l c COUNT 0", "*3\r\n:2\r\n:6\r\n:7\r\n"),
            ("LPOS l c COUNT 0 RANK -1", "*3\r\n:7\r\n:6\r\n:2\r\n"),
            ("LPOS l c COUNT 2 RANK 2", "*2\r\n:6\r\n:7\r\n"),
            ("LPOS l c COUNT -1", "-ERR COUNT can't be negative\r\n"),
            ("LPOS l c MAXLEN 3", ":2\r\n"),
            ("LPOS l c MAXLEN 2", "$-1\r\n"),
            ("LPOS l c MAXLEN 2 COUNT 1", "*0\r\n"),
            ("LPOS l c MAXLEN -1", "-ERR MAXLEN can't be negative\r\n"),
            ("LPOS l c MAXLEN 0 COUNT 0", "*3\r\n:2\r\n:6\r\n:7\r\n"),
            ("LPOS l z", "$-1\r\n"),
            ("LPOS l z COUNT 0", "*0\r\n"),
            ("LPOS nokey z", "$-1\r\n"),
            ("LPOS nokey z COUNT 1", "*0\r\n"),
            ("LPOS s z", WT),
            ("LPOS s z RANK 0", rank0),
            ("LPOS nokey c RANK 0", rank0),
            ("LPOS l c RANK", "-ERR syntax error\r\n"),
            ("LPOS l c FOO 1", "-ERR syntax error\r\n"),
            (
                "LPOS l c RANK x",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("LPOS l c RANK -9223372036854775808", ":7\r\n"),
            (
                "LPOS l c RANK -9223372036854775808 COUNT 1",
                "*3\r\n:7\r\n:6\r\n:2\r\n",
            ),
            ("LPOS l c COUNT x", "-ERR COUNT can't be negative\r\n"),
            ("LPOS l c MAXLEN x", "-ERR MAXLEN can't be negative\r\n"),
            ("LPOS l c RANK 1 RANK 2", ":6\r\n"),
            ("LPOS l c RANK 9223372036854775807", "$-1\r\n"),
        ],
    );
}

#[test]
fn lmove_rpoplpush() {
    let mut h = Harness::new();
    h.run("SET s x");
    check(
        &mut h,
        &[
            ("RPUSH l a b c", ":3\r\n"),
            ("LMOVE l d LEFT RIGHT", "$1\r\na\r\n"),
            ("LMOVE l d right left", "$1\r\nc\r\n"),
            ("LRANGE d 0 -1", "*2\r\n$1\r\nc\r\n$1\r\na\r\n"),
            ("LMOVE l d up left", "-ERR syntax error\r\n"),
            ("LMOVE nokey d up left", "-ERR syntax error\r\n"),
            ("LMOVE nokey d left left", "$-1\r\n"),
            ("LMOVE l s left left", WT),
            ("LMOVE s l left left", WT),
            ("LMOVE nokey s left left", "$-1\r\n"),
            ("LRANGE l 0 -1", "*1\r\n$1\r\nb\r\n"),
            ("LMOVE l l left right", "$1\r\nb\r\n"),
            ("LRANGE l 0 -1", "*1\r\n$1\r\nb\r\n"),
            ("RPOPLPUSH l l", "$1\r\nb\r\n"),
            ("LRANGE l 0 -1", "*1\r\n$1\r\nb\r\n"),
            ("RPOPLPUSH l x", "$1\r\nb\r\n"),
            ("RPOPLPUSH l x", "$-1\r\n"),
            ("LLEN l", ":0\r\n"),
            ("RPOPLPUSH nokey s", "$-1\r\n"),
            ("RPOPLPUSH s x", WT),
            ("RPOPLPUSH x s", WT),
            ("LRANGE x 0 -1", "*1\r\n$1\r\nb\r\n"),
        ],
    );
    assert!(h.ks.dbs[0].peek(b"l", h.now_ms).is_none());
    assert!(h.ks.dbs[0].peek(b"nokey", h.now_ms).is_none());
    h.run("RPUSH q 1 2");
    h.run("LMOVE q r LEFT RIGHT");
    assert_eq!(last_prop(&h), "LMOVE q r LEFT RIGHT");
}

#[test]
fn lmpop() {
    let mut h = Harness::new();
    check(
        &mut h,
        &[
            ("RPUSH l a b c", ":3\r\n"),
            ("RPUSH l2 x y", ":2\r\n"),
            ("LMPOP 2 nokey l LEFT", "*2\r\n$1\r\nl\r\n*1\r\n$1\r\na\r\n"),
            (
                "LMPOP 2 nokey l RIGHT COUNT 10",
                "*2\r\n$1\r\nl\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n",
            ),
            (
                "LMPOP 2 nokey l2 LEFT COUNT 1",
                "*2\r\n$2\r\nl2\r\n*1\r\n$1\r\nx\r\n",
            ),
            ("LMPOP 1 nokey LEFT", "*-1\r\n"),
            ("LMPOP 1 nokey LEFT COUNT 2", "*-1\r\n"),
            ("LMPOP 0 nokey LEFT", "-ERR numkeys should be greater than 0\r\n"),
            ("LMPOP -1 nokey LEFT", "-ERR numkeys should be greater than 0\r\n"),
            ("LMPOP x nokey LEFT", "-ERR numkeys should be greater than 0\r\n"),
            ("LMPOP 3 nokey LEFT", "-ERR syntax error\r\n"),
            ("LMPOP 9223372036854775807 a LEFT", "-ERR syntax error\r\n"),
            ("LMPOP 2 nokey l2 MIDDLE", "-ERR syntax error\r\n"),
            (
                "LMPOP 1 l2 LEFT COUNT 0",
                "-ERR count should be greater than 0\r\n",
            ),
            (
                "LMPOP 1 l2 LEFT COUNT -1",
                "-ERR count should be greater than 0\r\n",
            ),
            (
                "LMPOP 1 l2 LEFT COUNT x",
                "-ERR count should be greater than 0\r\n",
            ),
            ("LMPOP 1 l2 LEFT COUNT", "-ERR syntax error\r\n"),
            ("LMPOP 1 l2 LEFT COUNT 1 COUNT 1", "-ERR syntax error\r\n"),
            ("LMPOP 1 l2 LEFT FOO", "-ERR syntax error\r\n"),
            ("LMPOP 2 l2 left", "-ERR syntax error\r\n"),
            ("SET s x", "+OK\r\n"),
            ("LMPOP 2 s l2 LEFT", WT),
            ("LMPOP 2 l2 s LEFT", "*2\r\n$2\r\nl2\r\n*1\r\n$1\r\ny\r\n"),
            ("LMPOP 1 l2 LEFT COUNT 9223372036854775807", "*-1\r\n"),
        ],
    );
    assert!(h.ks.dbs[0].peek(b"l2", h.now_ms).is_none());
    h.run("RPUSH m a b c d e");
    h.run("LMPOP 2 x m LEFT COUNT 10");
    assert_eq!(last_prop(&h), "LPOP m 5");
    h.run("RPUSH m a b c d e");
    h.run("LMPOP 1 m RIGHT");
    assert_eq!(last_prop(&h), "RPOP m 1");
    let n = h.propagated.len();
    h.run("LMPOP 1 nokey RIGHT");
    assert_eq!(h.propagated.len(), n);
}

#[test]
fn movable_keys() {
    let specs = crate::data_commands();
    let find = |n: &str| specs.iter().find(|s| s.name == n).unwrap();
    let args = |s: &str| -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    };
    assert_eq!(find("lmpop").key_positions(&args("LMPOP 2 a b LEFT")), vec![2, 3]);
    assert_eq!(
        find("blmpop").key_positions(&args("BLMPOP 0 2 a b LEFT")),
        vec![3, 4]
    );
    assert_eq!(find("blpop").key_positions(&args("BLPOP a b 0")), vec![1, 2]);
    assert_eq!(
        find("blmove").key_positions(&args("BLMOVE a b LEFT LEFT 0")),
        vec![1, 2]
    );
    assert_eq!(find("lmpop").flag_names(), vec!["write", "movablekeys"]);
    assert_eq!(
        find("blmpop").flag_names(),
        vec!["write", "blocking", "movablekeys"]
    );
    assert_eq!(
        find("blmove").flag_names(),
        vec!["write", "denyoom", "noscript", "blocking"]
    );
}

#[test]
fn blocking_serves_and_propagates() {
    let mut h = Harness::new();
    h.run("SET s x");
    h.run("RPUSH a 1 2 3 4 5 6");
    check(
        &mut h,
        &[
            ("BLPOP s 0", WT),
            ("BLPOP s a 0", WT),
            ("BLPOP a s 0", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ],
    );
    assert_eq!(last_prop(&h), "LPOP a");
    assert_eq!(h.run("BRPOP nokey a 0"), "*2\r\n$1\r\na\r\n$1\r\n6\r\n");
    assert_eq!(last_prop(&h), "RPOP a");
    assert_eq!(h.run("BLMOVE a d left right 0"), "$1\r\n2\r\n");
    assert_eq!(last_prop(&h), "LMOVE a d left right");
    assert_eq!(h.run("BRPOPLPUSH a d 0"), "$1\r\n5\r\n");
    assert_eq!(last_prop(&h), "RPOPLPUSH a d");
    assert_eq!(
        h.run("BLMPOP 0 2 nokey a RIGHT COUNT 5"),
        "*2\r\n$1\r\na\r\n*2\r\n$1\r\n4\r\n$1\r\n3\r\n"
    );
    assert_eq!(last_prop(&h), "RPOP a 2");
    assert!(h.ks.dbs[0].peek(b"a", h.now_ms).is_none());
    check(&mut h, &[("BLMOVE a s left left 0", "")]);
    h.run("RPUSH a 1");
    check(
        &mut h,
        &[("BLMOVE a s left left 0", WT), ("BLMOVE s a left left 0", WT)],
    );
    assert_eq!(h.run("LLEN a"), ":1\r\n");
}

#[test]
fn blocking_errors() {
    let mut h = Harness::new();
    let nf = "-ERR timeout is not a float or out of range\r\n";
    let neg = "-ERR timeout is negative\r\n";
    check(
        &mut h,
        &[
            ("BLPOP a x", nf),
            ("BLPOP a -1", neg),
            ("BLPOP a inf", neg),
            ("BLPOP a 1e100", neg),
            ("BLPOP a 9223372036854776", neg),
            ("BLPOP a nan", nf),
            ("BLPOP a 0x10x", nf),
            ("BLMPOP x 1 a LEFT", nf),
            ("BLMPOP -1 1 a LEFT", neg),
            ("BLMPOP 0 0 a LEFT", "-ERR numkeys should be greater than 0\r\n"),
            ("BLMPOP x 0 a LEFT", "-ERR numkeys should be greater than 0\r\n"),
            ("BLMPOP 0 2 a LEFT", "-ERR syntax error\r\n"),
            (
                "BLMPOP 0 1 a LEFT COUNT 0",
                "-ERR count should be greater than 0\r\n",
            ),
            ("BLMPOP 0 1 a MIDDLE", "-ERR syntax error\r\n"),
            ("BLMPOP x 1 a MIDDLE", "-ERR syntax error\r\n"),
            (
                "BLMPOP x 1 a LEFT COUNT 0",
                "-ERR count should be greater than 0\r\n",
            ),
            ("BLMPOP x 5 a LEFT", "-ERR syntax error\r\n"),
            ("BLMPOP 0.5x 1 a LEFT", nf),
            ("BLMOVE a b left up x", "-ERR syntax error\r\n"),
            ("BLMOVE a b left left x", nf),
            ("BRPOPLPUSH a b x", nf),
        ],
    );
}

/// Runs a command with blocking allowed or not, returning the reply and the block request.
fn run_ctx(h: &mut Harness, line: &str, can_block: bool) -> (String, Option<BlockOn>) {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let specs = crate::data_commands();
    let name = line.split(' ').next().unwrap().to_lowercase();
    let spec = specs.iter().find(|s| s.name == name).unwrap();
    let mut out = slotkv_protocol::ReplyWriter::new(h.version);
    let mut ctx = crate::Ctx::new(&mut h.ks, 0, &mut out, h.now_ms);
    ctx.can_block = can_block;
    let r = (spec.handler)(&mut ctx, &args);
    let block = ctx.block.take();
    if let Err(e) = r {
        out.error(&e.to_string());
    }
    (String::from_utf8_lossy(&out.buf).into_owned(), block)
}

#[test]
fn blocking_requests_and_multi() {
    let mut h = Harness::new();
    let now = h.now_ms;
    let keys =
        |ks: &[&str]| -> Vec<Bytes> { ks.iter().map(|k| Bytes::copy_from_slice(k.as_bytes())).collect() };
    let (r, b) = run_ctx(&mut h, "BLPOP x y 0", true);
    assert_eq!(r, "");
    assert_eq!(
        b,
        Some(BlockOn {
            keys: keys(&["x", "y"]),
            deadline_ms: 0
        })
    );
    let (r, b) = run_ctx(&mut h, "BRPOP x 1.5", true);
    assert_eq!(r, "");
    assert_eq!(
        b,
        Some(BlockOn {
            keys: keys(&["x"]),
            deadline_ms: now + 1500
        })
    );
    let (r, b) = run_ctx(&mut h, "BLMOVE x y LEFT RIGHT 0.001", true);
    assert_eq!(r, "");
    assert_eq!(
        b,
        Some(BlockOn {
            keys: keys(&["x"]),
            deadline_ms: now + 1
        })
    );
    // Redis: a timeout just below zero rounds up to "forever"; a tiny one to 1 ms.
    for (t, deadline) in [
        ("-0", 0),
        ("-0.0001", 0),
        ("0", 0),
        ("1e-400", now + 1),
        ("0e5", 0),
    ] {
        let (r, b) = run_ctx(&mut h, &format!("BLPOP x {t}"), true);
        assert_eq!(r, "", "{t}");
        assert_eq!(b.map(|b| b.deadline_ms), Some(deadline), "{t}");
    }
    let (r, b) = run_ctx(&mut h, "BRPOPLPUSH x y 2", true);
    assert_eq!(r, "");
    assert_eq!(
        b,
        Some(BlockOn {
            keys: keys(&["x"]),
            deadline_ms: now + 2000
        })
    );
    let (r, b) = run_ctx(&mut h, "BLMPOP 3 2 x y LEFT COUNT 2", true);
    assert_eq!(r, "");
    assert_eq!(
        b,
        Some(BlockOn {
            keys: keys(&["x", "y"]),
            deadline_ms: now + 3000
        })
    );
    // Inside MULTI: the timeout reply right away (null bulk for the moves, as Redis).
    for (cmd, want) in [
        ("BLPOP nokey 0", "*-1\r\n"),
        ("BRPOP nokey 0", "*-1\r\n"),
        ("BLMOVE nokey b left left 0", "$-1\r\n"),
        ("BRPOPLPUSH nokey b 0", "$-1\r\n"),
        ("BLMPOP 0 1 nokey LEFT", "*-1\r\n"),
        ("BLMPOP 0 1 nokey LEFT COUNT 2", "*-1\r\n"),
        ("BLPOP nokey x", "-ERR timeout is not a float or out of range\r\n"),
    ] {
        let (r, b) = run_ctx(&mut h, cmd, false);
        assert_eq!(r, want, "{cmd}");
        assert_eq!(b, None);
    }
    h.version = ProtocolVersion::Resp3;
    for cmd in [
        "BLPOP nokey 0",
        "BLMOVE nokey b left left 0",
        "BLMPOP 0 1 nokey LEFT",
    ] {
        assert_eq!(run_ctx(&mut h, cmd, false).0, "_\r\n");
    }
    // Nothing was created or propagated by the blocked attempts.
    assert!(h.ks.dbs[0].peek(b"y", h.now_ms).is_none());
    assert!(h.ks.dbs[0].peek(b"b", h.now_ms).is_none());
}

#[test]
fn expired_list_is_missing() {
    let mut h = Harness::new();
    h.run("RPUSH l a");
    let now = h.now_ms;
    h.ks.dbs[0].set_expire(b"l", now + 10);
    h.now_ms += 10;
    assert_eq!(h.run("LLEN l"), ":0\r\n");
    assert_eq!(h.run("LPUSHX l a"), ":0\r\n");
    assert_eq!(h.run("RPUSH l b"), ":1\r\n");
}

#[test]
fn write_lookups_do_not_count_as_misses() {
    let mut h = Harness::new();
    h.run("LPUSH l a");
    h.run("HSET hh f v");
    h.run("LMPOP 2 x l LEFT");
    h.run("BLPOP y 0");
    assert_eq!((h.ks.dbs[0].hits, h.ks.dbs[0].misses), (0, 0));
    h.run("LRANGE nokey 0 -1");
    h.run("HGET hh f");
    assert_eq!((h.ks.dbs[0].hits, h.ks.dbs[0].misses), (1, 1));
}
