//! The test controls under `/_edgecert/` (`--test-controls`): absent unless enabled, behind
//! the API's tokens; reset by zone, account or everything; the clock, and the statuses that
//! follow it in the API and at the edge; forced custom hostname statuses. What they refuse is
//! in `refusals`.

use std::time::Duration as StdDuration;

use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use time::Duration;

use crate::common::{
    ACCOUNT, Backend, OTHER_ZONE, TestApp, ZONE, account_csrs, csr_body, send_to,
    zone_certificates, zone_csrs, zone_hostnames,
};
use crate::edge::{
    assert_unrecognized_name, leaf_of, served_leaf, start_edge, upload_certificate_in,
};
use crate::on_both_backends;
use crate::testca::TestCa;

mod refusals;

on_both_backends!(
    resetting_a_zone_leaves_other_zones_and_the_edge_stops_serving_it,
    resetting_everything_keeps_tokens_settings_and_the_key_pool,
    advancing_the_clock_expires_certificates_in_the_api_and_at_the_edge,
    forced_statuses_show_in_get_and_list_until_cleared,
);

pub(crate) const RESET: &str = "/_edgecert/reset";
pub(crate) const CLOCK: &str = "/_edgecert/clock";

/// A guard against a hang only: waits end on the edge's own report, never on a timer.
const EDGE_WITHIN: StdDuration = StdDuration::from_secs(30);

pub(crate) fn status_path(zone: &str, id: &str) -> String {
    format!("/_edgecert/zones/{zone}/custom_hostnames/{id}/status")
}

pub(crate) async fn controlled_app(backend: Backend, ca: &TestCa) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.root_pem()).expect("write roots");
    TestApp::with(backend, |args| {
        args.trust_roots = Some(path.clone());
        args.test_controls = true;
    })
    .await
}

/// The number of the last change recorded for the edge, to pass to [`edge_caught_up`].
fn changes(app: &TestApp) -> u64 {
    app.state.served_changes.sequence()
}

/// Asserts that something told the edge of a change since `before` and waits until the edge
/// serves a map read after it.
async fn edge_caught_up(app: &TestApp, before: u64) {
    let change = app.state.served_changes.sequence();
    assert!(
        change > before,
        "the control did not tell the edge of its change"
    );
    tokio::time::timeout(EDGE_WITHIN, app.state.served_changes.served(change))
        .await
        .expect("the edge re-read after the change");
}

/// A custom hostname in `zone` with a certificate for a new CSR of that zone, valid for 90
/// days; returns its id and bundle.
pub(crate) async fn hostname_with_certificate(
    app: &TestApp,
    ca: &TestCa,
    zone: &str,
    hostname: &str,
) -> (String, String) {
    let mut body = csr_body(hostname);
    body["key_type"] = json!("p256v1");
    let csr = app.post(&zone_csrs(zone), &body).await;
    let csr = csr.assert_success(StatusCode::CREATED).clone();
    let bundle = ca.sign_csr(csr["csr"].as_str().expect("csr"), 90, Duration::ZERO);
    let created = app
        .post(
            &zone_hostnames(zone),
            &json!({
                "hostname": hostname,
                "ssl": { "custom_csr_id": csr["id"], "custom_certificate": bundle },
            }),
        )
        .await;
    let id = created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();
    (id, bundle)
}

/// A hostname with no certificate yet (pending validation).
pub(crate) async fn pending_hostname(app: &TestApp, hostname: &str) -> String {
    let created = app
        .post(
            &zone_hostnames(ZONE),
            &json!({"hostname": hostname, "ssl": {"method": "txt", "type": "dv"}}),
        )
        .await;
    created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// A zone custom certificate with its own key (stored by edgecert), valid for 90 days.
pub(crate) async fn custom_certificate(
    app: &TestApp,
    ca: &TestCa,
    zone: &str,
    host: &str,
) -> String {
    let (bundle, key) = ca.issue_with_new_key(&[host], 90);
    upload_certificate_in(app, zone, &bundle, &key).await
}

pub(crate) fn total(list: &crate::common::TestResponse) -> u64 {
    list.assert_success(StatusCode::OK);
    list.body["result_info"]["total_count"]
        .as_u64()
        .expect("total_count")
}

async fn resetting_a_zone_leaves_other_zones_and_the_edge_stops_serving_it(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    let (reset_id, _) = hostname_with_certificate(&app, &ca, ZONE, "gone.example.com").await;
    custom_certificate(&app, &ca, ZONE, "shop.example.com").await;
    app.put(
        &format!("{}/fallback_origin", zone_hostnames(ZONE)),
        &json!({"origin": "origin.example.com"}),
    )
    .await
    .assert_success(StatusCode::OK);
    app.patch(&status_path(ZONE, &reset_id), &json!({"status": "moved"}))
        .await
        .assert_success(StatusCode::OK);
    let (kept_id, kept_bundle) =
        hostname_with_certificate(&app, &ca, OTHER_ZONE, "kept.example.com").await;
    custom_certificate(&app, &ca, OTHER_ZONE, "kept-shop.example.com").await;
    let account_csr = app
        .post(&account_csrs(ACCOUNT), &csr_body("acct.example.com"))
        .await;
    account_csr.assert_success(StatusCode::CREATED);
    let edge = start_edge(&app).await;
    served_leaf(&edge, &ca, "gone.example.com")
        .await
        .expect("served before the reset");
    served_leaf(&edge, &ca, "shop.example.com")
        .await
        .expect("served before the reset");

    let before = changes(&app);
    let reset = app.post(RESET, &json!({"zone_id": ZONE})).await;
    assert_eq!(
        *reset.assert_success(StatusCode::OK),
        json!({"scope": "zone", "zone_id": ZONE, "removed": {
            "custom_csrs": 1, "custom_hostnames": 1, "custom_certificates": 1,
            "fallback_origins": 1, "private_keys": 2,
        }})
    );
    for path in [
        zone_csrs(ZONE),
        zone_hostnames(ZONE),
        zone_certificates(ZONE),
    ] {
        assert_eq!(total(&app.get(&path).await), 0, "{path}");
    }
    app.get(&format!("{}/fallback_origin", zone_hostnames(ZONE)))
        .await
        .assert_error(StatusCode::NOT_FOUND, &[1551]);
    assert_eq!(app.count_rows("custom_hostname_status_overrides").await, 0);

    // The other zone and the account are untouched, keys included: 2 CSRs and 1 uploaded key.
    for path in [zone_csrs(OTHER_ZONE), zone_hostnames(OTHER_ZONE)] {
        assert_eq!(total(&app.get(&path).await), 1, "{path}");
    }
    assert_eq!(total(&app.get(&zone_certificates(OTHER_ZONE)).await), 1);
    assert_eq!(total(&app.get(&account_csrs(ACCOUNT)).await), 1);
    assert_eq!(app.count_rows("private_keys").await, 3);
    let kept = app
        .get(&format!("{}/{kept_id}", zone_hostnames(OTHER_ZONE)))
        .await;
    assert_eq!(
        kept.assert_success(StatusCode::OK)["ssl"]["status"],
        "active"
    );

    edge_caught_up(&app, before).await;
    assert_unrecognized_name(served_leaf(&edge, &ca, "gone.example.com").await);
    assert_unrecognized_name(served_leaf(&edge, &ca, "shop.example.com").await);
    let leaf = served_leaf(&edge, &ca, "kept.example.com")
        .await
        .expect("the other zone is still served");
    assert_eq!(leaf, leaf_of(&kept_bundle));
    served_leaf(&edge, &ca, "kept-shop.example.com")
        .await
        .expect("the other zone's certificate is still served");

    // An account reset removes its CSRs only.
    let reset = app.post(RESET, &json!({"account_id": ACCOUNT})).await;
    let removed = &reset.assert_success(StatusCode::OK)["removed"];
    assert_eq!(
        (
            removed["custom_csrs"].clone(),
            removed["private_keys"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(total(&app.get(&account_csrs(ACCOUNT)).await), 0);
    assert_eq!(total(&app.get(&zone_csrs(OTHER_ZONE)).await), 1);
}

async fn resetting_everything_keeps_tokens_settings_and_the_key_pool(backend: Backend) {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, ca.root_pem()).expect("write roots");
    let app = TestApp::with(backend, |args| {
        args.trust_roots = Some(roots.clone());
        args.test_controls = true;
        args.rsa_pool_size = 1;
    })
    .await;
    assert_eq!(app.state.key_pool.fill().await.expect("pool fills"), 1);
    hostname_with_certificate(&app, &ca, ZONE, "one.example.com").await;
    hostname_with_certificate(&app, &ca, OTHER_ZONE, "two.example.com").await;
    custom_certificate(&app, &ca, OTHER_ZONE, "three.example.com").await;
    app.post(&account_csrs(ACCOUNT), &csr_body("acct.example.com"))
        .await
        .assert_success(StatusCode::CREATED);
    let (tokens, settings) = (
        app.count_rows("api_tokens").await,
        app.count_rows("settings").await,
    );
    assert!(tokens > 0 && settings > 0);

    let reset = app.post(RESET, &json!({})).await;
    assert_eq!(
        *reset.assert_success(StatusCode::OK),
        json!({"scope": "everything", "removed": {
            "custom_csrs": 3, "custom_hostnames": 2, "custom_certificates": 1,
            "fallback_origins": 0, "private_keys": 4,
        }})
    );
    for table in [
        "custom_csrs",
        "custom_csr_counts",
        "custom_hostnames",
        "custom_certificates",
        "private_keys",
        "fallback_origins",
    ] {
        assert_eq!(app.count_rows(table).await, 0, "{table}");
    }
    assert_eq!(app.count_rows("api_tokens").await, tokens);
    assert_eq!(app.count_rows("settings").await, settings);
    assert_eq!(app.count_rows("key_pool").await, 1);
    // The master key check is intact and the token still works.
    let ready = app.send(Request::builder().uri("/readyz"), None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(total(&app.get(&zone_csrs(ZONE)).await), 0);
    // A new CSR after the reset is counted from zero.
    app.create_csr(&csr_body("again.example.com")).await;
    assert_eq!(total(&app.get(&zone_csrs(ZONE)).await), 1);
}

async fn advancing_the_clock_expires_certificates_in_the_api_and_at_the_edge(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    let (hostname_id, _) = hostname_with_certificate(&app, &ca, ZONE, "app.example.com").await;
    let certificate_id = custom_certificate(&app, &ca, ZONE, "shop.example.com").await;
    let hostname = format!("{}/{hostname_id}", zone_hostnames(ZONE));
    let certificate = format!("{}/{certificate_id}", zone_certificates(ZONE));
    let edge = start_edge(&app).await;
    let shown = app.get(&hostname).await;
    assert_eq!(
        shown.assert_success(StatusCode::OK)["ssl"]["status"],
        "active"
    );
    let shown = app.get(&certificate).await;
    assert_eq!(shown.assert_success(StatusCode::OK)["status"], "active");

    // 91 days on, both 90-day certificates have expired.
    let before = changes(&app);
    let moved = app
        .put(CLOCK, &json!({"advance_seconds": 91 * 86400}))
        .await;
    let clock = moved.assert_success(StatusCode::OK).clone();
    assert_eq!(clock["offset_seconds"], json!(f64::from(91 * 86400)));
    let shown = app.get(&hostname).await;
    let shown = shown.assert_success(StatusCode::OK);
    assert_eq!(shown["ssl"]["status"], "expired", "{shown}");
    assert_eq!(
        shown["status"], "active",
        "the hostname itself stays active"
    );
    let list = app.get(&zone_hostnames(ZONE)).await;
    assert_eq!(
        list.assert_success(StatusCode::OK)[0]["ssl"]["status"],
        "expired"
    );
    let shown = app.get(&certificate).await;
    assert_eq!(shown.assert_success(StatusCode::OK)["status"], "expired");
    let list = app.get(&zone_certificates(ZONE)).await;
    assert_eq!(list.assert_success(StatusCode::OK)[0]["status"], "expired");
    edge_caught_up(&app, before).await;
    assert_unrecognized_name(served_leaf(&edge, &ca, "app.example.com").await);
    assert_unrecognized_name(served_leaf(&edge, &ca, "shop.example.com").await);

    // Back to the system clock: served again, which takes the re-read the clock change
    // triggers (the map read at +91 days left both out, and this edge never resyncs).
    let before = changes(&app);
    let back = app.delete(CLOCK).await;
    assert_eq!(back.assert_success(StatusCode::OK)["offset_seconds"], 0.0);
    edge_caught_up(&app, before).await;
    served_leaf(&edge, &ca, "app.example.com")
        .await
        .expect("served again");
    served_leaf(&edge, &ca, "shop.example.com")
        .await
        .expect("served again");
    let shown = app.get(&certificate).await;
    assert_eq!(shown.assert_success(StatusCode::OK)["status"], "active");

    // An absolute time works too, and new records are stamped with it.
    let moved = app
        .put(CLOCK, &json!({"now": "2031-05-06T07:08:09Z"}))
        .await;
    let now = moved.assert_success(StatusCode::OK)["now"]
        .as_str()
        .expect("now")
        .to_string();
    assert!(now.starts_with("2031-05-06T07:08:"), "{now}");
    let csr = app.create_csr(&csr_body("later.example.com")).await;
    assert!(
        csr["created_at"]
            .as_str()
            .is_some_and(|at| at.starts_with("2031-05-06T07:")),
        "{csr}"
    );
}

async fn forced_statuses_show_in_get_and_list_until_cleared(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    let id = pending_hostname(&app, "forced.example.com").await;
    let other = pending_hostname(&app, "plain.example.com").await;
    let path = format!("{}/{id}", zone_hostnames(ZONE));
    let edge = start_edge(&app).await;

    let forced = app
        .patch(
            &status_path(ZONE, &id),
            &json!({
                "status": "blocked",
                "verification_errors": ["custom hostname does not CNAME to this zone."],
                "ssl": {
                    "status": "active",
                    "validation_errors": [{"message": "caa_error: no CAA record allows the CA"}],
                },
            }),
        )
        .await;
    let expected = |view: &Value| {
        assert_eq!(view["status"], "blocked", "{view}");
        assert_eq!(
            view["verification_errors"],
            json!(["custom hostname does not CNAME to this zone."])
        );
        assert_eq!(view["ssl"]["status"], "active", "{view}");
        assert_eq!(
            view["ssl"]["validation_errors"],
            json!([{"message": "caa_error: no CAA record allows the CA"}])
        );
    };
    expected(forced.assert_success(StatusCode::OK));
    expected(app.get(&path).await.assert_success(StatusCode::OK));
    let list = app.get(&zone_hostnames(ZONE)).await;
    let list = list
        .assert_success(StatusCode::OK)
        .as_array()
        .expect("list")
        .clone();
    let shown = |wanted: &str| {
        list.iter()
            .find(|item| item["id"] == wanted)
            .expect("listed")
            .clone()
    };
    expected(&shown(&id));
    assert_eq!(shown(&other)["status"], "pending", "others keep their own");
    // An edit through the API keeps what is forced.
    let edited = app
        .patch(&path, &json!({"custom_metadata": {"plan": "pro"}}))
        .await;
    expected(edited.assert_success(StatusCode::ACCEPTED));
    // Only the API shows it: the edge has no certificate to serve for the name.
    assert_unrecognized_name(served_leaf(&edge, &ca, "forced.example.com").await);
    // The same database served without the test controls shows the computed statuses.
    let mut off = app.state.clone();
    off.test_controls = false;
    let request = Request::builder()
        .uri(&path)
        .header("authorization", format!("Bearer {}", crate::common::TOKEN))
        .body(axum::body::Body::empty())
        .expect("request");
    let plain = send_to(&edgecert::http::router(off), request).await;
    let plain = plain.assert_success(StatusCode::OK);
    assert_eq!(
        (plain["status"].clone(), plain["ssl"]["status"].clone()),
        (json!("pending"), json!("pending_validation"))
    );
    assert_eq!(plain["verification_errors"], json!([]));

    // Null returns one field to its computed value; the rest stay forced.
    let partly = app
        .patch(
            &status_path(ZONE, &id),
            &json!({"status": null, "ssl": {"validation_errors": null}}),
        )
        .await;
    let partly = partly.assert_success(StatusCode::OK);
    assert_eq!(partly["status"], "pending");
    assert_eq!(partly["ssl"]["status"], "active");
    assert_eq!(partly["ssl"]["validation_errors"], json!([]));
    assert_eq!(
        partly["verification_errors"].as_array().map(Vec::len),
        Some(1)
    );

    // DELETE clears everything.
    let cleared = app.delete(&status_path(ZONE, &id)).await;
    let cleared = cleared.assert_success(StatusCode::OK).clone();
    let shown = app.get(&path).await;
    for view in [&cleared, shown.assert_success(StatusCode::OK)] {
        assert_eq!(view["status"], "pending");
        assert_eq!(view["ssl"]["status"], "pending_validation");
        assert_eq!(view["verification_errors"], json!([]));
    }
    assert_eq!(app.count_rows("custom_hostname_status_overrides").await, 0);

    // Forced values go with their hostname.
    app.patch(&status_path(ZONE, &id), &json!({"status": "moved"}))
        .await
        .assert_success(StatusCode::OK);
    assert_eq!(app.count_rows("custom_hostname_status_overrides").await, 1);
    app.delete(&path).await.assert_success(StatusCode::OK);
    assert_eq!(app.count_rows("custom_hostname_status_overrides").await, 0);
}
