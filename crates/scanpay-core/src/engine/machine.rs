//! The sale lifecycle: one `Engine` owning every unfinished sale, driven by `handle_*` calls
//! with the current time and drained with `poll_output()` / `poll_timeout()`.
//!
//! Money rules kept here (invariants 2, 4, 5 and 7, ARCHITECTURE.md):
//! - a sale's `out_trade_no` is fixed at arm; nothing is ever sent under another number;
//! - a pay request is sent again only after `SendFailure::Offline` (it never left), with the
//!   same number and the same code; everything else that is unclear is resolved by query;
//! - "unknown" is left only through a verified answer;
//! - the payment code is erased from the record as soon as it can no longer be sent.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::output::{ArmError, DisarmError, NotifyError, Output, Request, SendFailure};
use super::policy::{EnginePolicy, PolicyError};
use super::record::{OrderEpoch, SaleRecord};
use super::sale::{SaleState, SaleView};
use super::screen::Screen;
use super::time::Timestamp;
use crate::protocol::messages::limits;
use crate::protocol::{
    AnswerTo, ErrCode, Expected, Fen, Outcome, PaymentCode, TradeAnswer, TradeStatus,
};

/// Which request of a sale is out with the daemon, waiting for its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flight {
    Pay,
    Query,
}

#[derive(Debug)]
struct Sale {
    record: SaleRecord,
    /// At most one request per sale at a time; not journaled (after a crash nothing is in
    /// flight any more, and recovery asks again).
    in_flight: Option<Flight>,
}

/// States in which a sale occupies the counter (the register gets 409 for a new sale).
fn holds_counter(state: SaleState) -> bool {
    matches!(
        state,
        SaleState::Armed
            | SaleState::Submitting
            | SaleState::WaitingCustomer
            | SaleState::Queued
            | SaleState::Unknown
    )
}

/// States in which the gateway is asked about the sale by query.
fn polled(state: SaleState) -> bool {
    matches!(
        state,
        SaleState::WaitingCustomer | SaleState::Unknown | SaleState::Unresolved
    )
}

/// The payment engine. See the module docs and `ARCHITECTURE.md`.
#[derive(Debug)]
pub struct Engine {
    policy: EnginePolicy,
    /// The latest time seen: a wall clock stepped backwards (NTP on a Pi without RTC) must
    /// not make deadlines move back, so time never goes below this.
    now: Timestamp,
    last_seq: u64,
    /// The journal's numbering epoch, written into every order number (given at recover).
    epoch: Option<OrderEpoch>,
    /// Every sale not yet final, by sale_id.
    sales: BTreeMap<String, Sale>,
    /// The sale at the counter (armed or in progress), if any.
    counter: Option<String>,
    /// False after a request could not leave; true again on any answer or a hint.
    reachable: bool,
    /// While unreachable: when to try one request again.
    next_probe_at: Option<Timestamp>,
    /// Codes scanned recently, for ignoring scanner repeats.
    recent_scans: HashMap<PaymentCode, Timestamp>,
    /// Codes used for a sale, and which, for refusing a second use.
    used_codes: HashMap<PaymentCode, (Timestamp, String)>,
    outputs: VecDeque<Output>,
}

impl Engine {
    /// A fresh engine with nothing armed; call `recover` next with the journal's content.
    pub fn new(policy: EnginePolicy, now: Timestamp) -> Result<Engine, PolicyError> {
        policy.validate()?;
        let mut engine = Engine {
            policy,
            now,
            last_seq: 0,
            epoch: None,
            sales: BTreeMap::new(),
            counter: None,
            reachable: true,
            next_probe_at: None,
            recent_scans: HashMap::new(),
            used_codes: HashMap::new(),
            outputs: VecDeque::new(),
        };
        engine.outputs.push_back(Output::Show(Screen::Ready));
        Ok(engine)
    }

    pub fn policy(&self) -> &EnginePolicy {
        &self.policy
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The sale at the counter, if one is armed or in progress.
    pub fn counter_sale(&self) -> Option<SaleView> {
        let id = self.counter.as_ref()?;
        self.sales.get(id).map(|s| s.record.view())
    }

    /// An unfinished sale (final sales are in the journal only).
    pub fn sale(&self, sale_id: &str) -> Option<SaleView> {
        self.sales.get(sale_id).map(|s| s.record.view())
    }

    /// Every unfinished sale, oldest first.
    pub fn unfinished(&self) -> Vec<SaleView> {
        let mut views: Vec<_> = self.sales.values().map(|s| s.record.view()).collect();
        views.sort_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
        views
    }

    /// Requests waiting for the gateway to come back: queued pays and overdue queries.
    pub fn queue_depth(&self) -> usize {
        self.sales
            .values()
            .filter(|s| s.in_flight.is_none())
            .filter(|s| {
                s.record.state == SaleState::Queued
                    || (polled(s.record.state)
                        && s.record.next_poll_at.is_some_and(|t| t <= self.now))
            })
            .count()
    }

    pub fn is_gateway_reachable(&self) -> bool {
        self.reachable
    }

    /// The highest order counter value used so far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Resumes after a restart from the journal: every unfinished record, the journal's
    /// counter and its numbering epoch (so order numbers are never reused, even when the
    /// journal was lost: a new journal has a new epoch).
    ///
    /// - submitting → unknown, queried at once (the request may have been received);
    /// - queued → sent if still young enough, else expired;
    /// - waiting / unknown / unresolved → asked about at once, then polled on their schedule
    ///   (unresolved if the cashier's deadline passed while the process was down);
    /// - armed → disarmed: nothing was scanned so nothing is at stake, and the register that
    ///   armed it may itself have restarted and forgotten it; keeping it armed could block
    ///   the counter with a sale nobody is waiting for. The register sees the change.
    /// - a journal written later than `now` (the clock is behind): nothing is young or inside
    ///   its deadline, since the time spent down is unknown: queued → expired, in progress →
    ///   unresolved.
    /// - a record salvaged from a damaged journal (`salvaged`): later versions of it may be
    ///   lost, so whatever it says short of final may be out of date (an armed sale may have
    ///   been paid since): it is never sent, only looked up, as unresolved.
    pub fn recover(
        &mut self,
        records: Vec<SaleRecord>,
        last_seq: u64,
        epoch: Option<OrderEpoch>,
        now: Timestamp,
    ) {
        let now = self.tick(now);
        if epoch.is_some() {
            self.epoch = epoch;
        }
        self.last_seq = self
            .last_seq
            .max(last_seq)
            .max(records.iter().map(|r| r.seq).max().unwrap_or(0));
        let mut records: Vec<_> = records
            .into_iter()
            .filter(|r| !r.state.is_final() && !self.sales.contains_key(&r.sale_id))
            .collect();
        // Newest last, so the newest sale still inside its deadline takes the counter.
        records.sort_by_key(|r| (r.created_at, r.seq));
        // A journal written "later" than now means the wall clock is behind (a Pi without a
        // real-time clock boots with the time it saved earlier, and NTP may be out of reach):
        // how long the process was down is unknown, so no queued pay can be shown to be young
        // enough to send and no sale to be inside the cashier's deadline. Queued pays expire
        // (never sent: nothing charged) and sales in progress are checked in the background.
        let clock_behind = records.iter().any(|r| r.updated_at > now);
        let counter_candidate = records
            .iter()
            .rev()
            .filter(|_| !clock_behind)
            .filter(|r| !r.salvaged)
            .find(|r| {
                matches!(
                    r.state,
                    SaleState::Submitting
                        | SaleState::WaitingCustomer
                        | SaleState::Unknown
                        | SaleState::Queued
                ) && r.deadline_at.is_some_and(|d| d > now)
            })
            .map(|r| r.sale_id.clone());

        for record in records {
            let id = record.sale_id.clone();
            if let Some(code) = &record.auth_code {
                self.used_codes
                    .insert(code.clone(), (record.scanned_at.unwrap_or(now), id.clone()));
            }
            let state = record.state;
            let salvaged = record.salvaged;
            let is_counter = counter_candidate.as_deref() == Some(id.as_str());
            self.sales.insert(
                id.clone(),
                Sale {
                    record,
                    in_flight: None,
                },
            );
            if is_counter {
                self.counter = Some(id.clone());
            }
            match state {
                _ if salvaged => self.update(&id, now, |r| {
                    r.salvaged = false;
                    r.auth_code = None;
                    if r.state != SaleState::Unresolved {
                        r.state = SaleState::Unresolved;
                        r.unresolved_at = Some(now);
                    }
                    r.next_poll_at = Some(now);
                    r.note = Some(
                        "salvaged from a damaged journal: its last state may be lost, so it is looked up at the gateway and never sent"
                            .into(),
                    );
                }),
                SaleState::Armed => self.update(&id, now, |r| {
                    r.state = SaleState::Disarmed;
                    r.note = Some("disarmed at restart: arm it again on the register".into());
                }),
                SaleState::Submitting => self.update(&id, now, |r| {
                    r.state = if is_counter {
                        SaleState::Unknown
                    } else {
                        SaleState::Unresolved
                    };
                    if r.state == SaleState::Unresolved {
                        // The schedule counts from when the deadline passed, not from now.
                        r.unresolved_at = Some(r.deadline_at.unwrap_or(now).min(now));
                    }
                    r.auth_code = None;
                    r.next_poll_at = Some(now);
                    r.note = Some("restarted while the pay request was in flight".into());
                }),
                SaleState::Queued => {
                    let young = self.queued_expiry(&id).is_some_and(|t| t > now);
                    if !(young && is_counter) {
                        if clock_behind {
                            self.edit(&id, |r| {
                                r.note = Some(
                                    "restarted with the clock behind the journal: the queued pay's age is unknown, so it was not sent"
                                        .into(),
                                )
                            });
                        }
                        self.expire(&id, now);
                    } else {
                        self.show_counter();
                    }
                }
                SaleState::WaitingCustomer | SaleState::Unknown if !is_counter => {
                    self.update(&id, now, |r| {
                        r.state = SaleState::Unresolved;
                        r.unresolved_at = Some(r.deadline_at.unwrap_or(now).min(now));
                        r.next_poll_at = Some(now);
                    })
                }
                SaleState::WaitingCustomer | SaleState::Unknown => {
                    self.edit(&id, |r| r.next_poll_at = Some(now));
                    self.show_counter();
                }
                // Asked at once: the process was down for an unknown time.
                SaleState::Unresolved => self.edit(&id, |r| {
                    if !r.needs_review {
                        r.next_poll_at = Some(now);
                    }
                }),
                SaleState::Paid | SaleState::Failed | SaleState::Expired | SaleState::Disarmed => {}
            }
        }
        self.pump(now);
    }

    /// The register arms a sale. Refused while another sale is at the counter.
    pub fn arm(
        &mut self,
        amount: Fen,
        subject: String,
        operator_id: String,
        now: Timestamp,
    ) -> Result<SaleView, ArmError> {
        let now = self.tick(now);
        let record = self.new_sale(amount, subject, operator_id, now)?;
        Ok(self.open_at_counter(record, now))
    }

    /// The register asks for a customer-scans-merchant sale: the customer pays on the
    /// gateway's pay page, shown as a QR code. `pay_page` makes the page's URL for the sale's
    /// order number. The sale starts out waiting for the customer and is followed by query
    /// exactly like a scanned sale after USERPAYING (ORDER_NOTFOUND meaning "not paid yet"),
    /// so a late payment on the page is still found and reported.
    pub fn arm_qr(
        &mut self,
        amount: Fen,
        subject: String,
        operator_id: String,
        pay_page: impl FnOnce(&str) -> Result<String, String>,
        now: Timestamp,
    ) -> Result<SaleView, ArmError> {
        let now = self.tick(now);
        let mut record = self.new_sale(amount, subject, operator_id, now)?;
        let url = pay_page(&record.out_trade_no).map_err(|reason| {
            // The number was never shown to anyone: give it back.
            self.last_seq -= 1;
            ArmError::PayPage { reason }
        })?;
        record.qr_url = Some(url);
        record.state = SaleState::WaitingCustomer;
        record.scanned_at = Some(now);
        record.deadline_at = Some(now.plus(self.policy.cashier_deadline));
        record.next_poll_at = Some(now.plus(self.policy.first_query));
        Ok(self.open_at_counter(record, now))
    }

    /// A new record for the counter, numbered; refused while the counter is busy.
    fn new_sale(
        &mut self,
        amount: Fen,
        subject: String,
        operator_id: String,
        now: Timestamp,
    ) -> Result<SaleRecord, ArmError> {
        if amount.0 == 0 {
            return Err(ArmError::ZeroAmount { amount });
        }
        // Checked here, before a customer's single-use code is spent on a request the
        // gateway client would refuse: the same limits, counted the same way (characters).
        for (field, value, max) in [
            ("subject", &subject, limits::SUBJECT),
            ("operator_id", &operator_id, limits::OPERATOR_ID),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(ArmError::BadField {
                    field,
                    value: value.to_string(),
                    rule: format!("give 1 to {max} characters"),
                });
            }
        }
        if let Some(busy) = self.counter_sale() {
            return Err(ArmError::CounterBusy {
                sale_id: busy.sale_id,
                state: busy.state,
            });
        }
        self.last_seq += 1;
        let out_trade_no = SaleRecord::order_number(
            &self.policy.order_prefix,
            now,
            self.epoch.as_ref(),
            self.last_seq,
        );
        Ok(SaleRecord {
            sale_id: out_trade_no.clone(),
            out_trade_no,
            seq: self.last_seq,
            amount,
            subject,
            operator_id,
            state: SaleState::Armed,
            payway: None,
            auth_code: None,
            trade_no: None,
            err_code: None,
            err_code_des: None,
            created_at: now,
            updated_at: now,
            scanned_at: None,
            deadline_at: None,
            unresolved_at: None,
            next_poll_at: None,
            poll_interval_ms: millis(self.policy.query_interval),
            pay_attempts: 0,
            query_attempts: 0,
            needs_review: false,
            note: None,
            qr_url: None,
            salvaged: false,
        })
    }

    /// Journals a new sale, reports it and puts it at the counter.
    fn open_at_counter(&mut self, record: SaleRecord, now: Timestamp) -> SaleView {
        let view = record.view();
        let id = record.sale_id.clone();
        self.outputs.push_back(Output::Journal(record.clone()));
        self.outputs.push_back(Output::Report(view.clone()));
        self.sales.insert(
            id.clone(),
            Sale {
                record,
                in_flight: None,
            },
        );
        self.counter = Some(id);
        self.show_counter();
        self.pump(now);
        view
    }

    /// The register cancels a sale that has not been scanned.
    pub fn disarm(&mut self, sale_id: &str, now: Timestamp) -> Result<SaleView, DisarmError> {
        let now = self.tick(now);
        let state = match self.sales.get(sale_id) {
            Some(sale) => sale.record.state,
            None => {
                return Err(DisarmError::NotFound {
                    sale_id: sale_id.to_string(),
                })
            }
        };
        if state != SaleState::Armed {
            return Err(DisarmError::AlreadyScanned {
                sale_id: sale_id.to_string(),
                state,
            });
        }
        self.update(sale_id, now, |r| r.state = SaleState::Disarmed);
        let view = self.last_reported(sale_id);
        self.pump(now);
        Ok(view.expect("a disarmed sale was just reported"))
    }

    /// A line from the scanner.
    pub fn handle_scan(&mut self, text: &str, now: Timestamp) {
        let now = self.tick(now);
        self.scan(text, now);
        self.pump(now);
    }

    fn scan(&mut self, text: &str, now: Timestamp) {
        let code = match PaymentCode::parse(text.trim()) {
            Ok(code) => code,
            Err(err) => return self.refuse(err.to_string()),
        };
        let window = self.policy.duplicate_window;
        self.recent_scans
            .retain(|_, seen| now.since(*seen) < window);
        if self.recent_scans.contains_key(&code) {
            // The scanner read the same code twice: ignore quietly, it is not a new request.
            return;
        }
        self.recent_scans.insert(code.clone(), now);
        let memory = self.policy.used_code_memory;
        self.used_codes
            .retain(|_, (used, _)| now.since(*used) < memory);
        if let Some((_, sale_id)) = self.used_codes.get(&code) {
            return self.refuse(format!(
                "payment code {code} was already used for sale {sale_id}; ask the customer to show a fresh code"
            ));
        }
        let Some(counter) = self.counter_sale() else {
            return self.refuse(format!(
                "no sale is armed; enter the amount on the register first, then scan (code {code} not used)"
            ));
        };
        if counter.state != SaleState::Armed {
            return self.refuse(format!(
                "sale {} is {}; wait for its result before scanning again (code {code} not used)",
                counter.sale_id,
                counter.state.as_str()
            ));
        }
        let id = counter.sale_id;
        self.used_codes.insert(code.clone(), (now, id.clone()));
        let deadline = now.plus(self.policy.cashier_deadline);
        let reachable = self.reachable;
        self.update(&id, now, |r| {
            r.payway = code.payway();
            r.auth_code = Some(code);
            r.scanned_at = Some(now);
            r.deadline_at = Some(deadline);
            if reachable {
                r.state = SaleState::Submitting;
                r.pay_attempts = r.pay_attempts.saturating_add(1);
            } else {
                r.state = SaleState::Queued;
                r.note = Some("gateway unreachable: queued".into());
            }
        });
        if reachable {
            self.send_pay(&id);
        }
    }

    /// The reply to a `Request::Pay` for `sale_id`.
    pub fn handle_pay_reply(
        &mut self,
        sale_id: &str,
        reply: Result<TradeAnswer, SendFailure>,
        now: Timestamp,
    ) {
        let now = self.tick(now);
        if self.take_flight(sale_id, Flight::Pay, reply.is_ok()) {
            match reply {
                Ok(answer) => {
                    self.came_online();
                    self.apply_answer(sale_id, &answer, AnswerTo::Pay, now);
                }
                Err(SendFailure::Offline(detail)) => self.pay_never_left(sale_id, &detail, now),
                Err(SendFailure::Unknown(detail)) => self.pay_unknown(
                    sale_id,
                    format!("pay outcome unknown: {detail}"),
                    false,
                    now,
                ),
                Err(SendFailure::Invalid(detail)) => self.update(sale_id, now, |r| {
                    r.state = SaleState::Failed;
                    r.auth_code = None;
                    r.next_poll_at = None;
                    r.err_code_des = Some(format!("not sent: {detail}"));
                    r.note = Some(format!("pay request refused locally: {detail}"));
                }),
            }
        }
        self.pump(now);
    }

    /// The reply to a `Request::Query` for `sale_id`.
    pub fn handle_query_reply(
        &mut self,
        sale_id: &str,
        reply: Result<TradeAnswer, SendFailure>,
        now: Timestamp,
    ) {
        let now = self.tick(now);
        if self.take_flight(sale_id, Flight::Query, reply.is_ok()) {
            match reply {
                Ok(answer) => {
                    self.came_online();
                    self.apply_answer(sale_id, &answer, AnswerTo::Query, now);
                }
                Err(SendFailure::Offline(detail)) => {
                    self.went_offline(now);
                    // Due at once: held until the gateway answers again, then drained.
                    self.edit(sale_id, |r| {
                        r.next_poll_at = Some(now);
                        r.note = Some(format!("query not sent, gateway unreachable: {detail}"));
                    });
                }
                Err(SendFailure::Unknown(detail) | SendFailure::Invalid(detail)) => {
                    self.schedule_next_query(sale_id, false, false, now);
                    self.edit(sale_id, |r| {
                        r.note = Some(format!("query failed: {detail}"))
                    });
                }
            }
        }
        self.pump(now);
    }

    /// A verified notify callback from the gateway.
    pub fn handle_notify(
        &mut self,
        answer: TradeAnswer,
        now: Timestamp,
    ) -> Result<(), NotifyError> {
        let now = self.tick(now);
        let out_trade_no = answer
            .out_trade_no
            .clone()
            .ok_or(NotifyError::NoOrderNumber)?;
        let id = self
            .sales
            .values()
            .find(|s| {
                s.record.out_trade_no.eq_ignore_ascii_case(&out_trade_no)
                    && s.record.state != SaleState::Armed
            })
            .map(|s| s.record.sale_id.clone())
            .ok_or_else(|| NotifyError::UnknownOrder {
                out_trade_no: out_trade_no.clone(),
            })?;
        self.came_online();
        self.apply_answer(&id, &answer, AnswerTo::Notify, now);
        self.pump(now);
        Ok(())
    }

    /// A hint from the daemon that the gateway answers again (e.g. a probe succeeded):
    /// queued requests drain now.
    pub fn gateway_reachable(&mut self, now: Timestamp) {
        let now = self.tick(now);
        self.came_online();
        self.pump(now);
    }

    /// Time has come (call at or after `poll_timeout()`; calling early is harmless).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.tick(now);
        self.pump(now);
    }

    /// When the engine next needs `handle_timeout`, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Timestamp| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(sale) = self.counter.as_ref().and_then(|id| self.sales.get(id)) {
            if let (Some(deadline), true) = (
                sale.record.deadline_at,
                matches!(
                    sale.record.state,
                    SaleState::Submitting | SaleState::WaitingCustomer | SaleState::Unknown
                ),
            ) {
                consider(deadline);
            }
        }
        let mut work: Option<Timestamp> = None;
        for sale in self.sales.values() {
            if sale.record.state == SaleState::Queued {
                if let Some(expiry) = self.queued_expiry(&sale.record.sale_id) {
                    consider(expiry);
                }
            }
            if sale.in_flight.is_some() {
                continue;
            }
            let ready = match sale.record.state {
                SaleState::Queued => Some(sale.record.updated_at),
                s if polled(s) => sale.record.next_poll_at,
                _ => None,
            };
            if let Some(t) = ready {
                work = Some(work.map_or(t, |w| w.min(t)));
            }
        }
        if let Some(work) = work {
            if self.reachable {
                consider(work);
            } else if !self.anything_in_flight() {
                consider(work.max(self.next_probe_at.unwrap_or(work)));
            }
        }
        next
    }

    // ----- internals -----

    fn tick(&mut self, now: Timestamp) -> Timestamp {
        self.now = self.now.max(now);
        self.now
    }

    fn refuse(&mut self, reason: String) {
        self.outputs.push_back(Output::ScanRefused { reason });
    }

    fn anything_in_flight(&self) -> bool {
        self.sales.values().any(|s| s.in_flight.is_some())
    }

    /// Clears the in-flight mark; says whether the reply should be applied. A failure for a
    /// request we are not waiting for is stale and dropped; a verified answer is always
    /// worth applying (it is the gateway's word about this order).
    fn take_flight(&mut self, sale_id: &str, flight: Flight, verified: bool) -> bool {
        let Some(sale) = self.sales.get_mut(sale_id) else {
            return false;
        };
        if sale.in_flight == Some(flight) {
            sale.in_flight = None;
            true
        } else {
            verified
        }
    }

    fn came_online(&mut self) {
        self.reachable = true;
        self.next_probe_at = None;
    }

    fn went_offline(&mut self, now: Timestamp) {
        self.reachable = false;
        self.next_probe_at = Some(now.plus(self.policy.offline_retry));
    }

    fn queued_expiry(&self, sale_id: &str) -> Option<Timestamp> {
        let record = &self.sales.get(sale_id)?.record;
        let by_age = record.scanned_at?.plus(self.policy.pay_max_age);
        Some(match record.deadline_at {
            Some(deadline) => by_age.min(deadline),
            None => by_age,
        })
    }

    /// Changes a record without a state change worth journaling (schedule, notes).
    fn edit(&mut self, sale_id: &str, f: impl FnOnce(&mut SaleRecord)) {
        if let Some(sale) = self.sales.get_mut(sale_id) {
            f(&mut sale.record);
        }
    }

    /// Changes a record and journals it; reports a state change (or a sale newly needing
    /// review); updates the counter's screen; forgets the sale once final (the journal keeps
    /// it).
    fn update(&mut self, sale_id: &str, now: Timestamp, f: impl FnOnce(&mut SaleRecord)) {
        let Some(sale) = self.sales.get_mut(sale_id) else {
            return;
        };
        let before = sale.record.state;
        let review_before = sale.record.needs_review;
        f(&mut sale.record);
        bound_texts(&mut sale.record);
        sale.record.updated_at = now;
        let record = sale.record.clone();
        let at_counter = self.counter.as_deref() == Some(sale_id);
        self.outputs.push_back(Output::Journal(record.clone()));
        if record.state != before || (record.needs_review && !review_before) {
            self.outputs.push_back(Output::Report(record.view()));
        }
        if record.state != before && at_counter {
            let screen = self.screen_for(&record, now);
            self.outputs.push_back(Output::Show(screen));
        }
        if at_counter && !holds_counter(record.state) {
            self.counter = None;
        }
        if record.state.is_final() {
            self.sales.remove(sale_id);
        }
    }

    fn last_reported(&self, sale_id: &str) -> Option<SaleView> {
        self.outputs.iter().rev().find_map(|o| match o {
            Output::Report(v) if v.sale_id == sale_id => Some(v.clone()),
            _ => None,
        })
    }

    fn show_counter(&mut self) {
        let screen = match self.counter.as_ref().and_then(|id| self.sales.get(id)) {
            Some(sale) => self.screen_for(&sale.record, self.now),
            None => Screen::Ready,
        };
        self.outputs.push_back(Output::Show(screen));
    }

    fn screen_for(&self, r: &SaleRecord, now: Timestamp) -> Screen {
        let amount = r.amount;
        match r.state {
            SaleState::Armed => Screen::Armed {
                amount,
                subject: r.subject.clone(),
            },
            SaleState::Submitting => Screen::Processing { amount },
            SaleState::WaitingCustomer if r.qr_url.is_some() => Screen::PayQr {
                amount,
                url: r.qr_url.clone().unwrap_or_default(),
            },
            SaleState::WaitingCustomer => Screen::WaitingCustomer {
                amount,
                seconds_left: r.deadline_at.map_or(0, |d| {
                    u32::try_from(d.since(now).as_secs()).unwrap_or(u32::MAX)
                }),
            },
            SaleState::Queued => Screen::Offline {
                amount,
                queue_depth: self.queue_depth().max(1),
            },
            SaleState::Unknown | SaleState::Unresolved => Screen::Checking { amount },
            SaleState::Paid => Screen::Paid {
                amount,
                payway: r.payway,
                trade_no_tail: r
                    .trade_no
                    .as_deref()
                    // The last six characters, not bytes: the gateway's text may be
                    // non-ASCII, and a byte slice inside a character panics.
                    .map(|t| {
                        let skip = t.chars().count().saturating_sub(6);
                        t.chars().skip(skip).collect()
                    })
                    .unwrap_or_default(),
            },
            SaleState::Failed => Screen::Failed {
                amount,
                err_code: r.err_code.clone(),
                reason: r
                    .err_code_des
                    .clone()
                    .or_else(|| r.err_code.clone())
                    .unwrap_or_else(|| "not paid".into()),
            },
            SaleState::Expired => Screen::Expired { amount },
            SaleState::Disarmed => Screen::Ready,
        }
    }

    fn send_pay(&mut self, sale_id: &str) {
        let Some(sale) = self.sales.get_mut(sale_id) else {
            return;
        };
        let r = &sale.record;
        let Some(code) = r.auth_code.clone() else {
            return;
        };
        sale.in_flight = Some(Flight::Pay);
        self.outputs.push_back(Output::Send(Request::Pay {
            sale_id: r.sale_id.clone(),
            out_trade_no: r.out_trade_no.clone(),
            auth_code: code,
            amount: r.amount,
            subject: r.subject.clone(),
            operator_id: r.operator_id.clone(),
            payway: r.payway,
        }));
    }

    fn send_query(&mut self, sale_id: &str) {
        let Some(sale) = self.sales.get_mut(sale_id) else {
            return;
        };
        sale.in_flight = Some(Flight::Query);
        sale.record.next_poll_at = None;
        sale.record.query_attempts = sale.record.query_attempts.saturating_add(1);
        self.outputs.push_back(Output::Send(Request::Query {
            sale_id: sale.record.sale_id.clone(),
            out_trade_no: sale.record.out_trade_no.clone(),
        }));
    }

    /// The pay request could not leave: queue it (same number, same code) if it is still
    /// the counter's sale and young enough, else it expires; nothing was charged.
    fn pay_never_left(&mut self, sale_id: &str, detail: &str, now: Timestamp) {
        self.went_offline(now);
        let young = self.queued_expiry(sale_id).is_some_and(|t| t > now);
        let at_counter = self.counter.as_deref() == Some(sale_id);
        if young && at_counter {
            self.update(sale_id, now, |r| {
                r.state = SaleState::Queued;
                r.note = Some(format!("gateway unreachable, queued: {detail}"));
            });
        } else {
            self.edit(sale_id, |r| {
                r.note = Some(format!("gateway unreachable: {detail}"));
            });
            self.expire(sale_id, now);
        }
    }

    fn expire(&mut self, sale_id: &str, now: Timestamp) {
        self.update(sale_id, now, |r| {
            r.state = SaleState::Expired;
            r.auth_code = None;
            r.next_poll_at = None;
            r.err_code_des = Some(
                "not sent: the gateway could not be reached in time; nothing was charged".into(),
            );
        });
    }

    /// The pay request may have been received but we do not know its outcome: only queries
    /// from now on (the code is useless and erased: it is never sent again).
    fn pay_unknown(&mut self, sale_id: &str, note: String, rate_limited: bool, now: Timestamp) {
        let unresolved = self.past_deadline(sale_id, now);
        let policy = self.policy.clone();
        self.update(sale_id, now, |r| {
            r.auth_code = None;
            r.note = Some(note);
            if unresolved {
                r.state = SaleState::Unresolved;
                r.unresolved_at.get_or_insert(now);
            } else {
                r.state = SaleState::Unknown;
            }
            plan_query(&policy, r, true, rate_limited, now);
        });
    }

    fn past_deadline(&self, sale_id: &str, now: Timestamp) -> bool {
        self.sales.get(sale_id).is_some_and(|s| {
            s.record.state == SaleState::Unresolved
                || s.record.deadline_at.is_some_and(|d| d <= now)
        })
    }

    fn schedule_next_query(
        &mut self,
        sale_id: &str,
        after_pay: bool,
        rate_limited: bool,
        now: Timestamp,
    ) {
        let policy = self.policy.clone();
        self.edit(sale_id, |r| {
            plan_query(&policy, r, after_pay, rate_limited, now)
        });
    }

    /// A verified answer about a sale, read only through the spec's decision table.
    fn apply_answer(&mut self, sale_id: &str, answer: &TradeAnswer, to: AnswerTo, now: Timestamp) {
        let Some(sale) = self.sales.get(sale_id) else {
            return;
        };
        let record = &sale.record;
        // An answer about another order, or a "paid" that does not name this sale's order
        // and amount, is not about this sale: the protocol reads it as "find out by query".
        let mut outcome = answer.outcome_for(
            to,
            Expected {
                out_trade_no: &record.out_trade_no,
                total_amount: record.amount,
            },
        );
        // A pay request refused for its parameters created no order, so "not paid" is safe.
        // A query refused for its parameters (LACK_PARAMS, PARAMSERROR, ORDER_CONFLICT, a code
        // we do not know, …) says nothing about the payment, which may well have succeeded:
        // only an order status or a payment reason settles a sale whose outcome is unknown.
        // A status this version does not know (`TradeStatus::Other`) is not one: the order
        // may be paid under it, and on a pay answer it shows that an order exists after all.
        if let Outcome::NotPaid { reason, .. } = &outcome {
            let unknown_status = matches!(answer.trade_status, Some(TradeStatus::Other(_)));
            let about_the_payment = matches!(
                answer.trade_status,
                Some(
                    TradeStatus::TradeFail
                        | TradeStatus::TradeClosed
                        | TradeStatus::CancelInProgress
                        | TradeStatus::InvalidStatusCode
                )
            ) || matches!(
                answer.err_code,
                Some(ErrCode::Insufficient | ErrCode::OrderClosed)
            );
            if (to != AnswerTo::Pay || unknown_status) && !about_the_payment {
                let reason = match &answer.trade_status {
                    Some(status) if unknown_status => {
                        format!("answer with a trade_status this version does not know ({status}): {reason}")
                    }
                    _ => format!("answer about the query, not the payment: {reason}"),
                };
                outcome = Outcome::TryLater {
                    rate_limited: false,
                    reason,
                };
            }
        }
        let trade_no = answer.trade_no.clone();
        match outcome {
            Outcome::Paid => self.update(sale_id, now, |r| {
                r.state = SaleState::Paid;
                r.auth_code = None;
                r.next_poll_at = None;
                r.trade_no = trade_no.or(r.trade_no.take());
                r.err_code = None;
                r.err_code_des = None;
                r.needs_review = false;
            }),
            Outcome::NotPaid { err_code, reason } => self.update(sale_id, now, |r| {
                r.state = SaleState::Failed;
                r.auth_code = None;
                r.next_poll_at = None;
                r.trade_no = trade_no.or(r.trade_no.take());
                r.err_code = err_code.map(|c| c.to_string());
                r.err_code_des = Some(reason);
                r.needs_review = false;
            }),
            Outcome::Refunded { in_doubt } => {
                let status = answer.trade_status.as_ref().map(|s| s.to_string());
                self.update(sale_id, now, |r| {
                    r.state = SaleState::Failed;
                    r.auth_code = None;
                    r.next_poll_at = None;
                    r.trade_no = trade_no.or(r.trade_no.take());
                    r.err_code = status;
                    r.err_code_des = Some(if in_doubt {
                        "paid, then a refund whose outcome is in doubt: check with the gateway"
                            .into()
                    } else {
                        "paid, then refunded".into()
                    });
                    r.needs_review = in_doubt;
                })
            }
            Outcome::ConfigProblem { err_code, reason } if to == AnswerTo::Pay => {
                self.update(sale_id, now, |r| {
                    r.state = SaleState::Failed;
                    r.auth_code = None;
                    r.next_poll_at = None;
                    r.err_code = Some(err_code.to_string());
                    r.err_code_des = Some(format!(
                        "the gateway refused the merchant setup ({reason}); check app_id and key"
                    ));
                })
            }
            Outcome::WaitingCustomer if to != AnswerTo::Notify => {
                let unresolved = self.past_deadline(sale_id, now);
                let state = if unresolved {
                    SaleState::Unresolved
                } else {
                    SaleState::WaitingCustomer
                };
                let changed = record.state != state || record.auth_code.is_some();
                let policy = self.policy.clone();
                let plan = |r: &mut SaleRecord| {
                    r.state = state;
                    r.auth_code = None;
                    if unresolved {
                        r.unresolved_at.get_or_insert(now);
                    }
                    plan_query(&policy, r, to == AnswerTo::Pay, false, now);
                };
                if changed {
                    self.update(sale_id, now, plan);
                } else {
                    let screen = self.screen_for(record, now);
                    self.edit(sale_id, plan);
                    if self.counter.as_deref() == Some(sale_id) {
                        // Still waiting: refresh the countdown on the screen.
                        self.outputs.push_back(Output::Show(screen));
                    }
                }
            }
            // Invariant 7 (ARCHITECTURE.md): the order exists, but this journal never sent this number
            // before (this is its first pay): it belongs to another order (a lost journal, a
            // prefix shared with another terminal). Its status is not this sale's outcome,
            // and this request charged nobody: the gateway refused it.
            Outcome::OrderExists if to == AnswerTo::Pay && record.pay_attempts <= 1 => {
                let code = answer.err_code.as_ref().map(|c| c.to_string());
                let order = record.out_trade_no.clone();
                self.update(sale_id, now, |r| {
                    r.state = SaleState::Failed;
                    r.auth_code = None;
                    r.next_poll_at = None;
                    r.err_code = code.clone();
                    let told = format!(
                        "order {order} exists at the gateway but this terminal never sent it ({}): this customer was not charged; order numbers collide, check [payment] order_prefix",
                        code.as_deref().unwrap_or("order exists")
                    );
                    r.note = Some(format!(
                        "{told}; look the other order up with `scanpay query {order}`"
                    ));
                    r.err_code_des = Some(told);
                    r.needs_review = true;
                })
            }
            Outcome::OrderExists => self.pay_unknown(
                sale_id,
                "the order exists already: looking it up".into(),
                false,
                now,
            ),
            Outcome::TryLater {
                rate_limited,
                reason,
            } if to == AnswerTo::Pay => self.pay_unknown(sale_id, reason, rate_limited, now),
            Outcome::TryLater {
                rate_limited,
                reason,
            } if to == AnswerTo::Query => {
                self.schedule_next_query(sale_id, false, rate_limited, now);
                self.edit(sale_id, |r| r.note = Some(reason));
            }
            Outcome::NotFound | Outcome::ConfigProblem { .. } if to == AnswerTo::Query => {
                self.schedule_next_query(sale_id, false, false, now)
            }
            // A callback that does not settle the sale changes nothing: polling goes on.
            _ => {}
        }
    }

    /// Does whatever is due at `now`: deadlines, expiry, sending queued pays (oldest first)
    /// and due queries, or one probe while the gateway is unreachable.
    fn pump(&mut self, now: Timestamp) {
        // The cashier's deadline: the counter is freed, the sale is checked in the background.
        if let Some(id) = self.counter.clone() {
            let sale = &self.sales[&id].record;
            let due = sale.deadline_at.is_some_and(|d| d <= now);
            if due
                && matches!(
                    sale.state,
                    SaleState::Submitting | SaleState::WaitingCustomer | SaleState::Unknown
                )
            {
                let policy = self.policy.clone();
                self.update(&id, now, |r| {
                    r.state = SaleState::Unresolved;
                    r.unresolved_at = Some(now);
                    // Past the deadline the code is never sent again (a pay still in flight
                    // that turns out not to have left expires), so it goes now.
                    r.auth_code = None;
                    plan_query(&policy, r, false, false, now);
                });
            }
        }

        let ids: Vec<String> = self.sales.keys().cloned().collect();
        for id in &ids {
            let Some(sale) = self.sales.get(id) else {
                continue;
            };
            if sale.in_flight.is_some() {
                continue;
            }
            let r = &sale.record;
            if r.state == SaleState::Queued && self.queued_expiry(id).is_some_and(|t| t <= now) {
                self.expire(id, now);
            } else if r.state == SaleState::Unresolved
                && !r.needs_review
                && r.next_poll_at.is_some_and(|t| t <= now)
                && r.unresolved_at
                    .is_some_and(|u| now.since(u) >= self.policy.reconcile_until)
            {
                // Told to the register (a report, with the advice in err_code_des): polling
                // stops here, so without it nobody would hear that a person must look.
                self.update(id, now, |r| {
                    r.needs_review = true;
                    r.next_poll_at = None;
                    let advice = "no outcome after the reconciliation window: look it up in the gateway's statements";
                    r.note = Some(advice.into());
                    r.err_code_des = Some(advice.into());
                });
            }
        }

        // What is ready to send: queued pays oldest first, then due queries earliest first.
        let mut pays: Vec<(Timestamp, String)> = Vec::new();
        let mut queries: Vec<(Timestamp, String)> = Vec::new();
        for sale in self.sales.values().filter(|s| s.in_flight.is_none()) {
            let r = &sale.record;
            match r.state {
                SaleState::Queued => {
                    pays.push((r.scanned_at.unwrap_or(r.created_at), r.sale_id.clone()))
                }
                s if polled(s) => {
                    if let Some(t) = r.next_poll_at.filter(|t| *t <= now) {
                        queries.push((t, r.sale_id.clone()));
                    }
                }
                _ => {}
            }
        }
        pays.sort();
        queries.sort();
        let ready = pays
            .into_iter()
            .map(|(_, id)| (Flight::Pay, id))
            .chain(queries.into_iter().map(|(_, id)| (Flight::Query, id)));

        if self.reachable {
            for (flight, id) in ready {
                self.start(flight, &id, now);
            }
        } else if !self.anything_in_flight() && self.next_probe_at.is_none_or(|t| t <= now) {
            // Unreachable: try the oldest request alone; its answer tells whether to drain.
            let mut ready = ready;
            if let Some((flight, id)) = ready.next() {
                self.start(flight, &id, now);
            }
        }
    }

    fn start(&mut self, flight: Flight, sale_id: &str, now: Timestamp) {
        match flight {
            Flight::Pay => {
                let has_code = self
                    .sales
                    .get(sale_id)
                    .is_some_and(|s| s.record.auth_code.is_some());
                if !has_code {
                    // A queued record without its code (hand-edited journal): it cannot be
                    // sent, and it never was.
                    self.expire(sale_id, now);
                    return;
                }
                self.update(sale_id, now, |r| {
                    r.state = SaleState::Submitting;
                    r.pay_attempts = r.pay_attempts.saturating_add(1);
                });
                self.send_pay(sale_id);
            }
            Flight::Query => self.send_query(sale_id),
        }
    }
}

/// Sets when to ask next: soon after a pay answer, on the interval while the cashier waits
/// (doubling on FREQUENTLY, back to normal on any other answer), on the reconciliation
/// schedule once unresolved.
fn plan_query(
    policy: &EnginePolicy,
    r: &mut SaleRecord,
    after_pay: bool,
    rate_limited: bool,
    now: Timestamp,
) {
    let base = millis(policy.query_interval);
    r.poll_interval_ms = if rate_limited {
        // Saturating: the interval comes back from the journal, which may hold anything.
        (r.poll_interval_ms.max(base).saturating_mul(2)).min(millis(policy.query_interval_max))
    } else {
        base
    };
    let interval = std::time::Duration::from_millis(r.poll_interval_ms);
    let wait = if r.state == SaleState::Unresolved {
        let since = now.since(r.unresolved_at.unwrap_or(now));
        let phase = if since < policy.reconcile_fast_for {
            policy.reconcile_fast_interval
        } else {
            policy.reconcile_slow_interval
        };
        if rate_limited {
            phase.max(interval)
        } else {
            phase
        }
    } else if after_pay && !rate_limited {
        policy.first_query
    } else {
        interval
    };
    r.next_poll_at = Some(now.plus(wait));
}

/// The longest gateway text kept (trade number, codes, the gateway's words)...
const MAX_GATEWAY_TEXT_CHARS: usize = 256;
/// ... and the longest note (our own words around a transport error's text).
const MAX_NOTE_CHARS: usize = 512;

/// Cuts texts that come from the gateway or the transport: a verified answer may be as long
/// as the HTTP client allows (1 MiB), and a journal value over sled's blob threshold
/// (128 KiB, and a leaf holds up to 17 records) goes to a separate file that the journal's
/// fsync does not cover; the register and the display have no use for more either.
fn bound_texts(r: &mut SaleRecord) {
    let gateway_texts = [&mut r.trade_no, &mut r.err_code, &mut r.err_code_des];
    for text in gateway_texts.into_iter().flatten() {
        cut_to(text, MAX_GATEWAY_TEXT_CHARS);
    }
    if let Some(note) = &mut r.note {
        cut_to(note, MAX_NOTE_CHARS);
    }
}

/// Keeps at most `max` characters, the last being `…` when something was cut.
fn cut_to(text: &mut String, max: usize) {
    if text.chars().count() > max {
        let mut kept: String = text.chars().take(max - 1).collect();
        kept.push('…');
        *text = kept;
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(EnginePolicy::default(), Timestamp(1_795_636_800_000)).unwrap()
    }

    #[test]
    fn an_answer_naming_the_order_in_another_case_is_about_this_sale() {
        let now = Timestamp(1_795_636_800_000);
        let mut e = engine();
        let sale = e.arm(Fen(1250), "Tea".into(), "001".into(), now).unwrap();
        e.handle_scan("134523198765432101", now);
        while e.poll_output().is_some() {}
        let answer = TradeAnswer {
            result_code: crate::protocol::ResultCode::Success,
            err_code: None,
            err_code_des: None,
            trade_status: Some(crate::protocol::TradeStatus::TradeSuccess),
            out_trade_no: Some(sale.out_trade_no.to_lowercase()),
            trade_no: Some("T1".into()),
            total_amount: Some(Fen(1250)),
            paytype: None,
            pay_date: None,
        };
        e.handle_pay_reply(&sale.sale_id, Ok(answer), now);
        let reported: Vec<SaleState> = std::iter::from_fn(|| e.poll_output())
            .filter_map(|o| match o {
                Output::Report(view) => Some(view.state),
                _ => None,
            })
            .collect();
        assert_eq!(reported, [SaleState::Paid]);
    }

    #[test]
    fn arm_refuses_what_the_gateway_would_refuse() {
        let mut e = engine();
        let now = Timestamp(1_795_636_800_000);
        let arm = |e: &mut Engine, fen, subject: &str, op: &str| {
            e.arm(Fen(fen), subject.into(), op.into(), now)
                .map(|v| v.state)
                .map_err(|err| err.to_string())
        };
        assert_eq!(
            arm(&mut e, 0, "Tea", "001"),
            Err("amount ¥0.00 is zero; a sale needs at least ¥0.01".into())
        );
        assert_eq!(
            arm(&mut e, 100, " ", "001"),
            Err("subject \" \" is not accepted: give 1 to 256 characters".into())
        );
        assert!(arm(&mut e, 100, &"茶".repeat(257), "001").is_err());
        assert!(arm(&mut e, 100, "Tea", &"x".repeat(33)).is_err());
        assert!(arm(&mut e, 100, "Tea", "").is_err());
        // Nothing was armed by the refusals; a good sale is.
        assert_eq!(
            arm(&mut e, 100, &"茶".repeat(256), "001"),
            Ok(SaleState::Armed)
        );
        assert_eq!(e.last_seq(), 1);
    }

    #[test]
    fn refuses_a_bad_policy() {
        let policy = EnginePolicy {
            order_prefix: "POS 1".into(),
            ..EnginePolicy::default()
        };
        assert!(matches!(
            Engine::new(policy, Timestamp(0)),
            Err(PolicyError::BadPrefix { .. })
        ));
        let policy = EnginePolicy {
            query_interval: std::time::Duration::ZERO,
            ..EnginePolicy::default()
        };
        assert_eq!(
            Engine::new(policy, Timestamp(0)).unwrap_err(),
            PolicyError::ZeroInterval {
                field: "query_interval"
            }
        );
    }

    #[test]
    fn a_trade_number_that_is_not_ascii_does_not_panic_the_paid_screen() {
        let mut e = engine();
        let t = Timestamp(1_795_636_800_000);
        let sale = e.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        e.handle_scan("134523198765432101", t);
        let answer = TradeAnswer {
            result_code: crate::protocol::ResultCode::Success,
            err_code: Some(ErrCode::Success),
            err_code_des: None,
            trade_status: Some(TradeStatus::TradeSuccess),
            out_trade_no: Some(sale.out_trade_no),
            // The gateway's trade number is free text: its 6th byte from the end falls
            // inside a three-byte character.
            trade_no: Some("2026交易号1".into()),
            total_amount: Some(Fen(100)),
            paytype: None,
            pay_date: None,
        };
        e.handle_pay_reply(&sale.sale_id, Ok(answer), t);
        let shown: Vec<_> = std::iter::from_fn(|| e.poll_output())
            .filter_map(|o| match o {
                Output::Show(Screen::Paid { trade_no_tail, .. }) => Some(trade_no_tail),
                _ => None,
            })
            .collect();
        assert_eq!(shown, ["26交易号1"]);
    }

    #[test]
    fn counters_read_from_the_journal_do_not_overflow() {
        let t = Timestamp(1_795_636_800_000);
        let mut first = engine();
        first.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        first.handle_scan("134523198765432101", t);
        let mut record = std::iter::from_fn(|| first.poll_output())
            .filter_map(|o| match o {
                Output::Journal(r) => Some(r),
                _ => None,
            })
            .last()
            .unwrap();
        // A journal written by hand or by another version: counters at their limits.
        record.state = SaleState::Unknown;
        record.auth_code = None;
        record.poll_interval_ms = u64::MAX;
        record.query_attempts = u32::MAX;
        let mut e = engine();
        e.recover(vec![record], 1, None, t);
        let sent_query = std::iter::from_fn(|| e.poll_output())
            .any(|o| matches!(o, Output::Send(Request::Query { .. })));
        assert!(sent_query);
        let frequently = TradeAnswer {
            result_code: crate::protocol::ResultCode::BusinessFailure,
            err_code: Some(ErrCode::Frequently),
            err_code_des: None,
            trade_status: None,
            out_trade_no: None,
            trade_no: None,
            total_amount: None,
            paytype: None,
            pay_date: None,
        };
        let id = e.counter_sale().unwrap().sale_id;
        e.handle_query_reply(&id, Ok(frequently), t);
        // Backed off to the cap, not wrapped around.
        assert_eq!(
            e.poll_timeout(),
            Some(t.plus(EnginePolicy::default().query_interval_max))
        );
        e.handle_timeout(t.plus(EnginePolicy::default().query_interval_max));
        assert!(std::iter::from_fn(|| e.poll_output())
            .any(|o| matches!(o, Output::Send(Request::Query { .. }))));
    }

    #[test]
    fn gateway_texts_are_bounded_before_they_are_journaled() {
        let mut e = engine();
        let t = Timestamp(1_795_636_800_000);
        let sale = e.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        e.handle_scan("134523198765432101", t);
        // A verified answer may be up to the HTTP client's limit (1 MiB); sled writes a
        // value over 128 KiB to a separate blob file that the journal's fsync does not cover.
        let answer = TradeAnswer {
            result_code: crate::protocol::ResultCode::BusinessFailure,
            err_code: Some(ErrCode::parse(&"E".repeat(300_000))),
            err_code_des: Some("余额不足".repeat(100_000)),
            trade_status: Some(TradeStatus::TradeFail),
            out_trade_no: Some(sale.out_trade_no),
            trade_no: Some("9".repeat(300_000)),
            total_amount: None,
            paytype: None,
            pay_date: None,
        };
        e.handle_pay_reply(&sale.sale_id, Ok(answer), t);
        let journaled: Vec<SaleRecord> = std::iter::from_fn(|| e.poll_output())
            .filter_map(|o| match o {
                Output::Journal(r) => Some(r),
                _ => None,
            })
            .collect();
        let failed = journaled.last().unwrap();
        assert_eq!(failed.state, SaleState::Failed);
        let chars = |t: &Option<String>| t.as_deref().map_or(0, |t| t.chars().count());
        assert_eq!(chars(&failed.err_code), 256);
        assert_eq!(chars(&failed.err_code_des), 256);
        assert_eq!(chars(&failed.trade_no), 256);
        assert!(failed.err_code_des.as_deref().unwrap().ends_with("余额不…"));
        assert!(serde_json::to_vec(failed).unwrap().len() < 8 * 1024);
    }

    #[test]
    fn time_going_backwards_does_not_move_deadlines_back() {
        let mut e = engine();
        let t = Timestamp(1_795_636_800_000);
        e.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        e.handle_scan(
            "134523198765432101",
            t.plus(std::time::Duration::from_secs(5)),
        );
        let deadline = e.poll_timeout().unwrap();
        // The wall clock steps back a minute (NTP): the engine keeps its latest time.
        e.handle_timeout(t);
        assert_eq!(e.poll_timeout(), Some(deadline));
        assert_eq!(e.counter_sale().unwrap().state, SaleState::Submitting);
    }
}
