//! The journal (the log store, `LogJournal`) in a temp dir: round trip, reopen, paging, the
//! counter's reservation and the epoch, a torn last frame cut off, damage moved aside and
//! salvaged, retention reclaiming space, a sled store refused, payment codes gone from the
//! files, deferred versions, export golden output. The in-memory fake is held to the same contract.

use crate::record_support;

use record_support::sale_record;

use crate::files_support;

use std::os::unix::fs::FileExt as _;
use std::path::Path;

use expect_test::expect;
use files_support::{files_holding, log_frames_end};
use scanpay::engine::{
    Durability, Engine, EnginePolicy, OrderEpoch, Output, Request, SaleRecord, SaleState, Timestamp,
};
use scanpay::journal::{
    export, ExportFormat, Journal, JournalError, LogJournal, MemoryJournal, PageRequest, LOG_FILE,
    SEQ_BLOCK,
};
use scanpay::protocol::{Fen, PaymentCode, Payway};

/// 2026-11-25T20:00:00Z
const T0: u64 = 1_795_636_800_000;

fn record(seq: u64, state: SaleState) -> SaleRecord {
    let at = Timestamp(T0 + seq * 60_000);
    SaleRecord {
        amount: Fen(1250 * seq),
        payway: Some(Payway::WeChat),
        updated_at: Timestamp(T0 + seq * 60_000 + 2_500),
        ..sale_record(&format!("POS1-20261125-{seq:06}"), seq, state, at)
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
fn memory_journal_keeps_the_contract() {
    contract(&MemoryJournal::new());
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
        .list_page(PageRequest {
            from: Timestamp(0),
            to: Timestamp(u64::MAX),
            after: Some((all[0].created_at, 1)),
            limit: 1,
        })
        .unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
}

/// What start-up reads (`Journal::recovery`): exactly the sales the engine still follows
/// (not final, or failed by the not-found rule and still checked) and the newest by order
/// number, oldest first; a sale that was followed and has ended since is not among the old.
fn recovery_contract(journal: &dyn Journal) {
    for seq in 1..=30 {
        journal.put(&record(seq, SaleState::Paid)).unwrap();
    }
    journal.put(&record(3, SaleState::Unresolved)).unwrap();
    let mut checking = record(5, SaleState::Failed);
    checking.not_found.checking = true;
    journal.put(&checking).unwrap();
    journal.put(&record(7, SaleState::Queued)).unwrap();
    // Followed once, ended since.
    journal.put(&record(9, SaleState::Unknown)).unwrap();
    journal.put(&record(9, SaleState::Paid)).unwrap();
    journal.put(&record(28, SaleState::Unresolved)).unwrap();
    expect_recovery(journal);
}

fn expect_recovery(journal: &dyn Journal) {
    let seqs = |v: Vec<SaleRecord>| v.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(journal.recovery(5).unwrap()),
        [3, 5, 7, 26, 27, 28, 29, 30]
    );
    assert_eq!(seqs(journal.recovery(0).unwrap()), [3, 5, 7, 28]);
    assert_eq!(seqs(journal.unfinished().unwrap()), [3, 5, 7, 28]);
    assert_eq!(
        journal.recovery(100).unwrap(),
        journal.load_all().unwrap(),
        "asked for more than it holds: every sale"
    );
    let recovered = journal.recovery(5).unwrap();
    assert_eq!(recovered[1].state, SaleState::Failed);
    assert!(recovered[1].not_found.checking);
    assert_eq!(
        recovered[1],
        journal.get(&recovered[1].sale_id).unwrap().unwrap()
    );
    let mut ids = Vec::new();
    journal
        .each_sale_id(&mut |id| ids.push(id.to_string()))
        .unwrap();
    ids.sort();
    let all: Vec<String> = journal
        .load_all()
        .unwrap()
        .into_iter()
        .map(|r| r.sale_id)
        .collect();
    assert_eq!(ids, all);
}

#[test]
fn memory_journal_recovers_the_followed_and_the_newest() {
    recovery_contract(&MemoryJournal::new());
}

#[test]
fn log_journal_recovers_the_followed_and_the_newest_from_its_index_also_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    {
        let journal = LogJournal::open(&path).unwrap();
        recovery_contract(&journal);
    }
    // Reopened: the index, its `followed` flags included, is rebuilt from the log's frames.
    expect_recovery(&LogJournal::open(&path).unwrap());
}

/// Carries out an engine's journal outputs on a journal, as the daemon does.
fn write_outputs(engine: &mut Engine, journal: &dyn Journal) {
    while let Some(output) = engine.poll_output() {
        if let Output::Journal(record, durability) = output {
            journal.write(&record, durability).unwrap();
        }
    }
}

/// A fresh engine recovered from `journal`, as the daemon starts one.
fn recovered(journal: &dyn Journal, now: Timestamp) -> Engine {
    let mut engine = Engine::new(EnginePolicy::default(), now).unwrap();
    engine.recover(
        journal.unfinished().unwrap(),
        journal.last_seq().unwrap(),
        Some(journal.epoch().unwrap()),
        now,
    );
    engine
}

/// Arms and disarms `n` sales; their order numbers.
fn arm_some(engine: &mut Engine, journal: &dyn Journal, n: usize, now: Timestamp) -> Vec<String> {
    (0..n)
        .map(|_| {
            let sale = engine
                .arm(Fen(1250), "Tea".into(), "001".into(), now)
                .unwrap();
            write_outputs(engine, journal);
            engine.disarm(&sale.sale_id, now).unwrap();
            write_outputs(engine, journal);
            sale.out_trade_no
        })
        .collect()
}

#[test]
fn order_numbers_are_never_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let now = Timestamp(T0);
    let epoch = {
        let journal = LogJournal::open(&path).unwrap();
        arm_some(&mut recovered(&journal, now), &journal, 3, now);
        journal.epoch().unwrap()
    };
    let journal = LogJournal::open(&path).unwrap();
    assert_eq!(journal.last_seq().unwrap(), 3);
    assert_eq!(journal.epoch().unwrap(), epoch);
    let numbers = arm_some(&mut recovered(&journal, now), &journal, 1, now);
    assert_eq!(numbers, [format!("POS1-20261125-{epoch}-000004")]);
    assert!(journal.damage().is_empty());
}

/// A wiped store (a fresh SD image, `rm -rf` of the state dir) starts under a
/// new random epoch, so none of its numbers is one the terminal sent before.
#[test]
fn a_wiped_store_never_repeats_an_order_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let now = Timestamp(T0);
    let before = {
        let journal = LogJournal::open(&path).unwrap();
        arm_some(&mut recovered(&journal, now), &journal, 3, now)
    };
    std::fs::remove_dir_all(&path).unwrap();
    let journal = LogJournal::open(&path).unwrap();
    let after = arm_some(&mut recovered(&journal, now), &journal, 3, now);
    assert!(
        after.iter().all(|n| !before.contains(n)),
        "{before:?} {after:?}"
    );
    assert!(after.iter().all(|n| n.len() <= 64));
}

/// The damaged store is kept aside with a notice; the new one is usable at once and says so.
fn assert_moved_aside(journal: &LogJournal, path: &Path) -> String {
    let notices = journal.damage();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert!(notice.moved_to.is_dir(), "the damaged files are kept");
    assert!(notice.moved_to.join("DAMAGE.txt").exists());
    let name = notice
        .moved_to
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("journal.corrupt-"), "{name}");
    let said = notice.to_string();
    assert!(said.contains("delete or move away"), "{said}");
    assert!(path.join(LOG_FILE).exists());
    said
}

/// Spoils the checksum of the log's second frame (the first sale), leaving later frames
/// valid: damage in the middle of the log, not a torn tail.
fn spoil_second_frame(log: &Path) {
    let mut bytes = std::fs::read(log).unwrap();
    let first_len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let second = 8 + first_len;
    for b in &mut bytes[second + 4..second + 8] {
        *b ^= 0x5A;
    }
    std::fs::write(log, bytes).unwrap();
}

/// Appends a well-formed record frame ([len][crc32][kind R][payload]) holding `json`, as
/// an older version (whose frames carry no index fields) or a hand edit might have written
/// it: after the last frame, in the zeroed room the journal grows ahead of its frames.
fn append_frame(log: &Path, json: &[u8]) {
    append_payload(log, b'R', json);
}

/// Appends a frame of `kind` with a good crc (see `append_frame`).
fn append_payload(log: &Path, kind: u8, body: &[u8]) {
    let mut payload = vec![kind];
    payload.extend_from_slice(body);
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    let (end, _) = log_frames_end(log);
    let file = std::fs::OpenOptions::new().write(true).open(log).unwrap();
    file.write_all_at(&frame, end).unwrap();
}

/// A log written before frames carried the index's fields (kinds `R`): read, and rewritten
/// at open in the current kinds, which the next open reads without decoding JSON.
#[test]
fn an_older_logs_frames_are_read_and_rewritten_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (paid, open) = (record(1, SaleState::Paid), record(2, SaleState::Unresolved));
    {
        LogJournal::open(&path).unwrap();
    }
    for sale in [&paid, &open] {
        append_frame(&path.join(LOG_FILE), &serde_json::to_vec(sale).unwrap());
    }
    let kinds = |bytes: &[u8]| {
        let mut at = 0;
        let mut kinds = Vec::new();
        while at + 8 < bytes.len() {
            let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            if n == 0 {
                break;
            }
            kinds.push(bytes[at + 8] as char);
            at += 8 + n;
        }
        kinds
    };
    assert_eq!(
        kinds(&std::fs::read(path.join(LOG_FILE)).unwrap()),
        ['H', 'R', 'R']
    );
    for _ in 0..2 {
        let journal = LogJournal::open(&path).unwrap();
        assert!(journal.damage().is_empty());
        assert_eq!(journal.load_all().unwrap(), [paid.clone(), open.clone()]);
        let unfinished: Vec<u64> = journal
            .unfinished()
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(unfinished, [2]);
        assert_eq!(
            kinds(&std::fs::read(path.join(LOG_FILE)).unwrap()),
            ['H', 'r', 'r']
        );
    }
}

fn store_with_sales(path: &Path) -> (OrderEpoch, PaymentCode) {
    let journal = LogJournal::open(path).unwrap();
    journal.put(&record(1, SaleState::Paid)).unwrap();
    journal.put(&record(2, SaleState::Unresolved)).unwrap();
    let code = PaymentCode::parse("134523198765432101").unwrap();
    let mut queued = record(3, SaleState::Queued);
    queued.auth_code = Some(code.clone());
    journal.put(&queued).unwrap();
    (journal.epoch().unwrap(), code)
}

/// Salvaged sales are in the new store, marked; the engine never sends them, only asks.
fn assert_salvaged_and_queried(journal: &LogJournal) {
    let all = journal.load_all().unwrap();
    let seqs: Vec<_> = all.iter().map(|r| (r.seq, r.state, r.salvaged)).collect();
    assert_eq!(
        seqs,
        [
            (1, SaleState::Paid, true),
            (2, SaleState::Unresolved, true),
            (3, SaleState::Queued, true)
        ]
    );
    assert!(all.iter().all(|r| r.auth_code.is_none()));
    let now = Timestamp(T0 + 200_000);
    let mut engine = recovered(journal, now);
    let mut asked = Vec::new();
    while let Some(output) = engine.poll_output() {
        match output {
            Output::Send(Request::Query { out_trade_no, .. }) => asked.push(out_trade_no),
            Output::Send(other) => panic!("a salvaged sale was sent: {other:?}"),
            Output::Journal(record, durability) => journal.write(&record, durability).unwrap(),
            _ => {}
        }
    }
    asked.sort();
    assert_eq!(asked, ["POS1-20261125-000002", "POS1-20261125-000003"]);
    let queued = journal.get("POS1-20261125-000003").unwrap().unwrap();
    assert_eq!(
        (queued.state, queued.salvaged),
        (SaleState::Unresolved, false)
    );
}

/// A frame in the middle of the log fails its checksum; the sales are salvaged from the
/// log and numbering goes on under the same epoch (the counter file vouches for it).
#[test]
fn garbage_config_file_is_moved_aside_and_the_sales_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (epoch, code) = store_with_sales(&path);
    spoil_second_frame(&path.join(LOG_FILE));
    let journal = LogJournal::open(&path).unwrap();
    let said = assert_moved_aside(&journal, &path);
    assert!(
        said.contains("3 sales salvaged, 2 of them unfinished"),
        "{said}"
    );
    // Numbering goes on above what the counter file reserved (a block of SEQ_BLOCK).
    assert_eq!(journal.last_seq().unwrap(), SEQ_BLOCK);
    assert_eq!(journal.epoch().unwrap(), epoch);
    assert_salvaged_and_queried(&journal);
    // The damaged store's code file was erased before it was moved aside.
    let moved = &journal.damage()[0].moved_to;
    assert_eq!(
        files_holding(moved.parent().unwrap(), code.expose()),
        Vec::<String>::new()
    );
}

/// Garbage in the log and no counter file: damage (not a new store), and numbering goes
/// on under a new epoch.
#[test]
fn garbage_data_file_without_a_counter_file_is_damage_under_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let now = Timestamp(T0);
    let (before, epoch) = {
        let journal = LogJournal::open(&path).unwrap();
        (
            arm_some(&mut recovered(&journal, now), &journal, 2, now),
            journal.epoch().unwrap(),
        )
    };
    let db = path.join(LOG_FILE);
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    std::fs::write(&db, vec![0xA5; len.max(4096)]).unwrap();
    std::fs::remove_file(path.join("scanpay-last-seq")).unwrap();
    let journal = LogJournal::open(&path).unwrap();
    let said = assert_moved_aside(&journal, &path);
    assert!(said.contains("new epoch"), "{said}");
    assert_ne!(journal.epoch().unwrap(), epoch);
    let after = arm_some(&mut recovered(&journal, now), &journal, 2, now);
    assert!(
        after.iter().all(|n| !before.contains(n)),
        "{before:?} {after:?}"
    );
}

#[test]
fn an_entry_that_does_not_decode_is_damage_and_the_rest_is_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    {
        append_frame(&path.join(LOG_FILE), b"{not json");
    }
    let journal = LogJournal::open(&path).unwrap();
    assert_moved_aside(&journal, &path);
    assert_salvaged_and_queried(&journal);
}

/// A frame with a good crc whose index fields are cut short (a bug, a hand edit) is damage.
#[test]
fn a_frame_whose_index_fields_do_not_decode_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    append_payload(&path.join(LOG_FILE), b'r', &[7; 20]);
    let journal = LogJournal::open(&path).unwrap();
    let said = assert_moved_aside(&journal, &path);
    assert!(said.contains("index fields"), "{said}");
    assert_salvaged_and_queried(&journal);
}

#[test]
fn an_entry_that_does_not_decode_is_reported_without_its_payment_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    {
        // A queued sale whose code was written as a number (another version, a hand edit):
        // serde's message would quote the value.
        let mut value = serde_json::to_value(record(3, SaleState::Queued)).unwrap();
        value["auth_code"] = serde_json::json!(134523198765432101u64);
        append_frame(&path.join(LOG_FILE), &serde_json::to_vec(&value).unwrap());
    }
    // Its frame is sound, so the store opens; reading the version that does not decode is
    // an error that names where it is and never quotes the code.
    let journal = LogJournal::open(&path).unwrap();
    let said = journal
        .get("POS1-20261125-000003")
        .expect_err("a version that does not decode is an error")
        .to_string();
    assert!(said.contains(LOG_FILE), "{said}");
    assert!(said.contains("1345…2101"), "{said}");
    assert!(!said.contains("134523198765432101"), "{said}");
}

#[test]
fn a_garbage_counter_file_is_damage_and_numbering_goes_on_under_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (epoch, _) = store_with_sales(&path);
    std::fs::write(path.join("scanpay-last-seq"), "x\n").unwrap();
    let journal = LogJournal::open(&path).unwrap();
    assert_moved_aside(&journal, &path);
    assert_ne!(journal.epoch().unwrap(), epoch);
    assert_eq!(journal.last_seq().unwrap(), 3);
}

/// The acknowledgement: removing the moved-aside store clears the damage.
#[test]
fn removing_the_damaged_store_acknowledges_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    std::fs::remove_file(path.join(LOG_FILE)).unwrap();
    let journal = LogJournal::open(&path).unwrap();
    let said = assert_moved_aside(&journal, &path);
    assert!(
        said.contains("data is missing") || said.contains("lost"),
        "{said}"
    );
    std::fs::remove_dir_all(&journal.damage()[0].moved_to).unwrap();
    assert!(journal.damage().is_empty());
    drop(journal);
    let journal = LogJournal::open(&path).unwrap();
    assert!(journal.damage().is_empty());
    // The log was lost: numbering goes on above the counter file's reservation.
    assert_eq!(journal.last_seq().unwrap(), SEQ_BLOCK);
}

#[test]
fn a_store_in_use_is_reported_not_moved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let _first = LogJournal::open(&path).unwrap();
    let err = LogJournal::open(&path).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err:?}");
    assert!(path.exists());
    assert!(err.to_string().contains("no other scanpay"), "{err}");
    // The other process may be exiting: a restart can help.
    assert!(!err.restart_cannot_help());
}

/// A path that cannot be a directory is for a person to fix (exit 78), and
/// the OS's words appear once in the whole error chain.
#[test]
fn an_unusable_storage_path_is_a_config_problem_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let err = LogJournal::open(file.join("journal")).unwrap_err();
    assert!(err.restart_cannot_help(), "{err:?}");
    let chain = format!("{:#}", anyhow::Error::from(err));
    let os = std::io::Error::from(std::io::ErrorKind::NotADirectory).to_string();
    assert_eq!(chain.matches("os error").count(), 1, "{chain} ({os})");
}

/// Invariant 5 (ARCHITECTURE.md): once erased, a code is in no file under the state
/// directory, although the log keeps old versions of every record until it is compacted. The sales go
/// through the states a sale does (queued, sent, waiting, paid), over reopenings.
#[test]
fn an_erased_payment_code_is_in_no_file_of_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let codes: Vec<String> = (0..11).map(|i| format!("1345231987654{i:05}")).collect();
    for (i, code) in codes.iter().enumerate() {
        let journal = LogJournal::open(&path).unwrap();
        let mut sale = record(i as u64 + 1, SaleState::Queued);
        sale.auth_code = Some(PaymentCode::parse(code).unwrap());
        journal.put(&sale).unwrap();
        assert_eq!(journal.get(&sale.sale_id).unwrap(), Some(sale.clone()));
        sale.state = SaleState::Submitting;
        journal.put(&sale).unwrap();
        assert!(
            !files_holding(dir.path(), code).is_empty(),
            "held until answered"
        );
        sale.state = SaleState::WaitingCustomer;
        sale.auth_code = None;
        journal.put(&sale).unwrap();
        sale.state = SaleState::Paid;
        journal.put(&sale).unwrap();
    }
    let journal = LogJournal::open(&path).unwrap();
    assert!(journal
        .load_all()
        .unwrap()
        .iter()
        .all(|r| r.auth_code.is_none()));
    for code in &codes {
        assert_eq!(
            files_holding(dir.path(), code),
            Vec::<String>::new(),
            "{code}"
        );
    }
}

fn export_sample() -> MemoryJournal {
    let journal = MemoryJournal::new();
    let mut paid = record(1, SaleState::Paid);
    paid.trade_no = Some("2026112522001400001234".into());
    let mut failed = record(2, SaleState::Failed);
    failed.payway = Some(Payway::Alipay);
    failed.subject = "Latte, \"large\"\nto go".into();
    failed.err_code = Some("INSUFFICIENT".into());
    failed.err_code_des = Some("balance too low".into());
    let mut review = record(3, SaleState::Unresolved);
    review.payway = None;
    review.needs_review = true;
    let outside = record(9, SaleState::Paid);
    for r in [&paid, &failed, &review, &outside] {
        journal.put(r).unwrap();
    }
    journal
}

#[test]
fn exports_csv_and_json_lines() {
    let journal = export_sample();
    let (from, to) = (Timestamp(T0), Timestamp(T0 + 5 * 60_000));
    let mut csv = Vec::new();
    let n = export(&journal, from, to, ExportFormat::Csv, &mut csv).unwrap();
    assert_eq!(n, 3);
    expect![[r#"
        sale_id,out_trade_no,amount_yuan,amount_fen,state,payway,trade_no,err_code,err_code_des,subject,operator_id,created_at,updated_at,needs_review,late␍
        POS1-20261125-000001,POS1-20261125-000001,12.50,1250,paid,WeChat Pay,2026112522001400001234,,,Coffee,001,2026-11-25T20:01:00Z,2026-11-25T20:01:02.500Z,false,false␍
        POS1-20261125-000002,POS1-20261125-000002,25.00,2500,failed,Alipay,,INSUFFICIENT,balance too low,"Latte, ""large""
        to go",001,2026-11-25T20:02:00Z,2026-11-25T20:02:02.500Z,false,false␍
        POS1-20261125-000003,POS1-20261125-000003,37.50,3750,unresolved,,,,,Coffee,001,2026-11-25T20:03:00Z,2026-11-25T20:03:02.500Z,true,false␍
    "#]]
    // Records end in CRLF (RFC 4180), shown as ␍; the bare line break is inside a quoted field.
    .assert_eq(&String::from_utf8(csv).unwrap().replace("\r\n", "␍\n"));
    let mut jsonl = Vec::new();
    export(&journal, from, to, ExportFormat::JsonLines, &mut jsonl).unwrap();
    expect![[r#"
        {"sale_id":"POS1-20261125-000001","out_trade_no":"POS1-20261125-000001","amount_yuan":"12.50","amount_fen":1250,"state":"paid","payway":"WeChat Pay","trade_no":"2026112522001400001234","err_code":null,"err_code_des":null,"subject":"Coffee","operator_id":"001","created_at":"2026-11-25T20:01:00Z","updated_at":"2026-11-25T20:01:02.500Z","needs_review":false,"late":false}
        {"sale_id":"POS1-20261125-000002","out_trade_no":"POS1-20261125-000002","amount_yuan":"25.00","amount_fen":2500,"state":"failed","payway":"Alipay","trade_no":null,"err_code":"INSUFFICIENT","err_code_des":"balance too low","subject":"Latte, \"large\"\nto go","operator_id":"001","created_at":"2026-11-25T20:02:00Z","updated_at":"2026-11-25T20:02:02.500Z","needs_review":false,"late":false}
        {"sale_id":"POS1-20261125-000003","out_trade_no":"POS1-20261125-000003","amount_yuan":"37.50","amount_fen":3750,"state":"unresolved","payway":null,"trade_no":null,"err_code":null,"err_code_des":null,"subject":"Coffee","operator_id":"001","created_at":"2026-11-25T20:03:00Z","updated_at":"2026-11-25T20:03:02.500Z","needs_review":true,"late":false}
    "#]].assert_eq(&String::from_utf8(jsonl).unwrap());
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

/// A journal at `path` with sale 1 paid, then sale 2 unresolved: where its frames end after
/// each (the journal closed after).
fn paid_then_unresolved(path: &Path) -> (u64, u64) {
    let journal = LogJournal::open(path).unwrap();
    journal.put(&record(1, SaleState::Paid)).unwrap();
    let first = journal.log_len();
    journal.put(&record(2, SaleState::Unresolved)).unwrap();
    (first, journal.log_len())
}

/// A power cut in the middle of an append: the torn frame is cut off, the rest kept. The
/// frame may have been written into the room grown ahead of it (zeros after its written
/// part), or past the file's end (a log from before the room, or a disk too full for it).
#[test]
fn a_torn_last_frame_is_cut_off_and_the_journal_goes_on() {
    for tear in ["zeroed", "cut short"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (good_len, end) = paid_then_unresolved(&path);
        let log = path.join(LOG_FILE);
        let file = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
        match tear {
            "zeroed" => file.write_all_at(&[0; 10], end - 10).unwrap(),
            _ => file.set_len(end - 10).unwrap(),
        }
        drop(file);
        let journal = LogJournal::open(&path).unwrap();
        assert!(journal.damage().is_empty(), "{tear}");
        assert_eq!(std::fs::metadata(&log).unwrap().len(), good_len, "{tear}");
        assert_eq!(journal.load_all().unwrap().len(), 1, "{tear}");
        journal.put(&record(3, SaleState::Paid)).unwrap();
        drop(journal);
        let journal = LogJournal::open(&path).unwrap();
        let seqs: Vec<u64> = journal.load_all().unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 3], "{tear}");
    }
}

/// The log is grown ahead of its frames in zeroed room, so an append's sync need not commit a
/// new file size: the room is no damage and no torn frame, a reopened journal keeps it and
/// the next frame goes right after the last one.
#[test]
fn the_room_grown_ahead_of_the_frames_is_the_logs_clean_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let log = path.join(LOG_FILE);
    let (end, size) = {
        let journal = LogJournal::open(&path).unwrap();
        journal.put(&record(1, SaleState::Paid)).unwrap();
        let size = std::fs::metadata(&log).unwrap().len();
        // The second frame goes into the room: the file keeps its size.
        journal.put(&record(2, SaleState::Paid)).unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().len(), size);
        (journal.log_len(), size)
    };
    assert!(size > end + 1000, "room after the frames: {end} of {size}");
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes[end as usize..].iter().all(|&b| b == 0));
    assert_ne!(bytes[end as usize - 1], 0);

    let journal = LogJournal::open(&path).unwrap();
    assert!(journal.damage().is_empty());
    assert_eq!(journal.log_len(), end);
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        size,
        "the room is kept"
    );
    journal.put(&record(3, SaleState::Paid)).unwrap();
    assert_ne!(
        std::fs::read(&log).unwrap()[end as usize],
        0,
        "appended at the end"
    );
    drop(journal);
    let journal = LogJournal::open(&path).unwrap();
    let seqs: Vec<u64> = journal.load_all().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

/// Zeros where a frame should be are the log's end only when nothing but zeros follows: a
/// zeroed frame with readable ones after it is damage, and the rest is salvaged.
#[test]
fn a_zeroed_frame_followed_by_readable_ones_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (first, second) = paid_then_unresolved(&path);
    let header_end = {
        // The first record's frame starts where the header's ends: its length field says.
        let bytes = std::fs::read(path.join(LOG_FILE)).unwrap();
        8 + u32::from_le_bytes(bytes[..4].try_into().unwrap()) as u64
    };
    assert!(header_end < first && first < second);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path.join(LOG_FILE))
        .unwrap();
    file.write_all_at(&vec![0; (first - header_end) as usize], header_end)
        .unwrap();
    drop(file);
    let journal = LogJournal::open(&path).unwrap();
    let said = assert_moved_aside(&journal, &path);
    assert!(said.contains("damaged frame"), "{said}");
    let sales = journal.load_all().unwrap();
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0].seq, 2);
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

/// The journal's files as a crash (or a power cut after the last sync) leaves them: a copy
/// taken while the store is open.
fn crash_copy(path: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "lock" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A deferred version (`Durability::Deferred`) is read at once and written with the next
/// synced one; a crash before loses it and leaves the last synced version. A code it no
/// longer holds is erased from the files at once.
#[test]
fn a_deferred_version_is_read_at_once_and_made_durable_by_the_next_put() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let code = "134523198765432101";
    let journal = LogJournal::open(&path).unwrap();
    let mut sale = record(1, SaleState::Submitting);
    sale.auth_code = Some(PaymentCode::parse(code).unwrap());
    journal.put(&sale).unwrap();
    assert_eq!(
        files_holding(dir.path(), code).len(),
        1,
        "the code is in the log"
    );
    let synced_len = journal.log_len();

    let mut waiting = sale.clone();
    waiting.state = SaleState::WaitingCustomer;
    waiting.auth_code = None;
    journal.write(&waiting, Durability::Deferred).unwrap();
    assert_eq!(journal.get(&sale.sale_id).unwrap(), Some(waiting.clone()));
    assert_eq!(journal.unfinished().unwrap(), [waiting.clone()]);
    assert_eq!(journal.log_len(), synced_len, "nothing appended");
    assert_eq!(files_holding(dir.path(), code), Vec::<String>::new());

    // A crash now: the synced version is what is left (its code erased).
    crash_copy(&path, &dir.path().join("crashed"));
    let crashed = LogJournal::open(dir.path().join("crashed")).unwrap();
    let left = crashed.get(&sale.sale_id).unwrap().unwrap();
    assert_eq!((left.state, left.auth_code), (SaleState::Submitting, None));
    drop(crashed);

    // The next synced write carries it.
    journal.put(&record(2, SaleState::Armed)).unwrap();
    crash_copy(&path, &dir.path().join("crashed-later"));
    let later = LogJournal::open(dir.path().join("crashed-later")).unwrap();
    assert_eq!(later.get(&sale.sale_id).unwrap(), Some(waiting.clone()));
    drop(later);

    // A deferred version left at close is written by the close.
    let mut unresolved = waiting.clone();
    unresolved.state = SaleState::Unresolved;
    journal.put_deferred(&unresolved).unwrap();
    drop(journal);
    let reopened = LogJournal::open(&path).unwrap();
    assert_eq!(reopened.get(&sale.sale_id).unwrap(), Some(unresolved));
}

/// A code is written once, with the version that brings it: later versions that keep it,
/// a compaction and a reopening all keep it; a journal from before keeps its codes in
/// `scanpay-codes`, which is adopted into the log and removed.
#[test]
fn a_held_code_survives_compaction_and_an_old_code_file_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let code = PaymentCode::parse("134523198765432101").unwrap();
    let journal = LogJournal::open(&path).unwrap();
    let mut sale = record(1, SaleState::Queued);
    sale.auth_code = Some(code.clone());
    journal.put(&sale).unwrap();
    sale.state = SaleState::Submitting;
    journal.put(&sale).unwrap();
    let log = std::fs::read(path.join(LOG_FILE)).unwrap();
    let copies = log
        .windows(code.expose().len())
        .filter(|w| *w == code.expose().as_bytes())
        .count();
    assert_eq!(copies, 1, "written once");
    journal.compact().unwrap();
    assert_eq!(journal.get(&sale.sale_id).unwrap(), Some(sale.clone()));
    drop(journal);
    let journal = LogJournal::open(&path).unwrap();
    assert_eq!(journal.get(&sale.sale_id).unwrap(), Some(sale.clone()));
    sale.state = SaleState::Unknown;
    sale.auth_code = None;
    journal.put(&sale).unwrap();
    assert_eq!(
        files_holding(dir.path(), code.expose()),
        Vec::<String>::new()
    );
    drop(journal);

    // The old layout: the record in the log, its code beside it.
    let mut queued = record(2, SaleState::Queued);
    LogJournal::open(&path).unwrap().put(&queued).unwrap();
    let old = path.join("scanpay-codes");
    std::fs::write(
        &old,
        format!("{{\"{}\":\"{}\"}}", queued.sale_id, code.expose()),
    )
    .unwrap();
    let journal = LogJournal::open(&path).unwrap();
    queued.auth_code = Some(code.clone());
    assert_eq!(journal.get(&queued.sale_id).unwrap(), Some(queued.clone()));
    assert!(!old.exists());
    queued.state = SaleState::Expired;
    queued.auth_code = None;
    journal.put(&queued).unwrap();
    assert_eq!(
        files_holding(dir.path(), code.expose()),
        Vec::<String>::new()
    );
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
