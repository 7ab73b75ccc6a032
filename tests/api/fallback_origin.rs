//! The zone's fallback origin for custom hostnames: put, get, replace, delete, per zone, with
//! its validation codes and the store method the edge reads it through.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, OTHER_ZONE, TestApp, ZONE, zone_hostnames};
use crate::on_both_backends;

on_both_backends!(
    put_get_replace_and_delete,
    origins_are_validated_like_hostnames,
    each_zone_has_its_own,
);

fn path(zone: &str) -> String {
    format!("{}/fallback_origin", zone_hostnames(zone))
}

#[track_caller]
fn assert_shape(result: &Value, origin: &str) {
    assert_eq!(result["origin"], origin, "{result}");
    assert_eq!(result["status"], "active", "{result}");
    assert_eq!(result["errors"], json!([]), "{result}");
    for field in ["created_at", "updated_at"] {
        let text = result[field].as_str().unwrap_or_default();
        assert!(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{field}: {result}"
        );
    }
    let mut keys: Vec<_> = result
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["created_at", "errors", "origin", "status", "updated_at"]
    );
}

async fn put_get_replace_and_delete(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.get(&path(ZONE))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1551]);
    app.delete(&path(ZONE))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1551]);
    assert_eq!(app.store().get_fallback_origin(ZONE).await.unwrap(), None);

    let put = app
        .put(
            &path(ZONE),
            &json!({"origin": "Fallback.SaaS-Platform.com"}),
        )
        .await;
    let created = put.assert_success(StatusCode::OK).clone();
    assert_shape(&created, "fallback.saas-platform.com");
    assert_eq!(created["created_at"], created["updated_at"]);
    let got = app.get(&path(ZONE)).await;
    assert_eq!(got.assert_success(StatusCode::OK), &created);

    // The edge reads it through the store.
    let stored = app
        .store()
        .get_fallback_origin(ZONE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.origin, "fallback.saas-platform.com");
    assert_eq!(stored.zone_id, ZONE);

    // A second PUT replaces the origin and keeps the creation time.
    let replaced = app
        .put(&path(ZONE), &json!({"origin": "localhost:3000"}))
        .await;
    let replaced = replaced.assert_success(StatusCode::OK).clone();
    assert_shape(&replaced, "localhost:3000");
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert_ne!(replaced["updated_at"], created["updated_at"]);

    let deleted = app.delete(&path(ZONE)).await;
    assert_eq!(deleted.assert_success(StatusCode::OK), &replaced);
    app.get(&path(ZONE))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1551]);
    assert_eq!(app.store().get_fallback_origin(ZONE).await.unwrap(), None);
}

async fn origins_are_validated_like_hostnames(backend: Backend) {
    let app = TestApp::new(backend).await;
    for (body, code) in [
        (json!({}), 1407),
        (json!({"origin": 3000}), 1407),
        (json!({"origin": "a..saas-platform.com"}), 1407),
        (json!({"origin": "origin.saas-platform.com:99999"}), 1407),
        (json!({"origin": "*.saas-platform.com"}), 1407),
        (json!({"origin": "bücher.saas-platform.com"}), 1408),
        (json!({"origin": "app.test"}), 1409),
        (json!({"origin": "co.uk"}), 1410),
    ] {
        let answer = app.put(&path(ZONE), &body).await;
        answer.assert_error(StatusCode::BAD_REQUEST, &[code]);
        assert_eq!(
            answer.body["errors"][0]["source"]["pointer"], "/origin",
            "{body}"
        );
    }
    app.get(&path(ZONE))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1551]);
    for origin in [
        "127.0.0.1:9000",
        "[::1]:8080",
        "origin.saas-platform.com:8443",
    ] {
        let answer = app.put(&path(ZONE), &json!({"origin": origin})).await;
        assert_eq!(answer.assert_success(StatusCode::OK)["origin"], origin);
    }
    // Strict mode refuses the documentation domains, as for hostnames.
    let strict = TestApp::with(backend, |args| args.strict = true).await;
    strict
        .put(&path(ZONE), &json!({"origin": "fallback.example.com"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1411]);
}

async fn each_zone_has_its_own(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.put(&path(ZONE), &json!({"origin": "one.saas-platform.com"}))
        .await
        .assert_success(StatusCode::OK);
    app.get(&path(OTHER_ZONE))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1551]);
    app.put(
        &path(OTHER_ZONE),
        &json!({"origin": "two.saas-platform.com"}),
    )
    .await
    .assert_success(StatusCode::OK);
    app.delete(&path(OTHER_ZONE))
        .await
        .assert_success(StatusCode::OK);
    let one = app.get(&path(ZONE)).await;
    assert_eq!(
        one.assert_success(StatusCode::OK)["origin"],
        "one.saas-platform.com"
    );
}
