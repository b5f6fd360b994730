//! What can go wrong talking to the gateway, split the way the engine must act on it.

use crate::protocol::messages::FieldError;

/// Why a call to the gateway produced no answer.
///
/// The split is what keeps money safe: `Offline` may be queued and sent later, `Unknown`
/// must be resolved by a query with the same `out_trade_no` and never resent under a new
/// number. Messages never contain the merchant key or a full payment code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The request never left the machine: connection refused, DNS failure, no route,
    /// connect timeout, TLS handshake failure. Safe to queue and send later.
    #[error("gateway {url} not reachable, the request was not sent: {detail}; check the network and [gateway] base_url")]
    Offline { url: String, detail: String },
    /// The request may have been received: timeout after connecting, connection reset or
    /// closed mid-request, HTTP 5xx or redirect, a body that is not a signed answer, or a
    /// verified answer whose fields are malformed.
    #[error("gateway {url} gave no trustworthy answer, the request may have been received: {detail}; the outcome must be found with a query (never resend under a new number)")]
    Unknown { url: String, detail: String },
    /// Refused locally, before anything was sent.
    #[error("request not sent: {0}")]
    Invalid(#[from] FieldError),
}

impl GatewayError {
    /// The request certainly did not reach the gateway.
    pub fn is_offline(&self) -> bool {
        matches!(self, GatewayError::Offline { .. })
    }

    /// The request may have reached the gateway; only a query can tell.
    pub fn is_unknown(&self) -> bool {
        matches!(self, GatewayError::Unknown { .. })
    }
}

/// A client configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayConfigError {
    #[error("gateway base_url {url:?} is not usable: {reason}; expected e.g. http://api.juyouke.cc or https://gateway.example.com/prefix")]
    BaseUrl { url: String, reason: String },
    #[error("gateway {name} is {value:?}; {reason}")]
    Timeout {
        name: &'static str,
        value: std::time::Duration,
        reason: &'static str,
    },
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}
