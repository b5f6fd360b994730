//! The not-found rule end to end (engine/answers.rs): the real `scanpay daemon` against the
//! simulator. A pay dropped before the gateway recorded it ends `failed` (ORDER_NOTFOUND)
//! once `[payment] not_found_final_s` has passed since the pay, and is never charged; a pay
//! held up in the network that reaches the gateway after that is found by the checks that
//! go on, reported `paid` with `late`, and counted in `/metrics`.
//!
//! The window is the config's shortest, 60 s (the payment codes' lifetime: nothing shorter
//! is a valid config), so this test takes a little over a minute; the rule's other cases
//! (what rules it out, restarts, the end of the checks) are engine transcripts
//! (tests/suite/engine_transcripts.rs), in simulated time.

// Shared with the other end-to-end tests, which use the parts this file does not.
use crate::e2e_support;

use std::time::Duration;

use e2e_support::{code, Rig, RigOptions};
use scanpay::engine::{SaleState, SaleView};
use scanpay::protocol::Fen;
use scanpay::simulator::{Fault, Faults};
use tokio::time::Instant;

/// `[payment] not_found_final_s`: its lowest valid value.
const NOT_FOUND_FINAL_S: u64 = 60;
/// How long after its pay the held-up request reaches the gateway: after the sale has
/// ended failed (the window, and a query at the 1 s background pace).
const DELIVERED_AFTER_MS: u64 = (NOT_FOUND_FINAL_S + 8) * 1000;
/// A PaysAtOnce customer (src/simulator/script.rs).
const PAYS_AT_ONCE: (u8, u8) = (1, 0);

/// Reads the sale every 200 ms until `done` (a long-poll returns at once on a final sale,
/// which a late result may still change).
async fn poll_until(
    rig: &Rig,
    sale: &SaleView,
    within: Duration,
    done: impl Fn(&SaleView) -> bool,
) -> SaleView {
    let deadline = Instant::now() + within;
    loop {
        let view = rig.sale(&sale.sale_id).await;
        if done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "sale {} not as expected within {within:?}: {view:?}",
            sale.sale_id
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_never_received_ends_failed_uncharged_and_a_late_success_is_reported_and_counted() {
    let mut rig = Rig::start(RigOptions {
        deadline_s: 2,
        not_found_final_s: Some(NOT_FOUND_FINAL_S),
        slow_every_s: Some(1),
        ..RigOptions::default()
    })
    .await;
    let (script, param) = PAYS_AT_ONCE;

    // Sale 1: the connection closes before the gateway records the pay.
    rig.sim
        .set_faults(Faults::next(1, Fault::DropBeforeRecord).on(&["codepay"]));
    let lost = rig.arm(Fen(1250)).await;
    let lost_code = code(1, script, param);
    rig.scan(&lost_code);
    let (lost, _) = rig.finish(&lost).await;
    assert_eq!(lost.state, SaleState::Unresolved, "{lost:?}");

    // Sale 2: the pay is held up in the network and reaches the gateway after the window.
    rig.sim
        .set_faults(Faults::next(1, Fault::DelayedDelivery(DELIVERED_AFTER_MS)).on(&["codepay"]));
    let delayed = rig.arm(Fen(2300)).await;
    rig.scan(&code(2, script, param));
    let (delayed, _) = rig.finish(&delayed).await;
    assert_eq!(delayed.state, SaleState::Unresolved, "{delayed:?}");
    rig.sim.set_faults(Faults::default());

    // Both end failed by the rule, a little over the window after their pays.
    let window = Duration::from_secs(NOT_FOUND_FINAL_S + 30);
    for sale in [&lost, &delayed] {
        let (failed, _) = rig.follow(sale, window, |s| s == SaleState::Failed).await;
        assert_eq!(
            failed.err_code.as_deref(),
            Some("ORDER_NOTFOUND"),
            "{failed:?}"
        );
        let des = failed.err_code_des.as_deref().unwrap_or_default();
        assert!(
            des.contains("never received") && des.contains("nothing was charged"),
            "{failed:?}"
        );
        assert!(!failed.late && !failed.needs_review, "{failed:?}");
        assert!(rig.ledger().order(&sale.out_trade_no).is_none());
    }
    let (_, before) = rig.get("/metrics").await.expect("GET /metrics");
    assert_eq!(metric(&before, "scanpay_late_results_total"), 0);

    // The held-up pay arrives and charges; the checks that go on find it.
    let paid = poll_until(&rig, &delayed, Duration::from_secs(30), |v| {
        v.state == SaleState::Paid
    })
    .await;
    let order = rig
        .ledger()
        .order(&delayed.out_trade_no)
        .cloned()
        .expect("the gateway recorded the late pay");
    assert!(paid.late, "{paid:?}");
    assert_eq!(paid.trade_no.as_deref(), Some(order.trade_no.as_str()));
    assert_eq!(paid.err_code, None);
    let (_, after) = rig.get("/metrics").await.expect("GET /metrics");
    assert_eq!(metric(&after, "scanpay_late_results_total"), 1);

    // The pay that never arrived was never charged: no order, its code never used.
    let lost_now = rig.sale(&lost.sale_id).await;
    assert_eq!(lost_now.state, SaleState::Failed, "{lost_now:?}");
    let ledger = rig.ledger();
    assert!(ledger.order(&lost.out_trade_no).is_none(), "{ledger:?}");
    assert!(!ledger.codes_used.contains(&lost_code), "{ledger:?}");
    rig.assert_log_never_shows(&[&lost_code]);
    rig.terminate().await;
}
