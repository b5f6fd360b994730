//! What comes back from the gateway: replies to the engine's requests (or why none came),
//! and verified callbacks. An answer is acted on as the protocol's `read_outcome` reads it,
//! with an exhaustive match: a new `Outcome` is a compile error here, never ignored.
//!
//! # A pay the gateway never received (the not-found rule)
//!
//! The gateway has no cancel endpoint, so a pay whose answer was lost can only be settled by
//! what queries say. It ends `failed` (err_code ORDER_NOTFOUND: the gateway never received
//! it, nothing was charged) on an ORDER_NOTFOUND answer to a query that comes at least
//! `EnginePolicy::not_found_final` after the last pay attempt, provided no verified answer
//! other than ORDER_NOTFOUND came since that attempt (`NotFoundWatch`, journaled with the
//! record, so the window and what was heard survive a restart). Why that is safe:
//!
//! - A pay can charge only while its payment code is valid. WeChat and Alipay codes are
//!   valid for about a minute from when the phone shows them, which is before the scan, and
//!   every pay attempt comes after the scan. So once `not_found_final` (at least that minute,
//!   config validation's bound; 300 s by default, the margin for a gateway whose records lag
//!   its processing) has passed since the last attempt, a request still held up in the
//!   network carries a dead code and cannot charge when it arrives; and a request that did
//!   arrive in time and charged would be recorded, so the query would not say ORDER_NOTFOUND.
//! - Any other verified answer since the last attempt rules the rule out for good:
//!   USERPAYING, a status, ORDERPAID, even FREQUENTLY or an answer not trusted means the
//!   gateway has (or may have) the order or could not tell; such a sale goes on as before
//!   (unresolved, checked for the reconciliation window, then needs review).
//! - A transport failure (no answer, a page, a bad signature) neither counts nor rules out.
//!   Failed queries create nothing at the gateway, and what a lost query answer would have
//!   said is said again by the next query: a paid order stays paid. The decision is only
//!   ever taken on an ORDER_NOTFOUND that did arrive, after the window.
//! - A new pay attempt (a queued pay sent again) starts the window again.
//! - A QR sale sends no pay request (ORDER_NOTFOUND means "not paid yet"): never ended so.
//!
//! Even so the rule is a judgement, not the gateway's word: after it the sale is still
//! checked at the slow pace until the reconciliation window ends (`NotFoundWatch::checking`),
//! and a success found meanwhile (a query or a callback) turns it `paid` with `late` set.
//!
//! # Late results
//!
//! A change that comes after the sale had ended (`SaleRecord::has_ended`: a final state, or
//! unresolved with `needs_review`) sets `late`: a paid after failed or after needs review, a
//! callback after failed, a USERPAYING for a sale ended by the not-found rule. The register
//! hears it as any change (a `Report`).

use std::time::Duration;

use super::machine::{millis, Engine};
use super::output::{IgnoredCallback, Output, SendFailure};
use super::policy::EnginePolicy;
use super::record::SaleRecord;
use super::sale::SaleState;
use super::time::Timestamp;
use crate::protocol::{AnswerTo, Call, ErrCode, Expected, Outcome, TradeAnswer};

impl Engine {
    /// The reply to a `Request::Pay` for `sale_id`.
    pub fn handle_pay_reply(
        &mut self,
        sale_id: &str,
        reply: Result<TradeAnswer, SendFailure>,
        now: Timestamp,
    ) {
        let now = self.tick(now);
        if self.take_flight(sale_id, Call::Pay, reply.is_ok()) {
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
                Err(SendFailure::Invalid(detail)) => self.update_journaled(sale_id, now, |r| {
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
        if self.take_flight(sale_id, Call::Query, reply.is_ok()) {
            match reply {
                Ok(answer) => {
                    self.came_online();
                    self.apply_answer(sale_id, &answer, AnswerTo::Query, now);
                }
                Err(SendFailure::Offline(detail)) => {
                    self.went_offline(now);
                    // Due at once: held until the gateway answers again, then drained.
                    self.update_unjournaled(sale_id, |r| {
                        r.next_poll_at = Some(now);
                        r.note = Some(format!("query not sent, gateway unreachable: {detail}"));
                    });
                }
                Err(SendFailure::Unknown(detail) | SendFailure::Invalid(detail)) => {
                    self.schedule_next_query(sale_id, false, false, now);
                    self.update_unjournaled(sale_id, |r| {
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
    ) -> Result<(), IgnoredCallback> {
        let now = self.tick(now);
        let out_trade_no = answer
            .out_trade_no
            .clone()
            .ok_or(IgnoredCallback::NoOrderNumber)?;
        let id = self
            .sales
            .values()
            .find(|s| {
                s.record.out_trade_no.eq_ignore_ascii_case(&out_trade_no)
                    && s.record.state != SaleState::Armed
            })
            .map(|s| s.record.sale_id.clone())
            .ok_or_else(|| IgnoredCallback::UnknownOrder {
                out_trade_no: out_trade_no.clone(),
            })?;
        self.came_online();
        self.apply_answer(&id, &answer, AnswerTo::Notify, now);
        self.pump(now);
        Ok(())
    }

    /// The pay request could not leave: queue it (same number, same code) if it is still
    /// the counter's sale and young enough, else it expires; nothing was charged.
    fn pay_never_left(&mut self, sale_id: &str, detail: &str, now: Timestamp) {
        self.went_offline(now);
        let young = self.queued_expiry(sale_id).is_some_and(|t| t > now);
        let at_counter = self.counter.as_deref() == Some(sale_id);
        if young && at_counter {
            self.update_journaled(sale_id, now, |r| {
                r.state = SaleState::Queued;
                r.note = Some(format!("gateway unreachable, queued: {detail}"));
            });
        } else {
            self.update_unjournaled(sale_id, |r| {
                r.note = Some(format!("gateway unreachable: {detail}"));
            });
            self.expire(sale_id, now);
        }
    }

    /// The pay request may have been received but we do not know its outcome: only queries
    /// from now on (the code is useless and erased: it is never sent again).
    fn pay_unknown(&mut self, sale_id: &str, note: String, rate_limited: bool, now: Timestamp) {
        let unresolved = self.past_deadline(sale_id, now);
        let policy = self.policy.clone();
        self.update_journaled(sale_id, now, |r| {
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
        self.update_unjournaled(sale_id, |r| {
            plan_query(&policy, r, after_pay, rate_limited, now)
        });
    }

    /// A verified answer about a sale, acted on as the protocol reads it (`read_outcome`,
    /// given this sale's order and amount): nothing about the answer is decided here again.
    /// The answer's own fields are only copied into the record (trade number, codes, the
    /// wallet it names).
    fn apply_answer(&mut self, sale_id: &str, answer: &TradeAnswer, to: AnswerTo, now: Timestamp) {
        let Some(sale) = self.sales.get(sale_id) else {
            return;
        };
        let record = &sale.record;
        let outcome = answer.outcome_for(
            to,
            Expected {
                out_trade_no: &record.out_trade_no,
                total_amount: record.amount,
            },
        );
        // The not-found rule: any verified answer but a query's ORDER_NOTFOUND rules it out
        // (see the module's docs). Journaled further down when nothing else journals it.
        let rules_out_not_found = !(outcome == Outcome::NotFound && to == AnswerTo::Query);
        // (Only where the rule could apply: a QR sale sent no pay.)
        let newly_ruled_out = rules_out_not_found
            && !record.not_found.other_answer
            && record.not_found.last_pay_at.is_some();
        let ended = record.has_ended();
        let pay_attempts = record.pay_attempts;
        let order = record.out_trade_no.clone();
        if newly_ruled_out {
            self.update_unjournaled(sale_id, |r| r.not_found.other_answer = true);
        }
        let trade_no = answer.trade_no.clone();
        let wallet = answer.payway();
        // What every answer that settles the sale does to its record.
        let settle = |r: &mut SaleRecord, state: SaleState| {
            r.state = state;
            r.auth_code = None;
            r.next_poll_at = None;
            if std::mem::take(&mut r.not_found.checking) {
                r.note = Some("the gateway's own answer came after the not-found rule".into());
            }
            r.late |= ended;
        };
        match outcome {
            Outcome::Paid => self.update_journaled(sale_id, now, |r| {
                settle(r, SaleState::Paid);
                r.trade_no = trade_no.or(r.trade_no.take());
                r.payway = wallet.or(r.payway);
                r.err_code = None;
                r.err_code_des = None;
                r.needs_review = false;
            }),
            Outcome::NotPaid { err_code, reason } => self.update_journaled(sale_id, now, |r| {
                settle(r, SaleState::Failed);
                r.trade_no = trade_no.or(r.trade_no.take());
                r.err_code = err_code.map(|c| c.to_string());
                r.err_code_des = Some(reason);
                r.needs_review = false;
            }),
            Outcome::Refunded { in_doubt } => {
                let status = answer.trade_status.as_ref().map(|s| s.to_string());
                self.update_journaled(sale_id, now, |r| {
                    settle(r, SaleState::Failed);
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
            Outcome::ConfigProblem { err_code, reason } => match to {
                AnswerTo::Pay => self.update_journaled(sale_id, now, |r| {
                    settle(r, SaleState::Failed);
                    r.err_code = Some(err_code.to_string());
                    r.err_code_des = Some(format!(
                        "the gateway refused the merchant setup ({reason}); check app_id and key"
                    ));
                }),
                AnswerTo::Query => self.schedule_next_query(sale_id, false, false, now),
                // A callback that does not settle the sale changes nothing: polling goes on.
                AnswerTo::Notify => {}
            },
            Outcome::WaitingCustomer => match to {
                AnswerTo::Pay | AnswerTo::Query => self.still_waiting(sale_id, to, now),
                AnswerTo::Notify => {}
            },
            // Invariant 7 (ARCHITECTURE.md): the order exists, but this journal never sent this number
            // before (this is its first pay): it belongs to another order (a lost journal, a
            // prefix shared with another terminal). Its status is not this sale's outcome,
            // and this request charged nobody: the gateway refused it.
            Outcome::OrderExists if to == AnswerTo::Pay && pay_attempts <= 1 => {
                let code = answer.err_code.as_ref().map(|c| c.to_string());
                self.update_journaled(sale_id, now, |r| {
                    settle(r, SaleState::Failed);
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
            } => match to {
                AnswerTo::Pay => self.pay_unknown(sale_id, reason, rate_limited, now),
                AnswerTo::Query => {
                    self.schedule_next_query(sale_id, false, rate_limited, now);
                    self.update_unjournaled(sale_id, |r| r.note = Some(reason));
                }
                AnswerTo::Notify => {}
            },
            Outcome::NotFound => match to {
                AnswerTo::Query => self.not_found(sale_id, now),
                AnswerTo::Pay | AnswerTo::Notify => {}
            },
        }
        // An answer that settles nothing may not have journaled the record, and a restart
        // must not forget that the rule is out.
        if newly_ruled_out && !self.journaled_ruled_out(sale_id) {
            self.update_journaled(sale_id, now, |_| {});
        }
    }

    /// Whether the record's latest journaled version (this input's, not yet carried out)
    /// already says the not-found rule is out; true for a sale no longer followed.
    fn journaled_ruled_out(&self, sale_id: &str) -> bool {
        if !self.sales.contains_key(sale_id) {
            return true;
        }
        self.outputs.iter().rev().any(|o| match o {
            Output::Journal(r, _) => r.sale_id == sale_id && r.not_found.other_answer,
            Output::Report(_)
            | Output::Send(_)
            | Output::Show(_)
            | Output::ScanRefused { .. }
            | Output::KioskNotArmed { .. } => false,
        })
    }

    /// ORDER_NOTFOUND on a query: the not-found rule (see the module's docs) ends the sale
    /// failed once its window has passed with nothing else heard; otherwise ask again.
    fn not_found(&mut self, sale_id: &str, now: Timestamp) {
        let Some(sale) = self.sales.get(sale_id) else {
            return;
        };
        let watch = &sale.record.not_found;
        let window = self.policy.not_found_final;
        let conclusive = !watch.checking
            && !watch.other_answer
            && watch.last_pay_at.is_some_and(|at| now >= at.plus(window));
        if !conclusive {
            return self.schedule_next_query(sale_id, false, false, now);
        }
        let policy = self.policy.clone();
        self.update_journaled(sale_id, now, |r| {
            let late = r.has_ended();
            r.state = SaleState::Failed;
            r.auth_code = None;
            r.err_code = Some(ErrCode::OrderNotFound.to_string());
            r.err_code_des = Some(format!(
                "the gateway never received this payment (order not found {} s after the last attempt): nothing was charged",
                window.as_secs()
            ));
            r.note = Some(
                "ended by the not-found rule; still checked in the background until the reconciliation window ends"
                    .into(),
            );
            r.needs_review = false;
            r.late |= late;
            r.not_found.checking = true;
            // The reconciliation window counts from when it became unresolved; a sale still at
            // the counter (a cashier's deadline longer than the window) counts from now.
            r.unresolved_at.get_or_insert(now);
            plan_query(&policy, r, false, false, now);
        });
    }

    /// USERPAYING / WAIT_BUYER_PAY on a pay or a query: ask again, as unresolved once the
    /// cashier's deadline has passed. Journaled only when something changed (the state, or
    /// the code now erased); otherwise only the schedule moves and the countdown refreshes.
    fn still_waiting(&mut self, sale_id: &str, to: AnswerTo, now: Timestamp) {
        let Some(sale) = self.sales.get(sale_id) else {
            return;
        };
        let record = &sale.record;
        // A sale ended by the not-found rule that the gateway turns out to have: it is
        // followed again as unresolved, and the change is late (it had ended).
        let revived = record.not_found.checking;
        let unresolved = revived || self.past_deadline(sale_id, now);
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
            if revived {
                r.late = true;
                r.not_found.checking = false;
                r.err_code = None;
                r.err_code_des = None;
            }
            if unresolved {
                r.unresolved_at.get_or_insert(now);
            }
            plan_query(&policy, r, to == AnswerTo::Pay, false, now);
        };
        if changed {
            self.update_journaled(sale_id, now, plan);
        } else {
            let screen = self.screen_for(record, now);
            self.update_unjournaled(sale_id, plan);
            if self.counter.as_deref() == Some(sale_id) {
                // Still waiting: refresh the countdown on the screen.
                self.outputs.push_back(Output::Show(screen));
            }
        }
    }

    /// Clears the in-flight mark; says whether the reply should be applied. A failure for a
    /// request we are not waiting for is stale and dropped; a verified answer is always
    /// worth applying (it is the gateway's word about this order).
    fn take_flight(&mut self, sale_id: &str, call: Call, verified: bool) -> bool {
        let Some(sale) = self.sales.get_mut(sale_id) else {
            return false;
        };
        if sale.in_flight == Some(call) {
            sale.in_flight = None;
            true
        } else {
            verified
        }
    }

    pub(super) fn came_online(&mut self) {
        self.reachable = true;
        self.next_probe_at = None;
    }

    pub(super) fn went_offline(&mut self, now: Timestamp) {
        self.reachable = false;
        self.next_probe_at = Some(now.plus(self.policy.probe_every()));
    }
}

/// Sets when to ask next: soon after a pay answer, on the interval while the cashier waits
/// (doubling on FREQUENTLY, back to normal on any other answer), on the reconciliation
/// schedule once unresolved.
pub(super) fn plan_query(
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
    let interval = Duration::from_millis(r.poll_interval_ms);
    let wait = if r.not_found.checking {
        // Ended by the not-found rule: only a late success is still looked for.
        policy.reconcile_slow_interval.max(if rate_limited {
            interval
        } else {
            Duration::ZERO
        })
    } else if r.state == SaleState::Unresolved {
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
