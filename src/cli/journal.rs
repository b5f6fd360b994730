//! `scanpay journal`: exports sales for reconciliation against the gateway's statements,
//! as CSV or JSON lines, for a time range: from the running daemon (`GET /v1/journal`), or
//! from the store itself when no daemon runs.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _};

use super::charge::register_endpoint;
use super::gateway_cmds::block_on;
use crate::config::Config;
use crate::engine::Timestamp;
use crate::journal::{export, parse_when, ExportFormat, Journal as _, LogJournal};
use crate::register::RegisterClient;

#[derive(Debug, Clone, clap::Args)]
pub struct JournalArgs {
    /// First day or instant to include (2026-11-25 or RFC 3339); default: everything.
    #[arg(long, value_parser = parse_when)]
    pub from: Option<Timestamp>,
    /// First day or instant NOT to include; default: no end.
    #[arg(long, value_parser = parse_when)]
    pub to: Option<Timestamp>,
    /// csv or jsonl.
    #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
    pub format: String,
    /// Same as --format jsonl.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config_path: &Path, args: &JournalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let format = if args.json || args.format == "jsonl" {
        ExportFormat::JsonLines
    } else {
        ExportFormat::Csv
    };
    let from = args.from.unwrap_or(Timestamp::from_millis(0));
    let to = args.to.unwrap_or(Timestamp::from_millis(u64::MAX));
    // The running daemon holds the store: ask it. Only when none listens is the store ours.
    let (listen, token) = register_endpoint(&config);
    let client = RegisterClient::new(&listen, token.as_deref())?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("format", format.name());
    if let Some(from) = args.from {
        query.append_pair("from", &from.rfc3339());
    }
    if let Some(to) = args.to {
        query.append_pair("to", &to.rfc3339());
    }
    let mut write = |chunk: &[u8]| out.write_all(chunk);
    let served = block_on(client.export_journal(&query.finish(), &mut write))?.with_context(|| {
        format!(
            "the daemon's register API at {listen} did not give the journal; it seems to run, so the store is not opened here (check [register] token in {})",
            config_path.display()
        )
    })?;
    if served {
        out.flush()?;
        return Ok(());
    }
    export_from_the_store(config_path, &config, from, to, format, out)
}

/// No daemon runs: the export reads the store itself.
fn export_from_the_store(
    config_path: &Path,
    config: &Config,
    from: Timestamp,
    to: Timestamp,
    format: ExportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let journal_dir = config.storage.journal_dir();
    // Opening would create an empty store there, and the export would say "no sales".
    if !journal_dir.is_dir() {
        bail!(
            "no journal at {}: the daemon has not run with this config, or [storage] path in {} is not the daemon's; pass the daemon's config with --config",
            journal_dir.display(),
            config_path.display()
        );
    }
    let journal = LogJournal::open_with(&journal_dir, config.storage.keep_days).with_context(|| {
        format!(
            "opening the journal at {} (while the daemon runs it holds the journal: stop it first, e.g. systemctl stop scanpay)",
            config.storage.journal_dir().display()
        )
    })?;
    for notice in journal.damage() {
        tracing::warn!("{notice}");
    }
    let count = export(&journal, from, to, format, out).context("exporting the journal")?;
    tracing::info!(count, "sales exported");
    Ok(())
}
