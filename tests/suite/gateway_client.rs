//! The gateway client against small servers on 127.0.0.1:0 that answer each way a gateway
//! can: signed answers for every endpoint and err_code, HTTP errors, bodies that cannot be
//! trusted, hangs and dropped connections. Each must be classified as the engine expects:
//! `Ok` (verified answer), `Offline` (never left), `Unknown` (may have been received),
//! `Invalid` (refused before sending).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use scanpay::gateway::{Gateway, GatewayClientConfig, GatewayError, HttpGateway};
use scanpay::protocol::messages::{
    AppAnswer, ClockTime, PayRequest, QueryRequest, SettleQueryRequest, SettleRequest,
    WebPayRequest, WithdrawStatus, WithdrawalWay,
};
use scanpay::protocol::signing::{sign_params, signed_answer};
use scanpay::protocol::{
    read_order, read_outcome, AnswerTo, ErrCode, Expected, Fen, FieldError, Merchant, MerchantKey,
    Outcome, PaymentCode, Payway, ResultCode, SignRules, TradeStatus,
};

const KEY: &str = "8f3b2c1d4e5a6978695a4b3c2d1e0f7a";
const CODE: &str = "134523198765432101";

fn merchant() -> Merchant {
    Merchant {
        app_id: "JYK2018100001".into(),
        key: MerchantKey::new(KEY),
        rules: SignRules::default(),
    }
}

fn gateway(base_url: &str) -> HttpGateway {
    HttpGateway::new(GatewayClientConfig {
        base_url: base_url.to_string(),
        merchant: merchant(),
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(800),
    })
    .unwrap()
}

fn pay_request(out_trade_no: &str) -> PayRequest {
    PayRequest {
        out_trade_no: out_trade_no.into(),
        auth_code: PaymentCode::parse(CODE).unwrap(),
        total_amount: Fen(1250),
        subject: "拿铁咖啡 大杯".into(),
        operator_id: "001".into(),
        notify_url: "http://pos.example.com/notify".into(),
        payway: Some(Payway::WeChat),
    }
}

fn web_request() -> WebPayRequest {
    WebPayRequest {
        out_trade_no: "W-1".into(),
        total_amount: Fen(1),
        subject: "Tea & cake".into(),
        operator_id: "001".into(),
        notify_url: "http://pos.example.com/notify".into(),
        return_url: "http://pos.example.com/done".into(),
        payway: None,
    }
}

/// A signed answer body, as the gateway sends it.
fn signed(result_response: Value) -> String {
    let Value::Object(map) = result_response else {
        panic!("answers are objects")
    };
    signed_answer(map, &MerchantKey::new(KEY), SignRules::default())
}

/// The body with its signature replaced: what a tampered or mis-keyed answer looks like.
fn wrongly_signed(result_response: Value) -> String {
    let body = signed(result_response);
    let (head, _) = body.rsplit_once("\"sign\":").unwrap();
    format!("{head}\"sign\":\"0123456789abcdef0123456789abcdef\"}}")
}

/// One request as a test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    authorization: Option<String>,
    body: String,
}

impl Seen {
    /// The parameters sent: the JSON body of a POST, the decoded query (minus sign) of a GET.
    fn params(&self) -> BTreeMap<String, String> {
        if self.method == "GET" {
            self.query
                .iter()
                .filter(|(k, _)| *k != "sign")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            serde_json::from_str(&self.body).unwrap()
        }
    }

    /// The signature sent: the Authorization header of a POST, `sign` of a GET.
    fn sign(&self) -> String {
        if self.method == "GET" {
            self.query["sign"].clone()
        } else {
            let header = self
                .authorization
                .clone()
                .expect("POST carries Authorization");
            header
                .strip_prefix("sign ")
                .expect("`sign <md5>`")
                .to_string()
        }
    }

    /// Whether the server would accept the signature.
    fn signature_is_valid(&self) -> bool {
        self.sign() == sign_params(&self.params(), &MerchantKey::new(KEY), SignRules::default())
    }
}

type Answer = Arc<dyn Fn(&Seen) -> Response + Send + Sync>;

/// An HTTP server on 127.0.0.1:0 that records every request and answers with `answer`.
async fn serve(
    answer: impl Fn(&Seen) -> Response + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer: Answer = Arc::new(answer);
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let answer = answer.clone();
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query,
                authorization: parts
                    .headers
                    .get("authorization")
                    .map(|h| h.to_str().unwrap().to_string()),
                body: String::from_utf8(body.to_vec()).unwrap(),
            };
            log.lock().unwrap().push(seen.clone());
            answer(&seen)
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base_url, seen)
}

/// A raw TCP server on 127.0.0.1:0 whose every connection is handled by `handle`, for the
/// misbehaviours an HTTP framework will not produce.
async fn serve_raw<F, Fut>(handle: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(handle(stream));
        }
    });
    base_url
}

/// Reads one whole HTTP/1.1 request (head and Content-Length body).
async fn read_request(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&data).to_string()
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

fn ok(body: String) -> Response {
    json_response(StatusCode::OK, body)
}

/// The error's text never carries the key or the full payment code.
fn assert_no_secrets(err: &GatewayError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains(CODE), "{text}");
}

fn expect_unknown(result: Result<impl std::fmt::Debug, GatewayError>, mentions: &str) -> String {
    let err = result.expect_err("expected Unknown");
    assert!(err.is_unknown(), "expected Unknown, got {err:?}");
    assert_no_secrets(&err);
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains(&mentions.to_lowercase()),
        "{text:?} should mention {mentions:?}"
    );
    assert!(text.contains("query"), "{text}");
    text
}

fn expect_offline(result: Result<impl std::fmt::Debug, GatewayError>) -> String {
    let err = result.expect_err("expected Offline");
    assert!(err.is_offline(), "expected Offline, got {err:?}");
    assert_no_secrets(&err);
    err.to_string()
}

#[tokio::test]
async fn every_endpoint_sends_signed_params_and_reads_signed_answers() {
    let (base_url, seen) = serve(|seen| {
        assert!(seen.signature_is_valid(), "client signature must verify: {seen:?}");
        let params = seen.params();
        let answer = match (seen.method.as_str(), seen.path.as_str()) {
            ("POST", "/api/codepay/") => json!({
                "result_code": "10000", "app_id": params["app_id"], "out_trade_no": params["out_trade_no"],
                "trade_no": "2026112522001", "trade_status": "TRADE_SUCCESS", "total_amount": 12.50,
                "pay_date": "2026-11-25 10:00:00", "paytype": "wechat", "unknown_field": {"nested": [1, null]},
            }),
            ("POST", "/api/query/") => json!({
                "result_code": "10000", "out_trade_no": params.get("out_trade_no"), "trade_no": "2026112522001",
                "trade_status": "WAIT_BUYER_PAY", "total_amount": "12.5",
            }),
            ("POST", "/api/settle/") => json!({
                "result_code": "10000", "trade_no": "W-77", "withdraw_status": "2", "total_amount": params["total_amount"],
                "actual_amount": "99.40", "service_amount": 0.60, "settle_time": "2026-11-25 10:00:00",
            }),
            ("POST", "/api/settlequery/") => json!({
                "result_code": "10000", "trade_no": params["trade_no"], "withdraw_status": 9,
                "total_amount": "10000", "actual_amount": "99.40", "service_amount": "0.60",
            }),
            ("POST", "/api/balance_query/") => json!({
                "result_code": "10000", "balance": "1234.56", "start_time": "09:00", "end_time": "17:30",
                "withdraw_limit": "50000", "withdrawal_way": "0",
            }),
            ("GET", "/getway/app") => json!({
                "result_code": "10000", "url": format!("weixin://pay?no={}", params["out_trade_no"]),
            }),
            other => panic!("unexpected request {other:?}"),
        };
        ok(signed(answer))
    })
    .await;
    let gw = gateway(&format!("{base_url}/"));

    // The unknown field is covered by the signature and read past.
    let answer = gw.pay(&pay_request("POS1-1")).await.unwrap();
    assert_eq!(answer.result_code, ResultCode::Success);
    assert_eq!(answer.trade_status, Some(TradeStatus::TradeSuccess));
    assert_eq!(answer.total_amount, Some(Fen(1250)));
    assert_eq!(answer.trade_no.as_deref(), Some("2026112522001"));
    assert_eq!(answer.out_trade_no.as_deref(), Some("POS1-1"));

    let answer = gw
        .query(&QueryRequest::ByOutTradeNo("POS1-1".into()))
        .await
        .unwrap();
    assert_eq!(answer.trade_status, Some(TradeStatus::WaitBuyerPay));
    assert_eq!(answer.total_amount, Some(Fen(1250)));
    let answer = gw
        .query(&QueryRequest::ByTradeNo("2026112522001".into()))
        .await
        .unwrap();
    assert_eq!(answer.trade_no.as_deref(), Some("2026112522001"));

    let settle = gw
        .settle(&SettleRequest {
            total_amount: Fen(10000),
        })
        .await
        .unwrap();
    assert_eq!(settle.withdraw_status, Some(WithdrawStatus::Processing));
    assert_eq!(
        (
            settle.total_amount,
            settle.actual_amount,
            settle.service_amount
        ),
        (Some(Fen(10000)), Some(Fen(9940)), Some(Fen(60)))
    );
    assert_eq!(settle.trade_no.as_deref(), Some("W-77"));

    let settled = gw
        .settle_query(&SettleQueryRequest {
            trade_no: "W-77".into(),
        })
        .await
        .unwrap();
    assert_eq!(settled.withdraw_status, Some(WithdrawStatus::ManualReview));
    assert_eq!(settled.trade_no.as_deref(), Some("W-77"));

    let balance = gw.balance().await.unwrap();
    assert_eq!(balance.balance, Some(Fen(123456)));
    assert_eq!(balance.start_time, Some(ClockTime { hour: 9, minute: 0 }));
    assert_eq!(
        balance.end_time,
        Some(ClockTime {
            hour: 17,
            minute: 30
        })
    );
    assert_eq!(balance.withdrawal_way, Some(WithdrawalWay::SameDay));

    let app = gw.app_url(&web_request()).await.unwrap();
    assert_eq!(app.url.as_deref(), Some("weixin://pay?no=W-1"));

    let seen = seen.lock().unwrap().clone();
    let paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("POST", "/api/codepay/"),
            ("POST", "/api/query/"),
            ("POST", "/api/query/"),
            ("POST", "/api/settle/"),
            ("POST", "/api/settlequery/"),
            ("POST", "/api/balance_query/"),
            ("GET", "/getway/app"),
        ]
    );
    // What went over the wire: exactly the spec's parameters, payment code included once.
    let pay_params = seen[0].params();
    let keys: Vec<&str> = pay_params.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "app_id",
            "auth_code",
            "notify_url",
            "operator_id",
            "out_trade_no",
            "payway",
            "subject",
            "total_amount"
        ]
    );
    assert_eq!(pay_params["auth_code"], CODE);
    assert_eq!(pay_params["subject"], "拿铁咖啡 大杯");
    assert_eq!(pay_params["total_amount"], "1250");
    assert_eq!(
        seen[2].params().keys().collect::<Vec<_>>(),
        ["app_id", "trade_no"]
    );
    assert_eq!(seen[5].params().keys().collect::<Vec<_>>(), ["app_id"]);
    let app_params = seen[6].params();
    assert_eq!(app_params["subject"], "Tea & cake");
    assert_eq!(app_params["return_url"], "http://pos.example.com/done");
    assert!(seen[6].authorization.is_none());

    // h5 needs no network and signs the same way.
    let h5 = gw.h5_url(&web_request()).unwrap();
    assert!(
        h5.starts_with(&format!("{base_url}/getway/?app_id=JYK2018100001&")),
        "{h5}"
    );
    assert!(h5.contains("subject=Tea%20%26%20cake"), "{h5}");
    assert_eq!(Gateway::h5_url(&gw, &web_request()).unwrap(), h5);
}

#[tokio::test]
async fn every_err_code_is_an_answer_not_an_error() {
    // The server answers each pay with the err_code named by its out_trade_no.
    let (base_url, _) = serve(|seen| {
        let params = seen.params();
        let code = &params["out_trade_no"];
        let result_code = match code.as_str() {
            "USERPAYING" => "10000",
            "LACK_PARAMS" => "40001",
            "PARAMSERROR" => "40002",
            "SYSTEMERROR" => "20000",
            _ => "40004",
        };
        ok(signed(json!({
            "result_code": result_code, "err_code": code, "err_code_des": format!("说明 {code}"),
            "out_trade_no": code,
        })))
    })
    .await;
    let gw = gateway(&base_url);
    let codes = [
        "ORDERPAID",
        "ORDERCLOSED",
        "ORDER_CONFLICT",
        "ORDER_NOTFOUND",
        "SYSTEMERROR",
        "APPID_NOT_EXIST",
        "LACK_PARAMS",
        "SIGNERROR",
        "NOSIGN",
        "REQUIRE_POST_METHOD",
        "JSONERROR",
        "PARAMSERROR",
        "USERPAYING",
        "FREQUENTLY",
        "INSUFFICIENT",
        "UNACTIVATE",
        "AGENT_NOTFOUND",
        "SOMETHING_NEW",
    ];
    for code in codes {
        let answer = gw
            .pay(&pay_request(code))
            .await
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(answer.err_code, Some(ErrCode::parse(code)), "{code}");
        assert_eq!(answer.err_code_des, Some(format!("说明 {code}")));
        let answer = gw
            .query(&QueryRequest::ByOutTradeNo(code.into()))
            .await
            .unwrap();
        assert_eq!(answer.err_code, Some(ErrCode::parse(code)));
    }
    assert_eq!(
        ErrCode::parse("SOMETHING_NEW"),
        ErrCode::Other("SOMETHING_NEW".into())
    );
}

#[tokio::test]
async fn settle_balance_and_app_failures_are_typed_answers() {
    let (base_url, _) = serve(|_| {
        ok(signed(json!({
            "result_code": "40004", "err_code": "INSUFFICIENT", "err_code_des": "余额不足",
        })))
    })
    .await;
    let gw = gateway(&base_url);
    let settle = gw
        .settle(&SettleRequest {
            total_amount: Fen(100),
        })
        .await
        .unwrap();
    assert!(!settle.is_success());
    assert_eq!(settle.err_code_des.as_deref(), Some("余额不足"));
    let query = gw
        .settle_query(&SettleQueryRequest {
            trade_no: "W".into(),
        })
        .await
        .unwrap();
    assert_eq!(query.err_code, Some(ErrCode::Insufficient));
    let balance = gw.balance().await.unwrap();
    assert_eq!(balance.result_code, ResultCode::BusinessFailure);
    let app: AppAnswer = gw.app_url(&web_request()).await.unwrap();
    assert_eq!((app.url, app.err_code), (None, Some(ErrCode::Insufficient)));
}

#[tokio::test]
async fn a_signed_answer_on_a_client_error_status_is_still_an_answer() {
    let (base_url, _) = serve(|_| {
        json_response(
            StatusCode::BAD_REQUEST,
            signed(json!({"result_code": "40001", "err_code": "LACK_PARAMS"})),
        )
    })
    .await;
    let answer = gateway(&base_url).pay(&pay_request("P-1")).await.unwrap();
    assert_eq!(answer.err_code, Some(ErrCode::LackParams));
}

#[tokio::test]
async fn untrustworthy_answers_are_unknown() {
    let good = json!({"result_code": "10000", "out_trade_no": "P-1", "trade_status": "TRADE_SUCCESS", "total_amount": "12.50"});
    let cases: Vec<(&str, StatusCode, String, &str)> = vec![
        (
            "server error with a signed body",
            StatusCode::BAD_GATEWAY,
            signed(good.clone()),
            "HTTP 502",
        ),
        (
            "server error with html",
            StatusCode::INTERNAL_SERVER_ERROR,
            "<html>oops</html>".into(),
            "HTTP 500",
        ),
        (
            "unsigned",
            StatusCode::OK,
            json!({"result_response": good.clone()}).to_string(),
            "carries no sign",
        ),
        (
            "wrong sign",
            StatusCode::OK,
            wrongly_signed(good.clone()),
            "does not match",
        ),
        (
            "tampered amount",
            StatusCode::OK,
            signed(good.clone()).replace("12.50", "0.01"),
            "does not match",
        ),
        (
            "signed with another key",
            StatusCode::OK,
            signed_answer(
                good.as_object().unwrap().clone(),
                &MerchantKey::new("another key"),
                SignRules::default(),
            ),
            "does not match",
        ),
        (
            "truncated json",
            StatusCode::OK,
            {
                let b = signed(good.clone());
                b[..b.len() - 10].to_string()
            },
            "not JSON",
        ),
        ("empty body", StatusCode::OK, String::new(), "not JSON"),
        (
            "not json",
            StatusCode::OK,
            "Service Temporarily Unavailable".into(),
            "not JSON",
        ),
        (
            "no result_response",
            StatusCode::OK,
            json!({"sign": "x"}).to_string(),
            "no result_response",
        ),
        (
            "signed but malformed amount",
            StatusCode::OK,
            signed(
                json!({"result_code": "10000", "out_trade_no": "P-1", "total_amount": "12.345"}),
            ),
            "12.345",
        ),
        (
            "signed but no result_code",
            StatusCode::OK,
            signed(json!({"out_trade_no": "P-1"})),
            "result_code",
        ),
        (
            // Signed over lowercased text, so the signature still matches: the key rule alone
            // keeps the reader from missing out_trade_no and total_amount.
            "signed, keys' case changed",
            StatusCode::OK,
            signed(good.clone())
                .replace("\"out_trade_no\":", "\"out_trade_nO\":")
                .replace("\"total_amount\":", "\"total_amounT\":"),
            "\"out_trade_nO\" is not lowercase",
        ),
        (
            "signed, two keys equal up to case",
            StatusCode::OK,
            signed(good.clone()).replace(
                "\"out_trade_no\":",
                "\"OUT_TRADE_NO\":\"P-1\",\"out_trade_no\":",
            ),
            "is not lowercase",
        ),
        (
            "signed, a key given twice",
            StatusCode::OK,
            signed(good.clone()).replace(
                "\"out_trade_no\":",
                "\"out_trade_no\":\"P-2\",\"out_trade_no\":",
            ),
            "twice",
        ),
        (
            "not found",
            StatusCode::NOT_FOUND,
            "no such page".into(),
            "HTTP 404",
        ),
    ];
    for (name, status, body, mentions) in cases {
        let (base_url, seen) = serve(move |_| json_response(status, body.clone())).await;
        let gw = gateway(&base_url);
        let text = expect_unknown(gw.pay(&pay_request("P-1")).await, mentions);
        assert!(
            text.contains(&format!("{base_url}/api/codepay/")),
            "{name}: {text}"
        );
        expect_unknown(
            gw.query(&QueryRequest::ByOutTradeNo("P-1".into())).await,
            mentions,
        );
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "{name}: each request sent once"
        );
    }
}

/// A signed answer about another order is passed on as it came: the client decides nothing.
/// The protocol's one order check (`read_order`, which `read_outcome` starts with) keeps it
/// from settling the sale (the daemon) or reporting the order asked for (`scanpay query`).
#[tokio::test]
async fn an_answer_about_another_order_is_never_taken_for_the_one_asked() {
    let (base_url, seen) = serve(|_| {
        ok(signed(json!({
            "result_code": "10000", "err_code": "SUCCESS", "trade_status": "TRADE_SUCCESS",
            "out_trade_no": "P-2", "trade_no": "T2", "total_amount": 12.50,
        })))
    })
    .await;
    let gw = gateway(&base_url);
    let sale = Expected {
        out_trade_no: "P-1",
        total_amount: Fen(1250),
    };
    let pay = gw.pay(&pay_request("P-1")).await.unwrap();
    let query = gw
        .query(&QueryRequest::ByOutTradeNo("P-1".into()))
        .await
        .unwrap();
    for (answer, to) in [(&pay, AnswerTo::Pay), (&query, AnswerTo::Query)] {
        assert_eq!(answer.out_trade_no.as_deref(), Some("P-2"));
        assert_eq!(
            read_outcome(answer, to, sale),
            Outcome::TryLater {
                rate_limited: false,
                reason: "answer names order P-2".into()
            }
        );
        let other = read_order(answer, to, Some("P-1")).unwrap_err();
        assert_eq!(
            other.to_string(),
            r#"signed answer is about out_trade_no "P-2", not "P-1""#
        );
        // The same answer about the order asked for is taken.
        assert_eq!(read_order(answer, to, Some("p-2")), Ok(Outcome::Paid));
    }
    assert_eq!(seen.lock().unwrap().len(), 2, "each request sent once");
}

#[tokio::test]
async fn untrustworthy_answers_to_settle_balance_and_app_are_unknown() {
    let (base_url, _) = serve(|seen| {
        if seen.path == "/api/balance_query/" {
            return ok(signed(json!({"result_code": "10000", "balance": "12.3.4"})));
        }
        ok(wrongly_signed(json!({"result_code": "10000", "url": "x"})))
    })
    .await;
    let gw = gateway(&base_url);
    expect_unknown(
        gw.settle(&SettleRequest {
            total_amount: Fen(1),
        })
        .await,
        "does not match",
    );
    expect_unknown(
        gw.settle_query(&SettleQueryRequest {
            trade_no: "W".into(),
        })
        .await,
        "does not match",
    );
    expect_unknown(gw.app_url(&web_request()).await, "does not match");
    expect_unknown(gw.balance().await, "12.3.4");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (base_url, seen) = serve(|_| {
        (
            StatusCode::FOUND,
            [("location", "https://elsewhere.example.com/api/codepay/")],
        )
            .into_response()
    })
    .await;
    expect_unknown(
        gateway(&base_url).pay(&pay_request("P-1")).await,
        "elsewhere.example.com",
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_echoed_payment_code_is_masked_in_errors() {
    // A broken gateway that echoes the request into its error page.
    let (base_url, _) =
        serve(|seen| json_response(StatusCode::INTERNAL_SERVER_ERROR, seen.body.clone())).await;
    let text = expect_unknown(
        gateway(&base_url).pay(&pay_request("P-1")).await,
        "HTTP 500",
    );
    assert!(text.contains(r#"auth_code\":\"1345…2101"#), "{text}");
    // Echoed after 30 junk characters, so that the quote's 80-character cut falls inside
    // the code: the quote is taken from a masked copy, so no part of the code shows.
    let (base_url, _) = serve(|seen| ok(format!("{}{}", "x".repeat(30), seen.body))).await;
    let text = expect_unknown(
        gateway(&base_url).pay(&pay_request("P-1")).await,
        "not JSON",
    );
    assert!(!text.contains("13452319"), "{text}");
}

#[tokio::test]
async fn a_payment_code_echoed_in_a_signed_answer_is_masked() {
    // A gateway that names the refused code in its own words: err_code_des reaches the
    // cashier's screen, the register and the journal, so the code must not survive in it.
    let (base_url, _) = serve(|seen| {
        let code = &seen.params()["auth_code"];
        ok(signed(json!({
            "result_code": "40004", "err_code": "PARAMSERROR",
            "err_code_des": format!("条码 {code} 无效 (auth_code={code})"),
            "out_trade_no": "P-1",
        })))
    })
    .await;
    let answer = gateway(&base_url).pay(&pay_request("P-1")).await.unwrap();
    let des = answer.err_code_des.expect("the gateway's reason is kept");
    assert!(!des.contains(CODE), "{des}");
    assert_eq!(des, "条码 1345…2101 无效 (auth_code=1345…2101)");
    assert_eq!(answer.err_code, Some(ErrCode::ParamsError));
}

#[tokio::test]
async fn codes_whose_case_the_signature_does_not_cover_are_read_whatever_their_case() {
    // With sign_lowercase_values (the default) the signature covers the lowercased text, so
    // the case of every value is unauthenticated: on plain http anyone on the path can flip
    // it and the answer still verifies. "USERPAYING" flipped to "userpaying" must still mean
    // "the customer is confirming", never "not paid" (the customer would then pay twice).
    let (base_url, _) = serve(|_| {
        let body = signed(json!({
            "result_code": "40004", "err_code": "USERPAYING", "out_trade_no": "P-1",
            "trade_status": "WAIT_BUYER_PAY",
        }));
        ok(body
            .replace("USERPAYING", "userpaying")
            .replace("WAIT_BUYER_PAY", "wait_buyer_pay"))
    })
    .await;
    let answer = gateway(&base_url).pay(&pay_request("P-1")).await.unwrap();
    assert_eq!(answer.err_code, Some(ErrCode::UserPaying));
    assert_eq!(answer.trade_status, Some(TradeStatus::WaitBuyerPay));
    assert_eq!(answer.outcome(AnswerTo::Pay), Outcome::WaitingCustomer);
}

#[tokio::test]
async fn a_hang_past_the_request_timeout_is_unknown() {
    let base_url = serve_raw(|mut stream| async move {
        read_request(&mut stream).await;
        // Keep the connection open and never answer.
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await;
    let gw = gateway(&base_url);
    let started = std::time::Instant::now();
    expect_unknown(gw.pay(&pay_request("P-1")).await, "request_timeout");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_hang_in_the_middle_of_the_answer_is_unknown() {
    let base_url = serve_raw(|mut stream| async move {
        read_request(&mut stream).await;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n{\"result_response\":")
            .await
            .unwrap();
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await;
    expect_unknown(
        gateway(&base_url).pay(&pay_request("P-1")).await,
        "request_timeout",
    );
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_unknown() {
    let base_url = serve_raw(|mut stream| async move {
        read_request(&mut stream).await;
        drop(stream);
    })
    .await;
    let gw = gateway(&base_url);
    expect_unknown(gw.pay(&pay_request("P-1")).await, "");
    expect_unknown(gw.balance().await, "");
}

#[tokio::test]
async fn a_connection_reset_mid_request_is_unknown() {
    let base_url = serve_raw(|mut stream| async move {
        // Read part of the request, then reset the connection (linger 0 sends RST).
        let mut buf = [0u8; 16];
        let _ = stream.read(&mut buf).await;
        // Linger 0 does not block on drop (the reason for the deprecation); it sends RST.
        #[allow(deprecated)]
        stream.set_linger(Some(Duration::ZERO)).unwrap();
        drop(stream);
    })
    .await;
    expect_unknown(gateway(&base_url).pay(&pay_request("P-1")).await, "");
}

#[tokio::test]
async fn a_body_cut_short_of_its_length_is_unknown() {
    let base_url = serve_raw(|mut stream| async move {
        read_request(&mut stream).await;
        let body = signed(
            json!({"result_code": "10000", "out_trade_no": "P-1", "trade_status": "TRADE_SUCCESS"}),
        );
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len() + 50
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        drop(stream);
    })
    .await;
    expect_unknown(gateway(&base_url).pay(&pay_request("P-1")).await, "");
}

#[tokio::test]
async fn nothing_listening_is_offline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let gw = gateway(&format!("http://127.0.0.1:{port}"));
    let text = expect_offline(gw.pay(&pay_request("P-1")).await);
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    expect_offline(gw.query(&QueryRequest::ByOutTradeNo("P-1".into())).await);
    expect_offline(
        gw.settle(&SettleRequest {
            total_amount: Fen(1),
        })
        .await,
    );
    expect_offline(
        gw.settle_query(&SettleQueryRequest {
            trade_no: "W".into(),
        })
        .await,
    );
    expect_offline(gw.balance().await);
    expect_offline(gw.app_url(&web_request()).await);
}

#[tokio::test]
async fn an_unresolvable_host_is_offline() {
    // `.invalid` never resolves (RFC 2606).
    expect_offline(
        gateway("http://gateway.invalid")
            .pay(&pay_request("P-1"))
            .await,
    );
}

#[tokio::test]
async fn https_to_a_server_that_does_not_speak_tls_is_offline() {
    // Proves the rustls path is wired in: the TLS handshake fails before any request is sent.
    let (base_url, seen) = serve(|_| ok(String::new())).await;
    let https = base_url.replace("http://", "https://");
    expect_offline(gateway(&https).pay(&pay_request("P-1")).await);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn invalid_requests_are_refused_before_sending() {
    let (base_url, seen) = serve(|_| ok(String::new())).await;
    let gw = gateway(&base_url);
    let long_subject = PayRequest {
        subject: "x".repeat(257),
        ..pay_request("P-1")
    };
    assert_eq!(
        gw.pay(&long_subject).await,
        Err(GatewayError::Invalid(FieldError::TooLong {
            field: "subject",
            len: 257,
            max: 256
        }))
    );
    let err = gw
        .settle(&SettleRequest {
            total_amount: Fen(5_000_001),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayError::Invalid(FieldError::AboveLimit { .. })),
        "{err:?}"
    );
    assert!(matches!(
        gw.query(&QueryRequest::ByOutTradeNo(String::new())).await,
        Err(GatewayError::Invalid(FieldError::Missing {
            field: "out_trade_no"
        }))
    ));
    assert!(matches!(
        gw.app_url(&WebPayRequest {
            return_url: String::new(),
            ..web_request()
        })
        .await,
        Err(GatewayError::Invalid(FieldError::Missing {
            field: "return_url"
        }))
    ));
    assert!(seen.lock().unwrap().is_empty());
}

/// The engine is generic over `Gateway`; a fake must be easy to write and use.
#[tokio::test]
async fn the_trait_can_be_used_generically() {
    async fn pay_through<G: Gateway>(
        gateway: &G,
        request: &PayRequest,
    ) -> Result<ErrCode, GatewayError> {
        let answer = gateway.pay(request).await?;
        Ok(answer.err_code.unwrap_or(ErrCode::Success))
    }
    let (base_url, _) = serve(|_| {
        ok(signed(
            json!({"result_code": "10000", "err_code": "USERPAYING"}),
        ))
    })
    .await;
    let gw = gateway(&base_url);
    // The futures are Send, so the daemon may spawn them.
    let task = {
        let gw = gw.clone();
        tokio::spawn(async move { pay_through(&gw, &pay_request("P-1")).await })
    };
    assert_eq!(task.await.unwrap(), Ok(ErrCode::UserPaying));
}

#[tokio::test]
async fn a_connect_that_times_out_is_offline() {
    // A listener that never accepts, with its backlog filled: the kernel drops further SYNs,
    // so the client's connect hangs until its connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(stream) => fillers.push(stream.unwrap()),
            Err(_) => break,
        }
        assert!(fillers.len() < 64, "the backlog never filled");
    }
    let started = std::time::Instant::now();
    let text = expect_offline(
        gateway(&format!("http://{addr}"))
            .pay(&pay_request("P-1"))
            .await,
    );
    assert!(text.contains("connect timeout"), "{text}");
    // Classified by the connect timeout (300 ms), well before the request timeout (800 ms).
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}
