//! The change feed between instances on one Postgres database: a change made through one
//! instance is served by another's edge within a second, by the feed alone (the edges here
//! resync once an hour), and after the feed's connection is lost and restored. In process,
//! with a second `AppState` on the test database; `edge_processes` runs two real binaries.

use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use edgecert::AppState;
use serde_json::json;
use time::Duration;

use crate::common::{Backend, TestApp, ZONE, zone_hostnames};
use crate::edge::{
    EdgeUnderTest, SERVED_WITHIN, app_trusting, assert_unrecognized_name, leaf_of, new_csr,
    served_leaf, start_edge_over, upload_certificate, upload_hostname,
};
use crate::on_both_backends;
use crate::testca::TestCa;

on_both_backends!(
    another_instance_s_changes_are_served_within_a_second,
    changes_missed_while_the_feed_was_down_are_served_once_it_reconnects,
);

/// How long the feed may take to (re)connect: not a promise, a bound for a loaded machine
/// that covers the feed's retry pauses (at most 5 s).
const LISTENING_WITHIN: StdDuration = StdDuration::from_secs(20);

/// What `store::feed` names its connection in `pg_stat_activity`.
const FEED_APPLICATION: &str = "edgecert change feed";

/// A second instance on `app`'s database, with an edge: what instance B is to A.
async fn second_instance(app: &TestApp, ca: &TestCa) -> (AppState, EdgeUnderTest) {
    // `app_trusting`'s roots file is gone once read; B reads its own.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = app.args.clone();
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, ca.root_pem()).expect("write roots");
    args.trust_roots = Some(roots);
    let (state, _) = AppState::open(&args).await.expect("second instance");
    let mut edge = start_edge_over(&state, &args).await;
    // The feed reports once when it starts listening; from then on nothing is missed.
    edge.wait_for(LISTENING_WITHIN, "a listening change feed", |reloaded| {
        reloaded.feed >= 1
    })
    .await;
    (state, edge)
}

impl EdgeUnderTest {
    /// The feed's count as of the reload being served.
    fn feed_seen(&self) -> u64 {
        self.reloads.borrow().feed
    }

    /// Waits, at most [`SERVED_WITHIN`], for a reload that began after the feed reported
    /// something past `seen`: on an otherwise idle database, the write made since.
    async fn heard_after(&mut self, seen: u64, what: &str) {
        self.wait_for(SERVED_WITHIN, what, |reloaded| reloaded.feed > seen)
            .await;
    }
}

async fn another_instance_s_changes_are_served_within_a_second(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    if backend == Backend::Sqlite {
        // One file, one instance: its own writes reach its edge directly.
        assert!(app.store().change_feed().is_none(), "SQLite has no feed");
        return;
    }
    let (_b, mut edge) = second_instance(&app, &ca).await;

    let seen = edge.feed_seen();
    let (csr_id, csr_pem) = new_csr(&app, "p256v1", &["feed.example.com"]).await;
    let bundle = ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    let created = app
        .post(
            &zone_hostnames(ZONE),
            &json!({
                "hostname": "feed.example.com",
                "ssl": { "custom_csr_id": csr_id, "custom_certificate": bundle },
            }),
        )
        .await;
    let id = created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();
    edge.heard_after(seen, "A's hostname upload").await;
    let leaf = served_leaf(&edge, &ca, "feed.example.com")
        .await
        .expect("B serves A's upload");
    assert_eq!(leaf, leaf_of(&bundle));

    let seen = edge.feed_seen();
    let (certificate_bundle, key) = ca.issue_with_new_key(&["zone.example.org"], 90);
    upload_certificate(&app, &certificate_bundle, &key).await;
    edge.heard_after(seen, "A's custom certificate upload")
        .await;
    let leaf = served_leaf(&edge, &ca, "zone.example.org")
        .await
        .expect("B serves A's custom certificate");
    assert_eq!(leaf, leaf_of(&certificate_bundle));

    // A fallback origin is not served over TLS, but the edge routes by it: it is heard too.
    let seen = edge.feed_seen();
    app.put(
        &format!("{}/fallback_origin", zone_hostnames(ZONE)),
        &json!({"origin": "localhost:3000"}),
    )
    .await
    .assert_success(StatusCode::OK);
    edge.heard_after(seen, "A's fallback origin").await;

    // A replacement certificate by PATCH.
    let seen = edge.feed_seen();
    let renewed = ca.sign_csr(&csr_pem, 60, Duration::ZERO);
    app.patch(
        &format!("{}/{id}", zone_hostnames(ZONE)),
        &json!({"ssl": {"custom_csr_id": csr_id, "custom_certificate": renewed}}),
    )
    .await
    .assert_success(StatusCode::ACCEPTED);
    edge.heard_after(seen, "A's PATCH").await;
    let leaf = served_leaf(&edge, &ca, "feed.example.com")
        .await
        .expect("B serves the renewed certificate");
    assert_eq!(leaf, leaf_of(&renewed));

    let seen = edge.feed_seen();
    app.delete(&format!("{}/{id}", zone_hostnames(ZONE)))
        .await
        .assert_success(StatusCode::OK);
    edge.heard_after(seen, "A's delete").await;
    assert_unrecognized_name(served_leaf(&edge, &ca, "feed.example.com").await);
}

async fn changes_missed_while_the_feed_was_down_are_served_once_it_reconnects(backend: Backend) {
    if backend == Backend::Sqlite {
        // Nothing to lose: SQLite has no feed (see the test above).
        return;
    }
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca).await;
    let (_b, mut edge) = second_instance(&app, &ca).await;
    // Two certificates for one name; B serves the earlier upload of equal priority.
    let (first_bundle, first_key) = ca.issue_with_new_key(&["missed.example.org"], 90);
    let (second_bundle, second_key) = ca.issue_with_new_key(&["missed.example.org"], 90);
    let seen = edge.feed_seen();
    let first = upload_certificate(&app, &first_bundle, &first_key).await;
    edge.heard_after(seen, "A's first upload").await;
    let seen = edge.feed_seen();
    upload_certificate(&app, &second_bundle, &second_key).await;
    edge.heard_after(seen, "A's second upload").await;
    let leaf = served_leaf(&edge, &ca, "missed.example.org")
        .await
        .expect("handshake");
    assert_eq!(leaf, leaf_of(&first_bundle));

    // Opened now and held: while new connections are refused, this one still works.
    let writer = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&app.db.url)
        .await
        .expect("connect to the test database");
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&writer)
        .await
        .expect("database name");
    // On the server's admin database: Postgres will not refuse connections to the database
    // the statement runs in.
    let admin_url = crate::common::postgres_admin_url().expect("a Postgres server");
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("connect to the admin database");

    let seen = edge.feed_seen();
    sqlx::query(&format!(
        "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
    ))
    .execute(&admin)
    .await
    .expect("refuse new connections");
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = $2",
    )
    .bind(&database)
    .bind(FEED_APPLICATION)
    .fetch_all(&admin)
    .await
    .expect("terminate the feed's connection");
    assert_eq!(terminated, [true], "B's feed has one connection");

    // B cannot listen now: the notification of this change, as another instance would make
    // it, reaches nobody.
    sqlx::query("UPDATE custom_certificates SET priority = 10 WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&first).expect("certificate id"))
        .execute(&writer)
        .await
        .expect("deprioritize the first certificate");
    sqlx::query(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .expect("allow connections again");

    // Listening again, the feed reports once, and the reload that follows reads the change.
    edge.wait_for(LISTENING_WITHIN, "a reconnected feed", |reloaded| {
        reloaded.feed > seen
    })
    .await;
    let leaf = served_leaf(&edge, &ca, "missed.example.org")
        .await
        .expect("handshake");
    assert_eq!(
        leaf,
        leaf_of(&second_bundle),
        "B serves the change it was not told about"
    );

    // And it hears new changes again.
    let seen = edge.feed_seen();
    let (_, bundle) = upload_hostname(&app, &ca, "after.example.com", "p256v1").await;
    edge.heard_after(seen, "an upload after the reconnect")
        .await;
    let leaf = served_leaf(&edge, &ca, "after.example.com")
        .await
        .expect("B serves an upload made after the reconnect");
    assert_eq!(leaf, leaf_of(&bundle));
}
