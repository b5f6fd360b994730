//! The `result_response` objects the simulator answers with, field by field as the spec
//! says: amounts in yuan as JSON number literals (`12.50`) in codepay/query/balance answers,
//! in fen as strings in settle and the callback, `pay_date` as China-time datetime text (or a
//! Unix timestamp string in the callback). Fields the spec returns "when result_code is
//! 10000" are left out of failures.

use std::time::SystemTime;

use serde_json::{Map, Value};

use super::ledger::{
    china_offset, BalanceView, GatewayRefusal, OrderState, TradeView, WithdrawalState,
    WithdrawalView,
};
use crate::protocol::{ErrCode, Fen, ResultCode, TradeStatus};

/// Which request a trade answer replies to: the pay answer and the query answer differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeReply {
    Pay,
    Query,
}

/// A refusal: result_code, err_code, err_code_des and nothing else.
pub fn refusal(r: &GatewayRefusal) -> Map<String, Value> {
    let mut map = Map::new();
    put(&mut map, "result_code", r.result_code.as_str());
    put(&mut map, "err_code", r.err_code.as_str());
    put(&mut map, "err_code_des", &r.des);
    map
}

/// An order's state as the pay or query answer.
///
/// Pay: paid → 10000 TRADE_SUCCESS; waiting → 10000 err_code USERPAYING + WAIT_BUYER_PAY;
/// failed/closed → 40004 with the reason. Query: always 10000 with the trade_status
/// (waiting → WAIT_BUYER_PAY without err_code, so both forms of "waiting" are exercised).
pub fn trade(view: &TradeView, reply: TradeReply, app_id: &str) -> Map<String, Value> {
    if reply == TradeReply::Pay {
        if let (OrderState::Failed | OrderState::Closed, Some((code, des))) =
            (view.state, &view.failure)
        {
            return refusal(&GatewayRefusal::business(code.clone(), des.clone()));
        }
    }
    let mut map = Map::new();
    put(&mut map, "result_code", ResultCode::Success.as_str());
    put(&mut map, "app_id", app_id);
    put(&mut map, "out_trade_no", &view.out_trade_no);
    put(&mut map, "trade_no", &view.trade_no);
    match view.state {
        OrderState::Paid => {
            put(&mut map, "err_code", ErrCode::Success.as_str());
            put(&mut map, "trade_status", TradeStatus::TradeSuccess.as_str());
            put(&mut map, "return_msg", "paid");
            map.insert("total_amount".into(), yuan_number(view.amount));
            if let Some(at) = view.paid_at {
                put(&mut map, "pay_date", &datetime(at));
            }
            put(&mut map, "paytype", &view.paytype);
        }
        OrderState::WaitingCustomer => {
            if reply == TradeReply::Pay {
                put(&mut map, "err_code", ErrCode::UserPaying.as_str());
                put(
                    &mut map,
                    "err_code_des",
                    "waiting for the customer to confirm the payment",
                );
            }
            put(&mut map, "trade_status", TradeStatus::WaitBuyerPay.as_str());
            put(&mut map, "return_msg", "waiting for the customer");
        }
        OrderState::Failed | OrderState::Closed => {
            let status = if view.state == OrderState::Failed {
                TradeStatus::TradeFail
            } else {
                TradeStatus::TradeClosed
            };
            put(&mut map, "trade_status", status.as_str());
            if let Some((code, des)) = &view.failure {
                put(&mut map, "err_code", code.as_str());
                put(&mut map, "err_code_des", des);
            }
            put(&mut map, "return_msg", "not paid");
        }
    }
    map
}

/// The payment callback: total_amount in fen (string), pay_date as a Unix timestamp string.
pub fn notify(view: &TradeView, app_id: &str) -> Map<String, Value> {
    let mut map = Map::new();
    put(&mut map, "result_code", ResultCode::Success.as_str());
    put(&mut map, "return_msg", "SUCCESS");
    put(&mut map, "app_id", app_id);
    put(&mut map, "out_trade_no", &view.out_trade_no);
    let at = view.paid_at.unwrap_or(SystemTime::UNIX_EPOCH);
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    put(&mut map, "pay_date", &secs.to_string());
    put(&mut map, "paytype", &view.paytype);
    put(&mut map, "total_amount", &view.amount.fen_string());
    put(&mut map, "trade_no", &view.trade_no);
    put(&mut map, "trade_status", TradeStatus::TradeSuccess.as_str());
    map
}

/// settle / settlequery: total_amount in fen (string); actual and service amounts in yuan
/// and settle_time once the money has arrived.
pub fn withdrawal(view: &WithdrawalView, app_id: &str) -> Map<String, Value> {
    let mut map = Map::new();
    put(&mut map, "result_code", ResultCode::Success.as_str());
    put(&mut map, "app_id", app_id);
    put(&mut map, "trade_no", &view.trade_no);
    put(&mut map, "withdraw_status", view.status.code());
    put(&mut map, "total_amount", &view.amount.fen_string());
    let msg = match view.status {
        WithdrawalState::Failed => "withdrawal failed; the amount is back in the balance",
        WithdrawalState::Succeeded => "withdrawal arrived",
        WithdrawalState::Processing => "withdrawal is being processed",
        WithdrawalState::ReturnedByBank => {
            "returned by the bank; the amount is back in the balance"
        }
        WithdrawalState::ManualReview => "handed to manual review",
    };
    put(&mut map, "return_msg", msg);
    if view.status == WithdrawalState::Succeeded {
        map.insert(
            "actual_amount".into(),
            yuan_number(Fen(view.amount.0 - view.fee.0)),
        );
        map.insert("service_amount".into(), yuan_number(view.fee));
        if let Some(at) = view.settled_at {
            put(&mut map, "settle_time", &datetime(at));
        }
    }
    map
}

/// balance_query: balance and limit in yuan; the withdrawal window is the whole day, d0.
pub fn balance(view: &BalanceView, app_id: &str) -> Map<String, Value> {
    let mut map = Map::new();
    put(&mut map, "result_code", ResultCode::Success.as_str());
    put(&mut map, "app_id", app_id);
    map.insert("balance".into(), yuan_number(view.balance));
    put(&mut map, "return_msg", "OK");
    put(&mut map, "start_time", "00:00");
    put(&mut map, "end_time", "23:59");
    map.insert("withdraw_limit".into(), yuan_number(view.withdraw_limit));
    put(&mut map, "withdrawal_way", "0");
    map
}

/// The app endpoint's answer: where the wallet app would be sent.
pub fn app(view: &TradeView, url: &str, app_id: &str) -> Map<String, Value> {
    let mut map = Map::new();
    put(&mut map, "result_code", ResultCode::Success.as_str());
    put(&mut map, "app_id", app_id);
    put(&mut map, "out_trade_no", &view.out_trade_no);
    put(&mut map, "trade_no", &view.trade_no);
    put(&mut map, "return_msg", "OK");
    put(&mut map, "url", url);
    map
}

fn put(map: &mut Map<String, Value>, key: &str, value: &str) {
    map.insert(key.to_string(), Value::String(value.to_string()));
}

/// `12.50` as a JSON number literal (exact: built from text, never from a float).
pub fn yuan_number(amount: Fen) -> Value {
    serde_json::from_str(&amount.yuan()).expect("yuan text is a JSON number")
}

/// `2026-11-25 20:00:05`, China time.
pub fn datetime(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at)
        .with_timezone(&china_offset())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::signing::{signed_answer, verify_answer};
    use crate::protocol::{AmountUnit, AnswerTo, MerchantKey, Outcome, SignRules, TradeAnswer};
    use std::time::Duration;

    fn view(state: OrderState) -> TradeView {
        TradeView {
            out_trade_no: "A-1".into(),
            trade_no: "SIM20261125000001".into(),
            amount: Fen(1250),
            subject: "Coffee".into(),
            state,
            failure: match state {
                OrderState::Failed => Some((ErrCode::Insufficient, "too low".into())),
                OrderState::Closed => Some((ErrCode::OrderClosed, "closed".into())),
                _ => None,
            },
            paid_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_005)),
            paytype: "3".into(),
            return_url: None,
        }
    }

    /// Round-trips through the protocol's own verification and outcome reading.
    fn outcome(map: Map<String, Value>, unit: AmountUnit, to: AnswerTo) -> (String, Outcome) {
        let key = MerchantKey::new("k");
        let body = signed_answer(map, &key, SignRules::default());
        let verified = verify_answer(&body, &key, SignRules::default()).unwrap();
        let answer = TradeAnswer::from_result_response(&verified.result_response, unit).unwrap();
        (body, answer.outcome(to))
    }

    #[test]
    fn trade_answers_read_as_the_spec_says() {
        let (body, paid) = outcome(
            trade(&view(OrderState::Paid), TradeReply::Pay, "APP"),
            AmountUnit::Yuan,
            AnswerTo::Pay,
        );
        assert_eq!(paid, Outcome::Paid);
        assert!(body.contains(r#""total_amount":12.50"#), "{body}");
        assert!(
            body.contains(r#""pay_date":"2026-11-25 20:00:05""#),
            "{body}"
        );
        for (state, reply, to) in [
            (OrderState::WaitingCustomer, TradeReply::Pay, AnswerTo::Pay),
            (
                OrderState::WaitingCustomer,
                TradeReply::Query,
                AnswerTo::Query,
            ),
        ] {
            let (_, got) = outcome(trade(&view(state), reply, "APP"), AmountUnit::Yuan, to);
            assert_eq!(got, Outcome::WaitingCustomer);
        }
        for (state, reply, to) in [
            (OrderState::Failed, TradeReply::Pay, AnswerTo::Pay),
            (OrderState::Failed, TradeReply::Query, AnswerTo::Query),
            (OrderState::Closed, TradeReply::Query, AnswerTo::Query),
        ] {
            let (_, got) = outcome(trade(&view(state), reply, "APP"), AmountUnit::Yuan, to);
            assert!(matches!(got, Outcome::NotPaid { .. }), "{state:?} {got:?}");
        }
    }

    #[test]
    fn notify_speaks_fen_and_unix_time() {
        let (body, got) = outcome(
            notify(&view(OrderState::Paid), "APP"),
            AmountUnit::Fen,
            AnswerTo::Notify,
        );
        assert_eq!(got, Outcome::Paid);
        assert!(body.contains(r#""total_amount":"1250""#), "{body}");
        assert!(body.contains(r#""pay_date":"1795608005""#), "{body}");
    }

    #[test]
    fn money_fields_in_withdrawal_and_balance_answers() {
        let w = WithdrawalView {
            trade_no: "W".into(),
            amount: Fen(10_000),
            fee: Fen(10),
            status: WithdrawalState::Succeeded,
            settled_at: Some(SystemTime::UNIX_EPOCH),
        };
        let text = canonical(withdrawal(&w, "APP"));
        assert!(text.contains(r#""actual_amount":99.90"#), "{text}");
        assert!(text.contains(r#""service_amount":0.10"#), "{text}");
        assert!(text.contains(r#""total_amount":"10000""#), "{text}");
        assert!(text.contains(r#""withdraw_status":"1""#), "{text}");
        let b = BalanceView {
            balance: Fen(5),
            withdraw_limit: Fen(100_000_000),
        };
        let text = canonical(balance(&b, "APP"));
        assert!(text.contains(r#""balance":0.05"#), "{text}");
        assert!(text.contains(r#""withdraw_limit":1000000.00"#), "{text}");
    }

    fn canonical(map: Map<String, Value>) -> String {
        crate::protocol::signing::canonical_json(&Value::Object(map))
    }
}
