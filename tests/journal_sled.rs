//! The sled journal in a temp dir: round trip, reopen, the counter, damage moved aside,
//! export golden output. The in-memory fake is held to the same contract.

use std::path::Path;

use expect_test::expect;
use scanpay::engine::{Engine, EnginePolicy, Output, SaleRecord, SaleState, Timestamp};
use scanpay::journal::{export, ExportFormat, Journal, JournalError, MemoryJournal, SledJournal};
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
fn sled_journal_keeps_the_contract_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    {
        let journal = SledJournal::open(&path).unwrap();
        contract(&journal);
    }
    let journal = SledJournal::open(&path).unwrap();
    assert_eq!(journal.last_seq().unwrap(), 3);
    let all = journal.load_all().unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r.auth_code.is_none()));
    assert_eq!(all[2].state, SaleState::Unresolved);
}

/// Carries out an engine's journal outputs on a journal, as the daemon does.
fn write_outputs(engine: &mut Engine, journal: &dyn Journal) {
    while let Some(output) = engine.poll_output() {
        if let Output::Journal(record) = output {
            journal.put(&record).unwrap();
        }
    }
}

#[test]
fn order_numbers_are_never_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let now = Timestamp(T0);
    {
        let journal = SledJournal::open(&path).unwrap();
        let mut engine = Engine::new(EnginePolicy::default(), now).unwrap();
        for _ in 0..3 {
            let sale = engine
                .arm(Fen(100), "Tea".into(), "001".into(), now)
                .unwrap();
            write_outputs(&mut engine, &journal);
            engine.disarm(&sale.sale_id, now).unwrap();
            write_outputs(&mut engine, &journal);
        }
    }
    let journal = SledJournal::open(&path).unwrap();
    assert_eq!(journal.last_seq().unwrap(), 3);
    let mut engine = Engine::new(EnginePolicy::default(), now).unwrap();
    engine.recover(
        journal.unfinished().unwrap(),
        journal.last_seq().unwrap(),
        now,
    );
    let sale = engine
        .arm(Fen(100), "Tea".into(), "001".into(), now)
        .unwrap();
    assert_eq!(sale.out_trade_no, "POS1-20261125-000004");
}

/// The damaged store is kept aside, and the new one continues the order numbers.
fn assert_moved_aside(path: &Path, err: JournalError, continues_after: u64) {
    let message = err.to_string();
    match err {
        JournalError::Corrupt {
            moved_to,
            continued_after,
            ..
        } => {
            assert!(moved_to.exists(), "{message}");
            assert!(moved_to.join("db").exists(), "the damaged files are kept");
            let name = moved_to.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("journal.corrupt-"), "{name}");
            assert!(message.contains("moved aside"), "{message}");
            assert_eq!(continued_after, Some(continues_after), "{message}");
            assert!(
                message.contains(&format!("continues order numbers after {continues_after}")),
                "{message}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Starting again opens the new store: empty, numbering where the old one stopped.
    let fresh = SledJournal::open(path).unwrap();
    assert!(fresh.load_all().unwrap().is_empty());
    assert_eq!(fresh.last_seq().unwrap(), continues_after);
    drop(fresh);
    let again = SledJournal::open(path).unwrap();
    assert_eq!(again.last_seq().unwrap(), continues_after);
}

fn store_with_sales(path: &Path) {
    let journal = SledJournal::open(path).unwrap();
    journal.put(&record(1, SaleState::Paid)).unwrap();
    journal.put(&record(2, SaleState::Unresolved)).unwrap();
}

#[test]
fn garbage_config_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    std::fs::write(path.join("conf"), b"\xff\x00 not a sled config \x13\x37").unwrap();
    let err = SledJournal::open(&path).unwrap_err();
    assert_moved_aside(&path, err, 2);
}

#[test]
fn garbage_data_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    let db = path.join("db");
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    std::fs::write(&db, vec![0xA5; len.max(4096)]).unwrap();
    let err = SledJournal::open(&path).unwrap_err();
    assert_moved_aside(&path, err, 2);
}

#[test]
fn an_entry_that_does_not_decode_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    {
        let db = sled::open(&path).unwrap();
        db.insert("sale/POS1-20261125-000009", &b"{not json"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let err = SledJournal::open(&path).unwrap_err();
    assert_moved_aside(&path, err, 2);
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
        let db = sled::open(&path).unwrap();
        db.insert(
            "sale/POS1-20261125-000003",
            serde_json::to_vec(&value).unwrap(),
        )
        .unwrap();
        db.flush().unwrap();
    }
    let err = SledJournal::open(&path).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("sale/POS1-20261125-000003"), "{message}");
    assert!(message.contains("1345…2101"), "{message}");
    assert!(!message.contains("134523198765432101"), "{message}");
    assert!(
        !format!("{err:?}").contains("134523198765432101"),
        "{err:?}"
    );
    assert_moved_aside(&path, err, 2);
}

#[test]
fn a_garbage_counter_file_is_damage_and_the_store_counter_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    std::fs::write(path.join("scanpay-last-seq"), "x\n").unwrap();
    let err = SledJournal::open(&path).unwrap_err();
    assert_moved_aside(&path, err, 2);
}

#[test]
fn an_unrecoverable_counter_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    store_with_sales(&path);
    std::fs::remove_file(path.join("scanpay-last-seq")).unwrap();
    std::fs::write(path.join("conf"), b"\xff\x00 garbage").unwrap();
    let err = SledJournal::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::Corrupt {
                continued_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("change the terminal's order prefix"),
        "{err}"
    );
}

#[test]
fn a_store_in_use_is_reported_not_moved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let _first = SledJournal::open(&path).unwrap();
    let err = SledJournal::open(&path).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err:?}");
    assert!(path.exists());
    assert!(err.to_string().contains("no other scanpay"), "{err}");
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
        sale_id,out_trade_no,amount_yuan,amount_fen,state,payway,trade_no,err_code,err_code_des,subject,operator_id,created_at,updated_at,needs_review␍
        POS1-20261125-000001,POS1-20261125-000001,12.50,1250,paid,WeChat Pay,2026112522001400001234,,,Coffee,001,2026-11-25T20:01:00Z,2026-11-25T20:01:02.500Z,false␍
        POS1-20261125-000002,POS1-20261125-000002,25.00,2500,failed,Alipay,,INSUFFICIENT,balance too low,"Latte, ""large""
        to go",001,2026-11-25T20:02:00Z,2026-11-25T20:02:02.500Z,false␍
        POS1-20261125-000003,POS1-20261125-000003,37.50,3750,unresolved,,,,,Coffee,001,2026-11-25T20:03:00Z,2026-11-25T20:03:02.500Z,true␍
    "#]]
    // Records end in CRLF (RFC 4180), shown as ␍; the bare line break is inside a quoted field.
    .assert_eq(&String::from_utf8(csv).unwrap().replace("\r\n", "␍\n"));
    let mut jsonl = Vec::new();
    export(&journal, from, to, ExportFormat::JsonLines, &mut jsonl).unwrap();
    expect![[r#"
        {"sale_id":"POS1-20261125-000001","out_trade_no":"POS1-20261125-000001","amount_yuan":"12.50","amount_fen":1250,"state":"paid","payway":"WeChat Pay","trade_no":"2026112522001400001234","err_code":null,"err_code_des":null,"subject":"Coffee","operator_id":"001","created_at":"2026-11-25T20:01:00Z","updated_at":"2026-11-25T20:01:02.500Z","needs_review":false}
        {"sale_id":"POS1-20261125-000002","out_trade_no":"POS1-20261125-000002","amount_yuan":"25.00","amount_fen":2500,"state":"failed","payway":"Alipay","trade_no":null,"err_code":"INSUFFICIENT","err_code_des":"balance too low","subject":"Latte, \"large\"\nto go","operator_id":"001","created_at":"2026-11-25T20:02:00Z","updated_at":"2026-11-25T20:02:02.500Z","needs_review":false}
        {"sale_id":"POS1-20261125-000003","out_trade_no":"POS1-20261125-000003","amount_yuan":"37.50","amount_fen":3750,"state":"unresolved","payway":null,"trade_no":null,"err_code":null,"err_code_des":null,"subject":"Coffee","operator_id":"001","created_at":"2026-11-25T20:03:00Z","updated_at":"2026-11-25T20:03:02.500Z","needs_review":true}
    "#]].assert_eq(&String::from_utf8(jsonl).unwrap());
}
