//! Upgrades: a database written by an earlier release (`tests/fixtures`, see its README) opens
//! with this build, migrates, and everything in it keeps working.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{Method, Request, StatusCode};
use edgecert::AppState;
use edgecert::config::{Secret, ServeArgs};
use edgecert::pki::KeyType;
use edgecert::store::Scope;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::common::{
    ACCOUNT, Backend, TOKEN, TestDatabase, TestResponse, ZONE, account_csrs, send_to,
    test_master_key, zone_certificates, zone_csrs, zone_hostnames,
};
use crate::on_both_backends;
use crate::testca::TestCa;

on_both_backends!(
    fixture_records_keep_their_ids_times_and_fields,
    fixture_keys_open_and_take_new_certificates,
    fixture_rows_still_follow_the_delete_rules,
    fixture_pool_keys_are_claimable,
);

/// What the fixture of one backend holds, as read from it when it was written.
struct Fixture {
    /// Zone CSRs then account CSRs, each in creation order: (id, common name, created_at µs).
    zone_csrs: [(&'static str, &'static str, i64); 2],
    account_csrs: [(&'static str, &'static str, i64); 2],
    /// `app.example.net` (with a certificate) and `pending.example.net`.
    hostnames: [(&'static str, &'static str, i64); 2],
    certificate: &'static str,
}

const SQLITE: Fixture = Fixture {
    zone_csrs: [
        (
            "a146f34f-331a-4c4c-8055-abcb5fe45109",
            "rsa.example.net",
            1796179199308541,
        ),
        (
            "59fcfc04-a2ad-48ac-8a38-799a9bc7d40f",
            "app.example.net",
            1796179199320591,
        ),
    ],
    account_csrs: [
        (
            "1828742e-9111-4780-ab03-87f826f8afa8",
            "acct.example.net",
            1796179199331296,
        ),
        (
            "001c39a4-dad6-40ea-809d-2099d25d072e",
            "rsa-acct.example.net",
            1796179199343462,
        ),
    ],
    hostnames: [
        (
            "7e28f7ca-85bb-44d0-885e-5505cbaee08a",
            "app.example.net",
            1796179199569534,
        ),
        (
            "f62cd223-b044-452d-a6f9-0ac198e5570d",
            "pending.example.net",
            1796179199582673,
        ),
    ],
    certificate: "0b15fe92-3cb2-4050-b661-99b8aec73efa",
};

const POSTGRES: Fixture = Fixture {
    zone_csrs: [
        (
            "2df2cb80-cdf7-4f44-99c2-9568c9eaad20",
            "rsa.example.net",
            1796179200677648,
        ),
        (
            "55f8b880-0be8-4abb-ac0a-563f393dfb72",
            "app.example.net",
            1796179200698669,
        ),
    ],
    account_csrs: [
        (
            "18f4f12d-f3eb-4a26-b488-f6f64c0748fb",
            "acct.example.net",
            1796179200712591,
        ),
        (
            "459b41b3-a0b2-4329-b523-551de7df237a",
            "rsa-acct.example.net",
            1796179200727559,
        ),
    ],
    hostnames: [
        (
            "c40c330e-5fbe-4795-83c7-a3cfc015f999",
            "app.example.net",
            1796179200960685,
        ),
        (
            "2366c2f7-d859-4753-9802-c76e4c01bedc",
            "pending.example.net",
            1796179200977836,
        ),
    ],
    certificate: "4d43007e-6640-41ff-874c-1d552452488a",
};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture, opened by this build through the real router.
struct Upgraded {
    router: Router,
    state: AppState,
    fixture: &'static Fixture,
    ca: TestCa,
    _roots: tempfile::TempDir,
    _db: TestDatabase,
}

impl Upgraded {
    async fn open(backend: Backend) -> Self {
        let db = TestDatabase::create(backend).await;
        let fixture = match backend {
            Backend::Sqlite => {
                let path = db.url.strip_prefix("sqlite://").expect("a sqlite URL");
                std::fs::copy(fixtures_dir().join("upgrade-sqlite.db"), path)
                    .expect("copy the SQLite fixture");
                &SQLITE
            }
            Backend::Postgres => {
                restore_dump(&db.url, &fixtures_dir().join("upgrade-postgres.sql")).await;
                &POSTGRES
            }
        };
        // New uploads come from a fresh test CA; the fixture's own root is trusted too, as the
        // operator's configuration would still be.
        let ca = TestCa::new();
        let roots = tempfile::tempdir().expect("temp dir");
        let roots_path = roots.path().join("roots.pem");
        let fixture_root =
            std::fs::read_to_string(fixtures_dir().join("upgrade-ca.pem")).expect("fixture root");
        std::fs::write(&roots_path, format!("{}{fixture_root}", ca.root_pem()))
            .expect("write roots");
        let mut args = ServeArgs::for_database(&db.url);
        args.master_key = Some(Secret::new(test_master_key()));
        args.trust_roots = Some(roots_path);
        // No bootstrap token: the fixture's stored token must be what authenticates.
        let (state, generated) = AppState::open(&args).await.expect("the fixture opens");
        assert!(generated.is_none(), "the fixture's token was kept");
        Self {
            router: edgecert::http::router(state.clone()),
            state,
            fixture,
            ca,
            _roots: roots,
            _db: db,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(axum::body::Body::empty, |b| b.to_string().into()))
            .expect("valid request");
        send_to(&self.router, request).await
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.call(Method::GET, path, None).await
    }
}

/// Replays a plain-format `pg_dump` file: SQL through the simple protocol, `COPY ... FROM stdin`
/// blocks through the copy protocol, psql's own meta-commands (`\restrict`) skipped.
async fn restore_dump(url: &str, dump: &Path) {
    use sqlx::Connection;
    let text = std::fs::read_to_string(dump).expect("read the dump");
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to the test database");
    let mut sql = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("COPY ") && line.ends_with("FROM stdin;") {
            sqlx::raw_sql(&std::mem::take(&mut sql))
                .execute(&mut connection)
                .await
                .expect("dump SQL");
            let mut data = String::new();
            for row in lines.by_ref().take_while(|row| *row != "\\.") {
                data.push_str(row);
                data.push('\n');
            }
            let mut copy = connection.copy_in_raw(line).await.expect("start COPY");
            copy.send(data.as_bytes()).await.expect("COPY data");
            copy.finish().await.expect("finish COPY");
        } else if !line.starts_with('\\') {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    sqlx::raw_sql(&sql)
        .execute(&mut connection)
        .await
        .expect("dump SQL");
}

fn rfc3339(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .expect("a fixture time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

#[track_caller]
fn assert_ids_and_times(list: &TestResponse, expected: &[(&str, &str, i64)], time_field: &str) {
    let items = list
        .assert_success(StatusCode::OK)
        .as_array()
        .expect("a list");
    let got: Vec<(&str, &str)> = items
        .iter()
        .map(|item| {
            (
                item["id"].as_str().unwrap_or_default(),
                item[time_field].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(&str, String)> = expected
        .iter()
        .map(|(id, _, micros)| (*id, rfc3339(*micros)))
        .collect();
    let want: Vec<(&str, &str)> = want.iter().map(|(id, at)| (*id, at.as_str())).collect();
    assert_eq!(got, want, "body: {}", list.body);
    assert_eq!(
        list.body["result_info"]["total_count"],
        expected.len(),
        "body: {}",
        list.body
    );
}

async fn fixture_records_keep_their_ids_times_and_fields(backend: Backend) {
    let app = Upgraded::open(backend).await;
    let fixture = app.fixture;
    let (applied, known) = app.state.store.migration_status().await.expect("status");
    assert_eq!(
        applied, known,
        "every migration is applied on top of the fixture"
    );
    let unauthenticated = send_to(
        &app.router,
        Request::builder()
            .uri(zone_csrs(ZONE))
            .header("authorization", "Bearer not-the-fixture-token")
            .body(axum::body::Body::empty())
            .expect("valid request"),
    )
    .await;
    unauthenticated.assert_error(StatusCode::UNAUTHORIZED, &[1000]);

    let oldest_first = |path: String| format!("{path}?direction=asc");
    let zone = app.get(&oldest_first(zone_csrs(ZONE))).await;
    assert_ids_and_times(&zone, &fixture.zone_csrs, "created_at");
    let account = app.get(&oldest_first(account_csrs(ACCOUNT))).await;
    assert_ids_and_times(&account, &fixture.account_csrs, "created_at");
    let newest_first = app.get(&zone_csrs(ZONE)).await;
    assert_eq!(
        newest_first.body["result"][0]["id"], fixture.zone_csrs[1].0,
        "body: {}",
        newest_first.body
    );

    let rsa = app
        .get(&format!("{}/{}", zone_csrs(ZONE), fixture.zone_csrs[0].0))
        .await;
    let rsa = rsa.assert_success(StatusCode::OK);
    assert_eq!(rsa["name"], "rsa zone");
    assert_eq!(rsa["description"], "an RSA CSR");
    assert_eq!(rsa["key_type"], "rsa2048");
    assert_eq!(rsa["common_name"], "rsa.example.net");
    assert_eq!(rsa["created_at"], rfc3339(fixture.zone_csrs[0].2));
    let ec = app
        .get(&format!("{}/{}", zone_csrs(ZONE), fixture.zone_csrs[1].0))
        .await;
    let ec = ec.assert_success(StatusCode::OK);
    assert_eq!(ec["sans"], json!(["app.example.net", "www.example.net"]));
    assert_eq!(ec["key_type"], "p256v1");
    assert!(ec.get("name").is_none_or(Value::is_null), "{ec}");
    let named = app
        .get(&format!(
            "{}/{}",
            account_csrs(ACCOUNT),
            fixture.account_csrs[0].0
        ))
        .await;
    let named = named.assert_success(StatusCode::OK);
    assert_eq!(named["name"], "account ec");
    assert_eq!(named["organizational_unit"], "Ops");

    let hostnames = app.get(&zone_hostnames(ZONE)).await;
    assert_ids_and_times(&hostnames, &fixture.hostnames, "created_at");
    let issued = app
        .get(&format!(
            "{}/{}",
            zone_hostnames(ZONE),
            fixture.hostnames[0].0
        ))
        .await;
    let issued = issued.assert_success(StatusCode::OK);
    assert_eq!(issued["hostname"], "app.example.net");
    assert_eq!(issued["custom_metadata"], json!({"tier": "gold"}));
    assert_eq!(issued["ssl"]["custom_csr_id"], fixture.zone_csrs[1].0);
    assert_eq!(issued["ssl"]["status"], "active");
    assert_eq!(
        issued["ssl"]["hosts"],
        json!(["app.example.net", "www.example.net"])
    );
    // The certificate-pack migration gave the stored certificate an id of its own, a UUID
    // that is not the ssl id, and added no second certificate.
    let certificates = issued["ssl"]["certificates"]
        .as_array()
        .expect("certificates");
    assert_eq!(certificates.len(), 1, "{issued}");
    let certificate_id = certificates[0]["id"].as_str().expect("an id");
    assert!(Uuid::parse_str(certificate_id).is_ok(), "{certificate_id}");
    assert_ne!(certificates[0]["id"], issued["ssl"]["id"]);
    let pending = app
        .get(&format!(
            "{}/{}",
            zone_hostnames(ZONE),
            fixture.hostnames[1].0
        ))
        .await;
    let pending = pending.assert_success(StatusCode::OK);
    assert_eq!(pending["hostname"], "pending.example.net");
    assert!(
        pending["ssl"].get("custom_certificate").is_none(),
        "{pending}"
    );

    let certificates = app.get(&zone_certificates(ZONE)).await;
    let listed = certificates.assert_success(StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], fixture.certificate);
    assert_eq!(listed[0]["custom_csr_id"], fixture.zone_csrs[0].0);
    assert_eq!(listed[0]["hosts"], json!(["rsa.example.net"]));

    // The list filters read facts a later migration derived from these rows.
    let active = app
        .get(&format!("{}?ssl_status=active", zone_hostnames(ZONE)))
        .await;
    let active = active.assert_success(StatusCode::OK);
    assert_eq!(active.as_array().map(Vec::len), Some(1), "{active}");
    assert_eq!(active[0]["id"], fixture.hostnames[0].0);
    let pending = app
        .get(&format!(
            "{}?ssl_status=pending_validation",
            zone_hostnames(ZONE)
        ))
        .await;
    let pending = pending.assert_success(StatusCode::OK);
    assert_eq!(pending[0]["id"], fixture.hostnames[1].0, "{pending}");
    let live = app
        .get(&format!("{}?status=active", zone_certificates(ZONE)))
        .await;
    let live = live.assert_success(StatusCode::OK);
    assert_eq!(live.as_array().map(Vec::len), Some(1), "{live}");
}

async fn fixture_keys_open_and_take_new_certificates(backend: Backend) {
    let app = Upgraded::open(backend).await;
    let store = app.state.store.clone();
    for (scope, (id, _, _)) in app
        .fixture
        .zone_csrs
        .iter()
        .map(|csr| (Scope::Zone(ZONE.into()), csr))
        .chain(
            app.fixture
                .account_csrs
                .iter()
                .map(|csr| (Scope::Account(ACCOUNT.into()), csr)),
        )
    {
        let csr = store
            .get_csr(&scope, id.parse().expect("uuid"))
            .await
            .expect("fixture CSR");
        let stored = store.get_key(csr.key_id).await.expect("its key");
        let key = stored.open(&app.state.master_key).expect("the key opens");
        assert_eq!(key.key_type(), csr.key_type);
        assert_eq!(key.spki_der(), stored.spki_der.as_slice());
    }

    // A second certificate for the CSR whose key already serves a hostname.
    let (csr_id, _, _) = app.fixture.zone_csrs[1];
    let csr = app.get(&format!("{}/{csr_id}", zone_csrs(ZONE))).await;
    let csr_pem = csr.assert_success(StatusCode::OK)["csr"]
        .as_str()
        .expect("csr")
        .to_string();
    let bundle = app.ca.sign_csr(&csr_pem, 90, Duration::ZERO);
    let uploaded = app
        .call(
            Method::POST,
            &zone_certificates(ZONE),
            Some(json!({"certificate": bundle, "custom_csr_id": csr_id})),
        )
        .await;
    let uploaded = uploaded.assert_success(StatusCode::OK);
    assert_eq!(uploaded["custom_csr_id"], csr_id);
    // And a new hostname on the same key, beside the fixture's.
    let hostname = app
        .call(
            Method::POST,
            &zone_hostnames(ZONE),
            Some(json!({"hostname": "www.example.net",
                        "ssl": {"custom_csr_id": csr_id, "custom_certificate": bundle}})),
        )
        .await;
    assert_eq!(
        hostname.assert_success(StatusCode::CREATED)["ssl"]["custom_csr_id"],
        csr_id
    );
    let hostnames = app.get(&zone_hostnames(ZONE)).await;
    assert_eq!(hostnames.body["result_info"]["total_count"], 3);
    let listed = app.get(&zone_certificates(ZONE)).await;
    assert_eq!(listed.body["result_info"]["total_count"], 2);
}

async fn fixture_rows_still_follow_the_delete_rules(backend: Backend) {
    let app = Upgraded::open(backend).await;
    let fixture = app.fixture;
    let rsa_csr = format!("{}/{}", zone_csrs(ZONE), fixture.zone_csrs[0].0);
    let ec_csr = format!("{}/{}", zone_csrs(ZONE), fixture.zone_csrs[1].0);
    // The certificate pins the RSA CSR's key, the hostname the EC CSR's.
    let refused = app.call(Method::DELETE, &rsa_csr, None).await;
    refused.assert_conflict(1420);
    app.call(Method::DELETE, &ec_csr, None)
        .await
        .assert_conflict(1420);

    let certificate = format!("{}/{}", zone_certificates(ZONE), fixture.certificate);
    app.call(Method::DELETE, &certificate, None)
        .await
        .assert_success(StatusCode::OK);
    app.call(Method::DELETE, &rsa_csr, None)
        .await
        .assert_success(StatusCode::OK);
    let hostname = format!("{}/{}", zone_hostnames(ZONE), fixture.hostnames[0].0);
    app.call(Method::DELETE, &hostname, None)
        .await
        .assert_success(StatusCode::OK);
    app.call(Method::DELETE, &ec_csr, None)
        .await
        .assert_success(StatusCode::OK);
    // The maintained counts carried over: the zone is now empty, the account untouched.
    let zone = app.get(&zone_csrs(ZONE)).await;
    assert_eq!(zone.body["result_info"]["total_count"], 0, "{}", zone.body);
    let account = app.get(&account_csrs(ACCOUNT)).await;
    assert_eq!(
        account.body["result_info"]["total_count"], 2,
        "{}",
        account.body
    );
}

async fn fixture_pool_keys_are_claimable(backend: Backend) {
    let app = Upgraded::open(backend).await;
    let store = app.state.store.clone();
    assert_eq!(
        store
            .count_pool_keys(KeyType::Rsa2048)
            .await
            .expect("count"),
        2
    );
    // An RSA CSR takes a pooled key: it must open to sign the CSR.
    let created = app
        .call(
            Method::POST,
            &zone_csrs(ZONE),
            Some(json!({
                "country": "US", "state": "MA", "locality": "Boston",
                "organization": "City of Boston", "common_name": "new.example.net",
                "sans": ["new.example.net"], "key_type": "rsa2048",
            })),
        )
        .await;
    let created = created.assert_success(StatusCode::CREATED);
    assert_eq!(
        store
            .count_pool_keys(KeyType::Rsa2048)
            .await
            .expect("count"),
        1
    );
    let id: Uuid = created["id"].as_str().expect("id").parse().expect("uuid");
    let csr = store
        .get_csr(&Scope::Zone(ZONE.into()), id)
        .await
        .expect("new CSR");
    assert_eq!(csr.key_type, KeyType::Rsa2048);

    let claimed = store
        .claim_pool_key(KeyType::Rsa2048)
        .await
        .expect("claim")
        .expect("one key was left");
    claimed
        .open(&app.state.master_key)
        .expect("the pooled key opens");
    assert!(
        store
            .claim_pool_key(KeyType::Rsa2048)
            .await
            .expect("claim")
            .is_none()
    );
    let zone = app.get(&zone_csrs(ZONE)).await;
    assert_eq!(zone.body["result_info"]["total_count"], 3, "{}", zone.body);
}
