//! Response memory of list pages, measured on the real binary: the largest page the request
//! limits allow, fetched by many clients at once, must keep edgecert's resident memory bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use serde_json::json;

use crate::common::{
    Backend, POSTGRES_ENV, TOKEN, TestDatabase, ZONE, csr_body, postgres_admin_url, zone_csrs,
};
use crate::process::{READY, TIMEOUT, edgecert, listen_address, request};
use crate::request_limits::longest_san;

/// The largest list page, in bytes, that the limits allow (README, "Request limits"): 50 CSRs
/// of 150 SANs of 253 characters, with the longest name and description.
pub const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;

/// Clients fetching a maximal page at once. A maximal page costs about a second of CPU in a
/// debug build, and the database pools (3 SQLite readers, 8 Postgres connections) time out
/// after 10 s, so 50 clients on a loaded two-core machine get 500s from the pool, not from
/// memory (measured: 37 of 50; README "Request limits"). 10 stay inside the timeout.
const CLIENTS: usize = 10;

/// Resident memory edgecert may add while the clients fetch such pages at once: each page is
/// held as rows, as views and as its JSON, about three copies of 4.7 MB per client.
const MAX_PEAK_GROWTH_KB: u64 = 256 * 1024;

/// A `/proc/<pid>/status` figure in kB, such as `VmRSS` or `VmHWM` (the peak).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// The server's own child, so its pid can be read; stops it when dropped.
struct Measured {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Measured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, database_url: &str) -> Measured {
    let mut command = edgecert(dir);
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("EDGECERT_MASTER_KEY", crate::common::test_master_key())
        .env("EDGECERT_BOOTSTRAP_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start edgecert");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ready, address) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(READY) {
                let _ = ready.send(listen_address(&line));
            } else if line.contains("ERROR") || line.contains("WARN") {
                eprintln!("edgecert: {line}");
            }
        }
    });
    let addr = address.recv_timeout(TIMEOUT).expect("edgecert is ready");
    Measured { child, addr }
}

#[test]
#[ignore = "a measurement, timing-sensitive in a debug build: cargo test --test api list_memory -- --ignored --nocapture --test-threads 1"]
fn concurrent_maximal_pages_keep_memory_bounded_on_postgres() {
    if postgres_admin_url().is_none() {
        eprintln!("SKIPPED on Postgres: set {POSTGRES_ENV} to run this test there");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDatabase::create(Backend::Postgres));
    measure(&db.url, CLIENTS);
}

#[test]
#[ignore = "a measurement, timing-sensitive in a debug build: cargo test --test api list_memory -- --ignored --nocapture --test-threads 1"]
fn concurrent_maximal_pages_keep_memory_bounded_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("edgecert.db").display());
    measure(&url, CLIENTS);
}

fn measure(database_url: &str, concurrency: usize) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = start(dir.path(), database_url);
    let pid = server.child.id();
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let path = zone_csrs(ZONE);
    for index in 0..50 {
        let mut body = csr_body("app.example.com");
        body["sans"] = json!(
            (0..150)
                .map(|san| longest_san(index * 150 + san))
                .collect::<Vec<_>>()
        );
        body["name"] = json!("n".repeat(255));
        body["description"] = json!("d".repeat(1024));
        let answer = request(server.addr, "POST", &path, &auth, Some(&body.to_string()));
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let page = format!("{path}?per_page=50");
    let one = Instant::now();
    let first = request(server.addr, "GET", &page, &auth, None);
    eprintln!("one page alone: {:?}", one.elapsed());
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["result"].as_array().map(Vec::len), Some(50));
    let page_bytes = first.body.len();
    assert!(page_bytes <= MAX_PAGE_BYTES, "a page is {page_bytes} bytes");

    let rss_before = status_kb(pid, "VmRSS");
    let peak_before = status_kb(pid, "VmHWM");
    let started = Instant::now();
    let clients: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, page, bearer) = (server.addr, page.clone(), bearer.clone());
            thread::spawn(move || {
                let answer = request(addr, "GET", &page, &[("Authorization", &bearer)], None);
                (answer.status, answer.body.len())
            })
        })
        .collect();
    for client in clients {
        let (status, bytes) = client.join().expect("client thread");
        assert_eq!((status, bytes), (200, page_bytes));
    }
    let elapsed = started.elapsed();
    let peak_after = status_kb(pid, "VmHWM");
    let rss_after = status_kb(pid, "VmRSS");
    eprintln!(
        "page {page_bytes} bytes; {concurrency} concurrent GETs in {elapsed:?}; RSS {rss_before} kB before, \
         peak {peak_after} kB (was {peak_before} kB), {rss_after} kB after"
    );
    assert!(
        peak_after.saturating_sub(rss_before) <= MAX_PEAK_GROWTH_KB,
        "peak RSS grew from {rss_before} kB to {peak_after} kB"
    );
}
