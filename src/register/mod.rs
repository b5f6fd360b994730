//! The register API: the local HTTP interface the cash register's software drives (arm a sale,
//! follow it, disarm it, status, metrics), and `scanpay charge`, its command-line client.
//!
//! # Reference (public contract; the README should carry the same)
//!
//! JSON over HTTP/1.1 on `127.0.0.1:PORT` or `unix:/run/scanpay/register.sock` (mode 0660).
//! Amounts are integer fen. Errors are `{"error": "..."}` naming the field or the problem.
//! With `[register] token` set, every route (including `/metrics` and `/v1/status`) needs
//! `Authorization: Bearer <token>`, else 401. A TCP address beyond loopback is refused unless
//! a token is set. Any request with a foreign `Host` (not localhost, 127.0.0.1, [::1] or the
//! listen address), and any write with a foreign `Origin`, gets 403; a write whose body is not
//! `Content-Type: application/json` gets 415 (see `browser`).
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/sales` `{"amount_fen": 1250, "subject": "…", "operator_id": "…"}` | 201 + sale (`Location: /v1/sales/{id}`); 409 while another sale is armed or in progress (or the terminal refuses, e.g. fixed-amount mode); 400 bad input; 503 daemon not taking commands |
//! | `GET /v1/sales/{sale_id}[?wait=S][&state=STATE]` | 200 + sale, any sale the journal knows (across restarts; ids match ignoring ASCII case); 404 unknown; 503 if the journal cannot be read. `wait` (0–300 s) long-polls: the answer comes as soon as the sale's state changes, or at the timeout with the current state, at once if the sale has ended. `state` (addition): the state the caller last saw; if the sale is already elsewhere the answer is immediate, so no change between two polls is ever slept through |
//! | `DELETE /v1/sales/{sale_id}` | 200 + the disarmed sale; 409 with its state once scanned (also for a sale only in the journal); 404 unknown; 503 if the journal cannot be read |
//! | `POST /v1/sales/{sale_id}/recheck` (an empty body or `{}`, as `application/json`) | 202 + the sale: the daemon queries the gateway about it now (a sale it still follows: waiting_customer, unknown, unresolved without needs_review); 409 once it has ended or while it is not checked by query yet (armed, queued, submitting); 404 unknown; 400 a body with fields; 503 daemon not taking commands or journal unreadable |
//! | `GET /v1/sales[?limit=N]` | 200 + `{"sales": [...]}`, newest first, default 50, at most 200: the last 200 sales (recalled from the journal at start), keeping any still in progress |
//! | `GET /v1/events` | `text/event-stream`: `event: sale` + the sale JSON, one per change, in order. A client that falls more than 256 changes behind gets `event: lagged` + `{"missed": N}` and should re-read `GET /v1/sales` |
//! | `GET /v1/status` | `{"version", "scanner": {"ok","detail"}, "display": {..}, "gateway": {..}, "queue_depth", "clock_synchronized", "journal_damage", "storage": {"ok","detail"}}` (`storage` is down, `"storage fault: …"`, while journal writes fail; `POST /v1/sales` is then 503) |
//! | `GET /metrics` | Prometheus text: `scanpay_sales_total{state}`, `scanpay_gateway_errors_total`, `scanpay_scans_refused_total`, `scanpay_queue_depth`, `scanpay_{gateway,scanner,display}_up`, `scanpay_clock_synchronized`, `scanpay_storage_up`, `scanpay_build_info{version}` |
//! | `GET /v1/journal[?from=][&to=][&format=csv\|jsonl]` | the journal's sales created in `[from, to)` (a day or an RFC 3339 instant), streamed page by page (`journal::ExportPages`); 400 naming a bad parameter; 503 if the journal cannot be read before the first byte; an error later ends the body without its last chunk |
//! | `GET /v1/openapi.json` | this reference as an OpenAPI 3.1 document (`openapi.json` beside this file) |
//! | `POST /v1/qr` `{"amount_fen": 880, "subject": "…"}` (addition) | 200 + `{"url", "out_trade_no", "amount_fen"}`: the terminal shows a customer-scans-merchant QR code for the pay page `url`; 409 while a sale is in progress; 502 if the page could not be made; 503 naming the storage fault while storage is faulted, as `POST /v1/sales` |
//!
//! `subject` (≤ 256 characters) and `operator_id` (≤ 32) are optional (the config's defaults
//! apply), one line of text each; `amount_fen` is 1 to 10,000,000 (¥100,000.00); unknown
//! fields are refused.
//!
//! # Code map
//!
//! - `backend`: the one trait the HTTP side needs from the daemon, and the values crossing it.
//! - `board`: `SaleBoard`, the daemon's ready implementation (shared state + command channel).
//! - `server`: routes, status codes, token, long-poll, server-sent events, graceful shutdown.
//! - `browser`: refusing browser-borne requests (foreign Host, cross-origin writes, writes
//!   not sent as `application/json`).
//! - `input`: validation of bodies and query parameters, errors naming the field.
//! - `listen`: `127.0.0.1:PORT` / `unix:/path` addresses and binding them.
//! - `metrics`: Prometheus text.
//! - `client`: `charge`, following a sale to its result over TCP or the unix socket.
//!
//! Architecture invariant: this module decides nothing about a sale. It validates, forwards
//! commands into the daemon's loop, and shows what the daemon published. It never sees a
//! payment code or the merchant key.

mod auth;
pub mod backend;
pub mod board;
pub mod browser;
pub mod client;
pub mod input;
pub mod listen;
pub mod metrics;
#[cfg(test)]
pub(crate) mod sale_fixtures;
pub mod server;

pub use backend::{
    ArmError, ArmRequest, DisarmError, GatewayState, Health, LookupError, MetricsSnapshot, QrError,
    QrRequest, QrView, RecheckError, RegisterBackend, StatusView,
};
pub use board::{RegisterCommand, SaleBoard, RECENT_SALES};
pub use client::{charge, describe, ChargeError, RegisterClient};
pub use listen::{BindError, ListenAddr, ListenAddrError};
pub use server::{serve, RegisterError, ServerHandle};
