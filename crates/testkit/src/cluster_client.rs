//! A small cluster client for the process tests (the server's and the CLI's): follows MOVED / ASK / TRYAGAIN like a
//! real cluster client and records every other error. It survives dead nodes: an I/O error
//! drops that connection and what it believed about the slot, and the next attempt starts
//! again from another seed address (so a test can keep writing through a failover).

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use crate::{Reply, TestClient};
use slotkv_keyslot::key_slot;

pub struct ClusterClient {
    conns: HashMap<String, TestClient>,
    slots: HashMap<u16, String>,
    /// Where to start for a slot it knows nothing about; rotated on I/O errors.
    seeds: Vec<String>,
    next_seed: usize,
    /// The node that answered the last command.
    last_addr: Option<String>,
    /// Read timeout of new connections.
    timeout: Option<Duration>,
    pub redirects: usize,
    pub unexpected: Vec<String>,
}

impl ClusterClient {
    pub fn new(addr: String) -> Self {
        Self::with_seeds(vec![addr])
    }

    /// A client that starts from any of `seeds` ("ip:port").
    pub fn with_seeds(seeds: Vec<String>) -> Self {
        assert!(!seeds.is_empty(), "a cluster client needs a seed address");
        ClusterClient {
            conns: HashMap::new(),
            slots: HashMap::new(),
            seeds,
            next_seed: 0,
            last_addr: None,
            timeout: None,
            redirects: 0,
            unexpected: Vec::new(),
        }
    }

    /// Read timeout for the connections opened from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    fn conn(&mut self, addr: &str) -> io::Result<&mut TestClient> {
        if !self.conns.contains_key(addr) {
            let a: std::net::SocketAddr = addr.parse().map_err(io::Error::other)?;
            let mut c = TestClient::try_connect(a)?;
            if let Some(t) = self.timeout {
                c.set_timeout(t)?;
            }
            self.conns.insert(addr.to_string(), c);
        }
        Ok(self.conns.get_mut(addr).expect("just inserted"))
    }

    /// Runs a keyed command (the key is `args[1]`), following redirects; panics on I/O
    /// errors.
    #[track_caller]
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        self.try_cmd(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Like [`ClusterClient::cmd`]; an I/O error forgets the connection and the slot's
    /// owner and is returned, so the caller decides whether to retry.
    pub fn try_cmd(&mut self, args: &[&str]) -> io::Result<Reply> {
        let slot = key_slot(args[1].as_bytes()).get();
        let mut addr = match self.slots.get(&slot) {
            Some(a) => a.clone(),
            None => self.seeds[self.next_seed % self.seeds.len()].clone(),
        };
        let mut asking = false;
        for _ in 0..200 {
            let r = self.conn(&addr).and_then(|c| {
                if asking {
                    c.try_cmd(&["ASKING"])?;
                }
                c.try_cmd(args)
            });
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    self.conns.remove(&addr);
                    self.slots.remove(&slot);
                    self.next_seed += 1;
                    return Err(e);
                }
            };
            let Reply::Error(e) = &r else {
                self.last_addr = Some(addr);
                return Ok(r);
            };
            self.redirects += 1;
            let parts: Vec<&str> = e.split(' ').collect();
            match parts[0] {
                "MOVED" if parts.len() == 3 => {
                    addr = parts[2].to_string();
                    self.slots.insert(slot, addr.clone());
                    asking = false;
                }
                "ASK" if parts.len() == 3 => {
                    addr = parts[2].to_string();
                    asking = true;
                }
                "TRYAGAIN" => {
                    asking = false;
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    self.unexpected.push(e.clone());
                    self.last_addr = Some(addr);
                    return Ok(r);
                }
            }
        }
        panic!("too many redirects for {args:?}");
    }

    /// Runs a command on the node that answered the last command (WAIT after a write).
    pub fn try_cmd_on_last(&mut self, args: &[&str]) -> io::Result<Reply> {
        let addr = self
            .last_addr
            .clone()
            .ok_or_else(|| io::Error::other("no previous command"))?;
        let r = self.conn(&addr).and_then(|c| c.try_cmd(args));
        if r.is_err() {
            self.conns.remove(&addr);
        }
        r
    }
}
