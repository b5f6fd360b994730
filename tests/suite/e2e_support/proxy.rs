//! A small HTTP proxy between the daemon and the simulator, for tests of what a man in the
//! middle can do on plain `http://` (the gateway's production URL is one): every request is
//! either forwarded to the simulator unchanged or answered by the test's `route` with a body
//! of its choosing, and every exchange is kept for the test to inspect.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request that went through the proxy, and the answer the daemon got.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The path, e.g. `/api/codepay/`.
    pub path: String,
    /// The request body as sent by the daemon.
    pub request: String,
    /// The answer body as returned to the daemon.
    pub answer: String,
    /// Whether the simulator saw the request (false: the proxy answered it itself).
    pub forwarded: bool,
}

/// What the proxy does with one request.
pub enum Route {
    Forward,
    /// Answer with this body (HTTP 200, JSON) without telling the simulator.
    Answer(String),
}

/// Decides, for a request (path, body) and every exchange before it, what to do.
type RouteFn = dyn Fn(&str, &str, &[Exchange]) -> Route + Send + Sync;

struct Inner {
    target: String,
    client: reqwest::Client,
    route: Box<RouteFn>,
    exchanges: Mutex<Vec<Exchange>>,
}

pub struct Proxy {
    url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `target` (a base URL) unless `route` says
    /// otherwise.
    pub async fn start(
        target: String,
        route: impl Fn(&str, &str, &[Exchange]) -> Route + Send + Sync + 'static,
    ) -> Proxy {
        Proxy::start_at("127.0.0.1:0".parse().unwrap(), target, route).await
    }

    /// Like `start`, listening on `addr`: a gateway that comes up where a daemon has been
    /// refused a connection (the bench's offline drain).
    pub async fn start_at(
        addr: std::net::SocketAddr,
        target: String,
        route: impl Fn(&str, &str, &[Exchange]) -> Route + Send + Sync + 'static,
    ) -> Proxy {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            target,
            client: reqwest::Client::new(),
            route: Box::new(route),
            exchanges: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the proxy serves");
        });
        Proxy { url, inner, task }
    }

    /// The base URL the daemon is configured with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every exchange so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.inner.exchanges.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let request = String::from_utf8_lossy(&body).into_owned();
    let route = {
        let exchanges = inner.exchanges.lock().unwrap();
        (inner.route)(&path, &request, &exchanges)
    };
    let (status, answer, forwarded) = match route {
        Route::Answer(answer) => (StatusCode::OK, answer, false),
        Route::Forward => {
            let target = format!(
                "{}{}",
                inner.target,
                uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let mut forward = inner.client.request(method, target).body(body);
            for name in ["authorization", "content-type"] {
                if let Some(value) = headers.get(name) {
                    forward = forward.header(name, value);
                }
            }
            match forward.send().await {
                Ok(response) => {
                    let status = response.status();
                    let answer = response.text().await.unwrap_or_default();
                    (status, answer, true)
                }
                Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e}"), true),
            }
        }
    };
    inner.exchanges.lock().unwrap().push(Exchange {
        path,
        request,
        answer: answer.clone(),
        forwarded,
    });
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        answer,
    )
        .into_response()
}
