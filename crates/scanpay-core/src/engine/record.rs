//! `SaleRecord`: everything the journal keeps about one sale, enough to resume after a crash.

use serde::{Deserialize, Serialize};

use super::sale::{SaleState, SaleView};
use super::time::Timestamp;
use crate::protocol::{Fen, PaymentCode, Payway};

/// One sale as journaled. `Debug` is safe (the payment code prints masked); the serialized
/// form holds the full code until the gateway has answered the pay request, so it goes to the
/// journal and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRecord {
    pub sale_id: String,
    /// Fixed when the sale is first journaled (at arm); never changes.
    pub out_trade_no: String,
    /// The terminal's order counter value used in `out_trade_no`.
    pub seq: u64,
    pub amount: Fen,
    pub subject: String,
    pub operator_id: String,
    pub state: SaleState,
    pub payway: Option<Payway>,
    /// The customer's code: kept only until the gateway has answered the pay request.
    pub auth_code: Option<PaymentCode>,
    pub trade_no: Option<String>,
    pub err_code: Option<String>,
    pub err_code_des: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the code was scanned: the age limit of a queued request counts from here.
    pub scanned_at: Option<Timestamp>,
    /// The cashier's deadline (scan + policy); past it the sale becomes unresolved.
    pub deadline_at: Option<Timestamp>,
    /// When it became unresolved: the reconciliation schedule counts from here.
    pub unresolved_at: Option<Timestamp>,
    /// When to ask the gateway about it next (None: nothing to ask).
    pub next_poll_at: Option<Timestamp>,
    /// Current query interval in ms (doubles on FREQUENTLY).
    pub poll_interval_ms: u64,
    /// How many pay requests were handed out for sending (more than one only after Offline).
    pub pay_attempts: u32,
    pub query_attempts: u32,
    /// Reconciliation gave up: a person must look it up in the gateway's statements.
    pub needs_review: bool,
    /// The last thing that went wrong with it, in words (transport failures, unclear answers);
    /// never contains the payment code.
    pub note: Option<String>,
    /// A customer-scans-merchant sale: the pay page shown as a QR code. There is no payment
    /// code; the customer pays on the page and the sale is followed by query.
    #[serde(default)]
    pub qr_url: Option<String>,
    /// Read back from a damaged journal: later versions of it may be lost, so its state is
    /// not to be trusted (see `Engine::recover`). Set by the journal, a fact, not a rule.
    #[serde(default)]
    pub salvaged: bool,
    /// It changed after it had ended (see [`SaleRecord::has_ended`] and `SaleView::late`).
    #[serde(default)]
    pub late: bool,
    /// What the not-found rule needs to survive a restart (see `engine::answers`).
    #[serde(default)]
    pub not_found: NotFoundWatch,
}

/// The not-found rule's memory of one sale: a pay whose answer was lost ends `failed`
/// (ORDER_NOTFOUND) once the gateway has said nothing but ORDER_NOTFOUND for
/// `EnginePolicy::not_found_final` after the last pay attempt. Journaled with the record, so
/// a restart neither restarts the window nor forgets an answer that rules the rule out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFoundWatch {
    /// When the last pay request was handed out for sending: the window counts from here.
    /// None: no pay request was ever sent (a QR sale, or a record from before this field),
    /// and the rule never applies.
    #[serde(default)]
    pub last_pay_at: Option<Timestamp>,
    /// Since the last pay attempt, the gateway gave a verified answer about the order other
    /// than ORDER_NOTFOUND (USERPAYING, a status, an answer not trusted, FREQUENTLY, …): it
    /// has, or may have, the order, so the rule no longer applies.
    #[serde(default)]
    pub other_answer: bool,
    /// Ended failed by the rule, and still checked at the slow pace until the reconciliation
    /// window ends, so a late success is found. The engine keeps following the sale meanwhile.
    #[serde(default)]
    pub checking: bool,
}

impl NotFoundWatch {
    /// A pay request is handed out for sending (journaled before it leaves): the window
    /// starts again, and only answers from now on count.
    pub(super) fn pay_attempted(&mut self, now: Timestamp) {
        *self = NotFoundWatch {
            last_pay_at: Some(now),
            other_answer: false,
            checking: false,
        };
    }
}

impl SaleRecord {
    /// The sale has ended: the register was told something the engine will not change by
    /// itself. A final state (paid, failed, expired, disarmed), or unresolved with
    /// `needs_review` (reconciliation gave up). A plain unresolved sale has not ended: it is
    /// still being checked, and its outcome is what the register is waiting for. A change
    /// after the end (a late paid, a callback after failed) is `late`.
    pub fn has_ended(&self) -> bool {
        self.state.is_final() || self.needs_review
    }

    /// The engine still follows the sale: it is not final, or it ended failed by the
    /// not-found rule and is still checked in the background.
    pub fn followed(&self) -> bool {
        SaleRecord::follows(self.state, &self.not_found)
    }

    /// The rule of [`SaleRecord::followed`] from the two fields it reads: the journal's index
    /// keeps it per sale from a record's summary, without decoding the whole record.
    pub fn follows(state: SaleState, not_found: &NotFoundWatch) -> bool {
        !state.is_final() || not_found.checking
    }

    /// The register's view: no payment code.
    pub fn view(&self) -> SaleView {
        SaleView {
            sale_id: self.sale_id.clone(),
            out_trade_no: self.out_trade_no.clone(),
            amount_fen: self.amount,
            subject: self.subject.clone(),
            state: self.state,
            payway: self.payway,
            trade_no: self.trade_no.clone(),
            err_code: self.err_code.clone(),
            err_code_des: self.err_code_des.clone(),
            created_at: self.created_at.rfc3339(),
            updated_at: self.updated_at.rfc3339(),
            needs_review: self.needs_review,
            late: self.late,
        }
    }

    /// The order number for a sequence value: `{prefix}-{yyyymmdd}-{epoch}-{seq:06}`, or
    /// `{prefix}-{yyyymmdd}-{seq:06}` for an engine never given an epoch (tests only: the
    /// daemon always recovers with the journal's epoch).
    pub fn order_number(
        prefix: &str,
        now: Timestamp,
        epoch: Option<&OrderEpoch>,
        seq: u64,
    ) -> String {
        match epoch {
            Some(epoch) => format!("{prefix}-{}-{epoch}-{seq:06}", now.yyyymmdd()),
            None => format!("{prefix}-{}-{seq:06}", now.yyyymmdd()),
        }
    }
}

/// A journal's numbering epoch: chosen at random when a journal is created (and again
/// whenever its counter is lost) and written into every order number, so that a terminal
/// whose journal was wiped or damaged never sends an `out_trade_no` it used before
/// (invariant 7, ARCHITECTURE.md). Randomness comes from outside (the journal); the engine only
/// formats and checks it.
///
/// Six characters of Crockford's base32 (digits and capitals without I, L, O, U): 30 bits,
/// distinct under the gateway's case-insensitive comparison, and short enough for the
/// 64-character `out_trade_no` with the longest prefix (`MAX_ORDER_PREFIX`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderEpoch(String);

const EPOCH_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const EPOCH_LEN: usize = 6;

/// The longest order prefix that fits: `{prefix}-{yyyymmdd}-{epoch}-{seq}` with the counter's
/// largest value (20 digits) stays within the gateway's limit.
pub const MAX_ORDER_PREFIX: usize =
    crate::protocol::messages::limits::OUT_TRADE_NO - (1 + 8 + 1 + EPOCH_LEN + 1 + 20);

impl OrderEpoch {
    /// An epoch from random bytes (at least 4; the journal reads them from the system).
    pub fn from_random(bytes: [u8; 4]) -> OrderEpoch {
        let mut n = u32::from_be_bytes(bytes);
        let text = (0..EPOCH_LEN)
            .map(|_| {
                let c = EPOCH_ALPHABET[(n % 32) as usize] as char;
                n /= 32;
                c
            })
            .collect();
        OrderEpoch(text)
    }

    /// An epoch as stored by the journal; `None` if it is not one.
    pub fn parse(text: &str) -> Option<OrderEpoch> {
        let ok = text.len() == EPOCH_LEN && text.bytes().all(|b| EPOCH_ALPHABET.contains(&b));
        ok.then(|| OrderEpoch(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrderEpoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_round_trip_and_the_longest_number_fits() {
        let epoch = OrderEpoch::from_random([0xff, 0xff, 0xff, 0xff]);
        assert_eq!(OrderEpoch::parse(epoch.as_str()), Some(epoch.clone()));
        assert_ne!(
            OrderEpoch::from_random([0, 0, 0, 1]),
            OrderEpoch::from_random([0, 0, 0, 2])
        );
        assert_eq!(OrderEpoch::parse("ABCDEI"), None);
        assert_eq!(OrderEpoch::parse("abcdef"), None);
        let prefix = "P".repeat(MAX_ORDER_PREFIX);
        let longest = SaleRecord::order_number(&prefix, Timestamp(0), Some(&epoch), u64::MAX);
        assert_eq!(
            longest.len(),
            crate::protocol::messages::limits::OUT_TRADE_NO
        );
    }
}
