//! Typed requests for every endpoint of the gateway (`docs/protocol.md`).
//!
//! A request is checked (required fields, the spec's length limits, withdrawal limits) and only
//! then turned into its signed parameter map. Pure: the HTTP adapter (`crate::gateway`) does
//! the sending.

use std::collections::BTreeMap;
use std::fmt;

use crate::protocol::money::Fen;
use crate::protocol::payment_code::{PaymentCode, Payway};
use crate::protocol::signing::{self, MerchantKey, SignRules};

/// The spec's limits, in one place so they can be changed if the live gateway differs.
pub mod limits {
    use crate::protocol::money::Fen;

    pub const APP_ID: usize = 50;
    pub const AUTH_CODE: usize = 32;
    pub const NOTIFY_URL: usize = 256;
    pub const OPERATOR_ID: usize = 32;
    pub const OUT_TRADE_NO: usize = 64;
    pub const SUBJECT: usize = 256;
    /// h5 / app `return_url`: string(256) in the original document.
    pub const RETURN_URL: usize = 256;
    /// query by the gateway's `trade_no`: string(256) in the original document.
    pub const QUERY_TRADE_NO: usize = 256;
    /// settlequery `trade_no`: string(50) in the original document.
    pub const SETTLE_TRADE_NO: usize = 50;
    /// At most ¥50,000 per withdrawal request.
    pub const WITHDRAWAL_PER_REQUEST: Fen = Fen(5_000_000);
    /// At most ¥1,000,000 withdrawn per day.
    pub const WITHDRAWAL_PER_DAY: Fen = Fen(100_000_000);
}

/// How a field's length is counted. **Decision:** in characters (Unicode scalar values), not
/// bytes: the spec gives bare numbers, and a 100-character Chinese subject (300 bytes) is
/// ordinary. Changing this one function changes every check.
fn field_len(value: &str) -> usize {
    value.chars().count()
}

/// Who is calling the gateway: the merchant's app_id, key and signing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub app_id: String,
    /// `Debug` masks it.
    pub key: MerchantKey,
    pub rules: SignRules,
}

/// A request refused locally, before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error(
        "{field} is missing or empty; the gateway requires it: fill it in (config or request)"
    )]
    Missing { field: &'static str },
    #[error("{field} is {len} characters long; the gateway accepts at most {max}: shorten it")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} is {value}; it must be more than ¥0.00")]
    ZeroAmount { field: &'static str, value: Fen },
    #[error("{field} {value} is above the {limit_name} of {limit}: {hint}")]
    AboveLimit {
        field: &'static str,
        value: Fen,
        limit: Fen,
        limit_name: &'static str,
        hint: &'static str,
    },
}

/// A request's parameters and their signature, ready to send.
///
/// `Debug` masks `auth_code`: a full payment code never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedParams {
    params: BTreeMap<String, String>,
    sign: String,
}

impl SignedParams {
    /// The parameters as transmitted (and signed), sorted by key.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The 32-hex-digit MD5 signature.
    pub fn sign(&self) -> &str {
        &self.sign
    }

    /// The POST body: the parameters as a JSON object of strings.
    pub fn json_body(&self) -> String {
        serde_json::to_string(&self.params).expect("a map of strings always serializes")
    }

    /// The POST header value: `sign <md5>`.
    pub fn authorization(&self) -> String {
        format!("sign {}", self.sign)
    }

    /// The GET query string: every parameter percent-encoded after signing, `sign` last.
    pub fn query_string(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.params {
            percent_encode_into(key, &mut out);
            out.push('=');
            percent_encode_into(value, &mut out);
            out.push('&');
        }
        out.push_str("sign=");
        out.push_str(&self.sign);
        out
    }
}

impl fmt::Debug for SignedParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<&str, String> = self
            .params
            .iter()
            .map(|(k, v)| {
                let v = if k == "auth_code" {
                    crate::protocol::payment_code::mask(v)
                } else {
                    v.clone()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("SignedParams")
            .field("params", &shown)
            .field("sign", &self.sign)
            .finish()
    }
}

/// UTF-8 percent-encoding (RFC 3986): everything but the unreserved characters is escaped,
/// so a space is `%20`, never `+`.
fn percent_encode_into(text: &str, out: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Collects checked parameters, then signs them.
struct ParamsBuilder<'m> {
    merchant: &'m Merchant,
    params: BTreeMap<String, String>,
}

impl<'m> ParamsBuilder<'m> {
    fn new(merchant: &'m Merchant) -> Result<ParamsBuilder<'m>, FieldError> {
        let mut builder = ParamsBuilder {
            merchant,
            params: BTreeMap::new(),
        };
        builder.required("app_id", &merchant.app_id, Some(limits::APP_ID))?;
        Ok(builder)
    }

    /// A required text: present, not blank, within `max` characters.
    fn required(
        &mut self,
        field: &'static str,
        value: &str,
        max: Option<usize>,
    ) -> Result<&mut Self, FieldError> {
        if value.trim().is_empty() {
            return Err(FieldError::Missing { field });
        }
        if let Some(max) = max {
            let len = field_len(value);
            if len > max {
                return Err(FieldError::TooLong { field, len, max });
            }
        }
        self.params.insert(field.to_string(), value.to_string());
        Ok(self)
    }

    /// An optional parameter: with no value it is neither sent nor signed (docs/protocol.md, Signing, step 1).
    fn optional(&mut self, field: &'static str, value: Option<String>) -> &mut Self {
        if let Some(value) = value {
            self.params.insert(field.to_string(), value);
        }
        self
    }

    /// A positive amount in fen, at most `limit`.
    fn amount(
        &mut self,
        field: &'static str,
        value: Fen,
        limit: Option<(Fen, &'static str, &'static str)>,
    ) -> Result<&mut Self, FieldError> {
        if value.0 == 0 {
            return Err(FieldError::ZeroAmount { field, value });
        }
        if let Some((limit, limit_name, hint)) = limit {
            if value > limit {
                return Err(FieldError::AboveLimit {
                    field,
                    value,
                    limit,
                    limit_name,
                    hint,
                });
            }
        }
        self.params.insert(field.to_string(), value.fen_string());
        Ok(self)
    }

    fn finish(&mut self) -> SignedParams {
        let params = std::mem::take(&mut self.params);
        let sign = signing::sign_params(&params, &self.merchant.key, self.merchant.rules);
        SignedParams { params, sign }
    }
}

/// codepay: the merchant scans the customer's payment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    pub out_trade_no: String,
    /// `Debug` masks it.
    pub auth_code: PaymentCode,
    pub total_amount: Fen,
    pub subject: String,
    pub operator_id: String,
    pub notify_url: String,
    pub payway: Option<Payway>,
}

impl PayRequest {
    pub fn signed(&self, merchant: &Merchant) -> Result<SignedParams, FieldError> {
        Ok(ParamsBuilder::new(merchant)?
            .required(
                "auth_code",
                self.auth_code.expose(),
                Some(limits::AUTH_CODE),
            )?
            .required("notify_url", &self.notify_url, Some(limits::NOTIFY_URL))?
            .required("operator_id", &self.operator_id, Some(limits::OPERATOR_ID))?
            .required(
                "out_trade_no",
                &self.out_trade_no,
                Some(limits::OUT_TRADE_NO),
            )?
            .required("subject", &self.subject, Some(limits::SUBJECT))?
            .amount("total_amount", self.total_amount, None)?
            .optional("payway", self.payway.map(|p| p.code().to_string()))
            .finish())
    }
}

/// h5 and app: a customer-facing payment page or wallet deep link (the customer scans or taps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPayRequest {
    pub out_trade_no: String,
    pub total_amount: Fen,
    pub subject: String,
    pub operator_id: String,
    pub notify_url: String,
    /// Where the browser goes after paying (at most 256 characters).
    pub return_url: String,
    pub payway: Option<Payway>,
}

impl WebPayRequest {
    pub fn signed(&self, merchant: &Merchant) -> Result<SignedParams, FieldError> {
        Ok(ParamsBuilder::new(merchant)?
            .required("notify_url", &self.notify_url, Some(limits::NOTIFY_URL))?
            .required("operator_id", &self.operator_id, Some(limits::OPERATOR_ID))?
            .required(
                "out_trade_no",
                &self.out_trade_no,
                Some(limits::OUT_TRADE_NO),
            )?
            .required("return_url", &self.return_url, Some(limits::RETURN_URL))?
            .required("subject", &self.subject, Some(limits::SUBJECT))?
            .amount("total_amount", self.total_amount, None)?
            .optional("payway", self.payway.map(|p| p.code().to_string()))
            .finish())
    }
}

/// The path of the h5 page, relative to the base URL.
pub const H5_PATH: &str = "/getway/";
/// The path of the app deep-link endpoint, relative to the base URL.
pub const APP_PATH: &str = "/getway/app";

/// The full GET URL of an endpoint: base URL (a trailing `/` is ignored), path, `?`, the
/// percent-encoded parameters, `&sign=` last.
pub fn get_url(base_url: &str, path: &str, signed: &SignedParams) -> String {
    format!(
        "{}{}?{}",
        base_url.trim_end_matches('/'),
        path,
        signed.query_string()
    )
}

/// The h5 payment page's URL (no network): show it as a QR code for the customer.
pub fn h5_url(
    base_url: &str,
    request: &WebPayRequest,
    merchant: &Merchant,
) -> Result<String, FieldError> {
    Ok(get_url(base_url, H5_PATH, &request.signed(merchant)?))
}

/// query: one order, by exactly one of its two numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryRequest {
    /// The terminal's own number (the idempotency key).
    ByOutTradeNo(String),
    /// The gateway's number.
    ByTradeNo(String),
}

impl QueryRequest {
    pub fn signed(&self, merchant: &Merchant) -> Result<SignedParams, FieldError> {
        let mut builder = ParamsBuilder::new(merchant)?;
        match self {
            QueryRequest::ByOutTradeNo(no) => {
                builder.required("out_trade_no", no, Some(limits::OUT_TRADE_NO))?
            }
            QueryRequest::ByTradeNo(no) => {
                builder.required("trade_no", no, Some(limits::QUERY_TRADE_NO))?
            }
        };
        Ok(builder.finish())
    }

    /// The out_trade_no this query is about, if it asks by that number.
    pub fn out_trade_no(&self) -> Option<&str> {
        match self {
            QueryRequest::ByOutTradeNo(no) => Some(no),
            QueryRequest::ByTradeNo(_) => None,
        }
    }
}

/// settle: withdraw to the merchant's bank account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleRequest {
    /// Fee included; more than zero and at most ¥50,000.
    pub total_amount: Fen,
}

impl SettleRequest {
    pub fn signed(&self, merchant: &Merchant) -> Result<SignedParams, FieldError> {
        Ok(ParamsBuilder::new(merchant)?
            .amount(
                "total_amount",
                self.total_amount,
                Some((
                    limits::WITHDRAWAL_PER_REQUEST,
                    "per-request withdrawal limit",
                    "split it into several withdrawals",
                )),
            )?
            .finish())
    }
}

/// Checks the daily withdrawal limit (¥1,000,000) given what was already withdrawn today;
/// the caller keeps that sum (the journal), this function only does the arithmetic.
pub fn check_daily_withdrawal(already_today: Fen, requested: Fen) -> Result<(), FieldError> {
    let total = Fen(already_today.0.saturating_add(requested.0));
    if total > limits::WITHDRAWAL_PER_DAY {
        return Err(FieldError::AboveLimit {
            field: "total_amount",
            value: total,
            limit: limits::WITHDRAWAL_PER_DAY,
            limit_name: "daily withdrawal limit (today's withdrawals included)",
            hint: "withdraw the rest tomorrow",
        });
    }
    Ok(())
}

/// settlequery: where a withdrawal stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleQueryRequest {
    /// The withdrawal's trade_no, from the settle answer.
    pub trade_no: String,
}

impl SettleQueryRequest {
    pub fn signed(&self, merchant: &Merchant) -> Result<SignedParams, FieldError> {
        Ok(ParamsBuilder::new(merchant)?
            .required("trade_no", &self.trade_no, Some(limits::SETTLE_TRADE_NO))?
            .finish())
    }
}

/// balance_query: the merchant's balance and withdrawal window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BalanceQueryRequest;

impl BalanceQueryRequest {
    pub fn signed(&self, merchant: &Merchant) -> Result<SignedParams, FieldError> {
        Ok(ParamsBuilder::new(merchant)?.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::test_merchant::{merchant, KEY};

    fn pay() -> PayRequest {
        PayRequest {
            out_trade_no: "POS1-20261125-000001".into(),
            auth_code: PaymentCode::parse("134523198765432101").unwrap(),
            total_amount: Fen(1250),
            subject: "Coffee Latte".into(),
            operator_id: "001".into(),
            notify_url: "http://pos.example.com/notify".into(),
            payway: Some(Payway::WeChat),
        }
    }

    fn web() -> WebPayRequest {
        WebPayRequest {
            out_trade_no: "A-1".into(),
            total_amount: Fen(1),
            subject: "拿铁咖啡 大杯".into(),
            operator_id: "Cashier-07".into(),
            notify_url: "http://pos.example.com/notify".into(),
            return_url: "http://pos.example.com/done?x=1&y=2".into(),
            payway: None,
        }
    }

    fn pairs(signed: &SignedParams) -> Vec<(String, String)> {
        signed
            .params()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pay_request_is_the_spec_vector() {
        let signed = pay().signed(&merchant()).unwrap();
        assert_eq!(
            pairs(&signed),
            owned(&[
                ("app_id", "JYK2018100001"),
                ("auth_code", "134523198765432101"),
                ("notify_url", "http://pos.example.com/notify"),
                ("operator_id", "001"),
                ("out_trade_no", "POS1-20261125-000001"),
                ("payway", "3"),
                ("subject", "Coffee Latte"),
                ("total_amount", "1250"),
            ])
        );
        assert_eq!(signed.sign(), "f929572fe16f4c2d8d5485c89fa5312a");
        assert_eq!(
            signed.authorization(),
            "sign f929572fe16f4c2d8d5485c89fa5312a"
        );
        let body: BTreeMap<String, String> = serde_json::from_str(&signed.json_body()).unwrap();
        assert_eq!(&body, signed.params());
    }

    #[test]
    fn pay_request_without_payway_sends_and_signs_no_payway() {
        let request = PayRequest {
            out_trade_no: "A-1".into(),
            auth_code: PaymentCode::parse("284523198765432101").unwrap(),
            total_amount: Fen(1),
            subject: "拿铁咖啡 大杯".into(),
            operator_id: "Cashier-07".into(),
            payway: None,
            ..pay()
        };
        let signed = request.signed(&merchant()).unwrap();
        assert!(!signed.params().contains_key("payway"));
        assert!(!signed.json_body().contains("payway"));
        // Spec vector 3: the same parameters, no payway.
        assert_eq!(signed.sign(), "82288fdc0142e334110f676d201b272f");
    }

    #[test]
    fn signed_params_debug_masks_the_payment_code() {
        let signed = pay().signed(&merchant()).unwrap();
        let debug = format!("{signed:?}");
        assert!(!debug.contains("134523198765432101"), "{debug}");
        assert!(debug.contains("1345…2101"), "{debug}");
        assert!(!format!("{:?}", merchant()).contains(KEY));
        assert!(!format!("{:?}", pay()).contains("134523198765432101"));
    }

    #[test]
    fn query_is_the_spec_vector_and_asks_by_one_number() {
        let signed = QueryRequest::ByOutTradeNo("POS1-20261125-000001".into())
            .signed(&merchant())
            .unwrap();
        assert_eq!(
            pairs(&signed),
            owned(&[
                ("app_id", "JYK2018100001"),
                ("out_trade_no", "POS1-20261125-000001")
            ])
        );
        assert_eq!(signed.sign(), "61f6dbb4177c4b54b4e730bbb8b08967");

        let by_trade_no = QueryRequest::ByTradeNo("2026112522001".into())
            .signed(&merchant())
            .unwrap();
        assert_eq!(
            pairs(&by_trade_no),
            owned(&[("app_id", "JYK2018100001"), ("trade_no", "2026112522001")])
        );
        assert_eq!(
            by_trade_no.sign(),
            signing::sign_params(by_trade_no.params(), &merchant().key, SignRules::default())
        );
    }

    #[test]
    fn settle_settlequery_and_balance_params() {
        let settle = SettleRequest {
            total_amount: Fen(5_000_000),
        }
        .signed(&merchant())
        .unwrap();
        assert_eq!(
            pairs(&settle),
            owned(&[("app_id", "JYK2018100001"), ("total_amount", "5000000")])
        );
        let query = SettleQueryRequest {
            trade_no: "W1".into(),
        }
        .signed(&merchant())
        .unwrap();
        assert_eq!(
            pairs(&query),
            owned(&[("app_id", "JYK2018100001"), ("trade_no", "W1")])
        );
        let balance = BalanceQueryRequest.signed(&merchant()).unwrap();
        assert_eq!(pairs(&balance), owned(&[("app_id", "JYK2018100001")]));
        for signed in [&settle, &query, &balance] {
            assert_eq!(
                signed.sign(),
                signing::sign_params(signed.params(), &merchant().key, SignRules::default())
            );
        }
    }

    #[test]
    fn web_pay_params_include_return_url() {
        let signed = web().signed(&merchant()).unwrap();
        assert_eq!(
            pairs(&signed),
            owned(&[
                ("app_id", "JYK2018100001"),
                ("notify_url", "http://pos.example.com/notify"),
                ("operator_id", "Cashier-07"),
                ("out_trade_no", "A-1"),
                ("return_url", "http://pos.example.com/done?x=1&y=2"),
                ("subject", "拿铁咖啡 大杯"),
                ("total_amount", "1"),
            ])
        );
    }

    #[test]
    fn h5_url_signs_raw_values_then_percent_encodes() {
        let request = WebPayRequest {
            payway: Some(Payway::Alipay),
            ..web()
        };
        let url = h5_url("http://api.juyouke.cc/", &request, &merchant()).unwrap();
        let signed = request.signed(&merchant()).unwrap();
        // The signature is over the raw values (Chinese text and spaces unencoded).
        assert_eq!(
            signed.sign(),
            signing::sign_params(signed.params(), &merchant().key, SignRules::default())
        );
        assert_eq!(
            url,
            format!(
                "http://api.juyouke.cc/getway/?app_id=JYK2018100001\
                 &notify_url=http%3A%2F%2Fpos.example.com%2Fnotify\
                 &operator_id=Cashier-07&out_trade_no=A-1&payway=1\
                 &return_url=http%3A%2F%2Fpos.example.com%2Fdone%3Fx%3D1%26y%3D2\
                 &subject=%E6%8B%BF%E9%93%81%E5%92%96%E5%95%A1%20%E5%A4%A7%E6%9D%AF\
                 &total_amount=1&sign={}",
                signed.sign()
            )
        );
        // Decoding the query gives back exactly the signed values.
        let parsed = url::Url::parse(&url).unwrap();
        let decoded: BTreeMap<String, String> = parsed
            .query_pairs()
            .filter(|(k, _)| k != "sign")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(&decoded, signed.params());
        assert!(url.ends_with(&format!("&sign={}", signed.sign())));
        assert_eq!(
            get_url("http://h/base", APP_PATH, &signed),
            format!("http://h/base/getway/app?{}", signed.query_string())
        );
    }

    #[test]
    fn every_length_limit_is_checked() {
        type Build = Box<dyn Fn(String) -> Result<SignedParams, FieldError>>;
        let cases: Vec<(&str, usize, Build)> = vec![
            (
                "out_trade_no",
                64,
                Box::new(|v| {
                    PayRequest {
                        out_trade_no: v,
                        ..pay()
                    }
                    .signed(&merchant())
                }),
            ),
            (
                "subject",
                256,
                Box::new(|v| {
                    PayRequest {
                        subject: v,
                        ..pay()
                    }
                    .signed(&merchant())
                }),
            ),
            (
                "operator_id",
                32,
                Box::new(|v| {
                    PayRequest {
                        operator_id: v,
                        ..pay()
                    }
                    .signed(&merchant())
                }),
            ),
            (
                "notify_url",
                256,
                Box::new(|v| {
                    PayRequest {
                        notify_url: v,
                        ..pay()
                    }
                    .signed(&merchant())
                }),
            ),
            (
                "app_id",
                50,
                Box::new(|v| {
                    pay().signed(&Merchant {
                        app_id: v,
                        ..merchant()
                    })
                }),
            ),
            (
                "out_trade_no",
                64,
                Box::new(|v| QueryRequest::ByOutTradeNo(v).signed(&merchant())),
            ),
            (
                "subject",
                256,
                Box::new(|v| {
                    WebPayRequest {
                        subject: v,
                        ..web()
                    }
                    .signed(&merchant())
                }),
            ),
            // The limits below are the original document's (the English reading omits them).
            (
                "return_url",
                256,
                Box::new(|v| {
                    WebPayRequest {
                        return_url: v,
                        ..web()
                    }
                    .signed(&merchant())
                }),
            ),
            (
                "trade_no",
                256,
                Box::new(|v| QueryRequest::ByTradeNo(v).signed(&merchant())),
            ),
            (
                "trade_no",
                50,
                Box::new(|v| SettleQueryRequest { trade_no: v }.signed(&merchant())),
            ),
        ];
        for (field, max, build) in cases {
            // Exactly at the limit (in characters, even multi-byte ones) is accepted.
            assert!(build("拿".repeat(max)).is_ok(), "{field} at {max}");
            let err = build("a".repeat(max + 1)).unwrap_err();
            assert_eq!(
                err,
                FieldError::TooLong {
                    field,
                    len: max + 1,
                    max
                }
            );
            let text = err.to_string();
            assert!(
                text.contains(field)
                    && text.contains(&(max + 1).to_string())
                    && text.contains(&max.to_string()),
                "{text}"
            );
            assert_eq!(
                build(String::new()).unwrap_err(),
                FieldError::Missing { field }
            );
            assert_eq!(
                build("  ".into()).unwrap_err(),
                FieldError::Missing { field }
            );
        }
    }

    #[test]
    fn required_fields_of_every_request() {
        assert_eq!(
            WebPayRequest {
                return_url: String::new(),
                ..web()
            }
            .signed(&merchant()),
            Err(FieldError::Missing {
                field: "return_url"
            })
        );
        assert_eq!(
            QueryRequest::ByTradeNo(String::new()).signed(&merchant()),
            Err(FieldError::Missing { field: "trade_no" })
        );
        assert_eq!(
            SettleQueryRequest {
                trade_no: " ".into()
            }
            .signed(&merchant()),
            Err(FieldError::Missing { field: "trade_no" })
        );
        assert_eq!(
            BalanceQueryRequest.signed(&Merchant {
                app_id: String::new(),
                ..merchant()
            }),
            Err(FieldError::Missing { field: "app_id" })
        );
    }

    #[test]
    fn amounts_must_be_positive_and_withdrawals_within_limits() {
        let zero = PayRequest {
            total_amount: Fen(0),
            ..pay()
        }
        .signed(&merchant())
        .unwrap_err();
        assert_eq!(
            zero,
            FieldError::ZeroAmount {
                field: "total_amount",
                value: Fen(0)
            }
        );
        assert!(WebPayRequest {
            total_amount: Fen(0),
            ..web()
        }
        .signed(&merchant())
        .is_err());
        assert!(SettleRequest {
            total_amount: Fen(0)
        }
        .signed(&merchant())
        .is_err());
        let over = SettleRequest {
            total_amount: Fen(5_000_001),
        }
        .signed(&merchant())
        .unwrap_err();
        assert_eq!(
            over.to_string(),
            "total_amount ¥50000.01 is above the per-request withdrawal limit of ¥50000.00: split it into several withdrawals"
        );
        assert!(SettleRequest {
            total_amount: Fen(1)
        }
        .signed(&merchant())
        .is_ok());

        assert_eq!(
            check_daily_withdrawal(Fen(95_000_000), Fen(5_000_000)),
            Ok(())
        );
        let err = check_daily_withdrawal(Fen(95_000_001), Fen(5_000_000)).unwrap_err();
        assert!(err.to_string().contains("¥1000000.01"), "{err}");
        assert!(err.to_string().contains("¥1000000.00"), "{err}");
    }
}
