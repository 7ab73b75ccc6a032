//! Liveness and readiness probes.

use axum::http::{Method, Request, StatusCode};

use std::time::Duration;

use crate::common::{Backend, TestApp, ZONE, csr_body, zone_csrs};
use crate::on_both_backends;

on_both_backends!(
    probes_answer_without_credentials,
    readiness_fails_when_the_key_store_or_schema_is_not_usable,
    abandoned_creates_finish_and_leave_the_database_usable,
);

/// Clients that hang up mid-request (at staggered moments, so some land while a transaction
/// is being opened) must neither cancel the write half-way nor leave a connection holding the
/// database's write lock: every abandoned create completes, and the next one answers at once.
async fn abandoned_creates_finish_and_leave_the_database_usable(backend: Backend) {
    const ABANDONED: u64 = 40;
    let app = TestApp::new(backend).await;
    let mut answered = 0;
    for n in 0..ABANDONED {
        let after = Duration::from_micros(50 * n);
        if app
            .abandon(
                Method::POST,
                &zone_csrs(ZONE),
                &csr_body(&format!("gone{n}.example.com")),
                after,
            )
            .await
        {
            answered += 1;
        }
    }
    assert!(
        answered < ABANDONED,
        "no request was abandoned; the test proves nothing"
    );

    // Every request runs to completion in its own task; wait for the last one to end.
    app.state.in_flight.idle().await;
    assert_eq!(
        app.count_rows("custom_csrs").await,
        ABANDONED as i64,
        "an abandoned create was not completed"
    );
    assert!(
        !app.write_lock_is_held().await,
        "a connection still holds the database's write lock after every request ended"
    );
    let created = app.create_csr(&csr_body("after.example.com")).await;
    assert!(created["id"].is_string(), "{created}");
}

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
            .is_some_and(|m| m.contains("8 of 9")),
        "{}",
        ready.body
    );
}
