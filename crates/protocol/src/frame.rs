//! Parsing of any RESP2/RESP3 reply into a [`Frame`] tree, for clients (CLI, replica link,
//! tests). Incomplete input is `Ok(None)`, never an error.

use bytes::Bytes;

/// One RESP value as received by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    Null,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    Double(f64),
    Boolean(bool),
    BigNumber(String),
    Verbatim(String, Bytes),
}

/// A malformed reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("protocol error: {0}")]
    Invalid(String),
}
