//! The `portolan` binary: parse the command line and run it.

use clap::Parser;

// mimalloc: ingestion allocates many small strings; glibc malloc showed up at ~15% of the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portolan::cli::run(portolan::cli::Cli::parse())
}
