//! The fatal configuration error, displayed exactly like redis-server reports a bad config file
//! (plus one trailing line naming the file the line came from).

/// The Redis version slotkv is compatible with, as printed in fatal config errors.
pub const REDIS_VERSION: &str = "7.0.15";

/// A configuration that cannot be loaded. `Display` reproduces redis-server's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A bad line: unknown directive, wrong arity, invalid value.
    #[error(
        "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\nReading the configuration \
         file, at line {line}\n>>> '{text}'\n{reason}\n(source: {source_name})"
    )]
    Line {
        /// The file (or "command line") the line came from.
        source_name: String,
        /// 1-based line number, counted as Redis does (file, then stdin, then options).
        line: usize,
        /// The line, trimmed.
        text: String,
        /// Redis's reason text, e.g. "argument must be 'yes' or 'no'".
        reason: String,
    },
    /// A consistency check that failed after the whole configuration was read.
    #[error("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n{reason}")]
    Final { reason: String },
    /// The configuration file (or an included one) cannot be read.
    #[error("Fatal error, can't open config file '{path}': {reason}")]
    Open { path: String, reason: String },
}

impl ConfigError {
    /// The bare reason (e.g. "Bad directive or wrong number of arguments").
    pub fn reason(&self) -> &str {
        match self {
            ConfigError::Line { reason, .. }
            | ConfigError::Final { reason }
            | ConfigError::Open { reason, .. } => reason,
        }
    }

    /// The 1-based line number of a line error.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// An I/O error's text without Rust's " (os error N)" suffix, i.e. C's `strerror`.
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
