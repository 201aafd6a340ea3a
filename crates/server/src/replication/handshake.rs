//! The replica side of the replication handshake as a state machine that does no I/O.
//!
//! The async shell (`replica.rs`) sends what [`Handshake`] asks for, feeds it each reply
//! line with the current time, and acts on the outcome. The order follows Redis 7.0:
//! PING, AUTH (when `masterauth` is set), `REPLCONF listening-port`, `REPLCONF capa eof capa
//! psync2`, then `PSYNC <replid> <offset>` (or `PSYNC ? -1` with no history). Errors to the
//! two REPLCONFs are tolerated (old masters); a `-NOAUTH` to PING is expected when AUTH
//! follows.

/// What the replica knows before connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeConfig {
    pub masteruser: Option<String>,
    pub masterauth: Option<String>,
    /// Our own listening port, announced to the master.
    pub listening_port: u16,
    /// `replica-announce-ip`: the address the master shows for us (REPLCONF ip-address).
    pub announce_ip: Option<String>,
    /// `(replid, next offset)` of the history we hold, for a partial resync.
    pub psync_from: Option<(String, u64)>,
    /// How long the master may take to answer each step.
    pub timeout_ms: i64,
}

/// Where the handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HsState {
    ReceivePong,
    ReceiveAuth,
    ReceivePort,
    ReceiveIp,
    ReceiveCapa,
    ReceivePsync,
    Done,
}

/// What the shell must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HsStep {
    /// Send this command and feed back the next reply line.
    Send(Vec<Vec<u8>>),
    /// The master will send an RDB snapshot taken at `offset`, then the stream from
    /// `offset + 1`.
    FullResync { replid: String, offset: u64 },
    /// The master continues the stream from our offset; `replid` is its current id (None
    /// from pre-PSYNC2 masters that answer a bare `+CONTINUE`).
    Continue { replid: Option<String> },
    /// The master is not ready to serve us yet (loading, or itself without a master
    /// link): try again later.
    RetryLater(String),
    /// Give up this connection.
    Fail(String),
}

/// The handshake of one connection attempt.
#[derive(Debug)]
pub struct Handshake {
    config: HandshakeConfig,
    state: HsState,
    deadline_ms: i64,
}

fn cmd(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

impl Handshake {
    /// Starts the handshake on a freshly connected socket: returns the machine and its
    /// first step (PING).
    pub fn start(config: HandshakeConfig, now_ms: i64) -> (Self, HsStep) {
        let hs = Handshake {
            deadline_ms: now_ms + config.timeout_ms,
            config,
            state: HsState::ReceivePong,
        };
        (hs, HsStep::Send(cmd(&["PING"])))
    }

    pub fn state(&self) -> HsState {
        self.state
    }

    /// When the current reply is overdue.
    pub fn deadline_ms(&self) -> i64 {
        self.deadline_ms
    }

    /// Fails the handshake if the master has not answered in time.
    pub fn tick(&mut self, now_ms: i64) -> Option<HsStep> {
        if self.state != HsState::Done && now_ms >= self.deadline_ms {
            self.state = HsState::Done;
            return Some(HsStep::Fail(format!(
                "Timeout connecting to the MASTER (state {:?})",
                self.state
            )));
        }
        None
    }

    /// Feeds one reply line (without CRLF) from the master.
    pub fn on_reply(&mut self, line: &[u8], now_ms: i64) -> HsStep {
        self.deadline_ms = now_ms + self.config.timeout_ms;
        let text = String::from_utf8_lossy(line).into_owned();
        let is_err = line.first() == Some(&b'-');
        match self.state {
            HsState::ReceivePong => {
                // NOAUTH and NOPERM are fine here: we authenticate next.
                if is_err
                    && !text.starts_with("-NOAUTH")
                    && !text.starts_with("-NOPERM")
                    && !text.starts_with("-ERR operation not permitted")
                {
                    return self.fail(format!("Error reply to PING from master: '{text}'"));
                }
                self.after_pong()
            }
            HsState::ReceiveAuth => {
                if is_err {
                    return self.fail(format!("Unable to AUTH to MASTER: {text}"));
                }
                self.send_port()
            }
            HsState::ReceivePort => {
                // Old masters do not know REPLCONF listening-port: not fatal.
                match self.config.announce_ip.clone() {
                    Some(ip) => {
                        self.state = HsState::ReceiveIp;
                        HsStep::Send(cmd(&["REPLCONF", "ip-address", &ip]))
                    }
                    None => self.send_capa(),
                }
            }
            // Nor REPLCONF ip-address.
            HsState::ReceiveIp => self.send_capa(),
            HsState::ReceiveCapa => {
                self.state = HsState::ReceivePsync;
                let (id, off) = match &self.config.psync_from {
                    Some((id, off)) => (id.clone(), off.to_string()),
                    None => ("?".to_string(), "-1".to_string()),
                };
                HsStep::Send(cmd(&["PSYNC", &id, &off]))
            }
            HsState::ReceivePsync => {
                self.state = HsState::Done;
                parse_psync_reply(&text)
            }
            HsState::Done => HsStep::Fail("Unexpected reply after the handshake".into()),
        }
    }

    fn fail(&mut self, why: String) -> HsStep {
        self.state = HsState::Done;
        HsStep::Fail(why)
    }

    fn after_pong(&mut self) -> HsStep {
        match (&self.config.masteruser, &self.config.masterauth) {
            (user, Some(pass)) => {
                self.state = HsState::ReceiveAuth;
                let mut args = vec![b"AUTH".to_vec()];
                if let Some(u) = user {
                    args.push(u.as_bytes().to_vec());
                }
                args.push(pass.as_bytes().to_vec());
                HsStep::Send(args)
            }
            _ => self.send_port(),
        }
    }

    fn send_capa(&mut self) -> HsStep {
        self.state = HsState::ReceiveCapa;
        HsStep::Send(cmd(&["REPLCONF", "capa", "eof", "capa", "psync2"]))
    }

    fn send_port(&mut self) -> HsStep {
        self.state = HsState::ReceivePort;
        let port = self.config.listening_port.to_string();
        HsStep::Send(cmd(&["REPLCONF", "listening-port", &port]))
    }
}

/// `+FULLRESYNC <replid> <offset>`, `+CONTINUE [<replid>]`, or an error.
fn parse_psync_reply(text: &str) -> HsStep {
    if let Some(rest) = text.strip_prefix("+FULLRESYNC ") {
        let mut it = rest.split(' ');
        let id = it.next().unwrap_or("");
        let off = it.next().and_then(|o| o.parse::<u64>().ok());
        return match off {
            Some(offset) if id.len() == 40 => HsStep::FullResync {
                replid: id.to_string(),
                offset,
            },
            _ => HsStep::Fail(format!("Bad FULLRESYNC reply: '{text}'")),
        };
    }
    if let Some(rest) = text.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        return HsStep::Continue {
            replid: (id.len() == 40).then(|| id.to_string()),
        };
    }
    if text.starts_with("-NOMASTERLINK") || text.starts_with("-LOADING") {
        return HsStep::RetryLater(format!("Master is currently unable to PSYNC: {text}"));
    }
    HsStep::Fail(format!("Unexpected reply to PSYNC from master: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(auth: bool, from: Option<(&str, u64)>) -> HandshakeConfig {
        HandshakeConfig {
            masteruser: None,
            masterauth: auth.then(|| "secret".to_string()),
            listening_port: 6380,
            announce_ip: None,
            psync_from: from.map(|(a, b)| (a.to_string(), b)),
            timeout_ms: 60_000,
        }
    }

    fn sent(step: &HsStep) -> Vec<String> {
        match step {
            HsStep::Send(a) => a
                .iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect(),
            other => panic!("expected a command, got {other:?}"),
        }
    }

    const ID: &str = "0123456789012345678901234567890123456789";

    #[test]
    fn full_handshake_with_auth() {
        let (mut hs, s) = Handshake::start(config(true, None), 0);
        assert_eq!(sent(&s), ["PING"]);
        let s = hs.on_reply(b"-NOAUTH Authentication required.", 1);
        assert_eq!(sent(&s), ["AUTH", "secret"]);
        let s = hs.on_reply(b"+OK", 2);
        assert_eq!(sent(&s), ["REPLCONF", "listening-port", "6380"]);
        let s = hs.on_reply(b"+OK", 3);
        assert_eq!(sent(&s), ["REPLCONF", "capa", "eof", "capa", "psync2"]);
        let s = hs.on_reply(b"+OK", 4);
        assert_eq!(sent(&s), ["PSYNC", "?", "-1"]);
        let s = hs.on_reply(format!("+FULLRESYNC {ID} 1234").as_bytes(), 5);
        assert_eq!(
            s,
            HsStep::FullResync {
                replid: ID.into(),
                offset: 1234
            }
        );
    }

    #[test]
    fn announced_ip_is_sent_after_the_port() {
        let mut c = config(false, None);
        c.announce_ip = Some("10.1.2.3".into());
        let (mut hs, _) = Handshake::start(c, 0);
        let s = hs.on_reply(b"+PONG", 1);
        assert_eq!(sent(&s), ["REPLCONF", "listening-port", "6380"]);
        let s = hs.on_reply(b"+OK", 2);
        assert_eq!(sent(&s), ["REPLCONF", "ip-address", "10.1.2.3"]);
        // A master that does not know it is not fatal.
        let s = hs.on_reply(b"-ERR unknown option", 3);
        assert_eq!(sent(&s), ["REPLCONF", "capa", "eof", "capa", "psync2"]);
    }

    #[test]
    fn partial_resync_without_auth_tolerates_replconf_errors() {
        let (mut hs, _) = Handshake::start(config(false, Some((ID, 101))), 0);
        let s = hs.on_reply(b"+PONG", 1);
        assert_eq!(sent(&s), ["REPLCONF", "listening-port", "6380"]);
        let s = hs.on_reply(b"-ERR unknown command", 2);
        assert_eq!(sent(&s)[0], "REPLCONF");
        let s = hs.on_reply(b"-ERR unknown command", 3);
        assert_eq!(sent(&s), ["PSYNC", ID, "101"]);
        assert_eq!(
            hs.on_reply(format!("+CONTINUE {ID}").as_bytes(), 4),
            HsStep::Continue {
                replid: Some(ID.into())
            }
        );
    }

    #[test]
    fn errors_and_timeouts() {
        let (mut hs, _) = Handshake::start(config(true, None), 0);
        assert!(matches!(hs.on_reply(b"-ERR nope", 1), HsStep::Fail(_)));
        let (mut hs, _) = Handshake::start(config(true, None), 0);
        hs.on_reply(b"+PONG", 10);
        assert!(matches!(hs.on_reply(b"-WRONGPASS invalid", 20), HsStep::Fail(_)));
        let (mut hs, _) = Handshake::start(config(false, None), 0);
        assert!(hs.tick(59_999).is_none());
        assert!(matches!(hs.tick(60_000), Some(HsStep::Fail(_))));
        assert_eq!(
            parse_psync_reply("-NOMASTERLINK Can't SYNC"),
            HsStep::RetryLater("Master is currently unable to PSYNC: -NOMASTERLINK Can't SYNC".into())
        );
        assert!(matches!(
            parse_psync_reply("+FULLRESYNC short 1"),
            HsStep::Fail(_)
        ));
        assert_eq!(parse_psync_reply("+CONTINUE"), HsStep::Continue { replid: None });
    }
}
