//! Nothing the daemon writes holds the merchant key or a full payment code: its logs at trace
//! level (stdout and stderr), the journal, the journal export, the display's frames, the
//! register API's answers and metrics. The real daemon runs through a paid sale, one paid
//! only after a query, a declined one and one left unresolved; then every byte it produced is
//! searched.

use crate::e2e_support;
use crate::files_support;

use std::fs;
use std::path::Path;
use std::process::Stdio;

use e2e_support::{code, signal, spawn_scanpay, wait_exit, Rig, RigOptions, SCANPAY, STEP};
use scanpay::engine::SaleState;
use scanpay::protocol::Fen;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_key_nor_a_payment_code_is_in_anything_the_daemon_writes() {
    let mut rig = Rig::start(RigOptions {
        deadline_s: 3,
        ..RigOptions::default()
    })
    .await;
    // The rig's daemon logs at info; this test wants every level.
    rig.terminate().await;
    let out = tempfile::tempdir().unwrap();
    let config = rig.config_path.display().to_string();
    let mut daemon = tokio::process::Command::new(SCANPAY)
        .args(["daemon", "--config", &config])
        .env("RUST_LOG", "trace")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(fs::File::create(out.path().join("daemon.stdout")).unwrap())
        .stderr(fs::File::create(out.path().join("daemon.stderr")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("start the daemon at trace level");
    rig.wait_status("the trace-level daemon to be ready", |s| s.scanner.ok)
        .await;

    let mut codes = Vec::new();
    let mut sale_ids = Vec::new();
    for (unique, script, ends) in [
        (1, 1, SaleState::Paid),       // paid at once
        (2, 8, SaleState::Paid),       // SYSTEMERROR (unknown), then a query says paid
        (3, 6, SaleState::Failed),     // declined
        (4, 9, SaleState::Unresolved), // never confirms: unresolved at the deadline
    ] {
        let payment_code = code(unique, script, 0);
        let sale = rig.arm(Fen(1)).await;
        rig.scan(&payment_code);
        let (sale, seen) = rig.follow(&sale, STEP, |s| s == ends).await;
        assert_eq!(sale.state, ends, "code {unique}: states seen {seen:?}");
        codes.push(payment_code);
        sale_ids.push(sale.sale_id);
    }

    // The API's answers, as a register or a scraper would read them.
    let mut paths: Vec<String> = ["/v1/sales", "/v1/status", "/metrics"]
        .map(String::from)
        .to_vec();
    paths.extend(sale_ids.iter().map(|id| format!("/v1/sales/{id}")));
    for (n, path) in paths.iter().enumerate() {
        let (status, body) = rig.get(path).await.expect("the API answers");
        assert_eq!(status, 200, "{path}: {body}");
        fs::write(out.path().join(format!("api-{n}.txt")), body).unwrap();
    }

    signal(daemon.id().expect("running"), "TERM");
    let exit = wait_exit(&mut daemon, "the trace-level daemon to stop").await;
    assert_eq!(exit.code(), Some(0), "{exit}");

    // The merchant's export, both formats.
    for (name, format) in [("export.csv", "csv"), ("export.jsonl", "jsonl")] {
        let export = spawn_scanpay(
            &["--config", &config, "journal", "--format", format],
            Stdio::null(),
            Stdio::piped(),
            Stdio::piped(),
        )
        .wait_with_output()
        .await
        .unwrap();
        assert!(export.status.success(), "{export:?}");
        assert!(
            String::from_utf8_lossy(&export.stdout).lines().count() >= 4,
            "{name} holds the sales"
        );
        fs::write(out.path().join(name), &export.stdout).unwrap();
        fs::write(out.path().join(format!("{name}.stderr")), &export.stderr).unwrap();
    }

    let log = fs::read_to_string(out.path().join("daemon.stderr")).unwrap()
        + &fs::read_to_string(out.path().join("daemon.stdout")).unwrap();
    assert!(log.contains("TRACE"), "the daemon logged at trace level");
    assert!(
        fs::read_dir(rig.screens()).unwrap().count() >= 2,
        "frames were drawn"
    );

    for id in &sale_ids {
        assert!(log.contains(id.as_str()), "the log follows sale {id}");
    }

    let key = scanpay::simulator::DEMO_KEY;
    // The search finds what is there: the key is in its own file.
    assert_eq!(
        files_support::files_holding(rig.dir.path(), key),
        [rig.dir.path().join("merchant.key").display().to_string()]
    );
    let mut needles = vec![key.to_string()];
    needles.extend(codes);
    for needle in &needles {
        for dir in [rig.dir.path(), out.path()] {
            let found: Vec<String> = files_support::files_holding(dir, needle)
                .into_iter()
                // The key's own file is where the key belongs.
                .filter(|path| Path::new(path) != rig.dir.path().join("merchant.key"))
                .collect();
            assert!(found.is_empty(), "{needle} written to {found:?}");
        }
    }
}
