//! `GET /v1/openapi.json` kept true: the document names exactly the routes and methods the
//! router serves, and every answer of the real daemon (driven through each route, to each
//! status code it can give here) has a status code the document lists for that operation
//! and a body that validates against the document's schema for it. A missing route, a
//! field of a sale or of the status added, removed or retyped, or a status code not
//! documented fails here.
//!
//! The schemas are checked by a small JSON Schema validator below that knows exactly the
//! keywords the document uses, and refuses a document using any other.

use crate::e2e_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use e2e_support::{code, Rig, RigOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use scanpay::engine::SaleState;
use scanpay::journal::MemoryJournal;
use scanpay::register::server::OPENAPI_JSON;
use scanpay::register::{serve, ListenAddr, SaleBoard};
use serde_json::{json, Value};

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

/// The (path, method) pairs `router` in src/register/server.rs declares, read from its
/// source: `.route("/path", get(..).post(..))`.
fn routes_in_the_router() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/register/server.rs");
    let start = source.find("fn router<").expect("server.rs has fn router");
    let body = &source[start..start + source[start..].find(".fallback(").expect("a fallback")];
    let mut routes = BTreeSet::new();
    for piece in body.split(".route(").skip(1) {
        let path = piece
            .split('"')
            .nth(1)
            .expect("a route path literal")
            .to_string();
        for method in ["get", "post", "put", "patch", "delete"] {
            let called = piece.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !piece.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && piece.as_bytes()[i - 1] != b'_'
            });
            if called {
                routes.insert((path.clone(), method.to_string()));
            }
        }
    }
    routes
}

fn routes_in_the_document(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                routes.insert((path.clone(), method.clone()));
            }
        }
    }
    routes
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => {
            let target = doc
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("$ref {pointer} points nowhere"));
            resolve(doc, target)
        }
        None => value,
    }
}

/// The schema keywords the validator checks, and the annotations it may ignore.
const KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "$ref",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "format",
    "description",
];

/// Every schema in the document uses only `KEYWORDS`.
fn check_keywords(doc: &Value, schema: &Value, at: &str) {
    let object = schema
        .as_object()
        .unwrap_or_else(|| panic!("{at}: a schema is an object"));
    for (key, value) in object {
        assert!(
            KEYWORDS.contains(&key.as_str()),
            "{at}: schema keyword {key:?} is not checked by this test"
        );
        match key.as_str() {
            "properties" => {
                for (name, property) in value.as_object().unwrap() {
                    check_keywords(doc, property, &format!("{at}.{name}"));
                }
            }
            "items" => check_keywords(doc, value, &format!("{at}[]")),
            "$ref" => {
                resolve(doc, schema);
            }
            _ => {}
        }
    }
}

/// Validates `value` against `schema`; returns every problem, each with its JSON path.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            other => panic!("{at}: type {other}"),
        };
        let matches = |t: &str| match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            other => panic!("{at}: unknown type {other}"),
        };
        if !types.iter().any(|t| matches(t)) {
            problems.push(format!("{at}: {value} is not of type {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(number) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|min| number < min)
        {
            problems.push(format!("{at}: {value} is below the minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|max| number > max)
        {
            problems.push(format!("{at}: {value} is above the maximum"));
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| chars < min)
            || schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|max| chars > max)
        {
            problems.push(format!("{at}: {text:?} has a length outside the schema's"));
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                problems.push(format!("{at}: {text:?} is not an RFC 3339 date-time"))
            }
            Some("uri") if url::Url::parse(text).is_err() => {
                problems.push(format!("{at}: {text:?} is not a URI"))
            }
            _ => {}
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                problems.push(format!("{at}: required field {name:?} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => {
                    validate(doc, field_schema, field, &format!("{at}.{name}"), problems)
                }
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    problems.push(format!("{at}: field {name:?} is not in the document"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(doc, items, item, &format!("{at}[{i}]"), problems);
        }
    }
}

/// One answer of the register API.
struct Answer {
    status: u16,
    content_type: String,
    location: Option<String>,
    body: Vec<u8>,
}

/// A request over a unix socket or TCP, without a token.
async fn send(addr: &ListenAddr, method: &str, path: &str, body: Option<Vec<u8>>) -> Answer {
    let content_type = body.as_ref().map(|_| "application/json");
    send_with(
        addr,
        method,
        path,
        body,
        &[("host", "localhost")],
        content_type,
    )
    .await
}

/// `send` with the given headers, and `content_type` for the body.
async fn send_with(
    addr: &ListenAddr,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
) -> Answer {
    let mut sender = match addr {
        ListenAddr::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .expect("connect to the socket");
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(connection);
            sender
        }
        ListenAddr::Tcp(socket) => {
            let stream = tokio::net::TcpStream::connect(socket)
                .await
                .expect("connect");
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(connection);
            sender
        }
    };
    let mut request = hyper::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer"))
        .expect("send the request");
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (content_type, location) = (
        header("content-type").unwrap_or_default(),
        header("location"),
    );
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read the body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        location,
        body,
    }
}

/// Checks answers against the document and records which (operation, status) were seen.
struct Checker {
    doc: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Checker {
    /// The document's operation for `method` `template`; the answer's status must be listed,
    /// with its content type, and a JSON body must validate.
    fn check(&mut self, method: &str, template: &str, answer: &Answer) -> Value {
        let doc = self.doc.clone();
        let operation = doc["paths"][template]
            .get(method.to_lowercase())
            .unwrap_or_else(|| panic!("the document has no {method} {template}"));
        let status = answer.status.to_string();
        let body_text = String::from_utf8_lossy(&answer.body).into_owned();
        let response = operation["responses"].get(&status).unwrap_or_else(|| {
            panic!("{method} {template} answered {status}, which the document does not list: {body_text}")
        });
        let response = resolve(&doc, response);
        let content = response["content"]
            .as_object()
            .expect("every response has content");
        let (media, spec) = content
            .iter()
            .find(|(media, _)| answer.content_type.starts_with(media.as_str()))
            .unwrap_or_else(|| {
                panic!(
                    "{method} {template} {status}: content type {:?} is not documented",
                    answer.content_type
                )
            });
        self.seen
            .insert((method.to_string(), template.to_string(), answer.status));
        if media != "application/json" {
            return Value::String(body_text);
        }
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or_else(|e| {
            panic!("{method} {template} {status}: not JSON ({e}): {body_text}")
        });
        let mut problems = Vec::new();
        validate(&doc, &spec["schema"], &value, "$", &mut problems);
        assert!(
            problems.is_empty(),
            "{method} {template} {status}: {problems:#?}\n{value:#}"
        );
        value
    }

    fn validate_event(&self, event: &str, data: &str) {
        let spec = &self.doc["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]
            ["text/event-stream"];
        let schema = spec["x-events"]
            .get(event)
            .unwrap_or_else(|| panic!("event {event:?} is not documented"));
        let value: Value = serde_json::from_str(data).expect("event data is JSON");
        let mut problems = Vec::new();
        validate(&self.doc, schema, &value, "$", &mut problems);
        assert!(
            problems.is_empty(),
            "event {event}: {problems:#?}\n{value:#}"
        );
    }
}

#[test]
fn the_document_names_exactly_the_routes_of_the_router_and_uses_only_checked_keywords() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "info.version follows Cargo.toml"
    );
    let router = routes_in_the_router();
    assert!(
        router.len() >= 9,
        "the router's routes were read: {router:?}"
    );
    assert_eq!(routes_in_the_document(&doc), router);
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        check_keywords(&doc, schema, name);
    }
    // Every operation's parameters, bodies and answers resolve and use checked keywords.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                let response = resolve(&doc, response);
                for (media, spec) in response["content"].as_object().unwrap() {
                    check_keywords(
                        &doc,
                        &spec["schema"],
                        &format!("{method} {path} {status} {media}"),
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_the_document_says() {
    let rig = Rig::start(RigOptions::default()).await;
    let addr = ListenAddr::Unix(rig.dir.path().join("register.sock"));
    let mut checker = Checker {
        doc: document(),
        seen: BTreeSet::new(),
    };
    let get = |path: &'static str| send(&addr, "GET", path, None);

    let served = checker.check("GET", "/v1/openapi.json", &get("/v1/openapi.json").await);
    assert_eq!(served, document(), "the served document is this one");
    checker.check("GET", "/v1/status", &get("/v1/status").await);
    let metrics = checker.check("GET", "/metrics", &get("/metrics").await);
    assert!(metrics.as_str().unwrap().contains("scanpay_build_info"));
    let empty = checker.check("GET", "/v1/sales", &get("/v1/sales").await);
    assert_eq!(empty, json!({"sales": []}));
    checker.check("GET", "/v1/sales", &get("/v1/sales?limit=0").await);
    checker.check("GET", "/v1/sales", &get("/v1/sales?colour=red").await);

    // Arming: refusals, then a sale, then busy.
    let post = |path: &'static str, body: Value| {
        send(&addr, "POST", path, Some(body.to_string().into_bytes()))
    };
    checker.check(
        "POST",
        "/v1/sales",
        &post("/v1/sales", json!({"amount_fen": 0})).await,
    );
    checker.check(
        "POST",
        "/v1/sales",
        &post("/v1/sales", json!({"amount_fen": 5, "tip": 1})).await,
    );
    let huge = json!({"amount_fen": 5, "subject": "x".repeat(20_000)});
    checker.check("POST", "/v1/sales", &post("/v1/sales", huge.clone()).await);
    checker.check("POST", "/v1/qr", &post("/v1/qr", huge).await);
    checker.check(
        "POST",
        "/v1/qr",
        &post("/v1/qr", json!({"amount_fen": "5"})).await,
    );
    let armed = post(
        "/v1/sales",
        json!({"amount_fen": 1250, "subject": "openapi"}),
    )
    .await;
    let sale = checker.check("POST", "/v1/sales", &armed);
    let id = sale["sale_id"].as_str().unwrap().to_string();
    assert_eq!(
        armed.location.as_deref(),
        Some(format!("/v1/sales/{id}").as_str())
    );
    checker.check(
        "POST",
        "/v1/sales",
        &post("/v1/sales", json!({"amount_fen": 1})).await,
    );
    checker.check(
        "POST",
        "/v1/qr",
        &post("/v1/qr", json!({"amount_fen": 1})).await,
    );

    // Reading and disarming one sale.
    let one = |method: &'static str, path: String| {
        send(&addr, method, Box::leak(path.into_boxed_str()), None)
    };
    let template = "/v1/sales/{sale_id}";
    checker.check(
        "GET",
        template,
        &one("GET", format!("/v1/sales/{id}")).await,
    );
    checker.check(
        "GET",
        template,
        &one("GET", format!("/v1/sales/{id}?wait=1&state=submitting")).await,
    );
    checker.check(
        "GET",
        template,
        &one("GET", format!("/v1/sales/{id}?wait=forever")).await,
    );
    checker.check(
        "GET",
        template,
        &one("GET", format!("/v1/sales/{id}?state=lost")).await,
    );
    checker.check(
        "GET",
        template,
        &one("GET", "/v1/sales/NO-SUCH-SALE".into()).await,
    );
    checker.check(
        "DELETE",
        template,
        &one("DELETE", "/v1/sales/NO-SUCH-SALE".into()).await,
    );
    checker.check(
        "DELETE",
        template,
        &one("DELETE", "/v1/sales/%FF%FE".into()).await,
    );
    let disarmed = checker.check(
        "DELETE",
        template,
        &one("DELETE", format!("/v1/sales/{id}")).await,
    );
    assert_eq!(disarmed["state"], "disarmed");

    // A paid sale, followed on the event stream.
    let mut events = open_events(&addr).await;
    assert_eq!(events.status, 200);
    checker.check(
        "GET",
        "/v1/events",
        &Answer {
            status: events.status,
            content_type: events.content_type.clone(),
            location: None,
            body: Vec::new(),
        },
    );
    let armed = post("/v1/sales", json!({"amount_fen": 880})).await;
    let sale = checker.check("POST", "/v1/sales", &armed);
    let id = sale["sale_id"].as_str().unwrap().to_string();
    let mut rig = rig;
    rig.scan(&code(31, 1, 0));
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("paid") {
        let (event, data) = events.next().await;
        checker.validate_event(&event, &data);
        let view: Value = serde_json::from_str(&data).unwrap();
        if view["sale_id"] == id.as_str() {
            states.push(view["state"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(states, ["armed", "submitting", "paid"]);
    let paid = checker.check(
        "DELETE",
        template,
        &one("DELETE", format!("/v1/sales/{id}")).await,
    );
    assert!(paid["error"]
        .as_str()
        .unwrap()
        .contains("can no longer be disarmed"));
    let list = checker.check("GET", "/v1/sales", &get("/v1/sales?limit=5").await);
    assert_eq!(list["sales"].as_array().unwrap().len(), 2);
    assert_eq!(list["sales"][0]["state"], "paid");
    checker.check("GET", "/v1/status", &get("/v1/status").await);

    // The journal, live, in both formats; a bad bound or format is a 400.
    let csv = checker.check("GET", "/v1/journal", &get("/v1/journal").await);
    assert_eq!(
        csv.as_str().unwrap().lines().count(),
        3,
        "header and 2 sales"
    );
    let jsonl = get("/v1/journal?format=jsonl&from=2000-01-01").await;
    assert!(jsonl.content_type.starts_with("application/x-ndjson"));
    checker.check("GET", "/v1/journal", &jsonl);
    checker.check(
        "GET",
        "/v1/journal",
        &get("/v1/journal?from=yesterday").await,
    );
    checker.check("GET", "/v1/journal", &get("/v1/journal?format=xls").await);

    // The customer scans the merchant's QR code.
    let qr = checker.check(
        "POST",
        "/v1/qr",
        &post("/v1/qr", json!({"amount_fen": 300})).await,
    );
    assert_eq!(qr["amount_fen"], 300);
    let found = rig.sale(qr["out_trade_no"].as_str().unwrap()).await;
    assert_eq!(found.state, SaleState::WaitingCustomer);

    // Checking a sale again: one the terminal follows (the QR sale, waiting for the
    // customer), one that has ended (paid), none, a body with fields, a body too large. An
    // empty body is a write's like any other: sent as application/json.
    let recheck = "/v1/sales/{sale_id}/recheck";
    let on = |sale: &str| format!("/v1/sales/{sale}/recheck");
    let asked = checker.check(
        "POST",
        recheck,
        &send(&addr, "POST", &on(&found.sale_id), Some(b"{}".to_vec())).await,
    );
    assert_eq!(asked["state"], "waiting_customer");
    checker.check(
        "POST",
        recheck,
        &send(&addr, "POST", &on(&found.sale_id), Some(Vec::new())).await,
    );
    let ended = checker.check(
        "POST",
        recheck,
        &send(&addr, "POST", &on(&id), Some(Vec::new())).await,
    );
    assert!(
        ended["error"]
            .as_str()
            .unwrap()
            .contains("has ended (paid)"),
        "{ended}"
    );
    checker.check(
        "POST",
        recheck,
        &send(&addr, "POST", &on("NO-SUCH-SALE"), Some(Vec::new())).await,
    );
    let with_fields = json!({"state": "paid"}).to_string().into_bytes();
    checker.check(
        "POST",
        recheck,
        &send(&addr, "POST", &on(&found.sale_id), Some(with_fields)).await,
    );
    let huge = json!({"subject": "x".repeat(20_000)})
        .to_string()
        .into_bytes();
    checker.check(
        "POST",
        recheck,
        &send(&addr, "POST", &on(&found.sale_id), Some(huge)).await,
    );

    // Methods the document does not list are not served.
    for (path, _) in routes_in_the_document(&checker.doc) {
        let concrete = path.replace("{sale_id}", &id);
        let allowed: Vec<String> = checker.doc["paths"][&path]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if allowed.contains(&method.to_lowercase()) {
                continue;
            }
            let answer = one(method, concrete.clone()).await;
            assert_eq!(
                answer.status, 405,
                "{method} {concrete} is served but not in the document"
            );
        }
    }
    let nowhere = get("/v1/nowhere").await;
    assert_eq!(nowhere.status, 404);
    assert!(String::from_utf8_lossy(&nowhere.body).contains("/v1/openapi.json"));

    // 401 on every route, from a register API with a token.
    let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
    let guarded = serve("127.0.0.1:0".parse().unwrap(), Some("s3cret".into()), board)
        .await
        .unwrap();
    for (path, method) in routes_in_the_document(&checker.doc) {
        let concrete = path.replace("{sale_id}", "X");
        let answer = send(
            guarded.addr(),
            &method.to_uppercase(),
            Box::leak(concrete.into_boxed_str()),
            None,
        )
        .await;
        checker.check(&method.to_uppercase(), &path, &answer);
        assert_eq!(answer.status, 401, "{method} {path}");
    }
    guarded.shutdown().await.unwrap();

    // 403 on every route for a foreign Host (DNS rebinding), on every write for a foreign
    // Origin, and 415 on every POST whose body is not sent as JSON.
    let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
    let open = serve("127.0.0.1:0".parse().unwrap(), None, board)
        .await
        .unwrap();
    let sale = json!({"amount_fen": 1}).to_string().into_bytes();
    for (path, method) in routes_in_the_document(&checker.doc) {
        let concrete: &'static str = Box::leak(path.replace("{sale_id}", "X").into_boxed_str());
        let method = method.to_uppercase();
        let rebound = [("host", "evil.example:8470")];
        let answer = send_with(open.addr(), &method, concrete, None, &rebound, None).await;
        checker.check(&method, &path, &answer);
        assert_eq!(answer.status, 403, "{method} {path} with a foreign Host");
        if method == "GET" {
            continue;
        }
        let foreign = [("host", "localhost"), ("origin", "http://evil.example")];
        let json = Some("application/json");
        let answer = send_with(open.addr(), &method, concrete, None, &foreign, json).await;
        checker.check(&method, &path, &answer);
        assert_eq!(answer.status, 403, "{method} {path} with a foreign Origin");
        if method == "POST" {
            let plain = Some("text/plain");
            let local = [("host", "localhost")];
            let body = Some(sale.clone());
            let answer = send_with(open.addr(), &method, concrete, body, &local, plain).await;
            checker.check(&method, &path, &answer);
            assert_eq!(answer.status, 415, "{method} {path} as text/plain");
        }
    }
    open.shutdown().await.unwrap();

    // Every status code the document lists was answered, but for the ones that need a
    // stopping daemon (503), a failing journal (503) or a gateway that cannot make a pay
    // page (502).
    let not_driven_here = [
        ("POST", "/v1/sales", 503),
        ("DELETE", "/v1/sales/{sale_id}", 503),
        ("POST", "/v1/sales/{sale_id}/recheck", 503),
        ("POST", "/v1/qr", 502),
        ("POST", "/v1/qr", 503),
        // A journal that cannot be read.
        ("GET", "/v1/journal", 503),
    ];
    for (path, item) in checker.doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            for status in operation["responses"].as_object().unwrap().keys() {
                let key = (
                    method.to_uppercase(),
                    path.clone(),
                    status.parse::<u16>().unwrap(),
                );
                let excused = not_driven_here
                    .iter()
                    .any(|&(m, p, s)| (m, p, s) == (key.0.as_str(), key.1.as_str(), key.2));
                assert!(
                    excused || checker.seen.contains(&key),
                    "{key:?} is documented but never answered"
                );
            }
        }
    }
}

/// An open `GET /v1/events` stream.
struct Events {
    status: u16,
    content_type: String,
    body: hyper::body::Incoming,
    buffer: String,
    _sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

async fn open_events(addr: &ListenAddr) -> Events {
    let ListenAddr::Unix(path) = addr else {
        panic!("the rig listens on a unix socket")
    };
    let stream = tokio::net::UnixStream::connect(path).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/v1/events")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    Events {
        status,
        content_type,
        body: response.into_body(),
        buffer: String::new(),
        _sender: sender,
    }
}

impl Events {
    /// The next `event:` with its `data:` (keep-alive comments skipped).
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_string()))
                };
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return (event, data);
                }
                continue;
            }
            let frame = tokio::time::timeout(e2e_support::STEP, self.body.frame())
                .await
                .expect("an event within the step")
                .expect("the stream is open")
                .expect("a frame");
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}
