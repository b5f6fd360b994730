//! Property tests of the wire format: signing and verification, the literal-preserving JSON
//! reader, the answers' field parsing, money and payment codes. Each target runs
//! `SCANPAY_FUZZ_CASES` cases (10,000 by default) from a printed seed; see `fuzz_support`.
//!
//! Every property states what must hold, not only that nothing panics: a panic anywhere is a
//! failure too (the runner catches it and shrinks the input).

mod fuzz_support;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value};

use scanpay_core::protocol::literal_json::{self, Literal, LiteralError};
use scanpay_core::protocol::signing::{canonical_json, signed_answer, verify_answer};
use scanpay_core::protocol::{
    parse_notify, AmountUnit, AnswerTo, AppAnswer, BalanceAnswer, Expected, Fen, Merchant,
    MerchantKey, Outcome, PaymentCode, PaymentCodeError, SettleAnswer, SignRules, TradeAnswer,
};

use fuzz_support::check;

const KEY: &str = "8f3b2c1d4e5a6978695a4b3c2d1e0f7a";

fn key() -> MerchantKey {
    MerchantKey::new(KEY)
}

fn rules() -> impl Strategy<Value = SignRules> {
    any::<bool>().prop_map(|lowercase_values| SignRules { lowercase_values })
}

/// JSON number literals as a gateway may write them: signs, leading zero, fractions with
/// trailing zeros, exponents of either case and sign.
fn number_literal() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,14})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?"
}

fn number_value() -> impl Strategy<Value = Value> {
    number_literal().prop_map(|literal| serde_json::from_str(&literal).expect("a JSON number"))
}

/// Keys as the gateway writes them (lowercase), including non-ASCII lowercase letters.
fn lowercase_key() -> impl Strategy<Value = String> {
    "[a-z0-9_ßéж拿]{1,10}"
}

/// Keys in any case; `İ` and `ǅ` are letters whose lowercase is another (or a longer) text.
fn any_case_key() -> impl Strategy<Value = String> {
    "[a-zA-Z_ÉéİǅΣ]{1,6}"
}

/// Scalars: any Unicode string (controls, quotes, backslashes, astral planes), number
/// literals, booleans, null.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => any::<String>().prop_map(Value::String),
        2 => number_value(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

/// A JSON value of a few levels, keys drawn from `keys`.
fn json_value(keys: BoxedStrategy<String>) -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(keys.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A `result_response` object: a few top-level fields, nested values among them.
fn result_response(keys: BoxedStrategy<String>) -> impl Strategy<Value = Map<String, Value>> {
    btree_map(keys.clone(), json_value(keys), 0..6).prop_map(|m| m.into_iter().collect())
}

/// Every object key at every depth, outer keys included.
fn all_keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| all_keys(item, out)),
        Value::Object(map) => {
            for (key, item) in map {
                out.push(key.clone());
                all_keys(item, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn fail(why: String) -> Result<(), TestCaseError> {
    Err(TestCaseError::fail(why))
}

#[test]
fn sign_then_verify_round_trips() {
    let input = (result_response(lowercase_key().boxed()), rules());
    check("sign_then_verify_round_trips", input, |(map, rules)| {
        let body = signed_answer(map.clone(), &key(), rules);
        match verify_answer(&body, &key(), rules) {
            Ok(verified) => prop_assert_eq!(verified.result_response, map),
            Err(err) => return fail(format!("own signed body refused: {err}; body {body}")),
        }
        // Another key never verifies.
        prop_assert!(verify_answer(&body, &MerchantKey::new("another key"), rules).is_err());
        Ok(())
    });
}

#[test]
fn a_verified_answer_has_only_lowercase_keys() {
    let input = (result_response(any_case_key().boxed()), rules());
    check(
        "a_verified_answer_has_only_lowercase_keys",
        input,
        |(map, rules)| {
            let body = signed_answer(map.clone(), &key(), rules);
            let mut keys = Vec::new();
            all_keys(&Value::Object(map.clone()), &mut keys);
            let all_lowercase = keys.iter().all(|k| *k == k.to_lowercase());
            match verify_answer(&body, &key(), rules) {
                Ok(verified) => {
                    prop_assert!(all_lowercase, "accepted keys {:?}", keys);
                    prop_assert_eq!(verified.result_response, map);
                }
                Err(err) => prop_assert!(
                    !all_lowercase,
                    "refused an answer with lowercase keys {:?}: {}",
                    keys,
                    err
                ),
            }
            Ok(())
        },
    );
}

/// A signed body, a byte position in it (as a fraction of its length) and a new byte.
fn tampering() -> impl Strategy<Value = (Map<String, Value>, SignRules, f64, u8)> {
    (
        result_response(lowercase_key().boxed()),
        rules(),
        0.0..1.0f64,
        any::<u8>(),
    )
}

/// The canonical text as the signature covers it: lowercased when the rules say so.
fn signed_text(map: &Map<String, Value>, rules: SignRules) -> String {
    let text = canonical_json(&Value::Object(map.clone()));
    if rules.lowercase_values {
        text.to_lowercase()
    } else {
        text
    }
}

#[test]
fn any_changed_byte_fails_verification_or_reads_the_signed_text() {
    check(
        "any_changed_byte_fails_verification_or_reads_the_signed_text",
        tampering(),
        |(map, rules, at, byte)| {
            let body = signed_answer(map.clone(), &key(), rules);
            let mut bytes = body.clone().into_bytes();
            let index = ((bytes.len() as f64) * at) as usize;
            if bytes[index] == byte {
                return Ok(()); // not a change
            }
            bytes[index] = byte;
            // The verifier takes text: a change that breaks UTF-8 never reaches it.
            let Ok(tampered) = String::from_utf8(bytes) else {
                return Ok(());
            };
            if let Ok(verified) = verify_answer(&tampered, &key(), rules) {
                // Only a change the signature does not cover may pass: the sign's hex case,
                // or (lowercasing rules) the case of a value; what was read is what was signed.
                prop_assert_eq!(
                    signed_text(&verified.result_response, rules),
                    signed_text(&map, rules),
                    "tampered body {} verified",
                    tampered
                );
                let mut keys = Vec::new();
                all_keys(&Value::Object(verified.result_response), &mut keys);
                prop_assert!(keys.iter().all(|k| *k == k.to_lowercase()));
            }
            Ok(())
        },
    );
}

/// Text that looks like JSON often enough to get past the first checks: tokens of answers
/// glued together, with signed bodies among them.
fn json_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just(" ".to_string()),
        Just("\"result_response\"".to_string()),
        Just("\"sign\"".to_string()),
        Just("\"Sign\"".to_string()),
        Just("\"total_amount\"".to_string()),
        Just("\"\\ud83e\\uddcb\"".to_string()),
        Just("\"\\ud800\"".to_string()),
        Just("\"\\u00e9\"".to_string()),
        Just("\\".to_string()),
        Just("\"".to_string()),
        Just("null".to_string()),
        Just("tru".to_string()),
        number_literal().boxed(),
        "\"[a-zA-Z0-9_é]{0,6}\"".boxed(),
        any::<String>().boxed(),
    ];
    vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

#[test]
fn arbitrary_bodies_never_panic_and_never_verify_unsigned() {
    let input = (json_soup(), rules());
    check(
        "arbitrary_bodies_never_panic_and_never_verify_unsigned",
        input,
        |(body, rules)| {
            let merchant = Merchant {
                app_id: "JYK2018100001".into(),
                key: key(),
                rules,
            };
            // Without the key no text verifies (an MD5 preimage is not going to turn up).
            prop_assert!(
                verify_answer(&body, &key(), rules).is_err(),
                "verified {:?}",
                body
            );
            prop_assert!(parse_notify(&body, &merchant).is_err());
            // The literal reader agrees with serde_json on what is JSON (it refuses, in
            // addition, duplicate keys; the depth here is far below both limits).
            let serde = serde_json::from_str::<Value>(&body);
            match literal_json::parse(&body) {
                Ok(_) => prop_assert!(serde.is_ok(), "only literal_json accepted {:?}", body),
                Err(LiteralError::DuplicateKey { .. }) => {}
                Err(LiteralError::Syntax(why)) => prop_assert!(
                    serde.is_err(),
                    "only serde_json accepted {:?} ({})",
                    body,
                    why
                ),
            }
            Ok(())
        },
    );
}

/// A literal tree written as JSON text with arbitrary whitespace and escapes, and the number
/// literals it holds in document order.
#[derive(Debug, Clone)]
struct Written {
    text: String,
    numbers: Vec<String>,
}

fn whitespace() -> BoxedStrategy<String> {
    "[ \t\r\n]{0,2}".boxed()
}

/// A string as JSON text, every character written plainly or as a `\u` escape (surrogate
/// pairs for the astral planes).
fn written_string() -> impl Strategy<Value = (String, String)> {
    vec((any::<char>(), any::<bool>()), 0..8).prop_map(|chars| {
        let mut text = String::from("\"");
        let mut decoded = String::new();
        for (c, escape) in chars {
            decoded.push(c);
            let must = matches!(c, '"' | '\\') || (c as u32) < 0x20;
            if escape || must {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    text.push_str(&format!("\\u{unit:04X}"));
                }
            } else {
                text.push(c);
            }
        }
        text.push('"');
        (text, decoded)
    })
}

fn written() -> impl Strategy<Value = Written> {
    let leaf = prop_oneof![
        number_literal().prop_map(|n| Written {
            text: n.clone(),
            numbers: vec![n],
        }),
        written_string().prop_map(|(text, _)| Written {
            text,
            numbers: vec![],
        }),
        Just(Written {
            text: "true".into(),
            numbers: vec![],
        }),
        Just(Written {
            text: "null".into(),
            numbers: vec![],
        }),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec((inner.clone(), whitespace()), 0..4).prop_map(|items| {
                let mut text = String::from("[");
                let mut numbers = Vec::new();
                for (i, (item, ws)) in items.into_iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(&ws);
                    text.push_str(&item.text);
                    text.push_str(&ws);
                    numbers.extend(item.numbers);
                }
                text.push(']');
                Written { text, numbers }
            }),
            btree_map(lowercase_key(), (inner, whitespace()), 0..4).prop_map(|entries| {
                let mut text = String::from("{");
                let mut numbers = Vec::new();
                for (i, (key, (item, ws))) in entries.into_iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(&format!("{ws}\"{key}\"{ws}:{ws}{}{ws}", item.text));
                    numbers.extend(item.numbers);
                }
                text.push('}');
                Written { text, numbers }
            }),
        ]
    })
}

fn literal_numbers(value: &Literal, out: &mut Vec<String>) {
    match value {
        Literal::Number(n) => out.push(n.clone()),
        Literal::Array(items) => items.iter().for_each(|item| literal_numbers(item, out)),
        Literal::Object(entries) => entries
            .iter()
            .for_each(|(_, item)| literal_numbers(item, out)),
        Literal::Null | Literal::Bool(_) | Literal::String(_) => {}
    }
}

#[test]
fn literal_json_keeps_number_literals_exactly() {
    let input = (written(), whitespace());
    check(
        "literal_json_keeps_number_literals_exactly",
        input,
        |(written, ws)| {
            let text = format!("{ws}{}{ws}", written.text);
            let literal = match literal_json::parse(&text) {
                Ok(literal) => literal,
                Err(err) => return fail(format!("refused {text:?}: {err}")),
            };
            let mut numbers = Vec::new();
            literal_numbers(&literal, &mut numbers);
            prop_assert_eq!(&numbers, &written.numbers);
            // The canonical text keeps them too, and reads back to the same literal tree.
            let mut canonical = String::new();
            literal_json::write_canonical(&literal, &mut canonical);
            let again = literal_json::parse(&canonical).expect("canonical text is JSON");
            let mut canonical_numbers = Vec::new();
            literal_numbers(&again, &mut canonical_numbers);
            let (mut sorted_a, mut sorted_b) = (numbers, canonical_numbers);
            sorted_a.sort();
            sorted_b.sort();
            prop_assert_eq!(sorted_a, sorted_b);
            // Strings and structure agree with serde_json; without exponents (which
            // serde_json rewrites) so does the whole canonical text.
            let value: Value = serde_json::from_str(&text).expect("serde_json reads it");
            if !written.text.contains(['e', 'E']) {
                prop_assert_eq!(canonical, canonical_json(&value));
            }
            Ok(())
        },
    );
}

#[test]
fn literal_json_decodes_strings_like_serde_json() {
    check(
        "literal_json_decodes_strings_like_serde_json",
        written_string(),
        |(text, decoded)| {
            prop_assert_eq!(
                literal_json::parse(&text),
                Ok(Literal::String(decoded.clone()))
            );
            prop_assert_eq!(
                serde_json::from_str::<Value>(&text).ok(),
                Some(Value::String(decoded))
            );
            Ok(())
        },
    );
}

/// Field values an answer may carry: right and wrong types, amounts valid and not.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => "[0-9]{1,9}(\\.[0-9]{0,3})?".prop_map(Value::String),
        2 => number_value(),
        2 => prop_oneof![
            Just("SUCCESS"), Just("FAIL"), Just("success"), Just("USERPAYING"),
            Just("ORDERPAID"), Just("ORDER_NOTFOUND"), Just("REFUND"), Just("NOTPAY"),
            Just("SYSTEMERROR"), Just("POS1-20261125-000001"), Just("pos1-20261125-000001"),
            Just("09:30"), Just("24:00"), Just("24:01"), Just("0"), Just("1"), Just("11"),
            Just(""),
        ]
        .prop_map(|s| Value::String(s.into())),
        1 => any::<String>().prop_map(Value::String),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => Just(Value::Array(vec![])),
        1 => Just(Value::Object(Map::new())),
    ]
}

fn answer_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("result_code"),
        Just("err_code"),
        Just("err_code_des"),
        Just("trade_status"),
        Just("out_trade_no"),
        Just("trade_no"),
        Just("total_amount"),
        Just("paytype"),
        Just("pay_date"),
        Just("actual_amount"),
        Just("service_amount"),
        Just("settle_time"),
        Just("withdraw_status"),
        Just("balance"),
        Just("withdraw_limit"),
        Just("withdrawal_way"),
        Just("start_time"),
        Just("end_time"),
        Just("url"),
        Just("unknown_field"),
    ]
    .prop_map(String::from)
}

fn answer_map() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(answer_key(), field_value(), 0..10).prop_map(|m| m.into_iter().collect())
}

#[test]
fn answers_parse_or_name_what_is_wrong_and_paid_is_only_this_sale() {
    let input = (answer_map(), 0u64..100_000);
    check(
        "answers_parse_or_name_what_is_wrong_and_paid_is_only_this_sale",
        input,
        |(map, expected_fen)| {
            let expected = Expected {
                out_trade_no: "POS1-20261125-000001",
                total_amount: Fen(expected_fen),
            };
            for unit in [AmountUnit::Yuan, AmountUnit::Fen] {
                let Ok(answer) = TradeAnswer::from_result_response(&map, unit) else {
                    continue;
                };
                // total_amount is read exactly, in the answer's unit, never through a float.
                match map.get("total_amount") {
                    Some(Value::String(s)) if !s.is_empty() => {
                        let exact = match unit {
                            AmountUnit::Yuan => Fen::parse_yuan(s),
                            AmountUnit::Fen => Fen::parse_fen(s),
                        };
                        prop_assert_eq!(answer.total_amount, Some(exact.expect("it parsed")));
                    }
                    None | Some(Value::Null) => prop_assert_eq!(answer.total_amount, None),
                    Some(_) => {}
                }
                for to in [AnswerTo::Pay, AnswerTo::Query, AnswerTo::Notify] {
                    let _ = answer.outcome(to);
                    if answer.outcome_for(to, expected) == Outcome::Paid {
                        let order = answer.out_trade_no.as_deref().unwrap_or_default();
                        prop_assert!(order.eq_ignore_ascii_case(expected.out_trade_no));
                        prop_assert_eq!(answer.total_amount, Some(expected.total_amount));
                    }
                }
            }
            let _ = SettleAnswer::from_result_response(map.clone()).map(|a| a.is_success());
            let _ = BalanceAnswer::from_result_response(map.clone()).map(|a| a.is_success());
            let _ = AppAnswer::from_result_response(map).map(|a| a.is_success());
            Ok(())
        },
    );
}

/// The largest amount the protocol accepts (¥100,000,000), as `money.rs` documents it.
const MAX_FEN: u64 = 10_000_000_000;

#[test]
fn fen_formats_and_parses_back() {
    check("fen_formats_and_parses_back", 0..=MAX_FEN, |fen| {
        let fen = Fen(fen);
        prop_assert_eq!(Fen::parse_yuan(&fen.yuan()), Ok(fen));
        prop_assert_eq!(Fen::parse_fen(&fen.fen_string()), Ok(fen));
        prop_assert_eq!(fen.to_string(), format!("¥{}", fen.yuan()));
        let json: Value = serde_json::from_str(&fen.yuan()).expect("a JSON number");
        prop_assert_eq!(Fen::from_json_yuan(&json), Ok(fen));
        Ok(())
    });
}

/// What `parse_yuan` must accept, computed another way: digits, at most two decimals.
fn yuan_by_hand(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && (!digits(frac) || frac.len() > 2)) {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let frac: u128 = format!("{frac:0<2}").parse().ok()?;
    let fen = whole.checked_mul(100)?.checked_add(frac)?;
    u64::try_from(fen).ok().filter(|&f| f <= MAX_FEN)
}

#[test]
fn yuan_text_parses_exactly_or_is_refused_quoting_it() {
    let text = prop_oneof![
        "[0-9]{0,12}(\\.[0-9]{0,3})?",
        "[0-9.,+eE \\-]{0,8}",
        any::<String>(),
    ];
    check(
        "yuan_text_parses_exactly_or_is_refused_quoting_it",
        text,
        |text| {
            match Fen::parse_yuan(&text) {
                Ok(fen) => {
                    prop_assert_eq!(Some(fen.0), yuan_by_hand(&text));
                    prop_assert_eq!(Fen::parse_yuan(&fen.yuan()), Ok(fen));
                }
                Err(err) => {
                    prop_assert_eq!(yuan_by_hand(&text), None);
                    prop_assert_eq!(&err.raw, &text);
                }
            }
            match Fen::parse_fen(&text) {
                Ok(fen) => {
                    prop_assert!(text.bytes().all(|b| b.is_ascii_digit()));
                    prop_assert_eq!(Some(u128::from(fen.0)), text.parse::<u128>().ok());
                }
                Err(err) => prop_assert_eq!(err.raw, text),
            }
            Ok(())
        },
    );
}

#[test]
fn payment_codes_validate_and_never_show_in_full() {
    let text = prop_oneof![
        "[0-9]{10,32}",
        "[0-9]{0,40}",
        "[0-9a-zA-Z:/.\\-]{10,40}",
        "[0-9\u{ff10}-\u{ff19}é]{10,20}",
        "[0-9\\\\…\"]{10,20}",
    ];
    check(
        "payment_codes_validate_and_never_show_in_full",
        text,
        |text| {
            let digits = text.bytes().all(|b| b.is_ascii_digit());
            let (shown, debug) = match PaymentCode::parse(&text) {
                Ok(code) => {
                    prop_assert!(digits && (10..=32).contains(&text.len()));
                    prop_assert_eq!(code.expose(), text.as_str());
                    let _ = code.payway();
                    (vec![code.masked(), code.to_string()], format!("{code:?}"))
                }
                Err(err) => {
                    match &err {
                        PaymentCodeError::Empty => prop_assert!(text.is_empty()),
                        PaymentCodeError::BadLength { len } => {
                            prop_assert!(digits);
                            prop_assert_eq!(*len, text.len());
                        }
                        PaymentCodeError::NotDigits { .. } => prop_assert!(!digits),
                    }
                    (vec![err.to_string()], format!("{err:?}"))
                }
            };
            // At most 8 characters of a scanned text are ever shown; a 10-character code never.
            // Debug output escapes: what it must not hold is the text escaped the same way.
            if text.chars().count() >= 10 {
                for shown in shown {
                    prop_assert!(!shown.contains(&text), "{:?} shows {:?}", shown, text);
                }
                let escaped = text.escape_debug().to_string();
                prop_assert!(!debug.contains(&escaped), "{:?} shows {:?}", debug, text);
            }
            Ok(())
        },
    );
}
