//! The RSA-2048 key pool: keys generated ahead of demand, claimed once, refilled in the
//! background, shared safely between instances on one database.

use std::collections::HashSet;

use axum::http::StatusCode;
use edgecert::pki::KeyType;
use edgecert::store::Scope;
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::common::{Backend, TestApp, ZONE, csr_body, zone_csrs};
use crate::csr_create::{openssl_verify, parse_csr};
use crate::on_both_backends;

on_both_backends!(
    pooled_keys_serve_rsa_csrs_once_then_generation_takes_over,
    concurrent_claims_from_two_instances_never_share_a_key,
    pool_size_zero_turns_the_pool_off,
    background_refill_tops_the_pool_up_after_claims,
    p256_csrs_leave_the_pool_alone,
);

async fn app_with_pool(backend: Backend, size: u64) -> TestApp {
    TestApp::with(backend, |args| args.rsa_pool_size = size).await
}

fn rsa_body(common_name: &str) -> serde_json::Value {
    let mut body = csr_body(common_name);
    body["key_type"] = json!("rsa2048");
    body
}

/// Each pooled key signs exactly one CSR, moves to the CSR's key row sealed as it was, and an
/// empty pool falls back to generating the key inline.
async fn pooled_keys_serve_rsa_csrs_once_then_generation_takes_over(backend: Backend) {
    let app = app_with_pool(backend, 3).await;
    assert_eq!(app.state.key_pool.fill().await.expect("pool fills"), 3);
    assert_eq!(app.count_rows("key_pool").await, 3);
    assert_eq!(app.count_rows("private_keys").await, 0);

    let mut key_ids = HashSet::new();
    for (n, pool_left) in [(1, 2), (2, 1), (3, 0), (4, 0)] {
        let response = app
            .post(&zone_csrs(ZONE), &rsa_body(&format!("app{n}.example.com")))
            .await;
        assert!(!response.body.to_string().contains("PRIVATE KEY"));
        let result = response.assert_success(StatusCode::CREATED);
        let pem = result["csr"].as_str().expect("csr");
        openssl_verify(pem);
        assert_eq!(app.count_rows("key_pool").await, pool_left, "after CSR {n}");
        assert_eq!(app.count_rows("private_keys").await, n);

        let id = Uuid::parse_str(result["id"].as_str().expect("id")).expect("uuid");
        let record = app
            .store()
            .get_csr(&Scope::Zone(ZONE.into()), id)
            .await
            .expect("stored");
        assert_eq!(record.key_type, KeyType::Rsa2048);
        let stored = app.store().get_key(record.key_id).await.expect("key row");
        // The seal is bound to the key's id, so this also proves the id survived the move.
        let key = app
            .state
            .master_key
            .open(
                stored.key_type,
                &stored.encrypted_pkcs8,
                stored.spki_der.clone(),
                stored.id.as_bytes(),
            )
            .expect("the moved key opens under its id");
        assert_eq!(key.spki_der(), parse_csr(pem).spki_der.as_slice());
        assert!(
            key_ids.insert(record.key_id),
            "key {} used twice",
            record.key_id
        );
    }
}

/// Two stores on one database stand for two edgecert instances: racing claims split the pool
/// between them and no key is handed out twice.
async fn concurrent_claims_from_two_instances_never_share_a_key(backend: Backend) {
    const POOLED: u64 = 12;
    let app = app_with_pool(backend, POOLED).await;
    assert_eq!(app.state.key_pool.fill().await.expect("pool fills"), POOLED);
    let other_instance = edgecert::store::connect(&app.db.url, None)
        .await
        .expect("second connection pool");
    let stores = [app.store(), other_instance];

    let claims: Vec<_> = (0..POOLED * 2)
        .map(|n| {
            let store = stores[(n % 2) as usize].clone();
            tokio::spawn(async move { store.claim_pool_key(KeyType::Rsa2048).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for claim in claims {
        if let Some(key) = claim.await.expect("task").expect("claim") {
            claimed.push(key.id);
        }
    }
    let distinct: HashSet<_> = claimed.iter().collect();
    assert_eq!(
        claimed.len() as u64,
        POOLED,
        "every pooled key is claimed once"
    );
    assert_eq!(
        distinct.len(),
        claimed.len(),
        "a key was claimed twice: {claimed:?}"
    );
    assert_eq!(
        app.store()
            .count_pool_keys(KeyType::Rsa2048)
            .await
            .expect("count"),
        0
    );
}

async fn pool_size_zero_turns_the_pool_off(backend: Backend) {
    let app = app_with_pool(backend, 0).await;
    assert_eq!(app.state.key_pool.target(), 0);
    assert_eq!(app.state.key_pool.fill().await.expect("no-op"), 0);
    assert!(
        app.state
            .key_pool
            .start_refill()
            .expect("no thread")
            .is_none()
    );
    let response = app
        .post(&zone_csrs(ZONE), &rsa_body("off.example.com"))
        .await;
    response.assert_success(StatusCode::CREATED);
    assert_eq!(app.count_rows("key_pool").await, 0);
    assert_eq!(app.count_rows("private_keys").await, 1);
}

/// Waits until the refill has counted `expected` keys, then checks the database agrees.
async fn wait_for_pool(counted: &mut watch::Receiver<u64>, app: &TestApp, expected: u64) {
    counted
        .wait_for(|&keys| keys == expected)
        .await
        .expect("the refill task runs");
    assert_eq!(app.count_rows("key_pool").await, expected as i64);
}

/// The background task fills the pool on its own and tops it up as soon as a CSR draws on it.
async fn background_refill_tops_the_pool_up_after_claims(backend: Backend) {
    let app = app_with_pool(backend, 2).await;
    let pool = app.state.key_pool.clone();
    let refill = pool
        .start_refill()
        .expect("thread starts")
        .expect("pool on");
    let mut counted = refill.pool_keys();
    wait_for_pool(&mut counted, &app, 2).await;

    // Marked seen first: the count only changes when it does, so the next change is the
    // refill's recount after this claim, not the full pool counted above.
    counted.borrow_and_update();
    app.post(&zone_csrs(ZONE), &rsa_body("refill.example.com"))
        .await
        .assert_success(StatusCode::CREATED);
    assert_eq!(app.count_rows("private_keys").await, 1);
    counted.changed().await.expect("the refill task runs");
    wait_for_pool(&mut counted, &app, 2).await;

    refill.stop().await;
    // Stopped: the task has ended, and a claim is no longer replaced.
    assert!(
        counted.changed().await.is_err(),
        "the refill task still runs"
    );
    app.post(&zone_csrs(ZONE), &rsa_body("stopped.example.com"))
        .await
        .assert_success(StatusCode::CREATED);
    assert_eq!(app.count_rows("key_pool").await, 1);
    assert_eq!(app.count_rows("private_keys").await, 2);
}

async fn p256_csrs_leave_the_pool_alone(backend: Backend) {
    let app = app_with_pool(backend, 2).await;
    app.state.key_pool.fill().await.expect("pool fills");
    app.create_csr(&csr_body("ec.example.com")).await;
    assert_eq!(app.count_rows("key_pool").await, 2);
}
