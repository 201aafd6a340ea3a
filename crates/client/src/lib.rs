//! A small async RESP2/RESP3 client connection over tokio TCP.
//!
//! [`Connection`] writes commands as RESP multibulk arrays and reads replies as
//! [`Frame`]s. It is deliberately minimal — one connection, no pool, no cluster routing — so
//! that the CLI, the replica link and the tests can build what they need on top:
//!
//! * [`Connection::send`] sends one command and returns its reply. Error replies are
//!   `Ok(Frame::Error(..))`, not `Err`: only I/O and protocol failures are errors.
//! * [`Connection::send_many`] pipelines several commands in one write.
//! * [`Connection::write_command`] / [`Connection::read_frame`] split the two halves, for
//!   SUBSCRIBE, MONITOR and RESP3 pushes, where replies arrive without a request.
//! * [`Connection::connect_with`] runs `AUTH`, `HELLO 3` and `SELECT` after connecting.

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use slotkv_protocol::{encode_command, parse_frame, FrameScanner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use slotkv_protocol::{Frame, FrameError};

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server sent bytes that are not RESP.
    #[error(transparent)]
    Protocol(#[from] FrameError),
    /// The server closed the connection (EOF), possibly in the middle of a reply.
    #[error("Server closed the connection")]
    Closed,
    /// A handshake command run by [`Connection::connect_with`] got an error reply.
    #[error("{command} failed: {message}")]
    Handshake { command: String, message: String },
    /// Connecting did not finish within the configured timeout.
    #[error("Connection timed out")]
    Timeout,
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ClientError>;

/// Handshake run right after connecting, in the order AUTH, HELLO, SELECT.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// ACL user name; `AUTH user password` when set with a password.
    pub user: Option<String>,
    /// `AUTH password` (or `AUTH user password`).
    pub password: Option<String>,
    /// `HELLO 3` when true.
    pub resp3: bool,
    /// `SELECT db` when non-zero.
    pub db: i64,
    /// Give up connecting after this long (no limit when `None`).
    pub connect_timeout: Option<Duration>,
}

/// One RESP connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    rbuf: BytesMut,
    scanner: FrameScanner,
    wbuf: Vec<u8>,
    resp3: bool,
}

const READ_CHUNK: usize = 64 * 1024;

impl Connection {
    /// Opens a TCP connection; no command is sent.
    pub async fn connect(host: &str, port: u16) -> Result<Self> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Self::from_stream(stream))
    }

    /// Connects, then runs the handshake in `opts`. A handshake error reply is
    /// [`ClientError::Handshake`]; the connection is dropped then.
    pub async fn connect_with(host: &str, port: u16, opts: &ConnectOptions) -> Result<Self> {
        let mut conn = match opts.connect_timeout {
            Some(t) => tokio::time::timeout(t, Self::connect(host, port))
                .await
                .map_err(|_| ClientError::Timeout)??,
            None => Self::connect(host, port).await?,
        };
        if let Some(password) = &opts.password {
            let reply = match &opts.user {
                Some(user) => conn.send(&["AUTH", user, password]).await?,
                None => conn.send(&["AUTH", password]).await?,
            };
            check_handshake("AUTH", reply)?;
        }
        if opts.resp3 {
            let reply = conn.send(&["HELLO", "3"]).await?;
            check_handshake("HELLO 3", reply)?;
            conn.resp3 = true;
        }
        if opts.db != 0 {
            let db = opts.db.to_string();
            let reply = conn.send(&["SELECT", &db]).await?;
            check_handshake(&format!("SELECT {db}"), reply)?;
        }
        Ok(conn)
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: TcpStream) -> Self {
        Self {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            scanner: FrameScanner::new(),
            wbuf: Vec::new(),
            resp3: false,
        }
    }

    /// Whether `HELLO 3` was run through [`Connection::connect_with`] or
    /// [`Connection::set_resp3`].
    pub fn is_resp3(&self) -> bool {
        self.resp3
    }

    /// Records the protocol version after the caller ran `HELLO` itself.
    pub fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
    }

    /// The underlying socket (peer address, socket options).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends one command and reads the next frame, which is its reply unless pushes are
    /// pending (RESP3 client tracking): use [`Connection::read_frame`] for those.
    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame> {
        self.write_command(args).await?;
        self.read_frame().await
    }

    /// Pipelines `commands` in a single write, then reads one reply per command.
    pub async fn send_many<C, A>(&mut self, commands: &[C]) -> Result<Vec<Frame>>
    where
        C: AsRef<[A]>,
        A: AsRef<[u8]>,
    {
        self.wbuf.clear();
        for cmd in commands {
            encode_command(&mut self.wbuf, cmd.as_ref());
        }
        self.flush_wbuf().await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in 0..commands.len() {
            replies.push(self.read_frame().await?);
        }
        Ok(replies)
    }

    /// Writes one command without reading anything.
    pub async fn write_command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<()> {
        self.wbuf.clear();
        encode_command(&mut self.wbuf, args);
        self.flush_wbuf().await
    }

    /// Writes bytes as they are (e.g. an inline command or a prepared pipeline).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    async fn flush_wbuf(&mut self) -> Result<()> {
        self.stream.write_all(&self.wbuf).await?;
        Ok(())
    }

    /// Reads the next frame, whatever it is: a reply, a pub/sub message, a push, a MONITOR
    /// line. [`ClientError::Closed`] at EOF.
    pub async fn read_frame(&mut self) -> Result<Frame> {
        loop {
            if let Some(frame) = self.try_frame()? {
                return Ok(frame);
            }
            self.rbuf.reserve(READ_CHUNK);
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// A frame already buffered, if a complete one is.
    pub fn try_frame(&mut self) -> Result<Option<Frame>> {
        let Some(len) = self.scanner.scan(&self.rbuf)? else {
            return Ok(None);
        };
        match parse_frame(&self.rbuf[..len])? {
            Some((frame, used)) => {
                self.rbuf.advance(used);
                Ok(Some(frame))
            }
            None => Err(FrameError::Invalid("scanner and parser disagree".into()).into()),
        }
    }

    /// Bytes received but not yet parsed into a frame.
    pub fn buffered(&self) -> usize {
        self.rbuf.len()
    }
}

fn check_handshake(command: &str, reply: Frame) -> Result<()> {
    match reply {
        Frame::Error(message) => Err(ClientError::Handshake {
            command: command.to_string(),
            message,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A fake server answering each read with the canned bytes, split in small writes.
    async fn fake_server(replies: Vec<&'static [u8]>) -> (String, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            for reply in replies {
                let _ = sock.read(&mut buf).await.unwrap();
                for chunk in reply.chunks(3) {
                    sock.write_all(chunk).await.unwrap();
                    sock.flush().await.unwrap();
                }
            }
        });
        ("127.0.0.1".into(), port)
    }

    #[tokio::test]
    async fn send_and_errors() {
        let (h, p) = fake_server(vec![b"+PONG\r\n", b"-ERR bad\r\n", b"*2\r\n$1\r\na\r\n:5\r\n"]).await;
        let mut c = Connection::connect(&h, p).await.unwrap();
        assert_eq!(c.send(&["PING"]).await.unwrap(), Frame::Simple("PONG".into()));
        assert_eq!(c.send(&["X"]).await.unwrap(), Frame::Error("ERR bad".into()));
        assert_eq!(
            c.send(&["Y"]).await.unwrap(),
            Frame::Array(vec![Frame::Bulk("a".into()), Frame::Integer(5)])
        );
        assert!(matches!(c.read_frame().await, Err(ClientError::Closed)));
    }

    #[tokio::test]
    async fn pushes_are_read_as_frames() {
        let (h, p) = fake_server(vec![
            b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        ])
        .await;
        let mut c = Connection::connect(&h, p).await.unwrap();
        let first = c.send(&["SUBSCRIBE", "ch"]).await.unwrap();
        assert_eq!(
            first,
            Frame::Push(vec![
                Frame::Bulk("subscribe".into()),
                Frame::Bulk("ch".into()),
                Frame::Integer(1)
            ])
        );
        let msg = c.read_frame().await.unwrap();
        assert_eq!(
            msg,
            Frame::Push(vec![
                Frame::Bulk("message".into()),
                Frame::Bulk("ch".into()),
                Frame::Bulk("hi".into())
            ])
        );
    }

    #[tokio::test]
    async fn pipeline_and_handshake_error() {
        let (h, p) = fake_server(vec![b":1\r\n:2\r\n"]).await;
        let mut c = Connection::connect(&h, p).await.unwrap();
        let r = c
            .send_many(&[vec!["INCR", "a"], vec!["INCR", "a"]])
            .await
            .unwrap();
        assert_eq!(r, vec![Frame::Integer(1), Frame::Integer(2)]);

        let (h, p) = fake_server(vec![b"-WRONGPASS nope\r\n"]).await;
        let opts = ConnectOptions {
            password: Some("x".into()),
            ..Default::default()
        };
        let err = Connection::connect_with(&h, p, &opts).await.unwrap_err();
        assert_eq!(err.to_string(), "AUTH failed: WRONGPASS nope");
    }
}
