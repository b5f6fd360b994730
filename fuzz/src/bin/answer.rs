//! AFL++ harness: any text as a gateway answer body. The literal-preserving reader and
//! serde_json agree on what is JSON (less duplicate keys); nothing verifies without the key;
//! the answers' field parsing reads any object without panicking.

use scanpay_core::protocol::literal_json::{self, LiteralError};
use scanpay_core::protocol::signing::verify_answer;
use scanpay_core::protocol::{
    AmountUnit, AnswerTo, AppAnswer, BalanceAnswer, Expected, Fen, MerchantKey, SettleAnswer,
    SignRules, TradeAnswer,
};
use serde_json::Value;

fn main() {
    let key = MerchantKey::new("8f3b2c1d4e5a6978695a4b3c2d1e0f7a");
    afl::fuzz!(|data: &[u8]| {
        let Ok(body) = std::str::from_utf8(data) else {
            return;
        };
        let serde = serde_json::from_str::<Value>(body);
        match literal_json::parse(body) {
            Ok(_) => assert!(serde.is_ok(), "only literal_json accepted {body:?}"),
            Err(LiteralError::DuplicateKey { .. }) => {}
            Err(LiteralError::Syntax(_)) => {
                assert!(serde.is_err(), "only serde_json accepted {body:?}")
            }
        }
        for lowercase_values in [true, false] {
            let rules = SignRules { lowercase_values };
            assert!(
                verify_answer(body, &key, rules).is_err(),
                "verified {body:?}"
            );
        }
        // The field parsing, on the object as if it had verified.
        let Ok(Value::Object(map)) = serde else {
            return;
        };
        let map = match map.get("result_response") {
            Some(Value::Object(inner)) => inner.clone(),
            _ => map,
        };
        let expected = Expected {
            out_trade_no: "POS1-20261125-000001",
            total_amount: Fen(1250),
        };
        for unit in [AmountUnit::Yuan, AmountUnit::Fen] {
            if let Ok(answer) = TradeAnswer::from_result_response(&map, unit) {
                for to in [AnswerTo::Pay, AnswerTo::Query, AnswerTo::Notify] {
                    let _ = answer.outcome(to);
                    let _ = answer.outcome_for(to, expected);
                }
            }
        }
        let _ = SettleAnswer::from_result_response(map.clone());
        let _ = BalanceAnswer::from_result_response(map.clone());
        let _ = AppAnswer::from_result_response(map);
    });
}
