//! `scanpay settle AMOUNT`: withdraw to the merchant's bank account (yuan, fee included).
//!
//! Checked here before anything is sent: the per-request limit (¥50,000) and the daily
//! limit (¥1,000,000, China time) counting this terminal's own record of today's
//! withdrawals (`withdrawal_log`), which is written and fsynced before the request leaves.
//! A withdrawal is never queued or retried: when the answer is lost the command says
//! plainly that it may have been received and how to find out.
//!
//! **Decision:** no confirmation prompt (and so no `--yes`). The amount is typed in full on
//! the command line, the limits above bound a mistake, the money only goes to the bank
//! account registered with the gateway, and a prompt would break the scripts that `--json`
//! is for.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use chrono::{SecondsFormat, Utc};

use crate::gateway::{Gateway as _, GatewayError};
use crate::protocol::messages::{check_daily_withdrawal, limits};
use crate::protocol::{Fen, SettleAnswer, SettleRequest};

use super::amount::parse_yuan_amount;
use super::gateway_cmds::{
    connect, runtime, usable_answer, with_json_failure, GatewayCommandError,
};
use super::output::{scanpay_command, write_json};
use super::settle_query::{withdrawal_json, withdrawal_report};
use super::withdrawal_log::{china_day, Event, Record, WithdrawalLog};

#[derive(Debug, Clone, clap::Args)]
pub struct SettleArgs {
    /// The amount in yuan, fee included (e.g. 100 or 12.50). At most ¥50,000 per
    /// withdrawal and ¥1,000,000 a day.
    #[arg(value_name = "AMOUNT", value_parser = parse_yuan_amount)]
    pub amount: Fen,
    /// Print JSON (amounts in integer fen).
    #[arg(long)]
    pub json: bool,
}

const WHAT: &str = "withdrawal";

pub fn run(config_path: &Path, args: &SettleArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    with_json_failure(args.json, out, |out| {
        let amount = args.amount;
        let request = SettleRequest {
            total_amount: amount,
        };
        let (config, gateway) = connect(config_path)?;
        // The per-request limit and the merchant fields, before anything is recorded.
        request
            .signed(gateway.merchant())
            .map_err(|reason| GatewayCommandError::NotSent { what: WHAT, reason })?;
        let runtime = runtime()?;

        let mut log = WithdrawalLog::open(&config.storage.path)?;
        let now = Utc::now();
        let day = china_day(now);
        let already = log.counted_on(&day);
        check_daily_withdrawal(already, amount).map_err(|reason| {
            GatewayCommandError::DailyLimit {
                amount,
                already,
                record: log.path().to_path_buf(),
                reason,
            }
        })?;
        let record = |event, trade_no: Option<String>| Record {
            id: format!(
                "{}-{}",
                now.format("%Y%m%dT%H%M%S%.6fZ"),
                std::process::id()
            ),
            event,
            day: day.clone(),
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            amount_fen: amount,
            trade_no,
        };
        log.append(record(Event::Sending, None))?;

        let sent = runtime.block_on(gateway.settle(&request));
        let event = match &sent {
            Ok(answer) if answer.is_success() => Event::Accepted,
            Ok(_) => Event::Refused,
            Err(GatewayError::Unknown { .. }) => Event::Unknown,
            Err(GatewayError::Offline { .. } | GatewayError::Invalid(_)) => Event::NotSent,
        };
        let trade_no = sent.as_ref().ok().and_then(|a| a.trade_no.clone());
        if let Err(err) = log.append(record(event, trade_no)) {
            // The `sending` line is on disk, so this withdrawal already counts for today:
            // the safe side. The gateway's answer matters more than this line now.
            tracing::warn!("{err}");
        }

        let scanpay = scanpay_command(config_path);
        let next = format!(
            "the withdrawal of {amount} may have been received: do not repeat it until you know. \
             It counts toward today's limit here. The trade_no to check it with \
             `{scanpay} settle-query TRADE_NO` came only in the lost answer: see whether \
             the balance dropped with `{scanpay} balance`, and find the withdrawal's trade_no \
             in the merchant back office"
        );
        let (answer, ()) = usable_answer(sent, WHAT, &next, |answer| {
            answer.is_success().then_some(())
        })?;
        let today = Fen(already.0 + amount.0);
        if args.json {
            write_json(out, &to_json(&answer, amount, today))
        } else {
            write_human(out, &answer, amount, today, &scanpay)
        }
        .context("writing the withdrawal's answer to stdout")
    })
}

fn write_human(
    out: &mut dyn Write,
    answer: &SettleAnswer,
    amount: Fen,
    today: Fen,
    scanpay: &str,
) -> std::io::Result<()> {
    let title = match &answer.trade_no {
        Some(trade_no) => format!("withdrawal {trade_no} of {amount} accepted"),
        None => format!("withdrawal of {amount} accepted"),
    };
    let next = match &answer.trade_no {
        Some(trade_no) => format!("check it with: {scanpay} settle-query {trade_no}"),
        None => format!("the gateway gave no trade_no; check the balance with: {scanpay} balance"),
    };
    withdrawal_report(&title, answer)
        .row(
            "withdrawn today",
            format!(
                "{today} of the {} daily limit (China time, this terminal)",
                limits::WITHDRAWAL_PER_DAY
            ),
        )
        .footer(next)
        .write(out)
}

fn to_json(answer: &SettleAnswer, amount: Fen, today: Fen) -> serde_json::Value {
    let mut json = withdrawal_json(answer, answer.trade_no.as_deref());
    json["amount_fen"] = serde_json::json!(amount);
    json["withdrawn_today_fen"] = serde_json::json!(today);
    json["daily_limit_fen"] = serde_json::json!(limits::WITHDRAWAL_PER_DAY);
    json
}
