//! `SaleBoard`: the ready `RegisterBackend` for the daemon.
//!
//! Reads (a sale, recent sales, status, metrics, the change feed) are served from this shared
//! board, which the daemon's loop keeps current with `publish`, `set_status` and the
//! `record_*` counters. Commands that change a sale (arm, disarm, show a QR code) are not
//! decided here: they travel as `RegisterCommand`s over an mpsc channel into the daemon's one
//! loop, which answers on the enclosed oneshot. So the engine stays the single place where a
//! sale's fate is decided, and the HTTP side never races it.
//!
//! Wiring it into the daemon's loop:
//!
//! ```no_run
//! use scanpay::register::{self, ArmError, RegisterCommand, SaleBoard};
//!
//! # async fn daemon() -> Result<(), Box<dyn std::error::Error>> {
//! let (board, mut commands) = SaleBoard::new();
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
//!     }
//!     // Elsewhere in the loop: board.publish(view), board.update_status(..),
//!     // board.record_gateway_error(), board.record_scan_refused().
//! }
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::backend::{
    ArmError, ArmRequest, DisarmError, MetricsSnapshot, QrError, QrRequest, QrView,
    RegisterBackend, StatusView,
};
use crate::engine::{SaleState, SaleView};

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

/// How many sales the board remembers for `GET /v1/sales` and lookups. The journal is the
/// durable record; this is only the register's window onto recent activity.
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
    Disarm {
        sale_id: String,
        reply: oneshot::Sender<Result<SaleView, DisarmError>>,
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
    changes: broadcast::Sender<SaleView>,
    commands: mpsc::Sender<RegisterCommand>,
}

struct Inner {
    sales: HashMap<String, SaleView>,
    /// Sale ids, oldest first.
    order: VecDeque<String>,
    status: StatusView,
    /// Indexed like `ALL_STATES`.
    entered: [u64; ALL_STATES.len()],
    gateway_errors: u64,
    scans_refused: u64,
}

impl SaleBoard {
    /// A new, empty board, and the receiving end of the register's commands for the daemon's
    /// loop.
    pub fn new() -> (Arc<SaleBoard>, mpsc::Receiver<RegisterCommand>) {
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let (changes, _) = broadcast::channel(CHANGE_FEED);
        let board = SaleBoard {
            inner: Mutex::new(Inner {
                sales: HashMap::new(),
                order: VecDeque::new(),
                status: StatusView::starting(),
                entered: [0; ALL_STATES.len()],
                gateway_errors: 0,
                scans_refused: 0,
            }),
            changes,
            commands,
        };
        (Arc::new(board), receiver)
    }

    /// Records the latest view of a sale and tells every subscriber. Publishing a view equal to
    /// the one already held changes nothing and sends nothing (one event per change). Returns
    /// whether anything changed.
    pub fn publish(&self, view: SaleView) -> bool {
        let mut inner = self.lock();
        let previous_state = match inner.sales.get(&view.sale_id) {
            Some(held) if *held == view => return false,
            Some(held) => Some(held.state),
            None => None,
        };
        if previous_state != Some(view.state) {
            inner.entered[state_index(view.state)] += 1;
        }
        if previous_state.is_none() {
            inner.order.push_back(view.sale_id.clone());
            if inner.order.len() > RECENT_SALES {
                inner.forget_oldest();
            }
        }
        inner.sales.insert(view.sale_id.clone(), view.clone());
        // Sent under the lock so the feed's order is the board's order. An error only means
        // nobody is listening.
        let _ = self.changes.send(view);
        true
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
    /// Drops the oldest sale that has ended; if none has, the oldest of all.
    fn forget_oldest(&mut self) {
        let position = self
            .order
            .iter()
            .position(|id| self.sales.get(id).is_none_or(|s| s.state.is_final()))
            .unwrap_or(0);
        if let Some(id) = self.order.remove(position) {
            self.sales.remove(&id);
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
        if self.sale(&view.sale_id).is_none() {
            self.publish(view.clone());
        }
        Ok(view)
    }

    async fn disarm(&self, sale_id: &str) -> Result<SaleView, DisarmError> {
        let sale_id = sale_id.to_string();
        self.command(
            |reply| RegisterCommand::Disarm { sale_id, reply },
            DisarmError::Unavailable,
        )
        .await
    }

    async fn show_qr(&self, req: QrRequest) -> Result<QrView, QrError> {
        self.command(
            |reply| RegisterCommand::ShowQr { req, reply },
            QrError::Unavailable,
        )
        .await
    }

    fn sale(&self, sale_id: &str) -> Option<SaleView> {
        self.lock().sales.get(sale_id).cloned()
    }

    fn recent_sales(&self, limit: usize) -> Vec<SaleView> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.sales.get(id).cloned())
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
            status: inner.status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fen;

    fn sale(id: &str, state: SaleState) -> SaleView {
        SaleView {
            sale_id: id.to_string(),
            out_trade_no: format!("T-{id}"),
            amount_fen: Fen(1250),
            subject: "Coffee".to_string(),
            state,
            payway: None,
            trade_no: None,
            err_code: None,
            err_code_des: None,
            created_at: "2026-11-25T20:00:00Z".to_string(),
            updated_at: "2026-11-25T20:00:00Z".to_string(),
        }
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
        let (board, _commands) = SaleBoard::new();
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
    fn a_change_within_the_same_state_is_published_but_not_counted_again() {
        let (board, _commands) = SaleBoard::new();
        board.publish(sale("a", SaleState::Paid));
        let mut with_trade_no = sale("a", SaleState::Paid);
        with_trade_no.trade_no = Some("G1".to_string());
        assert!(board.publish(with_trade_no));
        assert_eq!(entered(&board, SaleState::Paid), 1);
        assert_eq!(board.sale("a").unwrap().trade_no.as_deref(), Some("G1"));
    }

    #[test]
    fn recent_sales_are_newest_first_and_bounded_keeping_unfinished_ones() {
        let (board, _commands) = SaleBoard::new();
        board.publish(sale("open", SaleState::Unresolved));
        for n in 0..RECENT_SALES {
            board.publish(sale(&format!("s{n}"), SaleState::Paid));
        }
        let recent = board.recent_sales(usize::MAX);
        assert_eq!(recent.len(), RECENT_SALES);
        assert_eq!(recent[0].sale_id, format!("s{}", RECENT_SALES - 1));
        assert!(board.sale("open").is_some(), "an unresolved sale is kept");
        assert!(board.sale("s0").is_none(), "the oldest finished sale went");
        assert_eq!(board.recent_sales(2).len(), 2);
    }

    #[tokio::test]
    async fn commands_reach_the_daemon_and_a_dropped_reply_means_unavailable() {
        let (board, mut commands) = SaleBoard::new();
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
        assert_eq!(board.sale("a").unwrap().amount_fen, Fen(99));
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
