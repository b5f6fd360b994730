//! The real `scanpay daemon` over a journal that was wiped or damaged, and the
//! payment codes on disk once the sales have ended.
//!
//! - a damaged journal is moved aside, the daemon carries on (no exit, no restart onto an
//!   empty store), unfinished sales salvaged from it are looked up, the damage shows in
//!   `/v1/status`, `/metrics` and the systemd status until the moved-aside store is removed;
//! - new order numbers never repeat old ones, even with the data file and the counter lost;
//! - no file under the state directory holds a scanned code once its sale has ended.

// Shared with e2e_daemon.rs, which uses the parts this file does not.
use crate::e2e_support;

use crate::files_support;

use e2e_support::{code, Rig, RigOptions, STEP};
use files_support::files_holding;
use scanpay::engine::SaleState;
use scanpay::journal::{Journal as _, LogJournal, LOG_FILE};
use scanpay::protocol::Fen;
use scanpay::simulator::OrderState;

async fn damage_shown(rig: &mut Rig) -> Vec<String> {
    let status = rig
        .wait_status("the journal damage in the status", |s| {
            !s.journal_damage.is_empty()
        })
        .await;
    let (code, metrics) = rig.get("/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("\nscanpay_journal_damaged 1\n"),
        "{metrics}"
    );
    status.journal_damage
}

/// Spoils the checksum of the log's second frame (the first sale record), leaving every
/// later frame valid: damage in the middle of the log, not a torn tail.
fn spoil_second_frame(log: &std::path::Path) {
    let mut bytes = std::fs::read(log).unwrap();
    let first_len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let second = 8 + first_len;
    for b in &mut bytes[second + 4..second + 8] {
        *b ^= 0x5A;
    }
    std::fs::write(log, bytes).unwrap();
}

/// Item 4: a frame in the middle of the log fails its checksum; the first start after it
/// serves at once, the sale that was waiting for the customer is salvaged and looked up
/// (paid, charged once), and removing the moved-aside store acknowledges the damage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_journal_is_salvaged_and_shown_until_a_person_removes_it() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let first = rig.arm(Fen(1250)).await;
    rig.scan(&code(31, 1, 0));
    let (first, _) = rig.finish(&first).await;
    assert_eq!(first.state, SaleState::Paid);
    let waiting = rig.arm(Fen(3300)).await;
    // USERPAYING, paid 3 s after the pay request.
    rig.scan(&code(32, 3, 3));
    let (waiting, seen) = rig
        .follow(&waiting, STEP, |s| s == SaleState::WaitingCustomer)
        .await;
    assert_eq!(waiting.state, SaleState::WaitingCustomer, "{seen:?}");
    rig.kill_9().await;

    let journal = rig.state_dir().join("journal");
    spoil_second_frame(&journal.join(LOG_FILE));
    rig.start_daemon().await;
    let damage = damage_shown(&mut rig).await;
    assert!(damage[0].contains("journal.corrupt-"), "{damage:?}");
    assert!(
        damage[0].contains("2 sales salvaged, 1 of them unfinished"),
        "{damage:?}"
    );

    // The salvaged sale is looked up, never paid again: charged once.
    let salvaged = rig.sale(&waiting.sale_id).await;
    let (done, seen) = rig.follow(&salvaged, STEP, |s| s.is_final()).await;
    assert_eq!(done.state, SaleState::Paid, "{seen:?}");
    let order = rig.ledger().order(&waiting.out_trade_no).cloned().unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.pay_requests, 1, "{order:?}");

    // New sales still get new numbers and pay.
    let next = rig.arm(Fen(500)).await;
    assert!(![&first.out_trade_no, &waiting.out_trade_no].contains(&&next.out_trade_no));
    rig.scan(&code(33, 1, 0));
    assert_eq!(rig.finish(&next).await.0.state, SaleState::Paid);

    // Acknowledged: the moved-aside store is removed, and the status clears.
    for entry in std::fs::read_dir(rig.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("journal.corrupt-") {
            std::fs::remove_dir_all(path).unwrap();
        }
    }
    rig.wait_status("the damage to clear", |s| s.journal_damage.is_empty())
        .await;
    let (_, metrics) = rig.get("/metrics").await.unwrap();
    assert!(
        metrics.contains("\nscanpay_journal_damaged 0\n"),
        "{metrics}"
    );
    assert_eq!(rig.terminate().await.code(), Some(0), "{}", rig.log());
    // The paid sale was salvaged into the new journal too.
    let journal = LogJournal::open(&journal).unwrap();
    let kept = journal.get(&first.sale_id).unwrap().unwrap();
    assert_eq!(kept.state, SaleState::Paid);
}

/// Items 2 and 4: garbage in the log and the counter file gone. Before, the daemon
/// started silently at 000001 again and the next sale's ORDERPAID looked up the old order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_data_and_no_counter_file_never_repeat_a_number_and_show_the_damage() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let old = rig.arm(Fen(1250)).await;
    rig.scan(&code(41, 1, 0));
    assert_eq!(rig.finish(&old).await.0.state, SaleState::Paid);
    assert_eq!(rig.terminate().await.code(), Some(0));

    let journal = rig.state_dir().join("journal");
    let len = std::fs::metadata(journal.join(LOG_FILE)).unwrap().len() as usize;
    std::fs::write(journal.join(LOG_FILE), vec![0xA5; len.max(4096)]).unwrap();
    std::fs::remove_file(journal.join("scanpay-last-seq")).unwrap();
    rig.start_daemon().await;
    let damage = damage_shown(&mut rig).await;
    assert!(damage[0].contains("new epoch"), "{damage:?}");

    let new = rig.arm(Fen(1250)).await;
    assert_ne!(new.out_trade_no, old.out_trade_no);
    rig.scan(&code(42, 1, 0));
    let (new, seen) = rig.finish(&new).await;
    assert_eq!(new.state, SaleState::Paid, "{seen:?}");
    let order = rig.ledger().order(&new.out_trade_no).cloned().unwrap();
    assert_eq!((order.state, order.amount_fen), (OrderState::Paid, 1250));
    assert_eq!(rig.ledger().orders.len(), 2, "two customers, two orders");
    assert_eq!(rig.terminate().await.code(), Some(0), "{}", rig.log());
}

/// Invariant 5 (ARCHITECTURE.md): once the sales have ended, no scanned code is in any file
/// under the state directory (old record versions stay in the log; the codes never go there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_file_under_the_state_directory_holds_a_scanned_code_after_the_sales_end() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let mut codes = Vec::new();
    // Paid at once, declined, paid after the customer confirms (two queries).
    for (i, (script, param)) in [(1, 0), (6, 0), (2, 2), (1, 0), (6, 0), (2, 1)]
        .into_iter()
        .enumerate()
    {
        let sale = rig.arm(Fen(100 + i as u64)).await;
        let scanned = code(50 + i as u32, script, param);
        rig.scan(&scanned);
        let (done, seen) = rig.finish(&sale).await;
        assert!(done.state.is_final(), "{seen:?}");
        codes.push(scanned);
    }
    // A restart in between: the journal is reopened and written again.
    assert_eq!(rig.terminate().await.code(), Some(0));
    rig.start_daemon().await;
    for (i, (script, param)) in [(1, 0), (2, 1), (6, 0), (1, 0), (1, 0)]
        .into_iter()
        .enumerate()
    {
        let sale = rig.arm(Fen(200 + i as u64)).await;
        let scanned = code(60 + i as u32, script, param);
        rig.scan(&scanned);
        let (done, seen) = rig.finish(&sale).await;
        assert!(done.state.is_final(), "{seen:?}");
        codes.push(scanned);
    }
    assert_eq!(rig.terminate().await.code(), Some(0));
    assert_eq!(codes.len(), 11);
    for scanned in &codes {
        assert_eq!(
            files_holding(&rig.state_dir(), scanned),
            Vec::<String>::new(),
            "code {scanned}"
        );
    }
    rig.assert_log_never_shows(&codes.iter().map(String::as_str).collect::<Vec<_>>());
}
