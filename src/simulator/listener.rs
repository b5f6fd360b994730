//! The simulator's TCP listener and connections, with the two socket-level faults HTTP
//! handlers cannot do on their own: closing the connection a request came on (without an
//! answer), and going "down" (stop listening, close every connection, later listen again on
//! the same port).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One connection's kill switch, shared by its I/O and by the requests it carries.
#[derive(Debug, Default)]
pub struct ConnState {
    killed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ConnState {
    /// Closes the connection: the next read ends it and every write fails, so no answer goes
    /// out and the socket is dropped.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            waker.wake();
        }
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// The connection a request arrived on (an axum `ConnectInfo`).
#[derive(Debug, Clone)]
pub struct Conn(pub Arc<ConnState>);

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        Conn(stream.io().state.clone())
    }
}

/// A TCP connection that can be killed from outside.
pub struct SimIo {
    stream: TcpStream,
    state: Arc<ConnState>,
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection closed by simulator fault",
    )
}

impl AsyncRead for SimIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.state.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        *self.state.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        // Checked again: a kill between the first check and storing the waker would be missed.
        if self.state.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.state.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.state.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Up/down control shared by the listener and the handle.
#[derive(Debug)]
pub struct Availability {
    /// What the handle asks for: true = down.
    want_down: watch::Sender<bool>,
    /// What the listener reports: true = not listening.
    is_down: watch::Sender<bool>,
    conns: Mutex<Vec<Weak<ConnState>>>,
    /// A connection the next "down" leaves open (the admin request that asked for it, so
    /// that its answer still goes out).
    spared: Mutex<Option<Weak<ConnState>>>,
    /// Bumped by every go_down/come_up, so that a timed "come up" (admin `down_ms`) does not
    /// undo a later, explicit change.
    generation: std::sync::atomic::AtomicU64,
}

impl Availability {
    fn new() -> Arc<Availability> {
        Arc::new(Availability {
            want_down: watch::channel(false).0,
            is_down: watch::channel(false).0,
            conns: Mutex::new(Vec::new()),
            spared: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Stops listening and closes every open connection; returns once nothing listens, with
    /// the generation for `come_up_unless_changed`.
    pub async fn go_down(&self) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.want_down.send_replace(true);
        let mut is_down = self.is_down.subscribe();
        // The listener only fails to report if it is gone, and then nothing listens anyway.
        let _ = is_down.wait_for(|down| *down).await;
        generation
    }

    /// Comes up unless someone went down or up since `generation`.
    pub async fn come_up_unless_changed(&self, generation: u64) -> io::Result<()> {
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(());
        }
        self.come_up().await
    }

    /// Listens again on the same port; returns once connections are accepted again.
    pub async fn come_up(&self) -> io::Result<()> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.want_down.send_replace(false);
        let mut is_down = self.is_down.subscribe();
        let up = tokio::time::timeout(Duration::from_secs(5), async {
            is_down.wait_for(|down| !*down).await.map(|_| ())
        })
        .await;
        match up {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::other("simulator listener has stopped")),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "simulator could not listen again on its port within 5 s (is another program using it?)",
            )),
        }
    }

    /// Leaves this connection open when going down next.
    pub fn spare(&self, conn: &Arc<ConnState>) {
        *self.spared.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(conn));
    }

    fn kill_all(&self) {
        let spared = self.spared.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for conn in conns.drain(..).filter_map(|c| c.upgrade()) {
            let is_spared = spared
                .as_ref()
                .is_some_and(|s| std::ptr::eq(s.as_ptr(), Arc::as_ptr(&conn)));
            if !is_spared {
                conn.kill();
            }
        }
    }

    fn register(&self, state: &Arc<ConnState>) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(|c| c.strong_count() > 0);
        conns.push(Arc::downgrade(state));
    }
}

/// The listener axum serves from.
pub struct SimListener {
    addr: SocketAddr,
    inner: Option<TcpListener>,
    availability: Arc<Availability>,
}

impl SimListener {
    pub fn new(listener: TcpListener) -> io::Result<(SimListener, Arc<Availability>)> {
        let availability = Availability::new();
        let listener = SimListener {
            addr: listener.local_addr()?,
            inner: Some(listener),
            availability: availability.clone(),
        };
        Ok((listener, availability))
    }
}

impl axum::serve::Listener for SimListener {
    type Io = SimIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimIo, SocketAddr) {
        let mut want_down = self.availability.want_down.subscribe();
        loop {
            if *want_down.borrow_and_update() {
                if self.inner.take().is_some() {
                    self.availability.kill_all();
                    tracing::info!(addr = %self.addr, "simulator down: not listening");
                }
                self.availability.is_down.send_replace(true);
                if want_down.changed().await.is_err() {
                    // The handle is gone: nobody can bring us up again.
                    std::future::pending::<()>().await;
                }
                continue;
            }
            if self.inner.is_none() {
                match TcpListener::bind(self.addr).await {
                    Ok(listener) => {
                        tracing::info!(addr = %self.addr, "simulator up: listening again");
                        self.inner = Some(listener);
                        self.availability.is_down.send_replace(false);
                    }
                    Err(err) => {
                        tracing::warn!(addr = %self.addr, %err, "simulator cannot listen again yet; retrying");
                        // Retry pacing while the port is still held, not synchronisation.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            let Some(listener) = &self.inner else {
                continue;
            };
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, remote)) => {
                        let state = Arc::new(ConnState::default());
                        self.availability.register(&state);
                        return (SimIo { stream, state }, remote);
                    }
                    Err(err) => {
                        tracing::warn!(%err, "simulator accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = want_down.changed() => {}
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
