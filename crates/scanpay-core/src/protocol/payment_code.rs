//! Customer payment codes (the barcode on the customer's phone) and the wallet they belong to.
//!
//! A payment code is a bearer credential: it never reaches a log, an error, the display or the
//! register in full. `Debug` and `Display` show the masked form; only `expose` gives the digits,
//! for the one request that needs them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The gateway's `payway` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payway {
    Alipay,
    #[serde(rename = "wechat")]
    WeChat,
    Baidu,
    Jd,
    Qq,
}

impl Payway {
    /// The number the gateway uses for this wallet.
    pub fn code(self) -> u8 {
        match self {
            Payway::Alipay => 1,
            Payway::WeChat => 3,
            Payway::Baidu => 4,
            Payway::Jd => 5,
            Payway::Qq => 6,
        }
    }

    pub fn from_code(code: u8) -> Option<Payway> {
        Some(match code {
            1 => Payway::Alipay,
            3 => Payway::WeChat,
            4 => Payway::Baidu,
            5 => Payway::Jd,
            6 => Payway::Qq,
            _ => return None,
        })
    }

    /// A short English name, for screens and exports.
    pub fn name(self) -> &'static str {
        match self {
            Payway::Alipay => "Alipay",
            Payway::WeChat => "WeChat Pay",
            Payway::Baidu => "Baidu Wallet",
            Payway::Jd => "JD Pay",
            Payway::Qq => "QQ Wallet",
        }
    }
}

/// The longest `auth_code` the gateway accepts.
pub const MAX_CODE_LEN: usize = 32;
/// Shorter digit strings are not wallet payment codes (they are product barcodes and the like).
pub const MIN_CODE_LEN: usize = 10;

/// A scanned text that is not a payment code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentCodeError {
    #[error("scanned code is empty")]
    Empty,
    #[error("scanned code has {len} characters; a payment code has {MIN_CODE_LEN} to {MAX_CODE_LEN} digits")]
    BadLength { len: usize },
    #[error("scanned code {masked} contains characters other than digits; a payment code is digits only (is this a product barcode or a QR link?)")]
    NotDigits { masked: String },
}

/// A validated customer payment code: digits only, 10 to 32 of them.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentCode(String);

impl PaymentCode {
    pub fn parse(text: &str) -> Result<PaymentCode, PaymentCodeError> {
        if text.is_empty() {
            return Err(PaymentCodeError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PaymentCodeError::NotDigits { masked: mask(text) });
        }
        if !(MIN_CODE_LEN..=MAX_CODE_LEN).contains(&text.len()) {
            return Err(PaymentCodeError::BadLength { len: text.len() });
        }
        Ok(PaymentCode(text.to_string()))
    }

    /// The wallet, from the design's rules: WeChat is 18 digits starting 10–15; Alipay is
    /// 16–24 digits starting 25–30; anything else passes through without a payway.
    pub fn payway(&self) -> Option<Payway> {
        let prefix: u8 = self.0[..2].parse().expect("at least 10 digits");
        let len = self.0.len();
        if len == 18 && (10..=15).contains(&prefix) {
            Some(Payway::WeChat)
        } else if (16..=24).contains(&len) && (25..=30).contains(&prefix) {
            Some(Payway::Alipay)
        } else {
            None
        }
    }

    /// The digits, for the pay request only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `1345…2101`: safe for logs and screens.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Keeps at most the first 4 and last 4 characters of a scanned text.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl fmt::Debug for PaymentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentCode({})", self.masked())
    }
}

impl fmt::Display for PaymentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl TryFrom<String> for PaymentCode {
    type Error = PaymentCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PaymentCode::parse(&value)
    }
}

impl From<PaymentCode> for String {
    fn from(code: PaymentCode) -> String {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_wallets() {
        let cases = [
            ("134523198765432101", Some(Payway::WeChat)),
            ("104523198765432101", Some(Payway::WeChat)),
            ("164523198765432101", None), // 18 digits but prefix 16
            ("13452319876543210", None),  // 17 digits, WeChat prefix
            ("284523198765432101", Some(Payway::Alipay)),
            ("2845231987654321", Some(Payway::Alipay)), // 16
            ("284523198765432101234567", Some(Payway::Alipay)), // 24
            ("2845231987654321012345678", None),        // 25 digits
            ("314523198765432101", None),               // prefix 31
            ("6212345678", None),
        ];
        for (code, expected) in cases {
            assert_eq!(
                PaymentCode::parse(code).unwrap().payway(),
                expected,
                "{code}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_payment_code() {
        assert_eq!(PaymentCode::parse(""), Err(PaymentCodeError::Empty));
        assert_eq!(
            PaymentCode::parse("123456789"),
            Err(PaymentCodeError::BadLength { len: 9 })
        );
        assert_eq!(
            PaymentCode::parse(&"1".repeat(33)),
            Err(PaymentCodeError::BadLength { len: 33 })
        );
        let err = PaymentCode::parse("https://qr.alipay.com/abc123456").unwrap_err();
        assert_eq!(
            err,
            PaymentCodeError::NotDigits {
                masked: "http…3456".into()
            }
        );
        assert!(!err.to_string().contains("alipay.com/abc"));
    }

    #[test]
    fn never_shows_the_whole_code() {
        let code = PaymentCode::parse("134523198765432101").unwrap();
        assert_eq!(format!("{code}"), "1345…2101");
        assert_eq!(format!("{code:?}"), "PaymentCode(1345…2101)");
        assert_eq!(code.expose(), "134523198765432101");
        assert_eq!(mask("12345678"), "********");
    }
}
