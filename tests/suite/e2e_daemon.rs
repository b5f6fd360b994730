//! End-to-end: the real `scanpay daemon` process, driven like a shop drives it.
//!
//! Each test starts the binary with a config pointing at the in-process gateway simulator
//! (127.0.0.1:0), a pseudo-terminal scanner behind a symlink, the png display and a journal
//! in a temp dir, and the register API on a unix socket; then it arms sales through the
//! register API, types payment codes into the pty, and checks what the register sees
//! against the simulator's books (which count every pay request per order, so "charged
//! exactly once" is measured, not assumed). See `e2e_support` for the rig.

use crate::e2e_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use e2e_support::{code, read_until, signal, spawn_scanpay, wait_exit, Rig, RigOptions};
use scanpay::engine::SaleState;
use scanpay::protocol::Fen;
use scanpay::simulator::OrderState;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_is_paid_frames_are_drawn_and_sigterm_stops_with_exit_0() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let idle_frame = rig.latest_frame().await;

    let sale = rig.arm(Fen(1250)).await;
    let paid_code = code(1, 1, 0);
    rig.scan(&paid_code);
    let (sale, seen) = rig.finish(&sale).await;

    assert_eq!(sale.state, SaleState::Paid, "states seen: {seen:?}");
    assert_eq!(sale.amount_fen, Fen(1250));
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.pay_requests, 1);
    assert_eq!(order.amount_fen, 1250);
    assert_eq!(sale.trade_no.as_deref(), Some(order.trade_no.as_str()));
    // The display moved on from the idle screen (it shows the payment), keeping numbered
    // frames beside latest.png.
    rig.wait_frame(|frame| frame != idle_frame.as_slice()).await;
    let frames = std::fs::read_dir(rig.screens())
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.ends_with(".png") && name != "latest.png"
        })
        .count();
    assert!(frames >= 2, "{frames} numbered frames");
    let status = rig.status().await.unwrap();
    assert!(status.display.ok, "{status:?}");

    let exit = rig.terminate().await;
    assert_eq!(exit.code(), Some(0), "SIGTERM: {exit}\n{}", rig.log());
    rig.assert_log_never_shows(&[&paid_code]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userpaying_is_followed_by_queries_until_the_customer_confirms() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = rig.arm(Fen(880)).await;
    // Script 02 with parameter 3: USERPAYING, then paid on the third query.
    let slow_code = code(2, 2, 3);
    rig.scan(&slow_code);
    let (sale, seen) = rig.finish(&sale).await;

    assert_eq!(sale.state, SaleState::Paid, "states seen: {seen:?}");
    assert!(
        seen.contains(&SaleState::WaitingCustomer),
        "the register was never told the customer is confirming: {seen:?}"
    );
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(
        order.pay_requests, 1,
        "USERPAYING is followed by queries, never a resend"
    );
    assert!(
        order.queries >= 3,
        "paid on the third query, asked {}",
        order.queries
    );
    rig.assert_log_never_shows(&[&slow_code]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_shows_the_gateways_err_code_and_frees_the_terminal() {
    let mut rig = Rig::start(RigOptions::default()).await;
    for (unique, script, err_code) in [(3, 6, "INSUFFICIENT"), (4, 7, "ORDERCLOSED")] {
        let sale = rig.arm(Fen(4200)).await;
        rig.scan(&code(unique, script, 0));
        let (sale, seen) = rig.finish(&sale).await;
        assert_eq!(sale.state, SaleState::Failed, "states seen: {seen:?}");
        assert_eq!(sale.err_code.as_deref(), Some(err_code), "{sale:?}");
        assert!(
            sale.err_code_des
                .as_deref()
                .is_some_and(|des| !des.is_empty()),
            "the cashier gets the gateway's reason: {sale:?}"
        );
        let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
        assert_ne!(order.state, OrderState::Paid);
        assert_eq!(order.pay_requests, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_down_queues_the_pay_and_it_is_paid_when_the_gateway_is_back() {
    let mut rig = Rig::start(RigOptions::default()).await;
    rig.sim.go_down().await;
    let sale = rig.arm(Fen(1999)).await;
    rig.scan(&code(5, 1, 0));
    let (queued, seen) = rig
        .follow(&sale, e2e_support::STEP, |s| s == SaleState::Queued)
        .await;
    assert_eq!(queued.state, SaleState::Queued, "states seen: {seen:?}");
    let status = rig
        .wait_status("the status to show the queued pay", |s| s.queue_depth >= 1)
        .await;
    assert!(!status.gateway.ok, "{status:?}");
    assert!(rig.ledger().order(&sale.out_trade_no).is_none());

    rig.sim
        .come_up()
        .await
        .expect("the simulator listens again");
    let (sale, seen) = rig.finish(&queued).await;
    assert_eq!(sale.state, SaleState::Paid, "states seen: {seen:?}");
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.pay_requests, 1);
    rig.wait_status("the queue to drain and the gateway to show up", |s| {
        s.queue_depth == 0 && s.gateway.ok
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_queued_longer_than_pay_max_age_expires_and_is_never_charged() {
    let mut rig = Rig::start(RigOptions {
        pay_max_age_s: 1,
        ..RigOptions::default()
    })
    .await;
    rig.sim.go_down().await;
    let sale = rig.arm(Fen(1500)).await;
    let stale_code = code(6, 1, 0);
    rig.scan(&stale_code);
    let (sale, seen) = rig.finish(&sale).await;
    assert_eq!(sale.state, SaleState::Expired, "states seen: {seen:?}");
    assert!(seen.contains(&SaleState::Queued), "{seen:?}");

    // Back up: the next sale is paid, and the expired one never reached the gateway.
    rig.sim
        .come_up()
        .await
        .expect("the simulator listens again");
    let next = rig.arm(Fen(1500)).await;
    rig.scan(&code(7, 1, 0));
    let (next, seen) = rig.finish(&next).await;
    assert_eq!(next.state, SaleState::Paid, "states seen: {seen:?}");
    assert_eq!(rig.sale(&sale.sale_id).await.state, SaleState::Expired);
    let ledger = rig.ledger();
    assert!(
        ledger.order(&sale.out_trade_no).is_none(),
        "an expired pay reached the gateway: {:?}",
        ledger.order(&sale.out_trade_no)
    );
    assert!(!ledger.codes_used.contains(&stale_code));
    assert_eq!(ledger.orders.len(), 1, "{:?}", ledger.orders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_customer_confirms_then_restart_finishes_the_sale_charged_once() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = rig.arm(Fen(3300)).await;
    // Script 03 with parameter 4: USERPAYING, paid 4 s after the pay request.
    rig.scan(&code(8, 3, 4));
    let (waiting, seen) = rig
        .follow(&sale, e2e_support::STEP, |s| {
            s == SaleState::WaitingCustomer
        })
        .await;
    assert_eq!(waiting.state, SaleState::WaitingCustomer, "{seen:?}");

    let exit = rig.kill_9().await;
    assert_eq!(exit.code(), None, "killed by a signal: {exit}");
    rig.start_daemon().await;
    assert!(
        rig.log()
            .contains("resuming unfinished sales from the journal"),
        "{}",
        rig.log()
    );

    // The register finds its sale again, still waiting for the customer.
    let recovered = rig.sale(&sale.sale_id).await;
    assert_eq!(recovered.out_trade_no, sale.out_trade_no);
    assert_eq!(recovered.state, SaleState::WaitingCustomer, "{recovered:?}");
    let (done, seen) = rig.finish(&recovered).await;
    assert_eq!(done.state, SaleState::Paid, "after the restart: {seen:?}");
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.pay_requests, 1, "charged exactly once: {order:?}");
    assert_eq!(rig.ledger().orders.len(), 1);
    assert_eq!(done.trade_no.as_deref(), Some(order.trade_no.as_str()));
}

/// `GET /v1/sales` over the register API: the sale ids, newest first.
async fn listed_ids(rig: &Rig, query: &str) -> Vec<String> {
    let (status, body) = rig.get(&format!("/v1/sales{query}")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list["sales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sale_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_a_paid_sale_then_restart_still_finds_and_lists_it() {
    // After a restart the register got 404 for every finished sale and an empty list,
    // although the journal held them: a register that crashed with the Pi could not learn
    // what became of the sale it was waiting for.
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = rig.arm(Fen(2600)).await;
    rig.scan(&code(20, 1, 0));
    let (paid, seen) = rig.finish(&sale).await;
    assert_eq!(paid.state, SaleState::Paid, "states seen: {seen:?}");

    let exit = rig.kill_9().await;
    assert_eq!(exit.code(), None, "killed by a signal: {exit}");
    rig.start_daemon().await;

    assert_eq!(rig.sale(&sale.sale_id).await, paid);
    // Its state is final: a long-poll answers at once, not at the end of its wait.
    let (status, body) = rig
        .get(&format!("/v1/sales/{}?wait=60&state=paid", sale.sale_id))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listed_ids(&rig, "").await,
        std::slice::from_ref(&sale.sale_id)
    );
    let (status, body) = rig
        .get(&format!("/v1/sales/{}", sale.sale_id.to_lowercase()))
        .await
        .unwrap();
    assert_eq!(status, 200, "order numbers are equal ignoring case: {body}");

    // The next sale continues the list, newest first.
    let next = rig.arm(Fen(100)).await;
    assert_eq!(
        listed_ids(&rig, "?limit=5").await,
        [next.sale_id, sale.sale_id]
    );
    assert_eq!(
        rig.ledger().order(&paid.out_trade_no).unwrap().pay_requests,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_older_than_the_registers_window_is_found_from_the_journal() {
    use scanpay::engine::{SaleRecord, Timestamp};
    use scanpay::journal::{Journal, LogJournal};
    use scanpay::register::board::RECENT_SALES;
    let mut rig = Rig::start(RigOptions::default()).await;
    let first = rig.arm(Fen(700)).await;
    rig.scan(&code(21, 1, 0));
    let (first, seen) = rig.finish(&first).await;
    assert_eq!(first.state, SaleState::Paid, "states seen: {seen:?}");
    assert_eq!(rig.terminate().await.code(), Some(0));

    // A busy till: more sales since than the register API keeps in memory, written while
    // the daemon is stopped (the journal allows one process), as earlier runs would have.
    {
        let journal = LogJournal::open(rig.dir.path().join("journal").join("journal")).unwrap();
        let mut later = journal
            .get(&first.sale_id)
            .unwrap()
            .expect("the paid sale is journaled");
        let base = later.seq;
        let epoch = journal.epoch().unwrap();
        for n in 1..=RECENT_SALES as u64 {
            later.seq = base + n;
            later.created_at = Timestamp::from_millis(later.created_at.as_millis() + 1000);
            later.updated_at = later.created_at;
            later.sale_id =
                SaleRecord::order_number("E2E", later.created_at, Some(&epoch), later.seq);
            later.out_trade_no = later.sale_id.clone();
            journal.put(&later).unwrap();
        }
    }
    rig.start_daemon().await;

    let newest = listed_ids(&rig, &format!("?limit={RECENT_SALES}")).await;
    assert_eq!(newest.len(), RECENT_SALES);
    assert!(!newest.contains(&first.sale_id), "the list is bounded");
    assert_eq!(rig.sale(&first.sale_id).await, first);
    let (status, body) = rig.get("/v1/sales/E2E-20000101-999999").await.unwrap();
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanner_unplugged_shows_in_status_and_a_scan_after_replug_pays() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let idle_frame = rig.latest_frame().await;
    rig.unplug();
    let status = rig
        .wait_status("the status to show the scanner down", |s| !s.scanner.ok)
        .await;
    assert!(!status.scanner.detail.is_empty(), "{status:?}");
    // The cashier sees it too: the idle screen gives way to "scanner missing".
    rig.wait_frame(|frame| frame != idle_frame.as_slice()).await;

    rig.replug();
    rig.wait_status("the scanner to be reopened", |s| s.scanner.ok)
        .await;
    let sale = rig.arm(Fen(500)).await;
    rig.scan(&code(9, 1, 0));
    let (sale, seen) = rig.finish(&sale).await;
    assert_eq!(sale.state, SaleState::Paid, "states seen: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanpay_charge_exits_0_when_paid_and_non_zero_when_declined() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let config = rig.config_path.display().to_string();
    for (unique, script, paid) in [(10, 1, true), (11, 6, false)] {
        let mut charge = spawn_scanpay(
            &["charge", "12.50", "--config", &config, "--wait", "20"],
            Stdio::null(),
            Stdio::piped(),
            Stdio::piped(),
        );
        // It prints each step on stderr; once the sale is armed the cashier scans.
        let mut progress = BufReader::new(charge.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        let armed = read_until(&mut progress, "armed", &mut seen).await;
        assert!(armed.contains("¥12.50"), "{armed}");
        rig.scan(&code(unique, script, 0));

        let exit = wait_exit(&mut charge, "scanpay charge to end").await;
        while let Ok(Some(line)) = progress.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
        }
        let mut stdout = String::new();
        charge
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .await
            .unwrap();
        if paid {
            assert_eq!(exit.code(), Some(0), "{stdout}\n{seen}");
            assert!(stdout.contains(" paid ¥12.50"), "{stdout}");
        } else {
            assert_eq!(exit.code(), Some(1), "{stdout}\n{seen}");
            assert!(stdout.contains(" failed ¥12.50"), "{stdout}");
            assert!(seen.contains("INSUFFICIENT"), "{seen}");
        }
        // stdout: "{sale_id} {state} {amount}".
        let sale_id = stdout.split_whitespace().next().expect("a sale id");
        let sale = rig.sale(sale_id).await;
        let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
        assert_eq!(order.amount_fen, 1250);
        assert_eq!(order.pay_requests, 1);
        assert_eq!(order.state == OrderState::Paid, paid, "{order:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_is_refused_naming_the_key_with_exit_78() {
    // (a line added to [payment], one added to [scanner], the key file's mode, what the
    // error must say)
    let cases: [(&str, &str, u32, &[&str]); 3] = [
        (
            "",
            "bauds = 9600",
            0o600,
            &["[scanner] bauds", "unknown field `bauds`", "`baud`"],
        ),
        (
            "",
            "",
            0o644,
            &["[gateway] key_file", "mode 0644", "chmod go-rwx"],
        ),
        (
            "deadline_s = 0",
            "",
            0o600,
            &["[payment] deadline_s", "0 is out of range", "1 to 600"],
        ),
    ];
    for (index, (payment_extra, scanner_extra, key_mode, expected)) in cases.into_iter().enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("merchant.key");
        std::fs::write(&key, scanpay::simulator::DEMO_KEY).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(key_mode)).unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"[gateway]
base_url = "http://127.0.0.1:9"
app_id = "DEMO0001"
key_file = "merchant.key"
notify_url = "http://127.0.0.1:9/notify"

[payment]
order_prefix = "E2E"
{payment_extra}

[scanner]
kind = "stdin"
{scanner_extra}

[display]
kind = "none"

[register]
listen = "unix:{socket}"

[storage]
path = "journal"
"#,
                socket = dir.path().join("register.sock").display(),
            ),
        )
        .unwrap();
        let daemon = spawn_scanpay(
            &["daemon", "--config", &config.display().to_string()],
            Stdio::null(),
            Stdio::null(),
            Stdio::piped(),
        );
        // A daemon that started anyway is killed when the timed-out wait drops it.
        let output = tokio::time::timeout(e2e_support::STEP, daemon.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("case {index}: the daemon did not refuse its config"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "case {index}: {stderr}");
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "case {index}: no {needle:?} in:\n{stderr}"
            );
        }
        assert!(!stderr.contains(scanpay::simulator::DEMO_KEY), "{stderr}");
        // Refused before touching anything: no journal, no socket.
        assert!(!dir.path().join("journal").exists(), "case {index}");
        assert!(!dir.path().join("register.sock").exists(), "case {index}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanpay_demo_pays_a_magic_code_typed_on_stdin() {
    let mut demo = spawn_scanpay(
        &["demo", "--text"],
        Stdio::piped(),
        Stdio::piped(),
        Stdio::piped(),
    );
    let mut stdout = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut log = BufReader::new(demo.stderr.take().unwrap()).lines();
    let (mut printed, mut logged) = (String::new(), String::new());
    read_until(&mut stdout, "Register API:", &mut printed).await;
    assert!(
        printed.contains("Type or paste a payment code"),
        "{printed}"
    );
    assert!(
        printed.contains("134523198765000100"),
        "the magic table: {printed}"
    );

    let magic = code(12, 1, 0);
    let mut stdin = demo.stdin.take().unwrap();
    stdin
        .write_all(format!("{magic}\n").as_bytes())
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    read_until(&mut log, r#"state="submitting""#, &mut logged).await;
    let paid = read_until(&mut log, r#"state="paid""#, &mut logged).await;
    assert!(paid.contains("¥12.50"), "{paid}");
    assert!(
        !logged.contains(&magic),
        "the full code was logged:\n{logged}"
    );

    signal(demo.id().expect("the demo runs"), "TERM");
    let exit = wait_exit(&mut demo, "the demo to stop after SIGTERM").await;
    assert_eq!(exit.code(), Some(0), "{logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_customer_confirms_stops_with_exit_0_and_the_restart_finishes_it() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = rig.arm(Fen(2750)).await;
    // Script 03 with parameter 4: USERPAYING, paid 4 s after the pay request.
    rig.scan(&code(13, 3, 4));
    rig.follow(&sale, e2e_support::STEP, |s| {
        s == SaleState::WaitingCustomer
    })
    .await;

    let exit = rig.terminate().await;
    assert_eq!(
        exit.code(),
        Some(0),
        "SIGTERM mid-sale: {exit}\n{}",
        rig.log()
    );
    rig.start_daemon().await;
    let (done, seen) = rig.finish(&rig.sale(&sale.sale_id).await).await;
    assert_eq!(done.state, SaleState::Paid, "after the restart: {seen:?}");
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.pay_requests, 1, "charged exactly once: {order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_when_the_customer_never_confirms_leaves_it_unresolved_never_resent() {
    let mut rig = Rig::start(RigOptions {
        deadline_s: 3,
        ..RigOptions::default()
    })
    .await;
    let sale = rig.arm(Fen(6600)).await;
    // Script 09: USERPAYING for ever.
    rig.scan(&code(14, 9, 0));
    rig.follow(&sale, e2e_support::STEP, |s| {
        s == SaleState::WaitingCustomer
    })
    .await;
    rig.kill_9().await;
    rig.start_daemon().await;

    // Past the cashier's deadline the sale is unresolved (checked in the background), and
    // the terminal takes the next sale.
    let (stuck, seen) = rig.finish(&rig.sale(&sale.sale_id).await).await;
    assert_eq!(stuck.state, SaleState::Unresolved, "{seen:?}");
    let next = rig.arm(Fen(100)).await;
    rig.scan(&code(15, 1, 0));
    let (next, seen) = rig.finish(&next).await;
    assert_eq!(next.state, SaleState::Paid, "{seen:?}");

    let ledger = rig.ledger();
    let order = ledger.order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.pay_requests, 1, "never resent: {order:?}");
    assert_eq!(order.state, OrderState::WaitingCustomer);
    assert!(order.queries >= 1, "the restart asked about it: {order:?}");
    assert_eq!(ledger.orders.len(), 2, "{:?}", ledger.orders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_panel_is_reported_and_payments_go_on() {
    let mut rig = Rig::start(RigOptions {
        missing_panel: true,
        ..RigOptions::default()
    })
    .await;
    let status = rig.status().await.unwrap();
    assert!(!status.display.ok, "{status:?}");
    assert!(
        status.display.detail.contains("no-such-spidev")
            && status.display.detail.contains("enable SPI"),
        "the status names the device and what to do: {status:?}"
    );

    let sale = rig.arm(Fen(800)).await;
    rig.scan(&code(90, 1, 0));
    let (sale, seen) = rig.finish(&sale).await;
    assert_eq!(sale.state, SaleState::Paid, "states seen: {seen:?}");
    let exit = rig.terminate().await;
    assert_eq!(exit.code(), Some(0), "SIGTERM: {exit}\n{}", rig.log());
}

/// The out_trade_no a request body names.
fn order_of(request: &str) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(request).ok()?;
    body["out_trade_no"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_answer_replayed_with_its_keys_case_changed_does_not_pay_another_sale() {
    // A man in the middle on plain http: sale A's genuine signed codepay answer (¥0.01,
    // paid) is kept and, with `out_trade_no` / `total_amount` turned into
    // `out_trade_nO` / `total_amounT` (the signature covers lowercased text only), returned
    // for every request of sale B (¥999.00), which never reaches the gateway.
    let sim = Rig::start_simulator().await;
    let proxy = e2e_support::proxy::Proxy::start(sim.base_url(), |_path, request, before| {
        let genuine = before
            .iter()
            .find(|e| e.path == "/api/codepay/" && e.forwarded);
        match genuine {
            Some(a) if order_of(request) != order_of(&a.request) => {
                e2e_support::proxy::Route::Answer(
                    a.answer
                        .replace("\"out_trade_no\":", "\"out_trade_nO\":")
                        .replace("\"total_amount\":", "\"total_amounT\":"),
                )
            }
            _ => e2e_support::proxy::Route::Forward,
        }
    })
    .await;
    let mut rig = Rig::start_on(
        sim,
        proxy.url(),
        RigOptions {
            deadline_s: 3,
            ..RigOptions::default()
        },
    )
    .await;

    let a = rig.arm(Fen(1)).await;
    rig.scan(&code(40, 1, 0));
    let (a, seen) = rig.finish(&a).await;
    assert_eq!(a.state, SaleState::Paid, "sale A, states seen: {seen:?}");
    let genuine = proxy.exchanges()[0].answer.clone();
    assert!(
        genuine.contains("\"out_trade_no\":") && genuine.contains("\"total_amount\":0.01"),
        "{genuine}"
    );

    let b = rig.arm(Fen(99_900)).await;
    rig.scan(&code(41, 1, 0));
    let (b, seen) = rig.finish(&b).await;
    assert!(
        !seen.contains(&SaleState::Paid) && b.state == SaleState::Unresolved,
        "sale B must be looked up, never paid; states seen: {seen:?}; last: {b:?}"
    );
    assert!(seen.contains(&SaleState::Unknown), "states seen: {seen:?}");
    assert_ne!(b.trade_no, a.trade_no, "{b:?}");

    // Every request of sale B got the replay (its pay and its queries), none reached the
    // simulator: it charged nothing for B, and A exactly once.
    let for_b: Vec<_> = proxy
        .exchanges()
        .into_iter()
        .filter(|e| order_of(&e.request).as_deref() == Some(b.out_trade_no.as_str()))
        .collect();
    assert!(
        for_b.iter().any(|e| e.path == "/api/codepay/")
            && for_b.iter().any(|e| e.path == "/api/query/")
            && for_b
                .iter()
                .all(|e| !e.forwarded && e.answer.contains("out_trade_nO")),
        "{for_b:?}"
    );
    let ledger = rig.ledger();
    assert!(ledger.order(&b.out_trade_no).is_none(), "{ledger:?}");
    let order_a = ledger.order(&a.out_trade_no).cloned().unwrap();
    assert_eq!((order_a.state, order_a.pay_requests), (OrderState::Paid, 1));
    assert!(
        rig.log().contains("not lowercase"),
        "the daemon's log says why the answer was not trusted:\n{}",
        rig.log()
    );
}
