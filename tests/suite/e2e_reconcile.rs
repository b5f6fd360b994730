//! `scanpay reconcile` against the real daemon and the simulator: the day's sales read from
//! the running daemon's export, each looked up at the gateway, and the verdicts and exit code
//! a merchant acts on; again from the store once the daemon has stopped, resuming from the
//! progress file. The simulator's books are made to disagree on purpose
//! (`SimulatorHandle::edit_order`) for each kind of disagreement; one on a sale the daemon
//! still follows goes back to it (`POST /v1/sales/{id}/recheck`) and ends there.

use crate::e2e_support;

use e2e_support::{code, Rig, RigOptions, STEP};
use scanpay::engine::{SaleState, SaleView};
use scanpay::protocol::Fen;
use scanpay::simulator::{EditedState, OrderEdit};
use serde_json::{json, Value};

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

/// `scanpay reconcile --day DAY --json`: its exit code and document.
fn reconcile_json(rig: &Rig, day: &str) -> (i32, Value) {
    let (status, out, err) = reconcile(rig, &["--day", day, "--json", "--rate", "20"]);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (status, doc)
}

/// The document's row for `sale`.
fn row<'a>(doc: &'a Value, sale: &SaleView) -> &'a Value {
    doc["sales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["out_trade_no"] == json!(sale.out_trade_no))
        .unwrap_or_else(|| panic!("{} not in {doc}", sale.out_trade_no))
}

/// A sale scanned with `code` and followed to its end in the daemon.
async fn sale_ending(rig: &mut Rig, fen: u64, code: &str, state: SaleState) -> SaleView {
    let sale = rig.arm(Fen(fen)).await;
    rig.scan(code);
    let (ended, seen) = rig.finish(&sale).await;
    assert_eq!(ended.state, state, "{seen:?}");
    ended
}

fn edit(rig: &Rig, sale: &SaleView, state: Option<EditedState>, amount_fen: Option<u64>) {
    let edit = OrderEdit {
        state,
        amount_fen: amount_fen.map(Fen),
    };
    rig.sim
        .edit_order(&sale.out_trade_no, &edit)
        .expect("the simulator edits the order");
}

/// Asserts one disagreement's row: the verdict, the gateway's side (the fields given), and
/// that an ended sale is not handed back to the terminal.
fn assert_disagrees(doc: &Value, sale: &SaleView, verdict: &str, gateway: Value) {
    let r = row(doc, sale);
    assert_eq!(r["verdict"], json!(verdict), "{r}");
    assert_eq!(r["disagrees"], json!(true), "{r}");
    assert_eq!(r["terminal_state"], json!(sale.state.as_str()), "{r}");
    for (field, value) in gateway.as_object().unwrap() {
        assert_eq!(&r["gateway"][field], value, "{field}: {r}");
    }
    assert_eq!(
        r["recheck"],
        Value::Null,
        "an ended sale is not fed back: {r}"
    );
    assert_ne!(r["what_to_do"], json!("nothing"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_paid_while_the_gateway_closed_the_order_or_never_had_it() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let closed = sale_ending(&mut rig, 1250, &code(71, 1, 0), SaleState::Paid).await;
    let forgotten = sale_ending(&mut rig, 990, &code(72, 1, 0), SaleState::Paid).await;
    let agreed = sale_ending(&mut rig, 500, &code(73, 1, 0), SaleState::Paid).await;
    edit(&rig, &closed, Some(EditedState::Closed), None);
    edit(&rig, &forgotten, Some(EditedState::Forget), None);
    let day = china_day(&closed.created_at);

    let (status, doc) = reconcile_json(&rig, &day);
    assert_eq!(status, 2, "{doc}");
    assert_eq!(doc["ok"], json!(false));
    assert_disagrees(
        &doc,
        &closed,
        "terminal_paid_gateway_not",
        json!({"kind": "not_paid"}),
    );
    assert_disagrees(
        &doc,
        &forgotten,
        "terminal_paid_gateway_unknown",
        json!({"kind": "not_found"}),
    );
    assert_eq!(row(&doc, &agreed)["verdict"], json!("paid_both"));

    // The table says the same, and the totals count both.
    let (status, out, err) = reconcile(&rig, &["--day", &day]);
    assert_eq!(status, 2, "{out}\n{err}");
    for (sale, verdict) in [
        (&closed, "terminal_paid_gateway_not"),
        (&forgotten, "terminal_paid_gateway_unknown"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&sale.out_trade_no))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains(verdict), "{line}");
    }
    assert!(out.contains("2 disagree (0 handed back"), "{out}");
    assert!(err.contains("disagree"), "{err}");
    rig.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_paid_while_the_terminal_failed_is_reported_and_not_written_back() {
    let mut rig = Rig::start(RigOptions::default()).await;
    // Declined (INSUFFICIENT), and closed by the customer's wallet after two queries.
    let declined = sale_ending(&mut rig, 1250, &code(81, 6, 0), SaleState::Failed).await;
    let closed = sale_ending(&mut rig, 700, &code(82, 4, 2), SaleState::Failed).await;
    assert_eq!(
        closed.err_code.as_deref(),
        Some("ORDERCLOSED"),
        "{closed:?}"
    );
    for sale in [&declined, &closed] {
        edit(&rig, sale, Some(EditedState::Paid), None);
    }
    let day = china_day(&declined.created_at);

    let (status, doc) = reconcile_json(&rig, &day);
    assert_eq!(status, 2, "{doc}");
    assert_eq!(doc["ok"], json!(false));
    assert_disagrees(
        &doc,
        &declined,
        "gateway_paid_terminal_not",
        json!({"kind": "paid", "amount_fen": 1250}),
    );
    assert_disagrees(
        &doc,
        &closed,
        "gateway_paid_terminal_not",
        json!({"kind": "paid", "amount_fen": 700}),
    );
    // The terminal's record is the daemon's alone: still failed.
    for sale in [&declined, &closed] {
        assert_eq!(rig.sale(&sale.sale_id).await.state, SaleState::Failed);
    }
    rig.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_paid_while_the_terminal_is_unresolved_goes_back_to_the_daemon_and_ends_paid() {
    // The daemon's own next check of an unresolved sale is ten minutes away: only the
    // recheck can settle it within the test.
    let mut rig = Rig::start(RigOptions {
        deadline_s: 2,
        fast_every_s: Some(600),
        ..RigOptions::default()
    })
    .await;
    let sale = rig.arm(Fen(880)).await;
    // USERPAYING for ever: unresolved after the cashier's deadline.
    rig.scan(&code(91, 9, 0));
    let (unresolved, seen) = rig
        .follow(&sale, STEP, |s| s == SaleState::Unresolved)
        .await;
    assert_eq!(unresolved.state, SaleState::Unresolved, "{seen:?}");
    edit(&rig, &sale, Some(EditedState::Paid), None);
    let day = china_day(&sale.created_at);

    let (status, doc) = reconcile_json(&rig, &day);
    assert_eq!(status, 2, "{doc}");
    let r = row(&doc, &unresolved);
    assert_eq!(r["verdict"], json!("gateway_paid_terminal_not"), "{r}");
    assert_eq!(r["terminal_state"], json!("unresolved"), "{r}");
    assert_eq!(
        r["gateway"],
        json!({"kind": "paid", "amount_fen": 880}),
        "{r}"
    );
    assert_eq!(
        r["recheck"],
        json!({
            "asked": true,
            "terminal_state": "unresolved",
            "detail": "asked the terminal to check again"
        }),
        "{r}"
    );
    assert!(
        r["what_to_do"]
            .as_str()
            .unwrap()
            .starts_with("asked the terminal to check again; "),
        "{r}"
    );

    // The daemon asked the gateway itself, and the sale ends paid there (not late: an
    // unresolved sale had not ended).
    let (paid, seen) = rig
        .follow(&unresolved, STEP, |s| s == SaleState::Paid)
        .await;
    assert_eq!(paid.state, SaleState::Paid, "{seen:?}");
    assert!(!paid.late && !paid.needs_review, "{paid:?}");
    assert!(rig
        .log()
        .contains("asked to check the sale with the gateway again"));

    // The next run finds both sides agreeing: the disagreement was not kept as checked.
    let (status, doc) = reconcile_json(&rig, &day);
    assert_eq!(status, 0, "{doc}");
    assert_eq!(row(&doc, &paid)["verdict"], json!("paid_both"));
    assert_eq!(row(&doc, &paid)["recheck"], Value::Null);
    rig.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_that_differ_are_a_disagreement() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = sale_ending(&mut rig, 1250, &code(95, 1, 0), SaleState::Paid).await;
    edit(&rig, &sale, None, Some(1300));
    let day = china_day(&sale.created_at);

    let (status, doc) = reconcile_json(&rig, &day);
    assert_eq!(status, 2, "{doc}");
    assert_eq!(doc["ok"], json!(false));
    assert_eq!(row(&doc, &sale)["amount_fen"], json!(1250));
    assert_disagrees(
        &doc,
        &sale,
        "amounts_differ",
        json!({"kind": "paid", "amount_fen": 1300}),
    );
    rig.terminate().await;
}
