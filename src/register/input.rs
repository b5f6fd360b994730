//! Validation of what the register sends: JSON bodies and query parameters, turned into typed
//! requests or an `InputError` that names the field and says what is expected.
//!
//! Bodies are read as a JSON object and checked key by key (rather than with a derived
//! `Deserialize`) so that every error names its field: serde's own messages for a wrong type
//! say only "at line 1 column 20".

use std::time::Duration;

use serde_json::{Map, Value};

use super::backend::{ArmRequest, QrRequest};
use crate::protocol::{literal_json, Fen};

/// The largest sale the register may arm: ¥100,000.00. Far above a shop's sale, far below
/// anything that could overflow; a typo of a few extra zeros is refused.
pub const MAX_SALE_FEN: u64 = 10_000_000;
/// The gateway's limit on `subject`, in characters.
pub const MAX_SUBJECT_CHARS: usize = 256;
/// The gateway's limit on `operator_id`, in characters.
pub const MAX_OPERATOR_ID_CHARS: usize = 32;
/// The longest long-poll a register may ask for.
pub const MAX_WAIT_SECONDS: u64 = 300;

/// A request the register API refuses with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the request body is not a JSON object ({reason}); send e.g. {example}")]
    NotAnObject {
        reason: String,
        example: &'static str,
    },
    #[error("field \"{field}\" is given twice; which value was meant cannot be known: send each field once")]
    Duplicate { field: String },
    #[error("unknown field \"{field}\"; the fields are: {allowed}")]
    UnknownField { field: String, allowed: String },
    #[error("missing field \"{field}\": {expected}")]
    Missing {
        field: &'static str,
        expected: &'static str,
    },
    #[error("field \"{field}\" is {got}: {expected}")]
    Invalid {
        field: &'static str,
        got: String,
        expected: String,
    },
}

const ARM_EXAMPLE: &str =
    r#"{"amount_fen": 1250, "subject": "Coffee", "operator_id": "cashier-1"}"#;
const QR_EXAMPLE: &str = r#"{"amount_fen": 1250, "subject": "Coffee"}"#;

/// `POST /v1/sales`.
pub fn parse_arm(body: &[u8]) -> Result<ArmRequest, InputError> {
    let fields = object(body, ARM_EXAMPLE)?;
    refuse_unknown(&fields, &["amount_fen", "subject", "operator_id"])?;
    Ok(ArmRequest {
        amount_fen: amount(&fields)?,
        subject: text(&fields, "subject", MAX_SUBJECT_CHARS)?,
        operator_id: text(&fields, "operator_id", MAX_OPERATOR_ID_CHARS)?,
    })
}

/// `POST /v1/qr`.
pub fn parse_qr(body: &[u8]) -> Result<QrRequest, InputError> {
    let fields = object(body, QR_EXAMPLE)?;
    refuse_unknown(&fields, &["amount_fen", "subject"])?;
    Ok(QrRequest {
        amount_fen: amount(&fields)?,
        subject: text(&fields, "subject", MAX_SUBJECT_CHARS)?,
    })
}

/// `POST /v1/sales/{sale_id}/recheck`: an empty body, or an object without fields (`{}`);
/// the sale is in the path.
pub fn parse_recheck(body: &[u8]) -> Result<(), InputError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let fields = object(body, "{} (or no body)")?;
    refuse_unknown(&fields, &[]).map_err(|err| match err {
        InputError::UnknownField { field, .. } => InputError::UnknownField {
            field,
            allowed: "none: the sale is named in the path".into(),
        },
        other => other,
    })
}

/// The `wait` query parameter of `GET /v1/sales/{id}`: whole seconds, 0 to `MAX_WAIT_SECONDS`.
pub fn parse_wait(raw: &str) -> Result<Duration, InputError> {
    raw.parse::<u64>()
        .ok()
        .filter(|&s| s <= MAX_WAIT_SECONDS)
        .map(Duration::from_secs)
        .ok_or_else(|| InputError::Invalid {
            field: "wait",
            got: format!("{raw:?}"),
            expected: format!("expected whole seconds from 0 to {MAX_WAIT_SECONDS}"),
        })
}

/// The `limit` query parameter of `GET /v1/sales`: 1 to `max`.
pub fn parse_limit(raw: &str, max: usize) -> Result<usize, InputError> {
    raw.parse::<usize>()
        .ok()
        .filter(|&n| (1..=max).contains(&n))
        .ok_or_else(|| InputError::Invalid {
            field: "limit",
            got: format!("{raw:?}"),
            expected: format!("expected a whole number from 1 to {max}"),
        })
}

/// How much of a field name an error echoes back: it could be anything.
const FIELD_QUOTE_CHARS: usize = 64;

fn object(body: &[u8], example: &'static str) -> Result<Map<String, Value>, InputError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => {
            refuse_duplicates(body)?;
            Ok(fields)
        }
        Ok(other) => Err(InputError::NotAnObject {
            reason: format!("got {}", kind(&other)),
            example,
        }),
        Err(e) => Err(InputError::NotAnObject {
            reason: e.to_string(),
            example,
        }),
    }
}

/// serde_json keeps the last of two values under one key, so `{"amount_fen":1,
/// "amount_fen":5000}` would arm ¥50.00 whatever the register meant: refused, as gateway
/// answers are. The protocol's literal reader (which refuses them there) finds the key.
fn refuse_duplicates(body: &[u8]) -> Result<(), InputError> {
    // Already read as JSON by serde_json, so UTF-8; anything else the literal reader finds
    // is not a duplicate and was judged by serde_json.
    let text = std::str::from_utf8(body).unwrap_or_default();
    match literal_json::parse(text) {
        Err(literal_json::LiteralError::DuplicateKey { key, .. }) => Err(InputError::Duplicate {
            field: key.chars().take(FIELD_QUOTE_CHARS).collect(),
        }),
        Ok(_) | Err(literal_json::LiteralError::Syntax(_)) => Ok(()),
    }
}

fn refuse_unknown(fields: &Map<String, Value>, known: &[&str]) -> Result<(), InputError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(field) => Err(InputError::UnknownField {
            // Bounded: a field name is echoed back, and could be anything.
            field: field.chars().take(FIELD_QUOTE_CHARS).collect(),
            allowed: known.join(", "),
        }),
        None => Ok(()),
    }
}

fn amount(fields: &Map<String, Value>) -> Result<Fen, InputError> {
    let expected =
        || format!("expected a whole number of fen from 1 to {MAX_SALE_FEN} (¥12.50 is 1250)");
    let invalid = |got: String| InputError::Invalid {
        field: "amount_fen",
        got,
        expected: expected(),
    };
    match fields.get("amount_fen") {
        None | Some(Value::Null) => Err(InputError::Missing {
            field: "amount_fen",
            expected: "the amount to charge in fen, e.g. 1250 for ¥12.50",
        }),
        // The number's literal text (arbitrary_precision): 12.5, -3 and 1e3 are all refused.
        Some(Value::Number(n)) => match Fen::parse_fen(&n.to_string()) {
            Ok(fen) if (1..=MAX_SALE_FEN).contains(&fen.0) => Ok(fen),
            _ => Err(invalid(n.to_string())),
        },
        Some(other) => Err(invalid(kind(other))),
    }
}

/// An optional text field: absent or null means "use the configured default".
fn text(
    fields: &Map<String, Value>,
    field: &'static str,
    max_chars: usize,
) -> Result<Option<String>, InputError> {
    let invalid = |got: String, why: &str| InputError::Invalid {
        field,
        got,
        expected: format!("expected {why}, 1 to {max_chars} characters"),
    };
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let chars = s.chars().count();
            if s.trim().is_empty() {
                Err(invalid("empty".to_string(), "text"))
            } else if chars > max_chars {
                Err(invalid(format!("{chars} characters long"), "text"))
            } else if s.chars().any(char::is_control) {
                // It is shown on the display and sent to the gateway: one plain line.
                Err(invalid(
                    "text with control characters".to_string(),
                    "one line of text without control characters",
                ))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(other) => Err(invalid(kind(other), "a string")),
    }
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm_error(body: &str) -> String {
        parse_arm(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_full_and_a_minimal_sale() {
        assert_eq!(
            parse_arm(br#"{"amount_fen": 1250, "subject": "Latte", "operator_id": "c-7"}"#),
            Ok(ArmRequest {
                amount_fen: Fen(1250),
                subject: Some("Latte".to_string()),
                operator_id: Some("c-7".to_string()),
            })
        );
        assert_eq!(
            parse_arm(br#"{"amount_fen": 1}"#),
            Ok(ArmRequest {
                amount_fen: Fen(1),
                subject: None,
                operator_id: None,
            })
        );
    }

    #[test]
    fn every_refusal_names_its_field() {
        for (body, field) in [
            (r#"{"amount_fen": 0}"#, "amount_fen"),
            (r#"{"amount_fen": -5}"#, "amount_fen"),
            (r#"{"amount_fen": 12.5}"#, "amount_fen"),
            (r#"{"amount_fen": 1e3}"#, "amount_fen"),
            (r#"{"amount_fen": "1250"}"#, "amount_fen"),
            (r#"{"amount_fen": 10000001}"#, "amount_fen"),
            (r#"{"amount_fen": 99999999999999999999999}"#, "amount_fen"),
            (r#"{"subject": "x"}"#, "amount_fen"),
            (r#"{"amount_fen": 1, "subject": ""}"#, "subject"),
            (r#"{"amount_fen": 1, "subject": 5}"#, "subject"),
            (r#"{"amount_fen": 1, "subject": "a\nb"}"#, "subject"),
            (
                r#"{"amount_fen": 1, "operator_id": "123456789012345678901234567890123"}"#,
                "operator_id",
            ),
            (r#"{"amount_fen": 1, "amount": 1}"#, "amount"),
            (r#"{"amount_fen": 1, "amount_fen": 5000}"#, "amount_fen"),
            (
                r#"{"amount_fen": 1, "subject": "a", "subject": "b"}"#,
                "subject",
            ),
        ] {
            let message = arm_error(body);
            assert!(
                message.contains(&format!("\"{field}\"")),
                "{body} -> {message}"
            );
        }
    }

    #[test]
    fn a_field_given_twice_is_refused_not_read_either_way() {
        expect_test::expect![[r#"field "amount_fen" is given twice; which value was meant cannot be known: send each field once"#]]
            .assert_eq(&arm_error(r#"{"amount_fen":1,"amount_fen":5000}"#));
        assert_eq!(
            parse_qr(br#"{"amount_fen": 300, "subject": "x", "amount_fen": 300}"#),
            Err(InputError::Duplicate {
                field: "amount_fen".into()
            })
        );
    }

    #[test]
    fn subject_length_is_counted_in_characters() {
        let at_limit = "咖".repeat(MAX_SUBJECT_CHARS);
        let body = serde_json::json!({"amount_fen": 1, "subject": at_limit}).to_string();
        assert!(parse_arm(body.as_bytes()).is_ok());
        let over = "a".repeat(MAX_SUBJECT_CHARS + 1);
        let body = serde_json::json!({"amount_fen": 1, "subject": over}).to_string();
        expect_test::expect![[
            r#"field "subject" is 257 characters long: expected text, 1 to 256 characters"#
        ]]
        .assert_eq(&arm_error(&body));
    }

    #[test]
    fn a_body_that_is_not_an_object_says_what_to_send() {
        expect_test::expect![[r#"the request body is not a JSON object (got an array); send e.g. {"amount_fen": 1250, "subject": "Coffee", "operator_id": "cashier-1"}"#]]
            .assert_eq(&arm_error("[1]"));
        assert!(arm_error("{").starts_with("the request body is not a JSON object (EOF"));
    }

    #[test]
    fn qr_refuses_operator_id_and_reads_amount() {
        assert_eq!(
            parse_qr(br#"{"amount_fen": 300}"#).unwrap().amount_fen,
            Fen(300)
        );
        let err = parse_qr(br#"{"amount_fen": 300, "operator_id": "x"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown field \"operator_id\"; the fields are: amount_fen, subject"
        );
    }

    #[test]
    fn wait_and_limit_are_bounded() {
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        assert_eq!(parse_wait("300"), Ok(Duration::from_secs(300)));
        assert!(parse_wait("301").is_err());
        assert!(parse_wait("1.5").is_err());
        assert!(parse_wait("-1").is_err());
        assert_eq!(parse_limit("5", 200), Ok(5));
        assert!(parse_limit("0", 200).is_err());
        assert!(parse_limit("201", 200).is_err());
    }
}
