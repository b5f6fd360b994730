//! The network suite: hundreds of sales through the real `scanpay daemon` while the
//! simulator misbehaves (src/simulator/faults.rs): connections dropped before and after the
//! gateway records a request, 5xx pages before and after recording, answers slower than the
//! request timeout, truncated, unsigned and mis-signed answers, FREQUENTLY, the gateway down
//! for a while (seconds at the CI size, minutes at the long size), on pay requests and on
//! queries, with a SIGKILL now and then. Then every sale the register reports is compared with
//! the simulator's ledger.
//!
//! CI size by default; `SCANPAY_SUITE=long` (or `SCANPAY_SALES=N`) for the long run,
//! `SCANPAY_SEED=N` to replay. The figures go to stderr: `-- --nocapture` shows them.

// Shared with the other end-to-end and fault suites, which use the parts this file does not.
use crate::e2e_support;
use crate::fault_support;

use std::time::Duration;

use e2e_support::{Rig, RigOptions};
use fault_support::{assert_zeros, Customer, KillPlan, Run, RunSize};
use scanpay::engine::SaleState;
use scanpay::simulator::{Fault, Faults};

/// `[gateway] request_timeout_ms` of the suite's daemon (short, so slow answers cost little).
const REQUEST_TIMEOUT_MS: u64 = 1500;

/// What goes wrong around one sale.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trouble {
    None,
    /// The fault hits the sale's pay request once.
    OnPay(Fault),
    /// The fault hits the first queries of a confirming customer's sale.
    OnQueries(Fault),
    /// Every answer comes later than the request timeout until the pay request timed out.
    Slow,
    /// The gateway stops listening before the scan and comes back after this long.
    Down(Duration),
}

fn draw_trouble(run: &mut Run, customer: Customer, long: bool) -> Trouble {
    let faults = [
        Fault::DropBeforeRecord,
        Fault::DropAfterRecord,
        Fault::HttpStatus(503),
        Fault::HttpStatus(500),
        Fault::HttpStatusAfterRecord(502),
        Fault::TruncatedBody,
        Fault::UnsignedBody,
        Fault::WrongSign,
        Fault::Frequently,
    ];
    match run.rng.below(20) {
        0..=4 => Trouble::None,
        5..=13 => Trouble::OnPay(run.rng.pick(&faults).clone()),
        14..=16 if customer.waits() => Trouble::OnQueries(run.rng.pick(&faults).clone()),
        14..=16 => Trouble::OnPay(run.rng.pick(&faults).clone()),
        17 | 18 => Trouble::Slow,
        _ => Trouble::Down(if long {
            Duration::from_secs(60 + run.rng.below(120))
        } else {
            Duration::from_millis(500 + run.rng.below(1500))
        }),
    }
}

/// `[payment] not_found_final_s`: its shortest (the payment codes' lifetime), so a sale the
/// gateway never recorded ends failed within the run.
const NOT_FOUND_FINAL_S: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_faults_never_double_charge_lose_or_misreport_a_sale() {
    let size = RunSize::from_env("network_suite", 40, 1000);
    let rig = Rig::start(RigOptions {
        request_timeout_ms: REQUEST_TIMEOUT_MS,
        deadline_s: 2,
        not_found_final_s: Some(NOT_FOUND_FINAL_S),
        ..RigOptions::default()
    })
    .await;
    let mut run = Run::new(rig, &size);
    run.not_found_window = Some(Duration::from_secs(NOT_FOUND_FINAL_S));
    for _ in 0..size.sales {
        let customer = Customer::draw(&mut run.rng);
        let trouble = draw_trouble(&mut run, customer, size.long);
        let kill = run.rng.percent(15).then(|| KillPlan::draw(&mut run.rng));
        let sale = run.arm(customer).await;
        run.note(sale, &format!("{trouble:?}"));
        match &trouble {
            Trouble::None => {}
            Trouble::OnPay(fault) => run
                .rig
                .sim
                .set_faults(Faults::next(1, fault.clone()).on(&["codepay"])),
            Trouble::OnQueries(fault) => run
                .rig
                .sim
                .set_faults(Faults::next(2, fault.clone()).on(&["query"])),
            Trouble::Slow => run.rig.sim.set_faults(Faults {
                latency_ms: REQUEST_TIMEOUT_MS + 500,
                ..Faults::default()
            }),
            Trouble::Down(_) => run.rig.sim.go_down().await,
        }
        run.scan(sale);
        match &trouble {
            Trouble::Slow => {
                run.wait_for(sale, fault_support::SALE_WITHIN, |s| {
                    s != SaleState::Armed && s != SaleState::Submitting
                })
                .await;
                run.rig.sim.set_faults(Faults::default());
            }
            Trouble::Down(for_how_long) => {
                let back_at = tokio::time::Instant::now() + *for_how_long;
                run.wait_for(sale, fault_support::SALE_WITHIN, |s| {
                    s != SaleState::Armed && s != SaleState::Submitting
                })
                .await;
                if let Some(plan) = kill {
                    run.kill_at(sale, plan).await;
                }
                tokio::time::sleep_until(back_at).await;
                run.rig
                    .sim
                    .come_up()
                    .await
                    .expect("the simulator listens again on its port");
            }
            Trouble::None | Trouble::OnPay(_) | Trouble::OnQueries(_) => {}
        }
        if let (Some(plan), false) = (kill, matches!(trouble, Trouble::Down(_))) {
            run.kill_at(sale, plan).await;
        }
        run.settle_one(sale).await;
        run.rig.sim.set_faults(Faults::default());
    }
    // Long enough for the last sale the gateway never recorded to end by the not-found rule.
    run.settle_all(Duration::from_secs(NOT_FOUND_FINAL_S + 30))
        .await;
    let audit = run.audit().await;
    assert_zeros("network_suite", &size, &audit);
}
