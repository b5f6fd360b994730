//! Storage faults with the real daemon (issue 13, item 2): its `[storage] path` on a small
//! tmpfs that is then filled up. No pay request may leave while its record cannot be made
//! durable, `/v1/status` says "storage fault", and once the disk takes writes again the held
//! pay goes out by itself and the sale completes, charged once. Mounting needs root, which
//! the tests and CI have here.

use crate::e2e_support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_support::{code, Rig, RigOptions, STEP};
use scanpay::engine::SaleState;
use scanpay::protocol::Fen;

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

    // The log grows by appends, and tmpfs hands out whole pages: an append that fits in the
    // log's last page needs no new one. So arm (and disarm) until the armed sale leaves less
    // room in that page than its next record needs, then fill the disk: its scan's record
    // cannot be written.
    let log = disk.path().join("state").join("journal").join("sales.log");
    let page = 4096;
    let mut tries = 0;
    let sale = loop {
        let sale = rig.arm(Fen(2300)).await;
        let len = std::fs::metadata(&log).unwrap().len();
        if page - len % page < 400 {
            break sale;
        }
        rig.client().disarm(&sale.sale_id).await.unwrap();
        tries += 1;
        assert!(tries < 100, "the log never came near a page boundary");
    };
    let filler = disk.fill();
    rig.scan(&code(72, 1, 0));
    let status = rig
        .wait_status("the storage fault", |s| !s.storage.ok)
        .await;
    assert!(
        status.storage.detail.contains("storage fault"),
        "{status:?}"
    );
    // Held: nothing reached the gateway for this sale, however long the disk stays full.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        rig.ledger().order(&sale.out_trade_no).is_none(),
        "a pay left while its record could not be written: {:?}",
        rig.ledger().order(&sale.out_trade_no)
    );
    let held = rig.sale(&sale.sale_id).await;
    assert!(!held.state.is_final(), "{held:?}");

    // The disk takes writes again: the pay goes out by itself, once.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + STEP;
    let done = loop {
        let view = rig.sale(&sale.sale_id).await;
        if view.state.is_final() {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "not paid after the disk freed: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done.state, SaleState::Paid, "{done:?}");
    let order = rig.ledger().order(&sale.out_trade_no).cloned().unwrap();
    assert_eq!(order.pay_requests, 1, "{order:?}");
    rig.wait_status("storage to clear", |s| s.storage.ok).await;

    // And the journal kept both sales across a restart.
    assert_eq!(rig.terminate().await.code(), Some(0), "{}", rig.log());
    rig.start_daemon().await;
    assert_eq!(rig.sale(&sale.sale_id).await.state, SaleState::Paid);
    assert_eq!(rig.sale(&before.sale_id).await.state, SaleState::Paid);
    rig.terminate().await;
}
