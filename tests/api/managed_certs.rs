//! Managed certificates end to end against a real ACME CA: Pebble validates HTTP-01 by really
//! fetching the token from edgecert's edge HTTP listener (pebble-challtestsrv is its DNS,
//! answering every name with 127.0.0.1), edgecert finalizes, stores and serves the chain, and
//! a rustls client verifies it against Pebble's root. What makes a check run again (the
//! check-now control, a PATCH) is in `recheck`.
//!
//! Needs `pebble` and `pebble-challtestsrv` (Debian package `pebble`) and `curl`; without
//! them each test prints SKIPPED, unless `EDGECERT_REQUIRE_ACME` is set (as `.ci/run` does).

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::setup::{Setup, hex};
use crate::common::{Backend, TestApp, ZONE, zone_hostnames};
use crate::on_both_backends;

mod recheck;
mod setup;

on_both_backends!(
    an_http_hostname_is_issued_by_the_ca_and_served_by_the_edge,
    a_refused_validation_is_shown_and_retried_when_the_backoff_has_passed,
    check_now_runs_a_pending_validation_at_once,
    renewal_at_two_thirds_of_the_lifetime_replaces_the_certificate_and_its_key,
    a_claim_keeps_other_workers_off_until_its_lease_runs_out,
);

const HOSTNAME: &str = "shop.example.com";

/// The test control that runs a hostname's pending check now.
fn check_path(id: &str) -> String {
    format!("/_edgecert/zones/{ZONE}/custom_hostnames/{id}/check")
}

/// Runs the hostname's pending check through the control; returns the hostname it answers.
async fn check_now(app: &TestApp, id: &str) -> Value {
    let answer = app
        .call(axum::http::Method::POST, &check_path(id), None)
        .await;
    answer.assert_success(StatusCode::OK).clone()
}

async fn an_http_hostname_is_issued_by_the_ca_and_served_by_the_edge(backend: Backend) {
    let Some(setup) = Setup::start(backend, true).await else {
        return;
    };
    let started = Instant::now();
    let created = setup.create(HOSTNAME).await;
    // The answer is what was stored: the lifecycle's first step, before any CA round trip.
    assert_eq!(created["ssl"]["status"], "initializing", "{created}");
    assert_eq!(created["status"], "pending", "{created}");
    let id = created["id"].as_str().expect("id").to_string();

    let active = setup
        .wait_for(&id, |h| h["ssl"]["status"] == "active")
        .await;
    eprintln!(
        "managed certificate on {backend:?}: active after {:?}",
        started.elapsed()
    );
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(active["ssl"]["validation_records"], json!([]), "{active}");
    assert_eq!(active["ssl"]["validation_errors"], json!([]), "{active}");
    assert_eq!(active["ssl"]["hosts"], json!([HOSTNAME]), "{active}");
    assert!(
        active["ssl"].get("custom_certificate").is_none(),
        "{active}"
    );
    let fingerprint = active["ssl"]["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("no certificate facts: {active}"))
        .to_string();

    // The edge serves the issued chain for the name, and it verifies up to Pebble's root.
    let leaf = setup.eventually_served(HOSTNAME, &fingerprint).await;
    assert_eq!(hex(&Sha256::digest(&leaf)), fingerprint);
}

async fn a_refused_validation_is_shown_and_retried_when_the_backoff_has_passed(backend: Backend) {
    let Some(setup) = Setup::start(backend, true).await else {
        return;
    };
    // Pebble resolves the name to an address where nothing listens: its fetch is refused.
    setup.dns.point(HOSTNAME, Some("127.0.0.2"));
    let id = setup.create(HOSTNAME).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let refused = setup
        .wait_for(&id, |h| h["ssl"]["validation_errors"] != json!([]))
        .await;
    assert_refused_but_published(&setup, &refused).await;

    // Not due again until the backoff has passed: a claim now finds nothing to do.
    let now = setup.app.state.clock.now();
    let due = setup
        .app
        .store()
        .claim_managed(now, now + edgecert::app::managed::LEASE, None, 8)
        .await
        .expect("claim");
    assert!(due.is_empty(), "retried before its backoff: {due:?}");

    setup.dns.point(HOSTNAME, None);
    setup
        .app
        .state
        .clock
        .advance(edgecert::app::managed::FIRST_BACKOFF + time::Duration::seconds(1));
    let active = setup
        .wait_for(&id, |h| h["ssl"]["status"] == "active")
        .await;
    assert_eq!(active["ssl"]["validation_errors"], json!([]), "{active}");
    let fingerprint = active["ssl"]["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    setup.eventually_served(HOSTNAME, &fingerprint).await;
}

async fn check_now_runs_a_pending_validation_at_once(backend: Backend) {
    // No background task: only the control moves the lifecycle, so every step is observable.
    let Some(setup) = Setup::start(backend, false).await else {
        return;
    };
    setup.dns.point(HOSTNAME, Some("127.0.0.2"));
    let id = setup.create(HOSTNAME).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let check = || check_now(&setup.app, &id);
    // The answer is the hostname after the check, as a get shows it.
    let refused = check().await;
    assert_eq!(refused, setup.get(&id).await);
    assert_refused_but_published(&setup, &refused).await;

    // Fixed; checked again at once, the clock not moved past the backoff.
    setup.dns.point(HOSTNAME, None);
    let active = check().await;
    assert_eq!(active["ssl"]["status"], "active", "{active}");
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(active["ssl"]["validation_errors"], json!([]), "{active}");
    assert_eq!(active, setup.get(&id).await);
    assert_eq!(setup.app.state.clock.offset(), time::Duration::ZERO);
    // Checking an active certificate leaves it as it is: no early renewal.
    let again = check().await;
    assert_eq!(again["ssl"]["certificates"], active["ssl"]["certificates"]);

    // An edit that keeps ssl.method http keeps the issued certificate...
    let path = format!("{}/{id}", zone_hostnames(ZONE));
    let body = json!({"ssl": {"method": "http", "type": "dv"}, "custom_metadata": {"plan": "pro"}});
    let kept = setup.app.patch(&path, &body).await;
    let kept = kept.assert_success(StatusCode::ACCEPTED);
    assert_eq!(kept["ssl"]["status"], "active", "{kept}");
    assert_eq!(kept["custom_metadata"]["plan"], "pro", "{kept}");
    let stored = setup.get(&id).await;
    assert_eq!(stored["ssl"]["certificates"], active["ssl"]["certificates"]);
    // ...and switching to txt leaves it: records as before, lifecycle and key gone.
    let body = json!({"ssl": {"method": "txt", "type": "dv"}});
    let txt = setup.app.patch(&path, &body).await;
    let txt = txt.assert_success(StatusCode::ACCEPTED);
    assert_eq!(txt["ssl"]["status"], "pending_validation", "{txt}");
    assert_eq!(
        txt["ssl"]["validation_records"][0]["txt_name"],
        format!("_acme-challenge.{HOSTNAME}")
    );
    assert_eq!(setup.app.count_rows("managed_certificates").await, 0);
    assert_eq!(setup.app.count_rows("private_keys").await, 0);
}

async fn renewal_at_two_thirds_of_the_lifetime_replaces_the_certificate_and_its_key(
    backend: Backend,
) {
    let Some(setup) = Setup::start(backend, true).await else {
        return;
    };
    let id = setup.create(HOSTNAME).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let first = setup
        .wait_for(&id, |h| h["ssl"]["status"] == "active")
        .await;
    let first_print = first["ssl"]["certificates"][0]["fingerprint_sha256"].clone();
    assert_eq!(setup.app.count_rows("private_keys").await, 1);

    // Pebble issues for 90 days (see acme.rs): due again after 60.
    setup.app.state.clock.advance(time::Duration::days(61));
    let renewed = setup
        .wait_for(&id, |h| {
            h["ssl"]["certificates"][0]["fingerprint_sha256"] != first_print
        })
        .await;
    assert_eq!(renewed["ssl"]["status"], "active", "{renewed}");
    let fingerprint = renewed["ssl"]["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    setup.eventually_served(HOSTNAME, &fingerprint).await;
    // The old certificate's key went with it: one key, the new one.
    assert_eq!(setup.app.count_rows("private_keys").await, 1);
}

async fn a_claim_keeps_other_workers_off_until_its_lease_runs_out(backend: Backend) {
    use edgecert::app::managed::LEASE;
    // Nothing is contacted: no worker runs, and only the store's claims are exercised.
    let app = TestApp::with(backend, |args| {
        args.acme.directory = Some("https://127.0.0.1:9/dir".into());
    })
    .await;
    let body = json!({ "hostname": HOSTNAME, "ssl": { "method": "http" } });
    let created = app.post(&zone_hostnames(ZONE), &body).await;
    let id = created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let store = app.store();
    let now = app.state.clock.now();
    let claimed = store
        .claim_managed(now, now + LEASE, None, 8)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].hostname_id.to_string(), id);
    // A second worker (or check_now) finds it taken while the lease runs...
    for only in [None, Some(claimed[0].hostname_id)] {
        let again = store
            .claim_managed(now, now + LEASE, only, 8)
            .await
            .expect("claim");
        assert!(again.is_empty(), "claimed twice: {again:?}");
    }
    // ...and takes it over once the first worker has been silent past its lease, after
    // which the first worker's writes are refused.
    let later = now + LEASE + time::Duration::seconds(1);
    let taken_over = store
        .claim_managed(later, later + LEASE, None, 8)
        .await
        .expect("claim");
    assert_eq!(taken_over.len(), 1);
    assert_ne!(taken_over[0].claim, claimed[0].claim);
    assert!(matches!(
        store.save_managed(&claimed[0], true).await,
        Err(edgecert::store::StoreError::NotFound)
    ));
    store
        .save_managed(&taken_over[0], true)
        .await
        .expect("the new claim's write");
}

/// A refusal shows the CA's problem, keeps `pending_validation`, and the edge still
/// answers the published token for the hostname (and for no other host).
async fn assert_refused_but_published(setup: &Setup, hostname: &Value) {
    let ssl = &hostname["ssl"];
    assert_eq!(ssl["status"], "pending_validation", "{hostname}");
    assert_eq!(hostname["status"], "pending", "{hostname}");
    let message = ssl["validation_errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no validation error: {hostname}"));
    assert!(
        message.starts_with("urn:ietf:params:acme:error:") && message.contains("127.0.0.2"),
        "the CA's problem type and detail: {message}"
    );
    let record = &ssl["validation_records"][0];
    let url = record["http_url"].as_str().expect("http_url");
    let path = url
        .strip_prefix(&format!("http://{HOSTNAME}"))
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        path.len() > "/.well-known/acme-challenge/".len()
            && path.starts_with("/.well-known/acme-challenge/"),
        "{url}"
    );
    let (status, body) = setup.edge_get(path, HOSTNAME).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, record["http_body"].as_str().expect("http_body"));
    let (status, _) = setup.edge_get(path, "other.example.com").await;
    assert_eq!(status, 404);
}
