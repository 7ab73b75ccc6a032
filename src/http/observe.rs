//! Observability of the HTTP edge: Prometheus metrics through the `metrics` facade, and exactly
//! one structured log line per request, tagged with a request id the client can quote.
//!
//! Labels are bounded on purpose: the route is the router's path template (never the concrete
//! path with zone and CSR ids), unknown methods collapse to `other`, and codes come from the
//! fixed set in [`super::error::code`]. A client therefore cannot grow the metric set.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument as _;

use super::error::{ApiError, ErrorCodes, InternalCause};
use crate::app::AppState;
use crate::app::keypool::{POOL_CLAIMS_TOTAL, POOL_KEYS, POOL_TARGET};
use crate::app::uploads::{
    VERIFICATION_CONCURRENCY, VERIFICATIONS_IN_FLIGHT, VERIFICATIONS_QUEUED,
};
use crate::pki::keys::{
    KEY_GENERATION_CONCURRENCY, KEY_GENERATION_SECONDS, KEY_GENERATIONS_IN_FLIGHT,
    KEY_GENERATIONS_QUEUED,
};

/// Counter of answered requests: `route`, `method`, `status`, `code`.
pub const HTTP_REQUESTS_TOTAL: &str = "edgecert_http_requests_total";
/// Histogram of the time to the response head: `route`, `method`, `status`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "edgecert_http_request_duration_seconds";

/// Gauge of the database pool's open connections, by `state` (`in_use`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "edgecert_db_pool_connections";
/// Gauge: the most connections the database pool may open.
pub const DB_POOL_MAX_CONNECTIONS: &str = "edgecert_db_pool_max_connections";

/// The `route` label of a request that matched no route: its path is the client's choice, and
/// would make one series per path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// From 0.5 ms (a probe, a 4xx) to 10 s (a request queued behind key generations).
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// P-256 takes well under a millisecond; RSA-2048 tens to hundreds of milliseconds, with a
/// long tail (prime search is random) that the upper buckets catch.
const KEY_GENERATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Incoming ids are echoed into logs and headers, so only short, visible ASCII is accepted.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A path is logged for context, but a client could send kilobytes of it.
const MAX_LOGGED_PATH_LEN: usize = 256;

const CF_RAY: &str = "cf-ray";
const X_REQUEST_ID: &str = "x-request-id";

/// Status recorded for a request whose client went away before the answer (nginx's 499), so
/// such requests still get their log line and count.
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Prometheus' text exposition format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder on first call and returns its handle ever
/// after. `metrics` allows one global recorder per process, and tests build many routers in
/// one process, so installing must be idempotent.
pub fn install_metrics_recorder() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        let handle = match builder().install_recorder() {
            Ok(handle) => handle,
            Err(error) => {
                // Only when an embedding program installed its own recorder first: edgecert's
                // metrics then go to that recorder, and our /metrics shows none of them.
                tracing::warn!(%error, "cannot install the Prometheus recorder; /metrics will be empty");
                builder().build_recorder().handle()
            }
        };
        describe_metrics();
        // Nothing drains histogram samples between scrapes without this: memory would grow
        // with traffic if nobody scrapes. A plain thread, as there may be no async runtime yet.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("edgecert-metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the metrics upkeep thread; scrapes still drain samples");
        }
        handle
    })
}

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.into()),
            HTTP_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(KEY_GENERATION_SECONDS.into()),
                KEY_GENERATION_BUCKETS,
            )
        })
        // Fails only for an empty bucket list, which the constants above are not (a unit test
        // checks); summaries instead of histograms would still be served.
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by route template, method, status and first Cloudflare error code"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from receiving a request to its response head, by route template, method and status"
    );
    describe_histogram!(
        KEY_GENERATION_SECONDS,
        Unit::Seconds,
        "Time to generate one private key, by key type and source (request: a request waited; pool: the key pool's background refill)"
    );
    describe_gauge!(
        KEY_GENERATIONS_IN_FLIGHT,
        "Key generations running now (each holds a --keygen-concurrency permit)"
    );
    describe_gauge!(
        KEY_GENERATIONS_QUEUED,
        "Key generations waiting for a --keygen-concurrency permit"
    );
    describe_gauge!(
        VERIFICATIONS_IN_FLIGHT,
        "Certificate uploads being verified now (each holds a --verify-concurrency permit)"
    );
    describe_gauge!(
        VERIFICATIONS_QUEUED,
        "Certificate uploads waiting for a --verify-concurrency permit"
    );
    describe_gauge!(
        VERIFICATION_CONCURRENCY,
        "How many certificate uploads may be verified at once (--verify-concurrency)"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Open database connections, by state (in_use, idle); sampled when scraped"
    );
    describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        "Most database connections the pool may open"
    );
    describe_gauge!(
        KEY_GENERATION_CONCURRENCY,
        "How many key generations may run at once (--keygen-concurrency)"
    );
    describe_gauge!(
        POOL_KEYS,
        "RSA-2048 keys waiting in the key pool, as last counted by the refill task"
    );
    describe_gauge!(
        POOL_TARGET,
        "The RSA-2048 key pool's size (EDGECERT_RSA_POOL_SIZE)"
    );
    describe_counter!(
        POOL_CLAIMS_TOTAL,
        "RSA-2048 CSRs by where their key came from: result=hit (the pool) or miss (generated inline)"
    );
    describe_gauge!(
        crate::edge::EDGE_RELOAD_SECONDS,
        Unit::Seconds,
        "How long the edge's last re-read of what it serves took (routes and certificates)"
    );
    describe_gauge!(
        crate::edge::EDGE_SERVED_NAMES,
        "Names the edge serves a certificate for, as of its last re-read"
    );
    // Present from the first scrape, not only after the first key generation, so alerts on
    // them have data.
    metrics::gauge!(KEY_GENERATIONS_IN_FLIGHT).increment(0.0);
    metrics::gauge!(KEY_GENERATIONS_QUEUED).increment(0.0);
    metrics::gauge!(VERIFICATIONS_IN_FLIGHT).increment(0.0);
    metrics::gauge!(VERIFICATIONS_QUEUED).increment(0.0);
}

/// `GET /metrics`: every metric of this process in Prometheus' text format. On the API
/// listener the router puts the API's authentication in front of it.
pub async fn metrics(State(state): State<AppState>) -> Response {
    sample_state(&state);
    let mut text = Vec::new();
    match install_metrics_recorder().render_to_write(&mut text) {
        Ok(()) => ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response(),
        Err(error) => {
            ApiError::internal(format_args!("rendering metrics: {error}")).into_response()
        }
    }
}

/// Gauges read from the application when scraped: the pool and the key factory keep these
/// numbers themselves, so sampling them costs nothing between scrapes.
fn sample_state(state: &AppState) {
    let pool = state.store.pool_stats();
    // `size` and `idle` are read one after the other, so idle can briefly exceed size.
    let in_use = usize::try_from(pool.size)
        .unwrap_or(usize::MAX)
        .saturating_sub(pool.idle);
    // Connection and permit counts are far below 2^52, so the conversions to f64 are exact.
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(in_use as f64);
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(pool.idle as f64);
    metrics::gauge!(DB_POOL_MAX_CONNECTIONS).set(f64::from(pool.max));
    metrics::gauge!(KEY_GENERATION_CONCURRENCY).set(state.keys.limit() as f64);
    metrics::gauge!(VERIFICATION_CONCURRENCY).set(state.verifications.limit() as f64);
    metrics::gauge!(POOL_TARGET).set(state.key_pool.target() as f64);
}

/// The router of `--metrics-listen`: `/metrics` alone, without credentials, and not logged
/// per request (a scraper would otherwise add a line every few seconds).
pub fn metrics_router(state: AppState) -> Router {
    install_metrics_recorder();
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Middleware on every route and the fallback: assigns the request id, counts and times the
/// request, and writes its one log line. Must sit outside the panic catcher, so a panic is
/// seen as the 500 it becomes.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (request_id, echo_cf_ray) = request_id(request.headers());
    let mut exchange = Exchange {
        route: request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| UNMATCHED_ROUTE.to_string(), |m| m.as_str().to_string()),
        method: method_label(request.method()),
        path: loggable_path(request.uri().path()),
        request_id,
        started,
        answered: false,
    };
    // Lines the handlers log (an internal error's cause, say) carry the request id through it.
    let span = tracing::info_span!(
        "request",
        request_id = %exchange.request_id,
        method = %exchange.method,
        route = %exchange.route,
    );
    let mut response = next.run(request).instrument(span).await;

    let code = response
        .extensions()
        .get::<ErrorCodes>()
        .and_then(|codes| codes.0.first().copied());
    let cause = response.extensions_mut().remove::<InternalCause>();
    exchange.finish(response.status(), code, cause);

    // The id was checked to be visible ASCII, so this cannot fail; skipping is still better
    // than failing a request over a header.
    if let Ok(value) = HeaderValue::from_str(&exchange.request_id) {
        if echo_cf_ray {
            response
                .headers_mut()
                .insert(HeaderName::from_static(CF_RAY), value.clone());
        }
        response
            .headers_mut()
            .insert(HeaderName::from_static(X_REQUEST_ID), value);
    }
    response
}

/// One request on its way through; records itself when dropped unanswered (the client hung
/// up, or shutdown's grace period ran out), so every request gets exactly one line.
struct Exchange {
    route: String,
    method: &'static str,
    path: String,
    request_id: String,
    started: Instant,
    answered: bool,
}

impl Exchange {
    /// Writes the request's line; an internal error's cause makes it an error line, so the
    /// cause is logged once, with the request it belongs to.
    fn finish(&mut self, status: StatusCode, code: Option<u32>, cause: Option<InternalCause>) {
        self.answered = true;
        let elapsed = self.count(status.as_u16(), code);
        if let Some(InternalCause(cause)) = cause {
            tracing::error!(
                route = %self.route,
                method = %self.method,
                path = %self.path,
                status = status.as_u16(),
                code,
                latency_ms = milliseconds(elapsed),
                request_id = %self.request_id,
                error = %cause,
                "request"
            );
            return;
        }
        tracing::info!(
            route = %self.route,
            method = %self.method,
            path = %self.path,
            status = status.as_u16(),
            code,
            latency_ms = milliseconds(elapsed),
            request_id = %self.request_id,
            "request"
        );
    }

    /// Adds the request to the counter and the histogram; returns its duration.
    fn count(&self, status: u16, code: Option<u32>) -> Duration {
        let elapsed = self.started.elapsed();
        let status = status.to_string();
        metrics::counter!(
            HTTP_REQUESTS_TOTAL,
            "route" => self.route.clone(),
            "method" => self.method,
            "status" => status.clone(),
            "code" => code.map(|c| c.to_string()).unwrap_or_default(),
        )
        .increment(1);
        metrics::histogram!(
            HTTP_REQUEST_DURATION_SECONDS,
            "route" => self.route.clone(),
            "method" => self.method,
            "status" => status,
        )
        .record(elapsed.as_secs_f64());
        elapsed
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let elapsed = self.count(CLIENT_CLOSED_REQUEST, None);
        tracing::info!(
            route = %self.route,
            method = %self.method,
            path = %self.path,
            status = CLIENT_CLOSED_REQUEST,
            latency_ms = milliseconds(elapsed),
            request_id = %self.request_id,
            "request cancelled before it was answered"
        );
    }
}

/// Milliseconds with microsecond precision: a JSON number, readable in text logs.
fn milliseconds(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The request id and whether to echo it as `cf-ray` too. A valid `cf-ray` (what Cloudflare's
/// edge sends an origin) wins over `x-request-id`; anything else gets a fresh UUID. `cf-ray` is
/// echoed whenever one came in, so a caller that sent one finds its answer under that name.
fn request_id(headers: &HeaderMap) -> (String, bool) {
    let has_cf_ray = headers.contains_key(CF_RAY);
    let id = [CF_RAY, X_REQUEST_ID]
        .into_iter()
        .filter_map(|name| headers.get(name))
        .find_map(valid_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    (id, has_cf_ray)
}

/// Short, and letters, digits and `-_.:` only: what UUIDs, Cloudflare ray ids and tracing ids
/// use. Anything else (quotes, `<`, `>`, spaces, control bytes) could forge a log line, break
/// out of a quoted field, or be reflected into a page by whoever displays the id.
fn valid_request_id(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    // Every byte is ASCII, so the conversion cannot fail.
    valid
        .then(|| String::from_utf8(bytes.to_vec()).ok())
        .flatten()
}

/// Methods outside HTTP's standard set are one label, so they cannot add series.
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

/// The path only (the query string is never logged), shortened if long.
fn loggable_path(path: &str) -> String {
    if path.len() <= MAX_LOGGED_PATH_LEN {
        return path.to_string();
    }
    let mut end = MAX_LOGGED_PATH_LEN;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &path[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn is_uuid(id: &str) -> bool {
        uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
    }

    #[test]
    fn request_ids_come_from_cf_ray_then_x_request_id() {
        let given = headers(&[("x-request-id", b"req-1")]);
        assert_eq!(request_id(&given), ("req-1".to_string(), false));

        let ray = headers(&[
            ("cf-ray", b"8a1b2c3d4e5f6789-IAD"),
            ("x-request-id", b"req-1"),
        ]);
        assert_eq!(request_id(&ray), ("8a1b2c3d4e5f6789-IAD".to_string(), true));

        // An unusable cf-ray falls back to x-request-id, and is still answered as cf-ray.
        let bad_ray = headers(&[("cf-ray", b"has space"), ("x-request-id", b"req-2")]);
        assert_eq!(request_id(&bad_ray), ("req-2".to_string(), true));

        let (generated, echo) = request_id(&HeaderMap::new());
        assert!(is_uuid(&generated), "{generated}");
        assert!(!echo);
    }

    #[test]
    fn unusable_request_ids_are_replaced() {
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let at_limit = "b".repeat(MAX_REQUEST_ID_LEN);
        for bad in [
            &b""[..],
            b"two words",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
            b"\xff\xfe",
            b"a\"b",
            b"<script>",
            b"id>1",
            b"semi;colon",
            b"slash/path",
            long.as_bytes(),
        ] {
            let (id, _) = request_id(&headers(&[("x-request-id", bad)]));
            assert!(is_uuid(&id), "{bad:?} gave {id}");
        }
        let (id, _) = request_id(&headers(&[("x-request-id", at_limit.as_bytes())]));
        assert_eq!(id, at_limit);
        let (id, _) = request_id(&headers(&[("x-request-id", b"trace:Ab-9_z.1")]));
        assert_eq!(id, "trace:Ab-9_z.1");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        use axum::http::Method;
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(
            method_label(&Method::from_bytes(b"PROPFIND").unwrap()),
            "other"
        );
    }

    #[test]
    fn long_paths_are_shortened_on_a_character_boundary() {
        assert_eq!(loggable_path("/healthz"), "/healthz");
        let long = format!("/{}", "\u{e9}".repeat(300));
        let logged = loggable_path(&long);
        assert!(logged.len() <= MAX_LOGGED_PATH_LEN + 3, "{}", logged.len());
        assert!(logged.ends_with("..."));
    }

    #[test]
    fn bucket_configuration_is_accepted() {
        for buckets in [HTTP_BUCKETS, KEY_GENERATION_BUCKETS] {
            assert!(buckets.windows(2).all(|pair| pair[0] < pair[1]));
            assert_eq!(buckets.first(), Some(&0.0005));
        }
        assert_eq!(HTTP_BUCKETS.last(), Some(&10.0));
        assert!(
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("x".into()), HTTP_BUCKETS)
                .is_ok()
        );
    }

    #[test]
    fn milliseconds_keep_microseconds() {
        assert_eq!(milliseconds(Duration::from_micros(1234)), 1.234);
        assert_eq!(milliseconds(Duration::from_secs(2)), 2000.0);
    }
}
