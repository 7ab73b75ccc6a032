//! Requests over the edge, forwarded to the custom hostname's origin as Cloudflare's edge
//! does: Host kept, hop-by-hop headers dropped, the forwarding headers added, bodies
//! streamed both ways, and an HTTP/1.1 upgrade (WebSocket) spliced through.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::connect::capture_connection;
use hyper_util::rt::TokioIo;

use super::origin::{Failure, Origins};
use super::page::{CF_RAY, Problem, ray_id};
use super::routes::{Routes, host_name};
use crate::store::Store;

/// The edge-owned path prefixes of the plain HTTP listener; never proxied.
const ACME_CHALLENGE: &str = "/.well-known/acme-challenge";
const OWNERSHIP_CHALLENGE: &str = "/.well-known/cf-custom-hostname-challenge/";

/// `custom_origin_sni`'s special value: send the request's own host as SNI.
const REQUEST_HOST_SNI: &str = ":request_host_header:";

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Https,
    Http,
}

impl Listener {
    fn scheme(self) -> &'static str {
        match self {
            Listener::Https => "https",
            Listener::Http => "http",
        }
    }
}

/// What the edge's handler runs with.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub routes: Arc<Routes>,
    pub origins: Arc<Origins>,
    pub listener: Listener,
    /// Where ACME challenges are read: any instance sharing the database answers them.
    pub store: Arc<dyn Store>,
}

/// Every request over the edge: edgecert's own paths on plain HTTP, else the origin's.
/// The answer carries `CF-Ray` whichever way it went.
pub async fn handle(State(proxy): State<Proxy>, request: Request) -> Response {
    let ray = ray_id();
    let mut response = proxy.answer(request, &ray).await;
    if let Ok(value) = HeaderValue::from_str(&ray) {
        response.headers_mut().insert(CF_RAY, value);
    }
    response
}

impl Proxy {
    async fn answer(&self, request: Request, ray: &str) -> Response {
        let Some(host) = request_host(&request) else {
            return Problem::NoHost.page(None, ray);
        };
        let path = request.uri().path();
        if self.listener == Listener::Http {
            // edgecert's own: the HTTP-01 answers of managed certificates.
            if path == ACME_CHALLENGE || path.starts_with("/.well-known/acme-challenge/") {
                let token = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .unwrap_or_default();
                return self.acme_challenge(&host, token).await;
            }
            if let Some(id) = path.strip_prefix(OWNERSHIP_CHALLENGE) {
                return self.ownership_challenge(&host, id);
            }
        }
        let routes = self.routes.current();
        let Some(route) = routes.lookup(&host) else {
            return Problem::UnknownHost.page(Some(&host), ray);
        };
        let Some(origin) = route.origin.as_deref() else {
            return Problem::NoOrigin.page(Some(&host), ray);
        };
        let sni = match route.sni.as_deref() {
            Some(REQUEST_HOST_SNI) => Some(host_name(&host).to_string()),
            other => other.map(str::to_string),
        };
        match self
            .forward(request, &host, origin, sni.as_deref(), ray)
            .await
        {
            Ok(response) => response,
            Err(failure) => {
                tracing::debug!(%host, %origin, %failure, ray, "origin request failed");
                Problem::Origin(failure).page(Some(&host), ray)
            }
        }
    }

    /// The HTTP ownership check: the token at the URL the hostname's
    /// `ownership_verification_http.http_url` names, for that hostname only.
    /// The key authorization published for `token`, read from the database (challenges
    /// are rare), and only for the hostname it was ordered for.
    async fn acme_challenge(&self, host: &str, token: &str) -> Response {
        if token.is_empty() || token.contains('/') {
            return no_challenge();
        }
        match self.store.acme_challenge(token).await {
            Ok(Some((hostname, key_authorization)))
                if host_name(host).eq_ignore_ascii_case(&hostname) =>
            {
                plain(StatusCode::OK, key_authorization)
            }
            Ok(_) => no_challenge(),
            Err(error) => {
                tracing::warn!(%error, "cannot read an ACME challenge");
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "edgecert: challenges cannot be read right now\n".into(),
                )
            }
        }
    }

    fn ownership_challenge(&self, host: &str, id: &str) -> Response {
        let routes = self.routes.current();
        match routes.lookup(host) {
            Some(route) if route.hostname_id.to_string() == id => {
                plain(StatusCode::OK, route.ownership_token.to_string())
            }
            _ => no_challenge(),
        }
    }

    async fn forward(
        &self,
        request: Request,
        host: &str,
        origin: &str,
        sni: Option<&str>,
        ray: &str,
    ) -> Result<Response, Failure> {
        let (mut parts, body) = request.into_parts();
        let client_version = parts.version;
        let upgrade = wants_upgrade(parts.version, &parts.headers);
        let client_upgrade = upgrade
            .then(|| parts.extensions.remove::<OnUpgrade>())
            .flatten();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        let uri = self
            .origins
            .uri(origin, parts.uri.path_and_query())
            .ok_or(Failure::Unreachable)?;
        let mut upstream = hyper::Request::new(body);
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = uri;
        // The client's h2 (if any) ends here: origins are spoken to in HTTP/1.1.
        *upstream.version_mut() = Version::HTTP_11;
        *upstream.headers_mut() =
            forwarded_headers(&parts.headers, host, peer, self.listener, ray, upgrade);

        let mut connection = capture_connection(&mut upstream);
        let sent = self.origins.client(sni).request(upstream);
        tokio::pin!(sent);
        // Connecting is bounded by the connector (522/525); the response timeout starts
        // once a connection carries the request.
        let early = tokio::select! {
            result = &mut sent => Some(result),
            // The metadata guard is not `Send`: dropped before anything else is awaited.
            () = async { drop(connection.wait_for_connection_metadata().await) } => None,
        };
        let result = match early {
            Some(result) => result,
            None => tokio::time::timeout(self.origins.response_timeout, &mut sent)
                .await
                .map_err(|_| Failure::ResponseTimedOut)?,
        };
        let mut response = result.map_err(|error| {
            tracing::debug!(error = ?error, "origin request error");
            Failure::of(&error)
        })?;
        let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switched {
            // A 101 to a request that asked for no upgrade cannot be passed on.
            let Some(client_upgrade) = client_upgrade else {
                return Err(Failure::BadGateway);
            };
            let origin_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(splice(client_upgrade, origin_upgrade));
        }
        let (mut parts, body) = response.into_parts();
        remove_hop_by_hop(&mut parts.headers, switched);
        // The client's connection keeps its own version (an HTTP/1.0 origin must not turn
        // off keep-alive towards an HTTP/1.1 client).
        parts.version = client_version;
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// Joins the client's and the origin's upgraded connections until either side closes.
async fn splice(client: OnUpgrade, origin: OnUpgrade) {
    let (client, origin) = match tokio::try_join!(client, origin) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(%error, "upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut origin = TokioIo::new(origin);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut origin).await {
        tracing::debug!(%error, "upgraded connection ended with an error");
    }
}

/// The host the request is for: `Host`, else (h2) the `:authority`, without userinfo.
fn request_host(request: &Request) -> Option<String> {
    if let Some(host) = request.headers().get(header::HOST) {
        return host
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(str::to_string);
    }
    let authority = request.uri().authority()?;
    Some(match authority.port() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_string(),
    })
}

/// An HTTP/1.1 request asking to switch protocols (`Connection: upgrade` and `Upgrade`).
fn wants_upgrade(version: Version, headers: &HeaderMap) -> bool {
    version == Version::HTTP_11
        && headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|token| token.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Removes the headers that describe one connection, not the message (RFC 9110 §7.6.1):
/// `Connection` and those it names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`,
/// `Upgrade` and every `Proxy-*`. For an upgrade, `Connection: upgrade` and `Upgrade` stay.
fn remove_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in named {
        if !(upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// The request headers the origin gets: the client's, less hop-by-hop ones, with `Host` as
/// the client sent it and the headers Cloudflare adds (the client cannot forge those:
/// they are replaced, and `X-Forwarded-For` is appended to).
fn forwarded_headers(
    incoming: &HeaderMap,
    host: &str,
    peer: Option<IpAddr>,
    listener: Listener,
    ray: &str,
    upgrade: bool,
) -> HeaderMap {
    let mut headers = incoming.clone();
    remove_hop_by_hop(&mut headers, upgrade);
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::HOST, host);
    let scheme = listener.scheme();
    set(HeaderName::from_static("x-forwarded-proto"), scheme);
    set(
        HeaderName::from_static("cf-visitor"),
        &format!("{{\"scheme\":\"{scheme}\"}}"),
    );
    set(HeaderName::from_static(CF_RAY), ray);
    if let Some(peer) = peer {
        let peer = peer.to_canonical().to_string();
        let mut chain: Vec<&str> = incoming
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .collect();
        chain.push(&peer);
        set(
            HeaderName::from_static("x-forwarded-for"),
            &chain.join(", "),
        );
        set(HeaderName::from_static("cf-connecting-ip"), &peer);
    }
    headers
}

fn no_challenge() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "edgecert: no such challenge\n".into(),
    )
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let incoming = headers(&[
            ("host", "App.Example.com:443"),
            ("connection", "keep-alive, X-Hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic eA=="),
            ("proxy-connection", "keep-alive"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "198.51.100.2"),
            ("cf-connecting-ip", "192.0.2.1"),
            ("accept", "text/html"),
        ]);
        let peer = Some("127.0.0.1".parse().expect("ip"));
        let out = forwarded_headers(
            &incoming,
            "App.Example.com:443",
            peer,
            Listener::Https,
            "0123456789abcdef-EDG",
            false,
        );
        for gone in [
            "connection",
            "x-hop",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "proxy-connection",
        ] {
            assert!(!out.contains_key(gone), "{gone} kept");
        }
        assert_eq!(out["host"], "App.Example.com:443");
        assert_eq!(out["accept"], "text/html");
        assert_eq!(
            out["x-forwarded-for"],
            "203.0.113.7, 198.51.100.2, 127.0.0.1"
        );
        assert_eq!(out["cf-connecting-ip"], "127.0.0.1");
        assert_eq!(out["x-forwarded-proto"], "https");
        assert_eq!(out["cf-visitor"], r#"{"scheme":"https"}"#);
        assert_eq!(out["cf-ray"], "0123456789abcdef-EDG");
    }

    #[test]
    fn an_upgrade_keeps_its_connection_and_upgrade_headers() {
        let incoming = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert!(wants_upgrade(Version::HTTP_11, &incoming));
        assert!(!wants_upgrade(Version::HTTP_10, &incoming));
        assert!(!wants_upgrade(
            Version::HTTP_11,
            &headers(&[("upgrade", "websocket")])
        ));
        let out = forwarded_headers(&incoming, "a.example.com", None, Listener::Http, "r", true);
        assert_eq!(out["connection"], "upgrade");
        assert_eq!(out["upgrade"], "websocket");
        assert_eq!(out["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert!(!out.contains_key("x-forwarded-for"));
    }

    #[test]
    fn the_host_comes_from_host_else_the_authority() {
        let request = |uri: &str, host: Option<&str>| {
            let mut builder = axum::http::Request::builder().uri(uri);
            if let Some(host) = host {
                builder = builder.header("host", host);
            }
            builder.body(Body::empty()).expect("request")
        };
        assert_eq!(
            request_host(&request("/", Some("App.example.com:8443"))).as_deref(),
            Some("App.example.com:8443")
        );
        assert_eq!(
            request_host(&request("https://user@app.example.com:8443/x", None)).as_deref(),
            Some("app.example.com:8443")
        );
        assert_eq!(
            request_host(&request("https://app.example.com/x", None)).as_deref(),
            Some("app.example.com")
        );
        assert_eq!(request_host(&request("/", None)), None);
    }
}
