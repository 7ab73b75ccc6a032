//! Stored token hashes (keyed, and the plain SHA-256 of earlier releases still honoured) and
//! credential headers sent twice.

use axum::http::{Method, Request, StatusCode};
use edgecert::AppState;
use edgecert::app::{legacy_digest, stored_digest};

use crate::common::{Backend, TOKEN, TestApp, TestDatabase, ZONE, send_to, zone_csrs};
use crate::on_both_backends;

on_both_backends!(
    a_token_stored_by_an_earlier_release_works_and_is_rewritten_on_first_use,
    a_bootstrap_token_stored_by_an_earlier_release_is_rewritten_at_start,
    credential_headers_sent_twice_are_400_6003,
);

const OLD_TOKEN: &str = "generated-by-an-earlier-release-0123456789";

async fn list_with(state: &AppState, token: &str) -> StatusCode {
    let router = edgecert::http::router(state.clone());
    let request = Request::builder()
        .uri(zone_csrs(ZONE))
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .expect("request");
    send_to(&router, request).await.status
}

async fn a_token_stored_by_an_earlier_release_works_and_is_rewritten_on_first_use(
    backend: Backend,
) {
    let app = TestApp::new(backend).await;
    let store = app.store();
    // What an earlier release wrote for its generated token: the plain SHA-256.
    assert!(
        store
            .insert_token(&legacy_digest(OLD_TOKEN), "generated at first start")
            .await
            .expect("insert")
    );
    let (restarted, _) = AppState::open(&app.args).await.expect("the database opens");
    assert_eq!(list_with(&restarted, OLD_TOKEN).await, StatusCode::OK);
    let stored = store.token_hashes().await.expect("hashes");
    let keyed = stored_digest(&app.state.master_key, OLD_TOKEN);
    assert!(stored.contains(&keyed), "rewritten to the keyed hash");
    assert!(
        !stored.contains(&legacy_digest(OLD_TOKEN)),
        "the plain hash is gone"
    );
    assert_eq!(
        app.count_rows("api_tokens").await,
        2,
        "no row added or lost"
    );
    // Still accepted, in this process and after another restart, and nothing else changed.
    assert_eq!(list_with(&restarted, OLD_TOKEN).await, StatusCode::OK);
    assert_eq!(list_with(&restarted, TOKEN).await, StatusCode::OK);
    let (again, _) = AppState::open(&app.args).await.expect("the database opens");
    assert_eq!(list_with(&again, OLD_TOKEN).await, StatusCode::OK);
    assert_eq!(
        list_with(&again, &format!("{OLD_TOKEN}x")).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_bootstrap_token_stored_by_an_earlier_release_is_rewritten_at_start(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    {
        let store = edgecert::store::connect(&db.url, None)
            .await
            .expect("connect");
        store
            .insert_token(&legacy_digest(TOKEN), "EDGECERT_BOOTSTRAP_TOKEN")
            .await
            .expect("insert");
    }
    let mut args = edgecert::config::ServeArgs::for_database(&db.url);
    args.master_key = Some(edgecert::config::Secret::new(
        crate::common::test_master_key(),
    ));
    args.bootstrap_token = Some(edgecert::config::Secret::new(TOKEN));
    args.rsa_pool_size = 0;
    let (state, generated) = AppState::open(&args).await.expect("the database opens");
    assert!(generated.is_none());
    assert_eq!(
        state.store.token_hashes().await.expect("hashes"),
        vec![stored_digest(&state.master_key, TOKEN)],
        "one row, in the keyed form"
    );
    assert_eq!(list_with(&state, TOKEN).await, StatusCode::OK);
}

async fn credential_headers_sent_twice_are_400_6003(backend: Backend) {
    let app = TestApp::new(backend).await;
    let bearer = format!("Bearer {TOKEN}");
    let cases: [(&str, [&str; 2]); 4] = [
        ("authorization", [bearer.as_str(), bearer.as_str()]),
        (
            "authorization",
            [bearer.as_str(), "Bearer someone-elses-token"],
        ),
        ("x-auth-key", [TOKEN, TOKEN]),
        ("x-auth-user-service-key", [TOKEN, "v1.0-other"]),
    ];
    for (name, [first, second]) in cases {
        let response = app
            .send(
                Request::builder()
                    .method(Method::GET)
                    .uri(zone_csrs(ZONE))
                    .header(name, first)
                    .header(name, second),
                None,
            )
            .await;
        response.assert_error(StatusCode::BAD_REQUEST, &[6003]);
        // The header is named by the error or, as the real API does, by its chained cause.
        let error = &response.body["errors"][0];
        let named = [&error["message"], &error["error_chain"][0]["message"]]
            .iter()
            .filter_map(|message| message.as_str())
            .any(|message| message.to_ascii_lowercase().contains(name));
        assert!(named, "{error}");
        assert!(!response.body.to_string().contains(TOKEN), "not echoed");
    }
    // One of each is still fine: the SDKs send X-Auth-Email beside X-Auth-Key.
    app.send(
        Request::builder()
            .uri(zone_csrs(ZONE))
            .header("x-auth-email", "user@example.com")
            .header("x-auth-key", TOKEN),
        None,
    )
    .await
    .assert_success(StatusCode::OK);
}
