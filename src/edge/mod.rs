//! The edge: HTTPS and plain HTTP listeners where edgecert terminates TLS by SNI with the
//! certificates and keys it stores and proxies each custom hostname's requests to its
//! origin, as Cloudflare's edge does for a SaaS zone.

mod origin;
mod page;
mod proxy;
mod routes;
mod served;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use rustls::ServerConfig;
use rustls::server::{Accepted, Acceptor, ResolvesServerCert};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::StartHandshake;
use tokio_rustls::server::TlsStream;

pub use origin::Origins;
pub use routes::{Route, RouteMap, Routes};

/// How long the last re-read of what the edge serves took (routes and certificates, from
/// the store to the maps handshakes use).
pub const EDGE_RELOAD_SECONDS: &str = "edgecert_edge_reload_seconds";
/// The names (hostnames and certificate hosts) the edge serves a certificate for.
pub const EDGE_SERVED_NAMES: &str = "edgecert_edge_served_names";
pub use served::{Resolver, ServedMap};

use self::proxy::{Listener, Proxy};
use crate::AppState;
use crate::config::{EdgeOriginArgs, ServeArgs};
use crate::http::connection::{self, ConnectionLimits, Handshake, Protocol};
use crate::pki::TrustStore;
use crate::store::ChangeFeed;

/// The edge's listeners, bound before the database is touched so a taken port fails fast.
#[derive(Debug, Default)]
pub struct EdgeListeners {
    pub https: Option<TcpListener>,
    pub http: Option<TcpListener>,
}

impl EdgeListeners {
    /// Binds `--edge-listen` and `--edge-http-listen`, those that are set.
    pub async fn bind(args: &ServeArgs) -> anyhow::Result<Self> {
        Ok(Self {
            https: bind(args.edge_listen, "--edge-listen").await?,
            http: bind(args.edge_http_listen, "--edge-http-listen").await?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }
}

async fn bind(address: Option<SocketAddr>, flag: &str) -> anyhow::Result<Option<TcpListener>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} ({flag})"))?;
    Ok(Some(listener))
}

/// What the edge serves with: the resolver over the current [`ServedMap`] and the TLS
/// settings around it, the current [`RouteMap`], and the clients to origins.
#[derive(Debug, Clone)]
pub struct Edge {
    resolver: Arc<Resolver>,
    config: Arc<ServerConfig>,
    routes: Arc<Routes>,
    origins: Arc<Origins>,
    store: Arc<dyn crate::store::Store>,
    reloads: watch::Receiver<Reloaded>,
}

/// What the map being served covers: the change numbers read just before the read that
/// produced it began, so every change numbered up to them is in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// [`crate::app::ServedChanges::sequence`]: changes made through this instance.
    pub local: u64,
    /// [`crate::store::ChangeFeed::sequence`]: reports of changes made elsewhere (0 without
    /// a feed).
    pub feed: u64,
}

impl Reloaded {
    fn now(state: &AppState, feed: Option<&mut ChangeFeed>) -> Self {
        Self {
            local: state.served_changes.sequence(),
            feed: feed.map_or(0, ChangeFeed::sequence),
        }
    }
}

impl Edge {
    /// Loads what the edge serves from the store and keeps it current: at once after every
    /// change made through `state` (see [`crate::app::ServedChanges`]) or reported by the
    /// store's change feed (other instances on the same database), and every `resync` anyway.
    /// The returned task runs until aborted. Origins are reached with
    /// the default settings until [`Edge::with_origins`].
    pub async fn start(
        state: &AppState,
        resync: Duration,
    ) -> anyhow::Result<(Self, tokio::task::JoinHandle<()>)> {
        let resolver = Arc::new(Resolver::new(state.clock.clone()));
        // Listening starts before the first read, so nothing written after it is missed.
        let mut feed = state.store.change_feed();
        let covers = Reloaded::now(state, feed.as_mut());
        let map = ServedMap::load(
            state.store.as_ref(),
            &state.master_key,
            &ServedMap::default(),
            state.clock.now(),
        )
        .await
        .context("cannot read the certificates the edge serves")?;
        tracing::info!(names = map.len(), "edge certificates loaded");
        metrics::gauge!(EDGE_SERVED_NAMES).set(map.len() as f64);
        resolver.replace(map);
        let routes = Arc::new(Routes::default());
        let route_map = RouteMap::load(state.store.as_ref())
            .await
            .context("cannot read the edge's routes")?;
        tracing::info!(hostnames = route_map.len(), "edge routes loaded");
        routes.replace(route_map);
        let (reloaded, reloads) = watch::channel(covers);
        state.served_changes.applied(covers.local);
        let reloader = {
            let resolver = Arc::clone(&resolver);
            let routes = Arc::clone(&routes);
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = state.served_changes.wait() => {}
                        () = changed_elsewhere(feed.as_mut()) => {}
                        () = tokio::time::sleep(resync) => {}
                    }
                    let covers = Reloaded::now(&state, feed.as_mut());
                    let started = std::time::Instant::now();
                    // Routes first: a reload is announced only once both maps are current.
                    routes.reload(state.store.as_ref()).await;
                    let previous = resolver.current();
                    let now = state.clock.now();
                    let loaded = match ServedMap::load(
                        state.store.as_ref(),
                        &state.master_key,
                        &previous,
                        now,
                    )
                    .await
                    {
                        Ok(map) => {
                            metrics::gauge!(EDGE_SERVED_NAMES).set(map.len() as f64);
                            resolver.replace(map);
                            metrics::gauge!(EDGE_RELOAD_SECONDS)
                                .set(started.elapsed().as_secs_f64());
                            true
                        }
                        // The map served so far stays; the next change or resync retries.
                        Err(error) => {
                            tracing::warn!(%error, "cannot reload the edge certificates");
                            false
                        }
                    };
                    // Announced once both maps are current (routes were re-read first).
                    if loaded {
                        state.served_changes.applied(covers.local);
                        reloaded.send_replace(covers);
                    }
                }
            })
        };
        let origins = Origins::new(&EdgeOriginArgs::default(), &state.trust)?;
        Ok((
            Self::with_resolver(resolver, routes, origins, reloads, Arc::clone(&state.store))?,
            reloader,
        ))
    }

    /// Reaches origins as `args` say (SSL mode, timeouts); strict mode verifies them
    /// against `trust`.
    pub fn with_origins(
        mut self,
        args: &EdgeOriginArgs,
        trust: &TrustStore,
    ) -> anyhow::Result<Self> {
        self.origins = Arc::new(Origins::new(args, trust)?);
        Ok(self)
    }

    fn with_resolver(
        resolver: Arc<Resolver>,
        routes: Arc<Routes>,
        origins: Origins,
        reloads: watch::Receiver<Reloaded>,
        store: Arc<dyn crate::store::Store>,
    ) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS settings")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        // HTTP/2 first, as clients prefer it too; HTTP/1.1 for the clients that speak nothing
        // else, or offer no ALPN at all. One that offers only others is refused
        // (no_application_protocol).
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            resolver,
            config: Arc::new(config),
            routes,
            origins: Arc::new(origins),
            reloads,
            store,
        })
    }

    /// The resolver, for looking up what is served for a name now.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Where each hostname is routed now; [`Routes::loads`] tells when a reload is done.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    fn router(&self, listener: Listener) -> Router {
        Router::new().fallback(proxy::handle).with_state(Proxy {
            routes: Arc::clone(&self.routes),
            origins: Arc::clone(&self.origins),
            listener,
            store: Arc::clone(&self.store),
        })
    }

    /// What the map being served covers, updated after each completed reload: wait on it
    /// for a change to be served (a reload that failed publishes nothing).
    pub fn reloads(&self) -> watch::Receiver<Reloaded> {
        self.reloads.clone()
    }
}

/// Completes when the change feed reports a change; never without a feed.
async fn changed_elsewhere(feed: Option<&mut ChangeFeed>) {
    match feed {
        Some(feed) => feed.changed().await,
        None => std::future::pending().await,
    }
}

/// Serves HTTPS on `listener` until `shutdown`, then drains like the API listener.
pub async fn serve_https(
    listener: TcpListener,
    edge: Edge,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = edge.router(Listener::Https);
    connection::serve_with(listener, router, limits, shutdown, Tls(edge)).await
}

/// Serves plain HTTP on `listener` until `shutdown`, then drains like the API listener. The
/// ACME and ownership challenge paths are edgecert's own; everything else is proxied as
/// over HTTPS.
pub async fn serve_http(
    listener: TcpListener,
    edge: Edge,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connection::serve(listener, edge.router(Listener::Http), limits, shutdown).await
}

/// A fatal `unrecognized_name` (112) alert as a plaintext TLS record, sent before any
/// ServerHello to a client whose SNI matches nothing or that sent none.
const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// The TLS handshake of the HTTPS listener.
#[derive(Debug, Clone)]
struct Tls(Edge);

impl Handshake for Tls {
    type Stream = TlsStream<TcpStream>;
    const ANSWERS_PLAIN_HTTP: bool = false;

    fn protocol(stream: &Self::Stream) -> Protocol {
        match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        }
    }

    async fn handshake(&self, mut stream: TcpStream) -> Option<Self::Stream> {
        let accepted = read_client_hello(&mut stream).await?;
        // Decided here rather than by a resolver, whose refusal rustls reports as
        // `access_denied`; and looked up once, so the handshake serves what was found even
        // if the map is replaced meanwhile.
        // The signature schemes the client offered pick between a certificate pack's ECDSA
        // and RSA certificates.
        let hello = accepted.client_hello();
        let chosen = hello
            .server_name()
            .and_then(|name| self.0.resolver.lookup_for(name, hello.signature_schemes()));
        let Some(chosen) = chosen else {
            let _ = stream.write_all(&UNRECOGNIZED_NAME).await;
            return None;
        };
        // A shallow copy: the settings are shared, only the resolver is this connection's.
        let mut config = ServerConfig::clone(&self.0.config);
        config.cert_resolver = Arc::new(Chosen(chosen));
        match StartHandshake::from_parts(accepted, stream)
            .into_stream(Arc::new(config))
            .await
        {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::debug!(%error, "TLS handshake failed");
                None
            }
        }
    }
}

/// The certificate looked up for one connection.
#[derive(Debug)]
struct Chosen(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Chosen {
    fn resolve(
        &self,
        _client_hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// Reads until the ClientHello is complete; `None` (after the alert rustls chose, if any)
/// when the client closed or sent something that is not one.
async fn read_client_hello(stream: &mut TcpStream) -> Option<Accepted> {
    let mut acceptor = Acceptor::default();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        let mut pending = &buffer[..read];
        while !pending.is_empty() {
            match acceptor.read_tls(&mut pending) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Some(accepted),
            Ok(None) => {}
            Err((error, mut alert)) => {
                tracing::debug!(%error, "not a TLS ClientHello");
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = stream.write_all(&out).await;
                return None;
            }
        }
    }
}
