//! HTTP/2 on the edge: ALPN `h2` is preferred and answered with hyper's HTTP/2 server,
//! `http/1.1` still works, and HTTP/2 connections keep the HTTP/1.1 guarantees: shutdown
//! drains them (GOAWAY, then the streams in flight finish), idle ones are closed however
//! often the client pings.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;

use crate::common::{Backend, TestApp};
use crate::edge::{app_trusting, client, http_over, upload_hostname};
use crate::on_both_backends;
use crate::testca::TestCa;
use edgecert::http::connection::{self, ConnectionLimits, Handshake, Protocol};
use edgecert::http::limits::BodyReadLimits;

on_both_backends!(
    h2_is_preferred_and_http1_still_works,
    shutdown_sends_goaway_to_an_idle_h2_connection,
);

/// A bound for events that come at once; only a hung server waits it out.
const PROMPTLY: StdDuration = StdDuration::from_secs(10);

/// An edge HTTPS server over `app` that stops when the returned sender fires (or drops).
async fn edge_with_shutdown(
    app: &TestApp,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (edge, reloader) = edgecert::edge::Edge::start(&app.state, crate::edge::NO_RESYNC)
        .await
        .expect("edge starts");
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = ConnectionLimits::from_args(&app.args);
    let server = tokio::spawn(edgecert::edge::serve_https(listener, edge, limits, async {
        let _ = stopped.await;
    }));
    (address, stop, server, reloader)
}

/// A TLS connection to `address` for `name` offering exactly `alpn`.
async fn tls(
    address: std::net::SocketAddr,
    ca: &TestCa,
    name: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let connector = client(ca);
    let mut config = connector.config().as_ref().clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(address).await.expect("connect");
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_string()).expect("name"), tcp)
        .await
        .expect("handshake")
}

type H2Sender = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An HTTP/2 client over `io`; the task drives the connection and ends with it.
async fn h2_client<I>(io: I) -> (H2Sender, tokio::task::JoinHandle<hyper::Result<()>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
    // A ping every 50 ms: pings must not count as activity that keeps a connection open.
    builder
        .timer(TokioTimer::new())
        .keep_alive_interval(StdDuration::from_millis(50))
        .keep_alive_while_idle(true);
    let (sender, connection) = builder
        .handshake(TokioIo::new(io))
        .await
        .expect("HTTP/2 handshake");
    (sender, tokio::spawn(connection))
}

async fn get_text(sender: &mut H2Sender, uri: &str) -> (u16, String) {
    let request = hyper::Request::get(uri)
        .body(Empty::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn h2_is_preferred_and_http1_still_works(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    upload_hostname(&app, &ca, "h2.example.com", "p256v1").await;
    let (address, _stop, _server, reloader) = edge_with_shutdown(&app).await;
    let _reloader = AbortOnDrop(reloader);

    // Offered both, the edge picks h2 and answers over it.
    let stream = tls(address, &ca, "h2.example.com", &[b"http/1.1", b"h2"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, _connection) = h2_client(stream).await;
    let (status, body) = get_text(&mut sender, "https://h2.example.com/").await;
    // Proxied: the hostname has no origin, so the edge's own 530 page (error 1016), which
    // needs the host: over h2 it came as the authority, not as Host.
    assert_eq!(status, 530, "{body}");
    assert!(body.contains("1016"), "{body}");
    // Streams share the connection.
    let (status, _) = get_text(&mut sender, "https://h2.example.com/again").await;
    assert_eq!(status, 530);

    // A client that speaks only HTTP/1.1, or offers no ALPN at all, gets HTTP/1.1.
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let mut stream = tls(address, &ca, "h2.example.com", alpn).await;
        let agreed = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        assert_eq!(agreed, alpn.first().map(|p| p.to_vec()));
        let answer = http_over(&mut stream, "h2.example.com").await;
        assert!(answer.starts_with("HTTP/1.1 530 "), "{answer}");
    }
}

async fn shutdown_sends_goaway_to_an_idle_h2_connection(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    upload_hostname(&app, &ca, "bye.example.com", "p256v1").await;
    let (address, stop, server, reloader) = edge_with_shutdown(&app).await;
    let _reloader = AbortOnDrop(reloader);
    let stream = tls(address, &ca, "bye.example.com", &[b"h2"]).await;
    let (mut sender, connection) = h2_client(stream).await;
    let (status, _) = get_text(&mut sender, "https://bye.example.com/").await;
    assert_eq!(status, 530);

    stop.send(()).expect("the server is running");
    // The client is told to go away and the connection ends cleanly; the server returns.
    let ended = tokio::time::timeout(PROMPTLY, connection)
        .await
        .expect("the connection ends")
        .expect("the client task");
    assert!(ended.is_ok(), "{ended:?}");
    tokio::time::timeout(PROMPTLY, server)
        .await
        .expect("the server returns")
        .expect("the server task")
        .expect("the server");
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Plain TCP that speaks HTTP/2 from the first byte (prior knowledge), so the connection
/// server's HTTP/2 path can be driven with a router of the test's own.
#[derive(Clone)]
struct H2c;

impl Handshake for H2c {
    type Stream = TcpStream;
    const ANSWERS_PLAIN_HTTP: bool = false;

    async fn handshake(&self, stream: TcpStream) -> Option<TcpStream> {
        Some(stream)
    }

    fn protocol(_stream: &TcpStream) -> Protocol {
        Protocol::Http2
    }
}

/// A router whose `/slow` reports that it started, then answers only once shutdown has
/// begun: an answer that must survive the drain.
fn slow_router(started: mpsc::UnboundedSender<()>) -> Router {
    Router::new().route(
        "/slow",
        get(move |request: Request<Body>| {
            let started = started.clone();
            async move {
                let mut draining = request
                    .extensions()
                    .get::<BodyReadLimits>()
                    .expect("the connection server's limits")
                    .draining
                    .clone();
                let _ = started.send(());
                let _ = draining.wait_for(|draining| *draining).await;
                "drained"
            }
        }),
    )
}

fn limits(idle_timeout: StdDuration) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: StdDuration::from_secs(10),
        body_read_timeout: StdDuration::from_secs(10),
        idle_timeout,
        max_connections: 16,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_h2_stream_in_flight_finish() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(connection::serve_with(
        listener,
        slow_router(started_tx),
        limits(StdDuration::from_secs(60)),
        async {
            let _ = stopped.await;
        },
        H2c,
    ));
    let (mut sender, connection) =
        h2_client(TcpStream::connect(address).await.expect("connect")).await;
    let request = hyper::Request::get("http://h2c.test/slow")
        .body(Empty::new())
        .expect("request");
    let answer = tokio::spawn(sender.send_request(request));
    started.recv().await.expect("the handler started");

    stop.send(()).expect("the server is running");
    // The handler answers only after draining began, and the answer arrives whole.
    let response = tokio::time::timeout(PROMPTLY, answer)
        .await
        .expect("an answer")
        .expect("the request task")
        .expect("the stream was not cut off");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"drained");
    // Then the connection ends cleanly (GOAWAY), and so does the server.
    let ended = tokio::time::timeout(PROMPTLY, connection)
        .await
        .expect("the connection ends")
        .expect("the client task");
    assert!(ended.is_ok(), "{ended:?}");
    tokio::time::timeout(PROMPTLY, server)
        .await
        .expect("the server returns")
        .expect("the server task")
        .expect("the server");
    let request = hyper::Request::get("http://h2c.test/slow")
        .body(Empty::new())
        .expect("request");
    assert!(
        sender.send_request(request).await.is_err(),
        "a closed connection takes no new stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_h2_connection_is_closed_although_its_client_pings() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (started_tx, _started) = mpsc::unbounded_channel();
    let _server = AbortOnDrop(tokio::spawn(async move {
        let _ = connection::serve_with(
            listener,
            slow_router(started_tx),
            limits(StdDuration::from_secs(1)),
            std::future::pending(),
            H2c,
        )
        .await;
    }));
    // The client pings every 50 ms (see `h2_client`), twenty times per idle timeout.
    let (_sender, connection) =
        h2_client(TcpStream::connect(address).await.expect("connect")).await;
    let ended = tokio::time::timeout(PROMPTLY, connection)
        .await
        .expect("the idle connection is closed")
        .expect("the client task");
    assert!(ended.is_ok(), "closed with GOAWAY, not cut: {ended:?}");
}
