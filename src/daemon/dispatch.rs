//! Carries the engine's `Request`s to the gateway and brings the answers back as events.
//!
//! This is where the gateway client's three-way error becomes the engine's `SendFailure`:
//! the one mapping the money rules depend on (offline may be resent, unknown may not).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::engine::{Request, SendFailure, WireRequest};
use crate::gateway::{Gateway, GatewayError};
use crate::protocol::{Call, TradeAnswer};

/// A finished request, on its way back into the loop.
#[derive(Debug)]
pub struct Reply {
    /// The request it answers: `Engine::handle_pay_reply` or `handle_query_reply`.
    pub to: Call,
    pub sale_id: String,
    pub result: Result<TradeAnswer, SendFailure>,
}

/// Maps the client's error onto the engine's: the distinction is the whole point.
pub fn send_failure(error: &GatewayError) -> SendFailure {
    match error {
        GatewayError::Offline { .. } => SendFailure::Offline(error.to_string()),
        GatewayError::Unknown { .. } => SendFailure::Unknown(error.to_string()),
        GatewayError::Invalid(_) => SendFailure::Invalid(error.to_string()),
    }
}

/// Sends `request` on a task of its own and posts the reply to `replies`.
pub fn spawn_request<G: Gateway + 'static>(
    gateway: Arc<G>,
    notify_url: String,
    request: Request,
    replies: mpsc::UnboundedSender<Reply>,
) {
    let to = request.call();
    let sale_id = request.sale_id().to_string();
    let task = tokio::spawn(async move { send(gateway.as_ref(), &notify_url, request).await });
    tokio::spawn(async move {
        let reply = task.await.unwrap_or_else(|error| {
            // Without a reply the engine would wait for this request forever. The request
            // may have reached the gateway, so its outcome is unknown: look it up, never
            // resend. (The panic's message is not repeated: it is already in the log.)
            let how = if error.is_panic() {
                "panicked"
            } else {
                "was cancelled"
            };
            Reply {
                to,
                sale_id,
                result: Err(SendFailure::Unknown(format!(
                    "the task carrying this request {how}; it may have reached the gateway, so the sale is looked up"
                ))),
            }
        });
        // The loop is gone only at shutdown; the journal already holds the request's state.
        let _ = replies.send(reply);
    });
}

/// Sends one request and waits for its answer.
pub async fn send<G: Gateway>(gateway: &G, notify_url: &str, request: Request) -> Reply {
    let to = request.call();
    let sale_id = request.sale_id().to_string();
    let result = match request.into_wire(notify_url) {
        WireRequest::Pay(pay) => gateway.pay(&pay).await,
        WireRequest::Query(query) => gateway.query(&query).await,
    };
    Reply {
        to,
        sale_id,
        result: result.map_err(|e| send_failure(&e)),
    }
}
