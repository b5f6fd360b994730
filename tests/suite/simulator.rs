//! The gateway simulator over real loopback HTTP, driven by raw reqwest requests signed with
//! `protocol::signing` (not the typed client): every endpoint, error code, scripted outcome,
//! fault and admin endpoint, and the callback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scanpay::protocol::signing::{sign_params, verify_answer, VerifyError};
use scanpay::protocol::{AmountUnit, AnswerTo, MerchantKey, Outcome, SignRules, TradeAnswer};
use scanpay::simulator::{
    Fault, Faults, ManualClock, OrderState, Simulator, SimulatorConfig, SimulatorHandle,
    WithdrawalState,
};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const APP_ID: &str = "TEST0001";
const KEY: &str = "8f3b2c1d4e5a6978695a4b3c2d1e0f7a";
const WECHAT: &str = "134523198765432101";

struct Sim {
    handle: SimulatorHandle,
    clock: ManualClock,
    http: reqwest::Client,
}

async fn start_with(balance: u64, query_min_interval: Option<Duration>) -> Sim {
    let clock = ManualClock::default();
    let config = SimulatorConfig {
        app_id: APP_ID.into(),
        key: MerchantKey::new(KEY),
        rules: SignRules::default(),
        balance: scanpay::protocol::Fen(balance),
        query_min_interval,
        clock: Arc::new(clock.clone()),
    };
    let handle = Simulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("simulator starts");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Sim {
        handle,
        clock,
        http,
    }
}

async fn start() -> Sim {
    start_with(0, None).await
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sign(p: &BTreeMap<String, String>) -> String {
    sign_params(p, &MerchantKey::new(KEY), SignRules::default())
}

fn pay(out_trade_no: &str, code: &str, fen: u64) -> BTreeMap<String, String> {
    params(&[
        ("app_id", APP_ID),
        ("auth_code", code),
        ("notify_url", "http://127.0.0.1:9/notify"),
        ("operator_id", "001"),
        ("out_trade_no", out_trade_no),
        ("subject", "Coffee Latte"),
        ("total_amount", &fen.to_string()),
    ])
}

fn query(out_trade_no: &str) -> BTreeMap<String, String> {
    params(&[("app_id", APP_ID), ("out_trade_no", out_trade_no)])
}

impl Sim {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    /// POSTs signed parameters; the raw response.
    async fn send(
        &self,
        path: &str,
        p: &BTreeMap<String, String>,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.url(path))
            .header("Authorization", format!("sign {}", sign(p)))
            .json(p)
            .send()
            .await
    }

    /// POSTs signed parameters and returns the verified result_response and the body text.
    async fn call_text(
        &self,
        path: &str,
        p: &BTreeMap<String, String>,
    ) -> (Map<String, Value>, String) {
        let response = self.send(path, p).await.expect("answered");
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        let verified = verify_answer(&body, &MerchantKey::new(KEY), SignRules::default())
            .unwrap_or_else(|e| panic!("answer does not verify: {e}: {body}"));
        (verified.result_response, body)
    }

    async fn call(&self, path: &str, p: &BTreeMap<String, String>) -> Map<String, Value> {
        self.call_text(path, p).await.0
    }

    async fn codepay(&self, out: &str, code: &str, fen: u64) -> Map<String, Value> {
        self.call("/api/codepay/", &pay(out, code, fen)).await
    }

    async fn query(&self, out: &str) -> Map<String, Value> {
        self.call("/api/query/", &query(out)).await
    }

    fn state(&self, out: &str) -> Option<OrderState> {
        self.handle.ledger().order(out).map(|o| o.state)
    }
}

fn text<'a>(map: &'a Map<String, Value>, field: &str) -> &'a str {
    map.get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no text field {field} in {map:?}"))
}

fn outcome(map: &Map<String, Value>, to: AnswerTo) -> Outcome {
    TradeAnswer::from_result_response(map, AmountUnit::Yuan)
        .unwrap()
        .outcome(to)
}

/// Sends raw bytes and reads until the server closes: what the socket really saw.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received));
    match read.await.expect("server closes the connection") {
        Ok(_) => {}
        // A reset also ends the exchange; what arrived before it is what counts.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("read failed: {e}"),
    }
    received
}

fn raw_post(addr: SocketAddr, path: &str, p: &BTreeMap<String, String>) -> Vec<u8> {
    let body = serde_json::to_string(p).unwrap();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: sign {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sign(p),
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn codepay_success_is_signed_and_exact() {
    let sim = start().await;
    let (answer, body) = sim
        .call_text("/api/codepay/", &pay("A-1", WECHAT, 1250))
        .await;
    assert_eq!(text(&answer, "result_code"), "10000");
    assert_eq!(text(&answer, "trade_status"), "TRADE_SUCCESS");
    assert_eq!(text(&answer, "app_id"), APP_ID);
    assert_eq!(text(&answer, "out_trade_no"), "A-1");
    assert_eq!(text(&answer, "paytype"), "3");
    // Yuan as a JSON number literal, China-time datetime text.
    assert!(body.contains(r#""total_amount":12.50"#), "{body}");
    assert_eq!(text(&answer, "pay_date"), "2026-11-25 20:00:00");
    assert!(text(&answer, "trade_no").starts_with("SIM20261125"));
    assert_eq!(outcome(&answer, AnswerTo::Pay), Outcome::Paid);

    let ledger = sim.handle.ledger();
    let order = ledger.order("A-1").unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.amount_fen, 1250);
    assert_eq!(order.pay_requests, 1);
    assert_eq!(order.trade_no, text(&answer, "trade_no"));
    assert_eq!(ledger.codes_used, vec![WECHAT.to_string()]);
    assert_eq!(ledger.balance_fen, 1250);

    // Chinese subjects, Alipay codes, no payway: signed and classified.
    let mut p = pay("A-2", "284523198765432101", 1);
    p.insert("subject".into(), "拿铁咖啡 大杯".into());
    let answer = sim.call("/api/codepay/", &p).await;
    assert_eq!(text(&answer, "paytype"), "1");
    assert_eq!(outcome(&answer, AnswerTo::Pay), Outcome::Paid);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn query_settle_settlequery_and_balance() {
    let sim = start().await;
    let paid = sim.codepay("Q-1", WECHAT, 200_000).await;
    let trade_no = text(&paid, "trade_no").to_string();

    let by_out = sim.query("Q-1").await;
    assert_eq!(text(&by_out, "trade_status"), "TRADE_SUCCESS");
    let by_trade = sim
        .call(
            "/api/query/",
            &params(&[("app_id", APP_ID), ("trade_no", &trade_no)]),
        )
        .await;
    assert_eq!(text(&by_trade, "out_trade_no"), "Q-1");
    assert_eq!(outcome(&by_trade, AnswerTo::Query), Outcome::Paid);

    let (balance, body) = sim
        .call_text("/api/balance_query/", &params(&[("app_id", APP_ID)]))
        .await;
    assert!(body.contains(r#""balance":2000.00"#), "{body}");
    assert!(body.contains(r#""withdraw_limit":1000000.00"#), "{body}");
    assert_eq!(text(&balance, "start_time"), "00:00");
    assert_eq!(text(&balance, "withdrawal_way"), "0");

    let settle = params(&[("app_id", APP_ID), ("total_amount", "100000")]);
    let withdrawal = sim.call("/api/settle/", &settle).await;
    assert_eq!(text(&withdrawal, "result_code"), "10000");
    assert_eq!(text(&withdrawal, "withdraw_status"), "2");
    assert_eq!(text(&withdrawal, "total_amount"), "100000");
    let w_no = text(&withdrawal, "trade_no").to_string();
    let (status, body) = sim
        .call_text(
            "/api/settlequery/",
            &params(&[("app_id", APP_ID), ("trade_no", &w_no)]),
        )
        .await;
    assert_eq!(text(&status, "withdraw_status"), "1");
    assert!(body.contains(r#""actual_amount":999.00"#), "{body}");
    assert!(body.contains(r#""service_amount":1.00"#), "{body}");
    assert!(status.contains_key("settle_time"));
    let ledger = sim.handle.ledger();
    assert_eq!(ledger.balance_fen, 100_000);
    assert_eq!(ledger.withdrawals[0].status, WithdrawalState::Succeeded);

    // Scripted withdrawals: returned by the bank, money back.
    let returned = sim
        .call(
            "/api/settle/",
            &params(&[("app_id", APP_ID), ("total_amount", "1003")]),
        )
        .await;
    let no = text(&returned, "trade_no").to_string();
    let status = sim
        .call(
            "/api/settlequery/",
            &params(&[("app_id", APP_ID), ("trade_no", &no)]),
        )
        .await;
    assert_eq!(text(&status, "withdraw_status"), "3");
    assert_eq!(sim.handle.ledger().balance_fen, 100_000);
    sim.handle.shutdown().await;
}

fn h5_query(p: &BTreeMap<String, String>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in p {
        query.append_pair(k, v);
    }
    query.append_pair("sign", &sign(p));
    query.finish()
}

fn h5_params(out: &str) -> BTreeMap<String, String> {
    params(&[
        ("app_id", APP_ID),
        ("notify_url", "http://127.0.0.1:9/notify"),
        ("operator_id", "001"),
        ("out_trade_no", out),
        ("subject", "茶 & <cake>"),
        ("total_amount", "888"),
        ("return_url", "http://shop.example.com/done?x=1"),
    ])
}

#[tokio::test]
async fn h5_page_and_app_link_and_paying_on_the_page() {
    let sim = start().await;
    let page = sim
        .http
        .get(sim.url(&format!("/getway/?{}", h5_query(&h5_params("H-1")))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("¥8.88"), "{html}");
    assert!(html.contains("茶 &amp; &lt;cake&gt;"), "{html}");
    assert_eq!(sim.state("H-1"), Some(OrderState::WaitingCustomer));
    let trade_no = sim.handle.ledger().order("H-1").unwrap().trade_no.clone();
    let pay_path = format!("/_sim/h5/{trade_no}/pay");
    assert!(html.contains(&pay_path), "{html}");

    // A wrong signature gets an error page and no order.
    let mut bad = h5_query(&h5_params("H-2"));
    bad.push('0');
    let page = sim
        .http
        .get(sim.url(&format!("/getway/?{bad}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("SIGNERROR"));
    assert_eq!(sim.state("H-2"), None);

    let paid = sim.http.post(sim.url(&pay_path)).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers()["location"],
        "http://shop.example.com/done?x=1"
    );
    assert_eq!(sim.state("H-1"), Some(OrderState::Paid));
    let answer = sim.query("H-1").await;
    assert_eq!(outcome(&answer, AnswerTo::Query), Outcome::Paid);

    // The app endpoint: signed JSON with a url that serves the order's page.
    let response = sim
        .http
        .get(sim.url(&format!("/getway/app?{}", h5_query(&h5_params("H-3")))))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let app = verify_answer(&body, &MerchantKey::new(KEY), SignRules::default())
        .unwrap()
        .result_response;
    assert_eq!(text(&app, "result_code"), "10000");
    let url = text(&app, "url");
    assert!(url.starts_with(&sim.handle.base_url()), "{url}");
    let html = sim
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Pay ¥8.88"), "{html}");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn every_request_error_code() {
    let sim = start().await;
    let p = pay("E-1", WECHAT, 100);
    let key = MerchantKey::new(KEY);
    let rules = SignRules::default();
    let answer_of = |body: String| {
        verify_answer(&body, &key, rules)
            .unwrap_or_else(|e| panic!("{e}: {body}"))
            .result_response
    };
    let codes = |m: &Map<String, Value>| {
        (
            text(m, "result_code").to_string(),
            text(m, "err_code").to_string(),
        )
    };
    let pair = |r: &str, e: &str| (r.to_string(), e.to_string());

    // NOSIGN: no Authorization header.
    let body = sim
        .http
        .post(sim.url("/api/codepay/"))
        .json(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(
        codes(&answer_of(body.text().await.unwrap())),
        pair("40002", "NOSIGN")
    );
    // SIGNERROR: signed with another key.
    let wrong = sign_params(&p, &MerchantKey::new("other"), rules);
    let body = sim
        .http
        .post(sim.url("/api/codepay/"))
        .header("Authorization", format!("sign {wrong}"))
        .json(&p)
        .send()
        .await
        .unwrap();
    let refused = answer_of(body.text().await.unwrap());
    assert_eq!(codes(&refused), pair("40002", "SIGNERROR"));
    assert!(matches!(
        outcome(&refused, AnswerTo::Pay),
        Outcome::ConfigProblem { .. }
    ));
    // JSONERROR: not JSON.
    let body = sim
        .http
        .post(sim.url("/api/codepay/"))
        .header("Authorization", "sign 00")
        .body("app_id=x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        codes(&answer_of(body.text().await.unwrap())),
        pair("40002", "JSONERROR")
    );
    // REQUIRE_POST_METHOD: GET on a POST endpoint.
    let body = sim.http.get(sim.url("/api/query/")).send().await.unwrap();
    assert_eq!(
        codes(&answer_of(body.text().await.unwrap())),
        pair("40002", "REQUIRE_POST_METHOD")
    );
    // APPID_NOT_EXIST.
    let mut other_app = p.clone();
    other_app.insert("app_id".into(), "NOBODY".into());
    let answer = sim.call("/api/codepay/", &other_app).await;
    assert_eq!(codes(&answer), pair("40004", "APPID_NOT_EXIST"));
    // LACK_PARAMS, named.
    let mut missing = p.clone();
    missing.remove("operator_id");
    let answer = sim.call("/api/codepay/", &missing).await;
    assert_eq!(codes(&answer), pair("40001", "LACK_PARAMS"));
    assert!(text(&answer, "err_code_des").contains("operator_id"));
    // PARAMSERROR: amount in yuan, too long, bad code (masked in the message).
    for (field, value) in [
        ("total_amount", "12.50"),
        ("out_trade_no", &"x".repeat(65)),
        ("auth_code", "13452319876543abcd"),
    ] {
        let mut bad = p.clone();
        bad.insert(field.into(), value.to_string());
        let answer = sim.call("/api/codepay/", &bad).await;
        assert_eq!(codes(&answer), pair("40002", "PARAMSERROR"), "{field}");
        assert!(!text(&answer, "err_code_des").contains("13452319876543abcd"));
    }
    assert!(
        sim.handle.ledger().orders.is_empty(),
        "refused requests record nothing"
    );

    // ORDER_NOTFOUND, ORDER_CONFLICT, ORDERPAID.
    let answer = sim.query("nope").await;
    assert_eq!(codes(&answer), pair("40004", "ORDER_NOTFOUND"));
    assert_eq!(outcome(&answer, AnswerTo::Query), Outcome::NotFound);
    sim.codepay("E-1", WECHAT, 100).await;
    let answer = sim.codepay("E-1", WECHAT, 100).await;
    assert_eq!(codes(&answer), pair("40004", "ORDERPAID"));
    assert_eq!(outcome(&answer, AnswerTo::Pay), Outcome::OrderExists);
    let answer = sim.codepay("E-1", WECHAT, 999).await;
    assert_eq!(codes(&answer), pair("40004", "ORDER_CONFLICT"));
    assert_eq!(outcome(&answer, AnswerTo::Pay), Outcome::OrderExists);
    let ledger = sim.handle.ledger();
    assert_eq!(ledger.order("E-1").unwrap().pay_requests, 3);
    assert_eq!(ledger.balance_fen, 100, "charged once");

    // One-use codes: the same code on a new order is refused, and says why (masked).
    let answer = sim.codepay("E-2", WECHAT, 100).await;
    assert_eq!(codes(&answer), pair("40004", "PARAMSERROR"));
    let des = text(&answer, "err_code_des");
    assert!(
        des.contains("already used") && des.contains("1345…2101"),
        "{des}"
    );
    assert!(!des.contains(WECHAT));
    assert!(matches!(
        outcome(&answer, AnswerTo::Pay),
        Outcome::NotPaid { .. }
    ));
    assert_eq!(sim.state("E-2"), Some(OrderState::Failed));

    // trade_no limits differ by endpoint (the original document): settlequery takes at most
    // 50 characters, query 256.
    let long = "W".repeat(51);
    let answer = sim
        .call(
            "/api/settlequery/",
            &params(&[("app_id", APP_ID), ("trade_no", &long)]),
        )
        .await;
    assert_eq!(codes(&answer), pair("40002", "PARAMSERROR"));
    assert!(text(&answer, "err_code_des").contains("50"));
    let answer = sim
        .call(
            "/api/query/",
            &params(&[("app_id", APP_ID), ("trade_no", &long)]),
        )
        .await;
    assert_eq!(codes(&answer), pair("40004", "ORDER_NOTFOUND"));
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn withdrawal_balance_and_limits() {
    let sim = start_with(200_000_000, None).await;
    let settle = |fen: u64| params(&[("app_id", APP_ID), ("total_amount", &fen.to_string())]);
    let answer = sim.call("/api/settle/", &settle(5_000_001)).await;
    assert_eq!(text(&answer, "err_code"), "PARAMSERROR");
    assert!(text(&answer, "err_code_des").contains("per-request limit"));
    for _ in 0..20 {
        let answer = sim.call("/api/settle/", &settle(5_000_000)).await;
        assert_eq!(text(&answer, "result_code"), "10000");
    }
    let answer = sim.call("/api/settle/", &settle(1)).await;
    assert_eq!(text(&answer, "err_code"), "PARAMSERROR");
    assert!(text(&answer, "err_code_des").contains("daily limit"));
    // Next day in China: the limit resets, the balance does not.
    sim.clock.advance(Duration::from_secs(4 * 3600));
    let answer = sim.call("/api/settle/", &settle(2)).await;
    assert_eq!(text(&answer, "result_code"), "10000");
    assert_eq!(sim.handle.ledger().balance_fen, 100_000_000 - 2);
    let poor = start_with(100, None).await;
    let answer = poor.call("/api/settle/", &settle(101)).await;
    assert_eq!(
        (text(&answer, "result_code"), text(&answer, "err_code")),
        ("40004", "INSUFFICIENT")
    );
    let answer = poor
        .call(
            "/api/settlequery/",
            &params(&[("app_id", APP_ID), ("trade_no", "W0")]),
        )
        .await;
    assert_eq!(text(&answer, "err_code"), "ORDER_NOTFOUND");
    sim.handle.shutdown().await;
    poor.handle.shutdown().await;
}

#[tokio::test]
async fn rate_limit_by_interval_on_the_injected_clock() {
    let sim = start_with(0, Some(Duration::from_secs(3))).await;
    sim.codepay("R-1", "134523198765000900", 100).await;
    assert_eq!(
        outcome(&sim.query("R-1").await, AnswerTo::Query),
        Outcome::WaitingCustomer
    );
    sim.clock.advance(Duration::from_secs(2));
    let answer = sim.query("R-1").await;
    assert_eq!(
        (text(&answer, "result_code"), text(&answer, "err_code")),
        ("20000", "FREQUENTLY")
    );
    assert!(matches!(
        outcome(&answer, AnswerTo::Query),
        Outcome::TryLater {
            rate_limited: true,
            ..
        }
    ));
    sim.clock.advance(Duration::from_secs(1));
    assert_eq!(
        outcome(&sim.query("R-1").await, AnswerTo::Query),
        Outcome::WaitingCustomer
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn every_magic_outcome() {
    let sim = start().await;
    use Outcome::WaitingCustomer as W;

    // 01 paid at once.
    assert_eq!(
        outcome(
            &sim.codepay("M-01", "134523198765000100", 100).await,
            AnswerTo::Pay
        ),
        Outcome::Paid
    );
    // 02 USERPAYING, paid on the 3rd query.
    let first = sim.codepay("M-02", "134523198765000203", 100).await;
    assert_eq!(text(&first, "err_code"), "USERPAYING");
    assert_eq!(outcome(&first, AnswerTo::Pay), W);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(outcome(&sim.query("M-02").await, AnswerTo::Query));
    }
    assert_eq!(outcomes, [W, W, Outcome::Paid]);
    // 03 USERPAYING, paid 5 s later (injected clock).
    assert_eq!(
        outcome(
            &sim.codepay("M-03", "134523198765000300", 100).await,
            AnswerTo::Pay
        ),
        W
    );
    sim.clock.advance(Duration::from_secs(4));
    assert_eq!(outcome(&sim.query("M-03").await, AnswerTo::Query), W);
    sim.clock.advance(Duration::from_secs(1));
    let paid = sim.query("M-03").await;
    assert_eq!(outcome(&paid, AnswerTo::Query), Outcome::Paid);
    assert_eq!(text(&paid, "pay_date"), "2026-11-25 20:00:05");
    // 04 USERPAYING, closed on the 2nd query.
    sim.codepay("M-04", "134523198765000400", 100).await;
    assert_eq!(outcome(&sim.query("M-04").await, AnswerTo::Query), W);
    let closed = sim.query("M-04").await;
    assert_eq!(text(&closed, "trade_status"), "TRADE_CLOSED");
    assert!(matches!(
        outcome(&closed, AnswerTo::Query),
        Outcome::NotPaid { .. }
    ));
    // 05 USERPAYING, closed 45 s later.
    sim.codepay("M-05", "134523198765000500", 100).await;
    sim.clock.advance(Duration::from_secs(45));
    assert!(matches!(
        outcome(&sim.query("M-05").await, AnswerTo::Query),
        Outcome::NotPaid { .. }
    ));
    // 06 / 07 declined.
    let declined = sim.codepay("M-06", "134523198765000600", 100).await;
    assert_eq!(
        (text(&declined, "result_code"), text(&declined, "err_code")),
        ("40004", "INSUFFICIENT")
    );
    assert!(matches!(
        outcome(&declined, AnswerTo::Pay),
        Outcome::NotPaid { .. }
    ));
    let failed = sim.query("M-06").await;
    assert_eq!(text(&failed, "trade_status"), "TRADE_FAIL");
    let expired = sim.codepay("M-07", "134523198765000700", 100).await;
    assert_eq!(text(&expired, "err_code"), "ORDERCLOSED");
    assert!(matches!(
        outcome(&expired, AnswerTo::Pay),
        Outcome::NotPaid { .. }
    ));
    // 08 SYSTEMERROR, then a query says paid.
    let busy = sim.codepay("M-08", "134523198765000800", 100).await;
    assert_eq!(
        (text(&busy, "result_code"), text(&busy, "err_code")),
        ("20000", "SYSTEMERROR")
    );
    assert!(matches!(
        outcome(&busy, AnswerTo::Pay),
        Outcome::TryLater {
            rate_limited: false,
            ..
        }
    ));
    assert_eq!(
        outcome(&sim.query("M-08").await, AnswerTo::Query),
        Outcome::Paid
    );
    // 09 never confirms.
    sim.codepay("M-09", "134523198765000900", 100).await;
    sim.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(outcome(&sim.query("M-09").await, AnswerTo::Query), W);

    let ledger = sim.handle.ledger();
    let paid: Vec<&str> = ledger
        .orders
        .iter()
        .filter(|o| o.state == OrderState::Paid)
        .map(|o| o.out_trade_no.as_str())
        .collect();
    assert_eq!(paid, ["M-01", "M-02", "M-03", "M-08"]);
    assert_eq!(ledger.balance_fen, 400);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn drop_before_record_closes_without_an_answer_and_records_nothing() {
    let sim = start().await;
    sim.handle
        .set_faults(Faults::next(1, Fault::DropBeforeRecord));
    let received = raw_exchange(
        sim.handle.addr(),
        &raw_post(sim.handle.addr(), "/api/codepay/", &pay("D-1", WECHAT, 100)),
    )
    .await;
    assert!(
        received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(sim.handle.ledger().orders.is_empty());
    // One-shot: worn off; reqwest sees the same fault as an error, never an answer.
    assert_eq!(sim.handle.faults().fault, None);
    sim.handle
        .set_faults(Faults::next(1, Fault::DropBeforeRecord));
    let err = sim
        .send("/api/codepay/", &pay("D-1", WECHAT, 100))
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert!(sim.handle.ledger().orders.is_empty());
    assert_eq!(
        outcome(&sim.codepay("D-1", WECHAT, 100).await, AnswerTo::Pay),
        Outcome::Paid
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn drop_after_record_loses_the_answer_but_keeps_the_order() {
    let sim = start().await;
    sim.handle
        .set_faults(Faults::next(1, Fault::DropAfterRecord).on(&["codepay"]));
    let received = raw_exchange(
        sim.handle.addr(),
        &raw_post(sim.handle.addr(), "/api/codepay/", &pay("D-2", WECHAT, 100)),
    )
    .await;
    assert!(
        received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );
    let order = sim.handle.ledger().order("D-2").cloned().unwrap();
    assert_eq!((order.state, order.pay_requests), (OrderState::Paid, 1));
    // The resolution a client must use: a query.
    assert_eq!(
        outcome(&sim.query("D-2").await, AnswerTo::Query),
        Outcome::Paid
    );

    sim.handle
        .set_faults(Faults::next(1, Fault::DropAfterRecord));
    let err = sim
        .send("/api/codepay/", &pay("D-3", "134523198765432109", 100))
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(sim.state("D-3"), Some(OrderState::Paid));
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn http_errors_before_and_after_recording() {
    let sim = start().await;
    sim.handle
        .set_faults(Faults::next(1, Fault::HttpStatus(503)));
    let response = sim
        .send("/api/codepay/", &pay("H5-1", WECHAT, 100))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(sim.handle.ledger().orders.is_empty());
    sim.handle
        .set_faults(Faults::next(1, Fault::HttpStatusAfterRecord(500)));
    let response = sim
        .send("/api/codepay/", &pay("H5-1", WECHAT, 100))
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(verify_answer(
        &response.text().await.unwrap(),
        &MerchantKey::new(KEY),
        SignRules::default()
    )
    .is_err());
    assert_eq!(sim.state("H5-1"), Some(OrderState::Paid));
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn untrustworthy_bodies_after_recording() {
    let sim = start().await;
    let key = MerchantKey::new(KEY);
    let rules = SignRules::default();
    let cases = [
        (Fault::TruncatedBody, "T-1", "134523198765432111"),
        (Fault::UnsignedBody, "T-2", "134523198765432112"),
        (Fault::WrongSign, "T-3", "134523198765432113"),
    ];
    for (fault, out, code) in cases {
        sim.handle.set_faults(Faults::next(1, fault.clone()));
        // At the socket: a complete HTTP answer (framing intact), then the connection closes.
        let raw = raw_exchange(
            sim.handle.addr(),
            &raw_post(sim.handle.addr(), "/api/codepay/", &pay(out, code, 100)),
        )
        .await;
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap();
        assert_eq!(length, body.len());
        let verdict = verify_answer(body, &key, rules);
        match fault {
            Fault::TruncatedBody => assert!(
                matches!(verdict, Err(VerifyError::NotJson { .. })),
                "{verdict:?}"
            ),
            Fault::UnsignedBody => assert_eq!(verdict, Err(VerifyError::Unsigned)),
            _ => assert_eq!(verdict, Err(VerifyError::BadSignature)),
        }
        assert_eq!(sim.state(out), Some(OrderState::Paid), "{fault:?}");
    }
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn frequently_fault_latency_and_endpoint_filters() {
    let sim = start().await;
    sim.handle
        .set_faults(Faults::always(Fault::Frequently).on(&["query"]));
    let paid = sim.codepay("F-1", WECHAT, 100).await;
    assert_eq!(outcome(&paid, AnswerTo::Pay), Outcome::Paid);
    for _ in 0..2 {
        let answer = sim.query("F-1").await;
        assert_eq!(text(&answer, "err_code"), "FREQUENTLY");
    }
    assert_eq!(
        sim.handle.ledger().order("F-1").unwrap().queries,
        0,
        "not recorded"
    );
    sim.handle.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let started = Instant::now();
    let answer = sim.query("F-1").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(outcome(&answer, AnswerTo::Query), Outcome::Paid);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn down_refuses_connections_and_comes_back_on_the_same_port() {
    let sim = start().await;
    sim.codepay("U-1", WECHAT, 100).await; // leaves a pooled keep-alive connection
    sim.handle.go_down().await;
    let err = sim.send("/api/query/", &query("U-1")).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(tokio::net::TcpStream::connect(sim.handle.addr())
        .await
        .is_err());
    sim.handle.come_up().await.unwrap();
    assert_eq!(
        outcome(&sim.query("U-1").await, AnswerTo::Query),
        Outcome::Paid
    );

    // The same through the admin endpoint, as e2e tests running a separate process do.
    let response = sim
        .http
        .post(sim.url("/_sim/faults"))
        .body(r#"{"down_ms": 60000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let err = sim.send("/api/query/", &query("U-1")).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    sim.handle.come_up().await.unwrap();
    assert_eq!(
        outcome(&sim.query("U-1").await, AnswerTo::Query),
        Outcome::Paid
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn admin_endpoints_set_faults_and_show_the_ledger() {
    let sim = start().await;
    let set = |body: &'static str| sim.http.post(sim.url("/_sim/faults")).body(body).send();
    let response = set(r#"{"fault":{"http_status":502},"count":1,"endpoints":["query"]}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        sim.handle.faults(),
        Faults::next(1, Fault::HttpStatus(502)).on(&["query"])
    );
    sim.codepay("AD-1", WECHAT, 100).await;
    let response = sim.send("/api/query/", &query("AD-1")).await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(
        outcome(&sim.query("AD-1").await, AnswerTo::Query),
        Outcome::Paid
    );

    for bad in [
        r#"{"fault":"explode"}"#,
        r#"{"fault":"wrong_sign","endpoints":["codepey"]}"#,
        "nope",
    ] {
        let response = set(bad).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert!(!response.text().await.unwrap().is_empty());
    }
    let current: Value = sim
        .http
        .get(sim.url("/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["fault"], Value::Null);

    let orders: Value = sim
        .http
        .get(sim.url("/_sim/orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(orders["balance_fen"], 100);
    assert_eq!(orders["orders"][0]["out_trade_no"], "AD-1");
    assert_eq!(orders["orders"][0]["state"], "paid");
    assert_eq!(orders["orders"][0]["pay_requests"], 1);
    assert_eq!(
        orders["orders"][0]["queries"], 1,
        "the 502 query was not recorded"
    );
    assert_eq!(orders["codes_used"][0], WECHAT);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn an_order_edited_through_the_admin_endpoint_answers_queries_as_edited() {
    let sim = start().await;
    sim.codepay("ED-1", WECHAT, 1250).await;
    let edit = |out: &'static str, body: &'static str| {
        sim.http
            .post(sim.url(&format!("/_sim/orders/{out}")))
            .body(body)
            .send()
    };
    // Another amount: the query names it, and the balance follows.
    let response = edit("ED-1", r#"{"amount_fen": 1300}"#).await.unwrap();
    assert_eq!(response.status(), 200);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["amount_fen"], 1300);
    let answer = sim.query("ED-1").await;
    // In yuan on the wire.
    assert_eq!(answer["total_amount"].as_f64(), Some(13.0), "{answer:?}");
    assert_eq!(sim.handle.ledger().balance_fen, 1300);
    // Closed: not paid.
    assert_eq!(
        edit("ED-1", r#"{"state": "closed"}"#)
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(matches!(
        outcome(&sim.query("ED-1").await, AnswerTo::Query),
        Outcome::NotPaid { .. }
    ));
    assert_eq!(sim.handle.ledger().balance_fen, 0);
    // Paid again, then forgotten: ORDER_NOTFOUND.
    assert_eq!(
        edit("ED-1", r#"{"state": "paid"}"#).await.unwrap().status(),
        200
    );
    assert_eq!(
        outcome(&sim.query("ED-1").await, AnswerTo::Query),
        Outcome::Paid
    );
    let forgotten = edit("ED-1", r#"{"state": "forget"}"#).await.unwrap();
    assert_eq!(forgotten.status(), 200);
    assert_eq!(forgotten.json::<Value>().await.unwrap(), Value::Null);
    assert_eq!(
        outcome(&sim.query("ED-1").await, AnswerTo::Query),
        Outcome::NotFound
    );
    // Refused: no such order (404), an edit not understood or empty (400).
    assert_eq!(
        edit("ED-1", r#"{"state": "paid"}"#).await.unwrap().status(),
        404
    );
    sim.codepay("ED-2", "134523198765432102", 100).await;
    for bad in [r#"{"state": "refunded"}"#, r#"{"colour": 1}"#, "{}", "nope"] {
        let response = edit("ED-2", bad).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert!(!response.text().await.unwrap().is_empty());
    }
    sim.handle.shutdown().await;
}

/// A tiny merchant endpoint that passes every callback body to the test.
async fn notify_receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                "success"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn notify_is_sent_once_signed_in_fen_with_a_unix_date() {
    let sim = start().await;
    let (url, mut rx) = notify_receiver().await;
    let mut p = pay("N-1", WECHAT, 1250);
    p.insert("notify_url".into(), url.clone());
    sim.call("/api/codepay/", &p).await;
    let body = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let verified = verify_answer(&body, &MerchantKey::new(KEY), SignRules::default()).unwrap();
    let callback = verified.result_response;
    assert_eq!(text(&callback, "total_amount"), "1250");
    assert_eq!(text(&callback, "pay_date"), "1795608000");
    assert_eq!(text(&callback, "out_trade_no"), "N-1");
    assert_eq!(text(&callback, "trade_status"), "TRADE_SUCCESS");
    let answer = TradeAnswer::from_result_response(&callback, AmountUnit::Fen).unwrap();
    assert_eq!(answer.outcome(AnswerTo::Notify), Outcome::Paid);
    assert_eq!(
        sim.handle
            .wait_notifications(1, Duration::from_secs(5))
            .await,
        1
    );

    // Queries and resends of the paid order send nothing more.
    sim.query("N-1").await;
    sim.call("/api/codepay/", &p).await;
    assert_eq!(sim.handle.ledger().order("N-1").unwrap().notify_attempts, 1);
    assert!(rx.try_recv().is_err());

    // A time-scripted payment calls back without any query, when the clock passes.
    let mut p = pay("N-2", "134523198765000302", 100);
    p.insert("notify_url".into(), url);
    sim.call("/api/codepay/", &p).await;
    sim.clock.advance(Duration::from_secs(2));
    let body = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(body.contains(r#""out_trade_no":"N-2""#), "{body}");
    assert_eq!(sim.handle.ledger().order("N-2").unwrap().queries, 0);

    // An unreachable notify_url: tried once, not retried, nothing else breaks.
    let mut p = pay("N-3", "134523198765432177", 100);
    p.insert("notify_url".into(), "http://127.0.0.1:1/notify".into());
    sim.call("/api/codepay/", &p).await;
    assert_eq!(
        sim.handle
            .wait_notifications(3, Duration::from_secs(5))
            .await,
        3
    );
    assert_eq!(sim.handle.ledger().order("N-3").unwrap().notify_attempts, 1);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let sim = start().await;
    let addr = sim.handle.addr();
    sim.codepay("S-1", WECHAT, 100).await;
    sim.handle.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
