//! The properties the fuzz targets check, as plain functions: the libFuzzer binaries in
//! `fuzz_targets/` call them, and the seed tests below run them on stable without libFuzzer.

use bytes::{Bytes, BytesMut};
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
