//! The `Engine` itself: what it holds, how it is made, what it tells the daemon on demand.
//! What it does is split by job, each an `impl Engine` of its own:
//!
//! - `recovery.rs`: resuming from the journal after a restart;
//! - `counter.rs`: arming and disarming a sale at the counter, and a kiosk's re-arm;
//! - `scan.rs`: what a scanned code may start;
//! - `answers.rs`: replies, answers and callbacks, acted on as the protocol reads them;
//! - `recheck.rs`: a sale it follows queried now, on request (`scanpay reconcile`);
//! - `timers.rs`: the one table of what is due when (`poll_timeout`, `handle_timeout`,
//!   `queue_depth` all read it) and sending what is due;
//! - `counter_screen.rs`: what the counter's display shows;
//! - `updates.rs`: the two ways a record changes, journaled or not;
//! - `storage.rs`: what a failed journal write holds back, and resuming when writes work.
//!
//! Money rules kept in the engine (invariants 2, 4, 5 and 7, ARCHITECTURE.md):
//! - a sale's `out_trade_no` is fixed at arm; nothing is ever sent under another number;
//! - a pay request is sent again only after `SendFailure::Offline` (it never left), with the
//!   same number and the same code; everything else that is unclear is resolved by query;
//! - "unknown" is left only through a verified answer;
//! - the payment code is erased from the record as soon as it can no longer be sent.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::counter::Kiosk;
use super::output::Output;
use super::policy::{EnginePolicy, PolicyError};
use super::record::{OrderEpoch, SaleRecord};
use super::sale::{SaleState, SaleView};
use super::screen::Screen;
use super::storage::StorageFault;
use super::time::Timestamp;
use crate::protocol::{Call, PaymentCode};

#[derive(Debug)]
pub(super) struct Sale {
    pub(super) record: SaleRecord,
    /// At most one request per sale at a time; not journaled (after a crash nothing is in
    /// flight any more, and recovery asks again).
    pub(super) in_flight: Option<Call>,
    /// Whether some version of the record has reached the disk: one whose first version
    /// did not was never armed (`storage.rs`).
    pub(super) recorded: bool,
    /// The last version journaled `Durability::Synced`: what a power cut leaves at least
    /// (`updates::durability` compares against it).
    pub(super) synced: SaleRecord,
}

/// States in which a sale occupies the counter (the register gets 409 for a new sale).
pub(super) fn holds_counter(state: SaleState) -> bool {
    matches!(
        state,
        SaleState::Armed
            | SaleState::Submitting
            | SaleState::WaitingCustomer
            | SaleState::Queued
            | SaleState::Unknown
    )
}

/// States in which the gateway is asked about the sale by query.
pub(super) fn polled(state: SaleState) -> bool {
    matches!(
        state,
        SaleState::WaitingCustomer | SaleState::Unknown | SaleState::Unresolved
    )
}

/// The payment engine. See the module docs and `ARCHITECTURE.md`.
#[derive(Debug)]
pub struct Engine {
    pub(super) policy: EnginePolicy,
    /// The latest time seen: a wall clock stepped backwards (NTP on a Pi without RTC) must
    /// not make deadlines move back, so time never goes below this.
    pub(super) now: Timestamp,
    pub(super) last_seq: u64,
    /// The journal's numbering epoch, written into every order number (given at recover).
    pub(super) epoch: Option<OrderEpoch>,
    /// Every sale not yet final, by sale_id.
    pub(super) sales: BTreeMap<String, Sale>,
    /// The sale at the counter (armed or in progress), if any.
    pub(super) counter: Option<String>,
    /// False after a request could not leave; true again on any answer or a hint.
    pub(super) reachable: bool,
    /// While unreachable: when to try one request again.
    pub(super) next_probe_at: Option<Timestamp>,
    /// Codes scanned recently, for ignoring scanner repeats.
    pub(super) recent_scans: HashMap<PaymentCode, Timestamp>,
    /// Codes used for a sale, and which, for refusing a second use.
    pub(super) used_codes: HashMap<PaymentCode, (Timestamp, String)>,
    /// Kiosk mode: the sale armed whenever the counter is free, and when next.
    pub(super) kiosk: Option<Kiosk>,
    /// Set while journal writes fail (see `storage.rs`).
    pub(super) storage: Option<StorageFault>,
    pub(super) outputs: VecDeque<Output>,
}

impl Engine {
    /// A fresh engine with nothing armed; call `recover` next with the journal's content.
    pub fn new(policy: EnginePolicy, now: Timestamp) -> Result<Engine, PolicyError> {
        policy.validate()?;
        let mut engine = Engine {
            policy,
            now,
            last_seq: 0,
            epoch: None,
            sales: BTreeMap::new(),
            counter: None,
            reachable: true,
            next_probe_at: None,
            recent_scans: HashMap::new(),
            used_codes: HashMap::new(),
            kiosk: None,
            storage: None,
            outputs: VecDeque::new(),
        };
        engine.outputs.push_back(Output::Show(Screen::Ready));
        Ok(engine)
    }

    pub fn policy(&self) -> &EnginePolicy {
        &self.policy
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The sale at the counter, if one is armed or in progress.
    pub fn counter_sale(&self) -> Option<SaleView> {
        let id = self.counter.as_ref()?;
        self.sales.get(id).map(|s| s.record.view())
    }

    /// An unfinished sale (final sales are in the journal only).
    pub fn sale(&self, sale_id: &str) -> Option<SaleView> {
        self.sales.get(sale_id).map(|s| s.record.view())
    }

    /// Every unfinished sale, oldest first.
    pub fn unfinished(&self) -> Vec<SaleView> {
        let mut views: Vec<_> = self.sales.values().map(|s| s.record.view()).collect();
        views.sort_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
        views
    }

    pub fn is_gateway_reachable(&self) -> bool {
        self.reachable
    }

    /// The highest order counter value used so far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// A hint from the daemon that the gateway answers again (e.g. a probe succeeded):
    /// queued requests drain now.
    pub fn gateway_reachable(&mut self, now: Timestamp) {
        let now = self.tick(now);
        self.came_online();
        self.pump(now);
    }

    /// Every input starts here: the engine's time is the latest time seen.
    pub(super) fn tick(&mut self, now: Timestamp) -> Timestamp {
        self.now = self.now.max(now);
        self.now
    }
}

pub(super) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Request, SendFailure};
    use crate::protocol::{ErrCode, Fen, TradeAnswer, TradeStatus};

    fn engine() -> Engine {
        Engine::new(EnginePolicy::default(), Timestamp(1_795_636_800_000)).unwrap()
    }

    #[test]
    fn an_answer_naming_the_order_in_another_case_is_about_this_sale() {
        let now = Timestamp(1_795_636_800_000);
        let mut e = engine();
        let sale = e.arm(Fen(1250), "Tea".into(), "001".into(), now).unwrap();
        e.handle_scan("134523198765432101", now);
        while e.poll_output().is_some() {}
        let answer = TradeAnswer {
            result_code: crate::protocol::ResultCode::Success,
            err_code: None,
            err_code_des: None,
            trade_status: Some(crate::protocol::TradeStatus::TradeSuccess),
            out_trade_no: Some(sale.out_trade_no.to_lowercase()),
            trade_no: Some("T1".into()),
            total_amount: Some(Fen(1250)),
            paytype: None,
            pay_date: None,
        };
        e.handle_pay_reply(&sale.sale_id, Ok(answer), now);
        let reported: Vec<SaleState> = std::iter::from_fn(|| e.poll_output())
            .filter_map(|o| match o {
                Output::Report(view) => Some(view.state),
                _ => None,
            })
            .collect();
        assert_eq!(reported, [SaleState::Paid]);
    }

    #[test]
    fn arm_refuses_what_the_gateway_would_refuse() {
        let mut e = engine();
        let now = Timestamp(1_795_636_800_000);
        let arm = |e: &mut Engine, fen, subject: &str, op: &str| {
            e.arm(Fen(fen), subject.into(), op.into(), now)
                .map(|v| v.state)
                .map_err(|err| err.to_string())
        };
        assert_eq!(
            arm(&mut e, 0, "Tea", "001"),
            Err("amount ¥0.00 is zero; a sale needs at least ¥0.01".into())
        );
        assert_eq!(
            arm(&mut e, 100, " ", "001"),
            Err("subject \" \" is not accepted: give 1 to 256 characters".into())
        );
        assert!(arm(&mut e, 100, &"茶".repeat(257), "001").is_err());
        assert!(arm(&mut e, 100, "Tea", &"x".repeat(33)).is_err());
        assert!(arm(&mut e, 100, "Tea", "").is_err());
        // Nothing was armed by the refusals; a good sale is.
        assert_eq!(
            arm(&mut e, 100, &"茶".repeat(256), "001"),
            Ok(SaleState::Armed)
        );
        assert_eq!(e.last_seq(), 1);
    }

    #[test]
    fn refuses_a_bad_policy() {
        let policy = EnginePolicy {
            order_prefix: "POS 1".into(),
            ..EnginePolicy::default()
        };
        assert!(matches!(
            Engine::new(policy, Timestamp(0)),
            Err(PolicyError::BadPrefix { .. })
        ));
        let policy = EnginePolicy {
            query_interval: std::time::Duration::ZERO,
            ..EnginePolicy::default()
        };
        assert_eq!(
            Engine::new(policy, Timestamp(0)).unwrap_err(),
            PolicyError::ZeroInterval {
                field: "query_interval"
            }
        );
    }

    #[test]
    fn a_trade_number_that_is_not_ascii_does_not_panic_the_paid_screen() {
        let mut e = engine();
        let t = Timestamp(1_795_636_800_000);
        let sale = e.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        e.handle_scan("134523198765432101", t);
        let answer = TradeAnswer {
            result_code: crate::protocol::ResultCode::Success,
            err_code: Some(ErrCode::Success),
            err_code_des: None,
            trade_status: Some(TradeStatus::TradeSuccess),
            out_trade_no: Some(sale.out_trade_no),
            // The gateway's trade number is free text: its 6th byte from the end falls
            // inside a three-byte character.
            trade_no: Some("2026交易号1".into()),
            total_amount: Some(Fen(100)),
            paytype: None,
            pay_date: None,
        };
        e.handle_pay_reply(&sale.sale_id, Ok(answer), t);
        let shown: Vec<_> = std::iter::from_fn(|| e.poll_output())
            .filter_map(|o| match o {
                Output::Show(Screen::Paid { trade_no_tail, .. }) => Some(trade_no_tail),
                _ => None,
            })
            .collect();
        assert_eq!(shown, ["26交易号1"]);
    }

    #[test]
    fn counters_read_from_the_journal_do_not_overflow() {
        let t = Timestamp(1_795_636_800_000);
        let mut first = engine();
        first.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        first.handle_scan("134523198765432101", t);
        let mut record = std::iter::from_fn(|| first.poll_output())
            .filter_map(|o| match o {
                Output::Journal(r, _) => Some(r),
                _ => None,
            })
            .last()
            .unwrap();
        // A journal written by hand or by another version: counters at their limits.
        record.state = SaleState::Unknown;
        record.auth_code = None;
        record.poll_interval_ms = u64::MAX;
        record.query_attempts = u32::MAX;
        let mut e = engine();
        e.recover(vec![record], 1, None, t);
        let sent_query = std::iter::from_fn(|| e.poll_output())
            .any(|o| matches!(o, Output::Send(Request::Query { .. })));
        assert!(sent_query);
        let frequently = TradeAnswer {
            result_code: crate::protocol::ResultCode::BusinessFailure,
            err_code: Some(ErrCode::Frequently),
            err_code_des: None,
            trade_status: None,
            out_trade_no: None,
            trade_no: None,
            total_amount: None,
            paytype: None,
            pay_date: None,
        };
        let id = e.counter_sale().unwrap().sale_id;
        e.handle_query_reply(&id, Ok(frequently), t);
        // Backed off to the cap, not wrapped around.
        assert_eq!(
            e.poll_timeout(),
            Some(t.plus(EnginePolicy::default().query_interval_max))
        );
        e.handle_timeout(t.plus(EnginePolicy::default().query_interval_max));
        assert!(std::iter::from_fn(|| e.poll_output())
            .any(|o| matches!(o, Output::Send(Request::Query { .. }))));
    }

    #[test]
    fn gateway_texts_are_bounded_before_they_are_journaled() {
        let mut e = engine();
        let t = Timestamp(1_795_636_800_000);
        let sale = e.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        e.handle_scan("134523198765432101", t);
        // A verified answer may be up to the HTTP client's limit (1 MiB), the journal's limit
        // for one record: the record must stay small whatever the gateway sends.
        let answer = TradeAnswer {
            result_code: crate::protocol::ResultCode::BusinessFailure,
            err_code: Some(ErrCode::parse(&"E".repeat(300_000))),
            err_code_des: Some("余额不足".repeat(100_000)),
            trade_status: Some(TradeStatus::TradeFail),
            out_trade_no: Some(sale.out_trade_no),
            trade_no: Some("9".repeat(300_000)),
            total_amount: None,
            paytype: None,
            pay_date: None,
        };
        e.handle_pay_reply(&sale.sale_id, Ok(answer), t);
        let journaled: Vec<SaleRecord> = std::iter::from_fn(|| e.poll_output())
            .filter_map(|o| match o {
                Output::Journal(r, _) => Some(r),
                _ => None,
            })
            .collect();
        let failed = journaled.last().unwrap();
        assert_eq!(failed.state, SaleState::Failed);
        let chars = |t: &Option<String>| t.as_deref().map_or(0, |t| t.chars().count());
        assert_eq!(chars(&failed.err_code), 256);
        assert_eq!(chars(&failed.err_code_des), 256);
        assert_eq!(chars(&failed.trade_no), 256);
        assert!(failed.err_code_des.as_deref().unwrap().ends_with("余额不…"));
        assert!(serde_json::to_vec(failed).unwrap().len() < 8 * 1024);
    }

    #[test]
    fn the_queue_and_the_next_timeout_read_one_table() {
        let t = Timestamp(1_795_636_800_000);
        let mut e = engine();
        let sale = e.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        e.handle_scan("134523198765432101", t);
        e.handle_pay_reply(
            &sale.sale_id,
            Err(SendFailure::Offline("refused".into())),
            t,
        );
        while e.poll_output().is_some() {}
        // Queued: one request waits, and the next timeout is the next probe.
        let probe = t.plus(e.policy().probe_every());
        assert_eq!(e.queue_depth(), 1);
        assert_eq!(e.poll_timeout(), Some(probe));
        // At the probe the pay goes out: nothing waits any more.
        e.handle_timeout(probe);
        let sent: Vec<_> = std::iter::from_fn(|| e.poll_output())
            .filter(|o| matches!(o, Output::Send(Request::Pay { .. })))
            .collect();
        assert_eq!(sent.len(), 1);
        assert_eq!(e.queue_depth(), 0);
    }

    #[test]
    fn a_stopped_kiosk_arms_nothing_more() {
        let t = Timestamp(1_795_636_800_000);
        let mut e = engine();
        e.start_kiosk(Fen(500), "Tea".into(), "001".into(), t);
        let sale = e
            .counter_sale()
            .expect("the kiosk armed its first sale at once");
        e.disarm(&sale.sale_id, t).unwrap();
        assert_eq!(
            e.poll_timeout(),
            Some(t.plus(crate::engine::KIOSK_REARM_AFTER))
        );
        e.stop_kiosk();
        assert_eq!(e.poll_timeout(), None);
        e.handle_timeout(t.plus(crate::engine::KIOSK_REARM_AFTER));
        assert!(e.counter_sale().is_none());
    }

    #[test]
    fn time_going_backwards_does_not_move_deadlines_back() {
        let mut e = engine();
        let t = Timestamp(1_795_636_800_000);
        e.arm(Fen(100), "Tea".into(), "001".into(), t).unwrap();
        e.handle_scan(
            "134523198765432101",
            t.plus(std::time::Duration::from_secs(5)),
        );
        let deadline = e.poll_timeout().unwrap();
        // The wall clock steps back a minute (NTP): the engine keeps its latest time.
        e.handle_timeout(t);
        assert_eq!(e.poll_timeout(), Some(deadline));
        assert_eq!(e.counter_sale().unwrap().state, SaleState::Submitting);
    }
}
