//! What has a managed certificate's validation looked at again before its backoff is over:
//! the check-now test control, and a PATCH that sends the hostname's `ssl` again (the real
//! API's way to complete validation once the domain points where it should).

use std::time::Duration;

use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use super::setup::Setup;
use super::{HOSTNAME, assert_refused_but_published, check_path};
use crate::common::{Backend, TestApp, ZONE, send_to, zone_hostnames};
use crate::on_both_backends;
use edgecert::app::managed::LEASE;
use edgecert::store::{ManagedStatus, ManagedWork};

on_both_backends!(
    check_now_is_refused_for_what_it_cannot_check,
    check_now_waits_for_a_worker_holding_the_hostname,
    a_patch_with_ssl_makes_unfinished_work_due_now_and_keeps_its_order,
    after_a_refusal_a_patch_with_the_same_ssl_has_the_worker_validate_again,
);

/// ACME configured at an address where nothing listens, no worker: only claims and the
/// control's own step run, and a step fails at once on the unreachable CA.
async fn unreachable_ca_app(backend: Backend) -> TestApp {
    TestApp::with(backend, |args| {
        args.acme.directory = Some("https://127.0.0.1:9/dir".into());
        args.test_controls = true;
    })
    .await
}

async fn create(app: &TestApp, method: &str) -> String {
    let body = json!({ "hostname": HOSTNAME, "ssl": { "method": method, "type": "dv" } });
    let created = app.post(&zone_hostnames(ZONE), &body).await;
    created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// The lifecycle a worker would claim now, if any (claimed: release it to let go).
async fn due_now(app: &TestApp) -> Option<ManagedWork> {
    let now = app.state.clock.now();
    let mut due = app
        .store()
        .claim_managed(now, now + LEASE, None, 8)
        .await
        .expect("claim");
    assert!(due.len() <= 1, "one hostname only: {due:?}");
    due.pop()
}

async fn check(app: &TestApp, id: &str) -> crate::common::TestResponse {
    app.call(Method::POST, &check_path(id), None).await
}

async fn check_now_is_refused_for_what_it_cannot_check(backend: Backend) {
    let app = unreachable_ca_app(backend).await;
    check(&app, "7b163417-1d2b-4c84-a38a-2fb7a0cd7752")
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1436]);
    check(&app, "not-a-uuid")
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1435]);
    let bad_zone =
        "/_edgecert/zones/ZONE/custom_hostnames/7b163417-1d2b-4c84-a38a-2fb7a0cd7752/check";
    let answer = app.call(Method::POST, bad_zone, None).await;
    answer.assert_error(StatusCode::BAD_REQUEST, &[1401]);
    // TXT validation has no DNS to look at locally: nothing for edgecert to check.
    let txt = create(&app, "txt").await;
    check(&app, &txt).await.assert_conflict(99004);
    // Only with an API token, like every control.
    let anonymous = Request::builder()
        .method(Method::POST)
        .uri(check_path(&txt));
    let anonymous = app.send(anonymous, None).await;
    anonymous.assert_error(StatusCode::BAD_REQUEST, &[1402]);

    // Without an ACME CA no hostname is managed, and the control says why.
    let no_acme = TestApp::with(backend, |args| args.test_controls = true).await;
    let http = create(&no_acme, "http").await;
    check(&no_acme, &http).await.assert_conflict(99005);
}

async fn check_now_waits_for_a_worker_holding_the_hostname(backend: Backend) {
    let app = unreachable_ca_app(backend).await;
    let id = create(&app, "http").await;
    let store = app.store();
    let now = app.state.clock.now();
    let mut held = store
        .claim_managed(now, now + LEASE, None, 8)
        .await
        .expect("claim");
    let held = held.pop().expect("the new hostname is due");

    let request = Request::builder()
        .method(Method::POST)
        .uri(check_path(&id))
        .header("authorization", format!("Bearer {}", crate::common::TOKEN))
        .body(axum::body::Body::empty())
        .expect("request");
    let router = app.router.clone();
    let mut answer = tokio::spawn(async move { send_to(&router, request).await });
    // A control that answered while the hostname is held would not have checked anything.
    let early = tokio::time::timeout(Duration::from_millis(300), &mut answer).await;
    assert!(early.is_err(), "answered while a worker held the hostname");

    // The worker lets go (its step ended); the control then runs its own step, which fails
    // on the unreachable CA and is counted as a failed attempt.
    store.save_managed(&held, true).await.expect("release");
    let answer = answer.await.expect("the request task");
    let hostname = answer.assert_success(StatusCode::OK);
    assert_eq!(hostname["id"], id.as_str(), "{hostname}");
    assert_eq!(hostname["ssl"]["status"], "initializing", "{hostname}");
    let now = app.state.clock.now();
    let after = store
        .claim_managed(now, now + LEASE, Some(held.hostname_id), 1)
        .await
        .expect("claim");
    assert_eq!(after[0].state.attempts, 1, "{after:?}");
}

async fn a_patch_with_ssl_makes_unfinished_work_due_now_and_keeps_its_order(backend: Backend) {
    let app = unreachable_ca_app(backend).await;
    let id = create(&app, "http").await;
    let store = app.store();
    let path = format!("{}/{id}", zone_hostnames(ZONE));
    let due = || due_now(&app);
    // As a worker leaves it after a refused validation: an order, its published answer, the
    // CA's problem, and the next attempt an hour away.
    let mut work = due().await.expect("the new hostname is due");
    let later = app.state.clock.now() + time::Duration::hours(1);
    work.state.status = ManagedStatus::PendingValidation;
    work.state.order_url = Some("https://127.0.0.1:9/order/1".into());
    work.state.token = Some("token-1".into());
    work.state.key_authorization = Some("token-1.thumbprint".into());
    work.state.validation_errors = vec!["urn:ietf:params:acme:error:connection: refused".into()];
    work.state.attempts = 2;
    work.state.due_at = Some(later);
    store.save_managed(&work, true).await.expect("release");
    assert!(due().await.is_none(), "due before its backoff");

    // An edit without ssl changes nothing about validation.
    let metadata = json!({ "custom_metadata": { "plan": "pro" } });
    app.patch(&path, &metadata)
        .await
        .assert_success(StatusCode::ACCEPTED);
    assert!(due().await.is_none(), "an edit without ssl made it due");

    // The same ssl again: due now, the order and everything else as they were.
    let same = json!({ "ssl": { "method": "http", "type": "dv" } });
    let edited = app.patch(&path, &same).await;
    let edited = edited.assert_success(StatusCode::ACCEPTED);
    assert_eq!(edited["ssl"]["status"], "pending_validation", "{edited}");
    assert_eq!(edited["custom_metadata"]["plan"], "pro", "{edited}");
    let rechecked = due().await.expect("due at once after the PATCH");
    let (before, after) = (&work.state, &rechecked.state);
    assert_eq!(after.status, ManagedStatus::PendingValidation);
    assert_eq!(after.order_url, before.order_url);
    assert_eq!(after.token, before.token);
    assert_eq!(after.validation_errors, before.validation_errors);
    assert_eq!(after.attempts, before.attempts);
    assert!(after.due_at.is_some_and(|at| at < later), "{after:?}");

    // An active certificate is not renewed early by the same PATCH.
    let mut active = rechecked;
    active.state.status = ManagedStatus::Active;
    active.state.order_url = None;
    active.state.validation_errors.clear();
    active.state.due_at = Some(later);
    store.save_managed(&active, true).await.expect("release");
    app.patch(&path, &same)
        .await
        .assert_success(StatusCode::ACCEPTED);
    assert!(due().await.is_none(), "an active certificate was made due");
}

async fn after_a_refusal_a_patch_with_the_same_ssl_has_the_worker_validate_again(backend: Backend) {
    let Some(setup) = Setup::start(backend, true).await else {
        return;
    };
    setup.dns.point(HOSTNAME, Some("127.0.0.2"));
    let id = setup.create(HOSTNAME).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let refused = setup
        .wait_for(&id, |h| h["ssl"]["validation_errors"] != json!([]))
        .await;
    assert_refused_but_published(&setup, &refused).await;

    // Pointed where it should, the user PATCHes the same ssl: validated again well before
    // the first backoff (a minute, longer than the wait below allows) would have it.
    setup.dns.point(HOSTNAME, None);
    let path = format!("{}/{id}", zone_hostnames(ZONE));
    let same = json!({ "ssl": { "method": "http", "type": "dv" } });
    let edited = setup.app.patch(&path, &same).await;
    edited.assert_success(StatusCode::ACCEPTED);
    let active = setup
        .wait_for(&id, |h| h["ssl"]["status"] == "active")
        .await;
    assert_eq!(active["ssl"]["validation_errors"], json!([]), "{active}");
    assert_eq!(setup.app.state.clock.offset(), time::Duration::ZERO);
}
