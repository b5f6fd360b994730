//! The one driver loop: a closed enum of events in, the engine's outputs carried out in order.
//!
//! Everything that can change a sale comes through here, one event at a time: scans, register
//! commands, gateway replies, callbacks and the engine's own timers. After each event the
//! engine's outputs are drained *in order*; a `Journal` output is written and synced before
//! the next output runs, so no request leaves before the state it depends on is on disk
//! (invariant 3, ARCHITECTURE.md).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::clock;
use super::dispatch::{self, Reply};
use super::screen_task::ScreenSink;
use crate::display::StatusFlags;
use crate::engine::{
    ArmRefusal, DisarmRefusal, Engine, Output, RecheckRefusal, Screen, SendFailure,
};
use crate::gateway::Gateway;
use crate::journal::Journal;
use crate::protocol::messages::WebPayRequest;
use crate::protocol::{AnswerTo, Call, Fen, Outcome, TradeAnswer};
use crate::register::{self, GatewayState, Health, RegisterCommand, SaleBoard};
use crate::scanner::ScannerEvent;
use crate::systemd::{Notification, Notifier};

/// What a sale gets when the register leaves it out.
#[derive(Debug, Clone)]
pub struct SaleDefaults {
    pub subject: String,
    pub operator_id: String,
    /// Kiosk mode: a sale of this amount is armed whenever the counter is free (the
    /// engine's timer: `Engine::start_kiosk`), and the register cannot arm its own.
    pub fixed_amount: Option<Fen>,
}

/// The driver's inputs and outputs, wired by `daemon::run` (or a test).
pub struct Driver<G: Gateway + 'static> {
    pub engine: Engine,
    pub journal: Arc<dyn Journal>,
    pub gateway: Arc<G>,
    pub notify_url: String,
    pub defaults: SaleDefaults,
    pub board: Arc<SaleBoard>,
    pub commands: mpsc::Receiver<RegisterCommand>,
    pub scanner: mpsc::Receiver<ScannerEvent>,
    pub callbacks: mpsc::Receiver<TradeAnswer>,
    pub screens: ScreenSink,
    pub notifier: Arc<dyn Notifier>,
    pub watchdog: Option<Duration>,
    /// How long to wait at shutdown for requests already on the wire.
    pub drain_timeout: Duration,
    pub clock_synced: Box<dyn Fn() -> bool + Send>,
}

/// Everything the loop reacts to.
enum Event {
    Scanner(Option<ScannerEvent>),
    Command(RegisterCommand),
    Reply(Reply),
    Callback(TradeAnswer),
    Timer,
    Watchdog,
    Shutdown,
}

/// The loop's own state, beside the engine's.
struct LoopState {
    replies_tx: mpsc::UnboundedSender<Reply>,
    in_flight: usize,
    engine_screen: Screen,
    scanner_missing: bool,
    flags: StatusFlags,
    /// The last request's failure other than "offline", until a verified answer comes.
    gateway_problem: Option<String>,
    /// Whether any request has come back from the gateway since the start.
    gateway_contacted: bool,
    /// The last line sent to systemd as STATUS=.
    status_line: String,
    /// `SALE_ID STATE` of the last change reported to the register.
    last_report: Option<String>,
    /// Changes the engine reported in a drain that sent a request, published once the
    /// request is on the wire (`publish_reports`): publishing wakes the register API's
    /// long-polls, whose threads would take the CPU from the till before the request left.
    unpublished: Vec<crate::engine::SaleView>,
    /// The engine's time: wall time that never steps back.
    clock: clock::LoopClock,
    /// Whether storage was faulted after the last event (to log when it clears).
    storage_was_faulted: bool,
}

impl<G: Gateway + 'static> Driver<G> {
    /// Runs until `shutdown` resolves, then lets requests already sent come back (up to
    /// `drain_timeout`) so their answers are journaled; everything else resumes at the next
    /// start from the journal.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let (replies_tx, mut replies) = mpsc::unbounded_channel();
        let mut state = LoopState {
            replies_tx,
            in_flight: 0,
            engine_screen: Screen::Ready,
            scanner_missing: false,
            flags: StatusFlags {
                clock_unsynced: !(self.clock_synced)(),
                journal_damaged: false,
            },
            gateway_problem: None,
            gateway_contacted: false,
            status_line: String::new(),
            last_report: None,
            unpublished: Vec::new(),
            clock: clock::LoopClock::new(),
            storage_was_faulted: false,
        };
        self.check_journal_damage(&mut state);
        if let Some(amount) = self.defaults.fixed_amount {
            // The first sale is armed at once, the next ones on the engine's timer.
            let (subject, operator) = (
                self.defaults.subject.clone(),
                self.defaults.operator_id.clone(),
            );
            let now = state.clock.now();
            self.engine.start_kiosk(amount, subject, operator, now);
        }
        self.after_event(&mut state);
        // The engine reports only what recovery changed; the register must also find the
        // sales recovered unchanged (still waiting, unresolved). Views already published
        // are not sent again.
        for view in self.engine.unfinished() {
            self.board.publish(view);
        }
        self.notify(Notification::Ready);
        self.report_status(&mut state);
        tokio::pin!(shutdown);
        let mut scanner_open = true;
        let mut watchdog =
            tokio::time::interval(self.watchdog.unwrap_or(Duration::from_secs(3600)));
        let mut clock_check = tokio::time::interval(Duration::from_secs(10));

        loop {
            let timer = self.next_wakeup(&mut state);
            let event = tokio::select! {
                biased;
                () = &mut shutdown => Event::Shutdown,
                Some(reply) = replies.recv() => Event::Reply(reply),
                Some(command) = self.commands.recv() => Event::Command(command),
                event = self.scanner.recv(), if scanner_open => Event::Scanner(event),
                Some(answer) = self.callbacks.recv() => Event::Callback(answer),
                () = sleep_until(timer) => Event::Timer,
                _ = watchdog.tick(), if self.watchdog.is_some() => Event::Watchdog,
                _ = clock_check.tick() => {
                    let unsynced = !(self.clock_synced)();
                    if unsynced != state.flags.clock_unsynced {
                        state.flags.clock_unsynced = unsynced;
                        // Now, not at the next event: an idle terminal may have none for hours.
                        self.board.update_status(|s| s.clock_synchronized = !unsynced);
                        self.screens.set_flags(state.flags);
                    }
                    // A person acknowledges a damaged journal by removing it: seen here.
                    if self.check_journal_damage(&mut state) {
                        self.screens.set_flags(state.flags);
                    }
                    continue;
                }
            };
            let now = state.clock.now();
            match event {
                Event::Shutdown => break,
                Event::Reply(reply) => {
                    state.in_flight -= 1;
                    self.handle_reply(reply, &mut state, now);
                }
                Event::Command(command) => self.handle_command(command, &mut state, now),
                Event::Scanner(None) => {
                    scanner_open = false;
                    tracing::error!("the scanner task has stopped; scans are no longer read until scanpay restarts");
                    // The cashier must see it: the screen would otherwise still say "scan".
                    if !state.scanner_missing {
                        state.scanner_missing = true;
                        self.board.update_status(|s| {
                            s.scanner = Health::down(
                                "the scanner task has stopped; restart scanpay (systemctl restart scanpay)",
                            )
                        });
                    }
                }
                Event::Scanner(Some(event)) => self.handle_scanner(event, &mut state, now),
                Event::Callback(answer) => {
                    let says_paid = answer.outcome(AnswerTo::Notify) == Outcome::Paid;
                    let order = answer.out_trade_no.clone().unwrap_or_default();
                    // A gateway repeats its callbacks: "paid" again for a sale already paid
                    // is normal, not a charge to look into.
                    let already_paid = self
                        .board
                        .held(&order)
                        .is_some_and(|v| v.state == crate::engine::SaleState::Paid);
                    match self.engine.handle_notify(answer, now) {
                        Err(error) if says_paid && already_paid => {
                            tracing::debug!(%error, "repeated paid callback for a sale already paid; ignored")
                        }
                        // A verified "paid" for a sale this terminal no longer follows (it
                        // ended failed or expired, or is another terminal's) may be a charge
                        // the merchant believes did not happen: the callback comes once, so
                        // say it loudly instead of in passing.
                        Err(error) if says_paid => tracing::error!(
                            %error,
                            "the gateway says order {order} is PAID; look it up with `scanpay query {order}` and compare with the journal (`scanpay journal`)"
                        ),
                        Err(error) => tracing::info!(%error, "notify callback ignored"),
                        Ok(()) => {}
                    }
                }
                Event::Timer => self.engine.handle_timeout(now),
                Event::Watchdog => self.notify(Notification::Watchdog),
            }
            if self.drain_outputs(&mut state, true) {
                // Requests first: their tasks share this thread (`till.rs`), and the screen,
                // the status and the logs can wait the few microseconds it takes them to
                // reach the wire.
                tokio::task::yield_now().await;
            }
            self.after_event(&mut state);
            self.report_status(&mut state);
        }

        self.notify(Notification::Stopping);
        // Answers still coming in may free the counter: no new sale is armed while stopping.
        self.engine.stop_kiosk();
        self.drain_in_flight(&mut state, &mut replies).await;
        // Deferred versions (what a power cut may lose) are made durable before exit.
        if let Err(error) = self.journal.sync() {
            tracing::warn!(%error, "could not sync the journal's last versions at stop; a restart looks those sales up again");
        }
    }

    /// Waits for requests already sent, so their answers reach the journal before exit.
    async fn drain_in_flight(
        &mut self,
        state: &mut LoopState,
        replies: &mut mpsc::UnboundedReceiver<Reply>,
    ) {
        let give_up = Instant::now() + self.drain_timeout;
        while state.in_flight > 0 {
            tracing::info!(
                in_flight = state.in_flight,
                "waiting for requests on the wire before stopping"
            );
            match tokio::time::timeout_at(give_up, replies.recv()).await {
                Ok(Some(reply)) => {
                    state.in_flight -= 1;
                    let now = state.clock.now();
                    self.handle_reply(reply, state, now);
                    // Journal the answer, but send nothing new while stopping.
                    self.drain_outputs(state, false);
                }
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        in_flight = state.in_flight,
                        "stopping with requests unanswered; they are journaled and will be looked up at the next start"
                    );
                    break;
                }
            }
        }
    }

    fn handle_reply(&mut self, reply: Reply, state: &mut LoopState, now: crate::engine::Timestamp) {
        // The installer's first question is "does the gateway accept us?": an answer that does
        // not verify (wrong key, sign_lowercase_values) shows in /v1/status until one does.
        state.gateway_contacted = true;
        match &reply.result {
            Ok(_) => state.gateway_problem = None,
            Err(SendFailure::Unknown(detail) | SendFailure::Invalid(detail)) => {
                state.gateway_problem = Some(detail.clone())
            }
            Err(SendFailure::Offline(_)) => {}
        }
        if let Err(failure) = &reply.result {
            self.board.record_gateway_error();
            match failure {
                SendFailure::Offline(detail) => {
                    tracing::warn!(sale = %reply.sale_id, %detail, "gateway unreachable")
                }
                SendFailure::Unknown(detail) => {
                    tracing::warn!(sale = %reply.sale_id, %detail, "no trustworthy answer")
                }
                SendFailure::Invalid(detail) => {
                    tracing::error!(sale = %reply.sale_id, %detail, "request refused locally")
                }
            }
        }
        match reply.to {
            Call::Pay => self
                .engine
                .handle_pay_reply(&reply.sale_id, reply.result, now),
            Call::Query => self
                .engine
                .handle_query_reply(&reply.sale_id, reply.result, now),
        }
    }

    fn handle_command(
        &mut self,
        command: RegisterCommand,
        state: &mut LoopState,
        now: crate::engine::Timestamp,
    ) {
        match command {
            RegisterCommand::Arm { req, reply } => {
                let result = if self.defaults.fixed_amount.is_some() {
                    Err(register::ArmError::Refused {
                        reason:
                            "this terminal is in fixed-amount (kiosk) mode; it arms its own sales"
                                .into(),
                    })
                } else {
                    let subject = req.subject.unwrap_or_else(|| self.defaults.subject.clone());
                    let operator = req
                        .operator_id
                        .unwrap_or_else(|| self.defaults.operator_id.clone());
                    self.engine
                        .arm(req.amount_fen, subject, operator, now)
                        .map_err(arm_error)
                };
                // Publish the armed sale before answering, so a GET right after the 201 finds
                // it, and answer only once its record's write is known (a 201 for a sale the
                // journal could not record would be a sale that is not there).
                self.drain_outputs(state, true);
                let result =
                    result.and_then(|sale| self.engine.confirm_arm(sale).map_err(arm_error));
                let _ = reply.send(result);
            }
            RegisterCommand::Disarm { sale_id, reply } => {
                let result = self.engine.disarm(&sale_id, now).map_err(disarm_error);
                self.drain_outputs(state, true);
                let _ = reply.send(result);
            }
            RegisterCommand::Recheck { sale_id, reply } => {
                let result = self.engine.recheck(&sale_id, now).map_err(recheck_error);
                match &result {
                    Ok(view) => {
                        tracing::info!(sale = %sale_id, state = view.state.as_str(), "asked to check the sale with the gateway again (reconciliation)")
                    }
                    Err(refusal) => {
                        tracing::info!(sale = %sale_id, %refusal, "recheck refused")
                    }
                }
                self.drain_outputs(state, true);
                let _ = reply.send(result);
            }
            RegisterCommand::ShowQr { req, reply } => {
                let _ = reply.send(self.show_qr(req, state, now));
            }
        }
    }

    /// A customer-scans-merchant sale: the engine numbers and journals it, the gateway
    /// client signs its pay page, and the engine shows the page as a QR code and follows it.
    fn show_qr(
        &mut self,
        req: register::QrRequest,
        state: &mut LoopState,
        now: crate::engine::Timestamp,
    ) -> Result<register::QrView, register::QrError> {
        let subject = req.subject.unwrap_or_else(|| self.defaults.subject.clone());
        let operator_id = self.defaults.operator_id.clone();
        let (gateway, notify_url) = (self.gateway.clone(), self.notify_url.clone());
        let mut shown_url = None;
        let page = |out_trade_no: &str| {
            let url = gateway
                .h5_url(&WebPayRequest {
                    out_trade_no: out_trade_no.to_string(),
                    total_amount: req.amount_fen,
                    subject: subject.clone(),
                    operator_id: operator_id.clone(),
                    notify_url: notify_url.clone(),
                    // The customer's browser has nowhere better to go back to.
                    return_url: notify_url.clone(),
                    payway: None,
                })
                .map_err(|e| e.to_string())?;
            shown_url = Some(url.clone());
            Ok(url)
        };
        let result = self.engine.arm_qr(
            req.amount_fen,
            subject.clone(),
            operator_id.clone(),
            page,
            now,
        );
        self.drain_outputs(state, true);
        // As for an arm: a sale whose record the journal could not take is not shown.
        match result.and_then(|sale| self.engine.confirm_arm(sale)) {
            Ok(sale) => Ok(register::QrView {
                url: shown_url.unwrap_or_default(),
                out_trade_no: sale.out_trade_no,
                amount_fen: sale.amount_fen,
            }),
            Err(ArmRefusal::CounterBusy { sale_id, state }) => {
                Err(register::QrError::Busy { sale_id, state })
            }
            Err(refusal @ ArmRefusal::StorageFault { .. }) => {
                Err(register::QrError::StorageFault {
                    reason: refusal.to_string(),
                })
            }
            Err(
                refusal @ (ArmRefusal::ZeroAmount { .. }
                | ArmRefusal::PayPage { .. }
                | ArmRefusal::BadField { .. }),
            ) => Err(register::QrError::Failed {
                reason: refusal.to_string(),
            }),
        }
    }

    fn handle_scanner(
        &mut self,
        event: ScannerEvent,
        state: &mut LoopState,
        now: crate::engine::Timestamp,
    ) {
        // The scanner task logs its own events; here they only change state and status.
        match event {
            ScannerEvent::Scanned(text) => self.engine.handle_scan(text.as_str(), now),
            ScannerEvent::Refused { .. } => self.board.record_scan_refused(),
            ScannerEvent::Connected { source } => {
                state.scanner_missing = false;
                self.board.update_status(|s| s.scanner = Health::up(source));
            }
            ScannerEvent::Disconnected { reason, .. } => {
                state.scanner_missing = true;
                self.board
                    .update_status(|s| s.scanner = Health::down(reason.to_string()));
            }
        }
    }

    /// After every event: carry out the outputs, keep the status current.
    fn after_event(&mut self, state: &mut LoopState) {
        self.drain_outputs(state, true);
        self.publish_reports(state);
        let faulted = self.engine.storage_fault().is_some();
        if !faulted && state.storage_was_faulted {
            tracing::info!(
                "the journal takes writes again: storage fault cleared, held pays go out"
            );
        }
        state.storage_was_faulted = faulted;
        self.refresh_status(state);
        let screen = if state.scanner_missing
            && matches!(state.engine_screen, Screen::Ready | Screen::Armed { .. })
        {
            Screen::ScannerMissing
        } else {
            state.engine_screen.clone()
        };
        self.screens.show(screen, state.flags);
    }

    /// Brings the status's engine-derived parts up to date. Also called just before a sale's
    /// new state is published, so a client that sees the sale's outcome sees a status at
    /// least as recent (the gateway's answer behind a paid sale shows as "answering").
    fn refresh_status(&self, state: &LoopState) {
        let queue_depth = self.engine.queue_depth() as u64;
        let gateway = self.gateway_state(state).health();
        let storage = self.engine.storage_fault().map(str::to_string);
        self.board.update_status(|s| {
            s.queue_depth = queue_depth;
            s.clock_synchronized = !state.flags.clock_unsynced;
            s.storage = match &storage {
                Some(detail) => Health::down(format!("storage fault: {detail}")),
                None => Health::up("writing"),
            };
            s.gateway = gateway;
        });
    }

    /// Carries out the engine's outputs in order. Every journal write's result goes back to
    /// the engine at once, before the next output: on a failure the engine takes back the
    /// pays waiting behind it (a request must not leave before the state it depends on is on
    /// disk) and faults storage until the record is written again (`engine/storage.rs`).
    /// With `may_send` false (stopping) every request is held back (reported as never sent).
    /// Returns whether a request was sent; if so, the changes to report wait for
    /// `publish_reports` (see `LoopState::unpublished`), else they are published here.
    fn drain_outputs(&mut self, state: &mut LoopState, may_send: bool) -> bool {
        let mut sent = false;
        loop {
            let mut held_back = Vec::new();
            while let Some(output) = self.engine.poll_output() {
                match output {
                    Output::Journal(record, durability) => {
                        let now = state.clock.now();
                        // Blocks the till until the disk has it (`till.rs`).
                        match self.journal.write(&record, durability) {
                            Ok(()) => self.engine.journal_written(&record.sale_id, now),
                            Err(error) => {
                                if self.engine.storage_fault().is_none() {
                                    tracing::error!(%error, "journal write failed: storage fault; pays are held and the record is written again every 2 s");
                                } else {
                                    tracing::debug!(%error, "journal write failed again");
                                }
                                let detail = error.to_string();
                                self.engine.journal_failed(&record, &detail, now);
                            }
                        }
                    }
                    Output::Send(request) => {
                        if !may_send {
                            // Stopping: the engine must hear that this request never left, so
                            // the journal says so too (a pay stays queued and is sent at the
                            // next start, instead of being looked up as if it had arrived).
                            tracing::info!(sale = %request.sale_id(), "not sending while stopping; resumes at next start");
                            held_back.push(Reply {
                                to: request.call(),
                                sale_id: request.sale_id().to_string(),
                                result: Err(SendFailure::Offline(
                                    "not sent: scanpay was stopping".into(),
                                )),
                            });
                        } else {
                            state.in_flight += 1;
                            sent = true;
                            dispatch::spawn_request(
                                self.gateway.clone(),
                                self.notify_url.clone(),
                                request,
                                state.replies_tx.clone(),
                            );
                        }
                    }
                    Output::Show(screen) => state.engine_screen = screen,
                    // After the journal write before it (an output's order); see `unpublished`.
                    Output::Report(view) => state.unpublished.push(view),
                    Output::ScanRefused { reason } => {
                        tracing::warn!(%reason, "scan refused");
                        self.board.record_scan_refused();
                    }
                    Output::KioskNotArmed { reason } => {
                        tracing::warn!(%reason, "kiosk could not arm its sale; trying again shortly")
                    }
                }
            }
            if held_back.is_empty() {
                if !sent {
                    self.publish_reports(state);
                }
                return sent;
            }
            let now = state.clock.now();
            for reply in held_back {
                self.handle_reply(reply, state, now);
            }
        }
    }

    /// Logs and publishes the changes `drain_outputs` held (`LoopState::unpublished`), the
    /// status brought up to date first (see `refresh_status`).
    fn publish_reports(&self, state: &mut LoopState) {
        if state.unpublished.is_empty() {
            return;
        }
        self.refresh_status(state);
        for view in state.unpublished.drain(..) {
            tracing::info!(
                sale = %view.sale_id,
                state = view.state.as_str(),
                amount = %view.amount_fen,
                err_code = view.err_code.as_deref().unwrap_or(""),
                "sale"
            );
            state.last_report = Some(format!("{} {}", view.sale_id, view.state.as_str()));
            self.board.publish(view);
        }
    }

    /// The engine's next timer (its one table, kiosk re-arm included) as a loop instant.
    fn next_wakeup(&self, state: &mut LoopState) -> Option<Instant> {
        let now = state.clock.now();
        self.engine
            .poll_timeout()
            .map(|deadline| Instant::now() + clock::until(deadline, now))
    }

    /// Shows damaged journals not yet acknowledged in the status and on the display; says
    /// whether the display flag changed.
    fn check_journal_damage(&self, state: &mut LoopState) -> bool {
        let notices: Vec<String> = self
            .journal
            .damage()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let damaged = !notices.is_empty();
        self.board.update_status(|s| s.journal_damage = notices);
        let changed = damaged != state.flags.journal_damaged;
        state.flags.journal_damaged = damaged;
        changed
    }

    fn gateway_state<'a>(&self, state: &'a LoopState) -> GatewayState<'a> {
        GatewayState::of(
            state.gateway_contacted,
            self.engine.is_gateway_reachable(),
            state.gateway_problem.as_deref(),
        )
    }

    /// One line for `systemctl status`, sent when it changes.
    fn report_status(&self, state: &mut LoopState) {
        let counter = match (self.engine.counter_sale(), &state.last_report) {
            (Some(sale), _) => format!("sale {} {}", sale.sale_id, sale.state.as_str()),
            (None, Some(last)) => format!("ready (last: sale {last})"),
            (None, None) => "ready".to_string(),
        };
        let gateway = self.gateway_state(state).word();
        let scanner = if state.scanner_missing {
            "missing"
        } else {
            "ok"
        };
        let damaged = if state.flags.journal_damaged {
            "; JOURNAL DAMAGED (see /v1/status)"
        } else {
            ""
        };
        let storage = if self.engine.storage_fault().is_some() {
            "; STORAGE FAULT: payments paused (see /v1/status)"
        } else {
            ""
        };
        let line = format!(
            "{counter}; gateway {gateway}; queue {}; scanner {scanner}{damaged}{storage}",
            self.engine.queue_depth()
        );
        if line != state.status_line {
            self.notify(Notification::Status(line.clone()));
            state.status_line = line;
        }
    }

    fn notify(&self, notification: Notification) {
        if let Err(error) = self.notifier.notify(notification) {
            tracing::warn!(%error, "systemd notification failed");
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A sale the engine does not follow may still have ended: the board tells the register so
/// (from its memory or the journal), off this loop.
fn disarm_error(refusal: DisarmRefusal) -> register::DisarmError {
    match refusal {
        DisarmRefusal::NotFound { sale_id } => register::DisarmError::NotFound { sale_id },
        DisarmRefusal::AlreadyScanned { sale_id, state } => {
            register::DisarmError::NotArmed { sale_id, state }
        }
    }
}

/// As for disarming: a sale the engine no longer follows is looked up by the board.
fn recheck_error(refusal: RecheckRefusal) -> register::RecheckError {
    match refusal {
        RecheckRefusal::NotFound { sale_id } => register::RecheckError::NotFound { sale_id },
        RecheckRefusal::Ended {
            sale_id,
            state,
            needs_review,
        } => register::RecheckError::Ended {
            sale_id,
            state,
            needs_review,
        },
        RecheckRefusal::NotYet { sale_id, state } => {
            register::RecheckError::NotYet { sale_id, state }
        }
    }
}

fn arm_error(refusal: ArmRefusal) -> register::ArmError {
    match refusal {
        ArmRefusal::CounterBusy { sale_id, state } => register::ArmError::Busy { sale_id, state },
        ArmRefusal::StorageFault { .. } => register::ArmError::StorageFault {
            reason: refusal.to_string(),
        },
        ArmRefusal::ZeroAmount { .. }
        | ArmRefusal::PayPage { .. }
        | ArmRefusal::BadField { .. } => register::ArmError::Refused {
            reason: refusal.to_string(),
        },
    }
}
