//! The `slotkv-cli` binary: parse the options, hand over to the library.

use clap::Parser;

fn main() {
    let opts = slotkv_cli::Opts::parse();
    std::process::exit(slotkv_cli::run(opts));
}
