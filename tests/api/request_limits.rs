//! Request limits: every string or list a client can make edgecert store and echo is accepted
//! at its limit and refused just over it with its field's code and a message that gives the
//! limit; a refused request stores nothing. Repeated JSON keys, deep nesting and long error
//! lists are refused or cut without repeating the client's input.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{
    Backend, TestApp, TestResponse, ZONE, csr_body, zone_certificates, zone_csrs, zone_hostnames,
};
use crate::on_both_backends;
use crate::testca::TestCa;

on_both_backends!(
    csr_sans_are_capped_at_150,
    csr_name_and_description_are_capped,
    hostname_fields_are_capped,
    hostname_edits_are_capped_and_leave_the_record_alone,
    certificate_fields_are_capped,
    error_lists_are_capped_and_echoes_cut,
    repeated_keys_are_refused_at_any_depth,
    deep_nesting_is_refused_quickly,
    a_page_of_maximal_csrs_is_bounded,
);

/// A valid, distinct SAN of exactly 253 characters, the longest a SAN may be (255 octets on
/// the wire).
pub fn longest_san(index: usize) -> String {
    let label = "a".repeat(63);
    let san = format!("s{index:04}.{label}.{label}.{label}.{}.com", "b".repeat(51));
    assert_eq!(san.len(), 253);
    san
}

fn csr_with(field: &str, value: Value) -> Value {
    let mut body = csr_body("app.example.com");
    body[field] = value;
    body
}

/// The message of the only error, which must carry `code`.
#[track_caller]
fn refused(response: &TestResponse, code: u64) -> String {
    response.assert_error(StatusCode::BAD_REQUEST, &[code]);
    response.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Refused with `code` and a message that states `limit`.
#[track_caller]
fn refused_over(response: &TestResponse, code: u64, limit: usize) {
    let message = refused(response, code);
    assert!(
        message.contains(&format!("the limit is {limit}")),
        "{message}"
    );
}

async fn csr_sans_are_capped_at_150(backend: Backend) {
    let app = TestApp::new(backend).await;
    let sans: Vec<String> = (0..150).map(longest_san).collect();
    let created = app.create_csr(&csr_with("sans", json!(sans))).await;
    assert_eq!(created["sans"].as_array().map(Vec::len), Some(150));

    let sans: Vec<String> = (0..151).map(longest_san).collect();
    let response = app
        .post(&zone_csrs(ZONE), &csr_with("sans", json!(sans)))
        .await;
    let message = refused(&response, 1411);
    assert!(
        message.contains("151") && message.contains("150"),
        "{message}"
    );
    assert_eq!(response.body["errors"][0]["source"]["pointer"], "/sans");
    // Many more names are one short answer, not one error per name.
    let sans: Vec<String> = (0..10_000).map(|i| format!("h{i}.example.com")).collect();
    let response = app
        .post(&zone_csrs(ZONE), &csr_with("sans", json!(sans)))
        .await;
    refused(&response, 1411);
    assert_eq!(app.count_rows("custom_csrs").await, 1);
    assert_eq!(app.count_rows("private_keys").await, 1);
}

async fn csr_name_and_description_are_capped(backend: Backend) {
    let app = TestApp::new(backend).await;
    for (field, limit) in [("name", 255), ("description", 1024)] {
        let created = app
            .create_csr(&csr_with(field, json!("n".repeat(limit))))
            .await;
        assert_eq!(created[field].as_str().map(str::len), Some(limit));
        let response = app
            .post(
                &zone_csrs(ZONE),
                &csr_with(field, json!("n".repeat(limit + 1))),
            )
            .await;
        refused_over(&response, 1400, limit);
        assert_eq!(
            response.body["errors"][0]["source"]["pointer"],
            format!("/{field}")
        );
        // Characters, not bytes: a limit of multi-byte characters is accepted whole.
        app.create_csr(&csr_with(field, json!("é".repeat(limit))))
            .await;
    }
    let response = app
        .post(
            &zone_csrs(ZONE),
            &csr_with("name", json!("n".repeat(200_000))),
        )
        .await;
    assert!(response.body.to_string().len() < 1000, "{}", response.body);
    assert_eq!(app.count_rows("custom_csrs").await, 4);
}

/// Metadata of `keys` entries `kN` whose values add up to `total` characters, none over 1024.
fn metadata(keys: usize, total: usize) -> Value {
    let mut object = serde_json::Map::new();
    let mut left = total;
    for index in 0..keys {
        let length = left.min(1024);
        left -= length;
        object.insert(format!("k{index}"), json!("v".repeat(length)));
    }
    Value::Object(object)
}

async fn hostname_fields_are_capped(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut stored = 0;
    let mut accept = |body: Value| {
        stored += 1;
        let mut body = body;
        body["hostname"] = json!(format!("h{stored}.example.com"));
        body
    };
    let mut over = Vec::new();
    for field in ["custom_origin_server", "custom_origin_sni"] {
        let body = accept(json!({ field: "o".repeat(255) }));
        let created = app.post(&zone_hostnames(ZONE), &body).await;
        let result = created.assert_success(StatusCode::CREATED);
        assert_eq!(result[field].as_str().map(str::len), Some(255));
        over.push((json!({ field: "o".repeat(256) }), 1415, Some(255)));
    }
    // custom_metadata: key length, value length, and the whole object as JSON (4 keys "kN"
    // are 33 bytes of JSON around their values).
    for body in [
        json!({"custom_metadata": {"k".repeat(128): "v"}}),
        json!({"custom_metadata": {"k": "v".repeat(1024)}}),
        json!({"custom_metadata": metadata(4, 4096 - 33)}),
        // Settings are checked one by one; near the size limit only a long cipher list gets.
        json!({"ssl": {"settings": {"ciphers": vec!["AES128-SHA"; 300]}}}),
    ] {
        let body = accept(body);
        app.post(&zone_hostnames(ZONE), &body)
            .await
            .assert_success(StatusCode::CREATED);
    }
    over.extend([
        (
            json!({"custom_metadata": {"k".repeat(129): "v"}}),
            1401,
            None,
        ),
        (
            json!({"custom_metadata": {"k": "v".repeat(1025)}}),
            1401,
            Some(1024),
        ),
        (
            json!({"custom_metadata": metadata(4, 4096 - 32)}),
            1401,
            Some(4096),
        ),
        (json!({"custom_metadata": {"": "v"}}), 1401, None),
        (
            json!({"ssl": {"settings": {"x": "s".repeat(4096 - 7)}}}),
            1434,
            Some(4096),
        ),
        (
            json!({"ssl": {"custom_certificate": "c".repeat(65_537)}}),
            1426,
            Some(65_536),
        ),
        (
            json!({"ssl": {"custom_key": "k".repeat(16_385)}}),
            1428,
            Some(16_384),
        ),
        (
            json!({"ssl": {"custom_csr_id": "i".repeat(37)}}),
            1430,
            Some(36),
        ),
        (
            json!({"hostname": format!("{}.com", "a".repeat(252))}),
            1407,
            None,
        ),
    ]);
    for (mut body, code, limit) in over {
        if body.get("hostname").is_none() {
            body["hostname"] = json!("refused.example.com");
        }
        let response = app.post(&zone_hostnames(ZONE), &body).await;
        match limit {
            Some(limit) => refused_over(&response, code, limit),
            None => drop(refused(&response, code)),
        }
    }
    // At the limit, a PEM is not refused for its length but for what it is.
    let body = json!({"hostname": "pem.example.com",
        "ssl": {"custom_certificate": "c".repeat(65_536), "custom_key": "k".repeat(16_384)}});
    let response = app.post(&zone_hostnames(ZONE), &body).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        !response.body.to_string().contains("the limit is"),
        "{}",
        response.body
    );
    assert_eq!(app.count_rows("custom_hostnames").await, stored);
}

async fn hostname_edits_are_capped_and_leave_the_record_alone(backend: Backend) {
    let app = TestApp::new(backend).await;
    let created = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com", "custom_origin_server": "origin.example.com",
                    "custom_metadata": {"customer": "acme"}}),
        )
        .await;
    let id = created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("{}/{id}", zone_hostnames(ZONE));
    for (body, code, limit) in [
        (json!({"custom_origin_server": "o".repeat(256)}), 1415, 255),
        (
            json!({"custom_metadata": {"customer": "v".repeat(1025)}}),
            1401,
            1024,
        ),
    ] {
        refused_over(&app.patch(&path, &body).await, code, limit);
    }
    let current = app.get(&path).await;
    let result = current.assert_success(StatusCode::OK);
    assert_eq!(result["custom_origin_server"], "origin.example.com");
    assert_eq!(result["custom_metadata"], json!({"customer": "acme"}));
}

async fn certificate_fields_are_capped(backend: Backend) {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, ca.root_pem()).expect("write roots");
    let app = TestApp::with(backend, |args| args.trust_roots = Some(roots.clone())).await;
    let csr = app.create_csr(&csr_body("app.example.com")).await;
    let csr_id = csr["id"].as_str().expect("id");
    let certificate = ca.sign_csr(csr["csr"].as_str().expect("csr"), 90, time::Duration::ZERO);
    for (body, code, limit) in [
        (json!({"certificate": "c".repeat(65_537)}), 1002, 65_536),
        (
            json!({"certificate": certificate, "private_key": "k".repeat(16_385)}),
            2106,
            16_384,
        ),
        (
            json!({"certificate": certificate, "custom_csr_id": "i".repeat(37)}),
            1430,
            36,
        ),
        (
            json!({"certificate": certificate, "custom_csr_id": csr_id, "policy": "p".repeat(1025)}),
            2001,
            1024,
        ),
        (
            json!({"certificate": certificate, "custom_csr_id": csr_id,
                   "policy_restrictions": "p".repeat(1025)}),
            2001,
            1024,
        ),
    ] {
        refused_over(
            &app.post(&zone_certificates(ZONE), &body).await,
            code,
            limit,
        );
    }
    assert_eq!(app.count_rows("custom_certificates").await, 0);
    let policy = format!("(country: US){}", " ".repeat(1024 - 13));
    let response = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": certificate, "custom_csr_id": csr_id, "policy": policy}),
        )
        .await;
    let result = response.assert_success(StatusCode::OK);
    assert_eq!(
        result["policy_restrictions"].as_str().map(str::len),
        Some(1024)
    );
    let path = format!(
        "{}/{}",
        zone_certificates(ZONE),
        result["id"].as_str().expect("id")
    );
    refused_over(
        &app.patch(&path, &json!({"policy": "p".repeat(1025)})).await,
        2001,
        1024,
    );
    assert_eq!(app.count_rows("custom_certificates").await, 1);
}

async fn error_lists_are_capped_and_echoes_cut(backend: Backend) {
    let app = TestApp::new(backend).await;
    let sans: Vec<String> = (0..150).map(|i| format!("bad_{i}.example.com")).collect();
    let response = app
        .post(&zone_csrs(ZONE), &csr_with("sans", json!(sans)))
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let errors = response.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 21, "{}", response.body);
    assert!(errors[..20].iter().all(|e| e["code"] == 1412));
    assert_eq!(errors[19]["source"]["pointer"], "/sans/19");
    assert!(
        errors[20]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("130 more problems")),
        "{}",
        errors[20]
    );

    // A 100 KB SAN, hostname or choice comes back as its first characters and its length.
    let huge = format!("{}.example.com", "x".repeat(100_000));
    for response in [
        app.post(&zone_csrs(ZONE), &csr_with("sans", json!([huge])))
            .await,
        app.post(&zone_csrs(ZONE), &csr_with("key_type", json!(huge)))
            .await,
        app.post(&zone_hostnames(ZONE), &json!({"hostname": huge}))
            .await,
        app.post(
            &zone_hostnames(ZONE),
            &json!({"hostname": "app.example.com", "ssl": {"method": huge}}),
        )
        .await,
        app.post(
            &zone_certificates(ZONE),
            &json!({"certificate": "x", "bundle_method": huge}),
        )
        .await,
        // A URI is bounded by the HTTP layer (414 over 8 KiB); 7 KB gets through to the
        // filter parser.
        app.get(&format!(
            "{}?hostname.contain={}",
            zone_hostnames(ZONE),
            &huge[..7_000]
        ))
        .await,
    ] {
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            response.body
        );
        let text = response.body.to_string();
        assert!(text.len() < 1000, "{} bytes: {text:.300}", text.len());
        assert!(text.contains("characters)"), "{text}");
    }
    assert_eq!(app.count_rows("custom_csrs").await, 0);
    assert_eq!(app.count_rows("custom_hostnames").await, 0);
}

async fn repeated_keys_are_refused_at_any_depth(backend: Backend) {
    let app = TestApp::new(backend).await;
    let csr = r#"{"country": "US", "state": "MA", "locality": "Boston", "organization": "City",
        "common_name": "app.example.com", "key_type": "p256v1",
        "sans": ["app.example.com"], "sans": ["other.example.com"]}"#;
    let response = app.call(Method::POST, &zone_csrs(ZONE), Some(csr)).await;
    let message = refused(&response, 1400);
    assert!(
        message.contains(r#"the key "sans" appears more than once"#),
        "{message}"
    );
    let hostname = r#"{"hostname": "app.example.com", "custom_metadata": {"a": "1", "a": "2"}}"#;
    let response = app
        .call(Method::POST, &zone_hostnames(ZONE), Some(hostname))
        .await;
    assert!(refused(&response, 1400).contains(r#""a""#));
    let nested =
        r#"{"hostname": "app.example.com", "ssl": {"settings": {"http2": "on", "http2": "off"}}}"#;
    let response = app
        .call(Method::POST, &zone_hostnames(ZONE), Some(nested))
        .await;
    assert!(refused(&response, 1400).contains(r#""http2""#));
    assert_eq!(app.count_rows("custom_csrs").await, 0);
    assert_eq!(app.count_rows("custom_hostnames").await, 0);
    // The same key in sibling objects is no repetition.
    let siblings = r#"{"hostname": "app.example.com", "custom_metadata": {"http2": "on"},
        "ssl": {"settings": {"http2": "on"}}}"#;
    app.call(Method::POST, &zone_hostnames(ZONE), Some(siblings))
        .await
        .assert_success(StatusCode::CREATED);
}

async fn deep_nesting_is_refused_quickly(backend: Backend) {
    let app = TestApp::new(backend).await;
    for open in ["[", r#"{"a":"#] {
        let body = format!(r#"{{"sans": {}"#, open.repeat(200_000 / open.len()));
        let started = Instant::now();
        let response = app.call(Method::POST, &zone_csrs(ZONE), Some(&body)).await;
        let elapsed = started.elapsed();
        assert!(refused(&response, 1400).contains("recursion limit"));
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    }
    assert_eq!(app.count_rows("custom_csrs").await, 0);
}

/// The worst page the limits allow: 50 CSRs of 150 SANs of 253 characters, with the longest
/// name and description, stays under the size the README states.
async fn a_page_of_maximal_csrs_is_bounded(backend: Backend) {
    let app = TestApp::new(backend).await;
    for index in 0..50 {
        let mut body = csr_with("name", json!("n".repeat(255)));
        body["description"] = json!("d".repeat(1024));
        body["sans"] = json!(
            (0..150)
                .map(|san| longest_san(index * 150 + san))
                .collect::<Vec<_>>()
        );
        app.create_csr(&body).await;
    }
    let response = app.get(&format!("{}?per_page=50", zone_csrs(ZONE))).await;
    let result = response.assert_success(StatusCode::OK);
    assert_eq!(result.as_array().map(Vec::len), Some(50));
    let bytes = response.body.to_string().len();
    assert!(
        bytes <= crate::list_memory::MAX_PAGE_BYTES,
        "a page is {bytes} bytes"
    );
    assert!(bytes > 4_000_000, "not a maximal page: {bytes} bytes");
}
