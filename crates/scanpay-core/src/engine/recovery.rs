//! Resuming after a restart: every unfinished record the journal holds, put back in a state
//! the engine can follow without ever sending a pay twice.

use super::machine::{Engine, Sale};
use super::record::{OrderEpoch, SaleRecord};
use super::sale::SaleState;
use super::time::Timestamp;

impl Engine {
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
    /// - failed by the not-found rule and still checked (`NotFoundWatch::checking`): asked
    ///   at once, then on the slow schedule until the reconciliation window ends; the window
    ///   and what was heard come from the journal, so a restart changes neither;
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
            .filter(|r| r.followed() && !self.sales.contains_key(&r.sale_id))
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
            // A sale ended by the not-found rule keeps its state: it was failed before the
            // damage too (only a later success could change it, which the checks look for).
            let salvaged = record.salvaged && !record.not_found.checking;
            let is_counter = counter_candidate.as_deref() == Some(id.as_str());
            self.sales.insert(
                id.clone(),
                Sale {
                    // As read back: on disk, so the floor a power cut leaves.
                    synced: record.clone(),
                    record,
                    in_flight: None,
                    recorded: true,
                },
            );
            if is_counter {
                self.counter = Some(id.clone());
            }
            match state {
                _ if salvaged => self.update_journaled(&id, now, |r| {
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
                SaleState::Armed => self.update_journaled(&id, now, |r| {
                    r.state = SaleState::Disarmed;
                    r.note = Some("disarmed at restart: arm it again on the register".into());
                }),
                SaleState::Submitting => self.update_journaled(&id, now, |r| {
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
                            self.update_unjournaled(&id, |r| {
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
                    self.update_journaled(&id, now, |r| {
                        r.state = SaleState::Unresolved;
                        r.unresolved_at = Some(r.deadline_at.unwrap_or(now).min(now));
                        r.next_poll_at = Some(now);
                    })
                }
                SaleState::WaitingCustomer | SaleState::Unknown => {
                    self.update_unjournaled(&id, |r| r.next_poll_at = Some(now));
                    self.show_counter();
                }
                // Asked at once: the process was down for an unknown time.
                SaleState::Unresolved => self.update_unjournaled(&id, |r| {
                    if !r.needs_review {
                        r.next_poll_at = Some(now);
                    }
                }),
                // Followed only while the not-found rule's checks go on: asked at once.
                SaleState::Failed => self.update_unjournaled(&id, |r| {
                    r.salvaged = false;
                    r.next_poll_at = Some(now);
                }),
                SaleState::Paid | SaleState::Expired | SaleState::Disarmed => {}
            }
        }
        self.pump(now);
    }
}
