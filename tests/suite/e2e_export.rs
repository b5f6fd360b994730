//! The live export: `GET /v1/journal` and `scanpay journal` against the real daemon process
//! while it runs and takes a sale; formula cells neutralised through the HTTP path; bad
//! bounds named; a token refused; and the stream read page by page, never all at once.

use crate::record_support;

use record_support::sale_record;

use crate::e2e_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use e2e_support::{code, Rig, RigOptions};
use scanpay::engine::{OrderEpoch, SaleRecord, SaleState, Timestamp};
use scanpay::journal::{Journal, JournalError, MemoryJournal, PageRequest, EXPORT_PAGE};
use scanpay::protocol::Fen;
use scanpay::register::{serve, ArmRequest, SaleBoard};

fn scanpay_journal(rig: &Rig, args: &[&str]) -> (i32, String, String) {
    let args: Vec<&str> = ["journal"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    e2e_support::run_scanpay(&rig.config_path, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_while_the_daemon_runs_and_takes_a_sale() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let sale = rig
        .client()
        .create_sale(&ArmRequest {
            amount_fen: Fen(1250),
            subject: Some("=HYPERLINK(\"http://evil\")".to_string()),
            operator_id: None,
        })
        .await
        .unwrap();
    rig.scan(&code(1, 1, 0));
    let (paid, _) = rig.finish(&sale).await;
    assert_eq!(paid.state, SaleState::Paid, "{paid:?}");

    // Over HTTP, while the daemon holds the store.
    let (status, csv) = rig.get("/v1/journal").await.unwrap();
    assert_eq!(status, 200, "{csv}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].ends_with(",needs_review,late"), "{csv}");
    assert!(lines[1].starts_with(&format!("{},", sale.sale_id)), "{csv}");
    assert!(lines[1].contains(",12.50,1250,paid,"), "{csv}");
    // The formula is neutralised (and still RFC 4180 quoted).
    assert!(
        lines[1].contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{csv}"
    );
    let (status, jsonl) = rig.get("/v1/journal?format=jsonl").await.unwrap();
    assert_eq!(status, 200);
    let row: serde_json::Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_eq!(row["sale_id"], sale.sale_id.as_str());
    assert_eq!(row["state"], "paid");
    assert_eq!(row["late"], false);
    // JSON lines are data: the subject as typed.
    assert_eq!(row["subject"], "=HYPERLINK(\"http://evil\")");

    // Bad bounds are named; a range that excludes the sale is empty.
    let (status, body) = rig.get("/v1/journal?from=yesterday").await.unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("\\\"from\\\""), "{body}");
    let (status, body) = rig.get("/v1/journal?to=2026-13-01").await.unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("\\\"to\\\""), "{body}");
    let (status, body) = rig.get("/v1/journal?to=2000-01-01").await.unwrap();
    assert_eq!((status, body.lines().count()), (200, 1), "{body}");

    // `scanpay journal` without stopping the daemon, in both formats.
    let (exit, out, err) = scanpay_journal(&rig, &[]);
    assert_eq!(exit, 0, "{err}");
    assert_eq!(out, csv);
    let (exit, out, err) = scanpay_journal(&rig, &["--format", "jsonl", "--from", "2000-01-01"]);
    assert_eq!(exit, 0, "{err}");
    assert_eq!(out, jsonl);

    // The daemon still takes sales.
    let next = rig.arm(Fen(300)).await;
    rig.scan(&code(2, 1, 0));
    assert_eq!(rig.finish(&next).await.0.state, SaleState::Paid);
    let (exit, out, err) = scanpay_journal(&rig, &["--json"]);
    assert_eq!((exit, out.lines().count()), (0, 2), "{err}");
}

/// A journal that counts what the export asks of it.
struct Counting {
    inner: MemoryJournal,
    pages: AtomicUsize,
    largest: AtomicUsize,
}

impl Journal for Counting {
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        self.inner.put(record)
    }
    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError> {
        self.inner.get(sale_id)
    }
    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError> {
        self.inner.load_all()
    }
    fn last_seq(&self) -> Result<u64, JournalError> {
        self.inner.last_seq()
    }
    fn epoch(&self) -> Result<OrderEpoch, JournalError> {
        self.inner.epoch()
    }
    fn list_page(&self, request: PageRequest) -> Result<Vec<SaleRecord>, JournalError> {
        self.pages.fetch_add(1, Ordering::SeqCst);
        self.largest.fetch_max(request.limit, Ordering::SeqCst);
        self.inner.list_page(request)
    }
}

fn record(seq: u64) -> SaleRecord {
    // Several sales per millisecond: the cursor must order by (created_at, seq).
    let at = Timestamp(1_795_600_000_000 + seq / 3);
    SaleRecord {
        amount: Fen(100 + seq),
        subject: if seq % 2 == 0 { "-5 tea" } else { "Tea" }.into(),
        operator_id: "007".into(),
        trade_no: Some(format!("T{seq}")),
        ..sale_record(&format!("E2E-20261125-{seq:06}"), seq, SaleState::Paid, at)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_sales_stream_in_pages_and_the_token_is_required() {
    const SALES: u64 = 3000;
    let journal = Arc::new(Counting {
        inner: MemoryJournal::new(),
        pages: AtomicUsize::new(0),
        largest: AtomicUsize::new(0),
    });
    for seq in 1..=SALES {
        journal.put(&record(seq)).unwrap();
    }
    let (board, _commands) = SaleBoard::new(journal.clone());
    let server = serve("127.0.0.1:0".parse().unwrap(), Some("s3cret".into()), board)
        .await
        .unwrap();

    let anonymous = scanpay::register::RegisterClient::new(server.addr(), None).unwrap();
    let refused = anonymous
        .export_journal("format=csv", &mut |_| Ok(()))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, scanpay::register::ChargeError::Unauthorized { .. }),
        "{refused}"
    );
    assert_eq!(
        journal.pages.load(Ordering::SeqCst),
        0,
        "nothing read for it"
    );

    let client = scanpay::register::RegisterClient::new(server.addr(), Some("s3cret")).unwrap();
    let mut text = Vec::new();
    let served = client
        .export_journal("format=csv", &mut |chunk| {
            text.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .unwrap();
    assert!(served);
    let text = String::from_utf8(text).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), SALES as usize);
    for (n, row) in rows.iter().enumerate() {
        assert!(
            row.starts_with(&format!("E2E-20261125-{:06},", n + 1)),
            "row {n}: {row}"
        );
    }
    assert!(text.contains(",'-5 tea,"), "a leading minus is neutralised");
    let pages = journal.pages.load(Ordering::SeqCst);
    assert!(
        journal.largest.load(Ordering::SeqCst) <= EXPORT_PAGE,
        "never more than one page at a time"
    );
    assert!(
        pages >= SALES as usize / EXPORT_PAGE,
        "read in {pages} pages of at most {EXPORT_PAGE}"
    );
    server.shutdown().await.unwrap();
}
