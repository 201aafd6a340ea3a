//! Fetching a server's snapshot over the replication protocol, as `redis-cli --rdb <file>`
//! and `--cluster backup` do: `SYNC`, then the `$<len>\r\n<payload>` (or, when the client
//! announced `capa eof`, `$EOF:<40-byte mark>\r\n<payload><mark>`) written to a file or to
//! stdout. The progress lines go to stderr in redis-cli's words.
//!
//! Owns only the byte stream after `SYNC`; connecting and authenticating are the caller's
//! (a [`Link`]). The connection is consumed: after the payload the server goes on with the
//! replication stream, which nobody reads.

use std::fs::File;
use std::io::{self, Read, Write};

use crate::cluster_admin::node::Link;

/// Length of the end-of-file mark of a diskless transfer.
pub const EOF_MARK_LEN: usize = 40;

/// How the server delimits the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `$<len>`: exactly this many bytes follow.
    Len(u64),
    /// `$EOF:<mark>`: bytes follow until the mark, which is not part of the snapshot.
    Eof([u8; EOF_MARK_LEN]),
}

/// Why a transfer failed; the text is redis-cli's.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("Error writing to master")]
    WriteMaster,
    #[error("Error reading bulk length while SYNCing")]
    ReadLength,
    #[error("SYNC with master failed: {0}")]
    SyncFailed(String),
    #[error("Error opening '{path}': {reason}")]
    Open { path: String, reason: String },
    #[error("I/O Error reading RDB payload from socket")]
    ReadPayload,
    #[error("Error writing data to file: {0}")]
    WriteFile(String),
    #[error("Fail to fsync '{path}': {reason}")]
    Fsync { path: String, reason: String },
}

/// Sends `SYNC` and reads the header line: newlines the server sends while it prepares the
/// snapshot are skipped. `pending` holds bytes already read from `stream` (and, on return,
/// the first payload bytes read past the header).
pub fn send_sync<S: Read + Write>(stream: &mut S, pending: &mut Vec<u8>) -> Result<Payload, RdbError> {
    stream.write_all(b"SYNC\r\n").map_err(|_| RdbError::WriteMaster)?;
    let line = loop {
        // Keepalive newlines before the header.
        let skip = pending.iter().take_while(|b| **b == b'\n').count();
        pending.drain(..skip);
        if let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            break line;
        }
        if pending.len() > 1024 {
            return Err(RdbError::ReadLength);
        }
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(RdbError::ReadLength),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    };
    let text = String::from_utf8_lossy(&line);
    let text = text.trim_end_matches(['\r', '\n']);
    if text.starts_with('-') {
        // redis-cli prints the reply line as it came, sign included.
        return Err(RdbError::SyncFailed(text.to_string()));
    }
    let body = text.strip_prefix('$').ok_or(RdbError::ReadLength)?;
    if let Some(mark) = body.strip_prefix("EOF:") {
        let bytes: [u8; EOF_MARK_LEN] = mark.as_bytes().try_into().map_err(|_| RdbError::ReadLength)?;
        return Ok(Payload::Eof(bytes));
    }
    body.parse().map(Payload::Len).map_err(|_| RdbError::ReadLength)
}

/// Copies the payload from `pending` + `stream` to `out`; returns the snapshot's size. An
/// EOF-delimited payload is held back by the mark's length so the mark is never written.
pub fn transfer<R: Read, W: Write>(
    stream: &mut R,
    mut pending: Vec<u8>,
    payload: &Payload,
    out: &mut W,
) -> Result<u64, RdbError> {
    let write = |out: &mut W, data: &[u8]| {
        out.write_all(data)
            .map_err(|e| RdbError::WriteFile(io_reason(&e)))
    };
    let mut buf = vec![0u8; 64 * 1024];
    match payload {
        Payload::Len(len) => {
            let mut left = *len;
            let first = pending.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            write(out, &pending[..first])?;
            left -= first as u64;
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = match stream.read(&mut buf[..want]) {
                    Ok(0) | Err(_) => return Err(RdbError::ReadPayload),
                    Ok(n) => n,
                };
                write(out, &buf[..n])?;
                left -= n as u64;
            }
            Ok(*len)
        }
        Payload::Eof(mark) => {
            let mut total = 0u64;
            loop {
                if let Some(at) = find(&pending, mark) {
                    write(out, &pending[..at])?;
                    return Ok(total + at as u64);
                }
                // Everything but a possible partial mark at the end can go out.
                let keep = pending.len().min(EOF_MARK_LEN - 1);
                let flush = pending.len() - keep;
                write(out, &pending[..flush])?;
                total += flush as u64;
                pending.drain(..flush);
                let n = match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return Err(RdbError::ReadPayload),
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn io_reason(e: &io::Error) -> String {
    crate::cluster_admin::node::io_text(e)
}

/// Options of one fetch.
pub struct Fetch<'a> {
    /// Where to write: a path, or `-` for stdout.
    pub filename: &'a str,
    /// `--rdb` announces `capa eof` and `rdb-only` (printing each); `--cluster backup` does
    /// neither.
    pub standalone: bool,
}

/// Runs the whole transfer on `link`, printing redis-cli's progress lines to stderr.
pub fn fetch(link: Link, opts: &Fetch<'_>) -> Result<(), RdbError> {
    let mut link = link;
    if opts.standalone {
        for (a, b) in [("capa", "eof"), ("rdb-only", "1")] {
            eprintln!("sending REPLCONF {a} {b}");
            match link.cmd(&["REPLCONF", a, b]) {
                Ok(slotkv_protocol::Frame::Error(e)) => {
                    // Old servers lack the option: not fatal, as in redis-cli.
                    eprintln!("REPLCONF {a} error: {e}");
                }
                Ok(_) => {}
                Err(_) => {
                    eprintln!("\nI/O error");
                    return Err(RdbError::WriteMaster);
                }
            }
        }
    }
    let (mut stream, mut pending) = link.into_parts();
    let _ = stream.set_read_timeout(None);
    let payload = send_sync(&mut stream, &mut pending)?;
    match &payload {
        Payload::Len(n) => eprintln!("SYNC sent to master, writing {n} bytes to '{}'", opts.filename),
        Payload::Eof(_) => eprintln!(
            "SYNC sent to master, writing bytes of bulk transfer until EOF marker to '{}'",
            opts.filename
        ),
    }
    let size = if opts.filename == "-" {
        let mut out = io::stdout().lock();
        let n = transfer(&mut stream, pending, &payload, &mut out)?;
        out.flush().map_err(|e| RdbError::WriteFile(io_reason(&e)))?;
        n
    } else {
        let mut file = File::create(opts.filename).map_err(|e| RdbError::Open {
            path: opts.filename.to_string(),
            reason: io_reason(&e),
        })?;
        let n = transfer(&mut stream, pending, &payload, &mut file)?;
        // Close the connection before the (possibly slow) fsync, as redis-cli does.
        drop(stream);
        file.sync_all().map_err(|e| RdbError::Fsync {
            path: opts.filename.to_string(),
            reason: io_reason(&e),
        })?;
        n
    };
    match payload {
        Payload::Len(_) => eprintln!("Transfer finished with success."),
        Payload::Eof(_) => eprintln!("Transfer finished with success after {size} bytes"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that replays `input` in small pieces and records what is written.
    struct Fake {
        input: Vec<u8>,
        at: usize,
        step: usize,
        written: Vec<u8>,
    }

    impl Fake {
        fn new(input: &[u8], step: usize) -> Fake {
            Fake {
                input: input.to_vec(),
                at: 0,
                step,
                written: Vec::new(),
            }
        }
    }

    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.input.len() - self.at);
            buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run(input: &[u8], step: usize) -> Result<(Payload, Vec<u8>), RdbError> {
        let mut s = Fake::new(input, step);
        let mut pending = Vec::new();
        let p = send_sync(&mut s, &mut pending)?;
        assert_eq!(s.written, b"SYNC\r\n");
        let mut out = Vec::new();
        let n = transfer(&mut s, pending, &p, &mut out)?;
        assert_eq!(n as usize, out.len());
        Ok((p, out))
    }

    #[test]
    fn length_prefixed_payload_after_keepalives() {
        for step in [1, 3, 4096] {
            let (p, out) = run(b"\n\n$5\r\nREDIS+replication stream", step).unwrap();
            assert_eq!(p, Payload::Len(5));
            assert_eq!(out, b"REDIS");
        }
    }

    #[test]
    fn eof_marked_payload_stops_at_the_mark() {
        let mark = [b'x'; EOF_MARK_LEN];
        let mut input = b"$EOF:".to_vec();
        input.extend_from_slice(&mark);
        input.extend_from_slice(b"\r\nREDIS0010 body with x in it");
        input.extend_from_slice(&mark);
        input.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for step in [1, 7, 4096] {
            let (p, out) = run(&input, step).unwrap();
            assert_eq!(p, Payload::Eof(mark));
            assert_eq!(out, b"REDIS0010 body with x in it");
        }
    }

    #[test]
    fn errors_are_redis_clis() {
        let e = run(
            b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n",
            64,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "SYNC with master failed: -NOMASTERLINK Can't SYNC while not connected with my master"
        );
        assert_eq!(
            run(b"$3\r\nab", 64).unwrap_err().to_string(),
            "I/O Error reading RDB payload from socket"
        );
        assert_eq!(
            run(b"", 64).unwrap_err().to_string(),
            "Error reading bulk length while SYNCing"
        );
        assert!(run(b"$EOF:short\r\n", 64).is_err());
    }
}
