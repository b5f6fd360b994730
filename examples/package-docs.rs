//! Writes the Debian package's man pages and shell completions, generated from the clap
//! definitions so they cannot drift from the real command line:
//!
//! ```sh
//! cargo run --example package-docs -- OUT_DIR
//! ```
//!
//! `OUT_DIR/man/` gets `scanpay.1` and one `scanpay-COMMAND.1` per command;
//! `OUT_DIR/completions/` gets `scanpay.bash`, `_scanpay` (zsh) and `scanpay.fish`.
//! `scripts/build-deb` runs it on the build machine: the pages are the same for every target.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Shell;
use scanpay::cli::Cli;

fn main() -> anyhow::Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: package-docs OUT_DIR")?
        .into();
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    clap_mangen::generate_to(Cli::command(), &man)
        .with_context(|| format!("writing the man pages to {}", man.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "scanpay", &completions)
            .with_context(|| {
                format!(
                    "writing the {shell} completion to {}",
                    completions.display()
                )
            })?;
    }
    Ok(())
}
