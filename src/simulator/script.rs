//! Scripted outcomes, the way payment test modes do it: the last six digits of the payment
//! code choose what the simulated customer does, and the last two digits of a withdrawal's
//! fen amount choose what the simulated bank does. Pure: no clock, no I/O.

use crate::protocol::{ErrCode, Fen};

/// What the simulated customer does with a pay request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayScript {
    /// Paid at once (every ordinary code).
    Succeed,
    /// USERPAYING; paid when the order has been queried this many times.
    PayAfterQueries(u32),
    /// USERPAYING; paid this many seconds after the pay request (on the injected clock).
    PayAfterSeconds(u32),
    /// USERPAYING; closed (TRADE_CLOSED) when the order has been queried this many times.
    CloseAfterQueries(u32),
    /// USERPAYING; closed this many seconds after the pay request.
    CloseAfterSeconds(u32),
    /// Refused at once with this business error.
    Decline {
        err_code: ErrCode,
        des: &'static str,
    },
    /// The pay answer is SYSTEMERROR, but the gateway did take the money: a query says paid.
    SystemErrorThenPaid,
    /// USERPAYING for ever: the customer never confirms and the order never closes.
    WaitForever,
}

/// Marks a magic code: its last six digits are `00SSNN`.
const MAGIC_MARK: &str = "00";

/// The documented table; `magic_table()` returns it for the demo to print.
pub const MAGIC_TABLE: &str = include_str!("magic_table.txt");

impl PayScript {
    /// Reads the script from a payment code's digits (already validated as a payment code).
    pub fn for_code(digits: &str) -> PayScript {
        if digits.len() < 6 {
            return PayScript::Succeed;
        }
        let tail = &digits[digits.len() - 6..];
        if !tail.starts_with(MAGIC_MARK) {
            return PayScript::Succeed;
        }
        let script: u32 = tail[2..4].parse().unwrap_or(0);
        let param: u32 = tail[4..6].parse().unwrap_or(0);
        let or = |default: u32| if param == 0 { default } else { param };
        match script {
            2 => PayScript::PayAfterQueries(or(2)),
            3 => PayScript::PayAfterSeconds(or(5)),
            4 => PayScript::CloseAfterQueries(or(2)),
            5 => PayScript::CloseAfterSeconds(or(45)),
            6 => PayScript::Decline {
                err_code: ErrCode::Insufficient,
                des: "the customer's wallet balance is too low; ask for another payment method",
            },
            7 => PayScript::Decline {
                err_code: ErrCode::OrderClosed,
                des:
                    "the payment code has expired; ask the customer to refresh it in the wallet app",
            },
            8 => PayScript::SystemErrorThenPaid,
            9 => PayScript::WaitForever,
            // 01 and every unassigned number: an ordinary, immediately successful payment.
            _ => PayScript::Succeed,
        }
    }
}

/// What the simulated bank does with a withdrawal, after "processing".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithdrawalScript {
    Succeed,
    ReturnedByBank,
    Fail,
    ManualReview,
}

impl WithdrawalScript {
    pub fn for_amount(amount: Fen) -> WithdrawalScript {
        match amount.0 % 100 {
            3 => WithdrawalScript::ReturnedByBank,
            4 => WithdrawalScript::Fail,
            9 => WithdrawalScript::ManualReview,
            _ => WithdrawalScript::Succeed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_magic_suffix() {
        let cases = [
            ("134523198765432101", PayScript::Succeed),
            ("134523198765000100", PayScript::Succeed),
            ("134523198765000203", PayScript::PayAfterQueries(3)),
            ("134523198765000200", PayScript::PayAfterQueries(2)),
            ("2845231987654321000307", PayScript::PayAfterSeconds(7)),
            ("134523198765000300", PayScript::PayAfterSeconds(5)),
            ("134523198765000400", PayScript::CloseAfterQueries(2)),
            ("134523198765000500", PayScript::CloseAfterSeconds(45)),
            ("134523198765000800", PayScript::SystemErrorThenPaid),
            ("134523198765000900", PayScript::WaitForever),
            ("134523198765009900", PayScript::Succeed),
            // 00 not in front: not magic.
            ("134523198765100203", PayScript::Succeed),
        ];
        for (code, expected) in cases {
            assert_eq!(PayScript::for_code(code), expected, "{code}");
        }
        assert!(matches!(
            PayScript::for_code("134523198765000600"),
            PayScript::Decline {
                err_code: ErrCode::Insufficient,
                ..
            }
        ));
        assert!(matches!(
            PayScript::for_code("134523198765000700"),
            PayScript::Decline {
                err_code: ErrCode::OrderClosed,
                ..
            }
        ));
    }

    #[test]
    fn every_example_in_the_table_runs_its_script() {
        for line in MAGIC_TABLE.lines().filter(|l| l.starts_with("  0")) {
            let number: u32 = line[2..4].parse().unwrap();
            let example = line.split_whitespace().last().unwrap();
            let script = PayScript::for_code(example);
            let expected_succeed = number == 1;
            assert_eq!(script == PayScript::Succeed, expected_succeed, "{line}");
        }
    }

    #[test]
    fn withdrawal_scripts_follow_the_fen_amount() {
        assert_eq!(
            WithdrawalScript::for_amount(Fen(10_000)),
            WithdrawalScript::Succeed
        );
        assert_eq!(
            WithdrawalScript::for_amount(Fen(10_003)),
            WithdrawalScript::ReturnedByBank
        );
        assert_eq!(
            WithdrawalScript::for_amount(Fen(10_004)),
            WithdrawalScript::Fail
        );
        assert_eq!(
            WithdrawalScript::for_amount(Fen(10_009)),
            WithdrawalScript::ManualReview
        );
    }
}
