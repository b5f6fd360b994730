//! `scanpay check-config`: validates the config file and prints the effective config with
//! every default filled in and secrets masked (the merchant key as `<N bytes from PATH>`,
//! an inline register token as `****`), as TOML or, with `--json`, as JSON.
//!
//! A valid config exits 0. An invalid one exits non-zero with every problem on stderr; with
//! `--json` the problems are also printed on stdout as `{"valid": false, "problems": [...]}`.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::config::{masked, Config};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckConfigArgs {
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

pub fn run(path: &Path, args: &CheckConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(err) => {
            if args.json {
                let report = serde_json::json!({
                    "valid": false,
                    "path": path.display().to_string(),
                    "problems": err.problems(),
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)
                    .context("writing the problems to stdout")?;
            }
            return Err(err.into());
        }
    };
    tracing::debug!(path = %path.display(), "config is valid");
    let effective = masked(&config);
    if args.json {
        let report = serde_json::json!({
            "valid": true,
            "path": path.display().to_string(),
            "config": effective,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)
    } else {
        let text = toml::to_string(&effective).context("writing the effective config as TOML")?;
        write!(
            out,
            "# effective config of {} (defaults filled in, secrets masked)\n\n{text}",
            path.display()
        )
    }
    .context("writing the effective config to stdout")
}
