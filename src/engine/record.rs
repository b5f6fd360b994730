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
}

impl SaleRecord {
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
        }
    }

    /// The order number for a sequence value: `{prefix}-{yyyymmdd}-{seq:06}`.
    pub fn order_number(prefix: &str, now: Timestamp, seq: u64) -> String {
        format!("{prefix}-{}-{seq:06}", now.yyyymmdd())
    }
}
