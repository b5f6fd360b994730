//! Wall-clock time as the engine sees it: a number handed in by the caller.
//!
//! The engine never reads a clock. Records need wall time (receipts, reconciliation against
//! the gateway's statements), so the daemon passes milliseconds since the Unix epoch into every
//! `handle_*` call; tests pass whatever they like.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating (a policy of "forever" must not wrap around).
    pub fn plus(self, d: Duration) -> Timestamp {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    fn datetime(self) -> chrono::DateTime<chrono::Utc> {
        i64::try_from(self.0)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }

    /// `2026-11-25T20:00:00.250Z`: RFC 3339 in UTC, milliseconds only when there are some.
    pub fn rfc3339(self) -> String {
        let format = if self.0 % 1000 == 0 {
            chrono::SecondsFormat::Secs
        } else {
            chrono::SecondsFormat::Millis
        };
        self.datetime().to_rfc3339_opts(format, true)
    }

    /// `20261125`: the UTC date, for order numbers.
    pub fn yyyymmdd(self) -> String {
        self.datetime().format("%Y%m%d").to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        let t = Timestamp(1_795_636_800_000); // 2026-11-25T20:00:00Z
        assert_eq!(t.rfc3339(), "2026-11-25T20:00:00Z");
        assert_eq!(Timestamp(t.0 + 250).rfc3339(), "2026-11-25T20:00:00.250Z");
        assert_eq!(t.yyyymmdd(), "20261125");
        assert_eq!(
            t.plus(Duration::from_secs(2)).since(t),
            Duration::from_secs(2)
        );
        assert_eq!(t.since(t.plus(Duration::from_secs(2))), Duration::ZERO);
        assert_eq!(
            Timestamp(u64::MAX).plus(Duration::from_secs(1)),
            Timestamp(u64::MAX)
        );
    }
}
