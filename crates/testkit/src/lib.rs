//! Test fixtures for slotkv's integration tests (a dev-dependency of the other crates).
//!
//! - [`ServerProcess`]: a real `slotkv-server` or `redis-server` process on a free port, in
//!   a fresh directory, with its log captured; signals, restart, kill on drop.
//! - [`TestClient`]: a tiny blocking RESP2/RESP3 client with timeouts, and raw byte access
//!   for protocol tests; [`Reply`] is its independent reply type.
//! - [`wait_until`] / [`wait_for`] / [`assert_eventually`]: bounded polling, the only way
//!   tests wait.
//! - [`NetnsNetwork`]: Linux network namespaces to partition server processes for real.
//! - [`free_port`] / [`free_cluster_port`], [`run_redis_cli`].
//!
//! Nothing here knows slotkv's internals: the fixtures drive the server from outside,
//! exactly as a user would, so the same tests run against redis-server.

mod client;
mod cluster_client;
mod netns;
mod ports;
mod process;
mod reply;
mod tools;
mod wait;

pub use client::{encode, is_timeout, TestClient, DEFAULT_IO_TIMEOUT};
pub use cluster_client::ClusterClient;
pub use netns::NetnsNetwork;
pub use ports::{free_cluster_port, free_port, port_is_free, CLUSTER_BUS_PORT_OFFSET};
pub use process::{
    write_file, ServerBinary, ServerBuilder, ServerProcess, Signal, DEFAULT_START_TIMEOUT, READY_LINE,
    STOP_TIMEOUT,
};
pub use reply::{ParseError, Reply};
pub use tools::{
    find_program, print_skipped, redis_cli_path, run_redis_cli, run_redis_cli_at, run_with_timeout,
    REDIS_CLI_TIMEOUT,
};
pub use wait::{assert_eventually, wait_for, wait_until};
