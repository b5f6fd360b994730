//! The typed gateway client (`HttpGateway`) against the gateway simulator over real loopback
//! HTTP: every endpoint, every scripted outcome, the error codes a merchant meets, and every
//! injected fault. Each answer is read the way the engine reads it (`TradeAnswer::outcome`,
//! the typed settle/balance/app answers) and each failure must land in the right class:
//! `Ok` (a verified answer), `Offline` (never left), `Unknown` (may have been received:
//! resolve by query with the same out_trade_no, never resend under a new number).
//!
//! Simulated time (the "paid N seconds later" scripts, the rate limit) moves with the
//! simulator's `ManualClock`; nothing sleeps to synchronise.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use scanpay::gateway::{Gateway, GatewayClientConfig, GatewayError, HttpGateway};
use scanpay::protocol::messages::{WithdrawStatus, WithdrawalWay};
use scanpay::protocol::{
    AnswerTo, ErrCode, Fen, FieldError, Merchant, MerchantKey, Outcome, PaymentCode, Payway,
    QueryRequest, ResultCode, SettleQueryRequest, SettleRequest, SignRules, TradeAnswer,
    TradeStatus, WebPayRequest,
};
use scanpay::simulator::{
    Fault, Faults, LedgerSnapshot, ManualClock, OrderState, Simulator, SimulatorConfig,
    SimulatorHandle,
};

const APP_ID: &str = "TEST0001";
const KEY: &str = "8f3b2c1d4e5a6978695a4b3c2d1e0f7a";
/// The simulator's starting balance unless a test says otherwise: ¥10,000.
const BALANCE: Fen = Fen(1_000_000);

/// A started simulator with its clock, and a client pointed at it.
struct Rig {
    sim: SimulatorHandle,
    clock: ManualClock,
    client: HttpGateway,
    /// Makes every payment code of a test fresh (codes are single use).
    next_code: AtomicU32,
}

async fn start_with(balance: Fen, query_min_interval: Option<Duration>) -> Rig {
    let clock = ManualClock::default();
    let sim = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimulatorConfig {
            app_id: APP_ID.into(),
            key: MerchantKey::new(KEY),
            rules: SignRules::default(),
            balance,
            query_min_interval,
            clock: Arc::new(clock.clone()),
        },
    )
    .await
    .expect("the simulator starts on 127.0.0.1:0");
    // Generous timeouts: only the latency test needs a short one, and a busy machine must
    // not turn an ordinary answer into Unknown.
    let client = client(&sim, merchant(), Duration::from_secs(10));
    Rig {
        sim,
        clock,
        client,
        next_code: AtomicU32::new(1),
    }
}

async fn start() -> Rig {
    start_with(BALANCE, None).await
}

fn merchant() -> Merchant {
    Merchant {
        app_id: APP_ID.into(),
        key: MerchantKey::new(KEY),
        rules: SignRules::default(),
    }
}

fn client(sim: &SimulatorHandle, merchant: Merchant, request_timeout: Duration) -> HttpGateway {
    HttpGateway::new(GatewayClientConfig {
        base_url: sim.base_url(),
        merchant,
        connect_timeout: request_timeout / 3,
        request_timeout,
    })
    .expect("a valid client config")
}

impl Rig {
    /// A fresh WeChat code running magic script `script` with parameter `param`
    /// (`…00SSNN`; script 1 is "paid at once").
    fn code(&self, script: u8, param: u8) -> PaymentCode {
        let n = self.next_code.fetch_add(1, Ordering::Relaxed);
        PaymentCode::parse(&format!("13452319{n:04}00{script:02}{param:02}")).unwrap()
    }

    async fn pay(&self, request: &scanpay::protocol::PayRequest) -> TradeAnswer {
        self.client
            .pay(request)
            .await
            .unwrap_or_else(|e| panic!("pay {} got no answer: {e}", request.out_trade_no))
    }

    async fn query(&self, out_trade_no: &str) -> TradeAnswer {
        self.client
            .query(&QueryRequest::ByOutTradeNo(out_trade_no.into()))
            .await
            .unwrap_or_else(|e| panic!("query {out_trade_no} got no answer: {e}"))
    }

    /// A query by out_trade_no, its error kept.
    async fn try_query(&self, out_trade_no: &str) -> Result<TradeAnswer, GatewayError> {
        self.client
            .query(&QueryRequest::ByOutTradeNo(out_trade_no.into()))
            .await
    }

    async fn query_outcome(&self, out_trade_no: &str) -> Outcome {
        self.query(out_trade_no).await.outcome(AnswerTo::Query)
    }

    fn ledger(&self) -> LedgerSnapshot {
        self.sim.ledger()
    }

    fn state(&self, out_trade_no: &str) -> Option<OrderState> {
        self.ledger().order(out_trade_no).map(|o| o.state)
    }
}

fn pay_request(out_trade_no: &str, code: &PaymentCode, fen: u64) -> scanpay::protocol::PayRequest {
    scanpay::protocol::PayRequest {
        out_trade_no: out_trade_no.into(),
        auth_code: code.clone(),
        total_amount: Fen(fen),
        subject: "拿铁咖啡 大杯".into(),
        operator_id: "cashier-07".into(),
        // Nothing listens there: a callback attempt fails quietly, as it does behind NAT.
        notify_url: "http://127.0.0.1:9/notify".into(),
        payway: Some(Payway::WeChat),
    }
}

fn web_request(out_trade_no: &str, fen: u64) -> WebPayRequest {
    WebPayRequest {
        out_trade_no: out_trade_no.into(),
        total_amount: Fen(fen),
        subject: "Tea & cake".into(),
        operator_id: "cashier-07".into(),
        notify_url: "http://127.0.0.1:9/notify".into(),
        return_url: "http://pos.example.com/done".into(),
        payway: Some(Payway::Alipay),
    }
}

fn not_paid_code(outcome: &Outcome) -> Option<ErrCode> {
    match outcome {
        Outcome::NotPaid { err_code, .. } => err_code.clone(),
        other => panic!("expected NotPaid, got {other:?}"),
    }
}

/// The error's text and debug form never carry the merchant key or a full payment code.
fn assert_no_secrets(err: &GatewayError, code: Option<&PaymentCode>) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(KEY), "the key leaked: {text}");
    if let Some(code) = code {
        assert!(!text.contains(code.expose()), "the code leaked: {text}");
    }
}

/// Asserts Unknown (the request may have been received), mentioning `mentions`.
fn expect_unknown<T: std::fmt::Debug>(
    result: Result<T, GatewayError>,
    mentions: &str,
    code: Option<&PaymentCode>,
) -> String {
    let err = result.expect_err("expected Unknown, got an answer");
    assert!(err.is_unknown(), "expected Unknown, got {err:?}");
    assert_no_secrets(&err, code);
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains(&mentions.to_lowercase()),
        "{text:?} should mention {mentions:?}"
    );
    text
}

// ---------------------------------------------------------------------------------------
// codepay: every magic script
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_ordinary_code_is_paid_at_once_with_exact_fields() {
    let rig = start().await;
    let code = rig.code(1, 0);
    let answer = rig.pay(&pay_request("P-1", &code, 1250)).await;
    assert_eq!(answer.outcome(AnswerTo::Pay), Outcome::Paid);
    assert_eq!(answer.result_code, ResultCode::Success);
    assert_eq!(answer.trade_status, Some(TradeStatus::TradeSuccess));
    assert_eq!(answer.out_trade_no.as_deref(), Some("P-1"));
    // The simulator answers ¥12.50 as the yuan literal 12.50; the client reads it exactly.
    assert_eq!(answer.total_amount, Some(Fen(1250)));
    assert_eq!(answer.paytype.as_deref(), Some("3"));
    assert!(answer.pay_date.is_some(), "{answer:?}");
    let trade_no = answer.trade_no.clone().expect("a gateway trade_no");
    let order = rig.ledger().order("P-1").cloned().unwrap();
    assert_eq!(order.trade_no, trade_no);
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.auth_code.as_deref(), Some(code.expose()));
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 1250);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn userpaying_then_paid_on_the_nth_query() {
    let rig = start().await;
    let pay = rig.pay(&pay_request("Q-3", &rig.code(2, 3), 800)).await;
    assert_eq!(pay.outcome(AnswerTo::Pay), Outcome::WaitingCustomer);
    assert_eq!(pay.err_code, Some(ErrCode::UserPaying));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(rig.query_outcome("Q-3").await);
    }
    use Outcome::{Paid, WaitingCustomer};
    assert_eq!(seen, [WaitingCustomer, WaitingCustomer, Paid, Paid]);
    // Default parameter: paid on the 2nd query.
    rig.pay(&pay_request("Q-d", &rig.code(2, 0), 800)).await;
    assert_eq!(rig.query_outcome("Q-d").await, WaitingCustomer);
    assert_eq!(rig.query_outcome("Q-d").await, Paid);
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 1600);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn userpaying_then_paid_after_simulated_seconds() {
    let rig = start().await;
    let pay = rig.pay(&pay_request("T-7", &rig.code(3, 7), 500)).await;
    assert_eq!(pay.outcome(AnswerTo::Pay), Outcome::WaitingCustomer);
    rig.clock.advance(Duration::from_secs(6));
    // Any number of queries before the 7th second does not pay it.
    for _ in 0..3 {
        assert_eq!(rig.query_outcome("T-7").await, Outcome::WaitingCustomer);
    }
    rig.clock.advance(Duration::from_secs(1));
    let paid = rig.query("T-7").await;
    assert_eq!(paid.outcome(AnswerTo::Query), Outcome::Paid);
    assert_eq!(paid.total_amount, Some(Fen(500)));
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn userpaying_then_closed_by_queries_or_by_time() {
    let rig = start().await;
    rig.pay(&pay_request("C-q", &rig.code(4, 2), 300)).await;
    assert_eq!(rig.query_outcome("C-q").await, Outcome::WaitingCustomer);
    let closed = rig.query("C-q").await;
    assert_eq!(closed.trade_status, Some(TradeStatus::TradeClosed));
    assert_eq!(
        not_paid_code(&closed.outcome(AnswerTo::Query)),
        Some(ErrCode::OrderClosed)
    );

    let closing = pay_request("C-t", &rig.code(5, 0), 300);
    let pay = rig.pay(&closing).await;
    assert_eq!(pay.outcome(AnswerTo::Pay), Outcome::WaitingCustomer);
    rig.clock.advance(Duration::from_secs(44));
    assert_eq!(rig.query_outcome("C-t").await, Outcome::WaitingCustomer);
    rig.clock.advance(Duration::from_secs(1));
    let outcome = rig.query_outcome("C-t").await;
    assert_eq!(not_paid_code(&outcome), Some(ErrCode::OrderClosed));
    // A closed order is answered the same way to a same-parameter resend of the pay.
    let resend = rig.pay(&closing).await;
    assert!(
        matches!(resend.outcome(AnswerTo::Pay), Outcome::NotPaid { .. }),
        "{resend:?}"
    );
    assert_eq!(rig.ledger().balance_fen, BALANCE.0, "nothing was charged");
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn declines_are_not_paid_with_the_gateways_reason() {
    let rig = start().await;
    for (out, script, expected) in [
        ("D-6", 6, ErrCode::Insufficient),
        ("D-7", 7, ErrCode::OrderClosed),
    ] {
        let answer = rig.pay(&pay_request(out, &rig.code(script, 0), 100)).await;
        assert_eq!(answer.result_code, ResultCode::BusinessFailure);
        let outcome = answer.outcome(AnswerTo::Pay);
        assert_eq!(not_paid_code(&outcome), Some(expected.clone()));
        let Outcome::NotPaid { reason, .. } = outcome else {
            unreachable!()
        };
        assert!(
            !reason.is_empty() && reason != expected.as_str(),
            "{reason}"
        );
        // The query says the same: not paid.
        let query = rig.query(out).await;
        assert_eq!(query.trade_status, Some(TradeStatus::TradeFail));
        assert_eq!(
            not_paid_code(&query.outcome(AnswerTo::Query)),
            Some(expected)
        );
    }
    assert_eq!(rig.ledger().balance_fen, BALANCE.0);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn systemerror_on_pay_is_try_later_and_a_query_finds_it_paid() {
    let rig = start().await;
    let answer = rig.pay(&pay_request("S-8", &rig.code(8, 0), 990)).await;
    assert_eq!(answer.result_code, ResultCode::ServiceUnavailable);
    assert!(
        matches!(
            answer.outcome(AnswerTo::Pay),
            Outcome::TryLater {
                rate_limited: false,
                ..
            }
        ),
        "{answer:?}"
    );
    assert_eq!(rig.query_outcome("S-8").await, Outcome::Paid);
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 990);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn a_customer_who_never_confirms_keeps_the_order_waiting() {
    let rig = start().await;
    let waiting = pay_request("W-9", &rig.code(9, 0), 100);
    let pay = rig.pay(&waiting).await;
    assert_eq!(pay.outcome(AnswerTo::Pay), Outcome::WaitingCustomer);
    for _ in 0..3 {
        rig.clock.advance(Duration::from_secs(3600));
        assert_eq!(rig.query_outcome("W-9").await, Outcome::WaitingCustomer);
    }
    // A same-parameter resend while waiting is answered as before (idempotent).
    let again = rig.pay(&waiting).await;
    assert_eq!(again.outcome(AnswerTo::Pay), Outcome::WaitingCustomer);
    assert_eq!(again.trade_no, pay.trade_no);
    assert_eq!(rig.state("W-9"), Some(OrderState::WaitingCustomer));
    rig.sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Resends, query forms, one-use codes, rate limit, configuration problems
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn resends_of_an_existing_order_mean_look_it_up() {
    let rig = start().await;
    let code = rig.code(1, 0);
    rig.pay(&pay_request("R-1", &code, 1250)).await;

    let paid_again = rig.pay(&pay_request("R-1", &code, 1250)).await;
    assert_eq!(paid_again.err_code, Some(ErrCode::OrderPaid));
    assert_eq!(paid_again.outcome(AnswerTo::Pay), Outcome::OrderExists);

    let conflict = rig.pay(&pay_request("R-1", &code, 999)).await;
    assert_eq!(conflict.err_code, Some(ErrCode::OrderConflict));
    assert_eq!(conflict.outcome(AnswerTo::Pay), Outcome::OrderExists);

    // A waiting order resent with other parameters conflicts too.
    let waiting = rig.code(9, 0);
    rig.pay(&pay_request("R-2", &waiting, 100)).await;
    let conflict = rig.pay(&pay_request("R-2", &waiting, 101)).await;
    assert_eq!(conflict.outcome(AnswerTo::Pay), Outcome::OrderExists);

    // Charged once, whatever was resent.
    let ledger = rig.ledger();
    assert_eq!(ledger.order("R-1").unwrap().pay_requests, 3);
    assert_eq!(ledger.balance_fen, BALANCE.0 + 1250);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn query_by_out_trade_no_and_by_trade_no_and_not_found() {
    let rig = start().await;
    let pay = rig.pay(&pay_request("Q-1", &rig.code(1, 0), 4321)).await;
    let trade_no = pay.trade_no.unwrap();

    let by_out = rig.query("Q-1").await;
    let by_trade = rig
        .client
        .query(&QueryRequest::ByTradeNo(trade_no.clone()))
        .await
        .expect("a verified answer");
    for answer in [&by_out, &by_trade] {
        assert_eq!(answer.outcome(AnswerTo::Query), Outcome::Paid);
        assert_eq!(answer.out_trade_no.as_deref(), Some("Q-1"));
        assert_eq!(answer.trade_no.as_deref(), Some(trade_no.as_str()));
        assert_eq!(answer.total_amount, Some(Fen(4321)));
    }

    let missing = rig.query("NO-SUCH-ORDER").await;
    assert_eq!(missing.err_code, Some(ErrCode::OrderNotFound));
    assert_eq!(missing.outcome(AnswerTo::Query), Outcome::NotFound);
    let missing = rig
        .client
        .query(&QueryRequest::ByTradeNo("SIM0".into()))
        .await
        .unwrap();
    assert_eq!(missing.outcome(AnswerTo::Query), Outcome::NotFound);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn a_payment_code_used_before_is_refused_on_a_new_order() {
    let rig = start().await;
    let code = rig.code(1, 0);
    assert_eq!(
        rig.pay(&pay_request("U-1", &code, 100))
            .await
            .outcome(AnswerTo::Pay),
        Outcome::Paid
    );
    let reused = rig.pay(&pay_request("U-2", &code, 100)).await;
    let outcome = reused.outcome(AnswerTo::Pay);
    assert_eq!(not_paid_code(&outcome), Some(ErrCode::ParamsError));
    let Outcome::NotPaid { reason, .. } = outcome else {
        unreachable!()
    };
    assert!(reason.contains("already used"), "{reason}");
    // The gateway's words are shown to the cashier: the code in them is masked.
    assert!(!reason.contains(code.expose()), "{reason}");
    assert!(reason.contains(&code.masked()), "{reason}");
    assert_eq!(rig.state("U-2"), Some(OrderState::Failed));
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 100, "charged once");
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn queries_too_close_together_are_rate_limited() {
    let rig = start_with(BALANCE, Some(Duration::from_secs(2))).await;
    rig.pay(&pay_request("F-1", &rig.code(9, 0), 100)).await;
    assert_eq!(rig.query_outcome("F-1").await, Outcome::WaitingCustomer);
    let limited = rig.query("F-1").await;
    assert_eq!(limited.err_code, Some(ErrCode::Frequently));
    assert!(
        matches!(
            limited.outcome(AnswerTo::Query),
            Outcome::TryLater {
                rate_limited: true,
                ..
            }
        ),
        "{limited:?}"
    );
    rig.clock.advance(Duration::from_secs(2));
    assert_eq!(rig.query_outcome("F-1").await, Outcome::WaitingCustomer);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_app_id_is_a_configuration_problem() {
    let rig = start().await;
    let stranger = client(
        &rig.sim,
        Merchant {
            app_id: "NOT-OURS".into(),
            ..merchant()
        },
        Duration::from_secs(10),
    );
    let code = rig.code(1, 0);
    let answer = stranger
        .pay(&pay_request("A-1", &code, 100))
        .await
        .expect("a verified refusal");
    assert_eq!(
        answer.outcome(AnswerTo::Pay),
        Outcome::ConfigProblem {
            err_code: ErrCode::AppIdNotExist,
            reason: answer.err_code_des.clone().unwrap(),
        }
    );
    let query = stranger
        .query(&QueryRequest::ByOutTradeNo("A-1".into()))
        .await
        .unwrap();
    assert!(
        matches!(
            query.outcome(AnswerTo::Query),
            Outcome::ConfigProblem {
                err_code: ErrCode::AppIdNotExist,
                ..
            }
        ),
        "{query:?}"
    );
    let balance = stranger.balance().await.unwrap();
    assert!(!balance.is_success());
    assert_eq!(balance.err_code, Some(ErrCode::AppIdNotExist));
    assert!(rig.ledger().orders.is_empty(), "nothing was accepted");
    rig.sim.shutdown().await;
}

/// A faithful gateway answers SIGNERROR signed with the merchant's real key, which a client
/// holding a wrong key cannot verify: the answer is untrusted (Unknown, with a hint at the
/// key), never read as a payment outcome, and the gateway recorded nothing.
#[tokio::test]
async fn a_wrong_key_gets_signerror_which_the_client_cannot_trust() {
    let rig = start().await;
    let wrong = client(
        &rig.sim,
        Merchant {
            key: MerchantKey::new("0000000000000000wrongwrongwrong00"),
            ..merchant()
        },
        Duration::from_secs(10),
    );
    let code = rig.code(1, 0);
    let text = expect_unknown(
        wrong.pay(&pay_request("K-1", &code, 100)).await,
        "wrong merchant key",
        Some(&code),
    );
    assert!(
        !text.contains("0000000000000000wrongwrongwrong00"),
        "{text}"
    );
    expect_unknown(wrong.balance().await, "wrong merchant key", None);
    assert!(rig.ledger().orders.is_empty(), "the gateway refused it");

    // The h5 page is not a signed answer, so there the gateway's SIGNERROR shows plainly.
    let url = wrong.h5_url(&web_request("K-2", 100)).unwrap();
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::BAD_REQUEST);
    let body = page.text().await.unwrap();
    assert!(body.contains("SIGNERROR"), "{body}");
    assert!(rig.ledger().orders.is_empty());
    rig.sim.shutdown().await;
}

/// What the gateway would refuse with LACK_PARAMS or PARAMSERROR, the client refuses before
/// sending: nothing reaches the simulator.
#[tokio::test]
async fn requests_the_gateway_would_refuse_are_not_sent() {
    let rig = start().await;
    let code = rig.code(1, 0);
    let cases = [
        (
            scanpay::protocol::PayRequest {
                subject: " ".into(),
                ..pay_request("I-1", &code, 100)
            },
            FieldError::Missing { field: "subject" },
        ),
        (
            pay_request(&"9".repeat(65), &code, 100),
            FieldError::TooLong {
                field: "out_trade_no",
                len: 65,
                max: 64,
            },
        ),
        (
            pay_request("I-3", &code, 0),
            FieldError::ZeroAmount {
                field: "total_amount",
                value: Fen(0),
            },
        ),
    ];
    for (request, expected) in cases {
        let err = rig.client.pay(&request).await.unwrap_err();
        assert_eq!(err, GatewayError::Invalid(expected));
        assert_no_secrets(&err, Some(&code));
    }
    let err = rig
        .client
        .query(&QueryRequest::ByTradeNo(String::new()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GatewayError::Invalid(FieldError::Missing { field: "trade_no" })
    );
    let ledger = rig.ledger();
    assert!(ledger.orders.is_empty() && ledger.codes_used.is_empty());
    rig.sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// settle, settlequery, balance
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn balance_grows_after_a_paid_order() {
    let rig = start().await;
    let before = rig.client.balance().await.unwrap();
    assert!(before.is_success(), "{before:?}");
    assert_eq!(before.balance, Some(BALANCE));
    assert!(before.start_time.is_some() && before.end_time.is_some());
    assert_eq!(before.withdrawal_way, Some(WithdrawalWay::SameDay));
    rig.pay(&pay_request("B-1", &rig.code(1, 0), 1250)).await;
    // Waiting orders add nothing until paid.
    rig.pay(&pay_request("B-2", &rig.code(2, 1), 700)).await;
    let after = rig.client.balance().await.unwrap();
    assert_eq!(after.balance, Some(Fen(BALANCE.0 + 1250)));
    assert_eq!(rig.query_outcome("B-2").await, Outcome::Paid);
    let after = rig.client.balance().await.unwrap();
    assert_eq!(after.balance, Some(Fen(BALANCE.0 + 1950)));
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn every_withdrawal_script_through_settle_and_settle_query() {
    let rig = start().await;
    let cases = [
        (10_000, WithdrawStatus::Succeeded, false),
        (10_003, WithdrawStatus::Returned, true),
        (10_004, WithdrawStatus::Failed, true),
        (10_009, WithdrawStatus::ManualReview, false),
    ];
    let mut expected_balance = BALANCE.0;
    for (fen, final_status, money_comes_back) in cases {
        let settle = rig
            .client
            .settle(&SettleRequest {
                total_amount: Fen(fen),
            })
            .await
            .unwrap();
        assert!(settle.is_success(), "{settle:?}");
        assert_eq!(settle.withdraw_status, Some(WithdrawStatus::Processing));
        assert_eq!(settle.total_amount, Some(Fen(fen)));
        expected_balance -= fen;
        let balance = rig.client.balance().await.unwrap().balance;
        assert_eq!(balance, Some(Fen(expected_balance)), "after settling {fen}");

        let trade_no = settle.trade_no.clone().expect("a withdrawal trade_no");
        let status = rig
            .client
            .settle_query(&SettleQueryRequest {
                trade_no: trade_no.clone(),
            })
            .await
            .unwrap();
        assert!(status.is_success(), "{status:?}");
        assert_eq!(status.trade_no.as_deref(), Some(trade_no.as_str()));
        assert_eq!(status.withdraw_status, Some(final_status.clone()), "{fen}");
        if final_status == WithdrawStatus::Succeeded {
            // 0.1 % fee, rounded down; actual and fee come in yuan, read exactly.
            assert_eq!(status.service_amount, Some(Fen(10)));
            assert_eq!(status.actual_amount, Some(Fen(fen - 10)));
            assert!(status.settle_time.is_some());
        }
        if money_comes_back {
            expected_balance += fen;
        }
        let balance = rig.client.balance().await.unwrap().balance;
        assert_eq!(balance, Some(Fen(expected_balance)), "after querying {fen}");
    }

    let missing = rig
        .client
        .settle_query(&SettleQueryRequest {
            trade_no: "SIMW-NONE".into(),
        })
        .await
        .unwrap();
    assert!(!missing.is_success());
    assert_eq!(missing.err_code, Some(ErrCode::OrderNotFound));
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn withdrawal_limits_and_insufficient_balance() {
    let rig = start_with(Fen(200_000_000), None).await;
    // Above ¥50,000: refused by the client, never sent.
    let err = rig
        .client
        .settle(&SettleRequest {
            total_amount: Fen(5_000_001),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GatewayError::Invalid(FieldError::AboveLimit {
                limit: Fen(5_000_000),
                ..
            })
        ),
        "{err:?}"
    );
    assert!(!err.is_offline() && !err.is_unknown());
    assert!(rig.ledger().withdrawals.is_empty(), "nothing was sent");

    // ¥1,000,000 a day: twenty withdrawals of ¥50,000, then the gateway refuses.
    for _ in 0..20 {
        let ok = rig
            .client
            .settle(&SettleRequest {
                total_amount: Fen(5_000_000),
            })
            .await
            .unwrap();
        assert!(ok.is_success(), "{ok:?}");
    }
    let refused = rig
        .client
        .settle(&SettleRequest {
            total_amount: Fen(100),
        })
        .await
        .unwrap();
    assert!(!refused.is_success());
    assert_eq!(refused.result_code, ResultCode::BusinessFailure);
    assert_eq!(refused.err_code, Some(ErrCode::ParamsError));
    assert!(
        refused.err_code_des.as_deref().unwrap().contains("daily"),
        "{refused:?}"
    );
    assert_eq!(rig.ledger().withdrawals.len(), 20);
    rig.sim.shutdown().await;

    let poor = start_with(Fen(5_000), None).await;
    let refused = poor
        .client
        .settle(&SettleRequest {
            total_amount: Fen(5_001),
        })
        .await
        .unwrap();
    assert!(!refused.is_success());
    assert_eq!(refused.err_code, Some(ErrCode::Insufficient));
    assert!(refused.withdraw_status.is_none());
    assert_eq!(
        poor.client.balance().await.unwrap().balance,
        Some(Fen(5_000))
    );
    poor.sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// h5 and app
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_h5_url_opens_a_page_naming_the_amount_and_can_be_paid() {
    let rig = start().await;
    let url = rig.client.h5_url(&web_request("H-1", 1250)).unwrap();
    assert!(
        url.starts_with(&format!("{}/getway/?", rig.sim.base_url())),
        "{url}"
    );
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(body.contains("¥12.50"), "{body}");
    assert!(body.contains("Tea &amp; cake"), "{body}");
    assert!(body.contains("H-1"), "{body}");

    // The page opened the order; the customer has not paid yet.
    assert_eq!(rig.query_outcome("H-1").await, Outcome::WaitingCustomer);
    let trade_no = rig.ledger().order("H-1").unwrap().trade_no.clone();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paid = no_redirects
        .post(format!("{}/_sim/h5/{trade_no}/pay", rig.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_redirection(), "{paid:?}");
    let answer = rig.query("H-1").await;
    assert_eq!(answer.outcome(AnswerTo::Query), Outcome::Paid);
    assert_eq!(answer.paytype.as_deref(), Some("1"));
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 1250);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn app_url_returns_a_wallet_link_to_the_orders_page() {
    let rig = start().await;
    let answer = rig.client.app_url(&web_request("APP-1", 88)).await.unwrap();
    assert!(answer.is_success(), "{answer:?}");
    let link = answer.url.clone().expect("a wallet link");
    let trade_no = rig.ledger().order("APP-1").unwrap().trade_no.clone();
    assert!(link.ends_with(&trade_no), "{link}");
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(page.text().await.unwrap().contains("¥0.88"));
    assert_eq!(rig.query_outcome("APP-1").await, Outcome::WaitingCustomer);
    rig.sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_connection_dropped_before_recording_is_unknown_and_nothing_exists() {
    let rig = start().await;
    let code = rig.code(1, 0);
    let request = pay_request("X-1", &code, 1250);
    rig.sim
        .set_faults(Faults::next(1, Fault::DropBeforeRecord).on(&["codepay"]));
    expect_unknown(rig.client.pay(&request).await, "query", Some(&code));
    assert!(rig.ledger().order("X-1").is_none());
    assert!(rig.ledger().codes_used.is_empty());
    // Resolving it by query: the gateway never saw it.
    assert_eq!(rig.query_outcome("X-1").await, Outcome::NotFound);
    assert_eq!(rig.ledger().balance_fen, BALANCE.0);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn a_connection_dropped_after_recording_is_unknown_and_a_query_finds_it_paid() {
    let rig = start().await;
    let code = rig.code(1, 0);
    let request = pay_request("X-2", &code, 1250);
    rig.sim
        .set_faults(Faults::next(1, Fault::DropAfterRecord).on(&["codepay"]));
    expect_unknown(rig.client.pay(&request).await, "query", Some(&code));
    assert_eq!(rig.state("X-2"), Some(OrderState::Paid));
    // The money rule: resolve by query with the same number.
    assert_eq!(rig.query_outcome("X-2").await, Outcome::Paid);
    // Even a resend under the same number cannot charge twice: "look it up".
    let resend = rig.pay(&request).await;
    assert_eq!(resend.outcome(AnswerTo::Pay), Outcome::OrderExists);
    // A new number with the same (single-use) code would not pay again either.
    let new_number = rig.pay(&pay_request("X-2b", &code, 1250)).await;
    assert_eq!(
        not_paid_code(&new_number.outcome(AnswerTo::Pay)),
        Some(ErrCode::ParamsError)
    );
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 1250, "charged once");
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn http_errors_are_unknown() {
    let rig = start().await;
    for status in [500, 502, 503] {
        let code = rig.code(1, 0);
        let out = format!("H-{status}");
        rig.sim
            .set_faults(Faults::next(1, Fault::HttpStatus(status)).on(&["codepay"]));
        expect_unknown(
            rig.client.pay(&pay_request(&out, &code, 100)).await,
            &status.to_string(),
            Some(&code),
        );
        assert!(rig.ledger().order(&out).is_none(), "{status}");
        assert_eq!(rig.query_outcome(&out).await, Outcome::NotFound);
    }
    // The same page after the gateway recorded the order: still only a query can tell.
    let code = rig.code(1, 0);
    rig.sim
        .set_faults(Faults::next(1, Fault::HttpStatusAfterRecord(503)).on(&["codepay"]));
    expect_unknown(
        rig.client.pay(&pay_request("H-after", &code, 100)).await,
        "503",
        Some(&code),
    );
    assert_eq!(rig.query_outcome("H-after").await, Outcome::Paid);
    // Every other endpoint classifies it the same way.
    rig.sim.set_faults(Faults::always(Fault::HttpStatus(500)));
    expect_unknown(rig.client.balance().await, "500", None);
    expect_unknown(
        rig.client
            .query(&QueryRequest::ByOutTradeNo("H-after".into()))
            .await,
        "500",
        None,
    );
    expect_unknown(
        rig.client
            .settle(&SettleRequest {
                total_amount: Fen(100),
            })
            .await,
        "500",
        None,
    );
    expect_unknown(
        rig.client
            .settle_query(&SettleQueryRequest {
                trade_no: "SIMW1".into(),
            })
            .await,
        "500",
        None,
    );
    expect_unknown(
        rig.client.app_url(&web_request("H-app", 100)).await,
        "500",
        None,
    );
    rig.sim.set_faults(Faults::default());
    assert_eq!(
        rig.client.balance().await.unwrap().balance,
        Some(Fen(BALANCE.0 + 100))
    );
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn untrustworthy_bodies_are_unknown_and_the_order_is_recorded() {
    let rig = start().await;
    for (fault, mentions) in [
        (Fault::TruncatedBody, "not JSON"),
        (Fault::UnsignedBody, "not trusted"),
        (Fault::WrongSign, "does not match"),
    ] {
        let code = rig.code(1, 0);
        let out = format!("B-{fault:?}");
        rig.sim
            .set_faults(Faults::next(1, fault.clone()).on(&["codepay"]));
        expect_unknown(
            rig.client.pay(&pay_request(&out, &code, 100)).await,
            mentions,
            Some(&code),
        );
        assert_eq!(rig.state(&out), Some(OrderState::Paid), "{fault:?}");
        assert_eq!(rig.query_outcome(&out).await, Outcome::Paid, "{fault:?}");

        // The other endpoints do not trust such a body either.
        rig.sim.set_faults(Faults::next(1, fault.clone()));
        expect_unknown(rig.client.balance().await, mentions, None);
        rig.sim.set_faults(Faults::next(1, fault.clone()));
        expect_unknown(rig.try_query(&out).await, mentions, None);
    }
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 300);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn a_frequently_fault_is_a_verified_rate_limit_answer() {
    let rig = start().await;
    rig.sim
        .set_faults(Faults::next(1, Fault::Frequently).on(&["codepay"]));
    let answer = rig.pay(&pay_request("FR-1", &rig.code(1, 0), 100)).await;
    assert_eq!(answer.err_code, Some(ErrCode::Frequently));
    assert!(
        matches!(
            answer.outcome(AnswerTo::Pay),
            Outcome::TryLater {
                rate_limited: true,
                ..
            }
        ),
        "{answer:?}"
    );
    assert!(
        rig.ledger().order("FR-1").is_none(),
        "refused before recording"
    );
    rig.sim
        .set_faults(Faults::next(1, Fault::Frequently).on(&["query"]));
    let answer = rig.query("FR-1").await;
    assert!(matches!(
        answer.outcome(AnswerTo::Query),
        Outcome::TryLater {
            rate_limited: true,
            ..
        }
    ));
    // Worn off: the query is answered for real.
    assert_eq!(rig.query_outcome("FR-1").await, Outcome::NotFound);
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn latency_beyond_the_request_timeout_is_unknown() {
    let rig = start().await;
    let impatient = client(&rig.sim, merchant(), Duration::from_millis(300));
    // Within the timeout, latency is only latency.
    rig.sim.set_faults(Faults {
        latency_ms: 50,
        ..Faults::default()
    });
    let code = rig.code(1, 0);
    let answer = impatient
        .pay(&pay_request("L-1", &code, 100))
        .await
        .expect("an answer within 300 ms");
    assert_eq!(answer.outcome(AnswerTo::Pay), Outcome::Paid);

    rig.sim.set_faults(Faults {
        latency_ms: 1_000,
        ..Faults::default()
    });
    let code = rig.code(1, 0);
    let text = expect_unknown(
        impatient.pay(&pay_request("L-2", &code, 100)).await,
        "request_timeout",
        Some(&code),
    );
    assert!(text.contains("300ms"), "{text}");
    expect_unknown(impatient.balance().await, "request_timeout", None);
    rig.sim.set_faults(Faults::default());
    // Whether the slow request gets recorded is what the query settles. The server may still
    // be handling it (or have dropped it with the connection), so only the order of events
    // is fixed: once the ledger has it, a query must say paid.
    let recorded_before_query = rig.ledger().order("L-2").is_some();
    let outcome = rig.query_outcome("L-2").await;
    if recorded_before_query {
        assert_eq!(outcome, Outcome::Paid);
    } else {
        assert!(
            matches!(outcome, Outcome::NotFound | Outcome::Paid),
            "{outcome:?}"
        );
    }
    rig.sim.shutdown().await;
}

#[tokio::test]
async fn a_gateway_that_is_down_is_offline_and_answers_again_when_up() {
    let rig = start().await;
    // A pooled connection exists before the gateway goes away.
    assert!(rig.client.balance().await.unwrap().is_success());
    rig.sim.go_down().await;
    let code = rig.code(1, 0);
    let request = pay_request("O-1", &code, 1250);
    let err = rig.client.pay(&request).await.unwrap_err();
    assert!(err.is_offline(), "expected Offline, got {err:?}");
    assert_no_secrets(&err, Some(&code));
    assert!(err.to_string().contains("not sent"), "{err}");
    for result in [
        rig.client.balance().await.map(drop),
        rig.client
            .query(&QueryRequest::ByOutTradeNo("O-1".into()))
            .await
            .map(drop),
        rig.client
            .settle(&SettleRequest {
                total_amount: Fen(100),
            })
            .await
            .map(drop),
        rig.client
            .app_url(&web_request("O-app", 100))
            .await
            .map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(err.is_offline(), "expected Offline, got {err:?}");
    }
    assert!(rig.ledger().orders.is_empty() && rig.ledger().withdrawals.is_empty());

    rig.sim
        .come_up()
        .await
        .expect("the simulator listens again");
    // The queued request goes out unchanged once the gateway answers.
    assert_eq!(
        rig.pay(&request).await.outcome(AnswerTo::Pay),
        Outcome::Paid
    );
    assert_eq!(rig.ledger().balance_fen, BALANCE.0 + 1250);
    rig.sim.shutdown().await;
}
