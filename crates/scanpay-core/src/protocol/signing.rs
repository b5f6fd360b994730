//! Canonical JSON and the MD5 signature, exactly as `docs/protocol.md` (Signing) describes.
//!
//! Every signing decision lives here, so that it can be changed in one place if the live
//! gateway turns out to differ: which parameters are signed, their order, the escaping,
//! the lowercasing (a config switch), and how the key is appended.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use md5::{Digest, Md5};
use serde_json::Value;

use super::literal_json::{self, Literal, LiteralError};

/// How the canonical text is formed; the one switch the spec leaves to configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignRules {
    /// Lowercase the whole serialized JSON (keys and values) before appending the key.
    /// **Decision** (docs/protocol.md, Signing, step 4): true by default; `[gateway] sign_lowercase_values`.
    pub lowercase_values: bool,
}

impl Default for SignRules {
    fn default() -> Self {
        SignRules {
            lowercase_values: true,
        }
    }
}

/// The merchant key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MerchantKey(String);

impl MerchantKey {
    pub fn new(key: impl Into<String>) -> MerchantKey {
        MerchantKey(key.into())
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MerchantKey(****)")
    }
}

/// Serializes a JSON value canonically: object keys sorted by byte order (recursively),
/// no whitespace, minimal string escaping (`"`, `\`, control characters), raw UTF-8,
/// `/` unescaped, and number literals exactly as they were received.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // With arbitrary_precision, this is the literal text as received.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string with minimal escaping (`"`, `\\`, control characters), raw UTF-8, `/` as is.
pub(crate) fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The text that is hashed, before the key: canonical JSON, lowercased if the rules say so.
pub fn string_to_sign(value: &Value, rules: SignRules) -> String {
    text_to_sign(canonical_json(value), rules)
}

/// Canonical text as it is hashed: lowercased if the rules say so.
fn text_to_sign(canonical: String, rules: SignRules) -> String {
    if rules.lowercase_values {
        canonical.to_lowercase()
    } else {
        canonical
    }
}

/// Signs a JSON object (a request's parameters or an answer's `result_response`).
pub fn sign_value(value: &Value, key: &MerchantKey, rules: SignRules) -> String {
    sign_canonical(canonical_json(value), key, rules)
}

/// Signs canonical JSON text (docs/protocol.md, Signing, steps 4–6).
fn sign_canonical(canonical: String, key: &MerchantKey, rules: SignRules) -> String {
    let mut hasher = Md5::new();
    hasher.update(text_to_sign(canonical, rules).as_bytes());
    hasher.update(key.as_str().as_bytes());
    hex::encode(hasher.finalize())
}

/// Signs flat string parameters, as requests carry them. Parameters with no value must be
/// left out by the caller (docs/protocol.md, Signing, step 1: never send or sign an empty string).
pub fn sign_params(
    params: &BTreeMap<String, String>,
    key: &MerchantKey,
    rules: SignRules,
) -> String {
    let object: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    sign_value(&Value::Object(object), key, rules)
}

/// Compares a received signature with the expected one: case-insensitive, constant time.
pub fn signatures_match(received: &str, expected: &str) -> bool {
    let (a, b) = (received.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| {
        acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
    }) == 0
}

/// Why an answer or callback is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("answer is not JSON ({detail}); first bytes: {snippet:?}")]
    NotJson { detail: String, snippet: String },
    #[error("answer has no result_response object")]
    NoResultResponse,
    #[error("answer carries no sign")]
    Unsigned,
    #[error("answer's sign does not match its result_response (wrong merchant key, sign_lowercase_values setting, or a tampered answer)")]
    BadSignature,
    /// Two values under one key: which one was signed cannot be known.
    #[error("answer names the key {key:?} twice; which value was signed cannot be known (a tampered answer)")]
    DuplicateKey { key: String },
    /// The gateway's keys are lowercase, and with `sign_lowercase_values` the signature does
    /// not cover case: a key in another case (`out_trade_nO`) is not one the gateway signed
    /// as such, and would hide a field from the reader while the signature still checks out.
    #[error("answer key {key:?} is not lowercase; the gateway's keys are, and the signature does not cover case (a tampered answer)")]
    KeyNotLowercase { key: String },
}

/// How much of a key an error quotes: it comes from the wire and could be anything.
const KEY_QUOTE_CHARS: usize = 64;

fn quoted_key(key: &str) -> String {
    key.chars().take(KEY_QUOTE_CHARS).collect()
}

/// A `result_response` whose signature checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The object exactly as received, unknown fields included.
    pub result_response: serde_json::Map<String, Value>,
}

/// Verifies `{"result_response": {...}, "sign": "..."}`. Anything else is untrusted.
///
/// Trusted means: one JSON object with unique keys, every key at every level lowercase (so
/// two keys equal up to case cannot both be there: both lowercase, they would be the same
/// key), a `result_response` object and a `sign` that matches it. The key rule holds
/// whatever `sign_lowercase_values` says: the documented keys are lowercase either way.
pub fn verify_answer(
    body: &str,
    key: &MerchantKey,
    rules: SignRules,
) -> Result<Verified, VerifyError> {
    let not_json = |detail: String| VerifyError::NotJson {
        detail,
        snippet: body.chars().take(80).collect(),
    };
    let value: Value = serde_json::from_str(body).map_err(|e| not_json(e.to_string()))?;
    let Value::Object(mut outer) = value else {
        return Err(VerifyError::NoResultResponse);
    };
    // The literal reading: numbers exactly as sent (for the signed text), keys as sent.
    let literal = literal_json::parse(body).map_err(|e| match e {
        LiteralError::DuplicateKey { key, .. } => VerifyError::DuplicateKey {
            key: quoted_key(&key),
        },
        LiteralError::Syntax(detail) => not_json(detail),
    })?;
    if let Some(key) = first_key_not_lowercase(&literal) {
        return Err(VerifyError::KeyNotLowercase {
            key: quoted_key(key),
        });
    }
    let Some(Value::Object(result_response)) = outer.remove("result_response") else {
        return Err(VerifyError::NoResultResponse);
    };
    let sign = match outer.get("sign") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(VerifyError::Unsigned),
    };
    let signed_text = match literal {
        Literal::Object(entries) => entries
            .into_iter()
            .find(|(k, _)| k == "result_response")
            .map(|(_, literal)| {
                let mut text = String::new();
                literal_json::write_canonical(&literal, &mut text);
                text
            }),
        _ => None,
    };
    let Some(signed_text) = signed_text else {
        return Err(VerifyError::NoResultResponse);
    };
    let expected = sign_canonical(signed_text, key, rules);
    if !signatures_match(&sign, &expected) {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified { result_response })
}

/// The first key, at any depth, that lowercasing (as signing does) would change.
fn first_key_not_lowercase(value: &Literal) -> Option<&str> {
    match value {
        Literal::Null | Literal::Bool(_) | Literal::Number(_) | Literal::String(_) => None,
        Literal::Array(items) => items.iter().find_map(first_key_not_lowercase),
        Literal::Object(entries) => entries.iter().find_map(|(key, item)| {
            if *key != key.to_lowercase() {
                Some(key.as_str())
            } else {
                first_key_not_lowercase(item)
            }
        }),
    }
}

/// Builds a signed answer body, as the gateway (and so the simulator) sends it.
pub fn signed_answer(
    result_response: serde_json::Map<String, Value>,
    key: &MerchantKey,
    rules: SignRules,
) -> String {
    let value = Value::Object(result_response);
    let sign = sign_value(&value, key, rules);
    // Written canonically so that number literals survive exactly as built.
    format!(
        "{{\"result_response\":{},\"sign\":\"{}\"}}",
        canonical_json(&value),
        sign
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "8f3b2c1d4e5a6978695a4b3c2d1e0f7a";

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check_vector(pairs: &[(&str, &str)], expected_text: &str, expected_sign: &str) {
        let p = params(pairs);
        let object: serde_json::Map<String, Value> = p
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        assert_eq!(
            string_to_sign(&Value::Object(object), SignRules::default()),
            expected_text
        );
        assert_eq!(
            sign_params(&p, &MerchantKey::new(KEY), SignRules::default()),
            expected_sign
        );
    }

    #[test]
    fn spec_vector_1_codepay() {
        check_vector(
            &[
                ("app_id", "JYK2018100001"),
                ("auth_code", "134523198765432101"),
                ("notify_url", "http://pos.example.com/notify"),
                ("operator_id", "001"),
                ("out_trade_no", "POS1-20261125-000001"),
                ("payway", "3"),
                ("subject", "Coffee Latte"),
                ("total_amount", "1250"),
            ],
            r#"{"app_id":"jyk2018100001","auth_code":"134523198765432101","notify_url":"http://pos.example.com/notify","operator_id":"001","out_trade_no":"pos1-20261125-000001","payway":"3","subject":"coffee latte","total_amount":"1250"}"#,
            "f929572fe16f4c2d8d5485c89fa5312a",
        );
    }

    #[test]
    fn spec_vector_2_query() {
        check_vector(
            &[
                ("app_id", "JYK2018100001"),
                ("out_trade_no", "POS1-20261125-000001"),
            ],
            r#"{"app_id":"jyk2018100001","out_trade_no":"pos1-20261125-000001"}"#,
            "61f6dbb4177c4b54b4e730bbb8b08967",
        );
    }

    #[test]
    fn spec_vector_3_chinese_subject() {
        check_vector(
            &[
                ("app_id", "JYK2018100001"),
                ("auth_code", "284523198765432101"),
                ("notify_url", "http://pos.example.com/notify"),
                ("operator_id", "Cashier-07"),
                ("out_trade_no", "A-1"),
                ("subject", "拿铁咖啡 大杯"),
                ("total_amount", "1"),
            ],
            r#"{"app_id":"jyk2018100001","auth_code":"284523198765432101","notify_url":"http://pos.example.com/notify","operator_id":"cashier-07","out_trade_no":"a-1","subject":"拿铁咖啡 大杯","total_amount":"1"}"#,
            "82288fdc0142e334110f676d201b272f",
        );
    }

    #[test]
    fn escapes_minimally() {
        let value = serde_json::json!({
            "z": "quote \" backslash \\ slash / tab \t nl \n nul \u{0} bell \u{7} del \u{7f} end",
            "a": "拿铁 ☕ 🧋",
        });
        expect_test::expect![[r#"{"a":"拿铁 ☕ 🧋","z":"quote \" backslash \\ slash / tab \t nl \n nul \u0000 bell \u0007 del  end"}"#]]
            .assert_eq(&canonical_json(&value));
    }

    #[test]
    fn own_vector_with_every_special_character() {
        // Computed independently with Python: json.dumps(ensure_ascii=False, separators=(",", ":")) + key, md5.
        let p = params(&[("subject", "Tea \"Big\" \\ 1/2 🧋\n"), ("app_id", "A")]);
        let object: serde_json::Map<String, Value> = p
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let text = string_to_sign(&Value::Object(object), SignRules::default());
        assert_eq!(
            text,
            r#"{"app_id":"a","subject":"tea \"big\" \\ 1/2 🧋\n"}"#
        );
        let mut hasher = Md5::new();
        hasher.update(format!("{text}{KEY}").as_bytes());
        assert_eq!(
            sign_params(&p, &MerchantKey::new(KEY), SignRules::default()),
            hex::encode(hasher.finalize())
        );
        assert_eq!(
            sign_params(&p, &MerchantKey::new(KEY), SignRules::default()),
            "135348e75675223a49bbad08ad0f9f56"
        );
    }

    #[test]
    fn lowercasing_is_a_switch_and_the_key_is_never_lowercased() {
        let p = params(&[("subject", "Latte")]);
        let upper_key = MerchantKey::new("ABC");
        let lower = sign_params(
            &p,
            &upper_key,
            SignRules {
                lowercase_values: true,
            },
        );
        let raw = sign_params(
            &p,
            &upper_key,
            SignRules {
                lowercase_values: false,
            },
        );
        assert_ne!(lower, raw);
        assert_ne!(
            lower,
            sign_params(&p, &MerchantKey::new("abc"), SignRules::default())
        );
    }

    #[test]
    fn keeps_number_literals_and_nested_order() {
        let body = r#"{"sign":"x","result_response":{"total_amount":12.50,"b":{"z":1,"a":null},"n":-0.10,"big":1e3}}"#;
        let value: Value = serde_json::from_str(body).unwrap();
        // Decimal literals survive exactly. serde_json writes an exponent with an explicit sign
        // (1e3 -> 1e+3), so verification rebuilds the signed text from `literal_json` instead
        // (see `verifies_exponent_literals_as_sent`); this writer only serves what we build.
        assert_eq!(
            canonical_json(&value["result_response"]),
            r#"{"b":{"a":null,"z":1},"big":1e+3,"n":-0.10,"total_amount":12.50}"#
        );
    }

    #[test]
    fn verifies_signed_answers_and_refuses_the_rest() {
        let key = MerchantKey::new(KEY);
        let rules = SignRules::default();
        let body = r#"{"result_response":{"result_code":"10000","total_amount":12.50,"extra_field":"Kept"},"sign":"SIGN"}"#;
        let value: Value = serde_json::from_str(body).unwrap();
        let sign = sign_value(&value["result_response"], &key, rules);
        let good = body.replace("SIGN", &sign.to_uppercase());
        let verified = verify_answer(&good, &key, rules).unwrap();
        assert_eq!(
            verified.result_response["total_amount"].to_string(),
            "12.50"
        );
        assert_eq!(verified.result_response["extra_field"], "Kept");

        // Reformatting the number changes the signed text: 12.5 is not 12.50.
        let tampered = good.replace("12.50", "12.5");
        assert_eq!(
            verify_answer(&tampered, &key, rules),
            Err(VerifyError::BadSignature)
        );
        let extra = good.replace("\"Kept\"", "\"kept!\"");
        assert_eq!(
            verify_answer(&extra, &key, rules),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_answer(&body.replace(",\"sign\":\"SIGN\"", ""), &key, rules),
            Err(VerifyError::Unsigned)
        );
        assert_eq!(
            verify_answer(&body.replace("SIGN", ""), &key, rules),
            Err(VerifyError::Unsigned)
        );
        assert_eq!(
            verify_answer(r#"{"sign":"x"}"#, &key, rules),
            Err(VerifyError::NoResultResponse)
        );
        assert!(matches!(
            verify_answer("<html>502</html>", &key, rules),
            Err(VerifyError::NotJson { .. })
        ));
        assert!(matches!(
            verify_answer(&good[..good.len() - 5], &key, rules),
            Err(VerifyError::NotJson { .. })
        ));
        assert_eq!(
            verify_answer(&good, &MerchantKey::new("other"), rules),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn verifies_exponent_literals_as_sent() {
        // The gateway signed `1E3` as it wrote it; serde_json alone would re-emit `1e+3`.
        let key = MerchantKey::new(KEY);
        let text = r#"{"big":1E3,"result_code":"10000","tiny":1e-8}"#;
        let mut hasher = Md5::new();
        hasher.update(format!("{}{KEY}", text.to_lowercase()).as_bytes());
        let sign = hex::encode(hasher.finalize());
        let body = format!(
            r#"{{"result_response":{{"tiny":1e-8,"result_code":"10000","big":1E3}},"sign":"{sign}"}}"#
        );
        let verified = verify_answer(&body, &key, SignRules::default()).unwrap();
        assert_eq!(verified.result_response["result_code"], "10000");
        // A duplicate key makes the signed text ambiguous: not trusted.
        let doubled = body.replace(r#""big":1E3"#, r#""big":1E3,"big":2"#);
        assert_eq!(
            verify_answer(&doubled, &key, SignRules::default()),
            Err(VerifyError::DuplicateKey { key: "big".into() })
        );
    }

    /// A genuine answer, signed over lowercased text, and the same body with one key's case
    /// changed where that keeps the keys' order: the signature still matches, so only the key
    /// rule can refuse it.
    fn case_changed(result_response: &str, from: &str, to: &str) -> Result<Verified, VerifyError> {
        let key = MerchantKey::new(KEY);
        let map: serde_json::Map<String, Value> = serde_json::from_str(result_response).unwrap();
        let body = signed_answer(map, &key, SignRules::default());
        assert!(verify_answer(&body, &key, SignRules::default()).is_ok());
        assert!(body.contains(from), "{body}");
        let tampered = body.replacen(from, to, 1);
        // The signature alone does not see the change.
        let Literal::Object(entries) = literal_json::parse(&tampered).unwrap() else {
            panic!("an object")
        };
        let mut text = String::new();
        literal_json::write_canonical(&entries[0].1, &mut text);
        assert_eq!(
            sign_canonical(text, &key, SignRules::default()),
            sign_value(
                &serde_json::from_str(result_response).unwrap(),
                &key,
                SignRules::default()
            )
        );
        verify_answer(&tampered, &key, SignRules::default())
    }

    #[test]
    fn keys_in_another_case_are_not_trusted_though_the_signature_matches() {
        let paid = r#"{"result_code":"10000","trade_status":"TRADE_SUCCESS","out_trade_no":"POS1-20261125-000001","total_amount":0.01,"trade_no":"T1"}"#;
        for (from, to) in [
            (r#""out_trade_no":"#, r#""out_trade_nO":"#),
            (r#""total_amount":"#, r#""total_amounT":"#),
            (r#""result_code":"#, r#""result_codE":"#),
        ] {
            let key = to.trim_matches(|c| c == '"' || c == ':').to_string();
            assert_eq!(
                case_changed(paid, from, to),
                Err(VerifyError::KeyNotLowercase { key }),
                "{to}"
            );
        }
        // Inside a nested object (the answer's own nesting, or a biz_response style one).
        let nested = r#"{"result_code":"10000","biz_response":{"out_trade_no":"A-1","detail":[{"total_amount":"1"}]}}"#;
        assert_eq!(
            case_changed(nested, r#""out_trade_no":"#, r#""out_Trade_No":"#),
            Err(VerifyError::KeyNotLowercase {
                key: "out_Trade_No".into()
            })
        );
        assert_eq!(
            case_changed(nested, r#""total_amount":"#, r#""TOTAL_AMOUNT":"#),
            Err(VerifyError::KeyNotLowercase {
                key: "TOTAL_AMOUNT".into()
            })
        );
        // The envelope's own keys too.
        assert_eq!(
            case_changed(paid, r#""sign":"#, r#""Sign":"#),
            Err(VerifyError::KeyNotLowercase { key: "Sign".into() })
        );
        // Unknown lowercase fields stay accepted (the spec: kept, they are signed).
        assert!(case_changed(paid, r#""trade_no":"#, r#""trade_no":"#).is_ok());
    }

    #[test]
    fn two_keys_equal_up_to_case_are_not_trusted() {
        let key = MerchantKey::new(KEY);
        // Signed over lowercase text, `out_trade_no` and `OUT_TRADE_NO` would sign as one
        // doubled key; whichever the reader took, the other was hidden.
        let text = r#"{"out_trade_no":"a-1","out_trade_no":"b-2","result_code":"10000"}"#;
        let mut hasher = Md5::new();
        hasher.update(format!("{text}{KEY}").as_bytes());
        let sign = hex::encode(hasher.finalize());
        let body = format!(
            r#"{{"result_response":{{"OUT_TRADE_NO":"A-1","out_trade_no":"B-2","result_code":"10000"}},"sign":"{sign}"}}"#
        );
        assert_eq!(
            verify_answer(&body, &key, SignRules::default()),
            Err(VerifyError::KeyNotLowercase {
                key: "OUT_TRADE_NO".into()
            })
        );
        // The rule holds with the other signing reading too (the keys are lowercase either way).
        let raw = SignRules {
            lowercase_values: false,
        };
        let map: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"Out_Trade_No":"A-1","result_code":"10000"}"#).unwrap();
        let body = signed_answer(map, &key, raw);
        assert_eq!(
            verify_answer(&body, &key, raw),
            Err(VerifyError::KeyNotLowercase {
                key: "Out_Trade_No".into()
            })
        );
        // Error messages quote a hostile key only in part.
        let long = format!(
            r#"{{"result_response":{{"{}":1}},"sign":"x"}}"#,
            "K".repeat(500)
        );
        let err = verify_answer(&long, &key, SignRules::default()).unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }

    #[test]
    fn signed_answers_verify() {
        let key = MerchantKey::new(KEY);
        let mut map = serde_json::Map::new();
        map.insert("result_code".into(), Value::String("10000".into()));
        map.insert(
            "total_amount".into(),
            serde_json::from_str("12.50").unwrap(),
        );
        let body = signed_answer(map, &key, SignRules::default());
        assert!(body.contains("12.50"));
        assert!(verify_answer(&body, &key, SignRules::default()).is_ok());
    }

    #[test]
    fn compares_signatures_case_insensitively() {
        assert!(signatures_match("ABCdef", "abcDEF"));
        assert!(!signatures_match("abc", "abd"));
        assert!(!signatures_match("abc", "abcd"));
        assert!(!format!("{:?}", MerchantKey::new(KEY)).contains(KEY));
    }
}
