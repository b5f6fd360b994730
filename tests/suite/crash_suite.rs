//! The crash suite: hundreds of sales through the real `scanpay daemon` on the normal disk,
//! SIGKILLed at random moments (right after a scan, between journaling the code and the
//! gateway's answer, while polling a confirming customer, after the outcome, while armed) and
//! restarted on the same journal; then every sale the register reports is compared with the
//! simulator's ledger. A SIGKILL loses nothing the OS has cached: power cuts are
//! tests/suite/powercut.rs.
//!
//! CI size by default; `SCANPAY_SUITE=long` (or `SCANPAY_SALES=N`) for the long run,
//! `SCANPAY_SEED=N` to replay. The figures go to stderr: `-- --nocapture` shows them.

// Shared with the other end-to-end and fault suites, which use the parts this file does not.
use crate::e2e_support;
use crate::fault_support;

use std::time::Duration;

use e2e_support::{Rig, RigOptions};
use fault_support::{assert_zeros, Customer, KillPlan, Run, RunSize};
use scanpay::simulator::Faults;

/// How long the gateway takes over a pay request whose sale is to be killed while
/// submitting: long enough for the kill to land before the answer.
/// `[payment] deadline_s`: short, so a sale whose pay request was cut off is handed to
/// background checking soon.
const DEADLINE_S: u64 = 2;

const SLOW_GATEWAY_MS: u64 = 400;

/// `[payment] not_found_final_s`: its shortest (the payment codes' lifetime), so a sale the
/// gateway never recorded ends failed within the run.
const NOT_FOUND_FINAL_S: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sigkills_never_double_charge_lose_or_misreport_a_sale() {
    let size = RunSize::from_env("crash_suite", 90, 2000);
    let rig = Rig::start(RigOptions {
        deadline_s: DEADLINE_S,
        not_found_final_s: Some(NOT_FOUND_FINAL_S),
        ..RigOptions::default()
    })
    .await;
    let mut run = Run::new(rig, &size);
    run.not_found_window = Some(Duration::from_secs(NOT_FOUND_FINAL_S));
    for _ in 0..size.sales {
        let customer = Customer::draw(&mut run.rng);
        let sale = run.arm(customer).await;
        if run.rng.percent(4) {
            run.kill_and_restart(sale, "while armed").await;
            run.settle_one(sale).await;
            continue;
        }
        let kill = run.rng.percent(35).then(|| KillPlan::draw(&mut run.rng));
        if kill == Some(KillPlan::WhileSubmitting) {
            run.rig.sim.set_faults(Faults {
                latency_ms: SLOW_GATEWAY_MS,
                ..Faults::default()
            });
        }
        run.scan(sale);
        if let Some(plan) = kill {
            run.kill_at(sale, plan).await;
            run.rig.sim.set_faults(Faults::default());
        }
        run.settle_one(sale).await;
    }
    // Long enough for the last sale the gateway never recorded to end by the not-found rule.
    run.settle_all(Duration::from_secs(NOT_FOUND_FINAL_S + 30))
        .await;
    let audit = run.audit().await;
    assert_zeros("crash_suite", &size, &audit);
}
