//! Commands that need the connection or the server rather than only the keyspace:
//! connection handling, transactions, pub/sub, introspection and administration.

pub mod client;
pub mod cluster;
pub mod command;
pub mod config_cmd;
pub mod connection;
pub mod debug;
pub mod info;
pub mod migrate;
pub mod multi;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod server;

use crate::table::Spec;

/// Every server-level command.
pub fn specs() -> Vec<Spec> {
    let mut v = Vec::new();
    v.extend(cluster::specs());
    v.extend(connection::specs());
    v.extend(multi::specs());
    v.extend(persistence::specs());
    v.extend(pubsub::specs());
    v.extend(scripting::specs());
    v.extend(server::specs());
    v.extend(command::specs());
    v.extend(info::specs());
    v.extend(config_cmd::specs());
    v.extend(client::specs());
    v.extend(debug::specs());
    v.extend(migrate::specs());
    v
}

/// Shorthand for building server-level specs.
pub(crate) use slotkv_commands::cmd;
pub(crate) use slotkv_commands::flags::*;
pub(crate) use slotkv_commands::Group;
