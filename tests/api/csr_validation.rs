//! Every create-request rule answers with its own status and Cloudflare code, and a refused
//! request leaves nothing behind.

use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, TOKEN, TestApp, ZONE, csr_body, zone_csrs};
use crate::on_both_backends;

on_both_backends!(
    each_missing_or_empty_field_has_its_code,
    country_must_be_an_iso_code,
    common_name_longer_than_64_is_1410,
    sans_rules_map_to_their_codes,
    example_domains_pass_by_default_and_fail_in_strict_mode,
    bad_key_type_is_1417,
    undecodable_bodies_are_1400,
    several_problems_are_all_reported_in_form_order,
    refused_requests_write_nothing,
    malformed_scope_ids_are_1401,
    malformed_and_unknown_csr_ids,
);

async fn expect_codes(app: &TestApp, body: &Value, codes: &[u64]) {
    let response = app.post(&zone_csrs(ZONE), body).await;
    response.assert_error(StatusCode::BAD_REQUEST, codes);
}

fn with(field: &str, value: Value) -> Value {
    let mut body = csr_body("app.example.com");
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = csr_body("app.example.com");
    body.as_object_mut().expect("object").remove(field);
    body
}

async fn each_missing_or_empty_field_has_its_code(backend: Backend) {
    let app = TestApp::new(backend).await;
    for (field, code) in [
        ("country", 1405),
        ("state", 1406),
        ("locality", 1407),
        ("organization", 1408),
        ("common_name", 1409),
    ] {
        expect_codes(&app, &without(field), &[code]).await;
        expect_codes(&app, &with(field, json!("")), &[code]).await;
        expect_codes(&app, &with(field, json!("   ")), &[code]).await;
        expect_codes(&app, &with(field, Value::Null), &[code]).await;
        expect_codes(&app, &with(field, json!(42)), &[code]).await;
    }
    let response = app.post(&zone_csrs(ZONE), &without("state")).await;
    assert_eq!(response.body["errors"][0]["source"]["pointer"], "/state");
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("state")),
        "{}",
        response.body
    );
    // State longer than the X.520 bound, and control characters, are refused with the field's code.
    expect_codes(&app, &with("state", json!("x".repeat(129))), &[1406]).await;
    expect_codes(&app, &with("locality", json!("Bos\nton")), &[1407]).await;
}

async fn country_must_be_an_iso_code(backend: Backend) {
    let app = TestApp::new(backend).await;
    for bad in ["us", "USA", "UK", "ZZ", "U"] {
        expect_codes(&app, &with("country", json!(bad)), &[1405]).await;
    }
    app.create_csr(&with("country", json!("GB"))).await;
}

async fn common_name_longer_than_64_is_1410(backend: Backend) {
    let app = TestApp::new(backend).await;
    let long = format!("{}.example.com", "a".repeat(53));
    assert_eq!(long.len(), 65);
    let mut body = with("common_name", json!(long));
    body["sans"] = json!(["app.example.com"]);
    expect_codes(&app, &body, &[1410]).await;
    let exactly = format!("{}.example.com", "a".repeat(52));
    body["common_name"] = json!(exactly);
    app.create_csr(&body).await;
}

async fn sans_rules_map_to_their_codes(backend: Backend) {
    let app = TestApp::new(backend).await;
    expect_codes(&app, &without("sans"), &[1411]).await;
    expect_codes(&app, &with("sans", json!([])), &[1411]).await;
    expect_codes(&app, &with("sans", json!("app.example.com")), &[1411]).await;
    let long_name = format!("{}.com", vec!["a".repeat(63); 4].join("."));
    assert!(long_name.len() >= 256);
    for invalid in [
        json!(long_name),
        json!("192.0.2.1"),
        json!("2001:db8::1"),
        json!("app_1.example.com"),
        json!("app!.example.com"),
        json!("-app.example.com"),
        json!("app-.example.com"),
        json!("app..example.com"),
        json!(".example.com"),
        json!("app.*.example.com"),
        json!(7),
    ] {
        expect_codes(&app, &with("sans", json!([invalid])), &[1412]).await;
    }
    expect_codes(
        &app,
        &with("sans", json!(["app.example.com", "APP.example.com"])),
        &[1412],
    )
    .await;
    expect_codes(&app, &with("sans", json!(["bücher.de"])), &[1413]).await;
    for reserved in [
        "app.test",
        "app.example",
        "app.invalid",
        "localhost",
        "a.localhost",
    ] {
        expect_codes(&app, &with("sans", json!([reserved])), &[1414]).await;
    }
    for unparsable in ["com", "co.uk", "app.nosuchtld"] {
        expect_codes(&app, &with("sans", json!([unparsable])), &[1415]).await;
    }
    let created = app
        .create_csr(&with(
            "sans",
            json!(["app.example.com", "*.example.com", "xn--bcher-kva.de"]),
        ))
        .await;
    assert_eq!(
        created["sans"],
        json!(["app.example.com", "*.example.com", "xn--bcher-kva.de"])
    );
    let response = app
        .post(
            &zone_csrs(ZONE),
            &with("sans", json!(["ok.example.com", "bad..example.com"])),
        )
        .await;
    assert_eq!(response.body["errors"][0]["source"]["pointer"], "/sans/1");
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bad..example.com")),
        "{}",
        response.body
    );
}

async fn example_domains_pass_by_default_and_fail_in_strict_mode(backend: Backend) {
    let lenient = TestApp::new(backend).await;
    lenient
        .create_csr(&with("sans", json!(["app.example.com", "example.net"])))
        .await;
    let strict = TestApp::with(backend, |args| args.strict = true).await;
    expect_codes(
        &strict,
        &with(
            "sans",
            json!(["app.example.com", "shop.example.org", "app.realdomain.io"]),
        ),
        &[1416, 1416],
    )
    .await;
    let mut body = with("sans", json!(["app.realdomain.io"]));
    body["common_name"] = json!("app.realdomain.io");
    strict.create_csr(&body).await;
}

async fn bad_key_type_is_1417(backend: Backend) {
    let app = TestApp::new(backend).await;
    for bad in [json!("rsa4096"), json!("RSA2048"), json!(""), json!(2048)] {
        expect_codes(&app, &with("key_type", bad), &[1417]).await;
    }
}

async fn undecodable_bodies_are_1400(backend: Backend) {
    let app = TestApp::new(backend).await;
    // No body and no Content-Type: the header is what is missing first.
    app.call(Method::POST, &zone_csrs(ZONE), None)
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[6003]);
    for body in [
        Some(""),
        Some("  "),
        Some("{"),
        Some("[]"),
        Some("\"x\""),
        Some("country=US"),
    ] {
        let response = app.call(Method::POST, &zone_csrs(ZONE), body).await;
        response.assert_error(StatusCode::BAD_REQUEST, &[1400]);
    }
    let response = app
        .call(Method::POST, &zone_csrs(ZONE), Some("{\"country\": }"))
        .await;
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 1")),
        "the parser's position helps find the mistake: {}",
        response.body
    );
    let oversized = format!("{{\"description\": \"{}\"}}", "x".repeat(1024 * 1024));
    let response = app
        .call(Method::POST, &zone_csrs(ZONE), Some(&oversized))
        .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.codes(), vec![1400]);
}

async fn several_problems_are_all_reported_in_form_order(backend: Backend) {
    let app = TestApp::new(backend).await;
    let body = json!({
        "country": "usa",
        "locality": "Boston",
        "organization": "City of Boston",
        "common_name": "x".repeat(65),
        "sans": ["ok.example.com", "bad_name.example.com", "app.test"],
        "key_type": "dsa",
    });
    expect_codes(&app, &body, &[1405, 1406, 1410, 1412, 1414, 1417]).await;
}

async fn refused_requests_write_nothing(backend: Backend) {
    let app = TestApp::new(backend).await;
    expect_codes(&app, &with("sans", json!(["app.test"])), &[1414]).await;
    expect_codes(&app, &with("key_type", json!("rsa1024")), &[1417]).await;
    assert_eq!(app.count_rows("custom_csrs").await, 0);
    assert_eq!(app.count_rows("private_keys").await, 0);
    app.create_csr(&csr_body("app.example.com")).await;
    assert_eq!(app.count_rows("custom_csrs").await, 1);
    assert_eq!(app.count_rows("private_keys").await, 1);
}

async fn malformed_scope_ids_are_1401(backend: Backend) {
    let app = TestApp::new(backend).await;
    for zone in [
        "023E105F4ECEF8AD9CA31A8372D0C353",
        "023e105f4ecef8ad9ca31a8372d0c35",
        "023e105f4ecef8ad9ca31a8372d0c3533",
        "not-a-zone",
    ] {
        let response = app.get(&zone_csrs(zone)).await;
        response.assert_error(StatusCode::BAD_REQUEST, &[1401]);
        assert!(
            response.body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("32 lowercase hexadecimal")),
            "{}",
            response.body
        );
        let response = app
            .post(&zone_csrs(zone), &csr_body("app.example.com"))
            .await;
        response.assert_error(StatusCode::BAD_REQUEST, &[1401]);
    }
    let response = app.get("/client/v4/accounts/ACCOUNT/custom_csrs").await;
    response.assert_error(StatusCode::BAD_REQUEST, &[1401]);
    assert_eq!(app.count_rows("custom_csrs").await, 0);
}

async fn malformed_and_unknown_csr_ids(backend: Backend) {
    let app = TestApp::new(backend).await;
    for bad in [
        "123",
        "7b1634171d2b4c84a38a2fb7a0cd7752",
        "7b163417-1d2b-4c84-a38a-2fb7a0cd775z",
    ] {
        let path = format!("{}/{bad}", zone_csrs(ZONE));
        app.get(&path)
            .await
            .assert_error(StatusCode::BAD_REQUEST, &[1418]);
        app.delete(&path)
            .await
            .assert_error(StatusCode::BAD_REQUEST, &[1418]);
    }
    let unknown = format!("{}/7b163417-1d2b-4c84-a38a-2fb7a0cd7752", zone_csrs(ZONE));
    app.get(&unknown)
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1419]);
    app.delete(&unknown)
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1419]);
    // A DELETE from the official SDK carries a JSON content type and no body.
    let request = Request::builder()
        .method(Method::DELETE)
        .uri(&unknown)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json");
    app.send(request, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1419]);
}
