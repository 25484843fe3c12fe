//! The `portolan` binary: parse the command line and run it.

use clap::Parser;

fn main() -> std::process::ExitCode {
    portolan::cli::run(portolan::cli::Cli::parse())
}
