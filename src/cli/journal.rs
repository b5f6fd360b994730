//! `scanpay journal`: exports sales for reconciliation against the gateway's statements,
//! as CSV or JSON lines, for a time range.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _};
use chrono::{DateTime, NaiveDate, Utc};

use crate::config::Config;
use crate::engine::Timestamp;
use crate::journal::{export, ExportFormat, Journal as _, LogJournal};

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
    let journal_dir = config.storage.journal_dir();
    // Opening would create an empty store there, and the export would say "no sales".
    if !journal_dir.is_dir() {
        bail!(
            "no journal at {}: the daemon has not run with this config, or [storage] path in {} is not the daemon's; pass the daemon's config with --config",
            journal_dir.display(),
            config_path.display()
        );
    }
    let journal = LogJournal::open(&journal_dir).with_context(|| {
        format!(
            "opening the journal at {} (while the daemon runs it holds the journal: stop it first, e.g. systemctl stop scanpay)",
            config.storage.journal_dir().display()
        )
    })?;
    for notice in journal.damage() {
        tracing::warn!("{notice}");
    }
    let format = if args.json || args.format == "jsonl" {
        ExportFormat::JsonLines
    } else {
        ExportFormat::Csv
    };
    let from = args.from.unwrap_or(Timestamp::from_millis(0));
    let to = args.to.unwrap_or(Timestamp::from_millis(u64::MAX));
    let count = export(&journal, from, to, format, out).context("exporting the journal")?;
    tracing::info!(count, "sales exported");
    Ok(())
}

/// `2026-11-25` (midnight UTC) or an RFC 3339 instant.
fn parse_when(text: &str) -> Result<Timestamp, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        return Ok(Timestamp::from_millis(
            midnight.timestamp_millis().max(0) as u64
        ));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Timestamp::from_millis(t.with_timezone(&Utc).timestamp_millis().max(0) as u64))
        .map_err(|_| {
            format!(
                "{text:?} is not a date (2026-11-25) or an RFC 3339 time (2026-11-25T08:00:00Z)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_days_and_instants() {
        assert_eq!(
            parse_when("1970-01-02"),
            Ok(Timestamp::from_millis(86_400_000))
        );
        assert_eq!(
            parse_when("1970-01-01T00:00:01+00:00"),
            Ok(Timestamp::from_millis(1000))
        );
        assert!(parse_when("yesterday").unwrap_err().contains("not a date"));
    }
}
