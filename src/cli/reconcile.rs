//! `scanpay reconcile [--day DAY] [--json] [--rate N]`: every sale of one day that the journal
//! knows, against what the gateway says of its order (the rules: `crate::reconcile`).
//!
//! The day is China time (UTC+8), the merchant's and the gateway's day; the journal's
//! timestamps are UTC. Queries are rate-limited (`--rate`, default 2 a second); a FREQUENTLY
//! answer backs off (doubling from 1 s, up to 4 tries) before the sale is reported not checked.
//! A transport failure is reported for that sale and the run goes on. Every sale found in
//! agreement (`Verdict::settled`) is written at once to `[storage] path`/reconcile/DAY.jsonl,
//! so an interrupted run resumes where it stopped and a later run asks only about the rest
//! (disagreements and open sales may have moved on); delete the file to ask again from the
//! start.
//!
//! Exit codes: 0 every sale checked and nothing disagrees; 2 a disagreement; 3 nothing
//! disagrees but a sale could not be checked or is still open; 1 the run failed; 78 config.
//!
//! The day's sales come from the running daemon's export (`GET /v1/journal`), or from the
//! store itself when no daemon runs. A disagreement on a sale the daemon still follows
//! (`crate::reconcile::fed_back`) goes back to it (`POST /v1/sales/{id}/recheck`): the daemon
//! queries the gateway itself and records what it hears, so its journal keeps one writer.
//! The row says "asked the terminal to check again"; the next run shows where it ended. With
//! no daemon running nothing is fed back: the daemon asks about every sale it follows when it
//! starts.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead as _, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::{FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gateway_cmds::{connect, runtime};
use super::output::write_json;
use crate::config::Config;
use crate::engine::{SaleState, Timestamp};
use crate::gateway::Gateway as _;
use crate::journal::{Journal as _, LogJournal};
use crate::protocol::{Fen, QueryRequest};
use crate::reconcile::{classify, exit_status, fed_back, GatewaySays, Verdict};
use crate::register::RegisterClient;

#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    /// The day to check, China time (2026-11-25); default: today in China.
    #[arg(long, value_name = "DAY")]
    pub day: Option<String>,
    /// Print one JSON document for scripts.
    #[arg(long)]
    pub json: bool,
    /// Gateway queries per second, at most.
    #[arg(long, default_value_t = 2.0, value_name = "N")]
    pub rate: f64,
}

/// Not an error of the run: the day was reconciled, and this is what it found.
#[derive(Debug, thiserror::Error)]
#[error("reconciliation found {what}; see the table above")]
pub struct Findings {
    pub code: u8,
    pub what: &'static str,
}

/// One sale checked, as kept in the progress file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checked {
    out_trade_no: String,
    gateway: GatewaySays,
}

const FREQUENTLY_TRIES: u32 = 4;

pub fn run(config_path: &Path, args: &ReconcileArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !(args.rate > 0.0 && args.rate <= 50.0) {
        bail!(
            "--rate {} is not accepted: give 0.1 to 50 queries a second",
            args.rate
        );
    }
    let china = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    let day = match &args.day {
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .with_context(|| format!("--day {text:?} is not a date like 2026-11-25"))?,
        None => Utc::now().with_timezone(&china).date_naive(),
    };
    let midnight = day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_local_timezone(china)
        .single()
        .expect("a fixed offset has one midnight");
    let from = Timestamp::from_millis(midnight.timestamp_millis().max(0) as u64);
    let to = from.plus(Duration::from_secs(86_400));

    let (config, gateway) = connect(config_path)?;
    let (sales, daemon) = match sales_from_the_daemon(config_path, &config, from, to)? {
        Some((sales, client)) => (sales, Some(client)),
        None => (sales_from_the_store(&config, from, to)?, None),
    };

    let progress_path = progress_file(&config.storage.path, day);
    let mut done = read_progress(&progress_path)?;
    let mut progress = open_progress(&progress_path)?;
    let pause = Duration::from_secs_f64(1.0 / args.rate);
    let rt = runtime()?;
    let mut rows = Vec::with_capacity(sales.len());
    let mut asked = 0usize;
    let mut rechecked = 0usize;
    for sale in &sales {
        let (says, fresh) = match done.remove(&sale.out_trade_no.to_ascii_lowercase()) {
            Some(says) => (says, false),
            None => {
                let says = rt.block_on(ask(&gateway, &sale.out_trade_no, pause, asked));
                asked += 1;
                (says, true)
            }
        };
        let verdict = classify(sale.state, sale.amount_fen, &says);
        if fresh && verdict.settled() {
            let line = serde_json::to_string(&Checked {
                out_trade_no: sale.out_trade_no.clone(),
                gateway: says.clone(),
            })?;
            writeln!(progress, "{line}")
                .and_then(|_| progress.sync_data())
                .with_context(|| format!("writing {}", progress_path.display()))?;
        }
        let recheck = match &daemon {
            Some(client) if fed_back(sale.state, verdict) => {
                rechecked += 1;
                Some(rt.block_on(recheck(client, &sale.sale_id)))
            }
            _ => None,
        };
        rows.push(Row {
            sale,
            says,
            verdict,
            recheck,
        });
    }
    tracing::info!(sales = sales.len(), asked, rechecked, "reconciled");

    let verdicts: Vec<Verdict> = rows.iter().map(|row| row.verdict).collect();
    if args.json {
        write_json(out, &to_json(day, &rows, &progress_path))?;
    } else {
        write_table(out, day, &rows, &progress_path)?;
    }
    match exit_status(&verdicts) {
        0 => Ok(()),
        code if code == crate::reconcile::EXIT_DISAGREES => Err(Findings {
            code,
            what: "sales that disagree with the gateway",
        }
        .into()),
        code => Err(Findings {
            code,
            what: "sales not checked or still open",
        }
        .into()),
    }
}

/// What became of handing a disagreement back to the daemon.
#[derive(Debug)]
enum Recheck {
    /// The daemon queries the gateway about it now; the sale as it stood then.
    Asked { state: SaleState },
    /// The daemon refused (the sale has ended meanwhile, or is not checked by query) or could
    /// not be asked.
    NotAsked { reason: String },
}

impl Recheck {
    fn words(&self) -> String {
        match self {
            Recheck::Asked { .. } => "asked the terminal to check again".into(),
            Recheck::NotAsked { reason } => {
                format!("could not ask the terminal to check again ({reason})")
            }
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Recheck::Asked { state } => json!({
                "asked": true,
                "terminal_state": state.as_str(),
                "detail": self.words(),
            }),
            Recheck::NotAsked { .. } => json!({
                "asked": false,
                "terminal_state": null,
                "detail": self.words(),
            }),
        }
    }
}

async fn recheck(client: &RegisterClient, sale_id: &str) -> Recheck {
    match client.recheck(sale_id).await {
        Ok(view) => Recheck::Asked { state: view.state },
        Err(err) => Recheck::NotAsked {
            reason: err.to_string(),
        },
    }
}

/// Asks the gateway about one order, after the rate limit's pause, backing off on FREQUENTLY.
async fn ask(
    gateway: &crate::gateway::HttpGateway,
    out_trade_no: &str,
    pause: Duration,
    asked_before: usize,
) -> GatewaySays {
    if asked_before > 0 {
        tokio::time::sleep(pause).await;
    }
    let request = QueryRequest::ByOutTradeNo(out_trade_no.to_string());
    let mut backoff = Duration::from_secs(1);
    let mut says = GatewaySays::NoAnswer {
        detail: "not asked".into(),
    };
    for _ in 0..FREQUENTLY_TRIES {
        says = match gateway.query(&request).await {
            Ok(answer) => GatewaySays::of(&answer, out_trade_no),
            Err(err) => GatewaySays::NoAnswer {
                detail: err.to_string(),
            },
        };
        if !matches!(says, GatewaySays::Busy { .. }) {
            return says;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(15));
    }
    says
}

/// What reconciliation needs of a sale: the export's row (`GET /v1/journal`) has it too.
#[derive(Debug, serde::Deserialize)]
struct DaySale {
    sale_id: String,
    out_trade_no: String,
    amount_fen: Fen,
    state: SaleState,
}

/// The day's sales from the running daemon's export (JSON lines), and the client that reached
/// it; `None` when no daemon listens, so the store is ours to open. A daemon that runs but refuses is an error: its
/// store is not opened behind its back.
fn sales_from_the_daemon(
    config_path: &Path,
    config: &Config,
    from: Timestamp,
    to: Timestamp,
) -> anyhow::Result<Option<(Vec<DaySale>, RegisterClient)>> {
    let (listen, token) = super::charge::register_endpoint(config);
    let client = RegisterClient::new(&listen, token.as_deref())?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("format", "jsonl");
    query.append_pair("from", &from.rfc3339());
    query.append_pair("to", &to.rfc3339());
    let mut body = Vec::new();
    let mut write = |chunk: &[u8]| {
        body.extend_from_slice(chunk);
        Ok(())
    };
    let served = runtime()?
        .block_on(client.export_journal(&query.finish(), &mut write))
        .with_context(|| {
            format!(
                "the daemon's register API at {listen} did not give the journal; it seems to run, so the store is not opened here (check [register] token in {})",
                config_path.display()
            )
        })?;
    if !served {
        return Ok(None);
    }
    let text = String::from_utf8(body).context("the daemon's journal export is not UTF-8")?;
    let sales = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).with_context(|| {
                format!("a line of the daemon's journal export does not read as a sale: {line}")
            })
        })
        .collect::<anyhow::Result<Vec<DaySale>>>()?;
    Ok(Some((sales, client)))
}

/// No daemon runs: the day's sales from the store itself.
fn sales_from_the_store(
    config: &Config,
    from: Timestamp,
    to: Timestamp,
) -> anyhow::Result<Vec<DaySale>> {
    let journal_dir = config.storage.journal_dir();
    if !journal_dir.is_dir() {
        bail!(
            "no journal at {}: the daemon has not run with this config; pass the daemon's config with --config",
            journal_dir.display()
        );
    }
    let journal = LogJournal::open_with(&journal_dir, config.storage.keep_days)
        .with_context(|| format!("opening the journal at {}", journal_dir.display()))?;
    let records = journal.list(from, to).context("reading the day's sales")?;
    Ok(records
        .into_iter()
        .map(|r| DaySale {
            sale_id: r.sale_id,
            out_trade_no: r.out_trade_no,
            amount_fen: r.amount,
            state: r.state,
        })
        .collect())
}

fn progress_file(state_dir: &Path, day: NaiveDate) -> PathBuf {
    state_dir
        .join("reconcile")
        .join(format!("{}.jsonl", day.format("%Y-%m-%d")))
}

/// The sales a former run of this day checked, by lowercased order number. A line cut short
/// by an interruption is skipped (that sale is asked again).
fn read_progress(path: &Path) -> anyhow::Result<HashMap<String, GatewaySays>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let mut done = HashMap::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if let Ok(checked) = serde_json::from_str::<Checked>(&line) {
            done.insert(checked.out_trade_no.to_ascii_lowercase(), checked.gateway);
        }
    }
    Ok(done)
}

fn open_progress(path: &Path) -> anyhow::Result<fs::File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

fn gateway_words(says: &GatewaySays) -> String {
    match says {
        GatewaySays::Paid {
            amount_fen: Some(fen),
        } => format!("paid {fen}"),
        GatewaySays::Paid { amount_fen: None } => "paid (no amount)".into(),
        GatewaySays::Waiting => "waiting".into(),
        GatewaySays::NotPaid { .. } => "not paid".into(),
        GatewaySays::Refunded { .. } => "refunded".into(),
        GatewaySays::NotFound => "no such order".into(),
        GatewaySays::Busy { .. } => "busy (FREQUENTLY)".into(),
        GatewaySays::NoAnswer { detail } => format!("no answer: {detail}"),
    }
}

struct Row<'a> {
    sale: &'a DaySale,
    says: GatewaySays,
    verdict: Verdict,
    /// Set when the disagreement went back to the daemon.
    recheck: Option<Recheck>,
}

impl Row<'_> {
    /// What to do, after what was already done.
    fn what_to_do(&self) -> String {
        match &self.recheck {
            Some(recheck) => format!("{}; {}", recheck.words(), self.verdict.what_to_do()),
            None => self.verdict.what_to_do().to_string(),
        }
    }
}

fn write_table(
    out: &mut dyn Write,
    day: NaiveDate,
    rows: &[Row<'_>],
    progress: &Path,
) -> anyhow::Result<()> {
    writeln!(out, "reconciliation of {day} (China time)")?;
    writeln!(
        out,
        "{:<40} {:>10} {:<12} {:<20} {:<28} what to do",
        "out_trade_no", "amount", "terminal", "gateway", "verdict"
    )?;
    for row in rows {
        writeln!(
            out,
            "{:<40} {:>10} {:<12} {:<20} {:<28} {}",
            row.sale.out_trade_no,
            row.sale.amount_fen.to_string(),
            row.sale.state.as_str(),
            gateway_words(&row.says),
            row.verdict.key(),
            row.what_to_do()
        )?;
    }
    let count = |f: fn(&Verdict) -> bool| rows.iter().filter(|row| f(&row.verdict)).count();
    let asked = rows
        .iter()
        .filter(|row| matches!(row.recheck, Some(Recheck::Asked { .. })))
        .count();
    writeln!(
        out,
        "totals: {} sales, {} paid both, {} not paid both, {} disagree ({} handed back to the terminal), {} open, {} not checked (progress: {})",
        rows.len(),
        count(|v| *v == Verdict::PaidBoth),
        count(|v| *v == Verdict::NotPaidBoth),
        count(|v| v.disagrees()),
        asked,
        count(|v| *v == Verdict::Open),
        count(|v| *v == Verdict::NotChecked),
        progress.display()
    )?;
    Ok(())
}

fn to_json(day: NaiveDate, rows: &[Row<'_>], progress: &Path) -> serde_json::Value {
    let sales: Vec<_> = rows
        .iter()
        .map(|row| {
            json!({
                "sale_id": row.sale.sale_id,
                "out_trade_no": row.sale.out_trade_no,
                "amount_fen": row.sale.amount_fen,
                "terminal_state": row.sale.state.as_str(),
                "gateway": row.says,
                "verdict": row.verdict.key(),
                "disagrees": row.verdict.disagrees(),
                "recheck": row.recheck.as_ref().map(Recheck::to_json),
                "what_to_do": row.what_to_do(),
            })
        })
        .collect();
    let verdicts: Vec<Verdict> = rows.iter().map(|row| row.verdict).collect();
    json!({
        "day": day.format("%Y-%m-%d").to_string(),
        "timezone": "+08:00",
        "ok": exit_status(&verdicts) == 0,
        "sales": sales,
        "progress_file": progress.display().to_string(),
    })
}
