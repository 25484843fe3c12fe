//! The `portolan` binary: parse the command line and run it.

use clap::Parser;

// mimalloc: ingestion allocates many small strings; glibc malloc showed up at ~15% of the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Its options are set before its first allocation: the runtime allocates before `main`.
#[used]
#[unsafe(link_section = ".init_array.00100")]
static CONFIGURE_ALLOCATOR: extern "C" fn() = portolan::memory::configure_allocator;

fn main() -> std::process::ExitCode {
    portolan::cli::run(portolan::cli::Cli::parse())
}
