//! The `slotkv-cli` binary: parse the options, hand over to the library.

fn main() {
    let opts = slotkv_cli::Opts::from_args(std::env::args_os());
    std::process::exit(slotkv_cli::run(opts));
}
