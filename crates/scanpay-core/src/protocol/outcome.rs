//! Reading a payment outcome from a verified codepay, query or notify answer: the spec's
//! "Decision — reading an outcome" table, and what an answer must say to be about a sale.
//! This module decides and reads nothing from the wire: the fields come from
//! `messages::answers` ([`TradeAnswer`]).
//!
//! # What is trusted in an answer, and why
//!
//! The gateway signs the *lowercased* JSON text (`sign_lowercase_values`, the default), so
//! a verified signature vouches for the letters of the answer but not for their case:
//!
//! - **Keys** must be exactly the documented lowercase names; `signing::verify_answer`
//!   refuses any key, at any depth, that is not lowercase (and so two keys equal up to case),
//!   and any key given twice. Otherwise a man in the middle could turn `out_trade_no` into
//!   `out_trade_nO`, hiding the field from this reader while the signature still matches.
//! - **"Paid" is about this sale only** ([`read_outcome`]): the answer must name the sale's
//!   `out_trade_no` and its `total_amount`, both present and equal. A paid answer or callback
//!   without either is not trusted (it could be another sale's genuine answer replayed); it
//!   becomes [`Outcome::TryLater`], so the sale is looked up by query, never called paid. An
//!   answer naming another order is not about this sale whatever it says, nor about the
//!   order a report asked for ([`read_order`], where that check lives for both).
//! - **Values** whose case the signature does not cover are compared without case:
//!   `out_trade_no` (ASCII case-insensitively: the terminal's numbers carry letters, the
//!   gateway signs them lowercase), `result_code` / `err_code` / `trade_status` (read by
//!   `codes`, whatever the case: `trade_success` is TRADE_SUCCESS). `total_amount` is digits
//!   and a point, where case means nothing. `trade_no`, `paytype`, `pay_date` and
//!   `err_code_des` are kept as received, for the record and the cashier; none of them decides
//!   an outcome, and their case is not authenticated.

use serde::{Deserialize, Serialize};

use super::codes::{ErrCode, ResultCode, TradeStatus};
use super::messages::TradeAnswer;
use super::money::Fen;

/// Which of a sale's two requests is meant: a pay (codepay) or a query. The one type for
/// "pay or query?" wherever it is asked: the request a sale has out (the engine), the reply
/// a finished request goes back to (the daemon's dispatch and loop), and, through
/// [`AnswerTo`], how an answer is read. It lives here because an answer's meaning depends on
/// it (ORDERPAID is "look it up" on a pay and "paid" on a query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Pay,
    Query,
}

/// Which request an answer belongs to: the same code means different things on each. A
/// callback (`Notify`) answers no request of ours; the other two are a [`Call`]'s answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerTo {
    Pay,
    Query,
    Notify,
}

impl From<Call> for AnswerTo {
    fn from(call: Call) -> AnswerTo {
        match call {
            Call::Pay => AnswerTo::Pay,
            Call::Query => AnswerTo::Query,
        }
    }
}

impl TradeAnswer {
    /// What the answer says of the order it names (the spec's table alone), not checked
    /// against a sale or an order asked for: for a callback that matches no sale, where it
    /// only decides how loudly to log. A sale is only ever settled through
    /// [`TradeAnswer::outcome_for`]; a report of an order asked for reads [`read_order`].
    pub fn outcome(&self, to: AnswerTo) -> Outcome {
        read_table(self, to)
    }

    /// What the answer means for the sale `expected`: see [`read_outcome`].
    pub fn outcome_for(&self, to: AnswerTo, expected: Expected<'_>) -> Outcome {
        read_outcome(self, to, expected)
    }
}

/// What an answer means for the payment it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The customer paid.
    Paid,
    /// The customer is confirming on the phone: ask again.
    WaitingCustomer,
    /// Not paid; `reason` is the gateway's explanation for the cashier.
    NotPaid {
        err_code: Option<ErrCode>,
        reason: String,
    },
    /// Was paid, then refunded (`in_doubt`: the refund's own outcome is unclear).
    Refunded { in_doubt: bool },
    /// ORDERPAID / ORDER_CONFLICT on a pay request: the order exists, look it up.
    OrderExists,
    /// ORDER_NOTFOUND on a query: not yet known (or never arrived, past the window).
    NotFound,
    /// No usable answer now: ask again later with a query (`rate_limited`: back off).
    TryLater { rate_limited: bool, reason: String },
    /// The merchant's setup is wrong; the order was not accepted and retrying will not help.
    ConfigProblem { err_code: ErrCode, reason: String },
}

/// The sale an answer must be about: its order number and amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    pub out_trade_no: &'a str,
    pub total_amount: Fen,
}

/// A verified answer about another order than the one asked for: no answer to that request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signed answer is about out_trade_no {named:?}, not {asked:?}")]
pub struct OtherOrder {
    pub asked: String,
    pub named: String,
}

/// What a verified answer says of the order `asked` (`None`: asked by the gateway's
/// `trade_no`, so any order named is the one asked for), when there is no sale to hold it to:
/// a report of an order (`scanpay query`). An answer naming another order is not about it
/// ([`OtherOrder`]); otherwise the spec's table. The order numbers are compared without
/// ASCII case: the signature covers the lowercased text only. [`read_outcome`] starts here.
pub fn read_order(
    answer: &TradeAnswer,
    to: AnswerTo,
    asked: Option<&str>,
) -> Result<Outcome, OtherOrder> {
    let named = answer.out_trade_no.as_deref();
    match (asked, named) {
        (Some(asked), Some(named)) if !named.eq_ignore_ascii_case(asked) => Err(OtherOrder {
            asked: asked.to_string(),
            named: named.to_string(),
        }),
        _ => Ok(read_table(answer, to)),
    }
}

/// What a verified answer means for the sale `expected` (see the module's "What is trusted
/// in an answer"): an answer about another order, or a "paid" that does not name this
/// sale's order and amount, is no answer (`TryLater`: look it up); otherwise the spec's table.
pub fn read_outcome(answer: &TradeAnswer, to: AnswerTo, expected: Expected<'_>) -> Outcome {
    let untrusted = |reason: String| Outcome::TryLater {
        rate_limited: false,
        reason,
    };
    let outcome = match read_order(answer, to, Some(expected.out_trade_no)) {
        Err(other) => return untrusted(format!("answer names order {}", other.named)),
        Ok(outcome) => outcome,
    };
    if outcome != Outcome::Paid {
        return about_the_payment(answer, to, outcome);
    }
    match (&answer.out_trade_no, answer.total_amount) {
        (None, _) => untrusted("a paid answer without out_trade_no is not trusted".into()),
        (Some(_), None) => untrusted("a paid answer without total_amount is not trusted".into()),
        (Some(_), Some(amount)) if amount != expected.total_amount => untrusted(format!(
            "answer says {amount} paid, the sale is {}",
            expected.total_amount
        )),
        (Some(_), Some(_)) => Outcome::Paid,
    }
}

/// A "not paid" settles a sale only when it is about the payment. A pay request refused for
/// its parameters created no order, so "not paid" is safe. A query (or callback) refused for
/// its parameters (LACK_PARAMS, PARAMSERROR, ORDER_CONFLICT, a code we do not know, …) says
/// nothing about the payment, which may well have succeeded: only an order status or a
/// payment reason settles it; anything else is `TryLater` (look it up again). A status this
/// version does not know (`TradeStatus::Other`) is not one: the order may be paid under it,
/// and on a pay answer it shows that an order exists after all.
fn about_the_payment(answer: &TradeAnswer, to: AnswerTo, outcome: Outcome) -> Outcome {
    let Outcome::NotPaid { reason, .. } = &outcome else {
        return outcome;
    };
    let unknown_status = matches!(answer.trade_status, Some(TradeStatus::Other(_)));
    let names_the_payment = matches!(
        answer.trade_status,
        Some(
            TradeStatus::TradeFail
                | TradeStatus::TradeClosed
                | TradeStatus::CancelInProgress
                | TradeStatus::InvalidStatusCode
        )
    ) || matches!(
        answer.err_code,
        Some(ErrCode::Insufficient | ErrCode::OrderClosed)
    );
    if (to == AnswerTo::Pay && !unknown_status) || names_the_payment {
        return outcome;
    }
    let reason = match &answer.trade_status {
        Some(status) if unknown_status => {
            format!("answer with a trade_status this version does not know ({status}): {reason}")
        }
        _ => format!("answer about the query, not the payment: {reason}"),
    };
    Outcome::TryLater {
        rate_limited: false,
        reason,
    }
}

#[cfg(test)]
mod about_the_payment_tests {
    use super::*;

    const SALE: Expected<'static> = Expected {
        out_trade_no: "POS1-20261125-000002",
        total_amount: Fen(1250),
    };

    fn refused(err_code: &str, trade_status: Option<&str>) -> TradeAnswer {
        TradeAnswer {
            result_code: ResultCode::parse("40004"),
            err_code: Some(ErrCode::parse(err_code)),
            err_code_des: None,
            trade_status: trade_status.map(TradeStatus::parse),
            out_trade_no: None,
            trade_no: None,
            total_amount: None,
            paytype: None,
            pay_date: None,
        }
    }

    #[test]
    fn only_a_not_paid_about_the_payment_settles_a_sale() {
        let mut table = String::new();
        for (name, answer) in [
            ("PARAMSERROR", refused("PARAMSERROR", None)),
            ("INSUFFICIENT", refused("INSUFFICIENT", None)),
            (
                "status unknown",
                refused("PARAMSERROR", Some("TRADE_NEW_KIND")),
            ),
            ("TRADE_CLOSED", refused("PARAMSERROR", Some("TRADE_CLOSED"))),
        ] {
            for to in [AnswerTo::Pay, AnswerTo::Query, AnswerTo::Notify] {
                let outcome = answer.outcome_for(to, SALE);
                table.push_str(&format!("{to:?} {name}: {outcome:?}\n"));
            }
        }
        expect_test::expect![[r#"
            Pay PARAMSERROR: NotPaid { err_code: Some(ParamsError), reason: "PARAMSERROR" }
            Query PARAMSERROR: TryLater { rate_limited: false, reason: "answer about the query, not the payment: PARAMSERROR" }
            Notify PARAMSERROR: TryLater { rate_limited: false, reason: "answer about the query, not the payment: PARAMSERROR" }
            Pay INSUFFICIENT: NotPaid { err_code: Some(Insufficient), reason: "INSUFFICIENT" }
            Query INSUFFICIENT: NotPaid { err_code: Some(Insufficient), reason: "INSUFFICIENT" }
            Notify INSUFFICIENT: NotPaid { err_code: Some(Insufficient), reason: "INSUFFICIENT" }
            Pay status unknown: TryLater { rate_limited: false, reason: "answer with a trade_status this version does not know (TRADE_NEW_KIND): PARAMSERROR" }
            Query status unknown: TryLater { rate_limited: false, reason: "answer with a trade_status this version does not know (TRADE_NEW_KIND): PARAMSERROR" }
            Notify status unknown: TryLater { rate_limited: false, reason: "answer with a trade_status this version does not know (TRADE_NEW_KIND): PARAMSERROR" }
            Pay TRADE_CLOSED: NotPaid { err_code: Some(ParamsError), reason: "PARAMSERROR" }
            Query TRADE_CLOSED: NotPaid { err_code: Some(ParamsError), reason: "PARAMSERROR" }
            Notify TRADE_CLOSED: NotPaid { err_code: Some(ParamsError), reason: "PARAMSERROR" }
        "#]].assert_eq(&table);
    }
}

/// The decision table of `docs/protocol.md` (Reading an outcome). Order matters: the first matching row wins.
fn read_table(answer: &TradeAnswer, to: AnswerTo) -> Outcome {
    use ErrCode as E;
    use TradeStatus as T;
    let reason = reason(answer);
    let success = answer.result_code == ResultCode::Success;

    match &answer.err_code {
        Some(E::UserPaying) => return Outcome::WaitingCustomer,
        Some(code) if code.is_configuration_problem() => {
            return Outcome::ConfigProblem {
                err_code: code.clone(),
                reason,
            };
        }
        Some(E::OrderPaid | E::OrderConflict) if to == AnswerTo::Pay => {
            return Outcome::OrderExists
        }
        Some(E::OrderNotFound) if to != AnswerTo::Pay => return Outcome::NotFound,
        Some(E::Frequently) => {
            return Outcome::TryLater {
                rate_limited: true,
                reason,
            }
        }
        Some(E::SystemError) => {
            return Outcome::TryLater {
                rate_limited: false,
                reason,
            }
        }
        // Left to the rows below. Listed, so that a code added to `ErrCode` must be placed
        // in the table. (The configuration codes are read above; the compiler cannot see
        // through `is_configuration_problem`.)
        None
        | Some(
            E::Success
            | E::OrderPaid
            | E::OrderConflict
            | E::OrderNotFound
            | E::OrderClosed
            | E::LackParams
            | E::RequirePostMethod
            | E::JsonError
            | E::ParamsError
            | E::Insufficient
            | E::SignError
            | E::NoSign
            | E::AppIdNotExist
            | E::Unactivate
            | E::AgentNotFound
            | E::Other(_),
        ) => {}
    }
    if answer.result_code == ResultCode::ServiceUnavailable {
        return Outcome::TryLater {
            rate_limited: false,
            reason,
        };
    }

    match (&answer.trade_status, success) {
        (Some(T::TradeSuccess | T::TradeFinished), true) => return Outcome::Paid,
        (Some(T::WaitBuyerPay), true) => return Outcome::WaitingCustomer,
        // A paid or waiting status under a failure result_code contradicts itself: never
        // call that "not paid" (the customer may have paid); find out with a query.
        (Some(T::TradeSuccess | T::TradeFinished | T::WaitBuyerPay), false) => {
            return Outcome::TryLater {
                rate_limited: false,
                reason: format!("contradictory answer: {reason}"),
            };
        }
        (Some(T::TradeFail | T::TradeClosed | T::CancelInProgress | T::InvalidStatusCode), _) => {
            return Outcome::NotPaid {
                err_code: answer.err_code.clone(),
                reason,
            };
        }
        (Some(T::Refunded), _) => return Outcome::Refunded { in_doubt: false },
        (Some(T::RefundError), _) => return Outcome::Refunded { in_doubt: true },
        (None | Some(T::Other(_)), _) => {}
    }

    match (&answer.result_code, &answer.err_code, &answer.trade_status) {
        (ResultCode::Success, Some(E::Success), None) => Outcome::Paid,
        // ORDERPAID on a query or callback: the gateway says the order is paid.
        (_, Some(E::OrderPaid), None) if to != AnswerTo::Pay => Outcome::Paid,
        (
            ResultCode::BusinessFailure
            | ResultCode::MissingParameter
            | ResultCode::IllegalParameter,
            Some(code),
            _,
        ) if *code != E::Success => Outcome::NotPaid {
            err_code: Some(code.clone()),
            reason,
        },
        (ResultCode::MissingParameter | ResultCode::IllegalParameter, None, _) => {
            Outcome::NotPaid {
                err_code: None,
                reason,
            }
        }
        // Anything else (a success code with no status or with a failure err_code, an unknown
        // status or result_code without a failure code) is not an answer we can act on: find
        // out with a query. An unknown err_code under 40004 is "not paid" (the arm above):
        // the spec reads every 40004 business err_code that way.
        _ => Outcome::TryLater {
            rate_limited: false,
            reason: format!("unclear answer: {reason}"),
        },
    }
}

/// The gateway's own words for a failure, or the code when it gave none.
fn reason(answer: &TradeAnswer) -> String {
    match (&answer.err_code_des, &answer.err_code, &answer.trade_status) {
        (Some(des), _, _) => des.clone(),
        (None, Some(code), _) => code.to_string(),
        (None, None, Some(status)) => status.to_string(),
        (None, None, None) => format!("result_code {}", answer.result_code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::AmountUnit;
    use serde_json::{Map, Value};

    fn answer(
        result_code: &str,
        err_code: Option<&str>,
        trade_status: Option<&str>,
    ) -> TradeAnswer {
        TradeAnswer {
            result_code: ResultCode::parse(result_code),
            err_code: err_code.map(ErrCode::parse),
            err_code_des: None,
            trade_status: trade_status.map(TradeStatus::parse),
            out_trade_no: None,
            trade_no: None,
            total_amount: None,
            paytype: None,
            pay_date: None,
        }
    }

    /// One line per row of the spec's table, in the order the spec gives them.
    #[test]
    fn follows_the_spec_table() {
        let rows: Vec<(&str, Option<&str>, Option<&str>, AnswerTo)> = vec![
            ("10000", None, Some("TRADE_SUCCESS"), AnswerTo::Pay),
            (
                "10000",
                Some("SUCCESS"),
                Some("TRADE_FINISHED"),
                AnswerTo::Query,
            ),
            ("10000", Some("SUCCESS"), None, AnswerTo::Notify),
            ("40004", Some("USERPAYING"), None, AnswerTo::Pay),
            (
                "10000",
                Some("USERPAYING"),
                Some("WAIT_BUYER_PAY"),
                AnswerTo::Pay,
            ),
            ("10000", None, Some("WAIT_BUYER_PAY"), AnswerTo::Query),
            ("10000", None, Some("TRADE_CLOSED"), AnswerTo::Query),
            (
                "40004",
                Some("TRADE_FAIL_X"),
                Some("TRADE_FAIL"),
                AnswerTo::Pay,
            ),
            ("10000", None, Some("CANCEL_INPROGRESS"), AnswerTo::Query),
            ("10000", None, Some("INVALID_STATUS_CODE"), AnswerTo::Query),
            ("40004", Some("INSUFFICIENT"), None, AnswerTo::Pay),
            ("40004", Some("ORDERCLOSED"), None, AnswerTo::Pay),
            ("40002", Some("PARAMSERROR"), None, AnswerTo::Pay),
            ("10000", None, Some("REFUNDED"), AnswerTo::Query),
            ("10000", None, Some("REFUND_ERROR"), AnswerTo::Query),
            ("40004", Some("ORDERPAID"), None, AnswerTo::Pay),
            ("40004", Some("ORDER_CONFLICT"), None, AnswerTo::Pay),
            ("40004", Some("ORDERPAID"), None, AnswerTo::Query),
            ("40004", Some("ORDER_NOTFOUND"), None, AnswerTo::Query),
            ("20000", None, None, AnswerTo::Pay),
            ("40004", Some("SYSTEMERROR"), None, AnswerTo::Query),
            ("40004", Some("FREQUENTLY"), None, AnswerTo::Query),
            ("40004", Some("SIGNERROR"), None, AnswerTo::Pay),
            ("40001", Some("NOSIGN"), None, AnswerTo::Pay),
            ("40004", Some("APPID_NOT_EXIST"), None, AnswerTo::Query),
            ("40004", Some("UNACTIVATE"), None, AnswerTo::Pay),
            ("40004", Some("AGENT_NOTFOUND"), None, AnswerTo::Pay),
            ("10000", None, None, AnswerTo::Query),
            (
                "40004",
                Some("TRADE_SUCCESS"),
                Some("TRADE_SUCCESS"),
                AnswerTo::Query,
            ),
            ("99999", None, None, AnswerTo::Query),
        ];
        let table: String = rows
            .into_iter()
            .map(|(rc, ec, ts, to)| {
                let outcome = read_table(&answer(rc, ec, ts), to);
                format!("{rc} {ec:?} {ts:?} {to:?} => {outcome:?}\n")
            })
            .collect();
        expect_test::expect![[r#"
            10000 None Some("TRADE_SUCCESS") Pay => Paid
            10000 Some("SUCCESS") Some("TRADE_FINISHED") Query => Paid
            10000 Some("SUCCESS") None Notify => Paid
            40004 Some("USERPAYING") None Pay => WaitingCustomer
            10000 Some("USERPAYING") Some("WAIT_BUYER_PAY") Pay => WaitingCustomer
            10000 None Some("WAIT_BUYER_PAY") Query => WaitingCustomer
            10000 None Some("TRADE_CLOSED") Query => NotPaid { err_code: None, reason: "TRADE_CLOSED" }
            40004 Some("TRADE_FAIL_X") Some("TRADE_FAIL") Pay => NotPaid { err_code: Some(Other("TRADE_FAIL_X")), reason: "TRADE_FAIL_X" }
            10000 None Some("CANCEL_INPROGRESS") Query => NotPaid { err_code: None, reason: "CANCEL_INPROGRESS" }
            10000 None Some("INVALID_STATUS_CODE") Query => NotPaid { err_code: None, reason: "INVALID_STATUS_CODE" }
            40004 Some("INSUFFICIENT") None Pay => NotPaid { err_code: Some(Insufficient), reason: "INSUFFICIENT" }
            40004 Some("ORDERCLOSED") None Pay => NotPaid { err_code: Some(OrderClosed), reason: "ORDERCLOSED" }
            40002 Some("PARAMSERROR") None Pay => NotPaid { err_code: Some(ParamsError), reason: "PARAMSERROR" }
            10000 None Some("REFUNDED") Query => Refunded { in_doubt: false }
            10000 None Some("REFUND_ERROR") Query => Refunded { in_doubt: true }
            40004 Some("ORDERPAID") None Pay => OrderExists
            40004 Some("ORDER_CONFLICT") None Pay => OrderExists
            40004 Some("ORDERPAID") None Query => Paid
            40004 Some("ORDER_NOTFOUND") None Query => NotFound
            20000 None None Pay => TryLater { rate_limited: false, reason: "result_code 20000" }
            40004 Some("SYSTEMERROR") None Query => TryLater { rate_limited: false, reason: "SYSTEMERROR" }
            40004 Some("FREQUENTLY") None Query => TryLater { rate_limited: true, reason: "FREQUENTLY" }
            40004 Some("SIGNERROR") None Pay => ConfigProblem { err_code: SignError, reason: "SIGNERROR" }
            40001 Some("NOSIGN") None Pay => ConfigProblem { err_code: NoSign, reason: "NOSIGN" }
            40004 Some("APPID_NOT_EXIST") None Query => ConfigProblem { err_code: AppIdNotExist, reason: "APPID_NOT_EXIST" }
            40004 Some("UNACTIVATE") None Pay => ConfigProblem { err_code: Unactivate, reason: "UNACTIVATE" }
            40004 Some("AGENT_NOTFOUND") None Pay => ConfigProblem { err_code: AgentNotFound, reason: "AGENT_NOTFOUND" }
            10000 None None Query => TryLater { rate_limited: false, reason: "unclear answer: result_code 10000" }
            40004 Some("TRADE_SUCCESS") Some("TRADE_SUCCESS") Query => TryLater { rate_limited: false, reason: "contradictory answer: TRADE_SUCCESS" }
            99999 None None Query => TryLater { rate_limited: false, reason: "unclear answer: result_code 99999" }
        "#]].assert_eq(&table);
    }

    const SALE: Expected<'static> = Expected {
        out_trade_no: "POS1-20261125-000002",
        total_amount: Fen(99_900),
    };

    /// A paid answer about `SALE`, then each way of not quite being one.
    #[test]
    fn paid_needs_this_sales_order_and_amount_on_every_answer() {
        let paid = |out_trade_no: Option<&str>, total_amount: Option<u64>| TradeAnswer {
            out_trade_no: out_trade_no.map(str::to_string),
            total_amount: total_amount.map(Fen),
            trade_no: Some("T1".into()),
            ..answer("10000", Some("SUCCESS"), Some("TRADE_SUCCESS"))
        };
        let cases = [
            (
                "this sale",
                paid(Some("POS1-20261125-000002"), Some(99_900)),
            ),
            (
                "its number lowercased",
                paid(Some("pos1-20261125-000002"), Some(99_900)),
            ),
            ("no out_trade_no", paid(None, Some(99_900))),
            ("no total_amount", paid(Some("POS1-20261125-000002"), None)),
            ("neither", paid(None, None)),
            (
                "another amount",
                paid(Some("POS1-20261125-000002"), Some(1)),
            ),
            (
                "another order",
                paid(Some("POS1-20261125-000001"), Some(99_900)),
            ),
            (
                "another order, not paid",
                TradeAnswer {
                    out_trade_no: Some("POS1-20261125-000001".into()),
                    ..answer("40004", Some("INSUFFICIENT"), None)
                },
            ),
            (
                "not paid, no order named",
                answer("40004", Some("INSUFFICIENT"), None),
            ),
        ];
        let mut table = String::new();
        for to in [AnswerTo::Pay, AnswerTo::Query, AnswerTo::Notify] {
            for (name, answer) in &cases {
                let outcome = answer.outcome_for(to, SALE);
                table.push_str(&format!("{to:?} {name}: {outcome:?}\n"));
            }
        }
        expect_test::expect![[r#"
            Pay this sale: Paid
            Pay its number lowercased: Paid
            Pay no out_trade_no: TryLater { rate_limited: false, reason: "a paid answer without out_trade_no is not trusted" }
            Pay no total_amount: TryLater { rate_limited: false, reason: "a paid answer without total_amount is not trusted" }
            Pay neither: TryLater { rate_limited: false, reason: "a paid answer without out_trade_no is not trusted" }
            Pay another amount: TryLater { rate_limited: false, reason: "answer says ¥0.01 paid, the sale is ¥999.00" }
            Pay another order: TryLater { rate_limited: false, reason: "answer names order POS1-20261125-000001" }
            Pay another order, not paid: TryLater { rate_limited: false, reason: "answer names order POS1-20261125-000001" }
            Pay not paid, no order named: NotPaid { err_code: Some(Insufficient), reason: "INSUFFICIENT" }
            Query this sale: Paid
            Query its number lowercased: Paid
            Query no out_trade_no: TryLater { rate_limited: false, reason: "a paid answer without out_trade_no is not trusted" }
            Query no total_amount: TryLater { rate_limited: false, reason: "a paid answer without total_amount is not trusted" }
            Query neither: TryLater { rate_limited: false, reason: "a paid answer without out_trade_no is not trusted" }
            Query another amount: TryLater { rate_limited: false, reason: "answer says ¥0.01 paid, the sale is ¥999.00" }
            Query another order: TryLater { rate_limited: false, reason: "answer names order POS1-20261125-000001" }
            Query another order, not paid: TryLater { rate_limited: false, reason: "answer names order POS1-20261125-000001" }
            Query not paid, no order named: NotPaid { err_code: Some(Insufficient), reason: "INSUFFICIENT" }
            Notify this sale: Paid
            Notify its number lowercased: Paid
            Notify no out_trade_no: TryLater { rate_limited: false, reason: "a paid answer without out_trade_no is not trusted" }
            Notify no total_amount: TryLater { rate_limited: false, reason: "a paid answer without total_amount is not trusted" }
            Notify neither: TryLater { rate_limited: false, reason: "a paid answer without out_trade_no is not trusted" }
            Notify another amount: TryLater { rate_limited: false, reason: "answer says ¥0.01 paid, the sale is ¥999.00" }
            Notify another order: TryLater { rate_limited: false, reason: "answer names order POS1-20261125-000001" }
            Notify another order, not paid: TryLater { rate_limited: false, reason: "answer names order POS1-20261125-000001" }
            Notify not paid, no order named: NotPaid { err_code: Some(Insufficient), reason: "INSUFFICIENT" }
        "#]].assert_eq(&table);
    }

    #[test]
    fn a_signed_notify_without_total_amount_does_not_settle_a_sale() {
        // Read from a callback exactly as the gateway sends one, amount left out.
        let map: Map<String, Value> = serde_json::from_str(
            r#"{"result_code":"10000","err_code":"SUCCESS","trade_status":"TRADE_SUCCESS","out_trade_no":"POS1-20261125-000002","trade_no":"T1","pay_date":"1764072000"}"#,
        )
        .unwrap();
        let answer = TradeAnswer::from_result_response(&map, AmountUnit::Fen).unwrap();
        assert_eq!(answer.outcome(AnswerTo::Notify), Outcome::Paid);
        assert_eq!(
            answer.outcome_for(AnswerTo::Notify, SALE),
            Outcome::TryLater {
                rate_limited: false,
                reason: "a paid answer without total_amount is not trusted".into()
            }
        );
        let mut with_amount = map.clone();
        with_amount.insert("total_amount".into(), Value::String("99900".into()));
        let answer = TradeAnswer::from_result_response(&with_amount, AmountUnit::Fen).unwrap();
        assert_eq!(answer.outcome_for(AnswerTo::Notify, SALE), Outcome::Paid);
    }

    /// A report (no sale, an order asked for) takes the table's word only for that order.
    #[test]
    fn a_report_of_an_order_never_takes_another_orders_answer() {
        let paid_for = |named: Option<&str>| TradeAnswer {
            out_trade_no: named.map(str::to_string),
            total_amount: Some(Fen(1)),
            ..answer("10000", Some("SUCCESS"), Some("TRADE_SUCCESS"))
        };
        let asked = Some("POS1-20261125-000002");
        let other = read_order(
            &paid_for(Some("POS1-20261125-000001")),
            AnswerTo::Query,
            asked,
        )
        .unwrap_err();
        assert_eq!(
            other.to_string(),
            r#"signed answer is about out_trade_no "POS1-20261125-000001", not "POS1-20261125-000002""#
        );
        for to in [AnswerTo::Pay, AnswerTo::Query] {
            assert_eq!(
                read_order(&paid_for(Some("pos1-20261125-000002")), to, asked),
                Ok(Outcome::Paid)
            );
            assert_eq!(read_order(&paid_for(None), to, asked), Ok(Outcome::Paid));
            // Asked by the gateway's trade_no: whatever order it names is the one asked for.
            assert_eq!(
                read_order(&paid_for(Some("POS1-20261125-000001")), to, None),
                Ok(Outcome::Paid)
            );
        }
        // Not paid is no exception: another order's answer says nothing of this one.
        let not_paid = TradeAnswer {
            out_trade_no: Some("POS1-20261125-000001".into()),
            ..answer("40004", Some("ORDER_NOTFOUND"), None)
        };
        assert!(read_order(&not_paid, AnswerTo::Query, asked).is_err());
    }
}
