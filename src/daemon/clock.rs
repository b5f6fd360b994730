//! The daemon's one clock read: wall time as the engine's `Timestamp`.
//!
//! The engine and protocol never read a clock (invariant 1); everything they know of time
//! comes from here, and tokio timers are derived from the engine's deadlines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::Timestamp;

/// Now, in wall-clock milliseconds since the Unix epoch.
pub fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Timestamp::from_millis(since_epoch.as_millis() as u64)
}

/// How long from `now` until `deadline` (zero if it has passed).
pub fn until(deadline: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(deadline.as_millis().saturating_sub(now.as_millis()))
}
