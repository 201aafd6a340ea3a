//! Redis Cluster, without I/O: the bus message format ([`message`]), the cluster state and
//! its rules (gossip, epochs, failure detection, failover) as state machines that take the
//! time as an argument, and the `nodes.conf` file format. The server crate drives it from
//! its async shell and applies the effects it returns to the keyspace.

pub mod failover;
pub mod message;
pub mod nodes_conf;
pub mod state;
