//! What goes in and out of the engine besides time: the closed output enum, the requests it
//! asks the daemon to send, transport failures the daemon reports back, and refusals.

use super::record::SaleRecord;
use super::sale::{SaleState, SaleView};
use super::screen::Screen;
use crate::protocol::{Call, Fen, PayRequest, PaymentCode, Payway, QueryRequest};

/// Something the daemon must do, in order. A `Journal` must be written before any later
/// output is carried out, and a `Durability::Synced` one durably synced too (invariant 3,
/// ARCHITECTURE.md: the record that a request depends on is on disk before the request
/// leaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Journal(SaleRecord, Durability),
    Send(Request),
    Show(Screen),
    /// One per state change, for the register.
    Report(SaleView),
    /// A scan was not used; `reason` is safe to show (codes masked).
    ScanRefused {
        reason: String,
    },
    /// A kiosk's sale could not be armed (see `Engine::start_kiosk`); tried again after
    /// `KIOSK_REARM_AFTER`. Only for the log: nothing changed.
    KioskNotArmed {
        reason: String,
    },
}

/// How durable a journaled version must be before the next output runs (the engine's rule:
/// `updates::durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On stable storage before the next output: money or an outcome depends on it.
    Synced,
    /// Written (readable at once), made durable by the next synced write: a power cut may
    /// lose it, and a restart does with the sale's last synced version what it would have
    /// done with this one.
    Deferred,
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

    /// Which of the sale's requests this is: its reply goes back to the same one.
    pub fn call(&self) -> Call {
        match self {
            Request::Pay { .. } => Call::Pay,
            Request::Query { .. } => Call::Query,
        }
    }

    /// The gateway request this is, with the daemon's callback address for a pay.
    pub fn into_wire(self, notify_url: &str) -> WireRequest {
        match self {
            Request::Pay {
                sale_id: _,
                out_trade_no,
                auth_code,
                amount,
                subject,
                operator_id,
                payway,
            } => WireRequest::Pay(PayRequest {
                out_trade_no,
                auth_code,
                total_amount: amount,
                subject,
                operator_id,
                notify_url: notify_url.to_string(),
                payway,
            }),
            Request::Query {
                sale_id: _,
                out_trade_no,
            } => WireRequest::Query(QueryRequest::ByOutTradeNo(out_trade_no)),
        }
    }
}

/// A `Request` as the gateway client sends it (`Request::into_wire`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireRequest {
    Pay(PayRequest),
    Query(QueryRequest),
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

/// Why the engine refuses to arm a sale. (The register API's own `register::ArmError`
/// adds what only the daemon knows, such as kiosk mode or a daemon that is stopping; the
/// driver maps this onto it.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmRefusal {
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
    #[error("storage fault: the terminal cannot record payments ({detail}); no sale is armed until the disk takes writes again (it resumes by itself; free space or replace the SD card)")]
    StorageFault { detail: String },
}

/// Why the engine refuses to disarm a sale (mapped by the driver onto the register API's
/// `register::DisarmError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisarmRefusal {
    #[error("no sale {sale_id} at the counter; list sales with GET /v1/sales")]
    NotFound { sale_id: String },
    #[error("sale {sale_id} is {} and can no longer be disarmed: its code was scanned; wait for its result", state.as_str())]
    AlreadyScanned { sale_id: String, state: SaleState },
}

/// Why the engine refuses to check a sale again at once (`Engine::recheck`; mapped by the
/// driver onto the register API's `register::RecheckError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecheckRefusal {
    /// The engine does not follow it (never known, or ended and forgotten: the journal says).
    #[error("no sale {sale_id} followed by this terminal; list sales with GET /v1/sales")]
    NotFound { sale_id: String },
    /// It has ended (a final state, or `needs_review`): the terminal no longer asks the
    /// gateway about it, and a person settles it from the gateway's statements.
    #[error("sale {sale_id} has ended ({}{}): the terminal no longer checks it; settle it from the gateway's statements", state.as_str(), if *needs_review { ", needs review" } else { "" })]
    Ended {
        sale_id: String,
        state: SaleState,
        needs_review: bool,
    },
    /// Its outcome is not a query's to find yet: armed (not scanned), queued (the pay has
    /// not left) or submitting (the pay's own answer is awaited).
    #[error("sale {sale_id} is {} and is not checked by query yet (armed: not scanned; queued: the pay has not left; submitting: its answer is awaited); follow it with GET /v1/sales/{sale_id}", state.as_str())]
    NotYet { sale_id: String, state: SaleState },
}

/// Why a verified callback was ignored: it belongs to no sale this terminal is resolving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoredCallback {
    #[error("callback has no out_trade_no; cannot tell which sale it is about")]
    NoOrderNumber,
    #[error("callback for order {out_trade_no}, which this terminal is not resolving (finished long ago or another terminal's); ignored")]
    UnknownOrder { out_trade_no: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_the_wire_request_field_for_field() {
        let code = PaymentCode::parse("134523198765432101").unwrap();
        let pay = Request::Pay {
            sale_id: "POS1-20261125-000001".into(),
            out_trade_no: "POS1-20261125-000001".into(),
            auth_code: code.clone(),
            amount: Fen(1250),
            subject: "Tea".into(),
            operator_id: "001".into(),
            payway: Some(Payway::WeChat),
        };
        assert_eq!(pay.call(), Call::Pay);
        assert_eq!(
            pay.into_wire("http://127.0.0.1:8080/notify"),
            WireRequest::Pay(PayRequest {
                out_trade_no: "POS1-20261125-000001".into(),
                auth_code: code,
                total_amount: Fen(1250),
                subject: "Tea".into(),
                operator_id: "001".into(),
                notify_url: "http://127.0.0.1:8080/notify".into(),
                payway: Some(Payway::WeChat),
            })
        );
        let query = Request::Query {
            sale_id: "POS1-20261125-000001".into(),
            out_trade_no: "POS1-20261125-000001".into(),
        };
        assert_eq!(query.call(), Call::Query);
        assert_eq!(
            query.into_wire("unused"),
            WireRequest::Query(QueryRequest::ByOutTradeNo("POS1-20261125-000001".into()))
        );
    }
}
