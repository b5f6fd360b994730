//! The merchant's gateway commands run as real processes against the simulator on
//! 127.0.0.1:0: `query`, `balance`, `settle`, `settle-query`, `h5-url`, `app-url` (human
//! output and `--json`, exit codes), the withdrawal limits refused before sending, a dead
//! gateway and a lost answer, and `scanpay simulator` itself answering a balance query.
//!
//! Every output is checked for the merchant key. Trade numbers and dates, which the
//! simulator makes up, are normalised before the snapshots.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use expect_test::{expect, Expect};
use serde_json::Value;

use scanpay::gateway::{Gateway as _, GatewayClientConfig, HttpGateway};
use scanpay::protocol::{
    AnswerTo, Fen, Merchant, MerchantKey, Outcome, PayRequest, PaymentCode, Payway, SignRules,
};
use scanpay::simulator::{
    Fault, Faults, Simulator, SimulatorConfig, SimulatorHandle, DEMO_APP_ID, DEMO_KEY,
};

const APP_ID: &str = "JYK2018100001";
const KEY: &str = "8f3b2c1d4e5a6978695a4b3c2d1e0f7a";

/// A simulator for one test, with a config and key in a temp dir pointing at it.
struct Setup {
    runtime: tokio::runtime::Runtime,
    sim: SimulatorHandle,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime
            .block_on(Simulator::start(
                "127.0.0.1:0".parse().unwrap(),
                SimulatorConfig {
                    app_id: APP_ID.into(),
                    key: MerchantKey::new(KEY),
                    ..SimulatorConfig::default()
                },
            ))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), &sim.base_url(), APP_ID, KEY);
        Setup { runtime, sim, dir }
    }

    /// Runs `scanpay --config CONFIG args...`.
    fn scanpay(&self, args: &[&str]) -> Run {
        run_with_config(&self.dir.path().join("config.toml"), args, self)
    }

    /// Pays an order through the client, as the daemon would.
    fn pay(&self, out_trade_no: &str, code: &str, fen: u64) -> scanpay::protocol::TradeAnswer {
        let gateway = HttpGateway::new(GatewayClientConfig::new(
            self.sim.base_url(),
            Merchant {
                app_id: APP_ID.into(),
                key: MerchantKey::new(KEY),
                rules: SignRules::default(),
            },
        ))
        .unwrap();
        let request = PayRequest {
            out_trade_no: out_trade_no.into(),
            auth_code: PaymentCode::parse(code).unwrap(),
            total_amount: Fen(fen),
            subject: "Coffee".into(),
            operator_id: "001".into(),
            notify_url: "http://127.0.0.1:9/notify".into(),
            payway: Some(Payway::WeChat),
        };
        self.runtime.block_on(gateway.pay(&request)).unwrap()
    }

    fn withdrawal_record(&self) -> String {
        fs::read_to_string(self.dir.path().join("state/withdrawals.jsonl")).unwrap_or_default()
    }
}

fn write_config(dir: &Path, base_url: &str, app_id: &str, key: &str) {
    let key_path = dir.join("merchant.key");
    fs::write(&key_path, format!("{key}\n")).unwrap();
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
    let config = format!(
        r#"
[gateway]
base_url = "{base_url}"
app_id = "{app_id}"
key_file = "merchant.key"
notify_url = "https://pos.example.com/notify"
connect_timeout_ms = 500
request_timeout_ms = 3000

[payment]
order_prefix = "SHOP1"
default_subject = "Corner shop"

[scanner]
kind = "stdin"

[display]
kind = "none"

[storage]
path = "state"
"#
    );
    fs::write(dir.join("config.toml"), config).unwrap();
}

/// What a command did, with its texts normalised.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    fn check(&self, code: i32, stdout: Expect, stderr: Expect) {
        assert_eq!(self.code, Some(code), "{}\n{}", self.stdout, self.stderr);
        stdout.assert_eq(&self.stdout);
        stderr.assert_eq(&self.stderr);
    }
}

fn run_with_config(config: &Path, args: &[&str], setup: &Setup) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run scanpay");
    normalised(
        output,
        &setup.dir.path().display().to_string(),
        &setup.sim.base_url(),
    )
}

fn normalised(output: Output, dir: &str, base_url: &str) -> Run {
    let clean = |bytes: Vec<u8>| {
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains(KEY), "merchant key leaked:\n{text}");
        normalise(&text.replace(dir, "$DIR").replace(base_url, "$GW"))
    };
    Run {
        code: output.status.code(),
        stdout: clean(output.stdout),
        stderr: clean(output.stderr),
    }
}

/// Replaces the simulator's trade numbers (`SIM`/`SIMW` + digits) and datetimes
/// (`YYYY-MM-DD HH:MM:SS`) with placeholders.
fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 19)].iter().collect();
        if rest.starts_with("SIM") {
            let mut j = i + 3;
            let withdrawal = chars.get(j) == Some(&'W');
            if withdrawal {
                j += 1;
            }
            let digits = chars[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits >= 8 {
                out.push_str(if withdrawal {
                    "$WITHDRAWAL_NO"
                } else {
                    "$TRADE_NO"
                });
                i = j + digits;
                continue;
            }
        }
        if is_datetime(&rest) {
            out.push_str("$DATE");
            i += 19;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn is_datetime(s: &str) -> bool {
    let pattern = "dddd-dd-dd dd:dd:dd";
    s.len() == pattern.len()
        && s.chars()
            .zip(pattern.chars())
            .all(|(c, p)| if p == 'd' { c.is_ascii_digit() } else { c == p })
}

/// Today in China time, the gateway's (and the withdrawal record's) day.
fn china_today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string()
}

#[test]
fn query_reads_a_paid_order_in_words_and_in_json() {
    let setup = Setup::new();
    let paid = setup.pay("SHOP1-20261125-000001", "134523198765000100", 1250);
    assert_eq!(paid.outcome(AnswerTo::Pay), Outcome::Paid);

    setup.scanpay(&["query", "SHOP1-20261125-000001"]).check(
        0,
        expect![[r#"
            order SHOP1-20261125-000001: paid
              amount        ¥12.50
              trade_no      $TRADE_NO
              paytype       3 (WeChat Pay)
              pay_date      $DATE
              trade_status  TRADE_SUCCESS
              err_code      SUCCESS
        "#]],
        expect![""],
    );
    setup
        .scanpay(&["query", "SHOP1-20261125-000001", "--json"])
        .check(
            0,
            expect![[r#"
                {
                  "amount_fen": 1250,
                  "err_code": "SUCCESS",
                  "err_code_des": null,
                  "ok": true,
                  "out_trade_no": "SHOP1-20261125-000001",
                  "pay_date": "$DATE",
                  "paytype": "3",
                  "result_code": "10000",
                  "state": "paid",
                  "trade_no": "$TRADE_NO",
                  "trade_status": "TRADE_SUCCESS"
                }
            "#]],
            expect![""],
        );
    // By the gateway's number: the same order.
    let by_trade_no = setup.scanpay(&[
        "query",
        "--trade-no",
        paid.trade_no.as_deref().unwrap(),
        "--json",
    ]);
    assert_eq!(by_trade_no.code, Some(0), "{}", by_trade_no.stderr);
    assert_eq!(by_trade_no.json()["out_trade_no"], "SHOP1-20261125-000001");
    assert_eq!(by_trade_no.json()["state"], "paid");
}

#[test]
fn query_reports_a_declined_order_and_refuses_an_unknown_one() {
    let setup = Setup::new();
    // Script 06: the customer's wallet is short. The query succeeds: the order is not paid.
    setup.pay("SHOP1-20261125-000002", "134523198765000600", 990);
    let declined = setup.scanpay(&["query", "SHOP1-20261125-000002", "--json"]);
    assert_eq!(declined.code, Some(0), "{}", declined.stderr);
    assert_eq!(declined.json()["state"], "not_paid");
    assert_eq!(declined.json()["err_code"], "INSUFFICIENT");
    let human = setup.scanpay(&["query", "SHOP1-20261125-000002"]);
    assert!(
        human
            .stdout
            .starts_with("order SHOP1-20261125-000002: not paid: "),
        "{}",
        human.stdout
    );

    setup.scanpay(&["query", "NO-SUCH-ORDER"]).check(
        1,
        expect![""],
        expect![[r#"
            scanpay: error: the gateway refused the order query: result_code 40004, err_code ORDER_NOTFOUND (no order with out_trade_no "NO-SUCH-ORDER"); check the number (one made a moment ago may take a few seconds to appear)
        "#]],
    );
    let json = setup.scanpay(&["query", "NO-SUCH-ORDER", "--json"]);
    assert_eq!(json.code, Some(1));
    assert_eq!(json.json()["ok"], false);
    assert_eq!(json.json()["error"], "refused");
    assert_eq!(json.json()["err_code"], "ORDER_NOTFOUND");
}

/// A signed answer about another order than the one asked for is no answer to the query: it
/// is never reported as the order's state (the protocol's one order check, `read_order`).
/// The simulator never answers so, hence a server of its own on 127.0.0.1:0.
#[test]
fn query_never_reports_another_orders_answer() {
    use std::io::{Read as _, Write as _};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let answer = serde_json::json!({
        "result_code": "10000", "err_code": "SUCCESS", "trade_status": "TRADE_SUCCESS",
        "out_trade_no": "SHOP1-20261125-000002", "trade_no": "T2", "total_amount": 12.50,
    });
    let serde_json::Value::Object(answer) = answer else {
        unreachable!()
    };
    let body = scanpay::protocol::signing::signed_answer(
        answer,
        &MerchantKey::new(KEY),
        SignRules::default(),
    );
    let runs = 2;
    let server = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for stream in listener.incoming().take(runs) {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // The request's head, then as much body as Content-Length says.
            let complete = |request: &[u8]| {
                let text = String::from_utf8_lossy(request);
                let Some(end) = text.find("\r\n\r\n") else {
                    return false;
                };
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                request.len() >= end + 4 + length
            };
            while !complete(&request) {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "the client closed mid-request");
                request.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&request).into_owned();
            paths.push(
                head.split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string(),
            );
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
        paths
    });
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &base_url, APP_ID, KEY);
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_scanpay"))
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run scanpay");
        normalised(output, &dir.path().display().to_string(), &base_url)
    };

    run(&["query", "SHOP1-20261125-000001"]).check(1, expect![""], expect![[r#"
        scanpay: error: no trustworthy answer from the gateway at $GW/api/query/: signed answer is about out_trade_no "SHOP1-20261125-000002", not "SHOP1-20261125-000001"; the query changes nothing: run `scanpay --config $DIR/config.toml query ...` again
    "#]]);
    let json = run(&["query", "SHOP1-20261125-000001", "--json"]);
    assert_eq!(json.code, Some(1), "{}", json.stderr);
    assert_eq!(json.json()["ok"], false);
    assert_eq!(json.json()["error"], "unknown");
    assert!(json.json().get("state").is_none(), "{}", json.stdout);
    assert_eq!(server.join().unwrap(), ["/api/query/"; 2]);
}

#[test]
fn balance_in_words_and_in_json() {
    let setup = Setup::new();
    setup.scanpay(&["balance"]).check(
        0,
        expect![[r#"
            balance ¥10000.00
              withdrawal window  00:00–23:59
              withdrawal limit   ¥1000000.00
              withdrawal way     d0: the same day
        "#]],
        expect![""],
    );
    setup.scanpay(&["balance", "--json"]).check(
        0,
        expect![[r#"
            {
              "balance_fen": 1000000,
              "end_time": "23:59",
              "ok": true,
              "start_time": "00:00",
              "withdraw_limit": "1000000.00",
              "withdraw_limit_fen": 100000000,
              "withdrawal_way": "0"
            }
        "#]],
        expect![""],
    );
}

#[test]
fn settle_then_settle_query_follow_a_withdrawal_to_the_bank() {
    let setup = Setup::new();
    setup.scanpay(&["settle", "100"]).check(
        0,
        expect![[r#"
            withdrawal $WITHDRAWAL_NO of ¥100.00 accepted: 2 processing
              amount           ¥100.00 (fee included)
              withdrawn today  ¥100.00 of the ¥1000000.00 daily limit (China time, this terminal)
            check it with: scanpay --config $DIR/config.toml settle-query $WITHDRAWAL_NO
        "#]],
        expect![""],
    );
    let ledger = setup.sim.ledger();
    assert_eq!(ledger.withdrawals.len(), 1);
    let trade_no = ledger.withdrawals[0].trade_no.clone();
    assert_eq!(ledger.withdrawals[0].amount_fen, 10000);

    setup.scanpay(&["settle-query", &trade_no]).check(
        0,
        expect![[r#"
            withdrawal $WITHDRAWAL_NO: 1 succeeded (the money reached the bank)
              amount       ¥100.00 (fee included)
              to the bank  ¥99.90
              fee          ¥0.10
              settle_time  $DATE
        "#]],
        expect![""],
    );
    setup.scanpay(&["settle-query", &trade_no, "--json"]).check(
        0,
        expect![[r#"
            {
              "actual_amount_fen": 9990,
              "ok": true,
              "service_amount_fen": 10,
              "settle_time": "$DATE",
              "status": "succeeded",
              "total_amount_fen": 10000,
              "trade_no": "$WITHDRAWAL_NO",
              "withdraw_status": "1"
            }
        "#]],
        expect![""],
    );

    // Script ..04: the bank fails it. --json carries the amounts in fen.
    let second = setup.scanpay(&["settle", "12.04", "--json"]);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let json = second.json();
    assert_eq!(json["amount_fen"], 1204);
    assert_eq!(json["withdrawn_today_fen"], 10000 + 1204);
    assert_eq!(json["daily_limit_fen"], 100_000_000);
    assert_eq!(json["status"], "processing");
    let trade_no = setup.sim.ledger().withdrawals[1].trade_no.clone();
    let failed = setup.scanpay(&["settle-query", &trade_no]);
    assert_eq!(failed.code, Some(0), "{}", failed.stderr);
    assert!(
        failed.stdout.starts_with(
            "withdrawal $WITHDRAWAL_NO: 0 failed (the amount is back in the balance)\n"
        ),
        "{}",
        failed.stdout
    );

    setup.scanpay(&["settle-query", "SIMW-NOT-A-NUMBER"]).check(
        1,
        expect![""],
        expect![[r#"
            scanpay: error: the gateway refused the withdrawal query: result_code 40004, err_code ORDER_NOTFOUND (no order with trade_no "SIMW-NOT-A-NUMBER"); check the number (one made a moment ago may take a few seconds to appear)
        "#]],
    );
    // Both withdrawals are in the record: sending, then accepted, each.
    let record = setup.withdrawal_record();
    let events: Vec<String> = record
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(events, ["sending", "accepted", "sending", "accepted"]);
}

#[test]
fn a_refused_withdrawal_says_why_and_does_not_count_for_the_day() {
    let setup = Setup::new();
    // ¥20,000 against a ¥10,000 balance.
    setup.scanpay(&["settle", "20000"]).check(
        1,
        expect![""],
        expect![[r#"
            scanpay: error: the gateway refused the withdrawal: result_code 40004, err_code INSUFFICIENT (withdrawal of ¥20000.00 is above the balance of ¥10000.00); the balance is too low: see it with the balance command
        "#]],
    );
    assert!(setup.withdrawal_record().contains(r#""event":"refused""#));
    let ok = setup.scanpay(&["settle", "10", "--json"]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert_eq!(
        ok.json()["withdrawn_today_fen"],
        1000,
        "the refused one is not counted"
    );
}

#[test]
fn withdrawal_limits_are_refused_before_anything_is_sent() {
    let setup = Setup::new();
    setup.scanpay(&["settle", "50000.01"]).check(
        1,
        expect![""],
        expect![[r#"
            scanpay: error: withdrawal not sent: total_amount ¥50000.01 is above the per-request withdrawal limit of ¥50000.00: split it into several withdrawals
        "#]],
    );
    // Earlier today this terminal withdrew ¥999,950 (the record says so).
    let state = setup.dir.path().join("state");
    fs::create_dir_all(&state).unwrap();
    let day = china_today();
    let mut lines = String::new();
    for (i, fen) in [4_999_000u64; 20].iter().chain(&[15_000]).enumerate() {
        for event in ["sending", "accepted"] {
            lines.push_str(&format!(
                "{{\"id\":\"earlier-{i}\",\"event\":\"{event}\",\"day\":\"{day}\",\"at\":\"x\",\"amount_fen\":{fen}}}\n"
            ));
        }
    }
    fs::write(state.join("withdrawals.jsonl"), lines).unwrap();
    setup.scanpay(&["settle", "100"]).check(
        1,
        expect![""],
        expect![[r#"
            scanpay: error: withdrawal of ¥100.00 not sent: ¥999950.00 already withdrawn today (China time) according to $DIR/state/withdrawals.jsonl; total_amount ¥1000050.00 is above the daily withdrawal limit (today's withdrawals included) of ¥1000000.00: withdraw the rest tomorrow
        "#]],
    );
    let json = setup.scanpay(&["settle", "100", "--json"]);
    assert_eq!(json.code, Some(1));
    assert_eq!(json.json()["error"], "limit");
    assert!(
        setup.sim.ledger().withdrawals.is_empty(),
        "nothing reached the gateway"
    );

    // Up to the limit exactly is allowed.
    let last = setup.scanpay(&["settle", "50", "--json"]);
    assert_eq!(last.code, Some(0), "{}", last.stderr);
    assert_eq!(last.json()["withdrawn_today_fen"], 100_000_000);
    assert_eq!(setup.sim.ledger().withdrawals.len(), 1);
}

#[test]
fn a_damaged_withdrawal_record_stops_a_withdrawal_before_it_is_sent() {
    let setup = Setup::new();
    let state = setup.dir.path().join("state");
    fs::create_dir_all(&state).unwrap();
    fs::write(state.join("withdrawals.jsonl"), "{\"id\": 1}\n").unwrap();
    setup
        .scanpay(&["settle", "100"])
        .check(1, expect![""], expect![[r#"
            scanpay: error: the withdrawal record $DIR/state/withdrawals.jsonl line 1 is not a withdrawal record (invalid type: integer `1`, expected a string at line 1 column 8); without it today's total is not known: repair or move the line, then try again
        "#]]);
    let json = setup.scanpay(&["settle", "100", "--json"]);
    assert_eq!(json.code, Some(1));
    assert_eq!(json.json()["error"], "storage");
    assert!(
        setup.sim.ledger().withdrawals.is_empty(),
        "nothing reached the gateway"
    );
}

#[test]
fn a_lost_withdrawal_answer_says_it_may_have_been_received_and_counts() {
    let setup = Setup::new();
    setup
        .sim
        .set_faults(Faults::next(1, Fault::DropAfterRecord).on(&["settle"]));
    let lost = setup.scanpay(&["settle", "100"]);
    assert_eq!(lost.code, Some(1), "{}", lost.stdout);
    assert!(lost.stdout.is_empty(), "{}", lost.stdout);
    assert!(
        lost.stderr.starts_with(
            "scanpay: error: no trustworthy answer from the gateway at $GW/api/settle/: "
        ),
        "{}",
        lost.stderr
    );
    assert!(
        lost.stderr.contains(
            "the withdrawal of ¥100.00 may have been received: do not repeat it until you know"
        ) && lost
            .stderr
            .contains("scanpay --config $DIR/config.toml settle-query TRADE_NO")
            && lost
                .stderr
                .contains("scanpay --config $DIR/config.toml balance"),
        "{}",
        lost.stderr
    );
    // The gateway did record it, and so does the terminal: it counts for today.
    assert_eq!(setup.sim.ledger().withdrawals.len(), 1);
    assert!(setup.withdrawal_record().contains(r#""event":"unknown""#));
    let next = setup.scanpay(&["settle", "1", "--json"]);
    assert_eq!(next.code, Some(0), "{}", next.stderr);
    assert_eq!(next.json()["withdrawn_today_fen"], 10000 + 100);
}

#[test]
fn a_dead_gateway_is_named_and_nothing_counts() {
    let setup = Setup::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = tempfile::tempdir().unwrap();
    write_config(
        dead.path(),
        &format!("http://127.0.0.1:{port}"),
        APP_ID,
        KEY,
    );
    let config = dead.path().join("config.toml");
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_scanpay"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        normalised(
            output,
            &dead.path().display().to_string(),
            &format!("http://127.0.0.1:{port}"),
        )
    };
    let balance = run(&["balance"]);
    assert_eq!(balance.code, Some(1));
    assert!(
        balance
            .stderr
            .starts_with("scanpay: error: gateway unreachable at $GW/api/balance_query/: "),
        "{}",
        balance.stderr
    );
    assert!(
        balance.stderr.contains("nothing was sent"),
        "{}",
        balance.stderr
    );
    for args in [
        &["query", "A-1", "--json"][..],
        &["settle", "100", "--json"],
        &["settle-query", "SIMW1", "--json"],
        &["app-url", "1", "--json"],
    ] {
        let failed = run(args);
        assert_eq!(failed.code, Some(1), "{args:?}");
        assert_eq!(failed.json()["error"], "unreachable", "{args:?}");
        assert!(failed.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("gateway unreachable at $GW/"));
    }
    // The withdrawal never left: recorded as not sent, so it does not count.
    let record = fs::read_to_string(dead.path().join("state/withdrawals.jsonl")).unwrap();
    assert!(record.contains(r#""event":"not_sent""#), "{record}");
    // h5-url needs no network.
    assert_eq!(run(&["h5-url", "1"]).code, Some(0));
    drop(setup);
}

#[test]
fn a_config_that_cannot_be_used_exits_78() {
    let setup = Setup::new();
    let missing = setup.dir.path().join("missing.toml");
    let run = run_with_config(&missing, &["balance", "--json"], &setup);
    assert_eq!(run.code, Some(78));
    assert_eq!(run.json()["error"], "config");
    let key = setup.dir.path().join("merchant.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let open_key = setup.scanpay(&["balance"]);
    assert_eq!(open_key.code, Some(78));
    assert!(
        open_key.stderr.contains("chmod go-rwx"),
        "{}",
        open_key.stderr
    );
}

#[test]
fn h5_url_is_signed_here_and_the_simulator_serves_it() {
    let setup = Setup::new();
    let args = [
        "h5-url",
        "12.50",
        "--out-trade-no",
        "SHOP1-W1",
        "--subject",
        "拿铁 Latte",
        "--return-url",
        "https://shop.example.com/thanks",
    ];
    setup.scanpay(&args).check(
        0,
        expect![[r#"
            pay page for order SHOP1-W1 of ¥12.50:
              url         $GW/getway/?app_id=JYK2018100001&notify_url=https%3A%2F%2Fpos.example.com%2Fnotify&operator_id=scanpay&out_trade_no=SHOP1-W1&return_url=https%3A%2F%2Fshop.example.com%2Fthanks&subject=%E6%8B%BF%E9%93%81%20Latte&total_amount=1250&sign=ddc9d41460fc24a4a6ef903e1caeb31f
              subject     拿铁 Latte
              return_url  https://shop.example.com/thanks
            see whether it is paid with: scanpay --config $DIR/config.toml query SHOP1-W1
        "#]],
        expect![""],
    );
    let json = setup.scanpay(&[&args[..], &["--json"]].concat()).json();
    assert_eq!(json["amount_fen"], 1250);
    let url = json["url"]
        .as_str()
        .unwrap()
        .replace("$GW", &setup.sim.base_url());
    // The simulator verifies the signature: a good one gets the pay page.
    let page = setup
        .runtime
        .block_on(async { reqwest::get(&url).await?.error_for_status()?.text().await })
        .unwrap();
    assert!(
        page.contains("order SHOP1-W1")
            && page.contains("拿铁 Latte")
            && page.contains("pay ¥12.50"),
        "{page}"
    );
    // The page opened the order: the customer has not paid yet.
    let waiting = setup.scanpay(&["query", "SHOP1-W1"]);
    assert_eq!(waiting.code, Some(0), "{}", waiting.stderr);
    assert!(
        waiting.stdout.starts_with(
            "order SHOP1-W1: waiting for the customer to confirm on the phone; ask again in a few seconds\n"
        ),
        "{}",
        waiting.stdout
    );

    // Defaults from the config: subject, order number, return URL.
    let defaults = setup.scanpay(&["h5-url", "3", "--json"]).json();
    assert_eq!(defaults["subject"], "Corner shop");
    assert_eq!(defaults["return_url"], "https://pos.example.com/");
    assert!(defaults["out_trade_no"]
        .as_str()
        .unwrap()
        .starts_with("SHOP1-W"));
}

#[test]
fn app_url_asks_the_gateway_for_the_wallet_link() {
    let setup = Setup::new();
    let run = setup.scanpay(&["app-url", "8", "--out-trade-no", "SHOP1-A1", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["out_trade_no"], "SHOP1-A1");
    assert!(json["url"].as_str().unwrap().starts_with("$GW/"), "{json}");
    assert!(setup.sim.ledger().order("SHOP1-A1").is_some());
    let human = setup.scanpay(&["app-url", "8", "--out-trade-no", "SHOP1-A2"]);
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    assert!(
        human
            .stdout
            .starts_with("wallet link for order SHOP1-A2 of ¥8.00:\n  url  "),
        "{}",
        human.stdout
    );
}

#[test]
fn the_simulator_command_serves_until_stopped() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .args(["simulator", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base_url = first
        .trim_end()
        .strip_prefix("scanpay gateway simulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    let mut banner = String::new();
    for _ in 0..8 {
        stdout.read_line(&mut banner).unwrap();
    }
    assert!(
        banner.contains(&format!("base_url = \"{base_url}\"")),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("app_id = \"{DEMO_APP_ID}\"")),
        "{banner}"
    );

    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &base_url, DEMO_APP_ID, DEMO_KEY);
    let output = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .args(["balance"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("balance ¥10000.00\n"), "{text}");

    // SIGTERM (as systemd stops it) ends it cleanly.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn the_simulator_takes_a_private_key_file_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let key: PathBuf = dir.path().join("sim.key");
    fs::write(&key, format!("{KEY}\n")).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .args([
            "simulator",
            "--listen",
            "127.0.0.1:0",
            "--app-id",
            APP_ID,
            "--json",
            "--key-file",
        ])
        .arg(&key)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.contains(KEY), "{line}");
    let started: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(started["app_id"], APP_ID);
    assert_eq!(started["demo_key"], false);
    let base_url = started["base_url"].as_str().unwrap().to_string();

    write_config(dir.path(), &base_url, APP_ID, KEY);
    let output = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .args(["balance", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    child.kill().unwrap();
    child.wait().unwrap();

    // A key file others can read is refused.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .args(["simulator", "--listen", "127.0.0.1:0", "--key-file"])
        .arg(&key)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("chmod go-rwx"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_scanpay"))
        .args([
            "simulator",
            "--listen",
            "127.0.0.1:0",
            "--app-id",
            "two words",
        ])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    expect![[r#"
        scanpay: error: --app-id "two words" is not an app id: give 1 to 50 characters without spaces, e.g. DEMO0001
    "#]].assert_eq(&String::from_utf8(output.stderr).unwrap());
}
