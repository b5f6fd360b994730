//! The `scanpay` binary: parse the command line, start logging, run the command, and turn
//! its result into an exit code (0 only when the operation succeeded). Everything else lives
//! in the library (`scanpay::cli`).

use std::process::ExitCode;

use clap::Parser as _;
use scanpay::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        cli::Command::Demo(args) => {
            cli::logging::init_with_default(cli::daemon::demo_log_level(args))
        }
        _ => cli::logging::init(),
    }
    // Not locked: the demo's display thread draws on stdout too.
    let mut stdout = std::io::stdout();
    match cli::run(&cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole chain: "what failed: why: underlying cause".
            eprintln!("scanpay: error: {err:#}");
            cli::exit_code(&err)
        }
    }
}
