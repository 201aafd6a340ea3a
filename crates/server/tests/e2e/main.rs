//! End-to-end tests of the real `slotkv-server` binary, with real clients (redis-cli,
//! redis-py, the `redis` crate, redis-benchmark) and real redis-server processes to compare
//! against. One test binary; modules by area. Tests that only need distinct key names
//! share one server (`util::shared`); tests whose configuration differs start their own.
//! Every wait is bounded polling; servers are killed on drop.

mod admin;
mod clients;
mod commands;
mod families;
mod multi_client;
mod protocol;
mod replication;
mod startup;
mod util;
