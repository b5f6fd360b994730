//! The gateway client: the HTTP adapter for every endpoint of the gateway (`docs/protocol.md`).
//!
//! `Gateway` is the narrow trait the daemon and the commands use; `HttpGateway` implements
//! it over HTTP(S), and `FakeGateway` from a script, for tests. Requests are built, checked
//! and signed by `protocol::messages`; this module only carries them and classifies what
//! comes back:
//! a verified answer (`Ok`, whatever its result_code), `Offline` (never left the machine),
//! `Unknown` (may have been received), or `Invalid` (refused before sending).
//!
//! Architecture invariant: this module decides nothing about a payment's outcome; reading
//! an answer is `protocol::outcome`'s job, acting on it the engine's.

mod error;
pub mod fake;
mod http;

use std::future::Future;

pub use error::{GatewayConfigError, GatewayError};
pub use fake::FakeGateway;
pub use http::{
    GatewayClientConfig, HttpGateway, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};

use crate::protocol::messages::{
    AppAnswer, BalanceAnswer, PayRequest, QueryRequest, SettleAnswer, SettleQueryRequest,
    SettleRequest, WebPayRequest,
};
use crate::protocol::{FieldError, TradeAnswer};

/// Every call the terminal makes to the gateway.
pub trait Gateway: Send + Sync {
    /// codepay: charge the customer's payment code.
    fn pay(
        &self,
        request: &PayRequest,
    ) -> impl Future<Output = Result<TradeAnswer, GatewayError>> + Send;

    /// query: where an order stands.
    fn query(
        &self,
        request: &QueryRequest,
    ) -> impl Future<Output = Result<TradeAnswer, GatewayError>> + Send;

    /// settle: withdraw to the bank. Never queued or retried on its own.
    fn settle(
        &self,
        request: &SettleRequest,
    ) -> impl Future<Output = Result<SettleAnswer, GatewayError>> + Send;

    /// settlequery: where a withdrawal stands.
    fn settle_query(
        &self,
        request: &SettleQueryRequest,
    ) -> impl Future<Output = Result<SettleAnswer, GatewayError>> + Send;

    /// balance_query: balance and withdrawal window.
    fn balance(&self) -> impl Future<Output = Result<BalanceAnswer, GatewayError>> + Send;

    /// app: a wallet deep link for paying inside a phone app.
    fn app_url(
        &self,
        request: &WebPayRequest,
    ) -> impl Future<Output = Result<AppAnswer, GatewayError>> + Send;

    /// h5: the customer-facing payment page's URL (no network).
    fn h5_url(&self, request: &WebPayRequest) -> Result<String, FieldError>;
}
