//! `scanpay journal` as a real process: the merchant's reconciliation export from the
//! journal the daemon keeps in `[storage] path`/journal, filtered by day.

use crate::record_support;

use record_support::sale_record;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use scanpay::engine::{SaleRecord, SaleState, Timestamp};
use scanpay::journal::{Journal, LogJournal};
use scanpay::protocol::{Fen, Payway};

/// 2026-11-24T23:30:00Z, half an hour before the second day starts.
const T0: u64 = 1_795_563_000_000;

fn record(seq: u64, at: u64, state: SaleState) -> SaleRecord {
    let id = format!("SPTEST-20261124-{seq:06}");
    SaleRecord {
        amount: Fen(990 * seq),
        subject: "Tea".into(),
        operator_id: "007".into(),
        payway: Some(Payway::Alipay),
        trade_no: (state == SaleState::Paid).then(|| format!("T{seq}")),
        updated_at: Timestamp(at + 1_000),
        ..sale_record(&id, seq, state, Timestamp(at))
    }
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("merchant.key");
    fs::write(&key, "k3y").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.join("config.toml");
    fs::write(
        &config,
        format!(
            "[gateway]\nbase_url = \"http://127.0.0.1:9\"\napp_id = \"A\"\nkey_file = \"merchant.key\"\n\
             notify_url = \"http://127.0.0.1:9/n\"\n[payment]\norder_prefix = \"SPTEST\"\n\
             [scanner]\nkind = \"stdin\"\n[display]\nkind = \"none\"\n[storage]\npath = \"{}\"\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    config
}

fn scanpay(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .arg("--config")
        .arg(config)
        .arg("journal")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn exports_the_daemons_journal_by_day_as_csv_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    {
        let journal = LogJournal::open(dir.path().join("state").join("journal")).unwrap();
        journal.put(&record(1, T0, SaleState::Paid)).unwrap();
        journal
            .put(&record(2, T0 + 3_600_000, SaleState::Failed))
            .unwrap();
    }

    let (code, csv, _) = scanpay(&config, &[]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("sale_id,out_trade_no,amount_yuan,amount_fen,state"));
    assert!(lines[1]
        .starts_with("SPTEST-20261124-000001,SPTEST-20261124-000001,9.90,990,paid,Alipay,T1,"));
    assert!(lines[2].contains(",19.80,1980,failed,"));

    // Only the second day (UTC), as JSON lines.
    let (code, jsonl, _) = scanpay(&config, &["--from", "2026-11-25", "--format", "jsonl"]);
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{jsonl}");
    assert_eq!(rows[0]["amount_fen"], 1980);
    assert_eq!(rows[0]["state"], "failed");

    // And only the first.
    let (code, csv, _) = scanpay(&config, &["--to", "2026-11-25T00:00:00Z"]);
    assert_eq!(code, 0);
    assert_eq!(csv.lines().count(), 2);
}

#[test]
fn a_bad_date_and_a_journal_in_use_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (code, _, stderr) = scanpay(&config, &["--from", "yesterday"]);
    assert_eq!(code, 2, "a usage error: {stderr}");
    assert!(stderr.contains("\"yesterday\" is not a date"), "{stderr}");

    // The daemon holds the journal while it runs; the export says so instead of waiting forever.
    let _held = LogJournal::open(dir.path().join("state").join("journal")).unwrap();
    let (code, _, stderr) = scanpay(&config, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("while the daemon runs it holds the journal"),
        "{stderr}"
    );
}

#[test]
fn a_storage_path_without_a_journal_is_an_error_not_an_empty_export() {
    // A wrong [storage] path once made a new, empty journal there and exported nothing with
    // exit 0: a merchant reconciling would conclude there were no sales.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (code, stdout, stderr) = scanpay(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    let journal_dir = dir.path().join("state").join("journal");
    assert!(
        stderr.contains(&format!("no journal at {}", journal_dir.display())),
        "{stderr}"
    );
    assert!(stderr.contains("[storage] path"), "{stderr}");
    assert!(!journal_dir.exists(), "nothing is created");
}
