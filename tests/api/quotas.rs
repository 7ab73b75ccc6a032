//! Quotas: the custom hostname quota endpoint in the SDK's shape, and the configured limits
//! on hostnames, custom certificates and CSRs enforced with the real API's codes, also when
//! creates race.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::common::{
    ACCOUNT, Backend, TOKEN, TestApp, ZONE, account_csrs, csr_body, send_to, zone_certificates,
    zone_csrs, zone_hostnames,
};
use crate::on_both_backends;
use crate::testca::TestCa;

on_both_backends!(
    the_quota_endpoint_has_the_sdk_shape_and_unlimited_by_default,
    hostnames_past_the_allocation_warn_and_the_hard_cap_refuses,
    a_zero_hostname_quota_is_no_quota,
    concurrent_creates_never_overshoot_the_hard_cap,
    csr_quotas_count_each_zone_and_account,
    custom_certificate_quota_is_1212,
);

const OTHER_ZONE: &str = "0123456789abcdef0123456789abcdef";

fn quota_path(zone: &str) -> String {
    format!("{}/quota", zone_hostnames(zone))
}

async fn create_hostname(app: &TestApp, zone: &str, name: &str) -> crate::common::TestResponse {
    app.post(&zone_hostnames(zone), &json!({"hostname": name}))
        .await
}

async fn the_quota_endpoint_has_the_sdk_shape_and_unlimited_by_default(backend: Backend) {
    let app = TestApp::new(backend).await;
    for i in 0..3 {
        create_hostname(&app, ZONE, &format!("h{i}.example.com"))
            .await
            .assert_success(StatusCode::CREATED);
    }
    let quota = app.get(&quota_path(ZONE)).await;
    assert_eq!(
        quota.assert_success(StatusCode::OK),
        &json!({
            "allocated": 9_007_199_254_740_991_u64,
            "used": 3,
            "exceeded": false,
            "hard_cap": 9_007_199_254_740_991_u64,
        })
    );
    let other = app.get(&quota_path(OTHER_ZONE)).await;
    assert_eq!(other.assert_success(StatusCode::OK)["used"], 0);
}

async fn hostnames_past_the_allocation_warn_and_the_hard_cap_refuses(backend: Backend) {
    let app = TestApp::with(backend, |args| {
        args.quota_custom_hostnames = Some(2);
        args.quota_custom_hostnames_hard_cap = Some(3);
    })
    .await;
    for i in 0..2 {
        let created = create_hostname(&app, ZONE, &format!("h{i}.example.com")).await;
        created.assert_success(StatusCode::CREATED);
        assert_eq!(created.body["messages"], json!([]), "{}", created.body);
    }
    let quota = app.get(&quota_path(ZONE)).await;
    let quota = quota.assert_success(StatusCode::OK);
    assert_eq!(
        quota,
        &json!({"allocated": 2, "used": 2, "exceeded": true, "hard_cap": 3})
    );
    // Past the allocation: created, with a warning.
    let third = create_hostname(&app, ZONE, "h2.example.com").await;
    third.assert_success(StatusCode::CREATED);
    assert_eq!(third.body["messages"][0]["code"], 1405, "{}", third.body);
    // At the hard cap: refused, nothing written.
    let fourth = create_hostname(&app, ZONE, "h3.example.com").await;
    fourth.assert_error(StatusCode::FORBIDDEN, &[1405]);
    assert_eq!(app.count_rows("custom_hostnames").await, 3);
    // Another zone has its own quota; a delete frees a place.
    create_hostname(&app, OTHER_ZONE, "h3.example.com")
        .await
        .assert_success(StatusCode::CREATED);
    let list = app.get(&zone_hostnames(ZONE)).await;
    let id = list.body["result"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    app.delete(&format!("{}/{id}", zone_hostnames(ZONE)))
        .await
        .assert_success(StatusCode::OK);
    create_hostname(&app, ZONE, "h3.example.com")
        .await
        .assert_success(StatusCode::CREATED);
}

async fn a_zero_hostname_quota_is_no_quota(backend: Backend) {
    let app = TestApp::with(backend, |args| args.quota_custom_hostnames = Some(0)).await;
    create_hostname(&app, ZONE, "app.example.com")
        .await
        .assert_error(StatusCode::FORBIDDEN, &[1404]);
    assert_eq!(app.count_rows("custom_hostnames").await, 0);
}

/// Eight creates at once, each on its own task, against a cap of three: exactly three
/// succeed, whichever they are.
async fn concurrent_creates_never_overshoot_the_hard_cap(backend: Backend) {
    let app = TestApp::with(backend, |args| args.quota_custom_hostnames = Some(3)).await;
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..8 {
        let router = app.router.clone();
        creates.spawn(async move {
            let request = Request::post(zone_hostnames(ZONE))
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"hostname": format!("race{i}.example.com")}).to_string(),
                ))
                .expect("request");
            send_to(&router, request).await
        });
    }
    let answers = creates.join_all().await;
    let created = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::FORBIDDEN && answer.codes() == [1405])
        .count();
    assert_eq!((created, refused), (3, 5));
    assert_eq!(app.count_rows("custom_hostnames").await, 3);
}

async fn csr_quotas_count_each_zone_and_account(backend: Backend) {
    let app = TestApp::with(backend, |args| args.quota_custom_csrs = Some(2)).await;
    let body = csr_body("app.example.com");
    for _ in 0..2 {
        app.post(&zone_csrs(ZONE), &body)
            .await
            .assert_success(StatusCode::CREATED);
    }
    let refused = app.post(&zone_csrs(ZONE), &body).await;
    refused.assert_error(StatusCode::FORBIDDEN, &[1403]);
    assert!(
        refused.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("EDGECERT_QUOTA_CUSTOM_CSRS")),
        "{}",
        refused.body
    );
    assert_eq!(app.count_rows("custom_csrs").await, 2);
    // The account scope and another zone count on their own.
    app.post(&account_csrs(ACCOUNT), &body)
        .await
        .assert_success(StatusCode::CREATED);
    app.post(&zone_csrs(OTHER_ZONE), &body)
        .await
        .assert_success(StatusCode::CREATED);
    let list = app.get(&zone_csrs(ZONE)).await;
    assert_eq!(list.body["result_info"]["total_count"], 2);
}

async fn custom_certificate_quota_is_1212(backend: Backend) {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, ca.root_pem()).expect("write roots");
    let app = TestApp::with(backend, |args| {
        args.trust_roots = Some(roots.clone());
        args.quota_custom_certificates = Some(1);
    })
    .await;
    let (bundle, key) = ca.issue_with_new_key(&["shop.example.org"], 90);
    let upload = json!({"certificate": bundle, "private_key": key});
    app.post(&zone_certificates(ZONE), &upload)
        .await
        .assert_success(StatusCode::OK);
    app.post(&zone_certificates(ZONE), &upload)
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1212]);
    assert_eq!(app.count_rows("custom_certificates").await, 1);
    // The refused upload's customer key was not kept.
    assert_eq!(app.count_rows("private_keys").await, 1);
}
