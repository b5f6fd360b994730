//! What goes in and out of the engine besides time: the closed output enum, the requests it
//! asks the daemon to send, transport failures the daemon reports back, and refusals.

use super::record::SaleRecord;
use super::sale::{SaleState, SaleView};
use super::screen::Screen;
use crate::protocol::{Fen, PaymentCode, Payway};

/// Something the daemon must do, in order. A `Journal` must be written and durably synced
/// before any later output is carried out (invariant 3, ARCHITECTURE.md: the record that a request depends on
/// is on disk before the request leaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Journal(SaleRecord),
    Send(Request),
    Show(Screen),
    /// One per state change, for the register.
    Report(SaleView),
    /// A scan was not used; `reason` is safe to show (codes masked).
    ScanRefused {
        reason: String,
    },
}

/// A request for the gateway. Answer it with `Engine::handle_pay_reply` /
/// `Engine::handle_query_reply` for the same `sale_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Pay {
        sale_id: String,
        out_trade_no: String,
        auth_code: PaymentCode,
        amount: Fen,
        subject: String,
        operator_id: String,
        payway: Option<Payway>,
    },
    Query {
        sale_id: String,
        out_trade_no: String,
    },
}

impl Request {
    pub fn sale_id(&self) -> &str {
        match self {
            Request::Pay { sale_id, .. } | Request::Query { sale_id, .. } => sale_id,
        }
    }

    pub fn out_trade_no(&self) -> &str {
        match self {
            Request::Pay { out_trade_no, .. } | Request::Query { out_trade_no, .. } => out_trade_no,
        }
    }
}

/// Why a request produced no verified answer. The daemon maps its gateway client's errors
/// onto these three, and the difference matters for money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The request never left (no route, connection refused, DNS failure): it may be sent
    /// again with the same order number and code.
    Offline(String),
    /// It may have been received (timeout, reset, 5xx, unverifiable signature): only a query
    /// may resolve it.
    Unknown(String),
    /// Refused locally before sending (the request could not be built); sending it again
    /// will not help.
    Invalid(String),
}

/// The register asked for a sale while the counter is busy (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmError {
    #[error("sale {sale_id} is {} at the counter; wait for its result or disarm it before arming another", state.as_str())]
    CounterBusy { sale_id: String, state: SaleState },
    #[error("amount {amount} is zero; a sale needs at least ¥0.01")]
    ZeroAmount { amount: Fen },
    #[error("cannot make the pay page for a QR sale: {reason}")]
    PayPage { reason: String },
    #[error("{field} {value:?} is not accepted: {rule}")]
    BadField {
        field: &'static str,
        value: String,
        rule: String,
    },
}

/// A disarm that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisarmError {
    #[error("no sale {sale_id} at the counter; list sales with GET /v1/sales")]
    NotFound { sale_id: String },
    #[error("sale {sale_id} is {} and can no longer be disarmed: its code was scanned; wait for its result", state.as_str())]
    AlreadyScanned { sale_id: String, state: SaleState },
}

/// A verified callback that does not belong to a sale this terminal is resolving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("callback has no out_trade_no; cannot tell which sale it is about")]
    NoOrderNumber,
    #[error("callback for order {out_trade_no}, which this terminal is not resolving (finished long ago or another terminal's); ignored")]
    UnknownOrder { out_trade_no: String },
}
