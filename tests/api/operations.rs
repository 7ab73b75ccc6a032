//! Liveness and readiness probes.

use axum::http::{Method, Request, StatusCode};

use crate::common::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    probes_answer_without_credentials,
    readiness_fails_when_the_key_store_or_schema_is_not_usable,
);

async fn probes_answer_without_credentials(backend: Backend) {
    let app = TestApp::new(backend).await;
    let health = app.send(Request::builder().uri("/healthz"), None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = app.send(Request::builder().uri("/readyz"), None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(
        ready.body,
        serde_json::json!({"status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "key_store": "ok"}})
    );
    let post = app
        .send(Request::builder().method(Method::POST).uri("/readyz"), None)
        .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn readiness_fails_when_the_key_store_or_schema_is_not_usable(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.execute("DELETE FROM settings WHERE name = 'master_key_check'")
        .await;
    let ready = app.send(Request::builder().uri("/readyz"), None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );
    assert_eq!(ready.body["status"], "unavailable");
    assert_eq!(ready.body["checks"]["database"], "ok");
    assert_ne!(ready.body["checks"]["key_store"], "ok");
    assert!(
        !ready
            .body
            .to_string()
            .contains(&crate::common::test_master_key())
    );

    let app = TestApp::new(backend).await;
    app.execute(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    let ready = app.send(Request::builder().uri("/readyz"), None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );
    assert!(
        ready.body["checks"]["migrations"]
            .as_str()
            .is_some_and(|m| m.contains("2 of 3")),
        "{}",
        ready.body
    );
}
