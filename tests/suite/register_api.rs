//! The register API end to end over real sockets: loopback TCP (127.0.0.1:0) and a unix socket
//! in a temporary directory, against a `SaleBoard` driven by a scripted fake daemon loop.
//! Every route, every status code, the long-poll, server-sent events, metrics, and the
//! `charge` client; and what the register finds after a restart, from the journal.

use crate::record_support;

use record_support::sale_record;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;

use crate::sale_fixtures;
use sale_fixtures::sale_view;
use scanpay::engine::{
    Engine, EnginePolicy, OrderEpoch, SaleRecord, SaleState, SaleView, Timestamp,
};
use scanpay::journal::{Journal, JournalError, LogJournal, MemoryJournal};
use scanpay::protocol::Fen;

use scanpay::register::{
    charge, serve, ArmError, ChargeError, DisarmError, Health, ListenAddr, QrView, RecheckError,
    RegisterBackend, RegisterCommand, SaleBoard, ServerHandle, StatusView,
};

// ---------------------------------------------------------------------------------------------
// A fake daemon: the one loop that answers register commands, with a script of what happens
// to each armed sale right after it is armed.

fn view(n: u64, amount: Fen, subject: &str) -> SaleView {
    SaleView {
        sale_id: format!("sale-{n}"),
        out_trade_no: format!("POS1-20261125-{n:06}"),
        amount_fen: amount,
        subject: subject.to_string(),
        ..sale_view("", SaleState::Armed)
    }
}

/// The next view of a sale in `state`, with the fields the gateway would have filled in.
fn advance(sale: &SaleView, state: SaleState) -> SaleView {
    let mut next = sale.clone();
    next.state = state;
    next.updated_at = "2026-11-25T20:00:05Z".to_string();
    match state {
        SaleState::Paid => next.trade_no = Some(format!("G-{}", sale.sale_id)),
        SaleState::Failed => {
            next.err_code = Some("TRADE_ERROR".to_string());
            next.err_code_des = Some("insufficient balance".to_string());
        }
        _ => {}
    }
    next
}

async fn fake_daemon(
    board: Arc<SaleBoard>,
    mut commands: mpsc::Receiver<RegisterCommand>,
    script: Vec<SaleState>,
) {
    let mut armed = 0;
    while let Some(command) = commands.recv().await {
        match command {
            RegisterCommand::Arm { req, reply } => {
                let busy = board
                    .recent_sales(usize::MAX)
                    .into_iter()
                    .find(|s| !s.state.is_final() && s.state != SaleState::Unresolved);
                if let Some(busy) = busy {
                    let _ = reply.send(Err(ArmError::Busy {
                        sale_id: busy.sale_id,
                        state: busy.state,
                    }));
                    continue;
                }
                armed += 1;
                let subject = req.subject.as_deref().unwrap_or("Goods");
                let mut sale = view(armed, req.amount_fen, subject);
                board.publish(sale.clone());
                let _ = reply.send(Ok(sale.clone()));
                for &state in &script {
                    sale = advance(&sale, state);
                    board.publish(sale.clone());
                }
            }
            RegisterCommand::Disarm { sale_id, reply } => {
                // Like the engine, the fake follows only the sales it has in hand.
                let answer = match board.held(&sale_id) {
                    None => Err(DisarmError::NotFound { sale_id }),
                    Some(s) if s.state != SaleState::Armed => Err(DisarmError::NotArmed {
                        sale_id,
                        state: s.state,
                    }),
                    Some(s) => {
                        let disarmed = advance(&s, SaleState::Disarmed);
                        board.publish(disarmed.clone());
                        Ok(disarmed)
                    }
                };
                let _ = reply.send(answer);
            }
            RegisterCommand::Recheck { sale_id, reply } => {
                // Like the engine: only a sale it follows by query, and has not given up on;
                // a final one it has forgotten.
                let answer = match board.held(&sale_id) {
                    Some(s) if s.state.is_final() => Err(RecheckError::NotFound { sale_id }),
                    None => Err(RecheckError::NotFound { sale_id }),
                    Some(s) if s.needs_review => Err(RecheckError::Ended {
                        sale_id,
                        state: s.state,
                        needs_review: true,
                    }),
                    Some(s) => match s.state {
                        SaleState::WaitingCustomer | SaleState::Unknown | SaleState::Unresolved => {
                            Ok(s)
                        }
                        state => Err(RecheckError::NotYet { sale_id, state }),
                    },
                };
                let _ = reply.send(answer);
            }
            RegisterCommand::ShowQr { req, reply } => {
                let _ = reply.send(Ok(QrView {
                    url: format!(
                        "http://gateway.test/getway/?out_trade_no=QR-1&total_amount={}",
                        req.amount_fen.0
                    ),
                    out_trade_no: "QR-1".to_string(),
                    amount_fen: req.amount_fen,
                }));
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Unix,
}

const BOTH: [Transport; 2] = [Transport::Tcp, Transport::Unix];

struct Terminal {
    board: Arc<SaleBoard>,
    server: ServerHandle,
    _dir: tempfile::TempDir,
}

impl Terminal {
    fn addr(&self) -> &ListenAddr {
        self.server.addr()
    }

    fn socket_path(&self) -> Option<PathBuf> {
        match self.addr() {
            ListenAddr::Unix(path) => Some(path.clone()),
            ListenAddr::Tcp(_) => None,
        }
    }
}

async fn terminal(transport: Transport, token: Option<&str>, script: Vec<SaleState>) -> Terminal {
    let dir = tempfile::tempdir().unwrap();
    let listen = match transport {
        Transport::Tcp => "127.0.0.1:0".parse().unwrap(),
        Transport::Unix => ListenAddr::Unix(dir.path().join("register.sock")),
    };
    let (board, commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
    tokio::spawn(fake_daemon(board.clone(), commands, script));
    let server = serve(listen, token.map(str::to_string), board.clone())
        .await
        .unwrap();
    Terminal {
        board,
        server,
        _dir: dir,
    }
}

// ---------------------------------------------------------------------------------------------
// A plain HTTP/1.1 client over either transport (hyper), so every test runs the same requests
// over TCP and over the unix socket.

async fn connect(addr: &ListenAddr) -> SendRequest<Full<Bytes>> {
    match addr {
        ListenAddr::Tcp(socket) => {
            let stream = TcpStream::connect(socket).await.unwrap();
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(connection);
            sender
        }
        ListenAddr::Unix(path) => {
            let stream = UnixStream::connect(path).await.unwrap();
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(connection);
            sender
        }
    }
}

async fn open(
    addr: &ListenAddr,
    method: Method,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Response<Incoming> {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, "localhost");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .unwrap();
    connect(addr).await.send_request(request).await.unwrap()
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn sale(&self) -> SaleView {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not a sale ({e}): {}", self.body))
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {}", self.body))
            .to_string()
    }
}

async fn call(
    addr: &ListenAddr,
    method: Method,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Reply {
    let response = open(addr, method, path, body, token).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(addr: &ListenAddr, path: &str) -> Reply {
    call(addr, Method::GET, path, None, None).await
}

async fn post(addr: &ListenAddr, path: &str, body: &str) -> Reply {
    call(addr, Method::POST, path, Some(body), None).await
}

async fn delete(addr: &ListenAddr, path: &str) -> Reply {
    call(addr, Method::DELETE, path, None, None).await
}

/// Waits (without sleeping) until `n` long-polls or event streams are listening on the board.
async fn until_listeners(board: &SaleBoard, n: usize) {
    while board.listeners() < n {
        tokio::task::yield_now().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Routes and status codes.

#[tokio::test]
async fn arming_answers_201_with_the_sale_and_409_while_it_is_in_progress() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let reply = post(
            t.addr(),
            "/v1/sales",
            r#"{"amount_fen": 1250, "subject": "Coffee Latte", "operator_id": "c-7"}"#,
        )
        .await;
        assert_eq!(reply.status, 201, "{transport:?}: {}", reply.body);
        assert!(reply.content_type.starts_with("application/json"));
        let sale = reply.sale();
        assert_eq!(sale.state, SaleState::Armed);
        assert_eq!(sale.amount_fen, Fen(1250));
        assert_eq!(sale.subject, "Coffee Latte");
        // The sale JSON is the contract's, field for field.
        let mut keys: Vec<String> = reply.json().as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let mut contract = [
            "sale_id",
            "out_trade_no",
            "amount_fen",
            "subject",
            "state",
            "payway",
            "trade_no",
            "err_code",
            "err_code_des",
            "created_at",
            "updated_at",
            "needs_review",
            "late",
        ];
        contract.sort();
        assert_eq!(keys, contract);
        assert_eq!(reply.json()["amount_fen"], serde_json::json!(1250));

        let busy = post(t.addr(), "/v1/sales", r#"{"amount_fen": 500}"#).await;
        assert_eq!(busy.status, 409, "{transport:?}");
        assert!(busy.error().contains(&sale.sale_id), "{}", busy.error());

        // Still 409 once scanned; free again once it ended.
        t.board.publish(advance(&sale, SaleState::WaitingCustomer));
        assert_eq!(
            post(t.addr(), "/v1/sales", r#"{"amount_fen": 500}"#)
                .await
                .status,
            409
        );
        t.board.publish(advance(&sale, SaleState::Paid));
        assert_eq!(
            post(t.addr(), "/v1/sales", r#"{"amount_fen": 500}"#)
                .await
                .status,
            201
        );
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_sale_is_read_by_id_and_an_unknown_id_is_404() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let sale = post(t.addr(), "/v1/sales", r#"{"amount_fen": 99}"#)
            .await
            .sale();
        let read = get(t.addr(), &format!("/v1/sales/{}", sale.sale_id)).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.sale(), sale);

        let missing = get(t.addr(), "/v1/sales/nope").await;
        assert_eq!(missing.status, 404, "{transport:?}");
        assert!(missing.error().contains("\"nope\""), "{}", missing.error());

        let no_route = get(t.addr(), "/v2/whatever").await;
        assert_eq!(no_route.status, 404);
        assert!(no_route.error().contains("/v2/whatever"));
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn delete_disarms_an_armed_sale_only() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let first = post(t.addr(), "/v1/sales", r#"{"amount_fen": 100}"#)
            .await
            .sale();
        let disarmed = delete(t.addr(), &format!("/v1/sales/{}", first.sale_id)).await;
        assert_eq!(disarmed.status, 200, "{transport:?}: {}", disarmed.body);
        assert_eq!(disarmed.sale().state, SaleState::Disarmed);
        assert_eq!(
            get(t.addr(), &format!("/v1/sales/{}", first.sale_id))
                .await
                .sale()
                .state,
            SaleState::Disarmed
        );

        // Disarmed twice, or once scanned: 409.
        let again = delete(t.addr(), &format!("/v1/sales/{}", first.sale_id)).await;
        assert_eq!(again.status, 409);
        let second = post(t.addr(), "/v1/sales", r#"{"amount_fen": 200}"#)
            .await
            .sale();
        t.board.publish(advance(&second, SaleState::Submitting));
        let scanned = delete(t.addr(), &format!("/v1/sales/{}", second.sale_id)).await;
        assert_eq!(scanned.status, 409);
        assert!(
            scanned.error().contains("submitting"),
            "{}",
            scanned.error()
        );

        assert_eq!(delete(t.addr(), "/v1/sales/sale-404").await.status, 404);
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn recheck_is_202_for_a_sale_the_terminal_follows_and_409_once_it_has_ended() {
    for transport in BOTH {
        let t = terminal(
            transport,
            None,
            vec![SaleState::Submitting, SaleState::Unresolved],
        )
        .await;
        let sale = post(t.addr(), "/v1/sales", r#"{"amount_fen": 100}"#)
            .await
            .sale();
        let path = format!("/v1/sales/{}/recheck", sale.sale_id);
        // No body, or an empty object; the id in any ASCII case.
        for (path, body) in [(path.clone(), ""), (path.to_ascii_lowercase(), "{}")] {
            let asked = post(t.addr(), &path, body).await;
            assert_eq!(asked.status, 202, "{transport:?}: {}", asked.body);
            assert_eq!(asked.sale().sale_id, sale.sale_id);
            assert_eq!(asked.sale().state, SaleState::Unresolved);
        }
        let fields = post(t.addr(), &path, r#"{"state": "paid"}"#).await;
        assert_eq!(fields.status, 400);
        assert!(fields.error().contains("\"state\""), "{}", fields.error());

        // It needs review: ended, with its state.
        let mut review = advance(&sale, SaleState::Unresolved);
        review.needs_review = true;
        t.board.publish(review);
        let given_up = post(t.addr(), &path, "").await;
        assert_eq!(given_up.status, 409);
        assert!(
            given_up.error().contains("needs review"),
            "{}",
            given_up.error()
        );
        // Paid: the engine has forgotten it; the board says how it ended.
        t.board.publish(advance(&sale, SaleState::Paid));
        let paid = post(t.addr(), &path, "").await;
        assert_eq!(paid.status, 409);
        assert!(
            paid.error().contains("has ended (paid)"),
            "{}",
            paid.error()
        );

        // Not checked by query yet.
        let t2 = terminal(transport, None, vec![]).await;
        let armed = post(t2.addr(), "/v1/sales", r#"{"amount_fen": 100}"#)
            .await
            .sale();
        let early = post(
            t2.addr(),
            &format!("/v1/sales/{}/recheck", armed.sale_id),
            "",
        )
        .await;
        assert_eq!(early.status, 409);
        assert!(early.error().contains("armed"), "{}", early.error());
        assert_eq!(
            post(t2.addr(), "/v1/sales/sale-404/recheck", "")
                .await
                .status,
            404
        );
        t.server.shutdown().await.unwrap();
        t2.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn recent_sales_are_listed_newest_first() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![SaleState::Paid]).await;
        for amount in [100, 200, 300] {
            let reply = post(
                t.addr(),
                "/v1/sales",
                &format!(r#"{{"amount_fen": {amount}}}"#),
            )
            .await;
            assert_eq!(reply.status, 201);
        }
        let list = get(t.addr(), "/v1/sales").await.json();
        let amounts: Vec<u64> = list["sales"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["amount_fen"].as_u64().unwrap())
            .collect();
        assert_eq!(amounts, [300, 200, 100], "{transport:?}");
        assert!(list["sales"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "paid"));

        let limited = get(t.addr(), "/v1/sales?limit=2").await.json();
        assert_eq!(limited["sales"].as_array().unwrap().len(), 2);
        let bad = get(t.addr(), "/v1/sales?limit=0").await;
        assert_eq!(bad.status, 400);
        assert!(bad.error().contains("\"limit\""));
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_the_server_keeps_serving() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let long_subject = format!(r#"{{"amount_fen": 1, "subject": "{}"}}"#, "x".repeat(257));
        for (body, field) in [
            (r#"{"amount_fen": 0}"#, "amount_fen"),
            (r#"{"amount_fen": -1}"#, "amount_fen"),
            (r#"{"amount_fen": 12.5}"#, "amount_fen"),
            (r#"{"amount_fen": "1250"}"#, "amount_fen"),
            (r#"{"amount_fen": 100000000000}"#, "amount_fen"),
            (r#"{}"#, "amount_fen"),
            (long_subject.as_str(), "subject"),
            (
                r#"{"amount_fen": 1, "operator_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
                "operator_id",
            ),
            (r#"{"amount_fen": 1, "tip_fen": 100}"#, "tip_fen"),
            // serde_json alone would keep the last value and arm ¥50.00.
            (r#"{"amount_fen": 1, "amount_fen": 5000}"#, "amount_fen"),
        ] {
            let reply = post(t.addr(), "/v1/sales", body).await;
            assert_eq!(reply.status, 400, "{transport:?} {body}: {}", reply.body);
            assert!(
                reply.error().contains(&format!("\"{field}\"")),
                "{body}: {}",
                reply.error()
            );
        }
        let twice = post(
            t.addr(),
            "/v1/sales",
            r#"{"amount_fen":1,"amount_fen":5000}"#,
        )
        .await;
        assert!(twice.error().contains("given twice"), "{}", twice.error());
        let not_json = post(t.addr(), "/v1/sales", "amount=12").await;
        assert_eq!(not_json.status, 400);
        assert!(not_json.error().contains("not a JSON object"));

        let bad_wait = get(t.addr(), "/v1/sales/sale-1?wait=forever").await;
        assert_eq!(bad_wait.status, 400);
        assert!(bad_wait.error().contains("\"wait\""));
        let bad_param = get(t.addr(), "/v1/sales/sale-1?timeout=5").await;
        assert_eq!(bad_param.status, 400);
        assert!(bad_param.error().contains("\"timeout\""));
        let qr = post(
            t.addr(),
            "/v1/qr",
            r#"{"amount_fen": 1, "operator_id": "x"}"#,
        )
        .await;
        assert_eq!(qr.status, 400);
        assert!(qr.error().contains("\"operator_id\""));

        let huge = format!(
            r#"{{"amount_fen": 1, "subject": "{}"}}"#,
            "x".repeat(20_000)
        );
        let too_large = post(t.addr(), "/v1/sales", &huge).await;
        assert_eq!(too_large.status, 413);
        assert!(
            too_large.error().contains("at most 16384 bytes"),
            "{}",
            too_large.error()
        );
        let bad_id = get(t.addr(), "/v1/sales/%FF").await;
        assert_eq!(bad_id.status, 400);
        assert!(bad_id.error().contains("sale id"), "{}", bad_id.error());
        let wrong_method = call(t.addr(), Method::PUT, "/v1/sales", None, None).await;
        assert_eq!(wrong_method.status, 405);
        assert!(wrong_method.error().contains("PUT"));

        // None of it armed anything, and the API still works.
        assert_eq!(
            post(t.addr(), "/v1/sales", r#"{"amount_fen": 1}"#)
                .await
                .status,
            201
        );
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn with_a_token_every_route_needs_it() {
    for transport in BOTH {
        let t = terminal(transport, Some("s3cret"), vec![]).await;
        for (method, path, body) in [
            (Method::POST, "/v1/sales", Some(r#"{"amount_fen": 1}"#)),
            (Method::GET, "/v1/sales", None),
            (Method::GET, "/v1/sales/sale-1", None),
            (Method::DELETE, "/v1/sales/sale-1", None),
            (Method::GET, "/v1/events", None),
            (Method::GET, "/v1/status", None),
            (Method::POST, "/v1/qr", Some(r#"{"amount_fen": 1}"#)),
            (Method::GET, "/metrics", None),
        ] {
            for token in [None, Some("wrong"), Some("s3cre"), Some("s3cret2")] {
                let reply = call(t.addr(), method.clone(), path, body, token).await;
                assert_eq!(reply.status, 401, "{transport:?} {method} {path} {token:?}");
                assert!(reply.error().contains("Authorization: Bearer"));
            }
        }
        let ok = call(t.addr(), Method::GET, "/v1/status", None, Some("s3cret")).await;
        assert_eq!(ok.status, 200);
        let ok = call(t.addr(), Method::GET, "/metrics", None, Some("s3cret")).await;
        assert_eq!(ok.status, 200);
        let armed = call(
            t.addr(),
            Method::POST,
            "/v1/sales",
            Some(r#"{"amount_fen": 1}"#),
            Some("s3cret"),
        )
        .await;
        assert_eq!(armed.status, 201);
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn status_reports_what_the_daemon_set() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let starting = get(t.addr(), "/v1/status").await.json();
        assert_eq!(starting["clock_synchronized"], false);
        assert_eq!(starting["version"], env!("CARGO_PKG_VERSION"));

        t.board.set_status(StatusView {
            version: "9.9.9".to_string(),
            scanner: Health::up("serial /dev/serial/by-id/usb-scanner"),
            display: Health::down("no panel found"),
            gateway: Health::up("answered 2 s ago"),
            queue_depth: 0,
            clock_synchronized: true,
            journal_damage: Vec::new(),
            storage: Health::down("storage fault: disk full"),
        });
        t.board.update_status(|s| s.queue_depth = 3);
        let reply = get(t.addr(), "/v1/status").await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.json(),
            serde_json::json!({
                "version": "9.9.9",
                "scanner": {"ok": true, "detail": "serial /dev/serial/by-id/usb-scanner"},
                "display": {"ok": false, "detail": "no panel found"},
                "gateway": {"ok": true, "detail": "answered 2 s ago"},
                "queue_depth": 3,
                "clock_synchronized": true,
                "journal_damage": [],
                "storage": {"ok": false, "detail": "storage fault: disk full"}
            })
        );
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_counts_by_state() {
    for transport in BOTH {
        let t = terminal(
            transport,
            None,
            vec![SaleState::Submitting, SaleState::Paid],
        )
        .await;
        post(t.addr(), "/v1/sales", r#"{"amount_fen": 1}"#).await;
        post(t.addr(), "/v1/sales", r#"{"amount_fen": 2}"#).await;
        t.board.record_gateway_error();
        t.board.record_scan_refused();
        t.board.record_scan_refused();
        t.board.update_status(|s| s.queue_depth = 5);

        let reply = get(t.addr(), "/metrics").await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.content_type,
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let samples: Vec<&str> = reply.body.lines().filter(|l| !l.starts_with('#')).collect();
        for wanted in [
            r#"scanpay_sales_total{state="armed"} 2"#,
            r#"scanpay_sales_total{state="paid"} 2"#,
            r#"scanpay_sales_total{state="failed"} 0"#,
            "scanpay_gateway_errors_total 1",
            "scanpay_scans_refused_total 2",
            "scanpay_queue_depth 5",
        ] {
            assert!(
                samples.contains(&wanted),
                "{transport:?}: no {wanted} in\n{}",
                reply.body
            );
        }
        // Every sample line is `name{labels} value` with a declared TYPE.
        for sample in &samples {
            let (series, value) = sample.rsplit_once(' ').unwrap();
            value.parse::<f64>().unwrap();
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{name}"
            );
            assert!(
                reply.body.contains(&format!("# TYPE {name} ")),
                "{name} has no TYPE"
            );
        }
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn qr_returns_the_pay_page_url() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let reply = post(
            t.addr(),
            "/v1/qr",
            r#"{"amount_fen": 880, "subject": "Tea"}"#,
        )
        .await;
        assert_eq!(reply.status, 200, "{transport:?}: {}", reply.body);
        let qr = reply.json();
        assert_eq!(
            qr["url"],
            "http://gateway.test/getway/?out_trade_no=QR-1&total_amount=880"
        );
        assert_eq!(qr["amount_fen"], 880);
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn commands_answer_503_when_the_daemon_loop_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (board, commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
    drop(commands);
    let server = serve(
        ListenAddr::Unix(dir.path().join("r.sock")),
        None,
        board.clone(),
    )
    .await
    .unwrap();
    let reply = post(server.addr(), "/v1/sales", r#"{"amount_fen": 1}"#).await;
    assert_eq!(reply.status, 503);
    assert!(reply.error().contains("retry"));
    let reply = post(server.addr(), "/v1/sales/sale-1/recheck", "").await;
    assert_eq!(reply.status, 503);
    assert!(reply.error().contains("retry"));
    server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Long-poll and server-sent events.

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_the_state_changes() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let sale = post(t.addr(), "/v1/sales", r#"{"amount_fen": 1}"#)
            .await
            .sale();
        let addr = t.addr().clone();
        let path = format!("/v1/sales/{}?wait=60", sale.sale_id);
        let started = Instant::now();
        let poll = tokio::spawn(async move { get(&addr, &path).await });
        until_listeners(&t.board, 1).await;

        // A republished identical view and another sale's change do not end the poll.
        t.board.publish(sale.clone());
        t.board
            .publish(advance(&view(77, Fen(5), "other"), SaleState::Paid));
        t.board.publish(advance(&sale, SaleState::Submitting));
        let reply = poll.await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.sale().state, SaleState::Submitting, "{transport:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_long_poll_with_a_known_state_returns_at_once_if_it_already_moved_on() {
    let t = terminal(Transport::Tcp, None, vec![SaleState::Submitting]).await;
    let sale = post(t.addr(), "/v1/sales", r#"{"amount_fen": 1}"#)
        .await
        .sale();
    // The 201 said armed; it has moved on since: no wait.
    let started = Instant::now();
    let reply = get(
        t.addr(),
        &format!("/v1/sales/{}?wait=60&state=armed", sale.sale_id),
    )
    .await;
    assert_eq!(reply.sale().state, SaleState::Submitting);
    assert!(started.elapsed() < Duration::from_secs(30));
    let bad = get(t.addr(), &format!("/v1/sales/{}?state=done", sale.sale_id)).await;
    assert_eq!(bad.status, 400);
    assert!(bad.error().contains("\"state\""));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_long_poll_without_a_change_returns_the_current_state_at_the_timeout() {
    let t = terminal(Transport::Unix, None, vec![]).await;
    let sale = post(t.addr(), "/v1/sales", r#"{"amount_fen": 1}"#)
        .await
        .sale();
    let started = Instant::now();
    let reply = get(t.addr(), &format!("/v1/sales/{}?wait=1", sale.sale_id)).await;
    let took = started.elapsed();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.sale().state, SaleState::Armed);
    assert!(took >= Duration::from_secs(1), "returned early: {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    // A sale that has ended will not change again: no waiting at all.
    t.board.publish(advance(&sale, SaleState::Paid));
    let started = Instant::now();
    let reply = get(t.addr(), &format!("/v1/sales/{}?wait=60", sale.sale_id)).await;
    assert_eq!(reply.sale().state, SaleState::Paid);
    assert!(started.elapsed() < Duration::from_secs(30));
    t.server.shutdown().await.unwrap();
}

/// Reads server-sent events from a response until `n` have arrived: (event, data) pairs.
async fn read_events(response: &mut Response<Incoming>, n: usize) -> Vec<(String, String)> {
    let mut text = String::new();
    loop {
        let events: Vec<(String, String)> = text
            .split("\n\n")
            .filter(|block| block.contains("data:"))
            .filter_map(|block| {
                // Only complete blocks (terminated by a blank line) count.
                let complete = text.contains(&format!("{block}\n\n"));
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                complete.then_some((event, data))
            })
            .collect();
        if events.len() >= n {
            return events;
        }
        let frame = response
            .body_mut()
            .frame()
            .await
            .expect("the event stream ended early")
            .unwrap();
        if let Some(chunk) = frame.data_ref() {
            text.push_str(std::str::from_utf8(chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn events_deliver_one_event_per_change_in_order() {
    for transport in BOTH {
        let t = terminal(transport, None, vec![]).await;
        let mut stream = open(t.addr(), Method::GET, "/v1/events", None, None).await;
        assert_eq!(stream.status(), 200);
        assert_eq!(
            stream.headers()[CONTENT_TYPE].to_str().unwrap(),
            "text/event-stream"
        );
        until_listeners(&t.board, 1).await;

        let sale = view(1, Fen(1250), "Coffee");
        let script = [
            sale.clone(),
            sale.clone(), // republished, unchanged: no event
            advance(&sale, SaleState::Submitting),
            advance(&sale, SaleState::WaitingCustomer),
            advance(&sale, SaleState::WaitingCustomer), // unchanged again
            advance(&sale, SaleState::Paid),
        ];
        for change in &script {
            t.board.publish(change.clone());
        }
        let events = read_events(&mut stream, 4).await;
        let states: Vec<String> = events
            .iter()
            .map(|(event, data)| {
                assert_eq!(event, "sale");
                let view: SaleView = serde_json::from_str(data).unwrap();
                view.state.as_str().to_string()
            })
            .collect();
        assert_eq!(
            states,
            ["armed", "submitting", "waiting_customer", "paid"],
            "{transport:?}"
        );
        let paid: SaleView = serde_json::from_str(&events[3].1).unwrap();
        assert_eq!(paid.trade_no.as_deref(), Some("G-sale-1"));
        t.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn shutdown_ends_open_long_polls_and_event_streams_and_removes_the_socket() {
    let t = terminal(Transport::Unix, None, vec![]).await;
    let socket = t.socket_path().unwrap();
    let sale = post(t.addr(), "/v1/sales", r#"{"amount_fen": 1}"#)
        .await
        .sale();
    let mut stream = open(t.addr(), Method::GET, "/v1/events", None, None).await;
    let addr = t.addr().clone();
    let path = format!("/v1/sales/{}?wait=300", sale.sale_id);
    let poll = tokio::spawn(async move { get(&addr, &path).await });
    until_listeners(&t.board, 2).await;

    let started = Instant::now();
    t.server.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    let reply = poll.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.sale().state, SaleState::Armed);
    // The stream's body ends (possibly after a keep-alive comment).
    while let Some(frame) = stream.body_mut().frame().await {
        if frame.is_err() {
            break;
        }
    }
    assert!(!socket.exists(), "the socket file was left behind");
}

// ---------------------------------------------------------------------------------------------
// The `charge` client.

fn is_subsequence(seen: &[SaleState], of: &[SaleState]) -> bool {
    let mut rest = of.iter();
    seen.iter().all(|s| rest.any(|o| o == s))
}

#[tokio::test]
async fn charge_follows_a_sale_to_paid_over_tcp() {
    let script = vec![
        SaleState::Submitting,
        SaleState::WaitingCustomer,
        SaleState::Paid,
    ];
    let t = terminal(Transport::Tcp, Some("tok"), script.clone()).await;
    let mut seen = Vec::new();
    let sale = charge(
        t.addr(),
        Some("tok"),
        Fen(1250),
        Some("Latte"),
        Some("c-1"),
        Duration::from_secs(30),
        |v| seen.push(v.state),
    )
    .await
    .unwrap();
    assert_eq!(sale.state, SaleState::Paid);
    assert_eq!(sale.amount_fen, Fen(1250));
    assert_eq!(sale.subject, "Latte");
    assert_eq!(sale.trade_no.as_deref(), Some("G-sale-1"));
    assert_eq!(seen.first(), Some(&SaleState::Armed));
    assert_eq!(seen.last(), Some(&SaleState::Paid));
    let mut all = vec![SaleState::Armed];
    all.extend(script);
    assert!(is_subsequence(&seen, &all), "{seen:?}");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn charge_follows_a_sale_to_failed_over_the_unix_socket() {
    let t = terminal(
        Transport::Unix,
        None,
        vec![SaleState::Submitting, SaleState::Failed],
    )
    .await;
    let mut seen = Vec::new();
    let sale = charge(
        t.addr(),
        None,
        Fen(300),
        None,
        None,
        Duration::from_secs(30),
        |v| seen.push(v.state),
    )
    .await
    .unwrap();
    assert_eq!(sale.state, SaleState::Failed);
    assert_eq!(sale.err_code.as_deref(), Some("TRADE_ERROR"));
    assert_eq!(sale.subject, "Goods");
    assert_eq!(seen.first(), Some(&SaleState::Armed));
    assert_eq!(seen.last(), Some(&SaleState::Failed));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn charge_follows_changes_that_happen_while_it_polls() {
    let t = terminal(Transport::Unix, None, vec![]).await;
    let board = t.board.clone();
    // The "cashier" moves the sale along each time the client is seen waiting on it.
    let driver = tokio::spawn(async move {
        let mut feed = board.subscribe();
        let armed = feed.recv().await.unwrap();
        let mut current = armed.clone();
        for state in [
            SaleState::Submitting,
            SaleState::Unknown,
            SaleState::WaitingCustomer,
            SaleState::Paid,
        ] {
            // The driver's own feed plus the client's long-poll.
            until_listeners(&board, 2).await;
            current = advance(&current, state);
            board.publish(current.clone());
            // Let the long-poll see this change and return before the next one.
            while board.listeners() > 1 {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut seen = Vec::new();
    let sale = charge(
        t.addr(),
        None,
        Fen(4200),
        None,
        None,
        Duration::from_secs(60),
        |v| seen.push(v.state),
    )
    .await
    .unwrap();
    driver.await.unwrap();
    assert_eq!(sale.state, SaleState::Paid);
    assert_eq!(
        seen,
        [
            SaleState::Armed,
            SaleState::Submitting,
            SaleState::Unknown,
            SaleState::WaitingCustomer,
            SaleState::Paid
        ]
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn charge_stops_at_unresolved_and_disarms_a_sale_nobody_scanned() {
    let t = terminal(Transport::Tcp, None, vec![SaleState::Unresolved]).await;
    let sale = charge(
        t.addr(),
        None,
        Fen(1),
        None,
        None,
        Duration::from_secs(30),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(sale.state, SaleState::Unresolved);
    t.server.shutdown().await.unwrap();

    let t = terminal(Transport::Tcp, None, vec![]).await;
    let mut seen = Vec::new();
    let sale = charge(
        t.addr(),
        None,
        Fen(1),
        None,
        None,
        Duration::from_secs(1),
        |v| seen.push(v.state),
    )
    .await
    .unwrap();
    assert_eq!(sale.state, SaleState::Disarmed);
    assert_eq!(seen, [SaleState::Armed, SaleState::Disarmed]);
    // The terminal is free again.
    assert_eq!(
        post(t.addr(), "/v1/sales", r#"{"amount_fen": 1}"#)
            .await
            .status,
        201
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn charge_reports_refusals_and_an_absent_daemon_as_typed_errors() {
    let t = terminal(Transport::Tcp, Some("tok"), vec![]).await;
    let wrong = charge(
        t.addr(),
        Some("nope"),
        Fen(1),
        None,
        None,
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    assert!(
        matches!(wrong, Err(ChargeError::Unauthorized { .. })),
        "{wrong:?}"
    );

    post_with_token(t.addr(), "tok").await;
    let busy = charge(
        t.addr(),
        Some("tok"),
        Fen(1),
        None,
        None,
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    match busy {
        Err(ChargeError::Rejected {
            status: 409,
            message,
            ..
        }) => {
            assert!(message.contains("sale-1"), "{message}")
        }
        other => panic!("expected 409, got {other:?}"),
    }
    let addr = t.addr().clone();
    t.server.shutdown().await.unwrap();

    // Nothing listens there any more.
    let gone = charge(
        &addr,
        Some("tok"),
        Fen(1),
        None,
        None,
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    match gone {
        Err(e @ ChargeError::Unreachable { .. }) => {
            assert!(e.to_string().contains("scanpay daemon"), "{e}")
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
    let missing = ListenAddr::Unix(PathBuf::from("/nonexistent/scanpay/register.sock"));
    let gone = charge(
        &missing,
        None,
        Fen(1),
        None,
        None,
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    assert!(
        matches!(gone, Err(ChargeError::Unreachable { .. })),
        "{gone:?}"
    );
}

async fn post_with_token(addr: &ListenAddr, token: &str) {
    let reply = call(
        addr,
        Method::POST,
        "/v1/sales",
        Some(r#"{"amount_fen": 1}"#),
        Some(token),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn a_live_socket_is_not_taken_over() {
    let t = terminal(Transport::Unix, None, vec![]).await;
    let path = t.socket_path().unwrap();
    let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
    let second = serve(ListenAddr::Unix(path.clone()), None, board).await;
    let err = second.err().expect("a second server on the same socket");
    assert!(err.to_string().contains("in use"), "{err}");
    // The first still answers.
    assert_eq!(get(t.addr(), "/v1/status").await.status, 200);
    t.server.shutdown().await.unwrap();
}

/// The board is a `RegisterBackend`: the same object the daemon holds.
#[test]
fn the_board_is_the_backend() {
    fn is_backend<B: RegisterBackend>(_: &B) {}
    let (board, _commands) = SaleBoard::new(Arc::new(MemoryJournal::new()));
    is_backend(&*board);
}

#[tokio::test]
async fn an_event_reader_that_falls_behind_is_told_how_much_it_missed() {
    let t = terminal(Transport::Tcp, None, vec![]).await;
    let mut stream = open(t.addr(), Method::GET, "/v1/events", None, None).await;
    until_listeners(&t.board, 1).await;
    // 300 changes while the reader reads nothing: the feed keeps the last 256.
    for n in 0..300 {
        t.board.publish(view(n, Fen(n + 1), "burst"));
    }
    let events = read_events(&mut stream, 2).await;
    assert_eq!(
        events[0],
        ("lagged".to_string(), r#"{"missed":44}"#.to_string())
    );
    assert_eq!(events[1].0, "sale");
    let first_kept: SaleView = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(first_kept.sale_id, "sale-44");
    t.server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// After a restart: every sale the journal knows is found by id (invariant 8, ARCHITECTURE.md).

/// A journaled sale numbered `seq` under `prefix`, in `state`.
fn record(prefix: &str, seq: u64, state: SaleState) -> SaleRecord {
    let created = Timestamp::from_millis(1_795_000_000_000 + seq * 60_000);
    SaleRecord {
        amount: Fen(100 + seq),
        trade_no: (state == SaleState::Paid).then(|| format!("G{seq}")),
        poll_interval_ms: 0,
        ..sale_record(
            &SaleRecord::order_number(prefix, created, None, seq),
            seq,
            state,
            created,
        )
    }
}

/// A terminal started on `journal` the way the daemon starts: the journal recovered into a
/// new engine and the board, then the register API on loopback; the fake loop stands in for
/// the engine, which follows none of these ended sales.
async fn restarted(journal: Arc<dyn Journal>) -> Terminal {
    let now = Timestamp::from_millis(1_796_000_000_000);
    let mut engine = Engine::new(EnginePolicy::default(), now).unwrap();
    let (board, commands) = SaleBoard::new(journal.clone());
    scanpay::daemon::recover(journal.as_ref(), &mut engine, &board, now).unwrap();
    tokio::spawn(fake_daemon(board.clone(), commands, vec![]));
    let server = serve("127.0.0.1:0".parse().unwrap(), None, board.clone())
        .await
        .unwrap();
    Terminal {
        board,
        server,
        _dir: tempfile::tempdir().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_ended_sales_are_found_by_id_listed_and_refuse_disarming() {
    let dir = tempfile::tempdir().unwrap();
    let (paid, failed) = {
        let journal = LogJournal::open(dir.path().join("journal")).unwrap();
        let paid = record("SHOP1", 1, SaleState::Paid);
        let mut failed = record("SHOP1", 2, SaleState::Failed);
        failed.err_code = Some("INSUFFICIENT".to_string());
        journal.put(&paid).unwrap();
        journal.put(&failed).unwrap();
        (paid, failed)
        // Dropped: the process that wrote them is gone.
    };
    let journal = Arc::new(LogJournal::open(dir.path().join("journal")).unwrap());
    let t = restarted(journal).await;

    let found = get(t.addr(), &format!("/v1/sales/{}", paid.sale_id)).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.sale(), paid.view());
    let listed = get(t.addr(), "/v1/sales").await.json();
    let ids: Vec<&str> = listed["sales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sale_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [failed.sale_id.as_str(), paid.sale_id.as_str()]);
    assert_eq!(
        get(t.addr(), "/v1/sales?limit=1").await.json()["sales"][0]["state"],
        "failed"
    );

    // The state is final: a long-poll answers at once instead of waiting out its minute.
    let asked = Instant::now();
    let polled = get(t.addr(), &format!("/v1/sales/{}?wait=60", paid.sale_id)).await;
    assert_eq!(polled.sale().state, SaleState::Paid);
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );

    // Order numbers are equal ignoring case, as everywhere else.
    let lowercase = get(
        t.addr(),
        &format!("/v1/sales/{}", paid.sale_id.to_lowercase()),
    )
    .await;
    assert_eq!(lowercase.status, 200, "{}", lowercase.body);
    assert_eq!(lowercase.sale().sale_id, paid.sale_id);

    let refused = delete(t.addr(), &format!("/v1/sales/{}", paid.sale_id)).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.error().contains("paid"), "{}", refused.error());
    assert_eq!(
        delete(t.addr(), "/v1/sales/SHOP1-20261125-000099")
            .await
            .status,
        404
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_older_than_the_boards_window_is_read_from_the_journal() {
    use scanpay::register::board::RECENT_SALES;
    let journal = Arc::new(MemoryJournal::new());
    let total = RECENT_SALES as u64 + 5;
    for seq in 1..=total {
        // A prefix in mixed case, as a merchant may have configured it.
        journal.put(&record("Shop1", seq, SaleState::Paid)).unwrap();
    }
    let oldest = record("Shop1", 1, SaleState::Paid);
    let t = restarted(journal).await;
    assert!(
        t.board.held(&oldest.sale_id).is_none(),
        "the window is bounded"
    );
    let listed = get(t.addr(), &format!("/v1/sales?limit={RECENT_SALES}"))
        .await
        .json();
    let listed = listed["sales"].as_array().unwrap().clone();
    assert_eq!(listed.len(), RECENT_SALES);
    assert_eq!(
        listed[0]["sale_id"],
        record("Shop1", total, SaleState::Paid).sale_id
    );

    let found = get(t.addr(), &format!("/v1/sales/{}", oldest.sale_id)).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.sale(), oldest.view());
    // Typed in another case, it is still the journal's sale.
    let upper = get(
        t.addr(),
        &format!("/v1/sales/{}", oldest.sale_id.to_uppercase()),
    )
    .await;
    assert_eq!(upper.status, 200, "{}", upper.body);
    assert_eq!(upper.sale().sale_id, oldest.sale_id);
    let refused = delete(t.addr(), &format!("/v1/sales/{}", oldest.sale_id)).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_sale_under_a_former_prefix_is_found_in_any_case_after_a_restart() {
    use scanpay::register::board::RECENT_SALES;
    let dir = tempfile::tempdir().unwrap();
    let former = record("Old1", 1, SaleState::Paid);
    {
        let journal = LogJournal::open(dir.path().join("journal")).unwrap();
        journal.put(&former).unwrap();
        // The prefix changed since: the board's window holds only the new one's sales, and
        // start-up reads no record older than the window.
        for seq in 2..=RECENT_SALES as u64 + 5 {
            journal.put(&record("Shop1", seq, SaleState::Paid)).unwrap();
        }
    }
    let journal = Arc::new(LogJournal::open(dir.path().join("journal")).unwrap());
    let t = restarted(journal).await;
    assert!(
        t.board.held(&former.sale_id).is_none(),
        "the window is bounded"
    );
    for typed in [former.sale_id.clone(), former.sale_id.to_uppercase()] {
        let found = get(t.addr(), &format!("/v1/sales/{typed}")).await;
        assert_eq!(found.status, 200, "{typed}: {}", found.body);
        assert_eq!(found.sale(), former.view());
    }
    t.server.shutdown().await.unwrap();
}

/// A journal whose disk has gone bad: nothing reads.
struct UnreadableJournal;

impl Journal for UnreadableJournal {
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        Err(JournalError::Write {
            sale_id: record.sale_id.clone(),
            detail: "test: input/output error".into(),
        })
    }
    fn get(&self, _: &str) -> Result<Option<SaleRecord>, JournalError> {
        Err(JournalError::Read {
            detail: "test: input/output error".into(),
        })
    }
    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError> {
        Ok(Vec::new())
    }
    fn last_seq(&self) -> Result<u64, JournalError> {
        Ok(0)
    }
    fn epoch(&self) -> Result<OrderEpoch, JournalError> {
        Ok(OrderEpoch::from_random([0; 4]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_cannot_be_read_answers_503_never_a_false_404() {
    let t = restarted(Arc::new(UnreadableJournal)).await;
    for (method, path) in [
        (Method::GET, "/v1/sales/SHOP1-20261125-000001"),
        (Method::GET, "/v1/sales/SHOP1-20261125-000001?wait=5"),
        (Method::DELETE, "/v1/sales/SHOP1-20261125-000001"),
    ] {
        let reply = call(t.addr(), method.clone(), path, None, None).await;
        assert_eq!(reply.status, 503, "{method} {path}: {}", reply.body);
        assert!(
            reply.error().contains("input/output error") && reply.error().contains("retry"),
            "{}",
            reply.error()
        );
    }
    t.server.shutdown().await.unwrap();
}
