//! RESP2/RESP3 wire format, without I/O.
//!
//! Owns three things: [`RequestParser`] turns bytes from a client into command argument
//! vectors (multibulk and inline), [`ReplyWriter`] encodes replies for the protocol version a
//! connection negotiated, and [`frame`] parses any RESP2/RESP3 reply (used by clients: the
//! CLI, the replica link, tests). Nothing here touches sockets or the keyspace.

pub mod frame;
mod number;
pub mod pattern;
mod request;
mod writer;

pub use frame::{encode_frame, parse_frame, Frame, FrameError, FrameScanner};
pub use number::{format_double, format_g, format_g17, parse_f64, parse_i64};
pub use pattern::glob_match;
pub use request::{
    split_args, ProtocolError, RequestParser, DEFAULT_MAX_BULK_LEN, MAX_INLINE_LEN, MAX_MULTIBULK_LEN,
};
pub use writer::{encode_command, ProtocolVersion, ReplyWriter};
