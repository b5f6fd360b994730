//! The one home of the reconciliation rules: what the terminal's journal says of a sale,
//! what the gateway says of its order, and whether the two agree, with what a person should
//! do when they do not. Pure: no clock, no I/O; `scanpay reconcile` (src/cli/reconcile.rs)
//! gathers both sides and prints the verdicts.
//!
//! What an answer means is not decided here: the gateway's side is the protocol's
//! `read_order` reading of a verified query answer (`GatewaySays::of`). Only the comparison
//! of the two sides lives here.

use serde::{Deserialize, Serialize};

use crate::engine::SaleState;
use crate::protocol::{read_order, AnswerTo, Fen, Outcome, TradeAnswer};

/// What the gateway says of one order, as read from a verified query answer, or why there is
/// no such reading. Kept in the progress file, so a resumed run does not ask again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GatewaySays {
    /// Paid, for the amount the answer names (`None`: the answer named none).
    Paid {
        amount_fen: Option<Fen>,
    },
    /// The customer is still confirming.
    Waiting,
    NotPaid {
        reason: String,
    },
    /// Paid, then refunded (`in_doubt`: the refund's own outcome is unclear).
    Refunded {
        in_doubt: bool,
    },
    /// ORDER_NOTFOUND: the gateway has no order with this number.
    NotFound,
    /// FREQUENTLY: asked too often; the caller backs off and asks again.
    Busy {
        reason: String,
    },
    /// No usable answer (transport failure, answer about another order, setup problem).
    NoAnswer {
        detail: String,
    },
}

impl GatewaySays {
    /// The protocol's reading of a verified query answer for `out_trade_no`.
    pub fn of(answer: &TradeAnswer, out_trade_no: &str) -> GatewaySays {
        match read_order(answer, AnswerTo::Query, Some(out_trade_no)) {
            Err(other) => GatewaySays::NoAnswer {
                detail: other.to_string(),
            },
            Ok(outcome) => match outcome {
                Outcome::Paid => GatewaySays::Paid {
                    amount_fen: answer.total_amount,
                },
                Outcome::WaitingCustomer => GatewaySays::Waiting,
                Outcome::NotPaid { reason, .. } => GatewaySays::NotPaid { reason },
                Outcome::Refunded { in_doubt } => GatewaySays::Refunded { in_doubt },
                Outcome::NotFound => GatewaySays::NotFound,
                Outcome::TryLater {
                    rate_limited: true,
                    reason,
                } => GatewaySays::Busy { reason },
                Outcome::TryLater {
                    rate_limited: false,
                    reason,
                } => GatewaySays::NoAnswer { detail: reason },
                Outcome::OrderExists => GatewaySays::NoAnswer {
                    detail: "an answer about a pay request, not the order's state".into(),
                },
                Outcome::ConfigProblem { reason, .. } => GatewaySays::NoAnswer {
                    detail: format!("the gateway refused the query: {reason}"),
                },
            },
        }
    }
}

/// How the two sides compare. The `key` names are the `verdict` of `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Paid on both sides, same amount.
    PaidBoth,
    /// Not paid on either side (failed, expired or disarmed here; not paid or unknown there).
    NotPaidBoth,
    /// Still open on both sides (the terminal follows it, the gateway has no payment yet).
    Open,
    /// The terminal says paid; the gateway has the order but not as paid.
    TerminalPaidGatewayNot,
    /// The terminal says paid; the gateway has no such order.
    TerminalPaidGatewayUnknown,
    /// The gateway says paid; the terminal says not paid, or has no outcome yet.
    GatewayPaidTerminalNot,
    /// Both say paid, for different amounts.
    AmountsDiffer,
    /// The gateway says refunded.
    Refunded,
    /// The gateway could not be asked (or gave no usable answer): not checked.
    NotChecked,
}

impl Verdict {
    /// Whether a person must act: every disagreement.
    pub fn disagrees(self) -> bool {
        match self {
            Verdict::TerminalPaidGatewayNot
            | Verdict::TerminalPaidGatewayUnknown
            | Verdict::GatewayPaidTerminalNot
            | Verdict::AmountsDiffer => true,
            Verdict::PaidBoth
            | Verdict::NotPaidBoth
            | Verdict::Open
            | Verdict::Refunded
            | Verdict::NotChecked => false,
        }
    }

    /// Both sides agree on an outcome that will not change by itself: kept in the progress
    /// file, so a later run of the day does not ask again. A disagreement or an open sale is
    /// asked again by the next run (the terminal may have settled it meanwhile).
    pub fn settled(self) -> bool {
        match self {
            Verdict::PaidBoth | Verdict::NotPaidBoth | Verdict::Refunded => true,
            Verdict::Open
            | Verdict::TerminalPaidGatewayNot
            | Verdict::TerminalPaidGatewayUnknown
            | Verdict::GatewayPaidTerminalNot
            | Verdict::AmountsDiffer
            | Verdict::NotChecked => false,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Verdict::PaidBoth => "paid_both",
            Verdict::NotPaidBoth => "not_paid_both",
            Verdict::Open => "open",
            Verdict::TerminalPaidGatewayNot => "terminal_paid_gateway_not",
            Verdict::TerminalPaidGatewayUnknown => "terminal_paid_gateway_unknown",
            Verdict::GatewayPaidTerminalNot => "gateway_paid_terminal_not",
            Verdict::AmountsDiffer => "amounts_differ",
            Verdict::Refunded => "refunded",
            Verdict::NotChecked => "not_checked",
        }
    }

    /// What to do, in words, for the merchant at the counter.
    pub fn what_to_do(self) -> &'static str {
        match self {
            Verdict::PaidBoth | Verdict::NotPaidBoth => "nothing",
            Verdict::Open => {
                "nothing yet: the terminal still follows it; run reconcile again later"
            }
            Verdict::TerminalPaidGatewayNot => {
                "the money did not arrive: look the order up by out_trade_no in the gateway's statements before handing over goods; ask the customer to pay again only if it is not there"
            }
            Verdict::TerminalPaidGatewayUnknown => {
                "the gateway has no such order: look it up by out_trade_no in the gateway's statements and with the gateway's support; treat it as not paid until found"
            }
            Verdict::GatewayPaidTerminalNot => {
                "the customer was charged: hand over the goods or refund through the gateway; charging again is not needed"
            }
            Verdict::AmountsDiffer => {
                "the gateway charged another amount: check the order by out_trade_no; refund the difference or charge it separately"
            }
            Verdict::Refunded => "nothing: paid and refunded at the gateway",
            Verdict::NotChecked => {
                "no answer from the gateway for this sale: run reconcile again (it resumes)"
            }
        }
    }
}

/// What the terminal's state says of the money, for the comparison.
enum Here {
    Paid,
    /// The terminal still follows the sale: its outcome may yet come.
    Open,
    /// Ended without a payment.
    Unpaid,
}

fn here(state: SaleState) -> Here {
    match state {
        SaleState::Paid => Here::Paid,
        SaleState::Armed
        | SaleState::Submitting
        | SaleState::WaitingCustomer
        | SaleState::Queued
        | SaleState::Unknown
        | SaleState::Unresolved => Here::Open,
        SaleState::Failed | SaleState::Expired | SaleState::Disarmed => Here::Unpaid,
    }
}

/// The rule: the terminal's state and amount against the gateway's reading.
pub fn classify(terminal: SaleState, amount: Fen, gateway: &GatewaySays) -> Verdict {
    match (gateway, here(terminal)) {
        (GatewaySays::Busy { .. } | GatewaySays::NoAnswer { .. }, _) => Verdict::NotChecked,
        // A paid answer naming no amount cannot be compared.
        (GatewaySays::Paid { amount_fen: None }, _) => Verdict::NotChecked,
        (GatewaySays::Refunded { .. }, _) => Verdict::Refunded,
        (
            GatewaySays::Paid {
                amount_fen: Some(there),
            },
            Here::Paid,
        ) => {
            if *there == amount {
                Verdict::PaidBoth
            } else {
                Verdict::AmountsDiffer
            }
        }
        (GatewaySays::Paid { .. }, Here::Open | Here::Unpaid) => Verdict::GatewayPaidTerminalNot,
        (GatewaySays::NotFound, Here::Paid) => Verdict::TerminalPaidGatewayUnknown,
        (GatewaySays::NotPaid { .. } | GatewaySays::Waiting, Here::Paid) => {
            Verdict::TerminalPaidGatewayNot
        }
        (GatewaySays::NotPaid { .. } | GatewaySays::NotFound, Here::Unpaid) => Verdict::NotPaidBoth,
        // Ended unpaid here while the customer still confirms there: a payment may follow.
        (GatewaySays::Waiting, Here::Unpaid) => Verdict::Open,
        (
            GatewaySays::NotPaid { .. } | GatewaySays::NotFound | GatewaySays::Waiting,
            Here::Open,
        ) => Verdict::Open,
    }
}

/// Whether a disagreement goes back to the running daemon (`POST /v1/sales/{id}/recheck`):
/// the terminal still follows the sale, so the daemon's own query settles it and its journal
/// keeps one writer. The engine decides whether it can (it refuses a sale that has ended or
/// is not checked by query); nothing here writes an outcome.
pub fn fed_back(terminal: SaleState, verdict: Verdict) -> bool {
    verdict.disagrees() && matches!(here(terminal), Here::Open)
}

/// How `scanpay reconcile` exits: 0 only when every sale was checked and nothing disagrees.
pub fn exit_status(verdicts: &[Verdict]) -> u8 {
    if verdicts.iter().any(|v| v.disagrees()) {
        EXIT_DISAGREES
    } else if verdicts
        .iter()
        .any(|v| matches!(v, Verdict::NotChecked | Verdict::Open))
    {
        EXIT_INCOMPLETE
    } else {
        0
    }
}

/// At least one sale disagrees with the gateway.
pub const EXIT_DISAGREES: u8 = 2;
/// Nothing disagrees, but some sale could not be checked or is still open.
pub const EXIT_INCOMPLETE: u8 = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrCode, ResultCode, TradeStatus};

    fn paid(fen: u64) -> GatewaySays {
        GatewaySays::Paid {
            amount_fen: Some(Fen(fen)),
        }
    }

    fn not_paid() -> GatewaySays {
        GatewaySays::NotPaid {
            reason: "closed".into(),
        }
    }

    #[test]
    fn agreement() {
        assert_eq!(
            classify(SaleState::Paid, Fen(100), &paid(100)),
            Verdict::PaidBoth
        );
        for state in [SaleState::Failed, SaleState::Expired, SaleState::Disarmed] {
            assert_eq!(classify(state, Fen(100), &not_paid()), Verdict::NotPaidBoth);
            assert_eq!(
                classify(state, Fen(100), &GatewaySays::NotFound),
                Verdict::NotPaidBoth
            );
        }
        assert_eq!(exit_status(&[Verdict::PaidBoth, Verdict::NotPaidBoth]), 0);
    }

    #[test]
    fn every_disagreement() {
        assert_eq!(
            classify(SaleState::Paid, Fen(100), &not_paid()),
            Verdict::TerminalPaidGatewayNot
        );
        assert_eq!(
            classify(SaleState::Paid, Fen(100), &GatewaySays::NotFound),
            Verdict::TerminalPaidGatewayUnknown
        );
        for state in [
            SaleState::Failed,
            SaleState::Unresolved,
            SaleState::Unknown,
            SaleState::Expired,
        ] {
            assert_eq!(
                classify(state, Fen(100), &paid(100)),
                Verdict::GatewayPaidTerminalNot,
                "{state:?}"
            );
        }
        assert_eq!(
            classify(SaleState::Paid, Fen(100), &paid(120)),
            Verdict::AmountsDiffer
        );
        for v in [
            Verdict::TerminalPaidGatewayNot,
            Verdict::TerminalPaidGatewayUnknown,
            Verdict::GatewayPaidTerminalNot,
            Verdict::AmountsDiffer,
        ] {
            assert!(v.disagrees());
            assert_eq!(exit_status(&[Verdict::PaidBoth, v]), EXIT_DISAGREES);
            assert_ne!(v.what_to_do(), "nothing");
        }
    }

    #[test]
    fn only_a_disagreement_on_a_followed_sale_goes_back_and_only_agreement_is_kept() {
        assert!(fed_back(
            SaleState::Unresolved,
            Verdict::GatewayPaidTerminalNot
        ));
        assert!(fed_back(
            SaleState::WaitingCustomer,
            Verdict::GatewayPaidTerminalNot
        ));
        assert!(!fed_back(
            SaleState::Failed,
            Verdict::GatewayPaidTerminalNot
        ));
        assert!(!fed_back(SaleState::Paid, Verdict::AmountsDiffer));
        assert!(!fed_back(SaleState::Unresolved, Verdict::Open));
        for v in [Verdict::PaidBoth, Verdict::NotPaidBoth, Verdict::Refunded] {
            assert!(v.settled(), "{v:?}");
        }
        for v in [
            Verdict::Open,
            Verdict::NotChecked,
            Verdict::GatewayPaidTerminalNot,
            Verdict::AmountsDiffer,
        ] {
            assert!(!v.settled(), "{v:?}");
        }
    }

    #[test]
    fn open_and_unchecked_are_not_clean() {
        assert_eq!(
            classify(SaleState::Unresolved, Fen(100), &GatewaySays::NotFound),
            Verdict::Open
        );
        assert_eq!(
            classify(SaleState::Failed, Fen(100), &GatewaySays::Waiting),
            Verdict::Open
        );
        let lost = GatewaySays::NoAnswer {
            detail: "timed out".into(),
        };
        assert_eq!(
            classify(SaleState::Paid, Fen(100), &lost),
            Verdict::NotChecked
        );
        // A paid answer naming no amount cannot be compared.
        let vague = GatewaySays::Paid { amount_fen: None };
        assert_eq!(
            classify(SaleState::Paid, Fen(100), &vague),
            Verdict::NotChecked
        );
        assert_eq!(exit_status(&[Verdict::Open]), EXIT_INCOMPLETE);
        assert_eq!(
            exit_status(&[Verdict::NotChecked, Verdict::AmountsDiffer]),
            EXIT_DISAGREES
        );
    }

    #[test]
    fn the_gateway_side_is_the_protocols_reading() {
        let answer = |status, err, no: &str| TradeAnswer {
            result_code: ResultCode::Success,
            err_code: err,
            err_code_des: None,
            trade_status: status,
            out_trade_no: Some(no.into()),
            trade_no: Some("T1".into()),
            total_amount: Some(Fen(1250)),
            paytype: None,
            pay_date: None,
        };
        assert_eq!(
            GatewaySays::of(&answer(Some(TradeStatus::TradeSuccess), None, "a-1"), "A-1"),
            paid(1250)
        );
        assert!(matches!(
            GatewaySays::of(&answer(Some(TradeStatus::TradeSuccess), None, "B-2"), "A-1"),
            GatewaySays::NoAnswer { .. }
        ));
        let not_found = TradeAnswer {
            result_code: ResultCode::BusinessFailure,
            ..answer(None, Some(ErrCode::OrderNotFound), "A-1")
        };
        assert_eq!(GatewaySays::of(&not_found, "A-1"), GatewaySays::NotFound);
        assert!(matches!(
            GatewaySays::of(&answer(None, Some(ErrCode::Frequently), "A-1"), "A-1"),
            GatewaySays::Busy { .. }
        ));
    }
}
