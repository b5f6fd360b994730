//! What the register API needs from the daemon, as one narrow trait, and the values that cross
//! it. The HTTP layer (`server`) knows only this trait; the daemon's ready implementation is
//! `board::SaleBoard`, and tests can substitute anything that implements it.
//!
//! Deliberately not here: how a sale is decided. Whether another sale is in progress, what a
//! default subject is, whether the terminal is in fixed-amount mode: the daemon (engine) says,
//! through the errors below.

use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::engine::{SaleRecord, SaleState, SaleView};
use crate::journal::{JournalError, PageRequest};
use crate::protocol::Fen;

/// A validated request to arm a sale (`POST /v1/sales`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmRequest {
    pub amount_fen: Fen,
    /// `None`: the daemon uses the configured default subject.
    pub subject: Option<String>,
    /// `None`: the daemon uses the configured operator id.
    pub operator_id: Option<String>,
}

/// A validated request to show a customer-scans-merchant QR code (`POST /v1/qr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrRequest {
    pub amount_fen: Fen,
    /// `None`: the daemon uses the configured default subject.
    pub subject: Option<String>,
}

/// The answer to `POST /v1/qr`: the pay page the QR code on the display points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrView {
    /// The customer-facing pay page (the gateway's h5 URL). Carries no secret: the signature
    /// in it is over public parameters.
    pub url: String,
    /// The merchant order number the page pays, to look the payment up later.
    pub out_trade_no: String,
    pub amount_fen: Fen,
}

/// Why a sale could not be armed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmError {
    /// Another sale is armed or in progress; the register must wait for it or disarm it.
    #[error("sale {sale_id} is {} on this terminal; wait for its result or disarm it (DELETE /v1/sales/{sale_id}) before arming another", .state.as_str())]
    Busy { sale_id: String, state: SaleState },
    /// The daemon refuses register-armed sales for a reason of its own (e.g. fixed-amount
    /// kiosk mode).
    #[error("the terminal refused to arm a sale: {reason}")]
    Refused { reason: String },
    /// The daemon is not taking commands (shutting down or stopped).
    #[error("the payment daemon is not accepting sales right now (shutting down?); retry shortly")]
    Unavailable,
    /// The journal cannot write: no sale is armed until it can (it resumes by itself).
    #[error("{reason}")]
    StorageFault { reason: String },
}

/// Why a sale could not be disarmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisarmError {
    #[error("no sale {sale_id} on this terminal; list recent sales with GET /v1/sales")]
    NotFound { sale_id: String },
    /// Only an armed sale (not yet scanned) can be disarmed; a scanned one has a payment in
    /// flight whose outcome must be followed.
    #[error("sale {sale_id} is {} and can no longer be disarmed (only an armed sale that has not been scanned can); follow it with GET /v1/sales/{sale_id}", .state.as_str())]
    NotArmed { sale_id: String, state: SaleState },
    #[error(
        "the payment daemon is not accepting commands right now (shutting down?); retry shortly"
    )]
    Unavailable,
    /// The engine no longer follows the sale and the journal could not be read to say what
    /// became of it.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// Why a sale could not be checked again (`POST /v1/sales/{sale_id}/recheck`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecheckError {
    #[error("no sale {sale_id} on this terminal; list recent sales with GET /v1/sales")]
    NotFound { sale_id: String },
    /// It has ended (a final state, or `needs_review`): the terminal no longer asks the
    /// gateway about it; what the gateway says is for a person to settle.
    #[error("sale {sale_id} has ended ({}{}): the terminal no longer checks it with the gateway; settle it from the gateway's statements (scanpay query {sale_id})", .state.as_str(), if *.needs_review { ", needs review" } else { "" })]
    Ended {
        sale_id: String,
        state: SaleState,
        needs_review: bool,
    },
    /// Not checked by query yet: armed (not scanned), queued (the pay has not left) or
    /// submitting (the pay's own answer is awaited).
    #[error("sale {sale_id} is {} and is not checked with the gateway yet (armed: not scanned; queued: its pay has not left; submitting: its answer is awaited); follow it with GET /v1/sales/{sale_id}", .state.as_str())]
    NotYet { sale_id: String, state: SaleState },
    #[error(
        "the payment daemon is not accepting commands right now (shutting down?); retry shortly"
    )]
    Unavailable,
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// A sale could not be looked up: the journal, which holds every sale the terminal knows,
/// could not be read. Never reported as "no such sale".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sale {sale_id} could not be looked up: {detail}; retry shortly, and if it persists look at the daemon's log (journalctl -u scanpay)")]
pub struct LookupError {
    pub sale_id: String,
    pub detail: String,
}

/// Why a QR code could not be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("sale {sale_id} is {} on this terminal; the display is busy until it ends", .state.as_str())]
    Busy { sale_id: String, state: SaleState },
    #[error("could not make the pay page: {reason}")]
    Failed { reason: String },
    #[error(
        "the payment daemon is not accepting commands right now (shutting down?); retry shortly"
    )]
    Unavailable,
    /// The journal cannot write: no page is shown until it can (as `ArmError::StorageFault`).
    #[error("{reason}")]
    StorageFault { reason: String },
}

/// One part of the terminal (scanner, display, gateway): up or not, and a short note for a
/// person (`"serial /dev/serial/by-id/usb-…"`, `"unplugged; retrying"`). `ok` is false only
/// when something is wrong: `scanpay status` exits 1 on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub detail: String,
}

impl Health {
    pub fn up(detail: impl Into<String>) -> Health {
        Health {
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn down(detail: impl Into<String>) -> Health {
        Health {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// What the daemon knows of the gateway: the one place this becomes `/v1/status`'s `gateway`
/// and the word on the systemd status line, so the two never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayState<'a> {
    /// No request has come back since the start. Nothing is known to be wrong, so it is not
    /// a failure: an idle, healthy daemon right after install is here.
    NotContacted,
    /// The last request that reached it was answered, and the answer verified.
    Answering,
    /// The last request did not reach it; requests are queued until it answers again.
    Unreachable,
    /// It answered, but not in a way that verifies (wrong key, bad signature).
    Untrustworthy(&'a str),
}

impl GatewayState<'_> {
    pub fn of(contacted: bool, reachable: bool, problem: Option<&str>) -> GatewayState<'_> {
        match (reachable, problem, contacted) {
            (false, _, _) => GatewayState::Unreachable,
            (true, Some(problem), _) => GatewayState::Untrustworthy(problem),
            (true, None, false) => GatewayState::NotContacted,
            (true, None, true) => GatewayState::Answering,
        }
    }

    /// `/v1/status`'s `gateway`.
    pub fn health(&self) -> Health {
        match self {
            GatewayState::NotContacted => Health::up("not contacted yet"),
            GatewayState::Answering => Health::up("answering"),
            GatewayState::Unreachable => Health::down("unreachable; requests are queued"),
            GatewayState::Untrustworthy(problem) => {
                Health::down(format!("no trustworthy answer: {problem}"))
            }
        }
    }

    /// The systemd status line's `gateway …`: short, the detail is in `/v1/status`.
    pub fn word(&self) -> &'static str {
        match self {
            GatewayState::NotContacted => "not contacted yet",
            GatewayState::Answering => "up",
            GatewayState::Unreachable => "unreachable",
            GatewayState::Untrustworthy(_) => "NOT TRUSTWORTHY (see /v1/status)",
        }
    }
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub version: String,
    pub scanner: Health,
    pub display: Health,
    /// Whether the gateway answered the last request that reached it (`GatewayState`); ok
    /// with "not contacted yet" before any request has come back.
    pub gateway: Health,
    /// Pay requests and queries waiting for the gateway to answer again.
    pub queue_depth: u64,
    /// A Pi has no real-time clock: until NTP has set it, TLS and journal times are suspect.
    pub clock_synchronized: bool,
    /// Damaged journals moved aside that a person has not acknowledged yet, one sentence
    /// each (where it is kept, what was salvaged, how to clear it); empty when all is well.
    #[serde(default)]
    pub journal_damage: Vec<String>,
    /// Whether the journal takes writes: down ("storage fault: …") from a failed write until
    /// every record is written again; meanwhile no payment is taken.
    #[serde(default = "storage_up")]
    pub storage: Health,
}

fn storage_up() -> Health {
    Health::up("writing")
}

impl StatusView {
    /// The status before the daemon has reported anything: nothing known to be up.
    pub fn starting() -> StatusView {
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_string(),
            scanner: Health::down("starting"),
            display: Health::down("starting"),
            gateway: GatewayState::NotContacted.health(),
            queue_depth: 0,
            clock_synchronized: false,
            journal_damage: Vec::new(),
            storage: storage_up(),
        }
    }
}

/// The numbers behind `GET /metrics`; `metrics::render` turns them into Prometheus text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// How many sales entered each state, in `SaleState` declaration order, every state
    /// listed (a zero is a fact worth exporting).
    pub sales_entered: Vec<(SaleState, u64)>,
    /// Gateway requests that failed: transport errors and untrustworthy answers.
    pub gateway_errors: u64,
    /// Scans refused before reaching the gateway (not a payment code, duplicate, no sale armed).
    pub scans_refused: u64,
    /// Sales whose result came after they had ended (`SaleView::late` newly set).
    pub late_results: u64,
    pub status: StatusView,
}

/// What the register API asks of the daemon. Commands that change a sale (`arm`, `disarm`,
/// `show_qr`, `recheck`) are async because they go through the daemon's one loop; reads are answered
/// from shared state without waiting for it, and `sale` may read the journal.
pub trait RegisterBackend: Send + Sync + 'static {
    fn arm(&self, req: ArmRequest) -> impl Future<Output = Result<SaleView, ArmError>> + Send;
    fn disarm(&self, sale_id: &str) -> impl Future<Output = Result<SaleView, DisarmError>> + Send;
    fn show_qr(&self, req: QrRequest) -> impl Future<Output = Result<QrView, QrError>> + Send;
    /// Asks the daemon to query the gateway about a sale it still follows, now (what
    /// `scanpay reconcile` does with a disagreement); the answer is the sale as it stands.
    fn recheck(&self, sale_id: &str)
        -> impl Future<Output = Result<SaleView, RecheckError>> + Send;
    /// The sale with this id (order numbers are equal ignoring ASCII case), whether it is
    /// recent or only in the journal, across restarts; `Ok(None)` only when the journal does
    /// not know it either.
    fn sale(
        &self,
        sale_id: &str,
    ) -> impl Future<Output = Result<Option<SaleView>, LookupError>> + Send;
    /// Most recent first (the board's window: `board::RECENT_SALES`).
    fn recent_sales(&self, limit: usize) -> Vec<SaleView>;
    /// Every change of any sale, in the order they happened.
    fn subscribe(&self) -> broadcast::Receiver<SaleView>;
    fn status(&self) -> StatusView;
    fn metrics(&self) -> MetricsSnapshot;
    /// One page of the journal for `GET /v1/journal` (`Journal::list_page`). Blocking: the
    /// server calls it on a blocking thread, page after page, while it streams the export.
    fn journal_page(&self, request: PageRequest) -> Result<Vec<SaleRecord>, JournalError>;
}
