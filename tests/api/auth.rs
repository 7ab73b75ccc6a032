//! Authentication on every route, with each header style the official SDKs send.

use axum::http::{Method, Request, StatusCode};

use crate::common::{
    ACCOUNT, Backend, TOKEN, TestApp, ZONE, account_csrs, csr_body, zone_certificates, zone_csrs,
    zone_hostnames,
};
use crate::on_both_backends;

on_both_backends!(
    missing_credentials_are_400_1402_on_every_route,
    accepted_credential_styles,
    unknown_credentials_are_401_malformed_ones_400_6003,
    bodies_must_be_sent_as_json_on_every_route_that_takes_one,
    unknown_routes_and_methods_answer_in_the_envelope,
);

fn request(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

/// Every operation the served OpenAPI document lists, as a method and a concrete path in
/// `ZONE` or `ACCOUNT`, so a route added to the API is covered here without editing this.
async fn every_documented_operation(app: &TestApp) -> Vec<(Method, String)> {
    documented_operations(app, |_| true).await
}

/// The documented operations that declare a request body (a bodiless POST, such as the
/// check-now control, has nothing to declare a type for).
async fn documented_operations_with_body(app: &TestApp) -> Vec<(Method, String)> {
    documented_operations(app, |operation| operation.get("requestBody").is_some()).await
}

/// The documented operations that `keep` likes, with their ids filled in.
async fn documented_operations(
    app: &TestApp,
    keep: impl Fn(&serde_json::Value) -> bool,
) -> Vec<(Method, String)> {
    let document = app
        .send(Request::builder().uri("/client/v4/openapi.json"), None)
        .await
        .body;
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    let mut operations = Vec::new();
    for (template, item) in paths {
        let path = template
            .replace("{zone_id}", ZONE)
            .replace("{account_id}", ACCOUNT)
            .split('/')
            .map(|segment| {
                // Any other parameter is a resource id; a well-formed one, so only the missing
                // credentials can be what is wrong with the request.
                if segment.starts_with('{') {
                    "7b163417-1d2b-4c84-a38a-2fb7a0cd7752"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let item = item.as_object().expect("a path item is an object");
        for key in item.keys() {
            // Path items also hold `parameters`, `summary` and the like.
            if let Some(method) = HTTP_METHODS
                .iter()
                .find(|m| m.as_str().eq_ignore_ascii_case(key))
                .filter(|_| keep(&item[key]))
            {
                operations.push((method.clone(), path.clone()));
            }
        }
    }
    operations
}

const HTTP_METHODS: [Method; 8] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::OPTIONS,
    Method::HEAD,
    Method::PATCH,
    Method::TRACE,
];

/// An app serving every documented route, the test controls' included.
async fn app_with_every_route(backend: Backend) -> TestApp {
    TestApp::with(backend, |args| args.test_controls = true).await
}

async fn missing_credentials_are_400_1402_on_every_route(backend: Backend) {
    let app = app_with_every_route(backend).await;
    let operations = every_documented_operation(&app).await;
    // The routes tested before the list came from the document, and both scopes: a document
    // that lost routes must not shrink this test unnoticed.
    let item = format!("{}/7b163417-1d2b-4c84-a38a-2fb7a0cd7752", zone_csrs(ZONE));
    for (method, path) in [
        (Method::GET, zone_csrs(ZONE)),
        (Method::POST, zone_csrs(ZONE)),
        (Method::GET, item.clone()),
        (Method::DELETE, item),
        (Method::GET, account_csrs(ACCOUNT)),
        (Method::POST, account_csrs(ACCOUNT)),
        (
            Method::PATCH,
            format!(
                "{}/7b163417-1d2b-4c84-a38a-2fb7a0cd7752",
                zone_hostnames(ZONE)
            ),
        ),
        (
            Method::PUT,
            format!("{}/prioritize", zone_certificates(ZONE)),
        ),
    ] {
        assert!(
            operations.contains(&(method.clone(), path.clone())),
            "{method} {path} is not in the document: {operations:?}"
        );
    }
    let body = csr_body("app.example.com").to_string();
    for (method, path) in &operations {
        // A valid create body where one is taken, so only the credentials are missing.
        let body = [Method::POST, Method::PUT, Method::PATCH]
            .contains(method)
            .then_some(body.as_str());
        let with_body = |builder: axum::http::request::Builder| match body {
            Some(_) => builder.header("content-type", "application/json"),
            None => builder,
        };
        let missing = app
            .send(with_body(request(method.clone(), path)), body)
            .await;
        assert_eq!(
            (missing.status, missing.codes()),
            (StatusCode::BAD_REQUEST, vec![1402]),
            "{method} {path} without credentials: {}",
            missing.body
        );
        missing.assert_error(StatusCode::BAD_REQUEST, &[1402]);
        let wrong = app
            .send(
                with_body(request(method.clone(), path))
                    .header("Authorization", "Bearer not-the-token"),
                body,
            )
            .await;
        assert_eq!(
            (wrong.status, wrong.codes()),
            (StatusCode::UNAUTHORIZED, vec![1000]),
            "{method} {path} with an unknown token: {}",
            wrong.body
        );
        wrong.assert_error(StatusCode::UNAUTHORIZED, &[1000]);
    }
    for table in ["custom_csrs", "custom_hostnames", "custom_certificates"] {
        assert_eq!(app.count_rows(table).await, 0, "{table}");
    }
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
        &[
            ("x-auth-key", TOKEN.to_string()),
            ("x-auth-email", "user@example.com".to_string()),
        ],
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

async fn unknown_credentials_are_401_malformed_ones_400_6003(backend: Backend) {
    let app = TestApp::new(backend).await;
    let path = zone_csrs(ZONE);
    let unknown: [(&str, &str); 3] = [
        ("Authorization", "Bearer not-the-token"),
        ("X-Auth-Key", "not-the-token"),
        ("X-Auth-User-Service-Key", "v1.0-not-the-token"),
    ];
    for (name, value) in unknown {
        let mut builder = request(Method::GET, &path).header(name, value);
        if name == "X-Auth-Key" {
            builder = builder.header("X-Auth-Email", "user@example.com");
        }
        let response = app.send(builder, None).await;
        response.assert_error(StatusCode::UNAUTHORIZED, &[1000]);
        assert!(
            !response.body.to_string().contains("not-the-token"),
            "credentials are never echoed"
        );
    }
    // Malformed or incomplete: the real API's 400 6003 "Invalid request headers", with the
    // header's own code in `error_chain`.
    let malformed: [(&[(&str, &str)], u64); 6] = [
        (&[("Authorization", "Basic dXNlcjpwYXNz")], 6111),
        (&[("Authorization", "Bearer ")], 6111),
        (&[("Authorization", TOKEN)], 6111),
        (&[("X-Auth-Key", TOKEN)], 6100),
        (&[("X-Auth-Email", "user@example.com")], 6101),
        (
            &[("X-Auth-Key", TOKEN), ("X-Auth-Email", "not an address")],
            6102,
        ),
    ];
    for (headers, cause) in malformed {
        let mut builder = request(Method::GET, &path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = app.send(builder, None).await;
        response.assert_error(StatusCode::BAD_REQUEST, &[6003]);
        assert_eq!(
            response.body["errors"][0]["error_chain"][0]["code"], cause,
            "{headers:?}: {}",
            response.body
        );
        assert!(
            !response.body.to_string().contains(TOKEN),
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

/// Every documented operation that takes a body refuses one not declared as JSON with the real
/// API's 400 6003, caused by 6105, before anything is written; operations without one need
/// no type.
async fn bodies_must_be_sent_as_json_on_every_route_that_takes_one(backend: Backend) {
    let app = app_with_every_route(backend).await;
    let body = csr_body("app.example.com").to_string();
    let mut checked = 0;
    for (method, path) in documented_operations_with_body(&app).await {
        checked += 1;
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
        ] {
            let mut builder =
                request(method.clone(), &path).header("authorization", format!("Bearer {TOKEN}"));
            if let Some(content_type) = content_type {
                builder = builder.header("content-type", content_type);
            }
            let response = app.send(builder, Some(&body)).await;
            response.assert_error(StatusCode::BAD_REQUEST, &[6003]);
            let chain = &response.body["errors"][0]["error_chain"];
            assert_eq!(
                chain[0]["code"], 6105,
                "{method} {path} {content_type:?}: {chain}"
            );
            assert_eq!(
                chain[0]["message"],
                "Invalid Content-Type header, valid values are application/json,multipart/form-data"
            );
        }
        let multipart = app
            .send(
                request(method.clone(), &path)
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .header("content-type", "multipart/form-data; boundary=x"),
                Some(&body),
            )
            .await;
        multipart.assert_error(StatusCode::BAD_REQUEST, &[1400]);
    }
    assert!(checked >= 5, "only {checked} body routes in the document");
    for table in ["custom_csrs", "custom_hostnames", "custom_certificates"] {
        assert_eq!(app.count_rows(table).await, 0, "{table}");
    }

    // Parameters and case do not matter; GET and DELETE need no Content-Type.
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let created = app
            .send(
                request(Method::POST, &zone_csrs(ZONE))
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .header("content-type", content_type),
                Some(&body),
            )
            .await;
        created.assert_success(StatusCode::CREATED);
    }
    app.get(&zone_csrs(ZONE))
        .await
        .assert_success(StatusCode::OK);
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
