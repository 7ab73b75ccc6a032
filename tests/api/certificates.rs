//! Custom certificates: upload for a CSR or with the customer's key, the checks and their
//! codes, edit, prioritize, delete, and the in-use rule.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, OTHER_ZONE, TestApp, ZONE, csr_body, zone_certificates, zone_csrs};
use crate::on_both_backends;
use crate::testca::TestCa;
use time::Duration;

on_both_backends!(
    upload_for_a_csr_then_edit_prioritize_and_delete,
    an_sni_custom_edit_returns_a_new_id_and_removes_the_old,
    upload_problems_have_their_codes,
    force_bundle_method_skips_the_trust_check,
    customer_key_certificates_own_their_key,
    sibling_words_are_not_ids,
);

async fn app_trusting(backend: Backend, ca: &TestCa) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.root_pem()).expect("write roots");
    TestApp::with(backend, |args| args.trust_roots = Some(path.clone())).await
}

async fn new_csr(app: &TestApp) -> (String, String) {
    let csr = app.create_csr(&csr_body("app.example.com")).await;
    (
        csr["id"].as_str().expect("id").to_string(),
        csr["csr"].as_str().expect("csr").to_string(),
    )
}

fn path(id: &str) -> String {
    format!("{}/{id}", zone_certificates(ZONE))
}

async fn upload_for_a_csr_then_edit_prioritize_and_delete(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app).await;
    let response = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO), "custom_csr_id": csr_id}),
        )
        .await;
    let created = response.assert_success(StatusCode::OK).clone();
    assert_eq!(created["zone_id"], ZONE);
    assert_eq!(created["status"], "active");
    assert_eq!(created["bundle_method"], "ubiquitous");
    assert_eq!(created["type"], "legacy_custom");
    assert_eq!(created["custom_csr_id"], csr_id.as_str());
    assert_eq!(created["hosts"], json!(["app.example.com"]));
    assert!(
        created["expires_on"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(
        app.get(&path(&id)).await.assert_success(StatusCode::OK),
        &created
    );

    let csr_path = format!("{}/{csr_id}", zone_csrs(ZONE));
    app.delete(&csr_path).await.assert_conflict(1420);

    let edited = app
        .patch(
            &path(&id),
            &json!({"bundle_method": "optimal", "policy": "(country: US)"}),
        )
        .await;
    let edited = edited.assert_success(StatusCode::OK);
    assert_eq!(
        edited["id"],
        id.as_str(),
        "a legacy_custom edit keeps its id"
    );
    assert_eq!(edited["bundle_method"], "optimal");
    assert_eq!(edited["policy_restrictions"], "(country: US)");
    app.patch(&path(&id), &json!({"type": "sni_custom"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[2001]);

    let (second_csr, second_pem) = new_csr(&app).await;
    let second = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": ca.sign_csr(&second_pem, 90, Duration::ZERO), "custom_csr_id": second_csr}),
        )
        .await;
    let second_id = second.assert_success(StatusCode::OK)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let prioritized = app
        .put(
            &format!("{}/prioritize", zone_certificates(ZONE)),
            // The SDKs type priority as a number: 5.0 is 5.
            &json!({"certificates": [{"id": id, "priority": 5.0}, {"id": second_id, "priority": 1}]}),
        )
        .await;
    let order: Vec<&str> = prioritized
        .assert_success(StatusCode::OK)
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(order, vec![second_id.as_str(), id.as_str()]);
    assert_eq!(prioritized.body["result"][1]["priority"], 5);
    app.put(
        &format!("{}/prioritize", zone_certificates(ZONE)),
        &json!({"certificates": [{"id": id, "priority": 2.5}]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, &[2001]);
    app.put(
        &format!("{}/prioritize", zone_certificates(ZONE)),
        &json!({"certificates": [{"id": "7b163417-1d2b-4c84-a38a-2fb7a0cd7752", "priority": 1}]}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, &[1003]);

    let list = app.get(&zone_certificates(ZONE)).await;
    assert_eq!(list.body["result_info"]["total_count"], 2);
    assert_eq!(
        app.delete(&path(&id)).await.assert_success(StatusCode::OK),
        &json!({"id": id})
    );
    app.get(&path(&id))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1003]);
    app.get(&format!("{}/{second_id}", zone_certificates(OTHER_ZONE)))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1003]);
    app.delete(&csr_path).await.assert_success(StatusCode::OK);
}

/// Cloudflare: "PATCHing a configuration for sni_custom certificates will result in a new
/// resource id being returned, and the previous one being deleted."
async fn an_sni_custom_edit_returns_a_new_id_and_removes_the_old(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app).await;
    let created = app
        .post(
            &zone_certificates(ZONE),
            &json!({
                "certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO),
                "custom_csr_id": csr_id,
                "type": "sni_custom",
            }),
        )
        .await;
    let old_id = created.assert_success(StatusCode::OK)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let edited = app
        .patch(&path(&old_id), &json!({"bundle_method": "optimal"}))
        .await;
    let edited = edited.assert_success(StatusCode::OK).clone();
    let new_id = edited["id"].as_str().expect("id").to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(edited["type"], "sni_custom");
    assert_eq!(edited["bundle_method"], "optimal");
    assert_eq!(edited["custom_csr_id"], csr_id.as_str());
    app.get(&path(&old_id))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1003]);
    assert_eq!(
        app.get(&path(&new_id)).await.assert_success(StatusCode::OK),
        &edited
    );
    let list = app.get(&zone_certificates(ZONE)).await;
    assert_eq!(list.body["result_info"]["total_count"], 1, "{}", list.body);
    // The key stays the CSR's: the CSR is still in use through the new id.
    app.delete(&format!("{}/{csr_id}", zone_csrs(ZONE)))
        .await
        .assert_conflict(1420);
}

async fn upload_problems_have_their_codes(backend: Backend) {
    // An RSA intermediate, so an MD5 signature can be made.
    let ca = TestCa::new_rsa();
    let app = app_trusting(backend, &ca).await;
    let (csr_id, csr_pem) = new_csr(&app).await;
    let (_, other_pem) = new_csr(&app).await;
    let upload = |certificate: String| json!({"certificate": certificate, "custom_csr_id": csr_id});
    let cases: Vec<(Value, u64)> = vec![
        (upload(String::new()), 1002),
        (upload("garbage".into()), 1002),
        (upload(ca.intermediate_pem()), 2101),
        (upload(ca.sign_csr(&other_pem, 90, Duration::ZERO)), 2200),
        (upload(ca.sign_csr_expiring_soon(&csr_pem)), 1206),
        (upload(ca.sign_csr_expired(&csr_pem)), 1206),
        (
            upload(ca.sign_csr_leaf_only(&csr_pem, 90, Duration::ZERO)),
            2100,
        ),
        (upload(ca.sign_csr_md5(&csr_pem)), 1447),
        (
            json!({"certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO), "custom_csr_id": "x"}),
            1430,
        ),
        (
            json!({"certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO)}),
            2106,
        ),
        (
            json!({"certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO), "private_key": "nope"}),
            2106,
        ),
        (
            json!({"certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO), "custom_csr_id": csr_id, "bundle_method": "best"}),
            1449,
        ),
        (
            json!({"certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO), "custom_csr_id": csr_id, "type": "modern"}),
            2001,
        ),
    ];
    for (body, code) in cases {
        let response = app.post(&zone_certificates(ZONE), &body).await;
        response.assert_error(StatusCode::BAD_REQUEST, &[code]);
    }
    app.post(
        &zone_certificates(ZONE),
        &json!({"certificate": ca.sign_csr(&csr_pem, 90, Duration::ZERO), "custom_csr_id": "7b163417-1d2b-4c84-a38a-2fb7a0cd7752"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, &[1431]);
    assert_eq!(app.count_rows("custom_certificates").await, 0);
    assert_eq!(
        app.count_rows("private_keys").await,
        2,
        "only the CSRs' keys"
    );
}

async fn force_bundle_method_skips_the_trust_check(backend: Backend) {
    let ca = TestCa::new();
    let app = TestApp::new(backend).await;
    let (csr_id, csr_pem) = new_csr(&app).await;
    let certificate = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    app.post(
        &zone_certificates(ZONE),
        &json!({"certificate": certificate, "custom_csr_id": csr_id}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, &[2100]);
    let forced = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": certificate, "custom_csr_id": csr_id, "bundle_method": "force"}),
        )
        .await;
    assert_eq!(
        forced.assert_success(StatusCode::OK)["bundle_method"],
        "force"
    );
    // Force skips trust, not the other checks.
    app.post(
        &zone_certificates(ZONE),
        &json!({"certificate": ca.sign_csr_expired(&csr_pem), "custom_csr_id": csr_id, "bundle_method": "force"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, &[1206]);
}

async fn customer_key_certificates_own_their_key(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (bundle, key_pem) = ca.issue_with_new_key(&["app.example.com"], 90);
    let response = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": bundle, "private_key": key_pem}),
        )
        .await;
    let created = response.assert_success(StatusCode::OK).clone();
    assert!(created.get("custom_csr_id").is_none());
    assert!(!created.to_string().contains("PRIVATE KEY"));
    assert_eq!(app.count_rows("private_keys").await, 1);
    let id = created["id"].as_str().expect("id");

    // Replacing the certificate needs the key again; a new pair replaces the old key.
    let (new_bundle, new_key) = ca.issue_with_new_key(&["app.example.com"], 90);
    app.patch(&path(id), &json!({"certificate": new_bundle}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[2200]);
    app.patch(
        &path(id),
        &json!({"certificate": new_bundle, "private_key": new_key}),
    )
    .await
    .assert_success(StatusCode::OK);
    assert_eq!(
        app.count_rows("private_keys").await,
        1,
        "the old key was destroyed"
    );
    app.delete(&path(id)).await.assert_success(StatusCode::OK);
    assert_eq!(app.count_rows("private_keys").await, 0);
}

async fn sibling_words_are_not_ids(backend: Backend) {
    let app = TestApp::new(backend).await;
    let response = app
        .get(&format!("{}/prioritize", zone_certificates(ZONE)))
        .await;
    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, &[7001]);
    app.get(&path("not-an-id"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1001]);
}
