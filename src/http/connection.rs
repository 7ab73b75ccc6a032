//! The HTTP server under the router: accepts connections up to a cap and serves each with
//! hyper (HTTP/1.1, or HTTP/2 where the handshake agreed on it), bounding how long a client
//! may take over its request head, its body and its idle time, and closing idle and
//! half-sent connections at once when shutdown begins.
//!
//! `axum::serve` has none of these bounds: a client could hold a connection (and up to
//! ~400 KB of header buffer) for as long as it liked, and keep shutdown waiting for it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::error::code;
use super::limits::BodyReadLimits;
use crate::app::InFlight;
use crate::config::ServeArgs;

/// The most a request head (request line and headers) may take. hyper's read buffer never
/// grows past it, so it also bounds what a connection sending an endless header pins; a head
/// over it is answered 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// After shutdown begins, how long a connection with nothing in flight keeps running, so an
/// answer hyper has just finished is flushed rather than cut off. Not a wait for the client.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(100);

/// Streams an HTTP/2 connection may have open at once: the RFC 9113 recommended minimum,
/// which clients expect. A connection takes one slot of the cap whatever its streams.
const MAX_CONCURRENT_STREAMS: u32 = 100;

/// How often an HTTP/2 connection with a request in flight checks that its client is still
/// there (a PING), and how long the answer may take before the connection is dropped.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take, and how many may connect at once.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(args.header_read_timeout),
            body_read_timeout: Duration::from_secs(args.body_read_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, closes
/// every connection that has no request in flight, and returns once the others have answered.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, limits, shutdown, Plain).await
}

/// What turns an accepted socket into the stream HTTP is spoken over: nothing for plain
/// HTTP, a TLS handshake for the edge's HTTPS listener.
pub trait Handshake: Clone + Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Whether a connection over the cap is answered with a plain HTTP 503 (a TLS client
    /// would read it as garbage, so a TLS listener just closes it).
    const ANSWERS_PLAIN_HTTP: bool;

    /// The stream to serve, or `None` when the connection is to be closed (the handshake
    /// failed; the failure is the client's and already answered, if at all, by this).
    fn handshake(&self, stream: TcpStream) -> impl Future<Output = Option<Self::Stream>> + Send;

    /// The HTTP version to speak on `stream`, as the handshake agreed (ALPN for TLS).
    fn protocol(_stream: &Self::Stream) -> Protocol {
        Protocol::Http1
    }
}

/// The HTTP version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// Plain HTTP: the socket as it is.
#[derive(Debug, Clone, Copy)]
pub struct Plain;

impl Handshake for Plain {
    type Stream = TcpStream;
    const ANSWERS_PLAIN_HTTP: bool = true;

    async fn handshake(&self, stream: TcpStream) -> Option<TcpStream> {
        Some(stream)
    }
}

/// [`serve`], with each connection first going through `handshake`, which must complete
/// within the header read timeout (and is abandoned when shutdown begins).
/// Each request carries the client's address as an extension, `ConnectInfo<SocketAddr>`.
pub async fn serve_with<H: Handshake>(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    handshake: H,
) -> io::Result<()> {
    // Config allows at most 100,000, far below the semaphore's maximum.
    let slots_total = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(slots_total as usize));
    let (draining_tx, draining) = watch::channel(false);
    let http = Builders::new(&limits);
    let mut at_cap = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !at_cap {
                at_cap = true;
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection cap reached; new connections are answered 503 until some close"
                );
            }
            if H::ANSWERS_PLAIN_HTTP {
                refuse(&stream);
            }
            continue;
        };
        at_cap = false;
        let connection = Connection {
            router: router.clone(),
            limits: limits.clone(),
            draining: draining.clone(),
        };
        let http = http.clone();
        let handshake = handshake.clone();
        tokio::spawn(async move {
            let mut draining = connection.draining.clone();
            let within = connection.limits.header_read_timeout;
            let stream = tokio::select! {
                done = tokio::time::timeout(within, handshake.handshake(stream)) => done.ok().flatten(),
                _ = draining.wait_for(|draining| *draining) => None,
            };
            if let Some(stream) = stream {
                let protocol = H::protocol(&stream);
                connection.run(&http, stream, protocol, peer).await;
            }
            drop(slot);
        });
    }
    // New connections are refused by the kernel from here on.
    drop(listener);
    draining_tx.send_replace(true);
    // Every slot back means every connection has ended.
    let _all_closed = slots.acquire_many(slots_total).await;
    Ok(())
}

/// Like axum's loop: errors about one connection are that client's problem; others (out of
/// file descriptors) are logged and retried after a pause rather than spun on.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Answers a connection over the cap with 503 and closes it, without waiting for anything:
/// the client learns why and when to retry (the SDKs retry a 503), and holds nothing.
/// Queueing it instead (not accepting) would leave it hanging in the kernel's backlog.
fn refuse(stream: &TcpStream) {
    // A request already received is read and dropped first: closing a socket with unread
    // data makes the kernel send a reset, which can destroy the answer before it is read.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.try_read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    // A fresh socket's send buffer takes these few hundred bytes whole; if not, the client
    // gets a plain close, which is still an answer.
    let _ = stream.try_write(over_cap_answer());
}

fn over_cap_answer() -> &'static [u8] {
    static ANSWER: OnceLock<Vec<u8>> = OnceLock::new();
    ANSWER.get_or_init(|| {
        let body = serde_json::json!({
            "success": false,
            "errors": [{
                "code": code::SERVER_UNAVAILABLE.value,
                "message": "edgecert is at its connection limit (EDGECERT_MAX_CONNECTIONS); try again shortly.",
            }],
            "messages": [],
            "result": null,
        })
        .to_string();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             retry-after: 1\r\nx-should-retry: true\r\nx-content-type-options: nosniff\r\n\
             connection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

/// hyper's settings for each protocol.
#[derive(Clone)]
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Builders {
    fn new(limits: &ConnectionLimits) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            // hyper starts this clock when a connection opens and again after each answer.
            .header_read_timeout(limits.header_read_timeout)
            // The buffer bound alone is checked only while a head is incomplete, and one read
            // can overshoot it; the size bound makes "over 64 KiB is 431" exact.
            .max_buf_size(MAX_HEAD_BYTES)
            .max_header_size(MAX_HEAD_BYTES);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            // The same bound on a request's head as over HTTP/1.1; h2 answers 431 over it.
            .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX))
            .keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
        Self { http1, http2 }
    }
}

/// What every connection task shares.
struct Connection {
    router: Router,
    limits: ConnectionLimits,
    draining: watch::Receiver<bool>,
}

impl Connection {
    async fn run<S>(self, http: &Builders, stream: S, protocol: Protocol, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        // Requests of this connection from head to the end of their answer's body.
        let requests = InFlight::default();
        let service = {
            let requests = requests.clone();
            let activity = Arc::clone(&activity);
            let router = self.router.clone();
            let body_limits = BodyReadLimits {
                timeout: self.limits.body_read_timeout,
                draining: self.draining.clone(),
            };
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                activity.touch();
                let running = requests.enter();
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(body_limits.clone());
                request.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| Body::new(Answering::new(body, running))),
                    )
                }
            })
        };
        // Over HTTP/1.1 every byte read belongs to a request, so reads count as activity.
        // HTTP/2 also carries PINGs, window updates and settings, which must not keep an
        // idle connection (and its slot) alive: there only requests count.
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: (protocol == Protocol::Http1).then(|| Arc::clone(&activity)),
        });
        match protocol {
            Protocol::Http1 => {
                // With upgrades, so the edge can pass a WebSocket through (`hyper::upgrade::on`).
                let connection = http.http1.serve_connection(io, service).with_upgrades();
                self.drive(
                    connection,
                    |c| c.graceful_shutdown(),
                    &activity,
                    &requests,
                    false,
                )
                .await;
            }
            Protocol::Http2 => {
                let connection = http.http2.serve_connection(io, service);
                self.drive(
                    connection,
                    |c| c.graceful_shutdown(),
                    &activity,
                    &requests,
                    true,
                )
                .await;
            }
        }
    }

    /// Runs `connection` to its end, closing it when idle or when shutdown begins. Idle, an
    /// HTTP/1.1 connection is just closed; an HTTP/2 one is first told (GOAWAY), so its
    /// client knows no request it sends now was taken.
    async fn drive<C>(
        self,
        connection: C,
        graceful_shutdown: impl Fn(Pin<&mut C>),
        activity: &Activity,
        requests: &InFlight,
        goaway_when_idle: bool,
    ) where
        C: Future<Output = hyper::Result<()>>,
    {
        tokio::pin!(connection);
        let mut draining = self.draining.clone();
        tokio::select! {
            result = connection.as_mut() => {
                // Client resets, header timeouts and malformed requests: the client's doing.
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = idle(activity, requests, self.limits.idle_timeout) => {
                tracing::debug!("closing an idle connection");
                if !goaway_when_idle {
                    return;
                }
            }
            Ok(_) = draining.wait_for(|draining| *draining) => {}
        }
        // Shutting down. hyper closes an idle connection itself and lets a request finish
        // answering (HTTP/2: GOAWAY, then the open streams finish); one that is half-way
        // through a head (or silent) is closed here, as no request of it has started.
        graceful_shutdown(connection.as_mut());
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                () = requests.idle() => {}
            }
            if tokio::time::timeout(SHUTDOWN_FLUSH, connection.as_mut())
                .await
                .is_ok()
                || requests.running() == 0
            {
                return;
            }
        }
    }
}

/// Completes once the connection has had no request in flight and has sent nothing for
/// `timeout`: between keep-alive requests, or before the first byte.
async fn idle(activity: &Activity, requests: &InFlight, timeout: Duration) {
    loop {
        if requests.running() > 0 {
            requests.idle().await;
            // The answer has just been sent: the idle clock starts from it.
            activity.touch();
            continue;
        }
        let due = activity.last() + timeout;
        if Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(due).await;
    }
}

/// When the connection last received bytes or finished an answer.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    /// Set once anything arrived, so the first read need not be compared with `start`.
    seen: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            seen: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(elapsed, Ordering::Relaxed);
        self.seen.store(true, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        if !self.seen.load(Ordering::Relaxed) {
            return self.start;
        }
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// The socket, noting each read that brought bytes as activity (if it has an `activity`).
struct Tracked<S> {
    inner: S,
    activity: Option<Arc<Activity>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some(activity) = &this.activity
            && matches!(poll, Poll::Ready(Ok(())))
            && buf.filled().len() > before
        {
            activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An answer's body, holding its request's place in the connection's count until hyper has
/// sent it all and dropped it.
struct Answering<R> {
    inner: Body,
    _running: R,
}

impl<R> Answering<R> {
    fn new(inner: Body, running: R) -> Self {
        Self {
            inner,
            _running: running,
        }
    }
}

impl<R: Unpin> http_body::Body for Answering<R> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
