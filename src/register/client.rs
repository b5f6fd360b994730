//! The register API's client, and `charge`: what `scanpay charge AMOUNT` runs. It arms a sale
//! and long-polls it until it ends, over TCP (reqwest) or the unix socket (hyper, since
//! reqwest cannot dial one).
//!
//! `charge` returns the last view of the sale; the caller decides what it means (the CLI
//! exits 0 only when it is `paid`). Errors are reserved for not being able to talk to the
//! daemon or being refused by it.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::time::{timeout, Instant};

use super::backend::ArmRequest;
use super::listen::ListenAddr;
use crate::engine::{SaleState, SaleView};
use crate::protocol::Fen;

/// Connecting to a local daemon is instant or broken.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A request's own time, on top of the long-poll's `wait`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest single long-poll; shorter than the server's cap and than typical proxy idle
/// limits, so a long `charge` is a series of polls.
const MAX_POLL: Duration = Duration::from_secs(30);

/// Why the register API could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
    #[error("could not reach the scanpay register API at {addr}: {reason}; is `scanpay daemon` running, and does [register] listen say {addr}?")]
    Unreachable { addr: ListenAddr, reason: String },
    #[error("the scanpay register API at {addr} did not answer {what} within {seconds} s; check the daemon's log")]
    TimedOut {
        addr: ListenAddr,
        what: String,
        seconds: u64,
    },
    #[error("the register API refused the token: {message}")]
    Unauthorized { message: String },
    /// Any other refusal: 400 (bad input), 404, 409 (another sale in progress), 503, ...
    #[error("the register API answered {status} to {what}: {message}")]
    Rejected {
        status: u16,
        what: String,
        message: String,
    },
    #[error("the register API answered {what} with something this client cannot read ({reason}); are client and daemon the same scanpay version?")]
    BadResponse { what: String, reason: String },
}

/// A client of one register API.
pub struct RegisterClient {
    addr: ListenAddr,
    token: Option<String>,
    transport: Transport,
}

enum Transport {
    Tcp { http: reqwest::Client, base: String },
    Unix { path: PathBuf },
}

impl RegisterClient {
    pub fn new(addr: &ListenAddr, token: Option<&str>) -> Result<RegisterClient, ChargeError> {
        let transport = match addr {
            ListenAddr::Tcp(socket) => Transport::Tcp {
                http: reqwest::Client::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    // A local daemon: never through an HTTP proxy from the environment.
                    .no_proxy()
                    .build()
                    .map_err(|e| ChargeError::Setup(e.to_string()))?,
                base: format!("http://{socket}"),
            },
            ListenAddr::Unix(path) => Transport::Unix { path: path.clone() },
        };
        Ok(RegisterClient {
            addr: addr.clone(),
            token: token.map(str::to_string),
            transport,
        })
    }

    /// `POST /v1/sales`.
    pub async fn create_sale(&self, req: &ArmRequest) -> Result<SaleView, ChargeError> {
        let body = serde_json::to_vec(req).expect("an ArmRequest always serialises");
        let what = "POST /v1/sales";
        let (status, body) = self
            .send(Method::POST, "/v1/sales", Some(body), Duration::ZERO, what)
            .await?;
        expect_json(status, StatusCode::CREATED, &body, what)
    }

    /// `GET /v1/sales/{sale_id}?wait=..&state=..`: returns as soon as the sale's state differs
    /// from `known` (or from its state when the request arrives), or after `wait`.
    pub async fn sale(
        &self,
        sale_id: &str,
        wait: Duration,
        known: Option<SaleState>,
    ) -> Result<SaleView, ChargeError> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("wait", &wait.as_secs().to_string());
        if let Some(state) = known {
            query.append_pair("state", state.as_str());
        }
        let path = format!("/v1/sales/{}?{}", encode_segment(sale_id), query.finish());
        let what = format!("GET /v1/sales/{sale_id}");
        let (status, body) = self
            .send(
                Method::GET,
                &path,
                None,
                Duration::from_secs(wait.as_secs()),
                &what,
            )
            .await?;
        expect_json(status, StatusCode::OK, &body, &what)
    }

    /// `GET /v1/status`, read as plain JSON: `scanpay status` shows every part the daemon
    /// reports, including ones added after this client was built.
    pub async fn status(&self) -> Result<serde_json::Value, ChargeError> {
        let what = "GET /v1/status";
        let (status, body) = self
            .send(Method::GET, "/v1/status", None, Duration::ZERO, what)
            .await?;
        expect_json(status, StatusCode::OK, &body, what)
    }

    /// `DELETE /v1/sales/{sale_id}`.
    pub async fn disarm(&self, sale_id: &str) -> Result<SaleView, ChargeError> {
        let path = format!("/v1/sales/{}", encode_segment(sale_id));
        let what = format!("DELETE /v1/sales/{sale_id}");
        let (status, body) = self
            .send(Method::DELETE, &path, None, Duration::ZERO, &what)
            .await?;
        expect_json(status, StatusCode::OK, &body, &what)
    }

    /// `POST /v1/sales/{sale_id}/recheck`: the daemon queries the gateway about the sale now;
    /// the answer is the sale as it stands (202). A sale that has ended, or is not checked by
    /// query yet, is `Rejected` with 409 and the daemon's reason.
    pub async fn recheck(&self, sale_id: &str) -> Result<SaleView, ChargeError> {
        let path = format!("/v1/sales/{}/recheck", encode_segment(sale_id));
        let what = format!("POST /v1/sales/{sale_id}/recheck");
        let (status, body) = self
            .send(
                Method::POST,
                &path,
                Some(b"{}".to_vec()),
                Duration::ZERO,
                &what,
            )
            .await?;
        expect_json(status, StatusCode::ACCEPTED, &body, &what)
    }

    /// `GET /v1/journal?{query}`, streamed into `write` chunk by chunk as it arrives (never
    /// held whole). `Ok(false)`: no daemon listens there (connection refused, no socket), so
    /// the caller may open the store itself. A transfer broken off mid-way is an error: what
    /// was written is incomplete.
    pub async fn export_journal(
        &self,
        query: &str,
        write: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<bool, ChargeError> {
        let path = format!("/v1/journal?{query}");
        let what = "GET /v1/journal";
        let broken = |reason: String| ChargeError::BadResponse {
            what: what.to_string(),
            reason: format!(
                "the export broke off ({reason}); the output is incomplete: do not use it, retry"
            ),
        };
        let write_failed =
            |e: std::io::Error| ChargeError::Setup(format!("writing the export failed: {e}"));
        let refused = |status: StatusCode, body: &[u8]| {
            let message = error_message(body);
            if status == StatusCode::UNAUTHORIZED {
                ChargeError::Unauthorized { message }
            } else {
                ChargeError::Rejected {
                    status: status.as_u16(),
                    what: what.to_string(),
                    message,
                }
            }
        };
        match &self.transport {
            Transport::Tcp { http, base } => {
                let mut request = http.get(format!("{base}{path}"));
                if let Some(token) = &self.token {
                    request = request.bearer_auth(token);
                }
                let mut response = match request.send().await {
                    Ok(response) => response,
                    Err(e) if e.is_connect() => return Ok(false),
                    Err(e) => {
                        return Err(ChargeError::Unreachable {
                            addr: self.addr.clone(),
                            reason: error_chain(&e),
                        })
                    }
                };
                let status = response.status();
                if status != StatusCode::OK {
                    let body = response.bytes().await.unwrap_or_default();
                    return Err(refused(status, &body));
                }
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| broken(error_chain(&e)))?
                {
                    write(&chunk).map_err(write_failed)?;
                }
                Ok(true)
            }
            Transport::Unix { path: socket } => {
                let stream = match timeout(CONNECT_TIMEOUT, UnixStream::connect(socket)).await {
                    Err(_) => {
                        return Err(ChargeError::TimedOut {
                            addr: self.addr.clone(),
                            what: what.to_string(),
                            seconds: CONNECT_TIMEOUT.as_secs(),
                        })
                    }
                    Ok(Err(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                        ) =>
                    {
                        return Ok(false)
                    }
                    Ok(Err(e)) => {
                        return Err(ChargeError::Unreachable {
                            addr: self.addr.clone(),
                            reason: e.to_string(),
                        })
                    }
                    Ok(Ok(stream)) => stream,
                };
                let unreachable = |reason: String| ChargeError::Unreachable {
                    addr: self.addr.clone(),
                    reason,
                };
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(|e| unreachable(error_chain(&e)))?;
                tokio::spawn(connection);
                let mut request = hyper::Request::builder()
                    .method(Method::GET)
                    .uri(&path)
                    .header(HOST, "localhost");
                if let Some(token) = &self.token {
                    request = request.header(AUTHORIZATION, format!("Bearer {token}"));
                }
                let request = request
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| ChargeError::Setup(e.to_string()))?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| unreachable(error_chain(&e)))?;
                let status = response.status();
                let mut body = response.into_body();
                if status != StatusCode::OK {
                    let bytes = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    return Err(refused(status, &bytes));
                }
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| broken(error_chain(&e)))?;
                    if let Some(data) = frame.data_ref() {
                        write(data).map_err(write_failed)?;
                    }
                }
                Ok(true)
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        wait: Duration,
        what: &str,
    ) -> Result<(StatusCode, Bytes), ChargeError> {
        let limit = wait + REQUEST_TIMEOUT;
        let timed_out = || ChargeError::TimedOut {
            addr: self.addr.clone(),
            what: what.to_string(),
            seconds: limit.as_secs(),
        };
        let unreachable = |reason: String| ChargeError::Unreachable {
            addr: self.addr.clone(),
            reason,
        };
        match &self.transport {
            Transport::Tcp { http, base } => {
                let mut request = http.request(method, format!("{base}{path}")).timeout(limit);
                if let Some(token) = &self.token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = body {
                    request = request.header(CONTENT_TYPE, "application/json").body(body);
                }
                let response = request.send().await.map_err(|e| {
                    if e.is_timeout() {
                        timed_out()
                    } else {
                        unreachable(error_chain(&e))
                    }
                })?;
                let status = response.status();
                let bytes = response.bytes().await.map_err(|e| {
                    if e.is_timeout() {
                        timed_out()
                    } else {
                        unreachable(error_chain(&e))
                    }
                })?;
                Ok((status, bytes))
            }
            Transport::Unix { path: socket } => {
                let stream = timeout(CONNECT_TIMEOUT, UnixStream::connect(socket))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| unreachable(e.to_string()))?;
                let exchange = async {
                    let (mut sender, connection) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .map_err(|e| unreachable(error_chain(&e)))?;
                    // Drives the connection; it ends when the response is read and `sender`
                    // is dropped.
                    tokio::spawn(connection);
                    let mut request = hyper::Request::builder()
                        .method(method)
                        .uri(path)
                        .header(HOST, "localhost");
                    if let Some(token) = &self.token {
                        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
                    }
                    if body.is_some() {
                        request = request.header(CONTENT_TYPE, "application/json");
                    }
                    let request = request
                        .body(Full::new(Bytes::from(body.unwrap_or_default())))
                        .map_err(|e| ChargeError::Setup(e.to_string()))?;
                    let response = sender
                        .send_request(request)
                        .await
                        .map_err(|e| unreachable(error_chain(&e)))?;
                    let status = response.status();
                    let bytes = response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| unreachable(error_chain(&e)))?
                        .to_bytes();
                    Ok((status, bytes))
                };
                timeout(limit, exchange).await.map_err(|_| timed_out())?
            }
        }
    }
}

/// Arms a sale of `amount` and follows it until it ends (paid, failed, expired, disarmed),
/// becomes unresolved, or `wait` runs out, calling `on_change` with the sale as first seen and
/// after every change of state. Returns the last view: the caller looks at its `state`.
///
/// If `wait` runs out while the sale is still armed (nobody scanned), it is disarmed so the
/// terminal is free for the next sale; nothing was charged. Once scanned, a sale is never
/// abandoned by this client: its last state is returned and the daemon keeps resolving it.
pub async fn charge(
    listen: &ListenAddr,
    token: Option<&str>,
    amount: Fen,
    subject: Option<&str>,
    operator_id: Option<&str>,
    wait: Duration,
    mut on_change: impl FnMut(&SaleView),
) -> Result<SaleView, ChargeError> {
    let client = RegisterClient::new(listen, token)?;
    let deadline = Instant::now() + wait;
    let mut sale = client
        .create_sale(&ArmRequest {
            amount_fen: amount,
            subject: subject.map(str::to_string),
            operator_id: operator_id.map(str::to_string),
        })
        .await?;
    on_change(&sale);
    loop {
        if sale.state.is_final() || sale.state == SaleState::Unresolved {
            return Ok(sale);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            if sale.state == SaleState::Armed {
                let last = disarm_unscanned(&client, &sale).await?;
                if last.state != sale.state {
                    on_change(&last);
                }
                return Ok(last);
            }
            return Ok(sale);
        }
        // Whole seconds, rounded up so a poll never asks for zero (which would spin).
        let poll = Duration::from_secs(remaining.min(MAX_POLL).as_secs_f64().ceil() as u64);
        let next = client.sale(&sale.sale_id, poll, Some(sale.state)).await?;
        if next.state != sale.state {
            on_change(&next);
        }
        sale = next;
    }
}

/// One line for a person following `scanpay charge`: `sale-1 ¥12.50 paid (trade 4200…)`.
pub fn describe(sale: &SaleView) -> String {
    let what = match sale.state {
        SaleState::Armed => "armed: scan the customer's payment code".to_string(),
        SaleState::Submitting => "submitting to the gateway".to_string(),
        SaleState::WaitingCustomer => "waiting for the customer to confirm on the phone".to_string(),
        SaleState::Queued => "queued: the gateway is unreachable; it is sent when it answers again".to_string(),
        SaleState::Paid => match &sale.trade_no {
            Some(trade_no) => format!("paid (trade {trade_no})"),
            None => "paid".to_string(),
        },
        SaleState::Failed => format!(
            "failed: {} {}",
            sale.err_code.as_deref().unwrap_or("(no code)"),
            sale.err_code_des.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_string(),
        SaleState::Unknown => "outcome unknown: asking the gateway".to_string(),
        SaleState::Unresolved => "unresolved: still being checked in the background; do not charge again, look it up with `scanpay query`".to_string(),
        SaleState::Expired => "expired: never sent, nothing charged".to_string(),
        SaleState::Disarmed => "disarmed: nothing charged".to_string(),
    };
    format!("{} {} {what}", sale.sale_id, sale.amount_fen)
}

/// Disarms a sale nobody scanned. If it was scanned in the meantime (409), the scan wins and
/// its current view is returned.
async fn disarm_unscanned(
    client: &RegisterClient,
    sale: &SaleView,
) -> Result<SaleView, ChargeError> {
    match client.disarm(&sale.sale_id).await {
        Err(ChargeError::Rejected { status: 409, .. }) => {
            client.sale(&sale.sale_id, Duration::ZERO, None).await
        }
        other => other,
    }
}

fn expect_json<T: serde::de::DeserializeOwned>(
    status: StatusCode,
    expected: StatusCode,
    body: &[u8],
    what: &str,
) -> Result<T, ChargeError> {
    if status == expected {
        return serde_json::from_slice(body).map_err(|e| ChargeError::BadResponse {
            what: what.to_string(),
            reason: e.to_string(),
        });
    }
    let message = error_message(body);
    if status == StatusCode::UNAUTHORIZED {
        return Err(ChargeError::Unauthorized { message });
    }
    Err(ChargeError::Rejected {
        status: status.as_u16(),
        what: what.to_string(),
        message,
    })
}

/// The `error` of an error body, or the body itself (bounded) if it is not one.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

/// A sale id as one path segment.
fn encode_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// An error and its causes on one line ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::sale_fixtures::sale_view;

    fn sale(state: SaleState) -> SaleView {
        sale_view("sale-1", state)
    }

    #[test]
    fn describes_outcomes_for_a_person() {
        let mut paid = sale(SaleState::Paid);
        paid.trade_no = Some("G42".to_string());
        assert_eq!(describe(&paid), "sale-1 ¥12.50 paid (trade G42)");
        let mut failed = sale(SaleState::Failed);
        failed.err_code = Some("TRADE_ERROR".to_string());
        assert_eq!(describe(&failed), "sale-1 ¥12.50 failed: TRADE_ERROR");
        assert!(describe(&sale(SaleState::Unresolved)).contains("do not charge again"));
    }

    #[test]
    fn a_sale_id_is_one_path_segment() {
        assert_eq!(encode_segment("a b/c?d"), "a%20b%2Fc%3Fd");
    }
}
