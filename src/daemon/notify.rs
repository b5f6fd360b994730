//! The optional listener for the gateway's notify callback.
//!
//! The callback is a shortcut, never the source of truth (the query is): it is sent once
//! only, and a terminal behind NAT usually never sees it. A callback is believed only if its
//! signature verifies; then it goes into the loop like any other event.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::http_conn::Limits;

use crate::protocol::messages::{parse_notify, Merchant};
use crate::protocol::TradeAnswer;

struct Shared {
    merchant: Merchant,
    answers: mpsc::Sender<TradeAnswer>,
}

/// A running callback listener.
pub struct NotifyListener {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl NotifyListener {
    /// Stops accepting; a callback being answered finishes, in the background.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        drop(self.task);
    }
}

/// Listens on `addr` for callbacks (any path, POST) and forwards verified ones to `answers`.
pub async fn listen(
    addr: SocketAddr,
    merchant: Merchant,
    answers: mpsc::Sender<TradeAnswer>,
) -> std::io::Result<NotifyListener> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared { merchant, answers });
    let app = Router::new()
        .route("/", post(callback))
        .route("/{*path}", post(callback))
        .with_state(shared);
    let (stop, stopped) = watch::channel(false);
    let task = crate::http_conn::serve(listener, app, Limits::DOORS, stopped);
    Ok(NotifyListener { addr, stop, task })
}

async fn callback(State(shared): State<Arc<Shared>>, body: String) -> (StatusCode, &'static str) {
    match parse_notify(&body, &shared.merchant) {
        Ok(answer) => {
            tracing::info!(
                out_trade_no = answer.out_trade_no.as_deref().unwrap_or("?"),
                "verified notify callback"
            );
            match shared.answers.send(answer).await {
                Ok(()) => (StatusCode::OK, "success"),
                Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "stopping"),
            }
        }
        Err(error) => {
            // Not trusted: the query stays the source of truth. Say why, without the body.
            tracing::warn!(%error, "notify callback refused");
            (StatusCode::BAD_REQUEST, "fail")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::signing::signed_answer;
    use crate::protocol::{MerchantKey, SignRules};

    fn merchant() -> Merchant {
        Merchant {
            app_id: "APP".into(),
            key: MerchantKey::new("k"),
            rules: SignRules::default(),
        }
    }

    #[tokio::test]
    async fn forwards_verified_callbacks_and_refuses_the_rest() {
        let (tx, mut rx) = mpsc::channel(4);
        let listener = listen("127.0.0.1:0".parse().unwrap(), merchant(), tx)
            .await
            .unwrap();
        let url = format!("http://{}/notify", listener.addr);
        let mut fields = serde_json::Map::new();
        fields.insert("result_code".into(), "10000".into());
        fields.insert("trade_status".into(), "TRADE_SUCCESS".into());
        fields.insert("out_trade_no".into(), "SP-1".into());
        fields.insert("total_amount".into(), "1250".into());
        let good = signed_answer(fields, &MerchantKey::new("k"), SignRules::default());
        let client = reqwest::Client::new();

        let forged = good.replace("SP-1", "SP-2");
        let response = client.post(&url).body(forged).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let response = client.post(&url).body(good).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "success");

        let answer = rx.recv().await.unwrap();
        assert_eq!(answer.out_trade_no.as_deref(), Some("SP-1"));
        assert_eq!(answer.total_amount, Some(crate::protocol::Fen(1250)));
        assert!(
            rx.try_recv().is_err(),
            "the forged callback must not reach the engine"
        );
        listener.stop();
    }

    #[tokio::test]
    async fn idle_connections_cannot_hold_more_than_the_cap() {
        use tokio::io::AsyncReadExt;
        let (tx, _rx) = mpsc::channel(4);
        let listener = listen("127.0.0.1:0".parse().unwrap(), merchant(), tx)
            .await
            .unwrap();
        let mut idle = Vec::new();
        for _ in 0..Limits::DOORS.max_connections {
            idle.push(tokio::net::TcpStream::connect(listener.addr).await.unwrap());
        }
        // One more is closed at once: nothing to read, end of stream.
        let mut over = tokio::net::TcpStream::connect(listener.addr).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Limits::DOORS.header_read / 2, over.read(&mut buf))
            .await
            .expect("closed before the header-read timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        listener.stop();
    }
}
