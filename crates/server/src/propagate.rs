//! The stream of write commands that replicas and the AOF consume.
//!
//! Every write that changed something is appended here in RESP, preceded by a SELECT when
//! the database differs from the previous entry, and a transaction's writes are wrapped in
//! MULTI/EXEC. The backlog keeps the last `repl-backlog-size` bytes so that a replica that
//! reconnects can continue from its offset (PSYNC). Lives under the core lock.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use slotkv_protocol::encode_command;
use tokio::sync::Notify;

/// The replication backlog and the write feed.
pub struct ReplFeed {
    /// Whether anything consumes the stream (replicas attached, or AOF on).
    pub enabled: bool,
    /// Offset of the last byte produced (Redis's `master_repl_offset`).
    pub offset: u64,
    /// The last bytes of the stream; `backlog[0]` is at offset `offset - backlog.len() + 1`.
    pub backlog: VecDeque<u8>,
    pub backlog_size: usize,
    /// Database of the last propagated command.
    selected_db: Option<usize>,
    /// Inside EXEC: MULTI is emitted before the first write of the transaction.
    in_multi: bool,
    multi_emitted: bool,
    /// Woken when the stream grows (replica senders wait on it).
    pub grown: Arc<Notify>,
    /// Bytes appended since the AOF last took them.
    pub aof_pending: Vec<u8>,
    pub aof_enabled: bool,
    /// Set while we are a replica: the stream is our master's, relayed with
    /// [`ReplFeed::append_raw`]; local writes (a writable replica) are not propagated.
    pub relay_only: bool,
    scratch: Vec<u8>,
}

impl Default for ReplFeed {
    fn default() -> Self {
        Self::new(1024 * 1024)
    }
}

impl ReplFeed {
    pub fn new(backlog_size: usize) -> Self {
        Self {
            enabled: false,
            offset: 0,
            backlog: VecDeque::new(),
            backlog_size: backlog_size.max(16 * 1024),
            selected_db: None,
            in_multi: false,
            multi_emitted: false,
            grown: Arc::new(Notify::new()),
            aof_pending: Vec::new(),
            aof_enabled: false,
            relay_only: false,
            scratch: Vec::new(),
        }
    }

    /// Offset of the first byte still in the backlog.
    pub fn backlog_start(&self) -> u64 {
        self.offset + 1 - self.backlog.len() as u64
    }

    /// Appends one command executed in `db`.
    pub fn feed<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        if !self.enabled || self.relay_only {
            return;
        }
        self.scratch.clear();
        if self.in_multi && !self.multi_emitted {
            self.multi_emitted = true;
            if self.selected_db != Some(db) {
                encode_select(&mut self.scratch, db);
                self.selected_db = Some(db);
            }
            encode_command(&mut self.scratch, &[&b"MULTI"[..]]);
        }
        if self.selected_db != Some(db) {
            encode_select(&mut self.scratch, db);
            self.selected_db = Some(db);
        }
        encode_command(&mut self.scratch, args);
        let bytes = std::mem::take(&mut self.scratch);
        self.append_raw(&bytes);
        self.scratch = bytes;
    }

    /// Appends bytes that are already a valid stream (a replica relaying its master's
    /// stream to its own replicas).
    pub fn append_raw(&mut self, bytes: &[u8]) {
        if !self.enabled || bytes.is_empty() {
            return;
        }
        self.backlog.extend(bytes.iter().copied());
        let excess = self.backlog.len().saturating_sub(self.backlog_size);
        if excess > 0 {
            self.backlog.drain(..excess);
        }
        self.offset += bytes.len() as u64;
        if self.aof_enabled {
            self.aof_pending.extend_from_slice(bytes);
        }
        self.grown.notify_waiters();
    }

    /// Starts a transaction: writes until [`ReplFeed::end_multi`] are wrapped.
    pub fn begin_multi(&mut self) {
        self.in_multi = true;
        self.multi_emitted = false;
    }

    /// Ends a transaction, emitting EXEC if MULTI was emitted.
    pub fn end_multi(&mut self) {
        let emitted = self.multi_emitted;
        self.in_multi = false;
        self.multi_emitted = false;
        if emitted {
            let db = self.selected_db.unwrap_or(0);
            self.feed(db, &[&b"EXEC"[..]]);
        }
    }

    /// Forgets the selected database (a new replica or AOF file starts without one).
    pub fn reset_selected_db(&mut self) {
        self.selected_db = None;
    }

    /// Copies the stream from `from` (inclusive) to the end, if still in the backlog.
    pub fn copy_from(&self, from: u64) -> Option<Vec<u8>> {
        if from > self.offset + 1 || from < self.backlog_start() {
            return None;
        }
        let skip = (from - self.backlog_start()) as usize;
        let (a, b) = self.backlog.as_slices();
        let mut out = Vec::with_capacity(self.backlog.len() - skip);
        if skip < a.len() {
            out.extend_from_slice(&a[skip..]);
            out.extend_from_slice(b);
        } else {
            out.extend_from_slice(&b[skip - a.len()..]);
        }
        Some(out)
    }
}

fn encode_select(out: &mut Vec<u8>, db: usize) {
    let mut b = itoa::Buffer::new();
    encode_command(out, &[&b"SELECT"[..], b.format(db).as_bytes()]);
}

/// Arguments as `Bytes` for DEL propagation of expired keys.
pub fn del_command(key: &[u8]) -> [Bytes; 2] {
    [Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_and_multi_framing() {
        let mut f = ReplFeed::new(1 << 20);
        f.enabled = true;
        f.feed(0, &[&b"SET"[..], b"a", b"1"]);
        f.feed(0, &[&b"SET"[..], b"b", b"2"]);
        f.begin_multi();
        f.feed(3, &[&b"INCR"[..], b"c"]);
        f.end_multi();
        let all = f.copy_from(1).unwrap();
        let text = String::from_utf8(all).unwrap();
        assert!(text.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET"));
        assert!(text.contains("SELECT\r\n$1\r\n3\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR"));
        assert!(text.ends_with("*1\r\n$4\r\nEXEC\r\n"));
        assert_eq!(f.offset as usize, text.len());
    }

    #[test]
    fn backlog_is_bounded() {
        let mut f = ReplFeed::new(16 * 1024);
        f.enabled = true;
        for i in 0..10_000 {
            f.feed(0, &[b"SET".to_vec(), format!("k{i}").into_bytes(), b"v".to_vec()]);
        }
        assert_eq!(f.backlog.len(), 16 * 1024);
        assert!(f.copy_from(1).is_none());
        assert!(f.copy_from(f.offset + 1).unwrap().is_empty());
    }

    #[test]
    fn relay_only_ignores_local_writes() {
        let mut f = ReplFeed::new(1 << 20);
        f.enabled = true;
        f.relay_only = true;
        f.feed(0, &[&b"SET"[..], b"a", b"1"]);
        assert_eq!(f.offset, 0);
        f.append_raw(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(f.offset, 14);
    }
}
