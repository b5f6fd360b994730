//! The register API: the local HTTP interface the cash register's software drives (arm a sale,
//! follow it, disarm it, status, metrics), and `scanpay charge`, its command-line client.
//!
//! Code map:
//! - `backend`: the one trait the HTTP side needs from the daemon, and the values crossing it.
//! - `board`: `SaleBoard`, the daemon's ready implementation (shared state + command channel).
//! - `server`: routes, status codes, token, long-poll, server-sent events, graceful shutdown.
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
pub mod client;
pub mod input;
pub mod listen;
pub mod metrics;
pub mod server;

pub use backend::{
    ArmError, ArmRequest, DisarmError, Health, MetricsSnapshot, QrError, QrRequest, QrView,
    RegisterBackend, StatusView,
};
pub use board::{RegisterCommand, SaleBoard};
pub use client::{charge, ChargeError, RegisterClient};
pub use listen::{BindError, ListenAddr, ListenAddrError};
pub use server::{serve, RegisterError, ServerHandle};
