//! The `rdbtool` binary: parse flags, run, map errors to exit codes.

use clap::Parser;

fn main() {
    let cli = rdbtool::cli::args::Cli::parse();
    match rdbtool::cli::commands::run(cli.command) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("rdbtool: error: {e}");
            std::process::exit(rdbtool::cli::exit_code(&e));
        }
    }
}
