//! The edge's HTTPS listener: TLS terminated by SNI with the stored certificates and keys,
//! checked by an independent client (rustls, verifying against the test CA), and kept
//! current as uploads, deletes and priorities change.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{AlertDescription, ClientConfig, RootCertStore};
use serde_json::json;
use time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use edgecert::AppState;
use edgecert::config::ServeArgs;
use edgecert::edge::Reloaded;
use tokio::sync::watch;

use crate::common::{Backend, TestApp, ZONE, csr_body, zone_certificates, zone_hostnames};
use crate::on_both_backends;
use crate::testca::TestCa;
use edgecert::http::connection::ConnectionLimits;

on_both_backends!(
    hostname_certificates_are_served_for_both_key_types,
    a_wildcard_hostname_matches_one_label,
    custom_certificates_are_served_by_priority,
    staging_certificates_are_not_served_by_the_production_edge,
    unknown_or_missing_sni_is_refused_with_unrecognized_name,
    changes_are_served_without_a_restart,
);

/// How long a change may take to reach the edge: what edgecert promises, and asserted by
/// waiting for the edge's reload event with this timeout.
pub(crate) const SERVED_WITHIN: StdDuration = StdDuration::from_secs(1);

/// So long that no test can see a resync: only change events explain what they observe.
pub(crate) const NO_RESYNC: StdDuration = StdDuration::from_secs(3600);

/// An edge HTTPS listener over an app's state, stopped when dropped.
pub(crate) struct EdgeUnderTest {
    pub address: SocketAddr,
    pub reloads: watch::Receiver<Reloaded>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for EdgeUnderTest {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl EdgeUnderTest {
    /// Waits until the edge serves a reload that began after every change made through
    /// `state` so far, failing if that takes longer than [`SERVED_WITHIN`].
    pub async fn caught_up_with(&mut self, state: &AppState) {
        let change = state.served_changes.sequence();
        self.wait_for(SERVED_WITHIN, &format!("change {change}"), |reloaded| {
            reloaded.local >= change
        })
        .await;
    }

    /// Waits, at most `within`, for a reload that `done` accepts.
    pub async fn wait_for(
        &mut self,
        within: StdDuration,
        what: &str,
        done: impl FnMut(&Reloaded) -> bool,
    ) -> Reloaded {
        let waited = tokio::time::timeout(within, self.reloads.wait_for(done))
            .await
            .map(|reloaded| reloaded.map(|reloaded| *reloaded));
        match waited {
            Ok(Ok(reloaded)) => reloaded,
            Ok(Err(_)) => panic!("the edge's reloader stopped before serving {what}"),
            Err(_) => panic!(
                "the edge did not serve {what} within {within:?}; it serves {:?}",
                *self.reloads.borrow()
            ),
        }
    }
}

pub(crate) async fn start_edge(app: &TestApp) -> EdgeUnderTest {
    start_edge_over(&app.state, &app.args).await
}

/// An edge over `state`, which resyncs only every [`NO_RESYNC`].
pub(crate) async fn start_edge_over(state: &AppState, args: &ServeArgs) -> EdgeUnderTest {
    // Bound before the server is spawned: connecting never races its start.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (edge, reloader) = edgecert::edge::Edge::start(state, NO_RESYNC)
        .await
        .expect("edge starts");
    let reloads = edge.reloads();
    let limits = ConnectionLimits::from_args(args);
    let server = tokio::spawn(async move {
        let _ = edgecert::edge::serve_https(listener, edge, limits, std::future::pending()).await;
    });
    EdgeUnderTest {
        address,
        reloads,
        tasks: vec![reloader, server],
    }
}

pub(crate) async fn app_trusting(backend: Backend, ca: &TestCa) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.root_pem()).expect("write roots");
    TestApp::with(backend, |args| args.trust_roots = Some(path.clone())).await
}

pub(crate) fn client(ca: &TestCa) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.root_pem().as_bytes()).expect("root PEM"))
        .expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Handshakes with SNI `name` (none for an IP address), verifying the chain for `name`.
pub(crate) async fn connect(
    edge: &EdgeUnderTest,
    ca: &TestCa,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    connect_at(edge.address, ca, name).await
}

/// [`connect`] to the edge at `address`.
pub(crate) async fn connect_at(
    address: SocketAddr,
    ca: &TestCa,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    let server_name = ServerName::try_from(name.to_string()).expect("server name");
    client(ca).connect(server_name, tcp).await
}

/// The leaf the edge serves for `name`.
pub(crate) async fn served_leaf(
    edge: &EdgeUnderTest,
    ca: &TestCa,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    served_leaf_at(edge.address, ca, name).await
}

/// [`served_leaf`] from the edge at `address`.
pub(crate) async fn served_leaf_at(
    address: SocketAddr,
    ca: &TestCa,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    let stream = connect_at(address, ca, name).await?;
    let (_, session) = stream.get_ref();
    let chain = session.peer_certificates().expect("a verified chain");
    Ok(chain[0].to_vec())
}

pub(crate) fn leaf_of(bundle_pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(bundle_pem.as_bytes())
        .expect("leaf PEM")
        .to_vec()
}

#[track_caller]
pub(crate) fn assert_unrecognized_name(result: std::io::Result<impl Sized>) {
    let Err(error) = result else {
        panic!("the handshake succeeded");
    };
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    assert_eq!(
        tls,
        Some(&rustls::Error::AlertReceived(
            AlertDescription::UnrecognisedName
        )),
        "{error}"
    );
}

pub(crate) async fn new_csr(app: &TestApp, key_type: &str, sans: &[&str]) -> (String, String) {
    let mut body = csr_body(sans[0]);
    body["sans"] = json!(sans);
    body["key_type"] = json!(key_type);
    let csr = app.create_csr(&body).await;
    (
        csr["id"].as_str().expect("id").to_string(),
        csr["csr"].as_str().expect("csr").to_string(),
    )
}

/// Creates a custom hostname with a certificate for a new CSR; returns its id and bundle.
pub(crate) async fn upload_hostname(
    app: &TestApp,
    ca: &TestCa,
    hostname: &str,
    key_type: &str,
) -> (String, String) {
    let (csr_id, csr_pem) = new_csr(app, key_type, &[hostname]).await;
    let bundle = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    let created = app
        .post(
            &zone_hostnames(ZONE),
            &json!({
                "hostname": hostname,
                "ssl": { "custom_csr_id": csr_id, "custom_certificate": bundle },
            }),
        )
        .await;
    let id = created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();
    (id, bundle)
}

pub(crate) async fn http_over(stream: &mut TlsStream<TcpStream>, host: &str) -> String {
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    // One small page with a length: read until its body is in.
    while !String::from_utf8_lossy(&answer).contains("</html>") {
        let read = stream.read(&mut buffer).await.expect("answer");
        assert!(
            read > 0,
            "closed early: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

async fn hostname_certificates_are_served_for_both_key_types(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (_, p256_bundle) = upload_hostname(&app, &ca, "p256.example.com", "p256v1").await;
    let (_, rsa_bundle) = upload_hostname(&app, &ca, "rsa.example.com", "rsa2048").await;
    let edge = start_edge(&app).await;

    let leaf = served_leaf(&edge, &ca, "p256.example.com")
        .await
        .expect("P-256 handshake");
    assert_eq!(leaf, leaf_of(&p256_bundle));
    let leaf = served_leaf(&edge, &ca, "RSA.example.com")
        .await
        .expect("RSA handshake");
    assert_eq!(leaf, leaf_of(&rsa_bundle));

    // Requests over the edge are proxied (tests/api/edge_proxy.rs); with no origin set for
    // the hostname, the answer is Cloudflare's 1016 page.
    let mut stream = connect(&edge, &ca, "p256.example.com")
        .await
        .expect("handshake");
    let answer = http_over(&mut stream, "p256.example.com").await;
    assert!(answer.starts_with("HTTP/1.1 530 "), "{answer}");
    assert!(answer.contains("Error 1016"), "{answer}");
    assert!(answer.contains("p256.example.com"), "{answer}");
}

async fn a_wildcard_hostname_matches_one_label(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (_, bundle) = upload_hostname(&app, &ca, "*.example.net", "p256v1").await;
    let edge = start_edge(&app).await;

    let leaf = served_leaf(&edge, &ca, "shop.example.net")
        .await
        .expect("one label");
    assert_eq!(leaf, leaf_of(&bundle));
    assert_unrecognized_name(served_leaf(&edge, &ca, "a.shop.example.net").await);
    assert_unrecognized_name(served_leaf(&edge, &ca, "example.net").await);
}

pub(crate) async fn upload_certificate(app: &TestApp, bundle: &str, key_pem: &str) -> String {
    upload_certificate_in(app, ZONE, bundle, key_pem).await
}

/// Uploads a custom certificate with its own key to `zone`; returns its id.
pub(crate) async fn upload_certificate_in(
    app: &TestApp,
    zone: &str,
    bundle: &str,
    key_pem: &str,
) -> String {
    let created = app
        .post(
            &zone_certificates(zone),
            &json!({"certificate": bundle, "private_key": key_pem}),
        )
        .await;
    created.assert_success(StatusCode::OK)["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn custom_certificates_are_served_by_priority(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (first_bundle, first_key) = ca.issue_with_new_key(&["shop.example.org"], 90);
    let (second_bundle, second_key) = ca.issue_with_new_key(&["shop.example.org"], 90);
    let first = upload_certificate(&app, &first_bundle, &first_key).await;
    let second = upload_certificate(&app, &second_bundle, &second_key).await;
    let mut edge = start_edge(&app).await;

    // Equal priorities: the earlier upload.
    let leaf = served_leaf(&edge, &ca, "shop.example.org")
        .await
        .expect("handshake");
    assert_eq!(leaf, leaf_of(&first_bundle));

    // A lower number goes first.
    app.put(
        &format!("{}/prioritize", zone_certificates(ZONE)),
        &json!({"certificates": [{"id": first, "priority": 5}, {"id": second, "priority": 1}]}),
    )
    .await
    .assert_success(StatusCode::OK);
    edge.caught_up_with(&app.state).await;
    let leaf = served_leaf(&edge, &ca, "shop.example.org")
        .await
        .expect("handshake");
    assert_eq!(
        leaf,
        leaf_of(&second_bundle),
        "the prioritized certificate is served"
    );
}

async fn staging_certificates_are_not_served_by_the_production_edge(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (staging_bundle, staging_key) = ca.issue_with_new_key(&["staging.example.org"], 90);
    let created = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": staging_bundle, "private_key": staging_key, "deploy": "staging"}),
        )
        .await;
    created.assert_success(StatusCode::OK);
    let (bundle, key) = ca.issue_with_new_key(&["live.example.org"], 90);
    let created = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": bundle, "private_key": key, "deploy": "production"}),
        )
        .await;
    created.assert_success(StatusCode::OK);
    app.post(
        &zone_certificates(ZONE),
        &json!({"certificate": bundle, "private_key": key, "deploy": "canary"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, &[2001]);
    let edge = start_edge(&app).await;
    assert_unrecognized_name(served_leaf(&edge, &ca, "staging.example.org").await);
    let leaf = served_leaf(&edge, &ca, "live.example.org")
        .await
        .expect("handshake");
    assert_eq!(leaf, leaf_of(&bundle));
}

async fn unknown_or_missing_sni_is_refused_with_unrecognized_name(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    upload_hostname(&app, &ca, "app.example.com", "p256v1").await;
    let edge = start_edge(&app).await;

    assert_unrecognized_name(served_leaf(&edge, &ca, "other.example.com").await);
    // rustls sends no SNI for an IP address.
    assert_unrecognized_name(served_leaf(&edge, &ca, "127.0.0.1").await);
    // The edge still serves after refusing.
    served_leaf(&edge, &ca, "app.example.com")
        .await
        .expect("handshake");
}

async fn changes_are_served_without_a_restart(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let mut edge = start_edge(&app).await;
    assert_unrecognized_name(served_leaf(&edge, &ca, "hot.example.com").await);

    let (id, bundle) = upload_hostname(&app, &ca, "hot.example.com", "p256v1").await;
    edge.caught_up_with(&app.state).await;
    let leaf = served_leaf(&edge, &ca, "hot.example.com")
        .await
        .expect("served after the upload");
    assert_eq!(leaf, leaf_of(&bundle));

    // A connection opened before the delete keeps working after it.
    let mut open = connect(&edge, &ca, "hot.example.com")
        .await
        .expect("handshake");
    http_over(&mut open, "hot.example.com").await;
    app.delete(&format!("{}/{id}", zone_hostnames(ZONE)))
        .await
        .assert_success(StatusCode::OK);
    edge.caught_up_with(&app.state).await;
    assert_unrecognized_name(served_leaf(&edge, &ca, "hot.example.com").await);
    // The connection still gets answers: the edge's own page, 1016 or (once the routes are
    // re-read too) 1001, as the hostname is gone.
    let answer = http_over(&mut open, "hot.example.com").await;
    assert!(answer.starts_with("HTTP/1.1 530 "), "{answer}");
}
