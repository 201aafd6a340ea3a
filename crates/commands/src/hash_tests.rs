//! Expected replies were captured from Redis 7.0.15.

use slotkv_protocol::ProtocolVersion;

use crate::testing::Harness;

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
fn set_get_del() {
    let mut h = Harness::new();
    h.run("SET s x");
    check(
        &mut h,
        &[
            ("HSET h a 1 b 2", ":2\r\n"),
            ("HSET h a 3 c 4", ":1\r\n"),
            (
                "HSET h a",
                "-ERR wrong number of arguments for 'hset' command\r\n",
            ),
            (
                "HSET h a 1 b",
                "-ERR wrong number of arguments for 'hset' command\r\n",
            ),
            ("HSET s a 1", WT),
            ("HSETNX h a 5", ":0\r\n"),
            ("HSETNX h z 5", ":1\r\n"),
            ("HSETNX s z 5", WT),
            ("HMSET h x 1 y 2", "+OK\r\n"),
            (
                "HMSET h x 1 y",
                "-ERR wrong number of arguments for 'hmset' command\r\n",
            ),
            ("HMSET s x 1", WT),
            ("HGET h a", "$1\r\n3\r\n"),
            ("HGET h nope", "$-1\r\n"),
            ("HGET nokey a", "$-1\r\n"),
            ("HGET s a", WT),
            ("HMGET h a nope b", "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\n2\r\n"),
            ("HMGET nokey a b", "*2\r\n$-1\r\n$-1\r\n"),
            ("HMGET s a", WT),
            ("HDEL h nope", ":0\r\n"),
            ("HDEL h a b a", ":2\r\n"),
            ("HDEL nokey a", ":0\r\n"),
            ("HDEL s a", WT),
            ("HLEN h", ":4\r\n"),
            ("HLEN nokey", ":0\r\n"),
            ("HLEN s", WT),
            ("HSTRLEN h c", ":1\r\n"),
            ("HSTRLEN h nope", ":0\r\n"),
            ("HSTRLEN nokey c", ":0\r\n"),
            ("HSTRLEN s c", WT),
            ("HEXISTS h c", ":1\r\n"),
            ("HEXISTS h nope", ":0\r\n"),
            ("HEXISTS nokey c", ":0\r\n"),
            ("HEXISTS s c", WT),
            ("HKEYS nokey", "*0\r\n"),
            ("HVALS nokey", "*0\r\n"),
            ("HGETALL nokey", "*0\r\n"),
            ("HKEYS s", WT),
            ("HVALS s", WT),
            ("HGETALL s", WT),
            ("HDEL h c z x y", ":4\r\n"),
            ("HLEN h", ":0\r\n"),
        ],
    );
    assert!(h.ks.dbs[0].peek(b"h", h.now_ms).is_none());
    assert!(h.ks.dbs[0].peek(b"nokey", h.now_ms).is_none());
    // No-op HSETNX / HDEL are not propagated.
    h.run("HSET g f v");
    let n = h.propagated.len();
    h.run("HSETNX g f w");
    h.run("HDEL g zz");
    assert_eq!(h.propagated.len(), n);
}

#[test]
fn getall_order_and_resp3() {
    let mut h = Harness::new();
    h.run("HSET h c 4 z 5 x 1 y 2");
    check(
        &mut h,
        &[
            ("HKEYS h", "*4\r\n$1\r\nc\r\n$1\r\nz\r\n$1\r\nx\r\n$1\r\ny\r\n"),
            ("HVALS h", "*4\r\n$1\r\n4\r\n$1\r\n5\r\n$1\r\n1\r\n$1\r\n2\r\n"),
            (
                "HGETALL h",
                "*8\r\n$1\r\nc\r\n$1\r\n4\r\n$1\r\nz\r\n$1\r\n5\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n2\r\n",
            ),
        ],
    );
    h.version = ProtocolVersion::Resp3;
    h.run("HDEL h z x y");
    check(
        &mut h,
        &[
            ("HGETALL h", "%1\r\n$1\r\nc\r\n$1\r\n4\r\n"),
            ("HGETALL nokey", "%0\r\n"),
            ("HMGET nokey a", "*1\r\n_\r\n"),
            ("HGET nokey a", "_\r\n"),
            ("HRANDFIELD nokey", "_\r\n"),
            ("HRANDFIELD nokey 2", "*0\r\n"),
            ("HRANDFIELD nokey 2 WITHVALUES", "*0\r\n"),
        ],
    );
}

#[test]
fn incr() {
    let mut h = Harness::new();
    h.run("SET s x");
    check(
        &mut h,
        &[
            ("HINCRBY h n 5", ":5\r\n"),
            ("HINCRBY h n -10", ":-5\r\n"),
            (
                "HINCRBY h n x",
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                "HINCRBY s n x",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("HINCRBY h n 9223372036854775807", ":9223372036854775802\r\n"),
            ("HSET h f abc", ":1\r\n"),
            ("HINCRBY h f 1", "-ERR hash value is not an integer\r\n"),
            ("HSET h f 9223372036854775807", ":0\r\n"),
            ("HINCRBY h f 1", "-ERR increment or decrement would overflow\r\n"),
            ("HSET h f 01", ":0\r\n"),
            ("HINCRBY h f 1", "-ERR hash value is not an integer\r\n"),
            ("HINCRBY s f 1", WT),
            ("HINCRBY nokey2 f 9223372036854775807", ":9223372036854775807\r\n"),
            ("HINCRBYFLOAT h g 1.5", "$3\r\n1.5\r\n"),
            ("HINCRBYFLOAT h g 1e3", "$6\r\n1001.5\r\n"),
            ("HINCRBYFLOAT h g x", "-ERR value is not a valid float\r\n"),
            ("HINCRBYFLOAT h g inf", "-ERR value is NaN or Infinity\r\n"),
            ("HINCRBYFLOAT h g nan", "-ERR value is not a valid float\r\n"),
            ("HINCRBYFLOAT s g 1", WT),
            ("HINCRBYFLOAT h n 0.1", "$19\r\n9223372036854775802\r\n"),
            ("HSET h f 1", ":0\r\n"),
            ("HINCRBYFLOAT h f 0.1", "$3\r\n1.1\r\n"),
            ("HSET h f abc", ":0\r\n"),
            ("HINCRBYFLOAT h f 0.1", "-ERR hash value is not a float\r\n"),
            ("HINCRBYFLOAT h g -1001.5", "$1\r\n0\r\n"),
            ("HINCRBYFLOAT h k 5.0e3", "$4\r\n5000\r\n"),
            ("HINCRBYFLOAT h k 3.0e-5", "$21\r\n5000.0000300000000002\r\n"),
            (
                "HINCRBYFLOAT h j 1.23456789012345678",
                "$19\r\n1.23456789012345678\r\n",
            ),
            ("HSET h inff inf", ":1\r\n"),
            (
                "HINCRBYFLOAT h inff 1",
                "-ERR increment would produce NaN or Infinity\r\n",
            ),
        ],
    );
    h.run("HINCRBYFLOAT h q 2.5");
    assert_eq!(last_prop(&h), "HSET h q 2.5");
    assert!(h.ks.dbs[0].peek(b"nokey", h.now_ms).is_none());
}

#[test]
fn randfield() {
    let mut h = Harness::new();
    h.run("SET s x");
    check(
        &mut h,
        &[
            ("HSET h a 1", ":1\r\n"),
            ("HRANDFIELD h", "$1\r\na\r\n"),
            ("HRANDFIELD h 1", "*1\r\n$1\r\na\r\n"),
            ("HRANDFIELD h 0", "*0\r\n"),
            ("HRANDFIELD h 0 WITHVALUES", "*0\r\n"),
            ("HRANDFIELD h -3", "*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"),
            ("HRANDFIELD h -2 WITHVALUES", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n"),
            ("HRANDFIELD h 5 WITHVALUES", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
            ("HRANDFIELD h 5 WITHVALUE", "-ERR syntax error\r\n"),
            ("HRANDFIELD h x", "-ERR value is not an integer or out of range\r\n"),
            ("HRANDFIELD h 1 2", "-ERR syntax error\r\n"),
            ("HRANDFIELD nokey", "$-1\r\n"),
            ("HRANDFIELD nokey 3", "*0\r\n"),
            ("HRANDFIELD nokey 3 WITHVALUES", "*0\r\n"),
            ("HRANDFIELD nokey x", "-ERR value is not an integer or out of range\r\n"),
            ("HRANDFIELD nokey 0 foo", "-ERR syntax error\r\n"),
            ("HRANDFIELD s", WT),
            ("HRANDFIELD s 2", WT),
            ("HRANDFIELD s 0", WT),
            ("HRANDFIELD s x", "-ERR value is not an integer or out of range\r\n"),
            (
                "HRANDFIELD h -9223372036854775808",
                "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n",
            ),
            ("HRANDFIELD h -4611686018427387904 WITHVALUES", "-ERR value is out of range\r\n"),
            ("HRANDFIELD s -4611686018427387904 WITHVALUES", "-ERR value is out of range\r\n"),
            ("HRANDFIELD h 9223372036854775807 WITHVALUES", "-ERR value is out of range\r\n"),
            ("HRANDFIELD h 9223372036854775807", "*1\r\n$1\r\na\r\n"),
            // Redis would try to build this reply until it runs out of memory.
            ("HRANDFIELD h -9223372036854775807", "-ERR value is out of range\r\n"),
            ("HRANDFIELD nokey -9223372036854775807", "*0\r\n"),
        ],
    );
    h.run("HSET h b 2 c 3 d 4");
    let r = h.run("HRANDFIELD h 3");
    assert!(r.starts_with("*3\r\n"));
    let fields: std::collections::HashSet<&str> = r.split("\r\n").filter(|l| l.len() == 1).collect();
    assert_eq!(fields.len(), 3, "distinct fields: {r}");
    assert_eq!(
        h.run("HRANDFIELD h 4"),
        "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
    );
    h.version = ProtocolVersion::Resp3;
    let r = h.run("HRANDFIELD h -5 WITHVALUES");
    assert!(r.starts_with("*5\r\n*2\r\n$1\r\n"), "{r}");
    let r = h.run("HRANDFIELD h 2 WITHVALUES");
    assert!(r.starts_with("*2\r\n*2\r\n$1\r\n"), "{r}");
}

#[test]
fn scan() {
    let mut h = Harness::new();
    h.run("SET s x");
    let one = "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n";
    let empty = "*2\r\n$1\r\n0\r\n*0\r\n";
    check(
        &mut h,
        &[
            ("HSET h a 1", ":1\r\n"),
            ("HSCAN h 0", one),
            ("HSCAN h x", "-ERR invalid cursor\r\n"),
            ("HSCAN h -1", one),
            ("HSCAN h 18446744073709551615", one),
            ("HSCAN h 18446744073709551616", "-ERR invalid cursor\r\n"),
            ("HSCAN h 0 COUNT 0", "-ERR syntax error\r\n"),
            ("HSCAN h 0 COUNT -1", "-ERR syntax error\r\n"),
            (
                "HSCAN h 0 COUNT x",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("HSCAN h 0 MATCH", "-ERR syntax error\r\n"),
            ("HSCAN h 0 FOO bar", "-ERR syntax error\r\n"),
            ("HSCAN h 0 MATCH b*", empty),
            ("HSCAN h 0 NOVALUES", "-ERR syntax error\r\n"),
            ("HSCAN h 0 TYPE string", "-ERR syntax error\r\n"),
            ("HSCAN nokey 0", empty),
            ("HSCAN nokey x", "-ERR invalid cursor\r\n"),
            ("HSCAN nokey -", "-ERR invalid cursor\r\n"),
            ("HSCAN nokey -18446744073709551615", empty),
            ("HSCAN s 0", WT),
            ("HSCAN s x", "-ERR invalid cursor\r\n"),
            ("HSCAN nokey 0 COUNT 0", empty),
            ("HSCAN h 01", one),
            ("HSCAN h +1", one),
            ("HSCAN h 5", one),
            ("HSCAN h 0 count 1 match a count 5", one),
        ],
    );
    h.version = ProtocolVersion::Resp3;
    h.run("HSET h b 2");
    assert_eq!(
        h.run("HSCAN h 0"),
        "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
}

#[test]
fn scan_large_hash_survives_deletions() {
    let mut h = Harness::new();
    for i in 0..500 {
        h.run(&format!("HSET big f{i} v{i}"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let r = h.run(&format!("HSCAN big {cursor} COUNT 20"));
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        for l in lines.iter().skip(4) {
            if l.starts_with('f') {
                seen.insert(l.to_string());
            }
        }
        step += 1;
        h.run(&format!("HDEL big f{}", step * 2 + 1));
        if cursor == "0" {
            break;
        }
    }
    for i in (0..500).step_by(2) {
        assert!(seen.contains(&format!("f{i}")), "missed f{i}");
    }
    let r = h.run("HSCAN big 0 MATCH f1? COUNT 1000");
    assert!(r.starts_with("*2\r\n$1\r\n0\r\n*"), "{r}");
}
