//! Custom hostnames with uploaded certificates: every check with its code, the in-use rule,
//! and a delete racing an upload.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, OTHER_ZONE, TestApp, ZONE, csr_body, zone_csrs, zone_hostnames};
use crate::on_both_backends;
use crate::testca::TestCa;
use time::Duration;

on_both_backends!(
    certificate_for_a_csr_is_accepted_and_pins_the_csr,
    rsa_csr_certificate_with_reversed_bundle_is_accepted,
    csr_reference_problems_have_their_codes,
    certificate_problems_have_their_codes,
    untrusted_and_self_signed_certificates_are_1441,
    hostname_must_be_covered_by_the_certificate,
    customer_key_upload_is_stored_and_destroyed_with_the_hostname,
    patch_replaces_the_certificate_only_when_it_passes,
    duplicate_hostname_is_409_1406,
    hostname_and_ssl_settings_are_validated,
    list_get_and_delete_shape,
    deleting_a_csr_races_uploads_safely,
    sha1_rsa_certificates_are_accepted,
);

fn pem_blocks(pem: &str) -> usize {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).count()
}

fn first_block_der(pem: &str) -> Vec<u8> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .next()
        .expect("a PEM block")
        .expect("valid PEM")
        .contents
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An app that trusts `ca`'s root (and, as in production, Mozilla's).
async fn app_trusting(backend: Backend, ca: &TestCa) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.root_pem()).expect("write roots");
    let app = TestApp::with(backend, |args| args.trust_roots = Some(path.clone())).await;
    // The roots are read at start-up, so the file may go now.
    drop(dir);
    app
}

async fn new_csr(app: &TestApp, key_type: &str, sans: &[&str]) -> (String, String) {
    let mut body = csr_body(sans[0]);
    body["sans"] = json!(sans);
    body["key_type"] = json!(key_type);
    let csr = app.create_csr(&body).await;
    (
        csr["id"].as_str().expect("id").to_string(),
        csr["csr"].as_str().expect("csr").to_string(),
    )
}

fn upload_body(hostname: &str, csr_id: &str, certificate: &str) -> Value {
    json!({
        "hostname": hostname,
        "ssl": { "custom_csr_id": csr_id, "custom_certificate": certificate },
    })
}

fn hostname_path(id: &str) -> String {
    format!("{}/{id}", zone_hostnames(ZONE))
}

async fn certificate_for_a_csr_is_accepted_and_pins_the_csr(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app, "p256v1", &["app.example.com", "www.example.com"]).await;
    let bundle = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    let response = app
        .post(
            &zone_hostnames(ZONE),
            &upload_body("app.example.com", &csr_id, &bundle),
        )
        .await;
    let hostname = response.assert_success(StatusCode::CREATED).clone();
    assert_eq!(hostname["hostname"], "app.example.com");
    assert_eq!(hostname["status"], "active");
    let ssl = &hostname["ssl"];
    assert_eq!(ssl["status"], "active");
    assert_eq!(ssl["custom_csr_id"], csr_id.as_str());
    assert_eq!(ssl["hosts"], json!(["app.example.com", "www.example.com"]));
    assert!(
        !ssl["issuer"].as_str().unwrap_or_default().is_empty(),
        "{ssl}"
    );
    let serial = ssl["serial_number"].as_str().expect("serial");
    assert!(
        serial.bytes().all(|b| b.is_ascii_digit()),
        "decimal serial: {serial}"
    );
    assert!(
        ssl["signature"]
            .as_str()
            .is_some_and(|s| s.contains("SHA256")),
        "{ssl}"
    );
    let fingerprint = ssl["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .expect("fp");
    assert_eq!(fingerprint, sha256_hex(&first_block_der(&bundle)));
    assert!(!hostname.to_string().contains("PRIVATE KEY"));
    assert_eq!(hostname["ownership_verification"]["type"], "txt");

    let csr_path = format!("{}/{csr_id}", zone_csrs(ZONE));
    app.delete(&csr_path).await.assert_conflict(1420);
    app.get(&csr_path).await.assert_success(StatusCode::OK);

    let id = hostname["id"].as_str().expect("id");
    let deleted = app.delete(&hostname_path(id)).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        deleted.body["id"], id,
        "the SDK reads the id at the top level"
    );
    app.delete(&csr_path).await.assert_success(StatusCode::OK);
}

async fn rsa_csr_certificate_with_reversed_bundle_is_accepted(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app, "rsa2048", &["shop.example.com"]).await;
    let reversed = format!(
        "{}{}",
        ca.intermediate_pem(),
        ca.sign_csr_leaf_only(&csr_pem, 90, Duration::ZERO)
    );
    let response = app
        .post(
            &zone_hostnames(ZONE),
            &upload_body("shop.example.com", &csr_id, &reversed),
        )
        .await;
    let ssl = &response.assert_success(StatusCode::CREATED)["ssl"];
    assert_eq!(ssl["status"], "active");
    // Stored leaf first, whatever order it came in.
    let stored = ssl["custom_certificate"].as_str().expect("bundle");
    let leaf_der = first_block_der(stored);
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).expect("stored leaf");
    assert!(!leaf.is_ca(), "the stored bundle starts with the leaf");
    assert_eq!(pem_blocks(stored), 2);
}

async fn csr_reference_problems_have_their_codes(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (_, csr_pem) = new_csr(&app, "p256v1", &["app.example.com"]).await;
    let bundle = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    let post = |body: Value| {
        let app = &app;
        async move { app.post(&zone_hostnames(ZONE), &body).await }
    };
    post(upload_body("app.example.com", "not-a-uuid", &bundle))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1430]);
    post(upload_body(
        "app.example.com",
        "7b163417-1d2b-4c84-a38a-2fb7a0cd7752",
        &bundle,
    ))
    .await
    .assert_error(StatusCode::NOT_FOUND, &[1431]);
    // A CSR of another zone is not found from this one.
    let other = app
        .post(&zone_csrs(OTHER_ZONE), &csr_body("app.example.com"))
        .await;
    let other_id = other.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();
    post(upload_body("app.example.com", &other_id, &bundle))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1431]);
    assert_eq!(app.count_rows("custom_hostnames").await, 0);
}

async fn certificate_problems_have_their_codes(backend: Backend) {
    // An RSA intermediate, so an MD5 signature can be made.
    let ca = TestCa::new_rsa();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app, "p256v1", &["app.example.com"]).await;
    let (_, other_csr) = new_csr(&app, "p256v1", &["app.example.com"]).await;
    let good = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    let cases: Vec<(String, u64)> = vec![
        (String::new(), 1427),
        ("   ".into(), 1427),
        (
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n".into(),
            1426,
        ),
        ("hello".into(), 1426),
        (
            format!("{good}{}", ca.sign_csr(&other_csr, 90, Duration::ZERO)),
            1444,
        ),
        (ca.intermediate_pem(), 1445),
        (ca.sign_csr(&other_csr, 90, Duration::ZERO), 1429),
        (ca.sign_csr_expired(&csr_pem), 1441),
        (ca.sign_csr_not_yet_valid(&csr_pem), 1441),
        (ca.sign_csr_md5(&csr_pem), 1447),
        (ca.sign_csr_leaf_only(&csr_pem, 90, Duration::ZERO), 1441),
    ];
    for (certificate, code) in cases {
        let response = app
            .post(
                &zone_hostnames(ZONE),
                &upload_body("app.example.com", &csr_id, &certificate),
            )
            .await;
        response.assert_error(StatusCode::BAD_REQUEST, &[code]);
        assert_eq!(
            response.body["errors"][0]["source"]["pointer"],
            if code == 1429 {
                "/ssl/custom_csr_id"
            } else {
                "/ssl/custom_certificate"
            }
        );
    }
    // JSON with literal "\n" escapes, as the tutorial's perl one-liner produces, is accepted.
    let escaped = good.replace('\n', "\\n");
    app.post(
        &zone_hostnames(ZONE),
        &upload_body("app.example.com", &csr_id, &escaped),
    )
    .await
    .assert_success(StatusCode::CREATED);
    assert_eq!(app.count_rows("custom_hostnames").await, 1);
}

async fn untrusted_and_self_signed_certificates_are_1441(backend: Backend) {
    let ca = TestCa::new();
    // Mozilla's roots only: a private CA is not publicly trusted.
    let app = TestApp::new(backend).await;
    let (csr_id, csr_pem) = new_csr(&app, "p256v1", &["app.example.com"]).await;
    let response = app
        .post(
            &zone_hostnames(ZONE),
            &upload_body(
                "app.example.com",
                &csr_id,
                &ca.sign_csr(&csr_pem, 90, Duration::ZERO),
            ),
        )
        .await;
    response.assert_error(StatusCode::BAD_REQUEST, &[1441]);
    let (self_signed, key_pem) = crate::testca::self_signed(&["app.example.com"]);
    let response = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com",
                    "ssl": {"custom_certificate": self_signed, "custom_key": key_pem}}),
        )
        .await;
    response.assert_error(StatusCode::BAD_REQUEST, &[1441]);
    assert_eq!(
        app.count_rows("private_keys").await,
        1,
        "only the CSR's key"
    );
}

async fn hostname_must_be_covered_by_the_certificate(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app, "p256v1", &["*.example.com"]).await;
    let bundle = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    for uncovered in ["example.com", "a.b.example.com", "app.example.net"] {
        let response = app
            .post(
                &zone_hostnames(ZONE),
                &upload_body(uncovered, &csr_id, &bundle),
            )
            .await;
        response.assert_error(StatusCode::BAD_REQUEST, &[1446]);
    }
    app.post(
        &zone_hostnames(ZONE),
        &upload_body("shop.example.com", &csr_id, &bundle),
    )
    .await
    .assert_success(StatusCode::CREATED);
}

async fn customer_key_upload_is_stored_and_destroyed_with_the_hostname(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (bundle, key_pem) = ca.issue_with_new_key(&["app.example.com"], 90);
    let response = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com",
                    "ssl": {"custom_certificate": bundle, "custom_key": key_pem}}),
        )
        .await;
    let hostname = response.assert_success(StatusCode::CREATED).clone();
    assert!(!hostname.to_string().contains("PRIVATE KEY"), "{hostname}");
    assert_eq!(app.count_rows("private_keys").await, 1);
    let id = hostname["id"].as_str().expect("id");
    app.delete(&hostname_path(id)).await;
    assert_eq!(
        app.count_rows("private_keys").await,
        0,
        "the customer's key goes with it"
    );

    let response = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com",
                    "ssl": {"custom_certificate": bundle, "custom_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}),
        )
        .await;
    response.assert_error(StatusCode::BAD_REQUEST, &[1428]);
    let (_, other_key) = ca.issue_with_new_key(&["app.example.com"], 90);
    let response = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com",
                    "ssl": {"custom_certificate": bundle, "custom_key": other_key}}),
        )
        .await;
    response.assert_error(StatusCode::BAD_REQUEST, &[1429]);
    assert_eq!(app.count_rows("private_keys").await, 0);
}

async fn patch_replaces_the_certificate_only_when_it_passes(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (first_csr, first_pem) = new_csr(&app, "p256v1", &["app.example.com"]).await;
    let (second_csr, second_pem) = new_csr(&app, "p256v1", &["app.example.com"]).await;
    let created = app
        .post(
            &zone_hostnames(ZONE),
            &upload_body(
                "app.example.com",
                &first_csr,
                &ca.sign_csr(&first_pem, 90, Duration::ZERO),
            ),
        )
        .await;
    let id = created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();

    // A failing replacement changes nothing.
    let bad = app
        .patch(
            &hostname_path(&id),
            &json!({"ssl": {"custom_csr_id": second_csr, "custom_certificate": ca.sign_csr(&first_pem, 90, Duration::ZERO)}}),
        )
        .await;
    bad.assert_error(StatusCode::BAD_REQUEST, &[1429]);
    let unchanged = app.get(&hostname_path(&id)).await;
    assert_eq!(
        unchanged.body["result"]["ssl"]["custom_csr_id"],
        first_csr.as_str()
    );

    let good = app
        .patch(
            &hostname_path(&id),
            &json!({"ssl": {"custom_csr_id": second_csr, "custom_certificate": ca.sign_csr(&second_pem, 90, Duration::ZERO)},
                    "custom_metadata": {"customer": "acme"}}),
        )
        .await;
    assert_eq!(good.status, StatusCode::ACCEPTED, "{}", good.body);
    assert_eq!(
        good.body["result"]["ssl"]["custom_csr_id"],
        second_csr.as_str()
    );
    assert_eq!(
        good.body["result"]["custom_metadata"],
        json!({"customer": "acme"})
    );
    // The first CSR is free again; the second is pinned.
    app.delete(&format!("{}/{second_csr}", zone_csrs(ZONE)))
        .await
        .assert_conflict(1420);
    app.delete(&format!("{}/{first_csr}", zone_csrs(ZONE)))
        .await
        .assert_success(StatusCode::OK);

    app.patch(
        &hostname_path(&id),
        &json!({"hostname": "other.example.com"}),
    )
    .await
    .assert_conflict(1439);
}

async fn duplicate_hostname_is_409_1406(backend: Backend) {
    let app = TestApp::new(backend).await;
    let body = json!({"hostname": "app.example.com"});
    app.post(&zone_hostnames(ZONE), &body)
        .await
        .assert_success(StatusCode::CREATED);
    app.post(
        &zone_hostnames(ZONE),
        &json!({"hostname": "APP.example.com"}),
    )
    .await
    .assert_conflict(1406);
    app.post(&zone_hostnames(OTHER_ZONE), &body)
        .await
        .assert_success(StatusCode::CREATED);
}

async fn hostname_and_ssl_settings_are_validated(backend: Backend) {
    let app = TestApp::new(backend).await;
    for (body, code) in [
        (json!({}), 1407),
        (json!({"hostname": "bad..example.com"}), 1407),
        (json!({"hostname": "bücher.de"}), 1408),
        (json!({"hostname": "app.test"}), 1409),
        (json!({"hostname": "co.uk"}), 1410),
        (
            json!({"hostname": "app.example.com", "ssl": {"method": "carrier-pigeon"}}),
            1432,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"type": "ev"}}),
            1433,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"bundle_method": "best"}}),
            1449,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"custom_csr_id": "7b163417-1d2b-4c84-a38a-2fb7a0cd7752"}}),
            1427,
        ),
        (
            json!({"hostname": "app.example.com", "custom_metadata": ["x"]}),
            1401,
        ),
        // Nothing in ssl is silently ignored: an unknown attribute, each setting's code.
        (
            json!({"hostname": "app.example.com", "ssl": {"metod": "http"}}),
            1434,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"settings": {"http2": "yes"}}}),
            1422,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"settings": {"tls_1_2_only": true}}}),
            1423,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"settings": {"tls_1_3": "1"}}}),
            1424,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"settings": {"min_tls_version": "1.4"}}}),
            1425,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"settings": {"ciphers": ["RC4-MD5"]}}}),
            1442,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"settings": {"min_tls_version": "1.3", "ciphers": ["AES128-SHA"]}}}),
            1443,
        ),
        (
            json!({"hostname": "app.example.com", "ssl": {"settings": {"min_tls": "1.2"}}}),
            1434,
        ),
    ] {
        app.post(&zone_hostnames(ZONE), &body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, &[code]);
    }
    let strict = TestApp::with(backend, |args| args.strict = true).await;
    strict
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com"}),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1411]);
    assert_eq!(app.count_rows("custom_hostnames").await, 0);

    // Valid settings are stored and echoed as sent.
    let settings = json!({
        "http2": "on", "min_tls_version": "1.2", "tls_1_3": "on", "early_hints": "off",
        "ciphers": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"],
    });
    let created = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com", "ssl": {"method": "http", "settings": settings}}),
        )
        .await;
    assert_eq!(
        created.assert_success(StatusCode::CREATED)["ssl"]["settings"],
        settings
    );
}

async fn list_get_and_delete_shape(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let response = app
            .post(
                &zone_hostnames(ZONE),
                &json!({"hostname": format!("h{i}.example.com"), "ssl": {"method": "txt", "type": "dv"}}),
            )
            .await;
        let result = response.assert_success(StatusCode::CREATED);
        assert_eq!(result["ssl"]["status"], "pending_validation");
        assert_eq!(result["ssl"]["method"], "txt");
        assert!(
            result["ssl"]["validation_records"][0]["txt_name"]
                .as_str()
                .is_some_and(|name| name.starts_with("_acme-challenge.")),
            "{result}"
        );
        ids.push(result["id"].as_str().expect("id").to_string());
    }
    let mut seen = Vec::new();
    for page in 1.. {
        let response = app
            .get(&format!("{}?per_page=5&page={page}", zone_hostnames(ZONE)))
            .await;
        let items = response
            .assert_success(StatusCode::OK)
            .as_array()
            .expect("list")
            .clone();
        assert_eq!(response.body["result_info"]["total_count"], 7);
        if items.is_empty() {
            break;
        }
        seen.extend(
            items
                .iter()
                .map(|h| h["id"].as_str().expect("id").to_string()),
        );
    }
    assert_eq!(seen, ids, "oldest first, every hostname once");
    let filtered = app
        .get(&format!("{}?hostname=h3.example.com", zone_hostnames(ZONE)))
        .await;
    assert_eq!(filtered.body["result"][0]["id"], ids[3].as_str());
    assert_eq!(filtered.body["result_info"]["total_count"], 1);
    app.get(&format!(
        "{}?id={}&hostname=h3.example.com",
        zone_hostnames(ZONE),
        ids[3]
    ))
    .await
    .assert_error(StatusCode::BAD_REQUEST, &[1438]);
    let contains = app
        .get(&format!("{}?hostname.contain=3.exa", zone_hostnames(ZONE)))
        .await;
    assert_eq!(
        contains.body["result_info"]["total_count"], 1,
        "{}",
        contains.body
    );
    assert_eq!(contains.body["result"][0]["id"], ids[3].as_str());
    let prefix = app
        .get(&format!(
            "{}?hostname.startsWith=h&per_page=50",
            zone_hostnames(ZONE)
        ))
        .await;
    assert_eq!(prefix.body["result_info"]["total_count"], 7);
    // A LIKE wildcard is not a hostname character, so it cannot widen the match.
    app.get(&format!("{}?hostname.startsWith=h_", zone_hostnames(ZONE)))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1437]);
    let none = app
        .get(&format!(
            "{}?hostname.contain=nothing-like-this",
            zone_hostnames(ZONE)
        ))
        .await;
    assert_eq!(none.assert_success(StatusCode::OK), &json!([]));
    app.get(&format!(
        "{}?hostname.contain=h&hostname.exact=h1.example.com",
        zone_hostnames(ZONE)
    ))
    .await
    .assert_error(StatusCode::BAD_REQUEST, &[1438]);
    app.get(&hostname_path("nope"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1435]);
    app.get(&hostname_path("7b163417-1d2b-4c84-a38a-2fb7a0cd7752"))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1436]);
    app.get(&format!("{}/{}", zone_hostnames(OTHER_ZONE), ids[0]))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1436]);
    let deleted = app.delete(&hostname_path(&ids[0])).await;
    assert_eq!(deleted.body["id"], ids[0].as_str());
    assert_eq!(deleted.body["result"]["id"], ids[0].as_str());
    app.delete(&hostname_path(&ids[0]))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1436]);
    let http = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "http.example.com", "ssl": {"method": "http", "type": "dv"}}),
        )
        .await;
    let record = &http.assert_success(StatusCode::CREATED)["ssl"]["validation_records"][0];
    assert!(
        record["http_url"]
            .as_str()
            .is_some_and(|url| url.starts_with("http://http.example.com/")),
        "{record}"
    );
    assert!(record.get("txt_name").is_none());
    // Words beside the id route are not ids.
    for word in ["fallback_origin", "quota"] {
        let response = app.get(&format!("{}/{word}", zone_hostnames(ZONE))).await;
        assert_ne!(
            response.codes(),
            vec![1435],
            "{word} taken for an id: {}",
            response.body
        );
    }
}

/// Deletes of CSRs race uploads that reference them. Each pair must end one way or the
/// other, never with a hostname whose key is gone.
async fn deleting_a_csr_races_uploads_safely(backend: Backend) {
    let ca = TestCa::new();
    let app = Arc::new(app_trusting(backend, &ca).await);
    let mut pairs = Vec::new();
    for i in 0..24 {
        let host = format!("race{i}.example.com");
        let (csr_id, csr_pem) = new_csr(&app, "p256v1", &[&host]).await;
        let bundle = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
        let upload = {
            let app = app.clone();
            let body = upload_body(&host, &csr_id, &bundle);
            tokio::spawn(async move { app.post(&zone_hostnames(ZONE), &body).await })
        };
        let delete = {
            let app = app.clone();
            let path = format!("{}/{csr_id}", zone_csrs(ZONE));
            tokio::spawn(async move { app.delete(&path).await })
        };
        pairs.push((upload, delete));
    }
    let (mut uploads_won, mut deletes_won) = (0, 0);
    for (upload, delete) in pairs {
        let upload = upload.await.expect("upload task");
        let delete = delete.await.expect("delete task");
        match (upload.status, delete.status) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => {
                delete.assert_conflict(1420);
                uploads_won += 1;
            }
            (StatusCode::NOT_FOUND, StatusCode::OK) => {
                upload.assert_error(StatusCode::NOT_FOUND, &[1431]);
                deletes_won += 1;
            }
            other => panic!(
                "inconsistent outcome {other:?}: upload {} / delete {}",
                upload.body, delete.body
            ),
        }
    }
    eprintln!("race outcome: {uploads_won} uploads won, {deletes_won} deletes won");
    assert_eq!(uploads_won + deletes_won, 24);
    assert_eq!(app.count_rows("custom_hostnames").await, uploads_won);
    assert_eq!(app.count_rows("custom_csrs").await, uploads_won);
    assert_eq!(app.count_rows("private_keys").await, uploads_won);
}

/// SHA-1/RSA is on the API's list of accepted signatures (MD5 is not, see above).
async fn sha1_rsa_certificates_are_accepted(backend: Backend) {
    let ca = TestCa::new_rsa();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app, "rsa2048", &["legacy.example.com"]).await;
    let response = app
        .post(
            &zone_hostnames(ZONE),
            &upload_body("legacy.example.com", &csr_id, &ca.sign_csr_sha1(&csr_pem)),
        )
        .await;
    let ssl = &response.assert_success(StatusCode::CREATED)["ssl"];
    assert_eq!(ssl["signature"], "SHA1WithRSA");
}
