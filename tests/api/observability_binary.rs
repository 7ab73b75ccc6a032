//! The real binary as an operator runs it, watched from outside: JSON logs, and `/metrics` on
//! the API listener (with a token) and on `--metrics-listen` (without). A process of its own,
//! so every count is exact, except what its key pool's background refill does meanwhile.

use serde_json::{Value, json};

use crate::common::{TOKEN, ZONE, csr_body, zone_csrs};
use edgecert::app::keypool::POOL_CLAIMS_TOTAL;

use crate::metrics::Metrics;
use crate::process::{Answer, Server, edgecert, listen_address, request};

const LIST_ROUTE: &str = "/client/v4/zones/{zone_id}/custom_csrs";
const REQUESTS: &str = "edgecert_http_requests_total";
const KEYGEN: &str = "edgecert_key_generation_seconds";

/// One exchange as (status, headers, body).
#[track_caller]
fn exchange(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, std::collections::BTreeMap<String, String>, String) {
    let Answer {
        status,
        headers,
        body,
    } = request(addr, method, path, headers, body);
    (status, headers, body)
}

/// Waits for a JSON log line whose `fields` satisfy `wanted`; every stderr line must be JSON.
#[track_caller]
fn wait_for_log(server: &mut Server, wanted: impl Fn(&Value) -> bool) -> Value {
    let line = server.process.wait_for_stderr(|line| {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        wanted(&parsed["fields"])
    });
    serde_json::from_str(&line).expect("checked above")
}

/// The binary as an operator runs it: JSON logs, and `/metrics` both on the API listener
/// (with a token) and on `--metrics-listen` (without). Its own process, so counts are exact.
#[test]
fn the_binary_serves_metrics_on_its_own_listener_and_logs_json() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = edgecert(dir.path());
    command
        .args(["serve", "--log-format", "json"])
        .env("EDGECERT_METRICS_LISTEN", "127.0.0.1:0")
        .env("EDGECERT_BOOTSTRAP_TOKEN", TOKEN);
    let mut server = Server::start(command);
    // Logged before the API's ready line, which `start` waited for.
    let metrics_addr = listen_address(
        server
            .logged("serving /metrics without credentials")
            .expect("the metrics listener is announced"),
    );
    let api = server.addr;
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("Authorization", bearer.as_str());
    let list = zone_csrs(ZONE);

    let (status, _, _) = exchange(api, "GET", "/metrics", &[], None);
    assert_eq!(status, 400, "the API listener's /metrics needs a token");
    let mut ids = Vec::new();
    for (key_type, id_header) in [("p256v1", "x-request-id"), ("rsa2048", "cf-ray")] {
        let mut body = csr_body("app.example.com");
        body["key_type"] = json!(key_type);
        let id = format!("e2e-{key_type}");
        let (status, headers, answer) = exchange(
            api,
            "POST",
            &list,
            &[auth, (id_header, id.as_str())],
            Some(&body.to_string()),
        );
        assert_eq!(status, 201, "{answer}");
        assert_eq!(headers.get(id_header), Some(&id));
        assert_eq!(headers.get("x-request-id"), Some(&id));
        ids.push(id);
    }
    let mut bad = csr_body("app.example.com");
    bad["country"] = json!("USA");
    let (status, _, _) = exchange(api, "POST", &list, &[auth], Some(&bad.to_string()));
    assert_eq!(status, 400);
    let (status, headers, _) = exchange(api, "GET", "/metrics", &[auth], None);
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/plain; version=0.0.4"));

    let (status, headers, text) = exchange(metrics_addr, "GET", "/metrics", &[], None);
    assert_eq!(status, 200, "{text}");
    assert!(headers["content-type"].starts_with("text/plain; version=0.0.4"));
    let metrics = Metrics::parse(&text);
    let requests = |route, method, status, code| {
        metrics.value(
            REQUESTS,
            &[
                ("route", route),
                ("method", method),
                ("status", status),
                ("code", code),
            ],
        )
    };
    assert_eq!(requests("/metrics", "GET", "400", "1402"), 1.0, "{text}");
    assert_eq!(requests(LIST_ROUTE, "POST", "201", ""), 2.0, "{text}");
    assert_eq!(requests(LIST_ROUTE, "POST", "400", "1405"), 1.0, "{text}");
    assert_eq!(requests("/metrics", "GET", "200", ""), 1.0, "{text}");
    assert_eq!(
        metrics.value(REQUESTS, &[]),
        5.0,
        "scrapes of the metrics listener are not counted:\n{text}"
    );
    // Counted by what caused them: the pool's refill thread generates RSA keys meanwhile, and
    // those are labelled source="pool", apart from what requests waited for.
    let generated = |key_type, source| {
        metrics.value(
            &format!("{KEYGEN}_count"),
            &[("key_type", key_type), ("source", source)],
        )
    };
    assert_eq!(generated("p256v1", "request"), 1.0, "{text}");
    assert_eq!(
        generated("p256v1", "pool"),
        0.0,
        "only RSA is pooled:\n{text}"
    );
    // The RSA CSR took a pooled key if the refill had stored one by then, else generated its
    // own: either is right, and the claims counter says which happened.
    let claims = |result| metrics.value(POOL_CLAIMS_TOTAL, &[("result", result)]);
    assert_eq!(claims("hit") + claims("miss"), 1.0, "{text}");
    assert_eq!(generated("rsa2048", "request"), claims("miss"), "{text}");
    assert!(
        generated("rsa2048", "pool") >= claims("hit"),
        "a pooled key was claimed that the pool never generated:\n{text}"
    );
    assert_eq!(
        metrics.value("edgecert_key_generations_in_flight", &[]),
        0.0
    );
    assert_eq!(metrics.value("edgecert_key_generations_queued", &[]), 0.0);
    assert!(metrics.value("edgecert_key_generation_concurrency", &[]) >= 1.0);
    assert!(text.contains(&format!("# HELP {REQUESTS} ")), "{text}");
    let max = metrics.value("edgecert_db_pool_max_connections", &[]);
    let open = metrics.value("edgecert_db_pool_connections", &[]);
    assert!(
        max >= 1.0 && open >= 1.0 && open <= max,
        "pool {open} of {max}:\n{text}"
    );
    let (status, _, _) = exchange(metrics_addr, "GET", "/client/v4/zones", &[auth], None);
    assert_eq!(status, 404, "the metrics listener serves nothing else");

    // One JSON line per API request, with proper JSON fields.
    let mut request_lines = Vec::new();
    while request_lines.len() < 5 {
        request_lines.push(wait_for_log(&mut server, |fields| {
            fields["message"] == "request"
        }));
    }
    for id in &ids {
        let line = request_lines
            .iter()
            .find(|line| line["fields"]["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no line for {id}: {request_lines:?}"));
        assert_eq!(line["fields"]["status"], 201);
        assert_eq!(line["fields"]["route"], LIST_ROUTE);
        assert!(line["fields"].get("code").is_none());
        assert!(line["fields"]["latency_ms"].is_f64());
    }
    assert!(
        request_lines
            .iter()
            .any(|line| line["fields"]["code"] == 1405 && line["fields"]["status"] == 400),
        "{request_lines:?}"
    );

    // A graceful stop (checked by `stop`), and nothing secret in anything it logged.
    let logs = server.stop().stderr;
    for line in logs.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    for secret in [TOKEN, "-----BEGIN", "Bearer"] {
        assert!(
            !logs.contains(secret),
            "the logs contain {secret:?}:\n{logs}"
        );
    }
}
