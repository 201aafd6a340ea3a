//! What a data-command handler gets: the keyspace, the selected database, the reply writer,
//! the time, and places to report effects (changes made, keys touched, how to propagate,
//! whether to block). Handlers do no I/O and never read the clock.

use bytes::Bytes;
use slotkv_keyspace::{Db, Key, Keyspace, Value};
use slotkv_protocol::ReplyWriter;

use crate::CmdError;

/// A request to block the client until one of `keys` is written or the deadline passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOn {
    pub keys: Vec<Bytes>,
    /// Unix ms; 0 blocks forever.
    pub deadline_ms: i64,
}

/// Execution context of one data command.
pub struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    /// Index of the selected database.
    pub db: usize,
    pub out: &'a mut ReplyWriter,
    /// Unix time in ms, fixed for the whole command.
    pub now_ms: i64,
    /// Number of changes made (Redis's `server.dirty` delta); > 0 means propagate.
    pub dirty: u64,
    /// Replaces verbatim propagation of the command (e.g. SET EX → SET PXAT).
    pub propagate_as: Option<Vec<Vec<Bytes>>>,
    /// Keys modified beyond the command's own key arguments in the selected db, or in other
    /// databases: (db, key). Used to invalidate WATCH and wake blocked clients.
    pub touched_extra: Vec<(usize, Key)>,
    /// Set by FLUSHDB (Some(db)) / FLUSHALL (None): every watched key of those dbs is dirty.
    pub flushed: Option<Option<usize>>,
    /// Set by a blocking command that found nothing to serve; nothing is written then.
    pub block: Option<BlockOn>,
    /// False inside MULTI/EXEC (blocking commands then answer as if timed out).
    pub can_block: bool,
    /// `proto-max-bulk-len`, the largest string a command may create.
    pub max_bulk: usize,
    /// A RESTORE payload decoded before the core lock was taken, with the payload it came
    /// from: RESTORE uses it instead of decoding under the lock (see [`Predecoded`]).
    pub predecoded: Option<Predecoded>,
}

/// A RESTORE payload and its decoded value (or why it does not decode).
pub type Predecoded = (Bytes, Result<Value, slotkv_persistence::PersistenceError>);

/// Whether `a` and `b` are the same bytes in memory (not just equal), so that a value decoded
/// from one argument is only ever used for that argument.
pub fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

impl<'a> Ctx<'a> {
    pub fn new(ks: &'a mut Keyspace, db: usize, out: &'a mut ReplyWriter, now_ms: i64) -> Self {
        Self {
            ks,
            db,
            out,
            now_ms,
            dirty: 0,
            propagate_as: None,
            touched_extra: Vec::new(),
            flushed: None,
            block: None,
            can_block: true,
            max_bulk: slotkv_protocol::DEFAULT_MAX_BULK_LEN,
            predecoded: None,
        }
    }

    /// The selected database.
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.ks.dbs[self.db]
    }

    /// Reads a key; `None` if missing or expired.
    #[inline]
    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        let now = self.now_ms;
        self.ks.dbs[self.db].get(key, now)
    }

    /// Reads a key for modification.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        let now = self.now_ms;
        self.ks.dbs[self.db].get_mut(key, now)
    }

    /// Propagates this list of commands instead of the command as received.
    pub fn propagate(&mut self, cmds: Vec<Vec<Bytes>>) {
        self.propagate_as = Some(cmds);
    }

    /// Appends one command to the rewritten propagation.
    pub fn also_propagate(&mut self, cmd: Vec<Bytes>) {
        self.propagate_as.get_or_insert_with(Vec::new).push(cmd);
    }

    /// Records a modified key outside the command's own key arguments.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        self.touched_extra.push((db, key.into()));
    }

    pub fn check_len(&self, len: usize) -> Result<(), CmdError> {
        if len > self.max_bulk {
            Err(CmdError::StringTooLong)
        } else {
            Ok(())
        }
    }
}
