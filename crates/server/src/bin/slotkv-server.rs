//! `slotkv-server [config-file] [--directive value ...]`, as `redis-server` is invoked.

fn main() {
    std::process::exit(slotkv_server::startup::main_with_args(
        std::env::args().skip(1).collect(),
    ));
}
