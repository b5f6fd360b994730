//! `scanpay query OUT_TRADE_NO` / `scanpay query --trade-no T`: where an order stands at the
//! gateway, in words (read by `protocol::outcome::read_order`, the same table and order check
//! the daemon uses), with its amount, numbers, wallet and date. An answer naming another
//! order than the one asked for is no answer (exit 1, `unknown`).
//!
//! Exits 0 when the gateway reported the order's state, whatever that state is (paid, not
//! paid, waiting, refunded): scripts read `state` from `--json`. An unknown order, a busy
//! gateway, a configuration problem or no answer at all exit non-zero.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::gateway::Gateway as _;
use crate::protocol::{read_order, AnswerTo, Outcome, Payway, QueryRequest, TradeAnswer};

use super::gateway_cmds::{ask, connect, with_json_failure, GatewayCommandError};
use super::output::{scanpay_command, write_json, Report};

#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("order").required(true))]
pub struct QueryArgs {
    /// The terminal's order number (out_trade_no).
    #[arg(group = "order", value_name = "OUT_TRADE_NO")]
    pub out_trade_no: Option<String>,
    /// Ask by the gateway's number instead.
    #[arg(long, group = "order", value_name = "TRADE_NO")]
    pub trade_no: Option<String>,
    /// Print JSON (amounts in integer fen).
    #[arg(long)]
    pub json: bool,
}

const WHAT: &str = "order query";

pub fn run(config_path: &Path, args: &QueryArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    with_json_failure(args.json, out, |out| {
        let request = match (&args.out_trade_no, &args.trade_no) {
            (Some(no), _) => QueryRequest::ByOutTradeNo(no.clone()),
            (None, Some(no)) => QueryRequest::ByTradeNo(no.clone()),
            (None, None) => anyhow::bail!("give the order's OUT_TRADE_NO or --trade-no TRADE_NO"),
        };
        let (_, gateway) = connect(config_path)?;
        let again = format!(
            "the query changes nothing: run `{} query ...` again",
            scanpay_command(config_path)
        );
        // An answer about another order is no answer to this query (the protocol's check).
        let (answer, read) = ask(
            gateway.query(&request),
            WHAT,
            &again,
            |answer| match read_order(answer, AnswerTo::Query, request.out_trade_no()) {
                Ok(outcome) => State::of(outcome).map(Ok),
                Err(other) => Some(Err(other)),
            },
        )?;
        let state = read.map_err(|other| GatewayCommandError::NoAnswer {
            url: gateway.query_url(),
            detail: other.to_string(),
            next: again.clone(),
        })?;
        let number = match &request {
            QueryRequest::ByOutTradeNo(no) => no.clone(),
            QueryRequest::ByTradeNo(no) => answer.out_trade_no.clone().unwrap_or(no.clone()),
        };
        if args.json {
            write_json(out, &to_json(&answer, &state, &number))
        } else {
            report(&answer, &state, &number).write(out)
        }
        .context("writing the order's state to stdout")
    })
}

/// An order's state, when the answer gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Paid,
    WaitingCustomer,
    NotPaid { reason: String },
    Refunded,
    RefundInDoubt,
}

impl State {
    /// `None` when the outcome is not a state: unknown order, busy gateway, setup problem.
    fn of(outcome: Outcome) -> Option<State> {
        match outcome {
            Outcome::Paid => Some(State::Paid),
            Outcome::WaitingCustomer => Some(State::WaitingCustomer),
            Outcome::NotPaid { reason, .. } => Some(State::NotPaid { reason }),
            Outcome::Refunded { in_doubt: false } => Some(State::Refunded),
            Outcome::Refunded { in_doubt: true } => Some(State::RefundInDoubt),
            Outcome::OrderExists
            | Outcome::NotFound
            | Outcome::TryLater { .. }
            | Outcome::ConfigProblem { .. } => None,
        }
    }

    /// The `state` in `--json`.
    fn key(&self) -> &'static str {
        match self {
            State::Paid => "paid",
            State::WaitingCustomer => "waiting_customer",
            State::NotPaid { .. } => "not_paid",
            State::Refunded => "refunded",
            State::RefundInDoubt => "refund_in_doubt",
        }
    }

    fn words(&self) -> String {
        match self {
            State::Paid => "paid".into(),
            State::WaitingCustomer => {
                "waiting for the customer to confirm on the phone; ask again in a few seconds"
                    .into()
            }
            State::NotPaid { reason } => format!("not paid: {reason}"),
            State::Refunded => "paid, then refunded".into(),
            State::RefundInDoubt => {
                "paid; a refund was attempted and its outcome is in doubt".into()
            }
        }
    }
}

/// `3 (WeChat Pay)`: the gateway's wallet code with its name when known.
fn paytype_words(paytype: &str) -> String {
    match paytype.parse().ok().and_then(Payway::from_code) {
        Some(payway) => format!("{paytype} ({})", payway.name()),
        None => paytype.to_string(),
    }
}

fn report(answer: &TradeAnswer, state: &State, number: &str) -> Report {
    Report::new(format!("order {number}: {}", state.words()))
        .opt_row("amount", answer.total_amount)
        .opt_row("trade_no", answer.trade_no.as_deref())
        .opt_row("paytype", answer.paytype.as_deref().map(paytype_words))
        .opt_row("pay_date", answer.pay_date.as_deref())
        .opt_row("trade_status", answer.trade_status.as_ref())
        .opt_row("err_code", answer.err_code.as_ref())
        .opt_row("err_code_des", answer.err_code_des.as_deref())
}

fn to_json(answer: &TradeAnswer, state: &State, number: &str) -> serde_json::Value {
    json!({
        "ok": true,
        "out_trade_no": number,
        "state": state.key(),
        "amount_fen": answer.total_amount,
        "trade_no": answer.trade_no,
        "paytype": answer.paytype,
        "pay_date": answer.pay_date,
        "result_code": answer.result_code,
        "trade_status": answer.trade_status,
        "err_code": answer.err_code,
        "err_code_des": answer.err_code_des,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrCode, Fen, ResultCode, TradeStatus};

    fn answer(status: Option<TradeStatus>, err: Option<ErrCode>) -> TradeAnswer {
        TradeAnswer {
            result_code: ResultCode::Success,
            err_code: err,
            err_code_des: None,
            trade_status: status,
            out_trade_no: Some("A-1".into()),
            trade_no: Some("T1".into()),
            total_amount: Some(Fen(1250)),
            paytype: Some("3".into()),
            pay_date: None,
        }
    }

    /// The state of an answer about A-1, to a query for A-1.
    fn of(answer: &TradeAnswer) -> Option<State> {
        State::of(read_order(answer, AnswerTo::Query, Some("A-1")).unwrap())
    }

    #[test]
    fn states_in_words() {
        let paid = answer(Some(TradeStatus::TradeSuccess), None);
        assert_eq!(of(&paid), Some(State::Paid));
        let mut buf = Vec::new();
        report(&paid, &State::Paid, "A-1").write(&mut buf).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "order A-1: paid\n  amount        ¥12.50\n  trade_no      T1\n  paytype       3 (WeChat Pay)\n  trade_status  TRADE_SUCCESS\n"
        );
        let waiting = answer(Some(TradeStatus::WaitBuyerPay), None);
        assert_eq!(of(&waiting), Some(State::WaitingCustomer));
        let closed = TradeAnswer {
            err_code_des: Some("payment code expired".into()),
            ..answer(Some(TradeStatus::TradeClosed), Some(ErrCode::OrderClosed))
        };
        assert_eq!(
            of(&closed).unwrap().words(),
            "not paid: payment code expired"
        );
        assert_eq!(
            of(&answer(Some(TradeStatus::Refunded), None)),
            Some(State::Refunded)
        );
    }

    #[test]
    fn not_found_busy_and_setup_problems_are_not_states() {
        let not_found = TradeAnswer {
            result_code: ResultCode::BusinessFailure,
            ..answer(None, Some(ErrCode::OrderNotFound))
        };
        assert_eq!(of(&not_found), None);
        assert_eq!(of(&answer(None, Some(ErrCode::Frequently))), None);
        assert_eq!(of(&answer(None, Some(ErrCode::SignError))), None);
    }

    #[test]
    fn unknown_wallet_codes_are_shown_as_sent() {
        assert_eq!(paytype_words("1"), "1 (Alipay)");
        assert_eq!(paytype_words("0"), "0");
        assert_eq!(paytype_words("x"), "x");
    }
}
