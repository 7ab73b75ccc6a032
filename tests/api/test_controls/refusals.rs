//! What the test controls refuse: everything while they are off, requests without a valid
//! token, and controls the real API's values do not allow.

use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use time::Duration;

use super::{CLOCK, RESET, pending_hostname, status_path, total};
use crate::common::{
    ACCOUNT, Backend, OTHER_ZONE, TestApp, ZONE, csr_body, zone_csrs, zone_hostnames,
};
use crate::on_both_backends;

on_both_backends!(
    the_routes_are_absent_unless_enabled,
    the_routes_need_an_api_token,
    invalid_controls_are_refused_with_their_codes,
);

async fn the_routes_are_absent_unless_enabled(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.create_csr(&csr_body("app.example.com")).await;
    let unknown = app.get("/_edgecert/nothing-here").await;
    assert_eq!(unknown.codes(), [7000], "{}", unknown.body);
    let id = "7b163417-1d2b-4c84-a38a-2fb7a0cd7752";
    for (method, path, body) in [
        (Method::POST, RESET.to_string(), Some("{}")),
        (Method::GET, CLOCK.to_string(), None),
        (
            Method::PUT,
            CLOCK.to_string(),
            Some(r#"{"advance_seconds": 86400}"#),
        ),
        (Method::DELETE, CLOCK.to_string(), None),
        (
            Method::PATCH,
            status_path(ZONE, id),
            Some(r#"{"status": "blocked"}"#),
        ),
        (Method::DELETE, status_path(ZONE, id), None),
        (
            Method::POST,
            format!("/_edgecert/zones/{ZONE}/custom_hostnames/{id}/check"),
            None,
        ),
    ] {
        let answer = app.call(method.clone(), &path, body).await;
        // Exactly what a path edgecert has never heard of gets, so nothing gives them away.
        assert_eq!(answer.status, unknown.status, "{method} {path}");
        assert_eq!(answer.codes(), unknown.codes(), "{method} {path}");
    }
    // Nothing ran: the CSR is still there and the clock was not moved.
    assert_eq!(total(&app.get(&zone_csrs(ZONE)).await), 1);
    assert_eq!(app.state.clock.offset(), Duration::ZERO);
}

async fn the_routes_need_an_api_token(backend: Backend) {
    let app = TestApp::with(backend, |args| args.test_controls = true).await;
    let body = r#"{"advance_seconds": 86400}"#;
    let anonymous = app
        .send(
            Request::builder().method(Method::PUT).uri(CLOCK),
            Some(body),
        )
        .await;
    anonymous.assert_error(StatusCode::BAD_REQUEST, &[1402]);
    let wrong = app
        .send(
            Request::builder().method(Method::POST).uri(RESET).header(
                "authorization",
                "Bearer not-a-token-of-this-instance-000000",
            ),
            Some("{}"),
        )
        .await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, &[1000]);
    assert_eq!(app.state.clock.offset(), Duration::ZERO, "refused, not run");

    // The other credential headers of the API work too.
    let with_key = app
        .send(
            Request::builder()
                .method(Method::PUT)
                .uri(CLOCK)
                .header("x-auth-key", crate::common::TOKEN)
                .header("x-auth-email", "tests@example.com")
                .header("content-type", "application/json"),
            Some(body),
        )
        .await;
    let clock = with_key.assert_success(StatusCode::OK);
    assert_eq!(clock["offset_seconds"].as_f64(), Some(86400.0), "{clock}");
    let read = app.get(CLOCK).await;
    assert_eq!(
        read.assert_success(StatusCode::OK)["offset_seconds"],
        86400.0
    );
}

async fn invalid_controls_are_refused_with_their_codes(backend: Backend) {
    let app = TestApp::with(backend, |args| args.test_controls = true).await;
    let id = pending_hostname(&app, "app.example.com").await;
    let path = status_path(ZONE, &id);
    let pointer = |answer: &crate::common::TestResponse| {
        answer.body["errors"][0]["source"]["pointer"].clone()
    };

    let unknown = app.patch(&path, &json!({"status": "activ"})).await;
    unknown.assert_error(StatusCode::BAD_REQUEST, &[99003]);
    assert_eq!(pointer(&unknown), "/status");
    let message = unknown.body["errors"][0]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("\"activ\"") && message.contains("pending_blocked"),
        "{message}"
    );
    // `expired` is an ssl status, not a hostname status.
    let wrong_list = app
        .patch(&path, &json!({"ssl": {"status": "blocked"}}))
        .await;
    wrong_list.assert_error(StatusCode::BAD_REQUEST, &[99003]);
    assert_eq!(pointer(&wrong_list), "/ssl/status");
    let typo = app.patch(&path, &json!({"ssl_status": "active"})).await;
    typo.assert_error(StatusCode::BAD_REQUEST, &[99003]);
    assert_eq!(pointer(&typo), "/ssl_status");
    let errors = app
        .patch(&path, &json!({"verification_errors": [42]}))
        .await;
    errors.assert_error(StatusCode::BAD_REQUEST, &[99003]);
    assert_eq!(pointer(&errors), "/verification_errors/0");
    // Nothing was forced by the refused requests.
    assert_eq!(app.count_rows("custom_hostname_status_overrides").await, 0);

    let missing = status_path(ZONE, "7b163417-1d2b-4c84-a38a-2fb7a0cd7752");
    app.patch(&missing, &json!({"status": "active"}))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1436]);
    app.delete(&missing)
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1436]);
    // A hostname of another zone is not found in this one.
    app.patch(&status_path(OTHER_ZONE, &id), &json!({"status": "active"}))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1436]);
    app.patch(
        &status_path(ZONE, "not-an-id"),
        &json!({"status": "active"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, &[1435]);
    app.patch(&status_path("ZONE", &id), &json!({"status": "active"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1401]);

    app.post(RESET, &json!({"zone_id": ZONE, "account_id": ACCOUNT}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[99001]);
    app.post(RESET, &json!({"zone_id": "example.com"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1401]);
    // An empty body is no way to say "everything": that takes `{}`.
    app.call(Method::POST, RESET, Some(""))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1400]);
    // None of them removed anything.
    assert_eq!(total(&app.get(&zone_hostnames(ZONE)).await), 1);

    for body in [
        json!({}),
        json!({"now": "next tuesday"}),
        json!({"now": "2030-01-01T00:00:00Z", "advance_seconds": 5}),
        json!({"advance_seconds": "5"}),
        json!({"now": "10000-01-01T00:00:00Z"}),
        json!({"now": "1969-12-31T23:59:59Z"}),
        json!({"advance_seconds": -1e11}),
    ] {
        let answer = app.put(CLOCK, &body).await;
        answer.assert_error(StatusCode::BAD_REQUEST, &[99002]);
    }
    assert_eq!(app.state.clock.offset(), Duration::ZERO, "never moved");
    app.call(Method::POST, CLOCK, Some("{}"))
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, &[7001]);
}
