//! The engine's timing rules and identity, with the design's defaults (all configurable).

use std::time::Duration;

/// How long to wait for what, and how this terminal names its orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnginePolicy {
    /// Start of every `out_trade_no` (`{prefix}-{yyyymmdd}-{seq:06}`); unique per terminal so
    /// two terminals of one merchant never collide.
    pub order_prefix: String,
    /// First query after USERPAYING or an unknown outcome.
    pub first_query: Duration,
    /// Interval between later queries while the cashier waits.
    pub query_interval: Duration,
    /// Upper bound of the interval when FREQUENTLY makes it double.
    pub query_interval_max: Duration,
    /// How long the cashier waits on one sale (from the scan) before it becomes unresolved.
    pub cashier_deadline: Duration,
    /// Background reconciliation of unresolved sales: first this often ...
    pub reconcile_fast_interval: Duration,
    /// ... for this long after the sale became unresolved ...
    pub reconcile_fast_for: Duration,
    /// ... then this often ...
    pub reconcile_slow_interval: Duration,
    /// ... until this long after it became unresolved; then "needs review", no more polling.
    pub reconcile_until: Duration,
    /// Oldest queued pay request that may still be sent (payment codes are short-lived).
    pub pay_max_age: Duration,
    /// The same code scanned again within this window is ignored (scanner repeats).
    pub duplicate_window: Duration,
    /// While the gateway cannot be reached, try one request this often.
    pub offline_retry: Duration,
    /// How long a used payment code is remembered, to refuse it if scanned again.
    pub used_code_memory: Duration,
}

impl Default for EnginePolicy {
    fn default() -> Self {
        EnginePolicy {
            order_prefix: "POS1".to_string(),
            first_query: Duration::from_secs(2),
            query_interval: Duration::from_secs(3),
            query_interval_max: Duration::from_secs(15),
            cashier_deadline: Duration::from_secs(60),
            reconcile_fast_interval: Duration::from_secs(30),
            reconcile_fast_for: Duration::from_secs(15 * 60),
            reconcile_slow_interval: Duration::from_secs(5 * 60),
            reconcile_until: Duration::from_secs(24 * 3600),
            pay_max_age: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(10),
            offline_retry: Duration::from_secs(5),
            used_code_memory: Duration::from_secs(24 * 3600),
        }
    }
}

/// A policy the engine cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("order prefix {prefix:?} is invalid: use 1 to {} ASCII letters or digits (unique per terminal), e.g. \"POS1\"", super::MAX_ORDER_PREFIX)]
    BadPrefix { prefix: String },
    #[error(
        "{field} is zero; it must be at least 1 ms (polling with no pause would flood the gateway)"
    )]
    ZeroInterval { field: &'static str },
}

impl EnginePolicy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        let p = &self.order_prefix;
        if p.is_empty()
            || p.len() > super::MAX_ORDER_PREFIX
            || !p.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PolicyError::BadPrefix { prefix: p.clone() });
        }
        for (field, value) in [
            ("first_query", self.first_query),
            ("query_interval", self.query_interval),
            ("query_interval_max", self.query_interval_max),
            ("reconcile_fast_interval", self.reconcile_fast_interval),
            ("reconcile_slow_interval", self.reconcile_slow_interval),
            ("offline_retry", self.offline_retry),
        ] {
            if value.is_zero() {
                return Err(PolicyError::ZeroInterval { field });
            }
        }
        Ok(())
    }
}
