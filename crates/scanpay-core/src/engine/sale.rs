//! A sale as the register sees it: the design's public contract
//! (`{"sale_id","out_trade_no","amount_fen","subject","state","payway","trade_no","err_code",
//! "err_code_des","created_at","updated_at"}`).

use serde::{Deserialize, Serialize};

use crate::protocol::{Fen, Payway};

/// Where a sale stands. The names are part of the register API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    /// Amount known, waiting for a scan.
    Armed,
    /// Journaled; the pay request is in flight.
    Submitting,
    /// USERPAYING: the customer is confirming; polling.
    WaitingCustomer,
    /// Offline: the request never left; it will be sent when the gateway answers again.
    Queued,
    Paid,
    Failed,
    /// Sent, no trustworthy answer yet: being resolved by query.
    Unknown,
    /// Past the cashier's deadline without an outcome: reconciled in the background.
    Unresolved,
    /// Queued too long; never sent, nothing charged.
    Expired,
    /// Cancelled by the register before a scan.
    Disarmed,
}

impl SaleState {
    /// The sale's result is settled for the cashier (a late success after `Unresolved` is
    /// still possible, so `Unresolved` is not final; a `Failed` ended by the not-found rule
    /// is still checked and may turn `Paid`, with `late`).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SaleState::Paid | SaleState::Failed | SaleState::Expired | SaleState::Disarmed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SaleState::Armed => "armed",
            SaleState::Submitting => "submitting",
            SaleState::WaitingCustomer => "waiting_customer",
            SaleState::Queued => "queued",
            SaleState::Paid => "paid",
            SaleState::Failed => "failed",
            SaleState::Unknown => "unknown",
            SaleState::Unresolved => "unresolved",
            SaleState::Expired => "expired",
            SaleState::Disarmed => "disarmed",
        }
    }
}

/// The register's view of one sale. Safe to show: no payment code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleView {
    pub sale_id: String,
    pub out_trade_no: String,
    pub amount_fen: Fen,
    pub subject: String,
    pub state: SaleState,
    pub payway: Option<Payway>,
    pub trade_no: Option<String>,
    pub err_code: Option<String>,
    pub err_code_des: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// Reconciliation gave up: a person must look the sale up in the gateway's statements.
    #[serde(default)]
    pub needs_review: bool,
    /// The sale changed after it had ended (`SaleRecord::has_ended`: a final state or
    /// `needs_review`; a plain unresolved sale has not ended), e.g. paid after it was
    /// reported failed by the not-found rule: the register must act on the change.
    #[serde(default)]
    pub late: bool,
}
