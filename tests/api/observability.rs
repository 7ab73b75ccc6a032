//! Running edgecert as a service: Prometheus metrics, request ids and the one structured log
//! line per request.
//!
//! The metrics recorder is global to the test process and other tests run at the same time,
//! so these tests compare before and after (a counter that did not move fails them) or look
//! for labels only they produce. `observability_binary` starts the real binary, a process of
//! its own, where counts are exact.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::process::TIMEOUT;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Backend, TOKEN, TestApp, ZONE, csr_body, postgres_admin_url, zone_csrs};
use crate::metrics::Metrics;
use crate::on_both_backends;

on_both_backends!(
    requests_are_counted_by_route_template_status_and_code,
    key_generation_is_timed_per_key_type,
    metrics_on_the_api_listener_need_a_token,
    request_ids_are_echoed_or_generated,
    abandoned_requests_are_counted_and_queued_key_generations_show,
);

const LIST_ROUTE: &str = "/client/v4/zones/{zone_id}/custom_csrs";
const ITEM_ROUTE: &str = "/client/v4/zones/{zone_id}/custom_csrs/{custom_csr_id}";
const REQUESTS: &str = "edgecert_http_requests_total";
const DURATION: &str = "edgecert_http_request_duration_seconds";
const KEYGEN: &str = "edgecert_key_generation_seconds";

/// An answer whose body may be anything (`/metrics` is text, not the JSON envelope).
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first Cloudflare error code of a JSON failure answer.
    fn first_code(&self) -> Option<u64> {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|body| body["errors"][0]["code"].as_u64())
    }
}

/// Sends a request through the app's real router, exactly as built.
async fn raw(app: &TestApp, request: axum::http::request::Builder, body: Option<String>) -> Raw {
    let request = request
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("valid request");
    let router = edgecert::http::router(app.state.clone());
    let (status, headers, bytes) = crate::common::exchange(&router, request).await;
    Raw {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    }
}

fn authorized(method: Method, path: &str) -> axum::http::request::Builder {
    let takes_body = [Method::POST, Method::PUT, Method::PATCH].contains(&method);
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"));
    if takes_body {
        builder.header("content-type", "application/json")
    } else {
        builder
    }
}

/// `GET /metrics` with the test token; asserts the Prometheus text answer.
async fn scrape(app: &TestApp) -> Metrics {
    let answer = raw(app, authorized(Method::GET, "/metrics"), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Metrics::parse(&answer.body)
}

async fn requests_are_counted_by_route_template_status_and_code(backend: Backend) {
    let app = TestApp::new(backend).await;
    let before = scrape(&app).await;

    let list = raw(&app, authorized(Method::GET, &zone_csrs(ZONE)), None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let mut bad = csr_body("app.example.com");
    bad["country"] = json!("USA");
    let invalid = raw(
        &app,
        authorized(Method::POST, &zone_csrs(ZONE)),
        Some(bad.to_string()),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.first_code(), Some(1405), "{}", invalid.body);
    let missing_id = uuid::Uuid::new_v4();
    let missing = raw(
        &app,
        authorized(Method::GET, &format!("{}/{missing_id}", zone_csrs(ZONE))),
        None,
    )
    .await;
    assert_eq!(missing.first_code(), Some(1419), "{}", missing.body);
    let nowhere = format!("/nowhere-{}", uuid::Uuid::new_v4().simple());
    let unmatched = raw(&app, Request::builder().uri(&nowhere), None).await;
    assert_eq!(unmatched.first_code(), Some(7000), "{}", unmatched.body);

    let after = scrape(&app).await;
    let grew = |labels: &[(&str, &str)]| {
        let delta = after.value(REQUESTS, labels) - before.value(REQUESTS, labels);
        assert!(delta >= 1.0, "{labels:?} grew by {delta}:\n{}", after.text);
    };
    grew(&[
        ("route", LIST_ROUTE),
        ("method", "GET"),
        ("status", "200"),
        ("code", ""),
    ]);
    grew(&[
        ("route", LIST_ROUTE),
        ("method", "POST"),
        ("status", "400"),
        ("code", "1405"),
    ]);
    grew(&[
        ("route", ITEM_ROUTE),
        ("method", "GET"),
        ("status", "404"),
        ("code", "1419"),
    ]);
    grew(&[
        ("route", "unmatched"),
        ("method", "GET"),
        ("status", "400"),
        ("code", "7000"),
    ]);

    // The duration histogram has the same route labels (no code) and buckets 0.5 ms to 10 s.
    let timed = [("route", LIST_ROUTE), ("method", "GET"), ("status", "200")];
    let count = format!("{DURATION}_count");
    assert!(after.value(&count, &timed) - before.value(&count, &timed) >= 1.0);
    for le in ["0.0005", "0.01", "10", "+Inf"] {
        let bucket = [timed[0], timed[1], timed[2], ("le", le)];
        assert!(
            after.has(&format!("{DURATION}_bucket"), &bucket),
            "no {le} bucket"
        );
    }
    assert!(
        !after.has(&format!("{DURATION}_bucket"), &[("code", "")]),
        "the histogram has no code label"
    );
    assert!(after.text.contains(&format!("# TYPE {REQUESTS} counter")));
    assert!(after.text.contains(&format!("# TYPE {DURATION} histogram")));

    // Concrete paths never become labels: one series per zone, id or typo would be unbounded.
    for concrete in [ZONE, &missing_id.to_string(), &nowhere] {
        assert!(
            !after.text.contains(concrete),
            "{concrete} is in a label:\n{}",
            after.text
        );
    }
}

async fn key_generation_is_timed_per_key_type(backend: Backend) {
    let app = TestApp::new(backend).await;
    for key_type in ["p256v1", "rsa2048"] {
        // This app's pool is never filled, so its RSA CSR generates inline, as a request.
        let labels = [("key_type", key_type), ("source", "request")];
        let before = scrape(&app).await;
        let mut body = csr_body("app.example.com");
        body["key_type"] = json!(key_type);
        app.create_csr(&body).await;
        let after = scrape(&app).await;
        let count = format!("{KEYGEN}_count");
        let sum = format!("{KEYGEN}_sum");
        assert!(
            after.value(&count, &labels) >= before.value(&count, &labels) + 1.0,
            "{key_type} generation not counted:\n{}",
            after.text
        );
        assert!(
            after.value(&sum, &labels) > before.value(&sum, &labels),
            "{key_type} generation took no time"
        );
        for le in ["0.0005", "30", "+Inf"] {
            assert!(
                after.has(
                    &format!("{KEYGEN}_bucket"),
                    &[labels[0], labels[1], ("le", le)]
                ),
                "no {le} bucket for {key_type}"
            );
        }
    }
    let metrics = scrape(&app).await;
    for gauge in [
        "edgecert_key_generations_in_flight",
        "edgecert_key_generations_queued",
        "edgecert_key_generation_concurrency",
    ] {
        assert!(metrics.has(gauge, &[]), "no {gauge}:\n{}", metrics.text);
        assert!(metrics.value(gauge, &[]) >= 0.0);
    }
}

async fn metrics_on_the_api_listener_need_a_token(backend: Backend) {
    let app = TestApp::new(backend).await;
    let anonymous = raw(&app, Request::builder().uri("/metrics"), None).await;
    assert_eq!(anonymous.status, StatusCode::BAD_REQUEST);
    assert_eq!(anonymous.first_code(), Some(1402), "{}", anonymous.body);
    let wrong = raw(
        &app,
        Request::builder()
            .uri("/metrics")
            .header("authorization", "Bearer not-the-token"),
        None,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.first_code(), Some(1000), "{}", wrong.body);
    for refused in [&anonymous, &wrong] {
        assert!(!refused.body.contains("edgecert_"), "{}", refused.body);
    }

    // Every credential style of the API works here too.
    let key = raw(
        &app,
        Request::builder()
            .uri("/metrics")
            .header("x-auth-key", TOKEN)
            .header("x-auth-email", "user@example.com"),
        None,
    )
    .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.body);
    let metrics = Metrics::parse(&key.body);
    // Database pool gauges, read at scrape time. The recorder is shared by every test app, so
    // only their presence and consistency are checked here; the binary test checks values.
    assert!(
        metrics.value("edgecert_db_pool_max_connections", &[]) >= 1.0,
        "{}",
        metrics.text
    );
    for state in ["in_use", "idle"] {
        assert!(
            metrics.has("edgecert_db_pool_connections", &[("state", state)]),
            "no {state} pool gauge:\n{}",
            metrics.text
        );
    }
    // The refusals above were counted, with their codes.
    for (status, code) in [("400", "1402"), ("401", "1000")] {
        assert!(
            metrics.value(
                REQUESTS,
                &[("route", "/metrics"), ("status", status), ("code", code)]
            ) >= 1.0,
            "{status}/{code} not counted:\n{}",
            metrics.text
        );
    }
}

async fn request_ids_are_echoed_or_generated(backend: Backend) {
    let app = TestApp::new(backend).await;
    let is_uuid = |id: &str| uuid::Uuid::parse_str(id).is_ok() && id.len() == 36;

    let given = raw(
        &app,
        authorized(Method::GET, &zone_csrs(ZONE)).header("x-request-id", "client-chosen-42"),
        None,
    )
    .await;
    assert_eq!(given.header("x-request-id"), Some("client-chosen-42"));
    assert_eq!(given.header("cf-ray"), None, "cf-ray only when one came in");

    let ray = raw(
        &app,
        authorized(Method::GET, &zone_csrs(ZONE)).header("cf-ray", "8a1b2c3d4e5f6789-IAD"),
        None,
    )
    .await;
    assert_eq!(ray.header("cf-ray"), Some("8a1b2c3d4e5f6789-IAD"));
    assert_eq!(ray.header("x-request-id"), Some("8a1b2c3d4e5f6789-IAD"));

    // Generated when absent, on failures and unmatched paths too, and new each time.
    let mut generated = Vec::new();
    for request in [
        authorized(Method::GET, &zone_csrs(ZONE)),
        Request::builder().uri(zone_csrs(ZONE)),
        Request::builder().uri("/nowhere"),
        Request::builder().uri("/healthz"),
    ] {
        let answer = raw(&app, request, None).await;
        let id = answer
            .header("x-request-id")
            .unwrap_or_default()
            .to_string();
        assert!(is_uuid(&id), "{:?}: {id:?}", answer.status);
        generated.push(id);
    }
    generated.sort();
    generated.dedup();
    assert_eq!(generated.len(), 4, "ids repeat: {generated:?}");

    // Unusable incoming ids are replaced, never echoed.
    let long = "x".repeat(129);
    let unusable: [&[u8]; 4] = [
        b"two words",
        b"tab\there",
        "\u{e9}t\u{e9}".as_bytes(),
        long.as_bytes(),
    ];
    for bad in unusable {
        for name in ["x-request-id", "cf-ray"] {
            let answer = raw(
                &app,
                authorized(Method::GET, &zone_csrs(ZONE)).header(name, bad),
                None,
            )
            .await;
            let id = answer.header("x-request-id").unwrap_or_default();
            assert!(is_uuid(id), "{name}: {bad:?} gave {id:?}");
            if name == "cf-ray" {
                assert_eq!(answer.header("cf-ray"), Some(id));
            }
        }
    }
}

/// A request whose client goes away while it waits for a key generation permit: the queue
/// gauge shows it waiting, and it is still counted (as 499) when dropped.
async fn abandoned_requests_are_counted_and_queued_key_generations_show(backend: Backend) {
    let app = TestApp::with(backend, |args| args.keygen_concurrency = Some(1)).await;
    // Hold the only permit until told to let go.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let keys = app.state.keys.clone();
    let holder = tokio::spawn(async move {
        keys.with_new_key(edgecert::pki::KeyType::P256v1, move |_key| {
            let _ = hold.recv();
            Ok(())
        })
        .await
    });
    let abandoned = [
        ("route", LIST_ROUTE),
        ("method", "POST"),
        ("status", "499"),
        ("code", ""),
    ];
    let before = scrape(&app).await;

    let router = edgecert::http::router(app.state.clone());
    let request = authorized(Method::POST, &zone_csrs(ZONE))
        .body(Body::from(csr_body("app.example.com").to_string()))
        .expect("valid request");
    let client = tokio::spawn(router.oneshot(request));
    // This app's own key limiter, not the process-wide gauges other tests move too.
    tokio::time::timeout(TIMEOUT, app.state.keys.limiter().wait_for_load(1, 1))
        .await
        .expect("the waiting request never showed as queued");
    let metrics = scrape(&app).await;
    assert!(
        metrics.value("edgecert_key_generations_queued", &[]) >= 1.0
            && metrics.value("edgecert_key_generations_in_flight", &[]) >= 1.0,
        "the queued generation does not show in /metrics:\n{}",
        metrics.text
    );

    client.abort();
    assert!(client.await.is_err_and(|e| e.is_cancelled()));
    let after = scrape(&app).await;
    assert!(
        after.value(REQUESTS, &abandoned) >= before.value(REQUESTS, &abandoned) + 1.0,
        "the abandoned request was not counted:\n{}",
        after.text
    );
    release.send(()).expect("holder waits");
    holder
        .await
        .expect("holder task")
        .expect("held generation succeeds");
}

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("capture lock").clone()).expect("UTF-8 logs")
    }
}

#[test]
fn one_log_line_per_request_without_secrets_on_sqlite() {
    one_log_line_per_request_without_secrets(Backend::Sqlite);
}

#[test]
fn one_log_line_per_request_without_secrets_on_postgres() {
    if postgres_admin_url().is_none() {
        eprintln!(
            "SKIPPED on Postgres: set {} to run this test there",
            crate::common::POSTGRES_ENV
        );
        return;
    }
    one_log_line_per_request_without_secrets(Backend::Postgres);
}

/// What one request should have logged.
struct Expected {
    request_id: String,
    route: &'static str,
    method: &'static str,
    path: String,
    status: u16,
    code: Option<u64>,
}

/// Runs requests with a JSON subscriber (as `--log-format json` sets up) installed for this
/// thread only; a current-thread runtime keeps every request on it.
fn one_log_line_per_request_without_secrets(backend: Backend) {
    // While only one dispatcher exists, tracing-core decides a newly hit callsite's interest
    // from the default of whichever thread hits it first. Another test's thread (which has no
    // subscriber) reaching the request-log callsite first would then cache "never" for it, and
    // this test would see no lines. A second, idle dispatcher makes tracing ask every live
    // dispatcher instead.
    let _ask_every_dispatcher = tracing::Dispatch::new(tracing_subscriber::registry());
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let expected = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let app = TestApp::new(backend).await;
            let mut expected = Vec::new();
            let mut check = |answer: Raw, route, method, path: &str| {
                expected.push(Expected {
                    request_id: answer
                        .header("x-request-id")
                        .expect("request id")
                        .to_string(),
                    route,
                    method,
                    path: path.to_string(),
                    status: answer.status.as_u16(),
                    code: answer.first_code(),
                });
            };

            let list = zone_csrs(ZONE);
            let created = raw(
                &app,
                authorized(Method::POST, &list).header("x-request-id", "log-test-create"),
                Some(csr_body("app.example.com").to_string()),
            )
            .await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            assert!(created.body.contains("BEGIN CERTIFICATE REQUEST"));
            check(created, LIST_ROUTE, "POST", &list);

            let mut bad = csr_body("app.example.com");
            bad["country"] = json!("USA");
            let invalid = raw(&app, authorized(Method::POST, &list), Some(bad.to_string())).await;
            check(invalid, LIST_ROUTE, "POST", &list);

            let wrong = raw(
                &app,
                Request::builder()
                    .uri(&list)
                    .header("authorization", "Bearer wrong-secret-token-value")
                    .header("cf-ray", "7f00000000000001-AMS"),
                None,
            )
            .await;
            check(wrong, LIST_ROUTE, "GET", &list);

            let with_query = format!("{list}?per_page=5&marker=query-secret-value");
            let queried = raw(&app, authorized(Method::GET, &with_query), None).await;
            check(queried, LIST_ROUTE, "GET", &list);

            let metrics = raw(&app, authorized(Method::GET, "/metrics"), None).await;
            check(metrics, "/metrics", "GET", "/metrics");

            let nowhere = raw(&app, Request::builder().uri("/nowhere"), None).await;
            check(nowhere, "unmatched", "GET", "/nowhere");
            expected
        })
    });

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let request_lines: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(
        request_lines.len(),
        expected.len(),
        "one line per request:\n{text}"
    );
    assert!(expected.iter().any(|e| e.code == Some(1405)));
    assert!(expected.iter().any(|e| e.code == Some(1000)));
    assert_eq!(expected[0].request_id, "log-test-create");
    assert_eq!(expected[2].request_id, "7f00000000000001-AMS");
    for want in &expected {
        let found: Vec<&&Value> = request_lines
            .iter()
            .filter(|line| line["fields"]["request_id"] == want.request_id.as_str())
            .collect();
        assert_eq!(found.len(), 1, "{}: {found:?}", want.request_id);
        let fields = &found[0]["fields"];
        assert_eq!(found[0]["level"], "INFO");
        assert_eq!(fields["route"], want.route, "{fields}");
        assert_eq!(fields["method"], want.method, "{fields}");
        assert_eq!(fields["path"], want.path.as_str(), "{fields}");
        assert_eq!(fields["status"], want.status, "{fields}");
        assert!(
            fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{fields}"
        );
        match want.code {
            Some(code) => assert_eq!(fields["code"], code, "{fields}"),
            None => assert!(fields.get("code").is_none(), "{fields}"),
        }
    }
    for secret in [
        TOKEN,
        "wrong-secret-token-value",
        "query-secret-value",
        "Bearer",
        "-----BEGIN",
        "PRIVATE KEY",
        &crate::common::test_master_key(),
    ] {
        assert!(
            !text.contains(secret),
            "the logs contain {secret:?}:\n{text}"
        );
    }
}
