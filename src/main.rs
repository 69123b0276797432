//! The `rdbtool` binary: parse flags, run, map errors to exit codes.

use clap::Parser;

fn main() {
    let cli = rdbtool::cli::args::Cli::parse();
    match rdbtool::cli::commands::run(cli.command) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("rdbtool: error: {e}");
            if let Some(hint) = rdbtool::cli::damage_hint(&e) {
                eprintln!("rdbtool: hint: {hint}");
            }
            std::process::exit(rdbtool::cli::exit_code(&e));
        }
    }
}
