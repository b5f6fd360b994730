//! `scanpay reconcile` against the real daemon and the simulator: the day's sales read from
//! the running daemon's export, each looked up at the gateway, and the verdicts and exit code
//! a merchant acts on; again from the store once the daemon has stopped, resuming from the
//! progress file.

use crate::e2e_support;

use e2e_support::{code, Rig, RigOptions, STEP};
use scanpay::engine::SaleState;
use scanpay::protocol::Fen;

fn reconcile(rig: &Rig, args: &[&str]) -> (i32, String, String) {
    let args: Vec<&str> = ["reconcile"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    e2e_support::run_scanpay(&rig.config_path, &args)
}

/// The China day (UTC+8) a sale was created on, as `--day` takes it.
fn china_day(created_at: &str) -> String {
    let at = chrono::DateTime::parse_from_rfc3339(created_at).unwrap();
    (at.with_timezone(&chrono::Utc) + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_day_agrees_while_the_daemon_runs_and_again_from_the_store() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = rig.arm(Fen(1250)).await;
    rig.scan(&code(61, 1, 0));
    let (paid, _) = rig.finish(&sale).await;
    assert_eq!(paid.state, SaleState::Paid);
    let day = china_day(&paid.created_at);

    // The daemon runs and holds the store: the sales come from its export.
    let (status, out, err) = reconcile(&rig, &["--day", &day, "--rate", "20"]);
    assert_eq!(status, 0, "{out}\n{err}");
    assert!(out.contains(&paid.out_trade_no), "{out}");
    assert!(out.contains("paid_both"), "{out}");
    let asked = rig.ledger().order(&paid.out_trade_no).unwrap().queries;

    // Stopped: the store is read directly, and the progress file spares the gateway.
    assert_eq!(rig.terminate().await.code(), Some(0), "{}", rig.log());
    let (status, json, err) = reconcile(&rig, &["--day", &day, "--json"]);
    assert_eq!(status, 0, "{json}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["ok"], serde_json::json!(true), "{doc}");
    let sales = doc["sales"].as_array().unwrap();
    assert_eq!(sales.len(), 1, "{doc}");
    assert_eq!(
        sales[0]["out_trade_no"],
        serde_json::json!(paid.out_trade_no)
    );
    assert_eq!(sales[0]["verdict"], serde_json::json!("paid_both"));
    assert_eq!(
        rig.ledger().order(&paid.out_trade_no).unwrap().queries,
        asked,
        "a sale already checked is not asked again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_the_customer_is_still_confirming_is_open_and_not_clean() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = rig.arm(Fen(880)).await;
    // USERPAYING for a long while.
    rig.scan(&code(62, 3, 90));
    let (waiting, seen) = rig
        .follow(&sale, STEP, |s| s == SaleState::WaitingCustomer)
        .await;
    assert_eq!(waiting.state, SaleState::WaitingCustomer, "{seen:?}");
    let day = china_day(&waiting.created_at);
    let (status, out, err) = reconcile(&rig, &["--day", &day, "--rate", "20"]);
    assert_eq!(status, 3, "{out}\n{err}");
    assert!(out.contains("open"), "{out}");
    rig.terminate().await;
}
