//! Two real `edgecert serve` processes on one fresh Postgres database, each with its own edge
//! and a resync interval of an hour: what is uploaded or deleted through A's API is served,
//! or no longer served, by B's edge within a second, which only the change feed can explain.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration as StdDuration;

use serde_json::json;
use time::Duration;
use tokio::time::Instant;

use crate::common::{
    Backend, TOKEN, TestDatabase, ZONE, csr_body, postgres_admin_url, test_master_key, zone_csrs,
    zone_hostnames,
};
use crate::edge::{SERVED_WITHIN, assert_unrecognized_name, leaf_of, served_leaf_at};
use crate::process::{Server, edgecert, listen_address, request};
use crate::testca::TestCa;

/// What `serve` logs once the edge's HTTPS listener is bound, with the address as `listen`.
const EDGE_READY: &str = "edgecert is serving the edge over HTTPS";
/// What the feed logs once it listens: from then on, this instance hears every change.
const FEED_READY: &str = "the edge's change feed is listening";

/// One instance: its API and its edge.
struct Instance {
    server: Server,
    edge: SocketAddr,
}

fn start(database_url: &str, roots: &Path, dir: &Path) -> Instance {
    let mut command = edgecert(dir);
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("EDGECERT_MASTER_KEY", test_master_key())
        .env("EDGECERT_BOOTSTRAP_TOKEN", TOKEN)
        .env("EDGECERT_TRUST_ROOTS", roots)
        .env("EDGECERT_RSA_POOL_SIZE", "0")
        .env("EDGECERT_EDGE_LISTEN", "127.0.0.1:0")
        .env("EDGECERT_EDGE_RESYNC_INTERVAL", "3600");
    let mut server = Server::start(command);
    let edge = listen_address(&server.process.wait_for_stderr(|l| l.contains(EDGE_READY)));
    // The feed starts listening while the edge loads: its line may come before the edge's.
    if server.logged(FEED_READY).is_none() {
        server.process.wait_for_stderr(|l| l.contains(FEED_READY));
    }
    Instance { server, edge }
}

/// Across processes there is no reload event to wait on, so (here only) the handshake is
/// retried until `check` accepts its outcome, against a deadline of [`SERVED_WITHIN`] from
/// the write's answer. The pause only spaces the attempts out.
async fn within_a_second<T, F: Future<Output = T>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + SERVED_WITHIN;
    loop {
        let outcome = attempt().await;
        if check(&outcome) {
            return outcome;
        }
        assert!(
            Instant::now() < deadline,
            "B's edge did not serve {what} within {SERVED_WITHIN:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_through_one_instance_is_served_by_another_within_a_second() {
    if postgres_admin_url().is_none() {
        eprintln!(
            "SKIPPED: set {} to run this test",
            crate::common::POSTGRES_ENV
        );
        return;
    }
    let db = TestDatabase::create(Backend::Postgres).await;
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, ca.root_pem()).expect("write roots");
    let a = start(&db.url, &roots, dir.path());
    let b = start(&db.url, &roots, dir.path());
    assert_unrecognized_name(served_leaf_at(b.edge, &ca, "two.example.com").await);

    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let created = request(
        a.server.addr,
        "POST",
        &zone_csrs(ZONE),
        &auth,
        Some(&csr_body("two.example.com").to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let csr = created.json()["result"].clone();
    let bundle = ca.sign_csr(csr["csr"].as_str().expect("csr"), 90, Duration::ZERO);
    let body = json!({
        "hostname": "two.example.com",
        "ssl": {"custom_csr_id": csr["id"], "custom_certificate": bundle},
    });
    let uploaded = request(
        a.server.addr,
        "POST",
        &zone_hostnames(ZONE),
        &auth,
        Some(&body.to_string()),
    );
    assert_eq!(uploaded.status, 201, "{uploaded:?}");
    let id = uploaded.json()["result"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let served = within_a_second(
        "A's upload",
        || served_leaf_at(b.edge, &ca, "two.example.com"),
        Result::is_ok,
    )
    .await;
    assert_eq!(served.expect("served"), leaf_of(&bundle));

    let deleted = request(
        a.server.addr,
        "DELETE",
        &format!("{}/{id}", zone_hostnames(ZONE)),
        &auth,
        None,
    );
    assert_eq!(deleted.status, 200, "{deleted:?}");
    let refused = within_a_second(
        "A's delete",
        || served_leaf_at(b.edge, &ca, "two.example.com"),
        Result::is_err,
    )
    .await;
    assert_unrecognized_name(refused);

    // Neither instance had to resync; both stop cleanly.
    for instance in [a, b] {
        let finished = instance.server.stop();
        assert!(
            !finished.stderr.contains("change feed lost"),
            "{}",
            finished.stderr
        );
    }
}
