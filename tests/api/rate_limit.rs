//! The per-token rate limit: off by default; over it, the real API's 429 with the headers the
//! official SDKs retry on; counted per token and only for verified tokens; windows that move.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use edgecert::app::rate_limit::RateLimiter;
use edgecert::app::{TokenSet, stored_digest};
use edgecert::config::RateLimitPolicy;

use crate::common::{Backend, TOKEN, TestApp, TestResponse, ZONE, csr_body, send_to, zone_csrs};
use crate::on_both_backends;

on_both_backends!(
    over_the_limit_is_429_971_with_retry_headers,
    a_limited_token_does_not_limit_another,
    the_window_moves_on,
    requests_without_a_valid_token_are_not_counted,
    no_limit_and_no_headers_by_default,
);

const OTHER_TOKEN: &str = "other-token-5b1f0c9e2d4a6b8c0e1f2a3b4c5d6e7f";

/// An app limited to `limit` per token, whose limiter reads a clock the test moves, and which
/// knows a second token besides the test token.
struct Limited {
    app: TestApp,
    router: Router,
    now: Arc<Mutex<Instant>>,
}

impl Limited {
    async fn new(backend: Backend, limit: &str) -> Self {
        let policy: RateLimitPolicy = limit.parse().expect("a policy");
        let app = TestApp::with(backend, |args| args.rate_limit = Some(policy)).await;
        let store = app.store();
        store
            .insert_token(
                &stored_digest(&app.state.master_key, OTHER_TOKEN),
                "second test token",
            )
            .await
            .expect("store a second token");
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = Arc::clone(&now);
        let mut state = app.state.clone();
        state.tokens = Arc::new(TokenSet::new(
            &state.master_key,
            store.token_hashes().await.expect("token hashes"),
        ));
        state.rate_limit = Some(Arc::new(RateLimiter::with_clock(
            policy,
            Arc::new(move || *read.lock().expect("clock")),
        )));
        Self {
            router: edgecert::http::router(state),
            app,
            now,
        }
    }

    fn advance(&self, by: Duration) {
        *self.now.lock().expect("clock") += by;
    }

    async fn send(
        &self,
        method: Method,
        credential: Option<&str>,
        body: Option<String>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(zone_csrs(ZONE));
        if let Some(value) = credential {
            request = request.header("authorization", value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request");
        send_to(&self.router, request).await
    }

    async fn list(&self, token: &str) -> TestResponse {
        self.send(Method::GET, Some(&format!("Bearer {token}")), None)
            .await
    }
}

fn header<'a>(response: &'a TestResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .get(name)
        .map(|value| value.to_str().expect("ASCII header"))
}

#[track_caller]
fn assert_allowed(response: &TestResponse, remaining: u32, resets_in: u64) {
    response.assert_success(StatusCode::OK);
    let expected = format!("\"default\";r={remaining};t={resets_in}");
    assert_eq!(header(response, "ratelimit"), Some(expected.as_str()));
    assert_eq!(header(response, "retry-after"), None, "only a 429 has it");
}

#[track_caller]
fn assert_limited(response: &TestResponse, retry_after: u64) {
    response.assert_error(StatusCode::TOO_MANY_REQUESTS, &[971]);
    let message = response.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.starts_with("Please wait and consider throttling your request speed"),
        "the real API's message first: {message}"
    );
    let retry_after = retry_after.to_string();
    assert_eq!(header(response, "retry-after"), Some(retry_after.as_str()));
    assert_eq!(header(response, "x-should-retry"), Some("true"));
    let state = format!("\"default\";r=0;t={retry_after}");
    assert_eq!(header(response, "ratelimit"), Some(state.as_str()));
}

async fn over_the_limit_is_429_971_with_retry_headers(backend: Backend) {
    let limited = Limited::new(backend, "3/60s").await;
    for remaining in [2, 1, 0] {
        let response = limited.list(TOKEN).await;
        assert_allowed(&response, remaining, 60);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("\"default\";q=3;w=60")
        );
    }
    // The fourth is refused before its handler runs: a create creates nothing.
    let response = limited
        .send(
            Method::POST,
            Some(&format!("Bearer {TOKEN}")),
            Some(csr_body("app.example.com").to_string()),
        )
        .await;
    assert_limited(&response, 60);
    assert_eq!(
        header(&response, "ratelimit-policy"),
        Some("\"default\";q=3;w=60")
    );
    assert!(
        !response.body.to_string().contains(TOKEN),
        "the token is not echoed"
    );
    assert_eq!(limited.app.count_rows("custom_csrs").await, 0);
    // A different credential style presenting the same token shares its count.
    let response = send_to(
        &limited.router,
        Request::builder()
            .uri(zone_csrs(ZONE))
            .header("x-auth-key", TOKEN)
            .header("x-auth-email", "user@example.com")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_limited(&response, 60);
}

async fn a_limited_token_does_not_limit_another(backend: Backend) {
    let limited = Limited::new(backend, "3/60s").await;
    for _ in 0..3 {
        limited.list(TOKEN).await.assert_success(StatusCode::OK);
    }
    assert_limited(&limited.list(TOKEN).await, 60);
    limited.advance(Duration::from_secs(10));
    assert_allowed(&limited.list(OTHER_TOKEN).await, 2, 60);
    assert_limited(&limited.list(TOKEN).await, 50);
}

async fn the_window_moves_on(backend: Backend) {
    let limited = Limited::new(backend, "3/60s").await;
    assert_allowed(&limited.list(TOKEN).await, 2, 60);
    limited.advance(Duration::from_millis(20_500));
    assert_allowed(&limited.list(TOKEN).await, 1, 40);
    assert_allowed(&limited.list(TOKEN).await, 0, 40);
    // Rounded up, so waiting Retry-After seconds is always enough.
    assert_limited(&limited.list(TOKEN).await, 40);
    limited.advance(Duration::from_secs(39));
    assert_limited(&limited.list(TOKEN).await, 1);
    limited.advance(Duration::from_millis(500));
    assert_allowed(&limited.list(TOKEN).await, 2, 60);
}

async fn requests_without_a_valid_token_are_not_counted(backend: Backend) {
    let limited = Limited::new(backend, "3/60s").await;
    for _ in 0..5 {
        let missing = limited.send(Method::GET, None, None).await;
        missing.assert_error(StatusCode::BAD_REQUEST, &[1402]);
        assert_eq!(header(&missing, "ratelimit"), None);
        let wrong = limited
            .send(
                Method::GET,
                Some("Bearer not-a-token-of-this-instance"),
                None,
            )
            .await;
        wrong.assert_error(StatusCode::UNAUTHORIZED, &[1000]);
        assert_eq!(header(&wrong, "ratelimit"), None);
    }
    assert_allowed(&limited.list(TOKEN).await, 2, 60);
}

async fn no_limit_and_no_headers_by_default(backend: Backend) {
    let app = TestApp::new(backend).await;
    assert!(app.state.rate_limit.is_none());
    for _ in 0..5 {
        let response = app.get(&zone_csrs(ZONE)).await;
        response.assert_success(StatusCode::OK);
        for name in ["ratelimit", "ratelimit-policy", "retry-after"] {
            assert_eq!(header(&response, name), None, "{name}");
        }
    }
}
