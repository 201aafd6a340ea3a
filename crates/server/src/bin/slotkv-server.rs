//! `slotkv-server [config-file] [--directive value ...]`, as `redis-server` is invoked.

/// jemalloc, as Redis uses: size classes that fit small keys and values tightly, and low
/// fragmentation for a long-lived keyspace.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(slotkv_server::startup::main_with_args(
        std::env::args().skip(1).collect(),
    ));
}
