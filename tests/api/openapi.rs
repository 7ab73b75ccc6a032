//! The published OpenAPI document and its reference page.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::common::{Backend, TestApp, exchange};

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api/snapshots/openapi.json"
);

/// Fails when the document changes; `EDGECERT_UPDATE_SNAPSHOTS=1` rewrites the snapshot instead.
#[tokio::test]
async fn the_document_matches_its_snapshot() {
    let app = TestApp::new(Backend::Sqlite).await;
    // No credentials: the document is public.
    let answer = app
        .send(Request::builder().uri("/client/v4/openapi.json"), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["openapi"], "3.1.0");
    // The snapshot is the served text itself, so property order counts too.
    let router = edgecert::http::router(app.state.clone());
    let request = Request::builder()
        .uri("/client/v4/openapi.json")
        .body(Body::empty())
        .unwrap();
    let (_, _, bytes) = exchange(&router, request).await;
    let served = String::from_utf8(bytes.to_vec()).unwrap() + "\n";
    if std::env::var("EDGECERT_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::write(SNAPSHOT, &served).expect("snapshot written");
        return;
    }
    let expected = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        served == expected,
        "the OpenAPI document changed; if intended, run with EDGECERT_UPDATE_SNAPSHOTS=1 and \
         review the diff of tests/api/snapshots/openapi.json"
    );
}

#[tokio::test]
async fn the_document_describes_every_api_route() {
    let app = TestApp::new(Backend::Sqlite).await;
    let document = app
        .send(Request::builder().uri("/client/v4/openapi.json"), None)
        .await
        .body;
    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in [
        (
            "/client/v4/zones/{zone_id}/custom_csrs",
            &["get", "post"][..],
        ),
        (
            "/client/v4/zones/{zone_id}/custom_csrs/{custom_csr_id}",
            &["get", "delete"],
        ),
        (
            "/client/v4/accounts/{account_id}/custom_csrs",
            &["get", "post"],
        ),
        (
            "/client/v4/accounts/{account_id}/custom_csrs/{custom_csr_id}",
            &["get", "delete"],
        ),
        (
            "/client/v4/zones/{zone_id}/custom_hostnames",
            &["get", "post"],
        ),
        (
            "/client/v4/zones/{zone_id}/custom_hostnames/{custom_hostname_id}",
            &["get", "patch", "delete"],
        ),
        (
            "/client/v4/zones/{zone_id}/custom_certificates",
            &["get", "post"],
        ),
        (
            "/client/v4/zones/{zone_id}/custom_certificates/prioritize",
            &["put"],
        ),
        (
            "/client/v4/zones/{zone_id}/custom_certificates/{custom_certificate_id}",
            &["get", "patch", "delete"],
        ),
    ] {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for method in methods {
            let operation = &item[*method];
            assert!(operation.is_object(), "{method} {path} missing");
            let unauthorized = &operation["responses"]["401"]["description"];
            assert!(
                unauthorized
                    .as_str()
                    .unwrap()
                    .contains("1000 AUTH_INVALID_TOKEN")
            );
        }
    }
    for scheme in ["bearer", "api_key", "user_service_key"] {
        assert!(document["components"]["securitySchemes"][scheme].is_object());
    }
}

#[tokio::test]
async fn the_reference_page_works_offline() {
    let app = TestApp::new(Backend::Sqlite).await;
    let router = edgecert::http::router(app.state.clone());
    let (status, headers, bytes) = exchange(
        &router,
        Request::builder().uri("/docs").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(page.contains("/client/v4/openapi.json"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page must not load anything from elsewhere"
    );
}
