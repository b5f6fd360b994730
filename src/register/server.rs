//! The register API over HTTP (axum): routes, status codes, bearer token, long-poll and
//! server-sent events, on TCP or a unix socket, with graceful shutdown.
//!
//! It knows nothing of sales beyond `RegisterBackend`: every decision comes back from the
//! backend as a value or a typed error, which this module only maps to a status code and
//! `{"error": "..."}`.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, Extensions, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::backend::{ArmError, DisarmError, LookupError, QrError, RecheckError, RegisterBackend};
use super::board::RECENT_SALES;
use super::input::{self, InputError};
use super::listen::{self, BindError, BoundListener, ListenAddr};
use super::metrics;
use crate::engine::{SaleState, SaleView, Timestamp};
use crate::http_conn::Activity;
use crate::journal::{parse_when, ExportFormat, ExportPages, JournalError, EXPORT_PAGE};

/// `GET /v1/sales` without `limit`.
const DEFAULT_LIST_LIMIT: usize = 50;
/// Request bodies are a few small fields; anything bigger is a mistake or an attack.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Why the register API could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(
        "the register token is empty; set [register] token to a non-empty secret or remove it"
    )]
    EmptyToken,
    #[error("the register API on {addr} stopped with an error: {source}")]
    Serve {
        addr: ListenAddr,
        #[source]
        source: io::Error,
    },
    #[error("the register API task on {addr} panicked or was cancelled: {reason}")]
    Task { addr: ListenAddr, reason: String },
}

/// A running register API. Call `shutdown` to stop it and wait for it. Dropping the handle
/// also stops it, but without waiting and leaving a unix socket file behind (the next start
/// removes a stale one).
pub struct ServerHandle {
    addr: ListenAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<io::Result<()>>,
}

impl ServerHandle {
    /// The bound address (with the real port when asked for port 0), ready for a client.
    pub fn addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// Stops accepting, ends open long-polls (with the sale's current state) and event
    /// streams, waits for in-flight requests to finish, and removes the unix socket file.
    pub async fn shutdown(self) -> Result<(), RegisterError> {
        // An error means the server already ended; its task's result says how.
        let _ = self.stop.send(true);
        let result = self.task.await;
        if let ListenAddr::Unix(path) = &self.addr {
            // Gone already is fine: someone tidied up for us.
            let _ = std::fs::remove_file(path);
        }
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(RegisterError::Serve {
                addr: self.addr,
                source,
            }),
            Err(join) => Err(RegisterError::Task {
                addr: self.addr,
                reason: join.to_string(),
            }),
        }
    }
}

/// Starts the register API on `listen`. With a token, every route (including `/metrics` and
/// `/v1/status`) requires `Authorization: Bearer <token>`.
pub async fn serve<B: RegisterBackend>(
    listen: ListenAddr,
    token: Option<String>,
    backend: Arc<B>,
) -> Result<ServerHandle, RegisterError> {
    if token.as_deref() == Some("") {
        return Err(RegisterError::EmptyToken);
    }
    let listener = listen::bind(&listen, token.is_some()).await?;
    let (stop, stopped) = watch::channel(false);
    let app = router(AppState {
        backend,
        token: token.map(Arc::from),
        listen: Arc::new(listen.clone()),
        stopped: stopped.clone(),
    });
    let limits = crate::http_conn::Limits::DOORS;
    let (addr, task) = match listener {
        BoundListener::Tcp(l) => {
            let addr = l.local_addr().map_err(|source| RegisterError::Serve {
                addr: listen.clone(),
                source,
            })?;
            let task = crate::http_conn::serve(l, app, limits, stopped);
            (ListenAddr::Tcp(addr), task)
        }
        BoundListener::Unix(l) => (listen, crate::http_conn::serve(l, app, limits, stopped)),
    };
    tracing::info!(%addr, "register API listening");
    Ok(ServerHandle { addr, stop, task })
}

struct AppState<B> {
    backend: Arc<B>,
    token: Option<Arc<str>>,
    /// Where the API listens, for the Host rule (see `browser`).
    listen: Arc<ListenAddr>,
    /// Becomes true when the server is shutting down: long-polls and event streams end.
    stopped: watch::Receiver<bool>,
}

impl<B> Clone for AppState<B> {
    fn clone(&self) -> Self {
        AppState {
            backend: self.backend.clone(),
            token: self.token.clone(),
            listen: self.listen.clone(),
            stopped: self.stopped.clone(),
        }
    }
}

impl<B> AppState<B> {
    /// Completes when the server starts shutting down.
    fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopped = self.stopped.clone();
        async move {
            let _ = stopped.wait_for(|&s| s).await;
        }
    }
}

fn router<B: RegisterBackend>(state: AppState<B>) -> Router {
    Router::new()
        .route("/v1/sales", post(create_sale::<B>).get(list_sales::<B>))
        .route(
            "/v1/sales/{sale_id}",
            get(get_sale::<B>).delete(disarm_sale::<B>),
        )
        .route("/v1/sales/{sale_id}/recheck", post(recheck_sale::<B>))
        .route("/v1/events", get(events::<B>))
        .route("/v1/status", get(status::<B>))
        .route("/v1/qr", post(show_qr::<B>))
        .route("/v1/journal", get(journal_export::<B>))
        .route("/metrics", get(metrics_text::<B>))
        .route("/v1/openapi.json", get(openapi))
        // Only a routed write has its Origin and Content-Type checked: a wrong method is 405.
        .route_layer(middleware::from_fn(refuse_browser_borne_write))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_token::<B>,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_foreign_host::<B>,
        ))
        .with_state(state)
}

/// An error answer: a status and `{"error": "..."}`.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl ToString) -> ApiError {
        ApiError {
            status,
            message: message.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "register request failed");
        } else {
            tracing::debug!(status = %self.status, error = %self.message, "register request refused");
        }
        let body = Json(serde_json::json!({ "error": self.message }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e)
    }
}

impl From<ArmError> for ApiError {
    fn from(e: ArmError) -> ApiError {
        let status = match e {
            ArmError::Busy { .. } | ArmError::Refused { .. } => StatusCode::CONFLICT,
            ArmError::Unavailable | ArmError::StorageFault { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError::new(status, e)
    }
}

impl From<DisarmError> for ApiError {
    fn from(e: DisarmError) -> ApiError {
        let status = match e {
            DisarmError::NotFound { .. } => StatusCode::NOT_FOUND,
            DisarmError::NotArmed { .. } => StatusCode::CONFLICT,
            DisarmError::Unavailable | DisarmError::Lookup(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e)
    }
}

impl From<RecheckError> for ApiError {
    fn from(e: RecheckError) -> ApiError {
        let status = match e {
            RecheckError::NotFound { .. } => StatusCode::NOT_FOUND,
            RecheckError::Ended { .. } | RecheckError::NotYet { .. } => StatusCode::CONFLICT,
            RecheckError::Unavailable | RecheckError::Lookup(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e)
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e)
    }
}

impl From<QrError> for ApiError {
    fn from(e: QrError) -> ApiError {
        let status = match e {
            QrError::Busy { .. } => StatusCode::CONFLICT,
            QrError::Failed { .. } => StatusCode::BAD_GATEWAY,
            QrError::Unavailable | QrError::StorageFault { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e)
    }
}

fn sale_not_found(sale_id: &str) -> ApiError {
    // Sale ids are not secret, but what comes back is bounded: the path could be anything.
    let shown: String = sale_id.chars().take(64).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no sale {shown:?} on this terminal; list recent sales with GET /v1/sales"),
    )
}

async fn require_token<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if !super::auth::bearer_matches(presented, token) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong register token; send the header \"Authorization: Bearer <token>\" with the token from [register] token",
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn refuse_foreign_host<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    request: Request,
    next: Next,
) -> Response {
    match super::browser::check_host(&state.listen, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => ApiError::new(refusal.status, refusal.message).into_response(),
    }
}

async fn refuse_browser_borne_write(request: Request, next: Next) -> Response {
    match super::browser::check_write(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => ApiError::new(refusal.status, refusal.message).into_response(),
    }
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {}; the register API has /v1/sales, /v1/sales/{{sale_id}}, /v1/sales/{{sale_id}}/recheck, /v1/events, /v1/status, /v1/qr, /v1/journal, /metrics and /v1/openapi.json (which describes them all)",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}; GET /v1/openapi.json lists the methods of each route",
            request.method(),
            request.uri().path()
        ),
    )
}

/// The body, or a JSON error saying why it could not be read (too large, cut off).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!(
                "could not read the request body ({}); a request is a small JSON object of at most {MAX_BODY_BYTES} bytes",
                rejection.body_text()
            ),
        )
    })
}

/// The `{sale_id}` path segment, or a JSON error (it was not valid percent-encoded UTF-8).
fn read_sale_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the sale id in the path is not valid: {}",
                rejection.body_text()
            ),
        )
    })
}

async fn create_sale<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req = input::parse_arm(&read_body(body)?)?;
    let sale = state.backend.arm(req).await?;
    let location = HeaderValue::from_str(&format!("/v1/sales/{}", sale.sale_id)).ok();
    let mut response = (StatusCode::CREATED, Json(sale)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Query parameters as (name, value) pairs; any name not in `known` is refused.
fn query_pairs(
    raw: Option<String>,
    known: &[&'static str],
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let mut pairs = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let Some(&known_name) = known.iter().find(|&&k| k == name) else {
            let shown: String = name.chars().take(64).collect();
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown query parameter \"{shown}\"; the parameters are: {}",
                    known.join(", ")
                ),
            ));
        };
        pairs.push((known_name, value.into_owned()));
    }
    Ok(pairs)
}

#[derive(serde::Serialize)]
struct SaleList {
    sales: Vec<SaleView>,
}

async fn list_sales<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    RawQuery(query): RawQuery,
) -> Result<Json<SaleList>, ApiError> {
    let mut limit = DEFAULT_LIST_LIMIT;
    for (_, value) in query_pairs(query, &["limit"])? {
        limit = input::parse_limit(&value, RECENT_SALES)?;
    }
    Ok(Json(SaleList {
        sales: state.backend.recent_sales(limit),
    }))
}

async fn get_sale<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    connection: Extensions,
    sale_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<SaleView>, ApiError> {
    let sale_id = read_sale_id(sale_id)?;
    let mut wait = Duration::ZERO;
    let mut known_state = None;
    for (name, value) in query_pairs(query, &["wait", "state"])? {
        match name {
            "wait" => wait = input::parse_wait(&value)?,
            _ => known_state = Some(parse_state(&value)?),
        }
    }
    // Subscribe before reading, so a change between the two cannot be missed.
    let changes = state.backend.subscribe();
    let current = state
        .backend
        .sale(&sale_id)
        .await?
        .ok_or_else(|| sale_not_found(&sale_id))?;
    let baseline = known_state.unwrap_or(current.state);
    // A final sale will not change again: waiting would only delay the answer.
    if current.state != baseline || current.state.is_final() || wait.is_zero() {
        return Ok(Json(current));
    }
    // The long-poll waits on the sale, not the client: the connection is not idle meanwhile.
    let _held = connection.get::<Activity>().map(Activity::hold);
    let stopping = state.stopping();
    let view = wait_for_change(&*state.backend, changes, current, wait, stopping).await;
    Ok(Json(view))
}

fn parse_state(raw: &str) -> Result<SaleState, ApiError> {
    serde_json::from_value(serde_json::Value::String(raw.to_string())).map_err(|_| {
        let shown: String = raw.chars().take(32).collect();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("query parameter \"state\" is {shown:?}: expected a sale state such as armed, submitting, waiting_customer"),
        )
    })
}

/// The long-poll: the first view of this sale whose state differs from `current`'s, or the
/// latest view when `wait` runs out or the server stops.
async fn wait_for_change<B: RegisterBackend>(
    backend: &B,
    mut changes: broadcast::Receiver<SaleView>,
    mut current: SaleView,
    wait: Duration,
    stopping: impl std::future::Future<Output = ()>,
) -> SaleView {
    let baseline = current.state;
    let timeout = tokio::time::sleep(wait);
    tokio::pin!(timeout, stopping);
    loop {
        tokio::select! {
            _ = &mut timeout => return current,
            _ = &mut stopping => return current,
            change = changes.recv() => match change {
                Ok(view) if view.sale_id == current.sale_id => {
                    let changed = view.state != baseline;
                    current = view;
                    if changed {
                        return current;
                    }
                }
                Ok(_) => {}
                // Fell behind the feed: the board holds the truth. A failed read leaves the
                // last view, as a timeout would.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Ok(Some(view)) = backend.sale(&current.sale_id).await {
                        let changed = view.state != baseline;
                        current = view;
                        if changed {
                            return current;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return current,
            },
        }
    }
}

async fn disarm_sale<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    sale_id: Result<Path<String>, PathRejection>,
) -> Result<Json<SaleView>, ApiError> {
    let sale_id = read_sale_id(sale_id)?;
    Ok(Json(state.backend.disarm(&sale_id).await?))
}

/// `POST /v1/sales/{sale_id}/recheck`: 202, since what the query finds comes later (on
/// `/v1/events`, or `GET /v1/sales/{sale_id}`).
async fn recheck_sale<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    sale_id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SaleView>), ApiError> {
    let sale_id = read_sale_id(sale_id)?;
    input::parse_recheck(&read_body(body)?)?;
    let view = state.backend.recheck(&sale_id).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

async fn show_qr<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<super::backend::QrView>, ApiError> {
    let req = input::parse_qr(&read_body(body)?)?;
    Ok(Json(state.backend.show_qr(req).await?))
}

/// How many pages of an export may wait for a slow reader: with `EXPORT_PAGE`, what bounds
/// an export's memory.
const EXPORT_PAGES_AHEAD: usize = 2;

/// `GET /v1/journal?from=&to=&format=csv|jsonl`: the journal's sales created in
/// `[from, to)`, streamed page by page from a blocking thread. A journal error before the
/// first byte is the usual JSON error (503); one later ends the response without its last
/// chunk, so the client sees a broken transfer, never a file that looks whole.
async fn journal_export<B: RegisterBackend>(
    State(state): State<AppState<B>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (mut from, mut to) = (Timestamp::from_millis(0), Timestamp::from_millis(u64::MAX));
    let mut format = ExportFormat::Csv;
    for (name, value) in query_pairs(query, &["from", "to", "format"])? {
        let bound = |value: &str| {
            parse_when(value).map_err(|problem| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("query parameter \"{name}\": {problem}"),
                )
            })
        };
        match name {
            "from" => from = bound(&value)?,
            "to" => to = bound(&value)?,
            _ => {
                format = ExportFormat::parse(&value).ok_or_else(|| {
                    let shown: String = value.chars().take(32).collect();
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("query parameter \"format\" is {shown:?}: expected csv or jsonl"),
                    )
                })?
            }
        }
    }
    let (pages_tx, mut pages) = tokio::sync::mpsc::channel(EXPORT_PAGES_AHEAD);
    let backend = state.backend.clone();
    tokio::task::spawn_blocking(move || {
        let fetch = |request| backend.journal_page(request);
        for page in ExportPages::new(fetch, from, to, format, EXPORT_PAGE) {
            let failed = page.is_err();
            // The reader went away: stop reading the journal.
            if pages_tx.blocking_send(page).is_err() || failed {
                return;
            }
        }
    });
    let first = match pages.recv().await {
        Some(Ok(first)) => first,
        Some(Err(error)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the journal could not be exported: {error}"),
            ))
        }
        None => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the journal export stopped before it began; look at the daemon's log",
            ))
        }
    };
    let rest = futures_util::stream::poll_fn(move |cx| pages.poll_recv(cx)).map(
        |page: Result<Vec<u8>, JournalError>| {
            page.map(Bytes::from).inspect_err(|error| {
                tracing::warn!(%error, "the journal export broke off");
            })
        },
    );
    let body = futures_util::stream::once(async move { Ok(Bytes::from(first)) }).chain(rest);
    let file_name = format!("attachment; filename=\"scanpay-journal.{}\"", format.name());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&file_name).expect("a plain file name"),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

async fn status<B: RegisterBackend>(
    State(state): State<AppState<B>>,
) -> Json<super::backend::StatusView> {
    Json(state.backend.status())
}

/// The register API described in OpenAPI 3.1, kept true by `tests/suite/openapi.rs`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}

async fn metrics_text<B: RegisterBackend>(State(state): State<AppState<B>>) -> Response {
    let text = metrics::render(&state.backend.metrics());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

/// `GET /v1/events`: `event: sale` with the sale JSON for every change, in order. A client
/// too slow to keep up gets `event: lagged` with `{"missed": N}` and should re-read
/// `GET /v1/sales`.
async fn events<B: RegisterBackend>(
    State(state): State<AppState<B>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = BroadcastStream::new(state.backend.subscribe())
        .map(|change| Ok(sale_event(change)))
        .take_until(state.stopping());
    Sse::new(feed).keep_alive(KeepAlive::default())
}

fn sale_event(change: Result<SaleView, BroadcastStreamRecvError>) -> Event {
    match change {
        Ok(view) => Event::default()
            .event("sale")
            .data(serde_json::to_string(&view).expect("a SaleView always serialises")),
        Err(BroadcastStreamRecvError::Lagged(missed)) => Event::default()
            .event("lagged")
            .data(format!("{{\"missed\":{missed}}}")),
    }
}
