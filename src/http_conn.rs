//! Serving HTTP/1 connections with limits, for every local door (the register API and the
//! notify callback listener): a header-read timeout, an idle timeout and a connection cap.
//!
//! `axum::serve` has none of these, so a few clients sending headers a byte at a time could
//! hold every descriptor the daemon has, and then its journal writes fail.
//!
//! - **Header-read timeout**: the headers of each request (also the next one on a kept-alive
//!   connection) must arrive within `header_read`, or the connection is closed.
//! - **Idle timeout**: a connection on which no byte has moved either way for `idle` is
//!   closed, unless a handler holds it (`Activity::hold`): a `?wait=` long-poll legitimately
//!   sends nothing until the sale changes. A live event stream is never idle: it writes a
//!   keep-alive comment more often than `idle`.
//! - **Connection cap**: at most `max_connections` at once. One more is closed at once,
//!   without an answer: a 503 would need its request read first, which is exactly what a slow
//!   client withholds, and closing frees the descriptor straight away.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The limits of one door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// The limits of both doors. Each is far above what a register, a script or the
    /// gateway's callback needs; the cap times two doors stays well under the unit's
    /// `LimitNOFILE`, so the journal always has descriptors left.
    pub const DOORS: Limits = Limits {
        header_read: Duration::from_secs(10),
        // Above the event stream's 15 s keep-alive, so a live stream is never idle.
        idle: Duration::from_secs(60),
        max_connections: 32,
    };
}

/// Something that hands out connections: a TCP or a unix listener.
pub trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_io(&self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

impl Accept for TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept_io(&self) -> io::Result<Self::Io> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

impl Accept for UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept_io(&self) -> io::Result<Self::Io> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Serves `app` on `listener` until `stop` becomes true; then stops accepting, asks every
/// connection to finish its request and close, and ends when all have.
pub fn serve<L: Accept>(
    listener: L,
    app: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
) -> JoinHandle<io::Result<()>> {
    tokio::spawn(accept_loop(listener, app, limits, stop))
}

async fn accept_loop<L: Accept>(
    listener: L,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let io = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept_io() => match accepted {
                Ok(io) => io,
                Err(error) => {
                    // Out of descriptors, or the peer gave up before accept: not fatal. Back
                    // off a little so a full descriptor table is not spun on.
                    tracing::warn!(%error, "could not accept a connection; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                max = limits.max_connections,
                "connection refused: the connection cap is reached (slow or idle clients hold every slot)"
            );
            drop(io);
            continue;
        };
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_connection(io, app, limits, stop).await;
            drop(slot);
        });
    }
    // Every connection holds a slot until it ends: holding them all means all have ended.
    let _all = slots.acquire_many(limits.max_connections as u32).await;
    Ok(())
}

async fn serve_connection<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: I,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched {
        inner: io,
        activity: activity.clone(),
    });
    let request_activity = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(request_activity.clone());
        let mut app = app.clone();
        tower_service::Service::call(&mut app, request)
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let idle = activity.idle_for(limits.idle);
    tokio::pin!(idle);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = &mut idle => {
                tracing::debug!(idle = ?limits.idle, "closing an idle connection");
                return;
            }
            _ = stopped(&mut stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Completes once `stop` is true (or its sender is gone, which also means stop).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// When a connection last moved a byte, and how many handlers are holding it open.
#[derive(Clone)]
pub struct Activity(Arc<ActivityState>);

struct ActivityState {
    last: Mutex<Instant>,
    holds: AtomicUsize,
}

/// Keeps a connection from counting as idle while it lives (see `Activity::hold`).
pub struct Hold(Activity);

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(ActivityState {
            last: Mutex::new(Instant::now()),
            holds: AtomicUsize::new(0),
        }))
    }

    fn touch(&self) {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// For a handler that waits on the server, not the client (a long-poll): while the
    /// returned `Hold` lives, the connection is not idle however long nothing moves.
    pub fn hold(&self) -> Hold {
        self.0.holds.fetch_add(1, Ordering::SeqCst);
        Hold(self.clone())
    }

    /// Completes once nothing has moved for `idle` while no handler held the connection.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            tokio::time::sleep_until(deadline).await;
            if self.0.holds.load(Ordering::SeqCst) == 0 && self.last() + idle <= Instant::now() {
                return;
            }
            if self.0.holds.load(Ordering::SeqCst) > 0 {
                // Held: look again one period later (the hold's end counts as activity).
                tokio::time::sleep(idle).await;
            }
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.touch();
        self.0 .0.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's stream that notes every byte moved in either direction.
struct Watched<I> {
    inner: I,
    activity: Activity,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Extensions;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const LIMITS: Limits = Limits {
        header_read: Duration::from_millis(300),
        idle: Duration::from_millis(300),
        max_connections: 2,
    };

    /// The wait a long-poll would do, holding its connection.
    async fn held(connection: Extensions) -> &'static str {
        let _held = connection.get::<Activity>().map(Activity::hold);
        tokio::time::sleep(LIMITS.idle * 3).await;
        "waited"
    }

    /// An event stream: a chunk every third of the idle timeout, for three idle timeouts.
    async fn stream() -> axum::body::Body {
        let chunks = futures_util::stream::unfold(0, |n| async move {
            if n == 9 {
                return None;
            }
            tokio::time::sleep(LIMITS.idle / 3).await;
            Some((
                Ok::<_, std::convert::Infallible>(format!("tick {n}\n")),
                n + 1,
            ))
        });
        axum::body::Body::from_stream(chunks)
    }

    async fn start() -> (
        std::net::SocketAddr,
        watch::Sender<bool>,
        JoinHandle<io::Result<()>>,
    ) {
        let app = Router::new()
            .route("/", get(|| async { "hello" }))
            .route("/echo", post(|body: String| async move { body }))
            .route("/held", get(held))
            .route("/stream", get(stream));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        (addr, stop, serve(listener, app, LIMITS, stopped))
    }

    /// Everything the server sends until it closes the connection.
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        // A reset instead of a clean close also means closed.
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the server closed the connection");
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_read_timeout() {
        let (addr, _stop, _task) = start().await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let trickle = async {
            for byte in
                b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            {
                if slow.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        trickle.await;
        let answer = until_closed(&mut slow).await;
        assert!(!answer.contains("hello"), "{answer}");
        assert!(started.elapsed() >= LIMITS.header_read);
        assert!(started.elapsed() < LIMITS.header_read * 10);
    }

    #[tokio::test]
    async fn a_stalled_body_is_closed_at_the_idle_timeout_a_complete_one_is_answered() {
        let (addr, _stop, _task) = start().await;
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
            .await
            .unwrap();
        let started = Instant::now();
        let answer = until_closed(&mut stalled).await;
        assert!(!answer.contains("200 OK"), "{answer}");
        assert!(started.elapsed() >= LIMITS.idle);

        let mut whole = TcpStream::connect(addr).await.unwrap();
        whole
            .write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
            .await
            .unwrap();
        let answer = until_closed(&mut whole).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("abc"), "{answer}");
    }

    #[tokio::test]
    async fn a_held_long_poll_and_a_live_stream_outlast_the_idle_timeout() {
        let (addr, _stop, _task) = start().await;
        for (path, expected) in [("/held", "waited"), ("/stream", "tick 8\n")] {
            let mut client = TcpStream::connect(addr).await.unwrap();
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            client.write_all(request.as_bytes()).await.unwrap();
            let answer = until_closed(&mut client).await;
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{path}: {answer}");
            assert!(answer.contains(expected), "{path}: {answer}");
        }
    }

    #[tokio::test]
    async fn a_connection_over_the_cap_is_closed_at_once_and_a_freed_slot_is_reused() {
        let (addr, _stop, _task) = start().await;
        let mut holders = Vec::new();
        for _ in 0..LIMITS.max_connections {
            let mut holder = TcpStream::connect(addr).await.unwrap();
            // A full request proves the connection holds a slot (it was accepted and served).
            holder
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 512];
            let n = holder.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
            holders.push(holder);
        }
        let mut over = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let _ = over
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let answer = until_closed(&mut over).await;
        assert_eq!(answer, "", "over the cap: closed without an answer");
        assert!(started.elapsed() < LIMITS.header_read, "closed at once");

        drop(holders.pop());
        // The slot frees once the server sees the close; a new client may race it.
        let answer = loop {
            let mut again = TcpStream::connect(addr).await.unwrap();
            let _ = again
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await;
            let answer = until_closed(&mut again).await;
            if !answer.is_empty() {
                break answer;
            }
            tokio::task::yield_now().await;
        };
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    }

    #[tokio::test]
    async fn stopping_finishes_the_request_in_flight_then_ends() {
        let (addr, stop, task) = start().await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        // The response has begun: the request is in flight.
        let mut first = [0u8; 512];
        let n = client.read(&mut first).await.unwrap();
        assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200 OK"));
        stop.send(true).unwrap();
        let rest = until_closed(&mut client).await;
        assert!(rest.contains("tick 8"), "the stream ran to its end: {rest}");
        task.await.unwrap().unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
