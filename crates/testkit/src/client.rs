//! A tiny blocking RESP client for tests.
//!
//! Every read has a timeout (10 s by default), so a server that stops answering fails the
//! test instead of hanging it. The panicking methods (`cmd`, `read_reply`, ...) are for the
//! common case; the `try_` variants return errors for tests that expect failures (a paused
//! or killed server, a closed connection).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::reply::Reply;

/// How long a read may block before the client gives up.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking connection to one server.
#[derive(Debug)]
pub struct TestClient {
    stream: TcpStream,
    addr: SocketAddr,
    /// Bytes read but not yet parsed into a reply.
    buf: Vec<u8>,
    timeout: Duration,
}

impl TestClient {
    /// Connects to 127.0.0.1:`port`; panics if that fails.
    #[track_caller]
    pub fn connect(port: u16) -> TestClient {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Connects to `addr` with the default timeouts.
    pub fn try_connect(addr: SocketAddr) -> io::Result<TestClient> {
        let stream = TcpStream::connect_timeout(&addr, DEFAULT_IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        let mut c = TestClient {
            stream,
            addr,
            buf: Vec::new(),
            timeout: DEFAULT_IO_TIMEOUT,
        };
        c.set_timeout(DEFAULT_IO_TIMEOUT)?;
        Ok(c)
    }

    /// Changes the read/write timeout (e.g. short, to check that a paused server does not
    /// answer).
    pub fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.timeout = timeout;
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one command and returns its reply. An error reply is a `Reply::Error`, not a
    /// panic; an I/O or parse failure panics.
    #[track_caller]
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        match self.try_cmd(args) {
            Ok(r) => r,
            Err(e) => panic!("{} to {}: {e}", describe(args), self.addr),
        }
    }

    pub fn try_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Reply> {
        self.send(args)?;
        self.try_read_reply()
    }

    /// Sends `args` and asserts that the reply is `+OK`.
    #[track_caller]
    pub fn cmd_ok<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let r = self.cmd(args);
        assert!(r.is_ok(), "{} replied {r}, expected OK", describe(args));
    }

    /// Writes one command without reading its reply (for pipelining: read the replies later
    /// with [`TestClient::read_reply`]).
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.stream.write_all(&encode(args))
    }

    /// Reads the next reply; panics on I/O error, timeout or garbage.
    #[track_caller]
    pub fn read_reply(&mut self) -> Reply {
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("reading a reply from {}: {e}", self.addr),
        }
    }

    /// Reads the next reply. EOF before a complete reply is `UnexpectedEof`, a timeout is
    /// `WouldBlock`/`TimedOut` (as the OS reports it), garbage is `InvalidData`.
    pub fn try_read_reply(&mut self) -> io::Result<Reply> {
        loop {
            match Reply::parse(&self.buf) {
                Ok(Some((r, used))) => {
                    self.buf.drain(..used);
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(ErrorKind::InvalidData, e)),
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("connection closed with {} unparsed bytes", self.buf.len()),
                ));
            }
        }
    }

    /// Writes `bytes` as they are, then reads until the bytes received hold at least one
    /// complete reply (or something unparseable), or the server closes the connection, or
    /// the timeout passes; returns everything read. For protocol-error tests.
    pub fn raw(&mut self, bytes: &[u8]) -> Vec<u8> {
        if let Err(e) = self.stream.write_all(bytes) {
            panic!("writing raw bytes to {}: {e}", self.addr);
        }
        loop {
            if !self.buf.is_empty() && !matches!(Reply::parse(&self.buf), Ok(None)) {
                break;
            }
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => break,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading from {}: {e}", self.addr),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Writes `bytes` as they are (no reply is read).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until the server closes the connection and returns what it sent (including
    /// anything buffered). Panics if it is still open after `timeout`.
    #[track_caller]
    pub fn read_until_closed(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let old = self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("{} did not close the connection within {timeout:?}", self.addr);
            }
            // Read in short slices so the overall deadline holds.
            let _ = self
                .stream
                .set_read_timeout(Some(left.min(Duration::from_millis(100))));
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading from {}: {e}", self.addr),
            }
        }
        let _ = self.stream.set_read_timeout(Some(old));
        std::mem::take(&mut self.buf)
    }

    /// The underlying socket, for tests that need something unusual (half-close, ...).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Reads once into the buffer; returns the count (0 = EOF).
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// True for the errors a socket read timeout produces.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Encodes a command as a RESP multibulk of bulk strings.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn describe<A: AsRef<[u8]>>(args: &[A]) -> String {
    let mut s: String = args
        .iter()
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_multibulk() {
        assert_eq!(
            encode(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
        let args: Vec<Vec<u8>> = vec![b"a\r\nb".to_vec()];
        assert_eq!(encode(&args), b"*1\r\n$4\r\na\r\nb\r\n");
    }
}
