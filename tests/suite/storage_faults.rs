//! Storage faults with the real daemon (issue 13, item 2). No pay request may leave while its
//! record cannot be made durable, `/v1/status` says "storage fault", and once the disk takes
//! writes again the held pay goes out by itself and the sale completes, charged once.
//!
//! - Disk full: the daemon's `[storage] path` on a small tmpfs that is then filled up.
//! - I/O errors: the power-cut suite's FUSE disk (`tests/suite/powercut_support`) answering EIO to
//!   writes, or to fsyncs (after which, as on Linux, what the fsync covered stays readable
//!   but never becomes durable unless written again: "fsyncgate"). A power cut after the
//!   disk healed shows that what the daemon took for written is on the durable image.
//!
//! An arm whose own record cannot be written is refused (503), not answered 201.
//! Mounting needs root and `/dev/fuse`, which the tests and CI have here.

use crate::e2e_support;
use crate::fault_support;
use crate::files_support::log_frames_end;
use crate::powercut_support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_support::{code, Rig, RigOptions, STEP};
use fault_support::Rng;
use powercut_support::disk::{Disk, IoFaults, Names, Node, PAGE, ROOT};
use powercut_support::PowerDisk;
use scanpay::engine::{SaleState, SaleView};
use scanpay::protocol::Fen;
use scanpay::register::{ArmRequest, ChargeError};

/// A tmpfs of `size` mounted on a temp dir, unmounted (lazily) on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs on {} failed: this test needs root (CI runs as root)",
            dir.path().display()
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk refuses (ENOSPC); returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0x5Au8; 4096];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        let _ = file.flush();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_the_pay_says_storage_fault_and_resumes_by_itself() {
    let disk = SmallDisk::mount("2m");
    let mut rig = Rig::start(RigOptions {
        storage_path: Some(disk.path().join("state")),
        ..RigOptions::default()
    })
    .await;
    // A sale before the fault pays as usual.
    let before = rig.arm(Fen(1250)).await;
    rig.scan(&code(71, 1, 0));
    assert_eq!(rig.finish(&before).await.0.state, SaleState::Paid);

    // The log is grown ahead of its frames, and tmpfs hands out whole pages: an append that
    // fits in the file needs no new page. So the sale is armed where its scan's record does
    // not fit, then the disk filled.
    let log = disk.path().join("state").join("journal").join("sales.log");
    let sale = arm_near_the_end_of_the_room(&rig, &log).await;
    let filler = disk.fill();
    rig.scan(&code(72, 1, 0));
    held_until_the_disk_heals(&mut rig, &sale, || std::fs::remove_file(&filler).unwrap()).await;

    // And the journal kept both sales across a restart.
    assert_eq!(rig.terminate().await.code(), Some(0), "{}", rig.log());
    rig.start_daemon().await;
    assert_eq!(rig.sale(&sale.sale_id).await.state, SaleState::Paid);
    assert_eq!(rig.sale(&before.sale_id).await.state, SaleState::Paid);
    rig.terminate().await;
}

/// Less room than a scan's record needs (a few hundred bytes).
const SCAN_RECORD: u64 = 400;

/// Arms (and disarms) until the armed sale's record ends where `near(frames_end, file_len)`
/// holds: the journal grows its log ahead of the frames in zeroed room, so where the next
/// record lands is read off the file (its frames end at its last non-zero byte).
async fn arm_where(rig: &Rig, log: &Path, near: impl Fn(u64, u64) -> bool) -> SaleView {
    let mut tries = 0;
    loop {
        let sale = rig.arm(Fen(2300)).await;
        let (frames_end, file_len) = log_frames_end(log);
        if near(frames_end, file_len) {
            return sale;
        }
        rig.client().disarm(&sale.sale_id).await.unwrap();
        tries += 1;
        assert!(tries < 2000, "the log never came where it was wanted");
    }
}

/// The scan's record will not fit in the log's file: its append needs a new page.
async fn arm_near_the_end_of_the_room(rig: &Rig, log: &Path) -> SaleView {
    arm_where(rig, log, |end, len| len - end < SCAN_RECORD).await
}

/// The scan's record will straddle a page boundary.
async fn arm_near_a_page_end(rig: &Rig, log: &Path) -> SaleView {
    arm_where(rig, log, |end, _| {
        (PAGE as u64) - end % (PAGE as u64) < SCAN_RECORD
    })
    .await
}

/// What every storage fault must do to a sale scanned while its record cannot be written: the
/// pay is held (no order at the gateway, however long), `/v1/status` says storage fault; once
/// `heal` lets the disk take writes, the pay goes out by itself, once, the sale ends paid and
/// the fault clears.
async fn held_until_the_disk_heals(rig: &mut Rig, sale: &SaleView, heal: impl FnOnce()) {
    let status = rig
        .wait_status("the storage fault", |s| !s.storage.ok)
        .await;
    assert!(
        status.storage.detail.contains("storage fault"),
        "{status:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        rig.ledger().order(&sale.out_trade_no).is_none(),
        "a pay left while its record could not be written: {:?}",
        rig.ledger().order(&sale.out_trade_no)
    );
    let held = rig.sale(&sale.sale_id).await;
    assert!(!held.state.is_final(), "{held:?}");

    heal();
    let deadline = Instant::now() + STEP;
    let done = loop {
        let view = rig.sale(&sale.sale_id).await;
        if view.state.is_final() {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "not paid after the disk healed: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done.state, SaleState::Paid, "{done:?}");
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.pay_requests, 1, "{order:?}");
    rig.wait_status("storage to clear", |s| s.storage.ok).await;
}

/// `POST /v1/sales` that must be refused for a storage fault: 503, saying so.
async fn arm_is_refused_for_storage(rig: &Rig) {
    let answer = rig
        .client()
        .create_sale(&ArmRequest {
            amount_fen: Fen(990),
            subject: Some("e2e tea".to_string()),
            operator_id: None,
        })
        .await;
    match &answer {
        Err(ChargeError::Rejected {
            status: 503,
            message,
            ..
        }) if message.contains("storage fault") => {}
        other => panic!("an arm whose record could not be written was answered {other:?}"),
    }
}

/// `POST /v1/qr` while storage is faulted: the same 503, in the same shape, as an arm (the
/// pay page is fine; it is the journal that cannot record the sale).
async fn qr_is_refused_for_storage(rig: &Rig) {
    let (status, body) = rig
        .post("/v1/qr", r#"{"amount_fen": 880, "subject": "e2e tea"}"#)
        .await
        .expect("POST /v1/qr");
    let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error body");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        error
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect::<Vec<_>>()),
        Some(vec!["error"]),
        "{body}"
    );
    let message = error["error"].as_str().unwrap();
    assert!(message.starts_with("storage fault: "), "{body}");
}

/// The daemon on the FUSE disk: a sale pays; with `faults` on, an arm is refused and a
/// scanned sale's pay is held until they are off; then a power cut, and both sales are paid
/// on the durable image, each charged once.
async fn io_errors_hold_the_pay_and_a_healed_disk_sends_it(faults: IoFaults) {
    let mut disk = PowerDisk::mount(Names::Posix, false);
    let mut rig = Rig::start(RigOptions {
        storage_path: Some(disk.durable_dir("state")),
        ..RigOptions::default()
    })
    .await;
    let before = rig.arm(Fen(1250)).await;
    rig.scan(&code(81, 1, 0));
    assert_eq!(rig.finish(&before).await.0.state, SaleState::Paid);

    // An arm while the disk fails: its record cannot be written, so there is no sale (a 201
    // would hand the register a sale the journal does not hold). The fault clears by itself
    // once the disk takes the withdrawn sale's (disarmed) record.
    disk.set_faults(faults.clone());
    arm_is_refused_for_storage(&rig).await;
    rig.wait_status("the storage fault", |s| !s.storage.ok)
        .await;
    arm_is_refused_for_storage(&rig).await;
    qr_is_refused_for_storage(&rig).await;
    disk.set_faults(IoFaults::default());
    rig.wait_status("storage to clear", |s| s.storage.ok).await;

    // The scan's record straddles a page boundary: after a failed fsync of it, the page
    // before the boundary is only re-dirtied (so made durable) if the record is written
    // there again.
    let log = disk.root().join("state").join("journal").join("sales.log");
    let sale = arm_near_a_page_end(&rig, &log).await;
    disk.set_faults(faults.clone());
    rig.scan(&code(82, 1, 0));
    held_until_the_disk_heals(&mut rig, &sale, || disk.set_faults(IoFaults::default())).await;
    let stats = disk.stats();
    assert!(
        (!faults.write || stats.failed_writes > 0) && (!faults.fsync || stats.failed_fsyncs > 0),
        "the disk never failed: {stats:?}"
    );
    assert_eq!(rig.ledger().orders.len(), 2, "{:?}", rig.ledger().orders);

    // Power goes: whatever the daemon took for written must be on the durable image, not
    // only in the cache a failed fsync left behind.
    rig.kill_9().await;
    let lost = disk.cut(&mut Rng::new(13));
    let status = rig
        .try_start_daemon()
        .await
        .unwrap_or_else(|why| panic!("after the cut ({lost:?}): {why}\n{}", rig.log()));
    assert!(status.journal_damage.is_empty(), "{status:?}");
    assert_eq!(rig.sale(&before.sale_id).await.state, SaleState::Paid);
    assert_eq!(rig.sale(&sale.sale_id).await.state, SaleState::Paid);
    for order in rig.ledger().orders {
        assert_eq!(order.pay_requests, 1, "{order:?}");
    }
    // The daemon must be gone before the disk is unmounted.
    rig.kill_9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_write_holds_the_pay_refuses_arms_and_service_resumes_by_itself() {
    io_errors_hold_the_pay_and_a_healed_disk_sends_it(IoFaults {
        write: true,
        ..IoFaults::default()
    })
    .await;
}

/// Only the log's fdatasync fails: its append is in the cache, readable, and not durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_the_logs_fsync_holds_the_pay_and_the_retry_makes_the_record_durable() {
    io_errors_hold_the_pay_and_a_healed_disk_sends_it(IoFaults {
        fsync: true,
        only: Some("sales.log".into()),
        ..IoFaults::default()
    })
    .await;
}

/// Every fsync fails (the payment-code file's first, on a scan).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_every_fsync_holds_the_pay_and_service_resumes_by_itself() {
    io_errors_hold_the_pay_and_a_healed_disk_sends_it(IoFaults {
        fsync: true,
        ..IoFaults::default()
    })
    .await;
}

/// The fault model itself (a test of the tests): data a failed fsync covered stays readable
/// but is not made durable by a later fsync, unless written again.
#[test]
fn a_failed_fsync_leaves_its_pages_readable_but_never_durable_until_written_again() {
    let mut disk = Disk::new(Names::Ext4, false);
    let [left, rewritten] = ["left", "rewritten"].map(|name| {
        disk.create(
            ROOT,
            name.into(),
            Node::File {
                data: Vec::new(),
                mode: 0o644,
            },
        )
        .unwrap()
    });
    for file in [left, rewritten] {
        disk.write(file, 0, b"one").unwrap();
        disk.fsync_file(file);
    }
    disk.faults.fsync = true;
    for file in [left, rewritten] {
        disk.write(file, 3, b"two").unwrap();
        assert!(disk.fsync_fails(file));
        assert_eq!(disk.read(file, 0, PAGE).unwrap(), b"onetwo");
    }
    // Healed: an fsync succeeds but carries nothing of the page the failed one covered,
    // unless the page was written again.
    disk.faults.fsync = false;
    disk.write(rewritten, 3, b"two").unwrap();
    for file in [left, rewritten] {
        assert!(!disk.fsync_fails(file));
        disk.fsync_file(file);
    }
    disk.cut(&mut Rng::new(1));
    assert_eq!(disk.read(left, 0, PAGE).unwrap(), b"one\0\0\0");
    assert_eq!(disk.read(rewritten, 0, PAGE).unwrap(), b"onetwo");
    // A write refused while write faults are on writes nothing.
    disk.faults.write = true;
    assert!(disk.write_fails(left));
    assert_eq!(disk.stats.failed_writes, 1);
    assert_eq!(disk.stats.failed_fsyncs, 2);
}
