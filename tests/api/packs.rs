//! Certificate packs: a custom hostname with an RSA and an ECDSA certificate
//! (`ssl.custom_cert_bundle`), each shown with its own id, replaced or deleted one at a time
//! through the `certificate_pack` routes, and served by the edge according to the signature
//! schemes the client offers (checked with rustls clients that offer only one kind).

use std::sync::Arc;

use axum::http::StatusCode;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde_json::{Value, json};
use time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::common::{Backend, TestApp, ZONE, zone_csrs, zone_hostnames};
use crate::edge::{EdgeUnderTest, app_trusting, leaf_of, new_csr, served_leaf, start_edge};
use crate::on_both_backends;
use crate::testca::TestCa;

on_both_backends!(
    a_bundle_is_shown_with_an_id_per_certificate_and_served_by_offered_schemes,
    a_bundle_needs_one_rsa_and_one_ecdsa_certificate_and_stores_nothing_otherwise,
    pack_certificates_are_replaced_by_their_own_key_type_and_deleted_down_to_one,
    a_single_certificate_gets_its_own_id_and_a_patch_makes_it_a_pack,
    a_zone_reset_destroys_both_supplied_keys_of_a_pack,
    a_pack_write_that_read_a_changed_pack_is_refused_and_changes_nothing,
    openssl_gets_the_certificate_of_the_signature_algorithms_it_offers,
);

const HOST: &str = "pack.example.com";

const RSA_SCHEMES: [SignatureScheme; 6] = [
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];
const ECDSA_SCHEMES: [SignatureScheme; 2] = [
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
];

/// Verifies like any client (the test CA's chain, the name) but offers the server only
/// `schemes` in its ClientHello's `signature_algorithms`.
#[derive(Debug)]
struct OfferOnly {
    inner: Arc<WebPkiServerVerifier>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for OfferOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// The leaf the edge serves for [`HOST`] to a client offering only `schemes`.
async fn leaf_offering(edge: &EdgeUnderTest, ca: &TestCa, schemes: &[SignatureScheme]) -> Vec<u8> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.root_pem().as_bytes()).expect("root PEM"))
        .expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()
        .expect("verifier");
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(OfferOnly {
            inner,
            schemes: schemes.to_vec(),
        }))
        .with_no_client_auth();
    let tcp = TcpStream::connect(edge.address).await.expect("connect");
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(HOST).expect("name"), tcp)
        .await
        .unwrap_or_else(|error| panic!("handshake offering {schemes:?}: {error}"));
    let (_, session) = stream.get_ref();
    session.peer_certificates().expect("a verified chain")[0].to_vec()
}

/// An RSA certificate (its key from an edgecert CSR, named by `custom_csr_id`) and an ECDSA
/// one (its key supplied as `custom_key`) for [`HOST`]: the two entries of a bundle.
async fn bundle_entries(app: &TestApp, ca: &TestCa) -> (Value, String, Value, String) {
    let (csr_id, csr_pem) = new_csr(app, "rsa2048", &[HOST]).await;
    let rsa_bundle = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    let (ecdsa_bundle, ecdsa_key) = ca.issue_with_new_key(&[HOST], 90);
    (
        json!({ "custom_certificate": rsa_bundle, "custom_csr_id": csr_id }),
        rsa_bundle,
        json!({ "custom_certificate": ecdsa_bundle, "custom_key": ecdsa_key }),
        ecdsa_bundle,
    )
}

async fn create_pack(app: &TestApp, entries: Value) -> Value {
    app.post(
        &zone_hostnames(ZONE),
        &json!({ "hostname": HOST, "ssl": { "custom_cert_bundle": entries } }),
    )
    .await
    .assert_success(StatusCode::CREATED)
    .clone()
}

fn certificate_path(hostname: &Value, certificate_id: &Value) -> String {
    format!(
        "{}/{}/certificate_pack/{}/certificates/{}",
        zone_hostnames(ZONE),
        hostname["id"].as_str().expect("id"),
        hostname["ssl"]["id"].as_str().expect("ssl id"),
        certificate_id.as_str().expect("certificate id"),
    )
}

/// The ids of `ssl.certificates[]`, each checked distinct from the others and the ssl id.
#[track_caller]
fn certificate_ids(hostname: &Value) -> Vec<Value> {
    let ids: Vec<Value> = hostname["ssl"]["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|certificate| certificate["id"].clone())
        .collect();
    for (index, id) in ids.iter().enumerate() {
        assert_ne!(id, &hostname["ssl"]["id"], "{hostname}");
        assert!(!ids[..index].contains(id), "{hostname}");
    }
    ids
}

async fn a_bundle_is_shown_with_an_id_per_certificate_and_served_by_offered_schemes(
    backend: Backend,
) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (rsa, rsa_bundle, ecdsa, ecdsa_bundle) = bundle_entries(&app, &ca).await;
    // The RSA certificate second: the pack's second certificate holds its CSR's key too.
    let created = create_pack(&app, json!([ecdsa, rsa])).await;
    assert_eq!(created["status"], "active", "{created}");
    let csr = format!(
        "{}/{}",
        zone_csrs(ZONE),
        rsa["custom_csr_id"].as_str().unwrap()
    );
    app.delete(&csr).await.assert_conflict(1420);
    assert_eq!(created["ssl"]["status"], "active", "{created}");
    assert_eq!(certificate_ids(&created).len(), 2, "{created}");
    let certificates = &created["ssl"]["certificates"];
    for certificate in certificates.as_array().into_iter().flatten() {
        for field in ["issuer", "serial_number", "signature", "expires_on"] {
            assert!(certificate[field].is_string(), "{field}: {certificate}");
        }
    }
    assert_ne!(
        certificates[0]["fingerprint_sha256"],
        certificates[1]["fingerprint_sha256"]
    );
    // The customer's key is sealed in the database and never shown.
    let text = created.to_string();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("custom_key"),
        "{text}"
    );
    let fetched = app
        .get(&format!(
            "{}/{}",
            zone_hostnames(ZONE),
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        fetched.assert_success(StatusCode::OK)["ssl"],
        created["ssl"]
    );

    let edge = start_edge(&app).await;
    assert_eq!(
        leaf_offering(&edge, &ca, &RSA_SCHEMES).await,
        leaf_of(&rsa_bundle)
    );
    assert_eq!(
        leaf_offering(&edge, &ca, &ECDSA_SCHEMES).await,
        leaf_of(&ecdsa_bundle)
    );
    // A client that takes both gets the ECDSA certificate.
    let leaf = served_leaf(&edge, &ca, HOST).await.expect("handshake");
    assert_eq!(leaf, leaf_of(&ecdsa_bundle));
}

async fn a_bundle_needs_one_rsa_and_one_ecdsa_certificate_and_stores_nothing_otherwise(
    backend: Backend,
) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let keys_before = app.count_rows("private_keys").await;
    let (first, first_key) = ca.issue_with_new_key(&[HOST], 90);
    let (second, second_key) = ca.issue_with_new_key(&[HOST], 90);
    let two_ecdsa = json!([
        { "custom_certificate": first, "custom_key": first_key },
        { "custom_certificate": second, "custom_key": second_key },
    ]);
    let body = json!({ "hostname": HOST, "ssl": { "custom_cert_bundle": two_ecdsa } });
    let refused = app.post(&zone_hostnames(ZONE), &body).await;
    refused.assert_error(StatusCode::BAD_REQUEST, &[1434]);
    assert_eq!(
        refused.body["errors"][0]["source"]["pointer"],
        "/ssl/custom_cert_bundle"
    );

    // Each entry is checked like an upload: here the second key is not the certificate's.
    let mismatched = json!([
        { "custom_certificate": first, "custom_key": first_key },
        { "custom_certificate": second, "custom_key": first_key },
    ]);
    let body = json!({ "hostname": HOST, "ssl": { "custom_cert_bundle": mismatched } });
    let refused = app.post(&zone_hostnames(ZONE), &body).await;
    refused.assert_error(StatusCode::BAD_REQUEST, &[1429]);
    assert_eq!(
        refused.body["errors"][0]["source"]["pointer"],
        "/ssl/custom_cert_bundle/1/custom_key"
    );
    assert!(!refused.body.to_string().contains("PRIVATE KEY"));

    let three = json!({ "hostname": HOST, "ssl": { "custom_cert_bundle": [{}, {}, {}] } });
    let refused = app.post(&zone_hostnames(ZONE), &three).await;
    refused.assert_error(StatusCode::BAD_REQUEST, &[1434]);

    assert_eq!(app.count_rows("custom_hostnames").await, 0);
    assert_eq!(app.count_rows("private_keys").await, keys_before);
}

async fn pack_certificates_are_replaced_by_their_own_key_type_and_deleted_down_to_one(
    backend: Backend,
) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (rsa, _, ecdsa, ecdsa_bundle) = bundle_entries(&app, &ca).await;
    let created = create_pack(&app, json!([rsa, ecdsa])).await;
    let [rsa_id, ecdsa_id] = <[Value; 2]>::try_from(certificate_ids(&created)).expect("two");
    // Two keys: the CSR's, and the ECDSA one supplied with the bundle.
    let keys = app.count_rows("private_keys").await;
    let mut edge = start_edge(&app).await;

    // An ECDSA certificate cannot take the RSA one's place.
    let (other_ecdsa, other_ecdsa_key) = ca.issue_with_new_key(&[HOST], 90);
    let refused = app
        .put(
            &certificate_path(&created, &rsa_id),
            &json!({ "custom_certificate": other_ecdsa, "custom_key": other_ecdsa_key }),
        )
        .await;
    refused.assert_error(StatusCode::BAD_REQUEST, &[1434]);
    assert_eq!(app.count_rows("private_keys").await, keys);

    // An RSA certificate with a supplied key replaces it and keeps its id.
    let (new_rsa, new_rsa_key) = ca.issue_with_new_rsa_key(&[HOST], 60);
    let replaced = app
        .put(
            &certificate_path(&created, &rsa_id),
            &json!({ "custom_certificate": new_rsa, "custom_key": new_rsa_key }),
        )
        .await;
    let replaced = replaced.assert_success(StatusCode::OK).clone();
    assert_eq!(
        certificate_ids(&replaced),
        [rsa_id.clone(), ecdsa_id.clone()]
    );
    assert_ne!(
        replaced["ssl"]["certificates"][0]["fingerprint_sha256"],
        created["ssl"]["certificates"][0]["fingerprint_sha256"]
    );
    assert!(!replaced.to_string().contains("PRIVATE KEY"));
    // The CSR's key stays with its CSR; the new key is stored beside it.
    assert_eq!(app.count_rows("private_keys").await, keys + 1);
    edge.caught_up_with(&app.state).await;
    assert_eq!(
        leaf_offering(&edge, &ca, &RSA_SCHEMES).await,
        leaf_of(&new_rsa)
    );

    // Unknown certificate or pack ids are not found.
    let unknown = json!("7b163417-1d2b-4c84-a38a-2fb7a0cd7752");
    let missing = app.delete(&certificate_path(&created, &unknown)).await;
    missing.assert_error(StatusCode::NOT_FOUND, &[1436]);
    let mut other_pack = created.clone();
    other_pack["ssl"]["id"] = unknown;
    let missing = app.delete(&certificate_path(&other_pack, &ecdsa_id)).await;
    missing.assert_error(StatusCode::NOT_FOUND, &[1436]);

    // Deleting the RSA certificate destroys its supplied key and leaves the ECDSA one,
    // served to every client that can verify it.
    let deleted = app.delete(&certificate_path(&created, &rsa_id)).await;
    assert_eq!(deleted.assert_success(StatusCode::OK)["id"], rsa_id);
    assert_eq!(deleted.body["id"], rsa_id);
    assert_eq!(app.count_rows("private_keys").await, keys);
    let id = created["id"].as_str().unwrap();
    let left = app.get(&format!("{}/{id}", zone_hostnames(ZONE))).await;
    let left = left.assert_success(StatusCode::OK).clone();
    assert_eq!(certificate_ids(&left), std::slice::from_ref(&ecdsa_id));
    edge.caught_up_with(&app.state).await;
    assert_eq!(
        leaf_offering(&edge, &ca, &ECDSA_SCHEMES).await,
        leaf_of(&ecdsa_bundle)
    );

    // The pack's last certificate stays.
    let refused = app.delete(&certificate_path(&created, &ecdsa_id)).await;
    refused.assert_error(StatusCode::BAD_REQUEST, &[1434]);
    let still = app.get(&format!("{}/{id}", zone_hostnames(ZONE))).await;
    assert_eq!(
        certificate_ids(still.assert_success(StatusCode::OK)),
        [ecdsa_id]
    );

    // Deleting the hostname destroys the keys supplied with it.
    app.delete(&format!("{}/{id}", zone_hostnames(ZONE)))
        .await
        .assert_success(StatusCode::OK);
    assert_eq!(app.count_rows("private_keys").await, keys - 1);
}

async fn a_single_certificate_gets_its_own_id_and_a_patch_makes_it_a_pack(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (bundle, key) = ca.issue_with_new_rsa_key(&[HOST], 90);
    let created = app
        .post(
            &zone_hostnames(ZONE),
            &json!({ "hostname": HOST, "ssl": { "custom_certificate": bundle, "custom_key": key } }),
        )
        .await;
    let created = created.assert_success(StatusCode::CREATED).clone();
    let [id] = <[Value; 1]>::try_from(certificate_ids(&created)).expect("one");
    // Its one certificate can be replaced through the pack routes too.
    let (renewed, renewed_key) = ca.issue_with_new_rsa_key(&[HOST], 30);
    let replaced = app
        .put(
            &certificate_path(&created, &id),
            &json!({ "custom_certificate": renewed, "custom_key": renewed_key }),
        )
        .await;
    assert_eq!(
        certificate_ids(replaced.assert_success(StatusCode::OK)),
        std::slice::from_ref(&id)
    );
    let mut edge = start_edge(&app).await;
    // An RSA certificate is what there is, whatever the client prefers.
    let leaf = served_leaf(&edge, &ca, HOST).await.expect("handshake");
    assert_eq!(leaf, leaf_of(&renewed));
    assert_eq!(
        leaf_offering(&edge, &ca, &RSA_SCHEMES).await,
        leaf_of(&renewed)
    );
    assert_eq!(app.count_rows("private_keys").await, 1);

    // A PATCH turns it into a pack of two: the replaced certificate's supplied key goes, the
    // pack's two keys are stored, and the certificates get new ids.
    let (rsa, rsa_key) = ca.issue_with_new_rsa_key(&[HOST], 90);
    let (ecdsa, ecdsa_key) = ca.issue_with_new_key(&[HOST], 90);
    let path = format!(
        "{}/{}",
        zone_hostnames(ZONE),
        created["id"].as_str().unwrap()
    );
    let patched = app
        .patch(
            &path,
            &json!({ "ssl": { "custom_cert_bundle": [
                { "custom_certificate": ecdsa, "custom_key": ecdsa_key },
                { "custom_certificate": rsa, "custom_key": rsa_key },
            ] } }),
        )
        .await;
    let ids = certificate_ids(patched.assert_success(StatusCode::ACCEPTED));
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&id));
    assert_eq!(app.count_rows("private_keys").await, 2);
    edge.caught_up_with(&app.state).await;
    assert_eq!(leaf_offering(&edge, &ca, &RSA_SCHEMES).await, leaf_of(&rsa));
    assert_eq!(
        leaf_offering(&edge, &ca, &ECDSA_SCHEMES).await,
        leaf_of(&ecdsa)
    );
}

async fn a_zone_reset_destroys_both_supplied_keys_of_a_pack(backend: Backend) {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, ca.root_pem()).expect("write roots");
    let app = TestApp::with(backend, |args| {
        args.trust_roots = Some(roots.clone());
        args.test_controls = true;
    })
    .await;
    let (rsa, rsa_key) = ca.issue_with_new_rsa_key(&[HOST], 90);
    let (ecdsa, ecdsa_key) = ca.issue_with_new_key(&[HOST], 90);
    create_pack(
        &app,
        json!([
            { "custom_certificate": rsa, "custom_key": rsa_key },
            { "custom_certificate": ecdsa, "custom_key": ecdsa_key },
        ]),
    )
    .await;
    assert_eq!(app.count_rows("private_keys").await, 2);
    let reset = app
        .post(crate::test_controls::RESET, &json!({ "zone_id": ZONE }))
        .await;
    let removed = &reset.assert_success(StatusCode::OK)["removed"];
    assert_eq!(removed["custom_hostnames"], 1, "{removed}");
    assert_eq!(removed["private_keys"], 2, "{removed}");
    assert_eq!(app.count_rows("private_keys").await, 0);
}

/// The store refuses a pack write whose caller read the pack before another write changed
/// its keys: the later write must not put back what the earlier one replaced.
async fn a_pack_write_that_read_a_changed_pack_is_refused_and_changes_nothing(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (rsa, _, ecdsa, _) = bundle_entries(&app, &ca).await;
    let created = create_pack(&app, json!([rsa, ecdsa])).await;
    let id = created["id"].as_str().unwrap().parse().expect("uuid");
    let store = app.store();
    let read = store.get_hostname(ZONE, id).await.expect("hostname");
    let mut stale = read.pack_keys();
    stale.second = Some(uuid::Uuid::new_v4());
    let mut change = read.clone();
    let removed = change.bundled.take().expect("a second certificate").key;
    let refused = store
        .write_certificate_pack(&change, stale, None, removed)
        .await;
    assert!(
        matches!(refused, Err(edgecert::store::StoreError::NotFound)),
        "{refused:?}"
    );
    assert_eq!(store.get_hostname(ZONE, id).await.expect("hostname"), read);
    let keys = app.count_rows("private_keys").await;
    store
        .write_certificate_pack(&change, read.pack_keys(), None, removed)
        .await
        .expect("a current read is written");
    assert!(
        store
            .get_hostname(ZONE, id)
            .await
            .expect("hostname")
            .bundled
            .is_none()
    );
    // The removed key was supplied with the bundle: it goes with its certificate.
    assert_eq!(app.count_rows("private_keys").await, keys - 1);
}

/// The leaf `openssl s_client` is served for [`HOST`] when it offers only `sigalgs` (TLS 1.3,
/// verifying the chain against the test CA's root).
async fn openssl_leaf(edge: &EdgeUnderTest, root: &std::path::Path, sigalgs: &str) -> Vec<u8> {
    let (address, root, sigalgs) = (edge.address, root.to_owned(), sigalgs.to_string());
    // Blocking, off the runtime that serves the edge.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &address.to_string(),
                "-servername",
                HOST,
            ])
            .args([
                "-tls1_3",
                "-sigalgs",
                &sigalgs,
                "-verify_return_error",
                "-CAfile",
            ])
            .arg(&root)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .expect("openssl ran")
    .expect("openssl s_client (the openssl binary) is installed");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("the server certificate");
    leaf_of(&text[start..])
}

async fn openssl_gets_the_certificate_of_the_signature_algorithms_it_offers(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (rsa, rsa_bundle, ecdsa, ecdsa_bundle) = bundle_entries(&app, &ca).await;
    create_pack(&app, json!([rsa, ecdsa])).await;
    let edge = start_edge(&app).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.pem");
    std::fs::write(&root, ca.root_pem()).expect("write root");
    assert_eq!(
        openssl_leaf(&edge, &root, "RSA-PSS+SHA256:RSA-PSS+SHA384").await,
        leaf_of(&rsa_bundle)
    );
    assert_eq!(
        openssl_leaf(&edge, &root, "ECDSA+SHA256").await,
        leaf_of(&ecdsa_bundle)
    );
}
