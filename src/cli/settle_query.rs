//! `scanpay settle-query TRADE_NO`: where a withdrawal stands (failed, succeeded,
//! processing, returned by the bank, manual review), with its amounts.
//!
//! Exits 0 when the gateway reported the withdrawal's status, whatever it is: scripts read
//! `withdraw_status` from `--json`. An unknown number or no answer exits non-zero.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::gateway::Gateway as _;
use crate::protocol::{SettleAnswer, SettleQueryRequest, WithdrawStatus};

use super::gateway_cmds::{ask, connect, with_json_failure};
use super::output::{write_json, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct SettleQueryArgs {
    /// The withdrawal's trade_no, as `scanpay settle` printed it.
    #[arg(value_name = "TRADE_NO")]
    pub trade_no: String,
    /// Print JSON (amounts in integer fen).
    #[arg(long)]
    pub json: bool,
}

const WHAT: &str = "withdrawal query";

pub fn run(config_path: &Path, args: &SettleQueryArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    with_json_failure(args.json, out, |out| {
        let (_, gateway) = connect(config_path)?;
        let request = SettleQueryRequest {
            trade_no: args.trade_no.clone(),
        };
        let (answer, ()) = ask(
            gateway.settle_query(&request),
            WHAT,
            "the query changes nothing: run the command again",
            |answer| answer.is_success().then_some(()),
        )?;
        let number = answer.trade_no.as_deref().unwrap_or(&args.trade_no);
        if args.json {
            write_json(out, &withdrawal_json(&answer, Some(number)))
        } else {
            withdrawal_report(&format!("withdrawal {number}"), &answer).write(out)
        }
        .context("writing the withdrawal's status to stdout")
    })
}

/// `2 processing`: the code and what it means.
pub fn status_words(status: &WithdrawStatus) -> String {
    let words = match status {
        WithdrawStatus::Failed => "failed (the amount is back in the balance)",
        WithdrawStatus::Succeeded => "succeeded (the money reached the bank)",
        WithdrawStatus::Processing => "processing",
        WithdrawStatus::Returned => "returned by the bank",
        WithdrawStatus::ManualReview => "handed to manual review",
        WithdrawStatus::Other(_) => "a status this version does not know",
    };
    format!("{status} {words}")
}

/// The `--json` key of a status.
pub fn status_key(status: &WithdrawStatus) -> &'static str {
    match status {
        WithdrawStatus::Failed => "failed",
        WithdrawStatus::Succeeded => "succeeded",
        WithdrawStatus::Processing => "processing",
        WithdrawStatus::Returned => "returned_by_bank",
        WithdrawStatus::ManualReview => "manual_review",
        WithdrawStatus::Other(_) => "other",
    }
}

/// The rows a settle and a settle-query answer share.
pub fn withdrawal_report(title: &str, answer: &SettleAnswer) -> Report {
    let headline = match &answer.withdraw_status {
        Some(status) => format!("{title}: {}", status_words(status)),
        None => format!("{title}: the gateway gave no withdraw_status"),
    };
    Report::new(headline)
        .opt_row(
            "amount",
            answer.total_amount.map(|a| format!("{a} (fee included)")),
        )
        .opt_row("to the bank", answer.actual_amount)
        .opt_row("fee", answer.service_amount)
        .opt_row("settle_time", answer.settle_time.as_deref())
}

/// The `--json` fields a settle and a settle-query answer share.
pub fn withdrawal_json(answer: &SettleAnswer, trade_no: Option<&str>) -> serde_json::Value {
    json!({
        "ok": true,
        "trade_no": trade_no,
        "withdraw_status": answer.withdraw_status,
        "status": answer.withdraw_status.as_ref().map(status_key),
        "total_amount_fen": answer.total_amount,
        "actual_amount_fen": answer.actual_amount,
        "service_amount_fen": answer.service_amount,
        "settle_time": answer.settle_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_in_words() {
        let words: Vec<String> = ["0", "1", "2", "3", "9", "7"]
            .iter()
            .map(|code| status_words(&WithdrawStatus::parse(code)))
            .collect();
        assert_eq!(
            words,
            [
                "0 failed (the amount is back in the balance)",
                "1 succeeded (the money reached the bank)",
                "2 processing",
                "3 returned by the bank",
                "9 handed to manual review",
                "7 a status this version does not know",
            ]
        );
        assert_eq!(status_key(&WithdrawStatus::parse("3")), "returned_by_bank");
    }
}
