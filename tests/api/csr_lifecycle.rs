//! Get and delete, zone and account namespaces, and persistence across restarts.

use axum::http::StatusCode;
use edgecert::AppState;
use edgecert::store::{Scope, StoreError};
use serde_json::json;

use crate::common::{
    ACCOUNT, Backend, OTHER_ZONE, TestApp, ZONE, account_csrs, csr_body, zone_csrs,
};
use crate::on_both_backends;

on_both_backends!(
    delete_removes_the_csr_and_destroys_its_key,
    zone_and_account_csrs_are_separate_namespaces,
    csrs_survive_a_restart,
    a_failed_insert_writes_nothing_and_leaves_the_store_usable,
);

/// A CSR insert that fails after its key row was written (the CSR id is taken) must undo the
/// key row and the zone counter too, and the next write must go through normally.
async fn a_failed_insert_writes_nothing_and_leaves_the_store_usable(backend: Backend) {
    let app = TestApp::new(backend).await;
    let existing = app.create_csr(&csr_body("first.example.com")).await;
    let id = uuid::Uuid::parse_str(existing["id"].as_str().expect("id")).expect("uuid");
    let scope = Scope::Zone(ZONE.into());
    let record = app.store().get_csr(&scope, id).await.expect("stored");
    let mut key = app.store().get_key(record.key_id).await.expect("key");
    key.id = uuid::Uuid::new_v4();
    let mut clash = record.clone();
    clash.key_id = key.id;

    let error = app
        .store()
        .insert_csr(&clash, &key, None)
        .await
        .expect_err("the CSR id is taken");
    assert!(matches!(error, StoreError::Duplicate(_)), "{error:?}");
    assert_eq!(
        app.count_rows("private_keys").await,
        1,
        "the key row was undone"
    );
    assert_eq!(app.count_rows("custom_csrs").await, 1);
    let listed = app.get(&zone_csrs(ZONE)).await;
    assert_eq!(
        listed.body["result_info"]["total_count"], 1,
        "the zone counter was undone"
    );

    app.create_csr(&csr_body("second.example.com")).await;
    assert_eq!(app.count_rows("custom_csrs").await, 2);
}

async fn delete_removes_the_csr_and_destroys_its_key(backend: Backend) {
    let app = TestApp::new(backend).await;
    let keep = app.create_csr(&csr_body("keep.example.com")).await;
    let doomed = app.create_csr(&csr_body("doomed.example.com")).await;
    let id = doomed["id"].as_str().expect("id");
    let uuid = uuid::Uuid::parse_str(id).expect("uuid");
    let key_id = app
        .store()
        .get_csr(&Scope::Zone(ZONE.into()), uuid)
        .await
        .expect("stored")
        .key_id;
    let path = format!("{}/{id}", zone_csrs(ZONE));

    // Deleting through another zone finds nothing and changes nothing.
    app.delete(&format!("{}/{id}", zone_csrs(OTHER_ZONE)))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1419]);
    app.get(&path).await.assert_success(StatusCode::OK);

    let response = app.delete(&path).await;
    assert_eq!(
        response.assert_success(StatusCode::OK),
        &json!({ "id": id })
    );
    app.get(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1419]);
    app.delete(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1419]);
    assert!(matches!(
        app.store().get_key(key_id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(app.count_rows("custom_csrs").await, 1);
    assert_eq!(app.count_rows("private_keys").await, 1);

    let list = app.get(&zone_csrs(ZONE)).await;
    let remaining = list.assert_success(StatusCode::OK);
    assert_eq!(remaining.as_array().map(Vec::len), Some(1));
    assert_eq!(list.body["result_info"]["total_count"], 1);
    assert_eq!(remaining[0]["id"], keep["id"]);
}

async fn zone_and_account_csrs_are_separate_namespaces(backend: Backend) {
    let app = TestApp::new(backend).await;
    let zone_csr = app.create_csr(&csr_body("zone.example.com")).await;
    let response = app
        .post(&account_csrs(ACCOUNT), &csr_body("account.example.com"))
        .await;
    let account_csr = response.assert_success(StatusCode::CREATED).clone();
    assert_eq!(account_csr["account_tag"], ACCOUNT);
    assert!(zone_csr.get("account_tag").is_none());

    let zone_id = zone_csr["id"].as_str().expect("id");
    let account_id = account_csr["id"].as_str().expect("id");
    let fetched = app
        .get(&format!("{}/{account_id}", account_csrs(ACCOUNT)))
        .await;
    assert_eq!(fetched.assert_success(StatusCode::OK), &account_csr);

    for wrong in [
        format!("{}/{zone_id}", account_csrs(ACCOUNT)),
        format!("{}/{account_id}", zone_csrs(ZONE)),
        format!("{}/{zone_id}", zone_csrs(OTHER_ZONE)),
        // The account id used as a zone id is still a different namespace.
        format!("{}/{account_id}", zone_csrs(ACCOUNT)),
    ] {
        app.get(&wrong)
            .await
            .assert_error(StatusCode::NOT_FOUND, &[1419]);
    }
    let zone_list = app.get(&zone_csrs(ZONE)).await;
    assert_eq!(zone_list.body["result_info"]["total_count"], 1);
    let account_list = app.get(&account_csrs(ACCOUNT)).await;
    assert_eq!(account_list.body["result_info"]["total_count"], 1);
    assert_eq!(account_list.body["result"][0]["id"], account_csr["id"]);
    let other = app.get(&zone_csrs(OTHER_ZONE)).await;
    assert_eq!(other.body["result_info"]["total_count"], 0);

    let response = app
        .delete(&format!("{}/{account_id}", account_csrs(ACCOUNT)))
        .await;
    assert_eq!(
        response.assert_success(StatusCode::OK),
        &json!({ "id": account_id })
    );
    app.get(&format!("{}/{zone_id}", zone_csrs(ZONE)))
        .await
        .assert_success(StatusCode::OK);
}

async fn csrs_survive_a_restart(backend: Backend) {
    let app = TestApp::new(backend).await;
    let created = app.create_csr(&csr_body("app.example.com")).await;
    let id = uuid::Uuid::parse_str(created["id"].as_str().expect("id")).expect("uuid");

    let (reopened, _) = AppState::open(&app.args).await.expect("reopens");
    let debug = format!("{reopened:?} {:?}", app.args);
    assert!(!debug.contains(crate::common::TOKEN), "{debug}");
    assert!(
        !debug.contains(&crate::common::test_master_key()),
        "{debug}"
    );
    let record = reopened
        .store
        .get_csr(&Scope::Zone(ZONE.into()), id)
        .await
        .expect("still there");
    assert_eq!(record.csr_pem, created["csr"].as_str().expect("csr"));
    let key = reopened.store.get_key(record.key_id).await.expect("key");
    reopened
        .master_key
        .open(
            key.key_type,
            &key.encrypted_pkcs8,
            key.spki_der.clone(),
            record.key_id.as_bytes(),
        )
        .expect("the same master key opens it after a restart");

    let mut wrong_key = app.args.clone();
    wrong_key.master_key = Some(edgecert::config::Secret::new(
        "b3RoZXItbWFzdGVyLWtleS0zMi1ieXRlcy1sb25nISE=",
    ));
    let refused = AppState::open(&wrong_key).await;
    let message = format!("{:#}", refused.err().expect("wrong master key is refused"));
    assert!(message.contains("master key does not match"), "{message}");
}
