//! The harness of the edge proxy tests (tests/api/edge_proxy.rs): the edge on both
//! listeners, origins (small HTTP/1.1 servers, bound before use, that record every request
//! head and the SNI it came with), and a hyper client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::common::{Backend, TestApp, ZONE, zone_hostnames};
use crate::testca::TestCa;
use edgecert::config::{EdgeOriginArgs, ServeArgs};
use edgecert::http::connection::ConnectionLimits;

/// Longer than anything here takes on a loaded machine; reached only when the behaviour
/// under test is broken (a hang), so a failure is reported instead of waiting forever.
pub const WITHIN: Duration = Duration::from_secs(30);

pub type TestBody = BoxBody<Bytes, Infallible>;

/// A request head as the origin received it.
#[derive(Debug)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    /// The SNI of the TLS connection it came over (`None` over plain TCP or without SNI).
    pub sni: Option<String>,
}

type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<TestBody>> + Send>>
        + Send
        + Sync,
>;

/// What an origin answers: `handler(request)` for each request.
pub fn handler<F, Fut>(handler: F) -> Handler
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    Arc::new(move |request| Box::pin(handler(request)))
}

/// An origin that answers every request with `200` and `body`.
pub fn answering(body: &'static str) -> Handler {
    handler(move |_| async move { text(StatusCode::OK, body) })
}

pub fn text(status: StatusCode, body: &str) -> Response<TestBody> {
    let mut response = Response::new(full(body.as_bytes().to_vec()));
    *response.status_mut() = status;
    response
}

pub fn full(bytes: Vec<u8>) -> TestBody {
    Full::new(Bytes::from(bytes)).boxed()
}

pub fn empty() -> TestBody {
    full(Vec::new())
}

/// A test HTTP/1.1 origin (upgrades allowed), stopped when dropped.
pub struct Origin {
    pub addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub async fn plain(handler: Handler) -> Self {
        Self::start(None, handler).await
    }

    /// Over TLS with `config`, recording each connection's SNI.
    pub async fn tls(config: Arc<ServerConfig>, handler: Handler) -> Self {
        Self::start(Some(config), handler).await
    }

    async fn start(tls: Option<Arc<ServerConfig>>, handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        let (record, seen) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (handler, record, tls) = (handler.clone(), record.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(tcp, None, handler, record).await,
                        Some(config) => {
                            let acceptor = tokio_rustls::LazyConfigAcceptor::new(
                                rustls::server::Acceptor::default(),
                                tcp,
                            );
                            let Ok(start) = acceptor.await else { return };
                            let sni = start.client_hello().server_name().map(str::to_string);
                            let Ok(stream) = start.into_stream(config).await else {
                                return;
                            };
                            serve(stream, sni, handler, record).await;
                        }
                    }
                });
            }
        });
        Self { addr, seen, task }
    }

    /// The next request head that reached the origin.
    pub async fn next(&mut self) -> Seen {
        tokio::time::timeout(WITHIN, self.seen.recv())
            .await
            .expect("a request reaches the origin")
            .expect("origin running")
    }

    /// Whether no request has reached the origin beyond those already taken.
    pub fn saw_nothing_more(&mut self) -> bool {
        self.seen.try_recv().is_err()
    }
}

async fn serve<S>(
    stream: S,
    sni: Option<String>,
    handler: Handler,
    record: mpsc::UnboundedSender<Seen>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let _ = record.send(Seen {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            sni: sni.clone(),
        });
        let answer = handler(request);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

/// TLS settings for an origin serving `bundle_pem` with `key_pem`.
pub fn origin_tls(bundle_pem: &str, key_pem: &str) -> Arc<ServerConfig> {
    let chain = CertificateDer::pem_slice_iter(bundle_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key");
    Arc::new(config)
}

/// An HTTP/1.1 client connection over `stream` (upgrades allowed).
pub async fn http1<S>(stream: S) -> SendRequest<TestBody>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    sender
}

/// A request for `path` with `Host: host`.
pub fn request(method: Method, host: &str, path: &str, body: TestBody) -> Request<TestBody> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .body(body)
        .expect("request")
}

/// Sends `request` and reads the whole answer.
pub async fn exchange(
    sender: &mut SendRequest<TestBody>,
    request: Request<TestBody>,
) -> (Response<()>, String) {
    let answer = tokio::time::timeout(WITHIN, async {
        // The previous answer may still be finishing on this connection.
        sender
            .ready()
            .await
            .expect("the connection stays open for another request");
        let response = sender.send_request(request).await.expect("an answer");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the body").to_bytes();
        (Response::from_parts(parts, ()), body)
    })
    .await
    .expect("answered in time");
    (answer.0, String::from_utf8_lossy(&answer.1).into_owned())
}

/// A body fed chunk by chunk through a channel, so a test decides when each part is sent.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// The edge's HTTPS and plain HTTP listeners over the app's state, stopped when dropped.
pub struct EdgeUnderTest {
    pub https: SocketAddr,
    pub http: SocketAddr,
    pub edge: edgecert::edge::Edge,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for EdgeUnderTest {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts an edge reaching origins as `origins` says. The resync is an hour: every reload in
/// these tests is one a change through the API asked for.
pub async fn start_edge(app: &TestApp, origins: &EdgeOriginArgs) -> EdgeUnderTest {
    let https_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (https, http) = (
        https_listener.local_addr().expect("address"),
        http_listener.local_addr().expect("address"),
    );
    let (edge, reloader) = edgecert::edge::Edge::start(&app.state, Duration::from_secs(3600))
        .await
        .expect("edge starts");
    let edge = edge
        .with_origins(origins, &app.state.trust)
        .expect("origin settings");
    let limits = ConnectionLimits::from_args(&app.args);
    let serving_https = {
        let (edge, limits) = (edge.clone(), limits.clone());
        tokio::spawn(async move {
            let _ =
                edgecert::edge::serve_https(https_listener, edge, limits, std::future::pending())
                    .await;
        })
    };
    let serving_http = {
        let edge = edge.clone();
        tokio::spawn(async move {
            let _ = edgecert::edge::serve_http(http_listener, edge, limits, std::future::pending())
                .await;
        })
    };
    EdgeUnderTest {
        https,
        http,
        edge,
        tasks: vec![reloader, serving_https, serving_http],
    }
}

pub fn flexible() -> EdgeOriginArgs {
    EdgeOriginArgs::default()
}

/// An app that trusts `ca` (the edge's certificates and, in strict mode, origins').
pub async fn app_trusting(
    backend: Backend,
    ca: &TestCa,
    configure: impl FnOnce(&mut ServeArgs),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.root_pem()).expect("write roots");
    TestApp::with(backend, |args| {
        args.trust_roots = Some(path.clone());
        configure(args);
    })
    .await
}

/// Creates a custom hostname with `fields` (origin settings) and, with `ca`, a certificate
/// the edge serves it with. Returns the API's view of it.
pub async fn hostname(app: &TestApp, name: &str, ca: Option<&TestCa>, fields: Value) -> Value {
    let mut body = json!({ "hostname": name });
    if let Some(ca) = ca {
        let (bundle, key) = ca.issue_with_new_key(&[name], 90);
        body["ssl"] = json!({ "custom_certificate": bundle, "custom_key": key });
    }
    if let (Value::Object(body), Value::Object(fields)) = (&mut body, fields) {
        body.extend(fields);
    }
    app.post(&zone_hostnames(ZONE), &body)
        .await
        .assert_success(StatusCode::CREATED)
        .clone()
}

pub fn fallback_path() -> String {
    format!("{}/fallback_origin", zone_hostnames(ZONE))
}

pub async fn set_fallback(app: &TestApp, origin: &str) {
    app.put(&fallback_path(), &json!({ "origin": origin }))
        .await
        .assert_success(StatusCode::OK);
}

/// A client connection over plain HTTP to the edge.
pub async fn over_http(edge: &EdgeUnderTest) -> hyper::client::conn::http1::SendRequest<TestBody> {
    http1(TcpStream::connect(edge.http).await.expect("connect")).await
}

/// A client connection over HTTPS to the edge with SNI `name`, verifying the test CA.
pub async fn over_https(
    edge: &EdgeUnderTest,
    ca: &TestCa,
    name: &str,
) -> hyper::client::conn::http1::SendRequest<TestBody> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.root_pem().as_bytes()).expect("root PEM"))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(edge.https).await.expect("connect");
    let name = ServerName::try_from(name.to_string()).expect("server name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the edge");
    http1(tls).await
}

#[track_caller]
pub fn assert_ray(value: Option<&axum::http::HeaderValue>) -> String {
    let ray = value
        .expect("a CF-Ray")
        .to_str()
        .expect("ASCII")
        .to_string();
    let (hex, code) = ray.split_once('-').expect("NNN-EDG");
    assert_eq!(code, "EDG", "{ray}");
    assert!(
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{ray}"
    );
    ray
}

/// Waits (on the edge's reload events, not a clock) until `host` routes to `origin`.
pub async fn routed(edge: &EdgeUnderTest, host: &str, origin: Option<&str>) {
    let mut loads = edge.edge.routes().loads();
    tokio::time::timeout(WITHIN, async {
        loop {
            let current = edge.edge.routes().current();
            if current.lookup(host).map(|route| route.origin.as_deref()) == Some(origin) {
                return;
            }
            loads.changed().await.expect("the edge reloads");
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!("{host} never routed to {origin:?}: the change did not reach the edge")
    });
}

/// A listener whose accept queue is full, so the kernel drops further SYNs: a connect to it
/// neither succeeds nor fails until the client gives up. Returns the listener and the
/// connections that fill its queue (both must live as long as the test needs it full).
pub async fn full_backlog() -> (TcpListener, Vec<TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    // Linux queues backlog + 1 connections; the next SYN is dropped (tcp_syncookies or not).
    let listener = socket.listen(1).expect("listen");
    let address = listener.local_addr().expect("address");
    let mut fillers = Vec::new();
    for _ in 0..2 {
        fillers.push(TcpStream::connect(address).await.expect("queued"));
    }
    // A filler's last handshake ACK may still be on its way through loopback when connect
    // returns; until the kernel has queued both, a third SYN could still be answered.
    let deadline = std::time::Instant::now() + WITHIN;
    while accept_queue(address.port()) != Some(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the accept queue of {address} never held both connections (/proc/net/tcp)"
        );
        tokio::task::yield_now().await;
    }
    (listener, fillers)
}

/// How many connections wait in the accept queue of the IPv4 listener on `port`: a listening
/// socket's `rx_queue` in /proc/net/tcp.
fn accept_queue(port: u16) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (_, local_port) = fields.get(1)?.split_once(':')?;
        let listening = fields.get(3) == Some(&"0A");
        if !listening || u16::from_str_radix(local_port, 16).ok()? != port {
            return None;
        }
        let (_, queued) = fields.get(4)?.split_once(':')?;
        u32::from_str_radix(queued, 16).ok()
    })
}
