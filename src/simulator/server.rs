//! The HTTP side: routes, fault application, signed answers, the h5 page and the admin
//! endpoints. Each handler reads the request, asks the ledger, and writes the answer;
//! the rules themselves live in `requests` and `ledger`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::answers::{self, TradeReply};
use super::clock::Clock;
use super::faults::{Fault, Faults};
use super::ledger::{GatewayRefusal, Ledger, OrderEdit, OrderState, PayReply, TradeView};
use super::listener::{Availability, Conn};
use super::requests::{self, Merchant};
use crate::protocol::signing::{canonical_json, signed_answer};
use crate::protocol::{ErrCode, MerchantKey, ResultCode};

/// Everything the handlers share.
pub struct Shared {
    pub merchant: Merchant,
    pub ledger: Mutex<Ledger>,
    pub faults: Mutex<Faults>,
    pub clock: Arc<dyn Clock>,
    pub base_url: String,
    pub availability: Arc<Availability>,
    pub notifier: reqwest::Client,
    /// Callbacks finished (delivered or failed), for tests that wait for them.
    pub notify_done: watch::Sender<u64>,
}

impl Shared {
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the callbacks the ledger has queued, each once, in the background.
    pub fn send_notifications(self: &Arc<Self>) {
        let pending = self.ledger().take_notifications();
        for note in pending {
            let map = answers::notify(&note.order, &self.merchant.app_id);
            let body = signed_answer(map, &self.merchant.key, self.merchant.rules);
            let shared = self.clone();
            tokio::spawn(async move {
                let out_trade_no = &note.order.out_trade_no;
                let sent = shared
                    .notifier
                    .post(&note.notify_url)
                    .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(response) => tracing::info!(
                        out_trade_no,
                        url = %note.notify_url,
                        status = %response.status(),
                        "simulator sent the payment callback (once, not retried)"
                    ),
                    Err(err) => tracing::warn!(
                        out_trade_no,
                        url = %note.notify_url,
                        %err,
                        "simulator could not deliver the payment callback; it is not retried (the spec sends it once)"
                    ),
                }
                shared.notify_done.send_modify(|n| *n += 1);
            });
        }
    }
}

/// The gateway endpoints plus the simulator's admin endpoints.
pub fn router(shared: Arc<Shared>) -> Router {
    let api = |endpoint: Endpoint| {
        any(
            move |State(shared): State<Arc<Shared>>,
                  ConnectInfo(conn): ConnectInfo<Conn>,
                  method: Method,
                  headers: HeaderMap,
                  body: Bytes| async move {
                api_post(endpoint, shared, conn, method, headers, body).await
            },
        )
    };
    Router::new()
        .route("/api/codepay/", api(Endpoint::Codepay))
        .route("/api/query/", api(Endpoint::Query))
        .route("/api/settle/", api(Endpoint::Settle))
        .route("/api/settlequery/", api(Endpoint::SettleQuery))
        .route("/api/balance_query/", api(Endpoint::BalanceQuery))
        .route("/getway/", get(h5))
        .route("/getway/app", get(app))
        .route("/_sim/h5/{trade_no}", get(h5_page))
        .route("/_sim/h5/{trade_no}/pay", post(h5_pay))
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/orders", get(orders))
        .route("/_sim/orders/{out_trade_no}", post(edit_order))
        .with_state(shared)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Codepay,
    Query,
    Settle,
    SettleQuery,
    BalanceQuery,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Codepay => "codepay",
            Endpoint::Query => "query",
            Endpoint::Settle => "settle",
            Endpoint::SettleQuery => "settlequery",
            Endpoint::BalanceQuery => "balance_query",
        }
    }
}

/// What a request meets before it is handled. `Err` is the whole (faulty) response.
async fn before(shared: &Shared, endpoint: &str, conn: &Conn) -> Result<Option<Fault>, Response> {
    let (latency_ms, fault) = shared.faults().take(endpoint);
    if latency_ms > 0 {
        // The injected latency itself, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    match fault {
        Some(Fault::DropBeforeRecord) => Err(drop_connection(conn, endpoint, "before recording")),
        Some(Fault::HttpStatus(status)) => Err(http_error(status)),
        Some(Fault::Frequently) => Err(signed(
            shared,
            answers::refusal(&GatewayRefusal::new(
                ResultCode::ServiceUnavailable,
                ErrCode::Frequently,
                "calls too frequent; slow down and try again",
            )),
            None,
            conn,
        )),
        other => Ok(other),
    }
}

async fn api_post(
    endpoint: Endpoint,
    shared: Arc<Shared>,
    conn: Conn,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match before(&shared, endpoint.name(), &conn).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    if let Some(Fault::DelayedDelivery(ms)) = fault {
        return deliver_later(endpoint, shared, conn, &method, &headers, &body, ms);
    }
    let answer = if method != Method::POST {
        answers::refusal(&GatewayRefusal::new(
            ResultCode::IllegalParameter,
            ErrCode::RequirePostMethod,
            format!("{method} is not accepted here; POST the JSON request"),
        ))
    } else {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match requests::authenticate_post(&body, authorization, &shared.merchant) {
            Err(refusal) => answers::refusal(&refusal),
            Ok(params) => handle(endpoint, &shared, params),
        }
    };
    shared.send_notifications();
    signed(&shared, answer, fault, &conn)
}

/// `Fault::DelayedDelivery`: the connection closes now, and the request (if it would have
/// been accepted) is carried out `ms` later, its answer going nowhere.
fn deliver_later(
    endpoint: Endpoint,
    shared: Arc<Shared>,
    conn: Conn,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
    ms: u64,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if *method == Method::POST {
        if let Ok(params) = requests::authenticate_post(body, authorization, &shared.merchant) {
            tokio::spawn(async move {
                // The delay is the fault itself, not a synchronisation.
                tokio::time::sleep(Duration::from_millis(ms)).await;
                handle(endpoint, &shared, params);
                shared.send_notifications();
            });
        }
    }
    drop_connection(&conn, endpoint.name(), "before recording (delivered later)")
}

/// Carries out an authenticated request against the ledger.
fn handle(endpoint: Endpoint, shared: &Shared, params: requests::Params) -> Map<String, Value> {
    let app_id = &shared.merchant.app_id;
    let now = shared.clock.now();
    let result = match endpoint {
        Endpoint::Codepay => requests::pay_request(params, true).map(|request| {
            match shared.ledger().pay(request, now) {
                PayReply::Order(view) => answers::trade(&view, TradeReply::Pay, app_id),
                PayReply::Refused(refusal) => answers::refusal(&refusal),
            }
        }),
        Endpoint::Query => requests::query_request(&params).and_then(|(out, trade)| {
            let view = shared
                .ledger()
                .query(out.as_deref(), trade.as_deref(), now)?;
            Ok(answers::trade(&view, TradeReply::Query, app_id))
        }),
        Endpoint::Settle => requests::settle_request(&params).and_then(|amount| {
            let view = shared.ledger().settle(amount, now)?;
            Ok(answers::withdrawal(&view, app_id))
        }),
        Endpoint::SettleQuery => requests::settle_query_request(&params).and_then(|trade_no| {
            let view = shared.ledger().settle_query(&trade_no, now)?;
            Ok(answers::withdrawal(&view, app_id))
        }),
        Endpoint::BalanceQuery => Ok(answers::balance(&shared.ledger().balance(), app_id)),
    };
    result.unwrap_or_else(|refusal| answers::refusal(&refusal))
}

/// Writes an answer, applying the faults that act after recording.
fn signed(
    shared: &Shared,
    answer: Map<String, Value>,
    fault: Option<Fault>,
    conn: &Conn,
) -> Response {
    let merchant = &shared.merchant;
    let body = match fault {
        Some(Fault::DropAfterRecord) => return drop_connection(conn, "answer", "after recording"),
        Some(Fault::HttpStatusAfterRecord(status)) => return http_error(status),
        Some(Fault::UnsignedBody) => format!(
            "{{\"result_response\":{}}}",
            canonical_json(&Value::Object(answer))
        ),
        Some(Fault::WrongSign) => signed_answer(
            answer,
            &MerchantKey::new("not-the-merchant-key"),
            merchant.rules,
        ),
        Some(Fault::TruncatedBody) => {
            let full = signed_answer(answer, &merchant.key, merchant.rules);
            truncate(&full)
        }
        _ => signed_answer(answer, &merchant.key, merchant.rules),
    };
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The first half of a text, cut on a character boundary.
fn truncate(full: &str) -> String {
    let mut cut = full.len() / 2;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    full[..cut].to_string()
}

fn drop_connection(conn: &Conn, what: &str, when: &str) -> Response {
    tracing::info!(
        what,
        when,
        "simulator fault: closing the connection without an answer"
    );
    conn.0.kill();
    // Never written: the connection refuses every write from now on.
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

fn http_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<html><body><h1>{status}</h1><p>simulated gateway error</p></body></html>"),
    )
        .into_response()
}

/// Opens (or reopens) an h5/app order from a signed GET. Ok: the order; Err: the refusal.
fn open_order(shared: &Shared, uri: &Uri) -> Result<TradeView, GatewayRefusal> {
    let params = requests::authenticate_get(uri.query(), &shared.merchant)?;
    let request = requests::pay_request(params, false)?;
    let out_trade_no = request.out_trade_no.clone();
    let mut ledger = shared.ledger();
    match ledger.pay(request, shared.clock.now()) {
        PayReply::Order(view) => Ok(view),
        PayReply::Refused(refusal) if refusal.err_code == ErrCode::OrderPaid => {
            // The page of a paid order says so.
            ledger.view(&out_trade_no).ok_or(refusal)
        }
        PayReply::Refused(refusal) => Err(refusal),
    }
}

/// GET /getway/: the customer-facing page.
async fn h5(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    uri: Uri,
) -> Response {
    let fault = match before(&shared, "h5", &conn).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let page = match open_order(&shared, &uri) {
        Ok(view) => (StatusCode::OK, order_page(&view)),
        Err(refusal) => (StatusCode::BAD_REQUEST, error_page(&refusal)),
    };
    match fault {
        Some(Fault::DropAfterRecord) => drop_connection(&conn, "h5", "after recording"),
        Some(Fault::HttpStatusAfterRecord(status)) => http_error(status),
        Some(Fault::TruncatedBody) => (page.0, Html(truncate(&page.1))).into_response(),
        _ => (page.0, Html(page.1)).into_response(),
    }
}

/// GET /getway/app: the wallet link, as a signed answer.
async fn app(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    uri: Uri,
) -> Response {
    let fault = match before(&shared, "app", &conn).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let answer = match open_order(&shared, &uri) {
        Ok(view) => {
            let url = format!("{}/_sim/h5/{}", shared.base_url, view.trade_no);
            answers::app(&view, &url, &shared.merchant.app_id)
        }
        Err(refusal) => answers::refusal(&refusal),
    };
    signed(&shared, answer, fault, &conn)
}

/// GET /_sim/h5/{trade_no}: the page of an existing order (the app link points here).
async fn h5_page(State(shared): State<Arc<Shared>>, Path(trade_no): Path<String>) -> Response {
    let view = shared.ledger().view_by_trade_no(&trade_no);
    match view {
        Ok(view) => Html(order_page(&view)).into_response(),
        Err(refusal) => (StatusCode::NOT_FOUND, Html(error_page(&refusal))).into_response(),
    }
}

/// POST /_sim/h5/{trade_no}/pay: the tester plays the customer and pays.
async fn h5_pay(State(shared): State<Arc<Shared>>, Path(trade_no): Path<String>) -> Response {
    let confirmed = shared.ledger().confirm_h5(&trade_no, shared.clock.now());
    shared.send_notifications();
    match confirmed {
        Ok(view) => match &view.return_url {
            Some(url) => Redirect::to(url).into_response(),
            None => Html(order_page(&view)).into_response(),
        },
        Err(refusal) => (StatusCode::NOT_FOUND, Html(error_page(&refusal))).into_response(),
    }
}

fn order_page(view: &TradeView) -> String {
    let action = match view.state {
        OrderState::WaitingCustomer => format!(
            "<form method=\"post\" action=\"/_sim/h5/{}/pay\"><button type=\"submit\">Pay {}</button></form>",
            escape(&view.trade_no),
            view.amount
        ),
        OrderState::Paid => "<p><strong>Paid.</strong></p>".to_string(),
        OrderState::Closed | OrderState::Failed => "<p><strong>Not paid: this order is closed.</strong></p>".to_string(),
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Pay {amount}</title></head><body>\
         <h1>Simulated gateway: pay {amount}</h1>\
         <p>for <em>{subject}</em></p><p>order {out} (gateway trade {trade})</p>{action}</body></html>",
        amount = view.amount,
        subject = escape(&view.subject),
        out = escape(&view.out_trade_no),
        trade = escape(&view.trade_no),
    )
}

fn error_page(refusal: &GatewayRefusal) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{code}</title></head><body>\
         <h1>{code}</h1><p>result_code {result}: {des}</p></body></html>",
        code = escape(refusal.err_code.as_str()),
        result = refusal.result_code,
        des = escape(&refusal.des),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(shared.faults().clone())
}

/// POST /_sim/faults: replaces the fault settings; `down_ms` takes the server down for that
/// long. The answer comes once nothing listens any more (it still goes out, on a connection
/// that then closes).
async fn set_faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    body: Bytes,
) -> Response {
    let mut faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("faults JSON not understood ({err}); see `scanpay::simulator::Faults`\n"),
            )
                .into_response()
        }
    };
    if let Err(err) = faults.validate() {
        return (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response();
    }
    let down_ms = faults.down_ms.take();
    *shared.faults() = faults.clone();
    if let Some(ms) = down_ms {
        let availability = shared.availability.clone();
        // This connection stays open for the answer, then closes (Connection: close).
        availability.spare(&conn.0);
        let generation = availability.go_down().await;
        tokio::spawn(async move {
            // How long the gateway stays unreachable: the fault itself.
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if let Err(err) = availability.come_up_unless_changed(generation).await {
                tracing::error!(%err, "simulator could not come back up");
            }
        });
        faults.down_ms = Some(ms);
        return ([(header::CONNECTION, "close")], Json(faults)).into_response();
    }
    Json(faults).into_response()
}

async fn orders(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.ledger().snapshot()).into_response()
}

/// POST /_sim/orders/{out_trade_no}: an `OrderEdit`; answers the order's snapshot (`null`
/// once forgotten), 404 for no such order, 400 for an edit not understood.
async fn edit_order(
    State(shared): State<Arc<Shared>>,
    Path(out_trade_no): Path<String>,
    body: Bytes,
) -> Response {
    let edit: OrderEdit = match serde_json::from_slice(&body) {
        Ok(edit) => edit,
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("order edit not understood ({err}); send e.g. {{\"state\": \"paid\"}} or {{\"amount_fen\": 1300}} (`scanpay::simulator::OrderEdit`)\n"),
            )
                .into_response()
        }
    };
    let now = shared.clock.now();
    let mut ledger = shared.ledger();
    let known = ledger.view(&out_trade_no).is_some();
    match ledger.edit_order(&out_trade_no, &edit, now) {
        Ok(_) => Json(ledger.snapshot().order(&out_trade_no).cloned()).into_response(),
        Err(err) if !known => (StatusCode::NOT_FOUND, format!("{err}\n")).into_response(),
        Err(err) => (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response(),
    }
}
