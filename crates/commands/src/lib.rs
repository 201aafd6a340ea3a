//! Data commands: the command table and the handlers that operate on the keyspace.
//!
//! One file per family (`string`, `keys`, `list`, `hash`, `set`, `zset`, `bitmap`), each
//! exporting `specs()`; [`data_commands`] gathers them into the table the server extends
//! with its connection and server commands. Handlers write their reply straight into the
//! connection's [`slotkv_protocol::ReplyWriter`] and report effects through [`Ctx`]; they do
//! no I/O and take the time as an argument, so they are tested without sockets
//! ([`testing`]).

pub mod args;
mod ctx;
mod error;
pub mod spec;
pub mod testing;

mod bitmap;
mod dump;
mod hash;
mod keys;
mod list;
mod set;
mod string;
mod zset;

use bytes::Bytes;

pub use ctx::{same_bytes, BlockOn, Ctx, Predecoded};
pub use error::{CmdError, CmdResult};
pub use spec::{cmd, flags, CommandSpec, Group, KeysFn};

/// A data-command handler.
pub type DataFn = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

/// Every data command this crate implements.
pub fn data_commands() -> Vec<CommandSpec<DataFn>> {
    let mut v = Vec::new();
    v.extend(string::specs());
    v.extend(bitmap::specs());
    v.extend(keys::specs());
    v.extend(dump::specs());
    v.extend(list::specs());
    v.extend(hash::specs());
    v.extend(set::specs());
    v.extend(zset::specs());
    v
}
