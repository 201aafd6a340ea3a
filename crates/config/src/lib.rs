//! slotkv's configuration registry, compatible with Redis 7.0's redis.conf and CONFIG
//! GET/SET/REWRITE.
//!
//! Every directive of Redis 7.0 is in a table ([`table::DIRECTIVES`]) with its type, bounds,
//! default, flags (immutable, protected, sensitive, hidden) and whether slotkv implements it.
//! [`Config::from_args`] loads like redis-server (file, stdin, `--name value` options) and
//! fails with Redis's fatal message ([`ConfigError`]); [`Config::get_matching`],
//! [`Config::set`] and [`Config::rewrite`] back CONFIG GET, SET and REWRITE. The crate never
//! changes the process state (no chdir, no log file opening): the server applies values.

mod config;
mod error;
mod load;
mod rewrite;
pub mod table;
pub mod value;

pub use config::{Config, MAX_HZ, MIN_HZ};
pub use error::{ConfigError, REDIS_VERSION};
pub use table::{Directive, Status, DIRECTIVES};
pub use value::{Kind, ObufLimit, Value};
