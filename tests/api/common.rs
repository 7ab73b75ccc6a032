//! The test harness: a real router over a fresh database, on SQLite or on Postgres.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use edgecert::AppState;
use edgecert::config::{Secret, ServeArgs};
use edgecert::store::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
pub const OTHER_ZONE: &str = "9a7806061c88ada191ed06f989cc3dac";
pub const ACCOUNT: &str = "01a7362d577a6c3019a474fd6f485823";
pub const TOKEN: &str = "test-token-3f9c2d7e8a1b4c5d6e7f8a9b0c1d2e3f";

/// Environment variable naming a Postgres server the tests may create databases on,
/// e.g. `postgres://postgres@127.0.0.1:5432/postgres`. `DATABASE_URL` is used when it is a
/// Postgres URL and this is unset.
pub const POSTGRES_ENV: &str = "EDGECERT_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the test Postgres server, if one is configured.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .or_else(|| {
            std::env::var("DATABASE_URL")
                .ok()
                .filter(|url| url.starts_with("postgres"))
        })
}

/// Runs each named test function (taking a `Backend`) once on SQLite and once on Postgres.
/// Without a configured Postgres server the Postgres half says so and passes; `.ci/run`
/// always configures one, so CI never skips it.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::common::postgres_admin_url().is_none() {
                        eprintln!(
                            "SKIPPED on Postgres: set {} to run this test there",
                            $crate::common::POSTGRES_ENV
                        );
                        return;
                    }
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("edgecert.db").display());
                Self {
                    url,
                    backend,
                    cleanup: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("Postgres test server configured");
                let name = format!("edgecert_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = connect_admin(&admin).await;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test database on {admin}: {e}"));
                Self {
                    url: with_database(&admin, &name),
                    backend,
                    cleanup: Some((admin, name)),
                    _dir: None,
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

async fn connect_admin(admin: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| {
            panic!("{POSTGRES_ENV} points at {admin}, but it cannot be reached: {e}")
        })
}

/// Replaces the database name in a Postgres URL, keeping credentials and options.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
    let (before_query, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.cleanup.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a separate thread with its own runtime can block.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let mut conn = connect_admin(&admin).await;
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    /// The settings the app was opened with; open them again to simulate a restart.
    pub args: ServeArgs,
    pub db: TestDatabase,
}

/// A decoded answer.
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// The `code`s of `errors`, in order.
    pub fn codes(&self) -> Vec<u64> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["code"].as_u64()).collect())
            .unwrap_or_default()
    }

    /// Asserts a failure answer in the v4 envelope with this status and these codes.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, codes: &[u64]) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["success"], false, "body: {}", self.body);
        assert_eq!(self.body["result"], Value::Null, "body: {}", self.body);
        assert_eq!(
            self.body["messages"],
            serde_json::json!([]),
            "body: {}",
            self.body
        );
        assert_eq!(self.codes(), codes, "body: {}", self.body);
        for error in self.body["errors"].as_array().into_iter().flatten() {
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.len() > 10, "unhelpful message in {}", self.body);
        }
    }

    /// Asserts a 409 that tells the official SDKs not to retry.
    #[track_caller]
    pub fn assert_conflict(&self, code: u64) {
        self.assert_error(StatusCode::CONFLICT, &[code]);
        assert_eq!(
            self.headers.get("x-should-retry").map(|v| v.as_bytes()),
            Some(&b"false"[..]),
            "a 409 must carry x-should-retry: false"
        );
    }

    #[track_caller]
    pub fn assert_success(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["success"], true, "body: {}", self.body);
        assert_eq!(
            self.body["errors"],
            serde_json::json!([]),
            "body: {}",
            self.body
        );
        &self.body["result"]
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with(backend, |_| {}).await
    }

    /// An app whose settings `configure` may change (strict mode, concurrency, ...).
    pub async fn with(backend: Backend, configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let db = TestDatabase::create(backend).await;
        let mut args = ServeArgs::for_database(&db.url);
        args.master_key = Some(Secret::new(test_master_key()));
        args.bootstrap_token = Some(Secret::new(TOKEN));
        configure(&mut args);
        let (state, generated) = AppState::open(&args).await.expect("app starts");
        assert!(generated.is_none(), "a bootstrap token was configured");
        Self {
            router: edgecert::http::router(state.clone()),
            state,
            args,
            db,
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Sends a request with the test token as a bearer credential.
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> TestResponse {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"));
        let request = match body {
            Some(_) => request.header("content-type", "application/json"),
            None => request,
        };
        self.send(request, body).await
    }

    /// Sends an authenticated request and hangs up after `after`, as a client that goes away
    /// does; returns whether the answer came first.
    pub async fn abandon(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        after: std::time::Duration,
    ) -> bool {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("valid request");
        let mut answer = std::pin::pin!(self.router.clone().oneshot(request));
        // The first poll only hands the request to its own task, so a zero wait abandons it
        // for certain; tokio's timer rounds longer waits up to whole milliseconds.
        let first = std::future::poll_fn(|cx| match answer.as_mut().poll(cx) {
            std::task::Poll::Ready(_) => std::task::Poll::Ready(true),
            std::task::Poll::Pending => std::task::Poll::Ready(false),
        })
        .await;
        if first || after.is_zero() {
            return first;
        }
        tokio::time::timeout(after, answer).await.is_ok()
    }

    /// Sends a request exactly as built: no credentials are added.
    pub async fn send(
        &self,
        request: axum::http::request::Builder,
        body: Option<&str>,
    ) -> TestResponse {
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("valid request");
        send_to(&self.router, request).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.call(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.call(Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.call(Method::POST, path, Some(&body.to_string())).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> TestResponse {
        self.call(Method::PATCH, path, Some(&body.to_string()))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> TestResponse {
        self.call(Method::PUT, path, Some(&body.to_string())).await
    }

    /// Creates a CSR in `ZONE` and returns its result object.
    pub async fn create_csr(&self, body: &Value) -> Value {
        let response = self.post(&zone_csrs(ZONE), body).await;
        response.assert_success(StatusCode::CREATED).clone()
    }

    /// Runs one statement directly in the database, behind edgecert's back.
    pub async fn execute(&self, sql: &str) {
        match self.db.backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.db.url)
                    .await
                    .expect("open sqlite");
                sqlx::query(sql).execute(&pool).await.expect("statement");
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.db.url)
                    .await
                    .expect("open postgres");
                sqlx::query(sql).execute(&pool).await.expect("statement");
                pool.close().await;
            }
        }
    }

    /// Whether any connection holds a write transaction open: on SQLite, a write lock that a
    /// new writer cannot take at once; on Postgres, a session idle inside a transaction.
    pub async fn write_lock_is_held(&self) -> bool {
        match self.db.backend() {
            Backend::Sqlite => {
                use sqlx::ConnectOptions as _;
                use std::str::FromStr as _;
                let mut connection = sqlx::sqlite::SqliteConnectOptions::from_str(&self.db.url)
                    .expect("sqlite url")
                    .busy_timeout(std::time::Duration::ZERO)
                    .connect()
                    .await
                    .expect("open sqlite");
                let held = sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut connection)
                    .await
                    .is_err();
                if !held {
                    sqlx::query("ROLLBACK")
                        .execute(&mut connection)
                        .await
                        .expect("rollback");
                }
                held
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.db.url)
                    .await
                    .expect("open postgres");
                let open: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND state LIKE 'idle in transaction%'",
                )
                .fetch_one(&pool)
                .await
                .expect("pg_stat_activity");
                pool.close().await;
                open > 0
            }
        }
    }

    /// Counts rows of a table directly in the database.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.db.backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.db.url)
                    .await
                    .expect("open sqlite");
                let count = sqlx::query_scalar(&sql)
                    .fetch_one(&pool)
                    .await
                    .expect("count");
                pool.close().await;
                count
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.db.url)
                    .await
                    .expect("open postgres");
                let count = sqlx::query_scalar(&sql)
                    .fetch_one(&pool)
                    .await
                    .expect("count");
                pool.close().await;
                count
            }
        }
    }
}

/// Sends a request through `router` and returns the raw answer.
pub async fn exchange(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, bytes)
}

/// Sends a request through `router` and decodes the JSON answer every API route gives.
pub async fn send_to(router: &Router, request: Request<Body>) -> TestResponse {
    let (status, headers, bytes) = exchange(router, request).await;
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(
        headers
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default()),
        Some("application/json"),
        "every answer is JSON"
    );
    TestResponse {
        status,
        headers,
        body,
    }
}

pub fn zone_csrs(zone: &str) -> String {
    format!("/client/v4/zones/{zone}/custom_csrs")
}

pub fn zone_hostnames(zone: &str) -> String {
    format!("/client/v4/zones/{zone}/custom_hostnames")
}

pub fn zone_certificates(zone: &str) -> String {
    format!("/client/v4/zones/{zone}/custom_certificates")
}

pub fn account_csrs(account: &str) -> String {
    format!("/client/v4/accounts/{account}/custom_csrs")
}

/// A fixed master key for tests (base64 of 32 bytes).
pub fn test_master_key() -> String {
    "ZWRnZWNlcnQtdGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGU=".to_string()
}

/// A complete, valid create body with a P-256 key (fast to generate).
pub fn csr_body(common_name: &str) -> Value {
    serde_json::json!({
        "country": "US",
        "state": "MA",
        "locality": "Boston",
        "organization": "City of Boston",
        "common_name": common_name,
        "sans": [common_name],
        "key_type": "p256v1",
    })
}

/// How many migrations this build applies (the same number on both backends), counted from
/// the migration folders so the expectations follow every migration added.
pub fn migration_count() -> usize {
    let count = |backend: &str| {
        std::fs::read_dir(format!(
            "{}/migrations/{backend}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the migrations folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
    };
    let sqlite = count("sqlite");
    assert_eq!(
        sqlite,
        count("postgres"),
        "both backends have every migration"
    );
    sqlite
}
