//! Authentication on every route, with each header style the official SDKs send.

use axum::http::{Method, Request, StatusCode};

use crate::common::{Backend, TOKEN, TestApp, ZONE, csr_body, zone_csrs};
use crate::on_both_backends;

on_both_backends!(
    missing_credentials_are_400_1402_on_every_route,
    accepted_credential_styles,
    unknown_or_malformed_credentials_are_401,
    unknown_routes_and_methods_answer_in_the_envelope,
);

fn request(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

async fn missing_credentials_are_400_1402_on_every_route(backend: Backend) {
    let app = TestApp::new(backend).await;
    let item = format!("{}/7b163417-1d2b-4c84-a38a-2fb7a0cd7752", zone_csrs(ZONE));
    let body = csr_body("app.example.com").to_string();
    for (method, path, body) in [
        (Method::GET, zone_csrs(ZONE), None),
        (Method::POST, zone_csrs(ZONE), Some(body.as_str())),
        (Method::GET, item.clone(), None),
        (Method::DELETE, item, None),
        (
            Method::GET,
            crate::common::account_csrs(crate::common::ACCOUNT),
            None,
        ),
    ] {
        let response = app.send(request(method, &path), body).await;
        response.assert_error(StatusCode::BAD_REQUEST, &[1402]);
    }
    assert_eq!(app.count_rows("custom_csrs").await, 0);
}

async fn accepted_credential_styles(backend: Backend) {
    let app = TestApp::new(backend).await;
    let path = zone_csrs(ZONE);
    let styles: [&[(&str, String)]; 5] = [
        &[("Authorization", format!("Bearer {TOKEN}"))],
        &[("Authorization", format!("bearer {TOKEN}"))],
        &[
            ("X-Auth-Email", "user@example.com".to_string()),
            ("X-Auth-Key", TOKEN.to_string()),
        ],
        &[("X-Auth-Key", TOKEN.to_string())],
        &[("X-Auth-User-Service-Key", TOKEN.to_string())],
    ];
    for headers in styles {
        let mut builder = request(Method::GET, &path);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        app.send(builder, None).await.assert_success(StatusCode::OK);
    }
}

async fn unknown_or_malformed_credentials_are_401(backend: Backend) {
    let app = TestApp::new(backend).await;
    let path = zone_csrs(ZONE);
    let cases: [(&str, &str, u64); 6] = [
        ("Authorization", "Bearer not-the-token", 1000),
        ("X-Auth-Key", "not-the-token", 1000),
        ("X-Auth-User-Service-Key", "v1.0-not-the-token", 1000),
        ("Authorization", "Basic dXNlcjpwYXNz", 1002),
        ("Authorization", "Bearer ", 1002),
        ("Authorization", TOKEN, 1002),
    ];
    for (name, value, code) in cases {
        let response = app
            .send(request(Method::GET, &path).header(name, value), None)
            .await;
        response.assert_error(StatusCode::UNAUTHORIZED, &[code]);
        assert!(
            !response.body.to_string().contains("not-the-token"),
            "credentials are never echoed"
        );
    }
    let response = app
        .send(
            request(Method::POST, &path).header("Authorization", "Bearer wrong"),
            Some(&csr_body("app.example.com").to_string()),
        )
        .await;
    response.assert_error(StatusCode::UNAUTHORIZED, &[1000]);
    assert_eq!(app.count_rows("custom_csrs").await, 0);
}

async fn unknown_routes_and_methods_answer_in_the_envelope(backend: Backend) {
    let app = TestApp::new(backend).await;
    for path in [
        "/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/custom_things",
        "/client/v4/",
        "/",
        "/zones/023e105f4ecef8ad9ca31a8372d0c353/custom_csrs",
    ] {
        app.get(path)
            .await
            .assert_error(StatusCode::BAD_REQUEST, &[7000]);
    }
    let response = app.call(Method::PUT, &zone_csrs(ZONE), Some("{}")).await;
    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, &[7001]);
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/client/v4/zones/")),
        "{}",
        response.body
    );
}
