//! The cluster bus message format (being written).
