//! The append-only log journal (`LogJournal`) in a temp dir: the contract, reopening, the
//! reservation of order numbers, a torn last frame cut off, damage moved aside, retention.

use scanpay::engine::{SaleRecord, SaleState, Timestamp};
use scanpay::journal::{Journal, LogJournal, LOG_FILE, SEQ_BLOCK};
use scanpay::protocol::{Fen, PaymentCode, Payway};

/// 2026-11-25T20:00:00Z
const T0: u64 = 1_795_636_800_000;

fn record(seq: u64, state: SaleState) -> SaleRecord {
    let id = format!("POS1-20261125-{seq:06}");
    SaleRecord {
        sale_id: id.clone(),
        out_trade_no: id,
        seq,
        amount: Fen(1250 * seq),
        subject: "Coffee".into(),
        operator_id: "001".into(),
        state,
        payway: Some(Payway::WeChat),
        auth_code: None,
        trade_no: None,
        err_code: None,
        err_code_des: None,
        created_at: Timestamp(T0 + seq * 60_000),
        updated_at: Timestamp(T0 + seq * 60_000 + 2_500),
        scanned_at: None,
        deadline_at: None,
        unresolved_at: None,
        next_poll_at: None,
        poll_interval_ms: 3000,
        pay_attempts: 1,
        query_attempts: 0,
        needs_review: false,
        note: None,
        qr_url: None,
        salvaged: false,
        late: false,
        not_found: Default::default(),
    }
}

/// The contract every journal keeps.
fn contract(journal: &dyn Journal) {
    assert_eq!(journal.last_seq().unwrap(), 0);
    assert!(journal.load_all().unwrap().is_empty());
    let mut queued = record(2, SaleState::Queued);
    queued.auth_code = Some(PaymentCode::parse("134523198765432101").unwrap());
    journal.put(&record(1, SaleState::Paid)).unwrap();
    journal.put(&queued).unwrap();
    journal.put(&record(3, SaleState::Unresolved)).unwrap();
    assert_eq!(journal.get(&queued.sale_id).unwrap(), Some(queued.clone()));
    assert_eq!(journal.get("nope").unwrap(), None);
    assert_eq!(journal.last_seq().unwrap(), 3);

    // A later version replaces the earlier one; an older seq never lowers the counter.
    let mut paid = queued.clone();
    paid.state = SaleState::Paid;
    paid.auth_code = None;
    journal.put(&paid).unwrap();
    assert_eq!(journal.get(&paid.sale_id).unwrap(), Some(paid));
    assert_eq!(journal.last_seq().unwrap(), 3);

    let seqs = |v: Vec<SaleRecord>| v.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(seqs(journal.load_all().unwrap()), [1, 2, 3]);
    assert_eq!(seqs(journal.unfinished().unwrap()), [3]);
    let (from, to) = (Timestamp(T0 + 60_000), Timestamp(T0 + 180_000));
    assert_eq!(seqs(journal.list(from, to).unwrap()), [1, 2]);
}

#[test]
fn log_journal_keeps_the_contract_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    {
        let journal = LogJournal::open(&path).unwrap();
        contract(&journal);
    }
    let journal = LogJournal::open(&path).unwrap();
    assert_eq!(journal.last_seq().unwrap(), 3);
    let all = journal.load_all().unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r.auth_code.is_none()));
    assert_eq!(all[2].state, SaleState::Unresolved);
    let page = journal
        .list_page(
            Timestamp(0),
            Timestamp(u64::MAX),
            Some((all[0].created_at, 1)),
            1,
        )
        .unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
}

/// The counter file is a reservation: written when a number crosses it, not per sale.
#[test]
fn the_counter_file_reserves_a_block_of_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let journal = LogJournal::open(&path).unwrap();
    let epoch = journal.epoch().unwrap();
    for seq in 1..=5 {
        journal.put(&record(seq, SaleState::Paid)).unwrap();
    }
    let text = std::fs::read_to_string(path.join("scanpay-last-seq")).unwrap();
    assert_eq!(text.trim(), format!("{SEQ_BLOCK} {epoch}"));
    drop(journal);
    // The log lost, the reservation kept: numbering continues above the ceiling.
    std::fs::remove_file(path.join(LOG_FILE)).unwrap();
    let journal = LogJournal::open(&path).unwrap();
    assert_eq!(journal.damage().len(), 1);
    assert_eq!(journal.epoch().unwrap(), epoch);
    assert_eq!(
        journal.last_seq().unwrap(),
        SEQ_BLOCK,
        "the next number is above every reserved one"
    );
}

/// A power cut in the middle of an append: the torn frame is cut off, the rest kept.
#[test]
fn a_torn_last_frame_is_cut_off_and_the_journal_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let good_len = {
        let journal = LogJournal::open(&path).unwrap();
        journal.put(&record(1, SaleState::Paid)).unwrap();
        let len = journal.log_len();
        journal.put(&record(2, SaleState::Unresolved)).unwrap();
        len
    };
    let log = path.join(LOG_FILE);
    let full = std::fs::metadata(&log).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    file.set_len(full - 10).unwrap();
    drop(file);
    let journal = LogJournal::open(&path).unwrap();
    assert!(journal.damage().is_empty());
    assert_eq!(std::fs::metadata(&log).unwrap().len(), good_len);
    assert_eq!(journal.load_all().unwrap().len(), 1);
    journal.put(&record(3, SaleState::Paid)).unwrap();
    drop(journal);
    let journal = LogJournal::open(&path).unwrap();
    let seqs: Vec<u64> = journal.load_all().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 3]);
}

/// A bad frame with good ones after it is damage: moved aside, salvaged, numbering kept.
#[test]
fn a_damaged_frame_in_the_middle_is_moved_aside_and_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (epoch, middle) = {
        let journal = LogJournal::open(&path).unwrap();
        journal.put(&record(1, SaleState::Paid)).unwrap();
        let middle = journal.log_len();
        journal.put(&record(2, SaleState::Unresolved)).unwrap();
        journal.put(&record(3, SaleState::Paid)).unwrap();
        (journal.epoch().unwrap(), middle)
    };
    let log = path.join(LOG_FILE);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[middle as usize + 4] ^= 0xFF;
    std::fs::write(&log, bytes).unwrap();
    let journal = LogJournal::open(&path).unwrap();
    let notices = journal.damage();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].moved_to.join(LOG_FILE).exists());
    assert!(
        notices[0].detail.contains("3 sales salvaged"),
        "{}",
        notices[0].detail
    );
    assert_eq!(journal.epoch().unwrap(), epoch);
    assert!(journal.load_all().unwrap().iter().all(|r| r.salvaged));
}

/// Garbage over the whole log and no counter file: damage, and a new epoch.
#[test]
fn a_garbage_log_without_a_counter_file_is_damage_under_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let epoch = {
        let journal = LogJournal::open(&path).unwrap();
        journal.put(&record(1, SaleState::Paid)).unwrap();
        journal.epoch().unwrap()
    };
    std::fs::write(path.join(LOG_FILE), vec![0xA5; 4096]).unwrap();
    std::fs::remove_file(path.join("scanpay-last-seq")).unwrap();
    let journal = LogJournal::open(&path).unwrap();
    assert_eq!(journal.damage().len(), 1);
    assert_ne!(journal.epoch().unwrap(), epoch);
}

/// Retention: final sales older than keep_days are dropped at open and the file shrinks;
/// an unfinished one is kept however old.
#[test]
fn compaction_drops_old_final_sales_and_reclaims_the_space() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let day = 86_400_000;
    let before = {
        let journal = LogJournal::open_with(&path, 10).unwrap();
        for seq in 1..=50 {
            let mut old = record(seq, SaleState::Paid);
            old.created_at = Timestamp(T0 - 30 * day);
            journal.put(&old).unwrap();
        }
        let mut open = record(51, SaleState::Unresolved);
        open.created_at = Timestamp(T0 - 30 * day);
        journal.put(&open).unwrap();
        journal.put(&record(52, SaleState::Paid)).unwrap();
        journal.log_len()
    };
    let journal = LogJournal::open_with(&path, 10).unwrap();
    let after = std::fs::metadata(path.join(LOG_FILE)).unwrap().len();
    assert!(after * 5 < before, "{before} -> {after}");
    let seqs: Vec<u64> = journal.load_all().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [51, 52]);
    assert_eq!(journal.last_seq().unwrap(), 52);
}

#[test]
fn a_sled_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("db"), b"sled").unwrap();
    let err = LogJournal::open(&path).unwrap_err();
    assert!(err.to_string().contains("sled store"), "{err}");
    assert!(err.restart_cannot_help());
    assert_eq!(std::fs::read(path.join("db")).unwrap(), b"sled");
}

#[test]
fn a_store_in_use_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let _first = LogJournal::open(&path).unwrap();
    let err = LogJournal::open(&path).unwrap_err();
    assert!(err.to_string().contains("no other scanpay"), "{err}");
}
