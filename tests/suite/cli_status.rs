//! `scanpay status` against the real daemon: one screen for the person at the till, exit 0
//! when all is well, 1 naming what needs a person (an unplugged scanner, a stopped daemon),
//! and `--json` for scripts.

use crate::e2e_support;

use std::process::Stdio;

use e2e_support::{code, spawn_scanpay, Rig, RigOptions, STEP};
use scanpay::protocol::Fen;
use serde_json::Value;

struct Run {
    exit: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn status(rig: &Rig, json: bool) -> Run {
    let config = rig.config_path.display().to_string();
    let mut args = vec!["status", "--config", &config];
    if json {
        args.push("--json");
    }
    let child = spawn_scanpay(&args, Stdio::null(), Stdio::piped(), Stdio::piped());
    let output = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .expect("scanpay status finishes")
        .expect("run scanpay status");
    Run {
        exit: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_every_part_and_exits_1_when_one_needs_a_person() {
    let mut rig = Rig::start(RigOptions::default()).await;
    // One paid sale: the gateway has answered.
    let sale = rig.arm(Fen(450)).await;
    rig.scan(&code(41, 1, 0));
    let (paid, _) = rig.finish(&sale).await;
    assert_eq!(paid.state.as_str(), "paid");

    let fine = status(&rig, false).await;
    assert_eq!(fine.exit, Some(0), "{}{}", fine.stdout, fine.stderr);
    let lines: Vec<&str> = fine.stdout.lines().collect();
    assert_eq!(
        lines[0], "scanpay: everything is working",
        "{}",
        fine.stdout
    );
    for (label, starts) in [
        ("scanner", "ok       serial "),
        ("display", "ok       "),
        ("gateway", "ok       "),
        ("queue", "0 waiting for the gateway"),
        ("journal", "ok"),
        ("version", env!("CARGO_PKG_VERSION")),
    ] {
        assert!(
            lines.iter().any(|l| l
                .trim_start()
                .strip_prefix(label)
                .is_some_and(|rest| rest.trim_start().starts_with(starts))),
            "no {label} line starting {starts:?}:\n{}",
            fine.stdout
        );
    }
    assert!(fine.stdout.contains("\n  clock "), "{}", fine.stdout);
    let json = status(&rig, true).await;
    assert_eq!(json.exit, Some(0), "{}", json.stderr);
    let printed: Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(printed["ok"], true);
    assert_eq!(printed["needs_attention"], serde_json::json!([]));
    assert_eq!(printed["status"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(printed["status"]["scanner"]["ok"], true);

    rig.unplug();
    rig.wait_status("the scanner to be reported missing", |s| !s.scanner.ok)
        .await;
    let missing = status(&rig, false).await;
    assert_eq!(missing.exit, Some(1), "{}", missing.stdout);
    assert_eq!(
        missing.stdout.lines().next(),
        Some("scanpay: 1 thing needs a person"),
        "{}",
        missing.stdout
    );
    assert!(
        missing.stdout.contains("  scanner  PROBLEM  "),
        "{}",
        missing.stdout
    );
    assert!(
        missing.stderr.contains("needs a person: scanner: "),
        "{}",
        missing.stderr
    );
    let json = status(&rig, true).await;
    assert_eq!(json.exit, Some(1));
    let printed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(printed["ok"], false);
    assert_eq!(printed["needs_attention"][0]["part"], "scanner");
    assert_eq!(printed["status"]["scanner"]["ok"], false);

    rig.terminate().await;
    let stopped = status(&rig, false).await;
    assert_eq!(stopped.exit, Some(1));
    assert!(
        stopped
            .stderr
            .contains("could not reach the scanpay register API"),
        "{}",
        stopped.stderr
    );
    let json = status(&rig, true).await;
    assert_eq!(json.exit, Some(1));
    let printed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(printed["ok"], false);
    assert_eq!(printed["error"], "unreachable");
}

/// A daemon that has just started and sold nothing has not contacted the gateway: that is no
/// failure (the install check and the package's postinst run it then), and it says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_idle_daemon_is_fine_and_says_the_gateway_is_not_contacted_yet() {
    let mut rig = Rig::start(RigOptions::default()).await;
    let api = rig.status().await.expect("GET /v1/status");
    assert!(api.gateway.ok, "{:?}", api.gateway);
    assert_eq!(api.gateway.detail, "not contacted yet");

    let idle = status(&rig, false).await;
    assert_eq!(idle.exit, Some(0), "{}{}", idle.stdout, idle.stderr);
    assert_eq!(
        idle.stdout.lines().next(),
        Some("scanpay: everything is working"),
        "{}",
        idle.stdout
    );
    assert!(
        idle.stdout
            .contains("  gateway  ok       not contacted yet"),
        "{}",
        idle.stdout
    );
    let json = status(&rig, true).await;
    assert_eq!(json.exit, Some(0), "{}", json.stderr);
    let printed: Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(printed["ok"], true);
    assert_eq!(
        printed["status"]["gateway"],
        serde_json::json!({"ok": true, "detail": "not contacted yet"})
    );

    // Once a sale has gone through, it has answered.
    let sale = rig.arm(Fen(450)).await;
    rig.scan(&code(41, 1, 0));
    let (paid, _) = rig.finish(&sale).await;
    assert_eq!(paid.state.as_str(), "paid");
    let api = rig.status().await.expect("GET /v1/status");
    assert_eq!(api.gateway, scanpay::register::Health::up("answering"));
    rig.terminate().await;
}
