//! `SaleBoard`: the ready `RegisterBackend` for the daemon.
//!
//! Reads (a sale, recent sales, status, metrics, the change feed) are served from this shared
//! board, which the daemon's loop keeps current with `publish`, `set_status` and the
//! `record_*` counters. The board remembers only the most recent `RECENT_SALES` sales (filled
//! from the journal at start by `recall`); a sale it no longer holds is read from the journal,
//! so every sale the journal knows is found by id, across restarts. Commands that change a
//! sale (arm, disarm, show a QR code, check one again) are not decided here: they travel as `RegisterCommand`s
//! over an mpsc channel into the daemon's one loop, which answers on the enclosed oneshot. So
//! the engine stays the single place where a sale's fate is decided, and the HTTP side never
//! races it.
//!
//! Sale ids are order numbers, and an order number names the same order whatever its ASCII
//! case (the gateway signs lowercased text, so the engine and the gateway client match
//! answers to orders that way): lookups and disarming here follow the same rule.
//!
//! Wiring it into the daemon's loop:
//!
//! ```no_run
//! use scanpay::register::{self, ArmError, RegisterCommand, SaleBoard};
//! use std::sync::Arc;
//! use scanpay::journal::{Journal, MemoryJournal};
//!
//! # async fn daemon() -> Result<(), Box<dyn std::error::Error>> {
//! let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
//! let (board, mut commands) = SaleBoard::new(journal.clone());
//! // What the journal knows, before serving: the recent sales and every order prefix.
//! board.recall(&journal.recovery(register::RECENT_SALES)?)?;
//! let server = register::serve("127.0.0.1:8470".parse()?, None, board.clone()).await?;
//! while let Some(command) = commands.recv().await {
//!     match command {
//!         RegisterCommand::Arm { req, reply } => {
//!             // Hand `req` to the engine; publish each view it produces, then answer.
//!             # let _ = req;
//!             let _ = reply.send(Err(ArmError::Refused { reason: "example".into() }));
//!         }
//!         RegisterCommand::Disarm { reply, .. } => drop(reply), // answered "unavailable"
//!         RegisterCommand::ShowQr { reply, .. } => drop(reply),
//!         RegisterCommand::Recheck { reply, .. } => drop(reply),
//!     }
//!     // Elsewhere in the loop: board.publish(view), board.update_status(..),
//!     // board.record_gateway_error(), board.record_scan_refused().
//! }
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::backend::{
    ArmError, ArmRequest, DisarmError, LookupError, MetricsSnapshot, QrError, QrRequest, QrView,
    RecheckError, RegisterBackend, StatusView,
};
use crate::engine::{SaleRecord, SaleState, SaleView};
use crate::journal::{Journal, JournalError, PageRequest};

/// Every state, in declaration order: the metric series and counter slots.
pub const ALL_STATES: [SaleState; 10] = [
    SaleState::Armed,
    SaleState::Submitting,
    SaleState::WaitingCustomer,
    SaleState::Queued,
    SaleState::Paid,
    SaleState::Failed,
    SaleState::Unknown,
    SaleState::Unresolved,
    SaleState::Expired,
    SaleState::Disarmed,
];

/// How many sales the board keeps in memory for `GET /v1/sales` and quick lookups. The
/// journal is the durable record, and a lookup of an older sale is answered from it.
pub const RECENT_SALES: usize = 200;

/// How many register commands may wait for the daemon's loop before senders wait too.
const COMMAND_QUEUE: usize = 16;

/// How many changes a slow event subscriber may fall behind before it is told it lagged.
const CHANGE_FEED: usize = 256;

/// A command from the register for the daemon's loop. The daemon answers on `reply`; if it
/// drops `reply` instead, the register is told the daemon is unavailable.
#[derive(Debug)]
pub enum RegisterCommand {
    /// Arm a sale. The daemon publishes the armed sale on the board, then replies with it.
    Arm {
        req: ArmRequest,
        reply: oneshot::Sender<Result<SaleView, ArmError>>,
    },
    /// Disarm an armed sale. The daemon publishes the disarmed sale, then replies with it.
    /// `sale_id` is spelled as the sale was issued.
    Disarm {
        sale_id: String,
        reply: oneshot::Sender<Result<SaleView, DisarmError>>,
    },
    /// Query the gateway about a sale the engine follows, now (`Engine::recheck`). The daemon
    /// replies with the sale as it stands. `sale_id` is spelled as the sale was issued.
    Recheck {
        sale_id: String,
        reply: oneshot::Sender<Result<SaleView, RecheckError>>,
    },
    /// Show a customer-scans-merchant QR code for this amount on the display.
    ShowQr {
        req: QrRequest,
        reply: oneshot::Sender<Result<QrView, QrError>>,
    },
}

/// Shared state between the daemon's loop (writer) and the register API (reader).
pub struct SaleBoard {
    inner: Mutex<Inner>,
    /// Where a sale the board no longer holds is looked up.
    journal: Arc<dyn Journal>,
    changes: broadcast::Sender<SaleView>,
    commands: mpsc::Sender<RegisterCommand>,
}

struct Inner {
    /// By `lookup_key` of the sale id.
    sales: HashMap<String, SaleView>,
    /// Lookup keys, oldest first.
    order: VecDeque<String>,
    /// Every order prefix seen, as issued: how an id typed in another case is spelled in the
    /// journal. A handful (one per `order_prefix` the terminal ever had).
    prefixes: BTreeSet<String>,
    status: StatusView,
    /// Indexed like `ALL_STATES`.
    entered: [u64; ALL_STATES.len()],
    gateway_errors: u64,
    scans_refused: u64,
    /// Sales published with `late` newly set: a result after the sale had ended.
    late_results: u64,
}

/// The key a sale id is held under: order numbers are equal ignoring ASCII case.
fn lookup_key(sale_id: &str) -> String {
    sale_id.to_ascii_uppercase()
}

/// An order number split after its prefix: `SaleRecord::order_number` makes
/// `{prefix}-{yyyymmdd}-{seq}` with an alphanumeric prefix, so the prefix holds its only
/// letters and the rest has no case.
fn split_prefix(sale_id: &str) -> Option<(&str, &str)> {
    sale_id.split_once('-')
}

impl SaleBoard {
    /// A new, empty board reading older sales from `journal`, and the receiving end of the
    /// register's commands for the daemon's loop.
    pub fn new(journal: Arc<dyn Journal>) -> (Arc<SaleBoard>, mpsc::Receiver<RegisterCommand>) {
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let (changes, _) = broadcast::channel(CHANGE_FEED);
        let board = SaleBoard {
            inner: Mutex::new(Inner {
                sales: HashMap::new(),
                order: VecDeque::new(),
                prefixes: BTreeSet::new(),
                status: StatusView::starting(),
                entered: [0; ALL_STATES.len()],
                gateway_errors: 0,
                scans_refused: 0,
                late_results: 0,
            }),
            journal,
            changes,
            commands,
        };
        (Arc::new(board), receiver)
    }

    /// Fills the board at start. `records` are in order number order (oldest first, as
    /// `Journal::recovery` returns them) and hold at least the newest `RECENT_SALES` of the
    /// journal: the ended sales among those become the recent list, newest first. They ended
    /// before this start, so they are neither counted in the metrics nor sent to subscribers.
    /// A sale not yet final is left to the engine: the daemon's loop publishes it when it
    /// starts, like any change. The order prefixes are learnt from every id the journal
    /// holds (its index, no record read), so an older sale typed in another case is found.
    pub fn recall(&self, records: &[SaleRecord]) -> Result<(), JournalError> {
        let window_start = records.len().saturating_sub(RECENT_SALES);
        let mut inner = self.lock();
        self.journal
            .each_sale_id(&mut |sale_id| inner.learn_prefix(sale_id))?;
        for record in &records[window_start..] {
            if record.state.is_final() {
                inner.remember(record.view());
            }
        }
        Ok(())
    }

    /// Records the latest view of a sale and tells every subscriber. Publishing a view equal to
    /// the one already held changes nothing and sends nothing (one event per change). Returns
    /// whether anything changed.
    pub fn publish(&self, view: SaleView) -> bool {
        let mut inner = self.lock();
        let (previous_state, was_late) = match inner.sales.get(&lookup_key(&view.sale_id)) {
            Some(held) if *held == view => return false,
            Some(held) => (Some(held.state), held.late),
            None => (None, false),
        };
        if previous_state != Some(view.state) {
            inner.entered[state_index(view.state)] += 1;
        }
        if view.late && !was_late {
            inner.late_results += 1;
        }
        inner.learn_prefix(&view.sale_id);
        inner.remember(view.clone());
        // Sent under the lock so the feed's order is the board's order. An error only means
        // nobody is listening.
        let _ = self.changes.send(view);
        true
    }

    /// The sale if the board holds it (a recent one), without asking the journal.
    pub fn held(&self, sale_id: &str) -> Option<SaleView> {
        self.lock().sales.get(&lookup_key(sale_id)).cloned()
    }

    /// How many long-polls and event streams are listening for changes right now.
    pub fn listeners(&self) -> usize {
        self.changes.receiver_count()
    }

    /// Replaces the whole status (the daemon's loop owns it).
    pub fn set_status(&self, status: StatusView) {
        self.lock().status = status;
    }

    /// Changes part of the status in place: `board.update_status(|s| s.queue_depth = 3)`.
    pub fn update_status(&self, change: impl FnOnce(&mut StatusView)) {
        change(&mut self.lock().status);
    }

    /// Counts one failed gateway request (transport error or untrustworthy answer).
    pub fn record_gateway_error(&self) {
        self.lock().gateway_errors += 1;
    }

    /// Counts one scan refused before it reached the gateway.
    pub fn record_scan_refused(&self) {
        self.lock().scans_refused += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock left plain data behind, still consistent enough to
        // report; keep serving rather than take the register API down with it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The spellings under which the journal may hold `sale_id`: as given first, then with
    /// its prefix as issued, for each issued prefix equal to it ignoring case.
    fn journal_spellings(&self, sale_id: &str) -> Vec<String> {
        let mut spellings = vec![sale_id.to_string()];
        if let Some((prefix, rest)) = split_prefix(sale_id) {
            let inner = self.lock();
            spellings.extend(
                inner
                    .prefixes
                    .iter()
                    .filter(|issued| issued.eq_ignore_ascii_case(prefix) && *issued != prefix)
                    .map(|issued| format!("{issued}-{rest}")),
            );
        }
        spellings
    }

    /// Reads a sale the board does not hold from the journal, off the runtime's core threads
    /// (a read may wait for the disk).
    async fn read_journal(&self, sale_id: &str) -> Result<Option<SaleView>, LookupError> {
        let spellings = self.journal_spellings(sale_id);
        let journal = self.journal.clone();
        let found = tokio::task::spawn_blocking(move || -> Result<_, JournalError> {
            for spelling in spellings {
                if let Some(record) = journal.get(&spelling)? {
                    return Ok(Some(record.view()));
                }
            }
            Ok(None)
        })
        .await;
        let shown = || sale_id.chars().take(64).collect::<String>();
        match found {
            Ok(Ok(view)) => Ok(view),
            Ok(Err(error)) => Err(LookupError {
                sale_id: shown(),
                detail: error.to_string(),
            }),
            Err(join) => Err(LookupError {
                sale_id: shown(),
                detail: format!("the journal read did not finish ({join})"),
            }),
        }
    }

    async fn command<T, E>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, E>>) -> RegisterCommand,
        unavailable: E,
    ) -> Result<T, E> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(make(reply)).await.is_err() {
            return Err(unavailable);
        }
        answer.await.unwrap_or(Err(unavailable))
    }
}

impl Inner {
    fn learn_prefix(&mut self, sale_id: &str) {
        if let Some((prefix, _)) = split_prefix(sale_id) {
            if !self.prefixes.contains(prefix) {
                self.prefixes.insert(prefix.to_string());
            }
        }
    }

    /// Holds the view (replacing an older one of the same sale, which keeps its place in the
    /// list) and keeps the list within `RECENT_SALES`.
    fn remember(&mut self, view: SaleView) {
        let key = lookup_key(&view.sale_id);
        if self.sales.insert(key.clone(), view).is_none() {
            self.order.push_back(key);
            if self.order.len() > RECENT_SALES {
                self.forget_oldest();
            }
        }
    }

    /// Drops the oldest sale that has ended; if none has, the oldest of all.
    fn forget_oldest(&mut self) {
        let position = self
            .order
            .iter()
            .position(|key| self.sales.get(key).is_none_or(|s| s.state.is_final()))
            .unwrap_or(0);
        if let Some(key) = self.order.remove(position) {
            self.sales.remove(&key);
        }
    }
}

fn state_index(state: SaleState) -> usize {
    ALL_STATES
        .iter()
        .position(|&s| s == state)
        .expect("ALL_STATES lists every state")
}

impl RegisterBackend for SaleBoard {
    async fn arm(&self, req: ArmRequest) -> Result<SaleView, ArmError> {
        let view = self
            .command(
                |reply| RegisterCommand::Arm { req, reply },
                ArmError::Unavailable,
            )
            .await?;
        // The daemon should already have published it; make sure a GET right after the 201
        // finds it, without overwriting anything newer the daemon published since.
        if self.held(&view.sale_id).is_none() {
            self.publish(view.clone());
        }
        Ok(view)
    }

    async fn disarm(&self, sale_id: &str) -> Result<SaleView, DisarmError> {
        // The engine knows a sale by its id as issued; an armed sale is always held here.
        let issued = self
            .held(sale_id)
            .map_or_else(|| sale_id.to_string(), |held| held.sale_id);
        let result = self
            .command(
                |reply| RegisterCommand::Disarm {
                    sale_id: issued,
                    reply,
                },
                DisarmError::Unavailable,
            )
            .await;
        match result {
            // The engine forgets a sale once it has ended; the register must still hear that
            // it was scanned (409 with its state), not "no such sale": `scanpay charge`
            // disarms when its wait runs out, and a sale paid at that moment (or before a
            // restart) must not look like a failed charge.
            Err(DisarmError::NotFound { sale_id }) => match self.sale(&sale_id).await? {
                Some(ended) => Err(DisarmError::NotArmed {
                    sale_id: ended.sale_id,
                    state: ended.state,
                }),
                None => Err(DisarmError::NotFound { sale_id }),
            },
            other => other,
        }
    }

    async fn recheck(&self, sale_id: &str) -> Result<SaleView, RecheckError> {
        let issued = self
            .held(sale_id)
            .map_or_else(|| sale_id.to_string(), |held| held.sale_id);
        let result = self
            .command(
                |reply| RegisterCommand::Recheck {
                    sale_id: issued,
                    reply,
                },
                RecheckError::Unavailable,
            )
            .await;
        match result {
            // The engine forgets a sale once it has ended: the journal says what it became.
            Err(RecheckError::NotFound { sale_id }) => match self.sale(&sale_id).await? {
                Some(ended) => Err(RecheckError::Ended {
                    sale_id: ended.sale_id,
                    state: ended.state,
                    needs_review: ended.needs_review,
                }),
                None => Err(RecheckError::NotFound { sale_id }),
            },
            other => other,
        }
    }

    async fn show_qr(&self, req: QrRequest) -> Result<QrView, QrError> {
        self.command(
            |reply| RegisterCommand::ShowQr { req, reply },
            QrError::Unavailable,
        )
        .await
    }

    async fn sale(&self, sale_id: &str) -> Result<Option<SaleView>, LookupError> {
        match self.held(sale_id) {
            Some(view) => Ok(Some(view)),
            None => self.read_journal(sale_id).await,
        }
    }

    fn recent_sales(&self, limit: usize) -> Vec<SaleView> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .rev()
            .filter_map(|key| inner.sales.get(key).cloned())
            .take(limit)
            .collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<SaleView> {
        self.changes.subscribe()
    }

    fn status(&self) -> StatusView {
        self.lock().status.clone()
    }

    fn metrics(&self) -> MetricsSnapshot {
        let inner = self.lock();
        MetricsSnapshot {
            sales_entered: ALL_STATES.iter().copied().zip(inner.entered).collect(),
            gateway_errors: inner.gateway_errors,
            scans_refused: inner.scans_refused,
            late_results: inner.late_results,
            status: inner.status.clone(),
        }
    }

    fn journal_page(&self, request: PageRequest) -> Result<Vec<SaleRecord>, JournalError> {
        self.journal.list_page(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::MemoryJournal;
    use crate::protocol::Fen;
    use crate::register::sale_fixtures::sale_view;

    fn sale(id: &str, state: SaleState) -> SaleView {
        sale_view(id, state)
    }

    fn entered(board: &SaleBoard, state: SaleState) -> u64 {
        board
            .metrics()
            .sales_entered
            .into_iter()
            .find(|(s, _)| *s == state)
            .map(|(_, n)| n)
            .unwrap()
    }

    #[test]
    fn publishing_the_same_view_twice_is_one_change() {
        let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
        let mut feed = board.subscribe();
        assert!(board.publish(sale("a", SaleState::Armed)));
        assert!(!board.publish(sale("a", SaleState::Armed)));
        assert!(board.publish(sale("a", SaleState::Submitting)));
        assert_eq!(feed.try_recv().unwrap().state, SaleState::Armed);
        assert_eq!(feed.try_recv().unwrap().state, SaleState::Submitting);
        assert!(feed.try_recv().is_err());
        assert_eq!(entered(&board, SaleState::Armed), 1);
        assert_eq!(entered(&board, SaleState::Submitting), 1);
    }

    #[test]
    fn a_late_result_is_counted_once() {
        let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
        board.publish(sale("a", SaleState::Failed));
        assert_eq!(board.metrics().late_results, 0);
        let late = SaleView {
            late: true,
            ..sale("a", SaleState::Paid)
        };
        assert!(board.publish(late.clone()));
        let mut with_trade_no = late;
        with_trade_no.trade_no = Some("G1".to_string());
        assert!(board.publish(with_trade_no));
        assert_eq!(board.metrics().late_results, 1);
    }

    #[test]
    fn a_change_within_the_same_state_is_published_but_not_counted_again() {
        let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
        board.publish(sale("a", SaleState::Paid));
        let mut with_trade_no = sale("a", SaleState::Paid);
        with_trade_no.trade_no = Some("G1".to_string());
        assert!(board.publish(with_trade_no));
        assert_eq!(entered(&board, SaleState::Paid), 1);
        assert_eq!(board.held("a").unwrap().trade_no.as_deref(), Some("G1"));
    }

    #[test]
    fn recent_sales_are_newest_first_and_bounded_keeping_unfinished_ones() {
        let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
        board.publish(sale("open", SaleState::Unresolved));
        for n in 0..RECENT_SALES {
            board.publish(sale(&format!("s{n}"), SaleState::Paid));
        }
        let recent = board.recent_sales(usize::MAX);
        assert_eq!(recent.len(), RECENT_SALES);
        assert_eq!(recent[0].sale_id, format!("s{}", RECENT_SALES - 1));
        assert!(board.held("open").is_some(), "an unresolved sale is kept");
        assert!(board.held("s0").is_none(), "the oldest finished sale went");
        assert_eq!(board.recent_sales(2).len(), 2);
    }

    #[tokio::test]
    async fn commands_reach_the_daemon_and_a_dropped_reply_means_unavailable() {
        let (board, mut commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
        let daemon = tokio::spawn(async move {
            match commands.recv().await {
                Some(RegisterCommand::Arm { req, reply }) => {
                    let mut view = sale("a", SaleState::Armed);
                    view.amount_fen = req.amount_fen;
                    reply.send(Ok(view)).unwrap();
                }
                other => panic!("expected Arm, got {other:?}"),
            }
            match commands.recv().await {
                Some(RegisterCommand::Disarm { reply, .. }) => drop(reply),
                other => panic!("expected Disarm, got {other:?}"),
            }
        });
        let armed = board
            .arm(ArmRequest {
                amount_fen: Fen(99),
                subject: None,
                operator_id: None,
            })
            .await
            .unwrap();
        assert_eq!(armed.amount_fen, Fen(99));
        assert_eq!(board.held("a").unwrap().amount_fen, Fen(99));
        assert_eq!(board.disarm("a").await, Err(DisarmError::Unavailable));
        daemon.await.unwrap();
        // The loop has gone: commands are refused, not hung.
        assert_eq!(
            board
                .show_qr(QrRequest {
                    amount_fen: Fen(1),
                    subject: None
                })
                .await,
            Err(QrError::Unavailable)
        );
    }
}
