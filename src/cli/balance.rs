//! `scanpay balance`: the merchant's balance at the gateway, the daily withdrawal window,
//! the withdrawal limit and how fast a withdrawal reaches the bank. Exits 0 only when the
//! gateway answered with success.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::gateway::Gateway as _;
use crate::protocol::{BalanceAnswer, Fen, WithdrawalWay};

use super::gateway_cmds::{ask, connect, with_json_failure};
use super::output::{write_json, Report};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct BalanceArgs {
    /// Print JSON (amounts in integer fen).
    #[arg(long)]
    pub json: bool,
}

const WHAT: &str = "balance query";

pub fn run(config_path: &Path, args: &BalanceArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    with_json_failure(args.json, out, |out| {
        let (_, gateway) = connect(config_path)?;
        let (answer, ()) = ask(
            gateway.balance(),
            WHAT,
            "asking the balance changes nothing: run the command again",
            |answer| answer.is_success().then_some(()),
        )?;
        if args.json {
            write_json(out, &to_json(&answer))
        } else {
            report(&answer).write(out)
        }
        .context("writing the balance to stdout")
    })
}

/// `d0: the same day`.
pub fn way_words(way: &WithdrawalWay) -> String {
    match way {
        WithdrawalWay::SameDay => "d0: the same day".into(),
        WithdrawalWay::NextDay => "d1: the next day".into(),
        WithdrawalWay::NextWorkingDay => "t1: the next working day".into(),
        WithdrawalWay::Other(code) => format!("{code} (a code this version does not know)"),
    }
}

/// The spec does not say whether `withdraw_limit` is an amount; read as yuan when it is one.
fn limit_fen(answer: &BalanceAnswer) -> Option<Fen> {
    answer
        .withdraw_limit
        .as_deref()
        .and_then(|raw| Fen::parse_yuan(raw).ok())
}

fn report(answer: &BalanceAnswer) -> Report {
    let headline = match answer.balance {
        Some(balance) => format!("balance {balance}"),
        None => "balance: not given by the gateway".to_string(),
    };
    let window = match (answer.start_time, answer.end_time) {
        (Some(start), Some(end)) => Some(format!("{start}–{end}")),
        _ => None,
    };
    let limit = match (limit_fen(answer), &answer.withdraw_limit) {
        (Some(fen), _) => Some(fen.to_string()),
        (None, Some(raw)) => Some(format!("{raw} (as the gateway sent it)")),
        (None, None) => None,
    };
    Report::new(headline)
        .opt_row("withdrawal window", window)
        .opt_row("withdrawal limit", limit)
        .opt_row(
            "withdrawal way",
            answer.withdrawal_way.as_ref().map(way_words),
        )
}

fn to_json(answer: &BalanceAnswer) -> serde_json::Value {
    json!({
        "ok": true,
        "balance_fen": answer.balance,
        "start_time": answer.start_time,
        "end_time": answer.end_time,
        "withdraw_limit_fen": limit_fen(answer),
        "withdraw_limit": answer.withdraw_limit,
        "withdrawal_way": answer.withdrawal_way,
    })
}
