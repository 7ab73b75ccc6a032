//! Bounds on certificate uploads: the intermediate cap, the certificate size limit, and
//! verification on blocking threads so uploads cannot stall the rest of the API.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;

use crate::common::{Backend, TOKEN, TestApp, ZONE, send_to, zone_certificates};
use crate::on_both_backends;
use crate::testca::{TestCa, look_alike_intermediates};

on_both_backends!(oversized_bundles_are_refused_with_the_limit_in_the_message);

/// Long enough for a loaded CI machine; the waits below end on events, not on this.
const DEADLINE: Duration = Duration::from_secs(60);

async fn app_trusting(backend: Backend, ca: &TestCa, verify_concurrency: u64) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.root_pem()).expect("write roots");
    TestApp::with(backend, |args| {
        args.trust_roots = Some(path.clone());
        args.verify_concurrency = Some(verify_concurrency);
    })
    .await
}

async fn oversized_bundles_are_refused_with_the_limit_in_the_message(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca, 1).await;

    // The leaf, its intermediate and six look-alikes: seven intermediates, one over the cap.
    let (bundle, key) = ca.issue_with_new_key(&["app.example.com"], 90);
    let bundle = format!(
        "{bundle}{}",
        look_alike_intermediates(edgecert::pki::MAX_INTERMEDIATES)
    );
    let answer = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": bundle, "private_key": key}),
        )
        .await;
    answer.assert_error(StatusCode::BAD_REQUEST, &[1002]);
    let message = answer.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("up to 6 intermediates"), "{message}");
    assert!(message.contains("8 different certificates"), "{message}");

    // A leaf over 64 KiB (3,000 names) is too large, not a broken chain. Its PEM is over the
    // field's length limit, so the request parser refuses it with its size before the
    // certificate checks' own DER limit (unit-tested in pki) is reached.
    let hosts: Vec<String> = (0..3000)
        .map(|i| format!("h{i:05}.app.example.com"))
        .collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let (bundle, key) = ca.issue_with_new_key(&hosts, 90);
    let answer = app
        .post(
            &zone_certificates(ZONE),
            &json!({"certificate": bundle, "private_key": key}),
        )
        .await;
    answer.assert_error(StatusCode::BAD_REQUEST, &[1002]);
    let message = answer.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("characters long"), "{message}");
    assert!(message.contains("the limit is 65536"), "{message}");
    assert_eq!(app.count_rows("private_keys").await, 0);
}

mod sqlite_current_thread {
    #[tokio::test(flavor = "current_thread")]
    async fn uploads_are_verified_off_the_async_runtime() {
        super::uploads_are_verified_off_the_async_runtime(crate::common::Backend::Sqlite).await;
    }
}

mod postgres_current_thread {
    #[tokio::test(flavor = "current_thread")]
    async fn uploads_are_verified_off_the_async_runtime() {
        if crate::common::postgres_admin_url().is_none() {
            eprintln!(
                "SKIPPED on Postgres: set {} to run this test there",
                crate::common::POSTGRES_ENV
            );
            return;
        }
        super::uploads_are_verified_off_the_async_runtime(crate::common::Backend::Postgres).await;
    }
}

/// Waits for the limiter to report the load, woken by its own count changes.
async fn until_load(
    what: &str,
    limiter: &edgecert::pki::CpuLimiter,
    in_flight: usize,
    queued: usize,
) {
    tokio::time::timeout(DEADLINE, limiter.wait_for_load(in_flight, queued))
        .await
        .unwrap_or_else(|_| panic!("never saw: {what}"));
}

async fn healthz(app: &TestApp) -> StatusCode {
    let request = Request::builder()
        .uri("/healthz")
        .body(Body::empty())
        .expect("valid request");
    send_to(&edgecert::http::router(app.state.clone()), request)
        .await
        .status
}

/// The runtime here has one thread, which runs the server and the test alike. Every upload's
/// verification must hold a `--verify-concurrency` permit (1 here) and run elsewhere: while
/// uploads wait for the permit and while one is being verified, this thread still answers
/// `/healthz` and a list, and still sees the verification counted as in flight, which it
/// could not if the verification ran on it.
async fn uploads_are_verified_off_the_async_runtime(backend: Backend) {
    const UPLOADS: usize = 4;
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca, 1).await;
    let verifications = app.state.verifications.clone();

    // Hold the only permit on a blocking thread until told to let go.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let holder = tokio::spawn({
        let verifications = verifications.clone();
        async move { verifications.run(move || hold.recv().is_ok()).await }
    });
    until_load("the holder in flight", &verifications, 1, 0).await;

    // The most expensive bundle the cap lets through: no path exists, every order is tried.
    let (leaf, key) = ca.issue_with_new_key(&["app.example.com"], 90);
    let leaf = leaf
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .expect("leaf");
    let body = json!({
        "certificate": format!("{leaf}{}", look_alike_intermediates(edgecert::pki::MAX_INTERMEDIATES)),
        "private_key": key,
    })
    .to_string();
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|_| {
            let request = Request::builder()
                .method(Method::POST)
                .uri(zone_certificates(ZONE))
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .expect("valid request");
            tokio::spawn(edgecert::http::router(app.state.clone()).oneshot(request))
        })
        .collect();
    until_load(
        "every upload waiting for the permit",
        &verifications,
        1,
        UPLOADS,
    )
    .await;
    assert_eq!(healthz(&app).await, StatusCode::OK);
    app.get(&zone_certificates(ZONE))
        .await
        .assert_success(StatusCode::OK);
    assert_eq!(
        (verifications.in_flight(), verifications.queued()),
        (1, UPLOADS),
        "the uploads were still waiting while /healthz and the list answered"
    );

    release.send(()).expect("holder waits");
    assert!(holder.await.expect("holder task").expect("held job ran"));
    // An upload's verification now holds the permit. Seeing it in flight from this thread
    // means it runs on another; answering /healthz meanwhile means the runtime is free.
    let mut seen_verifying = false;
    while uploads.iter().any(|upload| !upload.is_finished()) {
        if verifications.in_flight() == 1 && !seen_verifying {
            seen_verifying = true;
            assert_eq!(healthz(&app).await, StatusCode::OK);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        seen_verifying,
        "no upload was ever seen in verification from the runtime thread"
    );
    for upload in uploads {
        let response = upload.await.expect("upload task").expect("router answers");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!((verifications.in_flight(), verifications.queued()), (0, 0));
}
