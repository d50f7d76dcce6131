//! The HTTP listener: accept loop, connection cap, per-connection limits, TLS handshakes,
//! graceful shutdown.
//!
//! Each connection gets a clone of the [`App`] handle and one of a fixed number of slots.
//! Handshake time, header size, header time and body idle time are bounded so a slow or
//! abusive client holds one slot for a bounded time. When every slot is taken, a newcomer
//! takes the slot of the connection that has been idle the longest (a keep-alive client gone
//! quiet). A request has begun when its connection is accepted, or on a kept-alive connection
//! when its first byte arrives, and is never cut for a newcomer while its head arrives
//! within `HEAD_GRACE` of that (an honest head arrives in a round trip or two, a TLS
//! handshake in a few). A head still incomplete after that is a slowloris client's or as good
//! as one: it is closed for a newcomer when no idle connection is left, oldest first, so many
//! slow clients cannot keep a normal one out for long (it waits until the grace of the oldest
//! slow head has run out); the header timeout closes it in any case. The newcomer waits only while every connection is inside a request
//! or holds a protected head. Plain and TLS connections
//! share one HTTP path, generic over the byte stream; certificates are `tls.rs`'s business. On shutdown: stop accepting, let
//! in-flight requests finish for up to the grace period, then return; the caller drops the
//! last store handle afterwards so the database closes cleanly.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::http::{router, Body, ClientAddr};

/// Connection limits.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Open connections at most; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Longest time to receive a request's headers (also the keep-alive idle limit).
    pub header_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// How long in-flight requests may run on after a shutdown signal.
    pub grace: Duration,
    /// Longest time a response may wait for the client to take more bytes before the
    /// connection is closed: a client that stops reading must not pin buffers forever.
    pub write_idle: Duration,
}

/// A connection whose writes fail once the peer has taken nothing for `timeout`.
///
/// hyper has no write timeout of its own; without one, a client that stops reading a
/// download would hold its connection, buffers and snapshot for as long as it likes.
pub struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteTimeout<T> {
    pub fn new(inner: T, timeout: Duration) -> Self {
        WriteTimeout { inner, timeout, stalled: None }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Called when the inner write is pending: arms the timer, and fails once it fires.
    fn pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        let timeout = self.timeout;
        let timer = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<R>(&mut self, r: Poll<std::io::Result<R>>, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        match r {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Serves HTTP on `listener` until `shutdown` completes, then drains. With `tls`, every
/// connection must complete a TLS handshake first (HTTPS only; a plain-HTTP client fails it).
///
/// # Errors
/// None: accept errors are logged and retried after a pause; connection errors, failed and
/// timed-out handshakes are logged in their own task and never stop the server.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    limits: ConnLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Slots::new(limits.max_connections);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.take() => slot,
        };
        let _ = stream.set_nodelay(true);
        // Under TLS the timeout wraps the socket, so a client that stops reading stalls the
        // encrypted writes and is cut off the same way.
        let io = slot.watch(WriteTimeout::new(stream, limits.write_idle));
        let conn = Connection { http: http.clone(), app: app.clone(), watcher: graceful.watcher(), peer };
        let tls = tls.clone();
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let evicted = slot.evicted.clone();
            let served = async {
                match tls {
                    None => conn.serve(io, &slot).await,
                    // Bounded like the request head: a client that connects and says nothing
                    // must not keep its slot.
                    Some(acceptor) => {
                        let handshake = async {
                            if speaks_plain_http(io.get_ref().get_ref()).await {
                                refuse_plain_http(io, peer).await;
                                return None;
                            }
                            Some(acceptor.accept(io).await)
                        };
                        match tokio::time::timeout(handshake_timeout, handshake).await {
                            Ok(None) => {}
                            Ok(Some(Ok(io))) => conn.serve(io, &slot).await,
                            Ok(Some(Err(e))) => {
                                tracing::debug!(peer = %peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
                        }
                    }
                }
            };
            tokio::select! {
                () = served => {}
                () = evicted.notified() => tracing::debug!(peer = %peer, "idle connection closed to make room"),
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(limits.grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
}

/// Waits until the log line of every request answered so far is handed to the log writer
/// (they are formatted on a thread of their own); call it before the process exits.
pub fn flush_request_log() {
    crate::http::router::request_log::flush();
}

/// Whether a connection to the TLS port opens with plain HTTP: a request line starts with a
/// letter, a TLS handshake record with byte 0x16. Waits for the first byte without taking it.
async fn speaks_plain_http(stream: &tokio::net::TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_alphabetic())
}

/// Answers a plain-HTTP request on the TLS port with a readable 400 (instead of the TLS alert
/// that curl shows as "Received HTTP/0.9") and closes the connection.
async fn refuse_plain_http(mut io: impl AsyncRead + AsyncWrite + Unpin, peer: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tracing::debug!(peer = %peer, "plain HTTP on the HTTPS port refused");
    // Take what the client sent first: closing with unread data makes the kernel reset the
    // connection, and the client might never see the answer.
    let mut request = [0u8; 16 << 10];
    let _ = tokio::time::timeout(Duration::from_millis(200), io.read(&mut request)).await;
    let reason = "this port speaks HTTPS only: use an https:// URL\n";
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{reason}",
        reason.len()
    );
    let _ = io.write_all(response.as_bytes()).await;
    let _ = io.shutdown().await;
}

/// How long a request head may take to arrive, from its first byte, before the connection may
/// be closed to make room for a newcomer.
const HEAD_GRACE: Duration = Duration::from_secs(1);
/// How often a newcomer waiting for a slot looks again for one to free (a connection inside a
/// request may go idle without closing).
const RECHECK: Duration = Duration::from_millis(100);

/// The connection slots: a semaphore counts them, and a table says, for each open connection,
/// whether it is inside a request, since when its next request head has been arriving, or
/// since when it has been idle.
struct Slots {
    free: Arc<Semaphore>,
    open: Mutex<SlotTable>,
}

#[derive(Default)]
struct SlotTable {
    next_id: u64,
    conns: HashMap<u64, SlotState>,
}

struct SlotState {
    /// Requests in flight; a response counts until its body is sent or dropped.
    active: usize,
    /// When the last response ended (meaningful while `head_since` is `None`).
    idle_since: Instant,
    /// When the connection was accepted or, after a response, the first byte of the next
    /// request arrived; `None` while the connection is idle between requests or inside one.
    head_since: Option<Instant>,
    /// True while no byte of a next request has been read: the reader then notes the first
    /// one (see [`ReadMarks`]) without taking the table's lock for every read.
    quiet: Arc<AtomicBool>,
    /// Already asked to close (so the next newcomer picks another).
    evicting: bool,
    evicted: Arc<Notify>,
}

impl Slots {
    fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots { free: Arc::new(Semaphore::new(max)), open: Mutex::default() })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, SlotTable> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A free slot; when there is none, closes a connection to make room (see
    /// [`Slots::evict`]) and takes its slot. Waits while no connection may be closed.
    async fn take(self: &Arc<Self>) -> Slot {
        let permit = loop {
            if let Ok(p) = self.free.clone().try_acquire_owned() {
                break p;
            }
            let look_again = self.evict(Instant::now());
            tokio::select! {
                // The semaphore is never closed, so acquiring can only wait, not fail.
                p = self.free.clone().acquire_owned() => break p.expect("semaphore never closed"),
                () = tokio::time::sleep(look_again) => {}
            }
        };
        let evicted = Arc::new(Notify::new());
        // A new connection is a request about to begin (its bytes may not have been read yet):
        // its head's grace runs from now.
        let quiet = Arc::new(AtomicBool::new(false));
        let mut table = self.table();
        let id = table.next_id;
        table.next_id += 1;
        let now = Instant::now();
        let state = SlotState {
            active: 0,
            idle_since: now,
            head_since: Some(now),
            quiet: quiet.clone(),
            evicting: false,
            evicted: evicted.clone(),
        };
        table.conns.insert(id, state);
        Slot { id, slots: self.clone(), evicted, quiet, _permit: permit }
    }

    /// Asks one connection to close, unless one is closing already: the one idle the longest,
    /// else the one whose request head began the longest ago among the unprotected heads.
    /// A head is protected within `HEAD_GRACE` of its start, however many there are: a
    /// request that has begun is never cut (under a flood of slow heads, a newcomer waits
    /// for the oldest one's grace to run out instead).
    /// Never one inside a request. Returns when to look again.
    fn evict(&self, now: Instant) -> Duration {
        let mut table = self.table();
        if table.conns.values().any(|c| c.evicting) {
            return RECHECK;
        }
        let protected = |began: Instant| now.duration_since(began) < HEAD_GRACE;
        // Idle connections (0) before unprotected heads (1), each the longest waiting first.
        let candidate = |c: &SlotState| match (c.active, c.head_since) {
            (0, None) => Some((0, c.idle_since)),
            (0, Some(began)) if !protected(began) => Some((1, began)),
            _ => None,
        };
        let victim =
            table.conns.values_mut().filter_map(|c| Some((candidate(c)?, c))).min_by_key(|(k, _)| *k);
        if let Some((_, conn)) = victim {
            conn.evicting = true;
            conn.evicted.notify_one();
        }
        RECHECK
    }
}

/// One connection's slot; gives it back when dropped.
struct Slot {
    id: u64,
    slots: Arc<Slots>,
    evicted: Arc<Notify>,
    quiet: Arc<AtomicBool>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// Marks the connection busy until the returned guard (kept by the response body) drops.
    fn begin(&self) -> InRequest {
        if let Some(c) = self.slots.table().conns.get_mut(&self.id) {
            c.active += 1;
            c.head_since = None;
        }
        InRequest { id: self.id, slots: self.slots.clone() }
    }

    /// `io` with its reads watched: the first bytes of a request mark its head as begun.
    fn watch<T>(&self, io: T) -> ReadMarks<T> {
        ReadMarks { inner: io, id: self.id, slots: self.slots.clone(), quiet: self.quiet.clone() }
    }
}

impl<T> ReadMarks<T> {
    fn get_ref(&self) -> &T {
        &self.inner
    }
}

/// A connection whose first bytes of each request mark its slot (see `SlotState::head_since`).
///
/// It wraps the socket itself, below TLS, so a TLS client's handshake counts as the start of
/// its request too.
struct ReadMarks<T> {
    inner: T,
    id: u64,
    slots: Arc<Slots>,
    quiet: Arc<AtomicBool>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadMarks<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && this.quiet.swap(false, Ordering::AcqRel)
        {
            if let Some(c) = this.slots.table().conns.get_mut(&this.id) {
                if c.active == 0 {
                    c.head_since = Some(Instant::now());
                }
            }
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadMarks<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.table().conns.remove(&self.id);
    }
}

/// A request in flight on a connection.
struct InRequest {
    id: u64,
    slots: Arc<Slots>,
}

impl Drop for InRequest {
    fn drop(&mut self) {
        if let Some(c) = self.slots.table().conns.get_mut(&self.id) {
            c.active -= 1;
            if c.active == 0 {
                c.idle_since = Instant::now();
                c.head_since = None;
                c.quiet.store(true, Ordering::Release);
            }
        }
    }
}

/// A response body that keeps its connection marked busy until it is sent or dropped.
struct Tracked {
    body: Body,
    _request: InRequest,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// One accepted connection, ready for HTTP over whatever byte stream it ends up on (the
/// socket itself, or TLS over it).
struct Connection {
    http: Arc<hyper::server::conn::http1::Builder>,
    app: Arc<App>,
    /// Registers the connection for graceful shutdown; taken before a TLS handshake so
    /// shutdown also waits for connections still shaking hands (bounded by their timeout).
    watcher: Watcher,
    peer: SocketAddr,
}

impl Connection {
    /// Serves requests on `io` until the client leaves, a limit cuts it off, or shutdown.
    async fn serve<IO>(self, io: IO, slot: &Slot)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app;
        let client = ClientAddr(self.peer.ip());
        let service = service_fn(move |mut req| {
            let app = app.clone();
            let request = slot.begin();
            req.extensions_mut().insert(client);
            async move {
                let res = router::dispatch(app, req).await;
                Ok::<_, std::convert::Infallible>(res.map(|body| Tracked { body, _request: request }))
            }
        });
        let conn = self.http.serve_connection(TokioIo::new(io), service);
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }
}
