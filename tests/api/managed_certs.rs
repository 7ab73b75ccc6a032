//! Managed certificates end to end against a real ACME CA: Pebble validates HTTP-01 by really
//! fetching the token from edgecert's edge HTTP listener (pebble-challtestsrv is its DNS,
//! answering every name with 127.0.0.1), edgecert finalizes, stores and serves the chain, and
//! a rustls client verifies it against Pebble's root.
//!
//! Needs `pebble` and `pebble-challtestsrv` (Debian package `pebble`) and `curl`; without
//! them each test prints SKIPPED, unless `EDGECERT_REQUIRE_ACME` is set (as `.ci/run` does).

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use crate::acme::{Pebble, REQUIRE_ENV, Validation, accepts, on_path};
use crate::common::{Backend, TestApp, ZONE, zone_hostnames};
use crate::on_both_backends;
use crate::process::{Ended, Process, TIMEOUT};
use edgecert::http::connection::ConnectionLimits;

on_both_backends!(
    an_http_hostname_is_issued_by_the_ca_and_served_by_the_edge,
    a_refused_validation_is_shown_and_retried_when_the_backoff_has_passed,
    check_now_runs_a_pending_validation_at_once,
    renewal_at_two_thirds_of_the_lifetime_replaces_the_certificate_and_its_key,
    a_claim_keeps_other_workers_off_until_its_lease_runs_out,
);

const HOSTNAME: &str = "shop.example.com";
/// The longest a user's code would wait for `ssl.status: active` here.
const ISSUED_WITHIN: Duration = Duration::from_secs(30);

async fn an_http_hostname_is_issued_by_the_ca_and_served_by_the_edge(backend: Backend) {
    let Some(setup) = Setup::start(backend, true).await else {
        return;
    };
    let started = Instant::now();
    let created = setup.create(HOSTNAME).await;
    // The answer is what was stored: the lifecycle's first step, before any CA round trip.
    assert_eq!(created["ssl"]["status"], "initializing", "{created}");
    assert_eq!(created["status"], "pending", "{created}");
    let id = created["id"].as_str().expect("id").to_string();

    let active = setup
        .wait_for(&id, |h| h["ssl"]["status"] == "active")
        .await;
    eprintln!(
        "managed certificate on {backend:?}: active after {:?}",
        started.elapsed()
    );
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(active["ssl"]["validation_records"], json!([]), "{active}");
    assert_eq!(active["ssl"]["validation_errors"], json!([]), "{active}");
    assert_eq!(active["ssl"]["hosts"], json!([HOSTNAME]), "{active}");
    assert!(
        active["ssl"].get("custom_certificate").is_none(),
        "{active}"
    );
    let fingerprint = active["ssl"]["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("no certificate facts: {active}"))
        .to_string();

    // The edge serves the issued chain for the name, and it verifies up to Pebble's root.
    let leaf = setup.eventually_served(HOSTNAME, &fingerprint).await;
    assert_eq!(hex(&Sha256::digest(&leaf)), fingerprint);
}

async fn a_refused_validation_is_shown_and_retried_when_the_backoff_has_passed(backend: Backend) {
    let Some(setup) = Setup::start(backend, true).await else {
        return;
    };
    // Pebble resolves the name to an address where nothing listens: its fetch is refused.
    setup.dns.point(HOSTNAME, Some("127.0.0.2"));
    let id = setup.create(HOSTNAME).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let refused = setup
        .wait_for(&id, |h| h["ssl"]["validation_errors"] != json!([]))
        .await;
    assert_refused_but_published(&setup, &refused).await;

    // Not due again until the backoff has passed: a claim now finds nothing to do.
    let now = setup.app.state.clock.now();
    let due = setup
        .app
        .store()
        .claim_managed(now, now + edgecert::app::managed::LEASE, None, 8)
        .await
        .expect("claim");
    assert!(due.is_empty(), "retried before its backoff: {due:?}");

    setup.dns.point(HOSTNAME, None);
    setup
        .app
        .state
        .clock
        .advance(edgecert::app::managed::FIRST_BACKOFF + time::Duration::seconds(1));
    let active = setup
        .wait_for(&id, |h| h["ssl"]["status"] == "active")
        .await;
    assert_eq!(active["ssl"]["validation_errors"], json!([]), "{active}");
    let fingerprint = active["ssl"]["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    setup.eventually_served(HOSTNAME, &fingerprint).await;
}

async fn check_now_runs_a_pending_validation_at_once(backend: Backend) {
    // No background task: only check_now moves the lifecycle, so every step is observable.
    let Some(setup) = Setup::start(backend, false).await else {
        return;
    };
    setup.dns.point(HOSTNAME, Some("127.0.0.2"));
    let id = setup.create(HOSTNAME).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let hostname_id = uuid::Uuid::parse_str(&id).expect("uuid");
    let check = || edgecert::app::managed::check_now(&setup.app.state, ZONE, hostname_id);
    check().await.expect("first check");
    assert_refused_but_published(&setup, &setup.get(&id).await).await;

    // Fixed; checked again at once, whatever the backoff says.
    setup.dns.point(HOSTNAME, None);
    check().await.expect("second check");
    let active = setup.get(&id).await;
    assert_eq!(active["ssl"]["status"], "active", "{active}");
    assert_eq!(active["status"], "active", "{active}");

    // An edit that keeps ssl.method http keeps the issued certificate...
    let path = format!("{}/{id}", zone_hostnames(ZONE));
    let body = json!({"ssl": {"method": "http", "type": "dv"}, "custom_metadata": {"plan": "pro"}});
    let kept = setup.app.patch(&path, &body).await;
    let kept = kept.assert_success(StatusCode::ACCEPTED);
    assert_eq!(kept["ssl"]["status"], "active", "{kept}");
    assert_eq!(kept["custom_metadata"]["plan"], "pro", "{kept}");
    let stored = setup.get(&id).await;
    assert_eq!(stored["ssl"]["certificates"], active["ssl"]["certificates"]);
    // ...and switching to txt leaves it: records as before, lifecycle and key gone.
    let body = json!({"ssl": {"method": "txt", "type": "dv"}});
    let txt = setup.app.patch(&path, &body).await;
    let txt = txt.assert_success(StatusCode::ACCEPTED);
    assert_eq!(txt["ssl"]["status"], "pending_validation", "{txt}");
    assert_eq!(
        txt["ssl"]["validation_records"][0]["txt_name"],
        format!("_acme-challenge.{HOSTNAME}")
    );
    assert_eq!(setup.app.count_rows("managed_certificates").await, 0);
    assert_eq!(setup.app.count_rows("private_keys").await, 0);
}

async fn renewal_at_two_thirds_of_the_lifetime_replaces_the_certificate_and_its_key(
    backend: Backend,
) {
    let Some(setup) = Setup::start(backend, true).await else {
        return;
    };
    let id = setup.create(HOSTNAME).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let first = setup
        .wait_for(&id, |h| h["ssl"]["status"] == "active")
        .await;
    let first_print = first["ssl"]["certificates"][0]["fingerprint_sha256"].clone();
    assert_eq!(setup.app.count_rows("private_keys").await, 1);

    // Pebble issues for 90 days (see acme.rs): due again after 60.
    setup.app.state.clock.advance(time::Duration::days(61));
    let renewed = setup
        .wait_for(&id, |h| {
            h["ssl"]["certificates"][0]["fingerprint_sha256"] != first_print
        })
        .await;
    assert_eq!(renewed["ssl"]["status"], "active", "{renewed}");
    let fingerprint = renewed["ssl"]["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    setup.eventually_served(HOSTNAME, &fingerprint).await;
    // The old certificate's key went with it: one key, the new one.
    assert_eq!(setup.app.count_rows("private_keys").await, 1);
}

async fn a_claim_keeps_other_workers_off_until_its_lease_runs_out(backend: Backend) {
    use edgecert::app::managed::LEASE;
    // Nothing is contacted: no worker runs, and only the store's claims are exercised.
    let app = TestApp::with(backend, |args| {
        args.acme.directory = Some("https://127.0.0.1:9/dir".into());
    })
    .await;
    let body = json!({ "hostname": HOSTNAME, "ssl": { "method": "http" } });
    let created = app.post(&zone_hostnames(ZONE), &body).await;
    let id = created.assert_success(StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let store = app.store();
    let now = app.state.clock.now();
    let claimed = store
        .claim_managed(now, now + LEASE, None, 8)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].hostname_id.to_string(), id);
    // A second worker (or check_now) finds it taken while the lease runs...
    for only in [None, Some(claimed[0].hostname_id)] {
        let again = store
            .claim_managed(now, now + LEASE, only, 8)
            .await
            .expect("claim");
        assert!(again.is_empty(), "claimed twice: {again:?}");
    }
    // ...and takes it over once the first worker has been silent past its lease, after
    // which the first worker's writes are refused.
    let later = now + LEASE + time::Duration::seconds(1);
    let taken_over = store
        .claim_managed(later, later + LEASE, None, 8)
        .await
        .expect("claim");
    assert_eq!(taken_over.len(), 1);
    assert_ne!(taken_over[0].claim, claimed[0].claim);
    assert!(matches!(
        store.save_managed(&claimed[0], true).await,
        Err(edgecert::store::StoreError::NotFound)
    ));
    store
        .save_managed(&taken_over[0], true)
        .await
        .expect("the new claim's write");
}

/// A refusal shows the CA's problem, keeps `pending_validation`, and the edge still
/// answers the published token for the hostname (and for no other host).
async fn assert_refused_but_published(setup: &Setup, hostname: &Value) {
    let ssl = &hostname["ssl"];
    assert_eq!(ssl["status"], "pending_validation", "{hostname}");
    assert_eq!(hostname["status"], "pending", "{hostname}");
    let message = ssl["validation_errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no validation error: {hostname}"));
    assert!(
        message.starts_with("urn:ietf:params:acme:error:") && message.contains("127.0.0.2"),
        "the CA's problem type and detail: {message}"
    );
    let record = &ssl["validation_records"][0];
    let url = record["http_url"].as_str().expect("http_url");
    let path = url
        .strip_prefix(&format!("http://{HOSTNAME}"))
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        path.len() > "/.well-known/acme-challenge/".len()
            && path.starts_with("/.well-known/acme-challenge/"),
        "{url}"
    );
    let (status, body) = setup.edge_get(path, HOSTNAME).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, record["http_body"].as_str().expect("http_body"));
    let (status, _) = setup.edge_get(path, "other.example.com").await;
    assert_eq!(status, 404);
}

/// Pebble, its DNS, edgecert with both edge listeners, and (optionally) the worker.
struct Setup {
    app: TestApp,
    /// Behind a lock only so a failure message can read its log.
    pebble: std::sync::Mutex<Pebble>,
    root: Vec<u8>,
    dns: ChallTestSrv,
    http: SocketAddr,
    https: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Setup {
    async fn start(backend: Backend, worker: bool) -> Option<Self> {
        if !tools_present() {
            return None;
        }
        // The edge's ports are known before Pebble starts: bound here, served below.
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let https_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let http = http_listener.local_addr().expect("address");
        let https = https_listener.local_addr().expect("address");
        let (dns, pebble) = tokio::task::block_in_place(|| {
            let dns = ChallTestSrv::start();
            let pebble = Pebble::start_with(Validation {
                real: Some((http.port(), dns.dns)),
            });
            (dns, pebble)
        });
        let (directory, bundle) = (pebble.directory.clone(), pebble.tls_ca.clone());
        let app = TestApp::with(backend, |args| {
            args.acme.directory = Some(directory);
            args.acme.ca_bundle = Some(bundle);
            args.acme.email = Some("ops@example.com".into());
        })
        .await;
        let limits = ConnectionLimits::from_args(&app.args);
        let (edge, reloader) = edgecert::edge::Edge::start(&app.state, Duration::from_secs(1))
            .await
            .expect("edge starts");
        let mut tasks = vec![reloader];
        let http_edge = edge.clone();
        let http_limits = limits.clone();
        tasks.push(tokio::spawn(async move {
            let never = std::future::pending();
            let _ = edgecert::edge::serve_http(http_listener, http_edge, http_limits, never).await;
        }));
        tasks.push(tokio::spawn(async move {
            let never = std::future::pending();
            let _ = edgecert::edge::serve_https(https_listener, edge, limits, never).await;
        }));
        if worker {
            tasks.push(edgecert::app::managed::start(&app.state).expect("ACME is configured"));
        }
        let root = std::fs::read(&pebble.root).expect("Pebble's root");
        Some(Self {
            app,
            pebble: std::sync::Mutex::new(pebble),
            root,
            dns,
            http,
            https,
            tasks,
        })
    }

    async fn create(&self, hostname: &str) -> Value {
        let body = json!({ "hostname": hostname, "ssl": { "method": "http", "type": "dv" } });
        let created = self.app.post(&zone_hostnames(ZONE), &body).await;
        created.assert_success(StatusCode::CREATED).clone()
    }

    async fn get(&self, id: &str) -> Value {
        let path = format!("{}/{id}", zone_hostnames(ZONE));
        self.app
            .get(&path)
            .await
            .assert_success(StatusCode::OK)
            .clone()
    }

    /// Polls the API, as a user's code does, until `done` likes the hostname.
    async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + ISSUED_WITHIN;
        loop {
            let hostname = self.get(id).await;
            if done(&hostname) {
                return hostname;
            }
            if Instant::now() > deadline {
                let log = match self.pebble.lock() {
                    Ok(mut pebble) => pebble.log(),
                    Err(_) => String::new(),
                };
                panic!("not there within {ISSUED_WITHIN:?}: {hostname}\nPebble:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leaf the edge serves for `name`, once it is the one with `fingerprint`: after each
    /// re-read the edge reports (the worker announces its deployment just after committing
    /// it, so the first report may predate it), the edge is asked once.
    async fn eventually_served(&self, name: &str, fingerprint: &str) -> Vec<u8> {
        let changes = &self.app.state.served_changes;
        let mut change = changes.sequence();
        loop {
            let reread = tokio::time::timeout(ISSUED_WITHIN, changes.served(change)).await;
            let outcome = self.handshake(name).await;
            match outcome {
                Ok(leaf) if hex(&Sha256::digest(&leaf)) == fingerprint => return leaf,
                outcome if reread.is_err() => {
                    panic!("the edge does not serve the issued certificate: {outcome:?}")
                }
                // Served before the deployment's change: wait for the next re-read.
                _ => change = changes.sequence().max(change + 1),
            }
        }
    }

    async fn handshake(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(&self.root).expect("root PEM"))
            .expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(self.https).await?;
        let server_name = ServerName::try_from(name.to_string()).expect("server name");
        let stream = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await?;
        let (_, session) = stream.get_ref();
        Ok(session.peer_certificates().expect("a verified chain")[0].to_vec())
    }

    /// GET `path` from the edge's plain HTTP listener with `Host: host`.
    async fn edge_get(&self, path: &str, host: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.http).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("answer");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {answer}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// pebble-challtestsrv as Pebble's DNS server only: every A query answered with 127.0.0.1
/// unless [`ChallTestSrv::point`] says otherwise, no AAAA answers, no challenge servers.
struct ChallTestSrv {
    _process: Process,
    dns: SocketAddr,
    management: SocketAddr,
}

impl ChallTestSrv {
    #[track_caller]
    fn start() -> Self {
        // Ports taken by another process between the pick and the exec show up as "address
        // already in use"; new ports fix that.
        for _ in 0..3 {
            // Held open until just before the exec, so nothing else takes them meanwhile.
            let (dns_sockets, dns) = free_udp_and_tcp_port();
            let management_socket = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            let management = management_socket.local_addr().expect("address");
            let mut command = std::process::Command::new("pebble-challtestsrv");
            command
                .args([
                    "-dns01",
                    &dns.to_string(),
                    "-management",
                    &management.to_string(),
                ])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]);
            drop((dns_sockets, management_socket));
            let mut process = Process::spawn(command);
            match process.receive_until(None, TIMEOUT, |line| {
                line.contains("Starting management server") || line.contains("in use")
            }) {
                Ok(line) if !line.contains("in use") => {
                    // The line comes just before the listener is bound; wait on output (or
                    // the port) rather than sleeping.
                    while !accepts(management) {
                        match process.receive_until(None, Duration::from_millis(20), |_| true) {
                            Ok(_) | Err(Ended::TimedOut) => {}
                            Err(Ended::Closed) => panic!("pebble-challtestsrv exited"),
                        }
                    }
                    return Self {
                        _process: process,
                        dns,
                        management,
                    };
                }
                Ok(_) => eprintln!("pebble-challtestsrv lost a port race, retrying"),
                Err(end) => panic!(
                    "pebble-challtestsrv did not start ({end:?}):\n{}",
                    process.lines().join("\n")
                ),
            }
        }
        panic!("pebble-challtestsrv lost the port race three times");
    }

    /// Makes `host` resolve to `address` (`None`: back to the default 127.0.0.1).
    fn point(&self, host: &str, address: Option<&str>) {
        let (path, body) = match address {
            Some(address) => ("/add-a", json!({ "host": host, "addresses": [address] })),
            None => ("/clear-a", json!({ "host": host })),
        };
        let body = body.to_string();
        let mut stream = std::net::TcpStream::connect(self.management).expect("management");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.management,
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
}

/// A loopback port free for both UDP and TCP (DNS uses both), with the sockets that hold it.
fn free_udp_and_tcp_port() -> ((UdpSocket, StdTcpListener), SocketAddr) {
    loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
        let address = udp.local_addr().expect("address");
        if let Ok(tcp) = StdTcpListener::bind(address) {
            return ((udp, tcp), address);
        }
    }
}

fn tools_present() -> bool {
    let missing: Vec<&str> = ["pebble", "pebble-challtestsrv", "curl"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{REQUIRE_ENV} is set, but these are not on PATH: {missing:?} (`apt-get install pebble curl`)"
    );
    eprintln!("SKIPPED: managed certificates need {missing:?} on PATH (`apt-get install pebble`)");
    false
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
