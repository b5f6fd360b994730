//! The two ways a sale's record changes: journaled (state, code, outcome: what money and the
//! register depend on) or unjournaled (schedule and notes). Naming them apart lets a reader
//! see at every call which one a change is. And which journaled versions must be synced
//! before the next output (`durability`: one home for that rule).

use super::machine::{holds_counter, Engine};
use super::output::{Durability, Output};
use super::record::SaleRecord;
use super::sale::{SaleState, SaleView};
use super::time::Timestamp;

impl Engine {
    /// Changes a record in memory only: for what no money depends on (the query schedule,
    /// notes). It reaches the journal with the record's next journaled update; after a
    /// crash, recovery asks again at once, so a lost schedule costs nothing.
    pub(super) fn update_unjournaled(&mut self, sale_id: &str, f: impl FnOnce(&mut SaleRecord)) {
        if let Some(sale) = self.sales.get_mut(sale_id) {
            f(&mut sale.record);
        }
    }

    /// Changes a record and journals it (an `Output::Journal`, durable before any later
    /// output: invariant 3); reports a state change (or a sale newly needing review);
    /// updates the counter's screen; forgets the sale once no longer followed (final, and not
    /// checked by the not-found rule; the journal keeps it).
    /// Every change of state, of the code or of what the register is told goes here.
    pub(super) fn update_journaled(
        &mut self,
        sale_id: &str,
        now: Timestamp,
        f: impl FnOnce(&mut SaleRecord),
    ) {
        let Some(sale) = self.sales.get_mut(sale_id) else {
            return;
        };
        let before = sale.record.state;
        let review_before = sale.record.needs_review;
        let late_before = sale.record.late;
        f(&mut sale.record);
        bound_texts(&mut sale.record);
        sale.record.updated_at = now;
        let record = sale.record.clone();
        // While storage is faulted, `synced` may name a version that never reached the disk
        // (its write failed): nothing is deferred against it until the fault clears.
        let durability = if self.storage.is_some() {
            Durability::Synced
        } else {
            durability(&sale.synced, &record)
        };
        if durability == Durability::Synced {
            sale.synced = record.clone();
        }
        let at_counter = self.counter.as_deref() == Some(sale_id);
        self.outputs
            .push_back(Output::Journal(record.clone(), durability));
        let newly = |now: bool, before: bool| now && !before;
        if record.state != before
            || newly(record.needs_review, review_before)
            || newly(record.late, late_before)
        {
            self.outputs.push_back(Output::Report(record.view()));
        }
        if record.state != before && at_counter {
            let screen = self.screen_for(&record, now);
            self.outputs.push_back(Output::Show(screen));
        }
        if at_counter && !holds_counter(record.state) {
            self.counter = None;
        }
        if !record.followed() {
            self.sales.remove(sale_id);
        }
    }

    /// The view of `sale_id` most recently reported and not yet polled.
    pub(super) fn last_reported(&self, sale_id: &str) -> Option<SaleView> {
        self.outputs.iter().rev().find_map(|o| match o {
            Output::Report(v) => (v.sale_id == sale_id).then(|| v.clone()),
            Output::Journal(..)
            | Output::Send(_)
            | Output::Show(_)
            | Output::ScanRefused { .. }
            | Output::KioskNotArmed { .. } => None,
        })
    }
}

/// Whether a new version of a sale may wait for the next synced write (invariant 3): only
/// one that moves a sale among the states a restart treats alike, since its last synced
/// version. Submitting (recovery: unknown, looked up, never sent again), waiting, unknown
/// and unresolved are all looked up at the gateway after a restart, on a schedule
/// recovery sets afresh, the deadline and the code's erasure come again from the record's
/// own times; so losing such a version at a power cut costs nothing. Everything else is
/// synced: a new sale (its number), a pay about to leave (submitting) or waiting to
/// (queued: the offline queue), a code, an end (final, or needing review) and any change
/// after one, and the not-found rule's memory (what was heard since the last pay attempt).
pub(super) fn durability(synced: &SaleRecord, new: &SaleRecord) -> Durability {
    let looked_up = |state: SaleState| {
        matches!(
            state,
            SaleState::WaitingCustomer | SaleState::Unknown | SaleState::Unresolved
        )
    };
    let lossless = looked_up(new.state)
        && (looked_up(synced.state) || synced.state == SaleState::Submitting)
        && !new.has_ended()
        && !synced.has_ended()
        && new.auth_code.is_none()
        && new.not_found == synced.not_found
        && new.sale_id == synced.sale_id;
    if lossless {
        Durability::Deferred
    } else {
        Durability::Synced
    }
}

/// The longest gateway text kept (trade number, codes, the gateway's words)...
const MAX_GATEWAY_TEXT_CHARS: usize = 256;
/// ... and the longest note (our own words around a transport error's text).
const MAX_NOTE_CHARS: usize = 512;

/// Cuts texts that come from the gateway or the transport: a verified answer may be as long
/// as the HTTP client allows (1 MiB), which is also the journal's limit for one record, and
/// every version is written again at each change; the register and the display have no
/// use for more either.
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
