//! Reading requests the way the gateway does: from raw bytes, so that every malformed
//! request gets the right error code. Checks run in the gateway's order: JSON (JSONERROR) →
//! app_id present (LACK_PARAMS) and known (APPID_NOT_EXIST) → a signature present (NOSIGN)
//! and right (SIGNERROR) → required fields (LACK_PARAMS) → values (PARAMSERROR).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ledger::{GatewayRefusal, OrderRequest};
use crate::protocol::signing::{sign_params, sign_value, signatures_match};
use crate::protocol::{ErrCode, Fen, MerchantKey, PaymentCode, Payway, ResultCode, SignRules};

/// The merchant the simulator knows.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub app_id: String,
    pub key: MerchantKey,
    pub rules: SignRules,
}

/// Received parameters, signature checked, `sign` removed.
pub type Params = BTreeMap<String, String>;

fn params_error(des: impl Into<String>) -> GatewayRefusal {
    GatewayRefusal::new(ResultCode::IllegalParameter, ErrCode::ParamsError, des)
}

fn lack(fields: &[&str]) -> GatewayRefusal {
    GatewayRefusal::new(
        ResultCode::MissingParameter,
        ErrCode::LackParams,
        format!("missing required parameter(s): {}", fields.join(", ")),
    )
}

/// A POST body: a JSON object whose values are strings, signed in the Authorization header.
pub fn authenticate_post(
    body: &[u8],
    authorization: Option<&str>,
    merchant: &Merchant,
) -> Result<Params, GatewayRefusal> {
    let json_error = |detail: String| {
        GatewayRefusal::new(
            ResultCode::IllegalParameter,
            ErrCode::JsonError,
            format!("request body is not a JSON object ({detail}); send UTF-8 JSON like {{\"app_id\":\"...\"}}"),
        )
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| json_error(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(json_error(format!("got {}", kind_of(&value))));
    };
    check_app_id(object.get("app_id").and_then(Value::as_str), merchant)?;
    let sign = match authorization.map(str::trim) {
        Some(header) => match header.strip_prefix("sign ") {
            Some(sign) if !sign.trim().is_empty() => sign.trim().to_string(),
            _ => {
                return Err(GatewayRefusal::new(
                    ResultCode::IllegalParameter,
                    ErrCode::NoSign,
                    "Authorization header is not `sign <md5>`; sign the request",
                ))
            }
        },
        None => {
            return Err(GatewayRefusal::new(
                ResultCode::IllegalParameter,
                ErrCode::NoSign,
                "no Authorization header; send `Authorization: sign <md5>`",
            ))
        }
    };
    // Signed over the object exactly as received (for string values this is sign_params).
    let expected = sign_value(
        &Value::Object(object.clone()),
        &merchant.key,
        merchant.rules,
    );
    if !signatures_match(&sign, &expected) {
        return Err(sign_error());
    }
    to_params(object)
}

/// A GET query string: parameters URL-encoded, signed in `&sign=` over the decoded values.
pub fn authenticate_get(
    query: Option<&str>,
    merchant: &Merchant,
) -> Result<Params, GatewayRefusal> {
    let mut params = Params::new();
    let mut sign = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let (key, value) = (key.into_owned(), value.into_owned());
        if key == "sign" {
            sign = Some(value);
            continue;
        }
        if params.insert(key.clone(), value).is_some() {
            return Err(params_error(format!("parameter {key} is given twice")));
        }
    }
    check_app_id(params.get("app_id").map(String::as_str), merchant)?;
    let Some(sign) = sign.filter(|s| !s.is_empty()) else {
        return Err(GatewayRefusal::new(
            ResultCode::IllegalParameter,
            ErrCode::NoSign,
            "no sign parameter; append &sign=<md5> to the query string",
        ));
    };
    // Empty values are not signed (docs/protocol.md, Signing, step 1); a sender that includes them fails here.
    let expected = sign_params(&params, &merchant.key, merchant.rules);
    if !signatures_match(&sign, &expected) {
        return Err(sign_error());
    }
    Ok(params)
}

fn sign_error() -> GatewayRefusal {
    GatewayRefusal::new(
        ResultCode::IllegalParameter,
        ErrCode::SignError,
        "signature does not match the parameters; check the merchant key and the sign_lowercase_values setting",
    )
}

fn check_app_id(app_id: Option<&str>, merchant: &Merchant) -> Result<(), GatewayRefusal> {
    match app_id {
        None | Some("") => Err(lack(&["app_id"])),
        Some(id) if id == merchant.app_id => Ok(()),
        Some(id) => Err(GatewayRefusal::business(
            ErrCode::AppIdNotExist,
            format!("app_id {id:?} does not exist; check [gateway] app_id"),
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn to_params(object: Map<String, Value>) -> Result<Params, GatewayRefusal> {
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key, s)),
            other => Err(params_error(format!(
                "parameter {key} is {} ({other}); every parameter is a JSON string",
                kind_of(&other)
            ))),
        })
        .collect()
}

/// The longest value the spec allows for each field.
fn max_len(field: &str) -> Option<usize> {
    Some(match field {
        "app_id" => 50,
        "auth_code" => 32,
        "notify_url" | "subject" | "return_url" | "trade_no" => 256,
        "operator_id" => 32,
        "out_trade_no" => 64,
        _ => return None,
    })
}

/// Required fields present and non-empty, every known field within its length.
fn check_fields(params: &Params, required: &[&str]) -> Result<(), GatewayRefusal> {
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|f| params.get(*f).is_none_or(|v| v.is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(lack(&missing));
    }
    for (field, value) in params {
        if let Some(max) = max_len(field) {
            let len = value.chars().count();
            if len > max {
                return Err(params_error(format!(
                    "parameter {field} has {len} characters; at most {max} are allowed"
                )));
            }
        }
    }
    Ok(())
}

fn amount(params: &Params, field: &str) -> Result<Fen, GatewayRefusal> {
    let amount = Fen::parse_fen(&params[field])
        .map_err(|e| params_error(format!("parameter {field}: {e}")))?;
    if amount.0 == 0 {
        return Err(params_error(format!(
            "parameter {field} is 0; an amount is at least 1 fen"
        )));
    }
    Ok(amount)
}

fn url_field(params: &Params, field: &str) -> Result<Option<String>, GatewayRefusal> {
    let Some(text) = params.get(field) else {
        return Ok(None);
    };
    match url::Url::parse(text) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => Ok(Some(text.clone())),
        _ => Err(params_error(format!(
            "parameter {field} {text:?} is not an http(s) URL"
        ))),
    }
}

/// codepay (`with_code`) or h5/app (no payment code, a return_url instead).
pub fn pay_request(params: Params, with_code: bool) -> Result<OrderRequest, GatewayRefusal> {
    let required: &[&str] = if with_code {
        &[
            "app_id",
            "auth_code",
            "notify_url",
            "operator_id",
            "out_trade_no",
            "subject",
            "total_amount",
        ]
    } else {
        &[
            "app_id",
            "notify_url",
            "operator_id",
            "out_trade_no",
            "subject",
            "total_amount",
            "return_url",
        ]
    };
    check_fields(&params, required)?;
    let amount = amount(&params, "total_amount")?;
    let payway = match params.get("payway") {
        None => None,
        Some(text) => Some(
            text.parse::<u8>()
                .ok()
                .and_then(Payway::from_code)
                .ok_or_else(|| {
                    params_error(format!(
                        "parameter payway {text:?} is not a wallet; use 1 Alipay, 3 WeChat, 4 Baidu, 5 JD, 6 QQ, or leave it out"
                    ))
                })?,
        ),
    };
    let auth_code = match with_code {
        true => Some(
            PaymentCode::parse(&params["auth_code"])
                .map_err(|e| params_error(format!("parameter auth_code: {e}")))?,
        ),
        false => None,
    };
    let notify_url = url_field(&params, "notify_url")?;
    url_field(&params, "return_url")?;
    Ok(OrderRequest {
        out_trade_no: params["out_trade_no"].clone(),
        amount,
        subject: params["subject"].clone(),
        notify_url,
        auth_code,
        payway,
        params,
    })
}

/// query: exactly one of out_trade_no / trade_no.
pub fn query_request(params: &Params) -> Result<(Option<String>, Option<String>), GatewayRefusal> {
    check_fields(params, &["app_id"])?;
    let get = |f: &str| params.get(f).filter(|v| !v.is_empty()).cloned();
    match (get("out_trade_no"), get("trade_no")) {
        (None, None) => Err(lack(&["out_trade_no or trade_no"])),
        (Some(_), Some(_)) => Err(params_error(
            "give one of out_trade_no and trade_no, not both",
        )),
        pair => Ok(pair),
    }
}

/// settle: the amount in fen.
pub fn settle_request(params: &Params) -> Result<Fen, GatewayRefusal> {
    check_fields(params, &["app_id", "total_amount"])?;
    amount(params, "total_amount")
}

/// The longest settlequery `trade_no`: string(50), where query's is string(256).
const SETTLE_TRADE_NO_MAX: usize = 50;

/// settlequery: the withdrawal's trade_no.
pub fn settle_query_request(params: &Params) -> Result<String, GatewayRefusal> {
    check_fields(params, &["app_id", "trade_no"])?;
    let trade_no = &params["trade_no"];
    let len = trade_no.chars().count();
    if len > SETTLE_TRADE_NO_MAX {
        return Err(params_error(format!(
            "parameter trade_no has {len} characters; at most {SETTLE_TRADE_NO_MAX} are allowed"
        )));
    }
    Ok(trade_no.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant() -> Merchant {
        Merchant {
            app_id: "APP".into(),
            key: MerchantKey::new("k"),
            rules: SignRules::default(),
        }
    }

    fn signed(pairs: &[(&str, &str)]) -> (Vec<u8>, String) {
        let params: Params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sign = sign_params(&params, &merchant().key, merchant().rules);
        (serde_json::to_vec(&params).unwrap(), format!("sign {sign}"))
    }

    fn code_of(r: Result<impl std::fmt::Debug, GatewayRefusal>) -> String {
        r.unwrap_err().err_code.to_string()
    }

    #[test]
    fn post_checks_run_in_order() {
        let m = merchant();
        assert_eq!(code_of(authenticate_post(b"{nope", None, &m)), "JSONERROR");
        assert_eq!(code_of(authenticate_post(b"[1]", None, &m)), "JSONERROR");
        assert_eq!(code_of(authenticate_post(b"{}", None, &m)), "LACK_PARAMS");
        let (body, auth) = signed(&[("app_id", "OTHER")]);
        assert_eq!(
            code_of(authenticate_post(&body, Some(&auth), &m)),
            "APPID_NOT_EXIST"
        );
        let (body, auth) = signed(&[("app_id", "APP")]);
        assert_eq!(code_of(authenticate_post(&body, None, &m)), "NOSIGN");
        assert_eq!(
            code_of(authenticate_post(&body, Some("Bearer x"), &m)),
            "NOSIGN"
        );
        assert_eq!(
            code_of(authenticate_post(&body, Some("sign 0123"), &m)),
            "SIGNERROR"
        );
        let upper = auth.to_uppercase().replace("SIGN ", "sign ");
        assert!(authenticate_post(&body, Some(&upper), &m).is_ok());
        let body = br#"{"app_id":"APP","total_amount":1250}"#;
        let sign = sign_value(&serde_json::from_slice(body).unwrap(), &m.key, m.rules);
        let refused = authenticate_post(body, Some(&format!("sign {sign}")), &m).unwrap_err();
        assert_eq!(refused.err_code, ErrCode::ParamsError);
        assert!(refused.des.contains("total_amount"), "{}", refused.des);
    }

    #[test]
    fn pay_fields_are_checked() {
        let base = [
            ("app_id", "APP"),
            ("auth_code", "134523198765432101"),
            ("notify_url", "http://pos.example.com/notify"),
            ("operator_id", "001"),
            ("out_trade_no", "A-1"),
            ("subject", "Coffee"),
            ("total_amount", "1250"),
        ];
        let with = |changes: &[(&str, &str)]| -> Params {
            let mut p: Params = base
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            for (k, v) in changes {
                p.insert(k.to_string(), v.to_string());
            }
            p
        };
        let ok = pay_request(with(&[("payway", "3")]), true).unwrap();
        assert_eq!(ok.amount, Fen(1250));
        assert_eq!(ok.payway, Some(Payway::WeChat));
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("subject", "")], "LACK_PARAMS"),
            (&[("total_amount", "12.50")], "PARAMSERROR"),
            (&[("total_amount", "0")], "PARAMSERROR"),
            (&[("total_amount", "-1")], "PARAMSERROR"),
            (&[("payway", "2")], "PARAMSERROR"),
            (&[("auth_code", "12345")], "PARAMSERROR"),
            (&[("auth_code", "13452319876543210x")], "PARAMSERROR"),
            (&[("notify_url", "ftp://x")], "PARAMSERROR"),
        ];
        for (changes, expected) in cases {
            assert_eq!(
                code_of(pay_request(with(changes), true)),
                *expected,
                "{changes:?}"
            );
        }
        let long = "x".repeat(65);
        let refused = pay_request(with(&[("out_trade_no", &long)]), true).unwrap_err();
        assert!(refused.des.contains("at most 64"), "{}", refused.des);
        let refused = pay_request(with(&[("auth_code", "13452319876543210x")]), true).unwrap_err();
        assert!(
            !refused.des.contains("13452319876543210x"),
            "{}",
            refused.des
        );
        // h5/app need a return_url and no code.
        assert_eq!(code_of(pay_request(with(&[]), false)), "LACK_PARAMS");
    }

    #[test]
    fn get_requests_sign_the_decoded_values() {
        let m = merchant();
        let mut params = Params::new();
        params.insert("app_id".into(), "APP".into());
        params.insert("subject".into(), "拿铁 & more".into());
        let sign = sign_params(&params, &m.key, m.rules);
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("app_id", "APP")
            .append_pair("subject", "拿铁 & more")
            .append_pair("sign", &sign)
            .finish();
        assert_eq!(authenticate_get(Some(&query), &m).unwrap(), params);
        let unsigned = query.split("&sign=").next().unwrap();
        assert_eq!(code_of(authenticate_get(Some(unsigned), &m)), "NOSIGN");
        let tampered = query.replace("more", "less");
        assert_eq!(code_of(authenticate_get(Some(&tampered), &m)), "SIGNERROR");
        assert_eq!(code_of(authenticate_get(None, &m)), "LACK_PARAMS");
    }

    #[test]
    fn query_needs_exactly_one_key() {
        let p = |pairs: &[(&str, &str)]| -> Params {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            query_request(&p(&[("app_id", "A"), ("trade_no", "T")])).unwrap(),
            (None, Some("T".into()))
        );
        assert_eq!(
            code_of(query_request(&p(&[("app_id", "A")]))),
            "LACK_PARAMS"
        );
        assert_eq!(
            code_of(query_request(&p(&[
                ("app_id", "A"),
                ("trade_no", "T"),
                ("out_trade_no", "O")
            ]))),
            "PARAMSERROR"
        );
        assert_eq!(
            code_of(settle_request(&p(&[("app_id", "A")]))),
            "LACK_PARAMS"
        );
        assert_eq!(
            settle_request(&p(&[("app_id", "A"), ("total_amount", "100")])).unwrap(),
            Fen(100)
        );
    }
}
