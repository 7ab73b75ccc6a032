//! Every documented filter and ordering of the custom hostname and custom certificate lists,
//! on both backends: what each selects, that `total_count` and pages follow the filter, that
//! statuses are judged as the API shows them (the clock and forced statuses included), and
//! that a value edgecert cannot honour is refused rather than ignored.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, ZONE, zone_certificates, zone_hostnames};
use crate::on_both_backends;
use crate::test_controls::{
    CLOCK, controlled_app, custom_certificate, hostname_with_certificate, status_path, total,
};
use crate::testca::TestCa;

on_both_backends!(
    hostname_filters_select_what_they_name,
    status_filters_agree_with_the_statuses_shown,
    hostname_orders_and_directions,
    values_that_cannot_be_honoured_are_refused,
    certificate_status_filter_follows_the_clock,
);

const INVALID_PARAMETERS: u64 = 6008;

fn hostnames_where(query: &str) -> String {
    format!("{}?per_page=50&{query}", zone_hostnames(ZONE))
}

/// The hostnames of a list answer, in order.
fn names(list: &crate::common::TestResponse) -> Vec<String> {
    list.assert_success(StatusCode::OK)
        .as_array()
        .expect("a list")
        .iter()
        .map(|h| h["hostname"].as_str().expect("hostname").to_string())
        .collect()
}

async fn names_where(app: &TestApp, query: &str) -> Vec<String> {
    names(&app.get(&hostnames_where(query)).await)
}

async fn create(app: &TestApp, body: Value) -> String {
    let created = app.post(&zone_hostnames(ZONE), &body).await;
    created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// One hostname of each kind the filters tell apart, created in this order:
/// `txt` (pending, DCV by TXT), `http` (pending, HTTP DCV, Let's Encrypt asked for),
/// `*.wild` (a wildcard hostname), `sub` (a certificate that also covers `*.sub`),
/// `bare` (no SSL at all), `app` (uploaded certificate, custom origin server).
async fn one_of_each(app: &TestApp, ca: &TestCa) {
    create(
        app,
        json!({"hostname": "txt.example.com", "ssl": {"method": "txt", "type": "dv"}}),
    )
    .await;
    create(
        app,
        json!({"hostname": "http.example.com",
               "ssl": {"method": "http", "type": "dv", "certificate_authority": "lets_encrypt"}}),
    )
    .await;
    create(
        app,
        json!({"hostname": "*.wild.example.com", "ssl": {"method": "txt", "type": "dv"}}),
    )
    .await;
    create(
        app,
        json!({"hostname": "sub.example.com",
               "ssl": {"method": "txt", "type": "dv", "wildcard": true}}),
    )
    .await;
    create(app, json!({"hostname": "bare.example.com"})).await;
    let (app_id, _) = hostname_with_certificate(app, ca, ZONE, "app.example.com").await;
    let routed = app
        .patch(
            &format!("{}/{app_id}", zone_hostnames(ZONE)),
            &json!({"custom_origin_server": "origin.example.net"}),
        )
        .await;
    routed.assert_success(StatusCode::ACCEPTED);
}

async fn hostname_filters_select_what_they_name(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    one_of_each(&app, &ca).await;

    assert_eq!(names_where(&app, "ssl=0").await, ["bare.example.com"]);
    assert_eq!(
        names_where(&app, "ssl=1").await,
        [
            "txt.example.com",
            "http.example.com",
            "*.wild.example.com",
            "sub.example.com",
            "app.example.com"
        ]
    );
    assert_eq!(
        names_where(&app, "wildcard=true").await,
        ["*.wild.example.com", "sub.example.com"]
    );
    assert_eq!(
        names_where(&app, "wildcard=false").await,
        [
            "txt.example.com",
            "http.example.com",
            "bare.example.com",
            "app.example.com"
        ]
    );
    assert_eq!(
        names_where(&app, "certificate_authority=lets_encrypt").await,
        ["http.example.com"]
    );
    assert!(
        names_where(&app, "certificate_authority=google")
            .await
            .is_empty()
    );
    assert_eq!(
        names_where(&app, "custom_origin_server=ORIGIN.example.net").await,
        ["app.example.com"]
    );
    assert_eq!(
        names_where(&app, "ssl_status=active").await,
        ["app.example.com"]
    );
    assert_eq!(
        names_where(&app, "hostname_status=active&ssl=1").await,
        ["app.example.com"]
    );
    // Filters combine, and the hostname matches still apply with them.
    assert_eq!(
        names_where(
            &app,
            "ssl_status=pending_validation&wildcard=true&hostname.contain=wild"
        )
        .await,
        ["*.wild.example.com"]
    );

    // total_count and pages count the filtered rows only.
    create(
        &app,
        json!({"hostname": "extra.example.com", "ssl": {"method": "txt", "type": "dv"}}),
    )
    .await;
    let page = app
        .get(&format!("{}?ssl=1&per_page=5&page=2", zone_hostnames(ZONE)))
        .await;
    assert_eq!(names(&page), ["extra.example.com"]);
    assert_eq!(total(&page), 6);
    assert_eq!(page.body["result_info"]["count"], 1);
}

/// For every status a hostname shows, the filter on that status returns exactly the
/// hostnames showing it: computed, expired by the clock, and forced.
async fn status_filters_agree_with_the_statuses_shown(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    one_of_each(&app, &ca).await;
    let forced_id = create(
        &app,
        json!({"hostname": "forced.example.com", "ssl": {"method": "txt", "type": "dv"}}),
    )
    .await;
    let forced = app
        .patch(
            &status_path(ZONE, &forced_id),
            &json!({"status": "moved", "ssl": {"status": "deactivating"}}),
        )
        .await;
    forced.assert_success(StatusCode::OK);

    let check = |label: &'static str| {
        let app = &app;
        async move {
            let all = app.get(&hostnames_where("")).await;
            let all = all
                .assert_success(StatusCode::OK)
                .as_array()
                .expect("list")
                .clone();
            for (field, filter) in [("status", "hostname_status"), ("ssl_status", "ssl_status")] {
                let mut expected = std::collections::BTreeMap::<String, Vec<String>>::new();
                for hostname in &all {
                    let shown = if field == "status" {
                        &hostname["status"]
                    } else {
                        &hostname["ssl"]["status"]
                    };
                    expected
                        .entry(shown.as_str().expect("a status").to_string())
                        .or_default()
                        .push(hostname["hostname"].as_str().expect("hostname").to_string());
                }
                for (status, hostnames) in &expected {
                    assert_eq!(
                        &names_where(app, &format!("{filter}={status}")).await,
                        hostnames,
                        "{label}: {filter}={status}"
                    );
                }
            }
            all
        }
    };

    let before = check("now").await;
    let statuses: Vec<_> = before.iter().map(|h| h["ssl"]["status"].clone()).collect();
    assert!(statuses.contains(&json!("active")), "{statuses:?}");
    assert!(statuses.contains(&json!("deactivating")), "{statuses:?}");
    assert!(
        statuses.contains(&json!("pending_validation")),
        "{statuses:?}"
    );

    // 91 days on, the uploaded 90-day certificate has expired; the hostname stays active.
    let moved = app
        .put(CLOCK, &json!({"advance_seconds": 91 * 86400}))
        .await;
    moved.assert_success(StatusCode::OK);
    check("after 91 days").await;
    assert_eq!(
        names_where(&app, "ssl_status=expired").await,
        ["app.example.com"]
    );
    assert!(names_where(&app, "ssl_status=active").await.is_empty());
    assert_eq!(
        names_where(&app, "hostname_status=moved").await,
        ["forced.example.com"]
    );
}

async fn hostname_orders_and_directions(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    one_of_each(&app, &ca).await;
    let created = [
        "txt.example.com",
        "http.example.com",
        "*.wild.example.com",
        "sub.example.com",
        "bare.example.com",
        "app.example.com",
    ];
    assert_eq!(names_where(&app, "").await, created);
    assert_eq!(names_where(&app, "direction=asc").await, created);
    let mut newest_first = created;
    newest_first.reverse();
    assert_eq!(names_where(&app, "direction=desc").await, newest_first);

    // By DCV method: none first, then email, http, txt; ties in creation order. The
    // uploaded certificate's hostname asked for no method.
    assert_eq!(
        names_where(&app, "order=ssl").await,
        [
            "bare.example.com",
            "app.example.com",
            "http.example.com",
            "txt.example.com",
            "*.wild.example.com",
            "sub.example.com"
        ]
    );
    assert_eq!(
        names_where(&app, "order=ssl&direction=desc").await,
        [
            "txt.example.com",
            "*.wild.example.com",
            "sub.example.com",
            "http.example.com",
            "bare.example.com",
            "app.example.com"
        ]
    );
    // By ssl.status: active before pending_validation.
    assert_eq!(
        names_where(&app, "order=ssl_status").await,
        [
            "app.example.com",
            "txt.example.com",
            "http.example.com",
            "*.wild.example.com",
            "sub.example.com",
            "bare.example.com"
        ]
    );
    let descending = names_where(&app, "order=ssl_status&direction=desc").await;
    assert_eq!(
        descending.last().map(String::as_str),
        Some("app.example.com")
    );
}

async fn values_that_cannot_be_honoured_are_refused(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    for query in [
        "ssl=2",
        "ssl=yes",
        "ssl=true",
        "wildcard=1",
        "wildcard=maybe",
        "ssl_status=bogus",
        "hostname_status=verified",
        "certificate_authority=digicert",
        "custom_origin_server=not%20a%20host",
        "order=hostname",
        "direction=up",
    ] {
        let refused = app.get(&hostnames_where(query)).await;
        refused.assert_error(StatusCode::BAD_REQUEST, &[INVALID_PARAMETERS]);
        let parameter = query.split('=').next().expect("a name");
        let message = refused.body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .to_string();
        assert!(
            message.contains(parameter),
            "{query}: the message names the parameter: {message}"
        );
    }
    for query in ["status=bogus", "match=some"] {
        let refused = app
            .get(&format!("{}?{query}", zone_certificates(ZONE)))
            .await;
        refused.assert_error(StatusCode::BAD_REQUEST, &[INVALID_PARAMETERS]);
    }
}

async fn certificate_status_filter_follows_the_clock(backend: Backend) {
    let ca = TestCa::new();
    let app = controlled_app(backend, &ca).await;
    let short = {
        let (bundle, key) = ca.issue_with_new_key(&["short.example.com"], 30);
        crate::edge::upload_certificate_in(&app, ZONE, &bundle, &key).await
    };
    let long = custom_certificate(&app, &ca, ZONE, "long.example.com").await;
    let ids = |list: crate::common::TestResponse| -> Vec<String> {
        list.assert_success(StatusCode::OK)
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_string())
            .collect()
    };
    let list = |query: &'static str| {
        let path = format!("{}?{query}", zone_certificates(ZONE));
        let app = &app;
        async move { app.get(&path).await }
    };
    assert_eq!(
        ids(list("status=active").await),
        [short.clone(), long.clone()]
    );
    assert!(ids(list("status=expired").await).is_empty());
    assert!(ids(list("status=pending").await).is_empty());

    let moved = app
        .put(CLOCK, &json!({"advance_seconds": 31 * 86400}))
        .await;
    moved.assert_success(StatusCode::OK);
    assert_eq!(ids(list("status=active&match=all").await), [long.as_str()]);
    let expired = list("status=expired&match=any").await;
    assert_eq!(total(&expired), 1);
    assert_eq!(ids(expired), [short.as_str()]);
    assert_eq!(ids(list("").await), [short, long]);
}
