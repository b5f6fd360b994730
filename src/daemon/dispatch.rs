//! Carries the engine's `Request`s to the gateway and brings the answers back as events.
//!
//! This is where the gateway client's three-way error becomes the engine's `SendFailure`:
//! the one mapping the money rules depend on (offline may be resent, unknown may not).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::engine::{Request, SendFailure};
use crate::gateway::{Gateway, GatewayError};
use crate::protocol::messages::{PayRequest, QueryRequest};
use crate::protocol::TradeAnswer;

/// Which of the engine's replies an answer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    Pay,
    Query,
}

/// A finished request, on its way back into the loop.
#[derive(Debug)]
pub struct Reply {
    pub to: ReplyTo,
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

/// Which reply the answer to `request` is.
pub fn reply_to(request: &Request) -> ReplyTo {
    match request {
        Request::Pay { .. } => ReplyTo::Pay,
        Request::Query { .. } => ReplyTo::Query,
    }
}

/// Sends `request` on a task of its own and posts the reply to `replies`.
pub fn spawn_request<G: Gateway + 'static>(
    gateway: Arc<G>,
    notify_url: String,
    request: Request,
    replies: mpsc::UnboundedSender<Reply>,
) {
    let to = reply_to(&request);
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
    match request {
        Request::Pay {
            sale_id,
            out_trade_no,
            auth_code,
            amount,
            subject,
            operator_id,
            payway,
        } => {
            let pay = PayRequest {
                out_trade_no,
                auth_code,
                total_amount: amount,
                subject,
                operator_id,
                notify_url: notify_url.to_string(),
                payway,
            };
            let result = gateway.pay(&pay).await.map_err(|e| send_failure(&e));
            Reply {
                to: ReplyTo::Pay,
                sale_id,
                result,
            }
        }
        Request::Query {
            sale_id,
            out_trade_no,
        } => {
            let query = QueryRequest::ByOutTradeNo(out_trade_no);
            let result = gateway.query(&query).await.map_err(|e| send_failure(&e));
            Reply {
                to: ReplyTo::Query,
                sale_id,
                result,
            }
        }
    }
}
