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
    /// ... for this long after the fast phase; then "needs review", no more polling (see
    /// `reconcile_until`).
    pub reconcile_slow_for: Duration,
    /// Oldest queued pay request that may still be sent (payment codes are short-lived).
    pub pay_max_age: Duration,
    /// The same code scanned again within this window is ignored (scanner repeats).
    pub duplicate_window: Duration,
    /// While the gateway cannot be reached, try one request this often, but never less often
    /// than a queued pay may wait (see `probe_every`).
    pub offline_retry: Duration,
    /// How long a used payment code is remembered, to refuse it if scanned again.
    pub used_code_memory: Duration,
    /// A pay whose answer was lost ends `failed` (ORDER_NOTFOUND) when every answer since its
    /// last attempt was ORDER_NOTFOUND and this long has passed since that attempt (the rule
    /// and its argument: `engine::answers`). Config `[payment] not_found_final_s`, whose
    /// validation holds the lower bound (the payment codes' lifetime).
    pub not_found_final: Duration,
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
            // Fast and slow phase together: a day.
            reconcile_slow_for: Duration::from_secs(24 * 3600 - 15 * 60),
            pay_max_age: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(10),
            offline_retry: Duration::from_secs(5),
            used_code_memory: Duration::from_secs(24 * 3600),
            not_found_final: Duration::from_secs(300),
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
    /// How long after a sale became unresolved it is reconciled in the background ("every
    /// 30 s for 15 min, then every 5 min for 24 h"): the slow phase follows the fast one.
    pub fn reconcile_until(&self) -> Duration {
        self.reconcile_fast_for
            .saturating_add(self.reconcile_slow_for)
    }

    /// How often one request is tried while the gateway is unreachable: `offline_retry`, but
    /// never longer than a queued pay may wait, so a pay queued right after a failed try is
    /// tried at least once before it expires (else, with a short `pay_max_age`, the gateway
    /// coming back is noticed only after the pay has expired untried). A `pay_max_age` of
    /// zero queues nothing; only queries wait, and they have no age limit.
    pub fn probe_every(&self) -> Duration {
        if self.pay_max_age.is_zero() {
            self.offline_retry
        } else {
            self.offline_retry.min(self.pay_max_age)
        }
    }

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::EnginePolicy;

    #[test]
    fn the_gateway_is_retried_before_a_queued_pay_can_expire() {
        let probe_every = |pay_max_age| {
            EnginePolicy {
                pay_max_age,
                ..EnginePolicy::default()
            }
            .probe_every()
        };
        assert_eq!(probe_every(Duration::from_secs(30)), Duration::from_secs(5));
        assert_eq!(probe_every(Duration::from_secs(2)), Duration::from_secs(2));
        // 0 never queues a pay: queries alone wait, at the usual pace.
        assert_eq!(probe_every(Duration::ZERO), Duration::from_secs(5));
    }

    #[test]
    fn reconciliation_ends_after_both_phases() {
        let policy = EnginePolicy {
            reconcile_fast_for: Duration::from_secs(15 * 60),
            reconcile_slow_for: Duration::from_secs(24 * 3600),
            ..EnginePolicy::default()
        };
        assert_eq!(
            policy.reconcile_until(),
            Duration::from_secs(24 * 3600 + 15 * 60)
        );
        assert_eq!(
            EnginePolicy::default().reconcile_until(),
            Duration::from_secs(24 * 3600)
        );
    }
}
