//! Typed answers of every endpoint of the gateway (`docs/protocol.md`), read from a
//! `result_response` whose signature checked out.
//!
//! An answer is verified first (`verify`, which is `signing::verify_answer` with the
//! merchant's key and rules) and only then read into typed fields; a signed answer whose
//! fields are not what the protocol says is [`MalformedAnswer`]. What a trade answer *means*
//! for a sale is not decided here but by `protocol::outcome`. Settle, balance and app answers
//! keep their verified `result_response` as received, unknown fields included.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::requests::Merchant;
use crate::protocol::codes::{wire_enum, ErrCode, ResultCode, TradeStatus};
use crate::protocol::money::{Fen, MoneyError};
use crate::protocol::payment_code::Payway;
use crate::protocol::signing::{self, VerifyError};

/// A verified answer whose fields are not what the protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedAnswer {
    #[error("answer has no result_code")]
    NoResultCode,
    #[error("answer field {field} is {raw}, expected text")]
    NotText { field: &'static str, raw: String },
    #[error("answer field {field}: {source}")]
    Amount {
        field: &'static str,
        source: MoneyError,
    },
    #[error("answer field {field} is {raw:?}; expected {expected}")]
    Field {
        field: &'static str,
        raw: String,
        expected: &'static str,
    },
}

/// Verifies an answer or callback body with the merchant's key and rules.
pub fn verify(body: &str, merchant: &Merchant) -> Result<Map<String, Value>, VerifyError> {
    signing::verify_answer(body, &merchant.key, merchant.rules).map(|v| v.result_response)
}

/// The unit the gateway used for `total_amount` in this answer (docs/protocol.md, Money).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountUnit {
    /// codepay and query answers.
    Yuan,
    /// notify callbacks.
    Fen,
}

/// The trade fields of a verified codepay, query or notify `result_response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeAnswer {
    pub result_code: ResultCode,
    pub err_code: Option<ErrCode>,
    pub err_code_des: Option<String>,
    pub trade_status: Option<TradeStatus>,
    pub out_trade_no: Option<String>,
    pub trade_no: Option<String>,
    pub total_amount: Option<Fen>,
    pub paytype: Option<String>,
    pub pay_date: Option<String>,
}

impl TradeAnswer {
    /// Reads the trade fields; unknown fields are ignored (they decide nothing).
    pub fn from_result_response(
        map: &Map<String, Value>,
        unit: AmountUnit,
    ) -> Result<TradeAnswer, MalformedAnswer> {
        let (result_code, err_code, err_code_des) = status_fields(map)?;
        Ok(TradeAnswer {
            result_code,
            err_code,
            err_code_des,
            trade_status: text_field(map, "trade_status")?.map(|s| TradeStatus::parse(&s)),
            out_trade_no: text_field(map, "out_trade_no")?,
            trade_no: text_field(map, "trade_no")?,
            total_amount: amount_field(map, "total_amount", unit)?,
            paytype: text_field(map, "paytype")?,
            pay_date: text_field(map, "pay_date")?,
        })
    }

    /// The wallet the answer's `paytype` names, in the numbers of the pay request's
    /// `payway` (`1` Alipay, `3` WeChat Pay, …). None when absent or a number this version
    /// does not know: it only fills in the sale's wallet and decides nothing.
    pub fn payway(&self) -> Option<Payway> {
        let code = self.paytype.as_deref()?.trim().parse::<u8>().ok()?;
        Payway::from_code(code)
    }
}

/// Why a notify callback is refused: its outcome will come from a query instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedCallback {
    #[error("notify callback is not trusted: {0}; the order's outcome will come from a query")]
    Untrusted(#[from] VerifyError),
    #[error(
        "notify callback is signed but malformed: {0}; the order's outcome will come from a query"
    )]
    Malformed(#[from] MalformedAnswer),
}

/// Reads the gateway's notify callback body (its `total_amount` is in fen), verified.
/// Untrusted is an error.
pub fn parse_notify(body: &str, merchant: &Merchant) -> Result<TradeAnswer, RefusedCallback> {
    let result_response = verify(body, merchant)?;
    Ok(TradeAnswer::from_result_response(
        &result_response,
        AmountUnit::Fen,
    )?)
}

wire_enum! {
    /// settle / settlequery `withdraw_status`.
    WithdrawStatus {
        Failed = "0",
        Succeeded = "1",
        Processing = "2",
        /// Returned by the bank.
        Returned = "3",
        /// Handed to manual review.
        ManualReview = "9",
    }
}

wire_enum! {
    /// balance_query `withdrawal_way`: when a withdrawal reaches the bank.
    WithdrawalWay {
        /// d0: the same day.
        SameDay = "0",
        /// d1: the next day.
        NextDay = "1",
        /// t1: the next working day.
        NextWorkingDay = "11",
    }
}

/// A time of day as `HH:mm` (the withdrawal window). `24:00` is accepted as the end of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct ClockTime {
    pub hour: u8,
    pub minute: u8,
}

impl ClockTime {
    pub fn parse(text: &str) -> Option<ClockTime> {
        let (h, m) = text.split_once(':')?;
        if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let (hour, minute): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
        let valid = (hour < 24 && minute < 60) || (hour == 24 && minute == 0);
        valid.then_some(ClockTime { hour, minute })
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl From<ClockTime> for String {
    fn from(time: ClockTime) -> String {
        time.to_string()
    }
}

/// The status part every answer has.
fn status_fields(
    map: &Map<String, Value>,
) -> Result<(ResultCode, Option<ErrCode>, Option<String>), MalformedAnswer> {
    let result_code = text_field(map, "result_code")?.ok_or(MalformedAnswer::NoResultCode)?;
    Ok((
        ResultCode::parse(&result_code),
        text_field(map, "err_code")?.map(|s| ErrCode::parse(&s)),
        text_field(map, "err_code_des")?,
    ))
}

fn amount_field(
    map: &Map<String, Value>,
    field: &'static str,
    unit: AmountUnit,
) -> Result<Option<Fen>, MalformedAnswer> {
    let value = match map.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(value) => value,
    };
    let parsed = match unit {
        AmountUnit::Yuan => Fen::from_json_yuan(value),
        AmountUnit::Fen => Fen::from_json_fen(value),
    };
    parsed
        .map(Some)
        .map_err(|source| MalformedAnswer::Amount { field, source })
}

fn clock_field(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<ClockTime>, MalformedAnswer> {
    match text_field(map, field)? {
        None => Ok(None),
        Some(raw) => match ClockTime::parse(&raw) {
            Some(time) => Ok(Some(time)),
            None => Err(MalformedAnswer::Field {
                field,
                raw,
                expected: "a time of day as HH:mm",
            }),
        },
    }
}

/// Whether an answer's status says the call succeeded: result_code 10000 and no err_code
/// other than SUCCESS.
fn status_is_success(result_code: &ResultCode, err_code: &Option<ErrCode>) -> bool {
    *result_code == ResultCode::Success && matches!(err_code, None | Some(ErrCode::Success))
}

/// A settle or settlequery answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettleAnswer {
    pub result_code: ResultCode,
    pub err_code: Option<ErrCode>,
    pub err_code_des: Option<String>,
    pub withdraw_status: Option<WithdrawStatus>,
    /// Requested amount, fee included (the gateway sends fen here).
    pub total_amount: Option<Fen>,
    /// What reaches the bank (the gateway sends yuan here).
    pub actual_amount: Option<Fen>,
    /// The fee (yuan on the wire).
    pub service_amount: Option<Fen>,
    pub settle_time: Option<String>,
    pub trade_no: Option<String>,
    /// The verified `result_response` exactly as received.
    pub result_response: Map<String, Value>,
}

impl SettleAnswer {
    pub fn from_result_response(
        result_response: Map<String, Value>,
    ) -> Result<SettleAnswer, MalformedAnswer> {
        let map = &result_response;
        let (result_code, err_code, err_code_des) = status_fields(map)?;
        Ok(SettleAnswer {
            result_code,
            err_code,
            err_code_des,
            withdraw_status: text_field(map, "withdraw_status")?.map(|s| WithdrawStatus::parse(&s)),
            total_amount: amount_field(map, "total_amount", AmountUnit::Fen)?,
            actual_amount: amount_field(map, "actual_amount", AmountUnit::Yuan)?,
            service_amount: amount_field(map, "service_amount", AmountUnit::Yuan)?,
            settle_time: text_field(map, "settle_time")?,
            trade_no: text_field(map, "trade_no")?,
            result_response,
        })
    }

    /// The gateway accepted the call (the withdrawal's own state is `withdraw_status`).
    pub fn is_success(&self) -> bool {
        status_is_success(&self.result_code, &self.err_code)
    }
}

/// A balance_query answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceAnswer {
    pub result_code: ResultCode,
    pub err_code: Option<ErrCode>,
    pub err_code_des: Option<String>,
    /// Yuan on the wire.
    pub balance: Option<Fen>,
    /// Start of the daily withdrawal window.
    pub start_time: Option<ClockTime>,
    /// End of the daily withdrawal window.
    pub end_time: Option<ClockTime>,
    /// As received: the spec does not say whether it is an amount or a count.
    pub withdraw_limit: Option<String>,
    pub withdrawal_way: Option<WithdrawalWay>,
    /// The verified `result_response` exactly as received.
    pub result_response: Map<String, Value>,
}

impl BalanceAnswer {
    pub fn from_result_response(
        result_response: Map<String, Value>,
    ) -> Result<BalanceAnswer, MalformedAnswer> {
        let map = &result_response;
        let (result_code, err_code, err_code_des) = status_fields(map)?;
        Ok(BalanceAnswer {
            result_code,
            err_code,
            err_code_des,
            balance: amount_field(map, "balance", AmountUnit::Yuan)?,
            start_time: clock_field(map, "start_time")?,
            end_time: clock_field(map, "end_time")?,
            withdraw_limit: text_field(map, "withdraw_limit")?,
            withdrawal_way: text_field(map, "withdrawal_way")?.map(|s| WithdrawalWay::parse(&s)),
            result_response,
        })
    }

    pub fn is_success(&self) -> bool {
        status_is_success(&self.result_code, &self.err_code)
    }
}

/// An app endpoint answer: the wallet deep link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppAnswer {
    pub result_code: ResultCode,
    pub err_code: Option<ErrCode>,
    pub err_code_des: Option<String>,
    /// Present whenever the call succeeded.
    pub url: Option<String>,
    /// The verified `result_response` exactly as received.
    pub result_response: Map<String, Value>,
}

impl AppAnswer {
    pub fn from_result_response(
        result_response: Map<String, Value>,
    ) -> Result<AppAnswer, MalformedAnswer> {
        let map = &result_response;
        let (result_code, err_code, err_code_des) = status_fields(map)?;
        let url = text_field(map, "url")?;
        if url.is_none() && status_is_success(&result_code, &err_code) {
            return Err(MalformedAnswer::Field {
                field: "url",
                raw: String::new(),
                expected: "the wallet link in a successful app answer",
            });
        }
        Ok(AppAnswer {
            result_code,
            err_code,
            err_code_des,
            url,
            result_response,
        })
    }

    pub fn is_success(&self) -> bool {
        status_is_success(&self.result_code, &self.err_code)
    }
}

/// Reads a scalar field as text: strings as they are, numbers as their literal; absent, null
/// and empty mean "not given".
fn text_field(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, MalformedAnswer> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(MalformedAnswer::NotText {
            field,
            raw: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::test_merchant::merchant;
    use crate::protocol::signing::{MerchantKey, SignRules};

    #[test]
    fn reads_trade_fields_from_a_verified_answer() {
        let map: Map<String, Value> = serde_json::from_str(
            r#"{"result_code":"10000","trade_status":"TRADE_SUCCESS","total_amount":12.50,"trade_no":"T1","err_code":"","pay_date":null,"extra":1}"#,
        )
        .unwrap();
        let answer = TradeAnswer::from_result_response(&map, AmountUnit::Yuan).unwrap();
        assert_eq!(answer.total_amount, Some(Fen(1250)));
        assert_eq!(answer.err_code, None);
        assert_eq!(answer.trade_no.as_deref(), Some("T1"));
        assert_eq!(answer.trade_status, Some(TradeStatus::TradeSuccess));

        let notify: Map<String, Value> =
            serde_json::from_str(r#"{"result_code":10000,"total_amount":"1250"}"#).unwrap();
        let answer = TradeAnswer::from_result_response(&notify, AmountUnit::Fen).unwrap();
        assert_eq!(answer.result_code, ResultCode::Success);
        assert_eq!(answer.total_amount, Some(Fen(1250)));

        let bad: Map<String, Value> =
            serde_json::from_str(r#"{"result_code":"10000","total_amount":"12.345"}"#).unwrap();
        let err = TradeAnswer::from_result_response(&bad, AmountUnit::Yuan).unwrap_err();
        assert!(
            err.to_string().contains("total_amount") && err.to_string().contains("12.345"),
            "{err}"
        );
        let none: Map<String, Value> =
            serde_json::from_str(r#"{"trade_status":"TRADE_SUCCESS"}"#).unwrap();
        assert_eq!(
            TradeAnswer::from_result_response(&none, AmountUnit::Yuan),
            Err(MalformedAnswer::NoResultCode)
        );
        let not_text: Map<String, Value> =
            serde_json::from_str(r#"{"result_code":"10000","out_trade_no":["A-1"]}"#).unwrap();
        assert_eq!(
            TradeAnswer::from_result_response(&not_text, AmountUnit::Yuan),
            Err(MalformedAnswer::NotText {
                field: "out_trade_no",
                raw: r#"["A-1"]"#.into()
            })
        );
    }

    fn signed_body(pairs: &str) -> String {
        let map: Map<String, Value> = serde_json::from_str(pairs).unwrap();
        signing::signed_answer(map, &merchant().key, SignRules::default())
    }

    #[test]
    fn notify_is_verified_and_read_in_fen() {
        let body = signed_body(
            r#"{"result_code":"10000","out_trade_no":"A-1","trade_no":"T9","total_amount":"1250","trade_status":"TRADE_SUCCESS","pay_date":"1764072000","new_field":"kept"}"#,
        );
        // An unknown field is covered by the signature and read past.
        let answer = parse_notify(&body, &merchant()).unwrap();
        assert_eq!(answer.total_amount, Some(Fen(1250)));
        assert_eq!(answer.out_trade_no.as_deref(), Some("A-1"));
        assert_eq!(answer.trade_no.as_deref(), Some("T9"));
        assert_eq!(answer.trade_status, Some(TradeStatus::TradeSuccess));

        let unsigned = r#"{"result_response":{"result_code":"10000","total_amount":"1250"}}"#;
        assert_eq!(
            parse_notify(unsigned, &merchant()),
            Err(RefusedCallback::Untrusted(VerifyError::Unsigned))
        );
        let wrong_sign = body.replace(
            &body[body.len() - 34..body.len() - 2],
            "00000000000000000000000000000000",
        );
        assert_eq!(
            parse_notify(&wrong_sign, &merchant()),
            Err(RefusedCallback::Untrusted(VerifyError::BadSignature))
        );
        // The signature covers lowercased text: a key in another case still "matches".
        let recased = body.replacen("\"total_amount\":", "\"total_amounT\":", 1);
        assert_eq!(
            parse_notify(&recased, &merchant()),
            Err(RefusedCallback::Untrusted(VerifyError::KeyNotLowercase {
                key: "total_amounT".into()
            }))
        );
        let tampered = body.replace("\"1250\"", "\"1\"");
        assert_eq!(
            parse_notify(&tampered, &merchant()),
            Err(RefusedCallback::Untrusted(VerifyError::BadSignature))
        );
        let other_key = Merchant {
            key: MerchantKey::new("another key"),
            ..merchant()
        };
        assert_eq!(
            parse_notify(&body, &other_key),
            Err(RefusedCallback::Untrusted(VerifyError::BadSignature))
        );
        // Signed but in yuan where fen is expected: malformed, not trusted as an amount.
        let yuan = signed_body(r#"{"result_code":"10000","total_amount":"12.50"}"#);
        let err = parse_notify(&yuan, &merchant()).unwrap_err();
        assert!(matches!(err, RefusedCallback::Malformed(_)), "{err:?}");
        assert!(err.to_string().contains("12.50"), "{err}");
    }

    #[test]
    fn settle_answer_reads_fen_and_yuan_fields() {
        let map: Map<String, Value> = serde_json::from_str(
            r#"{"result_code":"10000","err_code":"SUCCESS","withdraw_status":1,"total_amount":"10000","actual_amount":99.40,"service_amount":"0.6","settle_time":"2026-11-25 10:00:00","trade_no":"W1","bank":"kept"}"#,
        )
        .unwrap();
        let answer = SettleAnswer::from_result_response(map.clone()).unwrap();
        assert_eq!(answer.withdraw_status, Some(WithdrawStatus::Succeeded));
        assert_eq!(answer.total_amount, Some(Fen(10000)));
        assert_eq!(answer.actual_amount, Some(Fen(9940)));
        assert_eq!(answer.service_amount, Some(Fen(60)));
        assert_eq!(answer.settle_time.as_deref(), Some("2026-11-25 10:00:00"));
        assert_eq!(answer.trade_no.as_deref(), Some("W1"));
        assert_eq!(answer.result_response, map);
        assert!(answer.is_success());

        let statuses: Vec<String> = ["0", "1", "2", "3", "9", "7"]
            .iter()
            .map(|s| format!("{:?}", WithdrawStatus::parse(s)))
            .collect();
        assert_eq!(
            statuses,
            [
                "Failed",
                "Succeeded",
                "Processing",
                "Returned",
                "ManualReview",
                "Other(\"7\")"
            ]
        );

        let failed: Map<String, Value> = serde_json::from_str(
            r#"{"result_code":"40004","err_code":"INSUFFICIENT","err_code_des":"余额不足"}"#,
        )
        .unwrap();
        let answer = SettleAnswer::from_result_response(failed).unwrap();
        assert!(!answer.is_success());
        assert_eq!(answer.err_code, Some(ErrCode::Insufficient));
        assert_eq!(answer.err_code_des.as_deref(), Some("余额不足"));

        let bad: Map<String, Value> =
            serde_json::from_str(r#"{"result_code":"10000","actual_amount":"1.234"}"#).unwrap();
        let err = SettleAnswer::from_result_response(bad).unwrap_err();
        assert!(
            err.to_string().contains("actual_amount") && err.to_string().contains("1.234"),
            "{err}"
        );
        let yuan_total: Map<String, Value> =
            serde_json::from_str(r#"{"result_code":"10000","total_amount":"100.00"}"#).unwrap();
        assert!(SettleAnswer::from_result_response(yuan_total).is_err());
    }

    #[test]
    fn balance_answer_reads_window_and_way() {
        let map: Map<String, Value> = serde_json::from_str(
            r#"{"result_code":"10000","balance":"1234.56","start_time":"09:00","end_time":"24:00","withdraw_limit":"50000","withdrawal_way":"11"}"#,
        )
        .unwrap();
        let answer = BalanceAnswer::from_result_response(map).unwrap();
        assert_eq!(answer.balance, Some(Fen(123456)));
        assert_eq!(answer.start_time, Some(ClockTime { hour: 9, minute: 0 }));
        assert_eq!(
            answer.end_time.map(|t| t.to_string()).as_deref(),
            Some("24:00")
        );
        assert_eq!(answer.withdraw_limit.as_deref(), Some("50000"));
        assert_eq!(answer.withdrawal_way, Some(WithdrawalWay::NextWorkingDay));
        assert_eq!(WithdrawalWay::parse("0"), WithdrawalWay::SameDay);
        assert_eq!(WithdrawalWay::parse("1"), WithdrawalWay::NextDay);
        assert_eq!(WithdrawalWay::parse("2"), WithdrawalWay::Other("2".into()));

        for bad in ["9:00", "25:00", "12:60", "24:01", "12-00", "ab:cd"] {
            let map: Map<String, Value> = serde_json::from_str(&format!(
                r#"{{"result_code":"10000","start_time":"{bad}"}}"#
            ))
            .unwrap();
            let err = BalanceAnswer::from_result_response(map).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        let json = serde_json::to_value(ClockTime { hour: 9, minute: 5 }).unwrap();
        assert_eq!(json, "09:05");
    }

    #[test]
    fn app_answer_needs_a_url_when_successful() {
        let ok: Map<String, Value> =
            serde_json::from_str(r#"{"result_code":"10000","url":"alipays://platformapi/x"}"#)
                .unwrap();
        assert_eq!(
            AppAnswer::from_result_response(ok).unwrap().url.as_deref(),
            Some("alipays://platformapi/x")
        );
        let missing: Map<String, Value> =
            serde_json::from_str(r#"{"result_code":"10000"}"#).unwrap();
        assert!(AppAnswer::from_result_response(missing).is_err());
        let refused: Map<String, Value> = serde_json::from_str(
            r#"{"result_code":"40001","err_code":"LACK_PARAMS","err_code_des":"missing return_url"}"#,
        )
        .unwrap();
        let answer = AppAnswer::from_result_response(refused).unwrap();
        assert!(!answer.is_success());
        assert_eq!(answer.url, None);
        assert!(AppAnswer::from_result_response(Map::new()).is_err());
    }
}
