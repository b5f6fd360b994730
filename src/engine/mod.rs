//! The sale lifecycle as a sans-IO state machine (issue 3).
//!
//! Architecture invariant: pure. No tokio, reqwest, sled, device or filesystem; no clock
//! reads. Time comes in as an argument (`Timestamp`), outputs come out as a closed enum
//! (`Output`) drained with `Engine::poll_output`, and `Engine::poll_timeout` says when to call
//! `Engine::handle_timeout` next.
//!
//! Driving it (the daemon's loop):
//! ```text
//! let mut engine = Engine::new(policy, now)?;
//! engine.recover(journal.unfinished()?, journal.last_seq()?, now);
//! loop {
//!     while let Some(output) = engine.poll_output() { carry it out (Journal: write + sync first) }
//!     select! { scan => engine.handle_scan(..), reply => engine.handle_pay_reply(..), …,
//!               sleep_until(engine.poll_timeout()) => engine.handle_timeout(now) }
//! }
//! ```

mod machine;
mod output;
mod policy;
mod record;
pub mod sale;
pub mod screen;
mod time;

pub use machine::Engine;
pub use output::{ArmError, DisarmError, NotifyError, Output, Request, SendFailure};
pub use policy::{EnginePolicy, PolicyError};
pub use record::SaleRecord;
pub use sale::{SaleState, SaleView};
pub use screen::Screen;
pub use time::Timestamp;
