//! slotkv-cli against the reference redis-cli: same server, same commands, byte-identical
//! output required. See `harness` for the environment variables that pick the server under
//! test and the reference client.

mod cluster;
mod cluster_admin;
mod cluster_tools;
mod formatting;
mod harness;
mod input;
mod pubsub;
mod resp3;
