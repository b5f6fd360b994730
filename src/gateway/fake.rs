//! `FakeGateway`: a scripted `Gateway` for tests of the daemon and the commands.
//!
//! Each call takes the next scripted result for its endpoint, in order, and is recorded.
//! Requests are checked exactly as `HttpGateway` checks them, so an invalid request gives
//! `GatewayError::Invalid` here too. A call with nothing scripted panics with a message
//! naming the call: a test that forgot a step should fail loudly, not hang.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::{Gateway, GatewayError};
use crate::protocol::messages::{
    self, AppAnswer, BalanceAnswer, BalanceQueryRequest, Merchant, PayRequest, QueryRequest,
    SettleAnswer, SettleQueryRequest, SettleRequest, WebPayRequest,
};
use crate::protocol::{Fen, FieldError, MerchantKey, SignRules, TradeAnswer};

/// A call the fake received. Payment codes appear masked only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Pay {
        out_trade_no: String,
        auth_code_masked: String,
        total_amount: Fen,
    },
    Query(QueryRequest),
    Settle(Fen),
    SettleQuery(String),
    Balance,
    AppUrl {
        out_trade_no: String,
    },
}

#[derive(Default)]
struct Script {
    pay: VecDeque<Result<TradeAnswer, GatewayError>>,
    query: VecDeque<Result<TradeAnswer, GatewayError>>,
    settle: VecDeque<Result<SettleAnswer, GatewayError>>,
    settle_query: VecDeque<Result<SettleAnswer, GatewayError>>,
    balance: VecDeque<Result<BalanceAnswer, GatewayError>>,
    app_url: VecDeque<Result<AppAnswer, GatewayError>>,
    calls: Vec<Call>,
}

/// A `Gateway` that answers from a script.
pub struct FakeGateway {
    merchant: Merchant,
    base_url: String,
    script: Mutex<Script>,
}

impl Default for FakeGateway {
    fn default() -> Self {
        FakeGateway::new()
    }
}

impl FakeGateway {
    pub fn new() -> FakeGateway {
        FakeGateway {
            merchant: Merchant {
                app_id: "FAKE-APP".into(),
                key: MerchantKey::new("fake-key"),
                rules: SignRules::default(),
            },
            base_url: "http://fake-gateway.invalid".into(),
            script: Mutex::new(Script::default()),
        }
    }

    pub fn push_pay(&self, result: Result<TradeAnswer, GatewayError>) -> &Self {
        self.lock().pay.push_back(result);
        self
    }

    pub fn push_query(&self, result: Result<TradeAnswer, GatewayError>) -> &Self {
        self.lock().query.push_back(result);
        self
    }

    pub fn push_settle(&self, result: Result<SettleAnswer, GatewayError>) -> &Self {
        self.lock().settle.push_back(result);
        self
    }

    pub fn push_settle_query(&self, result: Result<SettleAnswer, GatewayError>) -> &Self {
        self.lock().settle_query.push_back(result);
        self
    }

    pub fn push_balance(&self, result: Result<BalanceAnswer, GatewayError>) -> &Self {
        self.lock().balance.push_back(result);
        self
    }

    pub fn push_app_url(&self, result: Result<AppAnswer, GatewayError>) -> &Self {
        self.lock().app_url.push_back(result);
        self
    }

    /// Every call received so far, in order (invalid requests included).
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        // A panicking test thread must not hide the script from the others.
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the call, checks the request, and takes the next scripted result.
    fn answer<T>(
        &self,
        call: Call,
        checked: Result<(), FieldError>,
        queue: impl FnOnce(&mut Script) -> &mut VecDeque<Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let mut script = self.lock();
        script.calls.push(call.clone());
        checked?;
        match queue(&mut script).pop_front() {
            Some(result) => result,
            None => panic!("FakeGateway: nothing scripted for {call:?}"),
        }
    }
}

impl Gateway for FakeGateway {
    async fn pay(&self, request: &PayRequest) -> Result<TradeAnswer, GatewayError> {
        let call = Call::Pay {
            out_trade_no: request.out_trade_no.clone(),
            auth_code_masked: request.auth_code.masked(),
            total_amount: request.total_amount,
        };
        let checked = request.signed(&self.merchant).map(drop);
        self.answer(call, checked, |s| &mut s.pay)
    }

    async fn query(&self, request: &QueryRequest) -> Result<TradeAnswer, GatewayError> {
        let checked = request.signed(&self.merchant).map(drop);
        self.answer(Call::Query(request.clone()), checked, |s| &mut s.query)
    }

    async fn settle(&self, request: &SettleRequest) -> Result<SettleAnswer, GatewayError> {
        let checked = request.signed(&self.merchant).map(drop);
        self.answer(Call::Settle(request.total_amount), checked, |s| {
            &mut s.settle
        })
    }

    async fn settle_query(
        &self,
        request: &SettleQueryRequest,
    ) -> Result<SettleAnswer, GatewayError> {
        let checked = request.signed(&self.merchant).map(drop);
        self.answer(Call::SettleQuery(request.trade_no.clone()), checked, |s| {
            &mut s.settle_query
        })
    }

    async fn balance(&self) -> Result<BalanceAnswer, GatewayError> {
        let checked = BalanceQueryRequest.signed(&self.merchant).map(drop);
        self.answer(Call::Balance, checked, |s| &mut s.balance)
    }

    async fn app_url(&self, request: &WebPayRequest) -> Result<AppAnswer, GatewayError> {
        let call = Call::AppUrl {
            out_trade_no: request.out_trade_no.clone(),
        };
        let checked = request.signed(&self.merchant).map(drop);
        self.answer(call, checked, |s| &mut s.app_url)
    }

    fn h5_url(&self, request: &WebPayRequest) -> Result<String, FieldError> {
        messages::h5_url(&self.base_url, request, &self.merchant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrCode, PaymentCode, ResultCode};

    fn answer(err_code: Option<ErrCode>) -> TradeAnswer {
        TradeAnswer {
            result_code: ResultCode::Success,
            err_code,
            err_code_des: None,
            trade_status: None,
            out_trade_no: None,
            trade_no: None,
            total_amount: None,
            paytype: None,
            pay_date: None,
        }
    }

    fn pay(out_trade_no: &str) -> PayRequest {
        PayRequest {
            out_trade_no: out_trade_no.into(),
            auth_code: PaymentCode::parse("134523198765432101").unwrap(),
            total_amount: Fen(100),
            subject: "s".into(),
            operator_id: "o".into(),
            notify_url: "http://n".into(),
            payway: None,
        }
    }

    #[tokio::test]
    async fn answers_in_script_order_and_records_calls() {
        let fake = FakeGateway::new();
        let offline = GatewayError::Offline {
            url: "u".into(),
            detail: "d".into(),
        };
        fake.push_pay(Err(offline.clone()))
            .push_pay(Ok(answer(Some(ErrCode::UserPaying))))
            .push_query(Ok(answer(Some(ErrCode::Success))));
        assert_eq!(fake.pay(&pay("A")).await, Err(offline));
        assert_eq!(
            fake.pay(&pay("A")).await.unwrap().err_code,
            Some(ErrCode::UserPaying)
        );
        let query = QueryRequest::ByOutTradeNo("A".into());
        assert_eq!(
            fake.query(&query).await.unwrap().err_code,
            Some(ErrCode::Success)
        );
        // Invalid requests are refused like the real client's, and still recorded.
        let long = PayRequest {
            subject: "x".repeat(300),
            ..pay("B")
        };
        assert!(matches!(
            fake.pay(&long).await,
            Err(GatewayError::Invalid(FieldError::TooLong {
                field: "subject",
                ..
            }))
        ));
        let calls = fake.calls();
        assert_eq!(calls.len(), 4);
        assert_eq!(
            calls[0],
            Call::Pay {
                out_trade_no: "A".into(),
                auth_code_masked: "1345…2101".into(),
                total_amount: Fen(100)
            }
        );
        assert_eq!(calls[2], Call::Query(query));
        assert!(!format!("{calls:?}").contains("134523198765432101"));
    }

    #[tokio::test]
    #[should_panic(expected = "nothing scripted for Balance")]
    async fn an_unscripted_call_fails_loudly() {
        let _ = FakeGateway::new().balance().await;
    }
}
