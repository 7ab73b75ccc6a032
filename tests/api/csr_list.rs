//! Listing: pagination as the official SDK walks it, orderings with stable ties, bad parameters.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{ACCOUNT, Backend, TestApp, ZONE, account_csrs, csr_body, zone_csrs};
use crate::on_both_backends;

on_both_backends!(
    sdk_style_paging_visits_every_csr_once_and_ends_on_an_empty_page,
    defaults_are_page_1_of_20_newest_first,
    integral_floats_are_accepted,
    out_of_range_parameters_are_refused_with_a_clear_message,
    orderings_and_directions_with_ties_broken_by_id,
    account_scope_lists_with_account_tag_order,
    concurrent_creates_and_deletes_keep_the_count_exact,
);

async fn create_many(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let result = app
            .create_csr(&csr_body(&format!("host{i}.example.com")))
            .await;
        ids.push(result["id"].as_str().expect("id").to_string());
    }
    ids
}

fn ids_of(result: &Value) -> Vec<String> {
    result
        .as_array()
        .expect("list result")
        .iter()
        .map(|csr| csr["id"].as_str().expect("id").to_string())
        .collect()
}

/// Pages like `SyncV4PagePaginationArray`: next page = page + 1 until a page comes back empty.
async fn walk(app: &TestApp, base: &str, query: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut requests = 0;
    for page in 1.. {
        requests += 1;
        assert!(requests < 100, "paging does not terminate");
        let response = app.get(&format!("{base}?{query}&page={page}")).await;
        let result = response.assert_success(StatusCode::OK).clone();
        let info = &response.body["result_info"];
        assert_eq!(info["page"], page);
        let rows = result.as_array().expect("array").clone();
        assert_eq!(info["count"], rows.len());
        if rows.is_empty() {
            break;
        }
        items.extend(rows);
    }
    (items, requests)
}

async fn sdk_style_paging_visits_every_csr_once_and_ends_on_an_empty_page(backend: Backend) {
    let app = TestApp::new(backend).await;
    let created = create_many(&app, 23).await;
    let (items, requests) = walk(&app, &zone_csrs(ZONE), "per_page=5").await;
    assert_eq!(requests, 6, "5 full pages and one empty page");
    let seen: Vec<String> = items
        .iter()
        .map(|csr| csr["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(seen.len(), 23);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 23, "no repeats");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        created.iter().collect::<HashSet<_>>(),
        "no gaps"
    );
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let response = app
        .get(&format!("{}?per_page=5&page=5", zone_csrs(ZONE)))
        .await;
    assert_eq!(
        response.body["result_info"],
        json!({"page": 5, "per_page": 5, "count": 3, "total_count": 23, "total_pages": 5})
    );
    let beyond = app
        .get(&format!("{}?per_page=5&page=99", zone_csrs(ZONE)))
        .await;
    assert_eq!(beyond.assert_success(StatusCode::OK), &json!([]));
    assert_eq!(beyond.body["result_info"]["total_count"], 23);
    for csr in &items {
        assert!(
            csr["csr"]
                .as_str()
                .is_some_and(|pem| pem.contains("CERTIFICATE REQUEST"))
        );
    }
}

async fn defaults_are_page_1_of_20_newest_first(backend: Backend) {
    let app = TestApp::new(backend).await;
    let created = create_many(&app, 22).await;
    let response = app.get(&zone_csrs(ZONE)).await;
    let ids = ids_of(response.assert_success(StatusCode::OK));
    assert_eq!(
        response.body["result_info"],
        json!({"page": 1, "per_page": 20, "count": 20, "total_count": 22, "total_pages": 2})
    );
    assert_eq!(ids.first(), created.last());
    let empty = TestApp::new(backend).await;
    let response = empty.get(&zone_csrs(ZONE)).await;
    assert_eq!(response.assert_success(StatusCode::OK), &json!([]));
    assert_eq!(
        response.body["result_info"],
        json!({"page": 1, "per_page": 20, "count": 0, "total_count": 0, "total_pages": 0})
    );
}

async fn integral_floats_are_accepted(backend: Backend) {
    let app = TestApp::new(backend).await;
    create_many(&app, 6).await;
    let response = app
        .get(&format!("{}?per_page=5.0&page=2.0", zone_csrs(ZONE)))
        .await;
    assert_eq!(ids_of(response.assert_success(StatusCode::OK)).len(), 1);
    assert_eq!(response.body["result_info"]["per_page"], 5);
    assert_eq!(response.body["result_info"]["page"], 2);
}

async fn out_of_range_parameters_are_refused_with_a_clear_message(backend: Backend) {
    let app = TestApp::new(backend).await;
    for (query, name) in [
        ("per_page=4", "per_page"),
        ("per_page=51", "per_page"),
        ("per_page=5.5", "per_page"),
        ("per_page=ten", "per_page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=1.5", "page"),
        ("page=", "page"),
        ("order=id", "order"),
        ("direction=sideways", "direction"),
    ] {
        let response = app.get(&format!("{}?{query}", zone_csrs(ZONE))).await;
        response.assert_error(StatusCode::BAD_REQUEST, &[6008]);
        let message = response.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(name), "{query}: {message}");
    }
}

async fn orderings_and_directions_with_ties_broken_by_id(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut named = Vec::new();
    for (i, name) in [
        None,
        Some("b"),
        Some("a"),
        Some("b"),
        None,
        Some("c"),
        Some("b"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = csr_body(&format!("host{i}.example.com"));
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        let result = app.create_csr(&body).await;
        named.push((name, result["id"].as_str().expect("id").to_string()));
    }
    let mut expected = named.clone();
    // Unnamed CSRs first, then by name; equal names by id, so the order is total.
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let expected_ids: Vec<String> = expected.iter().map(|(_, id)| id.clone()).collect();

    let (asc, _) = walk(&app, &zone_csrs(ZONE), "per_page=5&order=name").await;
    assert_eq!(ids_of(&Value::from(asc)), expected_ids);
    let (desc, _) = walk(
        &app,
        &zone_csrs(ZONE),
        "per_page=5&order=name&direction=desc",
    )
    .await;
    let reversed: Vec<String> = expected_ids.iter().rev().cloned().collect();
    assert_eq!(ids_of(&Value::from(desc)), reversed);

    let created_order: Vec<String> = named.iter().map(|(_, id)| id.clone()).collect();
    let (oldest_first, _) = walk(
        &app,
        &zone_csrs(ZONE),
        "per_page=5&order=created_at&direction=asc",
    )
    .await;
    assert_eq!(ids_of(&Value::from(oldest_first)), created_order);
}

async fn account_scope_lists_with_account_tag_order(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let response = app
            .post(
                &account_csrs(ACCOUNT),
                &csr_body(&format!("h{i}.example.com")),
            )
            .await;
        let result = response.assert_success(StatusCode::CREATED);
        assert_eq!(result["account_tag"], ACCOUNT);
        ids.push(result["id"].as_str().expect("id").to_string());
    }
    let (items, _) = walk(&app, &account_csrs(ACCOUNT), "per_page=5&order=account_tag").await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids_of(&Value::from(items.clone())), sorted);
    assert!(items.iter().all(|csr| csr["account_tag"] == ACCOUNT));
    let zone_list = app.get(&zone_csrs(ZONE)).await;
    assert_eq!(zone_list.assert_success(StatusCode::OK), &json!([]));
}

/// Many creates and deletes at once in one zone: the stored total must match what exists.
async fn concurrent_creates_and_deletes_keep_the_count_exact(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::new(backend).await);
    let creates = (0..24).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            app.create_csr(&csr_body(&format!("c{i}.example.com")))
                .await
        })
    });
    let mut ids = Vec::new();
    for create in creates {
        ids.push(
            create.await.expect("create task")["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let deletes = ids.iter().take(10).map(|id| {
        let app = app.clone();
        let path = format!("{}/{id}", zone_csrs(ZONE));
        tokio::spawn(async move { app.delete(&path).await.status })
    });
    for delete in deletes {
        assert_eq!(delete.await.expect("delete task"), StatusCode::OK);
    }
    let response = app.get(&format!("{}?per_page=50", zone_csrs(ZONE))).await;
    assert_eq!(ids_of(response.assert_success(StatusCode::OK)).len(), 14);
    assert_eq!(response.body["result_info"]["total_count"], 14);
    assert_eq!(app.count_rows("custom_csrs").await, 14);
    assert_eq!(app.count_rows("private_keys").await, 14);
}
