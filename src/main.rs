//! The `stzip` command line: compress, decompress, inspect, verify.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
