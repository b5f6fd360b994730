//! The sale lifecycle as a sans-IO state machine.
//!
//! Architecture invariant: pure. No tokio, reqwest, journal store, device or filesystem; no clock
//! reads. Time comes in as an argument (`Timestamp`), outputs come out as a closed enum
//! (`Output`) drained with `Engine::poll_output`, and `Engine::poll_timeout` says when to call
//! `Engine::handle_timeout` next.
//!
//! Driving it (the daemon's loop):
//! ```text
//! let mut engine = Engine::new(policy, now)?;
//! engine.recover(journal.unfinished()?, journal.last_seq()?, Some(journal.epoch()?), now);
//! if kiosk { engine.start_kiosk(amount, subject, operator_id, now) } // re-arms on its timer
//! loop {
//!     while let Some(output) = engine.poll_output() { carry it out (Journal: write, + sync if Synced, first) }
//!     select! { scan => engine.handle_scan(..), reply => engine.handle_pay_reply(..), …,
//!               sleep_until(engine.poll_timeout()) => engine.handle_timeout(now) }
//! }
//! ```
//!
//! Decisions where the design and the spec are silent (each kept in one place):
//! - A queued sale still holds the counter (it is neither unresolved nor final), so at most
//!   one pay is ever queued; it expires after `pay_max_age` counted from the scan.
//! - While the gateway is unreachable, one request at a time is tried every
//!   `EnginePolicy::probe_every` (oldest queued pay first, then the earliest due query); any verified
//!   answer or `gateway_reachable()` drains everything, pays first.
//! - The payment code is erased as soon as it can never be sent again: on any verified
//!   pay answer, on `SendFailure::Unknown`/`Invalid`, at expiry, when the cashier's deadline
//!   passes, and when a restart finds the sale submitting.
//! - Used codes are remembered in memory (`used_code_memory`), not in the journal: the
//!   journal erases answered codes, and a digest of a short digit string would give it away.
//! - A query (or callback) answer that is about the request rather than the payment
//!   (LACK_PARAMS, PARAMSERROR, ORDER_CONFLICT, codes we do not know, configuration
//!   problems) never settles a sale; only an order status or a payment reason does (the
//!   protocol's `read_outcome` reads it so; the engine acts on its `Outcome` as it is).
//! - An answer naming another order, or a paid one that does not name this sale's order and
//!   amount, is not trusted: ask again (the check is the protocol's `read_outcome`).
//! - The reconciliation window counts from the moment the sale became unresolved; at its
//!   end the sale stays unresolved with `needs_review` and is not polled any more (a late
//!   callback still settles it); the register gets a report whose `err_code_des` says to look
//!   it up in the gateway's statements.
//! - A pay the gateway never received (every query since its last attempt says
//!   ORDER_NOTFOUND for `not_found_final`) ends failed and is still checked at the slow pace
//!   until the reconciliation window ends (the rule and why it is safe: `answers.rs`).
//! - Texts kept from the gateway or the transport are cut to 256 characters (notes: 512), so a
//!   record stays far below the journal's limit for one record.
//! - Armed sales are disarmed at restart (see `Engine::recover`).
//! - A restart whose wall clock is behind the journal (no real-time clock, no NTP yet) cannot
//!   tell how long it was down: queued pays expire unsent and sales in progress become
//!   unresolved (checked in the background) instead of holding the counter.
//! - A journal write that failed faults storage until every unwritten record is written
//!   again (retried on a timer): meanwhile no pay leaves, no sale is armed, no scan is
//!   taken, and the counter says so (`storage.rs`).
//! - Wall-clock time never goes backwards inside the engine (the latest time seen wins).

mod answers;
mod counter;
mod counter_screen;
mod machine;
mod output;
mod policy;
mod recheck;
mod record;
mod recovery;
pub mod sale;
mod scan;
pub mod screen;
mod storage;
mod time;
mod timers;
mod updates;

pub use counter::KIOSK_REARM_AFTER;
pub use machine::Engine;
pub use output::{
    ArmRefusal, DisarmRefusal, Durability, IgnoredCallback, Output, RecheckRefusal, Request,
    SendFailure, WireRequest,
};
pub use policy::{EnginePolicy, PolicyError};
pub use record::{NotFoundWatch, OrderEpoch, SaleRecord, MAX_ORDER_PREFIX};
pub use sale::{SaleState, SaleView};
pub use screen::Screen;
pub use storage::STORAGE_RETRY_EVERY;
pub use time::Timestamp;
