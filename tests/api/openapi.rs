//! The published OpenAPI document and its reference page.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

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
    if served != expected {
        panic!(
            "the OpenAPI document changed; if intended, run with EDGECERT_UPDATE_SNAPSHOTS=1 and \
             review the diff of tests/api/snapshots/openapi.json\n{}",
            difference(&expected, &served)
        );
    }
}

/// Where two documents differ: the JSON pointers of changed values (or the first differing
/// line, when only the text differs, such as property order), then that line in context.
fn difference(expected: &str, served: &str) -> String {
    const SHOWN: usize = 20;
    let mut report = String::new();
    match (
        serde_json::from_str::<Value>(expected),
        serde_json::from_str::<Value>(served),
    ) {
        (Ok(expected), Ok(served)) => {
            let mut changed = Vec::new();
            changed_pointers(&expected, &served, String::new(), &mut changed);
            if changed.is_empty() {
                report.push_str("the same JSON, but written differently (property order?)\n");
            } else {
                report.push_str(&format!("{} value(s) differ:\n", changed.len()));
                for pointer in changed.iter().take(SHOWN) {
                    report.push_str(&format!("  {pointer}\n"));
                }
                if changed.len() > SHOWN {
                    report.push_str(&format!("  ... and {} more\n", changed.len() - SHOWN));
                }
            }
        }
        (Err(error), _) => report.push_str(&format!("the snapshot is not JSON: {error}\n")),
        (_, Err(error)) => report.push_str(&format!("the served document is not JSON: {error}\n")),
    }
    let expected_lines: Vec<&str> = expected.lines().collect();
    let served_lines: Vec<&str> = served.lines().collect();
    let first = (0..expected_lines.len().max(served_lines.len()))
        .find(|&i| expected_lines.get(i) != served_lines.get(i))
        .unwrap_or(0);
    let context = first.saturating_sub(3)..first + 4;
    report.push_str(&format!("first differing line: {}\n", first + 1));
    for (sign, lines) in [("-", &expected_lines), ("+", &served_lines)] {
        for i in context.clone().filter(|&i| i < lines.len()) {
            let mark = if i == first { sign } else { " " };
            report.push_str(&format!("{mark}{:>5} {}\n", i + 1, lines[i]));
        }
    }
    report
}

/// Collects the JSON pointers (RFC 6901) under `pointer` where `expected` and `served` differ.
fn changed_pointers(expected: &Value, served: &Value, pointer: String, out: &mut Vec<String>) {
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    match (expected, served) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in old {
                let here = format!("{pointer}/{}", escape(key));
                match new.get(key) {
                    Some(other) => changed_pointers(value, other, here, out),
                    None => out.push(format!("{here} (removed)")),
                }
            }
            for key in new.keys().filter(|key| !old.contains_key(*key)) {
                out.push(format!("{pointer}/{} (added)", escape(key)));
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (index, (a, b)) in old.iter().zip(new).enumerate() {
                changed_pointers(a, b, format!("{pointer}/{index}"), out);
            }
        }
        _ if expected != served => out.push(format!("{pointer} (changed)")),
        _ => {}
    }
}

#[test]
fn a_changed_document_is_reported_by_pointer_and_line() {
    let expected = "{\n  \"a\": 1,\n  \"b\": {\"c/d\": [1, 2]}\n}\n";
    let served = "{\n  \"a\": 1,\n  \"b\": {\"c/d\": [1, 3]},\n  \"e\": true\n}\n";
    let report = difference(expected, served);
    assert!(report.contains("/b/c~1d/1 (changed)"), "{report}");
    assert!(report.contains("/e (added)"), "{report}");
    assert!(report.contains("first differing line: 3"), "{report}");
    assert!(report.contains("-    3   \"b\""), "{report}");
    let reordered = "{\n  \"b\": {\"c/d\": [1, 2]},\n  \"a\": 1\n}\n";
    let report = difference(expected, reordered);
    assert!(report.contains("property order"), "{report}");
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

/// `docs/fidelity.md` lists every route of the document, and every query parameter of the
/// three resources' operations, so a route or parameter cannot be added without saying how
/// it compares with the real API.
#[tokio::test]
async fn the_fidelity_table_covers_every_route_and_parameter() {
    let app = TestApp::new(Backend::Sqlite).await;
    let answer = app
        .send(Request::builder().uri("/client/v4/openapi.json"), None)
        .await;
    let document = answer.body;
    let table = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fidelity.md"))
        .expect("docs/fidelity.md");
    let mut missing = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let route = format!("`{} {path}`", method.to_uppercase());
            if !table.contains(&route) {
                missing.push(route);
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().expect("a parameter name");
                if parameter["in"] == "query" && !table.contains(&format!("`{name}`")) {
                    missing.push(format!("query parameter `{name}` of {method} {path}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/fidelity.md does not mention: {missing:#?}"
    );
}
