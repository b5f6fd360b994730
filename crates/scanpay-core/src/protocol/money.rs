//! Exact money. Every amount inside scanpay is a whole number of fen (1/100 yuan);
//! the gateway speaks fen in requests and yuan decimals in some answers, and both are parsed
//! here without ever passing through a float.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of money in fen: `Fen(1250)` is ¥12.50.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(pub u64);

/// A text that is not an amount of money in the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid amount {raw:?}: {reason}")]
pub struct MoneyError {
    /// The value exactly as it was received or typed.
    pub raw: String,
    pub reason: &'static str,
}

/// The largest amount accepted anywhere: ¥100,000,000. Far above any sale or withdrawal,
/// small enough that no arithmetic on amounts can overflow.
const MAX_FEN: u64 = 10_000_000_000;

impl Fen {
    /// Parses yuan as a person or the gateway writes it: `12`, `12.5`, `12.50`.
    /// No sign, no exponent, at most two decimals, no spaces.
    pub fn parse_yuan(text: &str) -> Result<Fen, MoneyError> {
        let err = |reason| MoneyError {
            raw: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(err("empty"));
        }
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                "expected yuan like 12.50 (digits, optional . and up to 2 decimals)",
            ));
        }
        let frac_fen = match frac {
            None => 0,
            Some(f) if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(err("expected at most 2 decimal places"));
            }
            Some(f) if f.len() == 1 => u64::from(f.as_bytes()[0] - b'0') * 10,
            Some(f) => f.parse::<u64>().expect("two ascii digits"),
        };
        let whole: u64 = whole.parse().map_err(|_| err("too large"))?;
        let fen = whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(frac_fen))
            .filter(|&f| f <= MAX_FEN)
            .ok_or_else(|| err("too large"))?;
        Ok(Fen(fen))
    }

    /// Parses a whole number of fen: `1250`.
    pub fn parse_fen(text: &str) -> Result<Fen, MoneyError> {
        let err = |reason| MoneyError {
            raw: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(err("empty"));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("expected a whole number of fen (digits only)"));
        }
        let fen: u64 = text.parse().map_err(|_| err("too large"))?;
        if fen > MAX_FEN {
            return Err(err("too large"));
        }
        Ok(Fen(fen))
    }

    /// Reads yuan from a JSON answer, given as a string (`"12.50"`) or a number (`12.50`).
    /// The number's literal text is used as received (serde_json's arbitrary_precision).
    pub fn from_json_yuan(value: &serde_json::Value) -> Result<Fen, MoneyError> {
        Self::parse_yuan(&json_scalar_text(value)?)
    }

    /// Reads fen from a JSON answer, given as a string (`"1250"`) or a number (`1250`).
    pub fn from_json_fen(value: &serde_json::Value) -> Result<Fen, MoneyError> {
        Self::parse_fen(&json_scalar_text(value)?)
    }

    /// `12.50`: the yuan text for people and for yuan fields.
    pub fn yuan(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// `1250`: the fen text the gateway expects in requests.
    pub fn fen_string(self) -> String {
        self.0.to_string()
    }
}

fn json_scalar_text(value: &serde_json::Value) -> Result<String, MoneyError> {
    match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(MoneyError {
            raw: other.to_string(),
            reason: "expected a string or a number",
        }),
    }
}

impl fmt::Display for Fen {
    /// `¥12.50`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.yuan())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_yuan_exactly() {
        assert_eq!(Fen::parse_yuan("12.50"), Ok(Fen(1250)));
        assert_eq!(Fen::parse_yuan("12.5"), Ok(Fen(1250)));
        assert_eq!(Fen::parse_yuan("12"), Ok(Fen(1200)));
        assert_eq!(Fen::parse_yuan("0.01"), Ok(Fen(1)));
        assert_eq!(Fen::parse_yuan("0.10"), Ok(Fen(10)));
        assert_eq!(Fen::parse_yuan("100000000"), Ok(Fen(MAX_FEN)));
    }

    #[test]
    fn refuses_what_is_not_exact_yuan() {
        for bad in [
            "",
            "12.345",
            "-1",
            "1e3",
            "NaN",
            "inf",
            " 1",
            "1 ",
            "1.",
            ".5",
            "+1",
            "1,5",
            "12.5.0",
            "100000000.01",
            "99999999999999999999999",
        ] {
            let err = Fen::parse_yuan(bad).unwrap_err();
            assert_eq!(err.raw, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn parses_fen() {
        assert_eq!(Fen::parse_fen("1250"), Ok(Fen(1250)));
        for bad in ["", "12.5", "-1", "1e3", "x"] {
            assert!(Fen::parse_fen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_json_strings_and_numbers_without_floats() {
        let answer: serde_json::Value =
            serde_json::from_str(r#"{"a":12.50,"b":"0.3","c":1e3,"d":null}"#).unwrap();
        assert_eq!(Fen::from_json_yuan(&answer["a"]), Ok(Fen(1250)));
        assert_eq!(Fen::from_json_yuan(&answer["b"]), Ok(Fen(30)));
        assert!(Fen::from_json_yuan(&answer["c"]).is_err());
        assert!(Fen::from_json_yuan(&answer["d"]).is_err());
        assert_eq!(Fen::from_json_fen(&json!(1250)), Ok(Fen(1250)));
    }

    #[test]
    fn formats() {
        assert_eq!(Fen(1250).yuan(), "12.50");
        assert_eq!(Fen(5).yuan(), "0.05");
        assert_eq!(Fen(1250).to_string(), "¥12.50");
        assert_eq!(Fen(1250).fen_string(), "1250");
    }
}
