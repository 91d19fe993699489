//! The `stzip` command line: compress, decompress, inspect, verify.

mod cli;

fn main() -> std::process::ExitCode {
    stzip::pipeline::keep_freed_memory();
    cli::run()
}
