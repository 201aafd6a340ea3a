//! The client-visible error of a command. `Display` is byte-exact with the text Redis 7.0
//! sends after `-`; the server renders it into a reply in exactly one place.

/// A failed command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR unknown command '{0}', with args beginning with: {1}")]
    UnknownCommand(String, String),
    #[error("ERR unknown subcommand '{0}'. Try {1} HELP.")]
    UnknownSubcommand(String, String),
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    #[error("ERR timeout is not a float or out of range")]
    TimeoutNotFloat,
    #[error("ERR timeout is negative")]
    TimeoutNegative,
    #[error("BUSYKEY Target key name already exists.")]
    BusyKey,
    #[error("ERR {0}")]
    Err(String),
    /// A full error line with its own code (e.g. `NOAUTH ...`, `EXECABORT ...`).
    #[error("{0}")]
    Raw(String),
}

impl CmdError {
    pub fn err(msg: impl Into<String>) -> Self {
        CmdError::Err(msg.into())
    }

    /// The first word of the error (for `errorstats`), e.g. `ERR`, `WRONGTYPE`.
    pub fn code(&self) -> String {
        let s = self.to_string();
        s.split(' ').next().unwrap_or("ERR").to_string()
    }
}

/// Result of a handler: the reply has been written on success.
pub type CmdResult = Result<(), CmdError>;
