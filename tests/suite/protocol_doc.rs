//! The worked signing examples of `docs/protocol.md`, checked against scanpay's own signing
//! code, so that the document cannot drift from what the terminal does.
//!
//! Every fenced block tagged `sign-example` holds `name:`, `key:`, `sign_lowercase_values:`,
//! then either `params:` (a request's parameters, a JSON object of strings) or `answer:` (a
//! received body), then `text:` (the string hashed before the key) and `sign:`; a request
//! may add `base_url:` and `url:` (its h5 pay-page URL).

use std::collections::{BTreeMap, HashMap};

use md5::{Digest, Md5};
use scanpay::protocol::literal_json::{self, Literal};
use scanpay::protocol::messages::{h5_url, Merchant, WebPayRequest};
use scanpay::protocol::signing::{sign_params, string_to_sign, verify_answer};
use scanpay::protocol::{Fen, MerchantKey, Payway, SignRules};
use serde_json::Value;

const FIELDS: [&str; 9] = [
    "name",
    "key",
    "sign_lowercase_values",
    "params",
    "answer",
    "text",
    "sign",
    "base_url",
    "url",
];

/// One worked example: its fields as written.
struct Example(HashMap<&'static str, String>);

impl Example {
    fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    fn need(&self, field: &str) -> &str {
        self.get(field)
            .unwrap_or_else(|| panic!("example {:?} has no {field}:", self.get("name")))
    }

    fn name(&self) -> &str {
        self.need("name")
    }

    fn rules(&self) -> SignRules {
        let lowercase_values = match self.need("sign_lowercase_values") {
            "true" => true,
            "false" => false,
            other => panic!("{}: sign_lowercase_values is {other:?}", self.name()),
        };
        SignRules { lowercase_values }
    }

    fn key(&self) -> MerchantKey {
        MerchantKey::new(self.need("key"))
    }
}

fn examples() -> Vec<Example> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md");
    let doc = std::fs::read_to_string(path).expect("docs/protocol.md is readable");
    let mut examples = Vec::new();
    let mut current: Option<HashMap<&'static str, String>> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sign-example") => current = Some(HashMap::new()),
            (None, _) => {}
            (Some(_), "```") => examples.push(Example(current.take().unwrap())),
            (Some(fields), line) => {
                let (field, value) = line
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("sign-example line without `field: `: {line:?}"));
                let field = FIELDS
                    .into_iter()
                    .find(|f| *f == field)
                    .unwrap_or_else(|| panic!("unknown sign-example field {field:?}"));
                assert!(
                    fields.insert(field, value.to_string()).is_none(),
                    "{field} given twice in one sign-example"
                );
            }
        }
    }
    assert!(current.is_none(), "a sign-example block is not closed");
    examples
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// The canonical text of a received body's `result_response`, numbers as written.
fn answer_text(body: &str, rules: SignRules) -> String {
    let Literal::Object(entries) = literal_json::parse(body).expect("the answer is JSON") else {
        panic!("the answer is not an object");
    };
    let (_, result_response) = entries
        .iter()
        .find(|(k, _)| k == "result_response")
        .expect("the answer has a result_response");
    let mut text = String::new();
    literal_json::write_canonical(result_response, &mut text);
    if rules.lowercase_values {
        text.to_lowercase()
    } else {
        text
    }
}

/// An h5 request with exactly the example's parameters.
fn web_pay_request(params: &BTreeMap<String, String>) -> WebPayRequest {
    let field = |name: &str| params[name].clone();
    let known = [
        "app_id",
        "notify_url",
        "operator_id",
        "out_trade_no",
        "payway",
        "return_url",
        "subject",
        "total_amount",
    ];
    assert!(
        params.keys().all(|k| known.contains(&k.as_str())),
        "{params:?}"
    );
    WebPayRequest {
        out_trade_no: field("out_trade_no"),
        total_amount: Fen::parse_fen(&field("total_amount")).unwrap(),
        subject: field("subject"),
        operator_id: field("operator_id"),
        notify_url: field("notify_url"),
        return_url: field("return_url"),
        payway: params
            .get("payway")
            .map(|p| Payway::from_code(p.parse().unwrap()).unwrap()),
    }
}

/// Checks one example; returns its signature.
fn check(example: &Example) -> String {
    let name = example.name();
    let (key, rules) = (example.key(), example.rules());
    let (text, sign) = (example.need("text"), example.need("sign"));
    assert_eq!(
        md5_hex(&format!("{text}{}", example.need("key"))),
        sign,
        "{name}: MD5 of text + key"
    );
    match (example.get("params"), example.get("answer")) {
        (Some(params), None) => {
            let params: BTreeMap<String, String> =
                serde_json::from_str(params).expect("params is a JSON object of strings");
            let object = params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            assert_eq!(
                string_to_sign(&Value::Object(object), rules),
                text,
                "{name}: text"
            );
            assert_eq!(sign_params(&params, &key, rules), sign, "{name}: sign");
            if let Some(url) = example.get("url") {
                let merchant = Merchant {
                    app_id: params["app_id"].clone(),
                    key: key.clone(),
                    rules,
                };
                let built = h5_url(
                    example.need("base_url"),
                    &web_pay_request(&params),
                    &merchant,
                )
                .unwrap();
                assert_eq!(built, url, "{name}: url");
            }
        }
        (None, Some(body)) => {
            assert_eq!(answer_text(body, rules), text, "{name}: text");
            let value: Value = serde_json::from_str(body).unwrap();
            assert_eq!(value["sign"], sign, "{name}: the body's sign");
            verify_answer(body, &key, rules)
                .unwrap_or_else(|e| panic!("{name}: scanpay does not verify it: {e}"));
            let other = SignRules {
                lowercase_values: !rules.lowercase_values,
            };
            assert!(
                verify_answer(body, &key, other).is_err(),
                "{name}: verifies under the other sign_lowercase_values too"
            );
        }
        _ => panic!("{name}: give exactly one of params: or answer:"),
    }
    assert!(
        example.get("url").is_none() || example.get("params").is_some(),
        "{name}: url: needs params:"
    );
    sign.to_string()
}

#[test]
fn every_worked_example_signs_as_the_document_says() {
    let examples = examples();
    let signs: Vec<String> = examples.iter().map(check).collect();
    // The three vectors of the gateway document's English reading, six of the project's own.
    assert_eq!(signs.len(), 9, "worked examples found: {signs:?}");
    for vector in [
        "f929572fe16f4c2d8d5485c89fa5312a",
        "61f6dbb4177c4b54b4e730bbb8b08967",
        "82288fdc0142e334110f676d201b272f",
    ] {
        assert!(signs.iter().any(|s| s == vector), "vector {vector} missing");
    }
    let answers = examples
        .iter()
        .filter(|e| e.get("answer").is_some())
        .count();
    let urls = examples.iter().filter(|e| e.get("url").is_some()).count();
    let raw = examples
        .iter()
        .filter(|e| !e.rules().lowercase_values)
        .count();
    assert!(
        answers >= 2 && urls >= 1 && raw >= 1,
        "{answers} {urls} {raw}"
    );
}

#[test]
fn a_changed_example_is_caught() {
    // The check is not vacuous: one character off in any part fails it.
    let example = examples()
        .into_iter()
        .find(|e| e.get("answer").is_some())
        .expect("an answer example");
    let mut tampered = example.0.clone();
    let body = tampered["answer"].replace("12.50", "12.5");
    tampered.insert("answer", body);
    let result = std::panic::catch_unwind(|| check(&Example(tampered)));
    assert!(result.is_err(), "a re-formatted amount still passed");
}
