//! The properties the fuzz targets check, as plain functions: the libFuzzer binaries in
//! `fuzz_targets/` call them, and the seed tests below run them on stable without libFuzzer.

use bytes::{Bytes, BytesMut};
use slotkv_cluster::message as bus;
use slotkv_protocol::RequestParser;

/// What a parser made of a whole input: the requests, and whether it stopped on an error.
#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Vec<Bytes>>,
    failed: bool,
}

/// Input layout: `[flags][split hi][split lo][payload...]`. `flags` picks a small
/// `max_bulk` (to reach the bulk-length limit) and the split point is taken modulo the
/// payload length. Checks that the parser never panics, never consumes more than it was
/// given (nor grows the buffer), never returns an empty request nor more argument bytes
/// than it consumed, and that splitting the input does not change the requests it yields
/// (up to the point where either run fails: Redis's inline-length limit depends on how the
/// bytes arrive, so an error may come earlier in one run than the other).
pub fn check_request_parser(data: &[u8]) {
    let [flags, hi, lo, payload @ ..] = data else {
        return;
    };
    let max_bulk = match flags & 3 {
        0 => slotkv_protocol::DEFAULT_MAX_BULK_LEN,
        1 => 16,
        2 => 1024,
        _ => 0,
    };
    let split = (usize::from(*hi) << 8 | usize::from(*lo)) % (payload.len() + 1);
    let whole = run(max_bulk, &[payload]);
    let parts = run(max_bulk, &[&payload[..split], &payload[split..]]);
    // Byte-at-a-time as well, for short inputs (every possible boundary at once).
    let bytewise = (payload.len() <= 256).then(|| {
        let chunks: Vec<&[u8]> = payload.chunks(1).collect();
        run(max_bulk, &chunks)
    });
    for other in [Some(&parts), bytewise.as_ref()].into_iter().flatten() {
        if !whole.failed && !other.failed {
            assert_eq!(whole.requests, other.requests, "split changed the requests");
        } else {
            let n = whole.requests.len().min(other.requests.len());
            assert_eq!(
                whole.requests[..n],
                other.requests[..n],
                "split changed the requests"
            );
        }
    }
}

/// Feeds `chunks` one after the other, draining every complete request after each.
fn run(max_bulk: usize, chunks: &[&[u8]]) -> Outcome {
    let mut parser = RequestParser::new(max_bulk);
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    let mut consumed = 0usize;
    let mut arg_bytes = 0usize;
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        loop {
            let before = buf.len();
            let result = parser.next(&mut buf);
            assert!(
                buf.len() <= before,
                "parser grew the buffer: {before} -> {}",
                buf.len()
            );
            consumed += before - buf.len();
            assert!(consumed <= fed, "consumed {consumed} of {fed} bytes");
            match result {
                Ok(Some(args)) => {
                    assert!(!args.is_empty(), "empty request");
                    arg_bytes += args.iter().map(Bytes::len).sum::<usize>();
                    assert!(
                        arg_bytes <= consumed,
                        "{arg_bytes} argument bytes from {consumed} consumed"
                    );
                    requests.push(args);
                }
                Ok(None) => break,
                // The connection is closed after a protocol error: nothing more is parsed.
                Err(_) => {
                    return Outcome {
                        requests,
                        failed: true,
                    }
                }
            }
        }
    }
    Outcome {
        requests,
        failed: false,
    }
}

/// Input layout: `[mode][payload...]`. Mode even: the payload is fed to
/// `slotkv_cluster::message::decode` as it is. Mode odd: the payload is laid into a frame
/// with a valid signature, length, version and sender, so that the body checks are reached:
/// its first 6 bytes become port/type/count, the next 42 the extension count, reserved
/// bytes, ports, flags, state and message flags, and the rest the body. Checks that decode
/// never panics, uses no more than it was given and no less than a header, that prefixes
/// of a message are "need more", and that a decoded message re-encodes to bytes that decode
/// to a message which encodes to the same bytes again.
pub fn check_cluster_message(data: &[u8]) {
    let [mode, payload @ ..] = data else {
        return;
    };
    let framed;
    let buf = if mode & 1 == 0 {
        payload
    } else {
        let mut f = vec![0u8; bus::MIN_HEADER_LEN];
        f[..4].copy_from_slice(bus::SIGNATURE);
        f[8..10].copy_from_slice(&bus::PROTO_VER.to_be_bytes());
        f[40..80].fill(b'a');
        let (head, body) = payload.split_at(payload.len().min(6));
        f[10..10 + head.len()].copy_from_slice(head);
        let (mid, body) = body.split_at(body.len().min(42));
        f[2214..2214 + mid.len()].copy_from_slice(mid);
        f.extend_from_slice(body);
        let n = f.len() as u32;
        f[4..8].copy_from_slice(&n.to_be_bytes());
        framed = f;
        &framed[..]
    };
    let Ok(Some((msg, used))) = bus::decode(buf) else {
        return;
    };
    assert!(
        (bus::MIN_HEADER_LEN..=buf.len()).contains(&used),
        "used {used} of {}",
        buf.len()
    );
    for n in [0, 4, 8, used / 2, used - 1] {
        assert_eq!(bus::decode(&buf[..n]), Ok(None), "prefix {n} of {used}");
    }
    let again = bus::encode(&msg);
    let (msg2, used2) = match bus::decode(&again) {
        Ok(Some(x)) => x,
        other => panic!("re-encoded {msg:?} decodes to {other:?}"),
    };
    assert_eq!(used2, again.len());
    assert_eq!(bus::encode(&msg2), again, "encode/decode not idempotent");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeds covering each request shape; every split point of each is checked.
    const SEEDS: &[&[u8]] = &[
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n",
        b"PING\r\nSET k \"a b\\x41\" 'c d'\r\n\r\nGET k\n",
        b"*0\r\n*-1\r\n*1\r\n$0\r\n\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\nfoo\r\n",
        b"*2\r\n$20\r\n0123456789abcdefghij\r\n$2\r\nab\r\n",
        b"*99999999999\r\n",
        b"*1\r\n$99999999999999999999\r\n",
        b"SET k \"unbalanced\r\n",
        b"\"a\"b\r\n",
        b"*1\r\n$3\r\nabcXY",
    ];

    #[test]
    fn seeds_at_every_split_and_limit() {
        for seed in SEEDS {
            for flags in 0..4u8 {
                for split in 0..=seed.len() as u16 {
                    let mut data = vec![flags, (split >> 8) as u8, split as u8];
                    data.extend_from_slice(seed);
                    check_request_parser(&data);
                }
            }
        }
    }

    /// A MEET captured from redis-server 7.0.15 (see crates/cluster/tests), plain and with
    /// each length/count byte corrupted.
    #[test]
    fn cluster_message_seeds() {
        let meet = include_bytes!("../../crates/cluster/tests/fixtures/redis7-meet.bin");
        let ping = include_bytes!("../../crates/cluster/tests/fixtures/redis7-ping.bin");
        for seed in [&meet[..], &ping[..]] {
            let mut data = vec![0u8];
            data.extend_from_slice(seed);
            check_cluster_message(&data);
            for i in (4..16).chain(2214..2256).chain(2256..seed.len().min(2400)) {
                for v in [0u8, 1, 7, 8, 0x7f, 0xff] {
                    let mut d = data.clone();
                    d[1 + i] = v;
                    check_cluster_message(&d);
                }
            }
        }
        // Framed mode: every message type, with short and odd bodies.
        for t in 0u8..12 {
            for body in [
                &b""[..],
                &[0; 40],
                &[b'a'; 40],
                &[0, 0, 0, 1, 0, 0, 0, 1, b'c', b'm'],
            ] {
                let mut d = vec![1u8, 0, 0, 0, t, 0, 0];
                d.extend_from_slice(&[0; 42]);
                d.extend_from_slice(body);
                check_cluster_message(&d);
            }
        }
        check_cluster_message(b"");
        check_cluster_message(b"\x00RCmb\xff\xff\xff\xff");
    }

    #[test]
    fn long_inline_line() {
        let mut data = vec![0, 0xff, 0xff];
        data.resize(data.len() + 70 * 1024, b'a');
        data.extend_from_slice(b"\r\n");
        check_request_parser(&data);
    }

    /// Found by this target: an inline line with a NUL byte once made `split_args` push
    /// empty arguments forever. NUL now ends the line, as in Redis's sdssplitargs.
    #[test]
    fn inline_nul_byte() {
        check_request_parser(b"\x0a\x00\x00\x00\x06\x0a");
    }

    #[test]
    fn short_inputs_do_nothing() {
        check_request_parser(b"");
        check_request_parser(b"\x00\x00");
    }
}
