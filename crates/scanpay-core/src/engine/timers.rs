//! The engine's one notion of "what is due when", like quinn-proto's timer table: `timers`
//! lists every timer with its time; `poll_timeout` reads the earliest, `pump` (run by
//! `handle_timeout` and after every input) acts on those due, and `queue_depth` counts the
//! requests due but not sent. Nothing else computes a deadline.

use super::answers::plan_query;
use super::machine::{polled, Engine};
use super::output::{Output, Request};
use super::sale::SaleState;
use super::time::Timestamp;
use crate::protocol::Call;

/// Something the engine does at a time of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The cashier's deadline of the sale at the counter: it becomes unresolved, the counter
    /// is freed and the sale is checked in the background.
    Deadline,
    /// A queued pay may wait no longer (`pay_max_age` from the scan, or the deadline): it
    /// expires unsent.
    Expiry,
    /// An unresolved sale's reconciliation window has ended and its next query is due: it
    /// needs review instead, and polling stops. Its wake-up waits like the query's (while
    /// the gateway is unreachable, for the next probe), so the last query the window allows
    /// is never skipped.
    Review,
    /// A request ready to go: a queued pay (at its scan, so the oldest goes first) or a
    /// query at its planned time. Held back while the gateway is unreachable, but for one
    /// probe every `EnginePolicy::probe_every`.
    Send(Call),
    /// A kiosk arms its next sale.
    KioskRearm,
    /// Storage is failing: records that did not reach the disk are written again
    /// (`storage.rs`). Meanwhile `Send(Pay)` is held: no pay leaves before its record.
    StorageRetry,
}

/// One entry of the table: what, when, and for which sale.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Due {
    at: Timestamp,
    timer: Timer,
    sale_id: Option<String>,
}

impl Engine {
    /// Every timer, sales in id order. A sale with a request out has only its deadline: the
    /// reply decides what comes next.
    fn timers(&self) -> Vec<Due> {
        let mut table = Vec::new();
        let mut due = |at: Timestamp, timer: Timer, sale_id: Option<&str>| {
            table.push(Due {
                at,
                timer,
                sale_id: sale_id.map(str::to_string),
            })
        };
        if let Some(sale) = self.counter.as_ref().and_then(|id| self.sales.get(id)) {
            let r = &sale.record;
            if matches!(
                r.state,
                SaleState::Submitting | SaleState::WaitingCustomer | SaleState::Unknown
            ) {
                if let Some(deadline) = r.deadline_at {
                    due(deadline, Timer::Deadline, Some(&r.sale_id));
                }
            }
        }
        for sale in self.sales.values().filter(|s| s.in_flight.is_none()) {
            let r = &sale.record;
            let id = Some(r.sale_id.as_str());
            match r.state {
                SaleState::Queued => {
                    if let Some(expiry) = self.queued_expiry(&r.sale_id) {
                        due(expiry, Timer::Expiry, id);
                    }
                    due(
                        r.scanned_at.unwrap_or(r.created_at),
                        Timer::Send(Call::Pay),
                        id,
                    );
                }
                // A sale ended failed by the not-found rule is still checked (answers.rs).
                state if polled(state) || r.not_found.checking => {
                    if let Some(poll) = r.next_poll_at {
                        let windowed = (state == SaleState::Unresolved && !r.needs_review)
                            || r.not_found.checking;
                        if let (true, Some(since)) = (windowed, r.unresolved_at) {
                            let window_end = since.plus(self.policy.reconcile_until());
                            due(poll.max(window_end), Timer::Review, id);
                        }
                        due(poll, Timer::Send(Call::Query), id);
                    }
                }
                // Listed, so a new state is a compile error here. The polled ones are taken
                // above; armed waits for a scan, submitting for its reply (its deadline is the
                // counter's, above); final sales leave the engine.
                SaleState::Armed
                | SaleState::Submitting
                | SaleState::WaitingCustomer
                | SaleState::Unknown
                | SaleState::Unresolved
                | SaleState::Paid
                | SaleState::Failed
                | SaleState::Expired
                | SaleState::Disarmed => {}
            }
        }
        if let Some(at) = self.kiosk.as_ref().and_then(|k| k.rearm_at) {
            due(at, Timer::KioskRearm, None);
        }
        if let Some(at) = self.storage_retry_at() {
            due(at, Timer::StorageRetry, None);
        }
        table
    }

    /// When the engine next needs `handle_timeout`, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let probe_allowed = self.reachable || !self.anything_in_flight();
        let storage_faulted = self.storage_fault().is_some();
        self.timers()
            .into_iter()
            .filter_map(|due| match due.timer {
                // Held until the fault clears, which the retry timer (or a write) decides.
                Timer::Send(Call::Pay) if storage_faulted => None,
                // A review comes with the sale's next query, so it waits as the query does.
                Timer::Send(_) | Timer::Review if self.reachable => Some(due.at),
                Timer::Send(_) | Timer::Review if probe_allowed => {
                    Some(due.at.max(self.next_probe_at.unwrap_or(due.at)))
                }
                Timer::Send(_) | Timer::Review => None,
                Timer::Deadline | Timer::Expiry | Timer::KioskRearm | Timer::StorageRetry => {
                    Some(due.at)
                }
            })
            .min()
    }

    /// Requests waiting for the gateway to come back: queued pays and overdue queries.
    pub fn queue_depth(&self) -> usize {
        self.timers()
            .iter()
            .filter(|due| matches!(due.timer, Timer::Send(_)) && due.at <= self.now)
            .count()
    }

    /// Time has come (call at or after `poll_timeout()`; calling early is harmless).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.tick(now);
        self.pump(now);
    }

    /// Does whatever the table says is due at `now`, in this order: writing again what storage
    /// did not take; the counter's deadline; expiry and review; sending queued pays (oldest first) and due queries (earliest
    /// first), or one probe while the gateway is unreachable; the kiosk's re-arm. Each step
    /// reads the table afresh, since the one before may have changed it.
    pub(super) fn pump(&mut self, now: Timestamp) {
        // First, so a version written again always goes before any newer one made below.
        if !self.due_now(now, |t| t == Timer::StorageRetry).is_empty() {
            self.retry_storage(now);
        }

        for due in self.due_now(now, |t| t == Timer::Deadline) {
            let policy = self.policy.clone();
            self.update_journaled(due.sale_id.as_deref().unwrap_or_default(), now, |r| {
                r.state = SaleState::Unresolved;
                r.unresolved_at = Some(now);
                // Past the deadline the code is never sent again (a pay still in flight
                // that turns out not to have left expires), so it goes now.
                r.auth_code = None;
                plan_query(&policy, r, false, false, now);
            });
        }

        for due in self.due_now(now, |t| matches!(t, Timer::Expiry | Timer::Review)) {
            let id = due.sale_id.as_deref().unwrap_or_default();
            match due.timer {
                Timer::Expiry => self.expire(id, now),
                // Ended by the not-found rule: its checks end with the window, quietly (it
                // stays failed, which the register already knows).
                Timer::Review if self.sales.get(id).is_some_and(|s| s.record.not_found.checking) => {
                    self.update_journaled(id, now, |r| {
                        r.not_found.checking = false;
                        r.next_poll_at = None;
                        r.note = Some("never found at the gateway for the whole reconciliation window".into());
                    })
                }
                // Told to the register (a report, with the advice in err_code_des): polling
                // stops here, so without it nobody would hear that a person must look.
                Timer::Review => self.update_journaled(id, now, |r| {
                    r.needs_review = true;
                    r.next_poll_at = None;
                    let advice = "no outcome after the reconciliation window: look it up in the gateway's statements";
                    r.note = Some(advice.into());
                    r.err_code_des = Some(advice.into());
                }),
                Timer::Deadline | Timer::Send(_) | Timer::KioskRearm | Timer::StorageRetry => {}
            }
        }

        let storage_faulted = self.storage_fault().is_some();
        let mut ready = self.due_now(now, |t| match t {
            Timer::Send(Call::Pay) => !storage_faulted,
            Timer::Send(Call::Query) => true,
            Timer::Deadline
            | Timer::Expiry
            | Timer::Review
            | Timer::KioskRearm
            | Timer::StorageRetry => false,
        });
        // Pays before queries, each oldest first.
        ready.sort_by_key(|due| {
            let query = due.timer == Timer::Send(Call::Query);
            (query, due.at, due.sale_id.clone())
        });
        let ready = ready.into_iter().filter_map(|due| match due.timer {
            Timer::Send(call) => due.sale_id.map(|id| (call, id)),
            Timer::Deadline
            | Timer::Expiry
            | Timer::Review
            | Timer::KioskRearm
            | Timer::StorageRetry => None,
        });
        if self.reachable {
            for (call, id) in ready {
                self.start(call, &id, now);
            }
        } else if !self.anything_in_flight() && self.next_probe_at.is_none_or(|t| t <= now) {
            // Unreachable: try the oldest request alone; its answer tells whether to drain.
            let mut ready = ready;
            if let Some((call, id)) = ready.next() {
                self.start(call, &id, now);
            }
        }

        self.rearm_kiosk(now);
    }

    /// The table's entries of the kinds `which` that are due at `now`, in table order.
    fn due_now(&self, now: Timestamp, which: impl Fn(Timer) -> bool) -> Vec<Due> {
        self.timers()
            .into_iter()
            .filter(|due| which(due.timer) && due.at <= now)
            .collect()
    }

    fn anything_in_flight(&self) -> bool {
        self.sales.values().any(|s| s.in_flight.is_some())
    }

    pub(super) fn queued_expiry(&self, sale_id: &str) -> Option<Timestamp> {
        let record = &self.sales.get(sale_id)?.record;
        let by_age = record.scanned_at?.plus(self.policy.pay_max_age);
        Some(match record.deadline_at {
            Some(deadline) => by_age.min(deadline),
            None => by_age,
        })
    }

    fn start(&mut self, call: Call, sale_id: &str, now: Timestamp) {
        match call {
            Call::Pay => {
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
                self.update_journaled(sale_id, now, |r| {
                    r.state = SaleState::Submitting;
                    r.pay_attempts = r.pay_attempts.saturating_add(1);
                    r.not_found.pay_attempted(now);
                });
                self.send_pay(sale_id);
            }
            Call::Query => self.send_query(sale_id),
        }
    }

    pub(super) fn send_pay(&mut self, sale_id: &str) {
        let Some(sale) = self.sales.get_mut(sale_id) else {
            return;
        };
        let r = &sale.record;
        let Some(code) = r.auth_code.clone() else {
            return;
        };
        sale.in_flight = Some(Call::Pay);
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
        sale.in_flight = Some(Call::Query);
        sale.record.next_poll_at = None;
        sale.record.query_attempts = sale.record.query_attempts.saturating_add(1);
        self.outputs.push_back(Output::Send(Request::Query {
            sale_id: sale.record.sale_id.clone(),
            out_trade_no: sale.record.out_trade_no.clone(),
        }));
    }

    pub(super) fn expire(&mut self, sale_id: &str, now: Timestamp) {
        self.update_journaled(sale_id, now, |r| {
            r.state = SaleState::Expired;
            r.auth_code = None;
            r.next_poll_at = None;
            r.err_code_des = Some(
                "not sent: the gateway could not be reached in time; nothing was charged".into(),
            );
        });
    }
}
