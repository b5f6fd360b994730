//! The daemon's one clock read: wall time as the engine's `Timestamp`.
//!
//! The engine and protocol never read a clock (invariant 1, ARCHITECTURE.md); everything they know of time
//! comes from here, and tokio timers are derived from the engine's deadlines.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The loop's time for the engine: wall time, except that it never runs backwards and never
/// stands still. The engine ignores a time earlier than one it has seen, so if the wall clock
/// is stepped back (NTP correcting a clock that was ahead), raw wall time would freeze the
/// engine, and every poll and deadline with it, until the wall clock caught up again, while
/// the loop's timers, computed against the wall clock, slept for the size of the step. Here
/// time keeps going at the monotonic clock's pace from the last reading, and follows the wall
/// clock again once it is ahead. A step forward is followed at once.
#[derive(Debug, Clone, Copy)]
pub struct LoopClock {
    anchor: Timestamp,
    anchored_at: Instant,
}

impl LoopClock {
    pub fn new() -> LoopClock {
        LoopClock {
            anchor: now(),
            anchored_at: Instant::now(),
        }
    }

    /// Now, for the engine.
    pub fn now(&mut self) -> Timestamp {
        self.read(now(), Instant::now())
    }

    /// `now` with both clocks given, for tests.
    pub fn read(&mut self, wall: Timestamp, monotonic: Instant) -> Timestamp {
        let carried = self
            .anchor
            .plus(monotonic.saturating_duration_since(self.anchored_at));
        if wall >= carried {
            self.anchor = wall;
            self.anchored_at = monotonic;
            wall
        } else {
            carried
        }
    }
}

impl Default for LoopClock {
    fn default() -> Self {
        LoopClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_wall_clock_forward_and_keeps_going_when_it_steps_back() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let wall = Timestamp::from_millis;
        let mut clock = LoopClock {
            anchor: wall(1_000_000),
            anchored_at: start,
        };
        assert_eq!(clock.read(wall(1_000_500), at(500)), wall(1_000_500));
        // Stepped forward an hour: followed at once.
        assert_eq!(clock.read(wall(4_601_000), at(1_000)), wall(4_601_000));
        // Stepped back an hour: time goes on at the monotonic clock's pace, 2 s later is 2 s
        // later, not an hour earlier nor frozen.
        assert_eq!(clock.read(wall(1_002_000), at(2_000)), wall(4_602_000));
        assert_eq!(clock.read(wall(1_004_000), at(4_000)), wall(4_604_000));
        // Once the wall clock is ahead again, it leads.
        assert_eq!(clock.read(wall(4_700_000), at(5_000)), wall(4_700_000));
        assert_eq!(clock.read(wall(4_701_000), at(6_000)), wall(4_701_000));
    }
}
