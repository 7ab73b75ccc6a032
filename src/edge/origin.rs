//! The edge's connections to origins: a pooled HTTP/1.1 client per upstream SNI, over plain
//! TCP or rustls as the zone SSL mode says, and the failures Cloudflare answers with 52x.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::http::Uri;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{EdgeOriginArgs, OriginSsl};
use crate::pki::TrustStore;

/// Why a request could not be answered by its origin; each is one of Cloudflare's 5xx
/// answers (see `page`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// 521: every address of the origin refused the connection.
    #[error("the origin refused the connection")]
    Refused,
    /// 522: no connection within the connect timeout.
    #[error("connecting to the origin timed out")]
    ConnectTimedOut,
    /// 523: the origin's name does not resolve, or there is no route to it.
    #[error("the origin is unreachable")]
    Unreachable,
    /// 524: connected, but no answer head within the response timeout.
    #[error("the origin did not answer in time")]
    ResponseTimedOut,
    /// 525: the TLS handshake with the origin failed.
    #[error("the TLS handshake with the origin failed")]
    TlsHandshake,
    /// 526: in strict mode, the origin's certificate did not verify.
    #[error("the origin's certificate is not valid")]
    InvalidCertificate,
    /// 502: the origin closed or reset the connection, or did not speak HTTP.
    #[error("the origin's answer was cut short or was not HTTP")]
    BadGateway,
}

impl Failure {
    /// What a failed request to the origin counts as: a connector failure as it was
    /// classified, anything after the connection was made as a bad gateway.
    pub fn of(error: &hyper_util::client::legacy::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(failure) = cause.downcast_ref::<Failure>() {
                return *failure;
            }
            source = cause.source();
        }
        if error.is_connect() {
            Failure::Unreachable
        } else {
            Failure::BadGateway
        }
    }
}

pub type OriginClient = Client<Connector, Body>;

/// Clients to origins in the configured SSL mode; cheap to share.
pub struct Origins {
    ssl: OriginSsl,
    connect_timeout: Duration,
    pub(super) response_timeout: Duration,
    tls: Option<TlsConnector>,
    /// The pool is keyed by scheme and authority only, so connections made with one SNI must
    /// not be reused for another: one client per upstream SNI (`None`: the origin's host).
    clients: Mutex<HashMap<Option<String>, OriginClient>>,
}

impl std::fmt::Debug for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origins")
            .field("ssl", &self.ssl)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl Origins {
    /// Strict mode verifies origins against `trust`: the roots uploads are checked against
    /// (Mozilla's unless `--no-public-roots`, plus EDGECERT_TRUST_ROOTS).
    pub fn new(args: &EdgeOriginArgs, trust: &TrustStore) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = || {
            ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .context("TLS settings for origins")
        };
        let config = match args.ssl {
            OriginSsl::Flexible => None,
            OriginSsl::Full => Some(
                builder()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(Arc::clone(
                        &provider,
                    ))))
                    .with_no_client_auth(),
            ),
            OriginSsl::Strict => {
                if trust.is_empty() {
                    anyhow::bail!(
                        "--edge-origin-ssl strict needs roots to verify origins with: set \
                         EDGECERT_TRUST_ROOTS or drop --no-public-roots"
                    );
                }
                let roots = RootCertStore {
                    roots: trust.anchors().to_vec(),
                };
                Some(
                    builder()?
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                )
            }
        };
        let tls = config.map(|mut config| {
            // The edge speaks HTTP/1.1 to origins.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            TlsConnector::from(Arc::new(config))
        });
        Ok(Self {
            ssl: args.ssl,
            connect_timeout: args.connect_timeout,
            response_timeout: args.response_timeout,
            tls,
            clients: Mutex::default(),
        })
    }

    /// The URI of `path` at `origin` (`host` or `host:port`, the port defaulting to the
    /// mode's); `None` when `origin` is no host.
    pub fn uri(&self, origin: &str, path: Option<&PathAndQuery>) -> Option<Uri> {
        let (scheme, port) = match self.ssl {
            OriginSsl::Flexible => (Scheme::HTTP, 80),
            OriginSsl::Full | OriginSsl::Strict => (Scheme::HTTPS, 443),
        };
        let authority = authority(origin, port)?;
        Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(path.map_or("/", PathAndQuery::as_str))
            .build()
            .ok()
    }

    /// The client whose connections carry `sni` (`None`: the origin's host).
    pub fn client(&self, sni: Option<&str>) -> OriginClient {
        // Plain HTTP has no SNI: one pool for all.
        let key = self.tls.as_ref().and(sni).map(str::to_string);
        let mut clients = match self.clients.lock() {
            Ok(clients) => clients,
            Err(poisoned) => poisoned.into_inner(),
        };
        clients
            .entry(key.clone())
            .or_insert_with(|| {
                let connector = Connector {
                    tls: self.tls.clone(),
                    sni: key.and_then(|name| ServerName::try_from(name).ok()),
                    connect_timeout: self.connect_timeout,
                };
                Client::builder(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .pool_timer(TokioTimer::new())
                    // The proxy sets Host itself, as the client sent it.
                    .set_host(false)
                    .build(connector)
            })
            .clone()
    }
}

/// `origin` as a URI authority with an explicit port; IPv6 addresses are bracketed.
fn authority(origin: &str, default_port: u16) -> Option<Authority> {
    let origin = origin.trim();
    let with_port = if origin.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{origin}]:{default_port}")
    } else if origin.starts_with('[') {
        if origin.ends_with(']') {
            format!("{origin}:{default_port}")
        } else {
            origin.to_string()
        }
    } else if origin.contains(':') {
        origin.to_string()
    } else {
        format!("{origin}:{default_port}")
    };
    let authority: Authority = with_port.parse().ok()?;
    // No userinfo, path or empty host: an origin is a host and a port only.
    (authority.port_u16().is_some()
        && !authority.as_str().contains('@')
        && !authority.host().is_empty())
    .then_some(authority)
}

/// Opens connections to origins: resolve, TCP connect within the timeout, then TLS if the
/// mode says so. Failures are classified here, where the cause is still known.
#[derive(Clone)]
pub struct Connector {
    tls: Option<TlsConnector>,
    sni: Option<ServerName<'static>>,
    connect_timeout: Duration,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<OriginStream>;
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Failure>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(uri).await.map(TokioIo::new) })
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> Result<OriginStream, Failure> {
        let host = uri
            .host()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .ok_or(Failure::Unreachable)?
            .to_string();
        let port = uri.port_u16().ok_or(Failure::Unreachable)?;
        let tcp = tokio::time::timeout(self.connect_timeout, tcp_connect(&host, port))
            .await
            .map_err(|_| Failure::ConnectTimedOut)??;
        // Small writes (a request head) go out at once.
        let _ = tcp.set_nodelay(true);
        let Some(tls) = self.tls else {
            return Ok(OriginStream::Plain(tcp));
        };
        let name = match self.sni {
            Some(name) => name,
            None => ServerName::try_from(host).map_err(|_| Failure::TlsHandshake)?,
        };
        // A handshake the origin never finishes is a failed handshake, within the same bound.
        let stream = tokio::time::timeout(self.connect_timeout, tls.connect(name, tcp))
            .await
            .map_err(|_| Failure::TlsHandshake)?
            .map_err(|error| tls_failure(&error))?;
        Ok(OriginStream::Tls(Box::new(stream)))
    }
}

/// Tries each address the name resolves to, in order; refused only if every one refused.
async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, Failure> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| {
            tracing::debug!(%host, %error, "origin name does not resolve");
            Failure::Unreachable
        })?
        .collect();
    let mut failure = Failure::Unreachable;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => {
                tracing::debug!(%address, %error, "cannot connect to the origin");
                failure = connect_failure(&error);
            }
        }
    }
    Err(failure)
}

fn connect_failure(error: &io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Failure::Refused,
        io::ErrorKind::TimedOut => Failure::ConnectTimedOut,
        _ => Failure::Unreachable,
    }
}

fn tls_failure(error: &io::Error) -> Failure {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    tracing::debug!(%error, "TLS handshake with the origin failed");
    match tls {
        Some(rustls::Error::InvalidCertificate(_)) => Failure::InvalidCertificate,
        _ => Failure::TlsHandshake,
    }
}

/// `full` mode: any certificate is taken (as Cloudflare's Full mode does), but the
/// handshake signatures are still checked, so the connection is encrypted to its holder.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connection to an origin, plain or TLS.
pub enum OriginStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for OriginStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for OriginStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            OriginStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for OriginStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            OriginStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            OriginStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            OriginStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            OriginStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(ssl: OriginSsl) -> Origins {
        let args = EdgeOriginArgs {
            ssl,
            ..EdgeOriginArgs::default()
        };
        let trust = TrustStore::new(true, None).expect("public roots");
        Origins::new(&args, &trust).expect("origins")
    }

    #[test]
    fn origins_may_carry_a_port_and_default_to_the_modes() {
        let path: PathAndQuery = "/a/b?c=d".parse().expect("path");
        let flexible = origins(OriginSsl::Flexible);
        let full = origins(OriginSsl::Full);
        let uri = |origins: &Origins, origin: &str| {
            origins.uri(origin, Some(&path)).map(|uri| uri.to_string())
        };
        assert_eq!(
            uri(&flexible, "localhost:3000").as_deref(),
            Some("http://localhost:3000/a/b?c=d")
        );
        assert_eq!(
            uri(&flexible, "origin.example.com").as_deref(),
            Some("http://origin.example.com:80/a/b?c=d")
        );
        assert_eq!(
            uri(&full, "origin.example.com").as_deref(),
            Some("https://origin.example.com:443/a/b?c=d")
        );
        assert_eq!(
            uri(&full, "127.0.0.1:9000").as_deref(),
            Some("https://127.0.0.1:9000/a/b?c=d")
        );
        assert_eq!(
            uri(&flexible, "::1").as_deref(),
            Some("http://[::1]:80/a/b?c=d")
        );
        assert_eq!(
            uri(&flexible, "[::1]:8080").as_deref(),
            Some("http://[::1]:8080/a/b?c=d")
        );
        for bad in ["", "user@host:80", "host:http", "host:80/path", "a b"] {
            assert_eq!(uri(&flexible, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn strict_mode_needs_roots() {
        let args = EdgeOriginArgs {
            ssl: OriginSsl::Strict,
            ..EdgeOriginArgs::default()
        };
        let empty = TrustStore::new(false, None).expect("no roots");
        let error = Origins::new(&args, &empty).expect_err("refused");
        assert!(
            error.to_string().contains("EDGECERT_TRUST_ROOTS"),
            "{error}"
        );
    }

    #[test]
    fn connect_errors_are_classified_like_cloudflare() {
        let kind = |kind| connect_failure(&io::Error::from(kind));
        assert_eq!(kind(io::ErrorKind::ConnectionRefused), Failure::Refused);
        assert_eq!(kind(io::ErrorKind::TimedOut), Failure::ConnectTimedOut);
        assert_eq!(kind(io::ErrorKind::HostUnreachable), Failure::Unreachable);
        assert_eq!(
            kind(io::ErrorKind::NetworkUnreachable),
            Failure::Unreachable
        );
        let certificate = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(tls_failure(&certificate), Failure::InvalidCertificate);
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert_eq!(tls_failure(&alert), Failure::TlsHandshake);
        let closed = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(tls_failure(&closed), Failure::TlsHandshake);
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_unreachable() {
        // `.invalid` never resolves (RFC 6761), so no DNS server is needed to fail.
        let failure = tcp_connect("origin.invalid", 80).await.expect_err("fails");
        assert_eq!(failure, Failure::Unreachable);
    }
}
