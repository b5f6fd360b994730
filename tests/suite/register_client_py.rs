//! `examples/register_client.py` (Python, standard library only) against the real daemon:
//! it arms a sale, the cashier scans, it follows the sale by long-poll and prints the
//! outcome; exit 0 only when paid.

use crate::e2e_support;

use std::process::Stdio;

use e2e_support::{code, read_until, Rig, RigOptions, STEP};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/register_client.py");

/// Runs the client for `amount` yuan, scans `scan` once it has armed the sale; returns its
/// exit code and everything it printed.
async fn charge(rig: &mut Rig, amount: &str, scan: &str) -> (Option<i32>, String) {
    let socket = rig.dir.path().join("register.sock");
    let mut client = Command::new("python3")
        .arg(CLIENT)
        .arg("--unix")
        .arg(&socket)
        .arg("--subject")
        .arg("python")
        .arg(amount)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run python3");
    let mut stdout = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    read_until(&mut stdout, "armed:", &mut printed).await;
    rig.scan(scan);
    while let Ok(Some(line)) = tokio::time::timeout(STEP, stdout.next_line())
        .await
        .expect("the client prints within a step")
    {
        printed.push_str(&line);
        printed.push('\n');
    }
    let exit = tokio::time::timeout(STEP, client.wait())
        .await
        .expect("the client exits")
        .unwrap();
    let mut stderr = String::new();
    let mut err = BufReader::new(client.stderr.take().unwrap()).lines();
    while let Ok(Some(line)) = err.next_line().await {
        stderr.push_str(&line);
        stderr.push('\n');
    }
    (exit.code(), printed + &stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_arms_a_sale_follows_it_and_prints_the_outcome() {
    let mut rig = Rig::start(RigOptions::default()).await;

    let (exit, printed) = charge(&mut rig, "12.50", &code(51, 1, 0)).await;
    assert_eq!(exit, Some(0), "{printed}");
    let lines: Vec<&str> = printed.lines().collect();
    assert!(lines[0].starts_with("armed: E2E-"), "{printed}");
    assert!(lines[0].ends_with(" ¥12.50 armed"), "{printed}");
    assert!(
        lines.last().unwrap().starts_with("outcome: E2E-"),
        "{printed}"
    );
    assert!(
        lines.last().unwrap().contains(" ¥12.50 paid (trade "),
        "{printed}"
    );
    let sale_id = lines[0].split_whitespace().nth(1).unwrap();
    assert_eq!(rig.sale(sale_id).await.state.as_str(), "paid");
    assert_eq!(rig.sale(sale_id).await.subject, "python");

    // Declined: insufficient balance; the client exits 1 and says why.
    let (exit, printed) = charge(&mut rig, "3.20", &code(52, 6, 0)).await;
    assert_eq!(exit, Some(1), "{printed}");
    assert!(printed.contains("¥3.20 failed: INSUFFICIENT"), "{printed}");
}
